"""rotpunkt.colour_math against colour-science (the oracle) and published test data."""

from __future__ import annotations

import colorsys
import warnings

import numpy as np
import pytest

from rotpunkt import colour_math as cm

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    colour = pytest.importorskip("colour")

RNG = np.random.default_rng(20240517)
WHITES = [cm.D50_XY, cm.D65_XY, cm.STD_A_XY, (0.28, 0.29), (0.45, 0.41)]


def random_near_locus(n: int, rng=RNG) -> np.ndarray:
    """xy points around the Planckian locus: 1700-25000 K, Duv within +-0.02."""
    cct = np.exp(rng.uniform(np.log(1700.0), np.log(25000.0), n))
    duv = rng.uniform(-0.02, 0.02, n)
    uv = colour.temperature.CCT_to_uv_Robertson1968(np.stack([cct, duv], axis=-1))
    return cm.uv1960_to_xy(uv)


# ---------------------------------------------------------------------------------------------- xy, Lab


def test_xy_xyz_match_colour_and_round_trip():
    xy = RNG.uniform(0.05, 0.6, (50, 2))
    XYZ = cm.xy_to_XYZ(xy)  # noqa: N806
    np.testing.assert_allclose(XYZ, colour.xy_to_XYZ(xy), rtol=1e-12)
    np.testing.assert_allclose(cm.XYZ_to_xy(XYZ * 3.7), xy, rtol=1e-12)
    np.testing.assert_allclose(cm.xy_to_XYZ(xy, Y=0.5)[..., 1], 0.5)
    # black has no chromaticity: the DNG SDK's fallback, D50
    np.testing.assert_array_equal(cm.XYZ_to_xy(np.zeros(3)), cm.D50_XY)


def test_uv1960_matches_colour_and_round_trips():
    xy = RNG.uniform(0.05, 0.6, (50, 2))
    uv = cm.xy_to_uv1960(xy)
    np.testing.assert_allclose(uv, colour.UCS_to_uv(colour.XYZ_to_UCS(colour.xy_to_XYZ(xy))), rtol=1e-12)
    np.testing.assert_allclose(cm.uv1960_to_xy(uv), xy, rtol=1e-12)


@pytest.mark.parametrize("white", WHITES)
def test_lab_matches_colour_any_white(white):
    XYZ = np.concatenate([RNG.uniform(0, 1.2, (200, 3)), RNG.uniform(0, 0.006, (50, 3))])  # noqa: N806
    lab = cm.XYZ_to_Lab(XYZ, white)
    np.testing.assert_allclose(lab, colour.XYZ_to_Lab(XYZ, np.asarray(white)), atol=1e-9)
    np.testing.assert_allclose(cm.Lab_to_XYZ(lab, white), XYZ, atol=1e-12)
    # the white itself is L=100, a=b=0
    np.testing.assert_allclose(cm.XYZ_to_Lab(cm.xy_to_XYZ(white), white), [100, 0, 0], atol=1e-10)


# ---------------------------------------------------------------------------------------------- CIEDE2000

# Sharma, Wu, Dalal (2005), Table 1: all 34 pairs and their CIEDE2000 differences (4 decimals).
SHARMA = np.array(
    [
        [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
        [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
        [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
        [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
        [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
        [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
        [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
        [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
        [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
        [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
        [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
        [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
        [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
        [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
        [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
        [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
        [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
        [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
        [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
        [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
        [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
        [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
        [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
        [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
    ]
)


def test_ciede2000_sharma_published_pairs():
    d = cm.delta_E_2000(SHARMA[:, 0:3], SHARMA[:, 3:6])
    np.testing.assert_allclose(d, SHARMA[:, 6], atol=5.01e-5)
    # symmetric
    np.testing.assert_allclose(cm.delta_E_2000(SHARMA[:, 3:6], SHARMA[:, 0:3]), d, rtol=1e-12)


def test_ciede2000_matches_colour_on_random_pairs():
    lab1 = np.stack([RNG.uniform(0, 100, 2000), RNG.uniform(-120, 120, 2000), RNG.uniform(-120, 120, 2000)], -1)
    lab2 = lab1 + RNG.normal(0, 8, lab1.shape)
    np.testing.assert_allclose(
        cm.delta_E_2000(lab1, lab2), colour.delta_E(lab1, lab2, method="CIE 2000"), rtol=1e-9, atol=1e-9
    )
    assert np.all(cm.delta_E_2000(lab1, lab1) == 0)


# ---------------------------------------------------------------------------------------------- CCT


def test_cct_tint_matches_colour_robertson():
    xy = random_near_locus(300)
    uv = cm.xy_to_uv1960(xy)
    ref = colour.temperature.uv_to_CCT_Robertson1968(uv)
    ours = np.array([cm.xy_to_temperature_tint(p, sdk_table=False) for p in xy])
    np.testing.assert_allclose(ours[:, 0], ref[:, 0], rtol=1e-9)
    # DNG tint = 3000 x colour-science's D_uv (positive above the locus, i.e. towards green)
    np.testing.assert_allclose(ours[:, 1], 3000.0 * ref[:, 1], atol=1e-7)


def test_temperature_tint_to_xy_matches_colour_and_inverts():
    cct = np.exp(RNG.uniform(np.log(1700.0), np.log(25000.0), 200))
    tint = RNG.uniform(-60, 60, 200)
    ours = np.array([cm.temperature_tint_to_xy(t, k, sdk_table=False) for t, k in zip(cct, tint, strict=True)])
    ref = cm.uv1960_to_xy(colour.temperature.CCT_to_uv_Robertson1968(np.stack([cct, tint / 3000.0], -1)))
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    for sdk in (True, False):
        back = np.array(
            [
                cm.xy_to_temperature_tint(p, sdk_table=sdk)
                for p in [cm.temperature_tint_to_xy(t, k, sdk_table=sdk) for t, k in zip(cct, tint, strict=True)]
            ]
        )
        # Robertson's forward (distance-weighted) and inverse (mired-linear) interpolations are not
        # exact inverses of each other; they agree to ~1e-4 (in the SDK as here)
        np.testing.assert_allclose(back[:, 0], cct, rtol=1e-4)
        np.testing.assert_allclose(back[:, 1], tint, atol=0.05)


def test_sdk_table_differs_only_between_2857_and_3333_kelvin():
    for t in (2000.0, 2800.0, 2857.0, 3334.0, 4000.0, 5000.0, 6500.0, 10000.0, 20000.0):
        assert cm.temperature_tint_to_xy(t, 5.0) == cm.temperature_tint_to_xy(t, 5.0, sdk_table=False)
    a = cm.temperature_tint_to_xy(3077.0)
    b = cm.temperature_tint_to_xy(3077.0, sdk_table=False)
    assert 1e-4 < abs(a[0] - b[0]) < 2e-3
    t_sdk, _ = cm.xy_to_temperature_tint(b)
    assert 0.0005 < abs(t_sdk - 3077.0) / 3077.0 < 0.01


def test_cct_of_standard_whites():
    # CIE: D65 ~ 6504 K, A ~ 2856 K, D50 ~ 5003 K; daylight whites lie ~ +0.003 Duv above the locus
    assert cm.xy_to_cct(cm.D65_XY) == pytest.approx(6504, abs=2)
    assert cm.xy_to_cct(cm.STD_A_XY, sdk_table=False) == pytest.approx(2856, abs=2)
    for white in (cm.D50_XY, cm.D55_XY, cm.D75_XY):
        ref = colour.temperature.uv_to_CCT_Robertson1968(cm.xy_to_uv1960(white))[0]
        assert cm.xy_to_cct(white) == pytest.approx(ref, rel=1e-9)  # outside the SDK table's misprint
    assert cm.xy_to_temperature_tint(cm.D65_XY)[1] == pytest.approx(3000 * 0.0032, abs=0.5)
    # beyond the table: clamped, never NaN
    t, k = cm.xy_to_temperature_tint((0.6, 0.38))
    assert np.isfinite(k) and t == pytest.approx(1e6 / 600)
    assert cm.xy_to_temperature_tint((0.2, 0.2))[0] == pytest.approx(1e5)  # the SDK's bluest
    with pytest.raises(ValueError):
        cm.temperature_tint_to_xy(0.0)


def test_illuminants_table():
    std = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]
    for code, name in ((17, "A"), (21, "D65"), (20, "D55"), (22, "D75"), (23, "D50"), (18, "B"), (19, "C")):
        np.testing.assert_allclose(cm.ILLUMINANTS[code].xy, std[name], atol=2e-4)
    # the temperature used for interpolation is the SDK's round number near the white's own CCT
    for code in (3, 17, 20, 21, 22, 23, 24):
        ill = cm.ILLUMINANTS[code]
        assert cm.xy_to_cct(ill.xy) == pytest.approx(ill.temperature, rel=0.003)
    assert cm.ILLUMINANTS[1].temperature == cm.ILLUMINANTS[20].temperature == 5500.0
    assert cm.ILLUMINANTS[14].temperature == cm.ILLUMINANTS[2].temperature == 4150.0
    assert [cm.illuminant_temperature(c) for c in (0, 5, 255, 999)] == [0.0] * 4
    assert cm.illuminant_temperature(17) == 2850.0


# ---------------------------------------------------------------------------------------------- adaptation


@pytest.mark.parametrize("src,dst", [(cm.D65_XY, cm.D50_XY), (cm.STD_A_XY, cm.D50_XY), (cm.D50_XY, (0.3, 0.31))])
def test_bradford_matches_colour(src, dst):
    ref = colour.adaptation.matrix_chromatic_adaptation_VonKries(
        colour.xy_to_XYZ(src), colour.xy_to_XYZ(dst), "Bradford"
    )
    m = cm.bradford_matrix(src, dst)
    np.testing.assert_allclose(m, ref, atol=1e-12)
    np.testing.assert_allclose(m @ cm.xy_to_XYZ(src), cm.xy_to_XYZ(dst), atol=1e-12)
    np.testing.assert_allclose(cm.bradford_matrix(dst, src), np.linalg.inv(m), atol=1e-12)


# ---------------------------------------------------------------------------------------------- RGB spaces

SPACES = {"srgb": "sRGB", "p3": "Display P3", "rec2020": "ITU-R BT.2020", "prophoto": "ProPhoto RGB"}


@pytest.mark.parametrize("ours,theirs", SPACES.items())
def test_rgb_matrices_match_colour(ours, theirs):
    cs = colour.RGB_COLOURSPACES[theirs]
    m = cm.rgb_to_xyz_matrix(ours)
    # derived from primaries and white exactly as colour-science derives them
    np.testing.assert_allclose(m, colour.normalised_primary_matrix(cs.primaries, cs.whitepoint), atol=1e-12)
    # and within 1e-4 of the published (4-decimal) matrices; ROMM's is rounded for the ICC D50
    # (0.9642, 1, 0.8249) while the DNG PCS white x=0.3457, y=0.3585 has Z = 0.82510
    tol = 2.5e-4 if ours == "prophoto" else 1e-4
    np.testing.assert_allclose(m, cs.matrix_RGB_to_XYZ, atol=tol)
    np.testing.assert_allclose(np.linalg.inv(cm.xyz_to_rgb_matrix(ours)), cs.matrix_RGB_to_XYZ, atol=tol)
    # closed form: white -> white (Y = 1), each primary has its chromaticity
    np.testing.assert_allclose(m @ np.ones(3), cm.xy_to_XYZ(cs.whitepoint), atol=1e-12)
    np.testing.assert_allclose(cm.XYZ_to_xy(m.T), cs.primaries, atol=1e-12)
    # via the D50 PCS, as colour-science does it with Bradford
    XYZ = RNG.uniform(0, 1, (20, 3))  # noqa: N806
    derived = colour.RGB_Colourspace(
        theirs,
        cs.primaries,
        cs.whitepoint,
        use_derived_matrix_RGB_to_XYZ=True,
        use_derived_matrix_XYZ_to_RGB=True,
    )
    ref = colour.XYZ_to_RGB(XYZ, derived, illuminant=np.array(cm.D50_XY), chromatic_adaptation_transform="Bradford")
    np.testing.assert_allclose(XYZ @ cm.xyz_d50_to_rgb_matrix(ours).T, ref, atol=1e-6)
    np.testing.assert_allclose(cm.rgb_to_xyz_d50_matrix(ours) @ cm.xyz_d50_to_rgb_matrix(ours), np.eye(3), atol=1e-12)


def test_rgb_matrix_is_not_shared_state():
    m = cm.rgb_to_xyz_matrix("srgb")
    m[:] = 0
    assert cm.rgb_to_xyz_matrix("srgb")[1, 1] > 0.7
    with pytest.raises(ValueError):
        cm.rgb_to_xyz_matrix("adobe98")


# ---------------------------------------------------------------------------------------------- transfer


def test_srgb_transfer_matches_colour():
    x = np.concatenate([np.linspace(0, 1, 10001), [0.0031308, 0.04045, 1e-6]])
    np.testing.assert_allclose(cm.srgb_encode(x), colour.models.eotf_inverse_sRGB(x), atol=1e-12)
    # colour-science switches branch at 12.92 * 0.0031308 = 0.0404500 - 6e-8, IEC at 0.04045: 2e-9 apart
    np.testing.assert_allclose(cm.srgb_decode(x), colour.models.eotf_sRGB(x), atol=3e-9)
    np.testing.assert_allclose(cm.srgb_decode(cm.srgb_encode(x)), x, atol=1e-12)
    assert cm.srgb_encode(np.float32(0.5)).dtype == np.float32
    assert cm.srgb_encode(np.array([0, 1])).dtype == np.float64


def test_prophoto_transfer_matches_colour():
    x = np.linspace(0, 1, 5001)
    np.testing.assert_allclose(cm.prophoto_encode(x), colour.models.cctf_encoding_ProPhotoRGB(x), atol=1e-12)
    np.testing.assert_allclose(cm.prophoto_decode(cm.prophoto_encode(x)), x, atol=1e-12)


def test_srgb_encode_fast_is_within_half_a_16bit_step():
    x = np.concatenate([[0.0031308, 1.0, 0.0], np.linspace(0, 1, 1 << 20), RNG.uniform(0, 0.01, 1 << 16)])
    x = x[: x.size - x.size % 192].astype(np.float32).reshape(-1, 64, 3)  # an image, (H, W, 3)
    exact = cm.srgb_encode(x.astype(np.float64))
    before = x.copy()
    fast = cm.srgb_encode_fast(x, workers=2)
    assert fast.dtype == np.float32 and fast.shape == x.shape
    err = np.abs(fast.astype(np.float64) - exact).max()
    assert err < 0.5 / 65535, err
    np.testing.assert_array_equal(x, before)  # input unchanged
    # single-threaded gives the same bits; in place works
    np.testing.assert_array_equal(cm.srgb_encode_fast(x, workers=1), fast)
    y = x.copy()
    assert cm.srgb_encode_fast(y, out=y) is y
    np.testing.assert_array_equal(y, fast)
    # outside [0, 1] it extends the exact formula
    z = np.array([-0.5, -1e-3, 1.5, 4.0], np.float32)
    np.testing.assert_allclose(cm.srgb_encode_fast(z), cm.srgb_encode(z.astype(np.float64)), rtol=1e-6)
    with pytest.raises(ValueError):
        cm.srgb_encode_fast(x, out=np.empty(3, np.float32))


# ---------------------------------------------------------------------------------------------- HSV


def test_dng_hsv_matches_colorsys_and_inverts():
    rgb = RNG.uniform(0, 2, (500, 3))
    rgb[:5] = [[0.3, 0.3, 0.3], [0, 0, 0], [1, 0, 0], [0, 1, 1], [1, 0, 1]]
    hsv = cm.rgb_to_hsv_dng(rgb)
    ref = np.array([colorsys.rgb_to_hsv(*p) for p in rgb])
    np.testing.assert_allclose(hsv[:, 0], ref[:, 0] * 6.0, atol=1e-12)
    np.testing.assert_allclose(hsv[:, 1:], ref[:, 1:], atol=1e-12)
    assert np.all((hsv[:, 0] >= 0) & (hsv[:, 0] < 6))
    np.testing.assert_allclose(cm.hsv_to_rgb_dng(hsv), rgb, atol=1e-12)
    # hue modulo 6 on the way back
    np.testing.assert_allclose(cm.hsv_to_rgb_dng(hsv + [6.0, 0, 0]), rgb, atol=1e-12)
    assert cm.rgb_to_hsv_dng(rgb.astype(np.float32)).dtype == np.float32
