"""The DNG camera colour model (rotpunkt.stages.colour): closed-form truths, synthetic cameras, and
colour-hdri's independent implementation of the DNG specification where it is installed."""

from __future__ import annotations

import colorsys
import dataclasses
import warnings

import numpy as np
import pytest

from rotpunkt import colour_math as cm
from rotpunkt.errors import CorruptFile, InvalidParams, UnsupportedFormat
from rotpunkt.params import validate
from rotpunkt.stages import colour as C
from rotpunkt.types import ColorInfo, HueSatMap

RNG = np.random.default_rng(7)
D50 = cm.xy_to_XYZ(cm.D50_XY)

# A real dual-illuminant profile (Canon EOS 5D Mark II, Adobe DNG Converter): StdA and D65.
CM_A = np.array([[0.5309, -0.0229, -0.0336], [-0.6241, 1.3265, 0.3337], [-0.0817, 0.1215, 0.6664]])
CM_D65 = np.array([[0.4716, 0.0603, -0.0830], [-0.7798, 1.5474, 0.2480], [-0.1496, 0.1937, 0.6651]])
_FM = np.array([[0.8924, -0.1041, 0.1760], [0.4351, 0.6621, -0.0972], [0.0505, -0.1562, 0.9308]])


def pcs_normalised(fm):
    """A forward matrix scaled row-wise to map camera (1, 1, 1) onto the D50 PCS white exactly."""
    return fm * (D50 / fm.sum(axis=1))[:, None]


FM_A = pcs_normalised(_FM)
FM_D65 = pcs_normalised(_FM + np.array([[0.03, -0.02, 0.0], [0.01, 0.0, -0.01], [0.0, 0.02, -0.03]]))


def info_of(**kw) -> ColorInfo:
    base = dict(color_matrix=(CM_A, CM_D65), calibration_illuminant=(17, 21))
    base.update(kw)
    return ColorInfo(**base)


def swapped(info: ColorInfo) -> ColorInfo:
    """The same profile with the two calibration sets stored in the other order."""
    return dataclasses.replace(
        info,
        color_matrix=info.color_matrix[::-1],
        forward_matrix=info.forward_matrix[::-1],
        camera_calibration=info.camera_calibration[::-1],
        calibration_illuminant=info.calibration_illuminant[::-1],
        hue_sat_map=info.hue_sat_map[::-1],
    )


def y_normalised(m, n):
    """Remove the overall scale of a camera->XYZ matrix: make the neutral map to Y = 1."""
    return m / (m @ n)[1]


# whites away from 2857-3333 K, where the SDK's Robertson table (ours) and the corrected one
# (colour-science's, used by colour-hdri) differ
WHITES = [(0.3457, 0.3585), (0.3127, 0.3290), (0.38, 0.38), (0.30, 0.32), (0.36, 0.36), (0.4476, 0.4074)]


# ---------------------------------------------------------------------------------------------- weights


def test_interpolation_weight():
    lo, hi = 2850.0, 6500.0
    mid = 2.0 / (1.0 / lo + 1.0 / hi)  # half-way in inverse temperature
    assert C.interpolation_weight(2000, lo, hi) == 1.0
    assert C.interpolation_weight(lo, lo, hi) == 1.0
    assert C.interpolation_weight(hi, lo, hi) == 0.0
    assert C.interpolation_weight(20000, lo, hi) == 0.0
    assert C.interpolation_weight(mid, lo, hi) == pytest.approx(0.5, abs=1e-12)
    t = 4000.0
    expect = (1 / t - 1 / hi) / (1 / lo - 1 / hi)
    assert C.interpolation_weight(t, lo, hi) == pytest.approx(expect, abs=1e-15)
    # stored in the other order: weight of set 1 (now the high one) is the complement
    assert C.interpolation_weight(t, hi, lo) == pytest.approx(1 - expect, abs=1e-15)
    # one usable temperature, or equal ones: set 1 alone
    assert C.interpolation_weight(t, 0.0, hi) == 1.0
    assert C.interpolation_weight(t, lo, 0.0) == 1.0
    assert C.interpolation_weight(t, 5000.0, 5000.0) == 1.0
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(InvalidParams):
            C.interpolation_weight(bad, lo, hi)


# ---------------------------------------------------------------------------------------------- closed forms


def test_synthetic_camera_recovers_white_and_maps_neutral_to_d50():
    """A camera whose XYZ->camera matrix S is the same under both illuminants: the neutral of a
    white w is S @ XYZ(w); the model must find w exactly and map the neutral to D50 (Y = 1)."""
    S = np.array([[0.9, 0.3, -0.25], [-0.4, 1.3, 0.1], [0.05, -0.2, 0.95]])
    info = info_of(color_matrix=(S, S))
    for w in WHITES + [(0.33, 0.31), (0.42, 0.40)]:
        n = S @ cm.xy_to_XYZ(w) * 3.7  # any scale
        xy = C.neutral_to_xy(info, n)
        np.testing.assert_allclose(xy, w, atol=1e-9)
        M, white, cct = C.camera_to_xyz_d50(info, neutral=n)
        np.testing.assert_allclose(white, w, atol=1e-9)
        assert cct == pytest.approx(cm.xy_to_cct(w), rel=1e-6)
        np.testing.assert_allclose(M @ (n / n.max()), D50, atol=1e-9)
        # the spec's CA * inverse(XYZtoCamera), scaled so the neutral with max 1 reaches Y = 1
        np.testing.assert_allclose(M @ S, n.max() / 3.7 * cm.bradford_matrix(w, cm.D50_XY), atol=1e-9)
        np.testing.assert_allclose(C.xy_to_neutral(info, w), n / n.max(), atol=1e-12)


def test_dual_illuminant_round_trip_xy_neutral():
    info = info_of()
    for w in WHITES + [(0.42, 0.40), (0.28, 0.29), (0.45, 0.41)]:
        n = C.xy_to_neutral(info, w)
        assert n.max() == pytest.approx(1.0)
        np.testing.assert_allclose(C.neutral_to_xy(info, n), w, atol=1e-7)
        raw = C.xyz_to_camera(info, w) @ cm.xy_to_XYZ(w)
        np.testing.assert_allclose(n, raw / raw.max(), atol=1e-15)


def test_xyz_to_camera_interpolates_in_inverse_temperature():
    info = info_of()
    w = cm.temperature_tint_to_xy(4200.0, 0.0)
    g = C.interpolation_weight(cm.xy_to_cct(w), 2850.0, 6500.0)
    assert 0.2 < g < 0.8
    np.testing.assert_allclose(C.xyz_to_camera(info, w), g * CM_A + (1 - g) * CM_D65, atol=1e-12)
    # beyond the calibration temperatures the nearest matrix is used as is
    np.testing.assert_array_equal(C.xyz_to_camera(info, cm.temperature_tint_to_xy(2000.0)), CM_A)
    np.testing.assert_array_equal(C.xyz_to_camera(info, cm.temperature_tint_to_xy(9000.0)), CM_D65)


@pytest.mark.parametrize("fm", [(None, None), (FM_A, FM_D65)])
def test_neutral_maps_to_d50_white(fm):
    info = info_of(forward_matrix=fm, as_shot_neutral=np.array([0.45, 1.0, 0.62]))
    M, xy, cct = C.camera_to_xyz_d50(info)
    assert M.shape == (3, 3) and M.dtype == np.float64
    n = info.as_shot_neutral
    np.testing.assert_allclose(M @ (n / n.max()), D50, atol=2e-6 if fm[0] is None else 1e-12)
    np.testing.assert_allclose(xy, C.neutral_to_xy(info, n), atol=0)
    assert 3000 < cct < 8000


def test_analog_balance_and_calibration_that_cancel_out():
    ab = np.array([0.5, 1.0, 0.8])
    cc = np.diag(1.0 / ab)
    for fm in ((None, None), (FM_A, FM_D65)):
        plain = info_of(forward_matrix=fm)
        both = info_of(forward_matrix=fm, analog_balance=ab, camera_calibration=(cc, cc))
        for w in WHITES:
            np.testing.assert_allclose(C.xyz_to_camera(both, w), C.xyz_to_camera(plain, w), atol=1e-15)
            n = C.xy_to_neutral(plain, w)
            np.testing.assert_allclose(C.neutral_to_xy(both, n), C.neutral_to_xy(plain, n), atol=1e-15)
            m1 = C.camera_to_xyz_d50(both, neutral=n)[0]
            m2 = C.camera_to_xyz_d50(plain, neutral=n)[0]
            np.testing.assert_allclose(m1, m2, atol=1e-13)


def test_calibration_absorbed_into_colour_matrix_single_illuminant():
    """AB * CC * CM is all that matters without a forward matrix: moving CC and AB into CM keeps
    every result (one calibration set, so the SDK's matrix normalisation cannot interfere)."""
    ab = np.array([1.2, 1.0, 0.9])
    cc = np.eye(3) + RNG.normal(0, 0.03, (3, 3))
    folded = ColorInfo(color_matrix=(np.diag(ab) @ cc @ CM_D65, None), calibration_illuminant=(21, 0))
    split = ColorInfo(
        color_matrix=(CM_D65, None),
        calibration_illuminant=(21, 0),
        analog_balance=ab,
        camera_calibration=(cc, None),
    )
    n = np.array([0.5, 1.0, 0.7])
    np.testing.assert_allclose(C.neutral_to_xy(split, n), C.neutral_to_xy(folded, n), atol=1e-12)
    np.testing.assert_allclose(
        C.camera_to_xyz_d50(split, neutral=n)[0], C.camera_to_xyz_d50(folded, neutral=n)[0], atol=1e-12
    )


def test_forward_matrix_path_closed_form():
    """M = FM * diag(1/ReferenceNeutral) * inverse(AB * CC): white-balanced camera (1,1,1) -> D50."""
    ab = np.array([1.1, 1.0, 0.95])
    cc = np.eye(3) + np.array([[0.02, 0.0, 0.0], [0.0, -0.01, 0.0], [0.0, 0.01, 0.03]])
    info = ColorInfo(
        color_matrix=(CM_D65, None),
        forward_matrix=(FM_D65, None),
        calibration_illuminant=(21, 0),
        analog_balance=ab,
        camera_calibration=(cc, None),
    )
    n = np.array([0.4, 1.0, 0.6])
    M, _, _ = C.camera_to_xyz_d50(info, neutral=n)
    abcc = np.diag(ab) @ cc
    ref_neutral = np.linalg.solve(abcc, n)
    np.testing.assert_allclose(M, FM_D65 @ np.diag(1 / ref_neutral) @ np.linalg.inv(abcc), atol=1e-12)
    # a forward matrix not normalised to the PCS is normalised as the SDK does (rows scaled)
    info2 = dataclasses.replace(info, forward_matrix=(FM_D65 * np.array([[1.01], [0.99], [1.02]]), None))
    np.testing.assert_allclose(C.camera_to_xyz_d50(info2, neutral=n)[0], M, atol=1e-12)


def test_four_channel_camera():
    S4 = np.array([[0.9, 0.3, -0.25], [-0.4, 1.3, 0.1], [-0.3, 1.1, 0.2], [0.05, -0.2, 0.95]])
    info = ColorInfo(color_matrix=(S4, S4 * 1.1), calibration_illuminant=(17, 21))
    w = (0.33, 0.34)
    n = S4 @ cm.xy_to_XYZ(w)
    np.testing.assert_allclose(C.neutral_to_xy(info, n), w, atol=1e-9)
    M, xy, _ = C.camera_to_xyz_d50(info, neutral=n)
    assert M.shape == (3, 4)
    np.testing.assert_allclose(M @ (n / n.max()), D50, atol=1e-9)
    fm4 = pcs_normalised(np.array([[0.5, 0.2, 0.1, 0.2], [0.2, 0.4, 0.3, 0.1], [0.05, 0.1, 0.05, 0.6]]))
    info_fm = dataclasses.replace(info, forward_matrix=(fm4, None))
    M2 = C.camera_to_xyz_d50(info_fm, neutral=n)[0]
    np.testing.assert_allclose(M2 @ (n / n.max()), D50, atol=1e-12)
    img = RNG.uniform(0, 1, (5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(C.apply_matrix(img, M), img @ M.T, rtol=1e-5, atol=1e-6)


def test_illuminant_order_does_not_matter():
    hsm1 = HueSatMap(RNG.normal(0, 1, (1, 6, 3, 3)).astype(np.float32))
    hsm2 = HueSatMap(RNG.normal(0, 1, (1, 6, 3, 3)).astype(np.float32))
    cc1, cc2 = np.diag([1.02, 1.0, 0.97]), np.diag([0.98, 1.0, 1.03])
    for fm in ((None, None), (FM_A, FM_D65), (FM_A, None), (None, FM_D65)):
        a = info_of(forward_matrix=fm, camera_calibration=(cc1, cc2), hue_sat_map=(hsm1, hsm2))
        b = swapped(a)
        for w in WHITES + [cm.temperature_tint_to_xy(4200, 10)]:
            np.testing.assert_array_equal(C.xyz_to_camera(a, w), C.xyz_to_camera(b, w))
            n = C.xy_to_neutral(a, w)
            np.testing.assert_array_equal(C.neutral_to_xy(a, n), C.neutral_to_xy(b, n))
            ra, rb = C.camera_to_xyz_d50(a, neutral=n), C.camera_to_xyz_d50(b, neutral=n)
            np.testing.assert_array_equal(ra[0], rb[0])
            assert ra[1:] == rb[1:]
            np.testing.assert_array_equal(
                C.interpolate_hue_sat_map(a, ra[2]).table, C.interpolate_hue_sat_map(b, rb[2]).table
            )


def test_one_matrix_files():
    one = ColorInfo(color_matrix=(CM_D65, None), calibration_illuminant=(21, 0))
    in_slot_2 = ColorInfo(color_matrix=(None, CM_D65), calibration_illuminant=(0, 21))
    unknown = ColorInfo(color_matrix=(CM_D65, CM_A), calibration_illuminant=(0, 17))  # SDK: set 1 only
    same_t = ColorInfo(color_matrix=(CM_D65, CM_A), calibration_illuminant=(21, 10))  # 6500 K both
    n = np.array([0.5, 1.0, 0.7])
    ref = C.camera_to_xyz_d50(one, neutral=n)
    for other in (in_slot_2, unknown, same_t):
        got = C.camera_to_xyz_d50(other, neutral=n)
        np.testing.assert_array_equal(got[0], ref[0])
        assert got[1] == ref[1]
    # with one matrix the neutral of any white is exactly CM @ XYZ(w)
    for w in WHITES:
        np.testing.assert_allclose(
            C.xy_to_neutral(one, w) * (CM_D65 @ cm.xy_to_XYZ(w)).max(), CM_D65 @ cm.xy_to_XYZ(w), atol=1e-12
        )


def test_color_matrix_normalisation_as_sdk():
    """The SDK scales a ColorMatrix whose D50 response peaks outside [0.99, 1.01] to peak at 1 (and
    leaves it alone inside), so a file storing CM1 x 2 renders exactly as one storing CM1 / peak."""
    peak = float(np.max(CM_A @ D50))
    unit = info_of(color_matrix=(CM_A / peak, CM_D65))
    scaled = info_of(color_matrix=(CM_A * 2.0, CM_D65))
    inside = info_of(color_matrix=(CM_A * 1.005, CM_D65))
    n = np.array([0.55, 1.0, 0.5])
    for a, b in ((scaled, unit),):
        np.testing.assert_allclose(C.neutral_to_xy(a, n), C.neutral_to_xy(b, n), atol=1e-12)
        np.testing.assert_allclose(
            C.camera_to_xyz_d50(a, neutral=n)[0], C.camera_to_xyz_d50(b, neutral=n)[0], atol=1e-12
        )
        np.testing.assert_allclose(C.xyz_to_camera(a, cm.D55_XY), C.xyz_to_camera(b, cm.D55_XY), atol=1e-12)
    w = (0.40, 0.39)  # between the illuminants, where a scale on one matrix tilts the interpolation
    assert np.abs(C.xyz_to_camera(inside, w) - C.xyz_to_camera(unit, w)).max() > 1e-4


def test_extreme_neutrals_stay_finite():
    """Neutrals far from any light source: the search keeps xy physical (the SDK's pins), the
    temperature clamps to the table's ends, and the matrix is finite."""
    info = info_of()
    for n in ([1, 1e-4, 1], [1e-4, 1, 1e-4], [1, 1, 1e-5], [1e-5, 1e-5, 1], [1, 1e-5, 1e-5]):
        xy = C.neutral_to_xy(info, n)
        assert 0 < xy[0] < 1 and 0 < xy[1] < 1 and xy[0] + xy[1] < 1
        M, _, cct = C.camera_to_xyz_d50(info, neutral=n)
        assert np.all(np.isfinite(M)) and 1666 <= cct <= 100001


def test_white_balance_sources():
    info = info_of()
    d55 = C.camera_to_xyz_d50(info)  # no as-shot data: D55, as the SDK renders
    assert d55[1] == cm.D55_XY
    with_xy = dataclasses.replace(info, as_shot_white_xy=(0.36, 0.37))
    assert C.camera_to_xyz_d50(with_xy)[1] == (0.36, 0.37)
    n = C.xy_to_neutral(info, (0.40, 0.39))
    with_n = dataclasses.replace(info, as_shot_neutral=n)
    np.testing.assert_allclose(C.camera_to_xyz_d50(with_n)[1], (0.40, 0.39), atol=1e-7)
    # ColorParams
    t = C.color_transform(with_n)
    np.testing.assert_allclose(t.white_xy, (0.40, 0.39), atol=1e-7)
    assert C.color_transform(with_n, C.ColorParams(white_balance="daylight")).white_xy == cm.D55_XY
    custom = C.color_transform(with_n, C.ColorParams(white_balance="custom", temperature=4000, tint=12))
    assert custom.white_xy == pytest.approx(cm.temperature_tint_to_xy(4000, 12))
    assert custom.cct == pytest.approx(4000, rel=2e-4)
    np.testing.assert_array_equal(custom.matrix, C.camera_to_xyz_d50(info, white_xy=custom.white_xy)[0])


def test_bad_inputs_raise_typed_errors():
    info = info_of()
    for p in (
        C.ColorParams(white_balance="tungsten"),
        C.ColorParams(temperature=100.0),
        C.ColorParams(temperature=20000.0),
        C.ColorParams(tint=400.0),
        C.ColorParams(white_balance="custom", temperature=float("nan")),
    ):
        with pytest.raises(InvalidParams):
            validate(p)
        with pytest.raises(InvalidParams):
            C.color_transform(info, p)
    for n in ([0.5, 0.0, 0.6], [0.5, -1, 0.6], [np.nan, 1, 1], [1, 1], [[1, 1, 1]]):
        with pytest.raises(InvalidParams):
            C.neutral_to_xy(info, n)
    for w in ((0.7, 0.5), (-0.1, 0.3), (0.3,), "D65"):
        with pytest.raises(InvalidParams):
            C.xyz_to_camera(info, w)
    with pytest.raises(InvalidParams):
        C.camera_to_xyz_d50(info, neutral=[0.5, 1, 0.6], white_xy=(0.33, 0.33))
    with pytest.raises(CorruptFile):
        C.camera_to_xyz_d50(ColorInfo())
    with pytest.raises(CorruptFile):
        C.camera_to_xyz_d50(info_of(color_matrix=(CM_A, CM_D65[:2])))
    with pytest.raises(CorruptFile):
        C.camera_to_xyz_d50(info_of(forward_matrix=(np.ones((3, 4)), None)))
    with pytest.raises(CorruptFile):
        C.camera_to_xyz_d50(info_of(as_shot_neutral=np.array([0.5, 0.0, 0.5])))
    with pytest.raises(CorruptFile):
        C.camera_to_xyz_d50(info_of(color_matrix=(np.zeros((3, 3)), None)), white_xy=(0.33, 0.33))
    with pytest.raises(UnsupportedFormat):
        C.camera_to_xyz_d50(info_of(color_matrix=(np.ones((5, 3)), None)))
    img = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(InvalidParams):
        C.apply_matrix(img, np.eye(4))
    with pytest.raises(InvalidParams):
        C.apply_matrix(img[..., 0], np.eye(3))
    with pytest.raises(InvalidParams):
        C.apply_matrix(img.astype(np.uint16), np.eye(3))
    with pytest.raises(InvalidParams):
        C.apply_matrix(img, np.eye(3), out=np.zeros((4, 4, 3)))
    with pytest.raises(InvalidParams):
        C.apply_hue_sat_map(img, HueSatMap(np.zeros((1, 4, 2, 3), np.float32)), workers=0)
    with pytest.raises(CorruptFile):
        C.apply_hue_sat_map(img, HueSatMap(np.zeros((1, 4, 1, 3), np.float32)))
    with pytest.raises(UnsupportedFormat):
        C.apply_hue_sat_map(img, HueSatMap(np.zeros((1, 4, 2, 3), np.float32), encoding=7))


def test_inputs_unchanged():
    info = info_of(forward_matrix=(FM_A, FM_D65), as_shot_neutral=np.array([0.45, 1.0, 0.62]))
    snapshot = [a.copy() for a in (CM_A, CM_D65, FM_A, FM_D65, info.as_shot_neutral)]
    n = info.as_shot_neutral.copy()
    C.camera_to_xyz_d50(info)
    C.neutral_to_xy(info, n)
    C.xy_to_neutral(info, (0.35, 0.36))
    for a, b in zip(snapshot, (CM_A, CM_D65, FM_A, FM_D65, info.as_shot_neutral), strict=True):
        np.testing.assert_array_equal(a, b)
    img = RNG.uniform(0, 1, (9, 11, 3)).astype(np.float32)
    before = img.copy()
    C.apply_matrix(img, np.eye(3) * 2)
    table = HueSatMap(np.tile(np.array([10.0, 1.2, 0.9], np.float32), (2, 6, 3, 1)), encoding=1)
    C.apply_hue_sat_map(img, table)
    np.testing.assert_array_equal(img, before)


# ---------------------------------------------------------------------------------------------- apply_matrix


def test_apply_matrix_reference_threads_and_in_place():
    img = RNG.uniform(-0.1, 2.0, (300, 257, 3)).astype(np.float32)  # several strips
    M = RNG.normal(0, 1, (3, 3))
    ref = (img.astype(np.float64) @ M.T).astype(np.float32)
    a = C.apply_matrix(img, M, workers=1)
    b = C.apply_matrix(img, M, workers=2)
    assert a.dtype == np.float32 and a.shape == img.shape
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a, b)
    buf = img.copy()
    assert C.apply_matrix(buf, M, out=buf) is buf
    np.testing.assert_array_equal(buf, a)
    out = np.empty_like(img)
    assert C.apply_matrix(img.astype(np.float64), M, out=out) is out
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidParams):  # not C-contiguous
        C.apply_matrix(img, M, out=np.empty((300, 514, 3), np.float32)[:, ::2])
    big = np.zeros((301, 257, 3), np.float32)
    with pytest.raises(InvalidParams):  # overlapping the input, shifted by a row
        C.apply_matrix(big[1:], M, out=big[:-1])


# ---------------------------------------------------------------------------------------------- hue/sat maps


def hsv_of(rgb):
    return np.array([colorsys.rgb_to_hsv(*p) for p in rgb.reshape(-1, 3).astype(np.float64)])


def test_identity_table_is_identity():
    img = RNG.uniform(0, 1.5, (40, 30, 3)).astype(np.float32)
    img[0, :3] = [[0, 0, 0], [0.2, 0.2, 0.2], [1, 0, 0]]
    for dims in ((1, 90, 30), (8, 36, 8), (1, 1, 2)):
        for enc in (0, 1):
            table = np.zeros(dims + (3,), np.float32)
            table[..., 1:] = 1.0
            out = C.apply_hue_sat_map(img, HueSatMap(table, encoding=enc))
            np.testing.assert_allclose(out, img, rtol=2e-6, atol=1e-7)


def test_constant_hue_shift_rotates_hue():
    img = RNG.uniform(0.05, 1.0, (20, 25, 3)).astype(np.float32)
    table = np.zeros((1, 12, 4, 3), np.float32)
    table[..., 0] = 30.0
    table[..., 1:] = 1.0
    out = C.apply_hue_sat_map(img, HueSatMap(table))
    h0, h1 = hsv_of(img), hsv_of(out)
    dh = (h1[:, 0] - h0[:, 0]) % 1.0
    chromatic = h0[:, 1] > 1e-3
    np.testing.assert_allclose(dh[chromatic], 30.0 / 360.0, atol=2e-6)
    np.testing.assert_allclose(h1[:, 1:], h0[:, 1:], rtol=1e-5, atol=1e-6)


def test_saturation_scale_and_clamp():
    img = RNG.uniform(0.05, 1.0, (10, 10, 3)).astype(np.float32)
    table = np.ones((1, 6, 2, 3), np.float32)
    table[..., 0] = 0.0
    table[..., 1] = 3.0
    out = C.apply_hue_sat_map(img, HueSatMap(table))
    h0, h1 = hsv_of(img), hsv_of(out)
    np.testing.assert_allclose(h1[:, 1], np.minimum(h0[:, 1] * 3.0, 1.0), atol=2e-6)
    np.testing.assert_allclose(h1[:, 2], h0[:, 2], rtol=1e-6)


def test_look_table_value_encoding_as_predicted():
    """A table whose value scale runs from a (value 0) to b (value 1): with linear encoding a pixel
    of value v gets v * (a + (b - a) v); with sRGB encoding e = sRGB(v) it gets
    sRGB^-1(e * (a + (b - a) e)). Hue and saturation are kept."""
    a, b = 1.3, 0.7
    table = np.zeros((2, 6, 3, 3), np.float32)
    table[..., 1] = 1.0
    table[0, ..., 2] = a
    table[1, ..., 2] = b
    img = RNG.uniform(0.02, 1.0, (16, 16, 3)).astype(np.float32)
    v = img.max(axis=-1, keepdims=True).astype(np.float64)
    lin = C.apply_hue_sat_map(img, HueSatMap(table, encoding=0))
    srgb = C.apply_hue_sat_map(img, HueSatMap(table, encoding=1))
    e = cm.srgb_encode(v)
    np.testing.assert_allclose(lin, img * (a + (b - a) * v), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(srgb, img * cm.srgb_decode(e * (a + (b - a) * e)) / v, rtol=2e-5, atol=1e-6)
    assert np.abs(lin - srgb).max() > 0.02


def _reference_lookup(table, h, s, v):
    """Straightforward per-pixel trilinear lookup per the DNG specification (hue wraps)."""
    nv, nh, ns, _ = table.shape
    hp = h * nh / 6.0 if nh > 1 else 0.0
    i0 = int(np.floor(hp)) % nh
    i1 = (i0 + 1) % nh
    fh = hp - np.floor(hp)
    sp = min(max(s, 0.0), 1.0) * (ns - 1)
    j0 = min(int(sp), ns - 2)
    fs = sp - j0
    if nv > 1:
        vp = min(max(v, 0.0), 1.0) * (nv - 1)
        k0 = min(int(vp), nv - 2)
        fv = vp - k0
        ks = ((k0, 1 - fv), (k0 + 1, fv))
    else:
        ks = ((0, 1.0),)
    acc = np.zeros(3)
    for k, wk in ks:
        for i, wi in ((i0, 1 - fh), (i1, fh)):
            for j, wj in ((j0, 1 - fs), (j0 + 1, fs)):
                acc += wk * wi * wj * table[k, i, j].astype(np.float64)
    return acc


@pytest.mark.parametrize("dims", [(1, 7, 5), (4, 9, 6)])
def test_random_table_matches_per_pixel_reference(dims):
    table = np.empty(dims + (3,), np.float32)
    table[..., 0] = RNG.uniform(-20, 20, dims)
    table[..., 1] = RNG.uniform(0.7, 1.3, dims)
    table[..., 2] = RNG.uniform(0.8, 1.2, dims)
    img = RNG.uniform(0.01, 1.0, (12, 12, 3)).astype(np.float32)
    out = C.apply_hue_sat_map(img, HueSatMap(table))
    expect = []
    for px in img.reshape(-1, 3).astype(np.float64):
        h, s, v = cm.rgb_to_hsv_dng(px)
        dh, ks, kv = _reference_lookup(table, h, s, v)
        expect.append(cm.hsv_to_rgb_dng([h + dh / 60.0, min(s * ks, 1.0), v * kv]))
    np.testing.assert_allclose(out.reshape(-1, 3), np.array(expect), rtol=5e-5, atol=5e-6)


def test_negative_and_black_pixels_pass_through():
    img = np.array([[[-0.1, 0.5, 0.2], [0.0, 0.0, 0.0], [0.3, 0.2, 0.1]]], np.float32)
    table = np.zeros((1, 6, 2, 3), np.float32)
    table[..., 0] = 45.0
    table[..., 1:] = 1.0
    out = C.apply_hue_sat_map(img, HueSatMap(table))
    np.testing.assert_array_equal(out[0, :2], img[0, :2])
    assert not np.allclose(out[0, 2], img[0, 2])
    np.testing.assert_array_equal(C.apply_hue_sat_map(img, None), img)


def test_hue_sat_map_interpolation_weight():
    t1 = np.zeros((1, 4, 2, 3), np.float32)
    t2 = np.ones((1, 4, 2, 3), np.float32) * 8.0
    info = info_of(hue_sat_map=(HueSatMap(t1), HueSatMap(t2)))
    mid = 2.0 / (1.0 / 2850.0 + 1.0 / 6500.0)
    np.testing.assert_allclose(C.interpolate_hue_sat_map(info, mid).table, 4.0, atol=1e-5)
    assert C.interpolate_hue_sat_map(info, 2000.0).table is t1
    assert C.interpolate_hue_sat_map(info, 9000.0).table is t2
    assert C.interpolate_hue_sat_map(info_of(), 5000.0) is None
    only = info_of(hue_sat_map=(None, HueSatMap(t2)))
    assert C.interpolate_hue_sat_map(only, 3000.0).table is t2
    # the colour transform picks the table for its white, unless told not to
    n = C.xy_to_neutral(info, cm.temperature_tint_to_xy(mid))
    t = C.color_transform(dataclasses.replace(info, as_shot_neutral=n))
    np.testing.assert_allclose(t.hue_sat_map.table, 8.0 * (1 - C.interpolation_weight(t.cct, 2850, 6500)), atol=1e-5)
    off = C.color_transform(dataclasses.replace(info, as_shot_neutral=n), C.ColorParams(use_profile_tables=False))
    assert off.hue_sat_map is None and off.look_table is None
    with pytest.raises(CorruptFile):
        C.interpolate_hue_sat_map(info_of(hue_sat_map=(HueSatMap(t1), HueSatMap(t2[:, :2]))), 4000.0)


# ---------------------------------------------------------------------------------------------- colour-hdri


@pytest.fixture(scope="module")
def hdri():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("colour_hdri")


def _hdri_args(cc1=None, cc2=None, ab=None, cm1=CM_A, cm2=CM_D65, t=(2850.0, 6500.0)):
    eye = np.eye(3)
    return (
        t[0],
        t[1],
        cm1,
        cm2,
        eye if cc1 is None else cc1,
        eye if cc2 is None else cc2,
        np.ones(3) if ab is None else ab,
    )


@pytest.mark.parametrize("calibrated", [False, True])
def test_neutral_to_xy_matches_colour_hdri(hdri, calibrated):
    cc1 = np.diag([1.03, 1.0, 0.98]) if calibrated else np.eye(3)
    cc2 = np.diag([0.99, 1.0, 1.02]) if calibrated else np.eye(3)
    ab = np.array([1.05, 1.0, 0.9]) if calibrated else np.ones(3)
    info = info_of(camera_calibration=(cc1, cc2), analog_balance=ab)
    args = _hdri_args(cc1, cc2, ab)
    for w in WHITES:
        n_ref = hdri.xy_to_camera_neutral(np.array(w), *args)
        np.testing.assert_allclose(C.xy_to_neutral(info, w), n_ref / n_ref.max(), atol=1e-12)
        xy_ref = hdri.camera_neutral_to_xy(n_ref, *args, epsilon=1e-12)
        np.testing.assert_allclose(C.neutral_to_xy(info, n_ref), xy_ref, atol=1e-7)
        np.testing.assert_allclose(
            C.xyz_to_camera(info, w), hdri.matrix_XYZ_to_camera_space(np.array(w), *args), atol=1e-12
        )


@pytest.mark.parametrize("fm", [(None, None), (FM_A, FM_D65), (FM_A, None)])
def test_camera_to_xyz_matches_colour_hdri(hdri, fm):
    """Same matrix as colour-hdri up to its overall scale (colour-hdri leaves it unnormalised)."""
    cc1, cc2 = np.diag([1.03, 1.0, 0.98]), np.diag([0.99, 1.0, 1.02])
    ab = np.array([1.05, 1.0, 0.9])
    info = info_of(camera_calibration=(cc1, cc2), analog_balance=ab, forward_matrix=fm)
    args = _hdri_args(cc1, cc2, ab)
    # colour-hdri marks a missing forward matrix as identity and would interpolate with it, where the
    # SDK uses the one present: give it that one twice
    fm_h = [np.eye(3) if m is None else m for m in fm]
    if (fm[0] is None) != (fm[1] is None):
        fm_h = [fm[0] if fm[0] is not None else fm[1]] * 2
    for w in WHITES:
        n = C.xy_to_neutral(info, w)
        M, xy, _ = C.camera_to_xyz_d50(info, neutral=n)
        ref = hdri.matrix_camera_space_to_XYZ(np.array(xy), *args, fm_h[0], fm_h[1])
        np.testing.assert_allclose(y_normalised(M, n), y_normalised(ref, n), atol=2e-6)
        # and ours is scaled so the neutral lands on the D50 white exactly
        np.testing.assert_allclose(M @ n, D50, atol=2e-6)


def test_one_matrix_matches_colour_hdri(hdri):
    info = ColorInfo(color_matrix=(CM_D65, None), calibration_illuminant=(21, 0))
    args = _hdri_args(cm1=CM_D65, cm2=np.eye(3), t=(6500.0, 6500.0))
    for w in WHITES:
        n_ref = hdri.xy_to_camera_neutral(np.array(w), *args)
        np.testing.assert_allclose(C.neutral_to_xy(info, n_ref), w, atol=1e-7)
        M, xy, _ = C.camera_to_xyz_d50(info, neutral=n_ref)
        ref = hdri.matrix_camera_space_to_XYZ(np.array(xy), *args, np.eye(3), np.eye(3))
        np.testing.assert_allclose(y_normalised(M, n_ref), y_normalised(ref, n_ref), atol=2e-6)
