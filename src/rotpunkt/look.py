"""Looks: a look turns scene-linear light into a styled, display-referred picture, and is a data file.

A look is a TOML file (``src/rotpunkt/looks/NAME.toml`` ships with rotpunkt; users add their own in
``$ROTPUNKT_LOOKS`` or ``~/.config/rotpunkt/looks/``) that loads into a frozen :class:`Look`. Its
sections are applied in this order by :func:`apply_look`:

    scene-linear Rec.2020 (grey 0.18, diffuse white ~1)
      ─► [exposure]    exposure bias (EV) and white-balance shift (mired, tint)      scene-linear
      ─► [local_tone]  local tone mapping: edge-aware base/detail split (guided filter), the base
                       compressed towards middle grey beyond a knee, the detail kept    scene-linear
      ─► [tone]        parametric tone curve (contrast at grey, toe, shoulder, black and white points,
                       lift) + optional free curve, applied to max(R, G, B)           ─► display-linear
      ─► [colour]      saturation, vibrance, hue/saturation/value table (DNG LookTable model), .cube LUT
      ─► [monochrome]  channel mix or colour filter, then split toning
      ─► [vignette]    radial darkening, amount in EV at the corners
      ─► [halation]    red glow spilling around highlights
      ─► [sharpen]     unsharp mask on luminance
      ─► [grain]       seeded, luminance-dependent film grain
      ─► clip to [0, 1]: display-linear Rec.2020 (D65)

Every section at its defaults does nothing, so ``Look()`` (and the shipped ``neutral``) returns
``clip(input, 0, 1)``: rotpunkt's colorimetric rendering. The finishing effects run in the order
vignette, halation, sharpen, grain: halation is an optical glow (before sharpening, so its soft edge
is not sharpened) and grain comes last so that it is neither sharpened nor blurred.

Colour space: input and output are linear RGB with ITU-R BT.2020 primaries and the D65 white; the
caller converts the output to sRGB or Display P3 and encodes it. "Luminance" Y below is the Y row of
the Rec.2020 RGB-to-XYZ matrix (0.2627, 0.6780, 0.0593).

Engines: two implementations of the same maths. The numpy engine (the reference) runs the stages
fused, in row strips of 64 K pixels held planar (3, rows, W) so that every numpy operation is
contiguous float32, on ``workers`` threads; only the stages that need the whole image first (local
tone mapping, halation, sharpening) split the work into passes. The compiled engine
(``rotpunkt.fast``, Halide, ``engine="auto"`` whenever it is built) renders the whole look in one
fused pass per tile (plus a statistics pass for local tone mapping or halation, on every 2nd-4th
row, :func:`row_step`), and :func:`render_look` fuses into it the matrix from the input's RGB
(rotpunkt's develop passes white-balanced camera RGB), the output matrix, the clip and the encoding;
the two agree within ~5e-5 (tests/test_look_fast.py). Local tone mapping and halation filter a
downsampled image and upsample the result (He & Sun, "Fast Guided Filter", 2015). A free tone
curve, the hue/saturation table and a .cube LUT exist only in the numpy engine (a look with one
renders there; about 0.8 s and 0.5 s of CPU per 12 MP for the last two); no shipped look uses them.
``python bench/look.py`` measures what each look adds to a develop.

References
----------
* K. He, J. Sun, X. Tang, "Guided Image Filtering", IEEE TPAMI 35 (2013) 1397-1409; K. He, J. Sun,
  "Fast Guided Filter", arXiv:1505.00996 (2015).
* F. N. Fritsch, R. E. Carlson, "Monotone Piecewise Cubic Interpolation", SIAM J. Numer. Anal. 17
  (1980) 238-246 (the free tone curve).
* Adobe, "Cube LUT Specification" 1.0 (2013); DaVinci Resolve's .cube variant (1D shaper + 3D,
  LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE).
* J. Kasson, S. Nin, W. Plouffe, J. Hafner, "Performing color space conversions with
  three-dimensional linear interpolation", J. Electronic Imaging 4 (1995) 226-250 (tetrahedral).
* Adobe, Digital Negative (DNG) Specification 1.7, ProfileLookTable (the hue/sat/value table model).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import threading
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from . import colour_math as cm
from .errors import CorruptFile, InvalidParams, RotpunktError, UnsupportedFormat, with_path
from .params import param
from .types import HueSatMap

#: Version of the look file format this rotpunkt writes; older files load through :func:`migrate`.
LOOK_VERSION = 2
#: Scene-linear middle grey (the input's normalisation: diffuse white ~1.0).
GREY = 0.18
#: Folder of the shipped looks.
SHIPPED_DIR = Path(__file__).with_name("looks")
#: Look used when none is named: the colorimetric rendering (identity, then clip).
DEFAULT_LOOK = "neutral"

_REC2020_TO_XYZ = cm.rgb_to_xyz_matrix("rec2020")
#: Luminance weights of linear Rec.2020 (the Y row of its RGB -> XYZ matrix).
LUMA = _REC2020_TO_XYZ[1].copy()
_LUMA32 = LUMA.astype(np.float32)
_STRIP_PIXELS = 1 << 16  # pixels per row strip of the fused stages
_CHUNK = 16384  # pixels per piece of the kernels with many temporaries (LUT, hue table)
_TLS = threading.local()


# ==================================================================================================
# The look's sections. Every field is declared once with its unit, range and default.
# ==================================================================================================


@dataclass(frozen=True)
class ExposureLook:
    """Exposure bias and white-balance shift, applied first, in scene-linear Rec.2020."""

    ev: float = param(0.0, unit="EV", range=(-4.0, 4.0), doc="exposure bias")
    warmth: float = param(0.0, unit="mired", range=(-150.0, 150.0),
                          doc="white-balance shift: + renders warmer (neutral becomes yellower)")
    tint: float = param(0.0, unit="DNG tint", range=(-100.0, 100.0),
                        doc="white-balance shift: + renders more magenta, - greener")


@dataclass(frozen=True)
class LocalToneLook:
    """Local tone mapping: log luminance = base (guided filter) + detail; the base's distance from
    middle grey beyond ``knee`` EV is shrunk by ``strength`` (shadows opened, highlights held), the
    detail multiplied by ``detail``."""

    strength: float = param(0.0, range=(0.0, 1.0),
                            doc="compression of large-scale tones towards grey: 0 off, 0.5 halves their EV")
    detail: float = param(1.0, range=(0.0, 4.0), doc="gain of local detail (1 keeps it)")
    radius: float = param(0.03, unit="fraction of the short side", range=(0.005, 0.25),
                          doc="size of the neighbourhood that makes the base")
    knee: float = param(0.0, unit="EV", range=(0.0, 4.0),
                        doc="base levels within this many EV of grey are left alone; compression acts beyond")
    edge: float = param(0.25, unit="EV", range=(0.05, 4.0),
                        doc="edges much stronger than this stay in the base (no halo); weaker are detail")


@dataclass(frozen=True)
class ToneLook:
    """Scene-referred tone curve, applied to max(R, G, B) with the ratios R:G:B kept (hue-preserving).

    T(x) = lift + (1 - lift) * shoulder(toe(contrast(blackpoint(x)))), then the free curve, where
    blackpoint: x1 = max(x - black, 0) * 0.18 / (0.18 - black); contrast: p = 0.18 (x1 / 0.18)^c;
    toe: q = p^2 / (p + toe) * (0.18 + toe) / 0.18; shoulder (from ys = 1 - shoulder * 0.82 to the
    white point W = q(white)): y = ys + (1 - ys) u / (1 + u - t), u = (q - ys) / (1 - ys),
    t = (q - ys) / (W - ys), and 1 above W; c is chosen so that the whole curve's slope in log-log
    at middle grey equals ``contrast`` (without lift and free curve). Grey maps to 0.18.
    At the defaults the stage is off (per-channel clip at the end).
    """

    contrast: float = param(1.0, unit="log-log slope at grey", range=(0.3, 3.0),
                            doc="slope of log(out) vs log(in) at middle grey")
    toe: float = param(0.0, unit="scene-linear", range=(0.0, 0.1),
                       doc="film-like density: levels well below this are pressed down (deeper shadows)")
    shoulder: float = param(0.0, range=(0.0, 1.0),
                            doc="highlight roll-off: 0 hard clip, 1 roll-off from grey up to the white point")
    black: float = param(0.0, unit="scene-linear", range=(0.0, 0.05),
                         doc="scene level that maps to black")
    white: float = param(1.0, unit="scene-linear", range=(1.0, 64.0),
                         doc="scene level that reaches display white through the shoulder")
    lift: float = param(0.0, unit="display-linear", range=(0.0, 0.1), doc="output black level (matte)")
    curve: tuple = param((), doc="free curve: ((in, out), ...) in [0, 1], sRGB-encoded values, "
                                 "in strictly increasing, out non-decreasing; monotone cubic")


@dataclass(frozen=True)
class ColourLook:
    """Colour on display-linear Rec.2020: saturation and vibrance about luminance, a hue/sat/value
    table (rows: value divisions from dark to bright, columns: hue divisions from red at 0 degrees,
    evenly spaced; the DNG LookTable model with sRGB-encoded value), an optional .cube 3D LUT."""

    saturation: float = param(1.0, range=(0.0, 3.0), doc="chroma gain about luminance (1 keeps)")
    vibrance: float = param(0.0, range=(-1.0, 1.0),
                            doc="extra chroma gain for weakly saturated colours: x (1 + v (1 - S))")
    hue_shift: tuple = param((), unit="degrees", doc="table (values x hues) of hue shifts")
    sat_scale: tuple = param((), doc="table (values x hues) of saturation scales")
    val_scale: tuple = param((), doc="table (values x hues) of value scales")
    lut: str = param("", doc=".cube 3D LUT file, relative to the look file (empty: none)")
    lut_strength: float = param(1.0, range=(0.0, 1.0), doc="mix of the LUT's result with its input")
    lut_encoding: str = param("srgb", choices=("srgb", "linear"),
                              doc="the LUT's input and output are sRGB-encoded or linear values")
    lut_primaries: str = param("rec2020", choices=("rec2020", "srgb", "p3"), doc="the LUT's RGB primaries")


@dataclass(frozen=True)
class MonochromeLook:
    """Black and white: a channel mix (or a colour filter's) then split toning."""

    enabled: bool = param(False, choices=(False, True), doc="render in black and white")
    filter: str = param("none", choices=("none", "red", "orange", "yellow", "green", "blue", "custom"),
                        doc="colour filter in front of a panchromatic film; custom uses mix")
    mix: tuple = param((), doc="custom weights (r, g, b) of linear Rec.2020, normalised to sum 1")
    shadows_hue: float = param(30.0, unit="degrees", range=(0.0, 360.0), doc="hue of the shadow toning")
    shadows_strength: float = param(0.0, range=(0.0, 1.0), doc="strength of the shadow toning")
    highlights_hue: float = param(50.0, unit="degrees", range=(0.0, 360.0), doc="hue of the highlight toning")
    highlights_strength: float = param(0.0, range=(0.0, 1.0), doc="strength of the highlight toning")
    balance: float = param(0.0, range=(-1.0, 1.0), doc="toning balance: + favours the highlights")


@dataclass(frozen=True)
class VignetteLook:
    """Radial darkening (or brightening); r is the distance from the centre over the half diagonal.

    gain = 2 ** (a * v(r)), v = smoothstep((r - radius) / feather) normalised so that v = 1 at the
    corners: the corners change by exactly ``a`` EV. mode "add": a = amount, added to whatever
    vignetting the input has. mode "total": amount is the corners' total vignetting wanted; the
    lens vignetting the input still has (``vignette_kept`` of :func:`apply_look`) is undone first.
    """

    mode: str = param("add", choices=("add", "total"), doc="add amount, or reach amount in total")
    amount: float = param(0.0, unit="EV", range=(-3.0, 3.0), doc="change at the corners")
    radius: float = param(0.5, unit="fraction of the half diagonal", range=(0.0, 0.95),
                          doc="where the falloff starts")
    feather: float = param(0.5, unit="fraction of the half diagonal", range=(0.05, 1.0),
                           doc="width of the falloff")


@dataclass(frozen=True)
class HalationLook:
    """Glow around highlights (film halation): the highlights' energy above ``threshold`` is blurred
    and what spills outside the highlights is added, tinted."""

    strength: float = param(0.0, range=(0.0, 2.0), doc="glow added per unit of spilled highlight")
    radius: float = param(0.01, unit="fraction of the short side", range=(0.001, 0.1), doc="glow size")
    threshold: float = param(0.75, unit="display-linear luminance", range=(0.2, 0.99),
                             doc="luminance above which light spills")
    tint: tuple = param((1.0, 0.3, 0.1), doc="glow colour (r, g, b) of linear Rec.2020, each in [0, 1]")


@dataclass(frozen=True)
class SharpenLook:
    """Unsharp mask on luminance: rgb += amount * (Y - gaussian(Y, radius))."""

    amount: float = param(0.0, range=(0.0, 3.0), doc="strength (0 off)")
    radius: float = param(1.0, unit="px", range=(0.3, 5.0), doc="gaussian sigma of the blur")


@dataclass(frozen=True)
class GrainLook:
    """Film grain: each pixel times 2 ** (strength * n * w(Y)); n is seeded noise of unit variance
    (uniform white noise on a grid every ``size`` pixels, bilinear in between, its variance restored),
    w = 4 L (1 - L) with L = sqrt(Y) is largest in mid-tones, 0 in black and white."""

    strength: float = param(0.0, unit="EV", range=(0.0, 0.5), doc="grain standard deviation at mid-tones")
    size: float = param(1.0, unit="px", range=(1.0, 8.0), doc="grain size")


@dataclass(frozen=True)
class Look:
    """A look: named, versioned, one frozen dataclass per section (see the module docstring)."""

    version: int = param(LOOK_VERSION, choices=(LOOK_VERSION,), doc="look file format version")
    name: str = param(DEFAULT_LOOK, doc="short name")
    summary: str = param("Colorimetric rendering, nothing added (the default)",
                         doc="one line on what the look does")
    exposure: ExposureLook = param(ExposureLook(), doc="exposure bias and white-balance shift")
    local_tone: LocalToneLook = param(LocalToneLook(), doc="local tone mapping")
    tone: ToneLook = param(ToneLook(), doc="tone curve")
    colour: ColourLook = param(ColourLook(), doc="colour")
    monochrome: MonochromeLook = param(MonochromeLook(), doc="black and white")
    vignette: VignetteLook = param(VignetteLook(), doc="vignette")
    halation: HalationLook = param(HalationLook(), doc="halation")
    sharpen: SharpenLook = param(SharpenLook(), doc="sharpening")
    grain: GrainLook = param(GrainLook(), doc="grain")


SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Look)
                                  if dataclasses.is_dataclass(f.default))


def _is_default(section: Any) -> bool:
    return section == type(section)()


# ==================================================================================================
# Validation
# ==================================================================================================

#: Element ranges of the tuple-valued fields (their scalar ranges live in ``param``).
_TUPLE_RULES: dict[tuple[str, str], tuple[float, float]] = {
    ("tone", "curve"): (0.0, 1.0),
    ("colour", "hue_shift"): (-180.0, 180.0),
    ("colour", "sat_scale"): (0.0, 4.0),
    ("colour", "val_scale"): (0.0, 4.0),
    ("monochrome", "mix"): (-2.0, 3.0),
    ("halation", "tint"): (0.0, 1.0),
}


def _fail(reason: str, path: str | os.PathLike | None) -> InvalidParams:
    return InvalidParams(reason, path)


def _check_number(value: Any, key: str, rng, path) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(f"{key} must be a number in [{rng[0]}, {rng[1]}]; got {value!r}", path)
    if math.isnan(value) or not rng[0] <= value <= rng[1]:
        raise _fail(f"{key} must be in [{rng[0]}, {rng[1]}]; got {value!r}", path)


def _check_tuple(value: Any, sec: str, name: str, path) -> None:
    key = f"{sec}.{name}"
    rng = _TUPLE_RULES[(sec, name)]
    if not isinstance(value, tuple):
        raise _fail(f"{key} must be an array; got {value!r}", path)
    def leaves(v):
        for x in v:
            if isinstance(x, tuple):
                yield from leaves(x)
            else:
                yield x

    for v in leaves(value):
        _check_number(v, key, rng, path)
    if not value:
        return
    try:
        a = np.asarray(value, dtype=np.float64)
    except ValueError:
        raise _fail(f"{key} must be a rectangular array of numbers", path) from None
    if name == "curve":
        if a.ndim != 2 or a.shape[1] != 2 or len(a) < 1:
            raise _fail(f"{key} must be a list of [in, out] pairs; got shape {a.shape}", path)
        if np.any(np.diff(a[:, 0]) <= 0):
            raise _fail(f"{key}: the 'in' values must be strictly increasing", path)
        if np.any(np.diff(a[:, 1]) < 0):
            raise _fail(f"{key}: the 'out' values must not decrease (a tone curve is monotone)", path)
    elif name in ("hue_shift", "sat_scale", "val_scale"):
        if a.ndim != 2 or a.shape[1] < 3 or a.shape[0] < 1:
            raise _fail(f"{key} must be a table [[...], ...] of value rows x at least 3 hues; "
                        f"got shape {a.shape}", path)
    elif name in ("mix", "tint"):
        if a.shape != (3,):
            raise _fail(f"{key} must be 3 numbers (r, g, b); got {value!r}", path)
        if name == "mix" and abs(a.sum()) < 1e-3:
            raise _fail(f"{key} must not sum to 0", path)
        if name == "tint" and a @ LUMA <= 1e-3:
            raise _fail(f"{key} must have some luminance", path)


def _check_section(section: Any, sec: str, path) -> None:
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        key = f"{sec}.{f.name}"
        choices, rng = f.metadata.get("choices"), f.metadata.get("range")
        if isinstance(f.default, tuple):
            _check_tuple(value, sec, f.name, path)
        elif choices is not None:
            if value not in choices or type(value) is not type(f.default):
                raise _fail(f"{key} must be one of {', '.join(map(str, choices))}; got {value!r}", path)
        elif rng is not None:
            _check_number(value, key, rng, path)
        elif isinstance(f.default, str) and not isinstance(value, str):
            raise _fail(f"{key} must be a string; got {value!r}", path)
    if sec == "colour":
        shapes = {np.asarray(t).shape for t in (section.hue_shift, section.sat_scale, section.val_scale) if t}
        if len(shapes) > 1:
            raise _fail(f"colour.hue_shift, sat_scale and val_scale differ in shape: {shapes}", path)
    if sec == "monochrome" and section.filter == "custom" and not section.mix:
        raise _fail("monochrome.mix is needed with filter = \"custom\"", path)


def validate_look(look: Look, path: str | os.PathLike | None = None) -> Look:
    """Check every field of ``look`` against its declaration; return it or raise InvalidParams
    naming the file (``path``) and the key (``section.field``)."""
    if not isinstance(look, Look):
        raise InvalidParams(f"expected a Look, got {type(look).__name__}", path)
    if look.version != LOOK_VERSION:
        raise _fail(f"version must be {LOOK_VERSION} in a Look (files migrate); got {look.version!r}", path)
    for key in ("name", "summary"):
        if not isinstance(getattr(look, key), str):
            raise _fail(f"{key} must be a string", path)
    for sec in SECTIONS:
        section = getattr(look, sec)
        expected = type(Look.__dataclass_fields__[sec].default)
        if not isinstance(section, expected):
            raise _fail(f"{sec} must be a {expected.__name__}; got {type(section).__name__}", path)
        _check_section(section, sec, path)
    return look


# ==================================================================================================
# Files: TOML in, TOML out, versions, finding looks
# ==================================================================================================


def _migrate_1_to_2(data: dict, path) -> dict:
    """Version 1 is the flat layout (one table, no sections):
    ``ev, contrast, saturation, vibrance, vignette (EV added), grain (EV), sharpen (amount),
    monochrome (bool), filter``. Version 2 puts them in sections."""
    where = {"ev": ("exposure", "ev"), "contrast": ("tone", "contrast"),
             "saturation": ("colour", "saturation"), "vibrance": ("colour", "vibrance"),
             "vignette": ("vignette", "amount"), "grain": ("grain", "strength"),
             "sharpen": ("sharpen", "amount"), "monochrome": ("monochrome", "enabled"),
             "filter": ("monochrome", "filter")}
    out: dict[str, Any] = {"version": 2}
    for key, value in data.items():
        if key in ("version",):
            continue
        if key in ("name", "summary"):
            out[key] = value
        elif key in where:
            sec, name = where[key]
            out.setdefault(sec, {})[name] = value
        else:
            raise _fail(_unknown(key, [*where, "name", "summary", "version"], "version-1 key"), path)
    return out


#: version -> function upgrading a look file's dict from that version to the next.
MIGRATIONS: dict[int, Callable[[dict, Any], dict]] = {1: _migrate_1_to_2}


def migrate(data: dict, path: str | os.PathLike | None = None) -> dict:
    """Upgrade a look file's parsed TOML (a dict with ``version``) to :data:`LOOK_VERSION`.

    Raises InvalidParams for a missing or non-integer version, or one newer than this rotpunkt knows.
    The input dict is not modified.
    """
    if not isinstance(data, dict):
        raise _fail("a look file must be a TOML table", path)
    v = data.get("version")
    if v is None:
        raise _fail(f"no 'version' key (this rotpunkt writes version = {LOOK_VERSION})", path)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(f"version must be an integer; got {v!r}", path)
    if v > LOOK_VERSION:
        raise _fail(f"look version {v} is newer than this rotpunkt's ({LOOK_VERSION}); update rotpunkt", path)
    if v < min(MIGRATIONS, default=LOOK_VERSION):
        raise _fail(f"unknown look version {v}", path)
    data = dict(data)
    while v < LOOK_VERSION:
        data = MIGRATIONS[v](data, path)
        v += 1
    return data


def _unknown(key: str, known, what: str = "key") -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
    return f"unknown {what} {key!r}{hint}"


def _coerce(value: Any, default: Any, key: str, path) -> Any:
    """TOML value -> the field's Python type (int -> float, lists -> nested tuples)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _fail(f"{key} must be true or false; got {value!r}", path)
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(f"{key} must be a number; got {value!r}", path)
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(f"{key} must be an integer; got {value!r}", path)
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise _fail(f"{key} must be a string; got {value!r}", path)
        return value
    if isinstance(default, tuple):
        def tup(v):
            if isinstance(v, list):
                return tuple(tup(x) for x in v)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _fail(f"{key} must hold numbers; got {v!r}", path)
            return float(v)
        if not isinstance(value, list):
            raise _fail(f"{key} must be an array; got {value!r}", path)
        return tup(value)
    raise AssertionError(key)  # pragma: no cover


def look_from_dict(data: dict, path: str | os.PathLike | None = None) -> Look:
    """Build and validate a :class:`Look` from a parsed look file (any known version).

    Unknown keys and out-of-range values raise InvalidParams naming ``path`` and the key. A relative
    ``colour.lut`` is resolved against ``path``'s folder.
    """
    data = migrate(data, path)
    fields = {f.name: f for f in dataclasses.fields(Look)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise _fail(_unknown(key, fields), path)
        default = fields[key].default
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise _fail(f"[{key}] must be a table", path)
            sfields = {f.name: f for f in dataclasses.fields(default)}
            skw = {}
            for k, v in value.items():
                if k not in sfields:
                    raise _fail(_unknown(f"{key}.{k}", [f"{key}.{n}" for n in sfields]), path)
                skw[k] = _coerce(v, sfields[k].default, f"{key}.{k}", path)
            if key == "colour" and skw.get("lut") and path is not None and not os.path.isabs(skw["lut"]):
                skw["lut"] = os.path.normpath(os.path.join(os.path.dirname(os.fspath(path)), skw["lut"]))
            kwargs[key] = type(default)(**skw)
        else:
            kwargs[key] = _coerce(value, default, key, path)
    if "name" not in kwargs and path is not None:
        kwargs["name"] = Path(path).stem
    if "summary" not in kwargs:
        kwargs["summary"] = ""
    look = validate_look(Look(**kwargs), path)
    if look.colour.lut:  # fail now, naming the LUT, rather than mid-develop
        try:
            _load_cube_cached(look.colour.lut)
        except RotpunktError as err:
            raise _fail(f"colour.lut {look.colour.lut!r}: {err.reason}", path) from None
    return look


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        r = repr(v)
        return r if ("." in r or "e" in r or "inf" in r or "nan" in r) else r + ".0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v))  # pragma: no cover


def look_to_toml(look: Look, *, header: str = "") -> str:
    """TOML text of ``look`` (only the fields that differ from the defaults), loadable by
    :func:`load_look`. ``header`` lines are written as comments at the top."""
    validate_look(look)
    lines = [f"# {h}".rstrip() for h in header.splitlines()] if header else []
    lines += [f"version = {LOOK_VERSION}", f"name = {_toml_value(look.name)}",
              f"summary = {_toml_value(look.summary)}"]
    for sec in SECTIONS:
        section = getattr(look, sec)
        changed = [(f.name, getattr(section, f.name)) for f in dataclasses.fields(section)
                   if getattr(section, f.name) != f.default]
        if changed:
            lines += ["", f"[{sec}]"] + [f"{k} = {_toml_value(v)}" for k, v in changed]
    return "\n".join(lines) + "\n"


def user_looks_dir() -> Path:
    """The user's look folder: ``$ROTPUNKT_LOOKS``, else ``$XDG_CONFIG_HOME/rotpunkt/looks``, else
    ``~/.config/rotpunkt/looks``."""
    env = os.environ.get("ROTPUNKT_LOOKS")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "rotpunkt" / "looks"


def _look_files() -> dict[str, Path]:
    """name -> file; a user look of the same name as a shipped one takes its place."""
    found: dict[str, Path] = {}
    for folder in (SHIPPED_DIR, user_looks_dir()):
        try:
            files = sorted(folder.glob("*.toml"))
        except OSError:
            continue
        for f in files:
            found[f.stem] = f
    return found


def list_looks() -> list[tuple[str, str, str]]:
    """Every look by name: ``[(name, path, summary), ...]`` sorted by name, shipped and user looks
    (a user look shadows a shipped one of the same name). A file that does not load is listed with
    its error as summary."""
    out = []
    for name, path in sorted(_look_files().items()):
        try:
            summary = _read_look_file(path).summary
        except RotpunktError as err:
            summary = f"(invalid: {err.reason})"
        out.append((name, str(path), summary))
    return out


def _read_look_file(path: Path) -> Look:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InvalidParams("no such look file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParams(f"not valid TOML: {exc}", path) from None
    except UnicodeDecodeError:
        raise InvalidParams("not a UTF-8 text file", path) from None
    except OSError as exc:
        raise InvalidParams(f"cannot read the look file: {exc.strerror or exc}", path) from None
    return look_from_dict(data, path)


def load_look(name_or_path: str | os.PathLike | Look | None = None) -> Look:
    """A look by name (user folder, then shipped), by path (anything with a ``/`` or ending in
    ``.toml``), or a :class:`Look` (validated and returned). None gives :data:`DEFAULT_LOOK`."""
    if name_or_path is None:
        name_or_path = DEFAULT_LOOK
    if isinstance(name_or_path, Look):
        return validate_look(name_or_path)
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InvalidParams(f"a look is a name, a path or a Look; got {type(name_or_path).__name__}")
    s = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or s.endswith(".toml") or "/" in s or os.sep in s:
        return _read_look_file(Path(s).expanduser())
    files = _look_files()
    if s not in files:
        raise InvalidParams(_unknown(s, files, "look"))
    return _read_look_file(files[s])


# ==================================================================================================
# Scalar maths shared by the kernels and the tests
# ==================================================================================================


def _smoothstep(t):
    return t * t * (3.0 - 2.0 * t)


def _monotone_cubic(points: np.ndarray):
    """Fritsch-Carlson monotone cubic through ``points`` (n, 2), extended with (0, 0) and (1, 1)
    when they are not given; returns f(x) for x in [0, 1] (float64, clamped outside)."""
    p = np.asarray(points, np.float64)
    if p[0, 0] > 0:
        p = np.vstack([[0.0, 0.0], p])
    if p[-1, 0] < 1:
        p = np.vstack([p, [1.0, 1.0]])
    x, y = p[:, 0], p[:, 1]
    h = np.diff(x)
    d = np.diff(y) / h
    m = np.empty_like(y)
    m[0], m[-1] = d[0], d[-1]
    m[1:-1] = (d[:-1] + d[1:]) / 2
    for k in range(len(d)):  # Fritsch & Carlson 1980, steps 2-4
        if d[k] == 0:
            m[k] = m[k + 1] = 0.0
            continue
        a, b = m[k] / d[k], m[k + 1] / d[k]
        if a < 0:
            m[k] = 0.0
            a = 0.0
        if b < 0:
            m[k + 1] = 0.0
            b = 0.0
        s = a * a + b * b
        if s > 9.0:
            tau = 3.0 / math.sqrt(s)
            m[k], m[k + 1] = tau * a * d[k], tau * b * d[k]

    def f(t):
        t = np.clip(np.asarray(t, np.float64), x[0], x[-1])
        k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(h) - 1)
        u = (t - x[k]) / h[k]
        h00, h10 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u
        h01, h11 = -2 * u**3 + 3 * u**2, u**3 - u**2
        return h00 * y[k] + h10 * h[k] * m[k] + h01 * y[k + 1] + h11 * h[k] * m[k + 1]

    return f


def _tone_constants(p: ToneLook) -> tuple[float, float, float]:
    """(exponent c, white point W = q(white), shoulder start ys) of :func:`tone_curve`."""
    g, b, t = GREY, p.black, p.toe
    toe_slope = 1.0 + t / (g + t)  # log-log slope of the toe at grey
    c = p.contrast / (g / (g - b) * toe_slope)
    x1 = max(p.white - b, 0.0) * (g / (g - b))
    w = g * (x1 / g) ** c
    if t > 0:
        w = w * w / (w + t) * ((g + t) / g)
    return c, w, 1.0 - p.shoulder * (1.0 - g)


def tone_curve(x, p: ToneLook) -> np.ndarray:
    """The tone curve T (float64): scene-linear level x >= 0 (the max of R, G, B) -> display-linear
    level in [0, 1]. Monotone non-decreasing. See :class:`ToneLook`; this is the reference the
    image kernel tabulates."""
    x = np.asarray(x, np.float64)
    g, b, t = GREY, p.black, p.toe
    c, w, ys = _tone_constants(p)

    def pre(v):
        x1 = np.maximum(v - b, 0.0) * (g / (g - b))
        q = g * np.power(x1 / g, c)
        if t > 0:
            q = q * q / (q + t) * ((g + t) / g)
        return q

    q = pre(x)
    if w > 1.0 and ys < 1.0:
        # rational shoulder from ys to the white point: value and slope 1 continuous at ys, 1 at w
        qc = np.clip(q, ys, w)
        u = (qc - ys) / (1.0 - ys)
        frac = (qc - ys) / (w - ys)
        y = np.where(q <= ys, q, ys + (1.0 - ys) * u / (1.0 + u - frac))
    else:
        y = np.minimum(q, 1.0)
    y = np.clip(y, 0.0, 1.0)
    y = p.lift + (1.0 - p.lift) * y
    if p.curve:
        f = _monotone_cubic(np.asarray(p.curve))
        y = cm.srgb_decode(f(cm.srgb_encode(y)))
    return np.clip(y, 0.0, 1.0)


#: (lo, hi, n) of the tone table over log2 of the level
_TONE_LUT = (-24.0, 8.0, 8193)


@lru_cache(maxsize=64)
def _tone_table(p: ToneLook) -> tuple[np.ndarray, np.ndarray]:
    lo, hi, n = _TONE_LUT
    u = np.linspace(lo, hi, n)
    t = tone_curve(np.exp2(u), p).astype(np.float32)
    return t, np.append(np.diff(t), np.float32(0)).astype(np.float32)


def wb_shift_matrix(p: ExposureLook) -> np.ndarray:
    """(3, 3) float64 on linear Rec.2020: exposure gain times a Bradford adaptation from D65 to the
    white at D65's (mired + warmth, tint - tint): neutral becomes that white's colour (Y kept)."""
    gain = 2.0 ** p.ev
    if p.warmth == 0 and p.tint == 0:
        return np.eye(3) * gain
    t65, tint65 = cm.xy_to_temperature_tint(cm.D65_XY)
    mired = 1e6 / t65 + p.warmth
    dst = cm.temperature_tint_to_xy(1e6 / mired, tint65 - p.tint)
    m = np.linalg.inv(_REC2020_TO_XYZ) @ cm.bradford_matrix(cm.D65_XY, dst) @ _REC2020_TO_XYZ
    return m * gain


_FILTERS = {  # transmission of each Rec.2020 primary, a spectral-style approximation of the filters
    "none": (1.0, 1.0, 1.0),       # panchromatic
    "red": (1.0, 0.12, 0.02),      # deep red (like a #25): dark skies, bright skin
    "orange": (1.0, 0.45, 0.04),   # like a #21
    "yellow": (1.0, 0.85, 0.25),   # like a #8: slightly darker blue sky
    "green": (0.35, 1.0, 0.30),    # like a #11: lighter foliage, darker skin and red
    "blue": (0.10, 0.30, 1.0),     # like a #47
}


def monochrome_weights(p: MonochromeLook) -> np.ndarray:
    """(3,) weights on linear Rec.2020 summing to 1 (so neutral greys keep their level): the custom
    mix, or luminance weights times the filter's transmission of each primary."""
    if p.filter == "custom":
        w = np.asarray(p.mix, np.float64)
    else:
        w = LUMA * np.asarray(_FILTERS[p.filter])
    return w / w.sum()


def _toning_direction(hue: float, strength: float) -> np.ndarray:
    """Unit-luminance RGB of a colour of ``hue`` (degrees, HSV on linear Rec.2020) and saturation
    ``strength``/2, minus 1: adding m * w * d tints without changing the level at first order."""
    rgb = cm.hsv_to_rgb_dng(np.array([hue / 60.0, 0.5 * strength, 1.0]))
    return rgb / (rgb @ LUMA) - 1.0


def _vignette_ev(p: VignetteLook, kept: float | None) -> float:
    return p.amount - (kept or 0.0) if p.mode == "total" else p.amount


def vignette_gain(shape: tuple[int, int], p: VignetteLook, kept: float | None = None,
                  ys=None, xs=None) -> np.ndarray:
    """Gain (float64, len(ys) x len(xs)) of the vignette on an image of ``shape`` (H, W) at pixel
    rows ``ys`` and columns ``xs`` (default: all; fractional positions allowed). Pixel (y, x) has its
    centre at (x + 0.5, y + 0.5); r = distance to the image centre / half diagonal (1 at the image
    corners); gain = 2 ** (a v(r)), v(r) = smoothstep((r - radius) / feather) / smoothstep((1 - radius) /
    feather), a = amount (mode "add") or amount - kept (mode "total")."""
    h, w = shape
    ys = np.arange(h) if ys is None else np.asarray(ys, np.float64)
    xs = np.arange(w) if xs is None else np.asarray(xs, np.float64)
    half = 0.5 * math.hypot(h, w)
    dy = ((ys + 0.5 - h / 2) / half) ** 2
    dx = ((xs + 0.5 - w / 2) / half) ** 2
    r = np.sqrt(dy[:, None] + dx[None, :])
    norm = float(_smoothstep(min(1.0, (1.0 - p.radius) / p.feather)))
    v = _smoothstep(np.clip((r - p.radius) / p.feather, 0.0, 1.0)) / norm
    return np.exp2(v * _vignette_ev(p, kept))


# ==================================================================================================
# Engine: kernels that work in place on planar row strips (3, rows, W); some first collect a
# full-image quantity. Planar, so that every numpy operation runs on contiguous float32 (an
# interleaved (rows, W, 3) strip costs 10-30x more per operation in strided or broadcast loops).
# ==================================================================================================


def _spans(h: int, w: int) -> list[tuple[int, int]]:
    rows = max(1, _STRIP_PIXELS // max(w, 1))
    return [(y, min(y + rows, h)) for y in range(0, h, rows)]


def _parallel(fn, spans, workers: int) -> None:
    if workers <= 1 or len(spans) <= 1:
        for sp in spans:
            fn(*sp)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(spans), os.cpu_count() or 1)) as ex:
        for _ in ex.map(lambda sp: fn(*sp), spans):
            pass


def _luma(p: np.ndarray) -> np.ndarray:
    """Luminance (rows, W) of a planar strip (3, rows, W) (no BLAS: its threads thrash on 3-wide data)."""
    y = p[0] * _LUMA32[0]
    y += p[1] * _LUMA32[1]
    y += p[2] * _LUMA32[2]
    return y


def _max3(p: np.ndarray) -> np.ndarray:
    m = np.maximum(p[0], p[1])
    np.maximum(m, p[2], out=m)
    return m


def row_step(s: int) -> int:
    """Rows a block mean of s x s blocks uses: every row for s < 4, every other row from the block's
    first for s < 8, every fourth for larger blocks (still >= 2 rows of s pixels each). That cuts the
    work of the statistics passes of local tone mapping and halation by 2-4x; the compiled engine
    uses the same rows."""
    return 1 if s < 4 else 2 if s < 8 else 4


def rows_used(h: int, s: int) -> np.ndarray:
    """Number of rows each block of ``s`` rows (partial at the bottom) of an image ``h`` rows high
    contributes to its mean: those y with (y mod s) mod row_step(s) == 0 (at least one per block)."""
    st = row_step(s)
    n = np.minimum(np.arange(0, h, s) + s, h) - np.arange(0, h, s)
    return (n + st - 1) // st


def _per_pixel(block_sums: np.ndarray, h: int, w: int, s: int) -> np.ndarray:
    """Sums over the used pixels of each s x s block of an (h, w) image -> their means."""
    nc = np.diff(np.append(np.arange(0, w, s), w))
    return block_sums / (rows_used(h, s)[:, None] * nc[None, :])


class _BlockMean:
    """Mean of each s x s block of an (H, W) image (partial blocks at the far edges) over the rows
    :func:`row_step` picks, gathered strip by strip: ``add`` sums each strip row over column blocks
    (no two strips share a row), ``mean`` sums the rows and divides (float64)."""

    def __init__(self, shape: tuple[int, int], s: int):
        self.h, self.w = shape
        self.s = s
        self.cs = np.arange(0, self.w, s)
        self.cols = np.empty((self.h, len(self.cs)), np.float32)

    def add(self, a: np.ndarray, y0: int, y1: int) -> None:
        self.cols[y0:y1] = np.add.reduceat(a, self.cs, axis=1) if self.s > 1 else a

    def mean(self) -> np.ndarray:
        st = row_step(self.s)
        rows = self.cols.astype(np.float64)
        if st > 1:
            rows[(np.arange(self.h) % self.s) % st != 0] = 0.0
        return _per_pixel(np.add.reduceat(rows, np.arange(0, self.h, self.s), axis=0), self.h, self.w, self.s)


def _block_mean(a: np.ndarray, s: int) -> np.ndarray:
    """Mean of each s x s block of a 2-D array (partial blocks at the far edges), float64."""
    b = _BlockMean(a.shape, s)
    b.add(a, 0, a.shape[0])
    return b.mean()


class _Upsampler:
    """Bilinear upsampling of a low-resolution field, row strip by row strip: full-res pixel y sits
    at low-res coordinate (y + 0.5) / scale - 0.5 (clamped), or with ``corners`` at
    y (hl - 1) / (H - 1) (the first and last nodes on the first and last pixels). Along x the left
    neighbour and the difference to the right one are spread with ``np.repeat`` (the left index
    never decreases), ~10x cheaper than a gather."""

    def __init__(self, low_shape: tuple[int, int], full_shape: tuple[int, int], scale: float = 1.0,
                 corners: bool = False, keep_variance: bool = False):
        self.hl, self.wl = low_shape
        self.full = full_shape
        self.scale, self.corners = float(scale), corners
        tx = np.clip(self._coord(np.arange(full_shape[1]), self.wl, full_shape[1]), 0, self.wl - 1)
        x0 = np.minimum(tx.astype(np.intp), max(self.wl - 2, 0))
        self.counts = np.bincount(x0, minlength=self.wl)
        fx = tx - x0
        # keep_variance: weights divided by sqrt(w0^2 + w1^2), so that interpolated white noise keeps
        # its variance everywhere (plain bilinear halves it midway between nodes)
        self.keep = keep_variance
        cx = np.sqrt((1 - fx) ** 2 + fx**2) if keep_variance else np.ones_like(fx)
        self.fx = (fx / cx).astype(np.float32)
        self.cx = None if not keep_variance else (1 / cx).astype(np.float32)

    def _coord(self, i: np.ndarray, nl: int, n: int) -> np.ndarray:
        if self.corners:
            return i * ((nl - 1) / (n - 1)) if n > 1 else i * 0.0
        return (i + 0.5) / self.scale - 0.5

    def rows(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ty = np.clip(self._coord(np.arange(y0, y1), self.hl, self.full[0]), 0, self.hl - 1)
        i0 = np.minimum(ty.astype(np.intp), max(self.hl - 2, 0))
        i1 = np.minimum(i0 + 1, self.hl - 1)
        fy = (ty - i0).astype(np.float32)[:, None]
        return i0, i1, fy

    def __call__(self, f: np.ndarray, y0: int, y1: int, row0: int = 0) -> np.ndarray:
        """Rows y0:y1 of the upsampled field(s): f (hl, wl) -> (rows, W), or (k, hl, wl) -> (k, rows, W).
        ``row0``: f holds only the field's rows from row0 on (those rows y0:y1 need)."""
        i0, i1, fy = self.rows(y0, y1)
        a = f[..., i0 - row0, :]
        r = f[..., i1 - row0, :] - a
        r *= fy
        r += a
        if self.keep:
            r /= np.sqrt((1 - fy) ** 2 + fy**2)
        rd = np.empty((2, *r.shape), np.float32)  # the left value and the step to the right one
        rd[0] = r
        rd[1, ..., :-1] = r[..., 1:] - r[..., :-1]
        rd[1, ..., -1] = 0
        out = np.repeat(rd, self.counts, axis=-1)
        out[1] *= self.fx
        if self.cx is not None:
            out[0] *= self.cx
        out[0] += out[1]
        return out[0]


class _Kernel:
    """One stage on planar row strips. ``collects``: before its strips run, it sees every strip of
    its input (``collect``), then ``finish`` computes what it needs from the whole image."""

    collects = False

    def collect(self, p: np.ndarray, y0: int, y1: int) -> None:  # pragma: no cover - interface
        pass

    def finish(self) -> None:
        pass

    def strip(self, p: np.ndarray, y0: int, y1: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class _Matrix(_Kernel):
    def __init__(self, m: np.ndarray):
        self.m = np.asarray(m, np.float32)
        d = np.diag(self.m)
        self.gain = d[0] if np.all(self.m == np.diag(d)) and d[0] == d[1] == d[2] else None

    def strip(self, p, y0, y1):
        if self.gain is not None:
            p *= self.gain
            return
        m = self.m
        r, g, b = p[0].copy(), p[1].copy(), p[2]
        for c in range(3):
            o = p[c]
            if c < 2:
                np.multiply(r, m[c, 0], out=o)
                o += g * m[c, 1]
                o += b * m[c, 2]
            else:
                o *= m[2, 2]
                o += r * m[2, 0]
                o += g * m[2, 1]


class _LocalTone(_Kernel):
    """Base/detail split of log2 luminance with a self-guided filter computed at 1/sub resolution.

    Per pixel: I = log2 Y; base q = a I + b with (a, b) the guided filter's coefficients averaged
    over windows, upsampled bilinearly (the fast guided filter). With d = q - log2(0.18) the output
    log luminance is I - c(d) + (detail - 1)(I - q), where c(d) = strength d (knee 0) or
    strength (m(d - knee) - m(-d - knee)), m(x) = (x + sqrt(x^2 + 1/16)) / 2 a smooth max(x, 0)
    (odd, c(0) = 0, slope of d - c(d) between 1 - strength and 1): the base beyond the knee is
    compressed towards grey, the detail I - q kept.

    No halos: the coefficients are averaged over radius - 1 low-res pixels, so that together with
    the one low-res pixel the bilinear upsampling reaches, a pixel only uses windows within the
    guided filter's radius of it. Windows that straddle a strong edge have a ~ 1, b ~ 0 (they
    reproduce I), and no window from the far side of the edge contributes: the base follows the step.
    """

    collects = True
    SOFT = 0.25  # EV, the width of the knee's rounding

    def __init__(self, p: LocalToneLook, shape: tuple[int, int]):
        self.p, self.shape = p, shape
        h, w = shape
        rpx = p.radius * min(h, w)
        self.sub = int(min(32, max(1, round(rpx / 4.0))))
        self.r = max(2, int(round(rpx / self.sub)))
        self.logy = np.empty(shape, np.float32)
        self.blocks = _BlockMean(shape, self.sub)
        self.anchor = np.float32(math.log2(GREY))

    def collect(self, p, y0, y1):
        y = _luma(p)
        np.maximum(y, np.float32(2.0**-24), out=y)
        np.log2(y, out=self.logy[y0:y1])
        self.blocks.add(self.logy[y0:y1], y0, y1)

    def finish(self):
        self.finish_low(self.blocks.mean())

    def finish_low(self, low: np.ndarray) -> None:
        """The guided filter's coefficients (2, hl, wl) from the block means ``low`` of log2 Y."""
        p = self.p
        size = 2 * self.r + 1
        mean = ndimage.uniform_filter(low, size, mode="reflect")
        var = np.maximum(ndimage.uniform_filter(low * low, size, mode="reflect") - mean * mean, 0.0)
        a = var / (var + p.edge**2)
        b = mean * (1.0 - a)
        avg = 2 * (self.r - 1) + 1 if self.sub > 1 else size
        self.ab = np.stack([ndimage.uniform_filter(a, avg, mode="reflect"),
                            ndimage.uniform_filter(b, avg, mode="reflect")]).astype(np.float32)
        self.up = _Upsampler(low.shape, self.shape, self.sub) if self.sub > 1 else None

    def strip(self, p, y0, y1):
        lk = self.p
        ly = self.logy[y0:y1]
        ab = self.ab[:, y0:y1] if self.up is None else self.up(self.ab, y0, y1)
        q = ab[0] * ly
        q += ab[1]
        d = q - self.anchor
        if lk.knee == 0:
            g = d
            g *= np.float32(-lk.strength)
        else:  # m(d - k) - m(-d - k) = d + (sqrt((d - k)^2 + s^2) - sqrt((d + k)^2 + s^2)) / 2
            k, s2 = np.float32(lk.knee), np.float32(self.SOFT**2)
            t1 = d - k
            np.multiply(t1, t1, out=t1)
            t1 += s2
            np.sqrt(t1, out=t1)
            t2 = d + k
            np.multiply(t2, t2, out=t2)
            t2 += s2
            np.sqrt(t2, out=t2)
            t1 -= t2
            t1 *= np.float32(0.5)
            t1 += d
            g = t1
            g *= np.float32(-lk.strength)
        if lk.detail != 1:
            t = ly - q
            t *= np.float32(lk.detail - 1)
            g += t
        np.exp2(g, out=g)
        p *= g


class _Tone(_Kernel):
    def __init__(self, p: ToneLook):
        t, dt = _tone_table(p)
        self.lut = np.stack([t, dt], axis=1).view(np.complex64).ravel()  # one gather for both
        lo, hi, n = _TONE_LUT
        self.lo, self.step = np.float32(lo), np.float32((n - 1) / (hi - lo))
        self.nmin, self.nmax = np.float32(2.0**lo), np.float32(2.0 ** (hi - 0.5 / self.step))

    def strip(self, p, y0, y1):
        n = _max3(p)
        np.clip(n, self.nmin, self.nmax, out=n)  # u in [0, n - 1.5]: i + 1 stays in the table
        u = np.log2(n)
        u -= self.lo
        u *= self.step
        fl = np.floor(u)  # (u - int(u) would cast int32 to float32 through a fresh buffer)
        u -= fl
        td = np.take(self.lut, fl.astype(np.int32), mode="clip")
        t = td.imag * u
        t += td.real
        t /= n
        p *= t


class _Saturation(_Kernel):
    """rgb = Y + k (rgb - Y), k = saturation (1 + vibrance (1 - S)), S = (max - min) / max. Gains
    above 1 are softly limited so that no channel leaves [0, 1] (no clipping, no hue change): with
    e = k - 1 and em = kmax - 1 (kmax: the gain at which the max channel reaches 1 or the min 0),
    the gain used is 1 + e / (1 + (e / em)^4)^(1/4)."""

    def __init__(self, p: ColourLook):
        self.sat, self.vib = np.float32(p.saturation), np.float32(p.vibrance)

    def strip(self, p, y0, y1):
        f32 = np.float32
        y = _luma(p)
        mx = _max3(p)
        mn = np.minimum(p[0], p[1])
        np.minimum(mn, p[2], out=mn)
        if self.vib != 0:  # k = sat (1 + vib (1 - S)) = sat (1 + vib mn / mx)
            k = np.maximum(mx, f32(1e-12))
            np.divide(mn, k, out=k)
            np.clip(k, 0, 1, out=k)
            k *= self.sat * self.vib
            k += self.sat
        else:
            k = np.full_like(y, self.sat)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # Y lies between min and max (positive weights summing to 1)
            em = np.subtract(1, y)
            np.divide(em, np.subtract(mx, y, out=mx), out=em)
            np.subtract(y, mn, out=mn)
            np.divide(y, mn, out=mn)
            np.fmin(em, mn, out=em)
            em -= 1
            np.fmax(em, 0, out=em)  # NaN (grey) -> 0
            e = np.subtract(k, 1, out=mx)
            np.maximum(e, 0, out=e)
            em += f32(1e-30)
            r = np.divide(e, em, out=em)
            np.multiply(r, r, out=r)
            np.multiply(r, r, out=r)
            r += 1
            np.sqrt(r, out=r)
            np.sqrt(r, out=r)
            np.divide(e, r, out=e)
        np.minimum(k, 1, out=k)
        k += e
        p -= y
        p *= k
        p += y


def _hsv_table(p: ColourLook) -> HueSatMap:
    shape = np.asarray(next(t for t in (p.hue_shift, p.sat_scale, p.val_scale) if t)).shape
    hue = np.asarray(p.hue_shift, np.float32) if p.hue_shift else np.zeros(shape, np.float32)
    sat = np.asarray(p.sat_scale, np.float32) if p.sat_scale else np.ones(shape, np.float32)
    val = np.asarray(p.val_scale, np.float32) if p.val_scale else np.ones(shape, np.float32)
    cell = np.stack([hue, sat, val], axis=-1)  # (V, H, 3)
    return HueSatMap(table=np.ascontiguousarray(np.stack([cell, cell], axis=2)), encoding=1)


def _srgb_decode32(e: np.ndarray) -> np.ndarray:
    """sRGB decoding of a float32 array (IEC 61966-2-1), new float32 array."""
    lin = e * np.float32(1 / 12.92)
    t = e + np.float32(0.055)
    t *= np.float32(1 / 1.055)
    np.maximum(t, 0, out=t)
    np.power(t, np.float32(2.4), out=t)
    np.copyto(lin, t, where=e > np.float32(0.04045))
    return lin


def _by_chunks(fn, p: np.ndarray) -> None:
    """Run ``fn`` in place on (3, m) pieces of a planar strip of at most _CHUNK pixels: kernels with
    many temporaries run much faster when each temporary stays small (fewer page faults)."""
    flat = p.reshape(3, -1)
    for k in range(0, flat.shape[1], _CHUNK):
        fn(flat[:, k:k + _CHUNK])


def _mat3(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(3, n) planar -> m @ x, float32."""
    out = np.empty_like(x)
    for c in range(3):
        o = out[c]
        np.multiply(x[0], m[c, 0], out=o)
        o += x[1] * m[c, 1]
        o += x[2] * m[c, 2]
    return out


class _HsvTable(_Kernel):
    """The DNG LookTable model (the SDK's ``RefBaselineHueSatMap``, as rotpunkt.stages.colour applies
    it) with sRGB-encoded value divisions and saturation-independent entries, on display-linear
    Rec.2020, planar: HSV with hue in [0, 6); (hue shift, saturation scale, value scale)
    interpolated bilinearly in hue (wrapping) and encoded value (clamped); h += shift / 60,
    s = min(s scale, 1), encoded v times its scale; back to RGB. Pixels with a negative component or
    all components 0 pass unchanged."""

    def __init__(self, p: ColourLook):
        t = _hsv_table(p).table[:, :, 0, :]  # (V, H, 3)
        self.nv, self.nh = t.shape[0], t.shape[1]
        flat = t.reshape(-1, 3).astype(np.float32)
        self.cols = [np.ascontiguousarray(flat[:, k]) for k in range(3)]
        self.cols[0] = self.cols[0] * np.float32(6.0 / 360.0)  # hue shift in sextants

    def strip(self, p, y0, y1):
        _by_chunks(self.chunk, p)

    def chunk(self, p: np.ndarray) -> None:
        f32 = np.float32
        r, g, b = p[0], p[1], p[2]
        v = _max3(p)
        mn = np.minimum(r, g)
        np.minimum(mn, b, out=mn)
        ok = (mn >= 0) & (v > 0)
        rng = v - mn
        with np.errstate(divide="ignore", invalid="ignore"):
            s = rng / v
            is_r = r == v
            is_g = ~is_r & (g == v)
            is_b = ~(is_r | is_g)
            num = (g - b) * is_r
            num += (b - r + 2 * rng) * is_g
            num += (r - g + 4 * rng) * is_b
            h = num / rng
        h[rng <= 0] = 0
        s[~ok] = 0
        h += f32(6) * (h < 0)
        # table coordinates
        hs = h * f32(self.nh / 6.0)
        h0 = hs.astype(np.int32)
        np.minimum(h0, self.nh - 1, out=h0)
        hf = hs - h0
        h1 = h0 + 1
        h1[h1 >= self.nh] = 0
        venc = cm.srgb_encode_fast(v, workers=1)  # values above 1 keep the formula's extension
        if self.nv > 1:
            vs = np.clip(venc, 0, 1)
            vs *= f32(self.nv - 1)
            v0 = vs.astype(np.int32)
            np.minimum(v0, self.nv - 2, out=v0)
            vf = vs - v0
            rows = ((v0 * self.nh, 1 - vf), ((v0 + 1) * self.nh, vf))
        else:
            rows = ((0, None),)
        acc = []
        for col in self.cols:
            out = np.zeros_like(h)
            for base, wv in rows:
                for hi, wh in ((h0, 1 - hf), (h1, hf)):
                    wgt = wh if wv is None else wh * wv
                    out += np.take(col, hi + base) * wgt
            acc.append(out)
        h += acc[0]
        h %= f32(6)
        s *= acc[1]
        np.minimum(s, 1, out=s)
        venc *= acc[2]
        v = _srgb_decode32(venc)
        vs_ = v * s
        for c, centre in ((0, 3), (1, 2), (2, 4)):
            # r = v - vs clip(2 - |h - 3|, 0, 1); g, b = v - vs clip(|h - centre| - 1, 0, 1)
            t = np.abs(h - f32(centre))
            if c == 0:
                np.subtract(f32(2), t, out=t)
            else:
                t -= f32(1)
            np.clip(t, 0, 1, out=t)
            t *= vs_
            np.subtract(v, t, out=t)
            np.copyto(p[c], t, where=ok)


class _CubeKernel(_Kernel):
    def __init__(self, p: ColourLook):
        self.lut = _load_cube_cached(p.lut)
        self.strength = np.float32(p.lut_strength)
        self.enc = p.lut_encoding == "srgb"
        if p.lut_primaries == "rec2020":
            self.to = self.back = None
        else:
            m = cm.xyz_to_rgb_matrix(p.lut_primaries) @ _REC2020_TO_XYZ
            self.to, self.back = m.astype(np.float32), np.linalg.inv(m).astype(np.float32)

    def strip(self, p, y0, y1):
        _by_chunks(self.chunk, p)

    def chunk(self, x: np.ndarray) -> None:
        v = _mat3(x, self.to) if self.to is not None else x.copy()
        if self.enc:
            np.clip(v, 0, 1, out=v)
            cm.srgb_encode_fast(v, out=v, workers=1)
        v = _apply_cube_planar(v, self.lut)
        if self.enc:
            v = _srgb_decode32(v)
        if self.back is not None:
            v = _mat3(v, self.back)
        if self.strength != 1:
            v -= x
            v *= self.strength
            v += x
        x[...] = v


class _Monochrome(_Kernel):
    def __init__(self, p: MonochromeLook):
        self.w = monochrome_weights(p).astype(np.float32)
        self.ds = _toning_direction(p.shadows_hue, p.shadows_strength).astype(np.float32)
        self.dh = _toning_direction(p.highlights_hue, p.highlights_strength).astype(np.float32)
        self.tone = p.shadows_strength > 0 or p.highlights_strength > 0
        self.bs, self.bh = np.float32(1 - p.balance), np.float32(1 + p.balance)

    def strip(self, p, y0, y1):
        m = p[0] * self.w[0]
        m += p[1] * self.w[1]
        m += p[2] * self.w[2]
        np.maximum(m, 0, out=m)
        p[...] = m
        if self.tone:
            lum = np.sqrt(np.minimum(m, 1))
            ws = 1 - lum
            ws *= ws
            ws *= self.bs
            wh = lum * lum
            wh *= self.bh
            for c in range(3):
                f = ws * self.ds[c]
                f += wh * self.dh[c]
                f += 1
                p[c] *= f


@lru_cache(maxsize=16)
def _vignette_grid(shape: tuple[int, int], p: VignetteLook, kept: float | None) -> np.ndarray:
    """:func:`vignette_gain` (float32, read-only) on the nodes of :class:`_Vignette`'s grid; cached, as a
    batch develops many images of one size through one look."""
    h, w = shape
    sub = max(1, min(8, min(h, w) // 256))
    hl, wl = max(2, -(-(h - 1) // sub) + 1), max(2, -(-(w - 1) // sub) + 1)
    gain = vignette_gain(shape, p, kept, np.linspace(0, h - 1, hl), np.linspace(0, w - 1, wl)).astype(np.float32)
    gain.setflags(write=False)
    return gain


class _Vignette(_Kernel):
    """The gain (:func:`vignette_gain`) exact on a grid of nodes every ``sub`` pixels that includes
    the image's first and last rows and columns, bilinear in between (error < 1e-4 of the gain)."""

    def __init__(self, p: VignetteLook, shape, kept):
        self.gain = _vignette_grid(tuple(shape), p, kept)
        self.up = _Upsampler(self.gain.shape, shape, corners=True)

    def strip(self, p, y0, y1):
        p *= self.up(self.gain, y0, y1)


class _Halation(_Kernel):
    collects = True

    def __init__(self, p: HalationLook, shape):
        self.p, self.shape = p, shape
        self.rpx = max(1.0, p.radius * min(shape))
        self.sub = int(max(1, min(32, round(self.rpx / 3))))
        self.e = np.empty(shape, np.float32)
        self.blocks = _BlockMean(shape, self.sub)
        tint = np.asarray(p.tint, np.float64)
        self.tint = (tint / (tint @ LUMA) * p.strength).astype(np.float32)
        self.thr = np.float32(p.threshold)

    def collect(self, p, y0, y1):
        e = self.e[y0:y1]
        np.subtract(_luma(p), self.thr, out=e)
        e *= np.float32(1 / (1 - self.p.threshold))
        np.maximum(e, 0, out=e)
        self.blocks.add(e, y0, y1)

    def finish(self):
        self.finish_low(self.blocks.mean())

    def finish_low(self, low: np.ndarray) -> None:
        """The glow (hl, wl) from the block means ``low`` of the emission."""
        self.glow = ndimage.gaussian_filter(low, self.rpx / self.sub, mode="nearest").astype(np.float32)
        self.up = _Upsampler(low.shape, self.shape, self.sub) if self.sub > 1 else None

    def strip(self, p, y0, y1):
        g = self.up(self.glow, y0, y1) if self.up is not None else self.glow[y0:y1].copy()
        g -= self.e[y0:y1]
        np.maximum(g, 0, out=g)
        for c in range(3):
            p[c] += g * self.tint[c]


def _sym_conv(a: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """Correlate a 2-D array with a symmetric odd kernel along ``axis``, edges replicated: sums of
    shifted slices (contiguous float32 operations, faster than scipy's generic loop)."""
    r = len(k) // 2
    a = np.moveaxis(a, axis, 0)
    n = a.shape[0]
    pad = np.concatenate([np.repeat(a[:1], r, axis=0), a, np.repeat(a[-1:], r, axis=0)]) if r else a
    out = pad[r:r + n] * k[r]
    for j in range(r):
        t = pad[j:j + n] + pad[2 * r - j:2 * r - j + n]
        t *= k[j]
        out += t
    return np.moveaxis(out, 0, axis)


class _Sharpen(_Kernel):
    collects = True

    def __init__(self, p: SharpenLook, shape):
        self.p = p
        self.y = np.empty(shape, np.float32)
        r = max(1, int(3.0 * p.radius + 0.5))
        x = np.arange(-r, r + 1)
        k = np.exp(-0.5 * (x / p.radius) ** 2)
        self.k = (k / k.sum()).astype(np.float32)
        self.halo = r

    def collect(self, p, y0, y1):
        self.y[y0:y1] = _luma(p)

    def strip(self, p, y0, y1):
        h = self.y.shape[0]
        r = self.halo
        a, b = max(0, y0 - r), min(h, y1 + r)
        blk = self.y[a:b]
        top, bot = r - (y0 - a), r - (b - y1)  # rows to replicate at the image's top / bottom
        if top or bot:
            blk = np.concatenate([np.repeat(blk[:1], top, axis=0), blk, np.repeat(blk[-1:], bot, axis=0)])
        v = blk[r:r + (y1 - y0)] * self.k[r]
        for j in range(r):
            t = blk[j:j + (y1 - y0)] + blk[2 * r - j:2 * r - j + (y1 - y0)]
            t *= self.k[j]
            v += t
        blur = _sym_conv(v, self.k, axis=1)
        d = self.y[y0:y1] - blur
        d *= np.float32(self.p.amount)
        p += d


#: multipliers of the grain hash (odd 32-bit constants): node column, node row, seed
GRAIN_HASH = (0x8DA6B343, 0xD8163841, 0xCB1AB31F)


def grain_seed_term(seed: int) -> int:
    """The seed's part of the grain hash: seed * GRAIN_HASH[2] mod 2^32."""
    return (int(seed) * GRAIN_HASH[2]) & 0xFFFFFFFF


def grain_noise(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Grain noise at grid nodes (rows x cols, float32): uniform, mean 0, variance 1, a pure function of
    (row, column, seed), so any part of the grid can be made anywhere (the compiled engine makes it
    on the fly, bit for bit the same). h = (col K0) xor (row K1) xor (seed K2) mod 2^32, mixed by
    xor-shift-multiply rounds (h ^= h >> 16; h *= 0x7feb352d; h ^= h >> 15; h *= 0x846ca68b;
    h ^= h >> 16); value = ((h >> 8) 2^-24 - 0.5) sqrt(12)."""
    k0, k1, _ = (np.uint32(k) for k in GRAIN_HASH)
    r = np.asarray(rows).astype(np.uint32)[:, None]
    c = np.asarray(cols).astype(np.uint32)[None, :]
    with np.errstate(over="ignore"):
        h = (c * k0) ^ (r * k1) ^ np.uint32(grain_seed_term(seed))
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x7FEB352D)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x846CA68B)
        h ^= h >> np.uint32(16)
    u = (h >> np.uint32(8)).astype(np.float32)
    u *= np.float32(2.0**-24)
    u -= np.float32(0.5)
    u *= np.float32(math.sqrt(12.0))
    return u


def grain_grid_shape(shape: tuple[int, int], size: float) -> tuple[int, int]:
    """(rows, cols) of the grain's noise grid on an image of ``shape``: one node per pixel for size <= 1,
    else ceil(H / size) + 1 by ceil(W / size) + 1."""
    h, w = shape
    if size <= 1.0:
        return h, w
    return int(math.ceil(h / size)) + 1, int(math.ceil(w / size)) + 1


class _Grain(_Kernel):
    def __init__(self, p: GrainLook, shape, seed: int):
        self.p, self.shape = p, shape
        self.size = float(p.size)
        hl, wl = grain_grid_shape(shape, self.size)
        self.seed = seed
        self.cols = np.arange(wl)
        self.up = _Upsampler((hl, wl), shape, self.size, keep_variance=True) if self.size > 1.0 else None
        self.k = np.float32(4 * p.strength)

    def noise(self, y0: int, y1: int) -> np.ndarray:
        """Noise (rows y0:y1 of the image, W): the grid's nodes there, bilinear with the variance kept."""
        if self.up is None:
            return grain_noise(np.arange(y0, y1), self.cols, self.seed)
        i0, i1, _ = self.up.rows(y0, y1)
        lo, hi = int(i0.min()), int(i1.max()) + 1
        return self.up(grain_noise(np.arange(lo, hi), self.cols, self.seed), y0, y1, row0=lo)

    def strip(self, p, y0, y1):
        n = self.noise(y0, y1)
        y = _luma(p)  # w = 4 L (1 - L) = 4 (sqrt(Y) - Y), L = sqrt(Y)
        np.clip(y, 0, 1, out=y)
        w = np.sqrt(y)
        w -= y
        w *= self.k
        n *= w
        np.exp2(n, out=n)
        p *= n


class _Clip(_Kernel):
    def strip(self, p, y0, y1):
        np.clip(p, 0.0, 1.0, out=p)


def _check_image(rgb: Any, name: str = "rgb") -> np.ndarray:
    a = rgb if isinstance(rgb, np.ndarray) else np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InvalidParams(f"{name} must be (H, W, 3), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise InvalidParams(f"{name} must be a float array, got {a.dtype}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise InvalidParams(f"{name} is empty: shape {a.shape}")
    return a


def _check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InvalidParams(f"workers must be an integer >= 1, got {workers!r}")
    return int(workers)


def _run(rgb: np.ndarray, kernels: Sequence[_Kernel], workers: int) -> np.ndarray:
    """Run ``kernels`` in order over a copy of ``rgb`` (float32) and return it.

    The kernels run fused, strip by strip, in as few passes as the collecting kernels allow. Between
    passes each strip stays planar (3, rows, W) inside the output's own memory for those rows (the
    strips never change, so no strip touches another's memory); the last pass interleaves it.
    """
    h, w, _ = rgb.shape
    out = np.empty((h, w, 3), np.float32)
    flat = out.reshape(-1)
    spans = _spans(h, w)
    segments: list[list[_Kernel]] = [[]]
    for k in kernels:
        if k.collects:
            segments.append([])
        segments[-1].append(k)
    if not segments[0] and len(segments) == 1:
        np.copyto(out, rgb)
        return out
    n_seg = len(segments)
    for i, seg in enumerate(segments):
        nxt = segments[i + 1][0] if i + 1 < n_seg else None
        first, last = i == 0, i == n_seg - 1

        def work(y0: int, y1: int, seg=seg, nxt=nxt, first=first, last=last) -> None:
            if first and last:
                p = np.empty((3, y1 - y0, w), np.float32)
            else:
                p = flat[y0 * w * 3:y1 * w * 3].reshape(3, y1 - y0, w)
            if first:
                s = rgb[y0:y1]
                for c in range(3):
                    p[c] = s[..., c]
                if not np.isfinite(np.add.reduce(p, axis=None)):
                    raise InvalidParams(f"rgb has NaN or infinite values (rows {y0}-{y1 - 1})")
            for k in seg:
                k.strip(p, y0, y1)
            if nxt is not None:
                nxt.collect(p, y0, y1)
            if last:
                if not first:
                    p = p.copy()
                o = out[y0:y1]
                for c in range(3):
                    o[..., c] = p[c]

        _parallel(work, spans, workers)
        if nxt is not None:
            nxt.finish()
    return out


# ==================================================================================================
# Public stages (each: new float32 array, input untouched, no clipping) and the look
# ==================================================================================================


def _stage(rgb, params, cls, sec: str, workers: int, *args) -> np.ndarray:
    img = _check_image(rgb)
    workers = _check_workers(workers)
    if not isinstance(params, cls):
        raise InvalidParams(f"{sec} params must be a {cls.__name__}, got {type(params).__name__}")
    _check_section(params, sec, None)
    kernels = _kernels_for(sec, params, img.shape[:2], *args)
    return _run(img, kernels, workers)


def apply_exposure(rgb, p: ExposureLook, *, workers: int = 2) -> np.ndarray:
    """Exposure bias and white-balance shift (:func:`wb_shift_matrix`) on scene-linear Rec.2020."""
    return _stage(rgb, p, ExposureLook, "exposure", workers)


def apply_local_tone(rgb, p: LocalToneLook, *, workers: int = 2) -> np.ndarray:
    """Local tone mapping of scene-linear Rec.2020 (see :class:`_LocalTone`): each pixel is scaled
    (hue kept) so that its log2 luminance becomes grey + (1 - strength)(base - grey) + detail (I - base)."""
    return _stage(rgb, p, LocalToneLook, "local_tone", workers)


def apply_tone(rgb, p: ToneLook, *, workers: int = 2) -> np.ndarray:
    """Tone curve on max(R, G, B), ratios kept: rgb * T(max) / max (see :func:`tone_curve`);
    scene-linear in, display-linear out. Tabulated on 8193 points over log2 in [-24, 8]
    (relative error < 1e-5 against :func:`tone_curve`, except within ~0.01 EV of a hard clip's kink,
    where linear interpolation is off by up to ~4e-4; the compiled engine evaluates the curve)."""
    return _stage(rgb, p, ToneLook, "tone", workers)


def apply_colour(rgb, p: ColourLook, *, workers: int = 2) -> np.ndarray:
    """Saturation/vibrance, hue/sat/value table, .cube LUT on display-linear Rec.2020."""
    return _stage(rgb, p, ColourLook, "colour", workers)


def apply_monochrome(rgb, p: MonochromeLook, *, workers: int = 2) -> np.ndarray:
    """Black and white (R = G = B = weights . rgb, :func:`monochrome_weights`) then split toning."""
    return _stage(rgb, p, MonochromeLook, "monochrome", workers)


def apply_vignette(rgb, p: VignetteLook, *, vignette_kept: float | None = None,
                   workers: int = 2) -> np.ndarray:
    """Multiply by :func:`vignette_gain` (``vignette_kept``: EV of vignetting the input still has at
    its corners; mode "total" then changes the corners by amount - vignette_kept). Within a look the
    two parts are applied apart (see :func:`apply_look`)."""
    return _stage(rgb, p, VignetteLook, "vignette", workers, _check_kept(vignette_kept))


def apply_halation(rgb, p: HalationLook, *, workers: int = 2) -> np.ndarray:
    """Add the tinted glow that highlights (luminance above ``threshold``) spill around them."""
    return _stage(rgb, p, HalationLook, "halation", workers)


def apply_sharpen(rgb, p: SharpenLook, *, workers: int = 2) -> np.ndarray:
    """Unsharp mask on luminance, added to R, G and B alike (greys stay grey)."""
    return _stage(rgb, p, SharpenLook, "sharpen", workers)


def apply_grain(rgb, p: GrainLook, *, seed: int = 0, workers: int = 2) -> np.ndarray:
    """Seeded film grain (same seed, same grain, whatever ``workers``)."""
    return _stage(rgb, p, GrainLook, "grain", workers, _check_seed(seed))


def _vignette_fix(vig: VignetteLook, shape, kept: float | None) -> _Kernel | None:
    """The kernel that undoes the lens vignetting the input still has (look vignette mode "total"):
    in scene-linear light, where the lens made it (before the tone curve changes its size), with the
    look's falloff; it commutes with the exposure stage's matrix (a gain per pixel)."""
    if vig.mode != "total" or not kept:
        return None
    return _Vignette(VignetteLook(mode="add", amount=-kept, radius=vig.radius, feather=vig.feather), shape, None)


def _check_kept(kept) -> float | None:
    if kept is None:
        return None
    if isinstance(kept, bool) or not isinstance(kept, (int, float)) or not -4.0 <= kept <= 4.0:
        raise InvalidParams(f"vignette_kept must be None or a number of EV in [-4, 4]; got {kept!r}")
    return float(kept)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParams(f"seed must be an integer >= 0; got {seed!r}")
    return int(seed)


def _kernels_for(sec: str, p: Any, shape, *args) -> list[_Kernel]:
    """The kernels of one section (empty when the section does nothing)."""
    if sec == "exposure":
        return [] if _is_default(p) else [_Matrix(wb_shift_matrix(p))]
    if sec == "local_tone":
        return [] if p.strength == 0 and p.detail == 1 else [_LocalTone(p, shape)]
    if sec == "tone":
        return [] if _is_default(p) else [_Tone(p)]
    if sec == "colour":
        ks: list[_Kernel] = []
        if p.saturation != 1 or p.vibrance != 0:
            ks.append(_Saturation(p))
        if p.hue_shift or p.sat_scale or p.val_scale:
            ks.append(_HsvTable(p))
        if p.lut and p.lut_strength > 0:
            ks.append(_CubeKernel(p))
        return ks
    if sec == "monochrome":
        return [_Monochrome(p)] if p.enabled else []
    if sec == "vignette":
        kept = args[0] if args else None
        return [_Vignette(p, shape, kept)] if _vignette_ev(p, kept) != 0 else []
    if sec == "halation":
        return [_Halation(p, shape)] if p.strength > 0 else []
    if sec == "sharpen":
        return [_Sharpen(p, shape)] if p.amount > 0 else []
    if sec == "grain":
        seed = args[0] if args else 0
        return [_Grain(p, shape, seed)] if p.strength > 0 else []
    raise AssertionError(sec)  # pragma: no cover


#: sections in the order :func:`apply_look` applies them
ORDER = ("exposure", "local_tone", "tone", "colour", "monochrome", "vignette", "halation", "sharpen", "grain")


def apply_look(rgb, look: Look | str | os.PathLike | None, *, seed: int = 0, workers: int = 2,
               vignette_kept: float | None = None, engine: str = "auto") -> np.ndarray:
    """Render scene-linear light through a look.

    Parameters
    ----------
    rgb : ndarray (H, W, 3) float
        Scene-linear, linear Rec.2020 primaries (D65), exposure normalised so that middle grey is
        0.18 and diffuse white ~1.0. Not modified.
    look : Look, or a name or path for :func:`load_look` (None: :data:`DEFAULT_LOOK`).
    seed : int >= 0
        Seed of the grain: the same seed gives the same output, whatever ``workers``.
    workers : int >= 1
        Threads.
    vignette_kept : float or None
        EV of lens vignetting the input still has at its corners (negative = darker), e.g. when the
        raw's vignetting correction (DNG FixVignetteRadial / GainMap opcodes) was skipped or partial.
        None or 0: the input is fully corrected (rotpunkt applies those opcodes). Only looks whose
        vignette mode is "total" use it: the input's vignetting is undone in scene-linear light
        (right after the exposure stage, with the look's radius and feather) and the vignette stage
        then sets the corners to the look's amount, so the output has that amount in total. Looks
        in mode "add" ignore it (their vignette adds to whatever the input has).
    engine : "auto", "halide" or "numpy"
        "auto" renders with the compiled kernels (rotpunkt.fast) when they are built and the look
        has no hue/sat/value table or .cube LUT, else with the numpy kernels; the two agree to
        float32 rounding (the compiled vignette is exact where numpy interpolates a fine grid:
        < 1e-4 of the gain).

    Returns
    -------
    ndarray (H, W, 3) float32: display-linear Rec.2020 (D65) in [0, 1]. The neutral look returns
    exactly ``clip(rgb, 0, 1)``.
    """
    img = _check_image(rgb)
    workers = _check_workers(workers)
    seed = _check_seed(seed)
    kept = _check_kept(vignette_kept)
    lk = load_look(look)
    fast = _engine_module(_check_engine(engine), lk)
    if fast is not None and min(img.shape[:2]) >= 2 and not is_identity(lk):
        img32 = np.ascontiguousarray(img, np.float32)
        _check_finite(img32)
        return _fast_look(img32, lk, seed, kept, workers, fast)
    shape = img.shape[:2]
    kernels: list[_Kernel] = []
    vig = lk.vignette
    for sec in ORDER:
        extra = {"grain": (seed,)}.get(sec, ())
        kernels += _kernels_for(sec, getattr(lk, sec), shape, *extra)
        fix = _vignette_fix(vig, shape, kept) if sec == "exposure" else None
        if fix is not None:
            kernels.append(fix)
    kernels.append(_Clip())
    return _run(img, kernels, workers)


# ==================================================================================================
# The compiled engine: the same look in one fused Halide pass (rotpunkt.fast, generate_look.py)
# ==================================================================================================

ENGINES = ("auto", "halide", "numpy")


def _check_engine(engine: Any) -> str:
    if engine not in ENGINES:
        raise InvalidParams(f"engine must be one of {ENGINES}; got {engine!r}")
    return engine


def fast_supported(look: Look) -> bool:
    """True when the compiled engine renders ``look``: everything but a free tone curve, a
    hue/sat/value table and a .cube LUT (those run on the numpy engine)."""
    col = look.colour
    return not (look.tone.curve or col.hue_shift or col.sat_scale or col.val_scale
                or (col.lut and col.lut_strength > 0))


def _block_sums_to_mean(sums: np.ndarray, w: int, h: int, sub: int) -> np.ndarray:
    """(ceil(H / sub), W) column sums over the used rows of each row block -> (ceil(H / sub),
    ceil(W / sub)) block means (as :class:`_BlockMean`)."""
    return _per_pixel(np.add.reduceat(sums.astype(np.float64), np.arange(0, w, sub), axis=1), h, w, sub)


def _fast_look(img: np.ndarray, lk: Look, seed: int, kept: float | None, workers: int, fast,
               from_input: np.ndarray | None = None, to_output: np.ndarray | None = None, encode: bool = False,
               out: np.ndarray | None = None) -> np.ndarray:
    """Render ``img`` through ``lk`` with the compiled kernels (``fast`` = the rotpunkt.fast module):
    ``from_input`` (3 x 3, default identity) first, folded into the exposure stage's matrix; then
    ``to_output`` (3 x 3, default identity) after the clip, clipped again, and sRGB-encoded when
    ``encode``. Same maths as the numpy kernels (tests compare the two)."""
    from .fast.layout import LOOK_PRM

    h, w = img.shape[:2]
    shape = (h, w)
    vals: dict[str, float] = dict(zip(("ly0", "ly1", "ly2"), _LUMA32.tolist(), strict=True))
    flags: dict[str, bool] = {"encode": encode}
    exp = lk.exposure
    m = wb_shift_matrix(exp) if not _is_default(exp) else np.eye(3)
    if from_input is not None:
        m = m @ from_input
    vals.update({f"m{i}{k}": float(m[i, k]) for i in range(3) for k in range(3)})
    vig = lk.vignette
    # the vignette stage sets the look's amount; the input's own vignetting is undone apart (below)
    vg = _Vignette(vig, shape, None).gain if _vignette_ev(vig, None) != 0 else np.ones((2, 2), np.float32)
    vals.update(vg_ax=(vg.shape[1] - 1) / max(w - 1, 1), vg_ay=(vg.shape[0] - 1) / max(h - 1, 1))
    fix = _vignette_fix(vig, shape, kept)
    if fix is not None:  # the input's lens vignetting undone first, in numpy (an API-only case)
        fixed = _run(img, [fix], workers)
        out = fixed if out is img else out  # in place stays in place, on our own copy
        img = fixed
    z2, z3 = np.zeros((1, 1), np.float32), np.zeros((2, 1, 1), np.float32)
    ab, glow = z3, z2
    taps = np.ones(1, np.float32)
    vals.update(lt_sub=1.0, lt_anchor=float(np.float32(math.log2(GREY))), lt_strength=0.0, lt_knee=0.0,
                lt_detail1=0.0, lt_soft2=_LocalTone.SOFT**2)
    # the same switches as _kernels_for
    lt, col, mono = lk.local_tone, lk.colour, lk.monochrome
    flags["local_tone"] = not (lt.strength == 0 and lt.detail == 1)
    flags["tone"] = not _is_default(lk.tone)
    flags["saturation"] = col.saturation != 1 or col.vibrance != 0
    flags["monochrome"] = mono.enabled
    tp = lk.tone
    c, wp, ys = _tone_constants(tp)
    shoulder = wp > 1.0 and ys < 1.0
    vals.update(tone_nmin=2.0**-24, tone_black=tp.black, tone_bscale=GREY / (GREY - tp.black), tone_c=c,
                tone_toe=tp.toe, tone_toescale=(GREY + tp.toe) / GREY, tone_ys=ys, tone_w=wp,
                tone_i1ys=1.0 / (1.0 - ys) if ys < 1 else 0.0, tone_iwys=1.0 / (wp - ys) if shoulder else 0.0,
                tone_shoulder=float(shoulder), tone_lift=tp.lift)
    vals.update(sat=col.saturation, satvib=col.saturation * col.vibrance)
    mk = _Monochrome(mono)
    vals.update({f"mw{i}": float(mk.w[i]) for i in range(3)})
    vals.update({f"ds{i}": float(mk.ds[i]) for i in range(3)})
    vals.update({f"dh{i}": float(mk.dh[i]) for i in range(3)})
    vals.update(mono_bs=float(mk.bs), mono_bh=float(mk.bh))
    hal = lk.halation
    flags["halation"] = hal.strength > 0
    hk = _Halation(hal, shape) if flags["halation"] else None
    vals.update(hal_sub=float(hk.sub) if hk else 1.0, hal_thr=hal.threshold, hal_inv=1.0 / (1.0 - hal.threshold))
    vals.update({f"ht{i}": float(hk.tint[i]) if hk else 0.0 for i in range(3)})
    sh = lk.sharpen
    flags["sharpen"] = sh.amount > 0
    if flags["sharpen"]:
        taps = _Sharpen(sh, (1, 1)).k
    vals["sh_amount"] = sh.amount
    gr = lk.grain
    flags["grain"] = gr.strength > 0
    vals.update(gr_size=1.0, gr_k=0.0)
    noise_shape = (1, 1)
    if flags["grain"]:
        g = _Grain(gr, shape, seed)
        noise_shape = grain_grid_shape(shape, g.size)
        vals.update(gr_size=max(1.0, g.size), gr_k=float(g.k))
    o = np.eye(3) if to_output is None else np.asarray(to_output, np.float64)
    vals.update({f"o{i}{k}": float(o[i, k]) for i in range(3) for k in range(3)})

    def prm() -> np.ndarray:
        return np.array([vals.get(n, 0.0) for n in LOOK_PRM], np.float32)

    if flags["local_tone"]:
        lk_t = _LocalTone(lt, shape)
        vals.update(lt_sub=float(lk_t.sub), lt_strength=lt.strength, lt_knee=lt.knee, lt_detail1=lt.detail - 1.0)
        sums = fast.look_sums(img, prm(), vg, lk_t.sub, workers=workers)
        lk_t.finish_low(_block_sums_to_mean(sums, w, h, lk_t.sub))
        ab = lk_t.ab
    if hk is not None:
        sums = fast.look_sums(img, prm(), vg, hk.sub, glow=True, ab=ab, local_tone=flags["local_tone"],
                              flags=flags, workers=workers)
        hk.finish_low(_block_sums_to_mean(sums, w, h, hk.sub))
        glow = hk.glow
    return fast.look_apply(img, prm(), vg, ab=ab, glow=glow, noise_shape=noise_shape,
                           noise_seed=grain_seed_term(seed), taps=taps, flags=flags, out=out, workers=workers)


def render_look(rgb, look: Look | str | os.PathLike | None, *, from_input=None, to_output=None, seed: int = 0,
                workers: int = 2, vignette_kept: float | None = None, engine: str = "auto",
                overwrite_input: bool = False, trusted: bool = False) -> np.ndarray:
    """:func:`apply_look`, then the matrix ``to_output`` (3 x 3, linear Rec.2020 -> the output
    primaries; None: stay in Rec.2020), clip to [0, 1] and sRGB encoding (IEC 61966-2-1; also Display
    P3's): a display-ready float32 (H, W, 3) image. With the compiled engine all of it is one pass.

    ``from_input``: a 3 x 3 matrix that first takes ``rgb`` (then any linear RGB, e.g. white-balanced
    camera RGB) to scene-linear Rec.2020; fused into the same pass. ``overwrite_input``: ``rgb`` (a
    C-contiguous float32 array the caller gives up) may receive the result, saving a full image of
    memory. ``trusted``: ``rgb`` is known finite (rotpunkt's own develop), so the check is skipped."""
    img = _check_image(rgb)
    workers = _check_workers(workers)
    lk = load_look(look)
    engine = _check_engine(engine)
    try:
        pre = None if from_input is None else np.asarray(from_input, np.float64)
    except (TypeError, ValueError):
        raise InvalidParams(f"from_input must be a finite 3 x 3 matrix; got {from_input!r}") from None
    if pre is not None and (pre.shape != (3, 3) or not np.all(np.isfinite(pre))):
        raise InvalidParams(f"from_input must be a finite 3 x 3 matrix; got {pre!r}")
    fast = _engine_module(engine, lk)
    if fast is not None and min(img.shape[:2]) >= 2:
        img32 = np.ascontiguousarray(img, np.float32)
        if not trusted:
            _check_finite(img32)
        reuse = overwrite_input and img32 is rgb
        return _fast_look(img32, lk, _check_seed(seed), _check_kept(vignette_kept), workers, fast, from_input=pre,
                          to_output=to_output, encode=True, out=img32 if reuse else None)
    from .stages.colour import apply_matrix

    if pre is not None:
        mine = overwrite_input and isinstance(rgb, np.ndarray) and rgb.dtype == np.float32 and rgb.flags.c_contiguous
        img = apply_matrix(img, pre, out=img if mine else None, workers=workers)
    out = apply_look(img, lk, seed=seed, workers=workers, vignette_kept=vignette_kept, engine="numpy")
    if to_output is not None:
        apply_matrix(out, np.asarray(to_output, np.float64), out=out, workers=workers)
        np.clip(out, 0.0, 1.0, out=out)
    return cm.srgb_encode_fast(out, out=out, workers=workers)


def _engine_module(engine: str, lk: Look):
    """rotpunkt.fast when ``engine`` and the look allow it, else None ('halide' with a look it cannot
    render is an error)."""
    if engine == "numpy":
        return None
    if not fast_supported(lk):
        if engine == "halide":
            raise InvalidParams(f"look {lk.name!r} has a free tone curve, a hue/sat/value table or a .cube LUT, "
                                "which only the numpy engine renders; use engine='numpy' or 'auto'")
        return None
    from .pipeline import compiled

    return compiled(engine, "looks")


def _check_finite(img: np.ndarray) -> None:
    for y0 in range(0, img.shape[0], 256):
        if not np.isfinite(np.add.reduce(img[y0:y0 + 256], axis=None)):
            raise InvalidParams(f"rgb has NaN or infinite values (rows {y0}-{min(y0 + 256, img.shape[0]) - 1})")


def is_identity(look: Look) -> bool:
    """True when ``look`` changes nothing but the final clip (every section at its defaults, like
    the shipped ``neutral``): a caller may then skip :func:`apply_look` and keep its own clipping."""
    return all(_is_default(getattr(look, sec)) for sec in SECTIONS)


def global_part(look: Look) -> Look:
    """The look without its spatial stages (local tone mapping, vignette, halation, sharpening,
    grain): a per-pixel function of colour, what a 3D LUT can hold."""
    return dataclasses.replace(look, local_tone=LocalToneLook(), vignette=VignetteLook(),
                               halation=HalationLook(), sharpen=SharpenLook(), grain=GrainLook())


# ==================================================================================================
# .cube LUTs (Adobe Cube LUT Specification 1.0 and the Resolve variant)
# ==================================================================================================


@dataclass(frozen=True, eq=False)
class CubeLUT:
    """A .cube file: a 3D table and/or a 1D table.

    ``table``: float32 (N, N, N, 3) indexed ``[r, g, b]`` (the file lists red fastest), None for a
    1D-only file. ``domain_min``/``domain_max``: input range of the 3D table per channel.
    ``shaper``: float32 (M, 3) 1D table applied first (a 1D-only file, or Resolve's 1D shaper before
    its 3D table), with its own input range ``shaper_min``/``shaper_max``.
    """

    table: np.ndarray | None
    domain_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    domain_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    title: str = ""
    shaper: np.ndarray | None = None
    shaper_min: tuple[float, float, float] = (0.0, 0.0, 0.0)
    shaper_max: tuple[float, float, float] = (1.0, 1.0, 1.0)
    comments: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Points per edge of the 3D table (0 for a 1D-only file)."""
        return 0 if self.table is None else self.table.shape[0]


def read_cube(path: str | os.PathLike) -> CubeLUT:
    """Read an Adobe / Resolve .cube LUT (3D, 1D, or a Resolve 1D shaper + 3D).

    Keywords: TITLE, DOMAIN_MIN, DOMAIN_MAX, LUT_1D_SIZE (2-65536), LUT_3D_SIZE (2-256),
    LUT_1D_INPUT_RANGE, LUT_3D_INPUT_RANGE; '#' comments; data lines of three numbers after the
    keywords, red index fastest. In a file with both tables DOMAIN_* give the 1D table's range and
    the 3D table's defaults to [0, 1] unless LUT_3D_INPUT_RANGE says otherwise.
    Errors: CorruptFile (malformed), InvalidParams (missing file).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig", errors="strict")
    except FileNotFoundError:
        raise InvalidParams("no such LUT file", p) from None
    except UnicodeDecodeError:
        raise CorruptFile("not a text .cube file", p) from None
    except OSError as exc:
        raise InvalidParams(f"cannot read the LUT: {exc.strerror or exc}", p) from None
    try:
        return _parse_cube(text)
    except RotpunktError as err:
        raise with_path(err, p) from None


def _floats(parts: list[str], n: int, line_no: int) -> list[float]:
    if len(parts) != n:
        raise CorruptFile(f"line {line_no}: expected {n} numbers, got {len(parts)}")
    try:
        vals = [float(x) for x in parts]
    except ValueError:
        raise CorruptFile(f"line {line_no}: not a number in {' '.join(parts)!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise CorruptFile(f"line {line_no}: non-finite value")
    return vals


def _parse_cube(text: str) -> CubeLUT:
    title, comments = "", []
    size1 = size3 = 0
    dmin = dmax = None
    r1 = r3 = None
    rows: list[list[float]] = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        head = line.split(None, 1)[0]
        if head[0].isalpha():
            if rows:
                raise CorruptFile(f"line {no}: keyword {head} after the table data")
            rest = line[len(head):].strip()
            parts = rest.split()
            if head == "TITLE":
                title = rest[1:-1] if len(rest) >= 2 and rest[0] == rest[-1] == '"' else rest
            elif head in ("LUT_1D_SIZE", "LUT_3D_SIZE"):
                if len(parts) != 1 or not parts[0].isdigit():
                    raise CorruptFile(f"line {no}: {head} needs one integer")
                n = int(parts[0])
                lo, hi = (2, 65536) if head == "LUT_1D_SIZE" else (2, 256)
                if not lo <= n <= hi:
                    raise CorruptFile(f"line {no}: {head} {n} outside [{lo}, {hi}]")
                if head == "LUT_1D_SIZE":
                    size1 = n
                else:
                    size3 = n
            elif head == "DOMAIN_MIN":
                dmin = _floats(parts, 3, no)
            elif head == "DOMAIN_MAX":
                dmax = _floats(parts, 3, no)
            elif head == "LUT_1D_INPUT_RANGE":
                r1 = _floats(parts, 2, no)
            elif head == "LUT_3D_INPUT_RANGE":
                r3 = _floats(parts, 2, no)
            else:
                raise UnsupportedFormat(f"line {no}: unknown keyword {head}")
            continue
        rows.append(_floats(line.split(), 3, no))
    if not size1 and not size3:
        raise CorruptFile("no LUT_1D_SIZE or LUT_3D_SIZE")
    expected = size1 + size3**3
    if len(rows) != expected:
        raise CorruptFile(f"expected {expected} table lines, found {len(rows)}")
    data = np.asarray(rows, np.float32)
    d_lo = tuple(dmin) if dmin else (0.0, 0.0, 0.0)
    d_hi = tuple(dmax) if dmax else (1.0, 1.0, 1.0)
    shaper = table = None
    s_lo, s_hi = (0.0,) * 3, (1.0,) * 3
    if size1:
        shaper = np.ascontiguousarray(data[:size1])
        s_lo, s_hi = (tuple([r1[0]] * 3), tuple([r1[1]] * 3)) if r1 else (d_lo, d_hi)
    if size3:
        n = size3
        table = np.ascontiguousarray(data[size1:].reshape(n, n, n, 3).transpose(2, 1, 0, 3))
        if r3:
            d_lo, d_hi = tuple([r3[0]] * 3), tuple([r3[1]] * 3)
        elif size1:
            d_lo, d_hi = (0.0,) * 3, (1.0,) * 3
    for lo, hi in ((d_lo, d_hi), (s_lo, s_hi)):
        if any(b <= a for a, b in zip(lo, hi, strict=True)):
            raise CorruptFile(f"domain minimum {lo} is not below the maximum {hi}")
    return CubeLUT(table=table, domain_min=tuple(map(float, d_lo)), domain_max=tuple(map(float, d_hi)),
                   title=title, shaper=shaper, shaper_min=tuple(map(float, s_lo)),
                   shaper_max=tuple(map(float, s_hi)), comments=tuple(comments))


def write_cube(lut: CubeLUT, path: str | os.PathLike) -> None:
    """Write ``lut`` as a .cube file (atomically): a 3D table (Adobe layout, DOMAIN_MIN/MAX), a 1D
    table, or both (Resolve layout with LUT_1D/3D_INPUT_RANGE; ranges must then be equal per channel).
    Values are written with 9 significant digits, so float32 tables read back bit-exact."""
    from .io.write import _atomic_write

    if lut.table is None and lut.shaper is None:
        raise InvalidParams("a LUT needs a 3D table or a 1D table")
    lines = [f"# {c}".rstrip() for c in lut.comments]
    if lut.title:
        lines.append(f'TITLE "{lut.title.replace(chr(34), chr(39))}"')
    fmt = "{:.9g} {:.9g} {:.9g}"
    both = lut.table is not None and lut.shaper is not None
    if lut.shaper is not None:
        sh = np.asarray(lut.shaper, np.float32)
        if sh.ndim != 2 or sh.shape[1] != 3 or not 2 <= len(sh) <= 65536:
            raise InvalidParams(f"1D table must be (M, 3) with 2 <= M <= 65536; got {sh.shape}")
        lines.append(f"LUT_1D_SIZE {len(sh)}")
        if both:
            lines.append(f"LUT_1D_INPUT_RANGE {_one_range(lut.shaper_min, lut.shaper_max)}")
        else:
            lines.append("DOMAIN_MIN " + fmt.format(*lut.shaper_min))
            lines.append("DOMAIN_MAX " + fmt.format(*lut.shaper_max))
    if lut.table is not None:
        t = np.asarray(lut.table, np.float32)
        n = t.shape[0]
        if t.shape != (n, n, n, 3) or not 2 <= n <= 256:
            raise InvalidParams(f"3D table must be (N, N, N, 3) with 2 <= N <= 256; got {t.shape}")
        lines.append(f"LUT_3D_SIZE {n}")
        if both:
            lines.append(f"LUT_3D_INPUT_RANGE {_one_range(lut.domain_min, lut.domain_max)}")
        else:
            lines.append("DOMAIN_MIN " + fmt.format(*lut.domain_min))
            lines.append("DOMAIN_MAX " + fmt.format(*lut.domain_max))
    body = []
    if lut.shaper is not None:
        body += [fmt.format(*row) for row in np.asarray(lut.shaper, np.float32).tolist()]
    if lut.table is not None:
        flat = np.asarray(lut.table, np.float32).transpose(2, 1, 0, 3).reshape(-1, 3)
        body += [fmt.format(*row) for row in flat.tolist()]
    text = "\n".join(lines + body) + "\n"
    _atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")))


def _one_range(lo, hi) -> str:
    if len(set(lo)) != 1 or len(set(hi)) != 1:
        raise InvalidParams("a Resolve 1D+3D file needs the same input range for r, g and b")
    return f"{lo[0]:.9g} {hi[0]:.9g}"


@lru_cache(maxsize=8)
def _load_cube_cached_at(path: str, mtime_ns: int, size: int) -> CubeLUT:
    lut = read_cube(path)
    if lut.table is None:
        raise UnsupportedFormat("a look's LUT must be a 3D LUT", path)
    return lut


def _load_cube_cached(path: str) -> CubeLUT:
    try:
        st = os.stat(path)
    except OSError:
        raise InvalidParams("no such LUT file", path) from None
    return _load_cube_cached_at(path, st.st_mtime_ns, st.st_size)


def _apply_1d(x: np.ndarray, table: np.ndarray, lo, hi) -> np.ndarray:
    """Per-channel 1D table (M, 3) on planar x (3, n), linear interpolation, input clamped."""
    m = table.shape[0]
    out = np.empty_like(x)
    for c in range(3):
        t = x[c] - np.float32(lo[c])
        t *= np.float32((m - 1) / (hi[c] - lo[c]))
        np.clip(t, 0, m - 1, out=t)
        i = t.astype(np.int32)
        np.minimum(i, m - 2, out=i)
        t -= i
        col = np.ascontiguousarray(table[:, c], np.float32)
        lo_v = np.take(col, i)
        o = np.take(col, i + 1) - lo_v
        o *= t
        o += lo_v
        out[c] = o
    return out


def _planes(lut: CubeLUT) -> tuple[np.ndarray, ...]:
    """The 3D table as three flat float32 planes indexed (r n + g) n + b, made once per LUT."""
    planes = lut.__dict__.get("_planes")
    if planes is None:
        flat = np.asarray(lut.table, np.float32).reshape(-1, 3)
        planes = tuple(np.ascontiguousarray(flat[:, c]) for c in range(3))
        object.__setattr__(lut, "_planes", planes)
    return planes




def _ws(name: str, n: int, dtype=np.float32) -> np.ndarray:
    """A per-thread scratch buffer of ``n`` elements (re-used from call to call: fresh temporaries
    for every chunk cost more in page faults than the arithmetic)."""
    bufs = _TLS.__dict__.setdefault("bufs", {})
    a = bufs.get(name)
    if a is None or a.size < n or a.dtype != dtype:
        a = bufs[name] = np.empty(max(n, _CHUNK), dtype)
    return a[:n]


def _tetra_chunk(tc: np.ndarray, planes, n: int, out: np.ndarray) -> None:
    """Tetrahedral interpolation at table coordinates tc (3, m) (0 .. n-1, clamped; tc is
    overwritten) of a table given as three flat planes indexed (r n + g) n + b, into out (3, m)."""
    m = tc.shape[1]
    np.clip(tc, 0, n - 1, out=tc)
    fr, fg, fb = tc[0], tc[1], tc[2]
    sr, sg, sb = n * n, n, 1
    base, tmp = _ws("base", m, np.int32), _ws("tmp", m, np.int32)
    i1, i2, i3 = _ws("i1", m, np.int32), _ws("i2", m, np.int32), _ws("i3", m, np.int32)
    fl = _ws("fl", m)
    for f, stride in ((fr, sr), (fg, sg), (fb, sb)):  # integer part (at most n - 2) and fraction
        np.floor(f, out=fl)
        np.minimum(fl, n - 2, out=fl)
        f -= fl
        np.copyto(tmp, fl, casting="unsafe")
        if stride == sr:
            np.multiply(tmp, stride, out=base)
        else:
            tmp *= stride
            base += tmp
    b1, b2, b3 = _ws("b1", m, np.bool_), _ws("b2", m, np.bool_), _ws("b3", m, np.bool_)
    # first axis: the largest fraction (ties: r before g before b)
    np.greater_equal(fr, fg, out=b1)
    np.greater_equal(fr, fb, out=b2)
    b1 &= b2
    np.greater_equal(fg, fb, out=b2)
    np.logical_not(b1, out=b3)
    b2 &= b3
    np.multiply(b1, sr - sb, out=i1)
    np.multiply(b2, sg - sb, out=tmp)
    i1 += tmp
    i1 += base
    i1 += sb
    # last axis: the smallest fraction (ties: b before g before r); i2 = top - its stride
    np.less_equal(fb, fr, out=b1)
    np.less_equal(fb, fg, out=b2)
    b1 &= b2
    np.less_equal(fg, fr, out=b2)
    np.logical_not(b1, out=b3)
    b2 &= b3
    np.multiply(b1, sr - sb, out=i2)
    np.multiply(b2, sr - sg, out=tmp)
    i2 += tmp
    i2 += base
    i2 += sg + sb
    np.add(base, sr + sg + sb, out=i3)
    # barycentric weights: 1 - f1, f1 - f2, f2 - f3, f3 for sorted fractions f1 >= f2 >= f3
    f1, f2, f3 = _ws("f1", m), _ws("f2", m), _ws("f3", m)
    np.maximum(fr, fg, out=f1)
    np.maximum(f1, fb, out=f1)
    np.minimum(fr, fg, out=f3)
    np.minimum(f3, fb, out=f3)
    np.add(fr, fg, out=f2)
    f2 += fb
    f2 -= f1
    f2 -= f3
    w0, w1, w2 = fr, fg, fb  # the fractions are no longer needed
    np.subtract(1, f1, out=w0)
    np.subtract(f1, f2, out=w1)
    np.subtract(f2, f3, out=w2)
    g = _ws("g", m)
    for c in range(3):
        tab, o = planes[c], out[c]
        np.take(tab, base, out=o, mode="clip")
        o *= w0
        for idx, w in ((i1, w1), (i2, w2), (i3, f3)):
            np.take(tab, idx, out=g, mode="clip")
            g *= w
            o += g


def _tetra_planar(t: np.ndarray, planes, n: int) -> np.ndarray:
    """Tetrahedral interpolation at planar table coordinates t (3, m); new (3, m) float32."""
    m = t.shape[1]
    out = np.empty((3, m), np.float32)
    for k in range(0, m, _CHUNK):
        e = min(k + _CHUNK, m)
        tc = _ws("tc", 3 * _CHUNK)[:3 * (e - k)].reshape(3, e - k)
        tc[...] = t[:, k:e]
        _tetra_chunk(tc, planes, n, out[:, k:e])
    return out


def tetrahedral(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Tetrahedral interpolation of a 3D table (N, N, N, 3) indexed [r, g, b] at points x (n, 3)
    given in table units (0 .. N-1, clamped). Exact for tables of affine functions (Kasson 1995:
    the cube is cut along its neutral diagonal into six tetrahedra; the point's barycentric
    weights are the differences of its sorted fractions). float32 (n, 3)."""
    t = np.array(np.asarray(x, np.float32).T, order="C")
    return _tetra_planar(t, _planes(CubeLUT(table=table)), table.shape[0]).T


def _apply_cube_planar(x: np.ndarray, lut: CubeLUT) -> np.ndarray:
    """1D then 3D table of ``lut`` on planar (3, n) float32; a new array."""
    if lut.shaper is not None:
        x = _apply_1d(x, lut.shaper, lut.shaper_min, lut.shaper_max)
    if lut.table is None:
        return x.copy()
    n = lut.size
    t = np.empty_like(x)
    for c in range(3):
        lo, hi = lut.domain_min[c], lut.domain_max[c]
        np.subtract(x[c], np.float32(lo), out=t[c])
        t[c] *= np.float32((n - 1) / (hi - lo))
    return _tetra_planar(t, _planes(lut), n)


def apply_cube(rgb, lut: CubeLUT, *, workers: int = 2) -> np.ndarray:
    """Apply a .cube LUT to an image (H, W, 3) or points (n, 3): its 1D table (linear
    interpolation), then its 3D table (tetrahedral), inputs clamped to the domains. float32 out."""
    a = np.asarray(rgb)
    if a.ndim < 2 or a.shape[-1] != 3 or not np.issubdtype(a.dtype, np.floating):
        raise InvalidParams(f"rgb must be float (..., 3), got {a.dtype} {a.shape}")
    if not isinstance(lut, CubeLUT):
        raise InvalidParams(f"lut must be a CubeLUT, got {type(lut).__name__}")
    workers = _check_workers(workers)
    flat = a.reshape(-1, 3)
    out = np.empty(flat.shape, np.float32)
    spans = [(i, min(i + _STRIP_PIXELS, len(flat))) for i in range(0, len(flat), _STRIP_PIXELS)]

    def work(i0: int, i1: int) -> None:
        out[i0:i1] = _apply_cube_planar(np.array(flat[i0:i1].T, np.float32, order="C"), lut).T

    _parallel(work, spans, workers)
    return out.reshape(a.shape)


#: Shaper of exported LUTs: log2 of the scene-linear level, 10 EV below to 6 EV above middle grey.
SHAPER_EV = (-10.0, 6.0)


def shaper_encode(x) -> np.ndarray:
    """Scene-linear -> [0, 1]: (log2(x / 0.18) + 10) / 16, clamped (x <= 0.18 / 1024 gives 0)."""
    lo, hi = SHAPER_EV
    x = np.asarray(x, np.float64)
    u = np.log2(np.maximum(x, GREY * 2.0**lo) / GREY)
    return np.clip((u - lo) / (hi - lo), 0.0, 1.0)


def shaper_decode(e) -> np.ndarray:
    """Inverse of :func:`shaper_encode` on [0, 1]."""
    lo, hi = SHAPER_EV
    return GREY * np.exp2(lo + np.asarray(e, np.float64) * (hi - lo))


_EXPORT_SPACES = ("srgb", "p3", "rec2020")


def export_cube(look: Look | str | os.PathLike, path: str | os.PathLike, size: int = 33, *,
                space: str = "srgb") -> CubeLUT:
    """Write the look's global colour and tone part (:func:`global_part`) as a 3D .cube LUT.

    Input: scene-linear Rec.2020 (D65, grey 0.18) encoded by the log2 shaper :func:`shaper_encode`
    (0 = 10 EV below grey, 1 = 6 EV above, grey at 0.625). Output: ``space`` ("srgb", "p3",
    "rec2020") primaries, clipped to [0, 1], sRGB transfer function (the display encoding of sRGB and
    Display P3; for "rec2020" the same curve). Both are stated in the file's TITLE and comments.
    ``size`` 2..256 (33 or 65 usual). Returns the LUT written.
    """
    lk = load_look(look)
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= 256:
        raise InvalidParams(f"size must be an integer in [2, 256]; got {size!r}")
    if space not in _EXPORT_SPACES:
        raise InvalidParams(f"space must be one of {', '.join(_EXPORT_SPACES)}; got {space!r}")
    g = global_part(lk)
    e = np.linspace(0.0, 1.0, size)
    rr, gg, bb = np.meshgrid(e, e, e, indexing="ij")
    grid = shaper_decode(np.stack([rr, gg, bb], axis=-1)).astype(np.float32).reshape(size * size, size, 3)
    disp = apply_look(grid, g, workers=1).reshape(-1, 3).astype(np.float64)
    if space != "rec2020":
        disp = disp @ (cm.xyz_to_rgb_matrix(space) @ _REC2020_TO_XYZ).T
    out = cm.srgb_encode(np.clip(disp, 0.0, 1.0)).astype(np.float32).reshape(size, size, size, 3)
    lo, hi = SHAPER_EV
    names = {"srgb": "sRGB", "p3": "Display P3", "rec2020": "Rec.2020"}
    title = f"rotpunkt look {lk.name}: log2 shaper in, {names[space]} out"
    comments = (
        f"rotpunkt look '{lk.name}': {lk.summary}",
        "Global colour and tone part only (no local tone mapping, vignette, halation, sharpening, grain).",
        "Input: scene-linear Rec.2020 (D65), middle grey 0.18, encoded by the shaper",
        f"  e = (log2(x / 0.18) - ({lo:g})) / {hi - lo:g}, clamped to [0, 1]  (grey at {-lo / (hi - lo):g})",
        f"Output: {names[space]} primaries, clipped to [0, 1], sRGB transfer function.",
    )
    lut = CubeLUT(table=out, title=title, comments=comments)
    write_cube(lut, path)
    return lut


__all__ = [
    "LOOK_VERSION", "DEFAULT_LOOK", "GREY", "LUMA", "ORDER", "SECTIONS", "SHAPER_EV", "SHIPPED_DIR",
    "Look", "ExposureLook", "LocalToneLook", "ToneLook", "ColourLook", "MonochromeLook", "VignetteLook",
    "HalationLook", "SharpenLook", "GrainLook", "CubeLUT",
    "load_look", "list_looks", "look_from_dict", "look_to_toml", "validate_look", "migrate", "user_looks_dir",
    "apply_look", "is_identity", "global_part", "apply_exposure", "apply_local_tone", "apply_tone",
    "apply_colour", "apply_monochrome", "apply_vignette", "apply_halation", "apply_sharpen", "apply_grain",
    "tone_curve", "wb_shift_matrix", "monochrome_weights", "vignette_gain",
    "read_cube", "write_cube", "apply_cube", "tetrahedral", "export_cube", "shaper_encode", "shaper_decode",
]
