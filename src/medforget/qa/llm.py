"""LLM QA: the template QA reworded, extended and checked by an LLM behind any OpenAI-compatible
endpoint (``BuildConfig.llm``). What it may do (``LLMConfig.tasks``), in this order:

- ``cloze``: choose the blanked term of each report-sentence cloze (the sentence stays the fact);
- ``distractors``: write the three wrong options of each classification;
- ``truth``: write each fact's paraphrased answer and three perturbed ones worded alike (TOFU's
  truth ratio, carried by its generation rows), in place of the rules' (:mod:`medforget.qa.truth`);
- ``grounded``: ask each section sentence's generation questions about what the sentence says;
- ``wording``: reword every other training question;
- ``rephrase``: word the rephrased twins of the evaluation splits, from the final training wording.

Every reply is JSON, validated against its prompt's schema and by :mod:`medforget.qa.llm_checks`
(the answer stays the fact's value). A rejected reply is asked again with the reason, up to
``max_attempts`` replies; then the build fails listing the items, or, with ``fallback``, keeps their
template wording, marked ``llm-fallback`` in provenance: never a silent partial dataset. An endpoint
that fails for good always fails the build (replies so far are cached, so a rerun resumes).

Provenance of an LLM-made row: ``generator`` ``llm`` (``llm-fallback`` when a call fell back),
``model``, ``temperature``, ``prompt_version`` as ``<prompt id>@<version>`` and ``cache_key``. A row
shaped by several calls (a rephrased classification with LLM distractors) joins them with ``+`` in
the order above, a fallen-back call's key reading ``fallback``. ``template_id`` and
``template_version`` keep the template the row started from.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from medforget.builders.base import SkipLog
from medforget.config import BuildConfig, LLMConfig
from medforget.errors import ConfigError
from medforget.hierarchy import Hierarchy, Image, QAItem, stable_int
from medforget.llm.client import ChatRequest, LLMClient, LLMRequestError
from medforget.llm.replies import Job, LLMOutputError, Outcome, ask, response_format
from medforget.qa.base import QA_GENERATORS
from medforget.qa.generate import LETTERS, DistractorPool, Fact, QAPlan, fact_items, question_stem, with_stem
from medforget.qa.llm_checks import (
    QuestionRules,
    ValueGuard,
    anchors,
    check_distractors,
    check_grounded,
    check_rephrasings,
    check_term,
    check_truth,
)
from medforget.qa.prompts import (
    CLOZE,
    CLOZE_SCHEMA,
    DISTRACTORS,
    DISTRACTORS_SCHEMA,
    GROUNDED,
    GROUNDED_SCHEMA,
    IMAGE_RULE,
    PROMPTS,
    REPHRASE,
    REPHRASE_RULES,
    TRUTH,
    TRUTH_SCHEMA,
    Prompt,
    rephrase_schema,
)
from medforget.splits import SplitPlan

logger = logging.getLogger(__name__)

FALLBACK_KEY = "fallback"
MAX_LISTED = 20
_MAX_TOKENS = {
    "rephrase": 160,
    "distractors": 320,
    "cloze": 48,
    "grounded": 200,
    "truth": 400,
}  # per reply (rephrase: per rewrite)
Choice = tuple[tuple[str, ...], str]


@dataclass(frozen=True)
class _Call:
    """One LLM call a row's content came from; ``cache_key`` None: it fell back to the template."""

    prompt: Prompt
    cache_key: str | None


@dataclass
class _Rows:
    """The rows being built: each with its fact, and the calls behind it (per fact and task, per row)."""

    items: dict[str, QAItem]
    fact_of: dict[str, Fact]
    fact_calls: dict[tuple[str, str], list[_Call]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[str, list[_Call]] = field(default_factory=lambda: defaultdict(list))


@QA_GENERATORS.register
class LLMQA:
    """The LLM QA generator (see the module docstring); :meth:`record` is what the manifest keeps."""

    name: ClassVar[str] = "llm"
    description: ClassVar[str] = (
        "the template rows reworded and extended by an LLM behind an OpenAI-compatible endpoint, every reply checked"
    )

    def __init__(self, config: BuildConfig, settings: LLMConfig, client: LLMClient | None = None):
        self.config = config
        self.settings = settings
        self.client = client or LLMClient(settings.endpoint)
        self._calls: Counter[str] = Counter()
        self._invalid = 0
        self._fallbacks: list[dict[str, str]] = []
        self._by_generator: Counter[str] = Counter()
        self._guard = ValueGuard((), ())  # generate() sets the build's
        self._pngs: dict[str, bytes] = {}

    @classmethod
    def from_config(cls, config: BuildConfig) -> LLMQA:
        if config.llm is None:
            raise ConfigError("LLM QA needs the build's llm settings (an endpoint and a model)")
        return cls(config, config.llm)

    def generate(self, hierarchy: Hierarchy, images: Sequence[Image], plan: SplitPlan, skips: SkipLog) -> list[QAItem]:
        qa = QAPlan.of(hierarchy, images, plan, self.config)
        self._guard = ValueGuard(qa.facts, plan.protected)
        self._pngs = {image.id: image.png for image in images}
        tasks = self.settings.tasks
        fact_calls: dict[tuple[str, str], list[_Call]] = defaultdict(list)
        facts = self._cloze(qa.facts, fact_calls) if "cloze" in tasks else qa.facts
        choices = (
            self._distractors(facts, qa.pool, fact_calls)
            if "distractors" in tasks
            else {fact.id: qa.pool.options(fact) for fact in facts}
        )
        truth = (
            self._truth(facts, qa.pool, fact_calls)
            if "truth" in tasks
            else {fact.id: qa.pool.truth_inputs(fact) for fact in facts}
        )
        rows = _Rows({}, {}, fact_calls)
        for fact in facts:
            for item in fact_items(fact, choices[fact.id], qa.variants(fact), skips, truth[fact.id]):
                rows.items[item.id], rows.fact_of[item.id] = item, fact
        self._reword(rows)
        if "rephrase" in tasks:
            self._rephrase(rows)
        items = [self._marked(item, rows) for item in rows.items.values()]
        self._by_generator = Counter(item.provenance.generator for item in items)
        return items

    def record(self) -> dict[str, Any]:
        stats, settings = self.client.stats, self.settings
        return {
            "model": settings.endpoint.model,
            "tasks": list(settings.tasks),
            "temperature": settings.temperature,
            "response_format": settings.response_format,
            "max_attempts": settings.max_attempts,
            "fallback": settings.fallback,
            "prompts": {name: PROMPTS[name].version for name in sorted(self._calls)},
            "calls": dict(sorted(self._calls.items())),
            "invalid_replies": self._invalid,
            "rows": dict(sorted(self._by_generator.items())),
            "fallbacks": {
                "count": len(self._fallbacks),
                "by_prompt": dict(Counter(f["prompt"] for f in self._fallbacks)),
                "first": self._fallbacks[:MAX_LISTED],
            },
            "requests": stats.requests,
            "cache_hits": stats.cache_hits,
            "retries": stats.retries,
            "shared": stats.shared,
        }

    # -- the steps -------------------------------------------------------------------------------

    def _cloze(self, facts: Sequence[Fact], fact_calls: dict[tuple[str, str], list[_Call]]) -> list[Fact]:
        sentences = [fact for fact in facts if fact.template.sentence]
        changed = {}
        for fact, outcome in zip(sentences, self._run(CLOZE, [self._cloze_job(fact) for fact in sentences])):
            fact_calls[(fact.id, "cloze")].append(_Call(CLOZE, outcome.cache_key))
            if outcome.ok:
                term, masked = outcome.value
                context = {**fact.context, "masked": masked}
                changed[fact.id] = dataclasses.replace(fact, cloze_answer=term, context=context)
        return [changed.get(fact.id, fact) for fact in facts]

    def _distractors(
        self, facts: Sequence[Fact], pool: DistractorPool, fact_calls: dict[tuple[str, str], list[_Call]]
    ) -> dict[str, Choice | None]:
        choices: dict[str, Choice | None] = {}
        for fact, outcome in zip(facts, self._run(DISTRACTORS, [self._distractor_job(fact) for fact in facts])):
            fact_calls[(fact.id, "classification")].append(_Call(DISTRACTORS, outcome.cache_key))
            choices[fact.id] = _shuffled(fact, outcome.value) if outcome.ok else pool.options(fact)
        return choices

    def _truth(
        self, facts: Sequence[Fact], pool: DistractorPool, fact_calls: dict[tuple[str, str], list[_Call]]
    ) -> dict[str, tuple[str, tuple[str, ...]]]:
        truth: dict[str, tuple[str, tuple[str, ...]]] = {}
        for fact, outcome in zip(facts, self._run(TRUTH, [self._truth_job(fact) for fact in facts])):
            fact_calls[(fact.id, "generation")].append(_Call(TRUTH, outcome.cache_key))
            truth[fact.id] = outcome.value if outcome.ok else pool.truth_inputs(fact)
        return truth

    def _reword(self, rows: _Rows) -> None:
        """Training wordings: grounded questions for section sentences, rewordings of the rest."""
        grounded: list[tuple[Job, list[str]]] = []
        reworded: list[tuple[Job, list[str]]] = []
        for item in [i for i in rows.items.values() if i.rephrased_of is None]:
            fact = rows.fact_of[item.id]
            if "grounded" in self.settings.tasks and fact.template.sentence and item.task == "generation":
                grounded.append((self._grounded_job(item, fact), [item.id]))
            elif "wording" in self.settings.tasks:
                reworded.append((self._rephrase_job(item, fact, 1), [item.id]))
        self._apply(rows, GROUNDED, grounded)
        self._apply(rows, REPHRASE, reworded)

    def _rephrase(self, rows: _Rows) -> None:
        """The rephrased twins of each training row, in one call per training row."""
        twins: dict[str, list[str]] = defaultdict(list)
        for item in rows.items.values():
            if item.rephrased_of is not None:
                twins[item.rephrased_of].append(item.id)
        self._apply(
            rows,
            REPHRASE,
            [
                (self._rephrase_job(rows.items[source], rows.fact_of[source], len(ids)), sorted(ids))
                for source, ids in sorted(twins.items())
            ],
        )

    def _apply(self, rows: _Rows, prompt: Prompt, work: Sequence[tuple[Job, list[str]]]) -> None:
        """Run the jobs; each gives one new stem per row id it names."""
        outcomes = self._run(prompt, [job for job, _ in work])
        for (_, ids), outcome in zip(work, outcomes):
            for n, item_id in enumerate(ids):
                rows.calls[item_id].append(_Call(prompt, outcome.cache_key))
                if outcome.ok:
                    item = rows.items[item_id]
                    rows.items[item_id] = dataclasses.replace(item, question=with_stem(item, outcome.value[n]))

    # -- jobs ------------------------------------------------------------------------------------

    def _request(
        self,
        prompt: Prompt,
        schema: Mapping[str, Any],
        messages: tuple[dict[str, str], ...],
        n: int = 1,
        image_id: str | None = None,
    ) -> ChatRequest:
        images = (self._pngs[image_id],) if self.settings.send_images and image_id else ()
        return ChatRequest(
            prompt.id,
            prompt.version,
            messages,
            temperature=self.settings.temperature,
            max_tokens=_MAX_TOKENS[prompt.id] * n,
            response_format=response_format(self.settings.response_format, prompt.id, schema),
            images=images,
        )

    def _cloze_job(self, fact: Fact) -> Job:
        messages = CLOZE.messages(section=fact.context["section"], sentence=fact.value)
        return Job(
            _describe_fact(fact),
            self._request(CLOZE, CLOZE_SCHEMA, messages),
            CLOZE_SCHEMA,
            lambda data: check_term(data, sentence=fact.value),
        )

    def _distractor_job(self, fact: Fact) -> Job:
        messages = DISTRACTORS.messages(question=fact.template.image[0].format(**fact.context), answer=fact.value)
        guard, text = self._guard, messages[-1]["content"]
        return Job(
            _describe_fact(fact),
            self._request(DISTRACTORS, DISTRACTORS_SCHEMA, messages),
            DISTRACTORS_SCHEMA,
            lambda data: check_distractors(data, answer=fact.value, guard=guard, prompt=text),
        )

    def _truth_job(self, fact: Fact) -> Job:
        messages = TRUTH.messages(question=fact.template.text[0].format(**fact.context), answer=fact.value)
        guard, text = self._guard, messages[-1]["content"]
        return Job(
            _describe_fact(fact),
            self._request(TRUTH, TRUTH_SCHEMA, messages),
            TRUTH_SCHEMA,
            lambda data: check_truth(data, answer=fact.value, guard=guard, prompt=text),
        )

    def _rephrase_job(self, item: QAItem, fact: Fact, n: int) -> Job:
        source = question_stem(item)
        rule = REPHRASE_RULES[item.task] + (IMAGE_RULE if item.modality == "image" else "")
        messages = REPHRASE.messages(n=str(n), rule=rule, question=source, answer=_answer(item, fact))
        rules = self._rules(item, fact, source, messages)
        schema = rephrase_schema(n)
        return Job(
            _describe(item, fact),
            self._request(REPHRASE, schema, messages, n, item.image_id),
            schema,
            lambda data: check_rephrasings(data, n, rules),
        )

    def _grounded_job(self, item: QAItem, fact: Fact) -> Job:
        rule = IMAGE_RULE if item.modality == "image" else ""
        messages = GROUNDED.messages(
            section=fact.context["section"], rule=rule, question=item.question, sentence=fact.value
        )
        rules = self._rules(item, fact, item.question, messages)
        return Job(
            _describe(item, fact),
            self._request(GROUNDED, GROUNDED_SCHEMA, messages, 1, item.image_id),
            GROUNDED_SCHEMA,
            lambda data: [check_grounded(data, rules)],
        )

    def _rules(self, item: QAItem, fact: Fact, source: str, messages: tuple[dict[str, str], ...]) -> QuestionRules:
        cloze = item.task == "cloze"
        return QuestionRules(
            source=source,
            answer=_answer(item, fact),
            cloze=cloze,
            keep=anchors(fact, source, cloze),
            guard=self._guard,
            prompt=messages[-1]["content"],
        )

    # -- outcomes and provenance -----------------------------------------------------------------

    def _run(self, prompt: Prompt, jobs: Sequence[Job]) -> list[Outcome]:
        if not jobs:
            return []
        outcomes = ask(self.client, jobs, self.settings.max_attempts, desc=f"llm {prompt.id}")
        self._calls[prompt.id] += len(jobs)
        self._invalid += sum(outcome.invalid for outcome in outcomes)
        broken = [outcome for outcome in outcomes if outcome.request_failed]
        if broken:
            raise LLMRequestError(
                f"{len(broken)} of {len(jobs)} {prompt.id} requests failed for good; nothing was "
                f"written (replies so far are cached: a rerun resumes). First: {broken[0].error}"
            )
        failed = [(job, outcome) for job, outcome in zip(jobs, outcomes) if not outcome.ok]
        if failed and not self.settings.fallback:
            raise LLMOutputError(self._failure_message(prompt, len(jobs), failed))
        self._fallbacks += [
            {"subject": job.subject, "prompt": prompt.id, "error": str(outcome.error)} for job, outcome in failed
        ]
        logger.info("llm %s: %d calls, %d fell back to templates", prompt.id, len(jobs), len(failed))
        return outcomes

    def _failure_message(self, prompt: Prompt, total: int, failed: Sequence[tuple[Job, Outcome]]) -> str:
        listed = "\n".join(f"  {job.subject}: {outcome.error}" for job, outcome in failed[:MAX_LISTED])
        more = f"\n  ... and {len(failed) - MAX_LISTED} more" if len(failed) > MAX_LISTED else ""
        return (
            f"{len(failed)} of {total} {prompt.id} replies from {self.settings.endpoint.model} stayed invalid after "
            f"{self.settings.max_attempts} attempts; nothing was written:\n{listed}{more}\n"
            "Pass --llm-fallback to keep the template wording of these items (marked llm-fallback in "
            "provenance), raise llm.max_attempts, or use a stronger model."
        )

    def _marked(self, item: QAItem, rows: _Rows) -> QAItem:
        calls = rows.fact_calls.get((item.fact_id, item.task), []) + rows.calls.get(item.id, [])
        if not calls:
            return item
        fell_back = any(call.cache_key is None for call in calls)
        provenance = dataclasses.replace(
            item.provenance,
            generator="llm-fallback" if fell_back else "llm",
            model=self.settings.endpoint.model,
            temperature=self.settings.temperature,
            prompt_version="+".join(f"{call.prompt.id}@{call.prompt.version}" for call in calls),
            cache_key="+".join(call.cache_key or FALLBACK_KEY for call in calls),
        )
        return dataclasses.replace(item, provenance=provenance)


def _answer(item: QAItem, fact: Fact) -> str:
    """What the question asks for: the fact's value (a classification's too, not its letter), or the cloze blank."""
    return item.answer if item.task == "cloze" else fact.value


def _describe(item: QAItem, fact: Fact) -> str:
    return f"{item.id} ({fact.node.level} {fact.attribute.name}, {item.task}, {item.modality})"


def _describe_fact(fact: Fact) -> str:
    return f"{fact.id} ({fact.node.level} {fact.attribute.name})"


def _shuffled(fact: Fact, distractors: Sequence[str]) -> Choice:
    options = [fact.value, *distractors]
    random.Random(stable_int(fact.id, "llm-options")).shuffle(options)
    return tuple(options), LETTERS[options.index(fact.value)]
