"""Read DNG files (Adobe DNG 1.7) into a :class:`~rotpunkt.types.RawImage`-ready pair (data, metadata).

Built on tifffile + imagecodecs, which decode strips and tiles with compression 1 (none), 7 (lossless
JPEG, LJ92), 8 (deflate), 34892 (lossy JPEG) and 52546 (JPEG XL). This module only finds the main raw
image, checks that its pixel data is really present (LibRaw silently returns zeros when it is not), decodes
it, and turns the DNG tags into typed metadata. No pixel maths happens here.

Tag numbers are those of the DNG 1.7 specification (chapter 4) and TIFF/EP.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any

import numpy as np
import tifffile

from ..errors import CorruptFile, MissingImageData, RotpunktError, UnsupportedFormat
from ..types import ColorInfo, Exif, HueSatMap, RawMetadata

# --- tag numbers (DNG 1.7 chapter 4; TIFF 6; TIFF/EP) ---------------------------------------------
NEW_SUBFILE_TYPE = 254
MAKE, MODEL, ORIENTATION = 271, 272, 274
DATETIME = 306
CFA_REPEAT_PATTERN_DIM, CFA_PATTERN = 33421, 33422
EXIF_IFD = 34665
DNG_VERSION = 50706
UNIQUE_CAMERA_MODEL = 50708
CFA_PLANE_COLOR, CFA_LAYOUT = 50710, 50711
LINEARIZATION_TABLE = 50712
BLACK_LEVEL_REPEAT_DIM, BLACK_LEVEL, BLACK_LEVEL_DELTA_H, BLACK_LEVEL_DELTA_V = 50713, 50714, 50715, 50716
WHITE_LEVEL = 50717
DEFAULT_CROP_ORIGIN, DEFAULT_CROP_SIZE = 50719, 50720
COLOR_MATRIX = (50721, 50722)
CAMERA_CALIBRATION = (50723, 50724)
ANALOG_BALANCE, AS_SHOT_NEUTRAL, AS_SHOT_WHITE_XY = 50727, 50728, 50729
BASELINE_EXPOSURE = 50730
CALIBRATION_ILLUMINANT = (50778, 50779)
ACTIVE_AREA = 50829
PROFILE_NAME = 50936
PROFILE_HUE_SAT_MAP_DIMS = 50937
PROFILE_HUE_SAT_MAP_DATA = (50938, 50939)
ROW_INTERLEAVE_FACTOR = 50975
PROFILE_LOOK_TABLE_DIMS, PROFILE_LOOK_TABLE_DATA = 50981, 50982
OPCODE_LISTS = (51008, 51009, 51022)
FORWARD_MATRIX = (50964, 50965)
PROFILE_HUE_SAT_MAP_ENCODING, PROFILE_LOOK_TABLE_ENCODING = 51107, 51108
BASELINE_EXPOSURE_OFFSET = 51109
COLUMN_INTERLEAVE_FACTOR = 52547
CAMERA_CALIBRATION_SIGNATURE, PROFILE_CALIBRATION_SIGNATURE = 50931, 50932

PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW = 32803, 34892
SUPPORTED_COMPRESSION = {1: "none", 7: "lossless JPEG", 8: "deflate", 32946: "deflate",
                         34892: "lossy JPEG", 52546: "JPEG XL"}
COMPRESSION_NAMES = {**SUPPORTED_COMPRESSION, 5: "LZW", 6: "old JPEG"}

_log = logging.getLogger("tifffile")


@contextmanager
def _quiet_tifffile():
    """tifffile logs segment problems as warnings; we raise typed errors instead."""
    level = _log.level
    _log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        _log.setLevel(level)


# --- tag value helpers ------------------------------------------------------------------------------
def _numbers(tag: tifffile.TiffTag) -> np.ndarray:
    """A tag's value as float64 array; RATIONAL/SRATIONAL (types 5, 10) become num/den."""
    v = tag.value
    if isinstance(v, bytes):
        return np.frombuffer(v, np.uint8).astype(np.float64)
    arr = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if int(tag.dtype) in (5, 10):
        num, den = arr[0::2], arr[1::2]
        with np.errstate(divide="ignore", invalid="ignore"):
            arr = np.where(den != 0, num / np.where(den == 0, 1, den), 0.0)
    return arr


class _Tags:
    """Look a tag up in the raw IFD first, then in IFD0 (DNG puts colour tags in IFD0)."""

    def __init__(self, raw_page: tifffile.TiffPage, ifd0: tifffile.TiffPage, path: str):
        self.pages = (raw_page, ifd0) if raw_page is not ifd0 else (raw_page,)
        self.path = path

    def get(self, code: int) -> tifffile.TiffTag | None:
        for p in self.pages:
            t = p.tags.get(code)
            if t is not None:
                return t
        return None

    def num(self, code: int, count: int | None = None) -> np.ndarray | None:
        t = self.get(code)
        if t is None:
            return None
        arr = _numbers(t)
        if count is not None and arr.size < count:
            raise CorruptFile(f"tag {code} ({t.name}) has {arr.size} values, expected {count}", self.path)
        return arr if count is None else arr[:count]

    def scalar(self, code: int, default: float | None = None) -> float | None:
        arr = self.num(code)
        return default if arr is None or arr.size == 0 else float(arr[0])

    def text(self, code: int) -> str | None:
        t = self.get(code)
        if t is None:
            return None
        v = t.value
        if isinstance(v, bytes):
            v = v.split(b"\0", 1)[0].decode("latin-1")
        return str(v).strip() or None

    def raw_bytes(self, code: int) -> bytes | None:
        t = self.get(code)
        if t is None:
            return None
        v = t.value
        if isinstance(v, bytes):
            return v
        return np.asarray(v, dtype=np.uint8).tobytes()


# --- finding the main image -------------------------------------------------------------------------
def _all_pages(tif: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    out = []
    for page in tif.pages:
        out.append(page)
        for sub in page.pages or ():
            out.append(sub)
    return out


def _find_main(tif: tifffile.TiffFile, path: str) -> tifffile.TiffPage:
    """The main raw image: NewSubFileType 0 with CFA or LinearRaw photometric (IFD0 or a SubIFD)."""
    candidates = []
    for page in _all_pages(tif):
        t = page.tags.get(NEW_SUBFILE_TYPE)
        subtype = int(t.value) if t is not None else 0
        photometric = int(page.tags[262].value) if 262 in page.tags else -1
        if subtype == 0 and photometric in (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW):
            candidates.append(page)
    if not candidates:
        subifds = tif.pages[0].tags.get(330)
        size = tif.filehandle.size
        if subifds is not None and any(int(o) >= size for o in np.atleast_1d(subifds.value)):
            raise MissingImageData(f"the file is truncated: its raw image directory lies beyond its end "
                                   f"({size} bytes)", path)
        raise UnsupportedFormat("no raw image (NewSubFileType 0, CFA or LinearRaw) found in this DNG", path)
    # the largest full-resolution candidate wins
    return max(candidates, key=lambda p: p.shape[0] * p.shape[1] if p.shape else 0)


def _check_segments(page: tifffile.TiffPage, file_size: int, path: str) -> None:
    """Refuse pixel data that is absent or runs past the end of the file."""
    offsets = np.asarray(page.dataoffsets, dtype=np.int64)
    counts = np.asarray(page.databytecounts, dtype=np.int64)
    kind = "tiles" if page.is_tiled else "strips"
    if offsets.size == 0:
        raise MissingImageData("the raw image has no strip or tile offsets: its pixel data is absent", path)
    if page.is_tiled:
        th, tw = page.tilelength, page.tilewidth
        expected = -(-page.imagelength // th) * -(-page.imagewidth // tw) * (
            page.samplesperpixel if page.planarconfig == 2 else 1)
    else:
        rps = min(page.rowsperstrip or page.imagelength, page.imagelength)
        expected = -(-page.imagelength // rps) * (page.samplesperpixel if page.planarconfig == 2 else 1)
    if offsets.size < expected or counts.size < expected:
        raise MissingImageData(
            f"the raw image needs {expected} {kind} but the file lists only {min(offsets.size, counts.size)}: "
            "its pixel data is missing", path)
    empty = int(np.count_nonzero(counts[:expected] <= 0))
    if empty:
        raise MissingImageData(f"{empty} of {expected} raw {kind} are empty: the pixel data is missing", path)
    past = int(np.count_nonzero(offsets[:expected] + counts[:expected] > file_size))
    if past:
        raise MissingImageData(
            f"{past} of {expected} raw {kind} lie beyond the end of the file ({file_size} bytes): "
            "the file is truncated or its pixel data was removed", path)


def _decode(page: tifffile.TiffPage, path: str, file_size: int) -> np.ndarray:
    compression = int(page.compression)
    if compression not in SUPPORTED_COMPRESSION:
        name = COMPRESSION_NAMES.get(compression, str(compression))
        raise UnsupportedFormat(f"raw image compression {name} is not supported", path)
    _check_segments(page, file_size, path)
    try:
        with _quiet_tifffile():
            data = page.asarray(maxworkers=2)
    except RotpunktError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # imagecodecs / tifffile raise many types for damaged data
        raise CorruptFile(
            f"raw image data could not be decoded ({SUPPORTED_COMPRESSION[compression]}): "
            f"{type(exc).__name__}: {exc}", path) from exc
    return data


def _deinterleave(data: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Undo RowInterleaveFactor / ColumnInterleaveFactor (DNG 1.2 / 1.7).

    With factor N the stored lines are the N fields one after another: field k holds lines k, k+N, ...
    """
    if rows > 1:
        h = data.shape[0]
        order = np.concatenate([np.arange(k, h, rows) for k in range(rows)])
        out = np.empty_like(data)
        out[order] = data
        data = out
    if cols > 1:
        w = data.shape[1]
        order = np.concatenate([np.arange(k, w, cols) for k in range(cols)])
        out = np.empty_like(data)
        out[:, order] = data
        data = out
    return data


def _matrix(tags: _Tags, code: int, rows: int, cols: int) -> np.ndarray | None:
    arr = tags.num(code)
    if arr is None:
        return None
    if arr.size < rows * cols:
        raise CorruptFile(f"tag {code} holds {arr.size} values, a {rows}x{cols} matrix needs {rows * cols}",
                          tags.path)
    m = arr[: rows * cols].reshape(rows, cols)
    if not np.all(np.isfinite(m)):
        raise CorruptFile(f"tag {code} holds non-finite matrix entries", tags.path)
    return m


def _hue_sat(tags: _Tags, dims_code: int, data_code: int, enc_code: int) -> HueSatMap | None:
    dims = tags.num(dims_code)
    data = tags.num(data_code)
    if dims is None or data is None:
        return None
    if dims.size < 2:
        raise CorruptFile(f"tag {dims_code} must hold 2 or 3 dimensions", tags.path)
    h, s = int(dims[0]), int(dims[1])
    v = int(dims[2]) if dims.size > 2 else 1
    if min(h, s, v) < 1 or data.size < h * s * v * 3:
        raise CorruptFile(f"profile table {h}x{s}x{v} does not match its data ({data.size} values)", tags.path)
    table = data[: h * s * v * 3].reshape(v, h, s, 3).astype(np.float32)
    return HueSatMap(table=table, encoding=int(tags.scalar(enc_code, 0) or 0))


def _exif(ifd0: tifffile.TiffPage, tags: _Tags) -> Exif:
    ex: dict[str, Any] = {}
    t = ifd0.tags.get(EXIF_IFD)
    if t is not None and isinstance(t.value, dict):
        ex = t.value

    def num(name: str) -> float | None:
        v = ex.get(name)
        if v is None:
            return None
        if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, int) for x in v):
            return v[0] / v[1] if v[1] else None
        if isinstance(v, tuple):
            v = v[0] if v else None
        try:
            return float(v) if v is not None else None
        except (TypeError, ValueError):
            return None

    def text(name: str) -> str | None:
        v = ex.get(name)
        if isinstance(v, bytes):
            v = v.split(b"\0", 1)[0].decode("latin-1")
        return str(v).strip() if v else None

    iso = num("ISOSpeedRatings") or num("PhotographicSensitivity")
    return Exif(
        make=tags.text(MAKE),
        model=tags.text(MODEL),
        exposure_time=num("ExposureTime"),
        iso=iso,
        f_number=num("FNumber"),
        focal_length=num("FocalLength"),
        datetime=text("DateTimeOriginal") or tags.text(DATETIME),
        lens=text("LensModel"),
    )


def read_dng(path: str | os.PathLike, *, decode: bool = True) -> tuple[np.ndarray | None, RawMetadata]:
    """Read a DNG's main raw image and its metadata.

    Returns
    -------
    data : ndarray
        The stored samples, uncropped, as decoded: (H, W) for CFA, (H, W, C) for LinearRaw; integer
        (uint8/uint16/uint32) or float (float16 is widened to float32).
    meta : RawMetadata

    With ``decode=False`` only the metadata is read (``data`` is None): for ``rotpunkt info``.

    Raises
    ------
    UnsupportedFormat, CorruptFile, MissingImageData
        Each naming ``path``.
    """
    path = os.fspath(path)
    try:
        file_size = os.path.getsize(path)
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif:
            return _read(tif, path, file_size, decode)
    except RotpunktError:
        raise
    except FileNotFoundError as exc:
        raise RotpunktError("file not found", path) from exc
    except PermissionError as exc:
        raise RotpunktError("permission denied", path) from exc
    except tifffile.TiffFileError as exc:
        raise CorruptFile(f"not a readable TIFF/DNG file: {exc}", path) from exc
    except (ValueError, TypeError, IndexError, KeyError, struct_error, OverflowError) as exc:
        raise CorruptFile(f"damaged DNG structure: {type(exc).__name__}: {exc}", path) from exc


try:  # struct.error is raised by tifffile on truncated IFDs
    from struct import error as struct_error
except ImportError:  # pragma: no cover
    struct_error = ValueError  # type: ignore[misc,assignment]


def _read(tif: tifffile.TiffFile, path: str, file_size: int, decode: bool = True):
    ifd0 = tif.pages[0]
    if DNG_VERSION not in ifd0.tags:
        raise UnsupportedFormat("not a DNG (no DNGVersion tag)", path)
    page = _find_main(tif, path)
    tags = _Tags(page, ifd0, path)
    photometric = int(page.tags[262].value)
    spp = int(page.samplesperpixel)
    h, w = int(page.imagelength), int(page.imagewidth)
    if h < 1 or w < 1:
        raise CorruptFile(f"raw image has an empty size {w}x{h}", path)

    # CFA description
    cfa = None
    if photometric == PHOTOMETRIC_CFA:
        if spp != 1:
            raise UnsupportedFormat(f"CFA image with {spp} samples per pixel", path)
        dims = tags.num(CFA_REPEAT_PATTERN_DIM, 2)
        pattern = tags.num(CFA_PATTERN)
        if dims is None or pattern is None:
            raise CorruptFile("CFA image without CFARepeatPatternDim/CFAPattern", path)
        r, c = int(dims[0]), int(dims[1])
        if r < 1 or c < 1 or pattern.size < r * c:
            raise CorruptFile(f"CFAPattern has {pattern.size} entries for a {r}x{c} repeat", path)
        plane_colors = tags.num(CFA_PLANE_COLOR)
        plane_colors = plane_colors.astype(int) if plane_colors is not None else np.array([0, 1, 2])
        codes = pattern[: r * c].astype(int).reshape(r, c)
        # map the CFA codes (0 red, 1 green, 2 blue, 3 cyan...) to plane indices
        lut = {int(code): i for i, code in enumerate(plane_colors)}
        if any(int(v) not in lut for v in codes.ravel()) or plane_colors.tolist() != [0, 1, 2]:
            raise UnsupportedFormat(
                f"CFAPlaneColor {plane_colors.tolist()} / CFAPattern {codes.tolist()}: only R, G, B planes in that "
                "order are supported",
                path)
        # plane indices: the colour matrices' rows follow CFAPlaneColor's order
        cfa = np.array([[lut[int(v)] for v in row] for row in codes], dtype=np.int64)
        layout = tags.scalar(CFA_LAYOUT, 1)
        if layout not in (1, None):
            raise UnsupportedFormat(f"CFALayout {int(layout)} (non-rectangular sensor) is not supported", path)
    elif photometric == PHOTOMETRIC_LINEAR_RAW:
        if spp not in (1, 3, 4):
            raise UnsupportedFormat(f"LinearRaw image with {spp} samples per pixel", path)
    else:  # pragma: no cover - filtered in _find_main
        raise UnsupportedFormat(f"photometric interpretation {photometric}", path)

    if decode:
        data = _decode(page, path, file_size)
        if data.ndim == 3 and spp == 1:
            data = data[..., 0]
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        if data.dtype.kind not in "uif":
            raise UnsupportedFormat(f"sample type {data.dtype}", path)
        if data.dtype.kind == "i":
            data = data.astype(np.float32)
    else:
        data = None
    shape = (h, w) if data is None else data.shape
    rif = int(tags.scalar(ROW_INTERLEAVE_FACTOR, 1) or 1)
    cif = int(tags.scalar(COLUMN_INTERLEAVE_FACTOR, 1) or 1)
    if data is not None and (rif > 1 or cif > 1):
        data = _deinterleave(data, rif, cif)

    # black & white levels
    nsamp = spp
    rep = tags.num(BLACK_LEVEL_REPEAT_DIM)
    rr, rc = (int(rep[0]), int(rep[1])) if rep is not None and rep.size >= 2 else (1, 1)
    if rr < 1 or rc < 1 or rr > 16 or rc > 16:
        raise CorruptFile(f"BlackLevelRepeatDim {rr}x{rc} is out of range", path)
    bl = tags.num(BLACK_LEVEL)
    if bl is None:
        black = np.zeros((rr, rc, nsamp))
    elif bl.size >= rr * rc * nsamp:
        black = bl[: rr * rc * nsamp].reshape(rr, rc, nsamp)
    elif bl.size == 1:
        black = np.full((rr, rc, nsamp), bl[0])
    else:
        raise CorruptFile(f"BlackLevel has {bl.size} values, expected {rr * rc * nsamp}", path)
    is_float = int(np.atleast_1d(page.sampleformat)[0]) == 3  # SampleFormat 3 = IEEE float
    default_white = 1.0 if is_float else float(2 ** int(np.atleast_1d(page.bitspersample)[0]) - 1)
    wl = tags.num(WHITE_LEVEL)
    white = np.full(nsamp, default_white) if wl is None else (
        np.resize(wl, nsamp) if wl.size < nsamp else wl[:nsamp])
    lin = tags.num(LINEARIZATION_TABLE)
    if lin is not None and lin.size == 0:
        lin = None

    aa = tags.num(ACTIVE_AREA)
    active = None
    if aa is not None and aa.size >= 4:
        t_, l_, b_, r_ = (int(x) for x in aa[:4])
        if not (0 <= t_ < b_ <= shape[0] and 0 <= l_ < r_ <= shape[1]):
            raise CorruptFile(f"ActiveArea {t_, l_, b_, r_} lies outside the {shape[1]}x{shape[0]} "
                              "image", path)
        active = (t_, l_, b_, r_)
    ah = (active[2] - active[0]) if active else shape[0]
    aw = (active[3] - active[1]) if active else shape[1]

    dh = tags.num(BLACK_LEVEL_DELTA_H)
    dv = tags.num(BLACK_LEVEL_DELTA_V)
    if dh is not None and dh.size != aw:
        raise CorruptFile(f"BlackLevelDeltaH has {dh.size} values for an active width of {aw}", path)
    if dv is not None and dv.size != ah:
        raise CorruptFile(f"BlackLevelDeltaV has {dv.size} values for an active height of {ah}", path)

    crop = None
    co, cs = tags.num(DEFAULT_CROP_ORIGIN), tags.num(DEFAULT_CROP_SIZE)
    if co is not None and cs is not None and co.size >= 2 and cs.size >= 2:
        left, top = int(round(co[0])), int(round(co[1]))
        cw, ch = int(round(cs[0])), int(round(cs[1]))
        if cw > 0 and ch > 0 and left >= 0 and top >= 0 and left + cw <= aw and top + ch <= ah:
            crop = (top, left, ch, cw)

    # colour
    ncol = nsamp if photometric == PHOTOMETRIC_LINEAR_RAW else 3
    cm = tuple(_matrix(tags, c, ncol, 3) for c in COLOR_MATRIX)
    fm = tuple(_matrix(tags, c, 3, ncol) for c in FORWARD_MATRIX)
    cc = tuple(_matrix(tags, c, ncol, ncol) for c in CAMERA_CALIBRATION)
    # DNG: CameraCalibration applies only when its signature matches the profile's (both may be absent)
    if tags.text(CAMERA_CALIBRATION_SIGNATURE) != tags.text(PROFILE_CALIBRATION_SIGNATURE):
        cc = (None, None)
    ill = tuple(int(tags.scalar(c, 0) or 0) for c in CALIBRATION_ILLUMINANT)
    ab = tags.num(ANALOG_BALANCE)
    neutral = tags.num(AS_SHOT_NEUTRAL)
    white_xy = tags.num(AS_SHOT_WHITE_XY)
    if neutral is not None and (neutral.size < ncol or np.any(neutral[:ncol] <= 0)):
        raise CorruptFile(f"AsShotNeutral {neutral.tolist()} is not {ncol} positive values", path)
    color = ColorInfo(
        color_matrix=cm,  # type: ignore[arg-type]
        forward_matrix=fm,  # type: ignore[arg-type]
        camera_calibration=cc,  # type: ignore[arg-type]
        calibration_illuminant=ill,  # type: ignore[arg-type]
        analog_balance=ab[:ncol] if ab is not None and ab.size >= ncol else None,
        as_shot_neutral=neutral[:ncol] if neutral is not None else None,
        as_shot_white_xy=(float(white_xy[0]), float(white_xy[1])) if white_xy is not None and white_xy.size >= 2
        else None,
        hue_sat_map=(
            _hue_sat(tags, PROFILE_HUE_SAT_MAP_DIMS, PROFILE_HUE_SAT_MAP_DATA[0], PROFILE_HUE_SAT_MAP_ENCODING),
            _hue_sat(tags, PROFILE_HUE_SAT_MAP_DIMS, PROFILE_HUE_SAT_MAP_DATA[1], PROFILE_HUE_SAT_MAP_ENCODING),
        ),
        look_table=_hue_sat(tags, PROFILE_LOOK_TABLE_DIMS, PROFILE_LOOK_TABLE_DATA, PROFILE_LOOK_TABLE_ENCODING),
        baseline_exposure=float(tags.scalar(BASELINE_EXPOSURE, 0.0) or 0.0),
        baseline_exposure_offset=float(tags.scalar(BASELINE_EXPOSURE_OFFSET, 0.0) or 0.0),
        profile_name=tags.text(PROFILE_NAME),
    )
    if cm[0] is None and cm[1] is None:
        raise UnsupportedFormat("the DNG has no ColorMatrix1/2: its colours cannot be interpreted", path)

    version = ifd0.tags[DNG_VERSION].value
    version = tuple(version) if not isinstance(version, bytes) else tuple(version)
    orientation = int(_Tags(ifd0, ifd0, path).scalar(ORIENTATION, 1) or 1)  # DNG: IFD0 only
    meta = RawMetadata(
        path=path,
        width=shape[1],
        height=shape[0],
        photometric="cfa" if photometric == PHOTOMETRIC_CFA else "linear_raw",
        samples_per_pixel=nsamp,
        cfa_pattern=cfa,
        compression=int(page.compression),
        bits_per_sample=int(np.atleast_1d(page.bitspersample)[0]),
        sample_format="float" if is_float else "uint",
        black_level=black,
        black_level_delta_h=dh,
        black_level_delta_v=dv,
        white_level=white.astype(np.float64),
        linearization_table=lin,
        active_area=active,
        default_crop=crop,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        opcode_lists=tuple(tags.raw_bytes(c) for c in OPCODE_LISTS),  # type: ignore[arg-type]
        color=color,
        exif=_exif(ifd0, tags),
        dng_version=version,
        unique_camera_model=tags.text(UNIQUE_CAMERA_MODEL),
        source="dng",
        extra={"tiled": bool(page.is_tiled), "row_interleave": rif, "column_interleave": cif},
    )
    return data, meta
