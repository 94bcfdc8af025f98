"""The paper's instruction tasks, as plain functions that turn one note (or one code) into samples.

Each sample: task, source, language, code, note_id, instruction, input, output. Instructions are drawn
from several paraphrases per task and language by a seeded hash of the sample key, so a rebuild gives
the same dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal, get_args

from medsyn.quality.scores import mentions
from medsyn.quality.text import tokens

PARAPHRASES: dict[str, dict[str, list[str]]] = {
    "note_from_symptoms": {
        "ru": [
            "Напиши жалобы пациента по списку симптомов.",
            "Составь запись о жалобах пациента, используя все перечисленные симптомы.",
            "По симптомам ниже напиши клиническую заметку о жалобах больного.",
        ],
        "en": [
            "Write the patient's complaints from the list of symptoms.",
            "Write a clinical note of the patient's complaints using all the symptoms listed.",
            "From the symptoms below, write a note of what the patient complains of.",
        ],
    },
    "continuation": {
        "ru": [
            "Продолжи запись о жалобах пациента.",
            "Допиши клиническую заметку.",
            "Закончи описание жалоб.",
        ],
        "en": [
            "Continue the note of the patient's complaints.",
            "Finish this clinical note.",
            "Complete the note.",
        ],
    },
    "symptom_continuation": {
        "ru": ["Продолжи список симптомов болезни «{title}».", "Какие ещё симптомы бывают при «{title}»?"],
        "en": ['Continue the list of symptoms of "{title}".', 'Which other symptoms does "{title}" cause?'],
    },
    "kg_symptoms": {
        "ru": ["Перечисли проявления болезни «{title}».", "Какие симптомы характерны для «{title}»?"],
        "en": ['List the manifestations of "{title}".', 'Which symptoms are typical of "{title}"?'],
    },
    "kg_drugs": {
        "ru": ["Какие препараты применяют при «{title}»?", "Назови лекарства для лечения «{title}»."],
        "en": ['Which drugs are used for "{title}"?', 'Name medicines that treat "{title}".'],
    },
    "kg_related": {
        "ru": [
            "Какие болезни связаны с «{title}» общими симптомами (через {hops} шаг(а))?",
            "Назови заболевания, которые через общие симптомы ({hops}) связаны с «{title}».",
        ],
        "en": [
            'Which diseases are linked to "{title}" by shared symptoms within {hops} hop(s)?',
            'Name diseases connected to "{title}" through common symptoms ({hops} hops at most).',
        ],
    },
}
# The generator's own task: its instruction is the `instruction_note` template's (one text, no
# paraphrases), so a fine-tuned model sees at generation time exactly the prompt it was trained on.
NOTE_TEMPLATE = "instruction_note"
# The paper's prompt (a real example note of the same code, plus title and symptoms) for note_from_example.
EXAMPLE_TEMPLATE = "instruction_note_example"
Task = Literal[
    "note_from_title_symptoms",
    "note_from_example",
    "note_from_symptoms",
    "continuation",
    "symptom_continuation",
    "kg_symptoms",
    "kg_drugs",
    "kg_related",
]
TASKS: tuple[Task, ...] = get_args(Task)
SPLITS = (2, 3, 4)  # continuation: the note cut at 1/2, 1/3 and 1/4 of its words


def pick(options: Sequence[str], *key: Any) -> str:
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode()).digest()
    return options[int.from_bytes(digest[:8], "big") % len(options)]


def sample(
    task: str, language: str, instruction: str, input_: str, output: str, **meta: Any
) -> dict[str, Any]:
    return {
        "task": task,
        "language": language,
        "instruction": instruction,
        "input": input_,
        "output": output,
        "source": meta.get("source", "real"),
        "code": meta.get("code"),
        "note_id": meta.get("note_id"),
    }


def _template_parts(name: str, language: str) -> tuple[str, str]:
    """(instruction, input) of a generator template in the paper's layout: the line under the task
    header and the lines under the input header, still with their {fields}."""
    from medsyn.prompts import get_template

    lines = get_template(name, language, "completion").text.rstrip("\n").split("\n")
    blanks = [i for i, line in enumerate(lines) if not line]
    return lines[1], "\n".join(lines[blanks[0] + 2 : blanks[1]])


def note_instruction(title: str, language: str) -> str:
    """The instruction line of the `instruction_note` template for a disease title."""
    return _template_parts(NOTE_TEMPLATE, language)[0].format(title=title)


def note_tasks(
    note_id: str,
    code: str,
    text: str,
    kg_symptoms: Sequence[str],
    *,
    language: str,
    seed: int,
    source: str = "real",
    title: str | None = None,
    example: str | None = None,
) -> list[dict[str, Any]]:
    """note_from_title_symptoms (title + the code's MKG symptoms the note mentions, in a seeded order as
    the generation job shuffles them -> the note), note_from_example (the same plus `example`, another
    real note of the code, as the paper prompts), note_from_symptoms and continuations."""
    out = []
    words = tokens(text)
    mentioned = [s for s in kg_symptoms if mentions(words, s)]
    meta = {"code": code, "note_id": note_id, "source": source}
    if mentioned and title:
        order = sorted(
            mentioned, key=lambda s: hashlib.sha256(f"{seed}\x1f{note_id}\x1f{s}".encode()).digest()
        )
        out.append(
            sample(
                "note_from_title_symptoms",
                language,
                note_instruction(title, language),
                ", ".join(order),
                text.strip(),
                **meta,
            )
        )
        if example:
            instruction, input_ = _template_parts(EXAMPLE_TEMPLATE, language)
            out.append(
                sample(
                    "note_from_example",
                    language,
                    instruction.format(title=title),
                    input_.format(example=example.strip(), symptoms=", ".join(order)),
                    text.strip(),
                    **meta,
                )
            )
    if mentioned:
        instruction = pick(PARAPHRASES["note_from_symptoms"][language], seed, note_id, "symptoms")
        out.append(
            sample("note_from_symptoms", language, instruction, ", ".join(mentioned), text.strip(), **meta)
        )
    parts = text.split()
    if len(parts) >= 8:
        for k in SPLITS:
            cut = len(parts) // k
            instruction = pick(PARAPHRASES["continuation"][language], seed, note_id, k)
            out.append(
                sample(
                    "continuation",
                    language,
                    instruction,
                    " ".join(parts[:cut]),
                    " ".join(parts[cut:]),
                    **meta,
                )
            )
    return out


def code_tasks(
    code: str,
    title: str,
    symptoms: Sequence[str],
    drugs: Sequence[str],
    related: dict[int, list[str]],
    *,
    language: str,
    seed: int,
) -> list[dict[str, Any]]:
    """Per-code MKG tasks: symptom-list continuation, symptoms, drugs, diseases sharing symptoms by hops."""
    out = []
    meta = {"code": code, "source": "kg"}

    def ask(task: str, *key: Any, **fmt: Any) -> str:
        return pick(PARAPHRASES[task][language], seed, code, task, *key).format(title=title, **fmt)

    if len(symptoms) >= 2:
        half = len(symptoms) // 2
        out.append(
            sample(
                "symptom_continuation",
                language,
                ask("symptom_continuation"),
                ", ".join(symptoms[:half]),
                ", ".join(symptoms[half:]),
                **meta,
            )
        )
    if symptoms:
        out.append(sample("kg_symptoms", language, ask("kg_symptoms"), "", ", ".join(symptoms), **meta))
    if drugs:
        out.append(sample("kg_drugs", language, ask("kg_drugs"), "", ", ".join(drugs), **meta))
    for hops, names in sorted(related.items()):
        if names:
            out.append(
                sample(
                    "kg_related", language, ask("kg_related", hops, hops=hops), "", "; ".join(names), **meta
                )
            )
    return out


def related_codes(symptoms_of: dict[str, set[str]], code: str, max_hops: int) -> dict[int, list[str]]:
    """Codes reachable from `code` through shared symptoms: hop 1 shares a symptom with it, hop 2 with a
    hop-1 code, ...; each code listed at its nearest hop."""
    seen = {code}
    frontier = {code}
    out: dict[int, list[str]] = {}
    for hop in range(1, max_hops + 1):
        nxt = {
            other
            for c in frontier
            for other, syms in symptoms_of.items()
            if other not in seen and syms & symptoms_of.get(c, set())
        }
        if not nxt:
            break
        out[hop] = sorted(nxt)
        seen |= nxt
        frontier = nxt
    return out


def prompt_text(s: dict[str, Any], fmt: str = "paper") -> tuple[str, str]:
    """(prompt, answer) in the paper's "### Задание / ### Вход / ### Ответ" layout (English headers: en)."""
    heads = {
        "ru": ("### Задание:", "### Вход:", "### Ответ:"),
        "en": ("### Task:", "### Input:", "### Answer:"),
    }
    task, inp, ans = heads[s["language"]]
    prompt = f"{task}\n{s['instruction']}\n\n"
    if s["input"]:
        prompt += f"{inp}\n{s['input']}\n\n"
    return prompt + f"{ans}\n", s["output"]
