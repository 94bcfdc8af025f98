"""medsyn's own demo MKG (`demo/demo_kg.json`, written by hand): selected by `--kg demo`.

It lets the quick start run on a machine without ../shared/data. Every node and edge has the source
`medsyn_demo`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from medsyn.kg.builder import KGBuilder
from medsyn.kg.embedded import MemoryStore
from medsyn.kg.model import KGTables

DEMO = "demo"


@cache
def demo_tables() -> KGTables:
    data = json.loads(resources.files("medsyn.kg").joinpath("demo/demo_kg.json").read_text(encoding="utf-8"))
    source = data["source"]
    builder = KGBuilder()
    for code, (ru, en) in data["chapters"].items():
        builder.add_disease(code, "chapter", source=source, title_ru=ru, title_en=en)
    for code, (chapter, ru, en) in data["blocks"].items():
        builder.add_disease(code, "block", source=source, title_ru=ru, title_en=en, parent=chapter)
    for d in data["diseases"]:
        level = "subcategory" if "." in d["code"] else "category"
        builder.add_disease(
            d["code"], level, source=source, title_ru=d["ru"], title_en=d["en"], parent=d["parent"]
        )
    for d in data["diseases"]:
        for language, symptoms in d["symptoms"].items():
            for name, weight in symptoms.items():
                builder.add_symptom(d["code"], name, language, float(weight), source=source)
        for drug in d["drugs"]:
            builder.add_drug(d["code"], drug, source=source)
    return builder.to_tables({"sources": source})


def demo_store() -> MemoryStore:
    """The demo KG as a store."""
    return MemoryStore(demo_tables(), name=DEMO)
