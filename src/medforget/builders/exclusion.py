"""What a built dataset's hierarchy holds that another build must share none of: its studies (by
source key, re-derived from the source with the build's own config, holdout included), its
report sentences and its identities.

A base corpus (the CPU track's pretraining material) is a build of the same source with
``exclude`` naming the benchmark build: the source leaves out every study of it and every report
that shares a sentence with it, and its identity factory never draws a name, city, MRN, accession
or physician the benchmark has. :mod:`medforget.build.disjoint` then proves the two disjoint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medforget.builders.identities import IDENTITY_KINDS
from medforget.config import BuildConfig
from medforget.dataset import load_rows, read_manifest
from medforget.errors import SourceError

#: the keys of the recorded config that are local to the machine that built it (reduced in the
#: manifest): the source is re-read with the excluding build's own
_LOCAL_KEYS = ("source_options", "llm")


@dataclass(frozen=True)
class Footprint:
    """What another build must not share with a built dataset.

    Attributes:
        study_keys: the source keys of its studies (IU X-ray report ids), re-derived from its source.
        sentences: each report sentence it holds, normalised (:func:`normalise_sentence`) -> a row id.
        reports: each study's report as its sorted normalised sentences -> the study id (studies
            with no sentence left out).
        identities: (kind, value) of each identity it holds (see ``IDENTITY_KINDS``) -> a row id.
    """

    study_keys: frozenset[str]
    sentences: Mapping[str, str]
    reports: Mapping[tuple[str, ...], str]
    identities: Mapping[tuple[str, str], str]


def normalise_sentence(text: str) -> str:
    """Lower case, words only: "Heart size is normal." and "heart size is normal" are one sentence."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def footprint(dataset: Path, source_options: Mapping[str, Any]) -> Footprint:
    """The footprint of the build in ``dataset``; its source is re-read with its recorded config
    and ``source_options`` (the excluding build's: the manifest keeps local paths only as
    whether they were set), so the study keys come from the source, not from a file's word."""
    from medforget.builders.base import BUILDERS, SkipLog

    manifest = read_manifest(dataset)
    recorded = {key: value for key, value in manifest.config.items() if key not in _LOCAL_KEYS}
    config = BuildConfig.from_mapping({**recorded, "source_options": dict(source_options)})
    builder = BUILDERS.get(config.source)(config, SkipLog())
    keys = builder.study_keys()
    sentences: dict[str, str] = {}
    by_study: dict[str, set[str]] = {}
    identities: dict[tuple[str, str], str] = {}
    for config_name, split in dict.fromkeys((shard.config, shard.split) for shard in manifest.shards):
        for row in load_rows(dataset, config_name, split, images=False):
            if row["task"] != "generation":
                continue
            if row["level"] == "section":
                sentence = normalise_sentence(row["answer"])
                sentences.setdefault(sentence, row["id"])
                by_study.setdefault(row["study_id"], set()).add(sentence)
            kind = IDENTITY_KINDS.get((row["level"], row["attribute"]))
            if kind is not None:
                identities.setdefault((kind, row["answer"]), row["id"])
    if not keys:
        raise SourceError(f"re-reading the source of {dataset} gave no studies; is it the same source and archive?")
    reports = {tuple(sorted(report)): study for study, report in by_study.items()}
    return Footprint(frozenset(keys), sentences, reports, identities)
