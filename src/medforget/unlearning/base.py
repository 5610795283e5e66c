"""What every unlearning method is: a frozen dataclass of its hyperparameters, registered by
name, whose ``run`` edits or trains a loaded model on one level's forget and retain rows and
says what came out (:class:`Outcome`). :mod:`medforget.unlearning.run` loads, seeds, times,
saves and records around it, so a method holds only its own logic."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from medforget.errors import ConfigError, MedForgetError
from medforget.registry import Registry

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, ProcessorMixin

    from medforget.unlearning.data import UnlearnData


class UnlearningError(MedForgetError):
    """An unlearning method cannot run on the model or data it was given."""


@dataclass
class Outcome:
    """What a method produced.

    Attributes:
        model: the model to save (a ``peft`` model when only a LoRA adapter was trained).
        adapter: True when ``model`` is a LoRA adapter over the input checkpoint.
        tensors: artefacts worth keeping beside the weights (selected units, directions), saved
            as safetensors under their names.
        summary: small JSON facts about the run (steps, losses, ranks), kept in the record.
    """

    model: PreTrainedModel | PeftModel
    adapter: bool = False
    tensors: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


class Method(Protocol):
    """What :data:`METHODS` holds: a frozen dataclass of hyperparameters with these class attributes."""

    name: ClassVar[str]
    #: one line for ``medforget ls methods`` and the CLI help
    description: ClassVar[str]
    version: ClassVar[str]
    #: True when the method trains (gradient methods), False when it edits weights in closed form
    trains: ClassVar[bool]
    #: hyperparameters of the tiny track (``--track tiny``) over the defaults, which are for 7B
    #: checkpoints on GPUs
    tiny_track: ClassVar[Mapping[str, Any]]
    #: a frozen dataclass (its fields are the hyperparameters)
    __dataclass_fields__: ClassVar[dict[str, Any]]

    def run(self, model: PreTrainedModel, processor: ProcessorMixin, data: UnlearnData, seed: int) -> Outcome: ...


METHODS: Registry[type[Method]] = Registry("unlearning method", providers="medforget.unlearning")


def configure(cls: type[Method], params: Mapping[str, str | Any]) -> Method:
    """``cls`` with ``params`` (CLI strings or typed values) over its defaults; an unknown name
    is an error that suggests the closest field."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, raw in params.items():
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{cls.name} has no hyperparameter {key!r}{hint} (known: {', '.join(fields)})")
        values[key] = _parse(key, raw, hints[key]) if isinstance(raw, str) else raw
    return cls(**values)


def _parse(key: str, raw: str, hint: Any) -> Any:
    """A CLI string as the field's type: bool, int, float or str, or None for optional fields."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if type(None) in args and raw.lower() in ("none", "null"):
        return None
    kind = next(t for t in args if t is not type(None))
    try:
        if kind is bool:
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[raw.lower()]
        return kind(raw)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"hyperparameter {key}={raw!r}: expected {kind.__name__}") from err
