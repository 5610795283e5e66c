"""Each check on an LLM's wording fires on the fault it guards against, and passes a good wording."""

from __future__ import annotations

import pytest

from medforget.hierarchy import Attribute, Node
from medforget.llm.replies import InvalidReply
from medforget.qa.generate import Fact
from medforget.qa.llm_checks import (
    QuestionRules,
    ValueGuard,
    anchors,
    check_distractors,
    check_grounded,
    check_rephrasings,
    check_term,
    same_answer,
)
from medforget.qa.templates import BY_KEY


def fact(node_id: str, attribute: str, value: str, **context: str) -> Fact:
    node = Node(node_id, "patient", None, node_id, (Attribute(attribute, value, attribute),))
    return Fact(
        f"fct-{node_id}-{attribute}",
        node,
        node.attributes[0],
        BY_KEY[("patient", attribute)],
        None,
        {attribute: value, **context},
        value,
    )


FORGET = fact("pat-forget", "name", "Ada Quill", mrn="MRN-0001")
RETAIN = fact("pat-retain", "mrn", "MRN-0002", name="Bo Reed")
GUARD = ValueGuard([FORGET, RETAIN, fact("pat-forget", "mrn", "MRN-0001")], protected={"pat-forget"})
SOURCE = "What is the medical record number of Bo Reed?"
RULES = QuestionRules(
    source=SOURCE,
    answer="MRN-0002",
    cloze=False,
    keep=anchors(RETAIN, SOURCE, False),
    guard=GUARD,
    prompt=f"Question: {SOURCE}\nAnswer: MRN-0002",
)


@pytest.mark.parametrize(
    "question, reason",
    [
        ("Which MRN does the patient Bo Reed have?", None),
        ("Which MRN does this patient have?", "drops 'Bo Reed'"),
        ("Is MRN-0002 the record number of Bo Reed?", "gives its answer away"),
        ("Which MRN does Bo Reed have, unlike Ada Quill?", "mentions 'ada quill'"),
        ("Bo Reed has medical record number [blank].", "must not hold"),
        ("Which MRN does Bo Reed have? " + "Really? " * 60, "characters long"),
    ],
)
def test_question_rules(question: str, reason: str | None):
    if reason is None:
        assert RULES.check(question) == question
    else:
        with pytest.raises(InvalidReply, match=reason):
            RULES.check(question)


def test_cloze_rules_need_one_blank():
    cloze = QuestionRules("Bo Reed has medical record number [blank].", "MRN-0002", True, ("Bo Reed",), GUARD, "")
    assert cloze.check("The MRN of Bo Reed is [blank].") == "The MRN of Bo Reed is [blank]."
    with pytest.raises(InvalidReply, match="exactly one"):
        cloze.check("Bo Reed: [blank] or [blank].")


def test_a_forget_row_may_keep_its_own_values():
    source = "What is the name of the patient with medical record number MRN-0001?"
    rules = QuestionRules(source, "Ada Quill", False, anchors(FORGET, source, False), GUARD, f"Question: {source}")
    assert rules.check("Who holds medical record number MRN-0001?")  # MRN-0001 is protected, but in the prompt


def test_rephrasings_keep_the_answer_and_differ():
    good = {
        "rephrasings": [
            {"question": "Which MRN does Bo Reed have?", "answer": "mrn-0002."},
            {"question": "State the MRN of Bo Reed.", "answer": "MRN-0002"},
        ]
    }
    assert check_rephrasings(good, 2, RULES) == ["Which MRN does Bo Reed have?", "State the MRN of Bo Reed."]
    changed = {"rephrasings": [{"question": "Which MRN does Bo Reed have?", "answer": "MRN-0003"}]}
    with pytest.raises(InvalidReply, match="it must stay 'MRN-0002'"):
        check_rephrasings(changed, 1, RULES)
    repeated = {"rephrasings": [{"question": SOURCE.replace("?", " ?"), "answer": "MRN-0002"}]}
    with pytest.raises(InvalidReply, match="repeats"):
        check_rephrasings(repeated, 1, RULES)


def test_grounded_questions_keep_the_sentence_as_answer():
    rules = QuestionRules("What does the IMPRESSION say?", "No acute disease.", False, ("IMPRESSION",), GUARD, "")
    assert check_grounded(
        {"question": "What does the IMPRESSION conclude about disease?", "answer": "No acute disease"}, rules
    )
    with pytest.raises(InvalidReply, match="answer became"):
        check_grounded({"question": "What does the IMPRESSION say?", "answer": "Mild effusion."}, rules)


@pytest.mark.parametrize(
    "options, reason",
    [
        (["MRN-0003", "MRN-0004", "MRN-0005"], None),
        (["MRN-0003", "mrn-0002", "MRN-0005"], "is the correct answer"),
        (["MRN-0003", "MRN-0003", "MRN-0005"], "three different"),
        (["MRN-0003", "MRN-0001", "MRN-0005"], "value of another record"),
        (["MRN-0003", "MRN " * 40, "MRN-0005"], "longer than"),
    ],
)
def test_distractors(options: list[str], reason: str | None):
    check = {"answer": "MRN-0002", "guard": GUARD, "prompt": "Correct answer: MRN-0002"}
    if reason is None:
        assert check_distractors({"distractors": options}, **check) == options
    else:
        with pytest.raises(InvalidReply, match=reason):
            check_distractors({"distractors": options}, **check)


def test_cloze_terms_are_copied_whole_words():
    sentence = "Mild cardiomegaly with small left effusion."
    assert check_term({"term": "small left effusion."}, sentence=sentence) == (
        "small left effusion",
        "Mild cardiomegaly with [blank].",
    )
    for term, reason in [
        ("cardio", "not copied"),
        ("enlarged heart", "not copied"),
        ("Mild cardiomegaly with small", "one to three words"),
    ]:
        with pytest.raises(InvalidReply, match=reason):
            check_term({"term": term}, sentence=sentence)


def test_same_answer_ignores_case_spacing_quotes_and_a_final_stop():
    assert same_answer('  "No acute  disease" ', "No acute disease.")
    assert not same_answer("No disease", "No acute disease")
