"""Radiology report text: sections, sentences, and the short sentence a section fact keeps.

Source-agnostic: IU X-ray and MIMIC-CXR reports share the section names. Redacted spans
("XXXX" in IU X-ray) never reach a fact: a sentence that contains one is not used.
"""

from __future__ import annotations

import re

REPORT_SECTIONS: tuple[str, ...] = ("INDICATION", "COMPARISON", "FINDINGS", "IMPRESSION")
#: sections that become facts; COMPARISON is left out: IU X-ray redacts nearly all of it
#: (3,925 of 3,955 reports keep no usable sentence), and elsewhere it is mostly a date
FACT_SECTIONS: tuple[str, ...] = ("INDICATION", "FINDINGS", "IMPRESSION")
MAX_FACT_WORDS = 18

_REDACTED = re.compile(r"X{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_ENUMERATION = re.compile(r"^\s*\d+[.)]\s*")
_DEMOGRAPHIC = re.compile(
    r"^\s*(?:XXXX|\d+)?[- ]*(?:year|yr|y/o|yo)[- ]*(?:old)?\s*"
    r"(?:female|male|woman|man|girl|boy|f|m)?\s*(?:with|w/|for|,)?\s*",
    re.IGNORECASE,
)
_NORMAL_STATEMENT = re.compile(r"\b(?:no|not|normal|negative|clear|unremarkable|within normal limits)\b", re.IGNORECASE)
_SEX_FEMALE = re.compile(r"\b(?:female|woman|girl|she|her)\b", re.IGNORECASE)
_SEX_MALE = re.compile(r"\b(?:male|man|boy|he|his)\b", re.IGNORECASE)
_AGE = re.compile(r"\b(\d{1,3})[- ]?(?:year|yr|y/o|yo)", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    """Sentences of a section, enumeration marks removed."""
    parts = _SENTENCE_END.split(" ".join(text.split()))
    cleaned = (_ENUMERATION.sub("", part).strip() for part in parts)
    return [re.sub(r"\.{2,}$", ".", s) for s in cleaned if s]


def _usable(sentence: str) -> bool:
    words = sentence.split()
    return 2 <= len(words) <= MAX_FACT_WORDS and not _REDACTED.search(sentence)


def fact_sentence(section: str, text: str) -> str | None:
    """The short sentence a section's fact keeps, or None when nothing usable remains.

    INDICATION drops its demographic opening ("XXXX year old female with"); FINDINGS prefers
    the first sentence that reports something (not "No ...", "... are clear"); other sections take
    their first usable sentence.
    """
    if section == "INDICATION":
        text = _DEMOGRAPHIC.sub("", text.strip())
        text = text[:1].upper() + text[1:]
    candidates = [s for s in sentences(text) if _usable(s)]
    if section == "FINDINGS":
        positive = [s for s in candidates if not _NORMAL_STATEMENT.search(s)]
        candidates = positive or candidates
    return candidates[0] if candidates else None


def sex_hint(indication: str) -> str | None:
    """ "female" or "male" when the indication says so unambiguously, else None."""
    female, male = bool(_SEX_FEMALE.search(indication)), bool(_SEX_MALE.search(indication))
    if female == male:
        return None
    return "female" if female else "male"


def age_hint(indication: str) -> int | None:
    match = _AGE.search(indication)
    return int(match.group(1)) if match and 0 < int(match.group(1)) < 110 else None
