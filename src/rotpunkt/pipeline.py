"""The develop recipe: raw samples + metadata -> display-referred image, following the DNG order.

    stored samples ─► OpcodeList1 ─► linearise (active area, black, white) ─► OpcodeList2 (mosaic)
      ─► white balance (+ highlight clip) ─► demosaic ─► OpcodeList3 ─► camera -> XYZ D50 (DNG colour model)
      ─► [ProfileHueSatMap ─► exposure ─► ProfileLookTable, in linear ProPhoto] ─► output primaries
      ─► default crop ─► orientation ─► transfer function

Each step is a pure function of its input array and params; this module only orders them (the recipe)
and keeps memory bounded: after linearisation there is one float32 mosaic and one float32 RGB image,
transformed in place in row strips.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import colour_math as cm
from .errors import InvalidParams, RotpunktError, RotpunktWarning, UnsupportedFormat, with_path
from .params import param, validate
from .params import replace as replace_params
from .stages import colour, demosaic, opcodes
from .stages.linearize import linearize
from .types import Image, RawMetadata

SPACES = ("srgb", "p3")
STRIP_ROWS = 256

#: opcodes that commute with a per-plane gain, so OpcodeList3 may run on white-balanced data
_GAIN_COMMUTING = {"GainMap", "FixVignetteRadial", "WarpRectilinear", "ScalePerRow", "ScalePerColumn",
                   "TrimBounds", "FixBadPixelsConstant", "FixBadPixelsList"}


@dataclass(frozen=True)
class DevelopParams:
    """Everything ``develop`` can be told. Units and ranges drive the CLI and validation."""

    demosaic: str = param(demosaic.DEFAULT_METHOD, choices=tuple(demosaic.DEMOSAIC),
                          doc="demosaic method")
    space: str = param("srgb", choices=SPACES, doc="output colour space (sRGB or Display P3)")
    exposure: float = param(0.0, unit="EV", range=(-10.0, 10.0), doc="exposure bias added to the file's")
    baseline_exposure: bool = param(True, choices=(True, False),
                                    doc="apply the file's BaselineExposure (+Offset)")
    white_balance: str = param("as_shot", choices=("as_shot", "daylight", "custom"),
                               doc="as shot, daylight (D55), or custom temperature and tint")
    temperature: float = param(5500.0, unit="K", range=(2000.0, 12000.0),
                               doc="white's colour temperature when white_balance='custom'")
    tint: float = param(0.0, unit="DNG tint", range=(-150.0, 150.0),
                        doc="white's tint when white_balance='custom' (+ = greener light)")
    highlights: str = param("clip", choices=("clip", "none"),
                            doc="clip white-balanced highlights at sensor saturation, or keep them")
    profile_tables: bool = param(True, choices=(True, False),
                                 doc="apply ProfileHueSatMap and ProfileLookTable when the file has them")
    crop: bool = param(True, choices=(True, False), doc="apply the DefaultCrop")
    orient: bool = param(True, choices=(True, False), doc="rotate the pixels upright (EXIF Orientation)")
    workers: int = param(2, unit="threads", range=(1, 64), doc="threads for strip-parallel stages")
    engine: str = param("auto", choices=("auto", "halide", "numpy"),
                        doc="compiled Halide kernels (auto: when built), or the numpy reference")
    look: str = param("neutral", doc="look: a shipped or user look name, or a .toml path ('neutral' = "
                                     "colorimetric, no tone curve; see `rotpunkt looks`)")
    seed: int = param(0, range=(0, 2**31 - 1), doc="seed of the look's grain (same seed, same output)")


def check_shape(arr: np.ndarray, meta: RawMetadata) -> None:
    if meta.photometric == "cfa":
        if arr.ndim != 2:
            raise UnsupportedFormat(f"CFA data must be one plane, got shape {arr.shape}", meta.path)
    elif arr.ndim != 3 or arr.shape[2] != 3:
        raise UnsupportedFormat(
            f"LinearRaw data with {1 if arr.ndim == 2 else arr.shape[2]} samples: only 3 are supported", meta.path)


def opcode_list(meta: RawMetadata, index: int) -> list:
    raw = meta.opcode_lists[index]
    if not raw:
        return []
    return opcodes.parse_opcode_list(raw, path=meta.path)


def apply_list1(data: np.ndarray, meta: RawMetadata) -> np.ndarray:
    """OpcodeList1 on the stored image (masked borders included). Opcodes never change the sample type:
    integer samples come back as integers (rounded), so the LinearizationTable still applies after."""
    ops = opcode_list(meta, 0)
    if not ops:
        return data
    is_int = data.dtype.kind in "ui"
    scale = 65535.0 if is_int else 1.0
    x = data.astype(np.float32)
    x *= np.float32(1.0 / scale)
    # the CFA pattern is anchored at the active area's corner; stage 1 indexes the stored image
    top, left = (meta.active_area[0], meta.active_area[1]) if meta.active_area else (0, 0)
    cfa = None if meta.cfa_pattern is None else np.roll(meta.cfa_pattern, (top, left), axis=(0, 1))
    x = opcodes.apply_opcode_list(x, ops, cfa_pattern=cfa, path=meta.path, stored_scale=scale, stage=1)
    x *= np.float32(scale)
    if is_int:
        np.rint(x, out=x)
        np.clip(x, 0, np.iinfo(data.dtype).max, out=x)
        return x.astype(data.dtype)
    return x


def _colour(meta: RawMetadata, p: DevelopParams):
    """White balance and colour model: the camera neutral (C,) with max 1, the matrix taking
    white-balanced camera values to XYZ D50 (neutral -> D50 white, Y = 1), and the profile tables."""
    info = meta.color
    cp = colour.ColorParams(white_balance=p.white_balance, temperature=p.temperature, tint=p.tint,
                            use_profile_tables=p.profile_tables)
    t = colour.color_transform(info, cp)
    if p.white_balance == "as_shot" and info.as_shot_neutral is not None:
        neutral = np.asarray(info.as_shot_neutral, np.float64)
    else:
        neutral = colour.xy_to_neutral(info, t.white_xy)
    neutral = np.clip(neutral / neutral.max(), 0.001, 1.0)
    return neutral, t.matrix @ np.diag(neutral), t


def scale_planes_mosaic(mosaic: np.ndarray, gains: np.ndarray, cfa: np.ndarray, clip: bool) -> None:
    """In place: multiply each CFA site by its plane's gain; optionally clip at 1 (saturation)."""
    r, c = cfa.shape
    for i in range(r):
        for j in range(c):
            view = mosaic[i::r, j::c]
            view *= np.float32(gains[cfa[i, j]])
    if clip:
        np.minimum(mosaic, 1.0, out=mosaic)


def scale_planes_rgb(rgb: np.ndarray, gains: np.ndarray, clip: bool) -> None:
    g = gains.astype(np.float32)
    for y0 in range(0, rgb.shape[0], STRIP_ROWS):
        s = rgb[y0:y0 + STRIP_ROWS]
        s *= g
        if clip:
            np.minimum(s, 1.0, out=s)


def default_crop(rgb: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    """Apply DefaultCrop (top, left, height, width). When an opcode (TrimBounds) made the image smaller,
    the crop is shifted back inside and clamped to it, as the DNG SDK's DefaultCropArea does."""
    top, left, ch, cw = crop
    h, w = rgb.shape[:2]
    ch, cw = min(ch, h), min(cw, w)
    top, left = min(top, h - ch), min(left, w - cw)
    if (top, left, ch, cw) == (0, 0, h, w):
        return rgb
    return np.ascontiguousarray(rgb[top:top + ch, left:left + cw])


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip pixels stored with EXIF ``orientation`` so they display upright (TIFF 6.0 tag 274)."""
    ops: dict[int, Callable[[np.ndarray], np.ndarray]] = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, k=-1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, k=1),
    }
    if orientation == 1:
        return img
    return np.ascontiguousarray(ops.get(orientation, ops[1])(img))


@dataclass(frozen=True)
class ColourPlan:
    """What the colour stages need for one image, decided once (the whole-image and the tiled runner share it).

    ``gains`` multiply camera planes (white balance, 1 / neutral); ``clip`` clips them at saturation.
    Then either ``matrix`` (white-balanced camera -> linear output primaries, exposure included) or, when
    the profile has tables, ``to_prophoto`` -> ``hue_sat_map`` -> ``exposure_gain`` -> ``look_table`` ->
    ``prophoto_to_out`` (DNG order, in linear ProPhoto).
    """

    neutral: np.ndarray
    gains: np.ndarray
    clip: bool
    exposure_gain: float
    matrix: np.ndarray | None
    to_prophoto: np.ndarray | None
    hue_sat_map: Any
    look_table: Any
    prophoto_to_out: np.ndarray | None
    facts: dict


def colour_plan(meta: RawMetadata, p: DevelopParams) -> ColourPlan:
    """White balance, exposure and the camera -> output colour path for ``meta`` under ``p``."""
    neutral, m_wb, t = _colour(meta, p)
    ev = p.exposure
    if p.baseline_exposure:
        ev += meta.color.baseline_exposure + meta.color.baseline_exposure_offset
    gain = 2.0 ** ev
    xyz_to_out = cm.xyz_d50_to_rgb_matrix(p.space)
    hsm, look = t.hue_sat_map, t.look_table
    matrix = to_pp = pp_to_out = None
    if hsm is None and look is None:
        matrix = gain * (xyz_to_out @ m_wb)
    else:  # the profile tables live in linear ProPhoto RGB (DNG specification, chapter 6)
        pp = cm.xyz_d50_to_rgb_matrix("prophoto")
        to_pp = pp @ m_wb
        pp_to_out = xyz_to_out @ np.linalg.inv(pp)
    return ColourPlan(neutral=neutral, gains=1.0 / neutral, clip=p.highlights == "clip", exposure_gain=gain,
                      matrix=matrix, to_prophoto=to_pp, hue_sat_map=hsm, look_table=look,
                      prophoto_to_out=pp_to_out,
                      facts={"white_xy": t.white_xy, "cct": t.cct, "neutral": neutral})


def apply_colour_plan(rgb: np.ndarray, plan: ColourPlan, *, workers: int = 2) -> np.ndarray:
    """White-balanced camera RGB (H, W, 3) float32 -> linear output primaries, exposure applied.
    Works in place where it can; returns the result (a new array only when profile tables are applied)."""
    if plan.matrix is not None:
        colour.apply_matrix(rgb, plan.matrix, out=rgb, workers=workers)
        return rgb
    colour.apply_matrix(rgb, plan.to_prophoto, out=rgb, workers=workers)
    if plan.hue_sat_map is not None:
        rgb = colour.apply_hue_sat_map(rgb, plan.hue_sat_map, workers=workers)
    if plan.exposure_gain != 1.0:
        scale_planes_rgb(rgb, np.full(3, plan.exposure_gain), False)
    if plan.look_table is not None:
        rgb = colour.apply_hue_sat_map(rgb, plan.look_table, workers=workers)
    colour.apply_matrix(rgb, plan.prophoto_to_out, out=rgb, workers=workers)
    return rgb


def resolve_params(params: DevelopParams | None, overrides: dict[str, Any]) -> DevelopParams:
    """``params`` (default DevelopParams()) with ``overrides`` replacing fields, validated."""
    p = DevelopParams() if params is None else params
    if not isinstance(p, DevelopParams):
        raise InvalidParams(f"params must be a DevelopParams, got {type(p).__name__}")
    return validate(replace_params(p, overrides, "develop parameter"))


def develop(data: np.ndarray, meta: RawMetadata, params: DevelopParams | None = None, **overrides: Any) -> Image:
    """Develop stored raw samples into a display-referred image.

    Parameters
    ----------
    data : ndarray
        Stored samples from :func:`rotpunkt.io.read` (not modified).
    meta : RawMetadata
    params : DevelopParams, optional; ``overrides`` replace single fields.

    Returns
    -------
    Image with float32 (H, W, 3) data in [0, 1], encoded with the sRGB transfer function, in the
    primaries of ``params.space``.
    """
    p = resolve_params(params, overrides)
    try:
        if has_look(p):
            from .look import load_look

            load_look(p.look)  # an unknown look is a params error before any pixel work
        return _develop(data, meta, p)
    except RotpunktError as err:
        raise with_path(err, meta.path) if meta.path else err from None


def scene_linear(data: np.ndarray, meta: RawMetadata, p: DevelopParams) -> tuple[np.ndarray, dict]:
    """Everything up to the output encoding: float32 (H, W, 3) linear in ``p.space``'s primaries.

    Returned array is a fresh buffer the caller owns. Also returns facts found on the way (white xy, CCT).
    """
    rgb, plan = scene_camera(data, meta, p)
    return apply_colour_plan(rgb, plan, workers=p.workers), plan.facts


def scene_camera(data: np.ndarray, meta: RawMetadata, p: DevelopParams) -> tuple[np.ndarray, ColourPlan]:
    """:func:`scene_linear` but for its colour plan: white-balanced camera RGB (H, W, 3) float32, cropped and
    oriented (a fresh buffer the caller owns), and the plan that takes it to ``p.space``'s primaries (per
    pixel, so a caller may fuse it into its next pass: ``plan.matrix`` when the profile has no tables)."""
    check_shape(data, meta)
    stored = apply_list1(data, meta)
    lin = linearize(stored, meta)
    del stored
    list2 = opcode_list(meta, 1)
    if list2:
        lin = opcodes.apply_opcode_list(lin, list2, cfa_pattern=meta.cfa_pattern, path=meta.path, stage=2)
    plan = colour_plan(meta, p)
    neutral, gains, clip = plan.neutral, plan.gains, plan.clip
    if meta.photometric == "cfa":
        scale_planes_mosaic(lin, gains, meta.cfa_pattern, clip)
        rgb = demosaic_stage(lin, meta.cfa_pattern, p.demosaic, p.engine, p.workers, meta.path)
        del lin
    else:
        rgb = lin
        scale_planes_rgb(rgb, gains, clip)
    list3 = opcode_list(meta, 2)
    if list3:
        commute = all(op.name in _GAIN_COMMUTING for op in list3)
        if not commute:  # apply the list to camera-native values, as the specification orders
            scale_planes_rgb(rgb, neutral, False)
        rgb = opcodes.apply_opcode_list(rgb, list3, cfa_pattern=None, path=meta.path, stage=3)
        if not commute:
            scale_planes_rgb(rgb, gains, clip)

    if p.crop and meta.default_crop is not None:
        rgb = default_crop(rgb, meta.default_crop)
    if p.orient:
        rgb = orient(rgb, meta.orientation)
    return np.ascontiguousarray(rgb), plan


def has_look(p: DevelopParams) -> bool:
    """True when ``p`` names a look other than the colorimetric 'neutral' one."""
    return p.look != "neutral"


def look_encoded(data: np.ndarray, meta: RawMetadata, p: DevelopParams) -> np.ndarray:
    """Scene-linear render through ``p.look``, display-encoded: (H, W, 3) float32 in [0, 1], sRGB transfer
    function, ``p.space``'s primaries.

    The look works in linear Rec.2020 (see :func:`rotpunkt.look.apply_look`); the scene is rendered there
    and passed through :func:`rotpunkt.look.render_look`, which also converts to the output primaries (both
    D65), clips and encodes (one fused pass with the compiled engine)."""
    from .look import load_look, render_look

    look = load_look(p.look)
    rgb, plan = scene_camera(data, meta, dataclasses.replace(p, space="rec2020"))
    if plan.matrix is None:  # profile tables: applied apart
        rgb, pre = apply_colour_plan(rgb, plan, workers=p.workers), None
    else:  # camera -> Rec.2020 fused into the look's first pass
        pre = plan.matrix
    to_out = cm.xyz_to_rgb_matrix(p.space) @ cm.rgb_to_xyz_matrix("rec2020")
    return render_look(rgb, look, from_input=pre, to_output=to_out, seed=p.seed, workers=p.workers,
                       engine=p.engine, overwrite_input=True, trusted=True)


def compiled(engine: str, what: str, path: str | None = None):
    """The compiled kernels module when ``engine`` allows and they were built, else None.
    engine 'halide' without them is an error; 'auto' warns once per process and uses numpy."""
    if engine == "numpy":
        return None
    from . import fast

    if fast.AVAILABLE:
        return fast
    if engine == "halide":
        raise UnsupportedFormat(f"the compiled kernels are not available ({fast.REASON}); use engine='numpy'")
    global _WARNED_NO_FAST
    if not _WARNED_NO_FAST:
        _WARNED_NO_FAST = True
        warnings.warn(f"rotpunkt.fast is not built ({fast.REASON}): using the numpy path for {what}",
                      RotpunktWarning, stacklevel=3)
    return None


_WARNED_NO_FAST = False


def demosaic_stage(mosaic: np.ndarray, cfa: np.ndarray, method: str, engine: str, workers: int,
                   path: str | None = None) -> np.ndarray:
    """Demosaic through the registry, or the compiled kernel of the same method (bit-identical, tested).
    A CFA the method cannot do falls back to bilinear with a warning."""
    fast = compiled(engine, "demosaic", path) if method in ("rcd", "bilinear") else None
    if fast is not None:
        phase = fast.red_phase(cfa)
        if phase is not None and mosaic.shape[0] >= 2 and mosaic.shape[1] >= 2:
            return fast.bayer_to_rgb(np.ascontiguousarray(mosaic, dtype=np.float32), phase, method,
                                     workers=workers)
    try:
        return demosaic.demosaic(mosaic, cfa, demosaic.DemosaicParams(method=method), workers=workers)
    except UnsupportedFormat:
        warnings.warn(f"{path}: {method} does not support this CFA; using bilinear", RotpunktWarning,
                      stacklevel=3)
        return demosaic.demosaic(mosaic, cfa, demosaic.DemosaicParams(method="bilinear"), workers=workers)


def encode_display(rgb: np.ndarray, workers: int = 2, engine: str = "auto", matrix=None) -> np.ndarray:
    """In place: (``matrix``, 3 x 3, first, when given), clip display-linear values to [0, 1] and apply the
    sRGB transfer function (also P3's). With the compiled kernels the three are one pass."""
    fast = compiled(engine, "encoding")
    if fast is not None and rgb.flags.c_contiguous and rgb.dtype == np.float32 and rgb.ndim == 3:
        return fast.colour_encode(rgb, np.eye(3) if matrix is None else matrix, out=rgb, workers=workers)
    if matrix is not None:
        colour.apply_matrix(rgb, matrix, out=rgb, workers=workers)
    for y0 in range(0, rgb.shape[0], STRIP_ROWS):
        s = rgb[y0:y0 + STRIP_ROWS]
        np.clip(s, 0.0, 1.0, out=s)
    return cm.srgb_encode_fast(rgb, out=rgb, workers=workers)


def _develop(data: np.ndarray, meta: RawMetadata, p: DevelopParams) -> Image:
    if has_look(p):
        rgb = look_encoded(data, meta, p)
    else:
        rgb, plan = scene_camera(data, meta, p)
        if plan.matrix is None:
            rgb = apply_colour_plan(rgb, plan, workers=p.workers)
        encode_display(rgb, p.workers, p.engine, matrix=plan.matrix)  # the matrix fused into the encoding
    return Image(data=rgb, space=p.space, orientation=1 if p.orient else meta.orientation, exif=meta.exif,
                 source=meta.path)
