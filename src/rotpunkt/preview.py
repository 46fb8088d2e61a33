"""Fast preview: a demosaic-free develop at 1/2 (or 1/4, 1/8) resolution, for interactive use.

    stored samples ─► [per CFA site: black, white, white balance and block weight as one multiply-add,
      clip] ─► sum over each s x s block per colour (no demosaic) ─► [OpcodeList3] ─► camera -> XYZ D50
      ─► [profile tables, exposure] ─► output primaries ─► clip ─► transfer function ─► orientation

This is LibRaw's ``half_size`` idea: every 2 x 2 Bayer block (R, G, G, B) already holds one sample of
each colour, so one output pixel is (R, mean of the two G, B) of its block, read straight from the
stored integers. Each CFA site's black level, white level, white-balance gain and averaging weight are
folded into one float32 multiply-add per site, done on row bands of a few dozen full-resolution rows
(contiguous, cache-sized), so no full-resolution float image is made. Everything else is the develop's
own code: its colour plan (:func:`rotpunkt.pipeline.colour_plan`: white balance, the DNG colour model of
:func:`rotpunkt.stages.colour.color_transform`, exposure, profile tables) applied by
:func:`rotpunkt.pipeline.apply_colour_plan`, then clipping and
:func:`~rotpunkt.colour_math.srgb_encode_fast`, per row strip of the small image on ``params.workers``
threads; the opcode module for opcodes; :func:`~rotpunkt.stages.linearize.linearize` wherever the
linearisation is more than a per-site multiply-add.

Geometry (the output size rule)
-------------------------------
Output pixel (i, j) is the s x s block of active-area pixels at rows ``top + s*i .. top + s*i + s - 1``
and columns ``left + s*j .. left + s*j + s - 1``, where (top, left, height, width) is the DefaultCrop (the
whole active area when ``params.crop`` is False or the file has none). Only whole blocks are used: the
output has ``height // s`` rows and ``width // s`` columns (floor; at scale 2 an odd last row or column
of the crop is dropped). Then the pixels are rotated upright (``params.orient``), which swaps the two
numbers for orientations 5-8. LinearRaw data is averaged over the same blocks.

Values
------
Float32 (h, w, 3), display-referred in [0, 1], encoded with the sRGB transfer function, in the primaries
of ``params.space``: the develop's contract. The highlight rule is the develop's too: each white-balanced
sample is clipped at 1 (``highlights="clip"``) before the block mean. On a uniform field the preview
equals the full develop; elsewhere it differs from a downsampled develop only by the missing demosaic:
each colour is the mean of its own sites in the block, so the colours of one output pixel are sampled
up to one full-resolution pixel apart (a little colour fringing at sharp edges, no loss of colour
accuracy on areas).

Used from ``params`` (:class:`rotpunkt.pipeline.DevelopParams`): space, exposure, baseline_exposure,
white_balance, temperature, tint, highlights, profile_tables, crop, orient, workers; ``demosaic`` is
ignored. Profile tables (ProfileHueSatMap / ProfileLookTable) are applied when ``profile_tables`` is True,
as in the develop, and cost several times the rest of the preview: interactive callers should pass
``profile_tables=False`` (colours then differ from the develop by what the tables do).

Opcodes (DNG 1.7 chapter 6): what the preview applies and what it skips
-----------------------------------------------------------------------
* Opcodes whose flags carry bit 1 (the specification's "can be skipped when rendering preview-quality
  images") are skipped, in all three lists.
* OpcodeList2 GainMap, MapTable, MapPolynomial and Delta/ScalePerRow/Column are applied exactly, by the
  opcode module itself, on each full-resolution row band (areas and the GainMap grid moved to the band's
  origin, so every pixel gets the value it gets at full resolution); the band is then linearised with
  the develop's :func:`~rotpunkt.stages.linearize.linearize` instead of the fused multiply-add.
* Any other opcode in OpcodeList1 or OpcodeList2 (bad pixels, TrimBounds, warps, FixVignetteRadial in
  list 2, unknown ones) sends the preview down the exact full-resolution route: stored samples ->
  OpcodeList1 -> linearise -> OpcodeList2 by the develop's own functions, then the block means. Correct,
  and as slow as those steps are in the develop.
* OpcodeList3 runs on the block-mean image of the whole active area (cropped afterwards), with the
  develop's white-balance rule. Its geometry is mapped onto the block grid exactly: a GainMap's grid
  onto the block centres; FixVignetteRadial's and WarpRectilinear's optical centre onto the grid, their
  coefficients rescaled for the grid's corner distance (see :func:`_radial_on_grid`; should the centre
  fall outside the grid, the opcode runs on the grid's own geometry, off by at most one full-resolution
  pixel). Gains are evaluated at block centres, so in a sharply varying gain the red and blue sites, half
  a pixel off centre, are corrected with their neighbour's gain (a relative error of the gain's slope
  per pixel); the warp resamples the small image. MapTable / MapPolynomial covering the whole image act
  on block means. The rest of list 3 (per-row/column opcodes, opcodes limited to part of the image,
  TrimBounds, unknown ones) is skipped with a :class:`~rotpunkt.errors.RotpunktWarning`.
* CFAs whose s x s blocks do not hold every colour (X-Trans; a 4 x 4 pattern at scale 2) cannot skip the
  demosaic: they take the develop's route with bilinear demosaic, then an s x s mean in linear light
  (correct, not fast).

Halo: none; each output pixel depends on its own block only (except through a list-3 warp).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import colour_math as cm
from .errors import CorruptFile, InvalidParams, RotpunktError, RotpunktWarning, with_path
from .pipeline import (
    _GAIN_COMMUTING,
    ColourPlan,
    DevelopParams,
    apply_colour_plan,
    apply_list1,
    check_shape,
    colour_plan,
    opcode_list,
    orient,
    resolve_params,
    scale_planes_rgb,
    scene_linear,
)
from .stages import opcodes
from .stages.linearize import linearize
from .types import Image, RawMetadata

__all__ = ["SCALES", "preview"]

#: Allowed reduction factors: an output pixel is one SCALE x SCALE block.
SCALES = (2, 4, 8)
#: Output pixels per row strip of the threaded kernels (~400 KB of float32 RGB, cache-sized).
STRIP_PIXELS = 1 << 15

#: OpcodeList2 opcodes applied exactly on row bands (pointwise, or per line; positions moved to the band).
_BAND_OPCODES = (opcodes.GainMap, opcodes.MapTable, opcodes.MapPolynomial, opcodes.DeltaPerRow,
                 opcodes.DeltaPerColumn, opcodes.ScalePerRow, opcodes.ScalePerColumn)
#: OpcodeList3 opcodes applied to the block means when they cover the whole image.
_WHOLE_IMAGE_OPCODES = (opcodes.GainMap, opcodes.MapTable, opcodes.MapPolynomial)


def preview(data: np.ndarray, meta: RawMetadata, params: DevelopParams | None = None, *, scale: int = 2,
            **overrides: Any) -> Image:
    """Develop stored raw samples at 1/``scale`` resolution without demosaicing (see the module docstring).

    Parameters
    ----------
    data : ndarray
        Stored samples from :func:`rotpunkt.io.read`: (H, W) CFA mosaic or (H, W, 3) LinearRaw, integer or
        float, uncropped. Not modified.
    meta : RawMetadata
    params : DevelopParams, optional
        The develop's params (the fields used are listed in the module docstring); default
        ``DevelopParams()``; ``overrides`` replace single fields, as in :func:`rotpunkt.pipeline.develop`.
    scale : int
        2 (default), 4 or 8: each output pixel is one ``scale`` x ``scale`` block.

    Returns
    -------
    Image with float32 (h, w, 3) data in [0, 1], encoded with the sRGB transfer function, in the
    primaries of ``params.space``; before orientation ``h = crop_height // scale``,
    ``w = crop_width // scale``.

    Raises
    ------
    InvalidParams
        ``params`` is not a valid DevelopParams, ``scale`` is not in :data:`SCALES`, ``data`` or ``meta``
        has the wrong type, or the (cropped) image is smaller than one block.
    CorruptFile, UnsupportedFormat
        Where the develop raises them (colour tags, levels, opcodes, data shape).
    """
    p = resolve_params(params, overrides)
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or int(scale) not in SCALES:
        raise InvalidParams(f"scale must be one of {', '.join(map(str, SCALES))}; got {scale!r}")
    if not isinstance(meta, RawMetadata):
        raise InvalidParams(f"meta must be a RawMetadata, got {type(meta).__name__}")
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "uif":
        raise InvalidParams(f"data must be a numeric numpy array, got {type(data).__name__}")
    try:
        return _preview(data, meta, p, int(scale))
    except RotpunktError as err:
        raise with_path(err, meta.path) if meta.path else err from None


# --------------------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------------------


def _preview(data: np.ndarray, meta: RawMetadata, p: DevelopParams, s: int) -> Image:
    check_shape(data, meta)
    plan = colour_plan(meta, p)
    if plan.neutral.size != 3 or not _blocks_hold_every_colour(meta, s):
        return _demosaic_route(data, meta, p, s)
    ops1, ops2, ops3 = (_kept(meta, i) for i in range(3))
    full_res = bool(ops1) or any(not isinstance(op.params, _BAND_OPCODES) for op in ops2)
    if full_res:  # the develop's own first steps, at full resolution
        kept = meta.replace(opcode_lists=(opcodes.encode_opcode_list(ops1) if ops1 else None, None, None))
        src = linearize(apply_list1(data, kept), meta)
        if ops2:
            src = opcodes.apply_opcode_list(src, ops2, cfa_pattern=meta.cfa_pattern, path=meta.path, stage=2)
        origin, area_h, area_w, ops2 = (0, 0), src.shape[0], src.shape[1], []
    else:
        src = data
        origin, area_h, area_w = _active_area(data, meta)

    # the DefaultCrop in active-area coordinates, and the grid of blocks the preview is computed on
    ct, cl, ch, cw = 0, 0, area_h, area_w
    if p.crop and meta.default_crop is not None:
        ct, cl, ch, cw = _crop_rect(area_h, area_w, meta.default_crop)
    if ch // s < 1 or cw // s < 1:
        raise InvalidParams(f"the image ({ch}x{cw} after cropping) is smaller than one {s}x{s} preview block")
    if ops3:  # list 3 sees the whole image: blocks over the active area, aligned with the crop's blocks
        y0, x0 = ct % s, cl % s
        grid = (y0, x0, (area_h - y0) // s, (area_w - x0) // s)
    else:
        grid = (ct, cl, ch // s, cw // s)
    blocks = _Blocks(src, meta, full_res, origin, grid, s, plan.gains, plan.clip, ops2, (area_h, area_w))
    nh, nw = grid[2], grid[3]
    out = np.empty((nh, nw, 3), np.float32)
    workers = int(p.workers)
    per = STRIP_PIXELS * (8 if ops2 else 1)  # opcodes cost per call: fewer, larger bands
    if ops3:
        _strips(nh, nw, workers, lambda r0, r1: blocks.means(r0, r1, out[r0:r1]), per)
        out = _apply_list3(out, ops3, meta, plan, grid, (area_h, area_w), s)
        top, left = (ct - grid[0]) // s, (cl - grid[1]) // s
        out = np.ascontiguousarray(out[top:top + ch // s, left:left + cw // s])
        _strips(out.shape[0], out.shape[1], workers, lambda r0, r1: _display(out[r0:r1], plan), STRIP_PIXELS)
    else:

        def work(r0: int, r1: int) -> None:
            blocks.means(r0, r1, out[r0:r1])
            _display(out[r0:r1], plan)

        _strips(nh, nw, workers, work, per)
    if p.orient:
        out = orient(out, meta.orientation)
    return Image(data=out, space=p.space, orientation=1 if p.orient else meta.orientation, exif=meta.exif,
                 source=meta.path)


def _blocks_hold_every_colour(meta: RawMetadata, s: int) -> bool:
    if meta.photometric != "cfa":
        return True
    cfa = np.asarray(meta.cfa_pattern)
    if cfa.ndim != 2 or s % cfa.shape[0] or s % cfa.shape[1]:
        return False
    return set(np.unique(cfa).tolist()) == {0, 1, 2}


def _kept(meta: RawMetadata, index: int) -> list[opcodes.Opcode]:
    """The opcodes of list ``index`` a preview applies: all but those flagged "skip for previews"."""
    return [op for op in opcode_list(meta, index) if not op.preview_skip]


def _crop_rect(h: int, w: int, crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The DefaultCrop rectangle (top, left, height, width) in an active area of h x w pixels, kept
    inside it by the rule of :func:`rotpunkt.pipeline.default_crop` (shifted back, then clamped)."""
    top, left, ch, cw = (int(v) for v in crop)
    ch, cw = min(ch, h), min(cw, w)
    return max(0, min(top, h - ch)), max(0, min(left, w - cw)), max(0, ch), max(0, cw)


def _active_area(data: np.ndarray, meta: RawMetadata) -> tuple[tuple[int, int], int, int]:
    """Top-left of the active area in the stored image, and its height and width (clipped to the stored
    image, as the develop's slicing clips it)."""
    if meta.active_area is None:
        return (0, 0), data.shape[0], data.shape[1]
    t, left, b, r = meta.active_area
    rows, cols = range(data.shape[0])[t:b], range(data.shape[1])[left:r]
    return (rows.start, cols.start), len(rows), len(cols)


def _demosaic_route(data: np.ndarray, meta: RawMetadata, p: DevelopParams, s: int) -> Image:
    """CFAs whose blocks miss a colour: the develop with bilinear demosaic, then an s x s mean."""
    rgb, _facts = scene_linear(data, meta, dataclasses.replace(p, demosaic="bilinear"))
    nh, nw = rgb.shape[0] // s, rgb.shape[1] // s
    if nh < 1 or nw < 1:
        raise InvalidParams(f"the image ({rgb.shape[0]}x{rgb.shape[1]}) is smaller than one {s}x{s} "
                            "preview block")
    small = rgb[:nh * s, :nw * s].reshape(nh, s, nw, s, 3).mean(axis=(1, 3), dtype=np.float32)
    del rgb
    np.clip(small, 0.0, 1.0, out=small)
    cm.srgb_encode_fast(small, out=small, workers=p.workers)
    return Image(data=small, space=p.space, orientation=1 if p.orient else meta.orientation, exif=meta.exif,
                 source=meta.path)


# --------------------------------------------------------------------------------------------------
# Block means, band by band
# --------------------------------------------------------------------------------------------------


class _Blocks:
    """The white-balanced, clipped per-colour means of the s x s blocks of a grid.

    ``src`` is the stored image (``origin`` = the active area's top-left in it) or, with ``linear``, the
    develop's linearised active area. ``grid`` = (y0, x0, nh, nw): the first block's top-left in active-area
    coordinates and the number of blocks. A row of blocks is computed from a band of ``s`` full-resolution
    rows, converted to float32 in one contiguous pass, then:

    * fused (the fast path; integer or float samples, a black level constant on each block site, no
      OpcodeList2): one multiply-add per site, ``x * a + b`` with ``a = gain * weight / (white - black)``
      and ``b = -black * a`` - LibRaw's half-size trick;
    * simple black level with OpcodeList2: ``(x - black) / (white - black)`` as a multiply-add, the list-2
      band opcodes, then ``x * gain * weight``;
    * otherwise (LinearizationTable, BlackLevelDeltaH/V, a black pattern larger than the block): the
      develop's :func:`linearize` on the band, the list-2 band opcodes, then ``x * gain * weight``;
    * ``linear``: already linearised at full resolution, so ``x * gain * weight``.

    With highlight clipping each site is then limited to its weight (``min(x, 1) * weight``), and each
    colour's sites are summed into the output channel.
    """

    def __init__(self, src: np.ndarray, meta: RawMetadata, linear: bool, origin: tuple[int, int],
                 grid: tuple[int, int, int, int], s: int, gains: np.ndarray, clip: bool, ops2: list,
                 area_shape: tuple[int, int]):
        self.src, self.meta, self.origin, self.grid, self.s = src, meta, origin, grid, s
        self.ops2, self.area_shape = ops2, area_shape
        y0, x0, _nh, nw = grid
        self.nsamp = nsamp = 1 if src.ndim == 2 else src.shape[2]
        self.cfa = meta.photometric == "cfa"
        black = np.asarray(meta.black_level, dtype=np.float64)
        if black.ndim != 3 or black.shape[2] not in (1, nsamp):
            raise CorruptFile(f"black level shape {black.shape} does not fit {nsamp} samples", meta.path)
        rr, rc = black.shape[:2]
        white = np.resize(np.asarray(meta.white_level, dtype=np.float64), nsamp)
        # a per-site multiply-add linearises exactly what linearize() would (which ignores a table for
        # float samples) when the black level is constant on each block site
        self.simple = (not linear and s % rr == 0 and s % rc == 0 and meta.black_level_delta_h is None
                       and meta.black_level_delta_v is None
                       and (src.dtype.kind == "f" or meta.linearization_table is None))
        self.linearize = not linear and not self.simple

        # per block site (dy, dx) and sample k: output channel, weight, linearisation
        if self.cfa:
            pattern = np.asarray(meta.cfa_pattern)
            pr, pc = pattern.shape
            site_colour = np.array([[pattern[(y0 + dy) % pr, (x0 + dx) % pc] for dx in range(s)]
                                    for dy in range(s)])
            weight = 1.0 / np.bincount(site_colour.ravel(), minlength=gains.size)
        wb = np.empty((s, s, nsamp))  # gain * weight
        limit = np.empty((s, s, nsamp))  # weight
        lin_a = np.ones((s, s, nsamp))  # 1 / (white - black)
        lin_b = np.zeros((s, s, nsamp))  # -black / (white - black)
        self.groups: dict[int, list[tuple[int, int]]] = {}
        for dy in range(s):
            for dx in range(s):
                for k in range(nsamp):
                    c = int(site_colour[dy, dx]) if self.cfa else k
                    w = float(weight[c]) if self.cfa else 1.0 / (s * s)
                    wb[dy, dx, k], limit[dy, dx, k] = gains[c] * w, w
                    if self.simple:
                        blk = black[(y0 + dy) % rr, (x0 + dx) % rc, min(k, black.shape[2] - 1)]
                        if not white[k] - blk > 0:
                            raise CorruptFile("WhiteLevel is not above BlackLevel", meta.path)
                        lin_a[dy, dx, k], lin_b[dy, dx, k] = 1.0 / (white[k] - blk), -blk / (white[k] - blk)
                if self.cfa:
                    self.groups.setdefault(int(site_colour[dy, dx]), []).append((dy, dx))

        def row_table(a: np.ndarray) -> np.ndarray:  # (s, s, nsamp) -> (s, nw * s * nsamp) float32
            return np.ascontiguousarray(np.tile(a[:, None], (1, nw, 1, 1)).reshape(s, -1), dtype=np.float32)

        # multiply-adds before the list-2 opcodes (linearisation) and after them (white balance, weight)
        self.pre = (row_table(lin_a), row_table(lin_b)) if self.simple and ops2 else None
        if self.simple and not ops2:  # fused: both in one
            self.post = (row_table(wb * lin_a), row_table(wb * lin_b))
        else:
            self.post = (row_table(wb), None)
        self.limit = row_table(limit) if clip else None

    def means(self, r0: int, r1: int, out: np.ndarray) -> None:
        """Fill ``out`` ((r1 - r0, nw, 3) float32) with block rows r0..r1."""
        s, (y0, x0, _nh, nw), n = self.s, self.grid, r1 - r0
        ys, xs = y0 + s * r0, x0  # the band's top-left, active-area coordinates
        top, left = self.origin[0] + ys, self.origin[1] + xs
        band = self.src[top:top + s * n, left:left + s * nw]
        if self.linearize:
            f = linearize(band, _band_meta(self.meta, ys, xs, band.shape[0], band.shape[1]))
        else:
            f = band.astype(np.float32)  # a fresh contiguous copy: ``src`` is never written
        rows = f.reshape(n, s, -1)  # rows[i, dy]: the full-resolution row dy of block row i
        if self.pre is not None:
            rows *= self.pre[0]
            rows += self.pre[1]
        if self.ops2:
            moved = (_in_band(op, ys, xs, band.shape[:2], self.area_shape) for op in self.ops2)
            ops = [op for op in moved if op is not None]
            if ops:
                f = np.ascontiguousarray(opcodes.apply_opcode_list(f, ops, path=self.meta.path, stage=2))
                rows = f.reshape(n, s, -1)
        rows *= self.post[0]
        if self.post[1] is not None:
            rows += self.post[1]
        if self.limit is not None:
            np.minimum(rows, self.limit, out=rows)
        sites = f.reshape(n, s, nw, s, self.nsamp)  # sites[i, dy, j, dx, k]
        if self.cfa:
            for c, members in self.groups.items():
                _sum_into(out[:, :, c], [sites[:, dy, :, dx, 0] for dy, dx in members])
        else:
            _sum_into(out, [sites[:, dy, :, dx, :] for dy in range(s) for dx in range(s)])


def _sum_into(out: np.ndarray, views: list[np.ndarray]) -> None:
    if len(views) == 1:
        out[...] = views[0]
        return
    np.add(views[0], views[1], out=out)
    for v in views[2:]:
        out += v


def _band_meta(meta: RawMetadata, ys: int, xs: int, h: int, w: int) -> RawMetadata:
    """Linearisation metadata for the active-area band starting at (ys, xs) of h x w pixels: the black
    pattern re-anchored at the band's origin, the per-row/column deltas cut to it."""
    black = np.asarray(meta.black_level, dtype=np.float64)
    rr, rc = black.shape[:2]
    black = black[(ys + np.arange(rr)) % rr][:, (xs + np.arange(rc)) % rc]
    dh, dv = meta.black_level_delta_h, meta.black_level_delta_v
    return meta.replace(
        black_level=black, active_area=None, height=h, width=w,
        black_level_delta_h=None if dh is None else np.asarray(dh, np.float64)[xs:xs + w],
        black_level_delta_v=None if dv is None else np.asarray(dv, np.float64)[ys:ys + h])


def _relative(origin: float, spacing: float, start: float, s: int, n: int, size: int) -> tuple[float, float]:
    """GainMap origin and spacing for an image of ``n`` lines whose line i spans full-resolution
    coordinates ``start + s*i .. start + s*(i + 1)`` of an image of ``size`` lines.

    The opcode module evaluates a map at relative position ``(i + 0.5) / n``; the full image at the
    line's centre ``(start + s*i + s/2) / size``. The two are affine in each other, so moving the map's
    origin and spacing makes the lookup land on the same map position: exact.
    """
    a = s * n / size
    b = start / size
    return (origin - b) / a, spacing / a


def _gain_map_grid(prm: opcodes.GainMap, start: tuple[int, int], s: int, shape: tuple[int, int],
                   area_shape: tuple[int, int]) -> dict[str, float]:
    """GainMap origin and spacing fields for an image of ``shape`` whose pixel (i, j) spans the
    full-resolution pixels ``start + s*(i, j)`` .. ``+ s`` (see :func:`_relative`)."""
    ov, sv = _relative(prm.origin_v, prm.spacing_v, start[0], s, shape[0], area_shape[0])
    oh, sh = _relative(prm.origin_h, prm.spacing_h, start[1], s, shape[1], area_shape[1])
    return {"origin_v": ov, "spacing_v": sv, "origin_h": oh, "spacing_h": sh}


def _in_band(op: opcodes.Opcode, ys: int, xs: int, band_shape: tuple[int, int],
             area_shape: tuple[int, int]) -> opcodes.Opcode | None:
    """A list-2 band opcode moved onto the band whose top-left is active-area pixel (ys, xs); None when
    its area misses the band. Areas keep their pitch phase and per-line value indices (the opcode
    module counts lines from the area's own top, even when that lies above the band)."""
    prm = op.params
    area = prm.area
    ah, aw = area_shape
    t, left, b, r = (0, 0, ah, aw) if area.is_whole_image else (area.top, area.left, area.bottom, area.right)
    t, b, left, r = t - ys, b - ys, left - xs, r - xs
    if b <= 0 or r <= 0 or t >= band_shape[0] or left >= band_shape[1]:
        return None
    changes: dict[str, Any] = {"area": dataclasses.replace(area, top=t, left=left, bottom=b, right=r)}
    if isinstance(prm, opcodes.GainMap):
        changes.update(_gain_map_grid(prm, (ys, xs), 1, band_shape, area_shape))
    return dataclasses.replace(op, params=dataclasses.replace(prm, **changes))


# --------------------------------------------------------------------------------------------------
# OpcodeList3 on the block means
# --------------------------------------------------------------------------------------------------


def _covers_all(area: opcodes.AreaSpec, h: int, w: int) -> bool:
    whole = area.is_whole_image or (area.top <= 0 and area.left <= 0 and area.bottom >= h and area.right >= w)
    return whole and area.row_pitch == 1 and area.col_pitch == 1


def _radial_on_grid(op: opcodes.Opcode, grid: tuple[int, int, int, int], s: int,
                    area_shape: tuple[int, int]) -> opcodes.Opcode:
    """FixVignetteRadial / WarpRectilinear moved onto the block grid, exactly.

    The opcode module measures radii on the image it is given: from the optical centre, in units of the
    distance to that image's farthest corner. On the grid (block centres at full-resolution coordinate
    ``x0 + s*(j + 0.5)``) the optical centre is ``(cx * W - x0) / s`` and the grid's farthest corner is
    at ``m'`` grid pixels, so a full-resolution radius ``r`` is ``lambda * r'`` with
    ``lambda = s * m' / M`` (M: the full image's corner distance). Substituting into the definitions
    (DNG 1.7, FixVignetteRadial: ``g = 1 + sum k_i r^(2i+2)``; WarpRectilinear: radial terms ``kr_i
    r^(2i)``, tangential terms quadratic in the offset, the result scaled back by M) gives
    ``k_i' = k_i lambda^(2i+2)``, ``kr_i' = kr_i lambda^(2i)``, ``kt' = kt lambda``. Should the moved
    centre fall outside the grid (a centre within half a block of the image edge), the opcode is used
    as it is, on the grid's own geometry (off by at most one full-resolution pixel).
    """
    prm = op.params
    y0, x0, nh, nw = grid
    h, w = area_shape
    px, py, m = opcodes._radius_frame(h, w, prm.cx, prm.cy)
    cx, cy = (px - x0) / (s * nw), (py - y0) / (s * nh)
    if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0) or not m > 0:
        return op
    lam = s * opcodes._radius_frame(nh, nw, cx, cy)[2] / m
    if isinstance(prm, opcodes.FixVignetteRadial):
        new = opcodes.FixVignetteRadial(tuple(k * lam ** (2 * i + 2) for i, k in enumerate(prm.k)), cx, cy)
    else:
        new = opcodes.WarpRectilinear(
            tuple((c[0], c[1] * lam**2, c[2] * lam**4, c[3] * lam**6, c[4] * lam, c[5] * lam)
                  for c in prm.coefficients), cx, cy)
    return dataclasses.replace(op, params=new)


def _apply_list3(rgb: np.ndarray, ops3: list, meta: RawMetadata, plan: ColourPlan,
                 grid: tuple[int, int, int, int], area_shape: tuple[int, int], s: int) -> np.ndarray:
    """OpcodeList3 on the block means of the whole active area, with the develop's white-balance rule."""
    h, w = area_shape
    y0, x0, nh, nw = grid
    kept = []
    for op in ops3:
        prm = op.params
        if isinstance(prm, (opcodes.FixVignetteRadial, opcodes.WarpRectilinear)):
            kept.append(_radial_on_grid(op, grid, s, area_shape))
        elif isinstance(prm, _WHOLE_IMAGE_OPCODES) and _covers_all(prm.area, h, w):
            whole = dataclasses.replace(prm.area, top=0, left=0, bottom=0, right=0)
            changes: dict[str, Any] = {"area": whole}
            if isinstance(prm, opcodes.GainMap):
                changes.update(_gain_map_grid(prm, (y0, x0), s, (nh, nw), area_shape))
            kept.append(dataclasses.replace(op, params=dataclasses.replace(prm, **changes)))
        else:
            where = f"{meta.path}: " if meta.path else ""
            warnings.warn(f"{where}the preview skips OpcodeList3 {op.name} (not applicable at reduced size)",
                          RotpunktWarning, stacklevel=5)
    if not kept:
        return rgb
    commute = all(op.name in _GAIN_COMMUTING for op in kept)
    if not commute:  # as the develop: the list sees camera-native values
        scale_planes_rgb(rgb, plan.neutral, False)
    rgb = opcodes.apply_opcode_list(rgb, kept, cfa_pattern=None, path=meta.path, stage=3)
    if not commute:
        scale_planes_rgb(rgb, plan.gains, plan.clip)
    return rgb


# --------------------------------------------------------------------------------------------------
# Colour, clip, encode (per strip) and the strip runner
# --------------------------------------------------------------------------------------------------


def _display(strip: np.ndarray, plan: ColourPlan) -> None:
    """In place: white-balanced camera RGB -> the develop's output colour (its own colour plan: matrix,
    or the profile tables in ProPhoto, and exposure), clipped to [0, 1] and encoded."""
    res = apply_colour_plan(strip, plan, workers=1)
    if res is not strip:
        strip[...] = res
    np.clip(strip, 0.0, 1.0, out=strip)
    cm.srgb_encode_fast(strip, out=strip, workers=1)


def _strips(rows: int, cols: int, workers: int, fn: Callable[[int, int], None], pixels: int) -> None:
    """Run ``fn(r0, r1)`` over row strips of about ``pixels`` pixels on ``workers`` threads."""
    per = max(1, pixels // max(cols, 1))
    spans = [(r, min(r + per, rows)) for r in range(0, rows, per)]
    n = min(workers, len(spans), os.cpu_count() or 1)
    if n <= 1:
        for span in spans:
            fn(*span)
        return
    with ThreadPoolExecutor(max_workers=n) as ex:
        list(ex.map(lambda span: fn(*span), spans))
