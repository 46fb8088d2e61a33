"""Build-time generator of rotpunkt's compiled kernels (Halide pipelines written in Python).

Run by ``setup.py`` while the package is built (``pip install .`` / ``pip install -e .``); never
imported at run time (the installed package needs only numpy). It needs the ``halide`` wheel (>= 21),
a build requirement.

    python src/rotpunkt/fast/generate.py OUTDIR [--target host]

writes to OUTDIR, for every pipeline in :data:`PIPELINES`, a static library ``NAME.a`` compiled
without the Halide runtime and the C++ glue of Halide's ``python_extension`` output ``NAME.py.cpp``;
one standalone Halide runtime ``halide_runtime.o``; a small hand-written C++ file ``_module.cpp``
that defines the module ``_kernels`` (every pipeline plus ``set_num_threads``); and ``manifest.json``
listing the sources and objects to compile and link into ``rotpunkt/fast/_kernels*.so``.

Conventions of the generated functions (the Python-extension glue maps a C-contiguous numpy array's
axes in reverse order onto Halide dimensions, so a numpy (H, W) array is Halide (x, y) and a numpy
(H, W, 3) array is Halide (c, x, y) with c the innermost, stride-1 dimension):

``bayer_rcd(mosaic, red_row, red_col, out)`` and ``bayer_bilinear(...)``
    mosaic float32 (H, W), out float32 (H, W, 3); red_row / red_col (0 or 1): the position of the red
    sample in the 2x2 Bayer tile. Same arithmetic, in the same order, as the numpy reference
    ``rotpunkt.stages.demosaic`` (RCD with its documented deviations from the paper, bilinear with its
    pairwise sums), with the same border rule: the mosaic is extended by reflection about the edge
    pixel (``x[-k] = x[k]``, repeated for tiny images), so every output pixel equals the reference.
    Every demosaic expression is wrapped in Halide's ``strict_float`` so no operation is reassociated
    or fused into an FMA: bit-for-bit. (The colour steps are not: their fast ``pow`` needs the freedom.)
``colour_encode(rgb, matrix, clip_low, clip_high, out)``
    rgb float32 (H, W, 3), matrix float32 (3, 3); out = sRGB_encode(clip(matrix @ rgb, low, high)),
    per pixel (IEC 61966-2-1: 12.92 x at or below 0.0031308, else 1.055 x^(1/2.4) - 0.055). Each
    pixel is read completely before its output is stored, so ``out`` may be ``rgb`` itself.
``bayer_develop_rcd / bayer_develop_bilinear(mosaic, red_row, red_col, matrix, clip_low, clip_high,
out)``
    demosaic then colour_encode fused per tile: no full-size camera-RGB intermediate.
``linearize_wb(raw, black, scale, gain, left, top, clip_high, out)``
    raw uint16 (rows, cols); black, scale, gain float32 (2, 2) per CFA site; out float32 (H, W) =
    min(((raw[y + top, x + left] - black) * scale) * gain, clip_high), site ``[y % 2, x % 2]``.

Schedules (the algorithm above is kept apart from them): the output is split into tiles (RCD
512 x 64 pixels, bilinear 1024 x 32, :data:`TILES`), rows of tiles run in parallel on Halide's thread
pool, every intermediate is computed per tile in the quarter-resolution Bayer planes of a canonical
RGGB block (constant-size stack buffers) and vectorised with the host's natural vector width; the red
phase only shifts where the input is read and where the interleaved result is written, so no bounds
depend on it (a select on the phase inside the bounds made Halide's lowering take minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import generate_look  # the look engine's pipelines (this script's folder is on sys.path)
import halide as hl

# --------------------------------------------------------------------------------------------------
# Constants shared with the numpy reference (rotpunkt/stages/demosaic.py); float32 like there.

LPF_FLOOR = 1e-5  # floor of RCD's low-pass values
EPS = 1e-5  # RCD gradient regulariser
EPS_SQ = 1e-10  # RCD statistic regulariser

SITES = ((0, 0), (0, 1), (1, 0), (1, 1))
RB = ((0, 0), (1, 1))  # red and blue sites of the canonical RGGB block
GG = ((0, 1), (1, 0))  # green sites

x, y, c = hl.Var("x"), hl.Var("y"), hl.Var("c")
j, i = hl.Var("j"), hl.Var("i")  # quarter-resolution (Bayer plane) coordinates


def f32(v: float) -> hl.Expr:
    return hl.f32(v)


# --------------------------------------------------------------------------------------------------
# Helpers


class Field:
    """A quantity held on some of the four sites of the canonical RGGB block, one Func per site.

    The Func of site (sy, sx) is defined on plane coordinates (j, i); plane pixel (j, i) of site
    (sy, sx) is canonical full-resolution pixel (2 j + sx, 2 i + sy). ``at(s, dy, dx)`` is the value at
    full-resolution offset (dy, dx) from site ``s``, at the current plane position (j, i).
    """

    def __init__(self, name: str, sites=SITES):
        self.name = name
        self.funcs = {s: hl.Func(f"{name}_{s[0]}{s[1]}") for s in sites}

    def __setitem__(self, s, expr) -> None:
        self.funcs[s][j, i] = hl.strict_float(expr)

    def at(self, s, dy: int = 0, dx: int = 0) -> hl.Expr:
        qy, sy = divmod(s[0] + dy, 2)
        qx, sx = divmod(s[1] + dx, 2)
        return self.funcs[(sy, sx)][j + qx, i + qy]

    def all(self):
        return list(self.funcs.values())


def bayer_planes(mosaic: hl.ImageParam, red_row: hl.Param, red_col: hl.Param) -> Field:
    """The mosaic, mirrored about its edge pixels, as four planes of a canonical RGGB block:
    canonical pixel (X, Y) is image pixel (X + red_col, Y + red_row), so canonical (0, 0) is red."""
    mir = hl.BoundaryConditions.mirror_interior(mosaic)
    cfa = Field("cfa")
    for sy, sx in SITES:
        cfa[(sy, sx)] = mir[2 * j + sx + red_col, 2 * i + sy + red_row]
    return cfa


def site_planes(site_rgb: dict) -> dict:
    """Per-site (R, G, B) expression triples -> one Func (c, j, i) per canonical site."""
    planes = {}
    for s, trip in site_rgb.items():
        f = hl.Func(f"rgb_{s[0]}{s[1]}")
        f[c, j, i] = hl.strict_float(hl.mux(c, list(trip)))
        planes[s] = f
    return planes


def interleave(planes: dict, red_row, red_col) -> tuple[hl.Func, hl.Func]:
    """Full-resolution output (c, x, y) from the four canonical site planes.

    ``q`` interleaves the sites in canonical coordinates (a fixed pattern: canonical (0, 0) is red);
    the output reads it shifted by the red phase, image (x, y) = canonical (x - red_col, y - red_row).
    Returns (output, q).
    """
    q = hl.Func("interleaved")
    jj, ii = x // 2, y // 2
    row0 = hl.select(x % 2 == 0, planes[(0, 0)][c, jj, ii], planes[(0, 1)][c, jj, ii])
    row1 = hl.select(x % 2 == 0, planes[(1, 0)][c, jj, ii], planes[(1, 1)][c, jj, ii])
    q[c, x, y] = hl.select(y % 2 == 0, row0, row1)
    out = hl.Func("demosaiced")
    out[c, x, y] = q[c, x - red_col, y - red_row]
    return out, q


# --------------------------------------------------------------------------------------------------
# Bilinear (rotpunkt.stages.demosaic._bilinear_kernel): pairwise sums ((a + b) + (c + d)) * 0.25.


def bilinear_algorithm(cfa: Field):
    def mean(s, *offs):
        acc = cfa.at(s, *offs[0]) + cfa.at(s, *offs[1])
        if len(offs) == 4:
            acc = acc + (cfa.at(s, *offs[2]) + cfa.at(s, *offs[3]))
        return acc * f32(1.0 / len(offs))

    cross = ((-1, 0), (1, 0), (0, -1), (0, 1))
    diag = ((-1, -1), (1, 1), (-1, 1), (1, -1))
    vert, horz = ((-1, 0), (1, 0)), ((0, -1), (0, 1))
    r, gr, gb, b = SITES
    return {
        r: (cfa.at(r), mean(r, *cross), mean(r, *diag)),
        gr: (mean(gr, *horz), cfa.at(gr), mean(gr, *vert)),
        gb: (mean(gb, *vert), cfa.at(gb), mean(gb, *horz)),
        b: (mean(b, *diag), mean(b, *cross), cfa.at(b)),
    }, []


# --------------------------------------------------------------------------------------------------
# RCD (rotpunkt.stages.demosaic._rcd_kernel), transcribed operation by operation, in the same order,
# so that float32 rounding is identical (see that module for the algorithm and its deviations).


def hipass_sq(cf: Field, s, dy, dx) -> hl.Expr:
    """Square of the 7-tap high-pass [1, -3, -1, 6, -1, -3, 1] of ``cf`` along (dy, dx) at site s."""
    v = cf.at(s, -3 * dy, -3 * dx) + cf.at(s, 3 * dy, 3 * dx)
    v = v - cf.at(s, -dy, -dx)
    v = v - cf.at(s, dy, dx)
    t = (cf.at(s, -2 * dy, -2 * dx) + cf.at(s, 2 * dy, 2 * dx)) * f32(3)
    v = v - t
    v = v + cf.at(s) * f32(6)
    return v * v


def direction(f1: Field, d1, f2: Field, d2, s) -> hl.Expr:
    a = hl.max((f1.at(s, -d1[0], -d1[1]) + f1.at(s)) + f1.at(s, *d1), f32(EPS_SQ))
    b = hl.max((f2.at(s, -d2[0], -d2[1]) + f2.at(s)) + f2.at(s, *d2), f32(EPS_SQ))
    return a / (b + a)


def discrimination(d: Field, s) -> hl.Expr:
    ctr = d.at(s)
    nb = (((d.at(s, -1, -1) + d.at(s, 1, 1)) + d.at(s, -1, 1)) + d.at(s, 1, -1)) * f32(0.25)
    mask = hl.abs(nb - f32(0.5)) > hl.abs(ctr - f32(0.5))
    return hl.select(mask, (nb - ctr) + ctr, ctr)


def blend(a, b, ga, gb) -> hl.Expr:
    """a + (b - a) * ga / (ga + gb), in the reference's order."""
    return (b - a) * (ga / (ga + gb)) + a


def mix(v, h, k) -> hl.Expr:
    return (h - v) * k + v


def rcd_algorithm(cfa: Field):
    eps = f32(EPS)
    funcs = []  # fields stored per tile; the cheap ones (a difference or two) are inlined

    def field(name, sites=SITES, inline=False):
        fl = Field(name, sites)
        if not inline:
            funcs.extend(fl.all())
        return fl

    # Step 1: vertical / horizontal discrimination, refined.
    bufv, bufh = field("bufv"), field("bufh")
    for s in SITES:
        bufv[s] = hipass_sq(cfa, s, 1, 0)
        bufh[s] = hipass_sq(cfa, s, 0, 1)
    vh = field("vh")
    for s in SITES:
        vh[s] = direction(bufv, (1, 0), bufh, (0, 1), s)
    vhd = field("vhd")
    for s in SITES:
        vhd[s] = discrimination(vh, s)

    # Cardinal gradient sums g4 = eps + d2(-2) + d2(-1) + d2(0) + d2(1), d2(y) = |c(y) - c(y - 2)|.
    g4 = []
    for dy, dx in ((1, 0), (0, 1)):
        d2 = field(f"d2{'v' if dy else 'h'}", inline=True)
        for s in SITES:
            d2[s] = hl.abs(cfa.at(s) - cfa.at(s, -2 * dy, -2 * dx))
        g = field(f"g4{'v' if dy else 'h'}")
        for s in SITES:
            g[s] = (((d2.at(s, -2 * dy, -2 * dx) + d2.at(s, -dy, -dx)) + d2.at(s)) + d2.at(s, dy, dx)) + eps
        g4.append(g)
    g4v, g4h = g4

    # Step 2: low-pass at red/blue sites, floored.
    lpf = field("lpf", RB)
    for s in RB:
        t1 = (((cfa.at(s, -1, 0) + cfa.at(s, 1, 0)) + cfa.at(s, 0, -1)) + cfa.at(s, 0, 1)) * f32(0.125)
        t2 = (((cfa.at(s, -1, -1) + cfa.at(s, 1, 1)) + cfa.at(s, -1, 1)) + cfa.at(s, 1, -1)) * f32(0.0625)
        lpf[s] = hl.max((cfa.at(s) * f32(0.25) + t1) + t2, f32(LPF_FLOOR))

    # Step 3: green at red/blue sites.
    green = field("green", RB)
    for s in RB:
        lc = lpf.at(s)
        two = lc + lc

        def est(dy, dx, s=s, lc=lc, two=two):
            return (two / (lc + lpf.at(s, 2 * dy, 2 * dx))) * cfa.at(s, dy, dx)

        v = blend(est(-1, 0), est(1, 0), g4v.at(s), g4v.at(s, 3, 0))
        h = blend(est(0, -1), est(0, 1), g4h.at(s), g4h.at(s, 0, 3))
        green[s] = mix(v, h, vhd.at(s))

    # Step 4: blue at red and red at blue sites.
    bufp, bufq = field("bufp", RB), field("bufq", RB)
    for s in RB:
        bufp[s] = hipass_sq(cfa, s, 1, 1)
        bufq[s] = hipass_sq(cfa, s, 1, -1)
    pq = field("pq", RB)
    for s in RB:
        pq[s] = direction(bufp, (1, 1), bufq, (1, -1), s)
    pqd = field("pqd", RB, inline=True)
    for s in RB:
        pqd[s] = discrimination(pq, s)
    dp, dq, cdiff = (field(n, RB, inline=True) for n in ("dp", "dq", "cdiff"))
    for s in RB:
        dp[s] = hl.abs(cfa.at(s) - cfa.at(s, -2, -2))
        dq[s] = hl.abs(cfa.at(s) - cfa.at(s, -2, 2))
        cdiff[s] = cfa.at(s) - green.at(s)
    across = field("across", RB)
    for s in RB:
        g0 = green.at(s)

        def grad(dy, dx, s=s, g0=g0):
            sy = 1 if dy == dx else -1
            dd = dp if sy == 1 else dq
            t = hl.abs(g0 - green.at(s, 2 * dy, 2 * dx)) + dd.at(s, 1, sy)
            t = t + (dd.at(s, dy, dx) if dy == -1 else dd.at(s, 3 * dy, 3 * dx))
            return t + eps

        p = blend(cdiff.at(s, -1, -1), cdiff.at(s, 1, 1), grad(-1, -1), grad(1, 1))
        q = blend(cdiff.at(s, -1, 1), cdiff.at(s, 1, -1), grad(-1, 1), grad(1, -1))
        across[s] = mix(p, q, pqd.at(s)) + g0

    # Step 5: red and blue at green sites.
    r_s, b_s = RB
    red = {r_s: cfa, b_s: across}  # which field holds red / blue on each red/blue site
    blue = {r_s: across, b_s: cfa}

    class Pick(Field):
        """Red or blue on both red/blue sites: the known sample or the step-4 estimate."""

        def __init__(self, src):
            self.src = src

        def at(self, s, dy=0, dx=0):
            qy, sy = divmod(s[0] + dy, 2)
            qx, sx = divmod(s[1] + dx, 2)
            return self.src[(sy, sx)].funcs[(sy, sx)][j + qx, i + qy]

    dgv, dgh = field("dgv", GG, inline=True), field("dgh", GG, inline=True)
    for s in GG:
        dgv[s] = hl.abs(cfa.at(s) - cfa.at(s, -2, 0))
        dgh[s] = hl.abs(cfa.at(s) - cfa.at(s, 0, -2))
    res = {}
    for name, src in (("r", red), ("b", blue)):
        col = Pick(src)
        diff = field(f"diff{name}", RB, inline=True)
        for t in RB:
            diff[t] = col.at(t) - green.at(t)
        at_g = field(f"{name}atg", GG)
        for s in GG:

            def axis(dy, dx, col=col, diff=diff, s=s):
                dg = dgv if dy else dgh
                a = hl.abs(col.at(s, -dy, -dx) - col.at(s, dy, dx))
                gn = ((hl.abs(col.at(s, -dy, -dx) - col.at(s, -3 * dy, -3 * dx)) + a) + dg.at(s)) + eps
                gs = ((hl.abs(col.at(s, dy, dx) - col.at(s, 3 * dy, 3 * dx)) + a) + dg.at(s, 2 * dy, 2 * dx)) + eps
                return blend(diff.at(s, -dy, -dx), diff.at(s, dy, dx), gn, gs)

            at_g[s] = mix(axis(1, 0), axis(0, 1), vhd.at(s)) + cfa.at(s)
        res[name] = at_g
    out = {s: (res["r"].at(s), cfa.at(s), res["b"].at(s)) for s in GG}
    out[r_s] = (cfa.at(r_s), green.at(r_s), across.at(r_s))
    out[b_s] = (across.at(b_s), green.at(b_s), cfa.at(b_s))
    return out, funcs


# --------------------------------------------------------------------------------------------------
# Colour: matrix, clip, sRGB encode


def srgb_encode(v: hl.Expr) -> hl.Expr:
    """IEC 61966-2-1 encoding: 12.92 v for v <= 0.0031308, else 1.055 v^(1/2.4) - 0.055."""
    knee = f32(0.0031308)
    p = f32(1.055) * hl.pow(hl.max(v, knee), f32(1.0 / 2.4)) - f32(0.055)
    return hl.select(v <= knee, f32(12.92) * v, p)


# --------------------------------------------------------------------------------------------------
# Pipelines (algorithm + schedule). Each returns (output Func, argument list).


def _vec(t: hl.Target) -> int:
    return max(4, t.natural_vector_size(hl.Float(32)))


def _interleaved_output(out: hl.Func) -> None:
    """Declare the output buffer a C-contiguous numpy (H, W, 3): Halide (c, x, y), strides (1, 3)."""
    ob = out.output_buffer()
    ob.dim(0).set_bounds(0, 3).set_stride(1)
    ob.dim(1).set_stride(3)


def _schedule_interleaved(out: hl.Func, t: hl.Target, rows: int) -> tuple:
    """Output (c, x, y): c innermost (3), x vectorised, strips of ``rows`` rows in parallel."""
    yo, yi = hl.Var("yo"), hl.Var("yi")
    _interleaved_output(out)
    out.bound(c, 0, 3).reorder(c, x, y).unroll(c)
    out.split(y, yo, yi, rows, hl.TailStrategy.GuardWithIf).parallel(yo)
    out.vectorize(x, _vec(t), hl.TailStrategy.GuardWithIf)
    return yo, yi


#: Output tile (pixels) per method: RCD's intermediates per tile stay in L2; bilinear's are few.
TILES = {"rcd": (512, 64), "bilinear": (1024, 32)}


def bayer_pipeline(method: str, t: hl.Target, colour: bool):
    """Demosaic (and, if ``colour``, matrix + clip + encode) of a Bayer mosaic; see the module doc."""
    mosaic = hl.ImageParam(hl.Float(32), 2, "mosaic")
    red_row = hl.Param(hl.Int(32), "red_row", 0)
    red_col = hl.Param(hl.Int(32), "red_col", 0)
    args = [mosaic, red_row, red_col]
    cfa = bayer_planes(mosaic, red_row, red_col)
    site_rgb, fields = (rcd_algorithm if method == "rcd" else bilinear_algorithm)(cfa)
    planes = site_planes(site_rgb)
    encoded = {}
    if colour:
        matrix = hl.ImageParam(hl.Float(32), 2, "matrix")
        lo = hl.Param(hl.Float(32), "clip_low", 0.0)
        hi = hl.Param(hl.Float(32), "clip_high", 1.0)
        args += [matrix, lo, hi]
        matrix.dim(0).set_bounds(0, 3)
        matrix.dim(1).set_bounds(0, 3)
        for key, f in planes.items():
            e = hl.Func(f"enc_{key[0]}{key[1]}")
            e[c, j, i] = colour_expr(f[0, j, i], f[1, j, i], f[2, j, i], matrix, lo, hi)
            encoded[key] = e
    out, q = interleave(encoded or planes, red_row, red_col)

    # Schedule. Rows of tiles in parallel; per tile: the mosaic's four planes, the fields, the site
    # planes (R, G, B), then ``q`` interleaves them in x and y (even-aligned, 2x2 unrolled, so every
    # load and store is dense; stored planar per channel) and the output interleaves the channels.
    # Intermediates are stack allocations (constant size per tile).
    v = _vec(t)
    tx, ty = TILES[method]
    xo, yo, xi, yi, tile = hl.Var("xo"), hl.Var("yo"), hl.Var("xi"), hl.Var("yi"), hl.Var("tile")
    xv, xp, yv, yp = hl.Var("xv"), hl.Var("xp"), hl.Var("yv"), hl.Var("yp")
    gw, ru, si = hl.TailStrategy.GuardWithIf, hl.TailStrategy.RoundUp, hl.TailStrategy.ShiftInwards
    # Per-tile storage bounds (asserted at run time): a plane-coordinate intermediate spans the tile's
    # tx/2 x ty/2 plus at most 8 planes of context on each side (RCD reads 7, the phase shift 1).
    pj, pi = tx // 2 + 2 * 8 + 2 * v, ty // 2 + 2 * 8 + 2

    def per_tile(f: hl.Func, planar_c: bool) -> hl.Func:
        f.compute_at(out, tile).store_in(hl.MemoryType.Stack)
        f.bound_storage(j, pj).bound_storage(i, pi)
        if planar_c:
            f.reorder_storage(j, c, i).bound(c, 0, 3).reorder(c, j, i).unroll(c)
        return f.vectorize(j, v, gw)

    _interleaved_output(out)
    out.bound(c, 0, 3)
    # one parallel task per row of tiles: per-task scratch (Halide's pseudo-stack) is allocated once
    out.tile(x, y, xo, yo, xi, yi, tx, ty, gw).parallel(yo)
    out.reorder(c, xi, yi, xo, yo).unroll(c).vectorize(xi, v, gw)
    out.never_partition([xo, yo])  # the whole per-tile pipeline would be duplicated for edge tiles
    tile = xo
    q.compute_at(out, tile).store_in(hl.MemoryType.Stack).reorder_storage(x, c, y).bound(c, 0, 3)
    q.bound_storage(x, tx + 4 * v).bound_storage(y, ty + 2)
    q.align_bounds(x, 2).align_bounds(y, 2)
    q.split(x, xv, xp, 2, ru).split(y, yv, yp, 2, ru).reorder(xp, xv, c, yp, yv)
    q.unroll(xp).unroll(yp).unroll(c).vectorize(xv, v, si)
    for f in list(planes.values()) + list(encoded.values()):
        per_tile(f, True)
    for f in cfa.all() + (fields if method == "rcd" else []):
        per_tile(f, False)
    for f in [] if method == "rcd" else fields:
        f.compute_inline()
    return out, args


def colour_expr(r, g, b, matrix, lo, hi):
    """Output channel c: encode(clamp(M[c, 0] r + M[c, 1] g + M[c, 2] b, lo, hi)); numpy M (3, 3) is
    Halide matrix(k, c)."""
    lin = (r * matrix[0, c] + g * matrix[1, c]) + b * matrix[2, c]
    return srgb_encode(hl.clamp(lin, lo, hi))


def colour_encode_pipeline(t: hl.Target):
    rgb = hl.ImageParam(hl.Float(32), 3, "rgb")
    matrix = hl.ImageParam(hl.Float(32), 2, "matrix")
    lo = hl.Param(hl.Float(32), "clip_low", 0.0)
    hi = hl.Param(hl.Float(32), "clip_high", 1.0)
    enc = hl.Func("encoded")
    enc[c, x, y] = colour_expr(rgb[0, x, y], rgb[1, x, y], rgb[2, x, y], matrix, lo, hi)
    out = hl.Func("colour_encoded")
    out[c, x, y] = enc[c, x, y]
    _schedule_interleaved(out, t, 16)
    # each vector of pixels is computed completely (all three channels read) before it is stored,
    # so ``out`` may be the input buffer itself
    enc.compute_at(out, x).reorder(c, x, y).unroll(c).vectorize(x)
    for p in (rgb, matrix):
        p.dim(0).set_bounds(0, 3)
    rgb.dim(0).set_stride(1)
    rgb.dim(1).set_stride(3)
    matrix.dim(1).set_bounds(0, 3)
    return out, [rgb, matrix, lo, hi]


def linearize_wb_pipeline(t: hl.Target):
    raw = hl.ImageParam(hl.UInt(16), 2, "raw")
    black = hl.ImageParam(hl.Float(32), 2, "black")
    scale = hl.ImageParam(hl.Float(32), 2, "scale")
    gain = hl.ImageParam(hl.Float(32), 2, "gain")
    left = hl.Param(hl.Int(32), "left", 0)
    top = hl.Param(hl.Int(32), "top", 0)
    hi = hl.Param(hl.Float(32), "clip_high", 1.0)
    out = hl.Func("linear")
    sx, sy = x % 2, y % 2
    v = ((hl.f32(raw[x + left, y + top]) - black[sx, sy]) * scale[sx, sy]) * gain[sx, sy]
    out[x, y] = hl.strict_float(hl.min(v, hi))
    yo, yi = hl.Var("yo"), hl.Var("yi")
    out.split(y, yo, yi, 32, hl.TailStrategy.GuardWithIf).parallel(yo)
    out.vectorize(x, _vec(t), hl.TailStrategy.GuardWithIf)
    for p in (black, scale, gain):
        p.dim(0).set_bounds(0, 2)
        p.dim(1).set_bounds(0, 2)
    return out, [raw, black, scale, gain, left, top, hi]


#: name -> (builder(target) -> (Func, args), extra target features)
PIPELINES = {
    "bayer_bilinear": (lambda t: bayer_pipeline("bilinear", t, False), ()),
    "bayer_rcd": (lambda t: bayer_pipeline("rcd", t, False), ()),
    "colour_encode": (colour_encode_pipeline, ()),
    "bayer_develop_bilinear": (lambda t: bayer_pipeline("bilinear", t, True), ()),
    "bayer_develop_rcd": (lambda t: bayer_pipeline("rcd", t, True), ()),
    "linearize_wb": (linearize_wb_pipeline, ()),
    **{name: (builder, ()) for name, builder in generate_look.PIPELINES.items()},
}

# --------------------------------------------------------------------------------------------------
# Glue: the module definition and the thread-count setter (hand-written C++)

_MODULE_CPP = r"""// Generated by rotpunkt/fast/generate.py: the _kernels module (Halide pipelines + helpers).
#include <Python.h>
#include "HalideRuntime.h"

namespace Halide::PythonExtensions {

// set_num_threads(n) -> previous: size of the Halide thread pool (n >= 1; 0 = Halide's default).
PyObject *set_num_threads(PyObject *module, PyObject *args, PyObject *kwargs) {
    static const char *kwlist[] = {"n", nullptr};
    int n = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i", (char **)kwlist, &n)) return nullptr;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return nullptr;
    }
    int old;
    Py_BEGIN_ALLOW_THREADS
    old = halide_set_num_threads(n);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(old);
}

// target() -> the Halide target string the kernels were compiled for.
PyObject *target(PyObject *module, PyObject *args, PyObject *kwargs) {
    return PyUnicode_FromString(ROTPUNKT_HALIDE_TARGET);
}

}  // namespace Halide::PythonExtensions

#define HALIDE_PYTHON_EXTENSION_MODULE_NAME _kernels
#define HALIDE_PYTHON_EXTENSION_FUNCTIONS @FUNCTIONS@
"""


def _halide_version() -> str:
    try:
        from importlib.metadata import version

        return version("halide")
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def _compile_one(name: str, outdir: str, target: str) -> tuple[str, float]:
    """Compile pipeline ``name`` into OUTDIR/NAME.a and its glue NAME.py.cpp (in a worker process)."""
    builder, features = PIPELINES[name]
    base = hl.get_host_target() if target == "host" else hl.Target(target)
    t = base.with_feature(hl.TargetFeature.NoRuntime)
    for feat in features:
        t = t.with_feature(getattr(hl.TargetFeature, "StrictFloat" if feat == "strict_float" else feat))
    t0 = time.perf_counter()
    func, args = builder(t)
    lib = os.path.join(outdir, f"{name}.a")
    glue = os.path.join(outdir, f"{name}.py.cpp")
    func.compile_to({hl.OutputFileType.static_library: lib, hl.OutputFileType.python_extension: glue}, args, name, t)
    return name, round(time.perf_counter() - t0, 2)


def build(outdir: str, target: str = "host", only=None, jobs: int | None = None) -> dict:
    """Compile every pipeline for ``target`` into ``outdir`` (``jobs`` processes, default one per
    core: each compile is single-threaded); return the manifest (also written)."""
    from concurrent.futures import ProcessPoolExecutor

    os.makedirs(outdir, exist_ok=True)
    base = hl.get_host_target() if target == "host" else hl.Target(target)
    names = [n for n in PIPELINES if only is None or n in only]
    jobs = jobs or min(len(names), os.cpu_count() or 1)
    timings = {}
    # the slowest compiles first, so the processes finish together
    order = sorted(names, key=lambda n: (not n.startswith("look_apply_1"), not n.startswith("look_apply")))
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        for name, secs in ex.map(_compile_one, order, [outdir] * len(order), [target] * len(order)):
            timings[name] = secs
            print(f"rotpunkt.fast: compiled {name} in {secs:.1f} s", flush=True)
    sources, objects = [], []
    for n, name in enumerate(names):
        objects.append(os.path.join(outdir, f"{name}.a"))
        if n == 0:
            # this one carries the module definition (and the buffer unpacking it defines once)
            funcs = " ".join(f"X({nm})" for nm in names) + " X(set_num_threads) X(target)"
            mod = os.path.join(outdir, "_module.cpp")
            text = _MODULE_CPP.replace("@FUNCTIONS@", funcs)
            text = text.replace("ROTPUNKT_HALIDE_TARGET", json.dumps(str(base)))
            with open(mod, "w") as fh:
                fh.write(text + f'#include "{name}.py.cpp"\n')
            sources.append(mod)
        else:
            wrap = os.path.join(outdir, f"{name}_glue.cpp")
            with open(wrap, "w") as fh:
                fh.write(f'#define HALIDE_PYTHON_EXTENSION_OMIT_MODULE_DEFINITION\n#include "{name}.py.cpp"\n')
            sources.append(wrap)
    runtime = os.path.join(outdir, "halide_runtime.o")
    hl.compile_standalone_runtime(runtime, base)
    objects.append(runtime)
    manifest = {
        "target": str(base),
        "sources": sources,
        "objects": objects,
        "include_dirs": [os.path.join(os.path.dirname(hl.__file__), "include"), outdir],
        "functions": names,
        "seconds": timings,
        "halide": _halide_version(),
    }
    with open(os.path.join(outdir, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--target", default="host", help="Halide target string, or 'host' (default)")
    ap.add_argument("--only", nargs="*", help="compile only these pipelines")
    ap.add_argument("--jobs", type=int, default=None, help="compiler processes (default: one per core)")
    a = ap.parse_args(argv)
    build(a.outdir, a.target, a.only, a.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
