import pytest

from medforget.builders.findings import describe, findings_from_mesh
from medforget.builders.reports import age_hint, fact_sentence, sentences, sex_hint


@pytest.mark.parametrize(
    ("section", "text", "expected"),
    [
        ("INDICATION", "XXXX-year-old male, chest pain.", "Chest pain."),
        ("INDICATION", "XXXX", None),
        ("IMPRESSION", "1. Stable cardiomegaly. 2. No effusion.", "Stable cardiomegaly."),
        ("IMPRESSION", "Opacity in XXXX. No pneumothorax.", "No pneumothorax."),
        ("FINDINGS", "The lungs are clear. Mild cardiomegaly is present.", "Mild cardiomegaly is present."),
        ("FINDINGS", "Normal heart. No effusion.", "Normal heart."),
        ("FINDINGS", "", None),
    ],
)
def test_fact_sentence_is_short_real_and_unredacted(section, text, expected):
    assert fact_sentence(section, text) == expected


def test_long_sentences_are_not_facts():
    assert fact_sentence("IMPRESSION", " ".join(["word"] * 30) + ".") is None


def test_sentences_split_and_clean():
    assert sentences("1. First one.  2. Second one..") == ["First one.", "Second one."]


@pytest.mark.parametrize(
    ("indication", "sex", "age"),
    [
        ("XXXX-year-old female with cough", "female", None),
        ("53 year old man, dyspnea", "male", 53),
        ("cough", None, None),
        ("male and female twins", None, None),
    ],
)
def test_hints(indication, sex, age):
    assert sex_hint(indication) == sex
    assert age_hint(indication) == age


def test_mesh_terms_map_to_canonical_findings():
    terms = ["Cardiomegaly/mild", "Costophrenic Angle/right/blunted", "Lung/hyperdistention", "Aorta/tortuous"]
    assert findings_from_mesh(terms) == ("cardiomegaly", "emphysema", "pleural effusion")
    assert findings_from_mesh(["normal"]) == ()
    assert describe(()) == "no acute abnormality"
    assert describe(("a", "b", "c")) == "a, b and c"
