"""Open-i / IU X-ray full download (``--source openi --root DIR``): real reports, real images.

Reads the layout NLM's Open-i distributes::

    DIR/ecgen-radiology/<n>.xml       one report per file (the XML of NLMCXR_reports.tgz)
    DIR/NLMCXR_png/CXR<n>_IM-....png  the images the reports name as parentImage

Everything else is the default source's (:mod:`medforget.builders.iu_xray`): the report parser,
and the grouping into fictitious patients, institutions and networks (Open-i links no report to a
patient). A report keeps the first of its images that reads; a report with no readable image, or
without a usable section sentence, is a counted skip. ``images_dir`` overrides ``DIR/NLMCXR_png``.
The manifest's ``sources[].archive_sha256`` hashes the report files and the image names and sizes
(hashing every PNG's bytes would read the whole collection once more).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from medforget.builders.base import BUILDERS, Patients, SkipLog, SourceOptions
from medforget.builders.iu_xray import IUXrayBuilder, Report, parse_report
from medforget.config import BuildConfig
from medforget.errors import SourceError
from medforget.images.readable import image_problem

REPORTS_DIR = "ecgen-radiology"
IMAGES_DIR = "NLMCXR_png"


@dataclass(frozen=True)
class OpenIOptions(SourceOptions):
    #: the download's folder (``--root``), holding ecgen-radiology/ and NLMCXR_png/
    root: Path | None = None
    #: the PNGs, when not in ``root/NLMCXR_png``
    images_dir: Path | None = None


@BUILDERS.register
class OpenIBuilder(IUXrayBuilder):
    name = "openi"
    version = "1.0.0"
    description = "Open-i IU X-ray collection: real report text and real PNG images, fictitious people"
    Options = OpenIOptions  # type: ignore[assignment]  # not the default source's options
    options: OpenIOptions  # type: ignore[assignment]

    def __init__(self, config: BuildConfig, skips: SkipLog, num_proc: int = 1):
        super().__init__(config, skips, num_proc)
        self._images: dict[str, Path | None] = {}

    def read(self) -> Patients[Sequence[Report]]:
        return self._patients([r for r in self._unique(self._read_reports()) if self._usable(r)])

    # locations ---------------------------------------------------------------------------

    def _folder(self, name: str, given: Path | None = None) -> Path:
        root = self.options.root
        if root is None:
            raise SourceError(
                "the openi source needs its folder: --root DIR (holding ecgen-radiology/ and NLMCXR_png/)"
            )
        folder = given or root / name
        if not folder.is_dir():
            raise SourceError(f"{folder} is not a folder: an Open-i root holds {REPORTS_DIR}/ and {IMAGES_DIR}/")
        return folder

    def reports_dir(self) -> Path:
        return self._folder(REPORTS_DIR)

    def images_dir(self) -> Path:
        return self._folder(IMAGES_DIR, self.options.images_dir)

    def fingerprint(self) -> str:
        """sha256 over every report file (name and bytes) and every PNG's name and size."""
        digest = hashlib.sha256()
        for path in sorted(self.reports_dir().glob("*.xml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        for path in sorted(self.images_dir().glob("*.png")):
            digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        return digest.hexdigest()

    # reading -----------------------------------------------------------------------------

    def _read_reports(self) -> Iterator[Report]:
        self.images_dir()  # a missing image folder is broken structure: refuse before reading
        for path in sorted(self.reports_dir().glob("*.xml")):
            item = f"{REPORTS_DIR}/{path.name}"
            try:
                yield parse_report(path.read_bytes(), path.stem)
            except ET.ParseError as err:
                self.skips.skip(item, f"unparseable report XML ({err.__class__.__name__})")
            except OSError as err:
                self.skips.skip(item, f"unreadable report file ({err.__class__.__name__})")

    def _unique(self, reports: Iterable[Report]) -> Iterator[Report]:
        seen: set[str] = set()
        for report in reports:
            if report.report_id in seen:
                self.skips.skip(report.report_id, "duplicate report id")
                continue
            seen.add(report.report_id)
            yield report

    def _usable(self, report: Report) -> bool:
        if not report.sections:
            self.skips.skip(report.report_id, "report has no usable INDICATION, FINDINGS or IMPRESSION sentence")
            return False
        if self._real_image(report) is None:
            self.skips.skip(report.report_id, f"no readable PNG of the report in {IMAGES_DIR}")
            return False
        return True

    def _real_image(self, report: Report) -> Path | None:
        """The report's first readable PNG (checked once, at ingest); each unreadable one is counted."""
        if report.report_id not in self._images:
            self._images[report.report_id] = self._first_readable(report)
        return self._images[report.report_id]

    def _first_readable(self, report: Report) -> Path | None:
        folder = self.images_dir()
        for image_id in report.image_ids:
            path = folder / f"{image_id}.png"
            problem = image_problem(path)
            if problem is None:
                return path
            if problem != "image file missing":
                self.skips.skip(f"{IMAGES_DIR}/{path.name}", problem)
        return None
