"""Write a developed :class:`~rotpunkt.types.Image` to JPEG, TIFF or PNG, with ICC profile and EXIF.

Encoding
--------
``image.data`` is float32 (H, W, 3), display-referred and already encoded with the space's transfer
function, nominal range [0, 1]. Each sample is quantised as ``floor(clip(v, 0, 1) * M + 0.5)`` (round
half up) with ``M = 2**bits - 1``, computed in float64 (exact for float32 inputs) strip by strip, so
the only full-size temporary is the integer output array itself. NaN samples are refused.

``image.data`` may also be already quantised (as :func:`quantize` makes it, e.g. by the tiled runner):
uint8 is written as 8-bit and uint16 as 16-bit samples, unchanged. The output depth (``bits``, or the
format's default) must be the data's: nothing is rescaled by dtype, so uint16 data goes to PNG or an
8-bit format only as an error, and uint8 data to TIFF needs ``bits=8``.

Formats
-------
=====  ==========  =====================================================================================
jpeg   8 bit       libjpeg-turbo (imagecodecs), 4:4:4 (no chroma subsampling), optimised Huffman
                   tables; EXIF in APP1 right after SOI, ICC in APP2. ``quality`` 1..100.
tiff   16 (or 8)   tifffile, RGB contiguous strips, Adobe deflate with horizontal predictor (or none),
                   ICC in InterColorProfile (34675); Make, Model, Orientation, DateTime, Software and the
                   TIFF/EP capture tags ExposureTime, FNumber, ISOSpeedRatings, DateTimeOriginal,
                   FocalLength in IFD0 (TIFF has no EXIF sub-IFD here, so LensModel is not recorded).
png    8 (or 16)   8 bit: Pillow (iCCP, eXIf). 16 bit: libpng through imagecodecs, then the iCCP and
                   eXIf chunks (PNG 3rd ed. 11.3) inserted by us right after IHDR, before IDAT.
=====  ==========  =====================================================================================

The pixels are written as they are; ``image.orientation`` (EXIF 1..8) is recorded in the Orientation
tag, so a viewer applies whatever rotation the pixels still need.

Atomicity
---------
The file is written to ``.<name>.tmp-<random>`` in the destination folder, flushed and fsync'ed,
then renamed over the destination with :func:`os.replace`. On any failure the temporary is removed
and the destination is untouched; the error is a :class:`WriteError` (or :class:`InvalidParams` for
bad arguments) naming the destination. No other file is opened for writing.
"""

from __future__ import annotations

import errno
import math
import os
import re
import secrets
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import imagecodecs
import numpy as np
import tifffile
from PIL import Image as PILImage
from PIL.TiffImagePlugin import IFDRational

from ..errors import InvalidParams, RotpunktError, RotpunktWarning, WriteError, with_path
from ..params import param, validate
from ..types import Image
from .icc import DESCRIPTION, SPACES, icc_profile

FORMATS = ("jpeg", "tiff", "png")
#: Preferred file suffix of each format.
SUFFIX = {"jpeg": ".jpg", "tiff": ".tif", "png": ".png"}
#: Suffixes recognised when ``format`` is not given.
SUFFIX_FORMAT = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}
#: Bit depths each format can be written at; the first is the default.
BITS = {"jpeg": (8,), "tiff": (16, 8), "png": (8, 16)}
SOFTWARE = "rotpunkt"
#: Bits per sample of already quantised image data.
_DEPTH = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}

_JPEG_MAX_SIDE = 65535  # JPEG frame header stores 16-bit dimensions (ITU-T T.81 B.2.2)
_STRIP_ELEMENTS = 1 << 20  # samples quantised per strip (8 MiB of float64 scratch)
_DATETIME = re.compile(r"^\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}$")

# TIFF / EXIF tag numbers (TIFF 6.0; TIFF/EP ISO 12234-2; EXIF 2.32 / CIPA DC-008).
_MAKE, _MODEL, _ORIENTATION, _SOFTWARE, _DATETIME_TAG = 271, 272, 274, 305, 306
_EXIF_IFD = 0x8769
_EXPOSURE_TIME, _F_NUMBER, _ISO, _EXIF_VERSION = 33434, 33437, 34855, 36864
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _FOCAL_LENGTH = 36867, 36868, 37386
_COLOR_SPACE, _PIXEL_X, _PIXEL_Y, _LENS_MODEL = 40961, 40962, 40963, 42036


@dataclass(frozen=True)
class WriteParams:
    """Output options of :func:`write` (declared once for the CLI, the UI and validation)."""

    format: str | None = param(
        None, choices=(None, *FORMATS), doc="file format; None picks it from the file suffix"
    )
    quality: int = param(95, range=(1, 100), doc="JPEG quality (libjpeg scale)")
    bits: int | None = param(
        None, unit="bit", choices=(None, 8, 16), doc="bits per sample; None: 8 for JPEG/PNG, 16 for TIFF"
    )
    compression: str = param("deflate", choices=("deflate", "none"), doc="TIFF compression")


# --------------------------------------------------------------------------------------------------
# Quantisation


def quantize(data: np.ndarray, bits: int) -> np.ndarray:
    """Quantise display-encoded samples to unsigned integers, round half up.

    Parameters
    ----------
    data : ndarray, float, (H, W, C)
        Encoded values, nominal range [0, 1]; values outside (and +-inf) are clipped. Not modified.
    bits : {8, 16}
        Output depth.

    Returns
    -------
    ndarray, uint8 or uint16, (H, W, C)
        ``floor(clip(data, 0, 1) * (2**bits - 1) + 0.5)``, computed in float64 strip by strip.

    Raises
    ------
    InvalidParams
        If ``bits`` is not 8 or 16, ``data`` is not a float array, or it contains NaN.
    """
    out = np.empty(np.shape(data), dtype=_dtype(bits))
    for r0, r1 in _strips(data):
        out[r0:r1] = _quantize_strip(data[r0:r1], bits)
    return out


def _dtype(bits: int) -> type:
    if bits == 8:
        return np.uint8
    if bits == 16:
        return np.uint16
    raise InvalidParams(f"bits must be 8 or 16; got {bits!r}")


def _strips(data: np.ndarray):
    """Yield (first row, end row) of strips holding about _STRIP_ELEMENTS samples each."""
    if not isinstance(data, np.ndarray) or not np.issubdtype(data.dtype, np.floating):
        got = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise InvalidParams(f"image data must be a float array in [0, 1]; got {got}")
    height = data.shape[0]
    row = max(1, int(np.prod(data.shape[1:])))
    step = max(1, _STRIP_ELEMENTS // row)
    for r0 in range(0, height, step):
        yield r0, min(height, r0 + step)


def _quantize_strip(strip: np.ndarray, bits: int) -> np.ndarray:
    s = strip.astype(np.float64)  # a copy: the input is never modified
    if np.isnan(s).any():
        raise InvalidParams("image data contains NaN values")
    np.clip(s, 0.0, 1.0, out=s)
    s *= float((1 << bits) - 1)
    s += 0.5
    np.floor(s, out=s)
    return s.astype(_dtype(bits))


# --------------------------------------------------------------------------------------------------
# Metadata


def _ascii(text: str) -> str:
    """EXIF/TIFF ASCII: 7-bit, no NUL (non-ASCII characters become '?')."""
    return text.replace("\x00", "").encode("ascii", "replace").decode("ascii")


def _rational(value: float | None, name: str, max_den: int) -> Fraction | None:
    """A positive finite value as an unsigned RATIONAL (numerator, denominator < 2**32), else None."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        warnings.warn(f"EXIF {name} {value!r} is not a positive number; not recorded", RotpunktWarning,
                      stacklevel=4)
        return None
    if name == "ExposureTime" and v < 1 and abs(1 / v - round(1 / v)) < 1e-3 * (1 / v):
        frac = Fraction(1, round(1 / v))  # the usual 1/N s notation
    else:
        frac = Fraction(v).limit_denominator(max_den)
    if frac.numerator == 0 or frac.numerator >= 2**32:
        warnings.warn(f"EXIF {name} {value!r} is out of range; not recorded", RotpunktWarning, stacklevel=4)
        return None
    return frac


@dataclass(frozen=True)
class _Meta:
    """The metadata of one output file, validated and in TIFF/EXIF value types."""

    make: str | None
    model: str | None
    lens: str | None
    datetime: str | None
    orientation: int
    exposure_time: Fraction | None
    f_number: Fraction | None
    focal_length: Fraction | None
    iso: int | None
    space: str
    width: int
    height: int


def _meta(image: Image, width: int, height: int) -> _Meta:
    e = image.exif
    dt = e.datetime
    if dt is not None and not (isinstance(dt, str) and _DATETIME.match(dt)):
        warnings.warn(f"EXIF datetime {dt!r} is not 'YYYY:MM:DD HH:MM:SS'; not recorded", RotpunktWarning,
                      stacklevel=3)
        dt = None
    iso = None
    if e.iso is not None:
        try:
            iso_f = float(e.iso)
        except (TypeError, ValueError):
            iso_f = math.nan
        if math.isfinite(iso_f) and iso_f > 0:
            iso = min(int(math.floor(iso_f + 0.5)), 65535)  # SHORT; EXIF caps it at 65535
        else:
            warnings.warn(f"EXIF ISO {e.iso!r} is not a positive number; not recorded", RotpunktWarning,
                          stacklevel=3)

    def text(v):
        return _ascii(str(v)) if v else None

    return _Meta(
        make=text(e.make),
        model=text(e.model),
        lens=text(e.lens),
        datetime=dt,
        orientation=image.orientation,
        exposure_time=_rational(e.exposure_time, "ExposureTime", 1_000_000),
        f_number=_rational(e.f_number, "FNumber", 100),
        focal_length=_rational(e.focal_length, "FocalLength", 1000),
        iso=iso,
        space=image.space,
        width=width,
        height=height,
    )


def _exif_bytes(meta: _Meta) -> bytes:
    """EXIF as a TIFF structure (no ``Exif\\0\\0`` prefix): IFD0 plus the EXIF sub-IFD."""
    def rat(f: Fraction) -> IFDRational:
        return IFDRational(f.numerator, f.denominator)

    ex = PILImage.Exif()
    if meta.make:
        ex[_MAKE] = meta.make
    if meta.model:
        ex[_MODEL] = meta.model
    ex[_ORIENTATION] = meta.orientation
    ex[_SOFTWARE] = SOFTWARE
    if meta.datetime:
        ex[_DATETIME_TAG] = meta.datetime
    sub: dict[int, object] = {_EXIF_VERSION: b"0232"}
    if meta.exposure_time is not None:
        sub[_EXPOSURE_TIME] = rat(meta.exposure_time)
    if meta.f_number is not None:
        sub[_F_NUMBER] = rat(meta.f_number)
    if meta.iso is not None:
        sub[_ISO] = meta.iso
    if meta.datetime:
        sub[_DATETIME_ORIGINAL] = meta.datetime
        sub[_DATETIME_DIGITIZED] = meta.datetime
    if meta.focal_length is not None:
        sub[_FOCAL_LENGTH] = rat(meta.focal_length)
    # ColorSpace: 1 = sRGB, 0xFFFF = uncalibrated (any other space; the ICC profile says which).
    sub[_COLOR_SPACE] = 1 if meta.space == "srgb" else 0xFFFF
    sub[_PIXEL_X] = meta.width
    sub[_PIXEL_Y] = meta.height
    if meta.lens:
        sub[_LENS_MODEL] = meta.lens
    ex[_EXIF_IFD] = sub
    data = ex.tobytes()
    return data[6:] if data.startswith(b"Exif\x00\x00") else data


def _tiff_tags(meta: _Meta) -> list[tuple]:
    """IFD0 tags for TIFF output (tifffile ``extratags``: code, dtype, count, value, writeonce)."""
    tags: list[tuple] = []
    if meta.make:
        tags.append((_MAKE, "s", 0, meta.make, True))
    if meta.model:
        tags.append((_MODEL, "s", 0, meta.model, True))
    tags.append((_ORIENTATION, "H", 1, meta.orientation, True))
    if meta.datetime:
        tags.append((_DATETIME_TAG, "s", 0, meta.datetime, True))
    # TIFF/EP (ISO 12234-2) allows these capture tags in IFD0.
    if meta.exposure_time is not None:
        tags.append((_EXPOSURE_TIME, "2I", 1, _pair(meta.exposure_time), True))
    if meta.f_number is not None:
        tags.append((_F_NUMBER, "2I", 1, _pair(meta.f_number), True))
    if meta.iso is not None:
        tags.append((_ISO, "H", 1, meta.iso, True))
    if meta.datetime:
        tags.append((_DATETIME_ORIGINAL, "s", 0, meta.datetime, True))
    if meta.focal_length is not None:
        tags.append((_FOCAL_LENGTH, "2I", 1, _pair(meta.focal_length), True))
    return tags


def _pair(f: Fraction) -> tuple[int, int]:
    return f.numerator, f.denominator


# --------------------------------------------------------------------------------------------------
# Encoders: each writes the whole file to an open binary file object.


def _pixels(data: np.ndarray, bits: int) -> np.ndarray:
    """Integer samples to encode: float data quantised, already quantised data as it is."""
    if data.dtype.kind == "u":
        return np.ascontiguousarray(data)  # write() checked that its depth is ``bits``
    return quantize(data, bits)


def _pil_image(data: np.ndarray):
    """A Pillow RGB image filled strip by strip (no full-size uint8 numpy copy)."""
    if data.dtype == np.uint8:
        return PILImage.fromarray(np.ascontiguousarray(data))
    height, width = data.shape[:2]
    im = PILImage.new("RGB", (width, height))
    for r0, r1 in _strips(data):
        im.paste(PILImage.fromarray(np.ascontiguousarray(_quantize_strip(data[r0:r1], 8))), (0, r0))
    return im


def _encode_jpeg(fh: BinaryIO, data: np.ndarray, bits: int, icc: bytes, meta: _Meta, opts: WriteParams):
    # libjpeg-turbo through imagecodecs: Pillow's JPEG writer with optimize=True sizes its output
    # buffer at 2 bytes a pixel and fails ("broken data stream") on noisy images at high quality.
    exif = b"Exif\x00\x00" + _exif_bytes(meta)
    if len(exif) + 2 > 0xFFFF:
        raise WriteError(f"the EXIF metadata ({len(exif)} bytes) does not fit a JPEG APP1 segment (64 KiB)")
    stream = imagecodecs.jpeg8_encode(
        _pixels(data, 8), level=opts.quality, subsampling="444", optimize=True
    )
    view = memoryview(stream)
    if bytes(view[:2]) != b"\xff\xd8":
        raise WriteError("the JPEG encoder returned an unexpected stream")
    rest = 2
    if bytes(view[2:4]) == b"\xff\xe0" and bytes(view[6:11]) == b"JFIF\x00":
        # Drop the encoder's JFIF APP0: EXIF (CIPA DC-008 4.5.4) puts APP1 right after SOI, as cameras do.
        rest = 4 + struct.unpack(">H", view[4:6])[0]
    fh.write(b"\xff\xd8")
    fh.write(_jpeg_segment(0xE1, exif))
    # ICC profile in APP2 "ICC_PROFILE\0" segments with 1-based sequence number and count (ICC.1:2010 B.4).
    chunk = 0xFFFF - 2 - 14
    parts = [icc[i : i + chunk] for i in range(0, len(icc), chunk)]
    for k, part in enumerate(parts, 1):
        fh.write(_jpeg_segment(0xE2, b"ICC_PROFILE\x00" + bytes([k, len(parts)]) + part))
    fh.write(view[rest:])


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    """A JPEG marker segment: FF, marker, 16-bit length counting itself, payload (ITU-T T.81 B.1.1.4)."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _encode_png(fh: BinaryIO, data: np.ndarray, bits: int, icc: bytes, meta: _Meta, opts: WriteParams):
    if bits == 8:
        _pil_image(data).save(fh, format="PNG", icc_profile=icc, exif=_exif_bytes(meta), compress_level=6)
        return
    png = imagecodecs.png_encode(_pixels(data, 16), level=6)
    # PNG signature (8 bytes) then IHDR: length 13, type, data, CRC = 25 bytes (PNG 3rd ed. 5.2, 11.2.1).
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise WriteError("the PNG encoder returned an unexpected stream")
    view = memoryview(png)
    name = DESCRIPTION[meta.space].encode("latin-1")[:79]
    fh.write(view[:33])
    # iCCP: profile name, NUL, compression method 0 (zlib), compressed profile (11.3.2.3).
    fh.write(_png_chunk(b"iCCP", name + b"\x00\x00" + zlib.compress(icc, 9)))
    fh.write(_png_chunk(b"eXIf", _exif_bytes(meta)))  # 11.3.6.1; placed before IDAT
    fh.write(view[33:])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: big-endian length, type, data, CRC-32 over type and data."""
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _encode_tiff(fh: BinaryIO, data: np.ndarray, bits: int, icc: bytes, meta: _Meta, opts: WriteParams):
    pixels = _pixels(data, bits)
    compress = opts.compression == "deflate"
    bigtiff = pixels.nbytes > 2**32 - 2**26  # classic TIFF offsets are 32-bit
    with tifffile.TiffWriter(fh, bigtiff=bigtiff) as tw:
        tw.write(
            pixels,
            photometric="rgb",
            planarconfig="contig",
            compression="adobe_deflate" if compress else None,
            # level 1: ~40 % less CPU than 6 for a few % more bytes; strips compressed on both cores
            compressionargs={"level": 1} if compress else None,
            predictor="horizontal" if compress else None,
            rowsperstrip=64,
            maxworkers=2,
            iccprofile=icc,
            software=SOFTWARE,
            metadata=None,  # no tifffile JSON ImageDescription
            extratags=_tiff_tags(meta),
        )


_ENCODERS: dict[str, Callable] = {"jpeg": _encode_jpeg, "tiff": _encode_tiff, "png": _encode_png}


# --------------------------------------------------------------------------------------------------
# Atomic file replacement


def _describe_os_error(err: OSError, folder: Path) -> str:
    if isinstance(err, FileNotFoundError):
        return f"the folder {folder} does not exist"
    if isinstance(err, NotADirectoryError):
        return f"{folder} is not a folder"
    if isinstance(err, PermissionError):
        return f"permission denied writing in {folder}"
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    if err.errno == errno.EROFS:
        return f"{folder} is on a read-only file system"
    if isinstance(err, IsADirectoryError):
        return "a folder of that name exists"
    return f"cannot write the file: {err.strerror or err}"


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file (a look, a report) atomically: temporary file, then rename."""
    path = Path(path)
    _atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))
    return path


def _atomic_write(path: Path, encode: Callable[[BinaryIO], None]) -> None:
    """Run ``encode(file)`` on a new temporary file next to ``path``, then rename it into place."""
    folder = path.parent
    tmp = None
    try:
        for _ in range(100):
            candidate = folder / f".{path.name}.tmp-{secrets.token_hex(4)}"
            try:
                # "x": O_CREAT | O_EXCL, so an existing file is never reused; mode 0o666 minus the umask.
                fh = open(candidate, "x+b")  # noqa: SIM115 - closed below
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise WriteError("could not create a temporary file", path)
        with fh:
            encode(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, RotpunktError):
            raise with_path(exc, path) from exc
        if isinstance(exc, OSError):
            raise WriteError(_describe_os_error(exc, folder), path) from exc
        if isinstance(exc, Exception):
            raise WriteError(f"encoding failed: {exc}", path) from exc
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); best effort, the folder is opened read-only."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --------------------------------------------------------------------------------------------------
# The verb


def _resolve_format(fmt: str | None, path: Path) -> str:
    suffix_fmt = SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        if suffix_fmt is None:
            raise InvalidParams(
                f"cannot tell the format from the suffix {path.suffix!r}; use one of "
                f"{', '.join(SUFFIX_FORMAT)} or pass format= ({', '.join(FORMATS)})",
                path,
            )
        return suffix_fmt
    if not isinstance(fmt, str):
        raise InvalidParams(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}", path)
    fmt = {"jpg": "jpeg", "tif": "tiff"}.get(fmt.lower(), fmt.lower())
    if fmt not in FORMATS:
        raise InvalidParams(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}", path)
    if suffix_fmt is not None and suffix_fmt != fmt:
        raise InvalidParams(f"format {fmt!r} does not match the file suffix {path.suffix!r}", path)
    return fmt


def _check_image(image: Image, path: Path) -> None:
    if not isinstance(image, Image):
        raise InvalidParams(f"expected a rotpunkt Image; got {type(image).__name__}", path)
    data = image.data
    if not isinstance(data, np.ndarray):
        raise InvalidParams(f"image data must be a numpy array; got {type(data).__name__}", path)
    if data.ndim != 3 or data.shape[2] != 3 or data.shape[0] < 1 or data.shape[1] < 1:
        raise InvalidParams(f"image data must have shape (H, W, 3) with H, W >= 1; got {data.shape}", path)
    if not (np.issubdtype(data.dtype, np.floating) or data.dtype in (np.uint8, np.uint16)):
        raise InvalidParams(
            f"image data must be a float array in [0, 1] or quantised uint8 / uint16; got {data.dtype}",
            path,
        )
    if image.space not in SPACES:
        raise InvalidParams(
            f"image space must be one of {', '.join(SPACES)} (display-encoded); got {image.space!r}", path
        )
    o = image.orientation
    if isinstance(o, bool) or not isinstance(o, (int, np.integer)) or not 1 <= o <= 8:
        raise InvalidParams(f"orientation must be an EXIF orientation 1..8; got {o!r}", path)


def write(
    image: Image,
    path: str | os.PathLike,
    *,
    format: str | None = None,  # noqa: A002 - the natural name
    quality: int = 95,
    bits: int | None = None,
    compression: str = "deflate",
) -> Path:
    """Encode ``image`` and write it atomically to ``path``, with its ICC profile and EXIF.

    Parameters
    ----------
    image : Image
        ``data`` float (H, W, 3), display-encoded in ``space`` ("srgb" or "p3"), nominal [0, 1]
        (clipped), or the same already quantised: uint8 (8-bit output) or uint16 (16-bit output), written
        unchanged; ``orientation`` 1..8 is recorded, not applied; ``exif`` is recorded.
    path : str or PathLike
        Destination file; its folder must exist. An existing file is replaced atomically.
    format : {"jpeg", "tiff", "png"}, optional
        Default: from the suffix (.jpg/.jpeg, .tif/.tiff, .png). Must agree with a known suffix.
    quality : int
        JPEG quality 1..100 (ignored for TIFF and PNG, but still validated).
    bits : {8, 16}, optional
        Bits per sample. Default 8 for JPEG and PNG, 16 for TIFF. JPEG is 8-bit only. uint8 / uint16
        data must be of this depth.
    compression : {"deflate", "none"}
        TIFF compression (deflate with horizontal predictor, or uncompressed).

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.

    Raises
    ------
    InvalidParams
        Bad arguments or image (unknown format, quality out of range, unsupported bits, wrong
        shape/dtype/space/orientation, NaN samples). Nothing is written.
    WriteError
        The file could not be written (missing folder, permission, disk full, encoder error). No
        partial output and no temporary file remain.
    """
    path = Path(path)
    fmt = _resolve_format(format, path)
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
        raise InvalidParams(f"quality must be an integer in [1, 100]; got {quality!r}", path)
    opts = WriteParams(format=fmt, quality=int(quality), bits=bits, compression=compression)
    try:
        validate(opts)
    except InvalidParams as err:
        raise with_path(err, path) from None
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, (int, np.integer))):
        raise InvalidParams(f"bits must be 8 or 16; got {bits!r}", path)
    out_bits = BITS[fmt][0] if bits is None else int(bits)
    if out_bits not in BITS[fmt]:
        raise InvalidParams(
            f"{fmt} can be written with {' or '.join(map(str, BITS[fmt]))} bits per sample; got {bits}", path
        )
    _check_image(image, path)
    depth = _DEPTH.get(image.data.dtype)  # already quantised data: its own depth, never rescaled
    if depth is not None and depth != out_bits:
        raise InvalidParams(
            f"{image.data.dtype} data holds {depth}-bit samples but {out_bits}-bit {fmt} was asked for"
            + (f"; pass bits={depth}" if depth in BITS[fmt] else ""), path
        )
    height, width = image.data.shape[:2]
    if fmt == "jpeg" and max(height, width) > _JPEG_MAX_SIDE:
        raise InvalidParams(f"JPEG is limited to {_JPEG_MAX_SIDE} pixels a side; image is {width}x{height}",
                            path)
    if path.is_dir():
        raise WriteError("a folder of that name exists", path)
    # NaN check before any file is created (cheap compared with encoding).
    for r0, r1 in _strips(image.data) if depth is None else ():
        if np.isnan(image.data[r0:r1]).any():
            raise InvalidParams("image data contains NaN values", path)
    meta = _meta(image, width, height)
    icc = icc_profile(image.space)
    encoder = _ENCODERS[fmt]
    _atomic_write(path, lambda fh: encoder(fh, image.data, out_bits, icc, meta, opts))
    return path
