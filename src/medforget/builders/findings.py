"""Canonical chest X-ray findings, and how MeSH terms of the IU X-ray reports map onto them.

The canonical names are what the renderer draws and what questions ask about; the MeSH
"major" terms of a report (e.g. ``Cardiomegaly/mild``, ``Costophrenic Angle/right/blunted``)
are mapped by their heading and, where the heading is ambiguous, by a qualifier.
"""

from __future__ import annotations

from collections.abc import Iterable

FINDINGS_VERSION = "1.0.0"

#: canonical finding -> plain-language description used in questions
FINDING_PHRASES: dict[str, str] = {
    "atelectasis": "atelectasis (collapsed lung tissue)",
    "calcified granuloma": "calcified granulomas",
    "cardiomegaly": "an enlarged heart",
    "emphysema": "hyperinflated, emphysematous lungs",
    "medical device": "an implanted device or line",
    "nodule": "a lung nodule",
    "opacity": "a patchy lung opacity",
    "pleural effusion": "a pleural effusion",
    "pneumothorax": "a pneumothorax",
    "pulmonary edema": "pulmonary edema",
    "scoliosis": "a curved spine (scoliosis)",
}
NO_FINDING = "no acute abnormality"

_BY_HEADING: dict[str, str] = {
    "Cardiomegaly": "cardiomegaly",
    "Pleural Effusion": "pleural effusion",
    "Opacity": "opacity",
    "Airspace Disease": "opacity",
    "Infiltrate": "opacity",
    "Consolidation": "opacity",
    "Pneumonia": "opacity",
    "Calcified Granuloma": "calcified granuloma",
    "Granulomatous Disease": "calcified granuloma",
    "Granuloma": "calcified granuloma",
    "Pulmonary Atelectasis": "atelectasis",
    "Nodule": "nodule",
    "Mass": "nodule",
    "Scoliosis": "scoliosis",
    "Emphysema": "emphysema",
    "Pulmonary Emphysema": "emphysema",
    "Pulmonary Disease, Chronic Obstructive": "emphysema",
    "Pulmonary Edema": "pulmonary edema",
    "Pulmonary Congestion": "pulmonary edema",
    "Catheters, Indwelling": "medical device",
    "Implanted Medical Device": "medical device",
    "Medical Device": "medical device",
    "Surgical Instruments": "medical device",
    "Pneumothorax": "pneumothorax",
}
#: (heading, qualifier) pairs where only the qualifier makes the term a finding
_BY_QUALIFIER: dict[tuple[str, str], str] = {
    ("Cardiac Shadow", "enlarged"): "cardiomegaly",
    ("Costophrenic Angle", "blunted"): "pleural effusion",
    ("Lung", "hyperdistention"): "emphysema",
    ("Diaphragm", "flattened"): "emphysema",
    ("Calcinosis", "lung"): "calcified granuloma",
}


def findings_from_mesh(terms: Iterable[str]) -> tuple[str, ...]:
    """Sorted canonical findings named by MeSH major terms; empty for a normal study."""
    found: set[str] = set()
    for term in terms:
        heading, *qualifiers = [part.strip() for part in term.split("/")]
        if heading in _BY_HEADING:
            found.add(_BY_HEADING[heading])
        found.update(_BY_QUALIFIER[(heading, q)] for q in qualifiers if (heading, q) in _BY_QUALIFIER)
    return tuple(sorted(found))


def describe(findings: tuple[str, ...]) -> str:
    """Short answer naming the findings, e.g. ``"cardiomegaly and pleural effusion"``."""
    if not findings:
        return NO_FINDING
    if len(findings) == 1:
        return findings[0]
    return ", ".join(findings[:-1]) + " and " + findings[-1]
