"""Build-time Halide pipelines of the look engine (imported by ``generate.py``; never at run time).

They compute, per pixel and fused, what ``rotpunkt.look``'s numpy kernels compute stage by stage
(that module is the reference and documents every formula; tests compare the two). The whole-image
quantities some stages need are small low-resolution grids the caller makes with numpy (the local
tone base's coefficients, the halation glow, the vignette gain) or hashes on the fly (the grain),
upsampled here bilinearly as ``look._Upsampler`` does. The scalar parameters are float32 arguments,
one per name of ``layout.LOOK_PRM``, in that order.

``look_apply_LFS(rgb, <LOOK_PRM...>, vignette, ab, glow, noise_w, noise_h, noise_seed, taps,
tone, saturation, monochrome, encode, out)``
    rgb float32 (H, W, 3) scene-linear (any linear RGB: the ``m`` matrix takes it to Rec.2020 with
    the look's exposure); vignette float32 (hv, wv), the look's vignette gain on a grid whose corner
    nodes sit on the corner pixels; ab float32 (2, hl, wl), the guided filter's coefficients; glow
    float32 (hg, wg); the grain's noise grid (noise_h x noise_w nodes) hashed from noise_seed;
    taps float32 (2 r + 1,), the sharpening blur. L, F, S in the name: with local tone mapping (0/1),
    film effects none / grain / halation and grain (0/1/2), with sharpening (0/1) (the caller picks
    the variant; a switched-off stage is
    absent from the code); the four booleans switch cheaper stages at run time (both sides are then
    computed). out = encode(clip(O @ clip(look(rgb), 0, 1), 0, 1)), O the ``o`` matrix, sRGB encoding
    when ``encode`` (else linear).
``look_sums_logy(rgb, <LOOK_PRM...>, vignette, sub, out)``
    out float32 (ceil(H / sub), W): out[by, x] = sum over the rows of block by that ``look.row_step``
    picks of log2 max(Y, 2^-24) after the exposure stage (the local tone stage's statistics).
``look_sums_glow_L(rgb, <LOOK_PRM...>, vignette, ab, sub, tone, saturation, monochrome, out)``
    the same sums of the halation's emission max((Y - threshold) / (1 - threshold), 0) after the
    vignette stage.

Schedule: tiles of 512 x 64 pixels, rows of tiles in parallel; each stage's result and each
per-pixel quantity it derives from all three channels is its own Func computed per vector (two
native vectors) of pixels, so nothing is computed twice; with sharpening, the image before it is
kept per tile (plus the blur's halo, which neighbouring tiles recompute). Transcendentals use
Halide's polynomial ``fast_log``/``fast_exp`` (relative error ~4e-6) and divisions a refined
reciprocal: the kernels stay within ~5e-5 of the numpy engine (tests allow 2e-4).
"""

from __future__ import annotations

import halide as hl
from layout import LOOK_FLAGS, LOOK_PRM, LOOK_RUNTIME_FLAGS, LOOK_STRIP

x, y, c = hl.Var("x"), hl.Var("y"), hl.Var("c")
LN2 = 0.6931471805599453


def f32(v) -> hl.Expr:
    return hl.f32(v)


def exp2(v: hl.Expr) -> hl.Expr:
    """2^v with Halide's polynomial fast_exp (relative error ~2^-18; v clamped to +-120, where it stays
    exact enough and never overflows)."""
    return hl.fast_exp(hl.clamp(v, f32(-120.0), f32(120.0)) * f32(LN2))


def log2(v: hl.Expr) -> hl.Expr:
    """log2 v for v > 0 (normal floats) with Halide's fast_log (absolute error ~1e-6)."""
    return hl.fast_log(v) * f32(1.0 / LN2)


class Prm:
    """The scalar parameters, one float32 Param each in ``LOOK_PRM`` order (function arguments: held
    in registers across the loops, where loads from a parameter buffer were redone per vector)."""

    def __init__(self):
        self.params = [hl.Param(hl.Float(32), n, 0.0) for n in LOOK_PRM]

    def __getattr__(self, name: str) -> hl.Expr:
        if name.startswith("__") or name == "params":
            raise AttributeError(name)
        return self.params[LOOK_PRM.index(name)]

    def matrix(self, prefix: str, r, g, b):
        m = [[getattr(self, f"{prefix}{i}{k}") for k in range(3)] for i in range(3)]
        return tuple((r * m[i][0] + g * m[i][1]) + b * m[i][2] for i in range(3))

    def luma(self, r, g, b) -> hl.Expr:
        return (r * self.ly0 + g * self.ly1) + b * self.ly2


class Upsampled:
    """Bilinear upsampling of a low-resolution grid (``look._Upsampler`` with corners=False): pixel y
    sits at (y + 0.5) / scale - 0.5 on the grid, clamped. Columns first: a Func ``cols`` over full-res
    x and grid rows (the only gathers, once per grid row that a tile needs; scheduled per tile by the
    caller), then each pixel interpolates two of its rows with dense loads. ``keep_variance`` divides
    each axis' weights by sqrt(w0^2 + w1^2)."""

    def __init__(self, name: str, grid, nx: hl.Expr, ny: hl.Expr, scale: hl.Expr, keep_variance: bool,
                 planes: int = 0, corners=None):
        """``corners``: (ax, ay) for a grid whose first and last nodes sit on the first and last pixels
        (node coordinate = pixel * a, ``look._Upsampler`` with corners=True) instead of ``scale``."""
        self.keep = keep_variance
        self.cols = hl.Func(f"{name}_cols")
        self.yl = hl.Var(f"{name}_yl")
        k = hl.Var(f"{name}_k")
        self.k = k if planes else None
        if corners is None:
            self.ax = self.ay = f32(1.0) / scale
            self.b = f32(0.5) / scale - f32(0.5)
        else:
            (self.ax, self.ay), self.b = corners, f32(0.0)
        j0, j1, fx = self.coord(x, nx, self.ax)
        a = grid(j0, self.yl, k) if planes else grid(j0, self.yl)
        b = grid(j1, self.yl, k) if planes else grid(j1, self.yl)
        v = self.lerp(a, b, fx)
        if planes:
            self.cols[k, x, self.yl] = v
        else:
            self.cols[x, self.yl] = v
        self.ny = ny

    def coord(self, v, n, a):
        t = hl.clamp(hl.f32(v) * a + self.b, f32(0.0), hl.f32(n - 1))
        i0 = hl.min(hl.i32(t), hl.max(n - 2, 0))
        return i0, hl.min(i0 + 1, n - 1), t - hl.f32(i0)

    def lerp(self, a, b, f):
        v = a + (b - a) * f
        if self.keep:
            v = v / hl.sqrt((f32(1.0) - f) * (f32(1.0) - f) + f * f)
        return v

    def at(self, plane=None) -> hl.Expr:
        i0, i1, fy = self.coord(y, self.ny, self.ay)
        if self.k is not None:
            return self.lerp(self.cols[plane, x, i0], self.cols[plane, x, i1], fy)
        return self.lerp(self.cols[x, i0], self.cols[x, i1], fy)

    def schedule(self, at: hl.Func, var, t: hl.Target) -> None:
        self.cols.compute_at(at, var)
        if self.k is not None:
            self.cols.bound(self.k, 0, 2).reorder_storage(x, self.k, self.yl).reorder(self.k, x, self.yl)
            self.cols.unroll(self.k)
        self.cols.vectorize(x, _vec(t), hl.TailStrategy.GuardWithIf)


#: look.GRAIN_HASH[:2]: multipliers of the node column and row
GRAIN_HASH = (0x8DA6B343, 0xD8163841)


def grain_noise(col, row, seed_term) -> hl.Expr:
    """``look.grain_noise`` at node (row, col), bit for bit."""
    u32 = hl.UInt(32)
    h = (hl.cast(u32, col) * hl.u32(GRAIN_HASH[0])) ^ (hl.cast(u32, row) * hl.u32(GRAIN_HASH[1])) ^ seed_term
    h = h ^ (h >> 16)
    h = h * hl.u32(0x7FEB352D)
    h = h ^ (h >> 15)
    h = h * hl.u32(0x846CA68B)
    h = h ^ (h >> 16)
    return (hl.f32(h >> 8) * f32(2.0**-24) - f32(0.5)) * f32(3.4641016151377544)


def inv(d: hl.Expr) -> hl.Expr:
    """1 / d: the hardware reciprocal estimate refined by one Newton step (relative error ~1e-7, far
    cheaper than a vector division)."""
    r = hl.fast_inverse(d)
    return r * (f32(2.0) - d * r)


def max3(r, g, b):
    return hl.max(hl.max(r, g), b)


def min3(r, g, b):
    return hl.min(hl.min(r, g), b)


class Chain:
    """The look's stages as Funcs of (x, y), in ``look.ORDER``.

    Every stage's result, and every per-pixel quantity it computes from all three channels (a gain,
    a luminance), is its own Func (:meth:`keep`), computed per vector of pixels by the schedule
    (:meth:`schedule`): a value several channels use is computed once (the channels of a Tuple are
    separate expressions; inlined, each would redo the whole chain)."""

    def __init__(self, rgb: hl.ImageParam, prm: Prm, flags: dict, vg: hl.ImageParam):
        self.rgb, self.p, self.flags = rgb, prm, flags
        self.w, self.h = rgb.dim(1).extent(), rgb.dim(2).extent()
        self.ups: list[Upsampled] = []
        self.funcs: list[hl.Func] = []
        self.edge_rows = None
        # the look's vignette gain on look._Vignette's grid (the caller undoes the input's vignetting)
        self.vg = Upsampled("vignette", lambda i, j: vg[i, j], vg.dim(0).extent(), vg.dim(1).extent(), None,
                            False, corners=(prm.vg_ax, prm.vg_ay))
        self.ups.append(self.vg)

    def keep(self, name: str, value):
        f = hl.Func(name)
        if isinstance(value, tuple):
            f[x, y] = hl.Tuple(list(value))
            self.funcs.append(f)
            return tuple(f[x, y][i] for i in range(len(value)))
        f[x, y] = value
        self.funcs.append(f)
        return f[x, y]

    def schedule(self, funcs, at: hl.Func, var, t: hl.Target) -> None:
        for f in funcs:
            f.compute_at(at, var).vectorize(x, _vec(t), hl.TailStrategy.GuardWithIf)

    def off(self, flag: str) -> bool:
        return self.flags.get(flag) is False

    def source(self, ch_: int) -> hl.Expr:
        """Input channel ``ch_`` at (x, y); with ``self.edge_rows`` (in-place sharpening), rows within
        the blur's radius of a strip boundary come from that copy of the original rows."""
        if self.edge_rows is None:
            return self.rgb[ch_, x, y]
        bnd, rad = self.edge_rows
        off = (y + rad) % STRIP
        idx = hl.clamp((y + rad) / STRIP * (2 * rad) + off - rad, 0, bnd.dim(2).extent() - 1)
        return hl.select(off < 2 * rad, bnd[ch_, x, idx], self.rgb[ch_, x, y])

    def exposure(self):
        p = self.p
        return self.keep("exposed", p.matrix("m", *(self.source(i) for i in range(3))))

    def logy(self, r, g, b):
        return log2(hl.max(self.p.luma(r, g, b), f32(2.0**-24)))

    def local_tone(self, rgb, ab: hl.ImageParam):
        if self.off("local_tone"):
            return rgb
        p = self.p
        r, g, b = rgb
        up = Upsampled("ab", lambda i, j, k: ab[i, j, k], ab.dim(0).extent(), ab.dim(1).extent(), p.lt_sub,
                       False, planes=2)
        self.ups.append(up)
        ly = self.logy(r, g, b)
        q = up.at(0) * ly + up.at(1)
        d = q - p.lt_anchor
        kn, s2 = p.lt_knee, p.lt_soft2
        t1 = hl.sqrt((d - kn) * (d - kn) + s2)
        t2 = hl.sqrt((d + kn) * (d + kn) + s2)
        cc = (t1 - t2) * f32(0.5) + d
        k = self.keep("lt_gain", exp2(cc * -p.lt_strength + (ly - q) * p.lt_detail1))
        return self.switch("local_tone", (r * k, g * k, b * k), rgb)

    def tone(self, rgb):
        """``look.tone_curve`` evaluated in closed form (no free curve) on max(R, G, B), ratios kept."""
        if self.off("tone"):
            return rgb
        p = self.p
        r, g, b = rgb
        grey = f32(0.18)
        n = hl.max(max3(r, g, b), p.tone_nmin)
        x1 = hl.max((n - p.tone_black) * p.tone_bscale, f32(1e-30))
        q = grey * exp2(p.tone_c * log2(x1 * f32(1.0 / 0.18)))
        q = q * q * inv(q + p.tone_toe) * p.tone_toescale
        ys, wp = p.tone_ys, p.tone_w
        qc = hl.clamp(q, ys, wp)
        u = (qc - ys) * p.tone_i1ys
        frac = (qc - ys) * p.tone_iwys
        shoulder = hl.select(q <= ys, q, ys + (f32(1.0) - ys) * u * inv(f32(1.0) + u - frac))
        yv = hl.clamp(hl.select(p.tone_shoulder > f32(0.5), shoulder, q), f32(0.0), f32(1.0))
        k = self.keep("tone_gain", (p.tone_lift + (f32(1.0) - p.tone_lift) * yv) * inv(n))
        return self.switch("tone", (r * k, g * k, b * k), rgb)

    def saturation(self, rgb):
        """``look._Saturation`` with the soft limit written e * em / (em^4 + e^4)^(1/4) (no infinities:
        em is capped at 1e6, where the limit no longer acts)."""
        if self.off("saturation"):
            return rgb
        p = self.p
        r, g, b = rgb
        yy = p.luma(r, g, b)
        mx, mn = max3(r, g, b), min3(r, g, b)
        k = hl.clamp(mn * inv(hl.max(mx, f32(1e-12))), f32(0.0), f32(1.0)) * p.satvib + p.sat
        big = f32(1e6)
        e1 = hl.select(mx - yy > f32(0.0), (f32(1.0) - yy) * inv(mx - yy), big)
        e2 = hl.select(yy - mn > f32(0.0), yy * inv(yy - mn), big)
        em = hl.clamp(hl.min(e1, e2) - f32(1.0), f32(0.0), big)
        e = hl.max(k - f32(1.0), f32(0.0))
        e4, em4 = e * e * e * e, em * em * em * em
        lim = e * em * inv(hl.sqrt(hl.sqrt(e4 + em4)) + f32(1e-30))
        yy, kk = self.keep("sat_gain", (yy, hl.min(k, f32(1.0)) + lim))
        return self.switch("saturation", tuple((v - yy) * kk + yy for v in rgb), rgb)

    def monochrome(self, rgb):
        if self.off("monochrome"):
            return rgb
        p = self.p
        r, g, b = rgb
        m = hl.max((r * p.mw0 + g * p.mw1) + b * p.mw2, f32(0.0))
        lum = hl.sqrt(hl.min(m, f32(1.0)))
        m, ws, wh = self.keep("mono_w", (m, (f32(1.0) - lum) * (f32(1.0) - lum) * p.mono_bs, lum * lum * p.mono_bh))
        out = tuple(m * ((ws * getattr(p, f"ds{i}") + wh * getattr(p, f"dh{i}")) + f32(1.0)) for i in range(3))
        return self.switch("monochrome", out, rgb)

    def vignette(self, rgb):
        k = self.vg.at()
        return self.keep("vignetted", tuple(v * k for v in rgb))

    def emission(self, rgb):
        p = self.p
        return hl.max((p.luma(*rgb) - p.hal_thr) * p.hal_inv, f32(0.0))

    def halation(self, rgb, glow: hl.ImageParam):
        p = self.p
        up = Upsampled("glow", lambda i, j: glow[i, j], glow.dim(0).extent(), glow.dim(1).extent(), p.hal_sub,
                       False)
        self.ups.append(up)
        spill = self.keep("spill", hl.max(up.at() - self.emission(rgb), f32(0.0)))
        out = tuple(v + spill * getattr(p, f"ht{i}") for i, v in enumerate(rgb))
        return self.switch("halation", out, rgb)

    def switch(self, flag: str, on, off):
        """The stage's result (a kept Func) when on; a runtime flag selects per pixel (the stage is then
        computed either way)."""
        f = self.flags[flag]
        if isinstance(f, bool):
            return self.keep(f"{flag}_rgb", on) if f else off
        return self.keep(f"{flag}_rgb", tuple(hl.select(f, a, b) for a, b in zip(on, off, strict=True)))

    def through_vignette(self, ab):
        rgb = self.exposure()
        rgb = self.local_tone(rgb, ab)
        rgb = self.tone(rgb)
        rgb = self.saturation(rgb)
        rgb = self.monochrome(rgb)
        return self.vignette(rgb)


def _inputs():
    rgb = hl.ImageParam(hl.Float(32), 3, "rgb")
    rgb.dim(0).set_bounds(0, 3).set_stride(1)
    rgb.dim(1).set_stride(3)
    vg = hl.ImageParam(hl.Float(32), 2, "vignette")
    return rgb, Prm(), vg


def _vec(t: hl.Target) -> int:
    """Twice the natural vector width: two independent vectors per step keep the long dependency chains
    of the transcendental functions overlapped (measured ~10-25 % faster at AVX-512's 16 lanes; 4x
    spills registers)."""
    return 2 * max(4, t.natural_vector_size(hl.Float(32)))


def _sums(ch: Chain, value: hl.Expr, sub: hl.Param, t: hl.Target, name: str) -> tuple[hl.Func, hl.Func]:
    """out[x, by] = sum of ``value`` over the rows by * sub .. by * sub + sub - 1 inside the image that
    ``look.row_step`` picks; also returns the per-row Func of ``value`` (computed one row at a time)."""
    out = hl.Func(name)
    v = hl.Func(f"{name}_value")
    v[x, y] = value
    by = hl.Var("by")
    step = hl.select(sub < 4, 1, hl.select(sub < 8, 2, 4))  # look.row_step, from the block's first row
    r = hl.RDom([hl.Range(0, (sub + 1) / 2 + 1)])
    end = hl.min(by * sub + sub, ch.h)
    row = by * sub + r.x * step
    out[x, by] = f32(0.0)
    out[x, by] += hl.select(row < end, v[x, hl.min(row, ch.h - 1)], f32(0.0))
    vec = _vec(t)
    out.vectorize(x, vec, hl.TailStrategy.GuardWithIf).parallel(by)
    out.update().reorder(x, r.x, by).vectorize(x, vec, hl.TailStrategy.GuardWithIf).parallel(by)
    xo, xi = hl.Var("vxo"), hl.Var("vxi")
    v.compute_at(out, r.x).split(x, xo, xi, vec, hl.TailStrategy.GuardWithIf).vectorize(xi)
    ch.schedule(ch.funcs, v, xo, t)
    _schedule_grids(ch.ups, out, by, t)
    return out, v


def sums_logy_pipeline(t: hl.Target):
    rgb, prm, vg = _inputs()
    sub = hl.Param(hl.Int(32), "sub", 1)
    ch = Chain(rgb, prm, {}, vg)
    out, _ = _sums(ch, ch.logy(*ch.exposure()), sub, t, "sums_logy")
    return out, [rgb, *prm.params, vg, sub]


def _ab():
    ab = hl.ImageParam(hl.Float(32), 3, "ab")
    ab.dim(2).set_bounds(0, 2)
    return ab


def _schedule_grids(ups, at: hl.Func, var, t: hl.Target) -> None:
    for up in ups:
        up.schedule(at, var, t)


def _flags(local_tone: bool, film: int, sharpen: bool, names=LOOK_FLAGS) -> dict:
    """Switches: the costly stages fixed per compiled variant, the others runtime Params (both sides
    of a runtime switch are computed, so only cheap stages are switched at run time)."""
    fixed = {"local_tone": local_tone, "halation": film == 2, "grain": film >= 1, "sharpen": sharpen}
    assert set(LOOK_FLAGS) - set(fixed) == set(LOOK_RUNTIME_FLAGS)
    return {n: fixed[n] if n in fixed else hl.Param(hl.Bool(), f"{n}_on") for n in names}


def _runtime(flags: dict) -> list:
    """The runtime switches' Params, in ``LOOK_RUNTIME_FLAGS`` order (the wrappers' argument order)."""
    return [flags[n] for n in LOOK_RUNTIME_FLAGS if n in flags]


def sums_glow_pipeline(t: hl.Target, local_tone: bool):
    rgb, prm, vg = _inputs()
    ab = _ab()
    sub = hl.Param(hl.Int(32), "sub", 1)
    flags = _flags(local_tone, False, False, LOOK_FLAGS[:4])
    ch = Chain(rgb, prm, flags, vg)
    out, v = _sums(ch, ch.emission(ch.through_vignette(ab)), sub, t, "sums_glow")
    return out, [rgb, *prm.params, vg, ab, sub, *_runtime(flags)]


#: tile of look_apply's output (pixels): the pre-sharpening image of a tile (plus the blur's halo,
#: recomputed by neighbouring tiles: ~6 % of the rows) stays in L2
STRIP = LOOK_STRIP  # rows per parallel task
TILE = (512, STRIP)


def apply_pipeline(t: hl.Target, local_tone: bool, film: int, sharpen: bool):
    """``look_apply``; ``local_tone``, ``film`` (0 none, 1 grain, 2 halation and grain) and ``sharpen``
    fixed per variant."""
    rgb, prm, vg = _inputs()
    ab = _ab()
    glow = hl.ImageParam(hl.Float(32), 2, "glow")
    noise_w = hl.Param(hl.Int(32), "noise_w", 1)
    noise_h = hl.Param(hl.Int(32), "noise_h", 1)
    noise_seed = hl.Param(hl.UInt(32), "noise_seed", 0)
    taps = hl.ImageParam(hl.Float(32), 1, "taps")
    flags = _flags(local_tone, film, sharpen)
    ch = Chain(rgb, prm, flags, vg)
    p = ch.p
    edges = hl.ImageParam(hl.Float(32), 3, "edge_rows")
    edges.dim(0).set_bounds(0, 3).set_stride(1)
    edges.dim(1).set_stride(3)
    if sharpen:
        ch.edge_rows = (edges, taps.dim(0).extent() // 2)
    pre_rgb = ch.through_vignette(ab)
    if film == 2:
        pre_rgb = ch.halation(pre_rgb, glow)
    n_pre = len(ch.funcs)  # the Funcs up to here make the image the sharpening reads around each pixel
    rgb1 = pre_rgb
    blur = []
    if sharpen:  # clamps marked likely: the steady state of each row loads densely (no gathers)
        pre = ch.funcs[-1]
        w, h = ch.w, ch.h
        ys = hl.Func("luma")
        # the luminance at clamped coordinates (edges replicated), so the blurs load without clamps
        xc, yc = hl.clamp(hl.likely(x), 0, w - 1), hl.clamp(hl.likely(y), 0, h - 1)
        ys[x, y] = p.luma(*(pre[xc, yc][i] for i in range(3)))
        rad = taps.dim(0).extent() // 2
        kr = hl.RDom([hl.Range(0, taps.dim(0).extent())])
        by = hl.Func("blur_y")
        by[x, y] = f32(0.0)
        by[x, y] += taps[kr.x] * ys[x, y + kr.x - rad]
        bx = hl.Func("blur")
        bx[x, y] = f32(0.0)
        bx[x, y] += taps[kr.x] * by[x + kr.x - rad, y]
        sh = ch.keep("sharp_detail", (p.luma(*rgb1) - bx[x, y]) * p.sh_amount)
        rgb1 = ch.keep("sharpened", tuple(v + sh for v in rgb1))
        blur = [pre, ys, by, bx, kr]
    nz = None
    if film:
        nz = Upsampled("noise", lambda i, j: grain_noise(i, j, noise_seed), noise_w, noise_h, p.gr_size, True)
        yl = hl.clamp(p.luma(*rgb1), f32(0.0), f32(1.0))
        gk = ch.keep("grain_gain", exp2(nz.at() * ((hl.sqrt(yl) - yl) * p.gr_k)))
        rgb1 = ch.keep("grained", tuple(v * gk for v in rgb1))
    clipped = tuple(hl.clamp(v, f32(0.0), f32(1.0)) for v in rgb1)
    lin = tuple(hl.clamp(v, f32(0.0), f32(1.0)) for v in p.matrix("o", *clipped))
    knee = f32(0.0031308)
    enc = tuple(hl.select(v <= knee, f32(12.92) * v, f32(1.055) * exp2(log2(hl.max(v, knee)) * f32(1.0 / 2.4))
                          - f32(0.055)) for v in lin)
    res = ch.switch("encode", enc, lin)
    out = hl.Func("look_applied")
    out[c, x, y] = hl.mux(c, list(res))

    # Schedule: rows of tiles in parallel; every kept Func per vector of pixels. With sharpening, the
    # Funcs up to the pre-sharpening image run over the tile plus the blur's halo (stored per tile),
    # then its luminance and vertical blur per tile; the upsampled grids' rows once per image row.
    vec = _vec(t)
    ob = out.output_buffer()
    ob.dim(0).set_bounds(0, 3).set_stride(1)
    ob.dim(1).set_stride(3)
    xo, yo, xi, yi, xio, xii = (hl.Var(n) for n in ("xo", "yo", "xi", "yi", "xio", "xii"))
    gw = hl.TailStrategy.GuardWithIf
    out.bound(c, 0, 3)
    out.tile(x, y, xo, yo, xi, yi, TILE[0], TILE[1], gw).split(xi, xio, xii, vec, gw)
    out.reorder(c, xii, xio, yi, xo, yo).unroll(c).vectorize(xii).parallel(yo)
    if blur:
        # In place: the image before sharpening (and its luminance) is computed for the whole strip
        # before the strip writes anything, and the rows other strips also read come from edge_rows
        pre, ys, by, bx, kr = blur
        pxo, pxi = hl.Var("pxo"), hl.Var("pxi")
        pre.compute_at(out, yo).split(x, pxo, pxi, vec, gw).vectorize(pxi)
        ch.schedule(ch.funcs[:n_pre - 1], pre, pxo, t)
        ys.compute_at(out, yo).vectorize(x, vec, gw)
        by.compute_at(out, xo).hoist_storage(out, yo).vectorize(x, vec, gw)
        by.update().reorder(x, kr.x, y).vectorize(x, vec, gw)
        five = taps.dim(0).extent() == 5  # sigma 0.5-1.1 px, the shipped looks': taps unrolled
        by.update().specialize(five).unroll(kr.x)
        bx.compute_at(out, xio).vectorize(x)
        bx.update().reorder(x, kr.x, y).vectorize(x)
        bx.update().specialize(five).unroll(kr.x)
        _schedule_grids(ch.ups, out, yo, t)
        ch.schedule(ch.funcs[n_pre:], out, xio, t)
    else:
        ch.schedule(ch.funcs, out, xio, t)
        _schedule_grids(ch.ups, out, xo, t)
    if nz is not None:
        _schedule_grids([nz], out, xo, t)
    return out, [rgb, *prm.params, vg, ab, glow, noise_w, noise_h, noise_seed, taps, edges, *_runtime(flags)]


#: name -> builder(target) -> (Func, args)
PIPELINES = {
    "look_sums_logy": sums_logy_pipeline,
    **{f"look_sums_glow_{int(lt)}": (lambda t, lt=lt: sums_glow_pipeline(t, lt)) for lt in (False, True)},
    **{f"look_apply_{int(lt)}{fm}{int(sh)}": (lambda t, lt=lt, fm=fm, sh=sh: apply_pipeline(t, lt, fm, sh))
       for lt in (False, True) for fm in (0, 1, 2) for sh in (False, True)},
}
