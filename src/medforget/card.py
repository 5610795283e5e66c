"""The dataset card written with every build, generated from the manifest (never by hand)."""

from __future__ import annotations

from typing import Any

_BODY = """\
# MedForget ({preset} preset)

A benchmark for **hierarchy-aware multimodal machine unlearning** in medical AI. Facts are
nested institution > patient > study > report section; each level config holds the splits
needed to measure whether an unlearning method removes a target *and everything under it*
without damaging its *siblings*.

## What is real and what is made

- **Real:** the radiology report text (INDICATION, FINDINGS, IMPRESSION sentences) and each
  study's findings (from the reports' MeSH terms) come from the IU X-ray (Open-i) collection,
  read at build time from the copy shipped in the `torchxrayvision` wheel.
- **Made:** every person, institution, date, identifier and physician is **fictitious**
  (Faker, seeded). Reports were grouped by a seed into fictitious patients with
  {min_studies}-{max_studies} studies each and into fictitious institutions.
- **Images:** {image_note}
- No real patient identifier is present: the source reports are de-identified ("XXXX"
  redactions), and sentences containing a redaction are not used.

## Licence

{licence_lines}
This dataset is derived from the IU X-ray reports (CC BY-NC-ND 4.0): non-commercial use only,
and publishing derived data needs the licensor's terms to be respected.

## Configs and splits

Built with seed {seed}; {total} QA rows over {images} images.

| config | split | rows |
|---|---|---|
{count_rows}

- `forget`: facts of the targets and everything under them; `retain_sibling`: facts of the
  targets' siblings; `retain_other`: every other trained fact; `shared_ancestor`: facts of the
  targets' ancestors asked with images outside the targets; `holdout`: patients never trained
  on; `*_rephrased`: the same facts in new wordings (never trained on).
- `train`: everything the model under test is fine-tuned on. `utility`: finding questions on
  images outside the hierarchy.

## Load

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder", "patient")  # or "medforget" from its parent folder
```

Shard hashes, step versions, targets and skipped inputs are in `manifest.json`.
"""


def render_card(front_matter: str, manifest: dict[str, Any]) -> str:
    config = manifest["config"]
    source = manifest["sources"][0]
    rows = "\n".join(
        f"| {name} | {split} | {c['rows']} |"
        for name, splits in manifest["counts"].items() for split, c in splits.items()
    )
    image_note = (
        "rendered radiograph-like pictures, not real X-rays: anatomy seeded per patient, the "
        "study's findings drawn in." if config["images_dir"] is None
        else "real Open-i chest X-ray images supplied by the user."
    )
    licence = source["licence"]
    body = _BODY.format(
        preset=manifest["preset"], seed=manifest["seed"], total=manifest["total_qa_rows"],
        images=manifest["images"]["count"], count_rows=rows, image_note=image_note,
        min_studies=config["min_studies"], max_studies=config["max_studies"],
        licence_lines=f"- source `{source['name']}`: {licence['spdx']} ({licence['url']}); {licence['redistribution']}\n",
    )
    return f"---\n{front_matter.strip()}\n---\n\n{body}"
