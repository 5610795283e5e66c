"""Fictitious identities for the default source, made with Faker and seeded per entity.

Each entity draws from a generator seeded by (build seed, the entity's source key), so an
identity does not depend on the order entities are made in. Values that must be unique
(names, cities, MRNs, accession numbers) are redrawn on collision with a suffixed key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from faker import Faker

from medforget.hierarchy import stable_int

IDENTITIES_VERSION = "1.0.0"
#: (level, attribute) of a built row -> the kind of identity it holds (see :meth:`IdentityFactory.reserve`)
IDENTITY_KINDS: Mapping[tuple[str, str], str] = {
    ("network", "name"): "network",
    ("network", "city"): "city",
    ("institution", "name"): "hospital",
    ("institution", "city"): "city",
    ("patient", "name"): "patient name",
    ("patient", "mrn"): "mrn",
    ("study", "accession"): "accession",
    ("study", "physician"): "physician",
}

_HOSPITAL_SUFFIXES = {
    "teaching": ("University Hospital", "Academic Medical Center", "University Medical Center"),
    "community": ("Memorial Hospital", "Community Hospital", "General Hospital", "Regional Medical Center"),
}
PACS_VENDORS: tuple[str, ...] = (
    "Agfa Enterprise Imaging",
    "Carestream Vue",
    "Fujifilm Synapse",
    "GE Centricity",
    "Philips IntelliSpace",
    "Sectra",
    "Siemens syngo",
    "Change Healthcare",
)
HOSPITAL_TYPES: tuple[str, ...] = ("teaching hospital", "community hospital")


_NETWORK_SUFFIXES = ("Health", "Health System", "Healthcare", "Medical Group", "Health Partners")


@dataclass(frozen=True)
class NetworkIdentity:
    name: str
    city: str  # headquarters


@dataclass(frozen=True)
class InstitutionIdentity:
    name: str
    city: str
    type: str
    pacs_vendor: str


@dataclass(frozen=True)
class PatientIdentity:
    name: str
    sex: str
    birth_date: dt.date
    mrn: str


@dataclass(frozen=True)
class StudyIdentity:
    date: dt.date
    accession: str
    physician: str


class IdentityFactory:
    """Makes identities for one build; remembers unique values already handed out."""

    def __init__(self, seed: int):
        self.seed = seed
        self._faker = Faker("en_US")
        self._taken: set[tuple[str, str]] = set()
        self._physicians_reserved: set[str] = set()

    def reserve(self, identities: Iterable[tuple[str, str]]) -> None:
        """Never hand out these ``(kind, value)`` (kinds as in :data:`IDENTITY_KINDS`): the
        identities of another build this one must share none with (a base corpus and its benchmark)."""
        for kind, value in identities:
            if kind == "physician":  # not unique within a build, but kept apart from another one
                self._physicians_reserved.add(value)
            else:
                self._taken.add((kind, value))

    def _seeded(self, key: str) -> Faker:
        self._faker.seed_instance(stable_int(str(self.seed), key))
        return self._faker

    def _unique(self, kind: str, key: str, draw: Callable[[Faker], str]) -> str:
        for attempt in range(1000):
            value = draw(self._seeded(f"{kind}:{key}#{attempt}"))
            if (kind, value) not in self._taken:
                self._taken.add((kind, value))
                return value
        raise RuntimeError(f"could not draw a unique {kind} for {key}")  # 1000 collisions: a bug

    def network(self, key: str) -> NetworkIdentity:
        name = self._unique("network", key, lambda f: f"{f.last_name()} {f.random_element(_NETWORK_SUFFIXES)}")
        return NetworkIdentity(name=name, city=self._unique("city", key, lambda f: f.city()))

    def institution(self, key: str) -> InstitutionIdentity:
        fake = self._seeded(f"institution:{key}")
        kind = fake.random_element(("teaching", "community"))
        vendor = fake.random_element(PACS_VENDORS)
        suffixes = _HOSPITAL_SUFFIXES[kind]
        name = self._unique("hospital", key, lambda f: f"{f.last_name()} {f.random_element(suffixes)}")
        city = self._unique("city", key, lambda f: f.city())
        return InstitutionIdentity(name=name, city=city, type=f"{kind} hospital", pacs_vendor=vendor)

    def patient(self, key: str, sex: str, first_study: dt.date, age: int | None) -> PatientIdentity:
        """A patient whose age at the first study is ``age`` when known, else adult."""
        fake = self._seeded(f"patient:{key}")
        age = age if age is not None else fake.random_int(25, 85)
        birth = first_study - dt.timedelta(days=365 * age + fake.random_int(0, 364))
        first = (lambda f: f.first_name_female()) if sex == "female" else (lambda f: f.first_name_male())
        name = self._unique("patient name", key, lambda f: f"{first(f)} {f.last_name()}")
        mrn = self._unique("mrn", key, lambda f: f.numerify("MRN########"))
        return PatientIdentity(name=name, sex=sex, birth_date=birth, mrn=mrn)

    def study_dates(self, key: str, n: int) -> list[dt.date]:
        """``n`` increasing study dates of one patient, 1 month to 2.5 years apart."""
        fake = self._seeded(f"dates:{key}")
        current = fake.date_between_dates(dt.date(2009, 1, 1), dt.date(2015, 12, 31))
        dates = [current]
        for _ in range(n - 1):
            current = current + dt.timedelta(days=fake.random_int(30, 900))
            dates.append(current)
        return dates

    def study(self, key: str, date: dt.date) -> StudyIdentity:
        accession = self._unique("accession", key, lambda f: f.numerify("ACC#########"))
        for attempt in range(1000):
            fake = self._seeded(f"physician:{key}" + (f"#{attempt}" if attempt else ""))
            physician = f"Dr. {fake.first_name()} {fake.last_name()}"
            if physician not in self._physicians_reserved:
                return StudyIdentity(date=date, accession=accession, physician=physician)
        raise RuntimeError(f"could not draw a physician for {key}")  # 1000 reserved names: a bug

    def sex(self, key: str) -> str:
        """A sex for a patient whose reports do not say."""
        return self._seeded(f"sex:{key}").random_element(("female", "male"))

    def decoys(self, level: str, attribute: str, key: str, n: int) -> list[str]:
        """``n`` made-up values of an attribute, belonging to no node: distractors of last resort
        for small builds where too few other nodes exist. Empty for attributes it cannot fake."""
        draw = _DECOYS.get((level, attribute))
        if draw is None:
            return []
        return [draw(self._seeded(f"decoy:{key}#{i}")) for i in range(n)]


_DECOYS: dict[tuple[str, str], Callable[[Faker], str]] = {
    ("network", "name"): lambda f: f"{f.last_name()} {f.random_element(_NETWORK_SUFFIXES)}",
    ("network", "city"): lambda f: f.city(),
    ("institution", "name"): lambda f: f"{f.last_name()} {f.random_element(_HOSPITAL_SUFFIXES['community'])}",
    ("institution", "city"): lambda f: f.city(),
    ("patient", "name"): lambda f: f"{f.first_name()} {f.last_name()}",
    ("patient", "birth_date"): lambda f: f.date_between_dates(dt.date(1925, 1, 1), dt.date(1995, 12, 31)).isoformat(),
    ("patient", "mrn"): lambda f: f.numerify("MRN########"),
    ("study", "date"): lambda f: f.date_between_dates(dt.date(2009, 1, 1), dt.date(2019, 12, 31)).isoformat(),
    ("study", "accession"): lambda f: f.numerify("ACC#########"),
    ("study", "physician"): lambda f: f"Dr. {f.first_name()} {f.last_name()}",
}
