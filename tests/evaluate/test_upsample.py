"""Training sets of every configuration, counted by hand on a tiny fixture."""

from __future__ import annotations

import pyarrow as pa
import pytest

from medsyn.errors import MedsynError
from medsyn.evaluate.upsample import UpsampleConfig, default_configs, training_sets

# Real: A00 x3, B00 x1, C00 x5. Synthetic: A00 x2, B00 x4, D00 x2 (no real notes of D00).
REAL = pa.table(
    {
        "note_id": [f"r{i}" for i in range(9)],
        "code": ["A00"] * 3 + ["B00"] + ["C00"] * 5,
        "text": [f"real note {i}" for i in range(9)],
    }
)
SYN = pa.table(
    {
        "note_id": [f"s{i}" for i in range(8)],
        "code": ["A00"] * 2 + ["B00"] * 4 + ["D00"] * 2,
        "text": [f"synthetic note {i}" for i in range(8)],
    }
)
# rare_below=2: rare codes are B00 (1 real) and D00 (0). target_count=4: A00 wants 1 (has 3), B00 wants 3,
# C00 none, D00 wants 4 but only 2 exist. Replicas can copy A00 and B00 but not D00 (no real notes).
EXPECTED = {
    "real": (9, {"real": 9}),
    "synthetic": (8, {"synthetic": 8}),
    "real+synthetic": (17, {"real": 9, "synthetic": 8}),
    "real+replicated(synthetic)": (15, {"real": 9, "replicated": 6}),
    "real+synthetic:rare": (15, {"real": 9, "synthetic": 6}),
    "real+replicated(synthetic):rare": (13, {"real": 9, "replicated": 4}),
    "real+synthetic:target": (15, {"real": 9, "synthetic": 6}),
    "real+replicated(synthetic):target": (13, {"real": 9, "replicated": 4}),
    "real-oot": (6, {"real": 6}),  # A00's 3 real notes removed
    "real-oot+synthetic": (8, {"real": 6, "synthetic": 2}),  # + A00's 2 synthetic notes only
    # + the synthetic notes of the codes rare without A00's real notes: A00 (0 real now), B00 and D00.
    "real-oot+synthetic:rare": (14, {"real": 6, "synthetic": 8}),
}


def test_every_configuration_counted_by_hand() -> None:
    config = UpsampleConfig(rare_below=2, target_count=4, oot_codes=["A00"])
    plan = training_sets(REAL, {"synthetic": SYN}, config, seed=0)
    assert [s.name for s in plan.sets] == default_configs(["synthetic"]) == list(EXPECTED)
    assert plan.oot_codes == ["A00"] and plan.rare_below == 2
    for s in plan.sets:
        assert (len(s), s.by_source()) == EXPECTED[s.name], s.name
        assert len(s.texts) == len(s.codes) == len(s.note_ids) == len(s.sources)
    sets = {s.name: s for s in plan.sets}
    target = sets["real+synthetic:target"]
    assert sorted(c for c, src in zip(target.codes, target.sources, strict=True) if src == "synthetic") == (
        ["A00"] + ["B00"] * 3 + ["D00"] * 2
    )
    assert sets["real+replicated(synthetic)"].unmatched == {"D00": 2}
    replicated = sets["real+replicated(synthetic):target"]
    assert all(i.startswith("r") for i in replicated.note_ids)
    assert (
        sorted(c for c, src in zip(replicated.codes, replicated.sources, strict=True) if src == "replicated")
        == ["A00"] + ["B00"] * 3
    )
    assert "A00" not in sets["real-oot"].codes


def test_sampling_depends_on_the_seed_only() -> None:
    config = UpsampleConfig(target_count=4, oot_codes=["A00"], configs=["real+synthetic:target"])
    a = training_sets(REAL, {"synthetic": SYN}, config, seed=1).sets[1].note_ids
    b = training_sets(REAL, {"synthetic": SYN}, config, seed=1).sets[1].note_ids
    assert a == b
    picks = {
        tuple(training_sets(REAL, {"synthetic": SYN}, config, seed=s).sets[1].note_ids) for s in range(8)
    }
    assert len(picks) > 1  # another seed picks other synthetic notes


def test_default_rare_threshold_is_the_lower_quartile() -> None:
    # Real counts per code: 1, 3, 5 -> lower quartile 2.
    plan = training_sets(REAL, {"synthetic": SYN}, UpsampleConfig(oot_codes=["A00"]), seed=0)
    assert plan.rare_below == 2


def test_unknown_configuration_names_the_valid_ones() -> None:
    with pytest.raises(
        MedsynError, match=r"unknown training configuration 'real\+synthetic:often'.*real-oot"
    ):
        training_sets(REAL, {"synthetic": SYN}, UpsampleConfig(configs=["real+synthetic:often"]))
    with pytest.raises(MedsynError, match=r"real-oot\+ takes rule rare or none"):
        training_sets(REAL, {"synthetic": SYN}, UpsampleConfig(configs=["real-oot+synthetic:target"]))
    with pytest.raises(MedsynError, match="names synthetic set 'gpt4'; sets: synthetic"):
        training_sets(REAL, {"synthetic": SYN}, UpsampleConfig(configs=["real+gpt4"]))


def test_drawn_oot_codes_are_one_set_per_run() -> None:
    # Every training seed of a run must remove (and be scored on) the same out-of-training codes:
    # were they drawn per seed, `real-oot` would "predict" codes it was trained on in the other seeds.
    config = UpsampleConfig(oot_fraction=0.5, configs=["real-oot"])
    plans = [training_sets(REAL, {"synthetic": SYN}, config, seed=s) for s in range(6)]
    assert len({tuple(p.oot_codes) for p in plans}) == 1 and len(plans[0].oot_codes) == 1
    for plan in plans:
        assert not set(plan.oot_codes) & set(plan.sets[1].codes)  # real-oot never sees them
    # The draw follows the run's oot_seed (among the codes with real and synthetic notes).
    drawn = {
        tuple(training_sets(REAL, {"synthetic": SYN}, UpsampleConfig(oot_fraction=0.5, oot_seed=k)).oot_codes)
        for k in range(8)
    }
    assert drawn == {("A00",), ("B00",)}
