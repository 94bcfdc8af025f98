from pathlib import Path

import pytest

from medsyn.errors import SourceError
from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers import icd10_ru, icd10_who, medi, sider


def _builder(fixture_data: Path) -> KGBuilder:
    builder = KGBuilder()
    icd10_ru.load(fixture_data / icd10_ru.FILE, builder)
    icd10_who.load(fixture_data / icd10_who.FILE, builder)
    return builder


def test_medi_through_gem(fixture_data: Path) -> None:
    builder = _builder(fixture_data)
    assert medi.load(fixture_data, builder) == 5
    # Worked by hand: 250.00 -> E119 -> E11; 465.9 -> J069 -> J06.9; 250 (no GEM row) takes its subcodes
    # 25000, 25002 -> E11, E11.6; 401-405.99 -> I10 (not in the KG: skipped); 461.9|250.02 -> J01.90 (not
    # in the KG) and E11.65 -> E11.6.
    assert set(builder.drug_edges) == {
        ("E11", "metformin", "medi_hps"),
        ("J06.9", "paracetamol", "medi_hps"),
        ("E11", "insulin", "medi_hps"),
        ("E11.6", "insulin", "medi_hps"),
        ("E11.6", "combo", "medi_hps"),
    }
    assert builder.drug_edges[("E11", "metformin", "medi_hps")] == "ICD-9 250.00 (Diabetes mellitus)"
    assert builder.drug_nodes["metformin"] == (["rxcui:1"], ["medi_hps"])
    assert builder.skipped == {("medi_hps", "ICD-9 indication with no ICD-10 code in the KG"): 1}


def test_icd9_ranges_prefixes_and_no_map(fixture_data: Path) -> None:
    gem = medi.read_gem(fixture_data / medi.GEM_FILE)
    assert medi.icd9_to_icd10("401-405.99", gem) == ["I10"]
    assert medi.icd9_to_icd10("250", gem) == ["E119", "E1165"]
    assert medi.icd9_to_icd10("466.0", gem) == []  # a 'no map' row
    assert medi.icd9_to_icd10("461.9|465.9", gem) == ["J0190", "J069"]


def test_gem_malformed_line(tmp_path: Path) -> None:
    bad = tmp_path / "gem.txt"
    bad.write_text("0010  A000    00000\n0011 A001\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"gem\.txt:2: expected 'ICD9 ICD10 FLAGS'"):
        medi.read_gem(bad)


def test_sider_maps_by_do_label_and_who_title(fixture_data: Path) -> None:
    builder = _builder(fixture_data)
    assert sider.load(fixture_data, builder) == 3
    # Worked by hand: 'Type 2 diabetes mellitus' = DO label of DOID:9352 -> E11.65 -> E11.6;
    # 'Common cold' = DOID:101 -> J06.9 (J00 unknown); precondition rows are not indications;
    # 'Non-insulin-dependent diabetes mellitus' = WHO title of E11; 'Unknownitis' maps nowhere.
    assert set(builder.drug_edges) == {
        ("E11.6", "metformin", "sider4"),
        ("J06.9", "ibuprofen", "sider4"),
        ("E11", "bar", "sider4"),
    }
    assert builder.drug_nodes["metformin"] == (["drugbank:DB1"], ["sider4"])
    assert builder.skipped == {("sider4", "indication name matches no DO label or WHO title"): 1}
