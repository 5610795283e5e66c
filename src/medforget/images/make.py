"""The images step: one image per study, rendered or read from real files, plus utility images.

A rendered study image draws its anatomy from the patient (``anatomy_key``) and its
positioning, exposure and finding placement from the study, so a patient's studies look
alike and every study stays distinguishable. Real images (e.g. Open-i PNGs) are converted to
8-bit grayscale and fitted into the same square size.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from medforget.config import BuildConfig
from medforget.errors import SourceError
from medforget.hierarchy import Image, ImageSource, StudyImagePlan, stable_digest, stable_int
from medforget.images.render import FINDINGS, encode_png, render_radiograph, sample_anatomy
from medforget.workers import pmap

IMAGES_VERSION = "1.1.0"
PHASH_SIZE = 16


def image_id(owner_id: str, view: str = "frontal") -> str:
    return f"img-{stable_digest(owner_id, view)}"


def perceptual_hash(picture: PILImage.Image) -> str:
    """256-bit DCT perceptual hash (imagehash.phash, hash_size 16) as 64 hex digits.

    Re-encoded, resized and brightness-shifted copies of a render stay within 14 bits of the
    original; distinct studies, even of one patient, lie 16 or more bits apart.
    """
    import imagehash

    return str(imagehash.phash(picture, hash_size=PHASH_SIZE))


def _record(owner_id: str, picture: PILImage.Image, origin: str) -> Image:
    png = encode_png(picture)
    return Image(
        id=image_id(owner_id),
        owner_id=owner_id,
        png=png,
        sha256=hashlib.sha256(png).hexdigest(),
        phash=perceptual_hash(picture),
        width=picture.width,
        height=picture.height,
        origin=origin,
    )


def render(owner_id: str, anatomy_key: str, findings: Sequence[str], config: BuildConfig) -> Image:
    anatomy = sample_anatomy(stable_int(str(config.seed), "anatomy", anatomy_key))
    picture = render_radiograph(anatomy, findings, stable_int(str(config.seed), "study", owner_id), config.image_size)
    return _record(owner_id, picture, "rendered")


#: the most pixels a real image may have: a chest radiograph is 2-9 megapixels, a mammogram up
#: to about 30; decoding more would take gigabytes (Pillow's own bomb limit is 179 megapixels)
MAX_REAL_PIXELS = 64_000_000


def load_real(owner_id: str, path: Path | ImageSource, size: int, origin: str) -> Image:
    """A real image as 8-bit grayscale, fitted into a black ``size`` square, aspect kept.
    ``path`` is an image file, or an :class:`ImageSource` that makes the picture itself (tested
    as "not a path": ``Path`` has an ``open`` method too)."""
    if not isinstance(path, str | os.PathLike):
        return _fitted(owner_id, path.open().convert("L"), size, origin)
    try:
        with PILImage.open(path) as opened:  # reads the header only: the size is known before any pixel
            if opened.width * opened.height > MAX_REAL_PIXELS:
                raise SourceError(
                    f"image {path} is {opened.width} x {opened.height} pixels, over the {MAX_REAL_PIXELS:,} "
                    "a radiograph has (a decompression bomb, or not a radiograph); replace or remove it"
                )
            picture = opened.convert("L")
    except (OSError, UnidentifiedImageError, PILImage.DecompressionBombError) as err:
        raise SourceError(f"cannot read image {path} ({err}); replace or remove the file") from err
    return _fitted(owner_id, picture, size, origin)


def _fitted(owner_id: str, picture: PILImage.Image, size: int, origin: str) -> Image:
    picture.thumbnail((size, size), PILImage.Resampling.LANCZOS)
    canvas = PILImage.new("L", (size, size))
    canvas.paste(picture, ((size - picture.width) // 2, (size - picture.height) // 2))
    return _record(owner_id, canvas, origin)


def make_image(plan: StudyImagePlan, config: BuildConfig, source: str) -> Image:
    """The image of one plan: its real pixels (``source`` names their origin), else rendered."""
    if plan.real_image is not None:
        return load_real(plan.study_id, plan.real_image, config.image_size, source)
    return render(plan.study_id, plan.anatomy_key, plan.findings, config)


def make_images(plans: Sequence[StudyImagePlan], config: BuildConfig, source: str, num_proc: int = 1) -> list[Image]:
    """Every plan's image, in order, over ``num_proc`` processes (the same bytes for any number);
    a plan's image made by its source is kept."""
    todo = [plan for plan in plans if plan.image is None]
    made = iter(pmap(partial(make_image, config=config, source=source), todo, num_proc, desc="images", unit="img"))
    return [plan.image if plan.image is not None else next(made) for plan in plans]


def utility_profiles(config: BuildConfig, spare: Sequence[tuple[str, ...]]) -> list[tuple[str, tuple[str, ...]]]:
    """(owner id, findings) of the utility images: findings of unused reports when there are
    enough, else drawn at random; each on a fresh anatomy outside the hierarchy."""
    rng = random.Random(stable_int(str(config.seed), "utility"))
    pool = [f for f in spare] if len(spare) >= config.n_utility_images else []
    profiles = []
    for k in range(config.n_utility_images):
        findings = pool[rng.randrange(len(pool))] if pool else tuple(sorted(rng.sample(FINDINGS, rng.randint(0, 2))))
        profiles.append((f"utl-{stable_digest(str(config.seed), 'utility', str(k))}", findings))
    return profiles


def decode(image: Image) -> PILImage.Image:
    return PILImage.open(io.BytesIO(image.png))
