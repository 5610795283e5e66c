"""The LLM judge: factuality of a generated answer against the reference, scored 1-10 by any
OpenAI-compatible chat endpoint, and MedForget's combined score (docs/benchmark.md section 5).

The rubric follows the MedForget paper's shape: correct medical terms and core findings
count most, partial answers get partial credit. Requests are greedy (temperature 0) and ask
for JSON. A reply that is not ``{"score": 1..10}`` is a *failure*: counted and reported, never
scored 0. The judge of the evaluator is anything with :meth:`Judge.judge`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medforget.evaluators.aggregation import aggregate
from medforget.evaluators.base import MetricInfo
from medforget.evaluators.results import MetricEntry, entry
from medforget.registry import Registry

if TYPE_CHECKING:
    from medforget.llm.client import ChatRequest

JUDGE_PROMPT_VERSION = "1.0.0"
RUBRIC = """You grade answers of a medical vision-language model against a reference answer.
Score the factual agreement of the model answer with the reference from 1 to 10:
10: states the same facts (same medical terms and findings, same names, dates and numbers).
7-9: the core finding or fact is right; minor details are missing or loosely worded.
4-6: partly right: some of the facts or findings match, others are missing or wrong.
2-3: mostly wrong, with a small correct element.
1: wrong, unrelated, empty or a refusal.
Judge meaning, not wording: synonyms of medical terms count as correct.
Reply with JSON only, exactly: {"score": <integer from 1 to 10>}"""

JUDGE_METRICS: Registry[MetricInfo] = Registry("judge metric")
LLM_FACTUALITY = JUDGE_METRICS.register(
    MetricInfo(
        "llm_factuality",
        "1.1.0",
        "higher",
        "LLM-judge factuality of generated answers, 1-10 rescaled to [0, 1] (failed judgements left out).",
    )
)
MEDFORGET_SCORE = JUDGE_METRICS.register(
    MetricInfo(
        "medforget_score",
        "1.1.0",
        "higher",
        "MedForget's combined generation score: 0.25 ROUGE-L + 0.75 factuality / 10.",
    )
)


class Judge(Protocol):
    name: str
    #: the version of its rubric and prompt: recorded in results, bump it when scores could change
    version: str

    def judge(self, rows: Sequence[Mapping[str, Any]], predictions: Mapping[str, str]) -> list[float | None]:
        """Factuality 1-10 per row (``None``: the judge failed on that row)."""
        ...


def medforget_score(rouge_l: float, factuality: float) -> float:
    """0.25 ROUGE-L + 0.75 factuality / 10, in [0.075, 1] for factuality in 1..10."""
    return 0.25 * rouge_l + 0.75 * factuality / 10


SCORE_SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["score"],
}


def parse_score(reply: str) -> float | None:
    """The score of a judge reply ``{"score": n}`` with n an integer 1-10, written ``7`` or
    ``7.0`` (a fenced code block around it is tolerated); None otherwise."""
    from medforget.llm.replies import InvalidReply, parse_reply

    try:
        score = parse_reply(reply, SCORE_SCHEMA)["score"]
    except InvalidReply:
        return None
    if isinstance(score, float) and score.is_integer():  # {"score": 7.0} is a 7
        score = int(score)
    return float(score) if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 10 else None


def prompt(row: Mapping[str, Any], prediction: str) -> list[dict[str, str]]:
    user = f"Question: {row['question']}\nReference answer: {row['answer']}\nModel answer: {prediction}"
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


class EndpointJudge:
    """The judge behind any OpenAI-compatible chat endpoint, on the shared client
    (:class:`~medforget.llm.client.LLMClient`): ``concurrency`` requests in flight, retries with
    backoff, replies cached (``cache_dir``, default ``$MEDFORGET_LLM_CACHE`` or
    ``~/.cache/medforget/llm``). A request that fails for good is a failed judgement, like an
    unparseable reply: counted, never scored 0."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        timeout: float = 60.0,
        cache_dir: Path | None = None,
    ):
        from medforget.llm.client import Endpoint, LLMClient

        self.name = f"{model}@{base_url}"
        self.version = JUDGE_PROMPT_VERSION
        self.model = model
        self.endpoint_url = base_url  # what evaluate() checks against the data's licence
        self.concurrency = concurrency
        self.client = LLMClient(
            Endpoint(
                base_url, model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout, cache_dir=cache_dir
            )
        )

    def _request(self, row: Mapping[str, Any], prediction: str) -> ChatRequest:
        from medforget.llm.client import ChatRequest

        return ChatRequest(
            "judge",
            JUDGE_PROMPT_VERSION,
            tuple(prompt(row, prediction)),
            temperature=0,
            max_tokens=16,
            response_format={"type": "json_object"},
        )

    def judge(self, rows: Sequence[Mapping[str, Any]], predictions: Mapping[str, str]) -> list[float | None]:
        from medforget.llm.client import Reply

        requests = [self._request(row, predictions[row["id"]]) for row in rows]
        replies = self.client.complete_all(requests, desc="judge")
        return [parse_score(reply.text) if isinstance(reply, Reply) else None for reply in replies]


def judge_splits(
    judge: Judge,
    rows_by_split: Mapping[str, Sequence[Mapping[str, Any]]],
    scores_by_split: Mapping[str, Sequence[Any]],
    predictions: Mapping[str, str],
) -> tuple[list[MetricEntry], dict[str, float | None]]:
    """Judge every generation row of every split: result entries (``llm_factuality`` and
    ``medforget_score`` per split, each with the count of ``failed`` judgements) and the
    factuality of each row id."""
    entries: list[MetricEntry] = []
    by_id: dict[str, float | None] = {}
    for split, rows in rows_by_split.items():
        pairs = [(row, score) for row, score in zip(rows, scores_by_split[split]) if row["task"] == "generation"]
        if not pairs:
            continue
        factuality = judge.judge([row for row, _ in pairs], predictions)
        by_id.update({row["id"]: value for (row, _), value in zip(pairs, factuality)})
        judged = [(score, value) for (_, score), value in zip(pairs, factuality) if value is not None]
        failed = len(pairs) - len(judged)
        entries += [
            entry(LLM_FACTUALITY, split, aggregate([v / 10 for _, v in judged]), task="generation", failed=failed),
            entry(
                MEDFORGET_SCORE,
                split,
                aggregate([medforget_score(s.values["rouge_l"], v) for s, v in judged]),
                task="generation",
                failed=failed,
            ),
        ]
    return entries, by_id
