"""A fake LLM for the QA prompts, with known behaviour: it rewords by prefixing, keeps every fact,
makes up distractors, blanks the first long word of a sentence. ``twist`` changes one kind of reply
to test each check."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

PREFIXES = ("Tell me:", "Quick check:", "Please answer:")


def _field(text: str, name: str) -> str:
    return re.search(rf"^{name}: (.*)$", text, re.MULTILINE).group(1)


def reply(prompt: str, text: str) -> dict:
    """The reply of a well-behaved model to the first user message of a prompt."""
    if prompt == "rephrase":
        n = int(re.search(r"in (\d+) different ways", text).group(1))
        question, answer = _field(text, "Question"), _field(text, "Answer")
        return {"rephrasings": [{"question": f"{PREFIXES[k]} {question}", "answer": answer} for k in range(n)]}
    if prompt == "distractors":
        digest = hashlib.sha256(_field(text, "Correct answer").encode()).hexdigest()
        return {"distractors": [f"Decoy {k} {digest[:6]}" for k in range(3)]}
    if prompt == "cloze":
        return {"term": next(w for w in re.findall(r"[A-Za-z]+", _field(text, "Sentence")) if len(w) >= 5)}
    if prompt == "grounded":
        section = re.search(r"about the (\w+) section", text).group(1)
        return {
            "question": f"About the {section}, what is reported? {_field(text, 'Original question')}",
            "answer": _field(text, r"Sentence \(the answer\)"),
        }
    if prompt == "truth":
        answer = _field(text, "Answer")
        digest = hashlib.sha256(answer.encode()).hexdigest()
        return {
            "paraphrased": f"It reads {answer}, in other words.",
            "perturbed": [f"It reads Decoy {k} {digest[:6]}, in other words." for k in range(3)],
        }
    raise ValueError(prompt)


def scribe(twist: Callable[[str, dict], dict] | None = None) -> Callable[[dict], tuple[int, str]]:
    """A reply function for :func:`tests.fake_openai.serve`; ``twist(prompt, reply)`` alters replies."""

    def answer(body: dict) -> tuple[int, str]:
        prompt = body["response_format"]["json_schema"]["name"]
        content = body["messages"][3]["content"]  # after the example exchange; parts when an image goes with it
        data = reply(prompt, content if isinstance(content, str) else content[-1]["text"])
        return 200, json.dumps(twist(prompt, data) if twist else data)

    return answer
