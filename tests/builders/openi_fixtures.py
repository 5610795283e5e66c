"""A tiny Open-i download made in code: ``ecgen-radiology/<n>.xml`` reports and
``NLMCXR_png/CXR<n>_IM-....png`` images. The report text is made up here (the real IU X-ray
text is CC BY-NC-ND and never enters the repository)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.builders.mimic_fixtures import radiograph

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{n}"/>
  <MedlineCitation Owner="Synthetic" Status="Fixture">
    <Article PubModel="Electronic">
      <Abstract>
        <AbstractText Label="COMPARISON">XXXX.</AbstractText>
        <AbstractText Label="INDICATION">Made-up {sex} patient with invented symptom {n}.</AbstractText>
        <AbstractText Label="FINDINGS">Lungs are clear. Fabricated shadow {n} sits near the {side} hilum.</AbstractText>
        <AbstractText Label="IMPRESSION">Fictional impression number {n} for testing.</AbstractText>
      </Abstract>
    </Article>
  </MedlineCitation>
  <MeSH><major>{mesh}</major></MeSH>
  <parentImage id="CXR{n}_IM-{n:04d}-1001"><figureId>F1</figureId></parentImage>
  <parentImage id="CXR{n}_IM-{n:04d}-2001"><figureId>F2</figureId></parentImage>
</eCitation>
"""
NO_SECTIONS = """<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR{n}"/><MedlineCitation><Article><Abstract>
  <AbstractText Label="FINDINGS">XXXX XXXX.</AbstractText>
</Abstract></Article></MedlineCitation>
<parentImage id="CXR{n}_IM-{n:04d}-1001"/></eCitation>
"""


@dataclass(frozen=True)
class OpenITree:
    root: Path

    def report(self, n: int) -> Path:
        return self.root / "ecgen-radiology" / f"{n}.xml"

    def image(self, n: int, view: int = 1) -> Path:
        return self.root / "NLMCXR_png" / f"CXR{n}_IM-{n:04d}-{view}001.png"


def make_openi(base: Path, n_reports: int = 48) -> OpenITree:
    """Reports 1..n, each with a frontal PNG (the lateral one, named in the XML too, is absent)."""
    tree = OpenITree(base / "openi")
    (tree.root / "ecgen-radiology").mkdir(parents=True)
    (tree.root / "NLMCXR_png").mkdir()
    for n in range(1, n_reports + 1):
        mesh = "Cardiomegaly/mild" if n % 3 == 0 else "normal"
        tree.report(n).write_text(
            REPORT.format(n=n, sex="female" if n % 2 else "male", mesh=mesh, side="left" if n % 4 else "right"),
            encoding="utf-8",
        )
        radiograph(1000 + n).save(tree.image(n), "PNG")
    return tree
