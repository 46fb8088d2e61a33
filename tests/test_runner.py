"""Tests of rotpunkt.runner: tiled develop equals the whole-image develop, in bounded memory.

Oracle: the whole-image recipe (rotpunkt.pipeline.scene_linear / develop) on synthetic DNGs written by
the project's DNG writer (a spectral colour chart, a slanted edge, a random texture with every geometry
and black-level tag), compared in linear light (max abs difference < 1e-5) and after quantisation
(rotpunkt.io.write.quantize of the whole result). Geometry helpers are checked against closed forms.
"""

from __future__ import annotations

import dataclasses
import tracemalloc
import warnings

import numpy as np
import pytest
from dngwriter import write_dng
from scenes import colour_chart, flat_field_with_shading, slanted_edge

from rotpunkt import pipeline
from rotpunkt.errors import InvalidParams, RotpunktWarning
from rotpunkt.io import read
from rotpunkt.io.write import quantize
from rotpunkt.pipeline import DevelopParams, develop, scene_linear
from rotpunkt.runner import (
    develop_tiled,
    fallback_reason,
    linearize_window,
    orientation_view,
    oriented_shape,
    plan_bands,
    shift_pattern,
)
from rotpunkt.stages.linearize import linearize
from rotpunkt.types import HueSatMap

LINEAR_TOL = 1e-5
BLACK, WHITE = 512, 16383


def _texture_raw(h: int, w: int, seed: int = 3) -> np.ndarray:
    """Random texture: smooth colour blobs plus per-pixel noise, some samples below black and at white."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    smooth = 0.45 + 0.4 * np.sin(x / 7.3 + np.sin(y / 11.0) * 2.0) * np.cos(y / 5.1)
    noise = rng.normal(0.0, 0.08, (h, w))
    sig = BLACK - 40 + (smooth + noise) * (WHITE - BLACK + 80)
    return np.clip(np.round(sig), 0, WHITE).astype(np.uint16)


def _texture_dng(path, *, h=70, w=94, orientation=6, table=False, pattern="GRBG"):
    """The random texture with odd active-area offsets, a 2x2 black pattern, per-row/column black deltas,
    an odd DefaultCrop and an orientation; optionally a LinearizationTable."""
    ah, aw = h - 5, w - 7
    raw = _texture_raw(h, w)
    kw = {}
    if table:
        # stored value v means table[v]: a gentle curve over 0..16383
        v = np.arange(16384, dtype=np.float64)
        kw["linearization_table"] = np.round(v + 200.0 * np.sin(v / 16383.0 * np.pi)).astype(np.uint16)
    write_dng(
        path, raw, cfa_pattern=pattern, white_level=WHITE,
        black_level=[BLACK, BLACK + 6, BLACK - 5, BLACK + 3], black_level_repeat=(2, 2),
        black_level_delta_h=np.linspace(-3.0, 4.0, aw), black_level_delta_v=np.linspace(2.0, -5.0, ah),
        active_area=(3, 5, 3 + ah, 5 + aw), default_crop=(5, 7, ah - 13, aw - 11), orientation=orientation,
        as_shot_neutral=np.array([0.55, 1.0, 0.7]), preview=False, **kw,
    )
    return read(path)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """name -> (stored data, metadata)."""
    d = tmp_path_factory.mktemp("runner")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            "chart": read(colour_chart(patch_px=16, gap_px=4, noise=30.0).write(d / "chart.dng")),
            "edge": read(slanted_edge(size=(90, 124), blur_sigma=0.8, noise=10.0).write(d / "edge.dng")),
            "texture": _texture_dng(d / "texture.dng"),
        }
    return out


def _linear_diff(data, meta, p, tile_rows):
    whole, _ = scene_linear(data, meta, p)
    tiled = develop_tiled(data, meta, p, tile_rows=tile_rows, linear=True)
    assert tiled.data.dtype == np.float32
    assert tiled.data.shape == whole.shape
    return float(np.max(np.abs(tiled.data - whole)))


# --------------------------------------------------------------------------------------------------
# Tiled equals whole


@pytest.mark.parametrize("method", ["rcd", "bilinear"])
@pytest.mark.parametrize("name", ["chart", "edge", "texture"])
def test_tiled_linear_equals_whole(scenes, name, method):
    data, meta = scenes[name]
    p = DevelopParams(demosaic=method)
    for tile_rows in (1, 16, 37, 512):  # a single row, small, odd, bigger than the image
        assert _linear_diff(data, meta, p, tile_rows) < LINEAR_TOL, (name, method, tile_rows)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_and_crop(scenes, orientation):
    data, meta = scenes["texture"]
    meta = meta.replace(orientation=orientation)
    assert _linear_diff(data, meta, DevelopParams(), 13) < LINEAR_TOL
    img = develop_tiled(data, meta, tile_rows=13, out_dtype=np.uint8)
    top, left, ch, cw = meta.default_crop
    assert img.data.shape == oriented_shape((ch, cw, 3), orientation)
    assert img.orientation == 1
    unoriented = develop_tiled(data, meta, tile_rows=13, orient=False)
    assert unoriented.data.shape == (ch, cw, 3) and unoriented.orientation == orientation


def test_crop_and_orient_off(scenes):
    data, meta = scenes["texture"]
    p = DevelopParams(crop=False, orient=False, exposure=0.7, highlights="none", space="p3")
    assert _linear_diff(data, meta, p, 9) < LINEAR_TOL
    img = develop_tiled(data, meta, p, tile_rows=9, linear=True)
    a = meta.active_area
    assert img.data.shape == (a[2] - a[0], a[3] - a[1], 3) and img.space == "linear_p3"


def test_linearization_table(tmp_path):
    data, meta = _texture_dng(tmp_path / "lut.dng", table=True, pattern="BGGR", orientation=3)
    assert meta.linearization_table is not None
    for method in ("rcd", "bilinear"):
        assert _linear_diff(data, meta, DevelopParams(demosaic=method), 21) < LINEAR_TOL


@pytest.mark.parametrize("out_dtype,bits", [(np.uint8, 8), (np.uint16, 16)])
@pytest.mark.parametrize("method", ["rcd", "bilinear"])
def test_quantised_equals_quantize_of_develop(scenes, out_dtype, bits, method):
    for name in ("chart", "texture"):
        data, meta = scenes[name]
        expect = quantize(develop(data, meta, demosaic=method).data, bits)
        for tile_rows in (16, 45):
            got = develop_tiled(data, meta, demosaic=method, tile_rows=tile_rows, out_dtype=out_dtype)
            assert got.data.dtype == out_dtype and got.data.shape == expect.shape
            diff = np.abs(got.data.astype(np.int64) - expect.astype(np.int64))
            assert diff.max() <= 1, (name, tile_rows)
            assert np.array_equal(got.data, expect), (name, tile_rows, int(np.count_nonzero(diff)))


def test_float_output_equals_develop(scenes):
    data, meta = scenes["chart"]
    expect = develop(data, meta)
    got = develop_tiled(data, meta, tile_rows=10)
    assert got.data.dtype == np.float32 and got.space == expect.space == "srgb"
    assert float(np.max(np.abs(got.data - expect.data))) < 1e-6
    assert got.exif == expect.exif and got.orientation == expect.orientation and got.source == expect.source


def test_input_unchanged(scenes):
    data, meta = scenes["texture"]
    before = data.copy()
    black, dh = np.array(meta.black_level, copy=True), np.array(meta.black_level_delta_h, copy=True)
    develop_tiled(data, meta, tile_rows=8, out_dtype=np.uint16)
    develop_tiled(data, meta, tile_rows=8, linear=True)
    assert np.array_equal(data, before)
    assert np.array_equal(meta.black_level, black) and np.array_equal(meta.black_level_delta_h, dh)


def test_single_worker_same_result(scenes):
    data, meta = scenes["edge"]
    a = develop_tiled(data, meta, tile_rows=20, out_dtype=np.uint16, workers=1).data
    b = develop_tiled(data, meta, tile_rows=20, out_dtype=np.uint16, workers=2).data
    assert np.array_equal(a, b)


# --------------------------------------------------------------------------------------------------
# Opcodes, profile tables, other layouts


def test_opcode_list2_is_tiled_and_equal(tmp_path):
    scene = flat_field_with_shading("gain_map", size=(64, 80), noise=5.0)
    data, meta = read(scene.write(tmp_path / "gain.dng"))
    assert meta.opcode_lists[1] and fallback_reason(data, meta) is None
    for method in ("rcd", "bilinear"):
        assert _linear_diff(data, meta, DevelopParams(demosaic=method), 11) < LINEAR_TOL
    expect = quantize(develop(data, meta).data, 8)
    assert np.array_equal(develop_tiled(data, meta, tile_rows=11, out_dtype=np.uint8).data, expect)


def test_opcode_list3_falls_back_to_whole(tmp_path):
    scene = flat_field_with_shading("vignette_radial", size=(64, 80))
    data, meta = read(scene.write(tmp_path / "vig.dng"))
    assert "OpcodeList3" in fallback_reason(data, meta)
    assert _linear_diff(data, meta, DevelopParams(), 11) < LINEAR_TOL
    expect = quantize(develop(data, meta).data, 16)
    assert np.array_equal(develop_tiled(data, meta, tile_rows=11, out_dtype=np.uint16).data, expect)


def test_profile_tables_are_tiled_and_equal(scenes):
    data, meta = scenes["chart"]
    v, h, s = 2, 6, 3  # value, hue, saturation divisions
    rng = np.random.default_rng(5)
    hsm = np.stack([rng.uniform(-20, 20, (v, h, s)), rng.uniform(0.8, 1.2, (v, h, s)),
                    rng.uniform(0.9, 1.1, (v, h, s))], axis=-1).astype(np.float32)
    look = np.stack([rng.uniform(-10, 10, (1, h, s)), rng.uniform(0.9, 1.3, (1, h, s)),
                     np.ones((1, h, s))], axis=-1).astype(np.float32)
    color = dataclasses.replace(meta.color, hue_sat_map=(HueSatMap(hsm, 0), None),
                                look_table=HueSatMap(look, 1))
    tables = meta.replace(color=color)
    p = DevelopParams(exposure=0.4)
    plain, _ = scene_linear(data, meta, p)
    with_tables, _ = scene_linear(data, tables, p)
    assert np.max(np.abs(plain - with_tables)) > 0.01  # the tables do change the picture
    assert fallback_reason(data, tables, p) is None
    assert _linear_diff(data, tables, p, 17) < LINEAR_TOL
    expect = quantize(develop(data, tables, p).data, 8)
    assert np.array_equal(develop_tiled(data, tables, p, tile_rows=17, out_dtype=np.uint8).data, expect)


def test_linear_raw(tmp_path):
    rng = np.random.default_rng(2)
    raw = rng.integers(BLACK - 30, WHITE, (46, 58, 3)).astype(np.uint16)
    write_dng(tmp_path / "lin.dng", raw, cfa_pattern=None, black_level=BLACK, white_level=WHITE,
              as_shot_neutral=np.array([0.6, 1.0, 0.8]), default_crop=(3, 1, 40, 51), preview=False)
    data, meta = read(tmp_path / "lin.dng")
    assert meta.photometric == "linear_raw"
    assert _linear_diff(data, meta, DevelopParams(), 5) < LINEAR_TOL
    expect = quantize(develop(data, meta).data, 16)
    assert np.array_equal(develop_tiled(data, meta, tile_rows=5, out_dtype=np.uint16).data, expect)


# X-Trans-like 6x6 (non-Bayer) and a Bayer pattern written as a 4x4 repeat
XTRANS = "GGRGGB" "GGBGGR" "BRGRBG" "GGBGGR" "GGRGGB" "RBGBRG"
BAYER_4X4 = "RGRG" "GBGB" "RGRG" "GBGB"


@pytest.mark.parametrize("pattern,bayer", [(XTRANS, False), (BAYER_4X4, True)])
def test_other_cfa_layouts(tmp_path, pattern, bayer):
    raw = _texture_raw(60, 72, seed=9)
    write_dng(tmp_path / "cfa.dng", raw, cfa_pattern=pattern, black_level=BLACK, white_level=WHITE,
              as_shot_neutral=np.array([0.5, 1.0, 0.75]), preview=False)
    data, meta = read(tmp_path / "cfa.dng")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = _linear_diff(data, meta, DevelopParams(demosaic="rcd"), 7)
    assert d < LINEAR_TOL
    warned = any(issubclass(w.category, RotpunktWarning) and "bilinear" in str(w.message) for w in caught)
    assert warned != bayer  # rcd falls back to bilinear (with a warning) only for the non-Bayer CFA
    assert _linear_diff(data, meta, DevelopParams(demosaic="bilinear"), 5) < LINEAR_TOL


# --------------------------------------------------------------------------------------------------
# Memory


def test_no_whole_image_float_rgb_temporary(tmp_path):
    """Peak allocation (numpy reports to tracemalloc) stays far below one whole-image float32 RGB."""
    h, w = 2048, 1536  # bands of 32 + 2 * 10 rows: their buffers are a fixed cost, the image's grows
    write_dng(tmp_path / "big.dng", _texture_raw(h, w), cfa_pattern="RGGB", black_level=BLACK,
              white_level=WHITE, as_shot_neutral=np.array([0.55, 1.0, 0.7]), preview=False)
    data, meta = read(tmp_path / "big.dng")
    float_rgb = h * w * 3 * 4
    out_bytes = h * w * 3
    tracemalloc.start()
    try:
        img = develop_tiled(data, meta, tile_rows=32, out_dtype=np.uint8)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert img.data.shape == (h, w, 3)
    print(f"\npeak {peak / 2**20:.1f} MiB (output {out_bytes / 2**20:.1f} MiB, "
          f"a whole float32 RGB {float_rgb / 2**20:.1f} MiB)")
    assert peak - out_bytes < 0.5 * float_rgb


# --------------------------------------------------------------------------------------------------
# Helpers against closed forms


def test_plan_bands_cover_rows_once():
    for start, stop, size, tile, halo in [(0, 100, 100, 16, 10), (5, 94, 100, 7, 2), (0, 1, 1, 512, 10),
                                          (3, 3, 10, 4, 2), (0, 37, 40, 1, 0)]:
        bands = plan_bands(start, stop, size, tile, halo)
        rows = [r for b in bands for r in range(b.r0, b.r1)]
        assert rows == list(range(start, stop))
        for b in bands:
            assert b.r1 - b.r0 <= tile
            assert b.i0 == max(0, b.r0 - halo) and b.i1 == min(size, b.r1 + halo)
    with pytest.raises(InvalidParams):
        plan_bands(0, 11, 10, 4, 2)
    with pytest.raises(InvalidParams):
        plan_bands(0, 10, 10, 0, 2)


def test_shift_pattern_closed_form():
    pat = np.arange(12).reshape(3, 4)  # any repeating layout, not only colours
    for row, col in [(0, 0), (1, 0), (2, 3), (7, 5), (4, 11)]:
        s = shift_pattern(pat, row, col)
        for y in range(6):
            for x in range(8):
                assert s[y % 3, x % 4] == pat[(y + row) % 3, (x + col) % 4]


def test_orientation_view_matches_pipeline_and_closed_form():
    a = np.arange(4 * 5 * 3).reshape(4, 5, 3)
    for o in range(0, 10):  # 0 and 9 are invalid: treated as 1, as the pipeline does
        out = np.zeros(oriented_shape(a.shape, o), a.dtype)
        orientation_view(out, o)[...] = a
        assert np.array_equal(out, pipeline.orient(a, o)), o
    # orientation 6: displayed rotated 90 degrees clockwise, so displayed (i, j) = stored (H-1-j, i)
    out = np.zeros((5, 4, 3), a.dtype)
    orientation_view(out, 6)[...] = a
    assert all(np.array_equal(out[i, j], a[3 - j, i]) for i in range(5) for j in range(4))


def test_linearize_window_equals_slice(tmp_path):
    data, meta = _texture_dng(tmp_path / "w.dng", table=True)
    whole = linearize(data, meta)
    rng = np.random.default_rng(1)
    h, w = whole.shape
    for _ in range(12):
        r0, c0 = int(rng.integers(0, h - 1)), int(rng.integers(0, w - 1))
        r1, c1 = int(rng.integers(r0 + 1, h + 1)), int(rng.integers(c0 + 1, w + 1))
        assert np.array_equal(linearize_window(data, meta, (r0, r1), (c0, c1)), whole[r0:r1, c0:c1])
    with pytest.raises(InvalidParams):
        linearize_window(data, meta, (0, h + 1), (0, w))


# --------------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize("kwargs", [
    {"tile_rows": 0}, {"tile_rows": -4}, {"tile_rows": 2.5}, {"tile_rows": True}, {"tile_rows": "16"},
    {"out_dtype": np.int32}, {"out_dtype": np.float64}, {"out_dtype": None}, {"out_dtype": "nonsense"},
    {"linear": True, "out_dtype": np.uint8}, {"linear": "yes"},
    {"demosaic": "ahd"}, {"workers": 0}, {"no_such_param": 1},
])
def test_bad_arguments_raise_invalid_params(scenes, kwargs):
    data, meta = scenes["edge"]
    with pytest.raises(InvalidParams):
        develop_tiled(data, meta, **kwargs)
