"""Typed errors. Every error says what input, what was expected, what was found, and how to proceed."""

from __future__ import annotations


class MedForgetError(Exception):
    """Base class of every error MedForget raises on purpose."""


class ConfigError(MedForgetError):
    """A configuration value or key is invalid."""


class SourceError(MedForgetError):
    """A data source is missing, unreadable or structurally broken."""


class BuildError(MedForgetError):
    """The build cannot produce a consistent dataset from what it was given."""


class UnknownNameError(MedForgetError, KeyError):
    """A registry lookup missed; the message suggests the closest known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
