"""TOFU's truth-ratio inputs for every fact: a **paraphrased** answer (the same fact, other
words) and **perturbed** answers (the same answer, altered so it is wrong), from rules.

TOFU (Maini et al., 2024) asks a model for the probability of a paraphrased answer against
perturbed ones; a model that knows the fact prefers the paraphrase. Its answers were rewritten
by GPT-4; ours are made by the rules below, deterministic per fact:

- paraphrase: an ISO date written out ("2018-11-02" -> "November 2, 2018"); a number with its
  unit spelt out ("3.5 cm" -> "3.5 centimeters"); otherwise the value framed in a sentence
  ("It is recorded as ...", "The report states that ...").
- perturbations, in this order until :data:`N_PERTURBED` distinct ones exist: a date moved by
  a week, a year and a month; each number changed (+1, -1, x2); a finding's opposite (left and
  right, no and its absence, small and large, ...); one word replaced by the word in the same
  place of another value of the attribute; other values of the attribute (as distractors are).

Perturbed answers are worded as the paraphrase is (TOFU perturbs its paraphrased answer), so
the truth ratio compares facts, not phrasings: a model trained on the verbatim answer meets
both in a wording it has not seen. A candidate is never the answer itself, and never holds a
value only a protected node (a forget subtree or a held-out patient) has, so retain rows
cannot leak one through them.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterable, Sequence

N_PERTURBED = 3
TRUTH_VERSION = "1.0.0"

_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNITS = {"cm": "centimeters", "mm": "millimeters", "ml": "milliliters", "kg": "kilograms"}
_UNIT = re.compile(r"\b(\d+(?:\.\d+)?)\s?(cm|mm|ml|kg)\b", re.IGNORECASE)
#: word -> its opposite, both ways
_OPPOSITES = dict(
    pair
    for a, b in (
        ("left", "right"),
        ("small", "large"),
        ("mild", "severe"),
        ("increased", "decreased"),
        ("normal", "abnormal"),
        ("new", "old"),
        ("upper", "lower"),
        ("acute", "chronic"),
        ("stable", "worsening"),
        ("present", "absent"),
        ("improved", "worsened"),
        ("male", "female"),
        ("anterior", "posterior"),
        ("unchanged", "changed"),
    )
    for pair in ((a, b), (b, a))
)
#: a word worth replacing, and worth replacing it with: four letters or more
_CONTENT = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_NEGATION = re.compile(r"^(no|without)\s+", re.IGNORECASE)


def paraphrase(value: str, sentence: bool) -> str:
    """The value in other words (see the module docstring); never the value itself."""
    date = _DATE.fullmatch(value.strip())
    if date:
        day = dt.date(*(int(part) for part in date.groups()))
        return f"{day:%B} {day.day}, {day.year}"
    spelt = _UNIT.sub(lambda m: f"{m.group(1)} {_UNITS[m.group(2).lower()]}", value)
    if spelt != value:
        return spelt
    if sentence:
        return f"The report states: {value[:1].lower()}{value[1:]}"
    return f"It is recorded as {value}."


def perturbations(
    value: str, others: Sequence[str], seed: int, allowed: Callable[[str], bool], n: int = N_PERTURBED
) -> list[str]:
    """Up to ``n`` wrong answers made from ``value`` (``others``: other values of its attribute,
    not protected); each passes ``allowed`` and differs from the value and the others chosen."""
    rng = random.Random(seed)
    chosen: list[str] = []
    seen = {_key(value)}
    for candidate in _candidates(value, others, rng):
        key = _key(candidate)
        if key and key not in seen and allowed(candidate):
            seen.add(key)
            chosen.append(candidate)
            if len(chosen) == n:
                break
    return chosen


def _key(text: str) -> str:
    return " ".join(re.findall(r"[0-9a-z]+", text.lower()))


def _candidates(value: str, others: Sequence[str], rng: random.Random) -> Iterable[str]:
    date = _DATE.search(value)
    if date:
        day = dt.date(*(int(part) for part in date.groups()))
        for moved in (day + dt.timedelta(days=7), _shift_year(day, 1), _shift_month(day)):
            yield value[: date.start()] + moved.isoformat() + value[date.end() :]
    for match in _NUMBER.finditer(value):
        for changed in _numbers(match.group()):
            yield value[: match.start()] + changed + value[match.end() :]
    words = value.split()
    for i, word in enumerate(words):
        stripped = word.strip(".,;:").lower()
        if stripped in _OPPOSITES:
            yield " ".join(
                [*words[:i], _match_case(word.replace(word.strip(".,;:"), _OPPOSITES[stripped]), word), *words[i + 1 :]]
            )
    if _NEGATION.match(value):
        rest = _NEGATION.sub("", value)
        yield f"There is {rest[:1].lower()}{rest[1:]}"
    pool = sorted(set(others) - {value})
    rng.shuffle(pool)
    content = [i for i, word in enumerate(words) if _CONTENT.fullmatch(word.rstrip(".,;:"))]
    if len(words) > 1 and content:
        for other in pool:
            position = rng.choice(content)
            replacement = other.split()[position].rstrip(".,;:") if len(other.split()) > position else ""
            if _CONTENT.fullmatch(replacement) and replacement.lower() != words[position].rstrip(".,;:").lower():
                ending = words[position][len(words[position].rstrip(".,;:")) :]
                yield " ".join(
                    [
                        *words[:position],
                        _match_case(replacement.lower(), words[position]) + ending,
                        *words[position + 1 :],
                    ]
                )
    yield from pool


def _numbers(text: str) -> list[str]:
    if "." in text:
        fraction = text.split(".")[1]
        number = float(text)
        return [f"{x:.{len(fraction)}f}" for x in (number + 1, max(0.0, number - 1), number * 2)]
    number = int(text)
    width = len(text)  # zero-padded ids keep their width
    return [str(x).zfill(width) for x in (number + 1, max(0, number - 1), number * 2 + 1)]


def _shift_year(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _shift_month(day: dt.date) -> dt.date:
    month = day.month % 12 + 1
    return day.replace(year=day.year + (day.month == 12), month=month, day=min(day.day, 28))


def _match_case(new: str, old: str) -> str:
    return new[:1].upper() + new[1:] if old[:1].isupper() else new
