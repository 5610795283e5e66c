"""Sources of the hierarchy. Importing this package registers every builder."""

from medforget.builders import (  # importing registers each source
    dicom,  # noqa: F401  (DICOM folders, de-identified)
    iu_xray,  # noqa: F401  (the default source)
    mimic,  # noqa: F401  (MIMIC-CXR-JPG)
    openi,  # noqa: F401  (Open-i folders)
)
from medforget.builders.base import BUILDERS, Builder, SkipLog, SourceData, StudyImagePlan

__all__ = ["BUILDERS", "Builder", "SkipLog", "SourceData", "StudyImagePlan"]
