"""Russian symptoms per code from RuMedTop3 **train** notes joined with RuMedBench's rec_markup.csv.

rec_markup.csv gives one normalised symptom per visit (`new_event_id` = RuMedTop3 `idx`, the symptom
in the column `code`). Only visits of the train file passed in are used: dev and test never feed the
KG. The edge weight is the number of train visits of that code with that symptom.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from medsyn.errors import SourceError
from medsyn.icd import normalize_code
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers._io import read_jsonl, read_rows

SOURCE = "rumedtop3_train"
TRAIN_FILE = Path("rumedbench/RuMedTop3/train_v1.jsonl")
MARKUP_FILE = Path("rumedbench/raw/rec_markup.csv")


def train_codes(train_path: Path) -> dict[str, str]:
    """idx -> 3-character code of every train note."""
    codes: dict[str, str] = {}
    for line, note in read_jsonl(train_path, required=("idx", "code")):
        code = normalize_code(str(note["code"]))
        if code is None:
            raise SourceError(train_path, f"code {note['code']!r} is not an ICD-10 code", line=line)
        codes[str(note["idx"])] = code
    return codes


def load(train_path: Path, markup_path: Path, builder: KGBuilder) -> int:
    """Add (code, symptom) edges weighted by train-visit counts; returns the number of edges."""
    codes = train_codes(train_path)
    counts: Counter[tuple[str, str]] = Counter()
    for _, row in read_rows(markup_path, required=("new_event_id", "code")):
        code = codes.get(row["new_event_id"].strip())
        symptom = row["code"].strip()
        if code is None or not symptom:
            continue  # a dev/test visit, or a visit without a symptom
        counts[(code, symptom)] += 1
    for (code, symptom), n in counts.items():
        if code not in builder.diseases:
            builder.skip(SOURCE, f"code {code} not in the ICD-10 hierarchy", n)
            continue
        builder.add_symptom(code, symptom, "ru", float(n), source=SOURCE, evidence=f"{n} train visits")
    return len(counts)
