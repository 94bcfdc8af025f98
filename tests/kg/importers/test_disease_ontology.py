from pathlib import Path

from medsyn.kg.builder import KGBuilder
from medsyn.kg.importers import disease_ontology, icd10_ru, icd10_who


def test_do_and_hsdn_edges_with_inheritance(fixture_data: Path) -> None:
    builder = KGBuilder()
    icd10_ru.load(fixture_data / icd10_ru.FILE, builder)
    icd10_who.load(fixture_data / icd10_who.FILE, builder)
    disease_ontology.load(fixture_data, builder)
    # Worked by hand:
    # - DOID:9352 (type 2 diabetes, xref E11.65 -> E11.6) has no symptoms of its own and inherits those
    #   of its parent DOID:9351: polyuria (HSDN TF-IDF 7.5 for 9351/Polyuria) and thirst (no HSDN: 1.0).
    # - DOID:101 (common cold, xrefs J06.9 and J00; J00 is not in the KG) has cough (HSDN 3.0), and HSDN
    #   edges cough 3.0 and 'Pain, Throat' -> 'throat pain' 4.2.
    # - DOID:555 maps to Z99.9, not in the KG.
    assert builder.symptom_edges == {
        ("E11.6", "polyuria", "en", "disease_ontology"): (7.5, "inherited from DOID:9351"),
        ("E11.6", "thirst", "en", "disease_ontology"): (1.0, "inherited from DOID:9351"),
        ("J06.9", "cough", "en", "disease_ontology"): (3.0, "DOID:101 SYMP:0000003"),
        ("J06.9", "cough", "en", "hsdn"): (3.0, "DOID:101 MeSH 'Cough', 12 co-occurrences"),
        ("J06.9", "throat pain", "en", "hsdn"): (4.2, "DOID:101 MeSH 'Pain, Throat', 9 co-occurrences"),
    }
    assert builder.symptom_nodes[("cough", "en")] == ["disease_ontology", "hsdn"]
    assert builder.skipped == {("disease_ontology", "ICD10CM xref with no ICD-10 code in the KG"): 2}


def test_inheritance_depth_limit(fixture_data: Path) -> None:
    builder = KGBuilder()
    icd10_ru.load(fixture_data / icd10_ru.FILE, builder)
    disease_ontology.load(fixture_data, builder, max_inherit_depth=0)
    assert not any(code == "E11.6" for code, *_ in builder.symptom_edges)


def test_mesh_names_are_uninverted() -> None:
    assert disease_ontology.mesh_name("Pain, Abdominal") == "abdominal pain"
    assert disease_ontology.mesh_name("Fever") == "fever"
    assert disease_ontology.mesh_name("A, B, C") == "a, b, c"
