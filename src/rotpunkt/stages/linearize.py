"""Linearisation (DNG 1.7, "Linearization" and chapter 5 "Mapping Raw Values to Linear Reference Values").

Input: the stored samples of a raw image (any integer or float dtype), uncropped, plus its metadata.
Output: float32, cropped to the ActiveArea, camera-native linear, 0.0 = black and 1.0 = the white level.
Values are not clipped: noise below black stays negative (averaging stays unbiased) and values above
white stay above 1 until the white-balance stage decides how to treat highlights.

Order per the specification: LinearizationTable lookup -> subtract BlackLevel (repeating pattern,
anchored at the active area's top-left) plus BlackLevelDeltaH[column] plus BlackLevelDeltaV[row] ->
divide by (WhiteLevel - black).

Halo: 0 pixels (pointwise). Processed in row strips so no float64 whole-image temporary is made.
"""

from __future__ import annotations

import numpy as np

from ..errors import CorruptFile
from ..types import RawMetadata

STRIP_ROWS = 256
HALO = 0


def _crop_active(data: np.ndarray, meta: RawMetadata) -> np.ndarray:
    if meta.active_area is None:
        return data
    t, l, b, r = meta.active_area
    return data[t:b, l:r]


def linearize(data: np.ndarray, meta: RawMetadata) -> np.ndarray:
    """Map stored raw samples to normalised linear camera values.

    Parameters
    ----------
    data : ndarray (H, W) or (H, W, C)
        Stored samples as decoded, uncropped. Not modified.
    meta : RawMetadata
        Black/white levels, linearisation table, active area.

    Returns
    -------
    ndarray float32, (h, w) or (h, w, C) of the active area; 1.0 = white level, 0.0 = black.
    """
    src = _crop_active(data, meta)
    h, w = src.shape[:2]
    nsamp = 1 if src.ndim == 2 else src.shape[2]
    black = np.asarray(meta.black_level, dtype=np.float64)
    if black.ndim != 3 or black.shape[2] not in (1, nsamp):
        raise CorruptFile(f"black level shape {black.shape} does not fit {nsamp} samples", meta.path)
    rr, rc = black.shape[:2]
    white = np.resize(np.asarray(meta.white_level, dtype=np.float64), nsamp)
    table = meta.linearization_table
    if table is not None and src.dtype.kind == "f":
        table = None  # a table only applies to integer samples
    lut = None if table is None else np.asarray(table, dtype=np.float32)

    # black pattern tiled to one strip's width: (rr, w, nsamp)
    cols = np.arange(w) % rc
    black_row = black[:, cols, :]  # (rr, w, nsamp)
    if meta.black_level_delta_h is not None:
        black_row = black_row + np.asarray(meta.black_level_delta_h, np.float64)[None, :, None]
    dv = None if meta.black_level_delta_v is None else np.asarray(meta.black_level_delta_v, np.float64)
    span = white[None, None, :] - black_row  # (rr, w, nsamp) before the per-row delta
    if np.any(span <= 0) and dv is None:
        raise CorruptFile("WhiteLevel is not above BlackLevel", meta.path)

    out = np.empty((h, w, nsamp), dtype=np.float32)
    for y0 in range(0, h, STRIP_ROWS):
        y1 = min(h, y0 + STRIP_ROWS)
        strip = src[y0:y1]
        if lut is not None:
            idx = np.clip(strip, 0, lut.size - 1).astype(np.intp, copy=False)
            vals = lut[idx]
        else:
            vals = strip.astype(np.float32)
        if vals.ndim == 2:
            vals = vals[..., None]
        rows = np.arange(y0, y1) % rr
        b = black_row[rows].astype(np.float32)  # (n, w, nsamp)
        s = span[rows]
        if dv is not None:
            b = b + dv[y0:y1, None, None].astype(np.float32)
            s = s - dv[y0:y1, None, None]
            if np.any(s <= 0):
                raise CorruptFile("WhiteLevel is not above BlackLevel plus BlackLevelDeltaV", meta.path)
        np.subtract(vals, b, out=out[y0:y1])
        out[y0:y1] *= (1.0 / s).astype(np.float32)
    return out[..., 0] if src.ndim == 2 else out
