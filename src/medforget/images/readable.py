"""Whether an image file can be used, checked at ingest (sources with real images)."""

from __future__ import annotations

import zlib
from pathlib import Path


def image_problem(path: Path) -> str | None:
    """Why an image file cannot be used, or None. Cheap enough for ingest: ``verify`` checks the
    structure (and a PNG's chunk CRCs); JPEG's verify reads nothing, so a JPEG is also decoded at
    1/8 scale (``draft``), which reads all its data and so catches truncation."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if not path.is_file():
        return "image file missing"
    kind = path.suffix.lstrip(".").upper() or "image"
    try:
        with PILImage.open(path) as picture:
            picture.verify()
        with PILImage.open(path) as picture:
            if picture.format == "JPEG":
                picture.draft("L", (picture.width // 8 or 1, picture.height // 8 or 1))
                picture.load()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, zlib.error):
        return f"corrupt or truncated {kind}"
    return None
