"""Sources of the hierarchy: one module per source, each registering its builder in
:data:`BUILDERS` (found on the first lookup; nothing lists them)."""

from medforget.builders.base import BUILDERS, Builder, SkipLog, SourceData
from medforget.hierarchy import StudyImagePlan

__all__ = ["BUILDERS", "Builder", "SkipLog", "SourceData", "StudyImagePlan"]
