"""Demosaicing: a colour filter array mosaic (H, W) -> camera RGB (H, W, 3).

Input: float32 (H, W), camera-native scene-linear values of one colour sample per pixel, normalised
so that 0.0 = black and 1.0 = white; noise may make values slightly negative and highlights may exceed
1.0. Nothing is clipped. ``cfa_pattern`` is an int array (rows, cols) of colour indices (0 = red,
1 = green, 2 = blue) giving the colour of pixel (y, x) as ``cfa_pattern[y % rows, x % cols]``.
Output: float32 (H, W, 3), camera RGB in the same units; every known sample keeps its exact value.

Methods (the :data:`DEMOSAIC` registry):

* ``"rcd"`` (default) -- Ratio Corrected Demosaicing, L. Sanz Rodriguez (2017). Bayer patterns only;
  anything else raises ``UnsupportedFormat`` so the caller can fall back to ``"bilinear"``.
* ``"bilinear"`` -- the mean of the nearest samples of each colour. For Bayer patterns the usual 4-/2-
  neighbour means; for any other repeating pattern (X-Trans, 2x2 non-Bayer, ...) a normalised
  convolution per colour plane with a tent kernel.

Schedule: the image is processed in horizontal strips (:data:`STRIP_ROWS` rows plus the context the
method needs) on ``workers`` threads; numpy's element-wise kernels release the GIL. Each strip is
split into its four Bayer sites as quarter-resolution planes stored flat, so every neighbour access
is a contiguous slice, and all temporaries come from a per-thread buffer pool reused from strip to
strip (fresh temporaries page-fault). Every strip writes its rows into one preallocated output; no
whole-image float temporaries are made. A strip's result does not depend on where the strip starts,
so the result is bit-identical for any strip height or thread count. Measured on a shared 2-core
AMD EPYC (bench/demosaic.py, 12 MP, 2 workers): rcd ~0.3 s (CPU ~0.45 s), bilinear ~0.06 s.

Borders are extended by reflection about the edge pixel (``x[-k] = x[k]``), which keeps every pixel's
Bayer phase (k and -k have the same parity), so the methods see a valid CFA everywhere.

Halo: :data:`HALO` gives, per method, the pixels of real context on each side that make an output pixel
exactly equal to its whole-image value (the support radius of the method, rounded up to an even number
so that tiles keep the CFA phase). It applies to Bayer patterns; for other patterns bilinear uses
twice the radius that puts every colour in each window (see :func:`_general_radius`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParams, UnsupportedFormat
from ..params import param, validate
from ..types import BLUE, GREEN, RED

__all__ = [
    "DEFAULT_METHOD",
    "DEMOSAIC",
    "HALO",
    "STRIP_ROWS",
    "DemosaicParams",
    "demosaic",
    "demosaic_bilinear",
    "demosaic_rcd",
]

#: Default rows per strip (measured on 12 MP rcd: 128 and 256 equally fast, 32-64 slower from the
#: halo overhead, 512 slower from cache misses; 128 uses less memory).
STRIP_ROWS = 128

#: Small positive floor of the low-pass values RCD divides by (1.0 = white). Keeps the ratio
#: correction factor 2a / (a + b) within (0, 2) when noise drives local means to or below zero.
_LPF_FLOOR = np.float32(1e-5)
#: Gradient and statistic regularisers of RCD (the values of the reference description, 1.0 = white).
_EPS = np.float32(1e-5)
_EPS_SQ = np.float32(1e-10)

_SITES = ((0, 0), (0, 1), (1, 0), (1, 1))
_RB = ((0, 0), (1, 1))  # red and blue sites of the canonical RGGB block
_GG = ((0, 1), (1, 0))  # green sites


# --------------------------------------------------------------------------------------------------
# Input checks and pattern analysis


def _check_mosaic(mosaic) -> np.ndarray:
    arr = np.asarray(mosaic)
    if arr.ndim != 2:
        raise InvalidParams(f"mosaic must be a 2-D (H, W) array; got shape {arr.shape}")
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise InvalidParams(f"mosaic must hold real numbers; got dtype {arr.dtype}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    # One reduction, no temporary: NaN or inf anywhere (or values whose sum overflows) shows here.
    if not math.isfinite(float(np.add.reduce(arr, axis=None))):
        raise InvalidParams("mosaic must hold finite values; found NaN, inf or values beyond float32 range")
    return arr


def _check_pattern(cfa_pattern) -> np.ndarray:
    try:
        pat = np.asarray(cfa_pattern)
    except Exception as exc:  # ragged lists and the like
        raise InvalidParams(f"cfa_pattern is not an array: {exc}") from None
    if pat.ndim != 2 or pat.shape[0] < 1 or pat.shape[1] < 1:
        raise InvalidParams(f"cfa_pattern must be a 2-D (rows, cols) array; got shape {pat.shape}")
    if pat.dtype == np.bool_ or pat.dtype.kind not in "fiu":
        raise InvalidParams(f"cfa_pattern must hold integer colour indices; got dtype {pat.dtype}")
    if pat.dtype.kind == "f" and not (np.all(np.isfinite(pat)) and np.all(pat == np.round(pat))):
        raise InvalidParams("cfa_pattern must hold integer colour indices 0, 1, 2")
    pat = pat.astype(np.int64)
    if np.any((pat < 0) | (pat > 2)):
        found = np.unique(pat).tolist()
        raise InvalidParams(f"cfa_pattern values must be 0 (red), 1 (green) or 2 (blue); got {found}")
    missing = [n for c, n in ((RED, "red"), (GREEN, "green"), (BLUE, "blue")) if not np.any(pat == c)]
    if missing:
        raise InvalidParams(f"cfa_pattern has no {' or '.join(missing)} samples; cannot make RGB")
    return _minimal_period(pat)


def _minimal_period(pat: np.ndarray) -> np.ndarray:
    """The smallest tile that repeats to ``pat`` (a 4x4 Bayer tiling becomes its 2x2 tile)."""
    for axis in (0, 1):
        n = pat.shape[axis]
        for d in range(1, n + 1):
            if n % d == 0 and np.array_equal(pat, np.roll(pat, d, axis=axis)):
                pat = pat[:d] if axis == 0 else pat[:, :d]
                break
    return pat


def _bayer_red_phase(pat: np.ndarray) -> tuple[int, int] | None:
    """(row, col) of red in a 2x2 Bayer tile (greens on one diagonal), or None if not Bayer."""
    if pat.shape != (2, 2):
        return None
    for ry, rx in _SITES:
        greens = pat[ry, 1 - rx] == GREEN and pat[1 - ry, rx] == GREEN
        if greens and pat[ry, rx] == RED and pat[1 - ry, 1 - rx] == BLUE:
            return ry, rx
    return None


def _check_size(arr: np.ndarray, pat: np.ndarray) -> None:
    ph, pw = pat.shape
    h, w = arr.shape
    if h < max(2, ph) or w < max(2, pw):
        raise InvalidParams(
            f"mosaic of {h}x{w} pixels is smaller than one CFA repeat ({max(2, ph)}x{max(2, pw)}); "
            "it does not hold every colour"
        )


def _check_run_args(workers, strip_rows) -> tuple[int, int]:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidParams(f"workers must be an integer >= 1; got {workers!r}")
    if strip_rows is None:
        strip_rows = STRIP_ROWS
    if isinstance(strip_rows, bool) or not isinstance(strip_rows, (int, np.integer)) or strip_rows < 1:
        raise InvalidParams(f"strip_rows must be an integer >= 1 or None; got {strip_rows!r}")
    return int(workers), int(strip_rows) + (int(strip_rows) & 1)  # even, so strips keep the CFA phase


def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Map any integer positions into [0, n) by repeated reflection about 0 and n-1 (parity-preserving)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    k = np.mod(idx, period)
    return np.where(k >= n, period - k, k)


# --------------------------------------------------------------------------------------------------
# Bayer strip machinery: each strip becomes four quarter-resolution planes of an RGGB-phased block.


class _Field:
    """One quantity held on (some of) the four Bayer sites of a block, as quarter-resolution planes.

    A plane is stored flat (1-D, row-major with row length ``ww``) so that every shifted read is one
    contiguous slice: numpy runs about 2.5x faster on those than on 2-D strided windows. A field of
    margin ``m`` holds flat positions [m * ww + m, (hh - m) * ww - m) of the (hh, ww) plane: rows
    [m, hh - m) are valid in columns [m, ww - m); the entries between (row ends) are don't-care values
    computed from wrapped neighbours, never read by a valid entry of a later field.
    """

    __slots__ = ("hh", "m", "planes", "ww")

    def __init__(self, hh: int, ww: int, m: int):
        self.hh, self.ww, self.m = hh, ww, m
        self.planes: dict[tuple[int, int], np.ndarray] = {}

    def size(self, m: int) -> int:
        """Length of the flat run of a margin-``m`` field."""
        return (self.hh - 2 * m) * self.ww - 2 * m

    def at(self, m: int, site: tuple[int, int], dy: int = 0, dx: int = 0) -> np.ndarray:
        """Values at full-resolution offset (dy, dx) from ``site``, for a margin-``m`` result (a view)."""
        qy, sy = divmod(site[0] + dy, 2)
        qx, sx = divmod(site[1] + dx, 2)
        d = m - self.m
        if abs(qy) > d or abs(qx) > d:
            raise AssertionError(f"demosaic internal: offset ({dy}, {dx}) needs margin > {self.m} at {m}")
        start = (d + qy) * self.ww + d + qx
        return self.planes[(sy, sx)][start : start + self.size(m)]

    def grid(self, a: np.ndarray, m: int) -> np.ndarray:
        """The (hh - 2m, ww - 2m) valid window of a flat margin-``m`` run, as a read-only 2-D view."""
        return np.lib.stride_tricks.as_strided(
            a,
            shape=(self.hh - 2 * m, self.ww - 2 * m),
            strides=(self.ww * a.itemsize, a.itemsize),
            writeable=False,
        )


class _Pool:
    """Work buffers of one thread, reused from strip to strip.

    Fresh numpy temporaries of a few hundred KiB come from glibc's heap top or mmap and are returned
    to the OS when freed, so every new one page-faults; measured on RCD that was ~40% of the CPU time.
    ``get`` hands out a view of a buffer of ``cap`` elements; ``put`` takes it back early; ``reset``
    (end of strip) takes back everything.
    """

    def __init__(self, cap: int):
        self.cap = cap
        self._free: dict[np.dtype, list[np.ndarray]] = {}
        self._used: dict[int, np.ndarray] = {}

    def get(self, n: int, dtype=np.float32) -> np.ndarray:
        dt = np.dtype(dtype)
        free = self._free.setdefault(dt, [])
        buf = free.pop() if free else np.empty(self.cap, dt)
        self._used[id(buf)] = buf
        return buf[:n]

    def put(self, *arrays: np.ndarray) -> None:
        for a in arrays:
            buf = self._used.pop(id(a.base))
            self._free[buf.dtype].append(buf)

    def reset(self) -> None:
        for buf in self._used.values():
            self._free[buf.dtype].append(buf)
        self._used.clear()


def _load_block(
    arr: np.ndarray, r0: int, r1: int, pad: int, ry: int, x0: int, cols: np.ndarray, pool: _Pool
) -> tuple[int, _Field]:
    """Copy strip rows [r0, r1) with ``pad`` rows/cols of context into four contiguous RGGB planes.

    Block row 0 is image row ``y0 = r0 - pad - ry`` (the parity of red's row) and block column 0 is
    image column ``x0`` (the parity of red's column), so block pixel (0, 0) is red. Rows and columns
    outside the image are reflected about the edge pixel. Returns (y0, field of the four planes).
    """
    h, w = arr.shape
    nc = cols.size
    y0 = r0 - pad - ry
    nr = r1 + pad - y0
    nr += nr & 1
    if y0 >= 0 and y0 + nr <= h:
        src = arr[y0 : y0 + nr]
    else:
        src = arr[_reflect_index(np.arange(y0, y0 + nr), h)]
    lo, hi = -x0, -x0 + w
    cfa = _Field(nr // 2, nc // 2, 0)
    n = cfa.size(0)
    for py, px in _SITES:
        plane = pool.get(n).reshape(cfa.hh, cfa.ww)
        # even/odd columns of the image part, then the reflected columns at both ends
        c_lo = (lo - px + 1) // 2  # plane columns [c_lo, c_hi) lie inside the image
        c_hi = (hi - px + 1) // 2
        plane[:, c_lo:c_hi] = src[py::2, 2 * c_lo + px - lo :: 2]
        plane[:, :c_lo] = src[py::2][:, cols[px : 2 * c_lo : 2]]
        plane[:, c_hi:] = src[py::2][:, cols[2 * c_hi + px :: 2]]
        cfa.planes[(py, px)] = plane.reshape(-1)
    return y0, cfa


def _write_block(out, r0, r1, y0, x0, f: _Field, m, rgb: dict) -> None:
    """Scatter per-site flat (R, G, B) runs of margin ``m`` (geometry of ``f``) into rows [r0, r1)."""
    w = out.shape[1]
    for (py, px), flat in rgb.items():
        chans = [f.grid(a, m) for a in flat]
        i_lo = (r0 - y0 - py + 1) // 2
        i_hi = (r1 - y0 - py + 1) // 2
        j_lo = (0 - x0 - px + 1) // 2
        j_hi = (w - x0 - px + 1) // 2
        ys, xs = y0 + 2 * i_lo + py, x0 + 2 * j_lo + px
        if i_lo < m or j_lo < m or i_hi - m > chans[0].shape[0] or j_hi - m > chans[0].shape[1]:
            raise AssertionError("demosaic internal: strip context too small")
        for ch in range(3):
            out[ys:r1:2, xs:w:2, ch] = chans[ch][i_lo - m : i_hi - m, j_lo - m : j_hi - m]


def _run_bayer(kernel, margin: int, arr, red, workers: int, strip_rows: int) -> np.ndarray:
    """Run ``kernel(cfa_field, pool) -> {site: (R, G, B)}``, valid at plane margin ``margin``, on strips.

    A block carries 2 * margin pixels of context on every side; with the red-phase shift of at most
    one pixel the kernel's valid region still covers the strip's rows and all columns.
    """
    h, w = arr.shape
    out = np.empty((h, w, 3), np.float32)
    ry, rx = red
    pad = 2 * margin
    x0 = -pad - rx
    nc = w + pad - x0
    nc += nc & 1
    cols = _reflect_index(np.arange(x0, x0 + nc), w)
    cap = (min(h, strip_rows) + 2 * pad + 2) // 2 * (nc // 2)  # plane elements of the largest block
    local = threading.local()

    def one(r0: int) -> None:
        pool = getattr(local, "pool", None)
        if pool is None:
            pool = local.pool = _Pool(cap)
        r1 = min(h, r0 + strip_rows)
        y0, cfa = _load_block(arr, r0, r1, pad, ry, x0, cols, pool)
        _write_block(out, r0, r1, y0, x0, cfa, margin, kernel(cfa, pool))
        pool.reset()

    _map(one, range(0, h, strip_rows), workers)
    return out


def _map(fn, items, workers: int) -> None:
    """Call ``fn`` on every item, on ``workers`` threads; re-raise the first error."""
    items = list(items)
    if workers == 1 or len(items) == 1:
        for it in items:
            fn(it)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        for f in [pool.submit(fn, it) for it in items]:
            f.result()


# --------------------------------------------------------------------------------------------------
# Bilinear


_BILINEAR_MARGIN = 1


def _bilinear_kernel(cfa: _Field, pool: _Pool) -> dict:
    """Bilinear on an RGGB block: 4-neighbour means for G and for R/B across, 2-neighbour means at G.

    Pairwise sums ((a + b) + (c + d)) * 0.25 make a constant input reproduce exactly.
    """
    m = _BILINEAR_MARGIN
    n = cfa.size(m)

    def mean(s, *offsets):
        acc = np.add(cfa.at(m, s, *offsets[0]), cfa.at(m, s, *offsets[1]), out=pool.get(n))
        if len(offsets) == 4:
            t = np.add(cfa.at(m, s, *offsets[2]), cfa.at(m, s, *offsets[3]), out=pool.get(n))
            acc += t
            pool.put(t)
        acc *= np.float32(1.0 / len(offsets))
        return acc

    cross = ((-1, 0), (1, 0), (0, -1), (0, 1))
    diag = ((-1, -1), (1, 1), (-1, 1), (1, -1))
    vert, horz = ((-1, 0), (1, 0)), ((0, -1), (0, 1))
    r, gr, gb, b = _SITES
    return {
        r: (cfa.at(m, r), mean(r, *cross), mean(r, *diag)),
        gr: (mean(gr, *horz), cfa.at(m, gr), mean(gr, *vert)),  # red left/right of Gr, blue above/below
        gb: (mean(gb, *vert), cfa.at(m, gb), mean(gb, *horz)),
        b: (mean(b, *diag), mean(b, *cross), cfa.at(m, b)),
    }


def _general_radius(pat: np.ndarray) -> int:
    """Smallest r such that every (2r+1)^2 window of the tiled pattern holds all three colours."""
    ph, pw = pat.shape
    for r in range(1, max(ph, pw) + 1):
        tiled = np.tile(pat, (3 + 2 * r // ph, 3 + 2 * r // pw))
        ok = True
        for c in (RED, GREEN, BLUE):
            # box count of colour c over each window centred on the first repeat, via cumulative sums
            ind = (tiled == c).astype(np.int64)
            cs = np.pad(ind.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            ys, xs = np.mgrid[r : r + ph, r : r + pw]
            y1, x1 = ys + r + 1, xs + r + 1
            cnt = cs[y1, x1] - cs[ys - r, x1] - cs[y1, xs - r] + cs[ys - r, xs - r]
            if np.any(cnt == 0):
                ok = False
                break
        if ok:
            return r
    return max(ph, pw)


def _tent(r: int) -> np.ndarray:
    return (r + 1 - np.abs(np.arange(-r, r + 1))).astype(np.float32)


def _sep_correlate(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable correlation with kernel k along both axes, zero outside the array."""
    from scipy import ndimage

    return ndimage.correlate1d(ndimage.correlate1d(a, k, 0, mode="constant"), k, 1, mode="constant")


def _bilinear_general(arr: np.ndarray, pat: np.ndarray, workers: int, strip_rows: int) -> np.ndarray:
    """Normalised convolution per colour with a tent kernel of radius r (2r where a window lacks it).

    Beyond the image border nothing is assumed (zero weight), so no phase-correct mirror is needed.
    """
    h, w = arr.shape
    ph, pw = pat.shape
    r = _general_radius(pat)
    halo = 2 * r
    out = np.empty((h, w, 3), np.float32)
    kernels = (_tent(r), _tent(2 * r))

    def one(r0):
        r1 = min(h, r0 + strip_rows)
        b0, b1 = max(0, r0 - halo), min(h, r1 + halo)
        blk = arr[b0:b1]
        colour = pat[np.arange(b0, b1)[:, None] % ph, np.arange(w)[None, :] % pw]
        for c in range(3):
            mask = colour == c
            samp = np.where(mask, blk, np.float32(0))
            wts = mask.astype(np.float32)
            est = None
            for k in kernels:
                num = _sep_correlate(samp, k)
                den = _sep_correlate(wts, k)
                good = den > 0
                val = np.divide(num, den, out=np.zeros_like(num), where=good)
                if est is None:
                    est, have = val, good
                else:
                    est = np.where(have, est, val)
                    have = have | good
                if have[r0 - b0 : r1 - b0].all():
                    break
            est = np.where(mask, blk, est)  # known samples stay exact
            out[r0:r1, :, c] = est[r0 - b0 : r1 - b0]

    _map(one, range(0, h, strip_rows), workers)
    return out


def _prepare(mosaic, cfa_pattern, workers, strip_rows):
    """Validate the shared arguments: (mosaic, pattern, Bayer red phase or None, workers, strip_rows)."""
    arr = _check_mosaic(mosaic)
    pat = _check_pattern(cfa_pattern)
    _check_size(arr, pat)
    workers, strip_rows = _check_run_args(workers, strip_rows)
    return arr, pat, _bayer_red_phase(pat), workers, strip_rows


def demosaic_bilinear(mosaic, cfa_pattern, *, workers: int = 2, strip_rows: int | None = None) -> np.ndarray:
    """Bilinear demosaic of any repeating CFA.

    Parameters
    ----------
    mosaic : array_like (H, W), float32 camera-native linear values (1.0 = white). Not modified.
    cfa_pattern : array_like (rows, cols) of 0/1/2 (R/G/B); pixel (y, x) has colour
        ``cfa_pattern[y % rows, x % cols]``.
    workers : threads to use; strip_rows : rows per strip (None = :data:`STRIP_ROWS`).

    Returns
    -------
    ndarray float32 (H, W, 3) camera RGB; known samples unchanged, each missing one the mean of the
    nearest samples of its colour (Bayer: the 2 or 4 neighbours; others: tent-weighted mean).
    """
    arr, pat, red, workers, strip_rows = _prepare(mosaic, cfa_pattern, workers, strip_rows)
    if red is None:
        return _bilinear_general(arr, pat, workers, strip_rows)
    return _run_bayer(_bilinear_kernel, _BILINEAR_MARGIN, arr, red, workers, strip_rows)


# --------------------------------------------------------------------------------------------------
# RCD: Ratio Corrected Demosaicing (Luis Sanz Rodriguez, 2011-2017, releases 2.2/2.3 as published
# in the author's RCD-Demosaicing repository). Steps, on a Bayer mosaic c:
#  1. Vertical/horizontal discrimination: squared 7-tap high-pass [1, -3, -1, 6, -1, -3, 1] of c along
#     each axis, summed over 3 pixels along that axis: V, H; VH = V / (V + H) (1 = strong vertical
#     variation, i.e. a horizontal edge: interpolate horizontally). Refined: the mean VH of the 4
#     diagonal neighbours replaces the centre value where it is further from 0.5.
#  2. Low-pass  lpf = [1 2 1; 2 4 2; 1 2 1] / 16 * c  at red/blue sites.
#  3. Green at red/blue: each cardinal neighbour's green is ratio-corrected by 2 lpf(0) / (lpf(0) +
#     lpf(2 px away)); the two estimates along an axis are blended by inverse gradient weights
#     (gradients over 4 px), the two axes by the refined VH.
#  4. Red/blue at blue/red: P/Q diagonal discrimination as in 1; colour differences c - G of the four
#     diagonal neighbours blended by inverse diagonal gradients, then by the refined P/Q weight.
#  5. Red/blue at green: colour differences of the 4 cardinal neighbours, blended as in 3.
# Differences from the published code, all deliberate: nothing is clipped to [0, 1] (scene-linear,
# highlights and negative noise kept); the ratio's eps is replaced by a floor on lpf (bounded factor
# in (0, 2) for dark, noisy or negative data, exactly 1 on flat data); blends are written
# a + (b - a) * w so equal inputs give exactly that value; borders are mirrored instead of being
# filled by a separate bilinear pass.

_RCD_MARGIN = 7  # plane units (14 px); the support radius is 10 px (see HALO)
_F = np.float32


def _hipass_sq(c: _Field, m: int, s, dy: int, dx: int, pool: _Pool) -> np.ndarray:
    """Square of the 7-tap high-pass [1, -3, -1, 6, -1, -3, 1] of ``c`` along (dy, dx) at site s."""
    n = c.size(m)
    v = np.add(c.at(m, s, -3 * dy, -3 * dx), c.at(m, s, 3 * dy, 3 * dx), out=pool.get(n))
    v -= c.at(m, s, -dy, -dx)
    v -= c.at(m, s, dy, dx)
    t = np.add(c.at(m, s, -2 * dy, -2 * dx), c.at(m, s, 2 * dy, 2 * dx), out=pool.get(n))
    t *= _F(3)
    v -= t
    np.multiply(c.at(m, s), _F(6), out=t)
    v += t
    pool.put(t)
    np.square(v, out=v)
    return v


def _direction(f1: _Field, d1, f2: _Field, d2, m: int, s, pool: _Pool) -> np.ndarray:
    """S1 / (S1 + S2) where Sk = max(eps^2, fk(-dk) + fk(0) + fk(dk)): 1 = all variation along d1."""
    n = f1.size(m)
    a = np.add(f1.at(m, s, -d1[0], -d1[1]), f1.at(m, s), out=pool.get(n))
    a += f1.at(m, s, *d1)
    np.maximum(a, _EPS_SQ, out=a)
    b = np.add(f2.at(m, s, -d2[0], -d2[1]), f2.at(m, s), out=pool.get(n))
    b += f2.at(m, s, *d2)
    np.maximum(b, _EPS_SQ, out=b)
    b += a
    np.divide(a, b, out=a)
    pool.put(b)
    return a


def _discrimination(d: _Field, m: int, s, pool: _Pool) -> np.ndarray:
    """Refined direction weight: the centre value, or the mean of the 4 diagonal neighbours where
    that is further from 0.5 (more decisive). Selected by a 0/1 mask (np.where is ~20x slower here)."""
    n = d.size(m)
    ctr = d.at(m, s)
    nb = np.add(d.at(m, s, -1, -1), d.at(m, s, 1, 1), out=pool.get(n))
    nb += d.at(m, s, -1, 1)
    nb += d.at(m, s, 1, -1)
    nb *= _F(0.25)
    a = np.subtract(nb, _F(0.5), out=pool.get(n))
    np.abs(a, out=a)
    b = np.subtract(ctr, _F(0.5), out=pool.get(n))
    np.abs(b, out=b)
    mask = np.greater(a, b, out=pool.get(n, np.bool_))
    nb -= ctr
    nb *= mask
    nb += ctr
    pool.put(a, b, mask)
    return nb


def _blend(a, b, ga, gb, pool: _Pool) -> np.ndarray:
    """(gb * a + ga * b) / (ga + gb), written a + (b - a) * ga / (ga + gb): exact when a == b."""
    w = np.add(ga, gb, out=pool.get(a.size))
    np.divide(ga, w, out=w)
    d = np.subtract(b, a, out=pool.get(a.size))
    d *= w
    d += a
    pool.put(w)
    return d


def _mix(v, h, k) -> np.ndarray:
    """v + k * (h - v), computed in ``h`` (a temporary)."""
    h -= v
    h *= k
    h += v
    return h


def _absdiff(a, b, pool: _Pool) -> np.ndarray:
    d = np.subtract(a, b, out=pool.get(a.size))
    np.abs(d, out=d)
    return d


def _rcd_kernel(cfa: _Field, pool: _Pool) -> dict:
    """RCD on one RGGB block; returns {site: (R, G, B)} flat runs of margin :data:`_RCD_MARGIN`."""
    hh, ww = cfa.hh, cfa.ww
    P = pool

    def free(*fields: _Field) -> None:
        for f in fields:
            P.put(*f.planes.values())

    # Step 1: vertical / horizontal discrimination at all sites; refined (margin 4).
    bufv, bufh = _Field(hh, ww, 2), _Field(hh, ww, 2)
    for s in _SITES:
        bufv.planes[s] = _hipass_sq(cfa, 2, s, 1, 0, P)
        bufh.planes[s] = _hipass_sq(cfa, 2, s, 0, 1, P)
    vh = _Field(hh, ww, 3)
    for s in _SITES:
        vh.planes[s] = _direction(bufv, (1, 0), bufh, (0, 1), 3, s, P)
    free(bufv, bufh)
    vhd = _Field(hh, ww, 4)
    for s in _SITES:
        vhd.planes[s] = _discrimination(vh, 4, s, P)
    free(vh)

    # Cardinal gradient sums at all sites (margin 2): with d2(y) = |c(y) - c(y - 2)|,
    # g4v(y) = eps + d2(y - 2) + d2(y - 1) + d2(y) + d2(y + 1). At a site the reference's
    # N_grad = eps + |c(-1) - c(1)| + |c(0) - c(-2)| + |c(-1) - c(-3)| + |c(-2) - c(-4)| = g4v(0) and
    # S_grad = g4v(+3). Likewise horizontally.
    g4 = []
    for dy, dx in ((1, 0), (0, 1)):
        d2 = _Field(hh, ww, 1)
        for s in _SITES:
            d2.planes[s] = _absdiff(cfa.at(1, s), cfa.at(1, s, -2 * dy, -2 * dx), P)
        g = _Field(hh, ww, 2)
        for s in _SITES:
            t = np.add(d2.at(2, s, -2 * dy, -2 * dx), d2.at(2, s, -dy, -dx), out=P.get(g.size(2)))
            t += d2.at(2, s)
            t += d2.at(2, s, dy, dx)
            t += _EPS
            g.planes[s] = t
        free(d2)
        g4.append(g)
    g4v, g4h = g4

    # Step 2: low-pass [1 2 1; 2 4 2; 1 2 1] / 16 at red/blue sites (margin 1), floored.
    lpf = _Field(hh, ww, 1)
    n = lpf.size(1)
    for s in _RB:
        a = np.multiply(cfa.at(1, s), _F(0.25), out=P.get(n))
        t = np.add(cfa.at(1, s, -1, 0), cfa.at(1, s, 1, 0), out=P.get(n))
        t += cfa.at(1, s, 0, -1)
        t += cfa.at(1, s, 0, 1)
        t *= _F(0.125)
        a += t
        np.add(cfa.at(1, s, -1, -1), cfa.at(1, s, 1, 1), out=t)
        t += cfa.at(1, s, -1, 1)
        t += cfa.at(1, s, 1, -1)
        t *= _F(0.0625)
        a += t
        P.put(t)
        np.maximum(a, _LPF_FLOOR, out=a)
        lpf.planes[s] = a

    # Step 3: green at red/blue sites (margin 4).
    m = 4
    n = cfa.size(m)
    green = _Field(hh, ww, m)
    for s in _RB:
        lc = lpf.at(m, s)
        two = np.add(lc, lc, out=P.get(n))

        def est(dy, dx, s=s, lc=lc, two=two, lpf=lpf):
            """Neighbour green, ratio-corrected: G(d) * 2 lpf(0) / (lpf(0) + lpf(2d))."""
            r = np.add(lc, lpf.at(m, s, 2 * dy, 2 * dx), out=P.get(n))
            np.divide(two, r, out=r)  # exactly 1 where the low-pass is flat
            r *= cfa.at(m, s, dy, dx)
            return r

        e1, e2 = est(-1, 0), est(1, 0)
        v = _blend(e1, e2, g4v.at(m, s), g4v.at(m, s, 3, 0), P)
        P.put(e1, e2)
        e1, e2 = est(0, -1), est(0, 1)
        h = _blend(e1, e2, g4h.at(m, s), g4h.at(m, s, 0, 3), P)
        P.put(e1, e2, two)
        green.planes[s] = _mix(v, h, vhd.at(m, s))
        P.put(v)
    free(lpf, g4v, g4h)

    # Step 4: blue at red and red at blue sites (margin 5).
    bufp, bufq = _Field(hh, ww, 2), _Field(hh, ww, 2)
    for s in _RB:
        bufp.planes[s] = _hipass_sq(cfa, 2, s, 1, 1, P)
        bufq.planes[s] = _hipass_sq(cfa, 2, s, 1, -1, P)
    pq = _Field(hh, ww, 3)
    for s in _RB:
        pq.planes[s] = _direction(bufp, (1, 1), bufq, (1, -1), 3, s, P)
    free(bufp, bufq)
    # dp(y) = |c(y) - c(y - (2, 2))|, dq(y) = |c(y) - c(y - (2, -2))| (margin 1); c - G (margin 4)
    dp, dq, cdiff = _Field(hh, ww, 1), _Field(hh, ww, 1), _Field(hh, ww, 4)
    for s in _RB:
        dp.planes[s] = _absdiff(cfa.at(1, s), cfa.at(1, s, -2, -2), P)
        dq.planes[s] = _absdiff(cfa.at(1, s), cfa.at(1, s, -2, 2), P)
        cdiff.planes[s] = np.subtract(cfa.at(4, s), green.at(4, s), out=P.get(cfa.size(4)))
    m = 5
    across = _Field(hh, ww, m)
    for s in _RB:
        g0 = green.at(m, s)

        def grad(dy, dx, s=s, g0=g0, dp=dp, dq=dq):
            """eps + |c(d) - c(-d)| + |c(d) - c(3d)| + |G(0) - G(2d)| for the diagonal unit step d.

            With dd(y) = |c(y) - c(y - (2, 2 sy))| (dp for sy = 1, dq for sy = -1):
            |c(d) - c(-d)| = dd(1, sy); |c(d) - c(3d)| = dd(d) going up, dd(3d) going down.
            """
            sy = 1 if dy == dx else -1
            dd = dp if sy == 1 else dq
            t = _absdiff(g0, green.at(m, s, 2 * dy, 2 * dx), P)
            t += dd.at(m, s, 1, sy)
            t += dd.at(m, s, dy, dx) if dy == -1 else dd.at(m, s, 3 * dy, 3 * dx)
            t += _EPS
            return t

        g1, g2 = grad(-1, -1), grad(1, 1)
        p = _blend(cdiff.at(m, s, -1, -1), cdiff.at(m, s, 1, 1), g1, g2, P)
        P.put(g1, g2)
        g1, g2 = grad(-1, 1), grad(1, -1)
        q = _blend(cdiff.at(m, s, -1, 1), cdiff.at(m, s, 1, -1), g1, g2, P)
        P.put(g1, g2)
        k = _discrimination(pq, m, s, P)
        c = _mix(p, q, k)
        c += g0
        P.put(p, k)
        across.planes[s] = c
    free(pq, dp, dq, cdiff)

    # Step 5: red and blue at green sites (margin 7).
    m = 7
    r_s, b_s = _RB
    # red and blue on all red/blue sites (margin 5): the known sample or the step-4 estimate
    red, blue = _Field(hh, ww, 5), _Field(hh, ww, 5)
    red.planes[r_s], red.planes[b_s] = cfa.at(5, r_s), across.planes[b_s]
    blue.planes[r_s], blue.planes[b_s] = across.planes[r_s], cfa.at(5, b_s)
    # |G(0) - G(-2)| along each axis at green sites (green known there; margin 1)
    dgv, dgh = _Field(hh, ww, 1), _Field(hh, ww, 1)
    for s in _GG:
        dgv.planes[s] = _absdiff(cfa.at(1, s), cfa.at(1, s, -2, 0), P)
        dgh.planes[s] = _absdiff(cfa.at(1, s), cfa.at(1, s, 0, -2), P)
    res = {}
    for col in (red, blue):
        diff = _Field(hh, ww, 5)  # colour difference C - G on red/blue sites
        for t in _RB:
            diff.planes[t] = np.subtract(col.at(5, t), green.at(5, t), out=P.get(cfa.size(5)))
        for s in _GG:

            def axis(dy, dx, col=col, diff=diff, s=s):
                """Colour differences of the two neighbours along (dy, dx), by inverse gradients."""
                dg = dgv if dy else dgh
                a = _absdiff(col.at(m, s, -dy, -dx), col.at(m, s, dy, dx), P)
                gn = _absdiff(col.at(m, s, -dy, -dx), col.at(m, s, -3 * dy, -3 * dx), P)
                gn += a
                gn += dg.at(m, s)
                gn += _EPS
                gs = _absdiff(col.at(m, s, dy, dx), col.at(m, s, 3 * dy, 3 * dx), P)
                gs += a
                gs += dg.at(m, s, 2 * dy, 2 * dx)
                gs += _EPS
                r = _blend(diff.at(m, s, -dy, -dx), diff.at(m, s, dy, dx), gn, gs, P)
                P.put(a, gn, gs)
                return r

            v = axis(1, 0)
            c = _mix(v, axis(0, 1), vhd.at(m, s))
            c += cfa.at(m, s)
            P.put(v)
            res.setdefault(s, []).append(c)
        free(diff)
    # everything still held (green, the step-4 estimates, the results) returns to the pool on reset
    out = {s: (res[s][0], cfa.at(m, s), res[s][1]) for s in _GG}
    out[r_s] = (cfa.at(m, r_s), green.at(m, r_s), blue.at(m, r_s))
    out[b_s] = (red.at(m, b_s), green.at(m, b_s), cfa.at(m, b_s))
    return out


def demosaic_rcd(mosaic, cfa_pattern, *, workers: int = 2, strip_rows: int | None = None) -> np.ndarray:
    """RCD (Ratio Corrected Demosaicing, L. Sanz Rodriguez 2017) of a Bayer mosaic.

    Parameters and result as :func:`demosaic_bilinear`. Raises ``UnsupportedFormat`` for a pattern
    that is not a 2x2 Bayer tile (fall back to ``"bilinear"``).
    """
    arr, pat, red, workers, strip_rows = _prepare(mosaic, cfa_pattern, workers, strip_rows)
    if red is None:
        raise UnsupportedFormat(f"RCD needs a 2x2 Bayer CFA; pattern {pat.tolist()} is not one")
    return _run_bayer(_rcd_kernel, _RCD_MARGIN, arr, red, workers, strip_rows)


# --------------------------------------------------------------------------------------------------
# Registry, params, entry point

#: Demosaic methods by name: ``fn(mosaic, cfa_pattern, *, workers, strip_rows) -> (H, W, 3) float32``.
DEMOSAIC: dict[str, Callable[..., np.ndarray]] = {
    "rcd": demosaic_rcd,
    "bilinear": demosaic_bilinear,
}

#: The method used unless the recipe names another.
DEFAULT_METHOD = "rcd"

#: Real context (pixels per side) a tile needs for each method to equal the whole-image result
#: (Bayer patterns; support radius rounded up to even to keep the CFA phase). bilinear: radius 1;
#: rcd: radius 10 (red/blue at green reads red/blue-at-blue 3 px away, which reads green 2 px further,
#: which reads the discrimination map 1 px further, which reads the mosaic 4 px further).
HALO: dict[str, int] = {"bilinear": 2, "rcd": 10}


@dataclass(frozen=True)
class DemosaicParams:
    """Parameters of the demosaic stage."""

    method: str = param(
        DEFAULT_METHOD,
        choices=tuple(DEMOSAIC),
        doc="demosaic algorithm: rcd (edge-directed, Bayer only) or bilinear (any CFA, soft)",
    )


def demosaic(
    mosaic,
    cfa_pattern,
    params: DemosaicParams = DemosaicParams(),  # noqa: B008 - frozen, immutable default
    *,
    workers: int = 2,
    strip_rows: int | None = None,
) -> np.ndarray:
    """Reconstruct camera RGB from a CFA mosaic.

    Parameters
    ----------
    mosaic : array_like (H, W)
        float32 camera-native scene-linear samples, 1.0 = white; may hold small negatives or values
        above 1 (not clipped). Not modified. H, W >= 2 (and >= one CFA repeat).
    cfa_pattern : array_like (rows, cols) of int
        Colour index (0 red, 1 green, 2 blue) of pixel (y, x) is ``cfa_pattern[y % rows, x % cols]``.
    params : DemosaicParams
        ``method`` names an entry of :data:`DEMOSAIC`.
    workers : int
        Threads to run strips on.
    strip_rows : int or None
        Rows per strip (rounded up to even); None uses :data:`STRIP_ROWS`. The result does not depend
        on it.

    Returns
    -------
    ndarray float32 (H, W, 3), camera RGB (the CFA's own primaries), same scale as the input.

    Raises
    ------
    InvalidParams
        Wrong shape/dtype, non-finite samples, pattern values outside 0..2 or lacking a colour,
        unknown method, bad ``workers``.
    UnsupportedFormat
        The method cannot handle the pattern (rcd on a non-Bayer CFA); use ``"bilinear"``.
    """
    validate(params)
    if not isinstance(params, DemosaicParams):
        raise InvalidParams(f"params must be DemosaicParams; got {type(params).__name__}")
    fn = DEMOSAIC.get(params.method)
    if fn is None:
        raise InvalidParams(f"unknown demosaic method {params.method!r}; known: {', '.join(DEMOSAIC)}")
    return fn(mosaic, cfa_pattern, workers=workers, strip_rows=strip_rows)
