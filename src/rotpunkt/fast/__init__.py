"""Compiled fast path: Halide pipelines compiled ahead of time into ``rotpunkt.fast._kernels``.

The kernels are defined in ``generate.py`` (build time only) and compiled by ``setup.py`` during
``pip install``; at run time only numpy is needed. When the module was not built (no compiler, no
``halide`` wheel for this platform, ``ROTPUNKT_NO_HALIDE=1``, ...) :data:`AVAILABLE` is False and
:data:`REASON` says why; callers then use the numpy stages, which these kernels match:

* :func:`bayer_to_rgb` -- ``rotpunkt.stages.demosaic`` RCD / bilinear on a 2x2 Bayer mosaic,
  bit-for-bit (same float32 operations in the same order, same mirrored borders).
* :func:`colour_encode` -- ``colour.apply_matrix`` + ``np.clip`` + ``colour_math.srgb_encode``
  (measured within 0.1/65535 of the exact float64 formula; in place allowed).
* :func:`bayer_develop` -- the two above fused per tile (no full-size camera-RGB intermediate);
  bit-identical to calling them one after the other.
* :func:`linearize_wb` -- black subtraction, scaling and white-balance gains per Bayer site, clip.

Every wrapper takes numpy arrays, checks shapes and dtypes (raising ``InvalidParams``), never modifies
its inputs (except ``out``), allocates its result unless ``out`` is given, and runs on Halide's
thread pool (``workers`` threads; None leaves the pool as it is: all cores, or ``HL_NUM_THREADS``).
The GIL is released while a kernel runs.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np

from ..errors import InvalidParams

__all__ = [
    "AVAILABLE",
    "METHODS",
    "REASON",
    "TARGET",
    "bayer_develop",
    "bayer_to_rgb",
    "colour_encode",
    "linearize_wb",
    "red_phase",
    "set_num_threads",
]

#: Demosaic methods the compiled path implements (for 2x2 Bayer patterns only).
METHODS = ("rcd", "bilinear")


def _build_info() -> dict:
    try:
        return json.loads((Path(__file__).with_name("_build_info.json")).read_text())
    except (OSError, ValueError):
        return {}


try:
    from . import _kernels  # type: ignore[attr-defined]
except ImportError as _exc:  # not built, or built for another Python/CPU
    _kernels = None
    _info = _build_info()
    if _info.get("reason"):
        REASON = f"the Halide kernels were not built: {_info['reason']}"
    elif _info.get("built"):
        REASON = f"the compiled module does not load: {_exc}"
    else:
        REASON = (
            "the compiled module rotpunkt.fast._kernels is missing (the package was not built with "
            f"setup.py, e.g. a source checkout on sys.path): {_exc}"
        )
    AVAILABLE = False
    TARGET: str | None = None
else:
    AVAILABLE = True
    REASON = ""
    TARGET = _kernels.target()

_lock = threading.Lock()
_threads: int | None = None  # what the Halide pool was last set to by this module


def _require() -> None:
    if _kernels is None:
        raise RuntimeError(f"rotpunkt.fast is not available: {REASON}")


def set_num_threads(n: int) -> int:
    """Size the Halide thread pool (process-wide); 0 restores Halide's default. Returns the old size."""
    global _threads
    _require()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InvalidParams(f"threads must be an integer >= 0; got {n!r}")
    with _lock:
        old = _kernels.set_num_threads(int(n))
        _threads = int(n) or None
    return old


def _use_workers(workers) -> None:
    if workers is None:
        return
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidParams(f"workers must be an integer >= 1 or None; got {workers!r}")
    if workers != _threads:
        set_num_threads(int(workers))


# --------------------------------------------------------------------------------------------------
# Argument checks


def red_phase(cfa_pattern) -> tuple[int, int] | None:
    """(row, col) of red in a 2x2 Bayer tile (also a repeated 4x4... tiling of one), or None if the
    pattern is not Bayer (X-Trans, RGBE, ...): the compiled demosaic does not apply then."""
    from ..stages import demosaic as _dm

    return _dm._bayer_red_phase(_dm._check_pattern(cfa_pattern))


def _check_phase(phase) -> tuple[int, int]:
    try:
        ry, rx = (int(v) for v in phase)
    except (TypeError, ValueError):
        raise InvalidParams(f"red_phase must be a (row, col) pair of 0/1; got {phase!r}") from None
    if ry not in (0, 1) or rx not in (0, 1):
        raise InvalidParams(f"red_phase must be a (row, col) pair of 0/1; got {phase!r}")
    return ry, rx


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise InvalidParams(f"compiled demosaic method must be one of {METHODS}; got {method!r}")
    return method


def _check_mosaic(mosaic, check_finite: bool) -> np.ndarray:
    if not isinstance(mosaic, np.ndarray) or mosaic.ndim != 2:
        raise InvalidParams(f"mosaic must be a 2-D numpy array; got {getattr(mosaic, 'shape', type(mosaic))}")
    if mosaic.dtype != np.float32:
        raise InvalidParams(f"mosaic must be float32; got {mosaic.dtype}")
    h, w = mosaic.shape
    if h < 2 or w < 2:
        raise InvalidParams(f"mosaic of {h}x{w} pixels is smaller than one 2x2 CFA repeat")
    if check_finite and not math.isfinite(float(np.add.reduce(mosaic, axis=None))):
        raise InvalidParams("mosaic must hold finite values; found NaN, inf or values beyond float32 range")
    # C order; a (1, W)-like array is never passed (h >= 2), so C order maps unambiguously
    return np.ascontiguousarray(mosaic)


def _check_matrix(matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3):
        raise InvalidParams(f"matrix must be 3x3; got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise InvalidParams("matrix contains non-finite values")
    return np.ascontiguousarray(m, dtype=np.float32)


def _check_clip(lo, hi) -> tuple[float, float]:
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise InvalidParams(f"clip range must be finite with low <= high; got ({lo}, {hi})")
    return lo, hi


#: Halide addresses buffers with 32-bit offsets: no array may reach 2 GiB (a 178 MP RGB float32 image);
#: larger images go through the tiled runner.
_MAX_BYTES = 2**31 - 1


def _check_out(out, shape, inputs=()) -> np.ndarray:
    if math.prod(shape) * 4 > _MAX_BYTES:
        raise InvalidParams(f"image of shape {shape} is too large for the compiled kernels (2 GiB per array); "
                            "process it in tiles")
    if out is None:
        return np.empty(shape, np.float32)
    if (
        not isinstance(out, np.ndarray)
        or out.shape != shape
        or out.dtype != np.float32
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        raise InvalidParams(f"out must be a writeable C-contiguous float32 array of shape {shape}")
    for a in inputs:
        if np.shares_memory(out, a):
            raise InvalidParams("out must not overlap the input")
    return out


def _check_rgb(rgb) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidParams(f"rgb must be a numpy array of shape (H, W, 3); got {getattr(rgb, 'shape', rgb)}")
    if rgb.dtype != np.float32:
        raise InvalidParams(f"rgb must be float32; got {rgb.dtype}")
    return np.ascontiguousarray(rgb)


# --------------------------------------------------------------------------------------------------
# Kernels


def bayer_to_rgb(
    mosaic: np.ndarray,
    red_phase: tuple[int, int],
    method: str = "rcd",
    *,
    out: np.ndarray | None = None,
    workers: int | None = None,
    check_finite: bool = True,
) -> np.ndarray:
    """Demosaic a 2x2 Bayer mosaic: the compiled twin of ``rotpunkt.stages.demosaic`` (same values).

    Parameters
    ----------
    mosaic : ndarray float32 (H, W), H, W >= 2
        Camera-native scene-linear samples, 1.0 = white; negatives and values above 1 are kept.
        Not modified; copied first only if not C-contiguous.
    red_phase : (row, col)
        Position of red in the 2x2 tile (RGGB (0, 0), GRBG (0, 1), GBRG (1, 0), BGGR (1, 1)); see
        :func:`red_phase` to get it from a CFA pattern.
    method : "rcd" or "bilinear"
    out : optional writeable C-contiguous float32 (H, W, 3), not overlapping ``mosaic``.
    workers : Halide threads (process-wide setting); None keeps the current pool.
    check_finite : reject NaN/inf like the numpy stage does (one pass over the mosaic).

    Returns
    -------
    ndarray float32 (H, W, 3), camera RGB, equal to ``DEMOSAIC[method](mosaic, pattern)``.
    """
    _require()
    ry, rx = _check_phase(red_phase)
    fn = _kernels.bayer_rcd if _check_method(method) == "rcd" else _kernels.bayer_bilinear
    arr = _check_mosaic(mosaic, check_finite)
    res = _check_out(out, (*arr.shape, 3), (arr,))
    _use_workers(workers)
    fn(arr, ry, rx, res)
    return res


def colour_encode(
    rgb: np.ndarray,
    matrix,
    *,
    clip_low: float = 0.0,
    clip_high: float = 1.0,
    out: np.ndarray | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """``srgb_encode(clip(rgb @ matrix.T, clip_low, clip_high))`` per pixel, float32.

    Parameters
    ----------
    rgb : ndarray float32 (H, W, 3), linear (any primaries); not modified unless ``out is rgb``.
    matrix : (3, 3) array_like; output channel c is ``sum_k matrix[c, k] * rgb[..., k]`` (float32).
    clip_low, clip_high : the linear values are clamped to this range before encoding.
    out : optional writeable C-contiguous float32 (H, W, 3); may be ``rgb`` itself (in place: each
        pixel is read completely before it is written), saving a full image of memory.
    workers : Halide threads (process-wide setting); None keeps the current pool.

    Returns
    -------
    ndarray float32 (H, W, 3), sRGB-encoded (IEC 61966-2-1) values; in [0, 1] for the default clip.
    Measured within 0.1/65535 of the float64 formula (float32 matrix product, Halide's vectorised pow).
    """
    _require()
    arr = _check_rgb(rgb)
    m = _check_matrix(matrix)
    lo, hi = _check_clip(clip_low, clip_high)
    in_place = out is not None and out is rgb and arr is rgb
    res = _check_out(out, arr.shape, () if in_place else (arr,))
    _use_workers(workers)
    if arr.shape[0] * arr.shape[1] <= 1:  # a (1, 1, 3) array is also Fortran-contiguous: ambiguous axes
        res[...] = _kernels_reference_encode(arr, m, lo, hi)
        return res
    _kernels.colour_encode(arr, m, lo, hi, res)
    return res


def _kernels_reference_encode(arr, m, lo, hi) -> np.ndarray:
    from ..colour_math import srgb_encode

    lin = np.clip(arr.astype(np.float64) @ m.astype(np.float64).T, lo, hi)
    return srgb_encode(lin).astype(np.float32)


def bayer_develop(
    mosaic: np.ndarray,
    red_phase: tuple[int, int],
    method: str,
    matrix,
    *,
    clip_low: float = 0.0,
    clip_high: float = 1.0,
    out: np.ndarray | None = None,
    workers: int | None = None,
    check_finite: bool = True,
) -> np.ndarray:
    """:func:`bayer_to_rgb` then :func:`colour_encode`, fused per tile: one (H, W, 3) float32 output,
    no full-size intermediate. Same arguments as those two; the result is bit-identical to
    ``colour_encode(bayer_to_rgb(mosaic, red_phase, method), matrix, clip_low=, clip_high=)``.
    """
    _require()
    ry, rx = _check_phase(red_phase)
    fn = _kernels.bayer_develop_rcd if _check_method(method) == "rcd" else _kernels.bayer_develop_bilinear
    arr = _check_mosaic(mosaic, check_finite)
    m = _check_matrix(matrix)
    lo, hi = _check_clip(clip_low, clip_high)
    res = _check_out(out, (*arr.shape, 3), (arr,))
    _use_workers(workers)
    fn(arr, ry, rx, m, lo, hi, res)
    return res


def linearize_wb(
    raw: np.ndarray,
    black,
    scale,
    gain=None,
    *,
    clip_high: float | None = 1.0,
    origin: tuple[int, int] = (0, 0),
    shape: tuple[int, int] | None = None,
    out: np.ndarray | None = None,
    workers: int | None = None,
) -> np.ndarray:
    """``min(((raw - black) * scale) * gain, clip_high)`` per pixel, float32, per 2x2 CFA site.

    Parameters
    ----------
    raw : ndarray uint16 (H, W), C-contiguous stored samples (the whole stored image: the window
        to process is given by ``origin`` and ``shape``, so an ActiveArea crop needs no copy).
    black, scale, gain : (2, 2) array_like, or scalars; output pixel (y, x) uses entry
        ``[y % 2, x % 2]`` (anchored at ``origin``, as DNG anchors BlackLevel at the active area).
        ``scale`` is 1 / (white - black) in the reference's float32 rounding; ``gain`` the white
        balance multipliers (None = 1).
    clip_high : upper clip (1.0 = sensor saturation after white balance), or None for no clip.
    origin : (top, left) of the window in ``raw``; shape : (h, w) of the window (None = the rest).
    out : optional writeable C-contiguous float32 (h, w).

    Returns
    -------
    ndarray float32 (h, w): 0.0 = black, 1.0 = white (times the gain). Equals the numpy order of
    operations ``(float32(raw) - black) * scale`` then ``* gain`` then ``np.minimum(., clip_high)``.
    """
    _require()
    if not isinstance(raw, np.ndarray) or raw.ndim != 2 or raw.dtype != np.uint16:
        raise InvalidParams(f"raw must be a 2-D uint16 numpy array; got {getattr(raw, 'dtype', type(raw))}")
    src = np.ascontiguousarray(raw)
    try:
        top, left = (int(v) for v in origin)
    except (TypeError, ValueError):
        raise InvalidParams(f"origin must be (top, left); got {origin!r}") from None
    if shape is None:
        shape = (src.shape[0] - top, src.shape[1] - left)
    h, w = (int(v) for v in shape)
    if top < 0 or left < 0 or h < 1 or w < 1 or top + h > src.shape[0] or left + w > src.shape[1]:
        raise InvalidParams(f"window origin={origin} shape={shape} does not fit in raw of shape {src.shape}")
    if h == 1 or w == 1:
        raise InvalidParams(f"window of {h}x{w} pixels is too small (need at least 2x2)")

    def per_site(v, name):
        a = np.broadcast_to(np.asarray(1.0 if v is None else v, dtype=np.float32), (2, 2))
        if not np.all(np.isfinite(a)):
            raise InvalidParams(f"{name} must be finite")
        return np.ascontiguousarray(a)

    b, s, g = per_site(black, "black"), per_site(scale, "scale"), per_site(gain, "gain")
    hi = np.inf if clip_high is None else float(clip_high)
    if math.isnan(hi):
        raise InvalidParams("clip_high must not be NaN")
    res = _check_out(out, (h, w), (src,))
    _use_workers(workers)
    _kernels.linearize_wb(src, b, s, g, left, top, hi, res)
    return res


# --------------------------------------------------------------------------------------------------
# Look engine (see generate_look.py; rotpunkt.look builds the arguments and is the numpy reference)


def _grid(a, ndim: int, name: str) -> np.ndarray:
    """A float32 C-contiguous grid; the last two axes of a 2-D or 3-D one are edge-padded to at least
    2 (the same bilinear values: a single node row is replicated), as the extension's buffer
    conversion rejects axes of one element."""
    arr = np.ascontiguousarray(a, dtype=np.float32)
    if arr.ndim != ndim or min(arr.shape, default=0) < 1:
        raise InvalidParams(f"{name} must be a non-empty {ndim}-D array; got shape {arr.shape}")
    short = [max(0, 2 - n) if k >= ndim - 2 and ndim > 1 else 0 for k, n in enumerate(arr.shape)]
    if any(short):
        arr = np.ascontiguousarray(np.pad(arr, [(0, k) for k in short], mode="edge"))
    return arr


def _look_prm(prm) -> np.ndarray:
    from .layout import LOOK_PRM

    arr = _grid(prm, 1, "prm")
    if arr.shape != (len(LOOK_PRM),) or not np.all(np.isfinite(arr)):
        raise InvalidParams(f"prm must hold {len(LOOK_PRM)} finite values (layout.LOOK_PRM)")
    return arr


def _look_rgb(rgb) -> np.ndarray:
    arr = _check_rgb(rgb)
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise InvalidParams(f"the compiled look kernels need an image of at least 2 x 2 pixels; got {arr.shape[:2]}")
    return arr


def look_sums(rgb: np.ndarray, prm, vignette, sub: int, *, glow: bool = False, ab=None,
              local_tone: bool = False, flags: dict | None = None, workers: int | None = None) -> np.ndarray:
    """Column sums over blocks of ``sub`` rows of the local tone stage's log2 luminance (``glow``
    False) or the halation's emission (``glow`` True: needs the local tone coefficients ``ab`` and
    the switches ``flags`` of tone, saturation and monochrome). Returns float32
    (ceil(H / sub), W)."""
    _require()
    from .layout import LOOK_RUNTIME_FLAGS

    arr, p, vg = _look_rgb(rgb), _look_prm(prm), _grid(vignette, 2, "vignette")
    if isinstance(sub, bool) or not isinstance(sub, (int, np.integer)) or not 1 <= sub <= arr.shape[0]:
        raise InvalidParams(f"sub must be an integer in [1, {arr.shape[0]}]; got {sub!r}")
    h, w = arr.shape[:2]
    res = _check_out(None, (-(-h // int(sub)), w))
    _use_workers(workers)
    if not glow:
        _kernels.look_sums_logy(arr, *p.tolist(), vg, int(sub), res)
        return res
    fl = flags or {}
    switches = [bool(fl.get(n, False)) for n in LOOK_RUNTIME_FLAGS if n != "encode"]
    fn = _kernels.look_sums_glow_1 if local_tone else _kernels.look_sums_glow_0
    fn(arr, *p.tolist(), vg, _grid(ab, 3, "ab"), int(sub), *switches, res)
    return res


def look_apply(rgb: np.ndarray, prm, vignette, *, ab, glow, noise_shape=(1, 1), noise_seed: int = 0, taps, flags: dict,
               out: np.ndarray | None = None, workers: int | None = None) -> np.ndarray:
    """The whole look on scene-linear Rec.2020 ``rgb`` (H, W, 3) float32, fused per tile, then the
    output matrix, clip and (``flags['encode']``) sRGB encoding. ``flags``: name -> bool for
    ``layout.LOOK_FLAGS``. The grids and tables are ``rotpunkt.look``'s (see generate_look.py); the
    grain's noise grid (``noise_shape`` nodes) is hashed on the fly from ``noise_seed``
    (``look.grain_seed_term``). Returns float32 (H, W, 3). ``out`` may be ``rgb`` itself (in
    place): a pixel is read before it is written, and with sharpening, which reads neighbours, each
    strip computes its image before sharpening before it writes, and the rows two strips read come
    from a copy (:func:`look_edge_rows`)."""
    _require()
    from .layout import LOOK_FLAGS, LOOK_RUNTIME_FLAGS

    arr, p, vg = _look_rgb(rgb), _look_prm(prm), _grid(vignette, 2, "vignette")
    fl = {n: bool(flags.get(n, False)) for n in LOOK_FLAGS}
    in_place = out is not None and out is rgb and arr is rgb
    res = _check_out(out, arr.shape, () if in_place else (arr,))
    nh, nw = (int(v) for v in noise_shape)
    if nh < 1 or nw < 1 or not 0 <= int(noise_seed) < 2**32:
        raise InvalidParams(f"noise_shape must be positive and noise_seed a 32-bit value; got {noise_shape}, "
                            f"{noise_seed}")
    t = _grid(taps, 1, "taps")
    if t.shape[0] % 2 != 1:
        raise InvalidParams(f"taps must have an odd length; got {t.shape[0]}")
    if t.shape[0] == 1:  # the same filter with zero taps around (one-element axes are rejected)
        t = np.array([0.0, t[0], 0.0], np.float32)
    edges = look_edge_rows(arr, t.shape[0] // 2) if fl["sharpen"] else np.zeros((2, 2, 3), np.float32)
    film = 2 if fl["halation"] else int(fl["grain"])  # the variants: none, grain, halation and grain
    fn = getattr(_kernels, f"look_apply_{int(fl['local_tone'])}{int(film)}{int(fl['sharpen'])}")
    runtime = [fl[n] for n in LOOK_RUNTIME_FLAGS]
    _use_workers(workers)
    fn(arr, *p.tolist(), vg, _grid(ab, 3, "ab"), _grid(glow, 2, "glow"), nw, nh, int(noise_seed), t, edges, *runtime,
       res)
    return res


def look_edge_rows(rgb: np.ndarray, radius: int) -> np.ndarray:
    """The rows of ``rgb`` within ``radius`` of a boundary between ``look_apply``'s strips (rows y with
    (y + radius) mod LOOK_STRIP < 2 radius), copied in order: what neighbouring strips both read."""
    from .layout import LOOK_STRIP

    if not 1 <= radius <= LOOK_STRIP // 2:
        raise InvalidParams(f"the sharpening radius must be 1..{LOOK_STRIP // 2} pixels; got {radius}")
    rows = np.arange(rgb.shape[0])
    rows = rows[(rows + radius) % LOOK_STRIP < 2 * radius]
    return np.ascontiguousarray(rgb[rows] if rows.size >= 2 else np.repeat(rgb[:1], 2, axis=0), dtype=np.float32)
