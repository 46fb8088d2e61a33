"""The DNG camera colour model: camera native RGB -> CIE XYZ (D50 PCS), and the profile hue/sat tables.

Colour spaces
-------------
* input: demosaiced, linearised camera native values (H, W, C), C = 3 or 4, float32 (the
  "camera space" of the DNG specification, *not* white balanced);
* :func:`camera_to_xyz_d50` returns the (3, C) float64 matrix to CIE XYZ relative to the DNG
  profile connection space white D50 (x=0.3457, y=0.3585), see "Normalisation" below;
* :func:`apply_hue_sat_map` works on linear ProPhoto RGB (ROMM primaries, D50), as the DNG
  specification defines ProfileHueSatMap and ProfileLookTable.

Halo: none (every function here is per pixel).

The model follows the DNG specification 1.7, chapter 6 "Mapping Camera Color Space to CIE XYZ
Space", and where the text leaves details open, Adobe's DNG SDK (``dng_color_spec.cpp``,
``dng_camera_profile.cpp``, ``dng_render.cpp``, ``dng_reference.cpp``):

* ``XYZtoCamera = AB * CC * CM`` with the ColorMatrix CM and CameraCalibration CC interpolated
  between the two calibration illuminants linearly in inverse correlated colour temperature
  (weights clamped to [0, 1]); AnalogBalance AB is a diagonal matrix. CC and CM are interpolated
  separately as the specification writes it (the SDK interpolates the products CC_i * CM_i; the two
  agree whenever CameraCalibration1 == CameraCalibration2, the usual case).
* Each ColorMatrix is first scaled as the SDK's ``NormalizeColorMatrix`` does: when the largest
  camera value of the D50 white, max(CM @ XYZ_D50), lies outside [0.99, 1.01], CM is divided by it.
  ForwardMatrix rows are scaled as ``NormalizeForwardMatrix`` does, so that FM @ 1 = XYZ_D50 exactly.
* The illuminants may be stored in either order: they are sorted by temperature (EXIF LightSource
  code -> temperature as :data:`rotpunkt.colour_math.ILLUMINANTS`). A file with one ColorMatrix, an
  unknown illuminant code (0, 255 "other": DNG 1.6 IlluminantData is not read) or two illuminants
  of equal temperature uses set 1 alone, as the SDK does.
* The correlated colour temperature of a white is Robertson's, computed exactly as the SDK's
  ``dng_temperature`` (its isotemperature table included), so that interpolation weights match Adobe.

Normalisation (the convention the develop stage relies on)
----------------------------------------------------------
The camera neutral N (the camera values of a perfectly neutral, white-balance-defining surface) is
scaled so that its largest channel is 1: ``n = N / max(N)``. The returned matrix maps ``n`` to the
D50 white with Y = 1, XYZ = (0.96429, 1, 0.82510): ``M @ n == XYZ_D50``. Hence a pixel equal to the
camera neutral whose largest channel is 1 (e.g. a neutral just reaching clipping in its strongest
channel) becomes D50 white with luminance exactly 1. This is the SDK's convention (``SetWhiteXY``:
the PCS->camera matrix is scaled "so PCS white can just be reached when the first camera channel
saturates"; the ForwardMatrix path divides by the reference neutral with max 1). With the
ForwardMatrix path it holds exactly; with the ColorMatrix path it holds to the convergence
tolerance of the neutral -> xy search (|dx| + |dy| < 1e-7; error in XYZ below 2e-6), and exactly for
the neutral computed from a given white xy (:func:`xy_to_neutral`).
As in the SDK, neutral components are clamped to [0.001, 1] after that normalisation.

White balance without metadata: a file with neither AsShotNeutral nor AsShotWhiteXY is rendered for
D55 (x=0.3324, y=0.3474), as the SDK's ``dng_render`` does.

Not modelled here: ReductionMatrix (ColorInfo does not carry it; the 4-channel inverse is the
Moore-Penrose pseudo-inverse, which is what the SDK uses without one), CameraCalibrationSignature /
ProfileCalibrationSignature matching (the reader must drop CameraCalibration when they differ),
DNG 1.6 third illuminant, monochrome (1-channel) images.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..colour_math import (
    D50_XY,
    D55_XY,
    bradford_matrix,
    hsv_to_rgb_dng,
    illuminant_temperature,
    rgb_to_hsv_dng,
    srgb_decode,
    srgb_encode,
    temperature_tint_to_xy,
    xy_to_cct,
)
from ..errors import CorruptFile, InvalidParams, UnsupportedFormat
from ..params import param, validate
from ..types import ColorInfo, HueSatMap

__all__ = [
    "ColorParams",
    "ColorTransform",
    "apply_hue_sat_map",
    "apply_matrix",
    "camera_to_xyz_d50",
    "color_transform",
    "interpolate_hue_sat_map",
    "interpolation_weight",
    "neutral_to_xy",
    "resolve_white",
    "xy_to_neutral",
    "xyz_to_camera",
]

_MAX_PASSES = 30  # neutral -> xy iterations (dng_color_spec::NeutralToXY)
_CONVERGED = 1e-7  # |dx| + |dy| below which the search stops (SDK value)


@dataclass(frozen=True)
class ColorParams:
    """How to choose the white balance, and whether to apply the profile's hue/sat tables.

    ``white_balance``: "as_shot" uses the file's AsShotNeutral (or AsShotWhiteXY; D55 if neither),
    "daylight" uses D55, "custom" uses ``temperature`` and ``tint``. ``tint`` is in the DNG SDK's /
    Adobe's units (uv distance from the Planckian locus times 3000); a positive tint means the
    illuminant is greener than the locus, which renders the image more magenta, as Lightroom's slider.
    """

    white_balance: str = param("as_shot", choices=("as_shot", "daylight", "custom"), doc="white balance source")
    temperature: float = param(
        5500.0, unit="K", range=(2000.0, 12000.0), doc="custom white balance: correlated colour temperature"
    )
    tint: float = param(
        0.0, unit="DNG tint", range=(-150.0, 150.0), doc="custom white balance: tint (+ = greener light)"
    )
    use_profile_tables: bool = param(
        True, choices=(True, False), doc="apply ProfileHueSatMap / ProfileLookTable when present"
    )


# --------------------------------------------------------------------------------------------------
# The calibration sets, validated, normalised and sorted by temperature
# --------------------------------------------------------------------------------------------------


class _Cal(NamedTuple):
    channels: int
    t_lo: float  # temperatures (K) of the low and high sets; equal when there is one set
    t_hi: float
    cm_lo: np.ndarray  # (C, 3)
    cm_hi: np.ndarray
    cc_lo: np.ndarray  # (C, C)
    cc_hi: np.ndarray
    fm_lo: np.ndarray | None  # (3, C)
    fm_hi: np.ndarray | None
    ab: np.ndarray  # (C,)


def _pin_xy(xy) -> tuple[float, float]:
    """The SDK's guard against non-physical xy (``XYtoXYZ``): 1e-6 <= x, y and x + y <= 0.999999."""
    x = min(max(float(xy[0]), 1e-6), 0.999999)
    y = min(max(float(xy[1]), 1e-6), 0.999999)
    if x + y > 0.999999:
        k = 0.999999 / (x + y)
        x, y = x * k, y * k
    return x, y


def _xyz(xy) -> np.ndarray:
    """xy -> XYZ (Y = 1), xy pinned as the SDK does."""
    x, y = _pin_xy(xy)
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


_PCS_XYZ = _xyz(D50_XY)


def _as_matrix(m, shape, name: str) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != shape:
        raise CorruptFile(f"{name} has shape {a.shape}, expected {shape}")
    if not np.all(np.isfinite(a)):
        raise CorruptFile(f"{name} contains non-finite values")
    return a


def _normalize_cm(cm: np.ndarray) -> np.ndarray:
    m = float(np.max(cm @ _PCS_XYZ))
    if m > 0.0 and (m < 0.99 or m > 1.01):
        return cm / m
    return cm


def _normalize_fm(fm: np.ndarray, name: str) -> np.ndarray:
    s = fm.sum(axis=1)
    if np.any(np.abs(s) < 1e-9):
        raise CorruptFile(f"{name} maps camera white (1, ..., 1) to a zero XYZ component")
    return fm * (_PCS_XYZ / s)[:, None]


def _calibration(info: ColorInfo) -> _Cal:
    if not isinstance(info, ColorInfo):
        raise InvalidParams(f"expected a ColorInfo, got {type(info).__name__}")
    cms = list(info.color_matrix)
    fms = list(info.forward_matrix)
    ccs = list(info.camera_calibration)
    ills = list(info.calibration_illuminant)
    if cms[0] is None and cms[1] is not None:  # only the "2" set present: use it as the only one
        cms, fms, ccs, ills = cms[::-1], fms[::-1], ccs[::-1], ills[::-1]
    if cms[0] is None:
        raise CorruptFile("no ColorMatrix: the camera colour cannot be mapped to XYZ")
    cm0 = np.asarray(cms[0], dtype=np.float64)
    if cm0.ndim != 2 or cm0.shape[1] != 3:
        raise CorruptFile(f"ColorMatrix1 has shape {cm0.shape}, expected (channels, 3)")
    c = cm0.shape[0]
    if c not in (3, 4):
        raise UnsupportedFormat(f"{c}-channel colour matrices are not supported (3 or 4)")
    t1, t2 = illuminant_temperature(ills[0]), illuminant_temperature(ills[1])
    dual = cms[1] is not None and t1 > 0 and t2 > 0 and t1 != t2
    n = 2 if dual else 1
    cm = [_normalize_cm(_as_matrix(cms[i], (c, 3), f"ColorMatrix{i + 1}")) for i in range(n)]
    cc = [np.eye(c) if ccs[i] is None else _as_matrix(ccs[i], (c, c), f"CameraCalibration{i + 1}") for i in range(n)]
    fm = [
        None
        if fms[i] is None
        else _normalize_fm(_as_matrix(fms[i], (3, c), f"ForwardMatrix{i + 1}"), f"ForwardMatrix{i + 1}")
        for i in range(n)
    ]
    if n == 2 and (fm[0] is None) != (fm[1] is None):  # one forward matrix: use it for both
        fm = [fm[0] if fm[0] is not None else fm[1]] * 2
    ab = np.ones(c) if info.analog_balance is None else _as_matrix(info.analog_balance, (c,), "AnalogBalance")
    if np.any(ab <= 0):
        raise CorruptFile("AnalogBalance must be positive")
    if n == 1:
        t = t1 if t1 > 0 else 5000.0
        return _Cal(c, t, t, cm[0], cm[0], cc[0], cc[0], fm[0], fm[0], ab)
    if t1 < t2:
        return _Cal(c, t1, t2, cm[0], cm[1], cc[0], cc[1], fm[0], fm[1], ab)
    return _Cal(c, t2, t1, cm[1], cm[0], cc[1], cc[0], fm[1], fm[0], ab)


def _weight_lo(cct: float, t_lo: float, t_hi: float) -> float:
    """Weight of the low-temperature set (SDK ``FindXYZtoCamera``)."""
    if t_lo == t_hi or cct <= t_lo:
        return 1.0
    if cct >= t_hi:
        return 0.0
    return (1.0 / cct - 1.0 / t_hi) / (1.0 / t_lo - 1.0 / t_hi)


def _mix(g: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    if g >= 1.0:
        return lo
    if g <= 0.0:
        return hi
    return g * lo + (1.0 - g) * hi


def interpolation_weight(cct: float, t1: float, t2: float) -> float:
    """Weight of calibration set 1 (as stored) for a white of correlated colour temperature ``cct``.

    ``t1``, ``t2``: the temperatures (K) of CalibrationIlluminant1/2, in the file's order (either
    order works). Linear in inverse temperature between the two, clamped: 1 at or below the lower
    temperature when that is set 1, etc. When either temperature is unknown (<= 0) or they are
    equal, set 1 is used alone: returns 1.0. Set 2's weight is ``1 - w``.
    """
    cct, t1, t2 = float(cct), float(t1), float(t2)
    if math.isnan(cct) or cct <= 0:
        raise InvalidParams(f"correlated colour temperature must be positive, got {cct!r}")
    if not (t1 > 0 and t2 > 0) or t1 == t2:
        return 1.0
    g = _weight_lo(cct, min(t1, t2), max(t1, t2))
    return g if t1 < t2 else 1.0 - g


def _check_xy(white_xy) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in white_xy)
    except (TypeError, ValueError):
        raise InvalidParams(f"white xy must be two numbers, got {white_xy!r}") from None
    if not (0.0 < x < 1.0 and 0.0 < y < 1.0 and x + y < 1.0):
        raise InvalidParams(f"white xy ({x}, {y}) is not a chromaticity (0 < x, y and x + y < 1)")
    return x, y


def _at_white(cal: _Cal, xy) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, float]:
    """XYZtoCamera (C, 3), interpolated ForwardMatrix (3, C) or None, and AB * CC, at a white xy."""
    cct = xy_to_cct(xy)
    g = _weight_lo(cct, cal.t_lo, cal.t_hi)
    cm = _mix(g, cal.cm_lo, cal.cm_hi)
    cc = _mix(g, cal.cc_lo, cal.cc_hi)
    fm = None if cal.fm_lo is None else _mix(g, cal.fm_lo, cal.fm_hi)
    abcc = cal.ab[:, None] * cc
    return abcc @ cm, fm, abcc, cct


def _inverse(m: np.ndarray, what: str) -> np.ndarray:
    """Inverse (square) or Moore-Penrose pseudo-inverse (C > 3); CorruptFile when singular."""
    try:
        inv = np.linalg.inv(m) if m.shape[0] == m.shape[1] else np.linalg.pinv(m)
    except np.linalg.LinAlgError:
        raise CorruptFile(f"{what} is singular") from None
    if not np.all(np.isfinite(inv)) or np.linalg.cond(m) > 1e12:
        raise CorruptFile(f"{what} is singular")
    return inv


def xyz_to_camera(info: ColorInfo, white_xy) -> np.ndarray:
    """``AB * CC(w) * CM(w)``: CIE XYZ -> camera native values under the white ``white_xy``.

    (C, 3) float64. ``w`` is the interpolation weight of the white's correlated colour temperature
    (:func:`interpolation_weight`); CM are the normalised ColorMatrix tags (see module docstring).
    """
    return _at_white(_calibration(info), _check_xy(white_xy))[0]


def _check_neutral(neutral, channels: int, exc=InvalidParams) -> np.ndarray:
    n = np.asarray(neutral, dtype=np.float64)
    if n.shape != (channels,):
        raise exc(f"camera neutral has shape {n.shape}, expected ({channels},)")
    if not np.all(np.isfinite(n)) or np.any(n <= 0):
        raise exc(f"camera neutral must be positive and finite, got {n.tolist()}")
    return n


def neutral_to_xy(info: ColorInfo, neutral) -> tuple[float, float]:
    """White balance xy of a camera neutral (AsShotNeutral): the iterative search of the DNG
    specification ("Translating Camera Neutral Coordinates to White Balance xy Coordinates").

    Starting at D50, repeat: interpolate XYZtoCamera at the current guess's temperature, map the
    neutral through its inverse (pseudo-inverse for 4 channels) and take the chromaticity; stop when
    |dx| + |dy| < 1e-7. After 30 passes (a two-value oscillation) the average of the last two guesses
    is returned, as the SDK does. The neutral's scale does not matter.
    """
    cal = _calibration(info)
    n = _check_neutral(neutral, cal.channels)
    last = D50_XY
    for p in range(_MAX_PASSES):
        m = _at_white(cal, last)[0]
        XYZ = _inverse(m, "XYZ-to-camera matrix") @ n  # noqa: N806
        s = float(XYZ.sum())
        nxt = _pin_xy((XYZ[0] / s, XYZ[1] / s)) if s > 0 else D50_XY
        if abs(nxt[0] - last[0]) + abs(nxt[1] - last[1]) < _CONVERGED:
            return nxt
        if p == _MAX_PASSES - 1:
            nxt = ((last[0] + nxt[0]) / 2.0, (last[1] + nxt[1]) / 2.0)
        last = nxt
    return last


def xy_to_neutral(info: ColorInfo, white_xy) -> np.ndarray:
    """Camera neutral (C,) float64 of a white ``white_xy``, largest channel 1 ("Translating White
    Balance xy Coordinates to Camera Neutral Coordinates": XYZtoCamera(xy) @ XYZ(xy))."""
    cal = _calibration(info)
    xy = _check_xy(white_xy)
    n = _at_white(cal, xy)[0] @ _xyz(xy)
    mx = float(n.max())
    if not mx > 0:
        raise CorruptFile(f"the colour matrices map the white {xy} to non-positive camera values")
    return n / mx


def camera_to_xyz_d50(info: ColorInfo, neutral=None, white_xy=None) -> tuple[np.ndarray, tuple[float, float], float]:
    """The camera -> XYZ (D50 PCS) matrix for a white balance: DNG "Camera to XYZ (D50) Transform".

    Give at most one of ``neutral`` (camera neutral, (C,), any scale) or ``white_xy``. With neither,
    the file's AsShotNeutral, else AsShotWhiteXY, else D55 is used.

    * With a ForwardMatrix (one or both; interpolated like the colour matrices):
      ``M = FM * D * inverse(AB * CC)``, ``D = diag(1 / ReferenceNeutral)``,
      ``ReferenceNeutral = inverse(AB * CC) * n``.
    * Without: ``M = inverse(XYZtoCamera(w) * Bradford(D50 -> w) / s)``, s scaling the PCS white
      onto camera values with max 1 (pseudo-inverse for 4 channels). This equals the specification's
      ``Bradford(w -> D50) * inverse(XYZtoCamera)`` up to the scale s.

    Both map the neutral ``n = N / max(N)`` onto the D50 white with Y = 1 (module docstring).

    Returns
    -------
    (M, white_xy, cct): M (3, C) float64 mapping camera values (H, W, C) as ``img @ M.T`` to XYZ
    relative to D50 (Y = 1 for the normalised neutral); the white's xy and its correlated colour
    temperature in kelvin (the SDK's Robertson).
    """
    cal = _calibration(info)
    if neutral is not None and white_xy is not None:
        raise InvalidParams("give a camera neutral or a white xy, not both")
    if neutral is None and white_xy is None:
        if info.as_shot_neutral is not None:
            neutral = _check_neutral(info.as_shot_neutral, cal.channels, CorruptFile)
        elif info.as_shot_white_xy is not None:
            try:
                white_xy = _check_xy(info.as_shot_white_xy)
            except InvalidParams as e:
                raise CorruptFile(f"AsShotWhiteXY: {e.reason}") from None
        else:
            white_xy = D55_XY
    if neutral is not None:
        n = _check_neutral(neutral, cal.channels)
        xy = neutral_to_xy(info, n)
    else:
        xy = _check_xy(white_xy)
        n = None
    xyz2cam, fm, abcc, cct = _at_white(cal, xy)
    if n is None:
        n = xyz2cam @ _xyz(xy)
    mx = float(n.max())
    if not mx > 0:
        raise CorruptFile(f"the colour matrices map the white {xy} to non-positive camera values")
    camera_white = np.clip(n / mx, 0.001, 1.0)
    if fm is not None:
        individual_to_reference = _inverse(abcc, "AnalogBalance * CameraCalibration")
        ref = individual_to_reference @ camera_white
        if np.any(ref <= 0):
            raise CorruptFile("the reference camera neutral has non-positive components")
        m = fm @ np.diag(1.0 / ref) @ individual_to_reference
    else:
        pcs_to_camera = xyz2cam @ bradford_matrix(D50_XY, xy)
        scale = float(np.max(pcs_to_camera @ _PCS_XYZ))
        if not scale > 0:
            raise CorruptFile("the colour matrices map D50 to non-positive camera values")
        m = _inverse(pcs_to_camera / scale, "XYZ-to-camera matrix")
    return m, (float(xy[0]), float(xy[1])), float(cct)


def resolve_white(info: ColorInfo, params: ColorParams) -> tuple[np.ndarray | None, tuple | None]:
    """(neutral, white_xy) to pass to :func:`camera_to_xyz_d50` for ``params`` (one is None; both
    None means "the file's as-shot white")."""
    validate(params)
    if params.white_balance == "daylight":
        return None, D55_XY
    if params.white_balance == "custom":
        return None, temperature_tint_to_xy(params.temperature, params.tint)
    return None, None


class ColorTransform(NamedTuple):
    """Everything the develop stage needs from the colour model for one image."""

    matrix: np.ndarray  # (3, C) float64 camera -> XYZ D50
    white_xy: tuple[float, float]
    cct: float  # kelvin
    hue_sat_map: HueSatMap | None  # interpolated ProfileHueSatMap, or None
    look_table: HueSatMap | None  # ProfileLookTable, or None


def color_transform(info: ColorInfo, params: ColorParams | None = None) -> ColorTransform:
    """Resolve the white balance of ``params`` and return the camera -> XYZ D50 matrix, the white,
    its temperature and (when ``params.use_profile_tables``) the profile tables for that white."""
    params = ColorParams() if params is None else params
    neutral, white = resolve_white(info, params)
    m, xy, cct = camera_to_xyz_d50(info, neutral=neutral, white_xy=white)
    hsm = look = None
    if params.use_profile_tables:
        hsm = interpolate_hue_sat_map(info, cct)
        look = info.look_table
        if look is not None:
            _check_table(look, "ProfileLookTable")
    return ColorTransform(m, xy, cct, hsm, look)


# --------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------

_STRIP_PIXELS = 1 << 16


def _image(image, name: str = "image") -> np.ndarray:
    a = np.asarray(image)
    if a.ndim != 3:
        raise InvalidParams(f"{name} must be (H, W, C), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise InvalidParams(f"{name} must be a float array, got {a.dtype}")
    return a


def _run(fn, rows: int, cols: int, workers: int) -> None:
    per = max(1, _STRIP_PIXELS // max(cols, 1))
    spans = [(r, min(r + per, rows)) for r in range(0, rows, per)]
    if workers <= 1 or len(spans) <= 1:
        for s in spans:
            fn(*s)
        return
    with ThreadPoolExecutor(max_workers=min(int(workers), len(spans), os.cpu_count() or 1)) as ex:
        list(ex.map(lambda s: fn(*s), spans))


def apply_matrix(image, M, *, out: np.ndarray | None = None, workers: int = 2) -> np.ndarray:  # noqa: N803
    """``out = image @ M.T`` per pixel: (H, W, C) float -> (H, W, 3) float32, in row strips of ~64 K
    pixels on ``workers`` threads.

    ``M``: (3, C). ``out``: optional C-contiguous float32 (H, W, 3) to write into; it may be
    ``image`` itself when C == 3 (each strip is read before it is written), which saves a full
    image of memory - the input is then overwritten, so only do that with a buffer you own.
    Otherwise ``image`` is never modified.
    """
    img = _image(image)
    h, w, c = img.shape
    m = np.asarray(M, dtype=np.float64)
    if m.shape != (3, c):
        raise InvalidParams(f"matrix has shape {m.shape}, expected (3, {c}) for a {c}-channel image")
    if not np.all(np.isfinite(m)):
        raise InvalidParams("matrix contains non-finite values")
    if workers < 1:
        raise InvalidParams(f"workers must be >= 1, got {workers}")
    if out is None:
        out = np.empty((h, w, 3), np.float32)
    elif (
        not isinstance(out, np.ndarray)
        or out.shape != (h, w, 3)
        or out.dtype != np.float32
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise InvalidParams(f"out must be a writeable C-contiguous float32 array of shape {(h, w, 3)}")
    if np.shares_memory(out, img) and not (
        img.dtype == out.dtype
        and img.strides == out.strides
        and img.__array_interface__["data"][0] == out.__array_interface__["data"][0]
    ):
        raise InvalidParams("out overlaps the image without being the very same buffer")

    mf = [[np.float32(v) for v in row] for row in m]

    def work(r0: int, r1: int) -> None:
        # Plain per-channel arithmetic, not BLAS: an (n, 3) x (3, 3) product makes OpenBLAS spin up its
        # own threads, which collapses under load (measured 6 s vs 0.06 s per 12 MP on a busy machine).
        src = img[r0:r1].reshape(-1, c)
        chans = [np.array(src[:, k], dtype=np.float32) for k in range(c)]  # copies: out may alias img
        dst = out[r0:r1].reshape(-1, 3)
        acc = np.empty_like(chans[0])
        tmp = np.empty_like(chans[0])
        for i in range(3):
            np.multiply(chans[0], mf[i][0], out=acc)
            for k in range(1, c):
                np.multiply(chans[k], mf[i][k], out=tmp)
                acc += tmp
            dst[:, i] = acc

    _run(work, h, w, int(workers))
    return out


def _check_table(t: HueSatMap, name: str) -> np.ndarray:
    if not isinstance(t, HueSatMap):
        raise InvalidParams(f"{name} must be a HueSatMap, got {type(t).__name__}")
    a = np.asarray(t.table, dtype=np.float32)
    if a.ndim != 4 or a.shape[3] != 3:
        raise CorruptFile(f"{name} table has shape {a.shape}, expected (values, hues, sats, 3)")
    v, h, s, _ = a.shape
    if h < 1 or s < 2 or v < 1:
        raise CorruptFile(f"{name} needs >= 1 hue, >= 2 saturation and >= 1 value divisions; got {(h, s, v)}")
    if not np.all(np.isfinite(a)):
        raise CorruptFile(f"{name} contains non-finite values")
    if t.encoding not in (0, 1):
        raise UnsupportedFormat(f"{name} encoding {t.encoding} is not known (0 linear, 1 sRGB)")
    return a


def interpolate_hue_sat_map(info: ColorInfo, cct: float) -> HueSatMap | None:
    """ProfileHueSatMap for a white of temperature ``cct`` (K): HueSatMap1/2 mixed entry by entry
    with the colour matrices' weight (:func:`interpolation_weight`; the SDK's
    ``HueSatMapForWhite``). One table, or unknown / equal illuminant temperatures: that table.
    None when the file has none."""
    m1, m2 = info.hue_sat_map
    if m1 is None and m2 is None:
        return None
    if m1 is None or m2 is None:
        only = m1 if m1 is not None else m2
        _check_table(only, "ProfileHueSatMap")
        return only
    a1 = _check_table(m1, "ProfileHueSatMap1")
    a2 = _check_table(m2, "ProfileHueSatMap2")
    if a1.shape != a2.shape:
        raise CorruptFile(f"ProfileHueSatMap1/2 differ in size: {a1.shape} vs {a2.shape}")
    t1, t2 = (illuminant_temperature(c) for c in info.calibration_illuminant)
    interpolation_weight(cct, t1, t2)  # validates cct
    if not (t1 > 0 and t2 > 0) or t1 == t2:
        return m1
    # mix sorted by temperature so that the storage order cannot change a single bit
    (lo, a_lo), (hi, a_hi) = ((m1, a1), (m2, a2)) if t1 < t2 else ((m2, a2), (m1, a1))
    g = _weight_lo(float(cct), min(t1, t2), max(t1, t2))
    if g >= 1.0:
        return lo
    if g <= 0.0:
        return hi
    g32 = np.float32(g)
    table = g32 * a_lo + (np.float32(1) - g32) * a_hi
    return HueSatMap(table=table.astype(np.float32), encoding=m1.encoding)


def apply_hue_sat_map(prophoto_linear, table: HueSatMap | None, *, workers: int = 2) -> np.ndarray:
    """Apply a ProfileHueSatMap or ProfileLookTable to linear ProPhoto RGB (H, W, 3) float32.

    As the DNG SDK's ``RefBaselineHueSatMap``: each pixel goes to the SDK's HSV (hue in [0, 6)),
    the table is read by trilinear interpolation - hue wraps around (the last division interpolates
    with the first), saturation and value are clamped to the table, one value division makes it
    bilinear ("2.5D") - giving (hue shift in degrees, saturation scale, value scale); then
    ``h += shift / 60``, ``s = min(s * scale, 1)``, ``v *= value scale`` and back to RGB.
    Encoding 1 (ProfileHueSatMapEncoding / ProfileLookTableEncoding = sRGB): the value is sRGB
    encoded before the lookup, the value scale multiplies the encoded value, which is then decoded.

    Differences from the SDK, for scene-linear float data: values above 1 are not clipped (the
    lookup clamps its coordinates instead); pixels with a negative component or all components 0
    pass through unchanged (as RawTherapee does; their HSV is not defined in the SDK's [0, 1] pipe);
    with one value division and encoding 1 the value scale is applied in the encoded domain too.

    ``table`` None returns a copy. The input is not modified. Returns a new float32 array.
    """
    img = _image(prophoto_linear, "prophoto_linear")
    if img.shape[2] != 3:
        raise InvalidParams(f"prophoto_linear must have 3 channels, got {img.shape[2]}")
    if workers < 1:
        raise InvalidParams(f"workers must be >= 1, got {workers}")
    out = np.array(img, dtype=np.float32, order="C", copy=True)
    if table is None:
        return out
    lut = _check_table(table, "hue/sat table")
    nv, nh, ns, _ = lut.shape
    flat = np.ascontiguousarray(lut.reshape(-1, 3))
    encoded = table.encoding == 1
    h_scale = np.float32(nh / 6.0 if nh >= 2 else 0.0)
    f32 = np.float32
    h, w, _ = out.shape

    def work(r0: int, r1: int) -> None:
        px = out[r0:r1].reshape(-1, 3)
        r, g, b = px[:, 0], px[:, 1], px[:, 2]
        ok = (np.minimum(np.minimum(r, g), b) >= 0) & (np.maximum(np.maximum(r, g), b) > 0)
        every = bool(ok.all())
        if not every and not ok.any():
            return
        rgb = px if every else px[ok]
        hsv = rgb_to_hsv_dng(rgb)
        hue, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
        # lookup coordinates
        hs = hue * h_scale
        h0 = hs.astype(np.int32)
        h1 = h0 + 1
        wrap = h0 >= nh - 1
        h0 = np.where(wrap, nh - 1, h0)
        h1 = np.where(wrap, 0, h1)
        hf = (hs - h0).astype(f32)
        ss = np.clip(s, 0, 1) * f32(ns - 1)
        s0 = np.minimum(ss.astype(np.int32), ns - 2)
        sf = (ss - s0).astype(f32)
        v_enc = srgb_encode(v).astype(f32) if encoded else v
        if nv >= 2:
            vs = np.clip(v_enc, 0, 1) * f32(nv - 1)
            v0 = np.minimum(vs.astype(np.int32), nv - 2)
            vf = (vs - v0).astype(f32)[:, None]
            vlist = ((v0, f32(1) - vf), (v0 + 1, vf))
        else:
            vlist = ((np.zeros_like(h0), None),)
        acc = np.zeros((rgb.shape[0], 3), f32)
        for vi, vw in vlist:
            base = vi * nh
            for hi, hw in ((h0, (f32(1) - hf)[:, None]), (h1, hf[:, None])):
                row = (base + hi) * ns + s0
                # np.take: a 2-D fancy index here is ~20x slower
                part = np.take(flat, row, axis=0) * (f32(1) - sf)[:, None]
                part += np.take(flat, row + 1, axis=0) * sf[:, None]
                wgt = hw if vw is None else hw * vw
                acc += part * wgt
        hue = hue + acc[:, 0] * f32(6.0 / 360.0)
        s_new = np.minimum(s * acc[:, 1], f32(1))
        if encoded:
            v_new = srgb_decode(v_enc * acc[:, 2]).astype(f32)
        else:
            v_new = v * acc[:, 2]
        res = hsv_to_rgb_dng(np.stack([hue, s_new, v_new], axis=-1))
        if every:
            px[...] = res
        else:
            px[ok] = res

    _run(work, h, w, int(workers))
    return out
