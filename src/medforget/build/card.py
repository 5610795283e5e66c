"""Cards generated from records, never written by hand.

The dataset card comes from the manifest and the validation report; a reference model's card
from its training record and its dataset's manifest. The Markdown lives in Jinja2 templates
shipped in ``medforget/build/cards/``; this module only gathers what they show. Templates render with
``StrictUndefined``: a value the record lacks fails the render instead of leaving a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any

from medforget.dataset import Licence, Manifest, Shard
from medforget.records import to_json

CARD_VERSION = "2.2.0"
TASK_CATEGORIES = ("visual-question-answering", "question-answering", "multiple-choice")
TAGS = ("medical", "radiology", "chest-x-ray", "machine-unlearning", "multimodal", "benchmark")
#: licences the Hub knows by id; any other is published as ``other`` with its name and link
HUB_LICENCES = frozenset(
    {
        "apache-2.0",
        "mit",
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0",
        "cc-by-nc-nd-4.0",
        "odbl",
        "pddl",
    }
)
_SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)
TASKS = ("generation", "classification", "cloze")


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a row count."""
    return next((name for bound, name in _SIZE_BUCKETS if rows < bound), "n>100M")


def hub_licence(licences: Sequence[Licence]) -> dict[str, str]:
    """Front-matter licence keys: the Hub id when every source shares one it knows, else
    ``other`` with the licences' names and links."""
    ids = {licence.spdx.lower() for licence in licences}
    if len(ids) == 1 and ids <= HUB_LICENCES:
        return {"license": ids.pop()}
    return {
        "license": "other",
        "license_name": " + ".join(sorted({lic.spdx for lic in licences})),
        "license_link": licences[0].url,
    }


def dataset_front_matter(manifest: Manifest) -> str:
    """YAML declaring the card's metadata, every config with its shards per split, the features
    and the split sizes, as ``load_dataset`` and the Hub read them."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    from medforget.dataset import features

    by_config: dict[str, dict[str, list[Shard]]] = {}
    for shard in manifest.shards:
        by_config.setdefault(shard.config, {}).setdefault(shard.split, []).append(shard)
    infos = DatasetInfosDict()
    configs = []
    for config, splits in by_config.items():
        split_dict = SplitDict()
        for split, parts in splits.items():
            split_dict.add(
                SplitInfo(split, num_bytes=sum(p.bytes for p in parts), num_examples=sum(p.rows for p in parts))
            )
        infos[config] = DatasetInfo(features=features(), splits=split_dict)
        configs.append(
            {
                "config_name": config,
                "data_files": [{"split": s, "path": [p.path for p in parts]} for s, parts in splits.items()],
            }
        )
    card = DatasetCardData(
        **hub_licence([source.licence for source in manifest.sources]),
        pretty_name=manifest.name,
        task_categories=list(TASK_CATEGORIES),
        language=["en"],
        size_categories=[size_category(manifest.total_qa_rows)],
        tags=list(TAGS),
        configs=configs,
    )
    infos.to_dataset_card_data(card)
    return card.to_yaml()


def dataset_card(manifest: Manifest, validation: dict[str, Any], repo_id: str | None = None) -> str:
    """The dataset card (README.md): front matter and every section, from the records alone.
    ``repo_id`` names the Hub repository in the loading instructions (None: a local folder)."""
    nodes, targets = manifest.hierarchy.nodes, manifest.targets
    return _render(
        "dataset.md.j2",
        front_matter=dataset_front_matter(manifest),
        card_version=CARD_VERSION,
        manifest=manifest,
        config=manifest.config,
        repo_id=repo_id,
        checks=validation["checks"],
        levels=[
            {"name": level, "nodes": nodes[level], "targets": len(targets[level]) if level in targets else None}
            for level in manifest.hierarchy.levels
        ],
        steps=[f"`{step}` {v['version'] if isinstance(v, dict) else v}" for step, v in manifest.steps.items()],
        sources=[f"`{source.name}`" for source in manifest.sources],
        configs=[f"`{config}`" for config in manifest.counts],
        splits=[
            {"config": config, "split": split, **to_json(counts), "tasks": [counts.by_task.get(t, 0) for t in TASKS]}
            for config, by_split in manifest.counts.items()
            for split, counts in by_split.items()
        ],
        level_configs=[config for config in manifest.counts if config in targets],
        restricted=[s for s in manifest.sources if not s.licence.public_derivatives],
        rendered_images=set(manifest.images.by_origin) <= {"rendered"},
        provenance=next((s.provenance for s in manifest.sources if s.provenance), None),
        skipped=sum(s.count for s in manifest.skipped),
    )


def model_card(record: dict[str, Any], manifest: Manifest) -> str:
    """A tiny-track reference model's card (README.md), from ``medforget_training.json`` and the
    manifest of the dataset it was trained on."""
    from huggingface_hub import ModelCardData

    licence = hub_licence([source.licence for source in manifest.sources])
    front = ModelCardData(
        **licence,
        library_name="transformers",
        pipeline_tag="image-text-to-text",
        language=["en"],
        tags=["medforget", "machine-unlearning", "tiny-track", record["config"]["spec"]["family"]],
    ).to_yaml()
    return _render(
        "model.md.j2",
        front_matter=front,
        card_version=CARD_VERSION,
        record=record,
        manifest=manifest,
        spec=record["config"]["spec"],
        without=record["without"],
    )


def _render(template: str, **context: Any) -> str:
    import jinja2

    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    environment.filters["thousands"] = lambda value: f"{value:,}" if isinstance(value, int) else value
    source = resources.files("medforget.build").joinpath("cards", template).read_text(encoding="utf-8")
    return environment.from_string(source).render(**context)
