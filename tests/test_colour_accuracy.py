"""End to end: synthetic DNGs with known truth, developed, measured against the truth.

The colour chart is rendered from ColorChecker reflectance spectra under illuminant A or D65 through a real
camera's spectral sensitivities (tests/scenes.py). Its ColorMatrix/ForwardMatrix tags are least-squares
fits, so even perfect processing has an error: the *floor*, computed here by applying the file's own
matrices at the true white to the noise-free patch signals. The develop must come within 0.2 CIEDE2000 of it.
rawpy (LibRaw) developing the same file is measured beside it and printed.
"""

from __future__ import annotations

import numpy as np
import pytest
from dngwriter import quantize
from scenes import colour_chart, flat_field_with_shading

import rotpunkt

colour = pytest.importorskip("colour")

D50 = np.array([0.3457, 0.3585])
D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]


def lab_d50(xyz):
    return colour.XYZ_to_Lab(xyz, D50)


def adapt(xyz, src_xy, dst_xy):
    return colour.chromatic_adaptation(xyz, colour.xy_to_XYZ(src_xy), colour.xy_to_XYZ(dst_xy),
                                       method="Von Kries", transform="Bradford")


def patch_means(img, rects):
    return np.array([img[t:b, l:r].reshape(-1, img.shape[-1]).mean(axis=0) for t, l, b, r in rects])


def exposure_matched(xyz, truth_xyz):
    """Scale ``xyz`` so the six neutral patches (19-24) best match the truth's luminance (least squares):
    absolute exposure is a free choice of every raw converter, colour is not."""
    yd, yt = xyz[18:, 1], truth_xyz[18:, 1]
    return xyz * (yd @ yt) / (yd @ yd)


def delta_e(xyz_d50, truth_d50):
    return colour.delta_E(lab_d50(exposure_matched(xyz_d50, truth_d50)), lab_d50(truth_d50), method="CIE 2000")


def floor_forward_matrix(truth, dng):
    """The file's own ForwardMatrix at the true illuminant, applied to the noise-free signal."""
    code = 17 if truth.illuminant == "A" else 21
    fm = quantize(dng["forward_matrix1" if code == 17 else "forward_matrix2"]).reshape(3, 3)
    neutral = quantize(dng["as_shot_neutral"])
    cam = truth.camera_rgb / (truth.white - truth.black)
    return (fm @ np.diag(1.0 / neutral) @ cam.T).T


def floor_color_matrix(truth, dng):
    """The file's own ColorMatrix at the true illuminant: inverse, then Bradford from the white to D50."""
    code = 17 if truth.illuminant == "A" else 21
    cmx = quantize(dng["color_matrix1" if code == 17 else "color_matrix2"]).reshape(3, 3)
    cam = truth.camera_rgb / (truth.white - truth.black)
    xyz = (np.linalg.inv(cmx) @ cam.T).T
    white_xy = colour.XYZ_to_xy(truth.illuminant_xyz)
    return adapt(xyz, white_xy, D50)


def developed_xyz_d50(path, rects, space="p3", **kw):
    with rotpunkt.open(path) as raw:
        img = raw.develop(space=space, **kw)
    lin = colour.cctf_decoding(img.data.astype(np.float64), function="sRGB")
    name = {"p3": "Display P3", "srgb": "sRGB"}[space]
    xyz = colour.RGB_to_XYZ(patch_means(lin, rects), colour.RGB_COLOURSPACES[name], D65,
                            chromatic_adaptation_transform=None)
    return adapt(xyz, D65, D50)


def rawpy_xyz_d50(path, rects):
    rawpy = pytest.importorskip("rawpy")
    with rawpy.imread(str(path)) as raw:
        xyz = raw.postprocess(use_camera_wb=True, output_color=rawpy.ColorSpace.XYZ, gamma=(1, 1),
                              no_auto_bright=True, output_bps=16, user_flip=0,
                              demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD)
    xyz = xyz.astype(np.float64) / 65535.0
    return adapt(patch_means(xyz, rects), D65, D50)  # LibRaw's XYZ output is D65-relative


@pytest.mark.parametrize("illuminant", ["A", "D65"])
@pytest.mark.parametrize("forward", [True, False], ids=["ForwardMatrix", "ColorMatrix"])
def test_chart_within_floor(tmp_path, illuminant, forward, record_property):
    scene = colour_chart(illuminant=illuminant, forward_matrices=forward)
    path = scene.write(tmp_path / f"chart_{illuminant}.dng")
    truth = scene.truth
    floor_xyz = floor_forward_matrix(truth, scene.dng) if forward else floor_color_matrix(truth, scene.dng)
    floor = float(delta_e(floor_xyz, truth.xyz_d50).mean())
    ours = float(delta_e(developed_xyz_d50(path, truth.rects), truth.xyz_d50).mean())
    theirs = float(delta_e(rawpy_xyz_d50(path, truth.rects), truth.xyz_d50).mean())
    print(f"\nchart under {illuminant} ({'FM' if forward else 'CM'} path): mean CIEDE2000 floor {floor:.3f}, "
          f"rotpunkt {ours:.3f}, rawpy {theirs:.3f}")
    record_property("dE_floor", floor)
    record_property("dE_rotpunkt", ours)
    record_property("dE_rawpy", theirs)
    assert 0.3 < floor < 3.0  # the matrices are real fits, not the truth itself
    assert ours <= floor + 0.2
    if illuminant == "A":  # LibRaw uses one D65 matrix: it must lose under tungsten light
        assert ours < theirs


def test_chart_srgb_output_and_noise(tmp_path):
    """With sensor noise and sRGB output the patch means still land near the floor."""
    scene = colour_chart(illuminant="A", noise=0.002, seed=3)
    path = scene.write(tmp_path / "noisy.dng")
    truth = scene.truth
    floor = float(delta_e(floor_forward_matrix(truth, scene.dng), truth.xyz_d50).mean())
    # sRGB clips a few out-of-gamut chart colours (cyan): compare the in-gamut patches only
    lin = developed_xyz_d50(path, truth.rects, space="srgb")
    srgb = colour.XYZ_to_RGB(adapt(truth.xyz_d50, D50, D65), colour.RGB_COLOURSPACES["sRGB"], D65,
                             chromatic_adaptation_transform=None)
    inside = np.all((srgb > 0.0) & (srgb < 1.0), axis=1)
    assert inside.sum() >= 20
    de = delta_e(lin, truth.xyz_d50)
    floor_de = delta_e(floor_forward_matrix(truth, scene.dng), truth.xyz_d50)
    assert float(de[inside].mean()) <= float(floor_de[inside].mean()) + 0.3, (de, floor)


@pytest.mark.parametrize("variant", [dict(compression="ljpeg", tile=64), dict(compression="ljpeg"),
                                     dict(tile=96), dict(preview=False)],
                         ids=["ljpeg-tiles", "ljpeg-strip", "tiles", "raw-in-ifd0"])
def test_storage_variants_develop_identically(tmp_path, variant):
    scene = colour_chart(illuminant="D65", patch_px=16, gap_px=4)
    ref = rotpunkt.develop(scene.write(tmp_path / "plain.dng")).data
    other = rotpunkt.develop(scene.write(tmp_path / "variant.dng", **variant)).data
    np.testing.assert_array_equal(ref, other)


def test_reversed_calibration_order_same_colours(tmp_path):
    scene = colour_chart(illuminant="A", patch_px=16, gap_px=4)
    d = scene.dng
    swapped = dict(color_matrix1=d["color_matrix2"], color_matrix2=d["color_matrix1"],
                   forward_matrix1=d["forward_matrix2"], forward_matrix2=d["forward_matrix1"],
                   calibration_illuminant1=21, calibration_illuminant2=17)
    a = rotpunkt.develop(scene.write(tmp_path / "ordered.dng")).data
    b = rotpunkt.develop(scene.write(tmp_path / "reversed.dng", **swapped)).data
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("kind", ["gain_map", "vignette_radial"])
def test_flat_field_comes_out_flat(tmp_path, kind):
    scene = flat_field_with_shading(kind=kind, size=(192, 256))
    path = scene.write(tmp_path / f"flat_{kind}.dng")
    from rotpunkt.io import read
    from rotpunkt.pipeline import DevelopParams, scene_linear

    data, meta = read(path)
    lin, _ = scene_linear(data, meta, DevelopParams())
    y = lin @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # luminance-like, any positive weights work
    h, w = y.shape
    c = y[h // 2 - 8:h // 2 + 8, w // 2 - 8:w // 2 + 8].mean()
    corners = [y[:16, :16].mean(), y[:16, -16:].mean(), y[-16:, :16].mean(), y[-16:, -16:].mean()]
    assert max(abs(k / c - 1.0) for k in corners) < 0.02
    # and the shading really was there: without the opcode the corners are far darker
    raw_corners = scene.truth.shading[:16, :16].mean() / scene.truth.shading[h // 2 - 8:h // 2 + 8,
                                                                             w // 2 - 8:w // 2 + 8].mean()
    assert raw_corners < 0.8
    # per-channel flatness too (colour shading removed)
    for ch in range(3):
        cc = lin[h // 2 - 8:h // 2 + 8, w // 2 - 8:w // 2 + 8, ch].mean()
        assert abs(lin[:16, :16, ch].mean() / cc - 1.0) < 0.02


def test_libraw_reader_same_pipeline(tmp_path):
    """A file read through rawpy (as every non-DNG raw is) goes through the same colour model with
    LibRaw's one D65 matrix: under D65 it lands on the ColorMatrix floor too."""
    scene = colour_chart(illuminant="D65", forward_matrices=False)
    path = scene.write(tmp_path / "chart.dng")
    truth = scene.truth
    floor = float(delta_e(floor_color_matrix(truth, scene.dng), truth.xyz_d50).mean())
    with rotpunkt.open(path, reader="libraw") as raw:
        assert raw.meta.source == "libraw"
        img = raw.develop(space="p3")
    lin = colour.cctf_decoding(img.data.astype(np.float64), function="sRGB")
    xyz = colour.RGB_to_XYZ(patch_means(lin, truth.rects), colour.RGB_COLOURSPACES["Display P3"], D65,
                            chromatic_adaptation_transform=None)
    ours = float(delta_e(adapt(xyz, D65, D50), truth.xyz_d50).mean())
    assert ours <= floor + 0.3, (ours, floor)
