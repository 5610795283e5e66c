"""The utility config: general chest X-ray reading on images outside the hierarchy.

The target model learns on ``train`` to read findings from images; these questions ask the
same skill on images it never saw, so one can tell whether unlearning spared general skill.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from medforget.builders.findings import FINDING_PHRASES, describe
from medforget.hierarchy import Image, Provenance, QAItem, stable_digest, stable_int
from medforget.qa.generate import LETTERS, classification_question
from medforget.qa.templates import TEMPLATES_VERSION

FINDINGS_QUESTION = "What abnormal findings does this chest X-ray show?"
CLOZE = "This chest X-ray shows [blank]."
PROBE = "Does this chest X-ray show {phrase}? Answer yes or no."


def utility_items(
    profiles: Sequence[tuple[str, tuple[str, ...]]],
    images: Sequence[Image],
    allowed: Callable[[str], bool] = lambda text: True,
) -> list[QAItem]:
    """Per image: the findings as generation, classification and cloze, and two yes/no probes.

    The rows sit outside the hierarchy, so they must not show a value only a forget node has
    (the value_leak check): a distractor or a probed phrase is one of the utility answers
    themselves (never such a value) or passes ``allowed``. A draw that does not is drawn again
    from those that do, so a build where every draw passes is unchanged."""
    by_owner = {image.owner_id: image for image in images}
    answers = {describe(f) for _, f in profiles}
    descriptions = sorted(answers | set(FINDING_PHRASES))

    def safe(text: str) -> bool:
        return text in answers or allowed(text)

    items: list[QAItem] = []
    for owner, findings in profiles:
        image = by_owner[owner]
        rng = random.Random(stable_int(owner, "utility-qa"))
        answer = describe(findings)
        candidates = [d for d in descriptions if d != answer]
        distractors = rng.sample(candidates, 3)
        if not all(map(safe, distractors)):
            distractors = rng.sample([d for d in candidates if safe(d)], 3)
        options = [answer, *distractors]
        rng.shuffle(options)
        items += [
            _item(image, "findings", "generation", FINDINGS_QUESTION, answer),
            _item(
                image,
                "findings",
                "classification",
                classification_question(FINDINGS_QUESTION, options),
                LETTERS[options.index(answer)],
                tuple(options),
            ),
            _item(image, "findings", "cloze", CLOZE, answer),
        ]
        absent = sorted(set(FINDING_PHRASES) - set(findings))
        probes = [(_pick(rng, findings, safe), "yes")] if findings else []
        probes.append((_pick(rng, absent, safe), "no"))
        for finding, said in probes:
            if finding is None:  # every phrase it could probe is a forget node's own
                continue
            items.append(
                _item(image, f"probe:{finding}", "generation", PROBE.format(phrase=FINDING_PHRASES[finding]), said)
            )
    return items


def _pick(rng: random.Random, findings: Sequence[str], safe: Callable[[str], bool]) -> str | None:
    """A finding whose phrase is safe to ask about: the first draw, else one drawn among the safe."""
    first = rng.choice(findings)
    if safe(FINDING_PHRASES[first]):
        return first
    rest = [f for f in findings if safe(FINDING_PHRASES[f])]
    return rng.choice(rest) if rest else None


def _item(image: Image, attribute: str, task: str, question: str, answer: str, options: tuple[str, ...] = ()) -> QAItem:
    fact = f"fct-{stable_digest(image.owner_id, attribute)}"
    return QAItem(
        id=f"qa-{stable_digest(fact, task, 'image', '0')}",
        fact_id=fact,
        node_id=None,
        level=None,
        attribute=attribute,
        task=task,
        modality="image",
        question=question,
        answer=answer,
        options=options,
        image_id=image.id,
        network_id=None,
        institution_id=None,
        patient_id=None,
        study_id=None,
        section=None,
        rephrased_of=None,
        provenance=Provenance(
            "template",
            template_id=f"utility.{attribute.split(':')[0]}.{task}.image.0",
            template_version=TEMPLATES_VERSION,
        ),
    )
