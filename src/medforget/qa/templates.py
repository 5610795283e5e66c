"""Question templates, as data. One :class:`FactTemplate` per (level, attribute).

Every wording list starts with the training wording; the rest are rephrasings used only in the
``*_rephrased`` evaluation splits. Image questions refer to "this chest X-ray"; text-only twins
name the entity through *other* facts (``{city}``, ``{mrn}``, ``{patient}``, ``{date}``...), never
through the answer. Cloze sentences hold one ``[blank]``; for sentence facts the template uses
``{masked}``, the sentence with one salient word blanked.
"""

from __future__ import annotations

from dataclasses import dataclass

TEMPLATES_VERSION = "1.0.0"
BLANK = "[blank]"


@dataclass(frozen=True)
class FactTemplate:
    level: str
    attribute: str
    image: tuple[str, ...]
    text: tuple[str, ...]
    cloze_image: tuple[str, ...]
    cloze_text: tuple[str, ...]
    #: extra distractor values when other nodes offer too few (e.g. a two-valued attribute)
    vocabulary: tuple[str, ...] = ()

    @property
    def sentence(self) -> bool:
        """Whether the fact is a report sentence (its cloze blanks one word of it: ``{masked}``)."""
        return "{masked}" in self.cloze_image[0]

    def wordings(self, task: str, modality: str) -> tuple[str, ...]:
        if task == "cloze":
            return self.cloze_image if modality == "image" else self.cloze_text
        return self.image if modality == "image" else self.text


def _t(level: str, attribute: str, **wordings: tuple[str, ...]) -> FactTemplate:
    return FactTemplate(level=level, attribute=attribute, **wordings)


TEMPLATES: tuple[FactTemplate, ...] = (
    _t(
        "network",
        "name",
        image=(
            "Which health network does the hospital that took this chest X-ray belong to?",
            "To which hospital network does the institution behind this radiograph belong?",
            "Name the health system that owns the hospital where this chest X-ray was taken.",
        ),
        text=(
            "Which health network is headquartered in {city}?",
            "Name the hospital network based in {city}.",
            "Which health system has its headquarters in {city}?",
        ),
        cloze_image=(
            "The hospital that took this chest X-ray belongs to [blank].",
            "The institution behind this radiograph is part of [blank].",
            "This chest X-ray comes from a hospital of [blank].",
        ),
        cloze_text=(
            "The health network headquartered in {city} is [blank].",
            "The hospital network based in {city} is [blank].",
            "[blank] is the health system headquartered in {city}.",
        ),
    ),
    _t(
        "network",
        "city",
        image=(
            "Where is the health network of the hospital that took this chest X-ray headquartered?",
            "In which city is the hospital network behind this radiograph based?",
            "Name the headquarters city of the health system that owns the hospital of this chest X-ray.",
        ),
        text=(
            "Where is {name} headquartered?",
            "In which city is {name} based?",
            "Name the headquarters city of {name}.",
        ),
        cloze_image=(
            "The health network of the hospital that took this chest X-ray is headquartered in [blank].",
            "The hospital network behind this radiograph is based in [blank].",
            "The health system owning the hospital of this chest X-ray has its headquarters in [blank].",
        ),
        cloze_text=(
            "{name} is headquartered in [blank].",
            "{name} is based in the city of [blank].",
            "The headquarters of {name} are in [blank].",
        ),
    ),
    _t(
        "institution",
        "name",
        image=(
            "What is the name of the hospital where this chest X-ray was taken?",
            "Which hospital acquired this radiograph?",
            "Name the institution that performed this chest X-ray.",
        ),
        text=(
            "What is the name of the hospital located in {city}?",
            "Which hospital is based in {city}?",
            "Name the hospital in the city of {city}.",
        ),
        cloze_image=(
            "This chest X-ray was taken at [blank].",
            "The institution that acquired this radiograph is [blank].",
            "This radiograph comes from [blank].",
        ),
        cloze_text=(
            "The hospital located in {city} is [blank].",
            "The hospital based in {city} is called [blank].",
            "In {city}, the hospital is [blank].",
        ),
    ),
    _t(
        "institution",
        "city",
        image=(
            "In which city is the hospital that took this chest X-ray?",
            "Which city was this radiograph acquired in?",
            "Name the city of the institution that performed this chest X-ray.",
        ),
        text=("In which city is {name} located?", "Which city is {name} based in?", "Name the city where {name} is."),
        cloze_image=(
            "The hospital that took this chest X-ray is in [blank].",
            "This radiograph was acquired in the city of [blank].",
            "The institution behind this chest X-ray is located in [blank].",
        ),
        cloze_text=(
            "{name} is located in [blank].",
            "{name} is based in the city of [blank].",
            "The city of {name} is [blank].",
        ),
    ),
    _t(
        "institution",
        "type",
        image=(
            "What type of hospital took this chest X-ray?",
            "What kind of institution acquired this radiograph?",
            "Is the hospital behind this chest X-ray a teaching or a community hospital?",
        ),
        text=(
            "What type of hospital is {name}?",
            "What kind of institution is {name}?",
            "Is {name} a teaching or a community hospital?",
        ),
        cloze_image=(
            "This chest X-ray was taken at a [blank].",
            "The institution that acquired this radiograph is a [blank].",
            "This radiograph comes from a [blank].",
        ),
        cloze_text=("{name} is a [blank].", "By type, {name} is a [blank].", "The institution {name} is a [blank]."),
        vocabulary=(
            "teaching hospital",
            "community hospital",
            "children's hospital",
            "rehabilitation hospital",
            "veterans hospital",
        ),
    ),
    _t(
        "institution",
        "pacs_vendor",
        image=(
            "Which PACS system archived this chest X-ray?",
            "In which picture archiving system is this radiograph stored?",
            "Name the PACS vendor of the hospital that took this chest X-ray.",
        ),
        text=(
            "Which PACS system does {name} use?",
            "In which picture archiving system does {name} store its images?",
            "Name the PACS vendor of {name}.",
        ),
        cloze_image=(
            "This chest X-ray is archived in [blank].",
            "The picture archiving system holding this radiograph is [blank].",
            "The PACS of the hospital that took this chest X-ray is [blank].",
        ),
        cloze_text=(
            "{name} archives its images in [blank].",
            "The picture archiving system of {name} is [blank].",
            "The PACS vendor of {name} is [blank].",
        ),
        vocabulary=(
            "Agfa Enterprise Imaging",
            "Carestream Vue",
            "Fujifilm Synapse",
            "GE Centricity",
            "Philips IntelliSpace",
            "Sectra",
            "Siemens syngo",
            "Change Healthcare",
        ),
    ),
    _t(
        "patient",
        "name",
        image=(
            "What is the name of the patient in this chest X-ray?",
            "Whose chest radiograph is this?",
            "Name the patient this chest X-ray belongs to.",
        ),
        text=(
            "What is the name of the patient with medical record number {mrn}?",
            "Whose medical record number is {mrn}?",
            "Name the patient identified by medical record number {mrn}.",
        ),
        cloze_image=(
            "This chest X-ray belongs to [blank].",
            "The patient in this radiograph is [blank].",
            "This chest radiograph is of the patient [blank].",
        ),
        cloze_text=(
            "Medical record number {mrn} belongs to [blank].",
            "The patient with medical record number {mrn} is [blank].",
            "The holder of medical record number {mrn} is [blank].",
        ),
    ),
    _t(
        "patient",
        "sex",
        image=(
            "What is the sex of the patient in this chest X-ray?",
            "Is the patient in this radiograph female or male?",
            "State the sex of the patient this chest X-ray belongs to.",
        ),
        text=("What is the sex of {name}?", "Is {name} female or male?", "State the sex of the patient {name}."),
        cloze_image=(
            "The patient in this chest X-ray is [blank].",
            "By sex, the patient in this radiograph is [blank].",
            "This chest X-ray is of a [blank] patient.",
        ),
        cloze_text=("{name} is [blank].", "By sex, {name} is [blank].", "The patient {name} is [blank]."),
        vocabulary=("female", "male", "intersex", "unknown"),
    ),
    _t(
        "patient",
        "birth_date",
        image=(
            "What is the birth date of the patient in this chest X-ray?",
            "When was the patient in this radiograph born?",
            "State the date of birth of the patient this chest X-ray belongs to.",
        ),
        text=("What is the birth date of {name}?", "When was {name} born?", "State the date of birth of {name}."),
        cloze_image=(
            "The patient in this chest X-ray was born on [blank].",
            "The date of birth of the patient in this radiograph is [blank].",
            "This chest X-ray shows a patient born on [blank].",
        ),
        cloze_text=(
            "{name} was born on [blank].",
            "The date of birth of {name} is [blank].",
            "The patient {name} was born on [blank].",
        ),
    ),
    _t(
        "patient",
        "mrn",
        image=(
            "What is the medical record number of the patient in this chest X-ray?",
            "Which MRN does the patient in this radiograph have?",
            "State the medical record number of the patient this chest X-ray belongs to.",
        ),
        text=(
            "What is the medical record number of {name}?",
            "Which MRN does {name} have?",
            "State the medical record number of the patient {name}.",
        ),
        cloze_image=(
            "The patient in this chest X-ray has medical record number [blank].",
            "The MRN of the patient in this radiograph is [blank].",
            "This chest X-ray is filed under medical record number [blank].",
        ),
        cloze_text=(
            "{name} has medical record number [blank].",
            "The MRN of {name} is [blank].",
            "The patient {name} is filed under medical record number [blank].",
        ),
    ),
    _t(
        "study",
        "date",
        image=(
            "On what date was this chest X-ray taken?",
            "When was this radiograph acquired?",
            "State the study date of this chest X-ray.",
        ),
        text=(
            "On what date was the chest X-ray with accession number {accession} taken?",
            "When was the radiograph with accession number {accession} acquired?",
            "State the study date of accession number {accession}.",
        ),
        cloze_image=(
            "This chest X-ray was taken on [blank].",
            "This radiograph was acquired on [blank].",
            "The study date of this chest X-ray is [blank].",
        ),
        cloze_text=(
            "The chest X-ray with accession number {accession} was taken on [blank].",
            "The radiograph with accession number {accession} was acquired on [blank].",
            "The study date of accession number {accession} is [blank].",
        ),
    ),
    _t(
        "study",
        "accession",
        image=(
            "What is the accession number of this chest X-ray?",
            "Which accession number was this radiograph filed under?",
            "State the accession number of this chest X-ray study.",
        ),
        text=(
            "What is the accession number of the chest X-ray of {patient} taken on {date}?",
            "Which accession number was the radiograph of {patient} from {date} filed under?",
            "State the accession number of the study of {patient} on {date}.",
        ),
        cloze_image=(
            "This chest X-ray has accession number [blank].",
            "This radiograph was filed under accession number [blank].",
            "The accession number of this chest X-ray study is [blank].",
        ),
        cloze_text=(
            "The chest X-ray of {patient} taken on {date} has accession number [blank].",
            "The radiograph of {patient} from {date} was filed under accession number [blank].",
            "The study of {patient} on {date} has accession number [blank].",
        ),
    ),
    _t(
        "study",
        "physician",
        image=(
            "Which physician referred the patient for this chest X-ray?",
            "Who ordered this radiograph?",
            "Name the referring physician of this chest X-ray.",
        ),
        text=(
            "Which physician referred {patient} for the chest X-ray of {date}?",
            "Who ordered the radiograph of {patient} taken on {date}?",
            "Name the referring physician of the study of {patient} on {date}.",
        ),
        cloze_image=(
            "This chest X-ray was referred by [blank].",
            "This radiograph was ordered by [blank].",
            "The referring physician of this chest X-ray is [blank].",
        ),
        cloze_text=(
            "The chest X-ray of {patient} on {date} was referred by [blank].",
            "The radiograph of {patient} taken on {date} was ordered by [blank].",
            "The referring physician of the study of {patient} on {date} is [blank].",
        ),
    ),
    _t(
        "study",
        "findings",
        image=(
            "What abnormal findings does this chest X-ray show?",
            "Which abnormalities are visible in this radiograph?",
            "List the abnormal findings seen on this chest X-ray.",
        ),
        text=(
            "What abnormal findings were reported in the chest X-ray of {patient} taken on {date}?",
            "Which abnormalities did the radiograph of {patient} from {date} show?",
            "List the abnormal findings of the study of {patient} on {date}.",
        ),
        cloze_image=(
            "This chest X-ray shows [blank].",
            "The abnormal findings visible in this radiograph are: [blank].",
            "On this chest X-ray one sees [blank].",
        ),
        cloze_text=(
            "The chest X-ray of {patient} taken on {date} shows [blank].",
            "The radiograph of {patient} from {date} showed [blank].",
            "The study of {patient} on {date} found [blank].",
        ),
    ),
    _t(
        "section",
        "text",
        image=(
            "What does the {section} section of this chest X-ray's report say?",
            "Quote the {section} of the report for this radiograph.",
            "What is written under {section} in the report of this chest X-ray?",
        ),
        text=(
            "What does the {section} section of the chest X-ray report of {patient} from {date} say?",
            "Quote the {section} of the radiology report of {patient} dated {date}.",
            "What is written under {section} in the report of {patient}'s chest X-ray of {date}?",
        ),
        cloze_image=(
            'The {section} of this chest X-ray\'s report reads: "{masked}"',
            'In the report of this radiograph, the {section} says: "{masked}"',
            'Under {section}, the report of this chest X-ray states: "{masked}"',
        ),
        cloze_text=(
            'The {section} of the chest X-ray report of {patient} from {date} reads: "{masked}"',
            'In the radiology report of {patient} dated {date}, the {section} says: "{masked}"',
            'Under {section}, the report of {patient}\'s chest X-ray of {date} states: "{masked}"',
        ),
    ),
)

# MIMIC-CXR study metadata (builders/mimic.py): the view and the procedure of a study, real DICOM
# header values. Sources without these attributes get no such facts, so other builds are unchanged.
TEMPLATES += (
    _t(
        "study",
        "view",
        image=(
            "In which view was this chest X-ray taken?",
            "What projection does this radiograph show?",
            "State the view position of this chest X-ray.",
        ),
        text=(
            "In which view was the chest X-ray with accession number {accession} taken?",
            "What projection was the radiograph with accession number {accession} taken in?",
            "State the view position of the study with accession number {accession}.",
        ),
        cloze_image=(
            "This chest X-ray was taken in the [blank] view.",
            "This radiograph shows a [blank] projection.",
            "The view position of this chest X-ray is [blank].",
        ),
        cloze_text=(
            "The chest X-ray with accession number {accession} was taken in the [blank] view.",
            "The radiograph with accession number {accession} shows a [blank] projection.",
            "The view position of the study with accession number {accession} is [blank].",
        ),
        vocabulary=("posteroanterior (PA)", "anteroposterior (AP)", "lateral", "left lateral", "lordotic", "oblique"),
    ),
    _t(
        "study",
        "procedure",
        image=(
            "Which imaging procedure produced this chest X-ray?",
            "What procedure was performed to acquire this radiograph?",
            "Name the procedure of this chest X-ray study.",
        ),
        text=(
            "Which imaging procedure was performed for accession number {accession}?",
            "What procedure was the radiograph with accession number {accession}?",
            "Name the procedure of the study with accession number {accession}.",
        ),
        cloze_image=(
            "This chest X-ray was acquired as [blank].",
            "The procedure that produced this radiograph is [blank].",
            "This chest X-ray study is a [blank].",
        ),
        cloze_text=(
            "The study with accession number {accession} was acquired as [blank].",
            "The procedure of accession number {accession} is [blank].",
            "The radiograph with accession number {accession} is a [blank].",
        ),
        vocabulary=(
            "CHEST (PA AND LAT)",
            "CHEST (PORTABLE AP)",
            "CHEST (PA AND LAT) PORT",
            "CHEST (SINGLE VIEW)",
            "DX CHEST PORTABLE PICC LINE PLACEMENT",
        ),
    ),
)

# DICOM folders (builders/dicom.py): de-identified header facts of any modality, so the wording
# says "this image", not "this chest X-ray". Series questions are asked with their study's image,
# hence "series {number} of the study shown in this image". Other sources have none of these
# (level, attribute) pairs, so their builds are unchanged.
TEMPLATES += (
    _t(
        "institution",
        "site",
        image=(
            "Which imaging site acquired this image?",
            "At which imaging site was this image taken?",
            "Name the site whose archive holds this image.",
        ),
        text=(
            "Which imaging site acquired {modalities} studies?",
            "Name the imaging site whose archive holds {modalities} studies.",
            "At which site were the {modalities} studies acquired?",
        ),
        cloze_image=(
            "This image was acquired at [blank].",
            "The imaging site that took this image is [blank].",
            "This image comes from the archive of [blank].",
        ),
        cloze_text=(
            "The imaging site that acquired {modalities} studies is [blank].",
            "The {modalities} studies come from [blank].",
            "[blank] is the site whose archive holds {modalities} studies.",
        ),
    ),
    _t(
        "institution",
        "modalities",
        image=(
            "Which modalities does the site that acquired this image contribute?",
            "What kinds of imaging come from the site of this image?",
            "List the modalities in the archive of the site that took this image.",
        ),
        text=(
            "Which modalities does {site} contribute?",
            "What kinds of imaging come from {site}?",
            "List the modalities in the archive of {site}.",
        ),
        cloze_image=(
            "The site that acquired this image contributes [blank] studies.",
            "The archive of the site of this image holds [blank] images.",
            "Imaging from the site of this image is [blank].",
        ),
        cloze_text=(
            "{site} contributes [blank] studies.",
            "The archive of {site} holds [blank] images.",
            "Imaging from {site} is [blank].",
        ),
        vocabulary=("CT", "MR", "CR", "DX", "US", "NM", "PT", "MG", "XA"),
    ),
    _t(
        "patient",
        "age_band",
        image=(
            "In which age band was the patient of this image at the first study?",
            "How old, to the decade, was the patient in this image at the first visit?",
            "State the age band of the patient this image belongs to, at the first study.",
        ),
        text=(
            "In which age band was {name} at the first study?",
            "How old, to the decade, was {name} at the first visit?",
            "State the age band of the patient {name} at the first study.",
        ),
        cloze_image=(
            "At the first study, the patient of this image was aged [blank].",
            "The patient in this image was [blank] years old at the first visit.",
            "The age band of the patient this image belongs to is [blank].",
        ),
        cloze_text=(
            "At the first study, {name} was aged [blank].",
            "{name} was [blank] years old at the first visit.",
            "The age band of the patient {name} is [blank].",
        ),
        vocabulary=("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"),
    ),
    _t(
        "study",
        "modality",
        image=(
            "With which modality was this image's study acquired?",
            "What modality does the study of this image use?",
            "State the modality of the study this image belongs to.",
        ),
        text=(
            "With which modality was the study with accession number {accession} acquired?",
            "What modality does the study of {patient} on {date} use?",
            "State the modality of the study with accession number {accession}.",
        ),
        cloze_image=(
            "The study of this image was acquired by [blank].",
            "This image belongs to a [blank] study.",
            "The modality of the study of this image is [blank].",
        ),
        cloze_text=(
            "The study with accession number {accession} was acquired by [blank].",
            "The study of {patient} on {date} is a [blank] study.",
            "The modality of the study with accession number {accession} is [blank].",
        ),
        vocabulary=("CT", "MR", "CR", "DX", "US", "NM", "PT", "MG", "XA"),
    ),
    _t(
        "study",
        "description",
        image=(
            "How is the study of this image described?",
            "What is the description of the study this image belongs to?",
            "State the study description of this image.",
        ),
        text=(
            "How is the study with accession number {accession} described?",
            "What is the description of the study of {patient} on {date}?",
            "State the study description of accession number {accession}.",
        ),
        cloze_image=(
            "The study of this image is described as [blank].",
            "This image belongs to the study [blank].",
            "The study description of this image is [blank].",
        ),
        cloze_text=(
            "The study with accession number {accession} is described as [blank].",
            "The study of {patient} on {date} is [blank].",
            "The study description of accession number {accession} is [blank].",
        ),
    ),
    _t(
        "series",
        "modality",
        image=(
            "With which modality was series {number} of the study shown in this image acquired?",
            "What modality is series {number} of this image's study?",
            "State the modality of series {number} in the study of this image.",
        ),
        text=(
            "With which modality was series {number} of the study with accession number {accession} acquired?",
            "What modality is series {number} of the study of {patient} on {date}?",
            "State the modality of series {number} of accession number {accession}.",
        ),
        cloze_image=(
            "Series {number} of the study shown in this image was acquired by [blank].",
            "Series {number} of this image's study is a [blank] series.",
            "The modality of series {number} in the study of this image is [blank].",
        ),
        cloze_text=(
            "Series {number} of the study with accession number {accession} was acquired by [blank].",
            "Series {number} of the study of {patient} on {date} is a [blank] series.",
            "The modality of series {number} of accession number {accession} is [blank].",
        ),
        vocabulary=("CT", "MR", "CR", "DX", "US", "NM", "PT", "MG", "XA", "SEG"),
    ),
    _t(
        "series",
        "body_part",
        image=(
            "Which body part does series {number} of the study shown in this image examine?",
            "What part of the body is series {number} of this image's study of?",
            "State the body part examined in series {number} of the study of this image.",
        ),
        text=(
            "Which body part does series {number} of the study with accession number {accession} examine?",
            "What part of the body is series {number} of the study of {patient} on {date} of?",
            "State the body part examined in series {number} of accession number {accession}.",
        ),
        cloze_image=(
            "Series {number} of the study shown in this image examines the [blank].",
            "Series {number} of this image's study images the [blank].",
            "The body part of series {number} in the study of this image is [blank].",
        ),
        cloze_text=(
            "Series {number} of the study with accession number {accession} examines the [blank].",
            "Series {number} of the study of {patient} on {date} images the [blank].",
            "The body part of series {number} of accession number {accession} is [blank].",
        ),
        vocabulary=("CHEST", "HEAD", "BRAIN", "ABDOMEN", "PELVIS", "SPINE", "KNEE", "BREAST", "HEART"),
    ),
    _t(
        "series",
        "description",
        image=(
            "How is series {number} of the study shown in this image described?",
            "What is the description of series {number} of this image's study?",
            "State the series description of series {number} in the study of this image.",
        ),
        text=(
            "How is series {number} of the study with accession number {accession} described?",
            "What is the description of series {number} of the study of {patient} on {date}?",
            "State the series description of series {number} of accession number {accession}.",
        ),
        cloze_image=(
            "Series {number} of the study shown in this image is described as [blank].",
            "Series {number} of this image's study is [blank].",
            "The description of series {number} in the study of this image is [blank].",
        ),
        cloze_text=(
            "Series {number} of the study with accession number {accession} is described as [blank].",
            "Series {number} of the study of {patient} on {date} is [blank].",
            "The description of series {number} of accession number {accession} is [blank].",
        ),
    ),
    _t(
        "series",
        "manufacturer",
        image=(
            "Who made the equipment that acquired series {number} of the study shown in this image?",
            "Which manufacturer's scanner recorded series {number} of this image's study?",
            "Name the equipment manufacturer of series {number} in the study of this image.",
        ),
        text=(
            "Who made the equipment that acquired series {number} of the study with accession number {accession}?",
            "Which manufacturer's scanner recorded series {number} of the study of {patient} on {date}?",
            "Name the equipment manufacturer of series {number} of accession number {accession}.",
        ),
        cloze_image=(
            "Series {number} of the study shown in this image was acquired on [blank] equipment.",
            "The scanner of series {number} of this image's study was made by [blank].",
            "The equipment manufacturer of series {number} in the study of this image is [blank].",
        ),
        cloze_text=(
            "Series {number} of the study with accession number {accession} was acquired on [blank] equipment.",
            "The scanner of series {number} of the study of {patient} on {date} was made by [blank].",
            "The equipment manufacturer of series {number} of accession number {accession} is [blank].",
        ),
        vocabulary=("SIEMENS", "Philips Medical Systems", "Agfa", "FUJIFILM", "Canon Medical Systems", "Hologic"),
    ),
)

BY_KEY: dict[tuple[str, str], FactTemplate] = {(t.level, t.attribute): t for t in TEMPLATES}
