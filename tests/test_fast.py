"""The compiled (Halide) kernels of rotpunkt.fast against their numpy references.

Truth: the numpy stages (``rotpunkt.stages.demosaic`` RCD / bilinear, ``colour.apply_matrix`` + clip +
``colour_math.srgb_encode``), which have their own tests against independent references, and the exact
float64 sRGB formula. The demosaic kernels repeat the reference's float32 operations in the same order,
so they must agree to 1e-5 relative (they are in fact bit-identical); colour encoding within 1/65535.
Skipped, with the build's reason, when the extension was not built.
"""

from __future__ import annotations

import numpy as np
import pytest

from rotpunkt import colour_math as cm
from rotpunkt import fast
from rotpunkt.errors import InvalidParams
from rotpunkt.stages import colour as colour_stage
from rotpunkt.stages import demosaic as dm

needs_fast = pytest.mark.skipif(not fast.AVAILABLE, reason=f"rotpunkt.fast unavailable: {fast.REASON}")

#: red phase (row, col) -> 2x2 CFA pattern (0 red, 1 green, 2 blue)
PATTERNS = {
    (0, 0): [[0, 1], [1, 2]],  # RGGB
    (0, 1): [[1, 0], [2, 1]],  # GRBG
    (1, 0): [[1, 2], [0, 1]],  # GBRG
    (1, 1): [[2, 1], [1, 0]],  # BGGR
}
# small, odd, and several-tile sizes (RCD tiles are 512 x 64, bilinear 1024 x 32)
SIZES = [(2, 2), (3, 5), (17, 23), (66, 131), (131, 1037)]
LSB16 = 1.0 / 65535.0


def _mosaic(h, w, seed=0):
    """Random scene-linear samples with noise below 0 and highlights above 1 (the reference keeps both)."""
    rng = np.random.default_rng(seed + 7919 * h + w)
    smooth = np.cumsum(rng.normal(0, 0.05, (h, w)), axis=1) * 0.1 + 0.4
    noise = rng.normal(0, 0.15, (h, w))
    return np.asarray(np.clip(smooth + noise, -0.3, 1.6), dtype=np.float32)


def _rel_err(got, ref) -> float:
    return float(np.max(np.abs(got.astype(np.float64) - ref) / np.maximum(1.0, np.abs(ref))))


def test_availability_is_explained():
    assert isinstance(fast.AVAILABLE, bool)
    if fast.AVAILABLE:
        assert fast.REASON == "" and fast.TARGET
    else:
        assert fast.REASON, "an unavailable fast path must say why"


@needs_fast
@pytest.mark.parametrize("method", ["rcd", "bilinear"])
@pytest.mark.parametrize("size", SIZES)
def test_bayer_to_rgb_matches_numpy_reference(method, size):
    h, w = size
    mosaic = _mosaic(h, w)
    before = mosaic.copy()
    worst = 0.0
    for phase, pattern in PATTERNS.items():
        ref = dm.DEMOSAIC[method](mosaic, np.array(pattern), workers=1)
        got = fast.bayer_to_rgb(mosaic, phase, method)
        assert got.shape == (h, w, 3) and got.dtype == np.float32
        err = _rel_err(got, ref)
        worst = max(worst, float(np.max(np.abs(got - ref))))
        assert err <= 1e-5, f"{method} {size} phase {phase}: max relative error {err:.3g}"
    print(f"{method} {size}: max abs error vs numpy {worst:.3g}")
    np.testing.assert_array_equal(mosaic, before)  # input unchanged


@needs_fast
def test_known_samples_are_kept_and_a_flat_field_stays_flat():
    """Closed-form truth: a constant mosaic demosaics to that constant; known samples keep their value."""
    flat = np.full((40, 60), 0.37, np.float32)
    for method in fast.METHODS:
        for phase in PATTERNS:
            rgb = fast.bayer_to_rgb(flat, phase, method)
            np.testing.assert_array_equal(rgb, np.float32(0.37))
    mosaic = _mosaic(30, 50, seed=3)
    for phase, pattern in PATTERNS.items():
        rgb = fast.bayer_to_rgb(mosaic, phase, "rcd")
        colour = np.asarray(pattern)[np.arange(30)[:, None] % 2, np.arange(50)[None, :] % 2]
        known = np.take_along_axis(rgb, colour[..., None], axis=2)[..., 0]
        np.testing.assert_array_equal(known, mosaic)


@needs_fast
def test_red_phase_of_patterns():
    for phase, pattern in PATTERNS.items():
        assert fast.red_phase(pattern) == phase
        assert fast.red_phase(np.tile(pattern, (2, 2))) == phase  # a 4x4 tiling of a Bayer tile
    assert fast.red_phase([[0, 1, 2], [1, 2, 0], [2, 0, 1]]) is None  # not Bayer


def _colour_reference(rgb, m, lo, hi):
    lin = colour_stage.apply_matrix(rgb, m, workers=1)
    return cm.srgb_encode(np.clip(lin, lo, hi))


@needs_fast
@pytest.mark.parametrize("clip", [(0.0, 1.0), (-0.5, 2.0)])
def test_colour_encode_matches_reference(clip):
    rng = np.random.default_rng(5)
    lo, hi = clip
    for h, w in [(1, 1), (1, 7), (23, 37), (64, 300)]:
        rgb = rng.uniform(-0.3, 1.6, (h, w, 3)).astype(np.float32)
        m = np.eye(3) + rng.normal(0, 0.3, (3, 3))
        before = rgb.copy()
        got = fast.colour_encode(rgb, m, clip_low=lo, clip_high=hi)
        np.testing.assert_array_equal(rgb, before)
        ref = _colour_reference(rgb, m, lo, hi)
        exact = cm.srgb_encode(np.clip(rgb.astype(np.float64) @ m.T.astype(np.float32).astype(np.float64), lo, hi))
        err_ref = float(np.max(np.abs(got - ref)))
        err_exact = float(np.max(np.abs(got - exact)))
        print(f"colour_encode {(h, w)} clip {clip}: max error {err_ref / LSB16:.3f} LSB vs stages, "
              f"{err_exact / LSB16:.3f} LSB vs float64")
        assert err_ref <= LSB16
        assert err_exact <= 0.5 * LSB16 * max(1.0, hi)


@needs_fast
def test_colour_encode_in_place_equals_out_of_place():
    rng = np.random.default_rng(6)
    rgb = rng.uniform(-0.2, 1.3, (41, 77, 3)).astype(np.float32)
    m = [[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.4, 1.4]]
    expect = fast.colour_encode(rgb, m)
    res = fast.colour_encode(rgb, m, out=rgb)
    assert res is rgb
    np.testing.assert_array_equal(rgb, expect)


@needs_fast
@pytest.mark.parametrize("method", ["rcd", "bilinear"])
def test_bayer_develop_equals_demosaic_then_encode(method):
    mosaic = _mosaic(67, 141, seed=9)
    m = np.array([[1.6, -0.4, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]])
    for phase in PATTERNS:
        fused = fast.bayer_develop(mosaic, phase, method, m)
        two = fast.colour_encode(fast.bayer_to_rgb(mosaic, phase, method), m)
        err = float(np.max(np.abs(fused - two)))
        assert err <= LSB16 / 64, f"{method} {phase}: fused differs by {err / LSB16:.3g} LSB"
        pattern = np.array(PATTERNS[phase])
        ref = _colour_reference(dm.DEMOSAIC[method](mosaic, pattern, workers=1), m, 0.0, 1.0)
        assert float(np.max(np.abs(fused - ref))) <= LSB16


@needs_fast
def test_linearize_wb_matches_formula():
    rng = np.random.default_rng(11)
    raw = rng.integers(0, 4096, (41, 57)).astype(np.uint16)
    before = raw.copy()
    black = np.array([[64, 66], [65, 63]], np.float32)
    scale = np.float32(1.0 / (4095 - 64))
    gain = np.array([[2.1, 1.0], [1.0, 1.6]], np.float32)
    top, left, h, w = 3, 5, 30, 41
    win = raw[top : top + h, left : left + w].astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    lin = ((win - black[yy % 2, xx % 2]) * scale) * gain[yy % 2, xx % 2]
    got = fast.linearize_wb(raw, black, scale, gain, origin=(top, left), shape=(h, w))
    np.testing.assert_array_equal(got, np.minimum(lin, np.float32(1.0)))
    got = fast.linearize_wb(raw, black, scale, gain, clip_high=None, origin=(top, left), shape=(h, w))
    np.testing.assert_array_equal(got, lin)
    assert got.max() > 1.0 and got.min() < 0.0  # the unclipped range really is kept
    np.testing.assert_array_equal(raw, before)


@needs_fast
def test_thread_count_does_not_change_results():
    mosaic = _mosaic(200, 1100, seed=2)
    m = np.diag([1.2, 1.0, 0.8])
    rgb = fast.bayer_to_rgb(mosaic, (0, 1), "rcd", workers=1)
    enc = fast.colour_encode(rgb, m, workers=1)
    dev = fast.bayer_develop(mosaic, (0, 1), "rcd", m, workers=1)
    try:
        for n in (2, 3):
            np.testing.assert_array_equal(fast.bayer_to_rgb(mosaic, (0, 1), "rcd", workers=n), rgb)
            np.testing.assert_array_equal(fast.colour_encode(rgb, m, workers=n), enc)
            np.testing.assert_array_equal(fast.bayer_develop(mosaic, (0, 1), "rcd", m, workers=n), dev)
    finally:
        fast.set_num_threads(0)


@needs_fast
def test_non_contiguous_input_and_given_out():
    mosaic = _mosaic(40, 80, seed=4)
    view = np.asfortranarray(mosaic)  # same values, other memory order
    out = np.empty((40, 80, 3), np.float32)
    res = fast.bayer_to_rgb(view, (1, 1), "rcd", out=out)
    assert res is out
    np.testing.assert_array_equal(out, fast.bayer_to_rgb(mosaic, (1, 1), "rcd"))


@needs_fast
def test_bad_input_raises_invalid_params():
    good = _mosaic(8, 8)
    m = np.eye(3)
    bad_calls = [
        lambda: fast.bayer_to_rgb(good.astype(np.float64), (0, 0)),
        lambda: fast.bayer_to_rgb(good[None], (0, 0)),
        lambda: fast.bayer_to_rgb(good[:1], (0, 0)),
        lambda: fast.bayer_to_rgb(good, (2, 0)),
        lambda: fast.bayer_to_rgb(good, (0, 0), "ahd"),
        lambda: fast.bayer_to_rgb(np.where(good > 0.5, np.nan, good).astype(np.float32), (0, 0)),
        lambda: fast.bayer_to_rgb(good, (0, 0), out=np.empty((8, 8, 3), np.float64)),
        lambda: fast.bayer_to_rgb(good, (0, 0), workers=0),
        lambda: fast.colour_encode(good, m),
        lambda: fast.colour_encode(np.zeros((4, 4, 3), np.float32), np.eye(4)),
        lambda: fast.colour_encode(np.zeros((4, 4, 3), np.float32), np.full((3, 3), np.inf)),
        lambda: fast.colour_encode(np.zeros((4, 4, 3), np.float32), m, clip_low=1.0, clip_high=0.0),
        lambda: fast.linearize_wb(good, 0, 1),
        lambda: fast.linearize_wb(np.zeros((8, 8), np.uint16), 0, 1, origin=(4, 0), shape=(8, 8)),
    ]
    for call in bad_calls:
        with pytest.raises(InvalidParams):
            call()
