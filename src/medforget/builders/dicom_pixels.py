"""DICOM pixels as the 8-bit picture a viewer shows: the middle frame of a multi-frame instance,
the modality LUT (rescale), then the VOI LUT or window the file names, mapped onto 0-255 by the
transform's own output range; MONOCHROME1 inverted; palette and colour images scaled to 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medforget.errors import SourceError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

MAX_SIDE = 1024  # pixels kept per side before windowing (the image step fits them into image_size)
HEADER_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, NotImplementedError)
PIXEL_ERRORS = (*HEADER_ERRORS, RuntimeError, OSError)


@dataclass(frozen=True)
class DicomPixels:
    """One instance's pixels as an 8-bit picture (an :class:`ImageSource`)."""

    path: Path

    def open(self) -> PILImage:
        from pydicom.errors import InvalidDicomError

        try:
            return dicom_picture(self.path)
        except (*PIXEL_ERRORS, InvalidDicomError) as err:
            raise SourceError(
                f"cannot decode the pixel data of {self.path} ({err.__class__.__name__}: {err}); "
                "remove the file or install a decoder plugin (pylibjpeg, gdcm)"
            ) from err


def dicom_picture(path: Path) -> PILImage:
    """The displayed picture of an instance: the middle frame, windowed, as 8-bit L or RGB."""
    from pydicom import Dataset, dcmread
    from pydicom.pixels import pixel_array

    frames = int(dcmread(path, stop_before_pixels=True).get("NumberOfFrames") or 1)
    ds = Dataset()
    array = pixel_array(path, ds_out=ds, index=frames // 2 if frames > 1 else None)
    step = -(-max(array.shape[:2]) // MAX_SIDE)  # every image is shown at a few hundred pixels:
    return to_picture(array[::step, ::step], ds)  # windowing a 4k radiograph whole is wasted work


def to_picture(array: Any, ds: Any) -> PILImage:
    """8-bit picture of one frame: colour scaled to 8 bits, grey windowed and MONOCHROME1 inverted."""
    import numpy as np
    from PIL import Image as PILImageModule
    from pydicom.pixels import apply_color_lut

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "PALETTE COLOR":
        array = apply_color_lut(array, ds)
    if array.ndim == 3:
        top = float(np.iinfo(array.dtype).max) if array.dtype.kind in "ui" else float(array.max() or 1)
        rgb = np.clip(array.astype(np.float64) / top * 255.0, 0, 255).round().astype(np.uint8)
        return PILImageModule.fromarray(rgb[..., :3], "RGB")
    grey = windowed(array, ds)
    if photometric == "MONOCHROME1":
        grey = 255 - grey
    return PILImageModule.fromarray(grey, "L")


def windowed(array: Any, ds: Any) -> Any:
    """Grey values through the modality LUT (rescale) and the VOI transform the file names,
    mapped onto 0-255 by the transform's output range; min-max when the file names none."""
    import numpy as np
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(array, ds)
    low, high = float(values.min()), float(values.max())
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(np.rint(values).astype(np.int64), ds)
        low, high = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        try:
            probe = apply_voi_lut(np.array([-1e15, 1e15]), ds)
            values = apply_voi_lut(values.astype(np.float64), ds)
            low, high = float(probe[0]), float(probe[1])
        except ValueError:  # a window width below 1: the file's window is unusable
            pass
    span = high - low
    scaled = (values.astype(np.float64) - low) / span * 255.0 if span > 0 else np.zeros(values.shape)
    return np.clip(scaled, 0, 255).round().astype(np.uint8)
