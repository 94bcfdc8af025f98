"""English symptoms from the Disease Ontology (DO) and HSDN, mapped to ICD-10 through DO's ICD10CM xrefs.

- DO disease->symptom edges (source `disease_ontology`) weigh HSDN's TF-IDF for the same disease and
  symptom where HSDN has it, else 1.0.
- A DO disease with an ICD-10 xref but no symptom edges of its own inherits those of its nearest
  ancestors in the DO tree (up to `max_inherit_depth` levels), with the ancestor named in `evidence`.
- HSDN co-occurrence edges (source `hsdn`) weigh their TF-IDF; MeSH names are un-inverted
  ("Pain, Abdominal" -> "abdominal pain").
- ICD-10-CM xrefs map onto the most specific code the KG has ('E11.65' -> 'E11.6').
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from medsyn.errors import SourceError
from medsyn.icd import resolve_code
from medsyn.kg.builder import KGBuilder, clean_name
from medsyn.kg.importers._io import read_rows

SOURCE_DO = "disease_ontology"
SOURCE_HSDN = "hsdn"
SYMPTOMS_FILE = Path("kg/do_disease_symptom.tsv")
XREFS_FILE = Path("kg/do_icd10.tsv")
TREE_FILE = Path("kg/do_human.tsv")
HSDN_FILE = Path("kg/hsdn_symptoms_do.tsv")


def mesh_name(name: str) -> str:
    """'Pain, Abdominal' -> 'abdominal pain' (MeSH inverted headings read naturally)."""
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 2 and all(parts):
        return clean_name(f"{parts[1]} {parts[0]}")
    return clean_name(name)


def _icd10_xrefs(path: Path) -> dict[str, list[str]]:
    xrefs: dict[str, list[str]] = {}
    for line, row in read_rows(path, delimiter="\t", required=("id", "xrefs")):
        codes = []
        for ref in row["xrefs"].split(","):
            ref = ref.strip()
            if not ref:
                continue
            if not ref.startswith("ICD10CM:"):
                raise SourceError(path, f"xref {ref!r} is not of the form ICD10CM:CODE", line=line)
            codes.append(ref.removeprefix("ICD10CM:"))
        xrefs[row["id"].strip()] = codes
    return xrefs


def _parents(path: Path) -> dict[str, list[str]]:
    """DOID -> parent DOIDs (do_human.tsv names parents by label)."""
    rows = list(read_rows(path, delimiter="\t", required=("id", "label", "subClassOf")))
    ids_by_label: dict[str, list[str]] = defaultdict(list)
    for _, row in rows:
        ids_by_label[row["label"].strip()].append(row["id"].strip())
    parents: dict[str, list[str]] = defaultdict(list)
    for _, row in rows:
        for parent in ids_by_label.get(row["subClassOf"].strip(), []):
            if parent not in parents[row["id"].strip()]:
                parents[row["id"].strip()].append(parent)
    return parents


def load(data_dir: Path, builder: KGBuilder, *, max_inherit_depth: int = 3) -> int:
    """Add DO and HSDN symptom edges for every DO disease that maps to a known code; returns edges added."""
    hsdn: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for _, row in read_rows(
        data_dir / HSDN_FILE,
        delimiter="\t",
        required=("symptom_name", "tfidf_score", "doid_code", "cooccurs"),
    ):
        try:
            score = float(row["tfidf_score"])
        except ValueError:
            raise SourceError(
                data_dir / HSDN_FILE, f"tfidf_score {row['tfidf_score']!r} is not a number"
            ) from None
        name = mesh_name(row["symptom_name"])
        hsdn[row["doid_code"].strip()][name] = (
            score,
            f"MeSH '{row['symptom_name']}', {row['cooccurs']} co-occurrences",
        )

    own: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for _, row in read_rows(
        data_dir / SYMPTOMS_FILE, delimiter="\t", required=("disease_id", "symptom_id", "symptom_label")
    ):
        doid, name = row["disease_id"].strip(), clean_name(row["symptom_label"])
        weight = hsdn.get(doid, {}).get(name, (1.0, ""))[0]
        own[doid][name] = (weight, f"{doid} {row['symptom_id'].strip()}")

    parents = _parents(data_dir / TREE_FILE)
    known = builder.diseases.keys()
    added = 0
    for doid, cm_codes in _icd10_xrefs(data_dir / XREFS_FILE).items():
        codes = []
        for cm in cm_codes:
            code = resolve_code(cm, known)
            if code is None:
                builder.skip(SOURCE_DO, "ICD10CM xref with no ICD-10 code in the KG")
            else:
                codes.append(code)
        if not codes:
            continue
        edges = own.get(doid) or _inherited(doid, own, parents, max_inherit_depth)
        for code in dict.fromkeys(codes):
            for name, (weight, evidence) in edges.items():
                builder.add_symptom(code, name, "en", weight, source=SOURCE_DO, evidence=evidence)
                added += 1
            for name, (weight, evidence) in hsdn.get(doid, {}).items():
                builder.add_symptom(
                    code, name, "en", weight, source=SOURCE_HSDN, evidence=f"{doid} {evidence}"
                )
                added += 1
    return added


def _inherited(
    doid: str, own: dict[str, dict[str, tuple[float, str]]], parents: dict[str, list[str]], max_depth: int
) -> dict[str, tuple[float, str]]:
    """Symptoms of the nearest ancestors that have any (all ancestors at that distance, merged)."""
    frontier, seen = [doid], {doid}
    for _ in range(max_depth):
        frontier = [p for d in frontier for p in parents.get(d, []) if p not in seen]
        seen.update(frontier)
        found: dict[str, tuple[float, str]] = {}
        for ancestor in frontier:
            for name, (weight, _) in own.get(ancestor, {}).items():
                if name not in found or weight > found[name][0]:
                    found[name] = (weight, f"inherited from {ancestor}")
        if found:
            return found
    return {}
