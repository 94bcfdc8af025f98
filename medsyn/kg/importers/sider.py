"""Drug indications from SIDER 4.1, where the indication's name maps to an ICD-10 code.

SIDER names indications by UMLS/MedDRA concept, not ICD-10. A row maps when its concept or MedDRA
name equals (case-insensitively) a Disease Ontology label with an ICD10CM xref, or the English WHO
title of a code in the KG. `NLP_precondition` rows are not indications and are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from medsyn.icd import resolve_code
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers._io import read_rows
from medsyn.kg.importers.disease_ontology import XREFS_FILE

SOURCE = "sider4"
FILE = Path("kg/sider4_indications.tsv")
INDICATION_METHODS = ("text_mention", "NLP_indication")


def _name_index(data_dir: Path, builder: KGBuilder) -> dict[str, set[str]]:
    """Lower-cased disease name -> KG codes, from DO labels (via xrefs) and English WHO titles."""
    known = builder.diseases.keys()
    index: dict[str, set[str]] = defaultdict(set)
    for _, row in read_rows(data_dir / XREFS_FILE, delimiter="\t", required=("label", "xrefs")):
        for ref in row["xrefs"].split(","):
            code = resolve_code(ref.strip().removeprefix("ICD10CM:"), known)
            if code:
                index[row["label"].strip().casefold()].add(code)
    for code, disease in builder.diseases.items():
        if disease.title_en and disease.level in ("category", "subcategory"):
            index[disease.title_en.casefold()].add(code)
    return index


def load(data_dir: Path, builder: KGBuilder) -> int:
    """Add TREATED_WITH edges from SIDER where the indication maps; returns the number added."""
    index = _name_index(data_dir, builder)
    added = 0
    for _, row in read_rows(
        data_dir / FILE,
        delimiter="\t",
        required=("drugbank_id", "drugbank_name", "method", "concept_name", "meddra_name"),
    ):
        if row["method"] not in INDICATION_METHODS:
            continue
        names = (row["concept_name"].strip(), row["meddra_name"].strip())
        codes = set().union(*(index.get(n.casefold(), set()) for n in names))
        if not codes:
            builder.skip(SOURCE, "indication name matches no DO label or WHO title")
            continue
        evidence = f"{row['method']}: {row['concept_name']}"
        for code in sorted(codes):
            builder.add_drug(
                code,
                row["drugbank_name"],
                source=SOURCE,
                ids=(f"drugbank:{row['drugbank_id'].strip()}",),
                evidence=evidence,
            )
            added += 1
    return added
