"""The project's own test DNG writer, and DNG opcode-list encoders.

Writes real DNG files (Adobe DNG specification 1.7, chapter 4 for tags, chapter 6 for opcodes) from
numpy arrays, so that end-to-end tests can develop files whose content is known exactly. The files are
written with ``tifffile.TiffWriter``; the DNG tags go in as ``extratags``. Every variant this module can
write is checked in ``tests/test_dngwriter.py`` to decode with LibRaw (through rawpy) and tifffile to the
same raw values.

Layout (like camera DNGs): by default IFD 0 holds a small 8-bit RGB preview (NewSubFileType 1) plus the
IFD-0 DNG tags (DNGVersion, UniqueCameraModel, colour matrices, AsShotNeutral, ...), and the raw image
lives in a SubIFD (NewSubFileType 0) with the raw-IFD tags (CFA, black/white level, ActiveArea,
DefaultCrop, opcode lists). ``preview=False`` puts the raw image in IFD 0 with all tags there. EXIF facts
(exposure time, ISO, f-number, focal length, capture time) go in a real EXIF IFD pointed to by tag 34665.

Conventions
-----------
* ``data`` is the stored image: (H, W) for a CFA mosaic, (H, W, 3) for LinearRaw; uint16 integers,
  or float32 (floating-point DNG, ``compression`` "none" or "deflate" only).
* Colour matrices use the DNG orientation: ColorMatrix maps XYZ -> camera (3 x 3 here),
  ForwardMatrix maps white-balanced camera -> XYZ D50, CameraCalibration is camera -> camera.
* Float values of RATIONAL / SRATIONAL tags are stored as ``round(value * 10000) / 10000`` (the
  denominator Adobe's converter uses); :func:`quantize` gives the exact value a file will hold.
* ``active_area`` is (top, left, bottom, right) in the stored image; ``default_crop`` is
  (top, left, height, width) relative to the active area (the :class:`rotpunkt.types.RawMetadata`
  convention); they are written as DNG ActiveArea, DefaultCropOrigin (left, top) and DefaultCropSize
  (width, height).

Known LibRaw limits, which shape the choices here (the files are valid DNG either way):
lossless-JPEG raw data is written as tiles or as ONE strip (LibRaw reads only the first strip of a
multi-strip LJ92 image); deflate is only written for float32 data with the floating-point predictor (the
DNG spec allows deflate for floating-point, 32-bit integer, mask and depth data, and LibRaw decodes only
the floating-point case); strip and tile byte counts are always written as LONG.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import tifffile

from rotpunkt.errors import InvalidParams

# --- TIFF field types (TIFF 6.0 section 2) ---------------------------------------------------------
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10

# --- tag numbers (TIFF 6.0, TIFF/EP, EXIF 2.3, DNG 1.7 chapter 4) -----------------------------------
MAKE, MODEL, ORIENTATION, DATETIME = 271, 272, 274, 306
CFA_REPEAT_PATTERN_DIM, CFA_PATTERN = 33421, 33422
EXPOSURE_TIME, F_NUMBER = 33434, 33437
EXIF_IFD = 34665
#: tifffile refuses to write tag 34665, so a LONG placeholder with this (unassigned, adjacent) code is
#: written and then renamed in place; being adjacent keeps the IFD entries sorted.
_EXIF_PLACEHOLDER = 34664
ISO_SPEED_RATINGS = 34855
EXIF_VERSION, DATETIME_ORIGINAL = 36864, 36867
FOCAL_LENGTH = 37386
LENS_MODEL = 42036
DNG_VERSION, DNG_BACKWARD_VERSION = 50706, 50707
UNIQUE_CAMERA_MODEL = 50708
CFA_PLANE_COLOR, CFA_LAYOUT = 50710, 50711
LINEARIZATION_TABLE = 50712
BLACK_LEVEL_REPEAT_DIM, BLACK_LEVEL = 50713, 50714
BLACK_LEVEL_DELTA_H, BLACK_LEVEL_DELTA_V = 50715, 50716
WHITE_LEVEL = 50717
DEFAULT_CROP_ORIGIN, DEFAULT_CROP_SIZE = 50719, 50720
COLOR_MATRIX1, COLOR_MATRIX2 = 50721, 50722
CAMERA_CALIBRATION1, CAMERA_CALIBRATION2 = 50723, 50724
ANALOG_BALANCE, AS_SHOT_NEUTRAL, AS_SHOT_WHITE_XY = 50727, 50728, 50729
BASELINE_EXPOSURE = 50730
CALIBRATION_ILLUMINANT1, CALIBRATION_ILLUMINANT2 = 50778, 50779
ACTIVE_AREA = 50829
FORWARD_MATRIX1, FORWARD_MATRIX2 = 50964, 50965
OPCODE_LIST1, OPCODE_LIST2, OPCODE_LIST3 = 51008, 51009, 51022

PHOTOMETRIC_RGB, PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW = 2, 32803, 34892
COMPRESSION_TAGS = {"none": 1, "ljpeg": 7, "deflate": 8}
PREDICTOR_FLOATING_POINT = 3  # TIFF Technical Note 3; DNG readers (SDK, LibRaw) accept it

#: Denominator of every float written as RATIONAL / SRATIONAL (Adobe's DNG converter uses 10000).
DENOMINATOR = 10000


#: CFA colour letters -> DNG CFAPattern codes (CFAPlaneColor 0, 1, 2 = red, green, blue).
_CFA_CODES = {"R": 0, "G": 1, "B": 2}

# --- DNG opcodes (DNG 1.7 chapter 6) ---------------------------------------------------------------
OPCODE_FIX_VIGNETTE_RADIAL = 3
OPCODE_GAIN_MAP = 9
#: Opcode flag bits: 1 = optional (a reader may skip it), 2 = may be skipped for preview-quality output.
OPCODE_FLAG_OPTIONAL, OPCODE_FLAG_PREVIEW_SKIP = 1, 2
#: DNG version of opcodes introduced in DNG 1.3 (GainMap, FixVignetteRadial), as the uint32 in a record.
DNG_VERSION_1_3 = 0x01030000


def quantize(values: Any, denominator: int = DENOMINATOR) -> np.ndarray:
    """Return ``values`` (float64 array) rounded to what a (S)RATIONAL tag with ``denominator`` holds."""
    return np.round(np.asarray(values, dtype=np.float64) * denominator) / denominator


#: linear sRGB -> XYZ (IEC 61966-2-1, D65).
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
#: The ColorMatrix (XYZ -> camera, D65) written when none is given -- DNG requires ColorMatrix1 for colour
#: images: a camera whose RGB is linear sRGB, scaled so D65 white (row sums of SRGB_TO_XYZ) maps to 1.
DEFAULT_COLOR_MATRIX = quantize(_XYZ_TO_SRGB / (_XYZ_TO_SRGB @ SRGB_TO_XYZ.sum(axis=1)).max())


def cfa_pattern_codes(pattern: str) -> tuple[int, ...]:
    """DNG CFAPattern codes of a pattern string such as "RGGB" (row-major, 2x2 for 4 letters)."""
    pattern = pattern.upper()
    n = int(round(len(pattern) ** 0.5))
    if n * n != len(pattern) or any(c not in _CFA_CODES for c in pattern):
        raise InvalidParams(f"cfa_pattern must be a square pattern of R, G, B letters, got {pattern!r}")
    return tuple(_CFA_CODES[c] for c in pattern)


# ================================================================================================
# Opcode-list encoders (big-endian, DNG 1.7 chapter 6 "Opcode List Processing")
# ================================================================================================


def opcode_record(opcode_id: int, params: bytes, *, flags: int = 0, version: int = DNG_VERSION_1_3) -> bytes:
    """One opcode record: uint32 ID, uint32 DNG version, uint32 flags, uint32 byte count, parameters."""
    return struct.pack(">IIII", opcode_id, version, flags, len(params)) + params


def opcode_list(*records: bytes) -> bytes:
    """An OpcodeList tag value: uint32 opcode count followed by the records (all big-endian)."""
    return struct.pack(">I", len(records)) + b"".join(records)


def gain_map_opcode(
    gains: Any,
    *,
    top: int = 0,
    left: int = 0,
    bottom: int,
    right: int,
    plane: int = 0,
    planes: int = 1,
    row_pitch: int = 1,
    col_pitch: int = 1,
    map_origin: tuple[float, float] = (0.0, 0.0),
    map_spacing: tuple[float, float] | None = None,
    flags: int = 0,
) -> bytes:
    """One GainMap opcode record (ID 9).

    Parameters
    ----------
    gains : array (points_v, points_h) or (points_v, points_h, map_planes)
        Multiplicative gains (float32 in the file), row-major: for each map row, each map column,
        each map plane -- the DNG storage order.
    top, left, bottom, right : int
        The pixel rectangle the opcode processes (bottom/right exclusive), in the coordinates of the
        image the list applies to (the stored image for OpcodeList1, the active area afterwards).
    plane, planes, row_pitch, col_pitch : int
        First plane and plane count processed; only every ``row_pitch``-th row / ``col_pitch``-th column
        of the rectangle is processed (2 and 2 with top/left offsets select one Bayer site).
    map_origin, map_spacing : (vertical, horizontal) floats
        Position of map point (0, 0) and the distance between map points, relative to the image
        (0 = top/left edge, 1 = bottom/right edge). ``map_spacing`` defaults to spreading the points
        over [0, 1] (``1 / (points - 1)``, or 1 for a single point).
    """
    g = np.asarray(gains, dtype=np.float64)
    if g.ndim == 2:
        g = g[:, :, None]
    if g.ndim != 3 or min(g.shape) < 1:
        raise InvalidParams(f"gains must have shape (points_v, points_h[, planes]), got {g.shape}")
    if not np.all(np.isfinite(g)):
        raise InvalidParams("gains must be finite")
    pv, ph, mp = g.shape
    if map_spacing is None:
        map_spacing = (1.0 / max(pv - 1, 1), 1.0 / max(ph - 1, 1))
    if not (bottom > top >= 0 and right > left >= 0 and planes >= 1 and row_pitch >= 1 and col_pitch >= 1):
        raise InvalidParams("gain map area must be non-empty and pitches/planes at least 1")
    area = struct.pack(">8I", top, left, bottom, right, plane, planes, row_pitch, col_pitch)
    header = struct.pack(
        ">IIddddI", pv, ph, map_spacing[0], map_spacing[1], map_origin[0], map_origin[1], mp
    )
    body = g.astype(">f4").tobytes()  # C order = rows, then columns, then planes
    return opcode_record(OPCODE_GAIN_MAP, area + header + body, flags=flags)


def encode_gain_map(gains: Any, **kwargs: Any) -> bytes:
    """An opcode list holding a single GainMap; keyword arguments as :func:`gain_map_opcode`."""
    return opcode_list(gain_map_opcode(gains, **kwargs))


def fix_vignette_radial_opcode(
    k: Sequence[float], cx: float = 0.5, cy: float = 0.5, *, flags: int = 0
) -> bytes:
    """One FixVignetteRadial opcode record (ID 3): five float64 k0..k4, then cx, cy.

    The opcode multiplies every pixel of every plane by ``g = 1 + k0 r^2 + k1 r^4 + ... + k4 r^10``,
    where r is the distance to the optical centre (cx, cy) -- relative coordinates, 0..1 across the
    image width and height -- divided by the largest distance from the centre to an image corner.
    """
    kk = [float(v) for v in k]
    if len(kk) > 5:
        raise InvalidParams(f"FixVignetteRadial takes at most 5 coefficients, got {len(kk)}")
    kk += [0.0] * (5 - len(kk))
    if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0):
        raise InvalidParams(f"optical centre must lie in [0, 1], got ({cx}, {cy})")
    return opcode_record(OPCODE_FIX_VIGNETTE_RADIAL, struct.pack(">7d", *kk, cx, cy), flags=flags)


def encode_fix_vignette_radial(
    k: Sequence[float], cx: float = 0.5, cy: float = 0.5, *, flags: int = 0
) -> bytes:
    """An opcode list holding a single FixVignetteRadial (for OpcodeList3)."""
    return opcode_list(fix_vignette_radial_opcode(k, cx, cy, flags=flags))


# ================================================================================================
# Tag value helpers
# ================================================================================================


def _rationals(values: Any, *, signed: bool) -> tuple[int, ...]:
    """Flatten values to (numerator, denominator) pairs with the fixed denominator."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise InvalidParams("rational tag values must be finite")
    if not signed and np.any(v < 0):
        raise InvalidParams(f"unsigned rational tag values must be >= 0, got {v.min()}")
    num = np.round(v * DENOMINATOR).astype(np.int64)
    lim = 2**31 - 1 if signed else 2**32 - 1
    if np.any(np.abs(num) > lim):
        raise InvalidParams("rational tag value too large for the fixed denominator")
    out: list[int] = []
    for n in num:
        out += [int(n), DENOMINATOR]
    return tuple(out)


def _exif_rational(value: float) -> tuple[int, int]:
    """A single RATIONAL with the smallest fitting denominator (1/125 s stays 1/125)."""
    f = Fraction(float(value)).limit_denominator(1_000_000)
    return f.numerator, f.denominator


def _tag(code: int, dtype: int, value: Any, count: int | None = None) -> tuple:
    """A tifffile extratag tuple (code, dtype, count, value, writeonce)."""
    if dtype == ASCII:
        return (code, ASCII, 0, str(value), True)
    if isinstance(value, bytes):
        return (code, dtype, len(value) if count is None else count, value, True)
    vals = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if count is None:
        count = len(vals) // 2 if dtype in (RATIONAL, SRATIONAL) else len(vals)
    return (code, dtype, count, vals, True)


def _matrix(name: str, m: Any, rows: int, cols: int) -> np.ndarray:
    a = np.asarray(m, dtype=np.float64)
    if a.shape != (rows, cols):
        raise InvalidParams(f"{name} must have shape ({rows}, {cols}), got {a.shape}")
    return a


def _vector(name: str, v: Any, n: int) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).ravel()
    if a.shape != (n,):
        raise InvalidParams(f"{name} must have {n} values, got {a.size}")
    return a


def _is_integral(a: np.ndarray) -> bool:
    return bool(np.all(a == np.round(a)) and np.all(a >= 0) and np.all(a < 2**32))


# ================================================================================================
# The writer
# ================================================================================================


class _Writer(tifffile.TiffWriter):
    """TiffWriter that writes strip/tile byte counts as LONG (LibRaw reads them with get4)."""

    def _bytecount_format(self, bytecounts: Sequence[int], compression: int, /) -> str:
        return self.tiff.offsetformat[1]  # LONG in classic TIFF (tifffile would pick SHORT when it fits)


def _preview(data: np.ndarray, pattern: tuple[int, ...] | None, black: float, white: float,
             neutral: np.ndarray | None) -> np.ndarray:
    """A small 8-bit sRGB-ish thumbnail (at most 256 px wide) of the raw data; quality is irrelevant."""
    x = data.astype(np.float64)
    if pattern is not None:
        h2, w2 = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
        x = x[:h2, :w2]
        sites = [x[0::2, 0::2], x[0::2, 1::2], x[1::2, 0::2], x[1::2, 1::2]]
        rgb = np.zeros(sites[0].shape + (3,))
        cnt = np.zeros(3)
        for code, s in zip(pattern[:4], sites, strict=True):
            rgb[..., code] += s
            cnt[code] += 1
        rgb /= np.maximum(cnt, 1)
    else:
        rgb = x
    rgb = np.clip((rgb - black) / max(white - black, 1e-9), 0, None)
    if neutral is not None:
        rgb = rgb / neutral
    step = max(1, int(np.ceil(rgb.shape[1] / 256)))
    rgb = rgb[::step, ::step]
    rgb = rgb / max(float(np.percentile(rgb, 99)), 1e-9)
    return (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def ljpeg_encode(data: Any, bits: int) -> bytes:
    """Lossless JPEG (ITU-T T.81 process 14, SOF3, predictor 1) of a (rows, cols, components) uint16 array.

    A small encoder of our own for what ``imagecodecs.ljpeg_encode`` cannot do: several interleaved
    components (LinearRaw DNGs, like Apple ProRAW, store 3 components; Adobe's converter stores Bayer
    data as 2 components so that the predictor works across like colours). All components share one
    Huffman table in which the 17 difference categories get 5-bit codes -- valid, not optimal.
    """
    x = np.asarray(data)
    if x.ndim == 2:
        x = x[:, :, None]
    rows, cols, comps = x.shape
    if not (2 <= bits <= 16) or int(x.max()) >= 1 << bits:
        raise InvalidParams(f"values do not fit {bits}-bit lossless JPEG")
    v = x.astype(np.int64)
    pred = np.empty_like(v)
    pred[0, 0] = 1 << (bits - 1)  # T.81 H.1.2.1: first sample of the first line
    pred[0, 1:] = v[0, :-1]  # first line: left neighbour
    pred[1:, 0] = v[:-1, 0]  # first column: sample above
    pred[1:, 1:] = v[1:, :-1]  # predictor 1: left neighbour (Ra)
    d = (v - pred) % 65536
    d = np.where(d > 32768, d - 65536, d).ravel()  # modulo-2^16 difference in (-32768, 32768]
    ssss = np.zeros(d.shape, dtype=np.int64)
    mag = np.abs(d)
    for k in range(1, 17):
        ssss[mag >= (1 << (k - 1))] = k
    extra = np.where(d >= 0, d, d - 1) & ((1 << ssss) - 1)  # T.81 F.1.2.1: negative -> ones' complement
    extra = np.where(ssss == 16, 0, extra)
    nbits = np.where(ssss == 16, 0, ssss)
    code = (ssss << nbits) | extra  # 5-bit Huffman code of category s is s itself (canonical, see DHT)
    length = 5 + nbits
    width = 21
    shifts = length[:, None] - 1 - np.arange(width)[None, :]
    bitmat = (code[:, None] >> np.maximum(shifts, 0)) & 1
    stream = bitmat[shifts >= 0].astype(np.uint8)
    stream = np.concatenate([stream, np.ones((-stream.size) % 8, np.uint8)])  # pad with 1-bits
    body = np.packbits(stream)
    ff = np.flatnonzero(body == 0xFF)
    body = np.insert(body, ff + 1, 0).tobytes()  # byte stuffing
    # DHT: 17 symbols (categories 0..16), all of code length 5.
    dht_bits = bytes([0, 0, 0, 0, 17] + [0] * 11)
    dht = b"\x00" + dht_bits + bytes(range(17))
    sof = struct.pack(">BHHB", bits, rows, cols, comps)
    sof += b"".join(bytes((c + 1, 0x11, 0)) for c in range(comps))  # id, 1x1 sampling, no quant table
    sos = bytes([comps]) + b"".join(bytes((c + 1, 0x00)) for c in range(comps)) + bytes((1, 0, 0))

    def seg(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", marker, len(payload) + 2) + payload

    return (b"\xff\xd8" + seg(0xFFC4, dht) + seg(0xFFC3, sof) + seg(0xFFDA, sos) + body + b"\xff\xd9")


def _ljpeg_segments(data: np.ndarray, tile: int | None, bits: int, components: int) -> list[bytes]:
    """Lossless-JPEG encoded tiles, or one strip covering the image.

    CFA data: ``components`` 1 encodes each segment as a (rows, cols) single-component image with
    ``imagecodecs.ljpeg_encode``; 2 encodes it as (rows, cols / 2, 2) with :func:`ljpeg_encode`, as
    Adobe's converter does. LinearRaw data is encoded with one component per sample (rows, cols, 3).
    DNG only requires a JPEG segment's total sample count to match its tile or strip (DNG 1.7,
    "Compression").
    """
    h, w = data.shape[:2]

    def encode(block: np.ndarray) -> bytes:
        if block.ndim == 3:
            return ljpeg_encode(block, bits)
        if components == 2:
            return ljpeg_encode(block.reshape(block.shape[0], block.shape[1] // 2, 2), bits)
        return imagecodecs.ljpeg_encode(np.ascontiguousarray(block), bitspersample=bits)

    if tile is None:
        return [encode(data)]
    segs = []
    for i in range(0, h, tile):
        for j in range(0, w, tile):
            blk = np.zeros((tile, tile) + data.shape[2:], dtype=data.dtype)
            part = data[i:i + tile, j:j + tile]
            blk[: part.shape[0], : part.shape[1]] = part
            segs.append(encode(blk))
    return segs


def _append_exif_ifd(path: Path, entries: list[tuple[int, int, int, bytes]], byteorder: str) -> None:
    """Append an EXIF IFD at the end of the file and point IFD 0's ExifTag (34665) placeholder to it.

    tifffile cannot write IFD-valued tags, so the writer leaves a LONG placeholder tag (34664) that is
    renamed to ExifTag and given the new IFD's offset here.
    ``entries`` are (tag, type, count, packed value bytes) in file byte order.
    """
    bo = byteorder
    with open(path, "r+b") as fh:
        head = fh.read(8)
        ifd0 = struct.unpack(bo + "I", head[4:8])[0]
        fh.seek(ifd0)
        n = struct.unpack(bo + "H", fh.read(2))[0]
        entry_pos = None
        for i in range(n):
            code = struct.unpack(bo + "H", fh.read(2))[0]
            fh.read(10)
            if code == _EXIF_PLACEHOLDER:
                entry_pos = ifd0 + 2 + 12 * i
        if entry_pos is None:
            raise RuntimeError("ExifTag placeholder not found in IFD 0")
        fh.seek(0, os.SEEK_END)
        start = fh.tell()
        start += start % 2
        entries = sorted(entries)
        data_pos = start + 2 + 12 * len(entries) + 4
        ifd = struct.pack(bo + "H", len(entries))
        extra = b""
        for code, typ, count, raw in entries:
            if len(raw) <= 4:
                ifd += struct.pack(bo + "HHI", code, typ, count) + raw.ljust(4, b"\0")
            else:
                ifd += struct.pack(bo + "HHII", code, typ, count, data_pos + len(extra))
                extra += raw + (b"\0" if len(raw) % 2 else b"")
        ifd += struct.pack(bo + "I", 0)
        fh.seek(start)
        fh.write(ifd + extra)
        fh.seek(entry_pos)
        fh.write(struct.pack(bo + "HHII", EXIF_IFD, LONG, 1, start))


def write_dng(
    path: str | os.PathLike,
    data: Any,
    *,
    cfa_pattern: str | None = "RGGB",
    linear_raw: bool | None = None,
    black_level: Any = 0,
    black_level_repeat: tuple[int, int] = (1, 1),
    black_level_delta_h: Any = None,
    black_level_delta_v: Any = None,
    white_level: Any = None,
    linearization_table: Any = None,
    color_matrix1: Any = None,
    color_matrix2: Any = None,
    calibration_illuminant1: int = 17,
    calibration_illuminant2: int = 21,
    forward_matrix1: Any = None,
    forward_matrix2: Any = None,
    camera_calibration1: Any = None,
    camera_calibration2: Any = None,
    analog_balance: Any = None,
    as_shot_neutral: Any = None,
    as_shot_white_xy: tuple[float, float] | None = None,
    baseline_exposure: float | None = None,
    opcode_list1: bytes | None = None,
    opcode_list2: bytes | None = None,
    opcode_list3: bytes | None = None,
    active_area: tuple[int, int, int, int] | None = None,
    default_crop: tuple[int, int, int, int] | None = None,
    orientation: int = 1,
    make: str = "rotpunkt",
    model: str = "Synthetic",
    unique_camera_model: str | None = None,
    exposure_time: float | None = None,
    iso: int | None = None,
    f_number: float | None = None,
    focal_length: float | None = None,
    datetime: str | None = None,
    lens: str | None = None,
    compression: str = "none",
    tile: int | None = None,
    ljpeg_components: int = 1,
    preview: bool | np.ndarray = True,
    dng_version: tuple[int, int, int, int] = (1, 4, 0, 0),
    byteorder: str = "<",
    extratags_ifd0: Sequence[tuple] = (),
    extratags_raw: Sequence[tuple] = (),
) -> Path:
    """Write ``data`` as a DNG file and return its path.

    Parameters
    ----------
    path : path-like
        Output file (overwritten).
    data : array
        (H, W) CFA mosaic, or (H, W, 3) LinearRaw data.
        uint16 integers (stored values, black level included) or float32 (floating-point DNG;
        ``compression`` "none" or "deflate").
    cfa_pattern : str or None
        Square pattern of R/G/B letters, row-major from the top-left of the active area ("RGGB",
        "BGGR", "GRBG", "GBRG", or larger e.g. 16 letters for 4x4). Ignored for LinearRaw.
    linear_raw : bool or None
        Write PhotometricInterpretation LinearRaw (34892) instead of CFA (32803). None: LinearRaw when
        ``data`` has 3 channels or ``cfa_pattern`` is None.
    black_level : scalar or array
        Stored units. A scalar, or ``repeat_rows * repeat_cols * samples`` values in row-column-sample
        order (an array shaped (rows, cols) or (rows, cols, samples) is flattened in that order).
        Written as LONG when all values are non-negative integers, else RATIONAL.
    black_level_repeat : (rows, cols)
        BlackLevelRepeatDim.
    black_level_delta_h, black_level_delta_v : sequences or None
        Per-column (active-area width values) / per-row (active-area height values) black offsets,
        SRATIONAL.
    white_level : scalar or sequence (samples,)
        Default: 65535 for uint16, 1 for float data. Written as LONG.
    linearization_table : sequence of int or None
        LinearizationTable (SHORT): stored value v means table[v].
    color_matrix1/2, camera_calibration1/2 : (3, 3) arrays or None
        SRATIONAL. ``calibration_illuminant1/2`` (EXIF LightSource codes, 17 = Standard light A,
        21 = D65) are written for each ColorMatrix present. With neither colour matrix given,
        :data:`DEFAULT_COLOR_MATRIX` is written as ColorMatrix1 with illuminant 21 (the specification
        requires ColorMatrix1); ``color_matrix1=False`` writes no colour matrix at all (an invalid DNG,
        for testing readers).
    forward_matrix1/2 : (3, 3) arrays or None
        SRATIONAL.
    analog_balance, as_shot_neutral : (3,) or None
        RATIONAL. ``as_shot_white_xy`` (x, y) is the alternative to ``as_shot_neutral``.
    baseline_exposure : float or None
        SRATIONAL, EV.
    opcode_list1/2/3 : bytes or None
        Raw opcode-list tag values (see :func:`encode_gain_map`, :func:`encode_fix_vignette_radial`).
    active_area : (top, left, bottom, right) or None
        ActiveArea in the stored image.
    default_crop : (top, left, height, width) or None
        Relative to the active area.
    orientation : int
        TIFF/EXIF orientation 1..8 (IFD 0).
    make, model, unique_camera_model :
        Make (271), Model (272), UniqueCameraModel (default "make model").
    exposure_time, iso, f_number, focal_length, datetime, lens :
        EXIF facts (seconds, ISO, f-number, mm, "YYYY:MM:DD HH:MM:SS", lens model), written to an
        EXIF IFD; ``datetime`` is also written as DateTime (306) in IFD 0.
    compression : "none" | "ljpeg" | "deflate"
        1, 7 (lossless JPEG, integer data) or 8 (deflate with the floating-point predictor, float32).
    tile : int or None
        Tile size (multiple of 16); None writes strips (one strip for lossless JPEG).
    ljpeg_components : 1 or 2
        How lossless JPEG encodes CFA segments: 1 component of the segment's width, or 2 components
        of half the width (Adobe's layout). LinearRaw always uses 3 components (Apple ProRAW's layout).
    preview : bool or ndarray
        True: IFD 0 is an 8-bit RGB preview and the raw image a SubIFD. False: raw image in IFD 0. A uint8
        (h, w, 3) array: that image is the preview (e.g. a "phone JPEG" of the shot, for look fitting).
    dng_version : 4 ints
        DNGVersion. DNGBackwardVersion is 1.3.0.0 when opcode lists are present, else 1.1.0.0.
    byteorder : "<" or ">"
        Little- ("II") or big-endian ("MM") file.
    extratags_ifd0, extratags_raw : sequences of tifffile extratag tuples
        Further tags (code, dtype, count, value, writeonce) for IFD 0 / the raw IFD.
    """
    path = Path(path)
    arr = np.asarray(data)
    if linear_raw is None:
        linear_raw = arr.ndim == 3 or cfa_pattern is None
    if linear_raw:
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise InvalidParams(f"LinearRaw data (cfa_pattern=None) must be (H, W, 3), got {arr.shape}")
    elif arr.ndim != 2 or cfa_pattern is None:
        raise InvalidParams(f"CFA data must be (H, W) with a cfa_pattern, got {arr.shape}, {cfa_pattern!r}")
    if arr.dtype not in (np.uint16, np.float32):
        raise InvalidParams(f"data must be uint16 or float32, got {arr.dtype}")
    is_float = arr.dtype == np.float32
    if is_float and not np.all(np.isfinite(arr)):
        raise InvalidParams("float data must be finite")
    if compression not in COMPRESSION_TAGS:
        raise InvalidParams(f"compression must be one of {sorted(COMPRESSION_TAGS)}, got {compression!r}")
    if compression == "ljpeg" and is_float:
        raise InvalidParams("lossless JPEG needs integer data")
    if compression == "deflate" and not is_float:
        raise InvalidParams("deflate is written for float32 data only (DNG 1.7 allows it for floating-point, "
                            "32-bit integer, mask and depth data)")
    if tile is not None and (tile < 16 or tile % 16):
        raise InvalidParams(f"tile must be a positive multiple of 16, got {tile}")
    if byteorder not in ("<", ">"):
        raise InvalidParams(f"byteorder must be '<' or '>', got {byteorder!r}")
    h, w = arr.shape[:2]
    spp = 3 if linear_raw else 1

    # ---- levels ----------------------------------------------------------------------------------
    if white_level is None:
        white_level = 1 if is_float else 65535
    white = np.atleast_1d(np.asarray(white_level, dtype=np.float64)).ravel()
    if white.size not in (1, spp) or not _is_integral(white):
        raise InvalidParams(f"white_level must be 1 or {spp} non-negative integers")
    rr, rc = (int(v) for v in black_level_repeat)
    if rr < 1 or rc < 1:
        raise InvalidParams(f"black_level_repeat must be positive, got {black_level_repeat}")
    black = np.asarray(black_level, dtype=np.float64).ravel()
    if black.size == 1:
        black = np.repeat(black, rr * rc * spp)
    if black.size != rr * rc * spp:
        raise InvalidParams(
            f"black_level needs 1 or {rr * rc * spp} values for repeat {rr}x{rc}, got {black.size}"
        )
    if np.any(black < 0):
        raise InvalidParams("black_level must be >= 0")
    aa = active_area if active_area is not None else (0, 0, h, w)
    if not (0 <= aa[0] < aa[2] <= h and 0 <= aa[1] < aa[3] <= w):
        raise InvalidParams(f"active_area {active_area} does not fit the {h}x{w} image")
    ah, aw = aa[2] - aa[0], aa[3] - aa[1]

    pattern = None if linear_raw else cfa_pattern_codes(cfa_pattern)

    # ---- raw-IFD tags ------------------------------------------------------------------------------
    raw_tags: list[tuple] = []
    if pattern is not None:
        n = int(round(len(pattern) ** 0.5))
        raw_tags += [
            _tag(CFA_REPEAT_PATTERN_DIM, SHORT, (n, n)),
            _tag(CFA_PATTERN, BYTE, bytes(pattern)),
            _tag(CFA_PLANE_COLOR, BYTE, bytes((0, 1, 2))),
            _tag(CFA_LAYOUT, SHORT, 1),
        ]
    if linearization_table is not None:
        lt = np.asarray(linearization_table)
        if lt.ndim != 1 or lt.size < 2 or not _is_integral(lt.astype(np.float64)) or lt.max() > 65535:
            raise InvalidParams("linearization_table must be a 1-D table of uint16 values")
        raw_tags.append(_tag(LINEARIZATION_TABLE, SHORT, tuple(int(v) for v in lt)))
    raw_tags.append(_tag(BLACK_LEVEL_REPEAT_DIM, SHORT, (rr, rc)))
    if _is_integral(black):
        raw_tags.append(_tag(BLACK_LEVEL, LONG, tuple(int(v) for v in black)))
    else:
        raw_tags.append(_tag(BLACK_LEVEL, RATIONAL, _rationals(black, signed=False)))
    if black_level_delta_h is not None:
        dh = _vector("black_level_delta_h", black_level_delta_h, aw)
        raw_tags.append(_tag(BLACK_LEVEL_DELTA_H, SRATIONAL, _rationals(dh, signed=True)))
    if black_level_delta_v is not None:
        dv = _vector("black_level_delta_v", black_level_delta_v, ah)
        raw_tags.append(_tag(BLACK_LEVEL_DELTA_V, SRATIONAL, _rationals(dv, signed=True)))
    raw_tags.append(_tag(WHITE_LEVEL, LONG, tuple(int(v) for v in white)))
    if default_crop is not None:
        ct, cl, ch, cw = default_crop
        if not (0 <= ct and 0 <= cl and ch > 0 and cw > 0 and ct + ch <= ah and cl + cw <= aw):
            raise InvalidParams(f"default_crop {default_crop} does not fit the {ah}x{aw} active area")
        raw_tags += [_tag(DEFAULT_CROP_ORIGIN, LONG, (cl, ct)), _tag(DEFAULT_CROP_SIZE, LONG, (cw, ch))]
    if active_area is not None:
        raw_tags.append(_tag(ACTIVE_AREA, LONG, tuple(int(v) for v in active_area)))
    lists = ((OPCODE_LIST1, opcode_list1), (OPCODE_LIST2, opcode_list2), (OPCODE_LIST3, opcode_list3))
    for code, ol in lists:
        if ol is not None:
            if not isinstance(ol, (bytes, bytearray)) or len(ol) < 4:
                raise InvalidParams("opcode lists must be bytes (see encode_gain_map)")
            raw_tags.append(_tag(code, UNDEFINED, bytes(ol)))
    raw_tags += list(extratags_raw)

    # ---- IFD-0 tags ------------------------------------------------------------------------------
    has_opcodes = any(o is not None for o in (opcode_list1, opcode_list2, opcode_list3))
    ifd0_tags: list[tuple] = [
        _tag(DNG_VERSION, BYTE, bytes(dng_version)),
        _tag(DNG_BACKWARD_VERSION, BYTE, bytes((1, 3, 0, 0) if has_opcodes else (1, 1, 0, 0))),
        _tag(UNIQUE_CAMERA_MODEL, ASCII, unique_camera_model or f"{make} {model}"),
        _tag(MAKE, ASCII, make),
        _tag(MODEL, ASCII, model),
    ]
    if not 1 <= orientation <= 8:
        raise InvalidParams(f"orientation must be 1..8, got {orientation}")
    ifd0_tags.append(_tag(ORIENTATION, SHORT, int(orientation)))
    if color_matrix1 is None and color_matrix2 is None:
        color_matrix1, calibration_illuminant1 = DEFAULT_COLOR_MATRIX, 21
    elif color_matrix1 is False:
        color_matrix1 = None
    for code, ill, m in ((COLOR_MATRIX1, calibration_illuminant1, color_matrix1),
                         (COLOR_MATRIX2, calibration_illuminant2, color_matrix2)):
        if m is not None:
            ifd0_tags.append(_tag(code, SRATIONAL, _rationals(_matrix("color_matrix", m, 3, 3), signed=True)))
            ill_code = CALIBRATION_ILLUMINANT1 if code == COLOR_MATRIX1 else CALIBRATION_ILLUMINANT2
            ifd0_tags.append(_tag(ill_code, SHORT, int(ill)))
    for code, m in ((CAMERA_CALIBRATION1, camera_calibration1), (CAMERA_CALIBRATION2, camera_calibration2),
                    (FORWARD_MATRIX1, forward_matrix1), (FORWARD_MATRIX2, forward_matrix2)):
        if m is not None:
            ifd0_tags.append(_tag(code, SRATIONAL, _rationals(_matrix("matrix", m, 3, 3), signed=True)))
    if analog_balance is not None:
        ab = _vector("analog_balance", analog_balance, 3)
        ifd0_tags.append(_tag(ANALOG_BALANCE, RATIONAL, _rationals(ab, signed=False)))
    if as_shot_neutral is not None and as_shot_white_xy is not None:
        raise InvalidParams("give as_shot_neutral or as_shot_white_xy, not both")
    if as_shot_neutral is not None:
        asn = _vector("as_shot_neutral", as_shot_neutral, 3)
        if np.any(asn <= 0):
            raise InvalidParams("as_shot_neutral must be positive")
        ifd0_tags.append(_tag(AS_SHOT_NEUTRAL, RATIONAL, _rationals(asn, signed=False)))
    if as_shot_white_xy is not None:
        ifd0_tags.append(_tag(AS_SHOT_WHITE_XY, RATIONAL,
                              _rationals(_vector("as_shot_white_xy", as_shot_white_xy, 2), signed=False)))
    if baseline_exposure is not None:
        ifd0_tags.append(_tag(BASELINE_EXPOSURE, SRATIONAL, _rationals([baseline_exposure], signed=True)))

    bo = byteorder
    exif: list[tuple[int, int, int, bytes]] = []
    if exposure_time is not None:
        exif.append((EXPOSURE_TIME, RATIONAL, 1, struct.pack(bo + "II", *_exif_rational(exposure_time))))
    if f_number is not None:
        exif.append((F_NUMBER, RATIONAL, 1, struct.pack(bo + "II", *_exif_rational(f_number))))
    if iso is not None:
        exif.append((ISO_SPEED_RATINGS, SHORT, 1, struct.pack(bo + "H", int(iso))))
    if datetime is not None:
        exif.append((DATETIME_ORIGINAL, ASCII, len(datetime) + 1, datetime.encode("ascii") + b"\0"))
    if focal_length is not None:
        exif.append((FOCAL_LENGTH, RATIONAL, 1, struct.pack(bo + "II", *_exif_rational(focal_length))))
    if lens is not None:
        exif.append((LENS_MODEL, ASCII, len(lens) + 1, lens.encode("ascii") + b"\0"))
    if exif:
        exif.append((EXIF_VERSION, UNDEFINED, 4, b"0230"))
        ifd0_tags.append(_tag(_EXIF_PLACEHOLDER, LONG, 0))  # becomes ExifTag in _append_exif_ifd
    ifd0_tags += list(extratags_ifd0)

    # ---- pixel data ------------------------------------------------------------------------------
    photometric = PHOTOMETRIC_LINEAR_RAW if linear_raw else PHOTOMETRIC_CFA
    raw_kw: dict[str, Any] = dict(photometric=photometric, subfiletype=0, metadata=None)
    if linear_raw:
        raw_kw["planarconfig"] = "contig"
    raw_data: Any = np.ascontiguousarray(arr)
    if compression == "ljpeg":
        bits = max(int(arr.max()).bit_length(), int(white.max()).bit_length(), 8)
        if ljpeg_components not in (1, 2) or (ljpeg_components == 2 and tile is None and w % 2):
            raise InvalidParams("ljpeg_components must be 1 or 2 (2 needs an even width)")
        raw_data = iter(_ljpeg_segments(arr, tile, bits, ljpeg_components))
        raw_kw.update(shape=arr.shape, dtype=arr.dtype, compression=7, bitspersample=bits)
        if tile is not None:
            raw_kw["tile"] = (tile, tile)
        else:
            raw_kw["rowsperstrip"] = h
    else:
        if compression == "deflate":
            raw_kw.update(compression="zlib", predictor=PREDICTOR_FLOATING_POINT)
        if tile is not None:
            raw_kw["tile"] = (tile, tile)

    common: dict[str, Any] = dict(software="rotpunkt test dngwriter")
    if datetime is not None:
        common["datetime"] = datetime
    path.parent.mkdir(parents=True, exist_ok=True)
    with _Writer(path, byteorder=byteorder) as tw:
        if isinstance(preview, np.ndarray) or preview:
            neutral = None if as_shot_neutral is None else _vector("as_shot_neutral", as_shot_neutral, 3)
            thumb = (np.ascontiguousarray(preview, np.uint8) if isinstance(preview, np.ndarray)
                     else _preview(arr, pattern, float(black.mean()), float(white.max()), neutral))
            tw.write(thumb, photometric=PHOTOMETRIC_RGB, subfiletype=1, subifds=1, metadata=None,
                     extratags=ifd0_tags, **common)
            tw.write(raw_data, extratags=raw_tags, software=False, **raw_kw)
        else:
            tw.write(raw_data, extratags=ifd0_tags + raw_tags, **common, **raw_kw)
    if exif:
        _append_exif_ifd(path, exif, byteorder)
    return path
