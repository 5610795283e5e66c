"""The utility config: general chest X-ray reading on images outside the hierarchy.

The target model learns on ``train`` to read findings from images; these questions ask the
same skill on images it never saw, so one can tell whether unlearning spared general skill.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from medforget.findings import FINDING_PHRASES, describe
from medforget.hierarchy import Image, Provenance, QAItem, stable_digest, stable_int
from medforget.qa.generate import LETTERS, classification_question
from medforget.qa.templates import TEMPLATES_VERSION

FINDINGS_QUESTION = "What abnormal findings does this chest X-ray show?"
CLOZE = "This chest X-ray shows [blank]."
PROBE = "Does this chest X-ray show {phrase}? Answer yes or no."


def utility_items(profiles: Sequence[tuple[str, tuple[str, ...]]], images: Sequence[Image]) -> list[QAItem]:
    """Per image: the findings as generation, classification and cloze, and two yes/no probes."""
    by_owner = {image.owner_id: image for image in images}
    descriptions = sorted({describe(f) for _, f in profiles} | set(FINDING_PHRASES))
    items: list[QAItem] = []
    for owner, findings in profiles:
        image = by_owner[owner]
        rng = random.Random(stable_int(owner, "utility-qa"))
        answer = describe(findings)
        distractors = rng.sample([d for d in descriptions if d != answer], 3)
        options = [answer, *distractors]
        rng.shuffle(options)
        items += [
            _item(image, "findings", "generation", FINDINGS_QUESTION, answer),
            _item(image, "findings", "classification", classification_question(FINDINGS_QUESTION, options),
                  LETTERS[options.index(answer)], tuple(options)),
            _item(image, "findings", "cloze", CLOZE, answer),
        ]
        absent = sorted(set(FINDING_PHRASES) - set(findings))
        probes = [(rng.choice(findings), "yes")] if findings else []
        probes.append((rng.choice(absent), "no"))
        for finding, said in probes:
            items.append(_item(image, f"probe:{finding}", "generation", PROBE.format(phrase=FINDING_PHRASES[finding]), said))
    return items


def _item(image: Image, attribute: str, task: str, question: str, answer: str, options: tuple[str, ...] = ()) -> QAItem:
    fact = f"fct-{stable_digest(image.owner_id, attribute)}"
    return QAItem(
        id=f"qa-{stable_digest(fact, task, 'image', '0')}", fact_id=fact, node_id=None, level=None,
        attribute=attribute, task=task, modality="image", question=question, answer=answer,
        options=options, image_id=image.id, network_id=None, institution_id=None, patient_id=None, study_id=None,
        section=None, rephrased_of=None,
        provenance=Provenance("template", template_id=f"utility.{attribute.split(':')[0]}.{task}.image.0",
                              template_version=TEMPLATES_VERSION),
    )
