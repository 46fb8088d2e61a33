"""Tests of the demosaic stage (rotpunkt.stages.demosaic).

Truth comes from synthetic scenes sampled through the CFA (so the full RGB answer is known), from
closed forms (constants, linear ramps, neighbour means) and, for RCD, from a literal full-resolution
transcription of the published algorithm that the fast quarter-plane version must match.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rotpunkt.errors import InvalidParams, UnsupportedFormat
from rotpunkt.params import describe, validate
from rotpunkt.stages.demosaic import (
    DEFAULT_METHOD,
    DEMOSAIC,
    HALO,
    DemosaicParams,
    demosaic,
    demosaic_bilinear,
    demosaic_rcd,
)

BAYER = {
    "RGGB": np.array([[0, 1], [1, 2]]),
    "BGGR": np.array([[2, 1], [1, 0]]),
    "GRBG": np.array([[1, 0], [2, 1]]),
    "GBRG": np.array([[1, 2], [0, 1]]),
}
XTRANS = np.array(
    [
        [1, 1, 0, 1, 1, 2],
        [1, 1, 2, 1, 1, 0],
        [2, 0, 1, 0, 2, 1],
        [1, 1, 2, 1, 1, 0],
        [1, 1, 0, 1, 1, 2],
        [0, 2, 1, 2, 0, 1],
    ]
)
METHODS = list(DEMOSAIC)


# ---------------------------------------------------------------------------------------------- helpers


def colour_index(shape, pattern) -> np.ndarray:
    pattern = np.asarray(pattern)
    h, w = shape
    return pattern[np.arange(h)[:, None] % pattern.shape[0], np.arange(w)[None, :] % pattern.shape[1]]


def sample(img: np.ndarray, pattern) -> np.ndarray:
    """The CFA mosaic of an (H, W, 3) image: pixel (y, x) keeps channel pattern[y % r, x % c]."""
    idx = colour_index(img.shape[:2], pattern)
    return np.take_along_axis(img, idx[..., None], 2)[..., 0].astype(np.float32)


def psnr(est: np.ndarray, truth: np.ndarray, border: int = 10) -> float:
    """PSNR in dB for a peak of 1.0, ignoring ``border`` pixels on each side."""
    d = est.astype(np.float64)[border:-border, border:-border] - truth[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean(d * d)))


def smooth_scene(h: int = 96, w: int = 128) -> np.ndarray:
    """Low-frequency sinusoids per channel (periods 40-80 px), values in [0.2, 0.8]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack(
        [
            0.5 + 0.3 * np.sin(x / 9 + y / 13),
            0.5 + 0.3 * np.cos(x / 11 - y / 7),
            0.5 + 0.3 * np.sin(x / 8 + 0.5) * np.cos(y / 10),
        ],
        axis=-1,
    )


def zone_plate(h: int = 96, w: int = 128) -> np.ndarray:
    """A coloured zone plate: circular chirp up to ~0.3 cycles/px, correlated across channels."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    zp = 0.5 + 0.4 * np.cos(np.pi * ((y - h / 2) ** 2 + (x - w / 2) ** 2) / (2 * max(h, w)))
    return np.stack([0.1 + 0.8 * zp, 0.05 + 0.7 * zp, 0.2 + 0.6 * zp], axis=-1)


def wedges(h: int = 96, w: int = 128, ss: int = 4) -> np.ndarray:
    """12 sharp-edged colour wedges around the centre, area-sampled (4x4 supersampling)."""
    y, x = np.mgrid[0 : h * ss, 0 : w * ss].astype(np.float64) / ss
    k = np.floor((np.arctan2(y - h / 2, x - w / 2) + np.pi) / (2 * np.pi) * 12).astype(int) % 3
    cols = np.array([[0.8, 0.6, 0.3], [0.2, 0.3, 0.5], [0.5, 0.7, 0.4]])
    return cols[k].reshape(h, ss, w, ss, 3).mean(axis=(1, 3))


def noisy_mosaic(shape, seed: int = 0) -> np.ndarray:
    """Uniform noise in [-0.1, 1.5): the hardest input for border and halo bookkeeping."""
    return (np.random.default_rng(seed).random(shape) * 1.6 - 0.1).astype(np.float32)


def run(method: str, mosaic, pattern, **kw) -> np.ndarray:
    return demosaic(mosaic, pattern, DemosaicParams(method=method), **kw)


# ------------------------------------------------------------------------------------ registry, params


def test_registry_and_params_declaration():
    assert {"bilinear", "rcd"} <= set(DEMOSAIC)
    assert DEFAULT_METHOD == "rcd" and DEFAULT_METHOD in DEMOSAIC
    assert DemosaicParams().method == DEFAULT_METHOD
    assert set(HALO) == set(DEMOSAIC)
    assert all(isinstance(v, int) and v >= 0 and v % 2 == 0 for v in HALO.values())
    (field,) = describe(DemosaicParams)
    assert field["name"] == "method" and field["choices"] == tuple(DEMOSAIC) and field["doc"]
    assert validate(DemosaicParams(method="bilinear")).method == "bilinear"
    with pytest.raises(dataclasses.FrozenInstanceError):
        DemosaicParams().method = "bilinear"  # type: ignore[misc]


# ------------------------------------------------------------------------------------ basic contract


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("phase", list(BAYER))
def test_shape_dtype_and_known_pixels_exact(method, phase):
    pat = BAYER[phase]
    m = noisy_mosaic((37, 52), seed=3)  # odd height; values below 0 and above 1 (never clipped)
    out = run(method, m, pat)
    assert out.shape == (37, 52, 3) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(sample(out, pat), m)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("phase", list(BAYER))
@pytest.mark.parametrize("value", [0.0, 0.18, 0.7071, 2.5, -0.01])
def test_constant_grey_is_reproduced_exactly(method, phase, value):
    m = np.full((21, 30), value, np.float32)
    out = run(method, m, BAYER[phase])
    np.testing.assert_array_equal(out, np.full((21, 30, 3), np.float32(value)))


@pytest.mark.parametrize("phase", list(BAYER))
def test_bilinear_reproduces_a_linear_ramp_in_the_interior(phase):
    # dyadic slopes: every value and every neighbour mean is exact in float32
    y, x = np.mgrid[0:40, 0:50].astype(np.float64)
    ramp = 0.25 + y / 1024 - x / 2048
    img = np.stack([ramp, 0.5 * ramp + 0.125, 1.0 - ramp], axis=-1)
    out = run("bilinear", sample(img, BAYER[phase]), BAYER[phase])
    np.testing.assert_array_equal(out[1:-1, 1:-1], img[1:-1, 1:-1].astype(np.float32))


def test_bilinear_is_the_neighbour_mean():
    """Closed form at each site of an RGGB mosaic: 4 cross / 4 diagonal / 2 horizontal / 2 vertical."""
    m = noisy_mosaic((12, 14), seed=5).astype(np.float64)
    out = run("bilinear", m.astype(np.float32), BAYER["RGGB"])
    y, x = 4, 6  # red site
    cross = (m[y - 1, x] + m[y + 1, x] + m[y, x - 1] + m[y, x + 1]) / 4
    assert out[y, x, 1] == pytest.approx(cross, abs=1e-6)
    assert out[y, x, 2] == pytest.approx(
        (m[y - 1, x - 1] + m[y - 1, x + 1] + m[y + 1, x - 1] + m[y + 1, x + 1]) / 4, abs=1e-6
    )
    y, x = 4, 7  # green on a red row
    assert out[y, x, 0] == pytest.approx((m[y, x - 1] + m[y, x + 1]) / 2, abs=1e-6)
    assert out[y, x, 2] == pytest.approx((m[y - 1, x] + m[y + 1, x]) / 2, abs=1e-6)
    y, x = 5, 6  # green on a blue row
    assert out[y, x, 0] == pytest.approx((m[y - 1, x] + m[y + 1, x]) / 2, abs=1e-6)
    assert out[y, x, 2] == pytest.approx((m[y, x - 1] + m[y, x + 1]) / 2, abs=1e-6)


# -------------------------------------------------------------------------------- reconstruction quality


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("phase", list(BAYER))
def test_smooth_colour_scene_is_reconstructed_accurately(method, phase):
    truth = smooth_scene()
    out = run(method, sample(truth, BAYER[phase]), BAYER[phase])
    # measured: bilinear 58.9 dB, rcd 50.5 dB
    assert psnr(out, truth) > 40.0


@pytest.mark.parametrize("phase", ["RGGB", "GBRG"])
def test_default_method_beats_bilinear_on_edges(phase):
    pat = BAYER[phase]
    for scene, margin in ((zone_plate(), 10.0), (wedges(), 2.0)):
        m = sample(scene, pat)
        default = psnr(demosaic(m, pat), scene)
        bilinear = psnr(run("bilinear", m, pat), scene)
        # measured: zone plate rcd 41.7 vs bilinear 25.7 dB; wedges rcd 35.0-35.4 vs 31.7-31.8 dB
        assert default - bilinear > margin, (default, bilinear)


# -------------------------------------------------------------------------------------- RCD reference


def _rcd_literal(mosaic: np.ndarray, pattern: np.ndarray, pad: int = 16) -> np.ndarray:
    """RCD written pixel-formula by pixel-formula at full resolution (float64, whole-image shifts),
    following L. Sanz Rodriguez's description; borders by phase-preserving reflection."""
    h, w = mosaic.shape
    c = np.pad(mosaic.astype(np.float64), pad, mode="reflect")
    col = colour_index(c.shape, pattern)  # pad is even: the padded image keeps the phase
    eps, eps2 = 1e-5, 1e-10

    def at(a, dy, dx):
        return np.roll(a, (-dy, -dx), (0, 1))

    def hipass_sq(dy, dx):
        v = at(c, -3 * dy, -3 * dx) - at(c, -dy, -dx) - at(c, dy, dx) + at(c, 3 * dy, 3 * dx)
        return (v - 3 * (at(c, -2 * dy, -2 * dx) + at(c, 2 * dy, 2 * dx)) + 6 * c) ** 2

    def refine(d):
        nb = 0.25 * (at(d, -1, -1) + at(d, -1, 1) + at(d, 1, -1) + at(d, 1, 1))
        return np.where(np.abs(0.5 - d) < np.abs(0.5 - nb), nb, d)

    def ad(a, b):
        return np.abs(a - b)

    bv, bh = hipass_sq(1, 0), hipass_sq(0, 1)
    v_stat = np.maximum(eps2, at(bv, -1, 0) + bv + at(bv, 1, 0))
    h_stat = np.maximum(eps2, at(bh, 0, -1) + bh + at(bh, 0, 1))
    vh = refine(v_stat / (v_stat + h_stat))
    lpf = 0.25 * c + 0.125 * (at(c, -1, 0) + at(c, 1, 0) + at(c, 0, -1) + at(c, 0, 1))
    lpf = np.maximum(lpf + 0.0625 * (at(c, -1, -1) + at(c, -1, 1) + at(c, 1, -1) + at(c, 1, 1)), 1e-5)
    grads = {}
    for name, (dy, dx) in {"N": (-1, 0), "S": (1, 0), "W": (0, -1), "E": (0, 1)}.items():
        grads[name] = (
            eps
            + ad(at(c, dy, dx), at(c, -dy, -dx))
            + ad(c, at(c, 2 * dy, 2 * dx))
            + ad(at(c, dy, dx), at(c, 3 * dy, 3 * dx))
            + ad(at(c, 2 * dy, 2 * dx), at(c, 4 * dy, 4 * dx))
        )
    ests = {
        n: at(c, dy, dx) * 2 * lpf / (lpf + at(lpf, 2 * dy, 2 * dx))
        for n, (dy, dx) in {"N": (-1, 0), "S": (1, 0), "W": (0, -1), "E": (0, 1)}.items()
    }
    g = grads
    v_est = (g["S"] * ests["N"] + g["N"] * ests["S"]) / (g["N"] + g["S"])
    h_est = (g["E"] * ests["W"] + g["W"] * ests["E"]) / (g["E"] + g["W"])
    green = np.where(col != 1, vh * h_est + (1 - vh) * v_est, c)
    bp, bq = hipass_sq(1, 1), hipass_sq(1, -1)
    p_stat = np.maximum(eps2, at(bp, -1, -1) + bp + at(bp, 1, 1))
    q_stat = np.maximum(eps2, at(bq, -1, 1) + bq + at(bq, 1, -1))
    pq = refine(p_stat / (p_stat + q_stat))
    rgb = [np.where(col == k, c, 0.0) for k in range(3)]
    rgb[1] = green
    for k in (0, 2):
        ck = rgb[k]
        diag = {"NW": (-1, -1), "NE": (-1, 1), "SW": (1, -1), "SE": (1, 1)}
        gd = {
            n: eps
            + ad(at(ck, dy, dx), at(ck, -dy, -dx))
            + ad(at(ck, dy, dx), at(ck, 3 * dy, 3 * dx))
            + ad(green, at(green, 2 * dy, 2 * dx))
            for n, (dy, dx) in diag.items()
        }
        ed = {n: at(ck - green, dy, dx) for n, (dy, dx) in diag.items()}
        p_est = (gd["NW"] * ed["SE"] + gd["SE"] * ed["NW"]) / (gd["NW"] + gd["SE"])
        q_est = (gd["NE"] * ed["SW"] + gd["SW"] * ed["NE"]) / (gd["NE"] + gd["SW"])
        rgb[k] = np.where(col == 2 - k, green + (1 - pq) * p_est + pq * q_est, ck)
    for k in (0, 2):
        ck = rgb[k]
        card = {"N": (-1, 0), "S": (1, 0), "W": (0, -1), "E": (0, 1)}
        gc = {
            n: eps
            + ad(green, at(green, 2 * dy, 2 * dx))
            + ad(at(ck, dy, dx), at(ck, -dy, -dx))
            + ad(at(ck, dy, dx), at(ck, 3 * dy, 3 * dx))
            for n, (dy, dx) in card.items()
        }
        ec = {n: at(ck - green, dy, dx) for n, (dy, dx) in card.items()}
        v_est = (gc["N"] * ec["S"] + gc["S"] * ec["N"]) / (gc["N"] + gc["S"])
        h_est = (gc["E"] * ec["W"] + gc["W"] * ec["E"]) / (gc["E"] + gc["W"])
        rgb[k] = np.where(col == 1, green + (1 - vh) * v_est + vh * h_est, ck)
    return np.stack(rgb, axis=-1)[pad : pad + h, pad : pad + w]


@pytest.mark.parametrize("phase", list(BAYER))
@pytest.mark.parametrize("shape", [(40, 52), (33, 47), (3, 5)])
def test_rcd_matches_literal_full_resolution_formulas(phase, shape):
    m = (np.random.default_rng(11).random(shape) * 0.8 + 0.05).astype(np.float32)
    out = demosaic_rcd(m, BAYER[phase], strip_rows=8)
    np.testing.assert_allclose(out, _rcd_literal(m, BAYER[phase]), rtol=0, atol=2e-6)


# ------------------------------------------------------------------------------ strips, threads, halo


@pytest.mark.parametrize("method", METHODS)
def test_strips_and_threads_give_identical_results(method):
    m = noisy_mosaic((53, 41), seed=7)
    pat = BAYER["GRBG"]
    whole = run(method, m, pat, workers=1, strip_rows=1000)
    for strip_rows, workers in ((2, 1), (6, 2), (7, 3), (16, 2), (52, 2)):
        np.testing.assert_array_equal(run(method, m, pat, workers=workers, strip_rows=strip_rows), whole)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("phase", ["RGGB", "GBRG"])
def test_declared_halo_makes_a_tile_equal_the_whole_image(method, phase):
    m = noisy_mosaic((70, 80), seed=9)
    pat = BAYER[phase]
    whole = run(method, m, pat)
    y0, y1, x0, x1 = 30, 44, 26, 50  # even offsets keep the CFA phase
    halo = HALO[method]
    tile = m[y0 - halo : y1 + halo, x0 - halo : x1 + halo]
    got = run(method, tile, pat)[halo : halo + y1 - y0, halo : halo + x1 - x0]
    np.testing.assert_array_equal(got, whole[y0:y1, x0:x1])
    if halo >= 2:  # and the declaration is tight: two pixels less context changes the result
        h2 = halo - 2
        tile = m[y0 - h2 : y1 + h2, x0 - h2 : x1 + h2]
        got = run(method, tile, pat)[h2 : h2 + y1 - y0, h2 : h2 + x1 - x0]
        assert not np.array_equal(got, whole[y0:y1, x0:x1])


# ------------------------------------------------------------------------------------ sizes and borders


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("phase", list(BAYER))
@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (5, 3), (2, 9), (9, 2), (17, 23)])
def test_small_and_odd_sizes_mirror_borders_with_the_cfa_phase(method, phase, shape):
    pat = BAYER[phase]
    m = noisy_mosaic(shape, seed=sum(shape))
    out = run(method, m, pat)
    assert out.shape == (*shape, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(sample(out, pat), m)
    # Borders: the result equals the centre of the explicitly mirror-padded image (x[-k] = x[k] keeps
    # each pixel's colour since k and -k have the same parity), padded by more than the halo.
    pad = 12
    big = np.pad(m, pad, mode="reflect")
    ref = run(method, big, pat)[pad : pad + shape[0], pad : pad + shape[1]]
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("method", METHODS)
def test_input_is_not_modified_and_read_only_input_works(method):
    m = noisy_mosaic((24, 31), seed=2)
    before = m.copy()
    m.flags.writeable = False
    pat = BAYER["BGGR"]
    pat_before = pat.copy()
    out = run(method, m, pat)
    np.testing.assert_array_equal(m, before)
    np.testing.assert_array_equal(pat, pat_before)
    assert not np.shares_memory(out, m)


def test_other_real_dtypes_are_accepted_without_rescaling():
    m = noisy_mosaic((10, 12), seed=4)
    ref = demosaic(m, BAYER["RGGB"])
    np.testing.assert_array_equal(demosaic(m.astype(np.float64), BAYER["RGGB"]), ref)
    ints = np.arange(120, dtype=np.uint16).reshape(10, 12)
    np.testing.assert_array_equal(sample(run("bilinear", ints, BAYER["RGGB"]), BAYER["RGGB"]), ints)


# ---------------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("mosaic", "pattern", "kwargs"),
    [
        (np.zeros((4, 4, 1), np.float32), BAYER["RGGB"], {}),  # wrong ndim
        (np.zeros(16, np.float32), BAYER["RGGB"], {}),
        (np.zeros((4, 4), np.complex64), BAYER["RGGB"], {}),
        (np.zeros((4, 4), bool), BAYER["RGGB"], {}),
        (np.zeros((1, 8), np.float32), BAYER["RGGB"], {}),  # smaller than one repeat
        (np.zeros((8, 1), np.float32), BAYER["RGGB"], {}),
        (np.zeros((5, 5), np.float32), XTRANS, {}),
        (np.full((4, 4), np.nan, np.float32), BAYER["RGGB"], {}),
        (np.array([[0.1, np.inf], [0.2, 0.3]], np.float32), BAYER["RGGB"], {}),
        (np.zeros((4, 4), np.float32), np.array([[0, 1], [1, 3]]), {}),  # colour index out of range
        (np.zeros((4, 4), np.float32), np.array([[0, 1], [-1, 2]]), {}),
        (np.zeros((4, 4), np.float32), np.array([[0, 1], [1, 0]]), {}),  # no blue
        (np.zeros((4, 4), np.float32), np.array([[0, 1.5], [1, 2]]), {}),  # not integral
        (np.zeros((4, 4), np.float32), np.array([0, 1, 1, 2]), {}),  # not 2-D
        (np.zeros((4, 4), np.float32), np.zeros((2, 2, 1), int), {}),
        (np.zeros((4, 4), np.float32), "RGGB", {}),
        (np.zeros((4, 4), np.float32), BAYER["RGGB"], {"workers": 0}),
        (np.zeros((4, 4), np.float32), BAYER["RGGB"], {"workers": 1.5}),
        (np.zeros((4, 4), np.float32), BAYER["RGGB"], {"strip_rows": 0}),
    ],
)
@pytest.mark.parametrize("method", METHODS)
def test_bad_inputs_raise_invalid_params(method, mosaic, pattern, kwargs):
    with pytest.raises(InvalidParams):
        run(method, mosaic, pattern, **kwargs)


def test_bad_params_raise_invalid_params():
    m = np.zeros((4, 4), np.float32)
    with pytest.raises(InvalidParams, match="method"):
        demosaic(m, BAYER["RGGB"], DemosaicParams(method="ahd"))
    with pytest.raises(InvalidParams):
        demosaic(m, BAYER["RGGB"], {"method": "rcd"})  # type: ignore[arg-type]
    with pytest.raises(InvalidParams):
        demosaic(m, BAYER["RGGB"], DemosaicParams(method=float("nan")))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- non-Bayer CFAs


NON_BAYER = {
    "xtrans": XTRANS,
    "2x2 greens in a column": np.array([[0, 1], [2, 1]]),
    "1x3 stripes": np.array([[0, 1, 2]]),
}


@pytest.mark.parametrize("name", list(NON_BAYER))
def test_edge_directed_method_refuses_non_bayer_patterns(name):
    m = sample(smooth_scene(24, 30), NON_BAYER[name])
    with pytest.raises(UnsupportedFormat):
        demosaic(m, NON_BAYER[name])  # default method
    with pytest.raises(UnsupportedFormat):
        demosaic_rcd(m, NON_BAYER[name])


@pytest.mark.parametrize("name", list(NON_BAYER))
def test_bilinear_handles_any_repeating_pattern(name):
    pat = NON_BAYER[name]
    truth = smooth_scene()
    m = sample(truth, pat)
    out = run("bilinear", m, pat)
    assert out.shape == (*m.shape, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(sample(out, pat), m)
    # measured: X-Trans 46 dB, 2x2 non-Bayer 58 dB, 1x3 stripes 36 dB
    assert psnr(out, truth) > 32.0
    np.testing.assert_allclose(run("bilinear", np.full((13, 19), 0.3, np.float32), pat), 0.3, rtol=1e-6)
    np.testing.assert_array_equal(run("bilinear", m, pat, strip_rows=4, workers=2), out)


def test_bilinear_on_xtrans_is_the_tent_weighted_mean_of_the_3x3_window():
    m = noisy_mosaic((18, 18), seed=8).astype(np.float64)
    out = demosaic_bilinear(m.astype(np.float32), XTRANS)
    col = colour_index(m.shape, XTRANS)
    tent = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float64)
    for y in range(1, 17):
        for x in range(1, 17):
            win, cw = m[y - 1 : y + 2, x - 1 : x + 2], col[y - 1 : y + 2, x - 1 : x + 2]
            for c in range(3):
                sel = tent * (cw == c)
                want = m[y, x] if col[y, x] == c else np.sum(sel * win) / np.sum(sel)
                assert out[y, x, c] == pytest.approx(want, abs=1e-6)


def test_a_tiled_bayer_description_is_reduced_to_its_2x2_repeat():
    m = noisy_mosaic((20, 22), seed=6)
    big = np.tile(BAYER["GBRG"], (2, 2))
    for method in METHODS:
        np.testing.assert_array_equal(run(method, m, big), run(method, m, BAYER["GBRG"]))
