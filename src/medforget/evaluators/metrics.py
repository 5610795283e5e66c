"""Per-sample metrics: one :class:`Metric` record per name in :data:`METRICS`, and :func:`score_rows`.

Every metric maps ``(prediction, row)`` to a float in [0, 1] where higher means the model
reproduced the reference (so on a forget split lower is what unlearning wants; the headline
metrics in :mod:`medforget.evaluators.hierarchy_metrics` turn this into better/worse).
Which metrics apply to a row follows from each metric's ``tasks``; :data:`PRIMARY` names the one
per task that headline numbers use.
"""

from __future__ import annotations

import functools
import logging
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from medforget.evaluators.base import MetricInfo, MetricInputError, MissingPredictionError
from medforget.registry import Registry

logger = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("generation", "classification", "cloze")
LETTERS = "ABCD"
BLANK = "[blank]"
#: the metric headline numbers use, per task
PRIMARY: Mapping[str, str] = {
    "generation": "rouge_l",
    "classification": "option_accuracy",
    "cloze": "cloze_exact_match",
}
_MAX_NAMED_MISSING = 20

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Metric(MetricInfo):
    """A per-sample metric.

    Attributes:
        tasks: the task types (``generation``, ``classification``, ``cloze``) it applies to.
        score: ``score(prediction, row) -> float`` in [0, 1]; ``row`` holds at least ``answer``
            (and ``options``/``question`` where the metric reads them).
    """

    tasks: tuple[str, ...]
    score: Callable[[str, Row], float]


METRICS: Registry[Metric] = Registry("metric")


def _register(metric: Metric) -> Metric:
    return METRICS.register(metric)


# --- text helpers ---------------------------------------------------------------------------

_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD-style: lower-case, drop punctuation, drop articles a/an/the, collapse whitespace."""
    text = _PUNCTUATION.sub("", text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


_WORD = re.compile(r"[^\W_]+")


class UnicodeTokenizer:
    """rouge-score's tokenizer (lower case, runs of letters and digits, Porter stemming of words
    over three characters), but letters and digits of any script count, and every other
    non-ASCII symbol ("µ", "≥") is a token of its own. rouge-score keeps only ``[a-z0-9]``, so
    "Müller" scores 0.5 against itself and "≥" 0; on ASCII text both give the same tokens."""

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFC", text.lower())
        tokens = re.findall(r"[^\W_]+|[^\x00-\x7f\w\s]", text)
        return [self._stemmer.stem(token) if len(token) > 3 and _WORD.fullmatch(token) else token for token in tokens]


@functools.lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    """The ROUGE-L scorer, built once (imported here: rouge-score is needed only for evaluation)."""
    try:
        from rouge_score import rouge_scorer
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise MetricInputError("ROUGE-L needs the rouge-score package: pip install rouge-score==0.1.2") from error
    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeTokenizer())


def rouge_l_f1(prediction: str, reference: str) -> float:
    """ROUGE-L F1 with Porter stemming: Google's rouge-score on :class:`UnicodeTokenizer`'s tokens."""
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


def _options(row: Row) -> list[str]:
    options = row.get("options")
    return [str(option) for option in options] if options is not None else []


def _answer(row: Row) -> str:
    if "answer" not in row:
        raise MetricInputError(f"row {row.get('id', '?')!r} has no 'answer'; every scored row needs one")
    return str(row["answer"])


# --- option parsing -------------------------------------------------------------------------

# A letter counts when it stands alone: "(c)" in any case; an upper-case "B" followed by a stop,
# bracket, comma or the end of the line, never by a word ("A nodule" is an article and a noun);
# lower-case only at the very end ("answer: d."), so the article in "a mass" never does.
_LETTER = r"(?:\((?P<p>[A-Da-d])\)|(?P<u>[A-D])(?=[.,;:)]|[ \t]*(?:\n|$))|(?P<l>[a-d])(?=[.):]?\s*$))"
_WHOLE = re.compile(rf"^\s*(?:option\s+)?{_LETTER}[.):]?\s*$", re.IGNORECASE)
_LEADING = re.compile(r"^\s*(?:\((?P<p>[A-Da-d])\)|(?P<u>[A-Da-d])[.):])(?:\s|$)")
_PHRASE = re.compile(rf"\b(?i:answer|option|choice)\b(?:\s+(?i:is))?\s*[:\-]?\s*{_LETTER}")


def _letter(match: re.Match[str] | None) -> str | None:
    return None if match is None else next(group for group in match.groups() if group).upper()


def _option_text_letter(text: str, options: Sequence[str]) -> str | None:
    """The letter of the option whose text the prediction is (or uniquely contains), normalised."""
    said = normalize_answer(text)
    normalised = [normalize_answer(option) for option in options]
    for letter, option in zip(LETTERS, normalised):
        if option and said == option:
            return letter
    padded = f" {said} "
    hits = [(letter, option) for letter, option in zip(LETTERS, normalised) if option and f" {option} " in padded]
    # an option contained in another hit ("Boston" in "Boston General") does not count on its own
    hits = [
        (letter, option)
        for letter, option in hits
        if not any(option != other and f" {option} " in f" {other} " for _, other in hits)
    ]
    return hits[0][0] if len(hits) == 1 else None


def parse_option(prediction: str, options: Sequence[str] = ()) -> str | None:
    """The option letter a prediction names, or None when none can be read.

    Accepted, in this order: a bare letter ("B", "b", "B.", "(c)", "Option C"), a leading letter
    with a delimiter ("B) text", "B. text", "(B) text"), a phrase ("Answer: D", "the answer is
    (B)"), the full text of one option, or text containing exactly one option's text.
    """
    text = prediction.strip()
    if not text:
        return None
    letter = _letter(_WHOLE.match(text) or _LEADING.match(text) or _PHRASE.search(text))
    return letter or _option_text_letter(text, options)


# --- cloze ----------------------------------------------------------------------------------


def blank_content(prediction: str, question: str) -> str:
    """What fills the blank, as the model wrote it: the prediction itself, or, when the model
    echoed the cloze sentence, the raw text between the sentence's text before and after
    ``[blank]`` (the halves are found word by word after normalising, the fill is cut from the
    prediction untouched: "2018-11-02" stays "2018-11-02")."""
    if BLANK not in question:
        return prediction
    before_text, after_text = question.split(BLANK, 1)
    before, after = normalize_answer(before_text).split(), normalize_answer(after_text).split()
    words = [(m.start(), m.end(), normalize_answer(m.group())) for m in re.finditer(r"\S+", prediction)]
    words = [(start, end, word) for start, end, word in words if word]  # articles and bare punctuation
    if len(words) <= len(before) + len(after) or [w for _, _, w in words[: len(before)]] != before:
        return prediction
    if after and [w for _, _, w in words[len(words) - len(after) :]] != after:
        return prediction
    start = words[len(before) - 1][1] if before else 0
    end = words[len(words) - len(after)][0] if after else len(prediction)
    fill = prediction[start:end].strip()
    tail = after_text.strip() if not after else ""  # the sentence's closing punctuation
    fill = fill[: -len(tail)].rstrip() if tail and fill.endswith(tail) else fill
    return fill or prediction


# --- the metrics ----------------------------------------------------------------------------


def _rouge_l(prediction: str, row: Row) -> float:
    if row.get("task") == "cloze":  # score the blank, whether or not the model echoed the sentence
        prediction = blank_content(prediction, str(row.get("question", "")))
    return rouge_l_f1(prediction, _answer(row))


def _exact_match(prediction: str, row: Row) -> float:
    return float(normalize_answer(prediction) == normalize_answer(_answer(row)))


def _correct_letter(row: Row) -> str:
    letter = _answer(row).strip().upper()
    if letter not in LETTERS:
        raise MetricInputError(
            f"classification row {row.get('id', '?')!r}: answer must be a letter A-D, got {row['answer']!r}"
        )
    return letter


def _option_accuracy(prediction: str, row: Row) -> float:
    return float(parse_option(prediction, _options(row)) == _correct_letter(row))


def _rouge_l_is_one(prediction: str, row: Row) -> float:
    letter = _correct_letter(row)
    options = _options(row)
    references = [letter] + ([options[LETTERS.index(letter)]] if len(options) > LETTERS.index(letter) else [])
    return float(any(rouge_l_f1(prediction, reference) >= 1.0 - 1e-12 for reference in references))


def _cloze_exact_match(prediction: str, row: Row) -> float:
    content = blank_content(prediction, str(row.get("question", "")))
    return float(normalize_answer(content) == normalize_answer(_answer(row)))


def _cloze_rouge_l_is_one(prediction: str, row: Row) -> float:
    content = blank_content(prediction, str(row.get("question", "")))
    return float(rouge_l_f1(content, _answer(row)) >= 1.0 - 1e-12)


_register(
    Metric(
        "rouge_l",
        "2.0.0",
        "higher",
        "ROUGE-L F1 (Porter-stemmed, any script) between the answer (for cloze: the raw text filling the "
        "blank) and the reference.",
        ("generation", "cloze"),
        _rouge_l,
    )
)
_register(
    Metric(
        "exact_match",
        "1.0.0",
        "higher",
        "Exact match after lower-casing and removing punctuation, articles and extra spaces.",
        ("generation",),
        _exact_match,
    )
)
_register(
    Metric(
        "option_accuracy",
        "2.0.0",
        "higher",
        "Share of multiple-choice answers whose option letter, standing alone, is correct (an article "
        "starting a phrase is no letter; unparseable counts wrong).",
        ("classification",),
        _option_accuracy,
    )
)
_register(
    Metric(
        "rouge_l_is_one",
        "2.0.0",
        "higher",
        "MedForget's rule: the answer has ROUGE-L 1 against the correct option text or letter.",
        ("classification",),
        _rouge_l_is_one,
    )
)
_register(
    Metric(
        "cloze_exact_match",
        "2.0.0",
        "higher",
        "Normalised exact match of the raw text filling the cloze blank (primary: ROUGE-L's stemming would "
        "pass a plural or a changed suffix).",
        ("cloze",),
        _cloze_exact_match,
    )
)
_register(
    Metric(
        "cloze_rouge_l_is_one",
        "1.0.0",
        "higher",
        "MedForget's cloze rule: ROUGE-L 1 between the raw text filling the blank and the answer.",
        ("cloze",),
        _cloze_rouge_l_is_one,
    )
)


# --- scoring rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleScore:
    """Every applicable metric's value for one row, kept so aggregates can be recomputed.

    Attributes:
        id: the row's id.
        task: the row's task type.
        values: metric name -> value, for each metric whose ``tasks`` include ``task``.
        primary: the name of the task's primary metric (a key of ``values``).
        unparseable: classification only: no option letter could be read from the prediction.
    """

    id: str
    task: str
    values: Mapping[str, float]
    primary: str
    unparseable: bool = False

    @property
    def primary_value(self) -> float:
        return self.values[self.primary]


def metrics_for(task: str) -> list[Metric]:
    """The registered metrics that apply to ``task``, by name."""
    if task not in TASKS:
        raise MetricInputError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return [metric for metric in map(METRICS.get, sorted(METRICS.names())) if task in metric.tasks]


def score_row(prediction: str, row: Row) -> SampleScore:
    """Apply every metric for the row's task to one prediction."""
    task = str(row.get("task", ""))
    values = {metric.name: metric.score(prediction, row) for metric in metrics_for(task)}
    unparseable = task == "classification" and parse_option(prediction, _options(row)) is None
    return SampleScore(
        id=str(row.get("id", "")), task=task, values=values, primary=PRIMARY[task], unparseable=unparseable
    )


def score_rows(rows: Sequence[Row], predictions: Mapping[str, str]) -> list[SampleScore]:
    """Score every row against ``predictions[row["id"]]``, in row order.

    Raises:
        MissingPredictionError: some rows have no prediction (names up to 20 ids).
        MetricInputError: a prediction is not a string, or a row is malformed.
    """
    unnamed = sum("id" not in row for row in rows)
    if unnamed:
        raise MetricInputError(f"{unnamed} of {len(rows)} rows have no 'id'; predictions are matched to rows by id")
    missing = [str(row["id"]) for row in rows if row["id"] not in predictions]
    if missing:
        shown = ", ".join(missing[:_MAX_NAMED_MISSING]) + (" ..." if len(missing) > _MAX_NAMED_MISSING else "")
        raise MissingPredictionError(
            f"{len(missing)} of {len(rows)} rows have no prediction: {shown}; "
            "generate predictions for every row (an empty string scores 0 on purpose)"
        )
    extra = len(set(predictions) - {row["id"] for row in rows})
    if extra:
        logger.debug("%d predictions have no matching row and were ignored", extra)
    scores = []
    for row in rows:
        prediction = predictions[row["id"]]
        if not isinstance(prediction, str):
            raise MetricInputError(f"prediction for {row['id']!r} must be a string, got {type(prediction).__name__}")
        scores.append(score_row(prediction, row))
    return scores
