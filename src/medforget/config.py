"""Build configuration: one frozen dataclass, named presets, loading from YAML or flags.

Unknown keys are an error that names the key and suggests the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medforget.errors import ConfigError, UnknownNameError
from medforget.llm.client import Endpoint

#: what an LLM may do to template QA (``LLMConfig.tasks``)
LLM_TASKS: dict[str, str] = {
    "rephrase": "word the rephrased twins of the evaluation splits",
    "wording": "reword the training questions",
    "distractors": "write the classification distractors",
    "cloze": "choose the blanked term of report-sentence clozes",
    "grounded": "ask report-grounded questions about section sentences",
    "truth": "write each fact's paraphrased and perturbed answers (TOFU's truth ratio)",
}
RESPONSE_FORMATS = ("json_schema", "json_object", "none")


@dataclass(frozen=True)
class LLMConfig:
    """LLM QA through any OpenAI-compatible endpoint (``medforget build --llm-base-url URL
    --llm-model NAME``; in YAML, an ``llm:`` mapping of the endpoint's fields and these, flat)."""

    #: where to ask and the client's limits (base_url, model, api_key_env, concurrency, timeout,
    #: max_retries, backoff, max_backoff, cache_dir)
    endpoint: Endpoint
    #: what the LLM does, among LLM_TASKS
    tasks: tuple[str, ...] = ("rephrase",)
    temperature: float = 0.0
    #: replies per item before it counts as failed (each retry says what was wrong)
    max_attempts: int = 3
    #: keep the template wording of items whose replies stayed invalid (recorded in provenance),
    #: instead of failing the build
    fallback: bool = False
    #: how structured output is requested: json_schema, json_object, or none (the reply is validated either way)
    response_format: str = "json_schema"
    #: send the study image with image questions (vision endpoints)
    send_images: bool = False

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in LLM_TASKS]
        if unknown:
            raise ConfigError(f"unknown LLM task {unknown[0]!r}{suggest(unknown[0], LLM_TASKS)}")
        checks = [
            (bool(self.tasks), "llm.tasks must name at least one task"),
            (0 <= self.temperature <= 2, "llm.temperature must be in [0, 2]"),
            (self.max_attempts >= 1, "llm.max_attempts must be >= 1"),
            (self.response_format in RESPONSE_FORMATS, f"llm.response_format must be one of {RESPONSE_FORMATS}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"invalid build config: {message}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> LLMConfig:
        """From the flat ``llm:`` mapping: the endpoint's fields and this class's, side by side."""
        endpoint_fields = {f.name for f in dataclasses.fields(Endpoint)}
        own_fields = {f.name for f in dataclasses.fields(cls)} - {"endpoint"}
        for key in values:
            if key not in endpoint_fields | own_fields:
                raise ConfigError(f"unknown llm config key {key!r}{suggest(key, endpoint_fields | own_fields)}")
        missing = [key for key in ("base_url", "model") if not values.get(key)]
        if missing:
            raise ConfigError(
                f"LLM QA needs {' and '.join(missing)} (--llm-base-url URL --llm-model NAME, or "
                "base_url and model under llm: in the config file)"
            )
        own = {k: v for k, v in values.items() if k in own_fields}
        if isinstance(own.get("tasks"), str):
            own["tasks"] = own["tasks"].split(",")
        if isinstance(own.get("tasks"), list):
            own["tasks"] = tuple(t.strip() if isinstance(t, str) else t for t in own["tasks"])
        endpoint = Endpoint(**check_types(Endpoint, {k: v for k, v in values.items() if k in endpoint_fields}, "llm."))
        return cls(endpoint, **check_types(cls, own, "llm."))

    def to_mapping(self) -> dict[str, Any]:
        """The flat mapping :meth:`from_mapping` reads."""
        record = dataclasses.asdict(self)
        return {**record.pop("endpoint"), **record, "tasks": list(self.tasks)}


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
    #: the source's own settings (its ``Options`` class says which: e.g. ``root``, ``images_dir``);
    #: checked when the source is made (``medforget ls sources`` lists each source's options)
    source_options: Mapping[str, Any] = field(default_factory=dict)
    #: LLM QA on top of the templates; None: templates only
    llm: LLMConfig | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.n_networks >= 2, "n_networks must be >= 2 (an institution target needs cousins)"),
            (
                self.n_institutions >= 2 * self.n_networks,
                "n_institutions must be >= 2 * n_networks (an institution target needs a sibling)",
            ),
            (
                self.n_patients is None or self.n_patients >= self.n_institutions,
                "n_patients must be >= n_institutions (every institution needs a trained patient)",
            ),
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
            if key in MOVED_TO_SOURCE_OPTIONS:
                raise ConfigError(
                    f"config key {key!r} is a source option now: write it under source_options: "
                    f"({MOVED_TO_SOURCE_OPTIONS[key]}: ...)"
                )
            if key not in fields:
                raise ConfigError(f"unknown config key {key!r}{suggest(key, fields)}")
        llm = values.pop("llm", None)
        values = check_types(cls, values)
        if llm is not None and not isinstance(llm, LLMConfig):
            if not isinstance(llm, Mapping):
                raise ConfigError(f"llm must be a mapping of LLM settings (base_url, model, ...), found {_short(llm)}")
            llm = LLMConfig.from_mapping(llm)
        return dataclasses.replace(base, **values, **({"llm": llm} if llm is not None else {}))

    def with_options(self, **options: Any) -> BuildConfig:
        """This config with the source options ``options`` set on top of its own."""
        return dataclasses.replace(self, source_options={**self.source_options, **options})

    @classmethod
    def from_yaml(cls, path: Path) -> BuildConfig:
        return cls.from_mapping(read_yaml_mapping(path))

    def to_mapping(self) -> dict[str, Any]:
        """The whole config as JSON, as :meth:`from_mapping` reads it back (paths as text)."""
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        record["llm"] = None if self.llm is None else self.llm.to_mapping()
        return json.loads(json.dumps(record, default=str))

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for the manifest; local paths and the LLM's URL are reduced to whether they were set."""
        record = self.to_mapping()
        record["source_options"] = {
            key: value if value is None or isinstance(value, (bool, int, float)) else _reduced(value)
            for key, value in sorted(self.source_options.items())
        }
        if record["llm"] is not None:
            record["llm"].update(
                base_url=_reduced(record["llm"]["base_url"]), cache_dir=_reduced(record["llm"]["cache_dir"])
            )
        return record


#: config keys of earlier versions that each source now declares itself, with their new name
MOVED_TO_SOURCE_OPTIONS = {
    "images_dir": "images_dir",
    "reports_archive": "reports_archive",
    "reports_root": "reports_root",
    "source_root": "root",
}


def _reduced(value: Any) -> str | None:
    return None if value is None else "<user supplied>"


PRESETS: dict[str, BuildConfig] = {
    # CPU-trainable: the reproducible tiny track
    "tiny": BuildConfig(
        preset="tiny",
        n_institutions=4,
        n_patients=7,
        n_holdout_patients=2,
        targets_per_level={"institution": 1, "patient": 1, "study": 2, "section": 4},
        rephrase_facts_per_level=3,
        n_utility_images=200,
    ),
    # MedForget scale (the published benchmark has 3,840 QA instances)
    "default": BuildConfig(preset="default"),
    # every usable report of the source
    "full": BuildConfig(
        preset="full",
        n_networks=4,
        n_institutions=20,
        n_patients=None,
        n_holdout_patients=100,
        targets_per_level={"institution": 2, "patient": 20, "study": 40, "section": 80},
        rephrase_facts_per_level=100,
        n_utility_images=400,
    ),
    # the CPU track's pretraining material: built with --option exclude=<the benchmark build>, so
    # its reports, images and identities are none of the benchmark's (medforget.build.disjoint)
    "base": BuildConfig(
        preset="base",
        seed=1,
        n_institutions=8,
        n_patients=30,
        n_holdout_patients=2,
        targets_per_level={"institution": 1, "patient": 1, "study": 2, "section": 4},
        rephrase_facts_per_level=3,
        n_utility_images=800,
    ),
}


#: a config file is a few settings; a bigger one is not a config
MAX_CONFIG_BYTES = 1 << 20


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The settings of a YAML config file (a preset name plus overrides). Aliases (``*name``)
    are refused: a few of them nested expand a kilobyte into gigabytes (a "billion laughs")."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(
                    f"config file {path}, line {event.start_mark.line + 1}: YAML aliases "
                    f"(*{str(event.anchor)[:40]}) are not allowed in a config; write the value out"
                )
            return super().compose_node(parent, index)

    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES} bytes; a config holds a few settings")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=NoAliases) or {}  # a SafeLoader
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text ({err}); save it as UTF-8") from err
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read config file {path}: {str(err)[:300]}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, found {type(data).__name__}")
    return data


def preset(name: str) -> BuildConfig:
    if not isinstance(name, str):
        raise ConfigError(f"config preset must be a preset name ({', '.join(PRESETS)}), found {_short(name)}")
    if name not in PRESETS:
        raise UnknownNameError(f"unknown preset {name!r}{suggest(name, PRESETS)}")
    return PRESETS[name]


def check_types(cls: type, values: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """``values`` for the fields of the dataclass ``cls``, each of its annotated type (a path
    may be given as a string; a float as an int), or a :class:`ConfigError` naming the field."""
    import typing

    from medforget.records import convert

    hints = typing.get_type_hints(cls)
    return {key: convert(value, hints[key], f"config {where}{key}", ConfigError) for key, value in values.items()}


def _short(value: Any, limit: int = 80) -> str:
    """A value as an error shows it: never unbounded."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"{hint} (valid: {', '.join(sorted(known))})"
