"""A corpus of hostile DNG files, generated from valid files written by ``dngwriter``.

``write_corpus(folder)`` writes every case into ``folder`` and returns the list of :class:`Case` records
(name, path, the error class rotpunkt must raise, words its message must contain). The valid files the
cases are made from are written to ``folder / "valid"`` (they also seed the fuzzer, ``fuzz/fuzz_open.py``).

Most cases are a valid file with a few bytes changed: :class:`Tiff` parses just enough TIFF structure
(TIFF 6.0 section 2: header, IFD entries of 12 bytes, values inline when they fit in 4 bytes) to find an
entry and patch its type, count or value with ``struct``, or to append data and IFDs at the end.
Lossy JPEG (34892) and JPEG XL (52546) files are made by re-encoding the tiles of an uncompressed
dngwriter file with imagecodecs, since dngwriter writes only none, lossless JPEG and deflate.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
from dngwriter import encode_gain_map, write_dng

from rotpunkt.errors import CorruptFile, MissingImageData, RotpunktError, UnsupportedFormat
from rotpunkt.limits import LimitExceeded

# TIFF field types -> value size in bytes (TIFF 6.0 section 2; 13 = IFD, 16-18 = BigTIFF 8-byte types)
TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8,
             18: 8}
_TYPE_CODE = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 11: "f", 12: "d", 13: "I"}
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL, FLOAT, DOUBLE = 1, 2, 3, 4, 5, 7, 10, 11, 12

# tag numbers used here (TIFF 6.0, TIFF/EP, DNG 1.7 chapter 4)
NEW_SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE, COMPRESSION = 254, 256, 257, 258, 259
PHOTOMETRIC, STRIP_OFFSETS, SAMPLES_PER_PIXEL, STRIP_BYTE_COUNTS = 262, 273, 277, 279
TILE_WIDTH, TILE_LENGTH, TILE_OFFSETS, TILE_BYTE_COUNTS, SUB_IFDS = 322, 323, 324, 325, 330
CFA_REPEAT_PATTERN_DIM, CFA_PATTERN = 33421, 33422
LINEARIZATION_TABLE, BLACK_LEVEL, WHITE_LEVEL = 50712, 50714, 50717
COLOR_MATRIX1, CAMERA_CALIBRATION1, AS_SHOT_NEUTRAL = 50721, 50723, 50728
ACTIVE_AREA, FORWARD_MATRIX1 = 50829, 50964
HUE_SAT_DIMS, HUE_SAT_DATA1, HUE_SAT_ENCODING = 50937, 50938, 51107
OPCODE_LIST2 = 51009


@dataclass(frozen=True)
class Entry:
    """One IFD entry: where its 12 bytes are in the file, and what they say."""

    pos: int
    tag: int
    type: int
    count: int
    field: bytes  # the 4-byte value-or-offset field

    @property
    def nbytes(self) -> int:
        return self.count * TYPE_SIZE.get(self.type, 1)


class Tiff:
    """A classic TIFF file in memory (little- or big-endian) with helpers to read and patch entries."""

    def __init__(self, data: bytes):
        self.buf = bytearray(data)
        self.bo = {b"II": "<", b"MM": ">"}[bytes(self.buf[:2])]

    # --- raw access ----------------------------------------------------------------------------------
    def unpack(self, fmt: str, pos: int) -> tuple:
        return struct.unpack_from(self.bo + fmt, self.buf, pos)

    def pack(self, fmt: str, pos: int, *values) -> None:
        struct.pack_into(self.bo + fmt, self.buf, pos, *values)

    def append(self, data: bytes) -> int:
        """Append ``data`` at the end (word aligned) and return its offset."""
        if len(self.buf) % 2:
            self.buf += b"\0"
        pos = len(self.buf)
        self.buf += data
        return pos

    # --- structure -------------------------------------------------------------------------------------
    @property
    def first_ifd(self) -> int:
        return self.unpack("I", 4)[0]

    def entries(self, ifd: int) -> list[Entry]:
        (n,) = self.unpack("H", ifd)
        out = []
        for i in range(n):
            pos = ifd + 2 + 12 * i
            tag, typ, count = self.unpack("HHI", pos)
            out.append(Entry(pos, tag, typ, count, bytes(self.buf[pos + 8 : pos + 12])))
        return out

    def next_pos(self, ifd: int) -> int:
        """File position of the IFD's next-IFD pointer."""
        return ifd + 2 + 12 * self.unpack("H", ifd)[0]

    def ifds(self) -> list[int]:
        """IFD 0's chain and all SubIFDs (depth first), each IFD once."""
        seen: list[int] = []

        def visit(ifd: int) -> None:
            while ifd and ifd not in seen and ifd + 2 <= len(self.buf):
                seen.append(ifd)
                for e in self.entries(ifd):
                    if e.tag == SUB_IFDS:
                        for sub in self.values(e):
                            visit(int(sub))
                ifd = self.unpack("I", self.next_pos(ifd))[0]

        visit(self.first_ifd)
        return seen

    def find(self, tag: int, ifd: int | None = None) -> Entry:
        for i in ([ifd] if ifd is not None else self.ifds()):
            for e in self.entries(i):
                if e.tag == tag:
                    return e
        raise KeyError(f"tag {tag} not found")

    def raw_ifd(self) -> int:
        """The main raw image's IFD (NewSubFileType 0, photometric CFA or LinearRaw)."""
        for ifd in self.ifds():
            tags = {e.tag: e for e in self.entries(ifd)}
            sub = self.values(tags[NEW_SUBFILE_TYPE])[0] if NEW_SUBFILE_TYPE in tags else 0
            if sub == 0 and PHOTOMETRIC in tags and self.values(tags[PHOTOMETRIC])[0] in (32803, 34892):
                return ifd
        raise KeyError("no raw IFD")

    def raw(self, tag: int) -> Entry:
        return self.find(tag, self.raw_ifd())

    def value_pos(self, e: Entry) -> int:
        return e.pos + 8 if e.nbytes <= 4 else struct.unpack(self.bo + "I", e.field)[0]

    def values(self, e: Entry) -> list:
        pos = self.value_pos(e)
        if e.type in (RATIONAL, SRATIONAL):
            code = "I" if e.type == RATIONAL else "i"
            return list(self.unpack(f"{2 * e.count}{code}", pos))
        if e.type in (ASCII, UNDEFINED):
            return list(self.buf[pos : pos + e.count])
        return list(self.unpack(f"{e.count}{_TYPE_CODE[e.type]}", pos))

    # --- patching --------------------------------------------------------------------------------------
    def set_entry(self, e: Entry, *, type: int | None = None, count: int | None = None,
                  field: bytes | int | None = None) -> Entry:
        """Overwrite an entry's type, count and/or 4-byte field (an int is packed as LONG)."""
        typ = e.type if type is None else type
        cnt = e.count if count is None else count
        if isinstance(field, int):
            field = struct.pack(self.bo + "I", field)
        raw = e.field if field is None else field
        self.pack("HHI", e.pos, e.tag, typ, cnt)
        self.buf[e.pos + 8 : e.pos + 12] = raw.ljust(4, b"\0")
        return Entry(e.pos, e.tag, typ, cnt, raw.ljust(4, b"\0"))

    def put(self, e: Entry, type: int, values, *, count: int | None = None) -> Entry:
        """Give an entry new values of ``type`` (inline when they fit, else appended at the end).

        ``values`` are numbers (rationals as flat numerator, denominator pairs) or bytes.
        """
        if isinstance(values, (bytes, bytearray)):
            data = bytes(values)
            n = len(data) // TYPE_SIZE[type]
        elif type in (RATIONAL, SRATIONAL):
            data = struct.pack(f"{self.bo}{len(values)}{'I' if type == RATIONAL else 'i'}", *values)
            n = len(values) // 2
        else:
            data = struct.pack(f"{self.bo}{len(values)}{_TYPE_CODE[type]}", *values)
            n = len(values)
        n = n if count is None else count
        if len(data) <= 4:
            return self.set_entry(e, type=type, count=n, field=data)
        return self.set_entry(e, type=type, count=n, field=self.append(data))

    def put_inplace(self, e: Entry, values) -> None:
        """Overwrite an entry's values where they are (same type and count)."""
        pos = self.value_pos(e)
        code = {RATIONAL: "I", SRATIONAL: "i"}.get(e.type) or _TYPE_CODE[e.type]
        self.pack(f"{len(values)}{code}", pos, *values)

    def append_ifd(self, entries: list[tuple[int, int, int, bytes]], next_ifd: int = 0) -> int:
        """Append an IFD of (tag, type, count, 4-byte field) entries (sorted by tag) and return its offset."""
        body = struct.pack(self.bo + "H", len(entries))
        for tag, typ, count, raw in sorted(entries):
            body += struct.pack(self.bo + "HHI", tag, typ, count) + raw.ljust(4, b"\0")
        return self.append(body + struct.pack(self.bo + "I", next_ifd))

    def long(self, value: int) -> bytes:
        return struct.pack(self.bo + "I", value)

    def save(self, path: Path) -> Path:
        path.write_bytes(bytes(self.buf))
        return path


# ================================================================================================
# Valid files the cases start from
# ================================================================================================

H, W = 32, 48  # small: every case decodes in milliseconds when it is valid
WHITE = 4095


def _mosaic() -> np.ndarray:
    """A smooth ramp (values 200..3900 of a 12-bit range): not constant, so decoders do real work."""
    y, x = np.mgrid[0:H, 0:W]
    return (200 + (x * 61 + y * 37) % 3700).astype(np.uint16)


def _rgb() -> np.ndarray:
    m = _mosaic()
    return np.stack([m, m[::-1], m[:, ::-1]], axis=2)


def _hue_sat_tags(hues: int = 6, sats: int = 2, vals: int = 1) -> list[tuple]:
    """ProfileHueSatMapDims/Data1/Encoding extratags: an identity table (hue shift 0, scales 1)."""
    table = np.zeros((vals, hues, sats, 3), np.float32)
    table[..., 1:] = 1.0
    return [(HUE_SAT_DIMS, LONG, 3, (hues, sats, vals), True),
            (HUE_SAT_DATA1, FLOAT, table.size, tuple(float(v) for v in table.ravel()), True),
            (HUE_SAT_ENCODING, LONG, 1, 0, True)]


def _reencode_tiles(src: Path, dst: Path, encode: Callable[[np.ndarray], bytes], compression: int,
                    bits: int, white: int) -> Path:
    """Re-encode every tile of an uncompressed uint16 tiled file with ``encode`` (appended at the end)."""
    t = Tiff(src.read_bytes())
    ifd = t.raw_ifd()
    tw, th = t.values(t.find(TILE_WIDTH, ifd))[0], t.values(t.find(TILE_LENGTH, ifd))[0]
    spp = t.values(t.find(SAMPLES_PER_PIXEL, ifd))[0]
    offs_e, counts_e = t.find(TILE_OFFSETS, ifd), t.find(TILE_BYTE_COUNTS, ifd)
    offs, counts = t.values(offs_e), t.values(counts_e)
    new_offs, new_counts = [], []
    for o, c in zip(offs, counts, strict=True):
        tile = np.frombuffer(bytes(t.buf[o : o + c]), t.bo + "u2").reshape(th, tw, spp)
        enc = encode(tile)
        new_offs.append(t.append(enc))
        new_counts.append(len(enc))
    t.put_inplace(t.find(TILE_OFFSETS, ifd), new_offs)
    t.put_inplace(t.find(TILE_BYTE_COUNTS, ifd), new_counts)
    assert offs_e.type == counts_e.type == LONG
    t.set_entry(t.find(COMPRESSION, ifd), type=SHORT, count=1, field=struct.pack(t.bo + "H", compression))
    t.put_inplace(t.find(BITS_PER_SAMPLE, ifd), [bits] * spp)
    old_white = t.values(t.find(WHITE_LEVEL, ifd))[0]
    t.put_inplace(t.find(WHITE_LEVEL, ifd), [white] * t.find(WHITE_LEVEL, ifd).count)
    black = t.find(BLACK_LEVEL, ifd)  # written as LONG by dngwriter for integer levels
    t.put_inplace(black, [round(v * white / old_white) for v in t.values(black)])
    return t.save(dst)


def write_valid(folder: Path) -> dict[str, Path]:
    """The valid files every case is made from (each develops without error), by name."""
    folder.mkdir(parents=True, exist_ok=True)
    m, rgb = _mosaic(), _rgb()
    common = dict(white_level=WHITE, black_level=64, as_shot_neutral=(0.5, 1.0, 0.7))
    gain = encode_gain_map(np.linspace(1.0, 1.2, 12).reshape(3, 4), bottom=H, right=W)
    files = {
        "strips": write_dng(folder / "strips.dng", m, **common),
        "tiles": write_dng(folder / "tiles.dng", m, tile=16, **common),
        "ljpeg": write_dng(folder / "ljpeg.dng", m, compression="ljpeg", tile=16, **common),
        "ljpeg_strip": write_dng(folder / "ljpeg_strip.dng", m, compression="ljpeg", **common),
        "deflate": write_dng(folder / "deflate.dng", m.astype(np.float32) / WHITE, compression="deflate",
                             tile=16, as_shot_neutral=(0.5, 1.0, 0.7)),
        "float": write_dng(folder / "float.dng", m.astype(np.float32) / WHITE, as_shot_neutral=(0.5, 1.0, 0.7)),
        "linear": write_dng(folder / "linear.dng", rgb, **common),
        "opcodes": write_dng(folder / "opcodes.dng", m, opcode_list2=gain, **common),
        "huesat": write_dng(folder / "huesat.dng", m, extratags_ifd0=_hue_sat_tags(), **common),
        "plain": write_dng(folder / "plain.dng", m, preview=False, **common),
        "tables": write_dng(folder / "tables.dng", m, linearization_table=np.arange(4096),
                            forward_matrix1=np.diag([0.8, 1.0, 0.8]) + 0.05, camera_calibration1=np.eye(3),
                            active_area=(2, 0, H, W), **common),
    }
    tiled_rgb = write_dng(folder / "_rgb_tiles.dng", rgb, tile=16, **common)

    def jpeg(tile: np.ndarray) -> bytes:
        return imagecodecs.jpeg8_encode((tile >> 4).astype(np.uint8), level=95)

    def jxl(tile: np.ndarray) -> bytes:
        return imagecodecs.jpegxl_encode(np.ascontiguousarray(tile), lossless=True, effort=1)

    files["jpeg"] = _reencode_tiles(tiled_rgb, folder / "jpeg.dng", jpeg, 34892, 8, 255)
    files["jxl"] = _reencode_tiles(tiled_rgb, folder / "jxl.dng", jxl, 52546, 16, WHITE)
    tiled_rgb.unlink()
    return files


# ================================================================================================
# The cases
# ================================================================================================


@dataclass(frozen=True)
class Case:
    """One hostile file: rotpunkt.open (then .develop) must raise ``error`` with each of ``words`` in
    its message (case-insensitive), besides the file's path."""

    name: str
    path: Path
    error: type[RotpunktError]
    words: tuple[str, ...] = ()
    what: str = ""


@dataclass
class _Spec:
    name: str
    base: str | None  # valid file it starts from; None: ``make`` returns the bytes
    make: Callable
    error: type[RotpunktError]
    words: tuple[str, ...] = ()
    what: str = ""


def _segments(t: Tiff) -> tuple[Entry, Entry]:
    """(offsets entry, byte counts entry) of the raw image, strips or tiles."""
    ifd = t.raw_ifd()
    tags = {e.tag: e for e in t.entries(ifd)}
    if TILE_OFFSETS in tags:
        return tags[TILE_OFFSETS], tags[TILE_BYTE_COUNTS]
    return tags[STRIP_OFFSETS], tags[STRIP_BYTE_COUNTS]


def _set_segment(t: Tiff, index: int, *, offset: int | None = None, count: int | None = None) -> None:
    offs_e, counts_e = _segments(t)
    for e, v in ((offs_e, offset), (counts_e, count)):
        if v is not None:
            vals = t.values(e)
            vals[index] = v
            t.put_inplace(e, vals)


def _last_segment(t: Tiff) -> tuple[int, int, int]:
    """(index, offset, byte count) of the segment that lies last in the file."""
    offs_e, counts_e = _segments(t)
    offs, counts = t.values(offs_e), t.values(counts_e)
    i = int(np.argmax(offs))
    return i, offs[i], counts[i]


def _cut(t: Tiff) -> Tiff:
    """Cut the file in the middle of its last pixel-data segment (a download that stopped)."""
    _, o, c = _last_segment(t)
    cut = o + c // 2
    assert all(ifd < cut for ifd in t.ifds()), "an IFD lies after the cut"
    del t.buf[cut:]
    return t


def _short(t: Tiff) -> Tiff:
    """Halve the byte count of the last segment: the data is in the file but the stream stops early."""
    i, _, c = _last_segment(t)
    _set_segment(t, i, count=c // 2)
    return t


def _set(tag: int, type_: int, values, raw: bool = True) -> Callable[[Tiff], Tiff]:
    def make(t: Tiff) -> Tiff:
        t.put(t.raw(tag) if raw else t.find(tag), type_, values)
        return t
    return make


def _jpeg_marker(t: Tiff, start: int, marker: int) -> int:
    """File position of the first ``marker`` (e.g. 0xC4 for DHT) in the JPEG stream at ``start``."""
    pos = start + 2
    while t.buf[pos] == 0xFF and t.buf[pos + 1] != marker:
        pos += 2 + struct.unpack_from(">H", t.buf, pos + 2)[0]
    assert t.buf[pos : pos + 2] == bytes((0xFF, marker)), "marker not found"
    return pos


def _every_tile(t: Tiff, patch: Callable[[Tiff, int], None]) -> Tiff:
    offs_e, _ = _segments(t)
    for o in t.values(offs_e):
        patch(t, o)
    return t


def _sof(height: int, width: int, marker: int) -> Callable[[Tiff], Tiff]:
    def patch(t: Tiff, o: int) -> None:
        p = _jpeg_marker(t, o, marker)
        struct.pack_into(">HH", t.buf, p + 5, height, width)
    return lambda t: _every_tile(t, patch)


def _huffman_overfull(t: Tiff, o: int) -> None:
    """DHT whose code lengths overflow: 3 codes of length 1 (at most 2 exist), T.81 annex C."""
    p = _jpeg_marker(t, o, 0xC4) + 5  # length (2), class/id (1) -> the 16 BITS counts
    t.buf[p : p + 16] = bytes([3] + [0] * 15)


def _huffman_bad_symbols(t: Tiff, o: int) -> None:
    """DHT whose symbols are not difference categories (0..16): 200 bits of difference."""
    p = _jpeg_marker(t, o, 0xC4) + 5
    n = sum(t.buf[p : p + 16])
    t.buf[p + 16 : p + 16 + n] = bytes([200]) * n


def _huffman_missing(t: Tiff, o: int) -> None:
    """The DHT segment renamed to an APP15 segment: the scan has no Huffman table."""
    p = _jpeg_marker(t, o, 0xC4)
    t.buf[p + 1] = 0xEF


def _jxl_codestream(data: bytes) -> bytes:
    """The bare codestream of a JPEG XL file: itself, or the payload of its container's 'jxlc' box."""
    if data[:2] == b"\xff\x0a":
        return data
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"jxlc":
            return data[pos + 8 : pos + size if size else len(data)]
        pos += size
    raise ValueError("no jxlc box")


def _jxl_declares(height: int, width: int) -> Callable[[Tiff], Tiff]:
    """Replace each JPEG XL tile by a codestream whose SizeHeader (ISO/IEC 18181-1, bits LSB first)
    declares ``height x width`` (height <= 8192, width <= 262144).

    A 15 x 15 image is encoded (its header: div8 0, selector 0 + 9 bits, ratio 1 = 15 bits) and that
    header replaced by div8 0, selector 1 + 13 bits of height, ratio 0, selector 2 + 18 bits of width
    (39 bits): the rest of the codestream moves by exactly 3 bytes, so its byte alignment is kept.
    """
    def bits_of(value: int, n: int) -> list[int]:
        return [(value >> k) & 1 for k in range(n)]

    new = [0] + bits_of(1, 2) + bits_of(height - 1, 13)  # div8 0, height: selector 1 + 13 bits
    new += bits_of(0, 3) + bits_of(2, 2) + bits_of(width - 1, 18)  # ratio 0, width: selector 2 + 18 bits
    old = [0] + bits_of(0, 2) + bits_of(14, 9) + bits_of(1, 3)
    enc = _jxl_codestream(imagecodecs.jpegxl_encode(np.full((15, 15, 3), 1000, np.uint16), lossless=True,
                                                    effort=1))
    bits = np.unpackbits(np.frombuffer(enc, np.uint8), bitorder="little")
    assert bits[16 : 16 + len(old)].tolist() == old, "unexpected SizeHeader"
    out = np.concatenate([bits[:16], np.array(new, np.uint8), bits[16 + len(old) :]])
    tile = np.packbits(out, bitorder="little").tobytes()

    def make(t: Tiff) -> Tiff:
        offs_e, counts_e = _segments(t)
        n = len(t.values(offs_e))
        at = t.append(tile)
        t.put_inplace(offs_e, [at] * n)
        t.put_inplace(counts_e, [len(tile)] * n)
        return t
    return make


def _ifd_loop_self(t: Tiff) -> Tiff:
    t.pack("I", t.next_pos(t.first_ifd), t.first_ifd)
    return t


def _ifd_loop_pair(t: Tiff) -> Tiff:
    """IFD 0 -> a copy of the raw IFD -> IFD 0 -> ..."""
    copy = [(e.tag, e.type, e.count, e.field) for e in t.entries(t.raw_ifd())]
    second = t.append_ifd(copy, next_ifd=t.first_ifd)
    t.pack("I", t.next_pos(t.first_ifd), second)
    return t


def _subifd_loop(t: Tiff) -> Tiff:
    """IFD 0's SubIFDs entry points back to IFD 0."""
    t.set_entry(t.find(SUB_IFDS, t.first_ifd), type=LONG, count=1, field=t.long(t.first_ifd))
    return t


def _subifd_deep(depth: int) -> Callable[[Tiff], Tiff]:
    """IFD 0 -> SubIFD -> SubIFD -> ... ``depth`` levels, the raw IFD at the bottom."""
    def make(t: Tiff) -> Tiff:
        child = t.raw_ifd()
        for _ in range(depth):
            child = t.append_ifd([(SUB_IFDS, LONG, 1, t.long(child))])
        t.set_entry(t.find(SUB_IFDS, t.first_ifd), type=LONG, count=1, field=t.long(child))
        return t
    return make


def _entries_65535_past_eof(t: Tiff) -> Tiff:
    t.pack("H", t.first_ifd, 65535)
    return t


def _entries_65535(t: Tiff) -> Tiff:
    """A second IFD in IFD 0's chain with 65535 real entries (786 kB of them)."""
    entries = b"".join(struct.pack(t.bo + "HHI", 65000, BYTE, 1) + b"\0\0\0\0" for _ in range(65535))
    second = t.append(struct.pack(t.bo + "H", 65535) + entries + t.long(0))
    t.pack("I", t.next_pos(t.first_ifd), second)
    return t


def _count_overflow(tag: int, count: int) -> Callable[[Tiff], Tiff]:
    """Set a tag's count so that count x type size overflows 32 bits (a C reader's check passes)."""
    def make(t: Tiff) -> Tiff:
        e = t.find(tag)
        t.set_entry(e, count=count)
        return t
    return make


def _opcode_list_bytes(t: Tiff) -> tuple[Entry, bytearray]:
    e = t.raw(OPCODE_LIST2)
    return e, bytearray(t.buf[t.value_pos(e) : t.value_pos(e) + e.count])


def _patch_opcodes(fn: Callable[[bytearray], bytes | bytearray]) -> Callable[[Tiff], Tiff]:
    def make(t: Tiff) -> Tiff:
        e, data = _opcode_list_bytes(t)
        t.put(e, UNDEFINED, bytes(fn(data)))
        return t
    return make


# GainMap record layout (DNG 1.7 chapter 6): list count (4), header id/version/flags/bytes (16), area (32),
# points v/h (8), spacing v/h, origin v/h (32), map planes (4), gains
_GM_BYTES, _GM_POINTS = 4 + 12, 4 + 16 + 32


def _gain_points(pv: int, ph: int, with_data: bool) -> Callable[[bytearray], bytes]:
    def fn(data: bytearray) -> bytes:
        struct.pack_into(">II", data, _GM_POINTS, pv, ph)
        if with_data:
            head = bytes(data[: _GM_POINTS + 8 + 32 + 4])
            gains = np.ones(pv * ph, ">f4").tobytes()
            out = bytearray(head + gains)
            struct.pack_into(">I", out, _GM_BYTES, len(out) - 20)
            return bytes(out)
        return bytes(data)
    return fn


def _gain_nan(data: bytearray) -> bytearray:
    struct.pack_into(">f", data, _GM_POINTS + 8 + 32 + 4, math.nan)
    return data


def _gain_origin_nan(data: bytearray) -> bytearray:
    struct.pack_into(">d", data, _GM_POINTS + 8 + 16, math.nan)  # MapOriginV
    return data


def _hue_sat(dims=None, data_count=None, nan=False) -> Callable[[Tiff], Tiff]:
    def make(t: Tiff) -> Tiff:
        if dims is not None:
            t.put(t.find(HUE_SAT_DIMS), LONG, list(dims))
        e = t.find(HUE_SAT_DATA1)
        if data_count is not None:
            t.set_entry(e, count=data_count)
        if nan:
            t.pack("f", t.value_pos(e) + 4, math.nan)
        return t
    return make


def _rationals(tag: int, values: list[int], signed: bool = False, raw: bool = False) -> Callable:
    return _set(tag, SRATIONAL if signed else RATIONAL, values, raw=raw)


def _cve_sample() -> bytes | None:
    from samples import SAMPLES

    p = SAMPLES / "aosp-dngsdk_cve_2020_9589_poc.dng"
    return p.read_bytes() if p.is_file() else None


_SINGULAR = [1, 1, 2, 1, 3, 1, 2, 1, 4, 1, 6, 1, 0, 1, 1, 1, 0, 1]  # rows 2 = 2 x row 1: rank 2
_IDENTITY_CM = [1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1]

SPECS: list[_Spec] = [
    # --- not a DNG / TIFF structure ------------------------------------------------------------------
    _Spec("empty", None, lambda: b"", RotpunktError, (), "0-byte file"),
    _Spec("not_tiff", None, lambda: b"GIF89a" + bytes(range(256)) * 8, RotpunktError, (), "a GIF header"),
    _Spec("tiff_header_only", None, lambda: b"II*\x00\x08\x00\x00\x00", CorruptFile, ("ifd", "end"),
          "8-byte TIFF header pointing to an IFD at its own end"),
    _Spec("first_ifd_past_eof", "plain", lambda t: (t.pack("I", 4, len(t.buf) + 1000), t)[1], CorruptFile,
          ("ifd", "end of the file"), "header points 1000 bytes past the end"),
    _Spec("first_ifd_zero", "plain", lambda t: (t.pack("I", 4, 0), t)[1], CorruptFile, ("ifd",),
          "header points to offset 0"),
    _Spec("ifd_loop_self", "strips", _ifd_loop_self, CorruptFile, ("loop",), "IFD 0's next IFD is IFD 0"),
    _Spec("ifd_loop_pair", "strips", _ifd_loop_pair, CorruptFile, ("loop",), "IFD 0 -> IFD 1 -> IFD 0"),
    _Spec("subifd_loop", "strips", _subifd_loop, CorruptFile, ("loop",), "IFD 0's SubIFD is IFD 0"),
    _Spec("subifd_deep_10000", "strips", _subifd_deep(10_000), LimitExceeded, ("subifd", "deep"),
          "10 000 nested SubIFDs above the raw IFD"),
    _Spec("entries_65535_past_eof", "plain", _entries_65535_past_eof, CorruptFile, ("65535", "end"),
          "IFD 0 claims 65535 entries"),
    _Spec("entries_65535", "plain", _entries_65535, LimitExceeded, ("65535", "4096"),
          "a second IFD with 65535 real entries"),
    _Spec("count_overflow_colormatrix", "strips", _count_overflow(COLOR_MATRIX1, 0x2000_0000), CorruptFile,
          ("ColorMatrix1", "536870912"), "ColorMatrix1 count 2^29: x 8 bytes = 2^32"),
    _Spec("count_overflow_strip_counts", "plain", _count_overflow(STRIP_BYTE_COUNTS, 0x4000_0001),
          CorruptFile, ("StripByteCounts", "1073741825"),
          "StripByteCounts count 2^30 + 1: x 4 = 4 (mod 2^32)"),
    # --- image geometry -----------------------------------------------------------------------------
    _Spec("width_0", "strips", _set(IMAGE_WIDTH, LONG, [0]), CorruptFile, ("ImageWidth", "0")),
    _Spec("height_0", "strips", _set(IMAGE_LENGTH, LONG, [0]), CorruptFile, ("ImageLength", "0")),
    _Spec("size_100000x100000", "strips",
          lambda t: _set(IMAGE_LENGTH, LONG, [100_000])(_set(IMAGE_WIDTH, LONG, [100_000])(t)),
          LimitExceeded, ("10000000000", "500000000"), "10 gigapixels"),
    _Spec("width_4294967295", "strips", _set(IMAGE_WIDTH, LONG, [2**32 - 1]), LimitExceeded,
          ("4294967295",), "width 2^32 - 1"),
    _Spec("height_4294967295_tiles", "tiles", _set(IMAGE_LENGTH, LONG, [2**32 - 1]), LimitExceeded,
          ("4294967295",), "tiled, height 2^32 - 1"),
    _Spec("tile_65535", "tiles",
          lambda t: _set(TILE_LENGTH, LONG, [65535])(_set(TILE_WIDTH, LONG, [65535])(t)), LimitExceeded,
          ("tile", "65535"), "one 65535 x 65535 tile (8 GiB decoded) for a 48 x 32 image"),
    _Spec("tile_0", "tiles", _set(TILE_WIDTH, LONG, [0]), CorruptFile, ("TileWidth", "0")),
    _Spec("rows_per_strip_0", "plain", _set(278, LONG, [0]), CorruptFile, ("RowsPerStrip", "0")),
    # --- strips and tiles --------------------------------------------------------------------------
    _Spec("strip_offset_past_eof", "strips", lambda t: (_set_segment(t, 0, offset=len(t.buf) + 10), t)[1],
          MissingImageData, ("beyond the end",)),
    _Spec("strip_bytecount_0", "strips", lambda t: (_set_segment(t, 0, count=0), t)[1], MissingImageData,
          ("empty",)),
    _Spec("strip_bytecount_2gb", "strips", lambda t: (_set_segment(t, 0, count=2**31), t)[1],
          MissingImageData, ("beyond the end",)),
    _Spec("strip_offsets_absent", "strips", lambda t: t.set_entry(t.raw(STRIP_OFFSETS), count=0) and t,
          MissingImageData, ("strip",)),
    _Spec("tile_offset_past_eof", "tiles", lambda t: (_set_segment(t, 3, offset=2**32 - 1), t)[1],
          MissingImageData, ("beyond the end",)),
    _Spec("tile_bytecount_0", "tiles", lambda t: (_set_segment(t, 2, count=0), t)[1], MissingImageData,
          ("empty",)),
    _Spec("tile_bytecount_2gb", "tiles", lambda t: (_set_segment(t, 5, count=2**31), t)[1],
          MissingImageData, ("beyond the end",)),
    _Spec("tile_offsets_too_few", "tiles", lambda t: t.set_entry(t.raw(TILE_OFFSETS), count=2) and t,
          MissingImageData, ("6 tiles",)),
    # --- truncated data, for each compression --------------------------------------------------------
    *[_Spec(f"cut_{b}", b, _cut, MissingImageData, ("beyond the end",), f"{b} file cut in its last segment")
      for b in ("strips", "tiles", "ljpeg", "ljpeg_strip", "deflate", "jpeg", "jxl")],
    _Spec("short_strips", "strips", _short, MissingImageData, ("bytes",), "uncompressed strip half its size"),
    _Spec("short_tiles", "tiles", _short, MissingImageData, ("bytes",), "uncompressed tile half its size"),
    *[_Spec(f"short_{b}", b, _short, CorruptFile, ("cut short",), f"{b} stream cut in half (no EOI marker)")
      for b in ("ljpeg", "ljpeg_strip", "jpeg")],
    *[_Spec(f"short_{b}", b, _short, CorruptFile, ("could not be decoded",), f"{b} stream cut in half")
      for b in ("deflate", "jxl")],
    # --- codec headers ------------------------------------------------------------------------------
    _Spec("ljpeg_huffman_overfull", "ljpeg", lambda t: _every_tile(t, _huffman_overfull), CorruptFile,
          ("lossless JPEG",)),
    _Spec("ljpeg_huffman_bad_symbols", "ljpeg", lambda t: _every_tile(t, _huffman_bad_symbols), CorruptFile,
          ("lossless JPEG",)),
    _Spec("ljpeg_huffman_missing", "ljpeg", lambda t: _every_tile(t, _huffman_missing), CorruptFile,
          ("lossless JPEG",)),
    _Spec("ljpeg_declares_65535x65535", "ljpeg", _sof(65535, 65535, 0xC3), CorruptFile, ("65535",),
          "lossless JPEG tiles whose SOF3 declares 65535 x 65535"),
    _Spec("ljpeg_declares_8x8", "ljpeg", _sof(8, 8, 0xC3), CorruptFile, ("8x8",),
          "lossless JPEG tiles declaring fewer samples than the tile holds"),
    _Spec("jpeg_declares_65535x65535", "jpeg", _sof(65535, 65535, 0xC0), CorruptFile, ("65535",),
          "lossy JPEG tiles whose SOF0 declares 65535 x 65535"),
    _Spec("jxl_declares_8192x262144", "jxl", _jxl_declares(8192, 262144), CorruptFile, ("262144",),
          "JPEG XL tiles whose SizeHeader declares 8192 x 262144 (2.1 gigapixels)"),
    # --- sample format -------------------------------------------------------------------------------
    _Spec("bits_0", "strips", _set(BITS_PER_SAMPLE, SHORT, [0]), CorruptFile, ("BitsPerSample", "0")),
    _Spec("bits_33", "strips", _set(BITS_PER_SAMPLE, SHORT, [33]), CorruptFile, ("BitsPerSample", "33")),
    _Spec("compression_12345", "strips", _set(COMPRESSION, SHORT, [12345]), UnsupportedFormat, ("12345",)),
    _Spec("samples_per_pixel_0", "strips", _set(SAMPLES_PER_PIXEL, SHORT, [0]), CorruptFile,
          ("SamplesPerPixel", "0")),
    _Spec("samples_per_pixel_65535", "linear", _set(SAMPLES_PER_PIXEL, SHORT, [65535]), RotpunktError,
          ("SamplesPerPixel", "65535")),
    # --- CFA and geometry tags -------------------------------------------------------------------------
    _Spec("cfa_0x0", "strips", _set(CFA_REPEAT_PATTERN_DIM, SHORT, [0, 0]), CorruptFile,
          ("CFARepeatPatternDim", "0x0")),
    _Spec("cfa_255x255", "strips", _set(CFA_REPEAT_PATTERN_DIM, SHORT, [255, 255]), RotpunktError,
          ("CFARepeatPatternDim", "255x255")),
    _Spec("cfa_255x255_with_pattern", "strips",
          lambda t: _set(CFA_PATTERN, BYTE, bytes(65025))(_set(CFA_REPEAT_PATTERN_DIM, SHORT, [255, 255])(t)),
          RotpunktError, ("CFARepeatPatternDim", "255x255")),
    _Spec("cfa_all_red", "strips", _set(CFA_PATTERN, BYTE, bytes(4)), UnsupportedFormat,
          ("CFAPattern", "green or blue")),
    _Spec("float_sample_nan", "float", lambda t: (t.pack("f", _last_segment(t)[1] + 4 * 50, math.nan), t)[1],
          CorruptFile, ("raw sample (1, 2)", "nan")),
    _Spec("active_area_outside", "tables", _set(ACTIVE_AREA, LONG, [0, 0, 33, 48]), CorruptFile,
          ("ActiveArea", "33")),
    _Spec("active_area_inverted", "tables", _set(ACTIVE_AREA, LONG, [20, 0, 10, 48]), CorruptFile,
          ("ActiveArea",)),
    # --- levels, rationals, matrices, tables ----------------------------------------------------------
    _Spec("white_below_black", "strips", _set(WHITE_LEVEL, LONG, [50]), CorruptFile,
          ("WhiteLevel", "50", "BlackLevel", "64")),
    _Spec("white_equals_black", "strips", _set(WHITE_LEVEL, LONG, [64]), CorruptFile,
          ("WhiteLevel", "64", "BlackLevel")),
    _Spec("black_level_nan", "strips", _set(BLACK_LEVEL, FLOAT, [math.nan]), CorruptFile,
          ("BlackLevel", "nan")),
    _Spec("black_level_zero_denominator", "strips", _rationals(BLACK_LEVEL, [64, 0], raw=True), CorruptFile,
          ("BlackLevel", "64/0")),
    _Spec("neutral_zero_denominator", "strips", _rationals(AS_SHOT_NEUTRAL, [1, 2, 1, 0, 1, 1], raw=False),
          CorruptFile, ("AsShotNeutral", "1/0")),
    _Spec("colormatrix_zero_denominator", "strips",
          _rationals(COLOR_MATRIX1, [1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1], signed=True),
          CorruptFile, ("ColorMatrix1", "1/0")),
    _Spec("colormatrix_inf", "strips",
          _set(COLOR_MATRIX1, DOUBLE, [math.inf, 0, 0, 0, 1, 0, 0, 0, 1], raw=False), CorruptFile,
          ("ColorMatrix1", "inf")),
    _Spec("colormatrix_singular", "strips", _rationals(COLOR_MATRIX1, _SINGULAR, signed=True, raw=False),
          CorruptFile, ("ColorMatrix1", "singular")),
    _Spec("colormatrix_zero", "strips", _rationals(COLOR_MATRIX1, [0, 1] * 9, signed=True, raw=False),
          CorruptFile, ("ColorMatrix1", "singular")),
    _Spec("forwardmatrix_singular", "tables", _rationals(FORWARD_MATRIX1, _SINGULAR, signed=True, raw=False),
          CorruptFile, ("ForwardMatrix1", "singular")),
    _Spec("camera_calibration_zero", "tables",
          _rationals(CAMERA_CALIBRATION1, [0, 1] * 9, signed=True, raw=False), CorruptFile,
          ("CameraCalibration1", "singular")),
    _Spec("linearization_table_empty", "tables",
          lambda t: t.set_entry(t.raw(LINEARIZATION_TABLE), count=0) and t,
          CorruptFile, ("LinearizationTable", "0")),
    _Spec("linearization_table_70000", "tables",
          _set(LINEARIZATION_TABLE, SHORT, [v % 65536 for v in range(70000)]),
          CorruptFile, ("LinearizationTable", "70000")),
    _Spec("hue_sat_data_short", "huesat", _hue_sat(data_count=10), CorruptFile,
          ("ProfileHueSatMap", "10")),
    _Spec("hue_sat_dims_huge", "huesat", _hue_sat(dims=(65535, 65535, 65535)), CorruptFile,
          ("ProfileHueSatMap", "65535")),
    _Spec("hue_sat_dims_zero", "huesat", _hue_sat(dims=(0, 2, 1)), CorruptFile, ("ProfileHueSatMap",)),
    _Spec("hue_sat_data_long", "huesat", _hue_sat(dims=(3, 2, 1)), CorruptFile,
          ("ProfileHueSatMap", "36")),
    _Spec("hue_sat_nan", "huesat", _hue_sat(nan=True), CorruptFile, ("ProfileHueSatMapData1", "nan")),
    # --- opcodes ---------------------------------------------------------------------------------------
    _Spec("opcode_count_4294967295", "opcodes",
          _patch_opcodes(lambda d: (struct.pack_into(">I", d, 0, 2**32 - 1), d)[1]), CorruptFile,
          ("opcode list", "4294967295")),
    _Spec("opcode_count_0_with_data", "opcodes",
          _patch_opcodes(lambda d: (struct.pack_into(">I", d, 0, 0), d)[1]), CorruptFile, ("opcode list",)),
    _Spec("opcode_bytecount_huge", "opcodes",
          _patch_opcodes(lambda d: (struct.pack_into(">I", d, _GM_BYTES, 2**32 - 16), d)[1]), CorruptFile,
          ("GainMap", "4294967280")),
    _Spec("gainmap_points_65535x65535", "opcodes", _patch_opcodes(_gain_points(65535, 65535, False)),
          CorruptFile, ("GainMap", "65535")),
    _Spec("gainmap_points_1x1000000", "opcodes", _patch_opcodes(_gain_points(1, 1_000_000, True)),
          CorruptFile, ("GainMap", "1000000")),
    _Spec("gainmap_points_0", "opcodes", _patch_opcodes(_gain_points(0, 4, False)), CorruptFile,
          ("GainMap", "0x4")),
    _Spec("gainmap_nan", "opcodes", _patch_opcodes(_gain_nan), CorruptFile, ("GainMap", "nan")),
    # --- found by fuzz/fuzz_open.py in the reader as it was before issue 6 (each crashed it) -------------
    _Spec("fuzz_tile_length_0", "tiles", _set(TILE_LENGTH, LONG, [0]), CorruptFile, ("TileLength", "0"),
          "ZeroDivisionError counting the tiles"),
    _Spec("fuzz_tile_length_4294967295", "deflate", _set(TILE_LENGTH, LONG, [2**32 - 1]), LimitExceeded,
          ("tiles of 16 x 4294967295",), "MemoryError: imagecodecs allocated one 16 x 2^32 tile"),
    _Spec("fuzz_width_2147483696", "ljpeg_strip", _set(IMAGE_WIDTH, LONG, [2**31 + 48]), LimitExceeded,
          ("2147483696",), "MemoryError: tifffile allocated the 2^31 x 32 image"),
    _Spec("fuzz_bits_per_sample_long8", "strips",
          lambda t: t.set_entry(t.raw(BITS_PER_SAMPLE), type=16, count=1, field=16) and t, CorruptFile,
          ("BitsPerSample",), "BitsPerSample as an 8-byte LONG8 read from offset 16: tifffile hung"),
    _Spec("fuzz_gainmap_origin_nan", "opcodes", _patch_opcodes(_gain_origin_nan), CorruptFile,
          ("GainMap", "nan"), "IndexError in the GainMap interpolation"),
]


def write_corpus(folder: str | Path) -> list[Case]:
    """Write every hostile case (and the valid files they come from, in ``folder/valid``) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    valid = write_valid(folder / "valid")
    cases = []
    for spec in SPECS:
        path = folder / f"{spec.name}.dng"
        if spec.base is None:
            data = spec.make()
            path.write_bytes(data)
        else:
            spec.make(Tiff(valid[spec.base].read_bytes())).save(path)
        cases.append(Case(spec.name, path, spec.error, spec.words, spec.what))
    cve = _cve_sample()
    if cve is not None:
        path = folder / "cve_2020_9589_poc.dng"
        path.write_bytes(cve)
        cases.append(Case("cve_2020_9589_poc", path, CorruptFile, (), "the AOSP proof of concept as shipped"))
    return cases


# ================================================================================================
# Measuring a case: time and memory, in a child process (``python tests/hostile.py FILE...``)
# ================================================================================================

MEMORY_BUDGET = 512 * 2**20  # bytes a case may add to the process (issue 6)


def _status(field: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM, VmSize...) in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> None:
    """Reset VmHWM (peak resident memory) to the current RSS (Linux 4.0+, /proc/PID/clear_refs "5").

    Where that is not allowed the peak is not reset, and each case's figure is the largest peak so far
    above its starting RSS: an upper bound, so the memory test stays valid (only stricter).
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass


def measure(paths: list[str], warmup: str | None = None) -> list[dict]:
    """Open (then develop) each file three times in this process; for each run return the outcome (error
    class names, message), wall time and peak resident memory above the memory before the run.

    The address space is capped at its size after the warm-up plus :data:`MEMORY_BUDGET` (RLIMIT_AS),
    so an allocation past the budget fails here even when the pages would never be touched.
    """
    import resource
    import time
    import traceback
    import warnings

    import rotpunkt

    warnings.simplefilter("ignore")
    if warmup:  # lazy imports, caches and thread pools are not charged to the first case
        with rotpunkt.open(warmup) as raw:
            raw.develop()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _status("VmSize") + MEMORY_BUDGET
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    out = []
    for path in paths:
        runs = []
        for _ in range(3):
            _reset_peak()
            base = _status("VmRSS")
            t0 = time.perf_counter()
            try:
                with rotpunkt.open(path) as raw:
                    raw.develop()
                outcome = {"classes": [], "message": ""}
            except rotpunkt.RotpunktError as exc:
                outcome = {"classes": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}
            except BaseException as exc:  # noqa: BLE001 - a crash, reported to the test
                outcome = {"classes": [], "crash": f"{type(exc).__name__}: {exc}",
                           "message": traceback.format_exc(limit=8)}
            outcome["seconds"] = time.perf_counter() - t0
            outcome["peak_bytes"] = _status("VmHWM") - base
            runs.append(outcome)
        out.append({"path": path, "runs": runs})
    return out


if __name__ == "__main__":
    import json
    import sys

    args = sys.argv[1:]
    warm = args.pop(args.index("--warmup") + 1) if "--warmup" in args else None
    if "--warmup" in args:
        args.remove("--warmup")
    print(json.dumps(measure(args, warm)))
