"""Tiled execution of the develop recipe: what :func:`rotpunkt.pipeline.develop` makes, in bounded memory.

The image is processed in horizontal bands of the active area, full width (or the default crop's
columns), ``tile_rows`` rows each, plus each stage's declared halo of real context above and below
(and left and right of a crop): demosaic ``HALO[method]`` (Bayer), linearise / white balance / colour /
encode 0. Each band is, in the order of the whole-image recipe::

    linearise (from the stored samples) ─► white balance (+ highlight clip) ─► demosaic
      ─► camera -> output primaries [ProfileHueSatMap ─► exposure ─► ProfileLookTable] ─► clip
      ─► transfer function ─► quantise ─► written into the preallocated output (already rotated upright)

so no whole-image float32 RGB temporary exists: the only full-size arrays are the caller's stored
samples and the output (uint8 / uint16 / float32, as asked). Each band calls the very stage functions
the whole-image path calls, with the same arguments, so every output pixel is computed by the same
float32 operations: the tiled result is bit-identical to the whole-image one (tests assert < 1e-5 in
linear light and exact quantised values).

Why linearise per band (and not cut bands from a linearised float32 mosaic): the stored samples are in
memory anyway (the reader returns them), and a linearised mosaic is a second full-size array of
4 bytes a pixel (400 MB at 100 MP, twice the uint16 samples); per band, linearisation costs only the
halo rows twice (20 of 512 rows, 4 % more of a cheap point operation).

CFA phase: a band that starts at row ``i0``, column ``c0`` of the active area is demosaiced with the
pattern rolled by (i0, c0) (:func:`shift_pattern`), so any start works, for any repeating CFA.
A Bayer pattern gets ``demosaic.HALO[method]`` rows of context; any other pattern (bilinear only:
rcd falls back to bilinear with a warning, as the whole-image path does) gets ``2 * max(pattern
rows, cols)``, at least the ``2 r`` context the general bilinear needs (its window radius ``r`` is at
most the pattern's size). At the image borders the demosaic mirrors exactly as it does on the whole
image, because a band's edge is then the image's edge.

Whole-mosaic steps and fall-backs:

* OpcodeList1 (stored samples) and OpcodeList2 (linear mosaic, e.g. a lens-shading GainMap) are
  position-dependent over the whole image, so when a file has either, they run on the whole mosaic
  first (as the whole-image path does: one float32 mosaic, 4 bytes a pixel) and the bands are cut
  from that linearised mosaic. Everything after stays tiled: the common phone case is tiled.
* OpcodeList3 (after demosaic: WarpRectilinear resamples from anywhere in the image, and its other
  opcodes are positioned in whole-image coordinates) makes :func:`develop_tiled` use the
  whole-image path (:func:`rotpunkt.pipeline.develop`, then quantisation): memory is then that
  path's. So does a default crop that selects no pixels. :func:`fallback_reason` tells which.
* ProfileHueSatMap / ProfileLookTable are per-pixel operations (no context), so they are tiled too.
* LinearRaw data (no demosaic) is tiled with no halo.

Default crop: only the crop's rows and columns (plus halo) are computed. Orientation: every band is
written through a view of the output that undoes the rotation (:func:`orientation_view`), so the
output is upright with no extra full-size copy.

Threads: bands run on ``params.workers`` threads (each band's stages on one thread: this parallelises
the point operations too, not only demosaic); a single band uses the workers inside the stages.

Measured (bench/memory.py, synthetic Bayer DNGs, read + develop to an array, 2-core AMD EPYC shared
with other jobs, so times are CPU seconds): 100 MP to uint8 peaks at 0.84 GB resident (uint16:
1.10 GB; with a GainMap OpcodeList2: 1.53 GB), 50 MP at 0.48 GB against 0.96 GB for the whole-image
path, which also takes ~25 % more CPU (4.7 s against 3.6 s at 50 MP). A band in flight holds about
150 MB at 100 MP (11560 px wide, 512 + 2 x 10 rows).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import pipeline
from .errors import CorruptFile, InvalidParams, RotpunktError, RotpunktWarning, with_path
from .io.write import quantize
from .pipeline import DevelopParams
from .stages import demosaic, opcodes
from .stages.linearize import linearize
from .types import GREEN, Image, RawMetadata

__all__ = [
    "OUT_DTYPES",
    "TILE_ROWS",
    "Band",
    "TilePlan",
    "band_linear",
    "develop_tiled",
    "fallback_reason",
    "linearize_window",
    "orientation_view",
    "oriented_shape",
    "plan_bands",
    "plan_tiles",
    "shift_pattern",
]

#: Default rows per band. A 100 MP band (11560 px wide) then holds ~6 MP: ~25 MB of float32 mosaic
#: and ~75 MB of float32 RGB, so two bands in flight stay far below a whole-image float RGB (1.2 GB).
TILE_ROWS = 512

#: Output dtypes :func:`develop_tiled` can fill; integers are quantised as ``rotpunkt.io.write.quantize``.
OUT_DTYPES: tuple[type, ...] = (np.float32, np.uint16, np.uint8)
_BITS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}


# --------------------------------------------------------------------------------------------------
# Pure geometry helpers


@dataclass(frozen=True)
class Band:
    """One band: rows ``[r0, r1)`` are computed, from context rows ``[i0, i1)`` (active-area rows)."""

    r0: int
    r1: int
    i0: int
    i1: int


def plan_bands(start: int, stop: int, size: int, tile_rows: int, halo: int) -> list[Band]:
    """Split rows ``[start, stop)`` of an image ``size`` rows high into bands of ``tile_rows`` rows.

    Each band's context is its rows plus ``halo`` rows each side, clipped to ``[0, size)``. The bands
    cover ``[start, stop)`` exactly once, in order. ``0 <= start <= stop <= size``, ``tile_rows >= 1``,
    ``halo >= 0``.
    """
    if not 0 <= start <= stop <= size:
        raise InvalidParams(f"rows [{start}, {stop}) do not lie in an image of {size} rows")
    if tile_rows < 1 or halo < 0:
        raise InvalidParams(f"need tile_rows >= 1 and halo >= 0; got {tile_rows}, {halo}")
    bands = []
    for r0 in range(start, stop, tile_rows):
        r1 = min(stop, r0 + tile_rows)
        bands.append(Band(r0, r1, max(0, r0 - halo), min(size, r1 + halo)))
    return bands


def shift_pattern(pattern: np.ndarray, row: int, col: int) -> np.ndarray:
    """The CFA pattern of a window whose top-left pixel is (``row``, ``col``) of the image.

    Pixel (y, x) of the window has colour ``pattern[(y + row) % rows, (x + col) % cols]``; the result
    holds that as ``result[y % rows, x % cols]`` (a new (rows, cols) array).
    """
    pat = np.asarray(pattern)
    return np.roll(pat, (-int(row), -int(col)), axis=(0, 1))


def _is_bayer(pattern: np.ndarray) -> bool:
    """True when ``pattern`` repeats a 2x2 tile holding one red, one blue and two greens on a diagonal."""
    pat = np.asarray(pattern)
    ph, pw = pat.shape
    if ph % 2 or pw % 2:
        return False
    tile = pat[:2, :2]
    if not np.array_equal(np.tile(tile, (ph // 2, pw // 2)), pat):
        return False
    greens = (tile[0, 1] == GREEN and tile[1, 0] == GREEN) or (tile[0, 0] == GREEN and tile[1, 1] == GREEN)
    return bool(greens and sorted(tile.ravel().tolist()) == [0, 1, 1, 2])


def _active_size(data: np.ndarray, meta: RawMetadata) -> tuple[int, int]:
    """(height, width) of the active area of the stored samples (numpy slice semantics, as linearize)."""
    if meta.active_area is None:
        return int(data.shape[0]), int(data.shape[1])
    t, l, b, r = meta.active_area
    return len(range(*slice(t, b).indices(data.shape[0]))), len(range(*slice(l, r).indices(data.shape[1])))


def linearize_window(
    data: np.ndarray, meta: RawMetadata, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """Linearise only a window of the active area: ``linearize(data, meta)[r0:r1, c0:c1]``, same values.

    Parameters
    ----------
    data : ndarray (H, W) or (H, W, C)
        Stored samples, uncropped, as :func:`rotpunkt.stages.linearize.linearize` takes them. Not modified.
    meta : RawMetadata
    rows, cols : (start, stop)
        Window in active-area coordinates, ``0 <= start < stop <= size``.

    Returns
    -------
    ndarray float32 (r1 - r0, c1 - c0) or (r1 - r0, c1 - c0, C); 0 = black, 1 = white level.

    The window is linearised by :func:`~rotpunkt.stages.linearize.linearize` itself, given metadata
    re-anchored at the window: its active area, the BlackLevel repeat pattern rolled by the window's
    offset (the pattern is anchored at the active area's top-left), BlackLevelDeltaH/V sliced.
    """
    h, w = _active_size(data, meta)
    r0, r1 = (int(v) for v in rows)
    c0, c1 = (int(v) for v in cols)
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise InvalidParams(f"window rows {rows}, cols {cols} do not lie in the {h}x{w} active area")
    t, l = (0, 0) if meta.active_area is None else meta.active_area[:2]
    t = slice(t, None).indices(data.shape[0])[0]
    l = slice(l, None).indices(data.shape[1])[0]
    black = np.asarray(meta.black_level, dtype=np.float64)
    if black.ndim == 3:  # any other shape: linearize raises its own error
        black = np.roll(black, (-r0, -c0), axis=(0, 1))
    dh, dv = meta.black_level_delta_h, meta.black_level_delta_v
    sub = meta.replace(
        active_area=(t + r0, l + c0, t + r1, l + c1),
        black_level=black,
        black_level_delta_h=None if dh is None else np.asarray(dh)[c0:c1],
        black_level_delta_v=None if dv is None else np.asarray(dv)[r0:r1],
    )
    return linearize(data, sub)


#: Views that undo each EXIF orientation's display transform (TIFF 6.0 tag 274): for ``out`` holding
#: the upright image, ``view(out)`` has the stored geometry, and writing it writes ``out``.
_UNDO: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, k=1),  # shown rotated 90 degrees clockwise: undo counter-clockwise
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, k=-1),
}


def oriented_shape(shape: Sequence[int], orientation: int) -> tuple[int, ...]:
    """Shape of an image of stored ``shape`` (H, W, ...) once shown upright (orientation 5-8 swap H and W)."""
    h, w, *rest = (int(v) for v in shape)
    return (w, h, *rest) if orientation in (5, 6, 7, 8) else (h, w, *rest)


def orientation_view(out: np.ndarray, orientation: int) -> np.ndarray:
    """A view of the upright image ``out`` in stored geometry: assigning a stored-geometry image to it
    fills ``out`` with that image rotated/flipped upright (as the pipeline's orientation step does).
    Orientations outside 1..8 are treated as 1, as the pipeline does."""
    return _UNDO.get(orientation, _UNDO[1])(out)


# --------------------------------------------------------------------------------------------------
# The plan: everything decided once per image


@dataclass(frozen=True)
class TilePlan:
    """What the bands share: the source, the geometry and the colour transform of one develop.

    ``source`` is the stored samples (``source_linear`` False: each band is linearised from them) or the
    linearised float32 active area after OpcodeList1/2 (True). ``size`` is the active area's (H, W);
    ``rows`` and ``cols`` are the output window (the default crop, or everything) in its coordinates.
    ``cfa`` is the CFA pattern (None for LinearRaw), ``method`` the demosaic method actually used and
    ``halo`` its context in pixels. ``colour`` is the shared colour plan (white balance, highlight clip,
    camera -> output path) of :func:`rotpunkt.pipeline.colour_plan`.
    """

    source: np.ndarray
    source_linear: bool
    meta: RawMetadata
    size: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]
    cfa: np.ndarray | None
    method: str | None
    halo: int
    colour: pipeline.ColourPlan
    engine: str = "auto"

    @property
    def facts(self) -> dict:
        return self.colour.facts


def _crop_window(
    size: tuple[int, int], meta: RawMetadata, p: DevelopParams
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Output rows and columns of the active area: the DefaultCrop with numpy slice semantics (as the
    whole-image path slices), or everything."""
    h, w = size
    if p.crop and meta.default_crop is not None:
        top, left, ch, cw = meta.default_crop
        if (top, left, ch, cw) != (0, 0, h, w):
            ya, yb, _ = slice(top, top + ch).indices(h)
            xa, xb, _ = slice(left, left + cw).indices(w)
            return (ya, max(ya, yb)), (xa, max(xa, xb))
    return (0, h), (0, w)


def fallback_reason(data: np.ndarray, meta: RawMetadata, params: DevelopParams | None = None) -> str | None:
    """Why :func:`develop_tiled` would develop this image whole instead of in bands; None when it tiles.

    Reasons: an OpcodeList3 (post-demosaic opcodes such as WarpRectilinear are positioned over, and may
    sample from, the whole image); a default crop that selects no pixels.
    """
    p = params or DevelopParams()
    if pipeline.has_look(p):
        return "a look (local tone mapping, vignette, grain, sharpening) works on the whole image"
    if pipeline.opcode_list(meta, 2):
        return "the file has an OpcodeList3 (applied after demosaic over the whole image)"
    if pipeline.opcode_list(meta, 0) or pipeline.opcode_list(meta, 1):
        return None  # TrimBounds may change the size: the crop is checked on the real mosaic later
    (ya, yb), (xa, xb) = _crop_window(_active_size(data, meta), meta, p)
    if yb <= ya or xb <= xa:
        return "the default crop selects no pixels"
    return None


def plan_tiles(data: np.ndarray, meta: RawMetadata, params: DevelopParams | None = None) -> TilePlan:
    """Decide the tiled develop of ``data``: run OpcodeList1/2 on the whole mosaic when present, work out
    the colour transform, the demosaic method and halo, and the output window.

    ``params`` must already be validated. Raises what the whole-image path raises for bad input.
    Does not check :func:`fallback_reason`; :func:`develop_tiled` does.
    """
    p = params or DevelopParams()
    pipeline.check_shape(data, meta)
    list1 = pipeline.opcode_list(meta, 0)
    list2 = pipeline.opcode_list(meta, 1)
    if list1 or list2:  # position-dependent over the whole image: as the whole-image recipe does
        stored = pipeline.apply_list1(data, meta)
        source = linearize(stored, meta)
        del stored
        if list2:
            source = opcodes.apply_opcode_list(source, list2, cfa_pattern=meta.cfa_pattern, path=meta.path,
                                               stage=2)
        size = (int(source.shape[0]), int(source.shape[1]))
        source_linear = True
    else:
        source, source_linear = data, False
        size = _active_size(data, meta)
    rows, cols = _crop_window(size, meta, p)

    plan = pipeline.colour_plan(meta, p)
    cfa = method = None
    halo = 0
    if meta.photometric == "cfa":
        cfa = np.asarray(meta.cfa_pattern) if meta.cfa_pattern is not None else None
        if cfa is None or cfa.ndim != 2 or min(cfa.shape) < 1:
            raise CorruptFile("CFA data without a usable CFA pattern", meta.path)
        method = p.demosaic
        if _is_bayer(cfa):
            halo = demosaic.HALO[method]
        else:
            if method != "bilinear":
                warnings.warn(f"{meta.path}: {p.demosaic} does not support this CFA; using bilinear",
                              RotpunktWarning, stacklevel=3)
                method = "bilinear"
            halo = 2 * max(cfa.shape)
        halo += halo & 1

    return TilePlan(source=source, source_linear=source_linear, meta=meta, size=size, rows=rows, cols=cols,
                    cfa=cfa, method=method, halo=halo, colour=plan, engine=p.engine)


# --------------------------------------------------------------------------------------------------
# One band


def band_linear(plan: TilePlan, r0: int, r1: int, *, workers: int = 1, colour: bool = True) -> np.ndarray:
    """Scene-linear RGB of output rows ``[r0, r1)`` (active-area rows inside ``plan.rows``).

    Returns float32 (r1 - r0, cols, 3), linear in the output space's primaries (exposure applied, not
    clipped, not encoded), over ``plan.cols``: the same values as rows ``[r0, r1)`` of
    ``pipeline.scene_linear`` before the crop and orientation. ``workers`` threads inside the stages.
    ``colour`` False: white-balanced camera RGB, before ``plan.colour`` (for a caller that fuses it).
    """
    h, w = plan.size
    ya, yb = plan.rows
    xa, xb = plan.cols
    if not ya <= r0 < r1 <= yb:
        raise InvalidParams(f"band rows [{r0}, {r1}) are outside the output rows [{ya}, {yb})")
    halo = plan.halo
    i0, i1 = max(0, r0 - halo), min(h, r1 + halo)
    c0, c1 = max(0, xa - halo), min(w, xb + halo)
    if plan.source_linear:
        block = np.array(plan.source[i0:i1, c0:c1], dtype=np.float32, copy=True)
    else:
        block = linearize_window(plan.source, plan.meta, (i0, i1), (c0, c1))
    if plan.cfa is not None:
        pat = shift_pattern(plan.cfa, i0, c0)
        pipeline.scale_planes_mosaic(block, plan.colour.gains, pat, plan.colour.clip)
        rgb = pipeline.demosaic_stage(block, pat, plan.method, plan.engine, workers, plan.meta.path)
        del block
    else:
        rgb = block
        pipeline.scale_planes_rgb(rgb, plan.colour.gains, plan.colour.clip)
    rgb = np.ascontiguousarray(rgb[r0 - i0 : r1 - i0, xa - c0 : xb - c0])  # a view unless columns are cut
    return pipeline.apply_colour_plan(rgb, plan.colour, workers=workers) if colour else rgb


def _run_bands(fn: Callable[[Band, int], None], bands: list[Band], workers: int) -> None:
    """Call ``fn(band, inner_workers)`` for every band: bands on ``workers`` threads (one thread each),
    or one after the other with all workers inside when there is a single band. First error re-raised."""
    if workers == 1 or len(bands) == 1:
        for b in bands:
            fn(b, workers)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(bands))) as pool:
        futures = [pool.submit(fn, b, 1) for b in bands]
        try:
            for f in futures:
                f.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


# --------------------------------------------------------------------------------------------------
# The verb


def _check_args(tile_rows: Any, out_dtype: Any, linear: Any) -> np.dtype:
    if isinstance(tile_rows, bool) or not isinstance(tile_rows, (int, np.integer)) or tile_rows < 1:
        raise InvalidParams(f"tile_rows must be an integer >= 1; got {tile_rows!r}")
    try:
        dt = np.dtype(out_dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in [np.dtype(d) for d in OUT_DTYPES]:
        raise InvalidParams(f"out_dtype must be float32, uint16 or uint8; got {out_dtype!r}")
    if not isinstance(linear, bool):
        raise InvalidParams(f"linear must be True or False; got {linear!r}")
    if linear and dt != np.float32:
        raise InvalidParams(f"linear output is float32 only; got out_dtype {dt}")
    return dt


def develop_tiled(
    data: np.ndarray,
    meta: RawMetadata,
    params: DevelopParams | None = None,
    *,
    tile_rows: int = TILE_ROWS,
    out_dtype: Any = np.float32,
    linear: bool = False,
    **overrides: Any,
) -> Image:
    """Develop stored raw samples as :func:`rotpunkt.pipeline.develop` does, in horizontal bands.

    Parameters
    ----------
    data : ndarray
        Stored samples from :func:`rotpunkt.io.read` (not modified).
    meta : RawMetadata
    params : DevelopParams, optional; ``overrides`` replace single fields.
    tile_rows : int
        Output rows per band (>= 1; any value, odd ones included, gives the same result). Memory per
        band in flight is roughly 25 bytes per pixel of ``(tile_rows + 2 * halo) x width`` plus fixed
        work buffers; small bands cost time (each carries 2 * halo rows of extra work).
    out_dtype : {np.float32, np.uint16, np.uint8}
        Output samples: float32 encoded values in [0, 1] (as ``develop``), or integers quantised as
        :func:`rotpunkt.io.write.quantize` does (``floor(v * (2**bits - 1) + 0.5)``, round half up).
    linear : bool
        Return scene-linear values instead (float32 only): linear in ``params.space``'s primaries,
        exposure applied, neither clipped nor encoded; equal to :func:`rotpunkt.pipeline.scene_linear`.

    Returns
    -------
    Image whose ``data`` is (H, W, 3) of ``out_dtype``, default crop applied and rotated upright (unless
    ``params.crop`` / ``params.orient`` say otherwise), ``space`` ``params.space`` (``"linear_srgb"`` /
    ``"linear_p3"`` when ``linear``).

    Memory: the stored samples, the output, and per band in flight a float32 mosaic and RGB block (two
    bands on two workers); OpcodeList1/2 add one whole float32 mosaic. Files with an OpcodeList3 (or a
    default crop that selects nothing) are developed by the whole-image path instead, see
    :func:`fallback_reason`; the result is the same, the memory that path's.

    Raises
    ------
    InvalidParams
        Bad ``tile_rows``, ``out_dtype``, ``linear`` or develop parameters.
    RotpunktError
        Whatever the whole-image develop raises for the same file, naming the file.
    """
    p = pipeline.resolve_params(params, overrides)
    dt = _check_args(tile_rows, out_dtype, linear)
    try:
        return _develop_tiled(data, meta, p, int(tile_rows), dt, linear)
    except RotpunktError as err:
        raise with_path(err, meta.path) if meta.path else err from None


def _develop_whole(
    data: np.ndarray, meta: RawMetadata, p: DevelopParams, dt: np.dtype, linear: bool
) -> Image:
    if linear:
        rgb, _ = pipeline.scene_linear(data, meta, p)
        return Image(data=rgb, space=f"linear_{p.space}", orientation=1 if p.orient else meta.orientation,
                     exif=meta.exif, source=meta.path)
    img = pipeline.develop(data, meta, p)
    if dt != np.float32:
        img.data = quantize(img.data, _BITS[dt])
    return img


def _develop_tiled(data: np.ndarray, meta: RawMetadata, p: DevelopParams, tile_rows: int, dt: np.dtype,
                   linear: bool) -> Image:
    if fallback_reason(data, meta, p) is not None:
        return _develop_whole(data, meta, p, dt, linear)
    plan = plan_tiles(data, meta, p)
    (ya, yb), (xa, xb) = plan.rows, plan.cols
    if yb <= ya or xb <= xa:  # only after OpcodeList1/2 changed the size
        return _develop_whole(data, meta, p, dt, linear)
    orientation = meta.orientation if p.orient else 1
    out = np.empty(oriented_shape((yb - ya, xb - xa, 3), orientation), dt)
    dest = orientation_view(out, orientation)  # stored geometry, writes land upright in ``out``
    bits = _BITS.get(dt)

    def one(band: Band, workers: int) -> None:
        fuse = not linear and plan.colour.matrix is not None  # as pipeline.develop: matrix + encoding in one
        rgb = band_linear(plan, band.r0, band.r1, workers=workers, colour=not fuse)
        if not linear:
            rgb = pipeline.encode_display(np.ascontiguousarray(rgb), workers, p.engine,
                                          matrix=plan.colour.matrix if fuse else None)
        dest[band.r0 - ya : band.r1 - ya] = rgb if bits is None else quantize(rgb, bits)

    _run_bands(one, plan_bands(ya, yb, plan.size[0], tile_rows, plan.halo), p.workers)
    return Image(data=out, space=f"linear_{p.space}" if linear else p.space,
                 orientation=1 if p.orient else meta.orientation, exif=meta.exif, source=meta.path)
