"""Template QA: every fact of every node becomes generation, classification and cloze rows,
each asked with an image and as a text-only twin; selected facts also get rephrased twins.

Classification distractors come from other nodes of the same level, never from a forget
subtree (of any level) or a holdout node, so no retain row can carry a forget-only value.

The build asks a :class:`medforget.qa.base.QAGenerator` for its rows
(:func:`medforget.qa.base.qa_generator`): :class:`TemplateQA`, or, with ``BuildConfig.llm`` set,
:class:`medforget.qa.llm.LLMQA`, which rewords and extends these template rows with an LLM.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from medforget.builders.base import SkipLog
from medforget.builders.identities import IdentityFactory
from medforget.config import BuildConfig
from medforget.errors import ConfigError
from medforget.hierarchy import (
    MODALITIES,
    TASKS,
    Attribute,
    Hierarchy,
    Image,
    Node,
    Provenance,
    QAItem,
    stable_digest,
    stable_int,
)
from medforget.qa.base import QA_GENERATORS
from medforget.qa.templates import BLANK, BY_KEY, TEMPLATES_VERSION, FactTemplate
from medforget.qa.truth import paraphrase, perturbations
from medforget.schemas.checks import ValueGuard
from medforget.splits import SplitPlan, rephrase_selection

QA_VERSION = "1.1.0"
LETTERS = "ABCD"
_STOPWORDS = frozenset(
    [
        "with",
        "without",
        "there",
        "their",
        "these",
        "those",
        "which",
        "about",
        "above",
        "below",
        "after",
        "before",
        "other",
        "again",
        "further",
        "within",
        "visualized",
        "appear",
        "appears",
        "appearing",
        "noted",
        "seen",
        "there",
    ]
)


@dataclass(frozen=True)
class Fact:
    """One attribute of one node, with what its questions need."""

    id: str
    node: Node
    attribute: Attribute
    template: FactTemplate
    image_id: str | None  # the image its image-grounded questions are asked with
    context: Mapping[str, str]  # placeholders of the templates
    cloze_answer: str

    @property
    def value(self) -> str:
        return self.attribute.value


def fact_id(node_id: str, attribute: str) -> str:
    return f"fct-{stable_digest(node_id, attribute)}"


def qa_id(fact: str, task: str, modality: str, variant: int) -> str:
    return f"qa-{stable_digest(fact, task, modality, str(variant))}"


def salient_word(sentence: str) -> str:
    """The word a sentence cloze blanks: the longest non-stopword of 4+ letters, first on ties."""
    words = [w for w in re.findall(r"[A-Za-z]+", sentence) if len(w) >= 4 and w.lower() not in _STOPWORDS]
    return max(words, key=len) if words else sentence.split()[0]


def _context(hierarchy: Hierarchy, node: Node) -> dict[str, str]:
    """Placeholders: the node's own attributes, its patient's name, its study's date and accession."""
    context = {a.name: a.value for a in node.attributes}
    for level in ("network", "institution", "patient", "study"):
        ancestor = hierarchy.ancestor_at(node.id, level)
        if ancestor is not None:
            context[f"{level}_id"] = ancestor.id
    patient = hierarchy.ancestor_at(node.id, "patient")
    study = hierarchy.ancestor_at(node.id, "study")
    if patient is not None:
        context["patient"] = patient.attribute("name")
    if study is not None:
        context["date"] = study.attribute("date")
        context["accession"] = study.attribute("accession")
    return context


def _choose_image(hierarchy: Hierarchy, node: Node, owned: Mapping[str, str], plan: SplitPlan, fid: str) -> str:
    """The image a fact is asked with: its study's, or one of its studies' for upper levels.

    Upper-level facts of trained nodes avoid holdout studies (never trained on) and prefer
    studies outside every forget subtree, so shared_ancestor rows keep their images.
    """
    study = hierarchy.ancestor_at(node.id, "study")
    if study is not None:
        return owned[study.id]
    held_out = node.id in plan.holdout
    studies = [
        n.id for n in hierarchy.subtree(node.id) if n.level == "study" and (held_out or n.id not in plan.holdout)
    ]
    free = [s for s in studies if s not in plan.protected] or studies
    return owned[sorted(free)[stable_int(fid) % len(free)]]


def collect_facts(hierarchy: Hierarchy, images: Iterable[Image], plan: SplitPlan) -> list[Fact]:
    owned = {image.owner_id: image.id for image in images}
    facts = []
    for node in sorted(hierarchy.nodes.values(), key=lambda n: n.id):
        context = _context(hierarchy, node)
        for attribute in node.attributes:
            template = BY_KEY.get((node.level, attribute.name))
            if template is None:
                continue
            fid = fact_id(node.id, attribute.name)
            cloze = salient_word(attribute.value) if template.sentence else attribute.value
            masked = attribute.value.replace(cloze, BLANK, 1)
            facts.append(
                Fact(
                    id=fid,
                    node=node,
                    attribute=attribute,
                    template=template,
                    image_id=_choose_image(hierarchy, node, owned, plan, fid),
                    context={**context, "masked": masked},
                    cloze_answer=cloze,
                )
            )
    return facts


class DistractorPool:
    """Distractors: values of the same attribute at the same level from nodes outside
    ``plan.protected`` (same section name first), then the template's vocabulary, then made-up
    decoys when a small build has too few nodes."""

    def __init__(
        self, facts: Sequence[Fact], plan: SplitPlan, decoys: IdentityFactory, ancestors: Callable[[str], Iterable[str]]
    ):
        self._decoys = decoys
        self._guard = ValueGuard.of(((fact.node.id, fact.value) for fact in facts), ancestors, plan.targets)
        values: dict[tuple[str, ...], set[str]] = defaultdict(set)
        protected: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for fact in facts:
            key = self._key(fact)
            if fact.node.id in plan.protected:
                protected[key[:2]].add(fact.value)
            else:
                values[key].add(fact.value)
                values[key[:2]].add(fact.value)
        self._pools = {key: sorted(v) for key, v in values.items()}
        #: values only protected nodes have: never offered, whatever tier they come from
        self._forbidden = {key: v - values[key] for key, v in protected.items()}
        unprotected = {_words(v) for key, group in values.items() if len(key) == 2 for v in group}
        self._protected_words: dict[str, set[str]] = defaultdict(set)  # first word -> protected-only values
        for value in {_words(v) for v in set().union(*protected.values())} - unprotected - {""}:
            self._protected_words[value.split()[0]].add(value)

    @staticmethod
    def _key(fact: Fact) -> tuple[str, ...]:
        section = fact.context.get("section", "")
        return (fact.node.level, fact.attribute.name, section)

    def options(self, fact: Fact) -> tuple[tuple[str, ...], str] | None:
        """Four shuffled options and the answer's letter, or None when too few distractors exist.
        A draw with a distractor the leak check would refuse on this fact's rows (a value of
        another attribute that only forget nodes have) is drawn again from the values it allows:
        a build where every draw is allowed is unchanged."""
        found = self._options(fact, None)
        if found is None or all(self._guard.allows(o, fact.node.id) for o in found[0] if o != fact.value):
            return found
        return self._options(fact, lambda value: self._guard.allows(value, fact.node.id))

    def _options(self, fact: Fact, allowed: Callable[[str], bool] | None) -> tuple[tuple[str, ...], str] | None:
        rng = random.Random(stable_int(fact.id, "options"))
        key = self._key(fact)
        forbidden = self._forbidden.get(key[:2], set())
        chosen: list[str] = []
        for tier in self._tiers(fact, key, forbidden):
            tier = tier if allowed is None else [v for v in tier if allowed(v)]
            chosen += _draw(rng, tier, {fact.value, *chosen}, 3 - len(chosen))
            if len(chosen) == 3:
                options = [fact.value, *chosen]
                rng.shuffle(options)
                return tuple(options), LETTERS[options.index(fact.value)]
        return None

    def truth_inputs(self, fact: Fact) -> tuple[str, tuple[str, ...]]:
        """TOFU's inputs of the fact's truth ratio (:mod:`medforget.qa.truth`): its answer
        paraphrased, and up to three perturbed answers worded as the paraphrase is (as TOFU's
        perturb its paraphrased answer), none holding a protected-only value."""
        key = self._key(fact)
        others = [*self._pools.get(key, []), *self._pools.get(key[:2], []), *fact.template.vocabulary]
        sentence = fact.template.sentence
        wrong = perturbations(
            fact.value,
            others,
            stable_int(fact.id, "perturbed"),
            lambda text: self.allowed(text) and self.allowed(paraphrase(text, sentence)),
        )
        return paraphrase(fact.value, sentence), tuple(paraphrase(text, sentence) for text in wrong)

    def allowed(self, text: str) -> bool:
        """Whether ``text`` holds no value (as whole words) that only protected nodes have."""
        words = _words(text).split()
        padded = f" {' '.join(words)} "
        return not any(f" {value} " in padded for word in set(words) for value in self._protected_words.get(word, ()))

    def _tiers(self, fact: Fact, key: tuple[str, ...], forbidden: set[str]) -> Iterator[list[str]]:
        yield self._pools.get(key, [])
        yield self._pools.get(key[:2], [])
        yield sorted(set(fact.template.vocabulary) - forbidden)
        decoys = self._decoys.decoys(fact.node.level, fact.attribute.name, fact.id, 6)  # made only when needed
        yield sorted(set(decoys) - forbidden)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[0-9a-z]+", text.lower()))


def _draw(rng: random.Random, pool: list[str], exclude: set[str], k: int) -> list[str]:
    """Up to ``k`` distinct values of ``pool`` not in ``exclude``, drawn in O(k + |exclude|)."""
    indices = rng.sample(range(len(pool)), min(len(pool), k + len(exclude)))
    return [v for v in (pool[i] for i in indices) if v not in exclude][:k]


def classification_question(question: str, options: Sequence[str]) -> str:
    lines = [f"{letter}. {option}" for letter, option in zip(LETTERS, options)]
    return "\n".join([question, *lines, "Answer with the letter of the correct option."])


def question_stem(item: QAItem) -> str:
    """The question without its options (stems are one line)."""
    return item.question.split("\n", 1)[0] if item.task == "classification" else item.question


def with_stem(item: QAItem, stem: str) -> str:
    """``item``'s question with another stem, its options kept."""
    return classification_question(stem, item.options) if item.task == "classification" else stem


def fact_items(
    fact: Fact,
    choice: tuple[tuple[str, ...], str] | None,
    variants: Sequence[int],
    skips: SkipLog,
    truth: tuple[str, tuple[str, ...]] | None = None,
) -> list[QAItem]:
    """Rows of one fact for the given wording variants (0 is the training wording); ``choice`` is
    the classification's options and answer letter (None: no classification rows); ``truth``
    the paraphrased and perturbed answers its generation rows carry."""
    if choice is None:
        skips.skip(fact.id, "classification skipped: fewer than 3 distinct distractor values")
    items = []
    for variant in variants:
        for task in TASKS:
            if task == "classification" and choice is None:
                continue
            for modality in MODALITIES:
                items.append(_item(fact, task, modality, variant, choice, truth))
    return items


def _item(
    fact: Fact,
    task: str,
    modality: str,
    variant: int,
    choice: tuple[tuple[str, ...], str] | None,
    truth: tuple[str, tuple[str, ...]] | None,
) -> QAItem:
    wording = fact.template.wordings(task, modality)[variant].format(**fact.context)
    options: tuple[str, ...] = ()
    answer = fact.cloze_answer if task == "cloze" else fact.value
    if task == "classification" and choice is not None:
        options, answer = choice
        wording = classification_question(wording, options)
    node = fact.node
    template_id = f"{node.level}.{fact.attribute.name}.{task}.{modality}.{variant}"
    answers = truth if task == "generation" else None  # TOFU's inputs: generation rows only
    return QAItem(
        id=qa_id(fact.id, task, modality, variant),
        fact_id=fact.id,
        node_id=node.id,
        level=node.level,
        attribute=fact.attribute.name,
        task=task,
        modality=modality,
        question=wording,
        answer=answer,
        options=options,
        image_id=fact.image_id if modality == "image" else None,
        network_id=fact.context.get("network_id"),
        institution_id=fact.context.get("institution_id"),
        patient_id=fact.context.get("patient_id"),
        study_id=fact.context.get("study_id"),
        section=fact.context.get("section"),
        rephrased_of=qa_id(fact.id, task, modality, 0) if variant else None,
        provenance=Provenance("template", template_id=template_id, template_version=TEMPLATES_VERSION),
        paraphrased_answer=answers[0] if answers is not None else None,
        perturbed_answers=tuple(answers[1]) if answers is not None else (),
    )


@dataclass(frozen=True)
class QAPlan:
    """The facts questions are asked about, their distractor pool, and the facts given rephrased twins."""

    facts: list[Fact]
    pool: DistractorPool
    rephrased: frozenset[str]
    n_rephrasings: int

    @classmethod
    def of(cls, hierarchy: Hierarchy, images: Sequence[Image], plan: SplitPlan, config: BuildConfig) -> QAPlan:
        available = min(len(t.image) for t in BY_KEY.values()) - 1
        if config.n_rephrasings > available:
            raise ConfigError(f"n_rephrasings={config.n_rephrasings}, but templates offer {available} rephrasings")
        facts = collect_facts(hierarchy, images, plan)
        pool = DistractorPool(
            facts, plan, IdentityFactory(config.seed), lambda node: [a.id for a in hierarchy.ancestors(node)]
        )
        selected = rephrase_selection(hierarchy, plan, {f.id: f.node.id for f in facts}, config)
        return cls(facts, pool, selected, config.n_rephrasings)

    def variants(self, fact: Fact) -> range:
        return range(1 + self.n_rephrasings) if fact.id in self.rephrased else range(1)


def generate_qa(
    hierarchy: Hierarchy, images: Sequence[Image], plan: SplitPlan, config: BuildConfig, skips: SkipLog
) -> list[QAItem]:
    """Every row of the hierarchy: training wordings for all facts, rephrasings for selected ones."""
    qa = QAPlan.of(hierarchy, images, plan, config)
    return [
        item
        for fact in qa.facts
        for item in fact_items(fact, qa.pool.options(fact), qa.variants(fact), skips, qa.pool.truth_inputs(fact))
    ]


@QA_GENERATORS.register
@dataclass(frozen=True)
class TemplateQA:
    """QA from the templates alone (:func:`generate_qa`)."""

    name: ClassVar[str] = "templates"
    description: ClassVar[str] = "every fact as generation, classification and cloze rows, from the templates alone"
    config: BuildConfig

    @classmethod
    def from_config(cls, config: BuildConfig) -> TemplateQA:
        return cls(config)

    def generate(self, hierarchy: Hierarchy, images: Sequence[Image], plan: SplitPlan, skips: SkipLog) -> list[QAItem]:
        return generate_qa(hierarchy, images, plan, self.config, skips)

    def record(self) -> dict[str, Any] | None:
        return None
