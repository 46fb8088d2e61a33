"""Tests of the fast preview (rotpunkt.preview): demosaic-free develop at 1/2, 1/4, 1/8 size.

Oracles are independent of the preview's code path: the full develop of the same file (for uniform
areas the two must agree, since a demosaic of a uniform field changes nothing), box means of the full
develop in linear light where no demosaic is involved (LinearRaw), colour-science for sRGB decoding,
CIELAB and CIEDE2000, and closed-form flat fields written by the project's DNG writer.

Colour tolerance on the chart: CIEDE2000 <= 0.5 between the preview's and the develop's patch means
(linear-light means of the inner patch areas). 0.5 is half the commonly quoted just-noticeable
difference, so a preview passing it shows the develop's colours; it is also far stricter than the
1/255-in-encoded-sRGB alternative for dark patches, where one code value is several CIEDE2000 units.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from dngwriter import gain_map_opcode, opcode_list, write_dng
from scenes import colour_chart, flat_field_with_shading, neutral_camera_dng

from rotpunkt.errors import InvalidParams, RotpunktWarning
from rotpunkt.io import read
from rotpunkt.pipeline import DevelopParams, develop
from rotpunkt.preview import SCALES, preview
from rotpunkt.stages import opcodes as oc
from rotpunkt.types import HueSatMap

colour = pytest.importorskip("colour")

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
LETTER = {"R": 0, "G": 1, "B": 2}


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def decode(img) -> np.ndarray:
    """Encoded sRGB-curve values -> linear light (colour-science, float64)."""
    return colour.cctf_decoding(np.asarray(img, dtype=np.float64), function="sRGB")


def box(a: np.ndarray, s: int) -> np.ndarray:
    """Mean of each whole s x s block (floor), per channel."""
    h, w = a.shape[0] // s, a.shape[1] // s
    return a[:h * s, :w * s].reshape(h, s, w, s, -1).mean(axis=(1, 3))


def lab(rgb_linear: np.ndarray, space: str) -> np.ndarray:
    cs = colour.RGB_COLOURSPACES["sRGB" if space == "srgb" else "Display P3"]
    xyz = colour.RGB_to_XYZ(rgb_linear, cs, apply_cctf_decoding=False)
    return colour.XYZ_to_Lab(xyz, cs.whitepoint)


def blocks_inside(rect, origin, s):
    """Block index range (i0, j0, i1, j1) of the s x s blocks starting at ``origin`` (top, left) that
    lie wholly inside the pixel rectangle (top, left, bottom, right)."""
    t, left, b, r = rect
    oy, ox = origin
    return (math.ceil((t - oy) / s), math.ceil((left - ox) / s), (b - oy) // s, (r - ox) // s)


def patch_delta_e(dev, prev, rects, crop_origin, s, space="srgb"):
    """CIEDE2000 between the develop's and the preview's linear patch means (rects: stored-image /
    active-area pixels; crop_origin: where the developed image and the preview's blocks start)."""
    d_lin, p_lin = decode(dev), decode(prev)
    cy, cx = crop_origin
    dm, pm = [], []
    for t, left, b, r in rects:
        dm.append(d_lin[t - cy:b - cy, left - cx:r - cx].reshape(-1, 3).mean(axis=0))
        i0, j0, i1, j1 = blocks_inside((t, left, b, r), crop_origin, s)
        assert i1 > i0 and j1 > j0
        pm.append(p_lin[i0:i1, j0:j1].reshape(-1, 3).mean(axis=0))
    return colour.delta_E(lab(np.array(dm), space), lab(np.array(pm), space), method="CIE 2000")


def flat_mosaic(shape, pattern: str, per_colour, black: float, white: float) -> np.ndarray:
    """A mosaic whose every site of colour c holds black + per_colour[c] * (white - black), rounded."""
    n = int(round(len(pattern) ** 0.5))
    codes = np.array([LETTER[c] for c in pattern]).reshape(n, n)
    h, w = shape
    idx = codes[np.arange(h)[:, None] % n, np.arange(w)[None, :] % n]
    vals = black + np.asarray(per_colour, np.float64)[idx] * (white - black)
    return np.clip(np.round(vals), 0, 65535).astype(np.uint16)


@pytest.fixture(scope="module")
def camera():
    """A real-camera-like colour model (the chart's Nikon characterisation, daylight) as write_dng kwargs."""
    scene = colour_chart(illuminant="D65", patch_px=8, gap_px=2)
    keep = ("color_matrix1", "color_matrix2", "calibration_illuminant1", "calibration_illuminant2",
            "as_shot_neutral")
    return {k: scene.dng[k] for k in keep}


def assert_uniform_equal(prev, dev, atol=2e-6):
    """The develop of a uniform field is uniform; the preview must hold that same value everywhere."""
    value = np.median(dev.reshape(-1, 3), axis=0)
    inner = dev[4:-4, 4:-4] if min(dev.shape[:2]) > 8 else dev
    np.testing.assert_allclose(inner, np.broadcast_to(value, inner.shape), atol=atol)  # oracle is flat
    np.testing.assert_allclose(prev, np.broadcast_to(value, prev.shape), atol=atol)


# ------------------------------------------------------------------------------------------------
# uniform fields: the preview equals the develop
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("shape", [(40, 56), (41, 57)])
def test_flat_neutral_equals_develop(tmp_path, camera, pattern, shape):
    neutral = np.asarray(camera["as_shot_neutral"], np.float64)
    data = flat_mosaic(shape, pattern, 0.4 * neutral, 512, 16383)
    data, meta = read(write_dng(tmp_path / "flat.dng", data, cfa_pattern=pattern, black_level=512,
                                white_level=16383, **camera))
    dev = develop(data, meta).data
    for s in SCALES[:2]:
        img = preview(data, meta, scale=s)
        assert img.data.dtype == np.float32 and img.data.flags.c_contiguous
        assert img.data.shape == (shape[0] // s, shape[1] // s, 3)
        assert_uniform_equal(img.data, dev)
    # grey really is grey: the camera's neutral maps to R = G = B
    assert np.ptp(np.median(dev.reshape(-1, 3), axis=0)) < 1e-4


@pytest.mark.parametrize("params", [
    DevelopParams(space="p3"),
    DevelopParams(exposure=-1.3),
    DevelopParams(white_balance="custom", temperature=3200.0, tint=12.0),
    DevelopParams(white_balance="daylight", baseline_exposure=False),
    DevelopParams(highlights="none", exposure=-2.0),
    DevelopParams(workers=1),
])
def test_flat_params_follow_develop(tmp_path, camera, params):
    neutral = np.asarray(camera["as_shot_neutral"], np.float64)
    data = flat_mosaic((32, 48), "RGGB", 0.3 * neutral, 512, 16383)
    data, meta = read(write_dng(tmp_path / "flat.dng", data, black_level=512, white_level=16383,
                                baseline_exposure=0.5, **camera))
    assert_uniform_equal(preview(data, meta, params).data, develop(data, meta, params).data)


def test_overrides_equal_params(tmp_path, camera):
    data = flat_mosaic((16, 24), "RGGB", [0.2, 0.3, 0.25], 512, 16383)
    data, meta = read(write_dng(tmp_path / "o.dng", data, black_level=512, white_level=16383, **camera))
    a = preview(data, meta, DevelopParams(space="p3", exposure=0.5)).data
    np.testing.assert_array_equal(preview(data, meta, space="p3", exposure=0.5).data, a)
    np.testing.assert_array_equal(preview(data, meta, DevelopParams(space="p3"), exposure=0.5).data, a)


@pytest.mark.parametrize("highlights", ["clip", "none"])
def test_flat_overexposed_clips_like_develop(tmp_path, camera, highlights):
    """Sensor saturation: every site at the white level. With clipping, the white-balance gains push
    red and blue past 1 and both paths must clip per site (before the green mean) to the same white."""
    data = np.full((24, 32), 16383, np.uint16)
    data, meta = read(write_dng(tmp_path / "white.dng", data, black_level=512, white_level=16383, **camera))
    p = DevelopParams(highlights=highlights, exposure=-1.0)
    assert_uniform_equal(preview(data, meta, p).data, develop(data, meta, p).data)


@pytest.mark.parametrize("variant", ["site_black", "black_deltas", "table", "float"])
def test_linearisation_variants_equal_develop(tmp_path, camera, variant):
    """Per-site black (fused path), BlackLevelDeltaH/V and LinearizationTable (the develop's linearize
    on each band) and float samples all give the develop's value."""
    neutral = np.asarray(camera["as_shot_neutral"], np.float64)
    h, w = 34, 46
    kw = dict(camera)
    if variant == "site_black":
        blacks = np.array([[500.0, 530.0], [515.0, 545.0]])
        data = flat_mosaic((h, w), "RGGB", 0.35 * neutral, 0, 16383).astype(np.float64)
        data = data * (16383 - blacks[np.arange(h)[:, None] % 2, np.arange(w)[None, :] % 2]) / 16383
        data = np.round(data + blacks[np.arange(h)[:, None] % 2, np.arange(w)[None, :] % 2]).astype(np.uint16)
        kw.update(black_level=blacks, black_level_repeat=(2, 2), white_level=16383)
    elif variant == "black_deltas":  # with a 2x2 black pattern and an odd crop origin (re-anchored per band)
        blacks = np.array([[500.0, 530.0], [515.0, 545.0]])
        dv = np.linspace(-20, 30, h).round()
        dh = np.linspace(15, -10, w).round()
        base = blacks[np.arange(h)[:, None] % 2, np.arange(w)[None, :] % 2] + dv[:, None] + dh[None, :]
        sig = flat_mosaic((h, w), "RGGB", 0.35 * neutral, 0, 16383).astype(np.float64)
        data = np.round(base + sig * (16383 - base) / 16383).astype(np.uint16)
        kw.update(black_level=blacks, black_level_repeat=(2, 2), black_level_delta_v=dv,
                  black_level_delta_h=dh, white_level=16383, default_crop=(1, 1, h - 3, w - 3))
    elif variant == "table":
        table = np.minimum(np.arange(8192) * 2, 65535)  # stored v means 2v
        data = flat_mosaic((h, w), "RGGB", 0.35 * neutral, 1024, 32766) // 2
        kw.update(black_level=1024, white_level=32766, linearization_table=table)
    else:
        data = (0.35 * neutral)[flat_mosaic((h, w), "RGGB", [0, 1, 2], 0, 1)].astype(np.float32)
        kw.update(black_level=0, white_level=1)
    data, meta = read(write_dng(tmp_path / f"{variant}.dng", data, **kw))
    dev = develop(data, meta).data
    # stored integers round the signal by up to 0.5 DN (3e-5 of the range) where the black level varies
    assert_uniform_equal(preview(data, meta).data, dev, atol=1.5e-4 if variant != "float" else 2e-6)


# ------------------------------------------------------------------------------------------------
# the colour chart: patch colours as the develop's
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("illuminant,space,noise",
                         [("D65", "srgb", 0.0), ("A", "p3", 0.0), ("A", "srgb", 4.0)])
def test_chart_patches_match_develop(tmp_path, illuminant, space, noise):
    scene = colour_chart(illuminant=illuminant, noise=noise, seed=5)
    data, meta = read(scene.write(tmp_path / "chart.dng"))
    p = DevelopParams(space=space)
    dev = develop(data, meta, p).data
    for s in (2, 4):
        img = preview(data, meta, p, scale=s)
        de = patch_delta_e(dev, img.data, scene.truth.rects, (0, 0), s, space)
        assert de.max() <= 0.5, (s, de.round(3))
    # the comparison can fail: a preview with the wrong white balance is far off
    wrong = preview(data, meta, DevelopParams(space=space, white_balance="custom", temperature=3000.0))
    assert patch_delta_e(dev, wrong.data, scene.truth.rects, (0, 0), 2, space).max() > 3


@pytest.mark.parametrize("pattern", PATTERNS)
def test_chart_every_phase_odd_size_and_odd_crop(tmp_path, pattern):
    """All four Bayer phases, an odd-sized active area at an odd offset in the stored image, and a
    DefaultCrop with an odd origin (which moves the colour phase of the blocks): patch colours still
    match the develop."""
    scene = colour_chart(cfa_pattern=pattern, patch_px=16, gap_px=4)
    active = scene.data[:-1, :-1]  # odd height and width
    h, w = active.shape
    crop = (1, 3, h - 2, w - 6)  # odd origin, odd size
    stored = np.full((h + 5, w + 8), 300, np.uint16)  # masked borders of 3 / 2 rows and 5 / 3 columns
    stored[3:3 + h, 5:5 + w] = active
    data, meta = read(write_dng(tmp_path / "chart.dng", stored, **scene.dng, default_crop=crop,
                                active_area=(3, 5, 3 + h, 5 + w)))
    dev = develop(data, meta).data
    img = preview(data, meta)
    assert img.data.shape == (crop[2] // 2, crop[3] // 2, 3) == (dev.shape[0] // 2, dev.shape[1] // 2, 3)
    de = patch_delta_e(dev, img.data, scene.truth.rects, crop[:2], 2)
    assert de.max() <= 0.5, de.round(3)


def test_chart_profile_tables_as_develop(tmp_path):
    """ProfileHueSatMap and ProfileLookTable (built in memory) act on the preview as on the develop."""
    scene = colour_chart(illuminant="D65", patch_px=16, gap_px=4)
    data, meta = read(scene.write(tmp_path / "chart.dng"))
    hue = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    table = np.ones((1, 6, 3, 3), np.float32)  # (value, hue, sat, [shift deg, sat scale, val scale])
    table[0, :, :, 0] = (12 * np.sin(hue))[:, None]
    table[0, :, 1:, 1] = 0.85
    look = np.ones((2, 6, 2, 3), np.float32)
    look[:, :, :, 2] = np.array([0.9, 1.05])[:, None, None]
    color = dataclasses.replace(meta.color, hue_sat_map=(HueSatMap(table), None), look_table=HueSatMap(look))
    meta = meta.replace(color=color)
    dev = develop(data, meta).data
    de = patch_delta_e(dev, preview(data, meta).data, scene.truth.rects, (0, 0), 2)
    assert de.max() <= 0.5, de.round(3)
    untabled = preview(data, meta, DevelopParams(profile_tables=False)).data
    assert patch_delta_e(dev, untabled, scene.truth.rects, (0, 0), 2).max() > 1.0  # the tables matter


# ------------------------------------------------------------------------------------------------
# geometry: crop, orientation, scales, LinearRaw (exact box means)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_shape_and_orientation_follow_develop(tmp_path, orientation):
    scene = colour_chart(patch_px=16, gap_px=4)
    crop = (2, 4, 78, 114)
    data, meta = read(scene.write(tmp_path / "o.dng", default_crop=crop, orientation=orientation))
    dev = develop(data, meta).data
    for s in SCALES:
        img = preview(data, meta, scale=s)
        assert img.orientation == 1
        assert img.data.shape == (dev.shape[0] // s, dev.shape[1] // s, 3)
    # content: the preview is close to the develop's box mean, and far from it in any other orientation
    p2 = decode(preview(data, meta).data)
    ref = box(decode(dev), 2)
    assert np.abs(p2 - ref).mean() < 0.01
    assert np.abs(p2[::-1, ::-1] - ref).mean() > 0.03  # the test can tell orientations apart
    unoriented = preview(data, meta, DevelopParams(orient=False))
    assert unoriented.orientation == orientation
    assert unoriented.data.shape == (crop[2] // 2, crop[3] // 2, 3)
    uncropped = preview(data, meta, DevelopParams(crop=False, orient=False))
    assert uncropped.data.shape == (data.shape[0] // 2, data.shape[1] // 2, 3)


def _linear_raw_scene(h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.uniform(0.15, 0.55, (h // 8 + 2, w // 8 + 2, 3))
    yy, xx = np.mgrid[0:h, 0:w] / 8.0
    y0, x0 = yy.astype(int), xx.astype(int)
    fy, fx = (yy - y0)[..., None], (xx - x0)[..., None]
    img = (small[y0, x0] * (1 - fy) * (1 - fx) + small[y0 + 1, x0] * fy * (1 - fx)
           + small[y0, x0 + 1] * (1 - fy) * fx + small[y0 + 1, x0 + 1] * fy * fx)
    img += rng.normal(0, 0.01, img.shape)  # texture inside the blocks, so block means are tested
    return np.round(256 + np.clip(img, 0, 1) * (16383 - 256)).astype(np.uint16)


def _band_opcodes(h, w) -> bytes:
    rng = np.random.default_rng(7)
    Area = oc.AreaSpec  # noqa: N806
    ops = [
        oc.GainMap(Area(0, 0, h, w, 0, 3), 5, 7, 0.25, 1 / 6, 0.0, 0.0, 3,
                   tuple(rng.uniform(0.85, 1.15, 5 * 7 * 3))),
        oc.DeltaPerRow(Area(3, 0, h - 5, w, 1, 1, 3, 1),
                       tuple(rng.uniform(-300, 300, len(range(3, h - 5, 3))))),
        oc.ScalePerColumn(Area(0, 5, h, w - 3, 0, 3, 1, 2),
                          tuple(rng.uniform(0.9, 1.1, len(range(5, w - 3, 2))))),
        oc.MapPolynomial(Area(10, 9, 40, 50, 2, 1), (0.01, 0.95, 0.05)),
    ]
    return oc.encode_opcode_list([oc.Opcode.make(p) for p in ops])


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("with_opcodes", [False, True])
@pytest.mark.parametrize("table", [False, True])
def test_linear_raw_is_the_box_mean_of_the_develop(tmp_path, s, with_opcodes, table):
    """LinearRaw has no demosaic, so the preview must be the s x s mean of the develop in linear light,
    with an odd-sized image and an odd crop origin; with OpcodeList2 GainMap / DeltaPerRow /
    ScalePerColumn / MapPolynomial on pitched partial areas (which the preview applies band by band);
    with a LinearizationTable (linearised by the develop's linearize, band by band)."""
    h, w = 67, 90
    data = _linear_raw_scene(h, w)
    kw = dict(neutral_camera_dng(), black_level=256, white_level=16383, default_crop=(1, 3, 63, 85))
    if table:  # stored v means 2v + 1
        data = (data - 1) // 2
        kw["linearization_table"] = np.minimum(np.arange(8192) * 2 + 1, 65535)
    if with_opcodes:
        kw["opcode_list2"] = _band_opcodes(h, w)
    data, meta = read(write_dng(tmp_path / "lin.dng", data, **kw))
    assert meta.photometric == "linear_raw"
    dev = decode(develop(data, meta).data)
    assert dev.max() < 0.99 and dev.min() > 0.01  # nothing clips: box means commute with the develop
    img = decode(preview(data, meta, scale=s).data)
    np.testing.assert_allclose(img, box(dev, s), atol=2e-5)


@pytest.mark.parametrize("s", SCALES)
@pytest.mark.parametrize("centre", [(0.45, 0.55), (0.5, 0.5), (0.9, 0.2)])
def test_list3_vignette_and_gain_map_at_block_centres(tmp_path, s, centre):
    """OpcodeList3 FixVignetteRadial and GainMap act on the block means with the gain of the block's
    centre, computed here in closed form from the DNG definitions: r = distance to (cx W, cy H) over
    the distance to the farthest corner, g = 1 + k0 r^2 + k1 r^4; the map bilinear in relative
    position, clamped at its edges. Odd size, odd crop origin: the blocks' centres are not a scaled
    copy of the full image's pixel grid."""
    h, w = 67, 90
    ct, cl, ch, cw = 1, 3, 63, 85
    k = (0.3, 0.1)
    gmap = np.random.default_rng(3).uniform(0.85, 1.15, (4, 5))
    origin, spacing = (0.05, 0.0), (0.3, 0.25)
    ops = [oc.FixVignetteRadial(k + (0.0, 0.0, 0.0), centre[0], centre[1]),
           oc.GainMap(oc.AreaSpec(0, 0, 0, 0, 0, 3), 4, 5, spacing[0], spacing[1], origin[0], origin[1], 1,
                      tuple(gmap.ravel()))]
    data = _linear_raw_scene(h, w)
    kw = dict(neutral_camera_dng(), black_level=256, white_level=16383, default_crop=(ct, cl, ch, cw))
    bare, meta_bare = read(write_dng(tmp_path / "bare.dng", data, **kw))
    data, meta = read(write_dng(tmp_path / "l3.dng", data, **kw,
                                opcode_list3=oc.encode_opcode_list([oc.Opcode.make(p) for p in ops])))
    # both opcodes scale all planes alike, so they commute with the colour matrix
    expected = box(decode(develop(bare, meta_bare).data), s)
    yc = ct + s * (np.arange(expected.shape[0]) + 0.5)  # block centres, active-area pixels
    xc = cl + s * (np.arange(expected.shape[1]) + 0.5)
    px, py = centre[0] * w, centre[1] * h
    r2 = ((xc[None, :] - px) ** 2 + (yc[:, None] - py) ** 2) / (max(px, w - px) ** 2 + max(py, h - py) ** 2)
    g = 1 + k[0] * r2 + k[1] * r2**2
    iv = np.clip((yc / h - origin[0]) / spacing[0], 0, 3)
    ih = np.clip((xc / w - origin[1]) / spacing[1], 0, 4)
    across = np.array([np.interp(ih, np.arange(5), row) for row in gmap])  # (4, n cols)
    g = g * np.array([[np.interp(v, np.arange(4), across[:, j]) for j in range(len(xc))] for v in iv])
    img = decode(preview(data, meta, scale=s).data)
    np.testing.assert_allclose(img, expected * g[:, :, None], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("s", SCALES)
def test_list3_warp_on_block_means(tmp_path, s):
    """WarpRectilinear (radial and tangential terms, off-centre) in OpcodeList3. On a scene that is a
    linear ramp in every channel, bilinear resampling is exact and a block's mean is the ramp at its
    centre, so the preview's warp of the block means must equal the box mean of the develop's
    full-resolution warp (away from the borders, where the two images clamp differently)."""
    h, w = 67, 90
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    ramp = np.stack([0.1 + 0.5 * (a * xx / w + (1 - a) * yy / h) for a in (0.8, 0.3, 0.55)], axis=-1)
    data = np.round(256 + ramp * (16383 - 256)).astype(np.uint16)
    warp = oc.WarpRectilinear(((1.0, 0.05, -0.02, 0.0, 0.02, -0.015),), 0.45, 0.55)
    kw = dict(neutral_camera_dng(), black_level=256, white_level=16383, default_crop=(1, 3, 63, 85),
              opcode_list3=oc.encode_opcode_list([oc.Opcode.make(warp)]))
    data, meta = read(write_dng(tmp_path / "warp.dng", data, **kw))
    dev = box(decode(develop(data, meta).data), s)
    img = decode(preview(data, meta, scale=s).data)
    m = -(-12 // s)  # blocks within 12 pixels of a border are left out
    np.testing.assert_allclose(img[m:-m, m:-m], dev[m:-m, m:-m], atol=2e-4)


# ------------------------------------------------------------------------------------------------
# opcodes
# ------------------------------------------------------------------------------------------------


def test_gain_map_list2_per_site_is_exact(tmp_path):
    """Four per-CFA-site GainMaps (pitch 2) in OpcodeList2 undo a colour shading exactly at every site."""
    scene = flat_field_with_shading(kind="gain_map", size=(96, 128), level=0.4)
    data, meta = read(scene.write(tmp_path / "gm.dng"))
    dev = develop(data, meta).data
    img = preview(data, meta).data
    value = np.median(dev.reshape(-1, 3), axis=0)
    np.testing.assert_allclose(img, np.broadcast_to(value, img.shape), atol=2e-4)  # 0.5 DN of rounding
    # the shading was strong: without the opcodes the corners are dark
    bare = preview(data, meta.replace(opcode_lists=(None, None, None))).data
    assert bare[0, 0, 1] < value[1] - 0.1


def test_preview_skip_flag_is_honoured(tmp_path):
    scene = flat_field_with_shading(kind="gain_map", size=(64, 96), per_cfa=False)
    gmap = scene.truth.params["maps"][(0, 0)]
    skip = opcode_list(gain_map_opcode(gmap, bottom=64, right=96, flags=2))
    data, meta = read(scene.write(tmp_path / "skip.dng", opcode_list2=skip))
    bare = preview(data, meta.replace(opcode_lists=(None, None, None))).data
    np.testing.assert_array_equal(preview(data, meta).data, bare)
    assert np.ptp(decode(develop(data, meta).data)[8:-8, 8:-8, 1]) < 0.01  # the develop applies it


def test_vignette_list3_on_block_means(tmp_path):
    """FixVignetteRadial in OpcodeList3 on the half-size image: flat within 1/255 in encoded values
    (red and blue sit half a pixel from their block's centre, where the gain is evaluated)."""
    scene = flat_field_with_shading(kind="vignette_radial", size=(96, 128))
    data, meta = read(scene.write(tmp_path / "vig.dng"))
    dev = develop(data, meta).data
    img = preview(data, meta).data
    value = np.median(dev.reshape(-1, 3), axis=0)
    assert np.abs(img - value).max() < 1 / 255
    bare = preview(data, meta.replace(opcode_lists=(None, None, None))).data
    assert np.abs(bare - value).max() > 0.1


def test_bad_pixels_in_list1_take_the_full_resolution_route(tmp_path, camera):
    neutral = np.asarray(camera["as_shot_neutral"], np.float64)
    data = flat_mosaic((40, 48), "RGGB", 0.3 * neutral, 512, 16383)
    bad = ((10, 12), (21, 31), (30, 7))
    for y, x in bad:
        data[y, x] = 0
    ops = oc.encode_opcode_list([oc.Opcode.make(oc.FixBadPixelsList(0, points=bad))])
    data, meta = read(write_dng(tmp_path / "bad.dng", data, black_level=512, white_level=16383,
                                opcode_list1=ops, **camera))
    dev = develop(data, meta).data
    assert_uniform_equal(preview(data, meta).data, dev, atol=1e-5)
    bare = preview(data, meta.replace(opcode_lists=(None, None, None))).data
    assert np.abs(bare - np.median(dev.reshape(-1, 3), axis=0)).max() > 0.05  # the repair mattered


def test_warp_list3_close_to_develop(tmp_path):
    scene = colour_chart(patch_px=32, gap_px=8)
    warp = oc.encode_opcode_list([oc.Opcode.make(oc.WarpRectilinear(((1.0, 0.01, 0.0, 0.0, 0.0, 0.0),)))])
    data, meta = read(scene.write(tmp_path / "warp.dng", opcode_list3=warp))
    de = patch_delta_e(develop(data, meta).data, preview(data, meta).data, scene.truth.rects, (0, 0), 2)
    assert de.max() <= 0.5


def test_unsupported_list3_opcode_warns_and_is_skipped(tmp_path, camera):
    neutral = np.asarray(camera["as_shot_neutral"], np.float64)
    data = flat_mosaic((32, 40), "RGGB", 0.3 * neutral, 512, 16383)
    rows = oc.ScalePerRow(oc.AreaSpec(0, 0, 32, 40, 0, 3), tuple(np.linspace(0.8, 1.2, 32)))
    data, meta = read(write_dng(tmp_path / "spr.dng", data, black_level=512, white_level=16383,
                                opcode_list3=oc.encode_opcode_list([oc.Opcode.make(rows)]), **camera))
    with pytest.warns(RotpunktWarning, match="ScalePerRow"):
        img = preview(data, meta).data
    bare = preview(data, meta.replace(opcode_lists=(None, None, None))).data
    np.testing.assert_array_equal(img, bare)


# ------------------------------------------------------------------------------------------------
# CFAs whose blocks miss a colour; contracts
# ------------------------------------------------------------------------------------------------


def test_quad_bayer_needs_scale_4_or_takes_the_demosaic_route(tmp_path, camera):
    quad = "RRGGRRGGGGBBGGBB"
    neutral = np.asarray(camera["as_shot_neutral"], np.float64)
    data = flat_mosaic((48, 64), quad, 0.3 * neutral, 512, 16383)
    data, meta = read(write_dng(tmp_path / "quad.dng", data, cfa_pattern=quad, black_level=512,
                                white_level=16383, **camera))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RotpunktWarning)  # rcd -> bilinear for a 4x4 CFA
        dev = develop(data, meta).data
    for s in (2, 4):
        img = preview(data, meta, scale=s).data
        assert img.shape == (48 // s, 64 // s, 3)
        assert_uniform_equal(img, dev, atol=1e-5)


def test_input_not_modified(tmp_path):
    scene = flat_field_with_shading(kind="gain_map", size=(48, 64))
    data, meta = read(scene.write(tmp_path / "in.dng"))
    data.flags.writeable = True
    before = data.copy()
    black_before = np.array(meta.black_level, copy=True)
    preview(data, meta)
    preview(data, meta, DevelopParams(highlights="none"), scale=4)
    np.testing.assert_array_equal(data, before)
    np.testing.assert_array_equal(meta.black_level, black_before)
    ro = before.copy()
    ro.flags.writeable = False  # read-only input works too
    np.testing.assert_array_equal(preview(ro, meta).data, preview(data, meta).data)


@pytest.mark.parametrize("kwargs", [
    dict(params={"exposure": 1.0}),
    dict(params=DevelopParams(exposure=40.0)),
    dict(params=DevelopParams(space="adobe")),
    dict(params=DevelopParams(workers=0)),
    dict(scale=3),
    dict(scale=1),
    dict(scale=True),
    dict(scale=2.0),
    dict(scale=16),
    dict(exposur=1.0),
    dict(space="rec2020"),
])
def test_bad_params_raise(tmp_path, camera, kwargs):
    data = flat_mosaic((16, 16), "RGGB", [0.2, 0.3, 0.25], 512, 16383)
    data, meta = read(write_dng(tmp_path / "p.dng", data, black_level=512, white_level=16383, **camera))
    with pytest.raises(InvalidParams):
        preview(data, meta, **kwargs)


def test_bad_inputs_raise(tmp_path, camera):
    data = flat_mosaic((16, 16), "RGGB", [0.2, 0.3, 0.25], 512, 16383)
    data, meta = read(write_dng(tmp_path / "p.dng", data, black_level=512, white_level=16383, **camera))
    with pytest.raises(InvalidParams):
        preview(data.tolist(), meta)
    with pytest.raises(InvalidParams):
        preview(data, {"width": 16})
    with pytest.raises(InvalidParams, match="smaller than one 8x8"):
        preview(data[:6], meta.replace(height=6), scale=8)
