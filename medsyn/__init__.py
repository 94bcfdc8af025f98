"""medsyn: synthetic clinical notes for ICD-10 codes, grounded on a Medical Knowledge Graph.

from medsyn.kg import open_kg
kg = open_kg("demo")                 # or a built KG directory
kg.symptoms("J06")                   # weighted symptoms of a code
"""

__version__ = "0.1.0"
