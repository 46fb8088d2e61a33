"""The reader and the whole develop on real DNGs written by other tools (../shared/samples)."""

import dataclasses

import numpy as np
import pytest
from samples import sample

import rotpunkt
from rotpunkt.errors import CorruptFile, MissingImageData, RotpunktError
from rotpunkt.io.dng import read_dng


def test_bayer_samples_decode_identically_to_libraw():
    rawpy = pytest.importorskip("rawpy")
    path = sample("canon550d_tinydng_colorchart.dng")
    data, meta = read_dng(path)
    with rawpy.imread(str(path)) as raw:
        ref = raw.raw_image.copy()
        pattern = raw.raw_pattern.copy()
        desc = raw.color_desc.decode()
        white = raw.white_level
    np.testing.assert_array_equal(data, ref)
    assert "".join("RGB"[i] for i in meta.cfa_pattern.ravel()) == "".join(desc[i] for i in pattern.ravel())
    assert meta.white_level[0] == white == 15000
    assert meta.black_level.ravel()[0] == 2056
    assert meta.active_area == (26, 152, 1182, 1886)


@pytest.mark.parametrize("name", ["canon350d_exiftool_DNG_pruned.dng", "iphone12pro_proraw_exiv2_IMG_1361_pruned.dng"])
def test_pruned_files_raise_missing_image_data(name):
    path = sample(name)
    with pytest.raises(MissingImageData) as info:
        rotpunkt.open(path)
    msg = str(info.value)
    assert str(path) in msg and ("missing" in msg or "truncated" in msg)


def test_pruned_file_metadata_still_readable():
    _, meta = read_dng(sample("iphone12pro_proraw_exiv2_IMG_1361_pruned.dng"), decode=False)
    assert meta.orientation == 6
    assert meta.linearization_table is not None
    assert meta.exif.make == "Apple"


def test_cve_2020_9589_poc_is_a_clean_error_or_a_correct_decode():
    path = sample("aosp-dngsdk_cve_2020_9589_poc.dng")
    good, _ = read_dng(sample("aosp-dngsdk_cve_2020_9589_original.dng"))
    try:
        data, _ = read_dng(path)
    except CorruptFile as exc:
        assert str(path) in str(exc)
    else:
        np.testing.assert_array_equal(data, good)


DEVELOPS = [
    "lg-g4_skia_sample_1mp.dng",  # lossy JPEG LinearRaw, MapPolynomial, reversed illuminants
    "canon6d_photoprism_lossy.dng",  # lossy JPEG, HueSatMap + LookTable
    "canon550d_tinydng_colorchart.dng",  # Bayer, one ColorMatrix, no illuminant
    "aosp-dngsdk_cve_2020_9589_original.dng",  # LJ92 tiles + LinearizationTable
    "adobe-dngsdk17_14_hdr_sdr_profiles.dng",  # float32 LinearRaw, BaselineExposure +2 / offset -2
    "adobe-dngsdk17_02_jxl_linear_raw_float.dng",  # JPEG XL float16
    "adobe-dngsdk17_01_jxl_linear_raw_integer.dng",  # JPEG XL uint16, 60 MP
]


@pytest.mark.parametrize("name", DEVELOPS)
def test_sample_develops(name):
    path = sample(name)
    with rotpunkt.open(path) as raw:
        meta = raw.meta
        img = raw.develop()
    crop = meta.default_crop
    h, w = (crop[2], crop[3]) if crop else (meta.height, meta.width)
    if meta.orientation in (5, 6, 7, 8):
        h, w = w, h
    assert img.data.shape == (h, w, 3) and img.data.dtype == np.float32
    assert np.isfinite(img.data).all()
    assert 0.0 <= img.data.min() and img.data.max() <= 1.0
    # a real photo is neither black nor blown out, and has some colour
    mean = float(img.data.mean())
    assert 0.05 < mean < 0.95, mean
    assert float(img.data.std()) > 0.01


@pytest.mark.parametrize("name", ["adobe-dngsdk17_05_PGTM2_unsigned8.dng", "adobe-dngsdk17_08_PGTM2_float32.dng",
                                  "adobe-dngsdk17_09_ImageSequenceInfo_1_of_3.dng",
                                  "adobe-dngsdk17_11_ImageSequenceInfo_3_of_3.dng"])
def test_synthetic_grey_test_camera_renders_neutral_grey(name):
    """Adobe's "Test Camera" files hold a uniform neutral grey (AsShotNeutral 1,1,1, identity-like
    D50 matrix): the develop must give a neutral grey of the same linear value, sRGB encoded."""
    from rotpunkt.colour_math import srgb_encode
    from rotpunkt.stages.linearize import linearize

    data, meta = read_dng(sample(name))
    lin = linearize(data, meta)
    assert np.ptp(lin) == 0  # the scene really is uniform
    img = rotpunkt.develop(sample(name)).data
    c = meta.color
    expect = srgb_encode(float(lin.flat[0]) * 2.0 ** (c.baseline_exposure + c.baseline_exposure_offset))
    np.testing.assert_allclose(img, expect, atol=2e-4)


def _swap(pair):
    return (pair[1], pair[0])


def test_reversed_illuminant_order_gives_the_same_colours():
    path = sample("lg-g4_skia_sample_1mp.dng")
    data, meta = read_dng(path)
    c = meta.color
    assert c.calibration_illuminant == (21, 17)  # D65 stored first
    swapped = dataclasses.replace(
        c,
        color_matrix=_swap(c.color_matrix), forward_matrix=_swap(c.forward_matrix),
        camera_calibration=_swap(c.camera_calibration), calibration_illuminant=_swap(c.calibration_illuminant),
        hue_sat_map=_swap(c.hue_sat_map),
    )
    from rotpunkt.pipeline import develop

    out1 = develop(data, meta).data
    out2 = develop(data, meta.replace(color=swapped)).data
    np.testing.assert_allclose(out1, out2, atol=1e-6)


def test_unreadable_files_are_typed_errors(tmp_path):
    bad = tmp_path / "not_a_raw.dng"
    bad.write_bytes(b"hello, this is not a raw file at all" * 10)
    with pytest.raises(RotpunktError) as info:
        rotpunkt.open(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(RotpunktError, match="not found"):
        rotpunkt.open(tmp_path / "missing.dng")
    truncated = tmp_path / "truncated.dng"
    truncated.write_bytes(sample("canon550d_tinydng_colorchart.dng").read_bytes()[:200_000])
    with pytest.raises(MissingImageData):
        rotpunkt.open(truncated)
