"""Importers: each reads one public source into a `KGBuilder`, recording its source on all it adds.

| module            | source name(s)        | adds                                              |
|-------------------|-----------------------|---------------------------------------------------|
| icd10_ru          | icd10_ru_nsi1005      | diseases: Russian titles, full hierarchy          |
| icd10_who         | icd10_who_2019        | diseases: English titles, hierarchy               |
| rumedtop3         | rumedtop3_train       | Russian symptoms per code (train split only)      |
| disease_ontology  | disease_ontology, hsdn| English symptoms via DO ICD10CM xrefs, HSDN TF-IDF|
| medi              | medi_hps              | drugs via ICD-9 -> ICD-10 (CMS GEM)               |
| sider             | sider4                | drugs where an indication name maps to a code     |
"""
