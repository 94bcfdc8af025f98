from pathlib import Path

import pytest

from medsyn.errors import SourceError
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers import icd10_ru, icd10_who


def test_russian_titles_hierarchy_and_withdrawn_codes(fixture_data: Path) -> None:
    builder = KGBuilder()
    assert icd10_ru.load(fixture_data / icd10_ru.FILE, builder) == 8  # 9 rows, J06.8 withdrawn
    assert "J06.8" not in builder.diseases
    j069 = builder.diseases["J06.9"]
    assert (j069.level, j069.parent, j069.title_ru) == (
        "subcategory",
        "J06",
        "Острая инфекция верхних дыхательных путей неуточненная",
    )
    assert builder.diseases["J00-J06"].level == "block"
    assert builder.diseases["X"].level == "chapter"
    assert builder.diseases["E11"].parent == "E10-E14"
    assert builder.diseases["E11"].sources == ["icd10_ru_nsi1005"]


def test_who_english_titles_merge_with_russian(fixture_data: Path) -> None:
    builder = KGBuilder()
    icd10_ru.load(fixture_data / icd10_ru.FILE, builder)
    assert (
        icd10_who.load(fixture_data / icd10_who.FILE, builder) == 9
    )  # 2 chapters, 2 blocks, 3 categories, 2 subcategories
    e11 = builder.diseases["E11"]
    assert e11.title_en == "Non-insulin-dependent diabetes mellitus"
    assert e11.title_ru == "Инсулиннезависимый сахарный диабет"
    assert e11.sources == ["icd10_ru_nsi1005", "icd10_who_2019"]
    e12 = builder.diseases["E12"]  # only WHO has it
    assert (e12.title_ru, e12.title_en, e12.parent) == (
        None,
        "Malnutrition-related diabetes mellitus",
        "E10-E14",
    )


@pytest.mark.parametrize(
    ("code", "level"),
    [("XXII", "chapter"), ("A00-A09", "block"), ("A00", "category"), ("A00.0", "subcategory")],
)
def test_level_of(code: str, level: str) -> None:
    assert icd10_ru.level_of(code) == level


def test_russian_csv_errors_name_file_and_line(tmp_path: Path, fixture_data: Path) -> None:
    bad = tmp_path / "ru.csv"
    lines = (fixture_data / icd10_ru.FILE).read_text(encoding="utf-8").splitlines()
    lines[3] = '3;1001J06;"J06";"Острые инфекции"'  # too few fields
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SourceError, match=r"ru\.csv:4: expected 8 fields, found 4"):
        icd10_ru.load(bad, KGBuilder())
    lines[3] = '3;1001J06;"JXX";"Плохой код";2;;1;'
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(SourceError, match=r"ru\.csv:4: MKB_CODE 'JXX' is not an ICD-10 code"):
        icd10_ru.load(bad, KGBuilder())


def test_missing_and_malformed_xml(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.xml: source file not found"):
        icd10_who.load(tmp_path / "nope.xml", KGBuilder())
    bad = tmp_path / "who.xml"
    bad.write_text("<icd>\n<item type='chapter'>\n<name>I</name>\n</icd>", encoding="utf-8")
    with pytest.raises(SourceError, match=r"who\.xml:4: malformed XML"):
        icd10_who.load(bad, KGBuilder())
