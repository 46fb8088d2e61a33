"""ICC display profiles for the output spaces, built in code (no shipped binary blobs).

:func:`icc_profile` returns a standard ICC v4.3 matrix/TRC display profile ("mntr" class, RGB data,
XYZ PCS) for ``"srgb"`` (IEC 61966-2-1) or ``"p3"`` (Display P3: DCI-P3 primaries, D65 white, sRGB
transfer function). The layout follows ICC.1:2010 (profile version 4.3.0.0):

* 128-byte header (section 7.2): size, version 4.3, class ``mntr``, space ``RGB ``, PCS ``XYZ ``,
  ``acsp`` signature, D50 PCS illuminant, MD5 profile ID computed with the flags, rendering intent
  and profile ID fields zeroed (7.2.18);
* tag table (7.3) followed by 4-byte aligned tag data;
* tags required of a three-component matrix-based display profile (8.2, 8.3.3): ``desc`` and
  ``cprt`` (multiLocalizedUnicodeType, 10.13), ``wtpt`` (XYZType = PCS D50, as v4 requires for
  display profiles), ``chad`` (s15Fixed16ArrayType, the Bradford D65 -> D50 adaptation, Annex E),
  ``rXYZ``/``gXYZ``/``bXYZ`` (the colorants, i.e. the columns of the linear RGB -> PCS XYZ matrix,
  Bradford-adapted to D50) and ``rTRC``/``gTRC``/``bTRC`` (parametricCurveType function type 3,
  10.16: ``Y = (aX + b)^g`` for ``X >= d``, ``Y = cX`` otherwise; the three tags share one element).

The colour maths here is private and small on purpose (the pipeline's colour maths lives elsewhere);
tests check it against colour-science and LittleCMS.
"""

from __future__ import annotations

import functools
import hashlib
import struct

import numpy as np

from ..errors import InvalidParams

#: Output spaces that have a profile.
SPACES = ("srgb", "p3")

#: Profile description (the name colour-managed applications show), by space.
DESCRIPTION = {"srgb": "sRGB IEC61966-2.1", "p3": "Display P3"}

_COPYRIGHT = "No copyright, use freely"

# CIE 1931 xy chromaticities of the primaries (R, G, B) and of the white point.
# sRGB: IEC 61966-2-1:1999 (= ITU-R BT.709 primaries); Display P3: SMPTE EG 432-1 (DCI-P3) primaries
# with the D65 white, as in Apple's Display P3. D65 is xy (0.3127, 0.3290) in both.
_PRIMARIES = {
    "srgb": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
    "p3": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
}
_D65_XY = (0.3127, 0.3290)

#: The ICC PCS illuminant (D50) as nCIEXYZ, ICC.1:2010 7.2.16.
PCS_D50 = (0.9642, 1.0, 0.8249)

# Bradford cone response matrix (Lam 1985; ICC.1:2010 Annex E, equation E.2).
_BRADFORD = np.array(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)

# sRGB transfer function written as ICC parametric curve type 3 (device value X -> linear Y):
# Y = (X / 1.055 + 0.055 / 1.055)^2.4 for X >= 0.04045, else X / 12.92 (IEC 61966-2-1).
_SRGB_PARA3 = (2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045)

# A fixed creation date keeps the profile bytes (and so the written files) reproducible.
_DATE = (2024, 1, 1, 0, 0, 0)


def _xy_to_xyz(xy: tuple[float, float]) -> np.ndarray:
    """CIE xy chromaticity -> XYZ with Y = 1."""
    x, y = xy
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def _rgb_to_xyz(primaries, white_xy) -> np.ndarray:
    """(3, 3) matrix from linear RGB to XYZ (white Y = 1), from primaries and white (SMPTE RP 177)."""
    p = np.stack([_xy_to_xyz(c) for c in primaries], axis=1)  # columns: XYZ of R, G, B with Y = 1
    scale = np.linalg.solve(p, _xy_to_xyz(white_xy))
    return p * scale[None, :]


def _bradford(src_white: np.ndarray, dst_white: np.ndarray) -> np.ndarray:
    """(3, 3) Bradford (linear, von Kries in the Bradford cone space) adaptation src -> dst white."""
    gain = (_BRADFORD @ dst_white) / (_BRADFORD @ src_white)
    return np.linalg.solve(_BRADFORD, gain[:, None] * _BRADFORD)


def _s15f16(value: float) -> int:
    """Encode a number as s15Fixed16Number (ICC.1:2010 4.6), round half up, as a signed integer."""
    code = int(np.floor(value * 65536.0 + 0.5))
    if not -(2**31) <= code < 2**31:
        raise ValueError(f"{value} does not fit s15Fixed16Number")
    return code


def _pack_s15f16(codes) -> bytes:
    return struct.pack(f">{len(codes)}i", *codes)


def _xyz_type(codes) -> bytes:
    """XYZType (10.31) holding one XYZNumber given as s15Fixed16 codes."""
    return b"XYZ " + bytes(4) + _pack_s15f16(codes)


def _mluc(text: str, lang: bytes = b"en", country: bytes = b"US") -> bytes:
    """multiLocalizedUnicodeType (10.13) with a single record, UTF-16BE text without terminator."""
    s = text.encode("utf-16-be")
    header_len = 16 + 12  # type sig, reserved, record count, record size, then one 12-byte record
    return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + lang + country + struct.pack(
        ">II", len(s), header_len
    ) + s


def _para3(params) -> bytes:
    """parametricCurveType (10.16), function type 3 (g, a, b, c, d)."""
    return b"para" + bytes(4) + struct.pack(">HH", 3, 0) + _pack_s15f16([_s15f16(v) for v in params])


def _sf32(matrix: np.ndarray) -> bytes:
    """s15Fixed16ArrayType (10.22), matrix in row-major order."""
    return b"sf32" + bytes(4) + _pack_s15f16([_s15f16(v) for v in np.asarray(matrix).ravel()])


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def colorants_d50(space: str) -> np.ndarray:
    """The (3, 3) linear-RGB -> PCS XYZ (D50) matrix a profile for ``space`` encodes, as floats.

    Columns are the red, green and blue colorants (``rXYZ``, ``gXYZ``, ``bXYZ``) before the
    s15Fixed16 quantisation: the space's RGB -> XYZ matrix for D65, Bradford-adapted to the ICC D50.
    """
    space = _check_space(space)
    m = _rgb_to_xyz(_PRIMARIES[space], _D65_XY)
    return _bradford(_xy_to_xyz(_D65_XY), np.array(PCS_D50)) @ m


def _check_space(space: str) -> str:
    if space not in SPACES:
        raise InvalidParams(f"no ICC profile for colour space {space!r}; expected one of {', '.join(SPACES)}")
    return space


@functools.cache
def icc_profile(space: str) -> bytes:
    """Return the ICC v4.3 display profile of an output space, as the bytes of an .icc file.

    Parameters
    ----------
    space : {"srgb", "p3"}
        "srgb" is IEC 61966-2-1 sRGB; "p3" is Display P3 (P3 primaries, D65 white, sRGB curve).

    Returns
    -------
    bytes
        A complete profile (about 550 bytes), identical on every call (cached, fixed date,
        MD5 profile ID set). Suitable for embedding in JPEG (APP2), PNG (iCCP) and TIFF (tag 34675).

    Raises
    ------
    InvalidParams
        If ``space`` is not one of :data:`SPACES`.
    """
    space = _check_space(space)
    pcs = [_s15f16(v) for v in PCS_D50]

    # Colorants quantised so that R + G + B sums exactly to the encoded D50 white: device white
    # (1, 1, 1) then maps to the PCS white without a rounding error. The residual (at most a couple
    # of 1/65536 units) goes into blue, the colorant with the smallest luminance.
    m = colorants_d50(space)
    r = [_s15f16(v) for v in m[:, 0]]
    g = [_s15f16(v) for v in m[:, 1]]
    b = [pcs[i] - r[i] - g[i] for i in range(3)]
    chad = _bradford(_xy_to_xyz(_D65_XY), np.array(PCS_D50))

    trc = _para3(_SRGB_PARA3)
    # (signature, element); TRC tags share one element, as the spec allows (7.3.1).
    elements = [
        (b"desc", _mluc(DESCRIPTION[space])),
        (b"cprt", _mluc(_COPYRIGHT)),
        (b"wtpt", _xyz_type(pcs)),
        (b"chad", _sf32(chad)),
        (b"rXYZ", _xyz_type(r)),
        (b"gXYZ", _xyz_type(g)),
        (b"bXYZ", _xyz_type(b)),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]

    table_len = 4 + 12 * len(elements)
    offset = 128 + table_len
    table = [struct.pack(">I", len(elements))]
    data = []
    placed: dict[bytes, int] = {}
    for sig, element in elements:
        if element not in placed:
            placed[element] = offset
            data.append(_pad4(element))
            offset += len(data[-1])
        table.append(sig + struct.pack(">II", placed[element], len(element)))
    body = b"".join(table) + b"".join(data)
    size = 128 + len(body)

    header = bytearray(128)
    struct.pack_into(">I", header, 0, size)
    struct.pack_into(">I", header, 8, 0x04300000)  # version 4.3.0.0
    header[12:16] = b"mntr"
    header[16:20] = b"RGB "
    header[20:24] = b"XYZ "
    struct.pack_into(">6H", header, 24, *_DATE)
    header[36:40] = b"acsp"
    struct.pack_into(">I", header, 64, 0)  # rendering intent: perceptual
    header[68:80] = _pack_s15f16(pcs)
    profile = bytearray(header + body)
    # Profile ID (7.2.18): MD5 of the whole profile with flags (44-47), rendering intent (64-67)
    # and profile ID (84-99) set to zero; they are zero here already.
    profile[84:100] = hashlib.md5(bytes(profile), usedforsecurity=False).digest()
    return bytes(profile)
