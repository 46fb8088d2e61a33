"""DNG opcode lists (DNG 1.7 specification, chapter 6 "Opcode List Processing").

A DNG may carry three opcode lists (tags OpcodeList1/2/3, always big-endian): list 1 is applied to the
raw image as stored, list 2 to the linearised mosaic (or LinearRaw data), list 3 after demosaicing.
This module parses them into typed, frozen records, writes them back byte for byte, and applies them.

Colour space: camera-native, scene-linear (whatever the image is when the list is due: stored or
linearised CFA samples, or camera RGB after demosaic). Nothing here changes the colour space.

Shapes: ``(H, W)`` for a mosaic (one plane) or ``(H, W, C)`` channels last. Values are float; 1.0 is
white. All functions are pure: inputs are never modified, a new float32 array is returned. Values are
not clipped (the DNG SDK pins most results to [0, 1] or [-1, 1]; its own comments say readers are
encouraged to keep overrange values, and the pipeline clips at white later).

Units (``stored_scale``): the opcodes that carry values in the DNG's stored sample units
(FixBadPixelsConstant's Constant, the Delta tables of DeltaPerRow/Column, MapPolynomial in stage 1)
are converted with ``stored_scale`` = stored units per 1.0 of the image: 65535 for integer raw data
(OpcodeList1 callers pass stored/65535; lists 2 and 3 follow the DNG SDK, whose stage-2/3 images are
16-bit with white at 65535), 1.0 for floating-point raw data. MapTable's index is the 16-bit value
``round(v * 65535)`` by definition of the opcode.

Geometry conventions follow Adobe's DNG SDK (the reference implementation of the specification):

* Areas (Top, Left, Bottom, Right) are pixel rectangles of the image the list is applied to, bottom
  and right exclusive; an empty rectangle means the whole image. Rows ``Top, Top+RowPitch, ...`` and
  columns ``Left, Left+ColPitch, ...`` inside it are processed, planes ``Plane .. Plane+Planes-1``.
* Relative coordinates (GainMap origin/spacing, optical centres) span the whole image: 0.0 is the top
  (left) edge and 1.0 the bottom (right) edge, and pixel ``i`` sits at ``(i + 0.5) / H``.
* Radial opcodes normalise the radius by the distance from the optical centre to the farthest image
  corner, so ``r`` is in [0, 1].

Halo: the warp needs the whole image (its displacement is unbounded); bad-pixel repair needs a few
pixels around each bad pixel; all other opcodes are pointwise.
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CorruptFile, InvalidParams, RotpunktWarning, UnsupportedFormat, with_path

__all__ = [
    "OPCODE_IDS", "OPCODE_NAMES", "OPCODE_APPLY", "AreaSpec", "Opcode", "WarpRectilinear",
    "FixVignetteRadial", "FixBadPixelsConstant", "FixBadPixelsList", "TrimBounds", "MapTable",
    "MapPolynomial", "GainMap", "DeltaPerRow", "DeltaPerColumn", "ScalePerRow", "ScalePerColumn",
    "parse_opcode_list", "encode_opcode_list", "apply_opcode_list", "describe",
]

#: Opcode ids of the DNG 1.7 specification (table in chapter 6; DNG SDK 1.7 ``dng_opcode_id``).
OPCODE_NAMES: dict[int, str] = {
    1: "WarpRectilinear",
    2: "WarpFisheye",
    3: "FixVignetteRadial",
    4: "FixBadPixelsConstant",
    5: "FixBadPixelsList",
    6: "TrimBounds",
    7: "MapTable",
    8: "MapPolynomial",
    9: "GainMap",
    10: "DeltaPerRow",
    11: "DeltaPerColumn",
    12: "ScalePerRow",
    13: "ScalePerColumn",
    14: "WarpRectilinear2",  # DNG 1.6
}
OPCODE_IDS: dict[str, int] = {v: k for k, v in OPCODE_NAMES.items()}

DNG_1_3 = 0x01030000  # DNGVersion 1.3.0.0, the version that introduced opcodes
MAX_PLANES = 4  # kMaxColorPlanes of the DNG SDK: at most 4 colour planes in a DNG
# Bounds on parameter blocks read from files (hostile input, issue 6). The specification sets none; these
# are far above what cameras write (gain maps of tens of points per axis, bad-pixel lists of thousands)
# and keep a file's few bytes from becoming gigabytes: the GainMap step interpolates a (points_v,
# image columns) table, and every listed bad rectangle is painted over the image.
MAX_GAIN_MAP_POINTS = 1024  # per axis
MAX_GAIN_MAP_VALUES = 1 << 20  # points_v x points_h x map planes
MAX_BAD_PIXELS = 1 << 20  # FixBadPixelsList points
MAX_BAD_RECTS = 4096  # FixBadPixelsList rectangles
STRIP_ROWS = 256  # row strip for the per-pixel geometry opcodes, to bound float64 temporaries

# ----------------------------------------------------------------------------------------------------
# Parameter records
# ----------------------------------------------------------------------------------------------------


def _floats(values: Any, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in np.asarray(values, dtype=np.float64).ravel())
    except (TypeError, ValueError) as exc:
        raise InvalidParams(f"{what} must be numbers") from exc


def _ints(values: Any, what: str) -> tuple[int, ...]:
    arr = np.asarray(values)
    if arr.size and arr.dtype.kind not in "iub":
        raise InvalidParams(f"{what} must be integers")
    return tuple(int(v) for v in arr.ravel())


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class AreaSpec:
    """The area/plane/pitch block shared by MapTable, MapPolynomial, GainMap and the per-row/column opcodes.

    Pixel rectangle ``top, left, bottom, right`` (bottom/right exclusive, empty = whole image); planes
    ``plane .. plane + planes - 1``; every ``row_pitch``-th row and ``col_pitch``-th column from the
    rectangle's top-left is processed (a pitch of 2 on a Bayer mosaic selects one CFA colour).
    """

    top: int = 0
    left: int = 0
    bottom: int = 0
    right: int = 0
    plane: int = 0
    planes: int = 1
    row_pitch: int = 1
    col_pitch: int = 1

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InvalidParams(f"AreaSpec.{f.name} must be an integer; got {v!r}")
            _set(self, f.name, int(v))
        if self.planes < 1:
            raise InvalidParams(f"AreaSpec.planes must be >= 1; got {self.planes}")
        if self.plane < 0:
            raise InvalidParams(f"AreaSpec.plane must be >= 0; got {self.plane}")
        if self.row_pitch < 1 or self.col_pitch < 1:
            raise InvalidParams(f"AreaSpec pitches must be >= 1; got {self.row_pitch}, {self.col_pitch}")
        for name in ("top", "left", "bottom", "right"):
            if not -(2**31) <= getattr(self, name) < 2**31:
                raise InvalidParams(f"AreaSpec.{name} does not fit a signed 32-bit integer")
        for name in ("plane", "planes", "row_pitch", "col_pitch"):
            if getattr(self, name) >= 2**32:
                raise InvalidParams(f"AreaSpec.{name} does not fit an unsigned 32-bit integer")

    @property
    def is_whole_image(self) -> bool:
        """True when the rectangle is empty, which the DNG SDK reads as "the entire image"."""
        return self.top >= self.bottom or self.left >= self.right

    def lines(self, axis: int) -> int:
        """How many rows (axis 0) or columns (axis 1) of the rectangle the pitch selects."""
        if axis == 0:
            n, pitch = self.bottom - self.top, self.row_pitch
        else:
            n, pitch = self.right - self.left, self.col_pitch
        return -(-max(n, 0) // pitch)


@dataclass(frozen=True)
class WarpRectilinear:
    """WarpRectilinear (id 1): radial + tangential distortion and lateral CA for rectilinear lenses.

    ``coefficients`` holds one ``(kr0, kr1, kr2, kr3, kt0, kt1)`` per plane (1 plane = all planes);
    ``cx, cy`` is the optical centre in relative coordinates. For each output pixel at normalised offset
    ``(dx, dy)`` from the centre, ``r^2 = dx^2 + dy^2``, the source is sampled at
    ``centre + m * (d * (kr0 + kr1 r^2 + kr2 r^4 + kr3 r^6) + t)`` with the tangential term
    ``t_x = kt1 (r^2 + 2 dx^2) + 2 kt0 dx dy``, ``t_y = kt0 (r^2 + 2 dy^2) + 2 kt1 dx dy``.
    The identity is kr0 = 1 and every other coefficient 0.
    """

    coefficients: tuple[tuple[float, ...], ...]
    cx: float = 0.5
    cy: float = 0.5

    def __post_init__(self):
        rows = tuple(_floats(c, "WarpRectilinear coefficients") for c in self.coefficients)
        if not 1 <= len(rows) <= MAX_PLANES or any(len(r) != 6 for r in rows):
            raise InvalidParams("WarpRectilinear needs 1 to 4 planes of 6 coefficients (kr0..kr3, kt0, kt1)")
        _set(self, "coefficients", rows)
        _set(self, "cx", float(self.cx))
        _set(self, "cy", float(self.cy))
        if not (0.0 <= self.cx <= 1.0 and 0.0 <= self.cy <= 1.0):
            raise InvalidParams(f"WarpRectilinear centre must be in [0, 1]; got ({self.cx}, {self.cy})")

    @property
    def planes(self) -> int:
        return len(self.coefficients)

    @property
    def is_identity(self) -> bool:
        return all(c == (1.0, 0.0, 0.0, 0.0, 0.0, 0.0) for c in self.coefficients)


@dataclass(frozen=True)
class FixVignetteRadial:
    """FixVignetteRadial (id 3): multiply by ``g = 1 + k0 r^2 + k1 r^4 + k2 r^6 + k3 r^8 + k4 r^10``.

    ``k`` = (k0..k4); ``cx, cy`` is the optical centre in relative coordinates; ``r`` is the distance
    from the centre divided by the distance from the centre to the farthest image corner.
    """

    k: tuple[float, ...]
    cx: float = 0.5
    cy: float = 0.5

    def __post_init__(self):
        k = _floats(self.k, "FixVignetteRadial k")
        if len(k) != 5:
            raise InvalidParams(f"FixVignetteRadial needs 5 coefficients k0..k4; got {len(k)}")
        _set(self, "k", k)
        _set(self, "cx", float(self.cx))
        _set(self, "cy", float(self.cy))
        if not (0.0 <= self.cx <= 1.0 and 0.0 <= self.cy <= 1.0):
            raise InvalidParams(f"FixVignetteRadial centre must be in [0, 1]; got ({self.cx}, {self.cy})")


def _check_phase(phase: int, what: str) -> int:
    if isinstance(phase, bool) or not isinstance(phase, (int, np.integer)) or not 0 <= int(phase) <= 3:
        raise InvalidParams(f"{what}.bayer_phase must be 0, 1, 2 or 3; got {phase!r}")
    return int(phase)


@dataclass(frozen=True)
class FixBadPixelsConstant:
    """FixBadPixelsConstant (id 4): pixels whose stored value equals ``constant`` are bad.

    ``bayer_phase``: 0 = red at the top-left, 1 = green then red, 2 = green then blue, 3 = blue.
    Bad pixels become the mean of their nearest good same-colour neighbours.
    """

    constant: int
    bayer_phase: int = 0

    def __post_init__(self):
        if isinstance(self.constant, bool) or not isinstance(self.constant, (int, np.integer)):
            raise InvalidParams(f"FixBadPixelsConstant.constant must be an integer; got {self.constant!r}")
        if not 0 <= int(self.constant) < 2**32:
            raise InvalidParams("FixBadPixelsConstant.constant must fit an unsigned 32-bit integer")
        _set(self, "constant", int(self.constant))
        _set(self, "bayer_phase", _check_phase(self.bayer_phase, "FixBadPixelsConstant"))


@dataclass(frozen=True)
class FixBadPixelsList:
    """FixBadPixelsList (id 5): bad points ``(row, col)`` and rectangles ``(top, left, bottom, right)``.

    Rectangles are bottom/right exclusive. Repaired like :class:`FixBadPixelsConstant`.
    """

    bayer_phase: int = 0
    points: tuple[tuple[int, int], ...] = ()
    rects: tuple[tuple[int, int, int, int], ...] = ()

    def __post_init__(self):
        _set(self, "bayer_phase", _check_phase(self.bayer_phase, "FixBadPixelsList"))
        pts = tuple(_ints(p, "FixBadPixelsList points") for p in self.points)
        rects = tuple(_ints(r, "FixBadPixelsList rects") for r in self.rects)
        if any(len(p) != 2 for p in pts) or any(len(r) != 4 for r in rects):
            raise InvalidParams("FixBadPixelsList points are (row, col) and rects (top, left, bottom, right)")
        _set(self, "points", pts)
        _set(self, "rects", rects)


@dataclass(frozen=True)
class TrimBounds:
    """TrimBounds (id 6): crop the image to rows ``top:bottom`` and columns ``left:right``."""

    top: int
    left: int
    bottom: int
    right: int

    def __post_init__(self):
        for name in ("top", "left", "bottom", "right"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise InvalidParams(f"TrimBounds.{name} must be an integer; got {v!r}")
            _set(self, name, int(v))
        if self.bottom <= self.top or self.right <= self.left:
            box = (self.top, self.left, self.bottom, self.right)
            raise InvalidParams(f"TrimBounds rectangle is empty: {box}")


@dataclass(frozen=True)
class MapTable:
    """MapTable (id 7): map the area's 16-bit values through ``table``; indices past its end use the last."""

    area: AreaSpec
    table: tuple[int, ...]

    def __post_init__(self):
        t = _ints(self.table, "MapTable.table")
        if not 1 <= len(t) <= 65536 or any(not 0 <= v <= 65535 for v in t):
            raise InvalidParams("MapTable.table must hold 1 to 65536 values in [0, 65535]")
        _set(self, "table", t)


@dataclass(frozen=True)
class MapPolynomial:
    """MapPolynomial (id 8): ``y = c0 + c1 x + ... + cN x^N`` on the area (N <= 8).

    ``x`` is the normalised value (stored units in stage 1). Negative inputs use the SDK's odd extension
    ``y = c0 - (P(|x|) - c0)``.
    """

    area: AreaSpec
    coefficients: tuple[float, ...]

    def __post_init__(self):
        c = _floats(self.coefficients, "MapPolynomial.coefficients")
        if not 1 <= len(c) <= 9:
            raise InvalidParams(f"MapPolynomial needs 1 to 9 coefficients (degree <= 8); got {len(c)}")
        _set(self, "coefficients", c)

    @property
    def degree(self) -> int:
        return len(self.coefficients) - 1


@dataclass(frozen=True)
class GainMap:
    """GainMap (id 9): multiply the area by a bilinearly interpolated grid of gains.

    The grid has ``points_v x points_h`` nodes; node ``(i, j)`` sits at relative image position
    ``(origin_v + i * spacing_v, origin_h + j * spacing_h)``; positions outside the grid use the
    nearest edge value. ``gains`` is stored row by row, column by column, map plane fastest;
    image plane ``p`` uses map plane ``min(p, map_planes - 1)`` (as the DNG SDK does).
    """

    area: AreaSpec
    points_v: int
    points_h: int
    spacing_v: float
    spacing_h: float
    origin_v: float
    origin_h: float
    map_planes: int
    gains: tuple[float, ...]

    def __post_init__(self):
        for name in ("points_v", "points_h", "map_planes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 1:
                raise InvalidParams(f"GainMap.{name} must be a positive integer; got {v!r}")
            _set(self, name, int(v))
        for name in ("spacing_v", "spacing_h", "origin_v", "origin_h"):
            _set(self, name, float(getattr(self, name)))
        if (self.points_v > 1 and not self.spacing_v > 0) or (self.points_h > 1 and not self.spacing_h > 0):
            raise InvalidParams("GainMap spacing must be > 0")
        g = _floats(self.gains, "GainMap.gains")
        if len(g) != self.points_v * self.points_h * self.map_planes:
            raise InvalidParams(
                f"GainMap needs {self.points_v}x{self.points_h}x{self.map_planes} gains; got {len(g)}"
            )
        _set(self, "gains", g)

    def gain_array(self) -> np.ndarray:
        """The gains as float64 ``(points_v, points_h, map_planes)``."""
        return np.asarray(self.gains, dtype=np.float64).reshape(self.points_v, self.points_h, self.map_planes)


@dataclass(frozen=True)
class _PerLine:
    area: AreaSpec
    values: tuple[float, ...]

    _axis = 0  # 0: one value per selected row, 1: per selected column

    def __post_init__(self):
        v = _floats(self.values, f"{type(self).__name__}.values")
        need = self.area.lines(self._axis)
        if len(v) != need:
            what = "rows" if self._axis == 0 else "columns"
            name = type(self).__name__
            raise InvalidParams(f"{name} needs {need} values (one per selected {what}); got {len(v)}")
        _set(self, "values", v)


@dataclass(frozen=True)
class DeltaPerRow(_PerLine):
    """DeltaPerRow (id 10): add ``values[k]`` (stored units) to the k-th selected row of the area."""


@dataclass(frozen=True)
class DeltaPerColumn(_PerLine):
    """DeltaPerColumn (id 11): add ``values[k]`` (stored units) to the k-th selected column of the area."""

    _axis = 1


@dataclass(frozen=True)
class ScalePerRow(_PerLine):
    """ScalePerRow (id 12): multiply the k-th selected row of the area by ``values[k]``."""


@dataclass(frozen=True)
class ScalePerColumn(_PerLine):
    """ScalePerColumn (id 13): multiply the k-th selected column of the area by ``values[k]``."""

    _axis = 1


_PARAM_TYPES: dict[int, type] = {
    1: WarpRectilinear, 3: FixVignetteRadial, 4: FixBadPixelsConstant, 5: FixBadPixelsList, 6: TrimBounds,
    7: MapTable, 8: MapPolynomial, 9: GainMap, 10: DeltaPerRow, 11: DeltaPerColumn, 12: ScalePerRow,
    13: ScalePerColumn,
}
_TYPE_IDS = {t: i for i, t in _PARAM_TYPES.items()}


@dataclass(frozen=True)
class Opcode:
    """One opcode of a list: id, name, the DNG version it needs, flags, and typed parameters.

    ``params`` is the parameter record of the opcode's kind, or the raw parameter bytes for an id this
    module does not decode (WarpFisheye, WarpRectilinear2, future opcodes).
    """

    id: int
    dng_version: int
    flags: int
    params: Any
    name: str = field(init=False)

    def __post_init__(self):
        for f in ("id", "dng_version", "flags"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < 2**32:
                raise InvalidParams(f"Opcode.{f} must be an unsigned 32-bit integer; got {v!r}")
            _set(self, f, int(v))
        _set(self, "name", OPCODE_NAMES.get(self.id, f"Opcode{self.id}"))
        expected = _PARAM_TYPES.get(self.id)
        if isinstance(self.params, (bytes, bytearray, memoryview)):
            _set(self, "params", bytes(self.params))
        elif expected is None or type(self.params) is not expected:
            want = "raw bytes" if expected is None else f"{expected.__name__} or raw bytes"
            raise InvalidParams(f"{self.name} params must be {want}; got {type(self.params).__name__}")

    @classmethod
    def make(cls, params: Any, *, optional: bool = False, preview_skip: bool = False,
             dng_version: int = DNG_1_3) -> Opcode:
        """Build an opcode from a parameter record, inferring its id (for writers and tests)."""
        if type(params) not in _TYPE_IDS:
            raise InvalidParams(f"cannot infer an opcode id from {type(params).__name__}")
        return cls(_TYPE_IDS[type(params)], dng_version, int(optional) | (int(preview_skip) << 1), params)

    @property
    def optional(self) -> bool:
        """Flags bit 0: a reader that cannot apply this opcode may skip it."""
        return bool(self.flags & 1)

    @property
    def preview_skip(self) -> bool:
        """Flags bit 1: the opcode may be skipped when rendering a quick preview."""
        return bool(self.flags & 2)

    @property
    def version(self) -> str:
        """The DNG version as "1.3.0.0"."""
        return ".".join(str((self.dng_version >> s) & 0xFF) for s in (24, 16, 8, 0))


# ----------------------------------------------------------------------------------------------------
# Parsing and encoding (all big-endian, DNG 1.7 chapter 6 "Opcode List Format")
# ----------------------------------------------------------------------------------------------------

_AREA = struct.Struct(">iiiiIIII")  # Top, Left, Bottom, Right (SDK reads them signed), Plane, Planes, pitches


class _Reader:
    def __init__(self, data: bytes, what: str, path):
        self.data, self.pos, self.what, self.path = data, 0, what, path

    def take(self, fmt: str) -> tuple:
        s = struct.Struct(">" + fmt)
        if self.pos + s.size > len(self.data):
            raise CorruptFile(
                f"{self.what}: parameters truncated ({len(self.data)} bytes, need {self.pos + s.size})",
                self.path,
            )
        vals = s.unpack_from(self.data, self.pos)
        if fmt[-1] in "fd" and vals:
            finite = np.isfinite(np.asarray(vals, dtype=np.float64))
            if not finite.all():
                k = int(np.argmin(finite))
                at = self.pos + k * (s.size // len(vals))
                raise CorruptFile(
                    f"{self.what}: the parameter at byte {at} is {vals[k]}, not a finite number",
                    self.path,
                )
        self.pos += s.size
        return vals

    def array(self, code: str, n: int) -> tuple:
        return self.take(f"{n}{code}") if n else ()

    def need(self, n_bytes: int) -> None:
        if self.pos + n_bytes > len(self.data):
            raise CorruptFile(f"{self.what}: parameters truncated", self.path)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise CorruptFile(
                f"{self.what}: byte count {len(self.data)} does not match its parameters ({self.pos} bytes)",
                self.path,
            )


def _read_area(r: _Reader) -> AreaSpec:
    return AreaSpec(*r.take("iiiiIIII"))


def _parse_params(op_id: int, data: bytes, what: str, path) -> Any:
    r = _Reader(data, what, path)
    if op_id == 1:
        (n,) = r.take("I")
        if not 1 <= n <= MAX_PLANES:
            raise CorruptFile(f"{what}: {n} planes (1 to {MAX_PLANES} allowed)", path)
        r.need(48 * n + 16)
        coeffs = tuple(r.take("6d") for _ in range(n))
        cx, cy = r.take("2d")
        params = WarpRectilinear(coeffs, cx, cy)
    elif op_id == 3:
        k = r.take("5d")
        cx, cy = r.take("2d")
        params = FixVignetteRadial(k, cx, cy)
    elif op_id == 4:
        params = FixBadPixelsConstant(*r.take("II"))
    elif op_id == 5:
        phase, n_pts, n_rects = r.take("III")
        if n_pts > MAX_BAD_PIXELS or n_rects > MAX_BAD_RECTS:
            raise CorruptFile(
                f"{what}: {n_pts} bad points and {n_rects} bad rectangles (at most {MAX_BAD_PIXELS} and "
                f"{MAX_BAD_RECTS} are read)",
                path,
            )
        r.need(8 * n_pts + 16 * n_rects)
        flat_p = r.array("i", 2 * n_pts)
        flat_r = r.array("i", 4 * n_rects)
        pts = tuple(flat_p[i : i + 2] for i in range(0, len(flat_p), 2))
        rects = tuple(flat_r[i : i + 4] for i in range(0, len(flat_r), 4))
        params = FixBadPixelsList(phase, pts, rects)
    elif op_id == 6:
        params = TrimBounds(*r.take("iiii"))
    elif op_id == 7:
        area = _read_area(r)
        (n,) = r.take("I")
        if not 1 <= n <= 65536:
            raise CorruptFile(f"{what}: table size {n} (1 to 65536 allowed)", path)
        r.need(2 * n)
        params = MapTable(area, r.array("H", n))
    elif op_id == 8:
        area = _read_area(r)
        (degree,) = r.take("I")
        if degree > 8:
            raise CorruptFile(f"{what}: degree {degree} (at most 8 allowed)", path)
        params = MapPolynomial(area, r.array("d", degree + 1))
    elif op_id == 9:
        area = _read_area(r)
        pv, ph = r.take("II")
        sv, sh, ov, oh = r.take("4d")
        (mp,) = r.take("I")
        if pv < 1 or ph < 1 or mp < 1:
            raise CorruptFile(f"{what}: empty gain map ({pv}x{ph} points, {mp} planes)", path)
        if max(pv, ph) > MAX_GAIN_MAP_POINTS or pv * ph * mp > MAX_GAIN_MAP_VALUES:
            raise CorruptFile(
                f"{what}: {pv}x{ph} points x {mp} planes (at most {MAX_GAIN_MAP_POINTS} points per axis and "
                f"{MAX_GAIN_MAP_VALUES} gains are read)",
                path,
            )
        n = pv * ph * mp
        r.need(4 * n)
        params = GainMap(area, pv, ph, sv, sh, ov, oh, mp, r.array("f", n))
    elif op_id in (10, 11, 12, 13):
        area = _read_area(r)
        (n,) = r.take("I")
        need = area.lines(0 if op_id in (10, 12) else 1)
        if n != need:
            raise CorruptFile(f"{what}: {n} values but the area selects {need} lines", path)
        r.need(4 * n)
        params = _PARAM_TYPES[op_id](area, r.array("f", n))
    else:  # pragma: no cover - callers only pass decodable ids
        raise AssertionError(op_id)
    r.done()
    return params


def parse_opcode_list(data: bytes, *, path: str | os.PathLike | None = None) -> list[Opcode]:
    """Parse the value of an OpcodeList1/2/3 tag.

    Parameters
    ----------
    data : bytes
        The tag's bytes, big-endian: uint32 count, then per opcode uint32 id, DNG version, flags,
        parameter byte count, and the parameters.
    path : str or PathLike, optional
        The file, named in errors.

    Returns
    -------
    list of Opcode, in list order. Ids this module does not decode keep their raw parameter bytes.

    Raises
    ------
    CorruptFile
        Truncated data, byte counts that do not match the parameters, or invalid parameters.
    """
    data = bytes(data)
    if len(data) < 4:
        raise CorruptFile(f"opcode list truncated: {len(data)} bytes, need at least 4", path)
    (count,) = struct.unpack_from(">I", data, 0)
    if count > (len(data) - 4) // 16:
        raise CorruptFile(f"opcode list claims {count} opcodes but has only {len(data)} bytes", path)
    pos, ops = 4, []
    for index in range(count):
        if pos + 16 > len(data):
            raise CorruptFile(f"opcode list truncated in the header of opcode {index + 1} of {count}", path)
        op_id, version, flags, nbytes = struct.unpack_from(">IIII", data, pos)
        pos += 16
        name = OPCODE_NAMES.get(op_id, f"Opcode{op_id}")
        what = f"opcode {index + 1} of {count} ({name})"
        if pos + nbytes > len(data):
            raise CorruptFile(f"{what}: {nbytes} parameter bytes but only {len(data) - pos} left", path)
        raw = data[pos : pos + nbytes]
        pos += nbytes
        if op_id in _PARAM_TYPES:
            try:
                params = _parse_params(op_id, raw, what, path)
            except InvalidParams as exc:
                raise CorruptFile(f"{what}: {exc.reason}", path) from exc
        else:
            params = raw
        ops.append(Opcode(op_id, version, flags, params))
    if any(data[pos:]):
        raise CorruptFile(f"opcode list has {len(data) - pos} unexpected bytes after its last opcode", path)
    return ops


def _encode_area(a: AreaSpec) -> bytes:
    return _AREA.pack(a.top, a.left, a.bottom, a.right, a.plane, a.planes, a.row_pitch, a.col_pitch)


def _encode_params(p: Any) -> bytes:
    if isinstance(p, WarpRectilinear):
        out = struct.pack(">I", p.planes)
        for c in p.coefficients:
            out += struct.pack(">6d", *c)
        return out + struct.pack(">2d", p.cx, p.cy)
    if isinstance(p, FixVignetteRadial):
        return struct.pack(">7d", *p.k, p.cx, p.cy)
    if isinstance(p, FixBadPixelsConstant):
        return struct.pack(">II", p.constant, p.bayer_phase)
    if isinstance(p, FixBadPixelsList):
        flat = [v for pt in p.points for v in pt] + [v for r in p.rects for v in r]
        return struct.pack(f">III{len(flat)}i", p.bayer_phase, len(p.points), len(p.rects), *flat)
    if isinstance(p, TrimBounds):
        return struct.pack(">4i", p.top, p.left, p.bottom, p.right)
    if isinstance(p, MapTable):
        return _encode_area(p.area) + struct.pack(f">I{len(p.table)}H", len(p.table), *p.table)
    if isinstance(p, MapPolynomial):
        return _encode_area(p.area) + struct.pack(f">I{len(p.coefficients)}d", p.degree, *p.coefficients)
    if isinstance(p, GainMap):
        head = struct.pack(">II4dI", p.points_v, p.points_h, p.spacing_v, p.spacing_h, p.origin_v, p.origin_h,
                           p.map_planes)
        return _encode_area(p.area) + head + np.asarray(p.gains, dtype=">f4").tobytes()
    if isinstance(p, _PerLine):
        return _encode_area(p.area) + struct.pack(">I", len(p.values)) + np.asarray(p.values, ">f4").tobytes()
    raise InvalidParams(f"cannot encode parameters of type {type(p).__name__}")  # pragma: no cover


def encode_opcode_list(ops: Sequence[Opcode]) -> bytes:
    """Write opcodes as an OpcodeList1/2/3 tag value (big-endian); the inverse of :func:`parse_opcode_list`.

    Raw-byte parameters are written unchanged, so ``encode_opcode_list(parse_opcode_list(b)) == b``.
    """
    out = [struct.pack(">I", len(ops))]
    for op in ops:
        if not isinstance(op, Opcode):
            raise InvalidParams(f"expected Opcode, got {type(op).__name__}")
        try:
            params = op.params if isinstance(op.params, bytes) else _encode_params(op.params)
        except struct.error as exc:
            raise InvalidParams(f"{op.name}: a parameter does not fit its field: {exc}") from exc
        out.append(struct.pack(">IIII", op.id, op.dng_version, op.flags, len(params)))
        out.append(params)
    return b"".join(out)


# ----------------------------------------------------------------------------------------------------
# Applying
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ctx:
    name: str
    path: str | os.PathLike | None
    cfa_pattern: np.ndarray | None
    stored_scale: float
    stage: int


@dataclass(frozen=True)
class _Selection:
    rows: slice
    cols: slice
    planes: range
    row_positions: np.ndarray  # image row index of each selected row
    col_positions: np.ndarray
    first_row_line: int  # index of the first selected row among the area's pitched rows
    first_col_line: int


def _pitched(start: int, stop: int, pitch: int, size: int) -> tuple[int, int]:
    """First pitched index >= 0 (from ``start``) and the exclusive end, clipped to ``size``."""
    lo = start if start >= 0 else start + (-start + pitch - 1) // pitch * pitch
    return lo, min(stop, size)


def _select(area: AreaSpec, img: np.ndarray, ctx: _Ctx) -> _Selection:
    """The one place that turns an AreaSpec into the rows, columns and planes an opcode touches."""
    h, w, c = img.shape
    if area.plane >= c:
        raise CorruptFile(f"{ctx.name} applies to plane {area.plane}; the image has {c} plane(s)", ctx.path)
    if area.plane + area.planes > c:
        warnings.warn(
            f"{ctx.name} names planes {area.plane}..{area.plane + area.planes - 1} but the image has {c}; "
            f"applying it to planes {area.plane}..{c - 1} only",
            RotpunktWarning,
            stacklevel=4,
        )
    t, l, b, r = (0, 0, h, w) if area.is_whole_image else (area.top, area.left, area.bottom, area.right)
    r0, r1 = _pitched(t, b, area.row_pitch, h)
    c0, c1 = _pitched(l, r, area.col_pitch, w)
    rows = np.arange(r0, max(r0, r1), area.row_pitch)
    cols = np.arange(c0, max(c0, c1), area.col_pitch)
    return _Selection(
        rows=slice(r0, max(r0, r1), area.row_pitch),
        cols=slice(c0, max(c0, c1), area.col_pitch),
        planes=range(area.plane, min(area.plane + area.planes, c)),
        row_positions=rows,
        col_positions=cols,
        first_row_line=(r0 - t) // area.row_pitch,
        first_col_line=(c0 - l) // area.col_pitch,
    )


def _apply_gain_map(img: np.ndarray, p: GainMap, ctx: _Ctx) -> np.ndarray:
    sel = _select(p.area, img, ctx)
    h, w = img.shape[:2]
    if sel.row_positions.size == 0 or sel.col_positions.size == 0:
        return img
    grid = p.gain_array()

    def axis_weights(pos, size, points, spacing, origin):
        if points == 1:  # the SDK ignores spacing/origin of a one-point axis
            idx = np.zeros(pos.shape)
        else:
            idx = ((pos + 0.5) / size - origin) / spacing
        idx = np.clip(idx, 0.0, points - 1)
        i0 = np.minimum(np.floor(idx).astype(np.intp), points - 1)
        i1 = np.minimum(i0 + 1, points - 1)
        return i0, i1, idx - i0

    ri0, ri1, rf = axis_weights(sel.row_positions, h, p.points_v, p.spacing_v, p.origin_v)
    ci0, ci1, cf = axis_weights(sel.col_positions, w, p.points_h, p.spacing_h, p.origin_h)
    for plane in sel.planes:
        m = grid[:, :, min(plane, p.map_planes - 1)]
        across = m[:, ci0] * (1.0 - cf) + m[:, ci1] * cf  # (points_v, n_cols): separable bilinear
        gain = across[ri0] * (1.0 - rf)[:, None] + across[ri1] * rf[:, None]
        img[sel.rows, sel.cols, plane] *= gain.astype(np.float32)
    return img


def _radius_frame(h: int, w: int, cx: float, cy: float) -> tuple[float, float, float]:
    """Optical centre in pixel units (image spans [0, W] x [0, H]) and the distance to the farthest corner."""
    px, py = cx * w, cy * h
    m = math.hypot(max(px, w - px), max(py, h - py))
    return px, py, m


def _apply_vignette(img: np.ndarray, p: FixVignetteRadial, ctx: _Ctx) -> np.ndarray:
    h, w = img.shape[:2]
    px, py, m = _radius_frame(h, w, p.cx, p.cy)
    dx2 = (((np.arange(w) + 0.5) - px) / m) ** 2
    for r0 in range(0, h, STRIP_ROWS):
        dy2 = (((np.arange(r0, min(h, r0 + STRIP_ROWS)) + 0.5) - py) / m) ** 2
        r2 = np.minimum(dy2[:, None] + dx2[None, :], 1.0)
        poly = np.zeros_like(r2)
        for k in reversed(p.k):  # Horner in r^2: g = 1 + r2 (k0 + r2 (k1 + ...))
            poly = (poly + k) * r2
        img[r0 : r0 + STRIP_ROWS] *= (1.0 + poly).astype(np.float32)[:, :, None]
    return img


def _bilinear(flat: np.ndarray, h: int, w: int, sy: np.ndarray, sx: np.ndarray) -> np.ndarray:
    """Sample a plane (raveled, row-major ``h x w``) at fractional pixel indices; edges repeat outside."""
    sy = np.clip(sy, 0.0, h - 1)
    sx = np.clip(sx, 0.0, w - 1)
    y0 = np.minimum(sy.astype(np.intp), max(h - 2, 0))  # truncation is floor: sy >= 0 here
    x0 = np.minimum(sx.astype(np.intp), max(w - 2, 0))
    fy = (sy - y0).astype(np.float32)
    fx = (sx - x0).astype(np.float32)
    i = y0 * w + x0
    down, right = (w if h > 1 else 0), (1 if w > 1 else 0)
    a, b = flat.take(i), flat.take(i + right)
    c, d = flat.take(i + down), flat.take(i + down + right)
    top = a + (b - a) * fx
    bottom = c + (d - c) * fx
    return top + (bottom - top) * fy


def _apply_warp(img: np.ndarray, p: WarpRectilinear, ctx: _Ctx) -> np.ndarray:
    h, w, c = img.shape
    if p.planes not in (1, c):
        raise CorruptFile(f"{ctx.name} has {p.planes} planes of coefficients but the image has {c}", ctx.path)
    if p.is_identity:
        return img
    px, py, m = _radius_frame(h, w, p.cx, p.cy)
    dx = ((np.arange(w) + 0.5) - px) / m
    planes = [np.ascontiguousarray(img[:, :, k]).ravel() for k in range(c)]
    out = np.empty_like(img)
    for r0 in range(0, h, STRIP_ROWS):
        dy = ((np.arange(r0, min(h, r0 + STRIP_ROWS)) + 0.5) - py) / m
        dyy, dxx = np.meshgrid(dy, dx, indexing="ij")
        r2 = np.minimum(dxx * dxx + dyy * dyy, 1.0)
        coords: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}
        for plane in range(c):
            coeffs = p.coefficients[plane if p.planes > 1 else 0]
            if coeffs not in coords:  # planes with equal coefficients share their source positions
                kr0, kr1, kr2, kr3, kt0, kt1 = coeffs
                ratio = kr0 + r2 * (kr1 + r2 * (kr2 + r2 * kr3))
                tx = kt1 * (r2 + 2.0 * dxx * dxx) + 2.0 * kt0 * dxx * dyy
                ty = kt0 * (r2 + 2.0 * dyy * dyy) + 2.0 * kt1 * dxx * dyy
                sx = px + m * (dxx * ratio + tx) - 0.5  # back to pixel indices
                sy = py + m * (dyy * ratio + ty) - 0.5
                # float32 positions: 1/2000 pixel resolution up to 16k pixels, and faster sampling
                coords[coeffs] = (sy.astype(np.float32), sx.astype(np.float32))
            sy, sx = coords[coeffs]
            out[r0 : r0 + STRIP_ROWS, :, plane] = _bilinear(planes[plane], h, w, sy, sx)
    return out


def _apply_trim(img: np.ndarray, p: TrimBounds, ctx: _Ctx) -> np.ndarray:
    h, w = img.shape[:2]
    if p.top < 0 or p.left < 0 or p.bottom > h or p.right > w:
        raise CorruptFile(
            f"{ctx.name} bounds {(p.top, p.left, p.bottom, p.right)} lie outside the {h}x{w} image", ctx.path
        )
    return img[p.top : p.bottom, p.left : p.right].copy()


def _apply_map_table(img: np.ndarray, p: MapTable, ctx: _Ctx) -> np.ndarray:
    sel = _select(p.area, img, ctx)
    table = np.asarray(p.table, dtype=np.float32) / np.float32(65535.0)
    for plane in sel.planes:
        v = img[sel.rows, sel.cols, plane]
        idx = np.rint(np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0) * 65535.0).astype(np.intp)
        img[sel.rows, sel.cols, plane] = table[np.minimum(idx, len(table) - 1)]
    return img


def _apply_map_polynomial(img: np.ndarray, p: MapPolynomial, ctx: _Ctx) -> np.ndarray:
    sel = _select(p.area, img, ctx)
    scale = ctx.stored_scale if ctx.stage == 1 else 1.0
    c0 = p.coefficients[0]
    for plane in sel.planes:
        x = img[sel.rows, sel.cols, plane].astype(np.float64) * scale
        ax = np.abs(x)
        acc = np.zeros_like(ax)
        for cj in reversed(p.coefficients[1:]):  # Horner for P(|x|) - c0
            acc = (acc + cj) * ax
        y = c0 + np.where(x < 0, -acc, acc)
        img[sel.rows, sel.cols, plane] = (y / scale).astype(np.float32)
    return img


def _line_values(p: _PerLine, sel: _Selection, ctx: _Ctx) -> np.ndarray:
    axis = p._axis
    first = sel.first_row_line if axis == 0 else sel.first_col_line
    n = (sel.row_positions if axis == 0 else sel.col_positions).size
    if first + n > len(p.values):
        raise CorruptFile(f"{ctx.name} has {len(p.values)} values but the area needs {first + n}", ctx.path)
    vals = np.asarray(p.values[first : first + n], dtype=np.float64)
    return vals[:, None] if axis == 0 else vals[None, :]


def _apply_delta(img: np.ndarray, p: _PerLine, ctx: _Ctx) -> np.ndarray:
    sel = _select(p.area, img, ctx)
    delta = (_line_values(p, sel, ctx) / ctx.stored_scale).astype(np.float32)
    for plane in sel.planes:
        img[sel.rows, sel.cols, plane] += delta
    return img


def _apply_scale(img: np.ndarray, p: _PerLine, ctx: _Ctx) -> np.ndarray:
    sel = _select(p.area, img, ctx)
    scale = _line_values(p, sel, ctx).astype(np.float32)
    for plane in sel.planes:
        img[sel.rows, sel.cols, plane] *= scale
    return img


# Bayer layouts of the BayerPhase parameter (0 red, 1 green, 2 blue).
_BAYER_PHASES = {
    0: np.array([[0, 1], [1, 2]]),
    1: np.array([[1, 0], [2, 1]]),
    2: np.array([[1, 2], [0, 1]]),
    3: np.array([[2, 1], [1, 0]]),
}
_MAX_REPAIR_RADIUS = 8


def _neighbour_rings(radius: int) -> list[list[tuple[int, int]]]:
    """Offsets within ``radius`` grouped by distance, nearest first (the centre excluded)."""
    by_d2: dict[int, list[tuple[int, int]]] = {}
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            if (dy, dx) != (0, 0):
                by_d2.setdefault(dy * dy + dx * dx, []).append((dy, dx))
    return [by_d2[k] for k in sorted(by_d2)]


_RINGS = _neighbour_rings(_MAX_REPAIR_RADIUS)


def _colour_map(h: int, w: int, phase: int, ctx: _Ctx) -> np.ndarray:
    pattern = _BAYER_PHASES[phase]
    if ctx.cfa_pattern is not None:
        cfa = np.asarray(ctx.cfa_pattern)
        if cfa.ndim != 2 or cfa.size == 0:
            raise InvalidParams(f"cfa_pattern must be a 2-D array of colour indices; got shape {cfa.shape}")
        if cfa.shape == (2, 2) and not np.array_equal(cfa == 1, pattern == 1):
            warnings.warn(
                f"{ctx.name}: BayerPhase {phase} disagrees with the CFA pattern {cfa.tolist()}; "
                "using the CFA pattern (is the image cropped differently from what the opcode expects?)",
                RotpunktWarning,
                stacklevel=4,
            )
        pattern = cfa
    ry, rx = pattern.shape
    return np.tile(pattern, (-(-h // ry), -(-w // rx)))[:h, :w]


def _repair(img: np.ndarray, bad: np.ndarray, phase: int, ctx: _Ctx) -> np.ndarray:
    """Replace bad pixels by the mean of the nearest ring of good same-colour neighbours.

    The first ring is the DNG SDK's rule for Bayer data (green: the 4 diagonal greens; red/blue: the
    4 same-colour pixels two away); further rings are used only where the whole first ring is bad.
    """
    h, w, c = img.shape
    if c != 1:
        raise CorruptFile(f"{ctx.name} applies to single-plane CFA images; this one has {c} planes", ctx.path)
    ys, xs = np.nonzero(bad)
    if ys.size == 0:
        return img
    colour = _colour_map(h, w, phase, ctx)
    src = img[:, :, 0]
    out = src.copy()
    own = colour[ys, xs]
    todo = np.ones(ys.size, dtype=bool)
    for ring in _RINGS:
        idx = np.nonzero(todo)[0]
        if idx.size == 0:
            break
        y, x, col = ys[idx], xs[idx], own[idx]
        total = np.zeros(idx.size, dtype=np.float64)
        count = np.zeros(idx.size, dtype=np.int64)
        for dy, dx in ring:
            ny, nx = y + dy, x + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            cy, cx = np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)
            good = inside & (colour[cy, cx] == col) & ~bad[cy, cx]
            total += np.where(good, src[cy, cx], 0.0)
            count += good
        found = count > 0
        out[y[found], x[found]] = (total[found] / count[found]).astype(np.float32)
        todo[idx[found]] = False
    if todo.any():
        warnings.warn(
            f"{ctx.name}: {int(todo.sum())} bad pixel(s) have no good same-colour neighbour within "
            f"{_MAX_REPAIR_RADIUS} pixels and were left as they are",
            RotpunktWarning,
            stacklevel=4,
        )
    img[:, :, 0] = out
    return img


def _apply_bad_constant(img: np.ndarray, p: FixBadPixelsConstant, ctx: _Ctx) -> np.ndarray:
    bad = np.rint(img[:, :, 0].astype(np.float64) * ctx.stored_scale) == p.constant
    return _repair(img, bad, p.bayer_phase, ctx)


def _apply_bad_list(img: np.ndarray, p: FixBadPixelsList, ctx: _Ctx) -> np.ndarray:
    h, w = img.shape[:2]
    bad = np.zeros((h, w), dtype=bool)
    for y, x in p.points:
        if 0 <= y < h and 0 <= x < w:  # the SDK ignores points outside the image
            bad[y, x] = True
    for t, l, b, r in p.rects:
        bad[max(t, 0) : max(min(b, h), 0), max(l, 0) : max(min(r, w), 0)] = True
    return _repair(img, bad, p.bayer_phase, ctx)


#: Registry: opcode id -> function(image (H, W, C) float32 owned copy, params, context) -> image.
OPCODE_APPLY: dict[int, Callable[[np.ndarray, Any, _Ctx], np.ndarray]] = {
    1: _apply_warp,
    3: _apply_vignette,
    4: _apply_bad_constant,
    5: _apply_bad_list,
    6: _apply_trim,
    7: _apply_map_table,
    8: _apply_map_polynomial,
    9: _apply_gain_map,
    10: _apply_delta,
    11: _apply_delta,
    12: _apply_scale,
    13: _apply_scale,
}


def apply_opcode_list(
    image: np.ndarray,
    ops: Sequence[Opcode],
    *,
    cfa_pattern: np.ndarray | None = None,
    path: str | os.PathLike | None = None,
    stored_scale: float = 65535.0,
    stage: int = 2,
) -> np.ndarray:
    """Apply an opcode list to an image, in list order.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, C), float
        Camera-native linear values, 1.0 = white (OpcodeList1: stored values / ``stored_scale``).
        Not modified.
    ops : sequence of Opcode
        From :func:`parse_opcode_list`.
    cfa_pattern : ndarray (rows, cols) of colour indices, optional
        The image's CFA layout; when given, the bad-pixel opcodes take "same colour" from it instead of
        from their BayerPhase parameter (a warning is issued if the two disagree).
    path : str or PathLike, optional
        The file, named in errors and warnings.
    stored_scale : float
        Stored sample units per 1.0 of ``image`` (65535 for integer raw data, 1.0 for float data):
        FixBadPixelsConstant compares ``round(value * stored_scale)`` with its Constant; Delta tables are
        divided by it; in stage 1 MapPolynomial evaluates on ``value * stored_scale``.
    stage : int
        Which list this is (1, 2 or 3); only MapPolynomial's units depend on it.

    Returns
    -------
    ndarray float32 of the same number of dimensions; TrimBounds may make it smaller.

    Raises
    ------
    UnsupportedFormat
        A required (non-optional) opcode this module does not implement.
    CorruptFile
        An opcode that does not fit the image (a plane it lacks, bounds outside it...). Optional
        opcodes that are unknown or do not fit are skipped with a :class:`RotpunktWarning` instead.
    InvalidParams
        A bad argument (image shape, stage, stored_scale).
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise InvalidParams(f"image must be a non-empty (H, W) or (H, W, C) array; got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise InvalidParams(f"image must be numeric; got dtype {arr.dtype}")
    if stage not in (1, 2, 3):
        raise InvalidParams(f"stage must be 1, 2 or 3; got {stage!r}")
    numeric = isinstance(stored_scale, (int, float, np.number)) and not isinstance(stored_scale, bool)
    if not (numeric and math.isfinite(stored_scale) and stored_scale > 0):
        raise InvalidParams(f"stored_scale must be a positive number; got {stored_scale!r}")
    img = np.array(arr, dtype=np.float32, copy=True)
    flat = img.ndim == 2
    if flat:
        img = img[:, :, None]
    for index, op in enumerate(ops):
        if not isinstance(op, Opcode):
            raise InvalidParams(f"expected Opcode, got {type(op).__name__}")
        label = f"{op.name} (opcode {index + 1} of {len(ops)}, id {op.id})"
        fn = None if isinstance(op.params, bytes) else OPCODE_APPLY.get(op.id)
        if fn is None:
            if op.optional:
                where = f"{os.fspath(path)}: " if path is not None else ""
                msg = f"{where}skipping optional opcode {label}: not supported"
                warnings.warn(msg, RotpunktWarning, stacklevel=2)
                continue
            raise UnsupportedFormat(f"required opcode {label} is not supported", path)
        ctx = _Ctx(label, path, cfa_pattern, float(stored_scale), stage)
        try:
            result = fn(img.copy() if op.optional else img, op.params, ctx)
        except (CorruptFile, UnsupportedFormat) as exc:
            if not op.optional:
                raise (with_path(exc, path) if path is not None else exc) from None
            where = f"{os.fspath(path)}: " if path is not None else ""
            msg = f"{where}skipping optional opcode {label}: {exc.reason}"
            warnings.warn(msg, RotpunktWarning, stacklevel=2)
            continue
        img = result
    return img[:, :, 0] if flat else img


# ----------------------------------------------------------------------------------------------------
# Describing
# ----------------------------------------------------------------------------------------------------


def _area_text(a: AreaSpec) -> str:
    text = f"plane {a.plane}" if a.planes == 1 else f"planes {a.plane}-{a.plane + a.planes - 1}"
    if a.row_pitch != 1 or a.col_pitch != 1:
        text += f" pitch {a.row_pitch}x{a.col_pitch}"
    if not a.is_whole_image:
        text += f" rows {a.top}:{a.bottom} cols {a.left}:{a.right}"
    return text


def _describe_one(op: Opcode) -> str:
    p = op.params
    if isinstance(p, bytes):
        text = f"{op.name} ({len(p)} parameter bytes, not decoded)"
    elif isinstance(p, WarpRectilinear):
        kr = ", ".join(f"{v:.4g}" for v in p.coefficients[0][:4])
        text = f"WarpRectilinear {p.planes} plane(s) centre ({p.cx:.3f}, {p.cy:.3f}) kr ({kr})"
    elif isinstance(p, FixVignetteRadial):
        text = f"FixVignetteRadial centre ({p.cx:.3f}, {p.cy:.3f}) k ({', '.join(f'{v:.4g}' for v in p.k)})"
    elif isinstance(p, FixBadPixelsConstant):
        text = f"FixBadPixelsConstant value {p.constant} Bayer phase {p.bayer_phase}"
    elif isinstance(p, FixBadPixelsList):
        text = f"FixBadPixelsList {len(p.points)} points {len(p.rects)} rects Bayer phase {p.bayer_phase}"
    elif isinstance(p, TrimBounds):
        text = f"TrimBounds rows {p.top}:{p.bottom} cols {p.left}:{p.right}"
    elif isinstance(p, MapTable):
        text = f"MapTable {_area_text(p.area)} {len(p.table)} entries"
    elif isinstance(p, MapPolynomial):
        text = f"MapPolynomial {_area_text(p.area)} degree {p.degree}"
    elif isinstance(p, GainMap):
        text = f"GainMap {_area_text(p.area)} {p.points_h}x{p.points_v} points"
        if p.map_planes > 1:
            text += f" {p.map_planes} map planes"
    else:
        text = f"{op.name} {_area_text(p.area)} {len(p.values)} values"
    return text + (" (optional)" if op.optional else "")


def describe(ops: Sequence[Opcode]) -> list[str]:
    """One short human-readable line per opcode, e.g. ``"GainMap plane 0 pitch 2x2 17x13 points"``."""
    return [_describe_one(op) for op in ops]
