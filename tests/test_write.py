"""Tests of rotpunkt.io.icc (built-in ICC profiles) and rotpunkt.io.write (JPEG / TIFF / PNG output).

Oracles: LittleCMS (through Pillow's ImageCms) for the profiles, colour-science for the colour maths,
Pillow / tifffile / libpng (imagecodecs) to read the files back, and the ICC / JPEG / PNG specs for
the bytes we parse ourselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import struct
import tracemalloc
import warnings
import zlib

import imagecodecs
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage
from PIL import ImageCms

from rotpunkt.errors import InvalidParams, RotpunktError, RotpunktWarning
from rotpunkt.io.icc import SPACES, icc_profile
from rotpunkt.io.write import FORMATS, SUFFIX, WriteError, quantize, write
from rotpunkt.types import Exif, Image

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # colour-science warns that matplotlib is absent
    import colour

COLOUR_NAME = {"srgb": "sRGB", "p3": "Display P3"}
ICC_D50 = np.array([0.9642, 1.0, 0.8249])
EXIF = Exif(
    make="Rotpunkt Labs",
    model="Phone X",
    exposure_time=1 / 125,
    iso=200,
    f_number=1.8,
    focal_length=6.86,
    datetime="2024:05:06 07:08:09",
    lens="Main camera 6.86mm f/1.8",
)


# ------------------------------------------------------------------------------------------------
# helpers


def _random_image(h=24, w=32, space="srgb", orientation=1, seed=0, exif=EXIF) -> Image:
    """Random samples including values outside [0, 1] (clipped by the writer)."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(-0.1, 1.1, (h, w, 3)).astype(np.float32)
    return Image(data=data, space=space, orientation=orientation, exif=exif)


def _smooth_image(h=48, w=64, space="srgb") -> Image:
    """Smooth gradients (what a JPEG codec reproduces closely)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    data = np.stack([x / (w - 1), y / (h - 1), 0.5 + 0.4 * np.sin(x / 9.0) * np.cos(y / 7.0)], axis=-1)
    return Image(data=data.astype(np.float32), space=space, exif=EXIF)


def _expected(data: np.ndarray, bits: int) -> np.ndarray:
    """The quantisation the spec asks for: round half up of clip(v, 0, 1) * (2**bits - 1)."""
    m = 2**bits - 1
    q = np.floor(np.clip(data.astype(np.float64), 0.0, 1.0) * m + 0.5)
    return q.astype(np.uint8 if bits == 8 else np.uint16)


def _jpeg_sampling(data: bytes) -> list[tuple[int, int]]:
    """(H, V) sampling factors of each component, read from the SOFn segment (ITU-T T.81 B.2.2)."""
    assert data[:2] == b"\xff\xd8"
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            n = data[i + 9]
            comps = data[i + 10 : i + 10 + 3 * n]
            return [(comps[3 * k + 1] >> 4, comps[3 * k + 1] & 15) for k in range(n)]
        i += 2 + length
    raise AssertionError("no SOF segment")


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of the marker segments before the scan data (ITU-T T.81 B.1.1.4)."""
    assert data[:2] == b"\xff\xd8"
    segments, i = [], 2
    while True:
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        segments.append((marker, data[i + 4 : i + 2 + length]))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return segments
        i += 2 + length


# Table K.3 of ITU-T T.81: code counts of the standard luminance DC Huffman table.
_STANDARD_DC_LUMA_BITS = bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0])


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, checking each CRC (PNG 3rd ed. 5.3)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind, payload = data[i + 4 : i + 8], data[i + 8 : i + 8 + n]
        (crc,) = struct.unpack(">I", data[i + 8 + n : i + 12 + n])
        assert crc == zlib.crc32(kind + payload), kind
        chunks.append((kind, payload))
        i += 12 + n
    return chunks


def _folder_listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _transform(src: bytes | ImageCms.ImageCmsProfile, dst, codes: np.ndarray) -> np.ndarray:
    def prof(p):
        return ImageCms.ImageCmsProfile(io.BytesIO(p)) if isinstance(p, bytes) else p

    t = ImageCms.buildTransform(
        prof(src), prof(dst), "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
    )
    return np.asarray(ImageCms.applyTransform(PILImage.fromarray(codes), t))


def _test_codes(seed=3) -> np.ndarray:
    """8-bit RGB codes: random colours, the grey ramp, primaries and secondaries."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    codes[0, :, :] = np.arange(0, 256, 4, dtype=np.uint8)[:, None]
    corners = np.array([[v >> 2 & 1, v >> 1 & 1, v & 1] for v in range(8)], np.uint8) * 255
    codes[1, :8] = corners
    return codes


def _cs_convert(codes: np.ndarray, src: str, dst: str) -> np.ndarray:
    """colour-science reference: decode sRGB curve, RGB -> RGB (same D65 white), encode, clip."""
    lin = colour.cctf_decoding(codes / 255.0, "sRGB")
    out = colour.RGB_to_RGB(lin, COLOUR_NAME[src], COLOUR_NAME[dst])
    return colour.cctf_encoding(np.clip(out, 0.0, 1.0), "sRGB")


# ------------------------------------------------------------------------------------------------
# ICC profiles


@pytest.mark.parametrize("space", SPACES)
def test_profile_loads_in_littlecms_and_names_its_space(space):
    prof = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile(space)))
    desc = ImageCms.getProfileDescription(prof).strip()
    assert desc == {"srgb": "sRGB IEC61966-2.1", "p3": "Display P3"}[space]
    p = prof.profile
    assert p.version == pytest.approx(4.3)
    assert p.device_class == "mntr"
    assert p.xcolor_space.strip() == "RGB"
    assert p.connection_space.strip() == "XYZ"
    assert p.is_matrix_shaper
    assert p.copyright


@pytest.mark.parametrize("space", SPACES)
def test_profile_bytes_follow_the_icc_layout(space):
    b = icc_profile(space)
    assert icc_profile(space) is b  # cached
    (size,) = struct.unpack(">I", b[:4])
    assert size == len(b) and size % 4 == 0
    assert b[36:40] == b"acsp" and b[12:16] == b"mntr" and b[16:20] == b"RGB " and b[20:24] == b"XYZ "
    # PCS illuminant D50 as s15Fixed16 (ICC.1:2010 7.2.16)
    assert struct.unpack(">3i", b[68:80]) == tuple(round(v * 65536) for v in ICC_D50)
    # Profile ID: MD5 over the profile with flags, rendering intent and ID zeroed (7.2.18)
    z = bytearray(b)
    z[44:48] = bytes(4)
    z[64:68] = bytes(4)
    z[84:100] = bytes(16)
    assert hashlib.md5(bytes(z)).digest() == b[84:100]
    (count,) = struct.unpack(">I", b[128:132])
    tags = {}
    for k in range(count):
        sig, off, n = struct.unpack(">4sII", b[132 + 12 * k : 144 + 12 * k])
        assert off % 4 == 0 and off + n <= size
        tags[sig] = b[off : off + n]
    required = {b"desc", b"cprt", b"wtpt", b"chad", b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC"}
    assert required <= set(tags)
    assert tags[b"rTRC"][:4] == b"para"
    # sRGB curve as parametric type 3 (g, a, b, c, d), ICC.1:2010 10.16
    ftype = struct.unpack(">H", tags[b"rTRC"][8:10])[0]
    params = np.array(struct.unpack(">5i", tags[b"rTRC"][12:32])) / 65536
    assert ftype == 3
    np.testing.assert_allclose(params, [2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045], atol=1e-5)


@pytest.mark.parametrize("space", SPACES)
def test_profile_colorants_match_colour_science(space):
    """rXYZ/gXYZ/bXYZ = RGB->XYZ matrix Bradford-adapted D65 -> ICC D50; chad = that adaptation."""
    cs = colour.RGB_COLOURSPACES[COLOUR_NAME[space]]
    d65 = colour.xy_to_XYZ(cs.whitepoint)
    cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(d65, ICC_D50, transform="Bradford")
    want = cat @ cs.matrix_RGB_to_XYZ
    p = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile(space))).profile
    got = np.array([p.red_colorant[0], p.green_colorant[0], p.blue_colorant[0]]).T
    np.testing.assert_allclose(got, want, atol=3 / 65536)
    # device white maps exactly to the PCS white
    np.testing.assert_allclose(got.sum(axis=1), np.round(ICC_D50 * 65536) / 65536, atol=1e-12)
    np.testing.assert_allclose(np.array(p.chromatic_adaptation[0]), cat, atol=1 / 65536)
    np.testing.assert_allclose(p.media_white_point[0], ICC_D50, atol=1 / 65536)


def test_p3_profile_to_littlecms_srgb_matches_colour_science():
    codes = _test_codes()
    got = _transform(icc_profile("p3"), ImageCms.createProfile("sRGB"), codes) / 255.0
    want = _cs_convert(codes, "p3", "srgb")
    assert np.abs(got - want).max() < 1 / 255


def test_littlecms_srgb_to_p3_profile_matches_colour_science():
    codes = _test_codes(seed=4)
    got = _transform(ImageCms.createProfile("sRGB"), icc_profile("p3"), codes) / 255.0
    want = _cs_convert(codes, "srgb", "p3")
    assert np.abs(got - want).max() < 1 / 255


def test_srgb_profile_is_identity_against_littlecms_builtin_srgb():
    codes = _test_codes(seed=5)
    for src, dst in ((icc_profile("srgb"), ImageCms.createProfile("sRGB")),
                     (ImageCms.createProfile("sRGB"), icc_profile("srgb"))):
        got = _transform(src, dst, codes).astype(int)
        assert np.abs(got - codes.astype(int)).max() <= 1


def test_profile_of_unknown_space_raises():
    with pytest.raises(InvalidParams, match="colour space"):
        icc_profile("adobe")


# ------------------------------------------------------------------------------------------------
# quantisation


@pytest.mark.parametrize("bits", [8, 16])
def test_quantize_hand_values(bits):
    m = 2**bits - 1
    v = np.array([[[0.0, 1.0, 0.5], [-0.25, 1.75, np.inf], [-np.inf, 1e-9, 1.0 - 1e-9]]], np.float32)
    q = quantize(v, bits)
    assert q.dtype == (np.uint8 if bits == 8 else np.uint16)
    # 0.5 * m = m/2 exactly half way (m is odd): round half up gives (m + 1) / 2
    assert q.tolist() == [[[0, m, (m + 1) // 2], [0, m, m], [0, 0, m]]]
    # float32(3/m) * m sits within a rounding error of 3 -> 3
    assert quantize(np.full((1, 1, 3), 3 / m, np.float32), bits).tolist() == [[[3, 3, 3]]]


def test_quantize_across_strips_and_rejects_nan():
    # 700 * 600 * 3 samples: more than one quantisation strip
    data = np.random.default_rng(1).uniform(-0.05, 1.05, (700, 600, 3)).astype(np.float32)
    before = data.copy()
    np.testing.assert_array_equal(quantize(data, 16), _expected(data, 16))
    np.testing.assert_array_equal(data, before)
    data[650, 3, 1] = np.nan
    with pytest.raises(InvalidParams, match="NaN"):
        quantize(data, 8)
    with pytest.raises(InvalidParams):
        quantize(before.astype(np.int32), 8)
    with pytest.raises(InvalidParams):
        quantize(before, 12)


# ------------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("compression", ["deflate", "none"])
def test_tiff16_round_trip_exact_with_icc_and_tags(tmp_path, space, compression):
    im = _random_image(space=space, orientation=6)
    out = write(im, tmp_path / "x.tif", compression=compression)
    assert out == tmp_path / "x.tif"
    assert _folder_listing(tmp_path) == ["x.tif"]
    with tifffile.TiffFile(out) as tf:
        page = tf.pages[0]
        np.testing.assert_array_equal(page.asarray(), _expected(im.data, 16))
        t = page.tags
        assert page.dtype == np.uint16 and page.photometric == tifffile.PHOTOMETRIC.RGB
        assert t["Compression"].value == (8 if compression == "deflate" else 1)
        assert t["InterColorProfile"].value == icc_profile(space)
        assert t["Make"].value == EXIF.make and t["Model"].value == EXIF.model
        assert t["Orientation"].value == 6
        assert t["Software"].value == "rotpunkt"
        assert t["DateTime"].value == EXIF.datetime
        assert t["DateTimeOriginal"].value == EXIF.datetime
        assert t["ExposureTime"].value == (1, 125)
        assert t["FNumber"].value == (9, 5)
        assert t["ISOSpeedRatings"].value == 200
        assert t["FocalLength"].value == (343, 50)
    # Pillow, a second reader, finds the profile too
    with PILImage.open(out) as pim:
        assert pim.info["icc_profile"] == icc_profile(space)


def test_tiff8_round_trip_exact(tmp_path):
    im = _random_image(h=17, w=13)
    out = write(im, tmp_path / "x.tiff", bits=8)
    np.testing.assert_array_equal(tifffile.imread(out), _expected(im.data, 8))


@pytest.mark.parametrize("space", SPACES)
def test_png8_round_trip_exact_with_icc_and_exif(tmp_path, space):
    im = _random_image(space=space, orientation=8)
    out = write(im, tmp_path / "x.png")
    with PILImage.open(out) as pim:
        assert pim.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(pim), _expected(im.data, 8))
        assert pim.info["icc_profile"] == icc_profile(space)
        exif = pim.getexif()
    assert exif[274] == 8 and exif[271] == EXIF.make and exif[305] == "rotpunkt"
    assert exif.get_ifd(0x8769)[42036] == EXIF.lens


@pytest.mark.parametrize("space", SPACES)
def test_png16_round_trip_exact_with_icc_and_exif(tmp_path, space):
    im = _random_image(space=space, orientation=3)
    out = write(im, tmp_path / "x.png", bits=16)
    raw = out.read_bytes()
    decoded = imagecodecs.png_decode(raw)  # libpng
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, _expected(im.data, 16))
    chunks = _png_chunks(raw)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    first_idat = kinds.index(b"IDAT")
    assert kinds.index(b"iCCP") < first_idat and kinds.index(b"eXIf") < first_idat
    assert b"sRGB" not in kinds  # an iCCP file must not also carry sRGB
    ihdr = chunks[0][1]
    assert ihdr[8] == 16 and ihdr[9] == 2  # bit depth 16, colour type RGB
    iccp = dict(chunks)[b"iCCP"]
    name, rest = iccp.split(b"\x00", 1)
    assert 1 <= len(name) <= 79 and rest[0] == 0
    assert zlib.decompress(rest[1:]) == icc_profile(space)
    with PILImage.open(out) as pim:  # Pillow reads the metadata of the 16-bit file too
        assert pim.info["icc_profile"] == icc_profile(space)
        exif = pim.getexif()
    assert exif[274] == 3 and exif[272] == EXIF.model
    assert float(exif.get_ifd(0x8769)[33434]) == pytest.approx(1 / 125)


@pytest.mark.parametrize("space", SPACES)
def test_jpeg_round_trip_444_icc_and_exif(tmp_path, space):
    im = _smooth_image(space=space)
    im.orientation = 6
    out = write(im, tmp_path / "x.jpg", quality=100)
    raw = out.read_bytes()
    assert _jpeg_sampling(raw) == [(1, 1), (1, 1), (1, 1)]  # 4:4:4
    with PILImage.open(out) as pim:
        got = np.asarray(pim.convert("RGB")).astype(int)
        assert pim.info["icc_profile"] == icc_profile(space)
        exif = pim.getexif()
    diff = np.abs(got - _expected(im.data, 8).astype(int))
    assert diff.max() <= 4 and diff.mean() < 0.6  # libjpeg q=100: YCbCr + DCT rounding only
    assert exif[271] == EXIF.make and exif[272] == EXIF.model
    assert exif[274] == 6 and exif[305] == "rotpunkt" and exif[306] == EXIF.datetime
    sub = exif.get_ifd(0x8769)
    et = sub[33434]
    assert (et.numerator, et.denominator) == (1, 125)
    assert float(sub[33437]) == pytest.approx(1.8)
    assert sub[34855] == 200
    assert float(sub[37386]) == pytest.approx(6.86)
    assert sub[36867] == EXIF.datetime
    assert sub[42036] == EXIF.lens
    assert sub[40961] == (1 if space == "srgb" else 0xFFFF)  # EXIF ColorSpace
    assert (sub[40962], sub[40963]) == (64, 48)


def test_jpeg_segments_noise_at_q100_and_optimised_tables(tmp_path):
    """Noise at quality 100, 4:4:4 (about 3 bytes a pixel): must encode and decode."""
    im = _random_image(h=256, w=256, space="p3")
    raw = write(im, tmp_path / "n.jpg", quality=100).read_bytes()
    segs = _jpeg_segments(raw)
    # EXIF APP1 immediately after SOI (CIPA DC-008 4.5.4), then the ICC APP2
    assert segs[0][0] == 0xE1 and segs[0][1].startswith(b"Exif\x00\x00")
    app2 = [p for m, p in segs if m == 0xE2 and p.startswith(b"ICC_PROFILE\x00")]
    assert len(app2) == 1 and app2[0][12:14] == b"\x01\x01" and app2[0][14:] == icc_profile("p3")
    # optimize: Huffman tables computed for the image, not the standard ones of Annex K
    dht = b"".join(p for m, p in segs if m == 0xC4)
    assert dht and _STANDARD_DC_LUMA_BITS not in dht
    with PILImage.open(io.BytesIO(raw)) as pim:
        got = np.asarray(pim).astype(int)
    assert np.abs(got - _expected(im.data, 8).astype(int)).mean() < 1.0
    assert len(raw) > 2 * 256 * 256  # the case where a 2-bytes-a-pixel output buffer is too small


def test_jpeg_quality_reaches_the_encoder(tmp_path):
    im = _random_image(h=64, w=64)
    small = write(im, tmp_path / "q30.jpg", quality=30).stat().st_size
    large = write(im, tmp_path / "q100.jpeg", quality=100).stat().st_size
    assert small < 0.6 * large


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_recorded_not_applied(tmp_path, orientation):
    im = _random_image(h=6, w=10, orientation=orientation)
    out = write(im, tmp_path / "x.png")
    with PILImage.open(out) as pim:
        assert pim.size == (10, 6)
        assert pim.getexif()[274] == orientation


def test_format_argument_and_suffixes(tmp_path):
    im = _random_image(h=8, w=8)
    assert FORMATS == ("jpeg", "tiff", "png")
    for fmt in FORMATS:
        out = write(im, tmp_path / f"a{SUFFIX[fmt]}")
        with PILImage.open(out) as pim:
            assert pim.format == {"jpeg": "JPEG", "tiff": "TIFF", "png": "PNG"}[fmt]
        # no suffix: format= decides
        out = write(im, tmp_path / f"noext-{fmt}", format=fmt)
        with PILImage.open(out) as pim:
            assert pim.format == {"jpeg": "JPEG", "tiff": "TIFF", "png": "PNG"}[fmt]


def test_minimal_exif_and_odd_metadata(tmp_path):
    im = _random_image(h=8, w=8, exif=Exif())
    with PILImage.open(write(im, tmp_path / "plain.jpg")) as pim:
        exif = pim.getexif()
    assert 271 not in exif and 306 not in exif and exif[274] == 1 and exif[305] == "rotpunkt"
    odd = Exif(make="Caméra", exposure_time=-1.0, datetime="May 6th", iso=float("nan"))
    im = _random_image(h=8, w=8, exif=odd)
    with pytest.warns(RotpunktWarning):
        out = write(im, tmp_path / "odd.jpg")
    with PILImage.open(out) as pim:
        exif = pim.getexif()
    assert exif[271] == "Cam?ra"
    assert 306 not in exif
    assert 33434 not in exif.get_ifd(0x8769) and 34855 not in exif.get_ifd(0x8769)


def test_overwrite_replaces_existing_file(tmp_path):
    target = tmp_path / "x.png"
    target.write_bytes(b"old")
    im = _random_image(h=5, w=7)
    write(im, target)
    with PILImage.open(target) as pim:
        np.testing.assert_array_equal(np.asarray(pim), _expected(im.data, 8))
    assert _folder_listing(tmp_path) == ["x.png"]


def test_input_image_unchanged(tmp_path):
    im = _random_image(h=9, w=11, space="p3", orientation=5)
    before = dataclasses.replace(im, data=im.data.copy())
    for name, kw in (("a.jpg", {}), ("a.tif", {}), ("a.png", {"bits": 16}), ("b.png", {})):
        write(im, tmp_path / name, **kw)
    np.testing.assert_array_equal(im.data, before.data)
    assert im.data.dtype == np.float32
    assert (im.space, im.orientation, im.exif) == (before.space, before.orientation, before.exif)


# ------------------------------------------------------------------------------------------------
# atomicity and errors


def test_missing_folder_is_a_clear_error(tmp_path):
    target = tmp_path / "nope" / "x.jpg"
    with pytest.raises(WriteError) as err:
        write(_random_image(h=4, w=4), target)
    assert err.value.path == str(target)
    assert "does not exist" in str(err.value)
    assert _folder_listing(tmp_path) == []


def test_target_that_is_a_folder_is_a_clear_error(tmp_path):
    (tmp_path / "x.tif").mkdir()
    with pytest.raises(WriteError) as err:
        write(_random_image(h=4, w=4), tmp_path / "x.tif")
    assert err.value.path == str(tmp_path / "x.tif")
    assert _folder_listing(tmp_path) == ["x.tif"]


def test_encoder_failure_leaves_no_temporary_and_keeps_old_file(tmp_path):
    """A make string too long for a JPEG APP1 segment makes the JPEG encoder fail mid-write."""
    target = tmp_path / "x.jpg"
    write(_random_image(h=4, w=4), target)
    old = target.read_bytes()
    im = _random_image(h=4, w=4, exif=Exif(make="M" * 70_000))
    with pytest.raises(WriteError, match="APP1") as err:
        write(im, target)
    assert err.value.path == str(target)
    assert isinstance(err.value, RotpunktError)
    assert _folder_listing(tmp_path) == ["x.jpg"]  # no ".x.jpg.tmp-*" left behind
    assert target.read_bytes() == old


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(WriteError, match="permission"):
            write(_random_image(h=4, w=4), folder / "x.png")
        assert _folder_listing(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize(
    ("name", "kwargs", "change"),
    [
        ("x.bmp", {}, {}),  # unknown suffix
        ("x", {}, {}),  # no suffix, no format
        ("x.jpg", {"format": "gif"}, {}),
        ("x.jpg", {"format": "png"}, {}),  # disagrees with the suffix
        ("x.jpg", {"quality": 0}, {}),
        ("x.jpg", {"quality": 101}, {}),
        ("x.jpg", {"quality": 90.5}, {}),
        ("x.jpg", {"quality": True}, {}),
        ("x.jpg", {"bits": 16}, {}),  # JPEG is 8-bit
        ("x.tif", {"bits": 12}, {}),
        ("x.tif", {"bits": 16.0}, {}),
        ("x.tif", {"compression": "lzw"}, {}),
        ("x.png", {}, {"space": "linear"}),
        ("x.png", {}, {"space": "adobe"}),
        ("x.png", {}, {"orientation": 0}),
        ("x.png", {}, {"orientation": 9}),
        ("x.png", {}, {"data": np.zeros((4, 4), np.float32)}),
        ("x.png", {}, {"data": np.zeros((4, 4, 4), np.float32)}),
        ("x.png", {}, {"data": np.zeros((0, 4, 3), np.float32)}),
        ("x.png", {}, {"data": np.zeros((4, 4, 3), np.uint16)}),  # bad dtype: no rescale by dtype
        ("x.tif", {}, {"data": np.full((4, 4, 3), np.nan, np.float32)}),
    ],
)
def test_bad_params_raise_and_write_nothing(tmp_path, name, kwargs, change):
    im = dataclasses.replace(_random_image(h=4, w=4), **change)
    with pytest.raises(InvalidParams) as err:
        write(im, tmp_path / name, **kwargs)
    assert err.value.path == str(tmp_path / name)
    assert _folder_listing(tmp_path) == []


def test_tiff16_memory_stays_within_two_uint16_copies(tmp_path):
    """Peak numpy/Python allocation while writing: the uint16 output plus strips (traced by tracemalloc)."""
    im = _random_image(h=1200, w=1600, seed=2)
    full_u16 = im.data.shape[0] * im.data.shape[1] * 3 * 2
    tracemalloc.start()
    try:
        write(im, tmp_path / "big.tif")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * full_u16
