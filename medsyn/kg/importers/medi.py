"""Drug indications from MEDI high-precision (ICD-9), mapped to ICD-10 through the CMS GEM file.

MEDI's ICD9 column holds a code ('595.9'), a range ('401-405.99') or a combination ('616.10|041.9').
A code the GEM lacks (a non-billable parent such as '595') takes the GEM rows of its subcodes.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from pathlib import Path

from medsyn.errors import SourceError
from medsyn.icd import resolve_code
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers._io import read_rows, require_file

SOURCE = "medi_hps"
MEDI_FILE = Path("kg/medi_hps_icd9.csv")
GEM_FILE = Path("kg/cms_gem_2018_icd9_to_icd10.txt")


class Gem:
    """The CMS GEM: ICD-9-CM (no dot) -> ICD-10-CM codes (no dot), searchable by prefix and range."""

    def __init__(self, targets: dict[str, list[str]]) -> None:
        self.targets = targets
        self.keys = sorted(targets)
        self.by_order = sorted((_icd9_order(k), k) for k in targets)

    def prefixed(self, prefix: str) -> list[str]:
        i = bisect.bisect_left(self.keys, prefix)
        out = []
        while i < len(self.keys) and self.keys[i].startswith(prefix):
            out.append(self.keys[i])
            i += 1
        return out

    def between(self, lo: tuple[str, float], hi: tuple[str, float]) -> list[str]:
        i = bisect.bisect_left(self.by_order, (lo, ""))
        out = []
        while i < len(self.by_order) and self.by_order[i][0] <= hi:
            out.append(self.by_order[i][1])
            i += 1
        return out


def read_gem(path: Path) -> Gem:
    """Parse the fixed-width GEM file, skipping 'no map' rows."""
    require_file(path)
    targets: dict[str, list[str]] = defaultdict(list)
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3 or len(fields[2]) != 5:
                raise SourceError(path, f"expected 'ICD9 ICD10 FLAGS', found {line.strip()!r}", line=line_no)
            icd9, icd10, flags = fields
            if icd10 == "NoDx" or flags[1] == "1":
                continue
            targets[icd9].append(icd10)
    return Gem(dict(targets))


def _icd9_key(code: str) -> str:
    return code.replace(".", "").strip().upper()


def _icd9_order(key: str) -> tuple[str, float]:
    """Sort key of a dotless ICD-9 code: ('', 401.9) for '4019', ('E', 928.3) for 'E9283'."""
    head = 4 if key.startswith("E") else 3
    letter = key[0] if key[:1] in ("V", "E") else ""
    digits = key[len(letter) : head] + "." + key[head:]
    try:
        return letter, float(digits)
    except ValueError:
        return letter, -1.0


def icd9_to_icd10(icd9: str, gem: Gem) -> list[str]:
    """ICD-10-CM targets of a MEDI ICD9 field (code, range or '|' combination)."""
    out: list[str] = []
    for part in icd9.split("|"):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = (_icd9_order(_icd9_key(p)) for p in part.split("-", 1))
            keys = gem.between(lo, hi)
        else:
            key = _icd9_key(part)
            keys = [key] if key in gem.targets else (gem.prefixed(key) if len(key) >= 3 else [])
        out.extend(code for k in keys for code in gem.targets[k])
    return list(dict.fromkeys(out))


def load(data_dir: Path, builder: KGBuilder) -> int:
    """Add TREATED_WITH edges from MEDI-HPS; returns the number added."""
    gem = read_gem(data_dir / GEM_FILE)
    known = builder.diseases.keys()
    added = 0
    resolved: dict[str, set[str]] = {}
    for _, row in read_rows(
        data_dir / MEDI_FILE, required=("RXCUI_IN", "DRUG_DESC", "ICD9", "INDICATION_DESCRIPTION")
    ):
        if row["ICD9"] not in resolved:
            targets = (resolve_code(c, known) for c in icd9_to_icd10(row["ICD9"], gem))
            resolved[row["ICD9"]] = {c for c in targets if c}
        codes = resolved[row["ICD9"]]
        if not codes:
            builder.skip(SOURCE, "ICD-9 indication with no ICD-10 code in the KG")
            continue
        desc = row["INDICATION_DESCRIPTION"].strip()
        evidence = f"ICD-9 {row['ICD9']}" + (f" ({desc})" if desc else "")
        for code in sorted(codes):
            builder.add_drug(
                code,
                row["DRUG_DESC"],
                source=SOURCE,
                ids=(f"rxcui:{row['RXCUI_IN'].strip()}",),
                evidence=evidence,
            )
            added += 1
    return added
