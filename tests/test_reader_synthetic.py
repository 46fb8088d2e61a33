"""The reader and develop geometry on DNGs written by the project's own writer, whose truth is known."""

import numpy as np
import pytest
from dngwriter import write_dng
from scenes import neutral_camera_dng

import rotpunkt
from rotpunkt.io.dng import read_dng
from rotpunkt.stages.linearize import linearize


def ramp(h=24, w=32):
    return (np.arange(h * w, dtype=np.uint16).reshape(h, w) * 7 + 600).astype(np.uint16)


def test_exif_and_identity_tags(tmp_path):
    p = write_dng(tmp_path / "a.dng", ramp(), make="Xyz", model="Phone 1", exposure_time=1 / 125, iso=400,
                  f_number=1.8, focal_length=6.8, datetime="2026:11:23 10:11:12", white_level=16383,
                  black_level=512)
    _, meta = read_dng(p)
    e = meta.exif
    assert (e.make, e.model) == ("Xyz", "Phone 1")
    assert e.exposure_time == pytest.approx(1 / 125) and e.iso == 400
    assert e.f_number == pytest.approx(1.8) and e.focal_length == pytest.approx(6.8)
    assert e.datetime == "2026:11:23 10:11:12"
    assert meta.photometric == "cfa" and meta.cfa_pattern.tolist() == [[0, 1], [1, 2]]
    assert meta.white_level[0] == 16383 and meta.black_level.ravel()[0] == 512


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_cfa_patterns(tmp_path, pattern):
    _, meta = read_dng(write_dng(tmp_path / "a.dng", ramp(), cfa_pattern=pattern))
    assert "".join("RGB"[i] for i in meta.cfa_pattern.ravel()) == pattern


def test_row_interleave_factor_is_undone(tmp_path):
    data = ramp(8, 6)
    stored = np.concatenate([data[0::2], data[1::2]])  # two fields: even rows, then odd rows
    p = write_dng(tmp_path / "i.dng", stored, extratags_raw=[(50975, 3, 1, 2, True)])
    out, meta = read_dng(p)
    assert meta.extra["row_interleave"] == 2
    np.testing.assert_array_equal(out, data)


def test_active_area_default_crop_and_orientation(tmp_path):
    h, w = 40, 56
    data = np.full((h, w), 3000, np.uint16)
    data[:4] = 0  # masked rows outside the active area (would be black borders if not cropped)
    data[:, :6] = 0
    p = write_dng(tmp_path / "g.dng", data, active_area=(4, 6, 40, 56), default_crop=(2, 4, 30, 44),
                  orientation=6, black_level=0, white_level=4095, **neutral_camera_dng())
    with rotpunkt.open(p) as raw:
        img = raw.develop()
    assert img.data.shape == (44, 30, 3)  # cropped to 30 x 44 then rotated 90 degrees
    assert img.orientation == 1
    assert np.ptp(img.data) < 1e-5  # no masked pixels leaked in


def test_black_level_repeat_per_site(tmp_path):
    rng = np.random.default_rng(1)
    signal = rng.integers(0, 3000, size=(16, 20))
    black = np.array([[500, 510], [520, 530]])
    stored = (signal + np.tile(black, (8, 10))).astype(np.uint16)
    p = write_dng(tmp_path / "b.dng", stored, black_level=black.ravel(), black_level_repeat=(2, 2),
                  white_level=4095)
    data, meta = read_dng(p)
    lin = linearize(data, meta)
    np.testing.assert_allclose(lin, signal / (4095.0 - np.tile(black, (8, 10))), rtol=1e-5)


def test_linear_raw_three_channel(tmp_path):
    rgb = np.zeros((12, 16, 3), np.uint16)
    rgb[...] = (1000, 2000, 3000)
    p = write_dng(tmp_path / "l.dng", rgb, white_level=4000, **neutral_camera_dng())
    with rotpunkt.open(p) as raw:
        assert raw.meta.photometric == "linear_raw"
        img = raw.develop(space="srgb")
    # neutral camera = linear sRGB with a D65 white: the stored values come back as sRGB
    from rotpunkt.colour_math import srgb_encode

    np.testing.assert_allclose(img.data[0, 0], srgb_encode(np.array([0.25, 0.5, 0.75])), atol=2e-3)


def test_embedded_preview_is_read_as_written(tmp_path):
    from rotpunkt.errors import MissingImageData
    from rotpunkt.io.dng import embedded_preview

    raw = np.random.default_rng(2).integers(0, 4000, (40, 60)).astype(np.uint16)
    thumb = np.random.default_rng(3).integers(0, 256, (20, 30, 3)).astype(np.uint8)
    path = write_dng(tmp_path / "p.dng", raw, cfa_pattern="RGGB", white_level=4095, preview=thumb)
    before = path.read_bytes()
    got = embedded_preview(path)
    assert got.dtype == np.float32 and got.shape == (20, 30, 3)
    np.testing.assert_array_equal(got, thumb / np.float32(255))
    assert path.read_bytes() == before
    bare = write_dng(tmp_path / "bare.dng", raw, cfa_pattern="RGGB", white_level=4095, preview=False)
    with pytest.raises(MissingImageData, match="bare.dng.*preview"):
        embedded_preview(bare)
