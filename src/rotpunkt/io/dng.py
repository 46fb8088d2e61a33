"""Read DNG files (Adobe DNG 1.7) into a :class:`~rotpunkt.types.RawImage`-ready pair (data, metadata).

Built on tifffile + imagecodecs, which decode strips and tiles with compression 1 (none), 7 (lossless
JPEG, LJ92), 8 (deflate), 34892 (lossy JPEG) and 52546 (JPEG XL). This module only finds the main raw
image, checks that its pixel data is really present (LibRaw silently returns zeros when it is not), decodes
it, and turns the DNG tags into typed metadata. No pixel maths happens here.

Tag numbers are those of the DNG 1.7 specification (chapter 4) and TIFF/EP.

Hostile files (issue 6): every number a file declares is checked before anything is allocated or decoded,
in this order:

1. the TIFF structure (:func:`_scan_structure`, before tifffile sees the file): header, every IFD inside
   the file, no IFD reached twice (loops), SubIFDs nested at most ``max_ifd_depth`` deep, at most
   ``max_ifd_entries`` entries per IFD and ``max_ifds`` IFDs, and every value of a tag rotpunkt reads lying
   inside the file (``count x size`` computed without overflow). tifffile looks for IFD loops only every
   100 IFDs (a file whose IFD 0 points to itself kept the reader busy until it was killed) and silently
   drops tags whose values lie outside the file (a StripByteCounts dropped that way decoded garbage);
2. the raw image's geometry (:class:`_Geometry`, :func:`_check_segments`): width, height, samples, bits,
   tiles, rows per strip, against :mod:`rotpunkt.limits` (pixels and decoded bytes); each strip or tile
   inside the file and, when uncompressed, holding all its bytes (tifffile pads short ones with zeros);
   each JPEG / lossless JPEG / JPEG XL segment's own header declaring no more than its tile (read before
   the decoder allocates from it) and each JPEG ending with its EOI marker (libjpeg fills a cut stream
   with grey or zeros and only warns); floating-point samples finite;
3. the tags (:class:`_Tags`): zero denominators, NaN and infinities, singular colour matrices, WhiteLevel
   not above the black level, lookup tables of the wrong size, opcode lists that do not parse.

Each failure raises a :class:`~rotpunkt.errors.RotpunktError` subclass naming the file, the tag and the
value; :class:`~rotpunkt.limits.LimitExceeded` when only a configurable limit is in the way.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np
import tifffile

from ..errors import CorruptFile, InvalidParams, MissingImageData, RotpunktError, UnsupportedFormat
from ..limits import LimitExceeded, Limits
from ..limits import current as current_limits
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


# --- TIFF structure, checked before tifffile reads the file (TIFF 6.0 section 2; BigTIFF) ----------------
IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE, COMPRESSION, PHOTOMETRIC = 256, 257, 258, 259, 262
STRIP_OFFSETS, SAMPLES_PER_PIXEL, ROWS_PER_STRIP, STRIP_BYTE_COUNTS, PLANAR_CONFIG = 273, 277, 278, 279, 284
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_BYTE_COUNTS = 322, 323, 324, 325
SUB_IFDS, SAMPLE_FORMAT = 330, 339
GPS_IFD, INTEROP_IFD = 34853, 40965

#: bytes per value of each TIFF field type (1-12 TIFF 6.0, 13 IFD, 16-18 BigTIFF's LONG8/SLONG8/IFD8)
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8,
               18: 8}
_BYTE_TYPES = {1, 2, 6, 7}  # BYTE, ASCII, SBYTE, UNDEFINED: tifffile keeps them as bytes
_OFFSET_TYPES = {3: "H", 4: "I", 13: "I", 16: "Q", 18: "Q"}
_SEGMENT_TAGS = {STRIP_OFFSETS, STRIP_BYTE_COUNTS, TILE_OFFSETS, TILE_BYTE_COUNTS}

#: Tags this reader uses. A bad type, count or value offset in one of them is an error: tifffile would
#: drop the tag silently and the file would be misread (a missing StripByteCounts, a missing ColorMatrix).
_USED_TAGS = frozenset({
    NEW_SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE, COMPRESSION, PHOTOMETRIC, STRIP_OFFSETS,
    ORIENTATION, SAMPLES_PER_PIXEL, ROWS_PER_STRIP, STRIP_BYTE_COUNTS, PLANAR_CONFIG, 317, TILE_WIDTH,
    TILE_LENGTH, TILE_OFFSETS, TILE_BYTE_COUNTS, SUB_IFDS, SAMPLE_FORMAT, 347, MAKE, MODEL, DATETIME,
    CFA_REPEAT_PATTERN_DIM, CFA_PATTERN, EXIF_IFD, DNG_VERSION, UNIQUE_CAMERA_MODEL, CFA_PLANE_COLOR,
    CFA_LAYOUT, LINEARIZATION_TABLE, BLACK_LEVEL_REPEAT_DIM, BLACK_LEVEL, BLACK_LEVEL_DELTA_H,
    BLACK_LEVEL_DELTA_V, WHITE_LEVEL, DEFAULT_CROP_ORIGIN, DEFAULT_CROP_SIZE, *COLOR_MATRIX,
    *CAMERA_CALIBRATION, ANALOG_BALANCE, AS_SHOT_NEUTRAL, AS_SHOT_WHITE_XY, BASELINE_EXPOSURE,
    *CALIBRATION_ILLUMINANT, ACTIVE_AREA, PROFILE_NAME, PROFILE_HUE_SAT_MAP_DIMS, *PROFILE_HUE_SAT_MAP_DATA,
    ROW_INTERLEAVE_FACTOR, PROFILE_LOOK_TABLE_DIMS, PROFILE_LOOK_TABLE_DATA, *OPCODE_LISTS, *FORWARD_MATRIX,
    PROFILE_HUE_SAT_MAP_ENCODING, PROFILE_LOOK_TABLE_ENCODING, BASELINE_EXPOSURE_OFFSET,
    COLUMN_INTERLEAVE_FACTOR, CAMERA_CALIBRATION_SIGNATURE, PROFILE_CALIBRATION_SIGNATURE,
})


def _tag_name(code: int) -> str:
    name = tifffile.TIFF.TAGS.get(code)
    return f"{name} (tag {code})" if name else f"tag {code}"


class _Walk:
    """One pass over a TIFF's IFDs with the checks listed in the module docstring."""

    def __init__(self, fh: BinaryIO, size: int, path: str, lim: Limits):
        self.fh, self.size, self.path, self.lim = fh, size, path, lim
        self.seen: dict[int, str] = {}

    def read(self, offset: int, n: int) -> bytes:
        self.fh.seek(offset)
        return self.fh.read(n)

    def header(self) -> int:
        """Check the header; set the byte order and offset size; return the first IFD's offset."""
        if self.size == 0:
            raise CorruptFile("the file is empty (0 bytes)", self.path)
        head = self.read(0, 16)
        order = {b"II": "<", b"MM": ">"}.get(head[:2])
        if order is None or len(head) < 8:
            raise CorruptFile(f"not a TIFF/DNG file: it starts with {head[:4]!r}", self.path)
        self.bo = order
        (version,) = struct.unpack(order + "H", head[2:4])
        if version == 42:
            self.big = False
            self.count_fmt, self.entry_fmt, self.off_fmt, self.entry_size = "H", "HHI4s", "I", 12
            return struct.unpack(order + "I", head[4:8])[0]
        if version == 43 and len(head) == 16 and struct.unpack(order + "HH", head[4:8]) == (8, 0):
            self.big = True
            self.count_fmt, self.entry_fmt, self.off_fmt, self.entry_size = "Q", "HHQ8s", "Q", 20
            return struct.unpack(order + "Q", head[8:16])[0]
        raise CorruptFile(f"not a TIFF/DNG file: TIFF version {version} (42 expected)", self.path)

    @property
    def header_size(self) -> int:
        return 16 if self.big else 8

    def entries(self, offset: int, what: str, *, lenient: bool = False) -> list[tuple] | None:
        """The (tag, type, count, field) entries of the IFD at ``offset``; None when ``lenient`` and bad."""
        csize = struct.calcsize(self.count_fmt)
        if offset < self.header_size or offset + csize > self.size:
            if lenient:
                return None
            if offset < self.header_size:
                raise CorruptFile(f"{what} at offset {offset} lies inside the file header", self.path)
            # a SubIFD (the raw image's directory in most DNGs) past the end: a file cut short
            error = MissingImageData if what.startswith("SubIFD") else CorruptFile
            truncated = ": the file is truncated" if error is MissingImageData else ""
            raise error(f"{what} at offset {offset} lies beyond the end of the file ({self.size} bytes)"
                        f"{truncated}", self.path)
        if offset in self.seen:
            if lenient:
                return None
            raise CorruptFile(f"IFD loop: {what} at offset {offset} was already read as {self.seen[offset]}",
                              self.path)
        self.seen[offset] = what
        if len(self.seen) > self.lim.max_ifds:
            raise LimitExceeded(f"the file has more than {self.lim.max_ifds} IFDs (rotpunkt.limits max_ifds)",
                                self.path)
        (n,) = struct.unpack(self.bo + self.count_fmt, self.read(offset, csize))
        end = offset + csize + n * self.entry_size + struct.calcsize(self.off_fmt)
        if end > self.size:
            if lenient:
                return None
            raise CorruptFile(f"{what} at offset {offset} declares {n} entries, which run past the end of "
                              f"the file ({self.size} bytes)", self.path)
        if n > self.lim.max_ifd_entries:
            if lenient:
                return None  # tifffile skips such an IFD too
            raise LimitExceeded(f"{what} at offset {offset} has {n} entries; at most "
                                f"{self.lim.max_ifd_entries} are allowed (rotpunkt.limits max_ifd_entries)",
                                self.path)
        raw = self.read(offset + csize, n * self.entry_size)
        fmt = self.bo + self.entry_fmt
        return [struct.unpack_from(fmt, raw, i * self.entry_size) for i in range(n)]

    def next_offset(self, offset: int, n: int) -> int:
        csize = struct.calcsize(self.count_fmt)
        pos = offset + csize + n * self.entry_size
        return struct.unpack(self.bo + self.off_fmt, self.read(pos, struct.calcsize(self.off_fmt)))[0]

    def check_entry(self, tag: int, typ: int, count: int, field: bytes, what: str, strict: bool) -> list[int]:
        """Check one entry; return the child IFD offsets it points to (SubIFDs, EXIF, GPS, Interop)."""
        used = strict and tag in _USED_TAGS
        size = _TYPE_SIZES.get(typ)
        if size is None:
            if used:
                raise CorruptFile(f"{_tag_name(tag)} in {what} has an unknown field type {typ}", self.path)
            return []  # TIFF 6.0: readers skip fields of unknown types
        nbytes = count * size  # Python integers: no 32-bit wrap-around
        pos = None
        if nbytes > len(field):
            (pos,) = struct.unpack(self.bo + self.off_fmt, field)
            if pos < self.header_size or pos + nbytes > self.size:
                if not used:
                    return []  # tifffile drops the tag; rotpunkt does not read it
                error = MissingImageData if tag in _SEGMENT_TAGS else CorruptFile
                raise error(f"{_tag_name(tag)} in {what}: {count} values of {size} bytes ({nbytes} bytes) at "
                            f"offset {pos} run past the end of the file ({self.size} bytes)", self.path)
        if typ not in _BYTE_TYPES and count > self.lim.max_tag_values:
            raise LimitExceeded(f"{_tag_name(tag)} in {what} holds {count} values; at most "
                                f"{self.lim.max_tag_values} are allowed (rotpunkt.limits max_tag_values)",
                                self.path)
        if tag not in (SUB_IFDS, EXIF_IFD, GPS_IFD, INTEROP_IFD) or count == 0:
            return []
        code = _OFFSET_TYPES.get(typ)
        if code is None:
            if used:
                raise CorruptFile(f"{_tag_name(tag)} in {what} has field type {typ}, not an offset",
                                  self.path)
            return []
        if count > self.lim.max_ifds:
            raise LimitExceeded(f"{_tag_name(tag)} in {what} lists {count} IFDs; at most {self.lim.max_ifds} "
                                "are allowed (rotpunkt.limits max_ifds)", self.path)
        data = field[:nbytes] if pos is None else self.read(pos, nbytes)
        return list(struct.unpack(f"{self.bo}{count}{code}", data))

    def chain(self, first: int, depth: int, what: str) -> None:
        """Walk an IFD chain (next-IFD pointers) and, depth first, the SubIFDs of each IFD in it."""
        offset, index = first, 0
        while offset:
            label = what if index == 0 else f"IFD {index} of the chain that starts with {what}"
            entries = self.entries(offset, label)
            assert entries is not None  # strict: entries() raises instead
            children = []
            for tag, typ, count, field in entries:
                for child in self.check_entry(tag, typ, count, field, label, strict=True):
                    children.append((tag, child))
            for k, (tag, child) in enumerate(children):
                if tag == SUB_IFDS:
                    if depth + 1 > self.lim.max_ifd_depth:
                        raise LimitExceeded(f"SubIFDs are nested more than {self.lim.max_ifd_depth} deep "
                                            "(rotpunkt.limits max_ifd_depth)", self.path)
                    self.chain(child, depth + 1, f"SubIFD {k + 1} of {label}")
                else:  # EXIF, GPS, Interop: one IFD each (tifffile reads no chain there), problems ignored
                    self.exif(child, f"the {_tag_name(tag)} IFD of {label}")
            offset = self.next_offset(offset, len(entries))
            index += 1

    def exif(self, offset: int, what: str) -> None:
        entries = self.entries(offset, what, lenient=True)
        for tag, typ, count, field in entries or ():
            for child in self.check_entry(tag, typ, count, field, what, strict=False):
                if tag == INTEROP_IFD:
                    self.entries(child, f"the Interoperability IFD of {what}", lenient=True)


def _scan_structure(fh: BinaryIO, size: int, path: str, lim: Limits) -> None:
    """Check a TIFF's structure (module docstring, step 1) before tifffile parses it.

    A TIFF that is not a DNG (no DNGVersion in IFD 0) gets only the checks needed to read IFD 0, then
    ``UnsupportedFormat("not a DNG ...")``, so that other TIFF-based raws go on to LibRaw untouched.
    """
    walk = _Walk(fh, size, path, lim)
    first = walk.header()
    if first == 0:
        raise CorruptFile("the TIFF header points to no IFD (offset 0)", path)
    entries = walk.entries(first, "IFD 0")
    if not any(e[0] == DNG_VERSION for e in entries or ()):
        raise UnsupportedFormat("not a DNG (no DNGVersion tag)", path)
    walk.seen.clear()
    walk.chain(first, 0, "IFD 0")


# --- tag value helpers ------------------------------------------------------------------------------
def _numbers(tag: tifffile.TiffTag, path: str | None = None) -> np.ndarray:
    """A tag's value as a flat float64 array; RATIONAL/SRATIONAL (types 5, 10) become num/den.

    A non-zero numerator over a zero denominator, NaN or an infinity raises CorruptFile naming the tag and
    the value.
    """
    v = tag.value
    if isinstance(v, bytes):
        return np.frombuffer(v, np.uint8).astype(np.float64)
    try:
        arr = np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        raise CorruptFile(f"{_tag_name(tag.code)} holds {str(v)[:40]!r}, not numbers", path) from None
    if int(tag.dtype) in (5, 10):
        num, den = arr[0::2], arr[1::2]
        # 0/0 reads as 0, as the DNG SDK's dng_urational/dng_srational::As_real64 do (writers use it for
        # "unset", e.g. Magic Lantern's BaselineExposure); n/0 with n != 0 is an infinite value
        zero = np.flatnonzero((den == 0) & (num != 0))
        if zero.size:
            k = int(zero[0])
            raise CorruptFile(f"{_tag_name(tag.code)} value {k + 1} is {num[k]:g}/0: a rational with a zero "
                              "denominator", path)
        arr = num / np.where(den == 0, 1.0, den)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        k = int(bad[0])
        raise CorruptFile(f"{_tag_name(tag.code)} value {k + 1} is {arr[k]}: not a finite number", path)
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
        arr = _numbers(t, self.path)
        if count is not None and arr.size < count:
            raise CorruptFile(f"{_tag_name(code)} has {arr.size} values, expected {count}", self.path)
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
        try:
            return np.asarray(v, dtype=np.uint8).tobytes()
        except (TypeError, ValueError, OverflowError):
            raise CorruptFile(f"{_tag_name(code)} is not a byte string", self.path) from None


# --- finding the main image -------------------------------------------------------------------------
def _all_pages(tif: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    out = []
    for page in tif.pages:
        out.append(page)
        for sub in page.pages or ():
            out.append(sub)
    return out


def _first_int(page: tifffile.TiffPage, code: int, default: int | None = None) -> int | None:
    """The first value of an integer tag of ``page`` (as stored, before tifffile's interpretation)."""
    t = page.tags.get(code)
    if t is None:
        return default
    v = t.value
    if isinstance(v, (bytes, str)) or (isinstance(v, tuple) and not v):
        return default
    try:
        return int(np.atleast_1d(np.asarray(v)).ravel()[0])
    except (TypeError, ValueError, IndexError, OverflowError):
        return default


def _find_main(tif: tifffile.TiffFile, path: str) -> tifffile.TiffPage:
    """The main raw image: NewSubFileType 0 with CFA or LinearRaw photometric (IFD0 or a SubIFD)."""
    candidates = []
    for page in _all_pages(tif):
        subtype = _first_int(page, NEW_SUBFILE_TYPE, 0)
        photometric = _first_int(page, PHOTOMETRIC, -1)
        if subtype == 0 and photometric in (PHOTOMETRIC_CFA, PHOTOMETRIC_LINEAR_RAW):
            candidates.append(page)
    if not candidates:
        raise UnsupportedFormat("no raw image (NewSubFileType 0, CFA or LinearRaw) found in this DNG", path)

    def pixels(p: tifffile.TiffPage) -> int:
        return (_first_int(p, IMAGE_WIDTH, 0) or 0) * (_first_int(p, IMAGE_LENGTH, 0) or 0)

    # the largest full-resolution candidate wins
    return max(candidates, key=pixels)


# --- the raw image's geometry and pixel data --------------------------------------------------------
class _Geometry:
    """The raw image's declared layout, checked: sizes, samples, bits, tiles or strips (step 2)."""

    def __init__(self, page: tifffile.TiffPage, path: str):
        def required(code: int) -> int:
            v = _first_int(page, code)
            if v is None:
                raise CorruptFile(f"the raw image has no {_tag_name(code)}", path)
            return v

        self.width, self.height = required(IMAGE_WIDTH), required(IMAGE_LENGTH)
        for code, v in ((IMAGE_WIDTH, self.width), (IMAGE_LENGTH, self.height)):
            if v < 1:
                raise CorruptFile(f"{_tag_name(code)} is {v}: the raw image is empty", path)
        self.spp = _first_int(page, SAMPLES_PER_PIXEL, 1)
        if self.spp < 1:
            raise CorruptFile(f"{_tag_name(SAMPLES_PER_PIXEL)} is {self.spp}: at least 1 is needed", path)
        bits_tag = page.tags.get(BITS_PER_SAMPLE)
        bits = [1] if bits_tag is None else \
            [int(b) for b in np.atleast_1d(np.asarray(bits_tag.value)).ravel()]
        bad = [b for b in bits if not 1 <= b <= 32]
        if bad or not bits:
            raise CorruptFile(f"{_tag_name(BITS_PER_SAMPLE)} is {bad[0] if bad else 'empty'}: raw samples "
                              "have 1 to 32 bits", path)
        if len(set(bits)) > 1:
            raise UnsupportedFormat(f"{_tag_name(BITS_PER_SAMPLE)} differs between samples: {bits}", path)
        self.bits = bits[0]
        self.sample_format = _first_int(page, SAMPLE_FORMAT, 1)
        if self.sample_format not in (1, 2, 3):
            raise UnsupportedFormat(f"{_tag_name(SAMPLE_FORMAT)} {self.sample_format} (1 unsigned, 2 signed, "
                                    "3 float supported)", path)
        if self.sample_format == 3 and self.bits not in (16, 24, 32):
            raise UnsupportedFormat(f"floating-point samples of {self.bits} bits (16, 24 or 32 supported)",
                                    path)
        self.compression = _first_int(page, COMPRESSION, 1)
        self.planar = _first_int(page, PLANAR_CONFIG, 1)
        if self.planar not in (1, 2):
            raise CorruptFile(f"{_tag_name(PLANAR_CONFIG)} is {self.planar} (1 or 2)", path)
        self.tiled = TILE_WIDTH in page.tags or TILE_LENGTH in page.tags or TILE_OFFSETS in page.tags
        planes = self.spp if self.planar == 2 else 1
        self.seg_samples = 1 if self.planar == 2 else self.spp  # samples per pixel within one segment
        if self.tiled:
            self.tile_w, self.tile_h = _first_int(page, TILE_WIDTH, 0), _first_int(page, TILE_LENGTH, 0)
            for code, v in ((TILE_WIDTH, self.tile_w), (TILE_LENGTH, self.tile_h)):
                if v < 1:
                    raise CorruptFile(f"{_tag_name(code)} is {v}: tiles must be at least 1 pixel", path)
            self.across = -(-self.width // self.tile_w)
            self.down = -(-self.height // self.tile_h)
            self.segments = self.across * self.down * planes
            self.rows_per_strip = 0
        else:
            rps = _first_int(page, ROWS_PER_STRIP, 2**32 - 1)
            if rps < 1:
                raise CorruptFile(f"{_tag_name(ROWS_PER_STRIP)} is {rps}: strips need at least 1 row", path)
            self.rows_per_strip = min(rps, self.height)
            self.strips_per_plane = -(-self.height // self.rows_per_strip)
            self.segments = self.strips_per_plane * planes
        self.kind = "tiles" if self.tiled else "strips"

    @property
    def decoded_itemsize(self) -> int:
        """Bytes per sample of the array read_dng returns (float16 and signed integers become float32)."""
        if self.sample_format != 1 or self.bits > 16:
            return 4
        return 2 if self.bits > 8 else 1

    def segment_shape(self, index: int) -> tuple[int, int, int]:
        """(rows, columns, samples) segment ``index`` holds (tiles are whole even at the image's edges)."""
        if self.tiled:
            return self.tile_h, self.tile_w, self.seg_samples
        strip = index % self.strips_per_plane
        rows = min(self.rows_per_strip, self.height - strip * self.rows_per_strip)
        return rows, self.width, self.seg_samples

    def check_limits(self, lim: Limits, path: str) -> None:
        pixels = self.width * self.height
        if pixels > lim.max_pixels:
            raise LimitExceeded(f"the raw image is {self.width} x {self.height} = {pixels} pixels; the limit "
                                f"is {lim.max_pixels} (rotpunkt.limits max_pixels)", path)
        nbytes = pixels * self.spp * self.decoded_itemsize
        if nbytes > lim.max_decoded_bytes:
            raise LimitExceeded(f"the raw image ({self.width} x {self.height} x {self.spp} samples) decodes "
                                f"to {nbytes} bytes; the limit is {lim.max_decoded_bytes} "
                                "(rotpunkt.limits max_decoded_bytes)", path)
        if self.tiled:
            tile_pixels = self.tile_w * self.tile_h
            tile_bytes = tile_pixels * self.seg_samples * self.decoded_itemsize
            if tile_pixels > lim.max_pixels or tile_bytes > lim.max_decoded_bytes:
                raise LimitExceeded(f"tiles of {self.tile_w} x {self.tile_h} pixels ({tile_bytes} bytes "
                                    f"each) exceed the limits of {lim.max_pixels} pixels / "
                                    f"{lim.max_decoded_bytes} bytes (rotpunkt.limits)", path)


_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_LOSSLESS_SOF = frozenset({0xC3, 0xC7, 0xCB, 0xCF})  # ITU-T T.81 table B.1: the lossless processes
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"  # ISO/IEC 18181-2 signature box
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _read_at(fh: BinaryIO, offset: int, n: int) -> bytes:
    fh.seek(offset)
    return fh.read(n)


def _jpeg_frame(fh: BinaryIO, offset: int, count: int, what: str, path: str) -> tuple[int, int, int, int]:
    """(SOF marker, lines, samples per line, components) of the JPEG stream of a segment (T.81 annex B)."""
    end = offset + count
    if _read_at(fh, offset, 2) != b"\xff\xd8":
        raise CorruptFile(f"{what} is not a JPEG stream (no SOI marker)", path)
    pos = offset + 2
    for _ in range(4096):
        b = _read_at(fh, pos, 4) if pos + 4 <= end else b""
        if len(b) < 4:
            break
        if b[0] != 0xFF:
            raise CorruptFile(f"{what}: a JPEG marker was expected at byte {pos - offset}", path)
        marker = b[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):
            break
        length = struct.unpack(">H", b[2:4])[0]
        if length < 2:
            raise CorruptFile(f"{what}: JPEG segment length {length} at byte {pos - offset}", path)
        if marker in _SOF_MARKERS:
            f = _read_at(fh, pos + 4, 6) if pos + 10 <= end else b""
            if len(f) < 6:
                break
            _precision, lines, cols, comps = struct.unpack(">BHHB", f)
            return marker, lines, cols, comps
        pos += 2 + length
    raise CorruptFile(f"{what}: the JPEG stream has no frame header (SOF) before its scan data", path)


def _jpeg_complete(fh: BinaryIO, offset: int, count: int) -> bool:
    """Whether a JPEG stream ends with its EOI marker (trailing zero padding allowed)."""
    tail = _read_at(fh, offset + max(count - 64, 0), min(count, 64)).rstrip(b"\0")
    return tail.endswith(b"\xff\xd9")


def _jxl_size(fh: BinaryIO, offset: int, count: int, what: str, path: str) -> tuple[int, int]:
    """(height, width) declared by a JPEG XL segment's SizeHeader (ISO/IEC 18181-1, SizeHeader; bare
    codestream or ISO/IEC 18181-2 container), read before the decoder allocates from it."""
    end = offset + count
    head = _read_at(fh, offset, min(count, 64))
    if head[:12] == _JXL_CONTAINER:
        pos, head = offset, b""
        for _ in range(64):
            box = _read_at(fh, pos, 16) if pos + 8 <= end else b""
            if len(box) < 8:
                break
            size, kind = struct.unpack(">I4s", box[:8])
            header = 8
            if size == 1 and len(box) == 16:
                size, header = struct.unpack(">Q", box[8:16])[0], 16
            elif size == 0:
                size = end - pos
            if size < header:
                break
            if kind in (b"jxlc", b"jxlp"):
                start = pos + header + (4 if kind == b"jxlp" else 0)  # jxlp boxes begin with a sequence index
                head = _read_at(fh, start, min(64, max(end - start, 0)))
                break
            pos += size
    if head[:2] != b"\xff\x0a":
        raise CorruptFile(f"{what} is not a JPEG XL codestream", path)
    bits = np.unpackbits(np.frombuffer(head, np.uint8), bitorder="little")
    pos = 16

    def u(n: int) -> int:
        nonlocal pos
        if pos + n > bits.size:
            raise CorruptFile(f"{what}: the JPEG XL size header is truncated", path)
        v = int(np.dot(bits[pos : pos + n].astype(np.int64), 1 << np.arange(n, dtype=np.int64))) if n else 0
        pos += n
        return v

    def u32() -> int:
        return 1 + u((9, 13, 18, 30)[u(2)])

    div8 = u(1)
    height = 8 * (1 + u(5)) if div8 else u32()
    ratio = u(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        width = height * num // den
    else:
        width = 8 * (1 + u(5)) if div8 else u32()
    return height, width


def _check_segments(fh: BinaryIO, page: tifffile.TiffPage, g: _Geometry, file_size: int, path: str) -> None:
    """Refuse pixel data that is absent, runs past the end of the file, is cut short, or whose codec header
    declares more pixels than its strip or tile (step 2 of the module docstring)."""
    offsets = np.asarray(page.dataoffsets, dtype=np.int64).ravel()
    counts = np.asarray(page.databytecounts, dtype=np.int64).ravel()
    kind, one = g.kind, g.kind[:-1]
    if offsets.size == 0:
        raise MissingImageData("the raw image has no strip or tile offsets: its pixel data is absent", path)
    expected = g.segments
    if offsets.size < expected or counts.size < expected:
        raise MissingImageData(
            f"the raw image needs {expected} {kind} but the file lists only "
            f"{min(offsets.size, counts.size)}: its pixel data is missing", path)
    offsets, counts = offsets[:expected], counts[:expected]
    empty = int(np.count_nonzero(counts <= 0))
    if empty:
        raise MissingImageData(f"{empty} of {expected} raw {kind} are empty: the pixel data is missing", path)
    past = int(np.count_nonzero(offsets + counts > file_size))
    if past:
        raise MissingImageData(
            f"{past} of {expected} raw {kind} lie beyond the end of the file ({file_size} bytes): "
            "the file is truncated or its pixel data was removed", path)
    inside = int(np.count_nonzero(offsets < 8))
    if inside:
        raise MissingImageData(f"{inside} of {expected} raw {kind} start inside the file header "
                               "(offset < 8): the pixel data is missing", path)
    if g.compression == 1:
        for i in range(expected):
            rows, cols, samples = g.segment_shape(i)
            need = rows * -(-cols * samples * g.bits // 8)
            if counts[i] < need:
                raise MissingImageData(
                    f"raw {one} {i} holds {int(counts[i])} bytes but its {rows} rows of {cols} x {samples} "
                    f"{g.bits}-bit samples need {need}: the pixel data is truncated", path)
    elif g.compression in (7, 34892):
        for i in range(expected):
            rows, cols, samples = g.segment_shape(i)
            what = f"raw {one} {i}"
            marker, lines, width, comps = _jpeg_frame(fh, int(offsets[i]), int(counts[i]), what, path)
            if marker in _LOSSLESS_SOF:
                # DNG: a lossless JPEG segment may be laid out differently (e.g. 2 components of half the
                # width), but it holds exactly the segment's samples (the last strip may be full height)
                declared = lines * width * comps
                full = (g.tile_h if g.tiled else g.rows_per_strip) * cols * samples
                if not rows * cols * samples <= declared <= full:
                    raise CorruptFile(
                        f"{what}: its lossless JPEG header declares {lines}x{width}x{comps} samples but the "
                        f"{one} holds {rows}x{cols}x{samples}", path)
            elif not 1 <= lines <= (g.tile_h if g.tiled else g.rows_per_strip) or not 1 <= width <= cols \
                    or not 1 <= comps <= 4:
                raise CorruptFile(f"{what}: its JPEG header declares {width} x {lines} pixels x {comps} "
                                  f"components for a {cols} x {rows} {one}", path)
            if not _jpeg_complete(fh, int(offsets[i]), int(counts[i])):
                raise CorruptFile(f"{what}: the JPEG stream has no end marker: the data is cut short", path)
    elif g.compression == 52546:
        for i in range(expected):
            rows, cols, _ = g.segment_shape(i)
            what = f"raw {one} {i}"
            h, w = _jxl_size(fh, int(offsets[i]), int(counts[i]), what, path)
            if h * w > rows * cols or max(h, w) > max(rows, cols):
                raise CorruptFile(f"{what}: its JPEG XL header declares {w} x {h} pixels for a {cols} x "
                                  f"{rows} {one}", path)


def _decode(page: tifffile.TiffPage, g: _Geometry, path: str) -> np.ndarray:
    try:
        with _quiet_tifffile():
            data = page.asarray(maxworkers=2)
    except RotpunktError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # imagecodecs / tifffile raise many types for damaged data
        raise CorruptFile(
            f"raw image data could not be decoded ({SUPPORTED_COMPRESSION[g.compression]}): "
            f"{type(exc).__name__}: {exc}", path) from exc
    shape = (g.height, g.width) if g.spp == 1 else (g.height, g.width, g.spp)
    squeezed = data.shape if data.ndim != 3 or data.shape[2] != 1 or g.spp != 1 else data.shape[:2]
    if squeezed != shape:
        raise CorruptFile(f"raw image data decoded to shape {data.shape}, expected {shape}", path)
    return data


def _check_finite(data: np.ndarray, path: str, rows: int = 256) -> None:
    """Refuse floating-point raw samples that are NaN or infinite (checked in row strips: no big
    temporary)."""
    for y in range(0, data.shape[0], rows):
        strip = data[y : y + rows]
        if not np.isfinite(strip).all():
            bad = np.argwhere(~np.isfinite(strip))[0]
            where = (int(bad[0]) + y, *(int(b) for b in bad[1:]))
            raise CorruptFile(f"raw sample {where} is {strip[tuple(bad)]}: floating-point samples must be "
                              "finite", path)


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


# --- colour tags --------------------------------------------------------------------------------------
def _matrix(tags: _Tags, code: int, rows: int, cols: int) -> np.ndarray | None:
    """A colour matrix tag as a (rows, cols) array; a singular one is refused (the colour model inverts
    ColorMatrix and CameraCalibration and needs a ForwardMatrix of full rank)."""
    arr = tags.num(code)
    if arr is None:
        return None
    if arr.size < rows * cols:
        raise CorruptFile(f"{_tag_name(code)} holds {arr.size} values, a {rows}x{cols} matrix needs "
                          f"{rows * cols}", tags.path)
    m = arr[: rows * cols].reshape(rows, cols)
    with np.errstate(all="ignore"):
        cond = np.linalg.cond(m)
    if not cond < 1e12:  # the threshold of stages.colour._inverse
        raise CorruptFile(f"{_tag_name(code)} {np.round(m, 4).tolist()} is singular: the camera colours "
                          "cannot be mapped through it", tags.path)
    return m


def _hue_sat(tags: _Tags, dims_code: int, data_code: int, enc_code: int) -> HueSatMap | None:
    """A ProfileHueSatMap / ProfileLookTable: the data must hold exactly hues x sats x values x 3 numbers."""
    dims = tags.num(dims_code)
    data = tags.num(data_code)
    if dims is None or data is None:
        return None
    if dims.size not in (2, 3):
        raise CorruptFile(f"{_tag_name(dims_code)} holds {dims.size} values; 3 (hues, saturations, values) "
                          "are needed", tags.path)
    h, s = int(dims[0]), int(dims[1])
    v = int(dims[2]) if dims.size > 2 else 1
    if h < 1 or s < 2 or v < 1:
        raise CorruptFile(f"{_tag_name(dims_code)} is {h}x{s}x{v}: at least 1 hue, 2 saturation and 1 value "
                          "divisions are needed", tags.path)
    need = h * s * v * 3
    if data.size != need:
        raise CorruptFile(f"{_tag_name(data_code)} holds {data.size} values but {_tag_name(dims_code)} "
                          f"{h}x{s}x{v} needs {need}", tags.path)
    table = data.reshape(v, h, s, 3).astype(np.float32)
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
            f = float(v) if v is not None else None
        except (TypeError, ValueError, OverflowError):
            return None
        return f if f is not None and math.isfinite(f) else None

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


@contextmanager
def _checked_tiff(path: str):
    """``path`` opened as TIFF after its structure was walked (the hostile-file checks, before tifffile
    parses anything): yields (tifffile.TiffFile, the open file, its size, the current limits)."""
    lim = current_limits()
    file_size = os.path.getsize(path)
    with open(path, "rb") as fh:
        _scan_structure(fh, file_size, path, lim)
        fh.seek(0)
        with _quiet_tifffile(), tifffile.TiffFile(fh) as tif:
            yield tif, fh, file_size, lim


def read_dng(path: str | os.PathLike, *, decode: bool = True) -> tuple[np.ndarray | None, RawMetadata]:
    """Read a DNG's main raw image and its metadata.

    Returns
    -------
    data : ndarray
        The stored samples, uncropped, as decoded: (H, W) for CFA, (H, W, C) for LinearRaw; integer
        (uint8/uint16/uint32) or float (float16 is widened to float32).
    meta : RawMetadata

    With ``decode=False`` only the metadata is read (``data`` is None): for ``rotpunkt info``. The TIFF
    structure and the tags are checked either way; the pixel data, its codec headers and the size limits
    (:mod:`rotpunkt.limits`) only when decoding.

    Raises
    ------
    UnsupportedFormat, CorruptFile, MissingImageData, rotpunkt.limits.LimitExceeded
        Each naming ``path``.
    """
    path = os.fspath(path)
    try:
        with _checked_tiff(path) as (tif, fh, file_size, lim):
            return _read(tif, fh, path, file_size, decode, lim)
    except RotpunktError:
        raise
    except FileNotFoundError as exc:
        raise RotpunktError("file not found", path) from exc
    except IsADirectoryError as exc:
        raise RotpunktError("is a directory, not a raw file", path) from exc
    except PermissionError as exc:
        raise RotpunktError("permission denied", path) from exc
    except tifffile.TiffFileError as exc:
        raise CorruptFile(f"not a readable TIFF/DNG file: {exc}", path) from exc
    except (ValueError, TypeError, IndexError, KeyError, struct.error, OverflowError) as exc:
        raise CorruptFile(f"damaged DNG structure: {type(exc).__name__}: {exc}", path) from exc


#: PreviewColorSpace (DNG 1.2, tag 50970) values
_PREVIEW_SPACES = {0: "srgb", 1: "gray gamma 2.2", 2: "srgb", 3: "adobe rgb", 4: "prophoto"}


def embedded_preview(path: str | os.PathLike) -> np.ndarray:
    """The largest 8-bit colour preview a DNG embeds (NewSubFileType 1: reduced resolution, in IFD 0 or a
    SubIFD; uncompressed RGB or JPEG), as float32 (h, w, 3) in [0, 1], sRGB-encoded.

    Raises MissingImageData when the file has none, UnsupportedFormat when its PreviewColorSpace is not
    sRGB, CorruptFile when it cannot be decoded; each naming ``path``. The file is only read."""
    path = os.fspath(path)
    try:
        with _checked_tiff(path) as (tif, _fh, _size, lim):
            pages = [pg for pg in _all_pages(tif)
                     if (_first_int(pg, 254, 0) or 0) & 1 and pg.bitspersample == 8
                     and pg.samplesperpixel >= 3 and pg.compression in (1, 6, 7)
                     and int(pg.photometric) in (2, 6)]  # RGB, YCbCr
            if not pages:
                raise MissingImageData("no 8-bit colour preview is embedded (NewSubFileType 1)", path)
            best = max(pages, key=lambda pg: pg.imagelength * pg.imagewidth)
            if best.imagelength * best.imagewidth * 3 > lim.max_decoded_bytes:
                raise LimitExceeded(f"preview of {best.imagewidth} x {best.imagelength} is beyond the limits",
                                    path)
            space = _PREVIEW_SPACES.get(_first_int(tif.pages[0], 50970, 0), "unknown")
            if space != "srgb":
                raise UnsupportedFormat(f"the embedded preview is in {space} (PreviewColorSpace), not sRGB",
                                        path)
            rgb = np.asarray(best.asarray())
    except RotpunktError:
        raise
    except FileNotFoundError as exc:
        raise RotpunktError("file not found", path) from exc
    except (tifffile.TiffFileError, ValueError, TypeError, IndexError, KeyError, struct.error, OverflowError,
            RuntimeError) as exc:
        raise CorruptFile(f"the embedded preview cannot be decoded: {type(exc).__name__}: {exc}", path) from exc
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise CorruptFile(f"the embedded preview has shape {rgb.shape}, not (h, w, 3)", path)
    return rgb[..., :3].astype(np.float32) / np.float32(255.0)


def _levels(tags: _Tags, g: _Geometry, nsamp: int, active, path: str):
    """BlackLevel (rr, rc, samples), BlackLevelDeltaH/V and WhiteLevel (samples,), checked: the white level
    must lie above the highest black any pixel gets (DNG 1.7 chapter 5, "Linearization")."""
    rep = tags.num(BLACK_LEVEL_REPEAT_DIM)
    rr, rc = (int(rep[0]), int(rep[1])) if rep is not None and rep.size >= 2 else (1, 1)
    if rr < 1 or rc < 1 or rr > 16 or rc > 16:
        raise CorruptFile(f"{_tag_name(BLACK_LEVEL_REPEAT_DIM)} {rr}x{rc} is out of range (1 to 16)", path)
    bl = tags.num(BLACK_LEVEL)
    if bl is None:
        black = np.zeros((rr, rc, nsamp))
    elif bl.size >= rr * rc * nsamp:
        black = bl[: rr * rc * nsamp].reshape(rr, rc, nsamp)
    elif bl.size == 1:
        black = np.full((rr, rc, nsamp), bl[0])
    else:
        raise CorruptFile(f"{_tag_name(BLACK_LEVEL)} has {bl.size} values, expected {rr * rc * nsamp}", path)
    is_float = g.sample_format == 3
    default_white = 1.0 if is_float else float(2 ** g.bits - 1)
    wl = tags.num(WHITE_LEVEL)
    if wl is not None and wl.size == 0:
        wl = None
    white = np.full(nsamp, default_white) if wl is None else (
        np.resize(wl, nsamp) if wl.size < nsamp else wl[:nsamp])

    ah = (active[2] - active[0]) if active else g.height
    aw = (active[3] - active[1]) if active else g.width
    dh = tags.num(BLACK_LEVEL_DELTA_H)
    dv = tags.num(BLACK_LEVEL_DELTA_V)
    if dh is not None and dh.size != aw:
        raise CorruptFile(f"{_tag_name(BLACK_LEVEL_DELTA_H)} has {dh.size} values for an active width of "
                          f"{aw}", path)
    if dv is not None and dv.size != ah:
        raise CorruptFile(f"{_tag_name(BLACK_LEVEL_DELTA_V)} has {dv.size} values for an active height of "
                          f"{ah}", path)
    # highest black of each pattern site: the site's level plus the largest delta of its columns / rows
    top = black.copy()
    for j in range(rc):
        if dh is not None and dh[j::rc].size:
            top[:, j, :] += dh[j::rc].max()
    for i in range(rr):
        if dv is not None and dv[i::rr].size:
            top[i, :, :] += dv[i::rr].max()
    for s in range(nsamp):
        hi = float(top[:, :, s].max())
        if not white[s] > hi:
            deltas = " plus BlackLevelDeltaH/V" if dh is not None or dv is not None else ""
            where = f" of sample {s}" if nsamp > 1 else ""
            level = float(black[:, :, s].max())
            raise CorruptFile(f"{_tag_name(WHITE_LEVEL)} {white[s]:g}{where} is not above "
                              f"{_tag_name(BLACK_LEVEL)} {level:g}{deltas} (up to {hi:g})", path)
    return black, dh, dv, white


def _read(tif: tifffile.TiffFile, fh: BinaryIO, path: str, file_size: int, decode: bool, lim: Limits):
    ifd0 = tif.pages[0]
    if DNG_VERSION not in ifd0.tags:
        raise UnsupportedFormat("not a DNG (no DNGVersion tag)", path)
    page = _find_main(tif, path)
    tags = _Tags(page, ifd0, path)
    photometric = _first_int(page, PHOTOMETRIC)
    g = _Geometry(page, path)
    spp = g.spp
    h, w = g.height, g.width
    if g.compression not in SUPPORTED_COMPRESSION:
        name = COMPRESSION_NAMES.get(g.compression, str(g.compression))
        raise UnsupportedFormat(f"raw image compression {name} is not supported", path)

    # CFA description
    cfa = None
    if photometric == PHOTOMETRIC_CFA:
        if spp != 1:
            raise UnsupportedFormat(f"CFA image with {_tag_name(SAMPLES_PER_PIXEL)} {spp} (1 expected)", path)
        dims = tags.num(CFA_REPEAT_PATTERN_DIM, 2)
        pattern = tags.num(CFA_PATTERN)
        if dims is None or pattern is None:
            raise CorruptFile("CFA image without CFARepeatPatternDim/CFAPattern", path)
        r, c = int(dims[0]), int(dims[1])
        if r < 1 or c < 1:
            raise CorruptFile(f"{_tag_name(CFA_REPEAT_PATTERN_DIM)} is {r}x{c}: an empty pattern", path)
        if r > 8 or c > 8:  # kMaxCFAPattern of the DNG SDK (dng_sdk_limits.h)
            raise UnsupportedFormat(f"{_tag_name(CFA_REPEAT_PATTERN_DIM)} is {r}x{c}: patterns up to 8x8 are "
                                    "supported", path)
        if pattern.size < r * c:
            raise CorruptFile(f"{_tag_name(CFA_PATTERN)} has {pattern.size} entries for a {r}x{c} repeat "
                              f"({_tag_name(CFA_REPEAT_PATTERN_DIM)})", path)
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
        missing = [name for i, name in enumerate(("red", "green", "blue")) if i not in cfa]
        if missing:
            raise UnsupportedFormat(f"{_tag_name(CFA_PATTERN)} {codes.tolist()} has no "
                                    f"{' or '.join(missing)} sites: a colour image needs all three", path)
        layout = tags.scalar(CFA_LAYOUT, 1)
        if layout not in (1, None):
            raise UnsupportedFormat(f"CFALayout {int(layout)} (non-rectangular sensor) is not supported", path)
    elif photometric == PHOTOMETRIC_LINEAR_RAW:
        if spp not in (1, 3, 4):
            raise UnsupportedFormat(f"LinearRaw image with {_tag_name(SAMPLES_PER_PIXEL)} {spp} (1, 3 or 4 "
                                    "supported)", path)
    else:  # pragma: no cover - filtered in _find_main
        raise UnsupportedFormat(f"photometric interpretation {photometric}", path)

    rif = int(tags.scalar(ROW_INTERLEAVE_FACTOR, 1) or 1)
    cif = int(tags.scalar(COLUMN_INTERLEAVE_FACTOR, 1) or 1)
    if rif < 1 or cif < 1 or rif > h or cif > w:
        raise CorruptFile(f"interleave factors {rif} (rows) x {cif} (columns) do not fit the {w}x{h} image",
                          path)

    aa = tags.num(ACTIVE_AREA)
    active = None
    if aa is not None and aa.size >= 4:
        t_, l_, b_, r_ = (int(x) for x in aa[:4])
        if not (0 <= t_ < b_ <= h and 0 <= l_ < r_ <= w):
            raise CorruptFile(f"{_tag_name(ACTIVE_AREA)} {t_, l_, b_, r_} lies outside the {w}x{h} image",
                              path)
        active = (t_, l_, b_, r_)
    ah = (active[2] - active[0]) if active else h
    aw = (active[3] - active[1]) if active else w

    # black & white levels
    nsamp = spp
    black, dh, dv, white = _levels(tags, g, nsamp, active, path)
    lin = tags.num(LINEARIZATION_TABLE)
    if lin is not None and not 1 <= lin.size <= 65536:
        raise CorruptFile(f"{_tag_name(LINEARIZATION_TABLE)} has {lin.size} entries (1 to 65536 allowed)",
                          path)

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
    if ab is not None and np.any(ab[:ncol] <= 0):
        raise CorruptFile(f"{_tag_name(ANALOG_BALANCE)} {ab.tolist()} is not {ncol} positive values", path)
    neutral = tags.num(AS_SHOT_NEUTRAL)
    white_xy = tags.num(AS_SHOT_WHITE_XY)
    if neutral is not None and (neutral.size < ncol or np.any(neutral[:ncol] <= 0)):
        raise CorruptFile(f"{_tag_name(AS_SHOT_NEUTRAL)} {neutral.tolist()} is not {ncol} positive values", path)
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

    opcode_lists = tuple(tags.raw_bytes(c) for c in OPCODE_LISTS)
    _check_opcode_lists(opcode_lists, path)

    if decode:
        g.check_limits(lim, path)
        _check_segments(fh, page, g, file_size, path)
        data = _decode(page, g, path)
        if data.ndim == 3 and spp == 1:
            data = data[..., 0]
        if data.dtype == np.float16:
            data = data.astype(np.float32)
        if data.dtype.kind not in "uif":
            raise UnsupportedFormat(f"sample type {data.dtype}", path)
        if data.dtype.kind == "i":
            data = data.astype(np.float32)
        if data.dtype.kind == "f":
            _check_finite(data, path)
        if rif > 1 or cif > 1:
            data = _deinterleave(data, rif, cif)
    else:
        data = None

    version = ifd0.tags[DNG_VERSION].value
    version = tuple(version) if not isinstance(version, bytes) else tuple(version)
    orientation = int(_Tags(ifd0, ifd0, path).scalar(ORIENTATION, 1) or 1)  # DNG: IFD0 only
    meta = RawMetadata(
        path=path,
        width=w,
        height=h,
        photometric="cfa" if photometric == PHOTOMETRIC_CFA else "linear_raw",
        samples_per_pixel=nsamp,
        cfa_pattern=cfa,
        compression=g.compression,
        bits_per_sample=g.bits,
        sample_format="float" if g.sample_format == 3 else "uint",
        black_level=black,
        black_level_delta_h=dh,
        black_level_delta_v=dv,
        white_level=white.astype(np.float64),
        linearization_table=lin,
        active_area=active,
        default_crop=crop,
        orientation=orientation if 1 <= orientation <= 8 else 1,
        opcode_lists=opcode_lists,  # type: ignore[arg-type]
        color=color,
        exif=_exif(ifd0, tags),
        dng_version=version,
        unique_camera_model=tags.text(UNIQUE_CAMERA_MODEL),
        source="dng",
        extra={"tiled": g.tiled, "row_interleave": rif, "column_interleave": cif},
    )
    return data, meta


def _check_opcode_lists(lists: tuple[bytes | None, ...], path: str) -> None:
    """Parse each opcode list once so that a damaged one is refused when the file is opened (step 3)."""
    from ..stages.opcodes import parse_opcode_list

    for code, raw in zip(OPCODE_LISTS, lists, strict=True):
        if raw:
            try:
                parse_opcode_list(raw, path=path)
            except (CorruptFile, InvalidParams) as exc:
                raise CorruptFile(f"{_tag_name(code)}: {exc.reason}", path) from None
