"""Fit a look from a camera's (a phone's) own JPEG of the same shot.

    pairs of (scene-linear Rec.2020 render of the raw, the camera's JPEG decoded: sRGB or Display P3)
      ─► register: the JPEG's orientation (8 EXIF orientations), scale and offset onto the render
      ─► sample corresponding pixels (flat areas only: no edges, no clipped or border pixels)
      ─► fit, in the look's own model (:mod:`rotpunkt.look`):
           [exposure] ev, [tone] contrast, toe, shoulder, white, black, lift,
           [colour] saturation, vibrance        (non-linear least squares on CIELAB differences)
           [colour] hue_shift, sat_scale, val_scale table over (value, hue)
                                                 (linear least squares, smoothness-regularised)
      ─► report CIEDE2000 (mean, 95th percentile) per pair, on all pairs, on a held-out pair

The fitted :class:`~rotpunkt.look.Look` has only global (per-pixel) sections, so it is monotone in
tone by construction (the parametric curve is) and keeps neutral greys neutral (the tone curve keeps
R:G:B ratios, saturation acts about luminance, the table's hue and saturation changes do nothing to a
grey; white balance is not fitted). Lens-correction differences (distortion, vignetting) between the
render and the JPEG are not modelled: registration is a similarity without rotation (scale, offset,
one of 8 orientations) and the fit sees a vignetting difference as noise.

Registration works on the luminance of both images made rank-uniform (histogram-equalised), which is
invariant to any monotone tone curve: a coarse search over the 8 orientations and a range of scales
with FFT normalised cross-correlation on ~160 px images, then a Nelder-Mead refinement of scale and
offset on ~480 px images.

References
----------
* J. P. Lewis, "Fast Normalized Cross-Correlation", Vision Interface (1995) (FFT numerator, running
  sums for the local statistics).
* G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 color-difference formula", Color Res. Appl. 30 (2005)
  (via :func:`rotpunkt.colour_math.delta_E_2000`).
* Adobe, DNG Specification 1.7, ProfileLookTable (the hue/sat/value table model the colour section uses).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from . import colour_math as cm
from . import look as L  # noqa: N812 - the look module, short
from .errors import InvalidParams

_SRGB_LUMA = cm.rgb_to_xyz_matrix("srgb")[1]
#: colour spaces a camera JPEG may be in (both with the sRGB transfer function, D65 white)
JPEG_SPACES = ("srgb", "p3")


@dataclass(frozen=True)
class _Space:
    """The JPEG's RGB space: linear RGB -> linear Rec.2020 (``to2020``), back (``from2020``), -> XYZ."""

    to2020: np.ndarray
    from2020: np.ndarray
    to_xyz: np.ndarray


def _space(name: str) -> _Space:
    to_xyz = cm.rgb_to_xyz_matrix(name)
    to2020 = cm.xyz_to_rgb_matrix("rec2020") @ to_xyz
    return _Space(to2020, np.linalg.inv(to2020), to_xyz)
_COARSE_PX = 160  # long side of the coarse registration images
_FINE_PX = 480  # long side of the refinement images
_MIN_COVER = 0.45  # the JPEG shows at least this fraction of the render's width or height
_FIT_SAMPLES = 5000  # samples used by the non-linear fit
_TABLE_VALUES, _TABLE_HUES = 5, 24  # size of the fitted hue/sat/value table

#: the 8 orientations: (EXIF Orientation code of the JPEG relative to the render, transform that
#: brings the JPEG's pixels into the render's frame)
_ORIENTATIONS: tuple[tuple[int, str], ...] = (
    (1, "identity"), (2, "flip left-right"), (3, "rotate 180"), (4, "flip up-down"),
    (5, "transpose"), (6, "rotate 90 clockwise"), (7, "transverse"), (8, "rotate 90 counter-clockwise"),
)


def _orient(a: np.ndarray, code: int) -> np.ndarray:
    """Apply the EXIF orientation ``code`` fix-up to a (H, W, ...) array (code 6: the stored image
    is shown rotated 90 degrees clockwise)."""
    if code == 1:
        return a
    if code == 2:
        return a[:, ::-1]
    if code == 3:
        return a[::-1, ::-1]
    if code == 4:
        return a[::-1]
    if code == 5:
        return np.swapaxes(a, 0, 1)
    if code == 6:
        return np.swapaxes(a, 0, 1)[:, ::-1]
    if code == 7:
        return np.swapaxes(a, 0, 1)[::-1, ::-1]
    return np.swapaxes(a, 0, 1)[::-1]  # 8


# ==================================================================================================
# Report
# ==================================================================================================


@dataclass(frozen=True)
class PairFit:
    """How one pair was registered and how well the look reproduces its JPEG.

    ``orientation``: EXIF code (1-8) that turns the JPEG into the render's frame; ``scale``: JPEG
    pixels per render pixel; ``offset``: (row, column) of the JPEG's top-left pixel centre in the
    render's pixels (after orientation); ``ncc``: normalised cross-correlation of the registered
    equalised luminances (1 perfect); ``samples``: pixels compared; ``mean``, ``p95``: CIEDE2000."""

    orientation: int
    scale: float
    offset: tuple[float, float]
    ncc: float
    samples: int
    mean: float
    p95: float


@dataclass(frozen=True)
class FitReport:
    """Fit error (CIEDE2000) on each pair, on all pairs together, and on the held-out pair."""

    pairs: tuple[PairFit, ...]
    mean: float
    p95: float
    holdout: PairFit | None = None
    table: bool = False  # whether the hue/sat/value table was kept

    def text(self) -> str:
        """A few lines for a human (and for the header of the written look file)."""
        lines = [f"fitted on {len(self.pairs)} pair(s): CIEDE2000 mean {self.mean:.2f}, "
                 f"95th percentile {self.p95:.2f}" + (" (with a hue/sat/value table)" if self.table else "")]
        for i, p in enumerate(self.pairs):
            lines.append(_pair_line(f"pair {i + 1}", p))
        if self.holdout is not None:
            lines.append(_pair_line("held-out", self.holdout))
        return "\n".join(lines)


def _pair_line(label: str, p: PairFit) -> str:
    return (f"{label}: mean {p.mean:.2f}, p95 {p.p95:.2f} over {p.samples} px; orientation {p.orientation} "
            f"({dict(_ORIENTATIONS)[p.orientation]}), scale {p.scale:.4f}, offset "
            f"({p.offset[0]:.1f}, {p.offset[1]:.1f}), ncc {p.ncc:.3f}")


# ==================================================================================================
# Registration
# ==================================================================================================


def _equalise(y: np.ndarray) -> np.ndarray:
    """Rank of each pixel's value over the image, in [0, 1] (float64): invariant to monotone tone."""
    flat = y.ravel()
    order = np.argsort(flat, kind="stable")
    r = np.empty(flat.size, np.float64)
    r[order] = np.arange(flat.size) / max(flat.size - 1, 1)
    return r.reshape(y.shape)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resample a 2-D array to ``shape`` (pixel centres aligned, anti-aliased when shrinking)."""
    h, w = a.shape
    fy, fx = h / shape[0], w / shape[1]
    sig = (max(0.0, 0.5 * (fy - 1)), max(0.0, 0.5 * (fx - 1)))
    src = ndimage.gaussian_filter(a, sig, mode="nearest") if max(sig) > 0 else a
    ys = (np.arange(shape[0]) + 0.5) * fy - 0.5
    xs = (np.arange(shape[1]) + 0.5) * fx - 0.5
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return ndimage.map_coordinates(src, [yy, xx], order=1, mode="nearest")


def _ncc_map(img: np.ndarray, tpl: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of template ``tpl`` (h, w) at every valid offset in ``img``
    (H, W), H >= h, W >= w: (H - h + 1, W - w + 1) in [-1, 1] (Lewis 1995)."""
    hh, ww = img.shape
    h, w = tpl.shape
    t = tpl - tpl.mean()
    tn = math.sqrt(float((t * t).sum())) + 1e-12
    fs = (hh + h, ww + w)
    num = np.fft.irfft2(np.fft.rfft2(img, fs) * np.conj(np.fft.rfft2(t, fs)), fs)[:hh - h + 1, :ww - w + 1]
    c1 = np.pad(img, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    c2 = np.pad(img * img, ((1, 0), (1, 0))).cumsum(0).cumsum(1)

    def box(c):
        return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]

    n = h * w
    s1, s2 = box(c1), box(c2)
    var = np.maximum(s2 - s1 * s1 / n, 0.0)
    return num / (np.sqrt(var) * tn + 1e-9)


@dataclass(frozen=True)
class Registration:
    """Where a JPEG lies on a render: EXIF ``orientation`` (1-8) that turns the JPEG into the render's
    frame, ``scale`` (JPEG px per render px), the render coordinates (``oy``, ``ox``) of the oriented
    JPEG's pixel (0, 0) centre, and the normalised cross-correlation ``ncc`` reached there."""

    orientation: int
    scale: float  # JPEG px per render px
    oy: float  # render coordinates of the oriented JPEG's pixel (0, 0)
    ox: float
    ncc: float


def register(render: np.ndarray, jpeg: np.ndarray) -> Registration:
    """Find how ``jpeg`` (h, w, 3) lies on ``render`` (H, W, 3): orientation, scale, offset.

    Assumes the JPEG shows a crop of the render (covering at least 45 % of its width or height),
    possibly resized and in any of the 8 orientations; no rotation other than multiples of 90
    degrees, no lens-distortion difference. Raises InvalidParams when no placement correlates."""
    yr = np.log2(np.maximum(render.astype(np.float64) @ L.LUMA, 2.0**-20))
    yj = np.asarray(jpeg, np.float64) @ _SRGB_LUMA  # encoded luminance: monotone in scene light
    hr, wr = yr.shape
    # coarse: equalised, ~160 px long side, every orientation x scale
    d = min(1.0, _COARSE_PX / max(hr, wr))
    rc = _equalise(_resize(yr, (max(8, round(hr * d)), max(8, round(wr * d)))))
    best = (-2.0, None)
    for code, _ in _ORIENTATIONS:
        jo = _orient(yj, code)
        hj, wj = jo.shape
        s_min = max(hj / hr, wj / wr)  # the JPEG cannot show more than the whole render
        for f in np.geomspace(1.0, 1.0 / _MIN_COVER, 17):
            s = s_min * f
            th, tw = round(hj / s * d), round(wj / s * d)
            if th < 8 or tw < 8 or th > rc.shape[0] or tw > rc.shape[1]:
                continue
            tpl = _equalise(_resize(jo, (th, tw)))
            m = _ncc_map(rc, tpl)
            k = np.unravel_index(int(np.argmax(m)), m.shape)
            if m[k] > best[0]:
                # template pixel (0, 0) centre at coarse (k + 0.5) - 0.5 -> render px
                oy = (k[0] + 0.5 * (hj / s * d) / th) / d - 0.5
                ox = (k[1] + 0.5 * (wj / s * d) / tw) / d - 0.5
                best = (float(m[k]), (code, s, oy, ox))
    if best[1] is None or best[0] < 0.5:
        raise InvalidParams(f"could not register the JPEG on the raw's render (best correlation "
                            f"{best[0]:.2f}): is it the same shot?")
    code, s, oy, ox = best[1]
    # fine: Nelder-Mead on (log scale, offset) at ~480 px, equalised
    jo = _orient(yj, code)
    f = min(1.0, _FINE_PX / max(hr, wr))
    rf = _equalise(_resize(yr, (max(8, round(hr * f)), max(8, round(wr * f)))))
    g = min(1.0, _FINE_PX / max(jo.shape))
    jf = _equalise(_resize(jo, (max(8, round(jo.shape[0] * g)), max(8, round(jo.shape[1] * g)))))
    fy_r, fx_r = rf.shape[0] / hr, rf.shape[1] / wr
    gy, gx = jf.shape[0] / jo.shape[0], jf.shape[1] / jo.shape[1]

    def to_fine(ls, oy_, ox_):
        # fine JPEG pixel (i, j) -> JPEG px ((i + .5) / gy - .5) -> render px -> fine render px
        s_ = math.exp(ls)
        a_y = 1.0 / (gy * s_) * fy_r
        a_x = 1.0 / (gx * s_) * fx_r
        b_y = (oy_ + (0.5 / gy - 0.5) / s_ + 0.5) * fy_r - 0.5
        b_x = (ox_ + (0.5 / gx - 0.5) / s_ + 0.5) * fx_r - 0.5
        return a_y, a_x, b_y, b_x

    def cost(v):
        ay, ax, by, bx = to_fine(*v)
        return -_ncc_affine(rf, jf, ay, ax, by, bx)

    x0 = np.array([math.log(s), oy, ox])
    step = np.array([0.02, 1.0 / f, 1.0 / f]) * (1.0 / d) * f
    simplex = np.vstack([x0, x0 + np.diag(step)])
    res = optimize.minimize(cost, x0, method="Nelder-Mead",
                            options={"initial_simplex": simplex, "xatol": 1e-4, "fatol": 1e-6, "maxiter": 400})
    ls, oy, ox = (res.x if res.fun <= cost(x0) else x0)
    return Registration(code, float(math.exp(ls)), float(oy), float(ox), float(-min(res.fun, cost(x0))))


def _ncc_affine(ren, jpg, ay, ax, by, bx) -> float:
    """NCC of ``jpg`` against ``ren`` sampled at (by + ay i, bx + ax j) (axis-aligned scaling)."""
    h, w = jpg.shape
    ys = by + ay * np.arange(h)
    xs = bx + ax * np.arange(w)
    iy = (ys >= 0) & (ys <= ren.shape[0] - 1)
    ix = (xs >= 0) & (xs <= ren.shape[1] - 1)
    if iy.sum() < 4 or ix.sum() < 4:
        return -1.0
    yy, xx = np.meshgrid(ys[iy], xs[ix], indexing="ij")
    a = ndimage.map_coordinates(ren, [yy, xx], order=1).ravel()
    b = jpg[np.ix_(iy, ix)].ravel()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (math.sqrt(float((a * a).sum() * (b * b).sum())) + 1e-12))


# ==================================================================================================
# Sampling
# ==================================================================================================


def _samples(render: np.ndarray, jpeg: np.ndarray, reg: Registration,
             max_samples: int = 60000) -> tuple[np.ndarray, np.ndarray]:
    """Corresponding pixels: (scene-linear Rec.2020 (n, 3), JPEG linear sRGB (n, 3)), float64.

    Kept: JPEG pixels at least 3 px from its border that fall at least 2 px inside the render, in flat
    areas (no strong edge in any channel within 2 px in either image), not white-clipped in all three JPEG
    channels, with a finite, positive render. (Channels clipped by the JPEG's gamut or range are kept:
    the model clips the same way.)"""
    jo = np.ascontiguousarray(_orient(np.asarray(jpeg, np.float64), reg.orientation))
    h, w, _ = jo.shape
    s = reg.scale
    # the render, anti-aliased to the JPEG's pixel size, sampled at the JPEG's pixel centres
    sig = max(0.0, 0.5 * (1.0 / s - 1.0))
    ren = np.asarray(render, np.float64)
    if sig > 0:
        ren = ndimage.gaussian_filter(ren, (sig, sig, 0), mode="nearest")
    yy = reg.oy + np.arange(h)[:, None] / s + np.zeros((1, w))
    xx = reg.ox + np.arange(w)[None, :] / s + np.zeros((h, 1))
    hr, wr = ren.shape[:2]
    ok = (yy >= 2) & (yy <= hr - 3) & (xx >= 2) & (xx <= wr - 3)
    ok[:3] = ok[-3:] = False
    ok[:, :3] = ok[:, -3:] = False
    mapped = np.stack([ndimage.map_coordinates(ren[..., c], [yy, xx], order=1, mode="nearest")
                       for c in range(3)], axis=-1)
    # flat areas: the local range of every channel (log render, encoded JPEG) over 5 x 5 is small, so
    # that a residual misregistration of a fraction of a pixel, and the JPEG's chroma subsampling and
    # block ringing near colour edges (often edges of chroma, not of luminance), change little
    lr = np.log2(np.maximum(mapped, 1e-3))  # dark channels' noise in log does not count
    rng_r = (ndimage.maximum_filter(lr, (5, 5, 1)) - ndimage.minimum_filter(lr, (5, 5, 1))).max(axis=-1)
    rng_j = (ndimage.maximum_filter(jo, (5, 5, 1)) - ndimage.minimum_filter(jo, (5, 5, 1))).max(axis=-1)
    ok &= np.isfinite(mapped).all(axis=-1) & (mapped.max(axis=-1) > 0)
    ok &= jo.min(axis=-1) < 254.5 / 255  # white clipped in every channel tells nothing
    flat = ok & (rng_r < 1.0) & (rng_j < 0.1)
    if flat.sum() < 500:  # a busy scene: take its flattest third
        thr = np.quantile(rng_j[ok], 0.33) if ok.any() else 0.0
        flat = ok & (rng_j <= thr)
    if flat.sum() < 50:
        raise InvalidParams(f"too few usable pixels ({int(flat.sum())}) after registration: the JPEG and "
                            f"the raw overlap too little, or the JPEG is clipped")
    idx = np.flatnonzero(flat.ravel())
    if idx.size > max_samples:
        idx = np.sort(np.random.default_rng(0).choice(idx, max_samples, replace=False))
    x = mapped.reshape(-1, 3)[idx]
    y = cm.srgb_decode(jo.reshape(-1, 3)[idx])
    return x, y


# ==================================================================================================
# The model and its error
# ==================================================================================================


def _render(x: np.ndarray, look: L.Look, sp: _Space) -> np.ndarray:
    """Scene-linear Rec.2020 samples (n, 3) through ``look`` to the JPEG's display-linear RGB in [0, 1]."""
    out = L.apply_look(np.asarray(x, np.float32).reshape(-1, 1, 3), look, workers=1).reshape(-1, 3)
    return np.clip(out.astype(np.float64) @ sp.from2020.T, 0.0, 1.0)


def _lab(linear: np.ndarray, sp: _Space) -> np.ndarray:
    """CIELAB (D65 white) of the JPEG space's linear RGB (n, 3)."""
    return cm.XYZ_to_Lab(linear @ sp.to_xyz.T, cm.D65_XY)


def _de(look: L.Look, x: np.ndarray, lab_target: np.ndarray, sp: _Space) -> np.ndarray:
    return cm.delta_E_2000(_lab(_render(x, look, sp), sp), lab_target)


_PARAMS = (  # (section, field, lower, upper, start, finite-difference step; white's on log(white))
    ("exposure", "ev", -3.0, 3.0, 0.0, 0.01),
    ("tone", "contrast", 0.4, 2.5, 1.15, 0.01),
    ("tone", "toe", 0.0, 0.1, 0.003, 0.0005),
    ("tone", "shoulder", 0.0, 1.0, 0.5, 0.01),
    ("tone", "white", 1.0, 64.0, 4.0, 0.02),
    ("tone", "black", 0.0, 0.05, 0.0, 0.0005),
    ("tone", "lift", 0.0, 0.1, 0.0, 0.0005),
    ("colour", "saturation", 0.0, 3.0, 1.15, 0.01),
    ("colour", "vibrance", -1.0, 1.0, 0.0, 0.01),
)


def _look_from(v: Sequence[float], base: L.Look) -> L.Look:
    secs: dict[str, dict[str, float]] = {}
    for (sec, name, lo, hi, _, _), val in zip(_PARAMS, v, strict=True):
        secs.setdefault(sec, {})[name] = float(min(max(val, lo), hi))
    return dataclasses.replace(base, **{sec: dataclasses.replace(getattr(base, sec), **kw)
                                        for sec, kw in secs.items()})


def _round_look(look: L.Look) -> L.Look:
    """Fields rounded to 4 significant decimals (a readable file; far below any visible change)."""
    def rnd(sec, **extra):
        obj = getattr(look, sec)
        kw = {f.name: round(getattr(obj, f.name), 4) for f in dataclasses.fields(obj)
              if isinstance(getattr(obj, f.name), float)}
        kw.update(extra)
        return dataclasses.replace(obj, **kw)
    c = look.colour

    def rt(t):
        return tuple(tuple(round(float(v), 4) for v in row) for row in t)

    return dataclasses.replace(look, exposure=rnd("exposure"), tone=rnd("tone"),
                               colour=rnd("colour", hue_shift=rt(c.hue_shift), sat_scale=rt(c.sat_scale),
                                          val_scale=rt(c.val_scale)))


def _fit_global(x: np.ndarray, lab_t: np.ndarray, base: L.Look, sp: _Space,
                start: L.Look | None = None) -> L.Look:
    """Non-linear least squares of the exposure, tone and saturation parameters on Lab differences
    (the rest of ``base``, e.g. a hue/sat/value table, kept). ``start``: a look to start from (one
    start), else two starts (a short and a long shoulder)."""
    lo = np.array([p[2] for p in _PARAMS])
    hi = np.array([p[3] for p in _PARAMS])
    # white on a log scale: the shoulder's reach spans decades
    k_white = [i for i, p in enumerate(_PARAMS) if p[1] == "white"][0]

    def unpack(u):
        v = np.array(u, np.float64)
        v[k_white] = math.exp(u[k_white])
        return v

    def resid(u):
        return (_lab(_render(x, _look_from(unpack(u), base), sp), sp) - lab_t).ravel()

    lo_u, hi_u = lo.copy(), hi.copy()
    lo_u[k_white], hi_u[k_white] = 0.0, math.log(64.0)
    steps = np.array([p[5] for p in _PARAMS])

    def jac(u, *args):
        # forward differences with absolute steps (the render is float32: relative steps at a
        # parameter of 0 would be lost in rounding), stepping inwards at an upper bound
        r0 = args[0] if args else resid(u)
        cols = []
        for k in range(len(u)):
            h = steps[k] if u[k] + steps[k] <= hi_u[k] else -steps[k]
            uk = np.array(u, np.float64)
            uk[k] += h
            cols.append((resid(uk) - r0) / h)
        return np.stack(cols, axis=1)

    starts = []
    if start is not None:
        u0 = np.array([getattr(getattr(start, p[0]), p[1]) for p in _PARAMS], np.float64)
        u0[k_white] = math.log(u0[k_white])
        starts.append(np.clip(u0, lo_u, hi_u))
    else:
        for white0, shoulder0 in ((4.0, 0.5), (16.0, 0.9)):
            u0 = np.array([p[4] for p in _PARAMS])
            u0[k_white] = math.log(white0)
            u0[[i for i, p in enumerate(_PARAMS) if p[1] == "shoulder"][0]] = shoulder0
            starts.append(u0)
    best = None
    for u0 in starts:
        r = optimize.least_squares(resid, u0, jac=jac, bounds=(lo_u, hi_u), x_scale="jac", loss="soft_l1",
                                   f_scale=2.0, tr_solver="lsmr", max_nfev=12 if len(starts) > 1 else 30)
        if best is None or r.cost < best.cost:
            best = r
    if len(starts) > 1:  # the better start, carried on
        best = optimize.least_squares(resid, best.x, jac=jac, bounds=(lo_u, hi_u), x_scale="jac",
                                      loss="soft_l1", f_scale=2.0, tr_solver="lsmr", max_nfev=30)
    return _look_from(unpack(best.x), base)


def _table_weights(h: np.ndarray, venc: np.ndarray, nv: int, nh: int) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear weights of each sample over the (nv x nh) table cells, as the look engine
    interpolates (hue wraps, encoded value clamped to [0, 1]): (n, 4) cell indices and weights."""
    hs = h * (nh / 6.0)
    h0 = np.minimum(hs.astype(np.int64), nh - 1)
    hf = hs - h0
    h1 = (h0 + 1) % nh
    vs = np.clip(venc, 0, 1) * (nv - 1)
    v0 = np.minimum(vs.astype(np.int64), nv - 2)
    vf = vs - v0
    idx = np.stack([v0 * nh + h0, v0 * nh + h1, (v0 + 1) * nh + h0, (v0 + 1) * nh + h1], axis=1)
    wts = np.stack([(1 - vf) * (1 - hf), (1 - vf) * hf, vf * (1 - hf), vf * hf], axis=1)
    return idx, wts


def _smoothness(nv: int, nh: int) -> np.ndarray:
    """Second differences along hue (cyclic) and along value, as rows of a (m, nv nh) matrix."""
    rows = []
    for v in range(nv):
        for k in range(nh):
            r = np.zeros(nv * nh)
            r[v * nh + (k - 1) % nh] += 1
            r[v * nh + k] -= 2
            r[v * nh + (k + 1) % nh] += 1
            rows.append(r)
    for v in range(1, nv - 1):
        for k in range(nh):
            r = np.zeros(nv * nh)
            r[(v - 1) * nh + k] += 1
            r[v * nh + k] -= 2
            r[(v + 1) * nh + k] += 1
            rows.append(r)
    return np.asarray(rows)


def _solve(idx, wts, coef, target, weight, prior, lam_s, lam_r, ncell, smooth) -> np.ndarray:
    """Weighted least squares for cell values t: coef_i sum_k w_ik t_k ~ target_i, plus smoothness
    (lam_s |S t|^2) and a pull towards ``prior`` (lam_r |t - prior|^2), scaled by the data weight."""
    n = len(target)
    a = np.zeros((n, ncell))
    np.add.at(a, (np.repeat(np.arange(n), 4), idx.ravel()), (wts * coef[:, None]).ravel())
    sw = np.sqrt(weight)
    aw, bw = a * sw[:, None], target * sw
    scale = max(float(weight.sum()) / ncell, 1e-9)
    lhs = aw.T @ aw + scale * (lam_s * smooth.T @ smooth + lam_r * np.eye(ncell))
    rhs = aw.T @ bw + scale * lam_r * np.full(ncell, prior)
    return np.linalg.solve(lhs, rhs)


def _without_table(look: L.Look) -> L.Look:
    return dataclasses.replace(look, colour=dataclasses.replace(look.colour, hue_shift=(), sat_scale=(),
                                                                   val_scale=()))


def _fit_table(x: np.ndarray, y_srgb: np.ndarray, look: L.Look, sp: _Space) -> L.Look:
    """Fit the colour section's hue/sat/value table (values x hues) to what is left after ``look``."""
    nv, nh = _TABLE_VALUES, _TABLE_HUES
    cur = L.apply_look(np.asarray(x, np.float32).reshape(-1, 1, 3), look, workers=1).reshape(-1, 3)
    cur = cur.astype(np.float64)
    tgt = np.clip(y_srgb @ sp.to2020.T, 0.0, None)  # sRGB and P3 are inside Rec.2020
    hsv_c, hsv_t = cm.rgb_to_hsv_dng(cur), cm.rgb_to_hsv_dng(tgt)
    h, s, v = hsv_c[:, 0], hsv_c[:, 1], hsv_c[:, 2]
    venc, venc_t = cm.srgb_encode(v), cm.srgb_encode(hsv_t[:, 2])
    # samples clipped by the JPEG's gamut or range, or that the model takes outside sRGB, say little
    # about the table (both sides clip alike in the end) and would bias it: left out
    cur_srgb = cur @ sp.from2020.T
    inside = ((y_srgb.min(axis=1) > 1.0 / 255) & (y_srgb.max(axis=1) < 254.0 / 255)
              & (cur_srgb.min(axis=1) > -1e-3) & (cur_srgb.max(axis=1) < 1.0 + 1e-3)).astype(np.float64)
    idx, wts = _table_weights(h, venc, nv, nh)
    smooth = _smoothness(nv, nh)
    ncell = nv * nh
    sat_w = np.minimum(s, hsv_t[:, 1])
    # hue: shift in degrees, reliable in proportion to the chroma of both
    dh = ((hsv_t[:, 0] - h + 3.0) % 6.0 - 3.0) * 60.0
    hue = _solve(idx, wts, np.ones_like(h), dh, inside * sat_w**2 + 1e-6, 0.0, 0.3, 1e-2, ncell, smooth)
    # saturation: s * scale ~ s_t, for coloured samples
    wsat = inside * (s > 0.03) + 1e-6
    sat = _solve(idx, wts, s, hsv_t[:, 1], wsat, 1.0, 0.3, 1e-2, ncell, smooth)
    # value: venc * scale ~ venc_t, trusted only on coloured samples (greys are the tone curve's)
    val = _solve(idx, wts, venc, venc_t, inside * sat_w**2 + 1e-6, 1.0, 0.3, 5e-2, ncell, smooth)
    shape = (nv, nh)
    hue = np.clip(hue, -180.0, 180.0).reshape(shape)
    sat = np.clip(sat, 0.0, 4.0).reshape(shape)
    val = np.clip(val, 0.25, 4.0).reshape(shape)
    # a grey (s = 0) reads the table at hue 0 and only its value scale acts on it: pin the hue-0
    # column's value scale to 1, so that the table never changes the tone of greys (the curve's job)
    val[:, 0] = 1.0

    def tt(a):
        return tuple(tuple(float(z) for z in row) for row in a)

    colour = dataclasses.replace(look.colour, hue_shift=tt(hue), sat_scale=tt(sat), val_scale=tt(val))
    return dataclasses.replace(look, colour=colour)


# ==================================================================================================
# Public entry point
# ==================================================================================================


def _check_pair(pair, label: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        render, jpeg = pair
    except (TypeError, ValueError):
        raise InvalidParams(f"{label} must be a (render, jpeg) pair") from None
    out = []
    for what, a in (("render", render), ("jpeg", jpeg)):
        a = np.asarray(a)
        if a.ndim != 3 or a.shape[2] != 3 or not np.issubdtype(a.dtype, np.floating):
            raise InvalidParams(f"{label} {what} must be float (H, W, 3); got {a.dtype} {a.shape}")
        if min(a.shape[:2]) < 16:
            raise InvalidParams(f"{label} {what} is too small: {a.shape[:2]}")
        if not np.isfinite(a).all():
            raise InvalidParams(f"{label} {what} has NaN or infinite values")
        out.append(a)
    if out[1].min() < -1e-3 or out[1].max() > 1.0 + 1e-3:
        raise InvalidParams(f"{label} jpeg must be decoded sRGB in [0, 1] (divide 8-bit values by 255)")
    return out[0], np.clip(out[1], 0.0, 1.0)


def _stratified(lstar: np.ndarray, n: int) -> np.ndarray:
    """Indices of about ``n`` samples, spread as evenly as possible over bands of 10 L*."""
    rng = np.random.default_rng(1)
    band = np.clip((lstar // 10).astype(np.int64), 0, 9)
    groups = [np.flatnonzero(band == b) for b in range(10)]
    groups = [g for g in groups if g.size]
    out, left, quota = [], n, n // max(len(groups), 1)
    for k, g in enumerate(sorted(groups, key=len)):  # small bands first, their unused share moves on
        take = min(g.size, max(quota, left // (len(groups) - k)))
        out.append(rng.choice(g, take, replace=False))
        left -= take
    return np.sort(np.concatenate(out))


def _pair_fit(reg: Registration, look: L.Look, x: np.ndarray, lab_t: np.ndarray, sp: _Space) -> PairFit:
    de = _de(look, x, lab_t, sp)
    return PairFit(orientation=reg.orientation, scale=reg.scale, offset=(reg.oy, reg.ox), ncc=reg.ncc,
                   samples=int(len(de)), mean=float(de.mean()), p95=float(np.percentile(de, 95)))


def fit_look(pairs, *, name: str = "fitted", holdout=None, table: bool | None = None,
             summary: str | None = None, jpeg_space: str = "srgb") -> tuple[L.Look, FitReport]:
    """Fit a :class:`~rotpunkt.look.Look` that makes rotpunkt's rendering of raws match their JPEGs.

    Parameters
    ----------
    pairs : sequence of (render, jpeg)
        ``render``: float32 (H, W, 3) scene-linear linear-Rec.2020 (D65) render of the raw, grey 0.18
        (``scene_linear(data, meta, replace(p, space="rec2020"))``); ``jpeg``: float (h, w, 3) the
        camera's JPEG of the same shot, decoded (sRGB-encoded) values in [0, 1]. The JPEG may be a crop of the
        render (at least ~45 % of its width or height), resized, in any of the 8 EXIF orientations.
    name : the fitted look's name.
    holdout : (render, jpeg) or None
        A pair not used for fitting; its error is reported.
    table : bool or None
        Fit the hue/sat/value table: True always, False never, None (default) when it lowers the mean
        CIEDE2000 by more than 0.1 (the table costs ~0.8 s per 12 MP when developing).
    summary : the look's one-line summary (default: states the fit error).
    jpeg_space : "srgb" or "p3"
        The JPEGs' colour space (a Display P3 JPEG says so in its ICC profile; both use the sRGB
        transfer function). The fit and its errors are computed in that space, clipped to it.

    Returns
    -------
    (Look, FitReport): the look (global sections only: exposure ev, tone, colour; white balance,
    local tone mapping and the finishing effects are not fitted) and the fit errors in CIEDE2000.
    Inputs are not modified. Raises InvalidParams for bad inputs or a pair that does not register.
    """
    if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], np.ndarray):
        pairs = [pairs]
    try:
        pairs = list(pairs)
    except TypeError:
        raise InvalidParams("pairs must be a sequence of (render, jpeg) pairs") from None
    if not pairs:
        raise InvalidParams("fit_look needs at least one (render, jpeg) pair")
    if not isinstance(name, str) or not name:
        raise InvalidParams(f"name must be a non-empty string; got {name!r}")
    if jpeg_space not in JPEG_SPACES:
        raise InvalidParams(f"jpeg_space must be one of {', '.join(JPEG_SPACES)}; got {jpeg_space!r}")
    sp = _space(jpeg_space)
    if table not in (None, True, False):
        raise InvalidParams(f"table must be None, True or False; got {table!r}")
    checked = [_check_pair(p, f"pair {i + 1}") for i, p in enumerate(pairs)]
    held = _check_pair(holdout, "holdout") if holdout is not None else None

    regs, xs, ys = [], [], []
    for render, jpeg in checked:
        reg = register(render, jpeg)
        x, y = _samples(render, jpeg, reg)
        regs.append(reg)
        xs.append(x)
        ys.append(y)
    # every pair weighs the same in the fit, and within a pair every band of 10 L* (tones are not
    # evenly spread in a photo; the curve must fit all of them)
    per = max(1, _FIT_SAMPLES // len(xs))
    pick = [_stratified(_lab(y, sp)[:, 0], per) for y in ys]
    xf = np.concatenate([x[p] for x, p in zip(xs, pick, strict=True)])
    yf = np.concatenate([y[p] for y, p in zip(ys, pick, strict=True)])
    lab_f = _lab(yf, sp)

    base = L.Look(name=name, summary="")
    look = _round_look(_fit_global(xf, lab_f, base, sp))
    use_table = False
    if table is not False:
        # alternate once: table on the global fit, then the global parameters again with the table
        # in place (they had absorbed part of what the table now does), then the table again
        with_t = _fit_table(xf, yf, look, sp)
        g2 = _fit_global(xf, lab_f, with_t, sp, start=look)
        with_t = _round_look(_fit_table(xf, yf, _without_table(g2), sp))
        gain = float(_de(look, xf, lab_f, sp).mean() - _de(with_t, xf, lab_f, sp).mean())
        if table or gain > 0.1:
            look, use_table = with_t, True
    labs = [_lab(y, sp) for y in ys]
    fits = tuple(_pair_fit(r, look, x, lt, sp) for r, x, lt in zip(regs, xs, labs, strict=True))
    allde = np.concatenate([_de(look, x, lt, sp) for x, lt in zip(xs, labs, strict=True)])
    hold = None
    if held is not None:
        reg = register(*held)
        x, y = _samples(held[0], held[1], reg)
        hold = _pair_fit(reg, look, x, _lab(y, sp), sp)
    report = FitReport(pairs=fits, mean=float(allde.mean()), p95=float(np.percentile(allde, 95)),
                       holdout=hold, table=use_table)
    text = summary if summary is not None else (
        f"Fitted to {len(pairs)} camera JPEG(s): CIEDE2000 mean {report.mean:.2f}, p95 {report.p95:.2f}")
    look = L.validate_look(dataclasses.replace(look, summary=text))
    return look, report


__all__ = ["JPEG_SPACES", "fit_look", "register", "Registration", "FitReport", "PairFit"]
