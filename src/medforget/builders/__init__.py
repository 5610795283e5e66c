"""Sources of the hierarchy. Importing this package registers every builder."""

from medforget.builders import iu_xray  # noqa: F401  (registers the default source)
from medforget.builders.base import BUILDERS, Builder, SkipLog, SourceData, StudyImagePlan

__all__ = ["BUILDERS", "Builder", "SkipLog", "SourceData", "StudyImagePlan"]
