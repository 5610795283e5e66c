"""The LLM QA prompts, as data: one :class:`Prompt` per kind of question work, each with the JSON
schema its reply must follow. Bump a prompt's version whenever its wording or schema changes: the
version is part of every cache key and of every LLM-made row's provenance.

A prompt only ever holds the question being reworded, its answer and the facts its template put in
it (a fact's own values and its ancestors' names and dates): never another node's values, so an LLM
has nothing of a forget node to paste into a retain row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

SYSTEM = (
    "You write questions for a dataset about chest X-ray studies of fictitious patients. "
    "Follow the instructions exactly and reply with one JSON object and nothing else, like the example."
)


@dataclass(frozen=True)
class Prompt:
    """A user message template and one worked example, sent as a first exchange: small models
    follow an example turn far better than a described format."""

    id: str
    version: str
    #: the user message, a :class:`string.Template` (``$name`` placeholders)
    user: str
    #: the placeholders of the example's user message, and the example's reply (JSON)
    example: Mapping[str, str]
    example_reply: Mapping[str, Any]

    def messages(self, **values: str) -> tuple[dict[str, str], ...]:
        """System, the example exchange, then the user message for ``values`` (always last)."""
        return (
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": Template(self.user).substitute(self.example)},
            {"role": "assistant", "content": json.dumps(self.example_reply)},
            {"role": "user", "content": Template(self.user).substitute(values)},
        )


_EXAMPLE_SENTENCE = "Small nodule in the right upper lobe."

REPHRASE = Prompt(
    "rephrase",
    "1.0.0",
    """Rewrite the question below in $n different ways, each worded differently from \
the question. Each rewrite asks for the same fact, has the same answer, and keeps every name, number, date and \
quoted text unchanged. $rule
Question: $question
Answer: $answer
Reply as {"rephrasings": [{"question": "...", "answer": "..."}]} with $n rewrites.""",
    example={
        "n": "2",
        "rule": "Do not put the answer into the question.",
        "question": "In which city is the Riverside Museum?",
        "answer": "Glasgow",
    },
    example_reply={
        "rephrasings": [
            {"question": "Where is the Riverside Museum located?", "answer": "Glasgow"},
            {"question": "Name the city of the Riverside Museum.", "answer": "Glasgow"},
        ]
    },
)

REPHRASE_RULES = {
    "generation": "Do not put the answer into the question.",
    "classification": "Do not put the answer into the question.",
    "cloze": "Each rewrite is a statement, not a question, with exactly one [blank] where the answer goes.",
}
IMAGE_RULE = " The question is asked with the image: keep referring to it as this chest X-ray or this radiograph."

DISTRACTORS = Prompt(
    "distractors",
    "1.0.0",
    """Write 3 wrong answers for a multiple-choice question. Each is plausible, of \
the same kind and format as the correct answer, and different from it and from the others.
Question: $question
Correct answer: $answer
Reply as {"distractors": ["...", "...", "..."]}.""",
    example={"question": "In which city is the Riverside Museum?", "answer": "Glasgow"},
    example_reply={"distractors": ["Edinburgh", "Aberdeen", "Dundee"]},
)

CLOZE = Prompt(
    "cloze",
    "1.0.0",
    """Pick the key medical term of this sentence from the $section section of a chest \
X-ray report: a finding, an organ or a descriptor, one to three consecutive words copied exactly.
Sentence: $sentence
Reply as {"term": "..."}.""",
    example={"section": "FINDINGS", "sentence": _EXAMPLE_SENTENCE},
    example_reply={"term": "nodule"},
)

GROUNDED = Prompt(
    "grounded",
    "1.0.0",
    """Write one question about the $section section of a chest X-ray report whose \
answer is exactly the sentence below. Name what the sentence is about (an organ, a finding, a comparison) \
without quoting it. Keep every name and date of the original question.$rule
Original question: $question
Sentence (the answer): $sentence
Reply as {"question": "...", "answer": "<the sentence>"}.""",
    example={
        "section": "IMPRESSION",
        "rule": "",
        "question": "What does the IMPRESSION section of the chest X-ray report of Ann Lee from 2010-01-02 say?",
        "sentence": _EXAMPLE_SENTENCE,
    },
    example_reply={
        "question": "What does the IMPRESSION of the chest X-ray report of Ann Lee from 2010-01-02 say "
        "about the right upper lobe?",
        "answer": _EXAMPLE_SENTENCE,
    },
)

TRUTH = Prompt(
    "truth",
    "1.0.0",
    """Reword the answer to the question below, then write 3 wrong answers worded like your \
rewording. The rewording states the same fact in other words and keeps its meaning. Each wrong answer is the \
rewording with the fact changed (another date, number, name, side or finding), plausible, and different from \
the others.
Question: $question
Answer: $answer
Reply as {"paraphrased": "...", "perturbed": ["...", "...", "..."]}.""",
    example={"question": "In which city is the Riverside Museum?", "answer": "Glasgow"},
    example_reply={
        "paraphrased": "The Riverside Museum stands in Glasgow.",
        "perturbed": [
            "The Riverside Museum stands in Edinburgh.",
            "The Riverside Museum stands in Aberdeen.",
            "The Riverside Museum stands in Dundee.",
        ],
    },
)

PROMPTS = {p.id: p for p in (REPHRASE, DISTRACTORS, CLOZE, GROUNDED, TRUTH)}

_TEXT = {"type": "string", "minLength": 1}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def rephrase_schema(n: int) -> dict[str, Any]:
    pair = _object(question=_TEXT, answer={"type": "string"})
    return _object(rephrasings={"type": "array", "items": pair, "minItems": n, "maxItems": n})


DISTRACTORS_SCHEMA = _object(distractors={"type": "array", "items": _TEXT, "minItems": 3, "maxItems": 3})
CLOZE_SCHEMA = _object(term=_TEXT)
GROUNDED_SCHEMA = _object(question=_TEXT, answer={"type": "string"})
TRUTH_SCHEMA = _object(paraphrased=_TEXT, perturbed={"type": "array", "items": _TEXT, "minItems": 3, "maxItems": 3})
