"""Read non-DNG raw formats through rawpy (LibRaw) into the same (data, RawMetadata) pair as DNGs.

LibRaw supplies the mosaic, the CFA pattern, black/white levels, the as-shot white balance and one
XYZ->camera matrix (Adobe's D65 "ColorMatrix2"), so such files go through the same colour model as a
one-matrix DNG with calibration illuminant D65.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import CorruptFile, RotpunktError, UnsupportedFormat
from ..types import ColorInfo, Exif, RawMetadata


def read_libraw(path: str | os.PathLike) -> tuple[np.ndarray, RawMetadata]:
    """Decode any LibRaw-supported raw file. Raises typed errors naming ``path``."""
    import rawpy  # imported lazily: it is only needed for non-DNG files

    path = os.fspath(path)
    try:
        with rawpy.imread(path) as raw:
            if raw.raw_type != rawpy.RawType.Flat or raw.raw_pattern is None:
                raise UnsupportedFormat("only Bayer-type mosaics are supported through LibRaw", path)
            data = np.array(raw.raw_image_visible, copy=True)
            pattern = np.asarray(raw.raw_pattern)
            desc = raw.color_desc.decode("ascii", "replace")
            plane = {"R": 0, "G": 1, "B": 2}
            if pattern.shape != (2, 2) or any(desc[int(i)] not in plane for i in pattern.ravel()):
                raise UnsupportedFormat(f"CFA colours {desc!r} are not an RGB Bayer pattern", path)
            cfa = np.array([[plane[desc[int(i)]] for i in row] for row in pattern], dtype=np.int64)
            black_pc = np.asarray(raw.black_level_per_channel, dtype=np.float64)
            black = np.array([[[black_pc[int(i)]] for i in row] for row in pattern], dtype=np.float64)
            white = float(raw.white_level)
            mult = np.asarray(raw.camera_whitebalance, dtype=np.float64)[:3]
            xyz_to_cam = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
            rgb_cam = np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]
            pre_mul = np.asarray(raw.daylight_whitebalance, dtype=np.float64)[:3]
            size = raw.sizes
            flip = size.flip
    except RotpunktError:
        raise
    except FileNotFoundError as exc:
        raise RotpunktError("file not found", path) from exc
    except Exception as exc:  # rawpy's LibRawError family and friends
        name = type(exc).__name__
        if "FileUnsupported" in name:
            raise UnsupportedFormat("not a raw format LibRaw can read", path) from exc
        raise CorruptFile(f"LibRaw could not decode the file: {name}: {exc}", path) from exc
    if not np.any(xyz_to_cam) and np.any(rgb_cam) and np.all(pre_mul > 0):
        # LibRaw keeps only the derived camera -> sRGB matrix for some files (DNGs among them). dcraw's
        # construction is rgb_cam = inverse(rows_normalised(cam_xyz @ xyz_rgb)), the row sums being
        # 1 / pre_mul; undo it to recover the XYZ -> camera matrix.
        from ..colour_math import rgb_to_xyz_matrix

        try:
            xyz_to_cam = np.diag(1.0 / pre_mul) @ np.linalg.inv(rgb_cam) @ np.linalg.inv(rgb_to_xyz_matrix("srgb"))
        except np.linalg.LinAlgError:
            xyz_to_cam = np.zeros((3, 3))
    if not np.any(xyz_to_cam) or not np.all(np.isfinite(xyz_to_cam)):
        raise UnsupportedFormat("LibRaw has no colour matrix for this camera", path)
    if mult[1] <= 0 or np.any(mult <= 0):
        neutral = None
    else:
        neutral = mult[1] / mult  # camera neutral = inverse of the WB multipliers, green = 1
        neutral = neutral / neutral.max()
    orientation = {0: 1, 3: 3, 5: 8, 6: 6}.get(int(flip), 1)
    color = ColorInfo(color_matrix=(xyz_to_cam, None), calibration_illuminant=(21, 0), as_shot_neutral=neutral)
    meta = RawMetadata(
        path=path, width=data.shape[1], height=data.shape[0], photometric="cfa", samples_per_pixel=1,
        cfa_pattern=cfa, compression=0, bits_per_sample=16, black_level=black,
        white_level=np.array([white]), orientation=orientation, color=color, exif=Exif(), source="libraw",
    )
    return data, meta
