"""What an LLM's wording must keep to be used: the fact's answer, the names, numbers and dates that
identify the entity, one ``[blank]`` in a cloze, no answer given away, and no value of a protected
node (forget subtrees, holdout) that its prompt did not hold. Each check raises
:class:`~medforget.llm.replies.InvalidReply` saying what is wrong; the reason goes back to the model
with the retry.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from medforget.llm.replies import InvalidReply
from medforget.qa.generate import Fact
from medforget.qa.templates import BLANK

MAX_QUESTION_CHARS = 400
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> str:
    """Lower-case words joined by single spaces: the form values are compared in."""
    return " ".join(_WORD.findall(text.lower()))


def mentions(text: str, value: str) -> bool:
    """Whether ``text`` holds ``value`` as whole words."""
    needle = words(value)
    return bool(needle) and f" {needle} " in f" {words(text)} "


def same_answer(given: str, expected: str) -> bool:
    """Equal up to case, spacing, surrounding quotes and a final full stop."""

    def norm(text: str) -> str:
        return " ".join(text.casefold().split()).strip(" \"'").removesuffix(".").strip()

    return norm(given) == norm(expected)


def one_line(text: str) -> str:
    return " ".join(text.split())


class ValueGuard:
    """Identifying values (a digit, several words, or 6+ characters) that only protected nodes
    have. An LLM reply may mention one only where its prompt already did: a forget row's own
    values may stay in it, nothing of a forget node may enter any other row."""

    def __init__(self, facts: Iterable[Fact], protected: Collection[str]):
        facts = list(facts)
        shared = {words(f.value) for f in facts if f.node.id not in protected}
        guarded = {words(f.value) for f in facts if f.node.id in protected and _identifying(f.value)} - shared
        self._by_word: dict[str, list[str]] = defaultdict(list)
        for value in sorted(guarded - {""}):
            self._by_word[value.split()[0]].append(value)

    def foreign(self, text: str, prompt: str) -> str | None:
        """A guarded value ``text`` mentions that ``prompt`` does not, if any."""
        padded, allowed = f" {words(text)} ", f" {words(prompt)} "
        for word in sorted(set(padded.split())):
            for value in self._by_word.get(word, ()):
                if f" {value} " in padded and f" {value} " not in allowed:
                    return value
        return None


def _identifying(value: str) -> bool:
    return bool(words(value)) and (any(c.isdigit() for c in value) or len(value.split()) >= 2 or len(value) >= 6)


def anchors(fact: Fact, question: str, cloze: bool) -> tuple[str, ...]:
    """The context values ``question`` holds (names, numbers, dates, the section, a cloze's masked
    sentence): a rewording must keep each of them verbatim (up to case)."""
    keep = [
        v
        for k, v in sorted(fact.context.items())
        if v and not k.endswith("_id") and (k != "masked" or cloze) and v in question
    ]
    return tuple(sorted(set(keep), key=lambda v: (-len(v), v)))


@dataclass(frozen=True)
class QuestionRules:
    """What a new wording of ``source`` (a question, or a cloze sentence) must keep."""

    source: str
    answer: str
    cloze: bool
    keep: tuple[str, ...]  # see :func:`anchors`
    guard: ValueGuard
    prompt: str  # the text the model was given

    def check(self, question: str) -> str:
        """``question`` cleaned to one line, if it may replace the source."""
        question = one_line(question)
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidReply(f"the question is {len(question)} characters long; at most {MAX_QUESTION_CHARS}")
        missing = [v for v in self.keep if v.casefold() not in question.casefold()]
        if missing:
            raise InvalidReply(f"the question {question!r} drops {missing[0]!r}, which it must keep unchanged")
        if self.cloze and question.count(BLANK) != 1:
            raise InvalidReply(f"the sentence {question!r} must hold exactly one {BLANK}")
        if not self.cloze and BLANK in question:
            raise InvalidReply(f"the question {question!r} must not hold {BLANK}")
        if not self.cloze and not mentions(self.source, self.answer) and mentions(question, self.answer):
            raise InvalidReply(f"the question {question!r} gives its answer away")
        foreign = self.guard.foreign(question, self.prompt)
        if foreign is not None:
            raise InvalidReply(f"the question mentions {foreign!r}, which is not part of this fact")
        return question

    def answer_kept(self, given: str) -> None:
        if not same_answer(given, self.answer):
            raise InvalidReply(f"the answer became {given!r}; it must stay {self.answer!r}")


def check_rephrasings(data: dict, n: int, rules: QuestionRules) -> list[str]:
    """``n`` distinct new wordings, each keeping the fact's answer and passing ``rules``."""
    seen = {words(rules.source)}
    out = []
    for pair in data["rephrasings"][:n]:
        rules.answer_kept(pair["answer"])
        question = rules.check(pair["question"])
        if words(question) in seen:
            raise InvalidReply(f"the rewrite {question!r} repeats the question or another rewrite")
        seen.add(words(question))
        out.append(question)
    return out


def check_grounded(data: dict, rules: QuestionRules) -> str:
    """A question answered by the section's sentence, not quoting it."""
    rules.answer_kept(data["answer"])
    return rules.check(data["question"])


def check_distractors(data: dict, *, answer: str, guard: ValueGuard, prompt: str) -> list[str]:
    """Three distinct wrong options of reasonable length, none the answer or a protected value."""
    options = [one_line(d) for d in data["distractors"]]
    limit = max(80, 3 * len(answer))
    for option in options:
        if same_answer(option, answer) or words(option) == words(answer):
            raise InvalidReply(f"the distractor {option!r} is the correct answer")
        if len(option) > limit:
            raise InvalidReply(f"the distractor {option[:60]!r}... is longer than {limit} characters")
        foreign = guard.foreign(option, prompt)
        if foreign is not None:
            raise InvalidReply(f"the distractor {option!r} is a value of another record; make one up")
    if len({words(o) for o in options}) < len(options) or not all(words(o) for o in options):
        raise InvalidReply("the distractors must be three different non-empty answers")
    return options


def check_truth(data: dict, *, answer: str, guard: ValueGuard, prompt: str) -> tuple[str, tuple[str, ...]]:
    """TOFU's inputs: a paraphrase that is not the answer verbatim, and three distinct perturbed
    answers, none the answer or the paraphrase; each one line, of reasonable length, and holding
    no value of another record."""
    paraphrased, perturbed = one_line(data["paraphrased"]), [one_line(p) for p in data["perturbed"]]
    limit = max(120, 4 * len(answer))
    if words(paraphrased) == words(answer) or not words(paraphrased):
        raise InvalidReply(f"the rewording {paraphrased!r} must say the answer in other words")
    for text in (paraphrased, *perturbed):
        if len(text) > limit:
            raise InvalidReply(f"{text[:60]!r}... is longer than {limit} characters")
        foreign = guard.foreign(text, prompt)
        if foreign is not None:
            raise InvalidReply(f"{text!r} mentions {foreign!r}, a value of another record; make one up")
    for text in perturbed:
        if words(text) in (words(answer), words(paraphrased)) or same_answer(text, answer):
            raise InvalidReply(f"the wrong answer {text!r} is the correct one")
    if len({words(p) for p in perturbed}) < len(perturbed) or not all(words(p) for p in perturbed):
        raise InvalidReply("the wrong answers must be three different non-empty answers")
    return paraphrased, tuple(perturbed)


def check_term(data: dict, *, sentence: str) -> tuple[str, str]:
    """The cloze term (1-3 whole words copied from ``sentence``) and the sentence with it blanked."""
    term = data["term"].strip().strip("\"'").rstrip(".,;:")
    pattern = re.compile(rf"(?<!\w){re.escape(term)}(?!\w)")
    if not term or not pattern.search(sentence):
        raise InvalidReply(f"the term {term!r} is not copied from the sentence as whole words")
    if len(term.split()) > 3 or words(term) == words(sentence):
        raise InvalidReply(f"the term {term!r} must be one to three words, not the sentence")
    masked = pattern.sub(BLANK, sentence, count=1)
    return term, masked
