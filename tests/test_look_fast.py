"""The compiled look engine (rotpunkt.fast look kernels, generate_look.py) against the numpy engine,
which is the reference: the same look on the same image gives the same picture."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rotpunkt import colour_math as cm
from rotpunkt import fast
from rotpunkt import look as L
from rotpunkt.errors import InvalidParams

needs_fast = pytest.mark.skipif(not fast.AVAILABLE, reason=f"rotpunkt.fast unavailable: {fast.REASON}")
SHIPPED = sorted(p.stem for p in L.SHIPPED_DIR.glob("*.toml"))
TOL = 2e-4  # display-linear; measured ~5e-5 at most (polynomial log/exp, refined reciprocals)


def scene(h=96, w=128, seed=0) -> np.ndarray:
    """Scene-linear Rec.2020: textured colour, a dark corner, highlights up to ~3 EV over white."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 0.18 * 2.0 ** (4 * (xx - 0.5) + 2 * np.sin(6 * yy))
    tint = 1 + 0.6 * rng.random((h, w, 3)) ** 2
    img = (base[..., None] * tint).astype(np.float32)
    img[h // 3:h // 3 + 6, w // 4:w // 4 + 6] *= 12.0  # a light source
    img.setflags(write=False)
    return img


@needs_fast
@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("size", [(96, 128), (37, 211), (2, 2), (3, 64)])
def test_shipped_looks_match_numpy(name, size):
    img = scene(*size)
    lk = L.load_look(name)
    ref = L.apply_look(img, lk, seed=5, engine="numpy")
    got = L.apply_look(img, lk, seed=5, engine="halide")
    assert got.dtype == np.float32 and got.shape == img.shape
    np.testing.assert_allclose(got, ref, atol=TOL, rtol=0)


@needs_fast
@pytest.mark.parametrize("kept", [-0.6, 0.3])
def test_vignette_kept_matches_numpy(kept):
    img = scene()
    for name in ("authentic", "vibrant"):
        ref = L.apply_look(img, name, vignette_kept=kept, engine="numpy")
        np.testing.assert_allclose(L.apply_look(img, name, vignette_kept=kept, engine="halide"), ref, atol=TOL)


@needs_fast
def test_every_stage_and_variant_matches_numpy():
    """A look with every stage the compiled engine has (each variant: with/without local tone
    mapping, film effects, sharpening; monochrome with toning), sharpening radius 2 px (9 taps)."""
    img = scene(80, 150, seed=3)
    full = L.Look(name="all", exposure=L.ExposureLook(ev=0.3, warmth=20, tint=-10),
                  local_tone=L.LocalToneLook(strength=0.5, detail=1.3, knee=0.5, radius=0.1),
                  tone=L.ToneLook(contrast=1.3, toe=0.01, shoulder=0.7, black=0.002, white=6.0, lift=0.02),
                  colour=L.ColourLook(saturation=1.3, vibrance=0.4),
                  vignette=L.VignetteLook(amount=-0.8, radius=0.3, feather=0.6),
                  halation=L.HalationLook(strength=0.8, radius=0.05, threshold=0.6),
                  sharpen=L.SharpenLook(amount=0.8, radius=2.0), grain=L.GrainLook(strength=0.1, size=2.5))
    mono = L.Look(name="mono", tone=L.ToneLook(contrast=1.5, shoulder=0.5, white=4.0),
                  monochrome=L.MonochromeLook(enabled=True, filter="red", shadows_strength=0.3,
                                              highlights_strength=0.2, balance=0.3))
    variants = [full, mono]
    for drop in ("local_tone", "halation", "grain", "sharpen"):
        variants.append(L.Look(**{**{f: getattr(full, f) for f in L.SECTIONS}, drop: type(getattr(full, drop))()}))
    for lk in variants:
        ref = L.apply_look(img, lk, seed=9, engine="numpy")
        np.testing.assert_allclose(L.apply_look(img, lk, seed=9, engine="halide"), ref, atol=TOL, err_msg=lk.name)


@needs_fast
def test_tone_is_the_closed_form_curve():
    """The compiled tone stage evaluates look.tone_curve itself (the numpy engine tabulates it, which
    is off by up to ~4e-4 right at a hard clip's kink): checked against the float64 curve."""
    x = np.geomspace(1e-4, 8.0, 4000)
    img = np.repeat(x[None, :, None], 3, axis=2).astype(np.float32)
    img = np.concatenate([img, img * np.array([1.0, 0.5, 0.25], np.float32)])
    for tp in (L.ToneLook(contrast=1.5), L.ToneLook(contrast=1.2, toe=0.02, shoulder=0.6, white=6.0, lift=0.01),
               L.ToneLook(contrast=0.8, black=0.01)):
        got = L.apply_look(img, L.Look(tone=tp), engine="halide")
        t = L.tone_curve(np.max(img.astype(np.float64), axis=2), tp)
        expect = img * (t / np.max(img.astype(np.float64), axis=2))[..., None]
        np.testing.assert_allclose(got, np.clip(expect, 0, 1), atol=2e-5, rtol=2e-5)


@needs_fast
def test_render_fuses_input_and_output_matrices_and_encoding():
    img = scene()
    rng = np.random.default_rng(1)
    m_in = np.eye(3) + 0.1 * rng.random((3, 3))
    to_srgb = cm.xyz_to_rgb_matrix("srgb") @ cm.rgb_to_xyz_matrix("rec2020")
    cam = (img.astype(np.float64) @ np.linalg.inv(m_in).T).astype(np.float32)  # m_in @ cam = img
    for name in ("vibrant", "film-400"):
        ref = L.apply_look(img, name, seed=2, engine="numpy") @ to_srgb.T
        ref = cm.srgb_encode(np.clip(ref, 0, 1))
        got = L.render_look(cam, name, from_input=m_in, to_output=to_srgb, seed=2, engine="halide")
        np.testing.assert_allclose(got, ref, atol=1e-3)  # encoded: slope up to 12.92 near black
        numpy_path = L.render_look(cam, name, from_input=m_in, to_output=to_srgb, seed=2, engine="numpy")
        np.testing.assert_allclose(got, numpy_path, atol=1e-3)


@needs_fast
@pytest.mark.parametrize("h", [300, 129, 64, 5])
def test_render_in_place_equals_out_of_place_and_keeps_input_otherwise(h):
    """In place (overwrite_input) gives the same picture, also for sharpening looks, which read
    neighbours across the kernel's 64-row strips (their shared rows come from a copy), whatever the
    blur radius."""
    img = scene(h, 140)
    wide = L.Look(name="wide", tone=L.ToneLook(contrast=1.2), sharpen=L.SharpenLook(amount=1.0, radius=5.0))
    for lk in ("film-400", "authentic", "vibrant", wide):
        expect = L.render_look(img, lk, seed=4)
        buf = img.copy()
        got = L.render_look(buf, lk, seed=4, overwrite_input=True)
        assert got is buf
        np.testing.assert_array_equal(got, expect)
    before = img.copy()
    L.render_look(img, "vibrant")
    np.testing.assert_array_equal(img, before)


@needs_fast
def test_grain_is_reproducible_and_independent_of_threads():
    img = scene(64, 90)
    a = L.apply_look(img, "film-400", seed=11, workers=2, engine="halide")
    np.testing.assert_array_equal(a, L.apply_look(img, "film-400", seed=11, workers=1, engine="halide"))
    assert not np.array_equal(a, L.apply_look(img, "film-400", seed=12, engine="halide"))


def test_grain_noise_is_a_hash_of_node_and_seed():
    rows, cols = np.arange(0, 400), np.arange(0, 300)
    n = L.grain_noise(rows, cols, 7)
    assert n.dtype == np.float32 and n.shape == (400, 300)
    assert abs(n.mean()) < 0.01 and n.var() == pytest.approx(1.0, rel=0.02)
    assert np.abs(n).max() <= math.sqrt(3) + 1e-6  # uniform on [-sqrt 3, sqrt 3]
    np.testing.assert_array_equal(L.grain_noise(rows[100:150], cols[7:9], 7), n[100:150, 7:9])
    assert abs(np.corrcoef(n[:, :-1].ravel(), n[:, 1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(n.ravel(), L.grain_noise(rows, cols, 8).ravel())[0, 1]) < 0.02


def test_engine_argument():
    img = scene(16, 16)
    with pytest.raises(InvalidParams, match="engine"):
        L.apply_look(img, "vibrant", engine="gpu")
    lut_look = L.Look(name="tabled", colour=L.ColourLook(sat_scale=((1.2, 0.8, 1.0), (1.0, 1.0, 1.1))))
    assert not L.fast_supported(lut_look)
    assert L.fast_supported(L.load_look("vibrant"))
    with pytest.raises(InvalidParams, match="numpy engine"):
        L.apply_look(img, lut_look, engine="halide")
    # auto falls back to numpy for it
    np.testing.assert_array_equal(L.apply_look(img, lut_look), L.apply_look(img, lut_look, engine="numpy"))


@needs_fast
def test_nan_input_is_refused_before_the_kernel():
    img = scene(16, 16).copy()
    img[3, 4, 1] = np.nan
    with pytest.raises(InvalidParams, match="NaN"):
        L.apply_look(img, "vibrant", engine="halide")


@needs_fast
def test_kernel_arguments_are_checked():
    img = scene(8, 8)
    prm = np.zeros(len(fast.layout.LOOK_PRM), np.float32)
    with pytest.raises(InvalidParams):
        fast.look_apply(img, prm[:-1], np.ones((2, 2)), ab=np.zeros((2, 2, 2)), glow=np.zeros((2, 2)),
                        taps=np.ones(1), flags={})
    with pytest.raises(InvalidParams):
        fast.look_apply(img, prm, np.ones((2, 2)), ab=np.zeros((2, 2, 2)), glow=np.zeros((2, 2)),
                        taps=np.ones(2), flags={})
    with pytest.raises(InvalidParams):
        fast.look_apply(img[:1], prm, np.ones((2, 2)), ab=np.zeros((2, 2, 2)), glow=np.zeros((2, 2)),
                        taps=np.ones(1), flags={})
    with pytest.raises(InvalidParams):
        fast.look_sums(img, prm, np.ones((2, 2)), 0)


@pytest.mark.parametrize("engine", ["auto", "numpy"])
def test_render_look_rejects_a_bad_input_matrix_and_keeps_the_input(engine):
    img = scene(16, 16)
    before = img.copy()
    for bad in (np.eye(2), [[1, 0, 0], [0, np.nan, 0], [0, 0, 1]], "x"):
        with pytest.raises(InvalidParams, match="from_input"):
            L.render_look(img, "vibrant", from_input=bad, engine=engine)
    np.testing.assert_array_equal(img, before)
