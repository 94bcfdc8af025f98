"""The privacy check: nearest real notes and the membership-inference test."""

from __future__ import annotations

import pyarrow as pa

from medsyn.evaluate.privacy import PrivacyConfig, privacy_check

TRAIN = pa.table(
    {
        "note_id": [f"r{i}" for i in range(8)],
        "code": ["J06"] * 8,
        "text": [
            "Боль в горле и насморк третий день, температура 38.",
            "Кашель сухой по ночам, першение в горле, слабость.",
            "Заложенность носа, чихание, слезотечение весной.",
            "Осиплость голоса после переохлаждения, боль при глотании.",
            "Озноб, ломота в теле, температура до 39 второй день.",
            "Насморк с густыми выделениями, головная боль в лобной области.",
            "Боль в ушах при глотании, температура 37.5.",
            "Сухость во рту, охриплость, кашель утром.",
        ],
    }
)


def test_synthetic_notes_that_copy_their_examples_are_caught() -> None:
    # Four synthetic notes each copying (with a small change) the real note that was its example.
    members = [0, 1, 2, 3]
    syn = pa.table(
        {
            "note_id": [f"s{i}" for i in members],
            "text": [TRAIN["text"][i].as_py() + " Жалобы." for i in members],
            "example_id": [f"r{i}" for i in members],
        }
    )
    summary, per_note = privacy_check(syn, TRAIN, PrivacyConfig(ngram_threshold=0.6))
    assert per_note["nearest_real_ngram"].to_pylist() == ["r0", "r1", "r2", "r3"]
    assert per_note["nearest_real_embedding"].to_pylist() == ["r0", "r1", "r2", "r3"]
    assert summary["ngram"]["share_above"] == 1.0 and summary["ngram"]["max"] > 0.6
    m = summary["membership"]
    # Members r0-r3 are each nearly identical to a synthetic note; non-members r4-r7 are not.
    assert (m["members"], m["nonmembers"]) == (4, 4)
    assert m["auc_ngram"] == 1.0 and m["auc_embedding"] == 1.0


def test_original_notes_reveal_less() -> None:
    syn = pa.table(
        {
            "note_id": ["s0", "s1"],
            "text": [
                "Выраженная слабость и потливость по вечерам.",
                "Тянущая боль в шее при поворотах головы.",
            ],
            "example_id": ["r0", "r1"],
        }
    )
    summary, _ = privacy_check(syn, TRAIN, PrivacyConfig(ngram_threshold=0.6))
    assert summary["ngram"]["share_above"] == 0.0 and summary["ngram"]["max"] < 0.3
    assert summary["membership"]["auc_ngram"] < 1.0
