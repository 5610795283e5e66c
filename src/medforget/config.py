"""Build configuration: one frozen dataclass, named presets, loading from YAML or flags.

Unknown keys are an error that names the key and suggests the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medforget.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of a build. Same config, same bytes."""

    preset: str = "default"
    seed: int = 0
    source: str = "iu-xray"
    #: fictitious health networks the institutions belong to
    n_networks: int = 2
    #: fictitious institutions the patients are grouped under
    n_institutions: int = 5
    #: fictitious patients whose data the target model is trained on; None: use every report
    n_patients: int | None = 20
    #: patients never trained on (the privacy reference)
    n_holdout_patients: int = 4
    #: studies per fictitious patient, inclusive range
    min_studies: int = 2
    max_studies: int = 4
    #: unlearning targets chosen per level
    targets_per_level: Mapping[str, int] = field(
        default_factory=lambda: {"institution": 1, "patient": 2, "study": 4, "section": 8}
    )
    #: facts per level given rephrased twins, for forget and (as many again) for retain
    rephrase_facts_per_level: int = 12
    #: rephrased wordings per question
    n_rephrasings: int = 2
    #: images in the utility config (rendered, outside the hierarchy, never trained on)
    n_utility_images: int = 40
    image_size: int = 256
    max_rows_per_shard: int = 20_000
    #: folder of real Open-i PNGs (NLMCXR_png) to use instead of rendered images
    images_dir: Path | None = None
    #: the IU X-ray reports archive; None: the copy inside the torchxrayvision wheel
    reports_archive: Path | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.n_networks >= 2, "n_networks must be >= 2 (an institution target needs cousins)"),
            (self.n_institutions >= 2 * self.n_networks,
             "n_institutions must be >= 2 * n_networks (an institution target needs a sibling)"),
            (self.n_patients is None or self.n_patients >= self.n_institutions,
             "n_patients must be >= n_institutions (every institution needs a trained patient)"),
            (self.n_holdout_patients >= 1, "n_holdout_patients must be >= 1"),
            (2 <= self.min_studies <= self.max_studies, "need 2 <= min_studies <= max_studies"),
            (all(n >= 1 for n in self.targets_per_level.values()), "targets_per_level counts must be >= 1"),
            (self.n_rephrasings >= 1, "n_rephrasings must be >= 1"),
            (self.image_size >= 64, "image_size must be >= 64"),
            (self.max_rows_per_shard >= 100, "max_rows_per_shard must be >= 100"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid build config: {message}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> BuildConfig:
        """A config from a preset (``values["preset"]``, default ``default``) plus overrides."""
        values = dict(values)
        base = preset(values.pop("preset", "default"))
        fields = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in fields:
                raise ConfigError(f"unknown config key {key!r}{_suggest(key, fields)}")
        for key in ("images_dir", "reports_archive"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        return dataclasses.replace(base, **values)

    @classmethod
    def from_yaml(cls, path: Path) -> BuildConfig:
        return cls.from_mapping(read_yaml_mapping(path))

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for the manifest; local paths are reduced to whether they were set."""
        record = dataclasses.asdict(self)
        for key in ("images_dir", "reports_archive"):
            record[key] = None if record[key] is None else "<user supplied>"
        return record


PRESETS: dict[str, BuildConfig] = {
    # CPU-trainable: the reproducible tiny track
    "tiny": BuildConfig(
        preset="tiny", n_institutions=4, n_patients=7, n_holdout_patients=2,
        targets_per_level={"institution": 1, "patient": 1, "study": 2, "section": 4},
        rephrase_facts_per_level=3, n_utility_images=16,
    ),
    # MedForget scale (the published benchmark has 3,840 QA instances)
    "default": BuildConfig(preset="default"),
    # every usable report of the source
    "full": BuildConfig(
        preset="full", n_networks=4, n_institutions=20, n_patients=None, n_holdout_patients=100,
        targets_per_level={"institution": 2, "patient": 20, "study": 40, "section": 80},
        rephrase_facts_per_level=100, n_utility_images=400,
    ),
}


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The settings of a YAML config file (a preset name plus overrides)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config file {path}: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, found {type(data).__name__}")
    return data


def preset(name: str) -> BuildConfig:
    if name not in PRESETS:
        raise UnknownNameError(f"unknown preset {name!r}{_suggest(name, PRESETS)}")
    return PRESETS[name]


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"{hint} (valid: {', '.join(sorted(known))})"
