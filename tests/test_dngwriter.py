"""The test DNG writer and the synthetic scenes, checked against independent decoders and references.

Every file variant is decoded by two independent readers -- LibRaw (through rawpy) and tifffile +
imagecodecs -- and must give back exactly the values written. Opcode lists are parsed here with numpy
big-endian views, independently of the struct-based encoder. Scene truth is compared with
colour-science (spectral integration, Bradford adaptation) and with closed forms.
"""

from __future__ import annotations

import colour
import imagecodecs
import numpy as np
import pytest
import rawpy
import tifffile
from dngwriter import (
    DENOMINATOR,
    cfa_pattern_codes,
    encode_fix_vignette_radial,
    encode_gain_map,
    fix_vignette_radial_opcode,
    gain_map_opcode,
    ljpeg_encode,
    opcode_list,
    quantize,
    write_dng,
)
from scenes import (
    ILLUMINANT_CODES,
    PCS_WHITE_XYZ,
    WAVELENGTHS,
    adapt_to_pcs,
    colour_chart,
    flat_field_with_shading,
    reflectance_to_xyz,
    slanted_edge,
)
from scipy.interpolate import RegularGridInterpolator

from rotpunkt.errors import InvalidParams

H, W = 40, 56  # deliberately not a multiple of the tile sizes used
BLACK, WHITE = 512, 16383
RAWPY_RGB = np.array([0, 1, 2, 1])  # rawpy colour indices (color_desc b"RGBG") -> R, G, B


def _mosaic(seed: int = 0, hi: int = WHITE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, hi + 1, (H, W), dtype=np.uint16)


def _pages(path):
    """(IFD 0 page, raw page) read with tifffile."""
    tif = tifffile.TiffFile(path)
    ifd0 = tif.pages[0]
    raw = ifd0.pages[0] if ifd0.pages else ifd0
    return tif, ifd0, raw


def _rationals(value) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64).reshape(-1, 2)
    return v[:, 0] / v[:, 1]


# ------------------------------------------------------------------------------------------------
# File variants decode to the written values with LibRaw and tifffile
# ------------------------------------------------------------------------------------------------

CFA_VARIANTS = [
    dict(),
    dict(preview=False),
    dict(tile=32),
    dict(compression="ljpeg"),
    dict(compression="ljpeg", tile=32),
    dict(compression="ljpeg", ljpeg_components=2),
    dict(compression="ljpeg", tile=48, ljpeg_components=2),
    dict(byteorder=">"),
    dict(byteorder=">", compression="ljpeg", tile=16, preview=False),
    dict(cfa_pattern="BGGR"),
    dict(cfa_pattern="GRBG", compression="ljpeg"),
    dict(cfa_pattern="GBRG", tile=16),
]


def _variant_id(kw: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kw.items()) or "plain"


@pytest.mark.parametrize("kw", CFA_VARIANTS, ids=_variant_id)
def test_cfa_variant_round_trip(tmp_path, kw):
    data = _mosaic(1)
    path = write_dng(tmp_path / "v.dng", data, black_level=BLACK, white_level=WHITE, **kw)
    pattern = kw.get("cfa_pattern", "RGGB")
    compression = kw.get("compression", "none")

    tif, ifd0, raw = _pages(path)
    with tif:
        assert np.array_equal(raw.asarray(), data)
        assert raw.photometric == 32803
        assert raw.tags["NewSubfileType"].value == 0
        assert raw.compression == {"none": 1, "ljpeg": 7}[compression]
        assert raw.tags["CFARepeatPatternDim"].value == (2, 2)
        assert raw.tags["CFAPattern"].value == bytes(cfa_pattern_codes(pattern))
        assert raw.tags["BlackLevel"].value == BLACK and raw.tags["WhiteLevel"].value == WHITE
        assert ifd0.tags["DNGVersion"].value == bytes((1, 4, 0, 0))
        assert ifd0.tags["UniqueCameraModel"].value == "rotpunkt Synthetic"
        if kw.get("tile"):
            assert (raw.tilelength, raw.tilewidth) == (kw["tile"], kw["tile"])
        if kw.get("preview", True):
            assert ifd0 is not raw and ifd0.tags["NewSubfileType"].value == 1
            assert ifd0.photometric == 2 and ifd0.dtype == np.uint8 and ifd0.shape[2] == 3
        if compression == "ljpeg":
            assert raw.bitspersample == 14
        assert tif.byteorder == kw.get("byteorder", "<")

    with rawpy.imread(str(path)) as r:
        assert np.array_equal(r.raw_image_visible, data)
        assert r.color_desc == b"RGBG"
        assert np.array_equal(RAWPY_RGB[r.raw_pattern].ravel(), cfa_pattern_codes(pattern))
        assert list(r.black_level_per_channel) == [BLACK] * 4
        assert r.white_level == WHITE


def test_sixteen_bit_lossless_jpeg(tmp_path):
    data = _mosaic(2, hi=65535)
    path = write_dng(tmp_path / "v16.dng", data, black_level=1024, white_level=65535, compression="ljpeg",
                     tile=32)
    tif, _, raw = _pages(path)
    with tif:
        assert raw.bitspersample == 16 and np.array_equal(raw.asarray(), data)
    with rawpy.imread(str(path)) as r:
        assert np.array_equal(r.raw_image_visible, data) and r.white_level == 65535


LINEAR_VARIANTS = [dict(), dict(tile=32), dict(compression="ljpeg"), dict(compression="ljpeg", tile=32)]


@pytest.mark.parametrize("kw", LINEAR_VARIANTS, ids=_variant_id)
def test_linear_raw_round_trip(tmp_path, kw):
    data = np.random.default_rng(3).integers(0, WHITE + 1, (H, W, 3), dtype=np.uint16)
    path = write_dng(tmp_path / "lin.dng", data, black_level=[500, 510, 520], white_level=WHITE, **kw)
    tif, _, raw = _pages(path)
    with tif:
        assert raw.photometric == 34892 and raw.samplesperpixel == 3
        assert "CFAPattern" not in raw.tags
        assert np.array_equal(raw.asarray(), data)
    with rawpy.imread(str(path)) as r:
        assert r.num_colors == 3
        assert np.array_equal(r.raw_image_visible[..., :3], data)
        assert list(r.black_level_per_channel[:3]) == [500, 510, 520]


@pytest.mark.parametrize("kw", [dict(), dict(compression="deflate"), dict(compression="deflate", tile=32)])
def test_float_round_trip(tmp_path, kw):
    data = np.random.default_rng(4).random((H, W)).astype(np.float32)
    path = write_dng(tmp_path / "f.dng", data, **kw)
    tif, _, raw = _pages(path)
    with tif:
        assert raw.dtype == np.float32 and np.array_equal(raw.asarray(), data)
        assert raw.compression == (8 if kw else 1)
        if kw:
            assert raw.predictor == 3
    with rawpy.imread(str(path)) as r:
        # LibRaw turns float data with white level 1 into integers scaled by 16383, truncating.
        expected = (data * np.float32(16383)).astype(np.int64)
        assert np.abs(r.raw_image_visible.astype(np.int64) - expected).max() <= 1


# ------------------------------------------------------------------------------------------------
# Metadata
# ------------------------------------------------------------------------------------------------


def test_colour_and_exif_tags(tmp_path):
    cm1 = [[1.3021, -0.4081, -0.0628], [-0.5398, 1.4068, 0.3624], [-0.1277, 0.2329, 0.9403]]
    cm2 = np.array([[0.94961, -0.21994, -0.09301], [-0.5178, 1.22171, 0.24843], [-0.2057, 0.2986, 0.6884]])
    fm1 = [[0.6, 0.25, 0.11], [0.25, 0.7, 0.05], [0.05, 0.0, 0.77]]
    cc = np.diag([1.01, 1.0, 0.99])
    path = write_dng(
        tmp_path / "c.dng", _mosaic(5), black_level=BLACK, white_level=WHITE,
        color_matrix1=cm1, color_matrix2=cm2, forward_matrix1=fm1, forward_matrix2=fm1,
        camera_calibration1=cc, camera_calibration2=cc, analog_balance=(1.0, 1.0, 1.0),
        as_shot_neutral=(0.5, 1.0, 0.7), baseline_exposure=-0.35, orientation=6,
        exposure_time=1 / 125, iso=400, f_number=1.8, focal_length=5.1, datetime="2024:05:06 07:08:09",
        lens="Synthetic 5.1mm f/1.8", make="Acme", model="Phone 1",
    )
    tif, ifd0, raw = _pages(path)
    with tif:
        t = ifd0.tags
        assert np.array_equal(_rationals(t["ColorMatrix1"].value), quantize(cm1).ravel())
        assert np.array_equal(_rationals(t["ColorMatrix2"].value), quantize(cm2).ravel())
        assert np.array_equal(_rationals(t["ForwardMatrix1"].value), quantize(fm1).ravel())
        assert np.array_equal(_rationals(t["CameraCalibration2"].value), quantize(cc).ravel())
        assert t["CalibrationIlluminant1"].value == 17 and t["CalibrationIlluminant2"].value == 21
        assert np.array_equal(_rationals(t["AsShotNeutral"].value), [0.5, 1.0, 0.7])
        assert np.array_equal(_rationals(t["AnalogBalance"].value), [1, 1, 1])
        assert _rationals(t["BaselineExposure"].value)[0] == -0.35
        assert t["ColorMatrix1"].value[1] == DENOMINATOR
        assert t["Orientation"].value == 6
        assert (t["Make"].value, t["Model"].value) == ("Acme", "Phone 1")
        assert t["UniqueCameraModel"].value == "Acme Phone 1"
        assert t["DNGBackwardVersion"].value == bytes((1, 1, 0, 0))
        exif = t["ExifTag"].value
        assert exif["ExposureTime"] == (1, 125) and exif["ISOSpeedRatings"] == 400
        assert exif["FNumber"] == (9, 5) and exif["FocalLength"] == (51, 10)
        assert exif["DateTimeOriginal"] == "2024:05:06 07:08:09"
        assert exif["LensModel"] == "Synthetic 5.1mm f/1.8"
        assert "ColorMatrix1" not in raw.tags  # IFD-0 tags stay in IFD 0
    with rawpy.imread(str(path)) as r:
        o = r.other
        assert o.iso_speed == 400 and abs(o.shutter_speed - 1 / 125) < 1e-7
        assert abs(o.aperture - 1.8) < 1e-6 and abs(o.focal_length - 5.1) < 1e-6
        assert o.timestamp.strftime("%Y:%m:%d %H:%M:%S") == "2024:05:06 07:08:09"
        assert np.allclose(r.camera_whitebalance[:3], [2.0, 1.0, 1 / 0.7], rtol=1e-6)


def test_default_colour_matrix(tmp_path):
    """Without matrices the writer stores the required ColorMatrix1: an sRGB camera for D65."""
    tif, ifd0, _ = _pages(write_dng(tmp_path / "d.dng", _mosaic(12)))
    with tif:
        cm = _rationals(ifd0.tags["ColorMatrix1"].value).reshape(3, 3)
        assert ifd0.tags["CalibrationIlluminant1"].value == 21 and "ColorMatrix2" not in ifd0.tags
    d65 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    assert np.allclose(cm @ d65, 1.0, atol=2e-3)
    srgb = colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB
    assert np.allclose(cm, srgb, atol=2e-3)
    tif, ifd0, _ = _pages(write_dng(tmp_path / "n.dng", _mosaic(12), color_matrix1=False))
    with tif:
        assert "ColorMatrix1" not in ifd0.tags and "CalibrationIlluminant1" not in ifd0.tags


def test_libraw_derives_its_colour_matrix_from_the_written_color_matrix2(tmp_path):
    """LibRaw builds camera->sRGB from ColorMatrix2 the dcraw way (rows of CM @ sRGB->XYZ summed to 1,
    then inverted); reproducing that from our values proves the SRATIONAL matrix was read exactly."""
    scene = colour_chart("D65", patch_px=8, gap_px=2)
    path = scene.write(tmp_path / "cm.dng")
    xyz_rgb = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]])  # dcraw's sRGB -> XYZ
    cam_rgb = scene.dng["color_matrix2"] @ xyz_rgb
    cam_rgb /= cam_rgb.sum(axis=1, keepdims=True)
    with rawpy.imread(str(path)) as r:
        assert np.allclose(r.color_matrix[:, :3], np.linalg.inv(cam_rgb), atol=1e-4)


def test_per_site_black_levels(tmp_path):
    data = _mosaic(6)
    path = write_dng(tmp_path / "b.dng", data, black_level=[[500, 510], [520, 530]],
                     black_level_repeat=(2, 2), white_level=WHITE)
    tif, _, raw = _pages(path)
    with tif:
        assert raw.tags["BlackLevelRepeatDim"].value == (2, 2)
        assert raw.tags["BlackLevel"].value == (500, 510, 520, 530)
    with rawpy.imread(str(path)) as r:  # per colour R, G(row 0), B, G(row 1)
        assert list(r.black_level_per_channel) == [500, 510, 530, 520]

    path = write_dng(tmp_path / "br.dng", data, black_level=[500.5, 510.25, 520, 530],
                     black_level_repeat=(2, 2), white_level=WHITE)
    tif, _, raw = _pages(path)
    with tif:
        assert raw.tags["BlackLevel"].dtype == 5  # RATIONAL
        assert np.array_equal(_rationals(raw.tags["BlackLevel"].value), [500.5, 510.25, 520, 530])


def test_black_level_deltas(tmp_path):
    dh, dv = np.linspace(-2, 6, W), np.full(H, 3.0)
    path = write_dng(tmp_path / "d.dng", _mosaic(7), black_level=BLACK, black_level_delta_h=dh,
                     black_level_delta_v=dv, white_level=WHITE)
    tif, _, raw = _pages(path)
    with tif:
        assert np.allclose(_rationals(raw.tags["BlackLevelDeltaH"].value), dh, atol=0.5 / DENOMINATOR)
        assert np.array_equal(_rationals(raw.tags["BlackLevelDeltaV"].value), dv)
        assert raw.tags["BlackLevelDeltaH"].dtype == 10  # SRATIONAL
    with rawpy.imread(str(path)) as r:  # LibRaw folds the mean deltas into its black level
        assert list(r.black_level_per_channel) == [BLACK + 2 + 3] * 4


def test_linearization_table(tmp_path):
    data = _mosaic(8)
    table = np.minimum(np.arange(16384) * 2 + 7, 65535)
    path = write_dng(tmp_path / "l.dng", data, black_level=1024, white_level=32773, linearization_table=table)
    tif, _, raw = _pages(path)
    with tif:
        assert np.array_equal(raw.tags["LinearizationTable"].value, table)
        assert np.array_equal(raw.asarray(), data)  # the stored values, before the table
    with rawpy.imread(str(path)) as r:
        assert np.array_equal(r.raw_image_visible, table[data])


def test_active_area_and_default_crop(tmp_path):
    data = _mosaic(9)
    path = write_dng(tmp_path / "a.dng", data, black_level=BLACK, white_level=WHITE,
                     active_area=(4, 6, 36, 54), default_crop=(2, 2, 26, 44))
    tif, _, raw = _pages(path)
    with tif:
        assert raw.tags["ActiveArea"].value == (4, 6, 36, 54)
        assert raw.tags["DefaultCropOrigin"].value == (2, 2) and raw.tags["DefaultCropSize"].value == (44, 26)
    with rawpy.imread(str(path)) as r:
        assert np.array_equal(r.raw_image, data)
        assert np.array_equal(r.raw_image_visible, data[4:36, 6:54])
        s = r.sizes
        assert (s.crop_top_margin, s.crop_left_margin, s.crop_height, s.crop_width) == (6, 8, 26, 44)


@pytest.mark.parametrize("bad", [
    dict(data=np.zeros((16, 16, 3), np.uint16), linear_raw=False),
    dict(data=np.zeros((16, 16), np.uint16), linear_raw=True),
    dict(data=np.zeros((16, 16), np.float64)),
    dict(data=np.zeros((16, 16), np.float32), compression="ljpeg"),
    dict(compression="deflate"),
    dict(compression="lzw"),
    dict(tile=20),
    dict(cfa_pattern="RGBX"),
    dict(black_level=[1, 2, 3]),
    dict(as_shot_neutral=(1, 1, 1), as_shot_white_xy=(0.31, 0.33)),
    dict(default_crop=(0, 0, 17, 16)),
    dict(active_area=(0, 0, 20, 16)),
    dict(color_matrix1=np.eye(4)),
    dict(orientation=9),
])
def test_bad_arguments_raise_invalid_params(tmp_path, bad):
    kw = dict(data=np.zeros((16, 16), np.uint16), **{k: v for k, v in bad.items() if k != "data"})
    if "data" in bad:
        kw["data"] = bad["data"]
    with pytest.raises(InvalidParams):
        write_dng(tmp_path / "bad.dng", **kw)


# ------------------------------------------------------------------------------------------------
# Opcode lists and the lossless-JPEG encoder
# ------------------------------------------------------------------------------------------------


def _parse_opcodes(b: bytes) -> list[tuple[int, int, int, bytes]]:
    """An independent reading of an opcode list (DNG 1.7 ch. 6): (id, version, flags, params)."""
    n = int(np.frombuffer(b, ">u4", 1, 0)[0])
    pos, out = 4, []
    for _ in range(n):
        oid, ver, flags, size = (int(v) for v in np.frombuffer(b, ">u4", 4, pos))
        out.append((oid, ver, flags, b[pos + 16:pos + 16 + size]))
        pos += 16 + size
    assert pos == len(b)
    return out


def _parse_gain_map(p: bytes) -> dict:
    area = np.frombuffer(p, ">u4", 8, 0)
    pv, ph = (int(v) for v in np.frombuffer(p, ">u4", 2, 32))
    sv, sh, ov, oh = np.frombuffer(p, ">f8", 4, 40)
    mp = int(np.frombuffer(p, ">u4", 1, 72)[0])
    assert len(p) == 76 + 4 * pv * ph * mp
    gains = np.frombuffer(p, ">f4", pv * ph * mp, 76).reshape(pv, ph, mp)
    return dict(area=tuple(int(v) for v in area), spacing=(sv, sh), origin=(ov, oh), gains=gains)


def test_gain_map_encoding():
    g = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2) / 7 + 1
    b = encode_gain_map(g, top=1, left=0, bottom=40, right=56, plane=0, planes=1, row_pitch=2, col_pitch=2,
                        map_origin=(0.1, 0.2), map_spacing=(0.5, 0.25), flags=1)
    (oid, ver, flags, params), = _parse_opcodes(b)
    assert (oid, ver, flags) == (9, 0x01030000, 1)
    m = _parse_gain_map(params)
    assert m["area"] == (1, 0, 40, 56, 0, 1, 2, 2)
    assert m["spacing"] == (0.5, 0.25) and m["origin"] == (0.1, 0.2)
    assert np.array_equal(m["gains"], g.astype(np.float32))
    # default spacing spreads the points over [0, 1]
    m = _parse_gain_map(_parse_opcodes(encode_gain_map(np.ones((5, 9)), bottom=8, right=8))[0][3])
    assert m["spacing"] == (0.25, 0.125) and m["origin"] == (0.0, 0.0) and m["gains"].shape == (5, 9, 1)


def test_fix_vignette_radial_encoding_and_lists():
    b = encode_fix_vignette_radial([0.5, -0.1, 0.02], 0.45, 0.55)
    (oid, ver, flags, params), = _parse_opcodes(b)
    assert (oid, ver, flags, len(params)) == (3, 0x01030000, 0, 56)
    assert np.array_equal(np.frombuffer(params, ">f8"), [0.5, -0.1, 0.02, 0, 0, 0.45, 0.55])
    two = opcode_list(fix_vignette_radial_opcode([0.1]), gain_map_opcode(np.ones((2, 2)), bottom=4, right=4))
    assert [op[0] for op in _parse_opcodes(two)] == [3, 9]
    with pytest.raises(InvalidParams):
        encode_fix_vignette_radial([0.1] * 6)
    with pytest.raises(InvalidParams):
        encode_fix_vignette_radial([0.1], cx=1.5)


def test_opcode_lists_are_stored_verbatim(tmp_path):
    ol2 = encode_gain_map(np.full((3, 3), 1.25), bottom=H, right=W)
    ol3 = encode_fix_vignette_radial([0.3])
    path = write_dng(tmp_path / "o.dng", _mosaic(10), black_level=BLACK, white_level=WHITE,
                     opcode_list2=ol2, opcode_list3=ol3)
    tif, ifd0, raw = _pages(path)
    with tif:
        assert raw.tags["OpcodeList2"].value == ol2 and raw.tags["OpcodeList3"].value == ol3
        assert "OpcodeList1" not in raw.tags
        assert ifd0.tags["DNGBackwardVersion"].value == bytes((1, 3, 0, 0))
    with rawpy.imread(str(path)) as r:
        assert np.array_equal(r.raw_image_visible, _mosaic(10))


@pytest.mark.parametrize("shape,bits", [((9, 13, 3), 14), ((8, 16, 2), 16), ((7, 5, 1), 12)])
def test_lossless_jpeg_encoder_against_two_decoders(shape, bits):
    a = np.random.default_rng(11).integers(0, 1 << bits, shape, dtype=np.uint16)
    if bits == 16:  # exercise the special category 16 (difference of exactly 32768)
        a[0, ::2, 0], a[0, 1::2, 0] = 0, 32768
    b = ljpeg_encode(a, bits)
    assert b[:2] == b"\xff\xd8" and b[-2:] == b"\xff\xd9"
    for decode in (imagecodecs.ljpeg_decode, imagecodecs.jpegsof3_decode):
        assert np.array_equal(decode(b).reshape(shape), a)


# ------------------------------------------------------------------------------------------------
# Scenes: the colour chart
# ------------------------------------------------------------------------------------------------


def _aligned(sd):
    return sd.copy().align(colour.SpectralShape(380, 780, 5))


@pytest.mark.parametrize("illuminant", ["D65", "A"])
def test_chart_truth_matches_colour_science(illuminant):
    scene = colour_chart(illuminant, patch_px=8, gap_px=2)
    t = scene.truth
    cmfs = _aligned(colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"])
    ill = _aligned(colour.SDS_ILLUMINANTS[illuminant])
    sds = colour.SDS_COLOURCHECKERS["ColorChecker N Ohta"]
    ref = np.array([colour.sd_to_XYZ(_aligned(sds[n]), cmfs, ill, method="Integration") for n in t.names])
    ref /= 100
    assert np.allclose(t.xyz, ref, atol=1e-9)
    ones = colour.sd_ones(colour.SpectralShape(380, 780, 5))
    white = colour.sd_to_XYZ(ones, cmfs, ill, method="Integration")
    assert np.allclose(t.illuminant_xyz, white / 100, atol=1e-9)
    adapted = colour.chromatic_adaptation(t.xyz, t.illuminant_xyz, PCS_WHITE_XYZ, method="Von Kries",
                                          transform="Bradford")
    assert np.allclose(t.xyz_d50, adapted, atol=1e-12)


@pytest.mark.parametrize("illuminant", ["D65", "A"])
def test_chart_white_and_characterisation(illuminant):
    t = colour_chart(illuminant, patch_px=8, gap_px=2).truth
    # a spectrally flat reflector adapts to exactly its reflectance times the PCS white ...
    flat = adapt_to_pcs(reflectance_to_xyz(np.full(WAVELENGTHS.size, 0.9), illuminant), illuminant)
    assert np.allclose(flat, 0.9 * PCS_WHITE_XYZ, atol=1e-12)
    # ... and the chart's (nearly flat) white patch lands close to the D50 white point
    i = t.names.index("white 9.5 (.05 D)")
    xy = t.xyz_d50[i, :2] / t.xyz_d50[i].sum()
    assert np.hypot(*(xy - [0.3457, 0.3585])) < 0.003
    assert 0.85 < t.xyz_d50[i, 1] < 0.92
    # the fitted ColorMatrix maps the illuminant's white onto the AsShotNeutral direction (max 1)
    ch = t.characterisation[ILLUMINANT_CODES[illuminant]]
    cam_white = ch.color_matrix @ t.illuminant_xyz
    assert np.allclose(cam_white, t.as_shot_neutral, atol=5e-4) and t.as_shot_neutral.max() == 1.0
    assert np.allclose(ch.forward_matrix @ np.ones(3), PCS_WHITE_XYZ, atol=5e-4)
    # exposure: the brightest channel of the brightest patch sits at 75 % of the range
    assert np.isclose(t.camera_rgb.max() / (t.white - t.black), 0.75)


@pytest.mark.parametrize("illuminant", ["D65", "A"])
def test_chart_matrices_are_good_but_imperfect(illuminant):
    """The error floor of the file's own matrices: camera RGB -> XYZ D50 by ColorMatrix^-1 then
    Bradford, against the truth. A real (non-colorimetric) camera gives a small, non-zero floor."""
    t = colour_chart(illuminant, patch_px=8, gap_px=2).truth
    ch = t.characterisation[ILLUMINANT_CODES[illuminant]]
    cam = t.camera_rgb / t.camera_rgb_white.max()
    est = adapt_to_pcs(cam @ np.linalg.inv(ch.color_matrix).T, illuminant)
    d50 = colour.XYZ_to_xy(PCS_WHITE_XYZ)
    de = colour.delta_E(colour.XYZ_to_Lab(t.xyz_d50, d50), colour.XYZ_to_Lab(est, d50), method="CIE 2000")
    assert 0.3 < de.mean() < 2.0 and de.max() < 6.0
    fm = (cam / ch.neutral) @ ch.forward_matrix.T
    de_fm = colour.delta_E(colour.XYZ_to_Lab(t.xyz_d50, d50), colour.XYZ_to_Lab(fm, d50), method="CIE 2000")
    assert 0.3 < de_fm.mean() < 2.0


def test_chart_file_holds_the_truth(tmp_path):
    scene = colour_chart("A", patch_px=16, gap_px=4, cfa_pattern="GRBG")
    t = scene.truth
    path = scene.write(tmp_path / "chart.dng", compression="ljpeg", tile=32)
    with rawpy.imread(str(path)) as r:
        raw = r.raw_image_visible.astype(np.float64)
        colours = RAWPY_RGB[r.raw_colors_visible]
        assert np.allclose(r.camera_whitebalance[:3], 1 / t.as_shot_neutral, rtol=1e-6)
    for i, (top, left, bottom, right) in enumerate(t.rects):
        assert (bottom - top) % 2 == 0 and (right - left) % 2 == 0 and top % 2 == 0 and left % 2 == 0
        win, col = raw[top:bottom, left:right], colours[top:bottom, left:right]
        means = [win[col == c].mean() - t.black for c in range(3)]
        assert np.allclose(means, t.camera_rgb[i], atol=0.5), t.names[i]
    tif, ifd0, _ = _pages(path)
    with tif:
        assert np.array_equal(_rationals(ifd0.tags["ColorMatrix1"].value),
                              t.characterisation[17].color_matrix.ravel())
        assert np.array_equal(_rationals(ifd0.tags["ForwardMatrix2"].value),
                              t.characterisation[21].forward_matrix.ravel())


def test_chart_noise_is_as_requested():
    clean = colour_chart("D65", patch_px=16, gap_px=4)
    noisy = colour_chart("D65", patch_px=16, gap_px=4, noise=20.0, seed=3)
    diff = noisy.data.astype(np.float64) - clean.data
    assert abs(diff.std() - 20.0) < 1.0 and abs(diff.mean()) < 1.0


# ------------------------------------------------------------------------------------------------
# Scenes: slanted edge and flat fields
# ------------------------------------------------------------------------------------------------


def test_slanted_edge_geometry_and_mtf(tmp_path):
    scene = slanted_edge(96, angle_deg=5.0, blur_sigma=1.2)
    t = scene.truth
    path = scene.write(tmp_path / "edge.dng")
    with rawpy.imread(str(path)) as r:
        raw = r.raw_image_visible.astype(np.float64) - t.black
    y, x = np.mgrid[0:96, 0:96] + 0.5
    d = (x - t.cx) * t.normal[0] + (y - t.cy) * t.normal[1]
    assert np.abs(raw - t.esf(d)).max() <= 0.5 + 1e-9
    # the edge found in the pixels: where each row crosses the mid level
    mid = 0.5 * (t.lo + t.hi)
    xs = []
    for row in raw[8:-8]:
        j = int(np.flatnonzero(row > mid)[0])
        xs.append(j - 1 + 0.5 + (mid - row[j - 1]) / (row[j] - row[j - 1]))
    slope, intercept = np.polyfit(np.arange(8, 88) + 0.5, xs, 1)
    assert abs(slope + np.tan(np.deg2rad(5.0))) < 2e-3
    assert abs(intercept + slope * t.cy - t.cx) < 0.05
    # the closed-form MTF is the Fourier transform of the line spread function d(ESF)/dd
    dd = 0.005
    s = np.arange(-4096, 4096) * dd
    lsf = np.gradient(t.esf(s), dd)
    f = np.array([0.05, 0.1, 0.2, 0.3, t.mtf50])
    numeric = np.abs(np.exp(-2j * np.pi * f[:, None] * s[None, :]) @ lsf) * dd / (t.hi - t.lo)
    assert np.allclose(numeric, t.mtf(f), atol=1e-4)
    assert np.isclose(t.mtf(t.mtf50), 0.5)


def _apply_gain_maps(img: np.ndarray, opcodes: bytes) -> np.ndarray:
    """Apply GainMap opcodes the DNG way, with scipy's bilinear interpolation on the map grid."""
    out = img.copy()
    h, w = img.shape
    for oid, _, _, p in _parse_opcodes(opcodes):
        assert oid == 9
        m = _parse_gain_map(p)
        top, left, bottom, right, _, _, rp, cp = m["area"]
        pv, ph, _ = m["gains"].shape
        gv = m["origin"][0] + m["spacing"][0] * np.arange(pv)
        gh = m["origin"][1] + m["spacing"][1] * np.arange(ph)
        interp = RegularGridInterpolator((gv, gh), m["gains"][..., 0], method="linear")
        rows, cols = np.arange(top, bottom, rp), np.arange(left, right, cp)
        v = np.clip((rows + 0.5) / h, gv[0], gv[-1])
        u = np.clip((cols + 0.5) / w, gh[0], gh[-1])
        vv, uu = np.meshgrid(v, u, indexing="ij")
        out[np.ix_(rows, cols)] *= interp(np.stack([vv, uu], axis=-1))
    return out


@pytest.mark.parametrize("per_cfa", [True, False])
def test_flat_field_gain_map_restores_flat(tmp_path, per_cfa):
    scene = flat_field_with_shading("gain_map", (48, 64), per_cfa=per_cfa)
    t = scene.truth
    path = scene.write(tmp_path / "gm.dng")
    tif, _, raw_page = _pages(path)
    with tif:
        ol2 = raw_page.tags["OpcodeList2"].value
    with rawpy.imread(str(path)) as r:
        norm = (r.raw_image_visible.astype(np.float64) - t.black) / (t.white - t.black)
    assert norm.min() < 0.8 * t.level  # there is shading to undo
    assert np.abs(norm - t.level * t.shading).max() < 0.5 / (t.white - t.black) + 1e-12
    corrected = _apply_gain_maps(norm, ol2)
    assert np.abs(corrected - t.level).max() < 2e-4
    if per_cfa:  # colour shading: red falls off more than blue at the corners
        assert norm[0, 0] < norm[1, 1]


def test_flat_field_vignette_restores_flat(tmp_path):
    scene = flat_field_with_shading("vignette_radial", (48, 64), k=(0.6, 0.2), cx=0.45, cy=0.55)
    t = scene.truth
    path = scene.write(tmp_path / "vig.dng")
    tif, _, raw_page = _pages(path)
    with tif:
        (oid, _, _, p), = _parse_opcodes(raw_page.tags["OpcodeList3"].value)
    assert oid == 3
    k, (cx, cy) = np.frombuffer(p, ">f8", 5, 0), np.frombuffer(p, ">f8", 2, 40)
    with rawpy.imread(str(path)) as r:
        norm = (r.raw_image_visible.astype(np.float64) - t.black) / (t.white - t.black)
    h, w = norm.shape
    ocx, ocy = cx * w, cy * h
    rmax = max(np.hypot(ocx - ex, ocy - ey) for ex in (0, w) for ey in (0, h))  # farthest corner
    y, x = np.mgrid[0:h, 0:w] + 0.5
    r2 = ((x - ocx) ** 2 + (y - ocy) ** 2) / rmax**2
    gain = np.polynomial.polynomial.polyval(r2, np.concatenate([[1.0], k]))
    assert norm.min() < 0.7 * t.level
    assert np.abs(norm * gain - t.level).max() < 2e-4
