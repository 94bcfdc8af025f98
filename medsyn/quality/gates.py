"""Quality gates of a generated set: is it usable training data, judged against the real notes?

    reference = RealReference.build(real_notes, titles)          # once: vocabulary, lengths, classifier
    gates = quality_gates(generated, reference, language="ru")   # dict: each gate's value, target, passed
    medsyn quality runs/notes --notes train.jsonl --kg runs/kg   # the same for any run directory

Gates (value over the notes that have text; failed generations are counted apart):
- `language`: share of notes in the target language, judged by words a real vocabulary knows (the real
  notes' words and the KG's titles in that language), not by the alphabet: a note counts when at least
  `KNOWN_WORDS` of its words are known. Real RuMedTop3 dev notes: 96% of words known, 98.8% of notes pass.
- `degenerate`: share of notes that loop (a word 4-gram three times or more, or under 40% distinct words
  in 12 or more): real notes 1.1-1.3%.
- `length`: median, over the notes, of each note's percentile among the real notes of its code (words);
  0.5 means typical length, and the gate wants it inside the interquartile range [0.25, 0.75].
- `symptom_recall`: mean share of the sampled symptoms the note mentions.
- `classifier_agreement`: share of notes whose code a TF-IDF classifier trained on the real notes ranks
  in its top 3 (notes of codes it never saw are not judged). A note that opens with words borrowed from a
  real note (`--opening-words`) is judged on its own words, the opening cut off: the borrowed words are
  the real note's, not the generator's (the whole note's share is reported beside, as `whole_note`).
- `drift`: share of the notes (of codes other than the most frequent) that the TF-IDF classifier ranks
  first among the `FREQUENT_CODES` codes with the most real notes: the notes lost their code to the
  frequent ones. Beside it, where held-out real notes are given (`medsyn evaluate`), the same share for
  the real notes of the same codes. RuMedTop3 dev notes of the 40 rarest codes: 0.27-0.34.
- `copy_rate`: share of notes that copy their example (5-gram containment >= the run's threshold) or any
  real note (5-gram Jaccard with the nearest real note >= `COPY_JACCARD`: near-identical; short notes
  share stock phrases with real ones, so containment would flag ordinary wording). Real RuMedTop3 dev
  notes against train: 1.4% at 0.8 (repeat visits), 6.4% at 0.7.
- `diversity`: distinct word 1- and 2-grams over all words, and the near-duplicate share (MinHash 0.8);
  reported, no target.
- `realism`: the cross-validated AUC of a classifier telling the notes from the real notes of their
  codes (`medsyn.quality.realism`: 0.5 reads as real, 1.0 is told apart every time), with the word
  n-grams that give each side away; reported, no target.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from medsyn.quality.kg_consistency import SymptomCodes, off_code_share
from medsyn.quality.realism import realism
from medsyn.quality.text import tokens

if TYPE_CHECKING:
    from medsyn.quality.classifier import TfidfClassifier, TfidfConfig

FREQUENT_CODES = 10  # the drift gate: the codes with the most real notes
KNOWN_WORDS = 0.7  # a note is in the language when this share of its words is known
COPY_JACCARD = 0.8  # a note copies a real note when their 5-gram sets have this Jaccard similarity
TOP_K = 3


@dataclass(frozen=True)
class GateTargets:
    language: float = 0.98
    degenerate: float = 0.03
    symptom_recall: float = 0.5
    classifier_agreement: float = 0.5
    copy_rate: float = 0.02
    drift: float = 0.40
    length_low: float = 0.25
    length_high: float = 0.75


def is_degenerate(words: list[str]) -> bool:
    """A note that loops: some word 4-gram three times or more, or under 40% distinct words in 12+."""
    grams = collections.Counter(zip(words, words[1:], words[2:], words[3:], strict=False))
    if grams and max(grams.values()) >= 3:
        return True
    return len(words) >= 12 and len(set(words)) / len(words) < 0.4


def known_share(words: list[str], vocabulary: set[str]) -> float | None:
    return sum(w in vocabulary for w in words) / len(words) if words else None


class RealReference:
    """What the gates compare a generated set with, built once from the real (train) notes."""

    def __init__(self, texts: list[str], codes: list[str], vocabulary: set[str], *, seed: int = 0) -> None:
        from medsyn.quality.classifier import TfidfClassifier
        from medsyn.quality.similarity import NgramIndex

        self.texts, self.codes, self.vocabulary, self.seed = texts, codes, vocabulary, seed
        lengths: dict[str, list[int]] = collections.defaultdict(list)
        for text, code in zip(texts, codes, strict=True):
            lengths[code].append(len(tokens(text)))
        self.lengths = {c: np.sort(np.asarray(v)) for c, v in lengths.items()}
        self.classifier = TfidfClassifier(seed=seed).fit(texts, codes) if len(set(codes)) >= 2 else None
        self.index = NgramIndex(texts)
        # The MKG's symptom-to-codes index for the KG consistency gate (set by `reference_for`).
        self.symptom_codes: SymptomCodes | None = None

    def classifier_for(
        self, texts: list[str], codes: list[str], config: TfidfConfig, seed: int
    ) -> TfidfClassifier | None:
        """This reference's classifier when it is the one `TfidfClassifier(config, seed=seed).fit(texts,
        codes)` would train (the same notes in the same order, settings and seed: the evaluation's `real`
        configuration), so that it is not trained twice; else None."""
        clf = self.classifier
        if clf is None or seed != clf.seed or config != clf.config:
            return None
        return clf if codes == self.codes and texts == self.texts else None

    @classmethod
    def build(cls, notes: pa.Table, titles: Iterable[str] = (), *, seed: int = 0) -> RealReference:
        """From a notes table (note_id, code, text; `medsyn.notes.load_notes`) and the KG's titles."""
        texts = [t or "" for t in notes["text"].to_pylist()]
        vocabulary = {w for t in [*texts, *titles] for w in tokens(t or "")}
        return cls(texts, [str(c) for c in notes["code"].to_pylist()], vocabulary, seed=seed)


def own_words(text: str, opening: str | None) -> str:
    """The generator's words of a note: its text without the real opening it was given (if any)."""
    if opening and text.startswith(opening):
        return text[len(opening) :].strip()
    return text


def _in_top_k(classifier: Any, texts: list[str], classes: list[int]) -> list[bool]:
    """Whether each text's class (an index into `classifier.classes`) is among the classifier's TOP_K;
    an empty text never is."""
    if not texts:
        return []
    scores = classifier.scores(texts)
    return [
        bool(text.strip()) and int(np.sum(s > s[c])) < TOP_K
        for text, s, c in zip(texts, scores, classes, strict=True)
    ]


def drift_flags(classifier: Any, texts: list[str], frequent: set[str]) -> list[bool]:
    """Whether the classifier ranks each text first among the `frequent` codes."""
    if not texts:
        return []
    top1 = classifier.scores(texts).argmax(axis=1)
    return [classifier.classes[int(i)] in frequent for i in top1]


def _drift_gate(
    reference: RealReference,
    ok: list[dict[str, Any]],
    held_out: tuple[list[str], list[str]] | None,
    target: float,
) -> dict[str, Any]:
    frequent = {c for c, _ in collections.Counter(reference.codes).most_common(FREQUENT_CODES)}
    judged = [r for r in ok if r["code"] not in frequent]
    flags = drift_flags(
        reference.classifier, [own_words(r["text"], r.get("opening")) for r in judged], frequent
    )
    gate = _gate(_share(flags), target, at_most=True, n=len(flags)) | {
        "judged": len(judged),
        "frequent_codes": sorted(frequent),
    }
    if not judged:  # every note's code is a frequent one: nothing to drift to, the gate does not apply
        gate |= {
            "applicable": False,
            "reason": f"every note's code is among the {FREQUENT_CODES} most frequent",
        }
    if held_out is not None:
        codes = {r["code"] for r in judged}
        real = [t for t, c in zip(*held_out, strict=True) if c in codes]
        gate |= {"real": _share(drift_flags(reference.classifier, real, frequent)), "real_judged": len(real)}
    return gate


def min_notes(target: float, *, at_most: bool) -> int:
    """The fewest notes a share gate judges: where one note moves the share by no more than the room the
    target leaves (1/n <= target, or <= 1 - target), so that no single note decides the verdict (the
    degenerate gate, <= 0.03: 34 notes; the language gate, >= 0.98: 50)."""
    room = target if at_most else 1 - target
    return max(1, math.ceil(1 / room - 1e-9)) if room > 0 else 1


def _gate(
    value: float | None, target: float, *, at_most: bool = False, n: int | None = None
) -> dict[str, Any]:
    """A gate's verdict; `n`: the notes a share gate judged (too few for its target: no verdict)."""
    passed = None if value is None else (value <= target if at_most else value >= target)
    bound = f"{'<=' if at_most else '>='} {target}"
    gate: dict[str, Any] = {"value": value, "target": bound, "passed": passed}
    if n is not None and value is not None and n < (needed := min_notes(target, at_most=at_most)):
        gate |= {"passed": None, "too_few": {"n": n, "needs": needed}}
    return gate


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def quality_gates(
    notes: pa.Table,
    reference: RealReference | None,
    *,
    targets: GateTargets | None = None,
    held_out: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any]:
    """The gates of a generated set (columns text, code, and where present symptom_recall,
    copied_example, opening, error). Gates that need the real notes are None without a `reference`.
    `held_out`: (texts, codes) of real notes the reference never saw, for the drift gate's real share."""
    from medsyn.quality.similarity import near_duplicates

    t = targets or GateTargets()
    rows = notes.to_pylist()
    ok = [r for r in rows if r.get("text") and not r.get("error")]
    words = [tokens(r["text"]) for r in ok]
    out: dict[str, Any] = {"n": len(rows), "n_text": len(ok), "failed": len(rows) - len(ok)}

    if reference is not None:
        shares = [known_share(w, reference.vocabulary) for w in words]
        flags = [s is not None and s >= KNOWN_WORDS for s in shares]
        known = [s for s in shares if s is not None]
        out["language"] = _gate(_share(flags), t.language, n=len(flags)) | {
            "known_word_share_mean": float(np.mean(known)) if known else None,
            "note_threshold": KNOWN_WORDS,
        }
    else:
        out["language"] = _gate(None, t.language) | {"reason": "needs the real notes (--notes)"}
    out["degenerate"] = _gate(
        _share([is_degenerate(w) for w in words]), t.degenerate, at_most=True, n=len(words)
    )

    lengths = [len(w) for w in words]
    if reference is not None:
        pct = [
            float(
                np.searchsorted(reference.lengths[r["code"]], n, side="right")
                / len(reference.lengths[r["code"]])
            )
            for r, n in zip(ok, lengths, strict=True)
            if r["code"] in reference.lengths
        ]
        median_pct = float(np.median(pct)) if pct else None
        real = np.concatenate(
            [reference.lengths[c] for c in sorted({r["code"] for r in ok}) if c in reference.lengths]
            or [np.zeros(0)]
        )
        out["length"] = {
            "value": median_pct,
            "target": f"median percentile in [{t.length_low}, {t.length_high}]",
            "passed": None if median_pct is None else t.length_low <= median_pct <= t.length_high,
            "median_words": float(np.median(lengths)) if lengths else None,
            "real_q1_words": float(np.quantile(real, 0.25)) if real.size else None,
            "real_median_words": float(np.median(real)) if real.size else None,
            "real_q3_words": float(np.quantile(real, 0.75)) if real.size else None,
        }
    else:
        out["length"] = {
            "value": None,
            "passed": None,
            "median_words": float(np.median(lengths)) if lengths else None,
        }

    recalls = [r["symptom_recall"] for r in ok if r.get("symptom_recall") is not None]
    out["symptom_recall"] = _gate(float(np.mean(recalls)) if recalls else None, t.symptom_recall)

    if reference is not None and reference.classifier is not None:
        clf = reference.classifier
        index = {c: i for i, c in enumerate(clf.classes)}
        judged = [r for r in ok if r["code"] in index]
        classes = [index[r["code"]] for r in judged]
        own = [own_words(r["text"], r.get("opening")) for r in judged]
        agree = _in_top_k(clf, own, classes)
        out["classifier_agreement"] = _gate(_share(agree), t.classifier_agreement, n=len(agree)) | {
            "judged": len(judged),
            "top_k": TOP_K,
        }
        with_opening = sum(bool(r.get("opening")) for r in judged)
        if with_opening:
            whole = _in_top_k(clf, [r["text"] for r in judged], classes)
            out["classifier_agreement"] |= {
                "judged_on": f"own words: the borrowed opening cut off in {with_opening} notes",
                "whole_note": _share(whole),
            }
        out["drift"] = _drift_gate(reference, ok, held_out, t.drift)
    else:
        out["classifier_agreement"] = _gate(None, t.classifier_agreement) | {
            "reason": "needs real notes of 2+ codes"
        }
        out["drift"] = _gate(None, t.drift, at_most=True) | {"reason": "needs real notes of 2+ codes"}
    out["kg_consistency"] = _kg_consistency(reference, ok, held_out)

    copied_example = [bool(r.get("copied_example")) for r in ok]
    copy: dict[str, Any] = {"example": _share(copied_example)}
    if reference is not None and ok:
        _, jaccard, _ = reference.index.nearest([r["text"] for r in ok])
        copied_real = [bool(j >= COPY_JACCARD) for j in jaccard]
        copy["real"] = _share(copied_real)
        value = _share([a or b for a, b in zip(copied_example, copied_real, strict=True)])
    else:
        value = copy["example"]
    out["copy_rate"] = _gate(value, t.copy_rate, at_most=True, n=len(ok)) | copy

    if reference is not None:
        codes = {r["code"] for r in ok}
        real = [text for text, code in zip(reference.texts, reference.codes, strict=True) if code in codes]
        out["realism"] = realism([r["text"] for r in ok], real, seed=reference.seed)
    else:
        out["realism"] = {"value": None, "reason": "needs the real notes (--notes)"}

    unigrams = [w for ws in words for w in ws]
    bigrams = [b for ws in words for b in zip(ws, ws[1:], strict=False)]
    dups = near_duplicates([r["text"] for r in ok]) if ok else []
    out["diversity"] = {
        "distinct_1": len(set(unigrams)) / len(unigrams) if unigrams else None,
        "distinct_2": len(set(bigrams)) / len(bigrams) if bigrams else None,
        "near_duplicates": len(dups) / len(ok) if ok else None,
    }
    judged_gates = [
        g["passed"]
        for g in out.values()
        if isinstance(g, dict) and "passed" in g and g.get("applicable", True)
    ]
    out["passed"] = None if any(p is None for p in judged_gates) else all(judged_gates)
    out["targets"] = asdict(t)
    return out


def _kg_consistency(
    reference: RealReference | None, ok: list[dict[str, Any]], held_out: tuple[list[str], list[str]] | None
) -> dict[str, Any]:
    """The share of notes that mention a symptom the MKG ties to other codes but not to theirs, beside the
    same share for real notes of the same codes (held out where given, else the reference's)."""
    target = "reported: share of notes naming another code's MKG symptom"
    if reference is None or reference.symptom_codes is None:
        return {
            "value": None,
            "target": target,
            "passed": None,
            "applicable": False,
            "reason": "needs the MKG and the real notes",
        }
    index = reference.symptom_codes
    codes = {r["code"] for r in ok}
    real_texts, real_codes = held_out or (reference.texts, reference.codes)
    real = [(text, code) for text, code in zip(real_texts, real_codes, strict=True) if code in codes]
    return {
        "value": off_code_share(index, [r["text"] for r in ok], [r["code"] for r in ok]),
        "real": off_code_share(index, [x for x, _ in real], [c for _, c in real]),
        "target": target,
        "passed": None,
        "applicable": False,  # no verdict: the MKG's edges are sparse (real notes score about 0.5)
    }


GATES = ("language", "degenerate", "length", "symptom_recall", "classifier_agreement", "drift", "copy_rate")


def gate_lines(gates: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(gate, value, target, verdict) rows for printing."""

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    rows = []
    for name in GATES:
        g = gates.get(name)
        if g is None:  # a run gated before the gate existed
            continue
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[g.get("passed")]
        if g.get("too_few"):
            verdict = f"too few notes to judge (n={g['too_few']['n']}, needs {g['too_few']['needs']})"
        value = fmt(g.get("value"))
        if g.get("whole_note") is not None:  # agreement judged without borrowed openings
            value += f" (own words; whole note {fmt(g['whole_note'])})"
        if g.get("real") is not None:  # the same share for held-out real notes of the same codes
            value += f" (real notes {fmt(g['real'])})"
        rows.append((name, value, str(g.get("target", "")), verdict))
    k = gates.get("kg_consistency") or {}  # absent from runs gated before it existed
    if k.get("value") is not None:
        rows.append(
            ("kg_consistency", f"{fmt(k['value'])} (real notes {fmt(k.get('real'))})", k["target"], "")
        )
    r = gates.get("realism") or {}  # absent from runs gated before it existed
    target = "reported: 0.5 reads as real"
    if r.get("value") is not None:
        markers = ", ".join(r["generated_markers"][:5])
        rows.append(("realism", f"AUC {fmt(r['value'])}; giveaways: {markers}", target, ""))
    else:
        rows.append(("realism", "-", target, "n/a"))
    d = gates["diversity"]
    rows.append(
        (
            "diversity",
            f"distinct-1 {fmt(d['distinct_1'])}, distinct-2 {fmt(d['distinct_2'])}, "
            f"near-duplicates {fmt(d['near_duplicates'])}",
            "",
            "",
        )
    )
    return rows


def reference_for(
    notes: str | None,
    kg: str | None,
    language: str,
    *,
    text_column: str | None = None,
    code_column: str = "code",
) -> RealReference | None:
    """The reference of a run: its real notes (None without them) and its KG's titles in `language`."""
    from medsyn.kg import open_kg
    from medsyn.notes import load_notes

    if not notes:
        return None
    table = load_notes(notes, text_column=text_column, code_column=code_column)
    store = open_kg(kg)
    titles = store.tables().diseases[f"title_{language}"].to_pylist()
    reference = RealReference.build(table, [t for t in titles if t])
    reference.symptom_codes = SymptomCodes.from_kg(store, language)
    return reference


def run_gates(
    run_dir: str, reference: RealReference | None, *, sample: int = 20_000, seed: int = 0
) -> dict[str, Any]:
    """The gates of a run directory's notes (a seeded sample of at most `sample` rows: the gates are
    shares and means, and the driver's memory stays flat in the number of notes)."""
    from medsyn.pipeline.rundir import RunDir

    columns = ["row", "code", "text", "symptom_recall", "copied_example", "opening", "error"]
    table = RunDir(run_dir).read(columns)
    if table.num_rows > sample:
        pick = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=sample, replace=False))
        table = table.take(pa.array(pick))
    return quality_gates(table, reference) | {"sampled": table.num_rows}
