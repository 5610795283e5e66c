from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medforget.build.pipeline import prepare
from medforget.config import BuildConfig
from medforget.errors import SourceError
from medforget.images.make import decode, load_real, utility_profiles


def test_real_images_replace_rendering_end_to_end(tmp_path: Path, small_config: BuildConfig):
    folder = tmp_path / "NLMCXR_png"
    folder.mkdir()
    for n in range(1, 61):
        Image.new("L", (400, 200), color=n * 4).save(folder / f"CXR{n}_IM-0001-1001.png")
    prepared = prepare(small_config.with_options(images_dir=folder))
    studies = {n.id for n in prepared.hierarchy.at_level("study")}
    real = [i for i in prepared.images if i.owner_id in studies]
    assert real and all(i.origin == "iu-xray" and (i.width, i.height) == (256, 256) for i in real)
    pixels = np.asarray(decode(real[0]))
    assert pixels[0].max() == 0 and pixels[128].max() > 0  # letterboxed: aspect kept, black bars
    assert all(i.origin == "rendered" for i in prepared.images if i.owner_id not in studies)  # utility


def test_unreadable_real_image_is_a_typed_error(tmp_path: Path):
    bad = tmp_path / "CXR1_IM-0001-1001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(SourceError, match="CXR1_IM-0001-1001.png"):
        load_real("stu-1", bad, 256, "iu-xray")


def test_utility_profiles_use_unused_reports_or_random_findings(small_config: BuildConfig):
    spare = [("cardiomegaly",), ()] * 5
    profiles = utility_profiles(small_config, spare)
    assert len(profiles) == small_config.n_utility_images
    assert {f for _, f in profiles} <= set(spare)
    random_ones = utility_profiles(small_config, [])
    assert len({owner for owner, _ in random_ones}) == len(random_ones)


def forged_png(path: Path, width: int, height: int) -> Path:
    """A 1 x 1 PNG whose header claims ``width`` x ``height`` (its IHDR rewritten, CRC fixed)."""
    import struct
    import zlib

    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)  # IHDR's data follows the signature, length and type
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("side", [20_000, 10_000])  # 400 MP: Pillow's bomb error; 100 MP: only its warning
def test_a_huge_image_is_refused_before_its_pixels_are_decoded(side: int, tmp_path: Path):
    with pytest.raises(SourceError, match=r"huge\.png.*(over the 64,000,000|decompression bomb)"):
        load_real("study-1", forged_png(tmp_path / "huge.png", side, side), 64, "openi")
