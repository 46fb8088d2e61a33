"""rotpunkt.io.write with already quantised image data (uint8 / uint16, as the tiled runner makes it).

Oracles: the float path of the same writer (the file written from float data must be byte-identical to
the one written from ``quantize(data, bits)``), and the decoders (tifffile, Pillow, libpng and
libjpeg-turbo through imagecodecs) reading the samples back.
"""

from __future__ import annotations

import dataclasses
import os

import imagecodecs
import numpy as np
import pytest
import tifffile
from dngwriter import write_dng
from PIL import Image as PILImage

from rotpunkt.errors import InvalidParams
from rotpunkt.io import read
from rotpunkt.io.write import quantize, write
from rotpunkt.pipeline import develop
from rotpunkt.runner import develop_tiled
from rotpunkt.types import Exif, Image

EXIF = Exif(make="Rotpunkt Labs", model="Phone X", exposure_time=1 / 60, iso=200, f_number=1.8,
            focal_length=4.3, datetime="2024:05:01 12:00:00", lens="Main")


def _float_image(h=20, w=28, seed=0, orientation=1, space="srgb") -> Image:
    """Random samples including values outside [0, 1] and exact half steps of both depths."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(-0.1, 1.1, (h, w, 3)).astype(np.float32)
    data[0, :4, 0] = np.float32([0.5 / 255, 1.5 / 255, 0.5 / 65535, 254.5 / 255])
    return Image(data=data, space=space, orientation=orientation, exif=EXIF)


def _decode(path, fmt: str) -> np.ndarray:
    if fmt == "tiff":
        return tifffile.imread(path)
    if fmt == "jpeg":
        return imagecodecs.jpeg8_decode(path.read_bytes())
    return imagecodecs.png_decode(path.read_bytes())


@pytest.mark.parametrize("fmt,bits", [("jpeg", 8), ("png", 8), ("png", 16), ("tiff", 8), ("tiff", 16)])
def test_quantised_data_writes_the_same_file_as_float(tmp_path, fmt, bits):
    img = _float_image(orientation=6, space="p3")
    q = quantize(img.data, bits)
    before = q.copy()
    a = write(img, tmp_path / f"float.{fmt}", bits=bits)
    b = write(dataclasses.replace(img, data=q), tmp_path / f"quant.{fmt}", bits=bits)
    assert np.array_equal(q, before)  # the input is not modified
    assert a.read_bytes() == b.read_bytes()
    got = _decode(b, fmt)
    assert got.dtype == q.dtype and got.shape == q.shape
    if fmt != "jpeg":  # lossless: the samples themselves
        assert np.array_equal(got, q)


@pytest.mark.parametrize("fmt,dtype", [("jpeg", np.uint8), ("png", np.uint8), ("tiff", np.uint16)])
def test_default_bits_take_quantised_data(tmp_path, fmt, dtype):
    """Each format's default depth accepts data of that depth without ``bits``."""
    img = _float_image(seed=1)
    bits = 8 if dtype == np.uint8 else 16
    q = quantize(img.data, bits)
    path = write(dataclasses.replace(img, data=q), tmp_path / f"x.{fmt}")
    assert path.read_bytes() == write(img, tmp_path / f"y.{fmt}").read_bytes()
    if fmt == "png":
        assert np.array_equal(np.asarray(PILImage.open(path)), q)


def test_non_contiguous_quantised_data(tmp_path):
    img = _float_image(h=16, w=30)
    q = quantize(img.data, 16)[:, ::2]  # a strided view
    path = write(dataclasses.replace(img, data=q), tmp_path / "x.tif")
    assert np.array_equal(tifffile.imread(path), q)


@pytest.mark.parametrize("name,dtype,bits", [
    ("x.jpg", np.uint16, None),   # JPEG is 8-bit only
    ("x.png", np.uint16, None),   # PNG defaults to 8 bits: never rescaled, bits=16 must be asked for
    ("x.png", np.uint8, 16),
    ("x.tif", np.uint8, None),    # TIFF defaults to 16 bits
    ("x.tif", np.uint16, 8),
    ("x.tif", np.int16, 16),
    ("x.png", np.int8, 8),
    ("x.tif", np.uint32, 16),
    ("x.png", np.int64, 8),
    ("x.png", np.bool_, 8),
])
def test_mismatched_or_other_integer_data_raises(tmp_path, name, dtype, bits):
    data = np.zeros((4, 5, 3), dtype)
    with pytest.raises(InvalidParams) as err:
        write(Image(data=data), tmp_path / name, bits=bits)
    assert err.value.path == os.fspath(tmp_path / name)
    assert os.listdir(tmp_path) == []  # nothing written, no temporary left


def test_float_behaviour_unchanged(tmp_path):
    """Float data is still quantised by the writer (round half up, clipped)."""
    img = _float_image(seed=2)
    path = write(img, tmp_path / "x.png", bits=16)
    expect = np.floor(np.clip(img.data.astype(np.float64), 0, 1) * 65535 + 0.5).astype(np.uint16)
    assert np.array_equal(imagecodecs.png_decode(path.read_bytes()), expect)


def test_tiled_runner_output_writes_like_develop(tmp_path):
    """The intended use: develop_tiled's uint8 output written as JPEG is the same file as develop's."""
    rng = np.random.default_rng(4)
    raw = rng.integers(400, 16383, (40, 52)).astype(np.uint16)
    write_dng(tmp_path / "r.dng", raw, cfa_pattern="RGGB", black_level=512, white_level=16383,
              as_shot_neutral=np.array([0.5, 1.0, 0.7]), orientation=8, preview=False)
    data, meta = read(tmp_path / "r.dng")
    a = write(develop(data, meta), tmp_path / "whole.jpg")
    b = write(develop_tiled(data, meta, tile_rows=7, out_dtype=np.uint8), tmp_path / "tiled.jpg")
    assert a.read_bytes() == b.read_bytes()
    c = write(develop(data, meta), tmp_path / "whole.tif")
    d = write(develop_tiled(data, meta, tile_rows=7, out_dtype=np.uint16), tmp_path / "tiled.tif")
    assert c.read_bytes() == d.read_bytes()
