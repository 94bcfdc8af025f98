"""The whole build on the hand-made fixture, the embedded store, and atomic writes."""

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medsyn.errors import KGNotFoundError, MedsynError, UnknownCodeError
from medsyn.kg import EmbeddedStore, KGStore, MemoryStore, open_kg, write_kg
from medsyn.kg.build import KGBuildConfig, build_kg
from medsyn.kg.embedded import MANIFEST
from medsyn.kg.model import KGTables


def test_build_counts_and_hierarchy(fixture_tables: KGTables) -> None:
    assert fixture_tables.counts() == {
        "diseases": 9,  # 8 current Russian rows + E12 (WHO only)
        "symptoms": 7,  # ru: насморк, боль в горле, жажда; en: polyuria, thirst, cough, throat pain
        "drugs": 6,  # metformin, paracetamol, insulin, combo (MEDI); ibuprofen, bar (SIDER)
        "has_symptom": 8,  # 3 RuMedTop3 + 3 DO + 2 HSDN
        "treated_with": 8,  # 5 MEDI + 3 SIDER
    }


def test_store_reads(fixture_kg: KGStore) -> None:
    e116 = fixture_kg.disease("E11.6")
    assert (e116.block, e116.chapter, e116.parent) == ("E10-E14", "IV", "E11")
    assert fixture_kg.children("E11") == ["E11.6"]
    assert fixture_kg.children("E10-E14") == ["E11", "E12"]
    assert fixture_kg.descendants("IV") == ["E10-E14", "E11", "E11.6", "E12"]
    assert [(e.name, e.weight) for e in fixture_kg.symptoms("E11")] == [("жажда", 1.0)]
    with_sub = fixture_kg.symptoms("E11", include_descendants=True)
    assert [(e.code, e.name, e.weight) for e in with_sub] == [
        ("E11.6", "polyuria", 7.5),
        ("E11.6", "thirst", 1.0),
        ("E11", "жажда", 1.0),
    ]
    assert [e.name for e in fixture_kg.symptoms("E11", include_descendants=True, language="ru")] == ["жажда"]
    drugs = fixture_kg.drugs("E11.6")
    assert [(d.name, d.source) for d in drugs] == [
        ("combo", "medi_hps"),
        ("insulin", "medi_hps"),
        ("metformin", "sider4"),
    ]
    metformin = next(d for d in drugs if d.name == "metformin")
    assert metformin.ids == ("drugbank:DB1", "rxcui:1")
    assert [d.code for d in fixture_kg.find("диабет")] == ["E11", "E11.6", "E10-E14"]
    assert [d.code for d in fixture_kg.find("MALNUTRITION")] == ["E12"]
    assert fixture_kg.codes("category") == ["E11", "E12", "J06"]


def test_unknown_code_suggests_close_codes(fixture_kg: KGStore) -> None:
    with pytest.raises(UnknownCodeError, match=r"unknown ICD-10 code 'E13'; close codes: E12, E11, E11\.6"):
        fixture_kg.disease("E13")
    with pytest.raises(UnknownCodeError, match=r"'J06\.0'; close codes: J06, J06\.9"):
        fixture_kg.symptoms("J06.0")


def test_round_trip_through_parquet(fixture_tables: KGTables, tmp_path: Path) -> None:
    out = write_kg(fixture_tables, tmp_path / "kg")
    store = EmbeddedStore(out)
    assert store.tables().sorted().diseases.equals(fixture_tables.sorted().diseases)
    for name, table in store.tables().sorted().items():
        assert table.equals(getattr(fixture_tables.sorted(), name)), name
    assert store.symptoms("J06.9") == MemoryStore(fixture_tables).symptoms("J06.9")


def test_existing_dir_needs_overwrite(fixture_tables: KGTables, tmp_path: Path) -> None:
    out = write_kg(fixture_tables, tmp_path / "kg")
    with pytest.raises(MedsynError, match="already exists; pass --overwrite"):
        write_kg(fixture_tables, out)
    write_kg(fixture_tables, out, overwrite=True)
    assert EmbeddedStore(out).tables().counts() == fixture_tables.counts()
    assert [p.name for p in tmp_path.iterdir()] == ["kg"]  # no temporary or old dirs left


def test_crash_mid_write_leaves_nothing_that_looks_complete(
    fixture_tables: KGTables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_write = pq.write_table

    def failing_write(table, where, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(where)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_write(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing_write)
    with pytest.raises(OSError, match="disk full"):
        write_kg(fixture_tables, tmp_path / "kg")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KGNotFoundError, match="does not exist"):
        EmbeddedStore(tmp_path / "kg")


def test_incomplete_dir_is_refused(fixture_tables: KGTables, tmp_path: Path) -> None:
    out = write_kg(fixture_tables, tmp_path / "kg")
    (out / MANIFEST).unlink()
    with pytest.raises(KGNotFoundError, match=f"not a complete KG: it has no {MANIFEST}"):
        open_kg(out)


def test_unknown_source_is_named(fixture_data: Path) -> None:
    with pytest.raises(MedsynError, match=r"option 'sources': \['umls'\] is not valid; use any of icd10_ru"):
        build_kg(fixture_data, KGBuildConfig(sources=["icd10_ru", "umls"]))


def test_demo_kg() -> None:
    kg = open_kg("demo")
    categories = kg.codes("category")
    assert len(categories) >= 20
    for code in categories:
        disease = kg.disease(code)
        assert disease.title_ru and disease.title_en and disease.chapter and disease.block, code
        languages = {e.language for e in kg.symptoms(code)}
        assert languages == {"ru", "en"}, code
        assert len(kg.symptoms(code, language="ru")) >= 4, code
        assert kg.drugs(code), code
    assert {e.code for e in kg.symptoms("M54", include_descendants=True)} == {"M54", "M54.2", "M54.5"}
