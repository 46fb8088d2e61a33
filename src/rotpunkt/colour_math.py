"""Reference colour maths: chromaticities, CIELAB, CIEDE2000, CCT, chromatic adaptation, RGB spaces.

Pure numpy, no colour-science at run time (it is the oracle of the tests). Conventions:

* 3x3 maths is float64; image functions take and return float32, channels last (H, W, C).
* XYZ is relative with the white's Y = 1 (not 100). xy and uv are CIE 1931 xy and CIE 1960 uv.
* Matrices act on column vectors: ``XYZ = M @ RGB``; for an image ``img @ M.T``.
* The DNG profile connection space (PCS) is CIE XYZ with the D50 white x=0.3457, y=0.3585 (the value
  the DNG SDK uses, ``D50_xy_coord``); :data:`D50_XY`.

References
----------
* CIE 15:2004 Colorimetry (xy, uv 1960, CIELAB).
* G. Sharma, W. Wu, E. N. Dalal, "The CIEDE2000 Color-Difference Formula: Implementation Notes,
  Supplementary Test Data, and Mathematical Observations", Color Res. Appl. 30 (2005) 21-30.
* A. R. Robertson, "Computation of Correlated Color Temperature and Distribution Temperature",
  JOSA 58 (1968) 1528-1535; isotemperature table from Wyszecki & Stiles, Color Science, 2nd ed.,
  p. 228, as tabulated in Adobe's DNG SDK (``dng_temperature.cpp``), whose "tint" is the signed
  distance along the isotemperature line in uv, times -3000.
* K. M. Lam (1985) / linearised Bradford chromatic adaptation, as in the DNG SDK (``MapWhiteMatrix``).
* IEC 61966-2-1:1999 (sRGB), SMPTE EG 432-1 (Display P3), ITU-R BT.2020, ISO 22028-2 (ROMM/ProPhoto).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import NamedTuple

import numpy as np

# --------------------------------------------------------------------------------------------------
# Whites
# --------------------------------------------------------------------------------------------------

#: The DNG PCS white (D50) as the DNG SDK defines it.
D50_XY: tuple[float, float] = (0.3457, 0.3585)
#: DNG SDK constants for D55, D65, D75 and CIE illuminant A.
D55_XY: tuple[float, float] = (0.3324, 0.3474)
D65_XY: tuple[float, float] = (0.3127, 0.3290)
D75_XY: tuple[float, float] = (0.2990, 0.3149)
STD_A_XY: tuple[float, float] = (0.4476, 0.4074)


def xy_to_XYZ(xy, Y: float = 1.0) -> np.ndarray:  # noqa: N802 - colour-science naming
    """xy chromaticity (..., 2) -> XYZ (..., 3) float64 with luminance ``Y`` (default 1)."""
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        X = x * Y / y
        Z = (1.0 - x - y) * Y / y
    return np.stack([X, np.full_like(X, Y), Z], axis=-1)


def XYZ_to_xy(XYZ, fallback=D50_XY) -> np.ndarray:  # noqa: N802, N803
    """XYZ (..., 3) -> xy (..., 2) float64. Where X+Y+Z <= 0 the ``fallback`` xy is returned
    (the DNG SDK returns D50 there)."""
    XYZ = np.asarray(XYZ, dtype=np.float64)  # noqa: N806
    s = XYZ.sum(axis=-1)
    ok = s > 0
    safe = np.where(ok, s, 1.0)
    xy = np.stack([XYZ[..., 0] / safe, XYZ[..., 1] / safe], axis=-1)
    return np.where(ok[..., None], xy, np.asarray(fallback, np.float64))


def xy_to_uv1960(xy) -> np.ndarray:
    """CIE 1931 xy (..., 2) -> CIE 1960 UCS uv (..., 2)."""
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    d = 1.5 - x + 6.0 * y  # = (-2x + 12y + 3) / 2
    return np.stack([2.0 * x / d, 3.0 * y / d], axis=-1)


def uv1960_to_xy(uv) -> np.ndarray:
    """CIE 1960 UCS uv (..., 2) -> CIE 1931 xy (..., 2)."""
    uv = np.asarray(uv, dtype=np.float64)
    u, v = uv[..., 0], uv[..., 1]
    d = u - 4.0 * v + 2.0
    return np.stack([1.5 * u / d, v / d], axis=-1)


# --------------------------------------------------------------------------------------------------
# CIELAB and CIEDE2000
# --------------------------------------------------------------------------------------------------

_LAB_EPS = 216.0 / 24389.0  # (6/29)^3
_LAB_KAPPA = 24389.0 / 27.0  # (29/3)^3


def XYZ_to_Lab(XYZ, white_xy=D50_XY) -> np.ndarray:  # noqa: N802, N803
    """CIE 1976 L*a*b* of XYZ (..., 3) relative to the white ``white_xy`` (Y_white = 1). float64."""
    XYZ = np.asarray(XYZ, dtype=np.float64)  # noqa: N806
    w = xy_to_XYZ(white_xy)
    t = XYZ / w
    f = np.where(t > _LAB_EPS, np.cbrt(t), (_LAB_KAPPA * t + 16.0) / 116.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def Lab_to_XYZ(Lab, white_xy=D50_XY) -> np.ndarray:  # noqa: N802, N803
    """Inverse of :func:`XYZ_to_Lab`. float64 XYZ (..., 3) with the white's Y = 1."""
    Lab = np.asarray(Lab, dtype=np.float64)  # noqa: N806
    L, a, b = Lab[..., 0], Lab[..., 1], Lab[..., 2]
    fy = (L + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0
    xr = np.where(fx**3 > _LAB_EPS, fx**3, (116.0 * fx - 16.0) / _LAB_KAPPA)
    yr = np.where(L > _LAB_KAPPA * _LAB_EPS, fy**3, L / _LAB_KAPPA)
    zr = np.where(fz**3 > _LAB_EPS, fz**3, (116.0 * fz - 16.0) / _LAB_KAPPA)
    return np.stack([xr, yr, zr], axis=-1) * xy_to_XYZ(white_xy)


def delta_E_2000(Lab1, Lab2) -> np.ndarray:  # noqa: N802, N803
    """CIEDE2000 colour difference (kL = kC = kH = 1) between Lab (..., 3) arrays, per Sharma et al.
    (2005), including their hue-angle conventions (hue 0 when a' = b = 0; mean hue and hue
    difference rules for |h1' - h2'| > 180). float64 array of shape (...)."""
    Lab1 = np.asarray(Lab1, dtype=np.float64)  # noqa: N806
    Lab2 = np.asarray(Lab2, dtype=np.float64)  # noqa: N806
    L1, a1, b1 = Lab1[..., 0], Lab1[..., 1], Lab1[..., 2]
    L2, a2, b2 = Lab2[..., 0], Lab2[..., 1], Lab2[..., 2]
    C1 = np.hypot(a1, b1)
    C2 = np.hypot(a2, b2)
    Cm7 = ((C1 + C2) / 2.0) ** 7
    G = 0.5 * (1.0 - np.sqrt(Cm7 / (Cm7 + 25.0**7)))
    a1p = (1.0 + G) * a1
    a2p = (1.0 + G) * a2
    C1p = np.hypot(a1p, b1)
    C2p = np.hypot(a2p, b2)
    # Sharma eq. (7): h' = 0 when a' = b = 0, else atan2 in [0, 360).
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)
    dLp = L2 - L1
    dCp = C2p - C1p
    prod0 = (C1p * C2p) == 0
    dh = h2p - h1p
    dhp = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dhp = np.where(prod0, 0.0, dhp)
    dHp = 2.0 * np.sqrt(C1p * C2p) * np.sin(np.radians(dhp / 2.0))
    Lpm = (L1 + L2) / 2.0
    Cpm = (C1p + C2p) / 2.0
    hsum = h1p + h2p
    hpm = np.where(
        np.abs(h1p - h2p) <= 180.0,
        hsum / 2.0,
        np.where(hsum < 360.0, (hsum + 360.0) / 2.0, (hsum - 360.0) / 2.0),
    )
    hpm = np.where(prod0, hsum, hpm)
    T = (
        1.0
        - 0.17 * np.cos(np.radians(hpm - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * hpm))
        + 0.32 * np.cos(np.radians(3.0 * hpm + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * hpm - 63.0))
    )
    dtheta = 30.0 * np.exp(-(((hpm - 275.0) / 25.0) ** 2))
    Cpm7 = Cpm**7
    RC = 2.0 * np.sqrt(Cpm7 / (Cpm7 + 25.0**7))
    SL = 1.0 + 0.015 * (Lpm - 50.0) ** 2 / np.sqrt(20.0 + (Lpm - 50.0) ** 2)
    SC = 1.0 + 0.045 * Cpm
    SH = 1.0 + 0.015 * Cpm * T
    RT = -np.sin(np.radians(2.0 * dtheta)) * RC
    tl, tc, th = dLp / SL, dCp / SC, dHp / SH
    return np.sqrt(tl**2 + tc**2 + th**2 + RT * tc * th)


# --------------------------------------------------------------------------------------------------
# Correlated colour temperature and tint (Robertson 1968, as the DNG SDK computes it)
# --------------------------------------------------------------------------------------------------

# (reciprocal megakelvin, u, v, isotemperature slope dv/du) - Wyszecki & Stiles table of Robertson's
# isotemperature lines. The DNG SDK (1.1 - 1.7.1) carries u = 0.24702 at 325 MK^-1, a misprint of
# the book; Lindbloom and colour-science use the corrected 0.24792 (recomputed from Planck's law).
_ROBERTSON = (
    (0.0, 0.18006, 0.26352, -0.24341),
    (10.0, 0.18066, 0.26589, -0.25479),
    (20.0, 0.18133, 0.26846, -0.26876),
    (30.0, 0.18208, 0.27119, -0.28539),
    (40.0, 0.18293, 0.27407, -0.30470),
    (50.0, 0.18388, 0.27709, -0.32675),
    (60.0, 0.18494, 0.28021, -0.35156),
    (70.0, 0.18611, 0.28342, -0.37915),
    (80.0, 0.18740, 0.28668, -0.40955),
    (90.0, 0.18880, 0.28997, -0.44278),
    (100.0, 0.19032, 0.29326, -0.47888),
    (125.0, 0.19462, 0.30141, -0.58204),
    (150.0, 0.19962, 0.30921, -0.70471),
    (175.0, 0.20525, 0.31647, -0.84901),
    (200.0, 0.21142, 0.32312, -1.0182),
    (225.0, 0.21807, 0.32909, -1.2168),
    (250.0, 0.22511, 0.33439, -1.4512),
    (275.0, 0.23247, 0.33904, -1.7298),
    (300.0, 0.24010, 0.34308, -2.0637),
    (325.0, 0.24792, 0.34655, -2.4681),
    (350.0, 0.25591, 0.34951, -2.9641),
    (375.0, 0.26400, 0.35200, -3.5814),
    (400.0, 0.27218, 0.35407, -4.3633),
    (425.0, 0.28039, 0.35577, -5.3762),
    (450.0, 0.28863, 0.35714, -6.7262),
    (475.0, 0.29685, 0.35823, -8.5955),
    (500.0, 0.30505, 0.35907, -11.324),
    (525.0, 0.31320, 0.35968, -15.628),
    (550.0, 0.32129, 0.36011, -23.325),
    (575.0, 0.32931, 0.36038, -40.770),
    (600.0, 0.33724, 0.36051, -116.45),
)
_ROBERTSON_SDK = tuple((r, 0.24702 if r == 325.0 else u, v, t) for (r, u, v, t) in _ROBERTSON)
#: uv distance -> DNG "tint" units (``kTintScale`` in the DNG SDK); positive tint is green-ward.
TINT_SCALE = -3000.0


def _unit_slope(t: float) -> tuple[float, float]:
    n = math.sqrt(1.0 + t * t)
    return 1.0 / n, t / n


def xy_to_temperature_tint(xy, *, sdk_table: bool = True) -> tuple[float, float]:
    """Correlated colour temperature (K) and DNG tint of a chromaticity, by Robertson's method.

    Follows the DNG SDK's ``dng_temperature::Set_xy_coord``: the isotemperature lines bracketing
    the point are found in CIE 1960 uv, the reciprocal temperature is interpolated by the signed
    distances to both lines, and the tint is the distance from the interpolated locus point along
    the interpolated (renormalised) isotemperature direction, times :data:`TINT_SCALE`.
    Points beyond the table's ends clamp to 1667 K (600 MK^-1) or 100000 K (10 MK^-1), as in the SDK.

    ``sdk_table=True`` uses the SDK's table verbatim (u = 0.24702 at 325 MK^-1) so that rendering
    matches Adobe's; ``False`` uses the corrected value (as colour-science does). The two differ only
    for temperatures between 2857 K and 3333 K, by up to ~0.8 % (25 K) in temperature.
    Returns (temperature, tint); ``tint / 3000`` equals colour-science's D_uv.
    """
    table = _ROBERTSON_SDK if sdk_table else _ROBERTSON
    x, y = float(xy[0]), float(xy[1])
    d = 1.5 - x + 6.0 * y
    if not d > 0:  # also catches NaN
        raise ValueError(f"({x}, {y}) is not a chromaticity")
    u, v = 2.0 * x / d, 3.0 * y / d
    last_dt = last_du = last_dv = 0.0
    for i in range(1, 31):
        du, dv = _unit_slope(table[i][3])
        uu, vv = u - table[i][1], v - table[i][2]
        dt = -uu * dv + vv * du  # signed distance above (>0) or below the isotemperature line
        if dt <= 0.0 or i == 30:
            dt = -min(dt, 0.0)
            f = 0.0 if i == 1 else dt / (last_dt + dt)
            r = table[i - 1][0] * f + table[i][0] * (1.0 - f)
            temperature = 1.0e6 / r if r > 0 else math.inf
            uu = u - (table[i - 1][1] * f + table[i][1] * (1.0 - f))
            vv = v - (table[i - 1][2] * f + table[i][2] * (1.0 - f))
            du, dv = du * (1.0 - f) + last_du * f, dv * (1.0 - f) + last_dv * f
            n = math.hypot(du, dv)
            du, dv = du / n, dv / n
            return temperature, (uu * du + vv * dv) * TINT_SCALE
        last_dt, last_du, last_dv = dt, du, dv
    raise AssertionError("unreachable")  # pragma: no cover


def temperature_tint_to_xy(temperature: float, tint: float = 0.0, *, sdk_table: bool = True):
    """xy chromaticity (tuple of floats) of a correlated colour temperature (K) and DNG tint.

    Inverse of :func:`xy_to_temperature_tint` (the DNG SDK's ``dng_temperature::Get_xy_coord``):
    the locus point and the isotemperature directions are interpolated linearly in reciprocal
    temperature, the direction renormalised, and the point moved ``tint / TINT_SCALE`` along it.
    Temperatures below 1667 K extrapolate the last table segment.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    table = _ROBERTSON_SDK if sdk_table else _ROBERTSON
    r = 1.0e6 / temperature
    offset = tint / TINT_SCALE
    for i in range(30):
        if r < table[i + 1][0] or i == 29:
            f = (table[i + 1][0] - r) / (table[i + 1][0] - table[i][0])
            u = table[i][1] * f + table[i + 1][1] * (1.0 - f)
            v = table[i][2] * f + table[i + 1][2] * (1.0 - f)
            du1, dv1 = _unit_slope(table[i][3])
            du2, dv2 = _unit_slope(table[i + 1][3])
            du, dv = du1 * f + du2 * (1.0 - f), dv1 * f + dv2 * (1.0 - f)
            n = math.hypot(du, dv)
            u += du / n * offset
            v += dv / n * offset
            d = u - 4.0 * v + 2.0
            return 1.5 * u / d, v / d
    raise AssertionError("unreachable")  # pragma: no cover


def xy_to_cct(xy, *, sdk_table: bool = True) -> float:
    """Correlated colour temperature in kelvin (see :func:`xy_to_temperature_tint`)."""
    return xy_to_temperature_tint(xy, sdk_table=sdk_table)[0]


# --------------------------------------------------------------------------------------------------
# Illuminants (EXIF LightSource codes, as the DNG SDK interprets them)
# --------------------------------------------------------------------------------------------------


class Illuminant(NamedTuple):
    """A calibration illuminant: EXIF name, the temperature (K) the DNG SDK interpolates with
    (``dng_camera_profile::IlluminantToTemperature``) and the chromaticity it assigns
    (``dng_illuminant_data``, DNG SDK 1.6+)."""

    name: str
    temperature: float
    xy: tuple[float, float]


#: EXIF LightSource code -> Illuminant. Codes not listed (0 unknown, 255 "other" with DNG 1.6
#: IlluminantData, which rotpunkt does not read) have no temperature: see :func:`illuminant_temperature`.
ILLUMINANTS: dict[int, Illuminant] = {
    1: Illuminant("Daylight", 5500.0, D55_XY),
    2: Illuminant("Fluorescent", (3800.0 + 4500.0) / 2, (0.37208, 0.37529)),  # F2
    3: Illuminant("Tungsten", 2850.0, STD_A_XY),
    4: Illuminant("Flash", 5500.0, D55_XY),
    9: Illuminant("Fine weather", 5500.0, D55_XY),
    10: Illuminant("Cloudy", 6500.0, D65_XY),
    11: Illuminant("Shade", 7500.0, D75_XY),
    12: Illuminant("Daylight fluorescent", (5700.0 + 7100.0) / 2, (0.31310, 0.33727)),  # F1
    13: Illuminant("Day white fluorescent", (4600.0 + 5500.0) / 2, (0.34588, 0.35875)),  # F8
    14: Illuminant("Cool white fluorescent", (3800.0 + 4500.0) / 2, (0.37417, 0.37281)),  # F9
    15: Illuminant("White fluorescent", (3250.0 + 3800.0) / 2, (0.40910, 0.39430)),  # F3
    16: Illuminant("Warm white fluorescent", (2600.0 + 3250.0) / 2, (0.44018, 0.40329)),  # F4
    17: Illuminant("Standard light A", 2850.0, STD_A_XY),
    18: Illuminant("Standard light B", 5500.0, (0.348483, 0.351747)),
    19: Illuminant("Standard light C", 6500.0, (0.310061, 0.316150)),
    20: Illuminant("D55", 5500.0, D55_XY),
    21: Illuminant("D65", 6500.0, D65_XY),
    22: Illuminant("D75", 7500.0, D75_XY),
    23: Illuminant("D50", 5000.0, D50_XY),
    # The SDK places ISO studio tungsten on the Planckian locus at 3200 K, tint 0.
    24: Illuminant("ISO studio tungsten", 3200.0, temperature_tint_to_xy(3200.0, 0.0)),
}


def illuminant_temperature(code: int) -> float:
    """Interpolation temperature (K) of an EXIF LightSource code; 0.0 when unknown (0, 255, other)."""
    ill = ILLUMINANTS.get(int(code))
    return ill.temperature if ill is not None else 0.0


# --------------------------------------------------------------------------------------------------
# Chromatic adaptation
# --------------------------------------------------------------------------------------------------

#: Bradford cone response matrix (Lam 1985), as the DNG SDK and colour-science use it.
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]], dtype=np.float64)


def bradford_matrix(src_white_xy, dst_white_xy) -> np.ndarray:
    """Linearised Bradford chromatic adaptation (3, 3) float64 mapping XYZ seen under
    ``src_white_xy`` to XYZ under ``dst_white_xy`` (both whites with Y = 1, so the source white maps
    exactly onto the destination white)."""
    w1 = BRADFORD @ xy_to_XYZ(src_white_xy)
    w2 = BRADFORD @ xy_to_XYZ(dst_white_xy)
    return np.linalg.inv(BRADFORD) @ np.diag(w2 / w1) @ BRADFORD


# --------------------------------------------------------------------------------------------------
# RGB colour spaces
# --------------------------------------------------------------------------------------------------


class RGBSpace(NamedTuple):
    """Primaries (3, 2) xy of R, G, B and the white xy of an RGB colour space."""

    name: str
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    white: tuple[float, float]


#: Named RGB spaces: "srgb" (IEC 61966-2-1), "p3" (Display P3), "rec2020" (ITU-R BT.2020), all with
#: the D65 white x=0.3127, y=0.3290; "prophoto" (ROMM RGB, ISO 22028-2) with the D50 PCS white.
RGB_SPACES: dict[str, RGBSpace] = {
    "srgb": RGBSpace("sRGB", ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06)), D65_XY),
    "p3": RGBSpace("Display P3", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), D65_XY),
    "rec2020": RGBSpace("ITU-R BT.2020", ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), D65_XY),
    "prophoto": RGBSpace("ProPhoto RGB", ((0.7347, 0.2653), (0.1596, 0.8404), (0.0366, 0.0001)), D50_XY),
}


def rgb_to_xyz_matrix_from_primaries(primaries, white_xy) -> np.ndarray:
    """(3, 3) float64 matrix from linear RGB to XYZ, such that RGB (1, 1, 1) -> the white with Y=1."""
    P = xy_to_XYZ(np.asarray(primaries, dtype=np.float64)).T  # columns: XYZ of each primary (Y=1)
    S = np.linalg.solve(P, xy_to_XYZ(white_xy))
    return P * S[None, :]


def _space(name: str) -> RGBSpace:
    try:
        return RGB_SPACES[name]
    except KeyError:
        raise ValueError(f"unknown RGB space {name!r}; known: {', '.join(RGB_SPACES)}") from None


@cache
def _rgb_to_xyz_cached(name: str) -> np.ndarray:
    sp = _space(name)
    m = rgb_to_xyz_matrix_from_primaries(sp.primaries, sp.white)
    m.setflags(write=False)
    return m


def rgb_to_xyz_matrix(space: str) -> np.ndarray:
    """Linear RGB of a named space -> XYZ relative to that space's own white. (3, 3) float64."""
    return _rgb_to_xyz_cached(space).copy()


def xyz_to_rgb_matrix(space: str) -> np.ndarray:
    """XYZ (relative to the space's own white) -> linear RGB of a named space. (3, 3) float64."""
    return np.linalg.inv(_rgb_to_xyz_cached(space))


def xyz_d50_to_rgb_matrix(space: str) -> np.ndarray:
    """XYZ in the D50 PCS -> linear RGB of a named space, Bradford-adapting D50 to the space's white.
    For "prophoto" (a D50 space) this is the plain inverse. (3, 3) float64."""
    return xyz_to_rgb_matrix(space) @ bradford_matrix(D50_XY, _space(space).white)


def rgb_to_xyz_d50_matrix(space: str) -> np.ndarray:
    """Linear RGB of a named space -> XYZ in the D50 PCS (inverse of :func:`xyz_d50_to_rgb_matrix`)."""
    return bradford_matrix(_space(space).white, D50_XY) @ _rgb_to_xyz_cached(space)


# --------------------------------------------------------------------------------------------------
# Transfer functions
# --------------------------------------------------------------------------------------------------


def srgb_encode(linear) -> np.ndarray:
    """sRGB (IEC 61966-2-1) encoding, linear -> non-linear; also Display P3's. Exact formula in the
    input's float precision (float64 for non-float inputs). Values <= 0.0031308 (negatives included)
    use the linear segment 12.92 x, values > 1 extend the power segment."""
    x = np.asarray(linear)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    p = 1.055 * np.power(np.maximum(x, 0.0031308), 1.0 / 2.4) - 0.055
    return np.where(x <= 0.0031308, 12.92 * x, p).astype(x.dtype, copy=False)


def srgb_decode(encoded) -> np.ndarray:
    """sRGB decoding (inverse of :func:`srgb_encode`), non-linear -> linear; also Display P3's."""
    e = np.asarray(encoded)
    if not np.issubdtype(e.dtype, np.floating):
        e = e.astype(np.float64)
    dt = e.dtype
    p = np.power((np.maximum(e, 0.04045) + 0.055) / 1.055, 2.4)
    return np.where(e <= 0.04045, e / 12.92, p).astype(dt, copy=False)


_STRIP_ELEMS = 1 << 18  # elements per strip (1 MiB of float32) for the threaded image kernels


def _strips(n: int, per: int) -> list[tuple[int, int]]:
    return [(i, min(i + per, n)) for i in range(0, n, per)]


def _run_strips(fn, n: int, per: int, workers: int) -> None:
    spans = _strips(n, per)
    if workers <= 1 or len(spans) <= 1:
        for s in spans:
            fn(*s)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(spans), os.cpu_count() or 1)) as ex:
        list(ex.map(lambda s: fn(*s), spans))


def srgb_encode_fast(linear: np.ndarray, *, out: np.ndarray | None = None, workers: int = 2) -> np.ndarray:
    """sRGB encoding of a float32 image, fast: float32 power in strips of 256 K elements on
    ``workers`` threads (numpy releases the GIL). Agrees with the exact float64 formula to better
    than 0.5/65535 on [0, 1] (measured ~1e-7); outside [0, 1] it extends the formula like
    :func:`srgb_encode`. ``out`` (float32, same shape; may be ``linear`` itself) receives the result.
    """
    x = np.ascontiguousarray(linear, dtype=np.float32)
    if out is None:
        out = np.empty_like(x)
    elif out.shape != x.shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous float32 array with the input's shape")
    src = x.reshape(-1)
    dst = out.reshape(-1)
    a, b, g = np.float32(1.055), np.float32(0.055), np.float32(1.0 / 2.4)
    knee, slope = np.float32(0.0031308), np.float32(12.92)

    def work(i0: int, i1: int) -> None:
        s = src[i0:i1]
        lin = s <= knee
        lo = s * slope  # computed before ``dst`` may overwrite ``s`` (in-place use)
        t = np.maximum(s, knee)
        np.power(t, g, out=t)
        t *= a
        t -= b
        np.copyto(t, lo, where=lin)
        dst[i0:i1] = t

    _run_strips(work, src.size, _STRIP_ELEMS, workers)
    return out


def prophoto_encode(linear) -> np.ndarray:
    """ROMM / ProPhoto RGB encoding (ISO 22028-2): 16 x below 1/512, else x^(1/1.8). For reference."""
    x = np.asarray(linear, dtype=np.float64)
    return np.where(x < 1.0 / 512.0, 16.0 * x, np.power(np.maximum(x, 1.0 / 512.0), 1.0 / 1.8))


def prophoto_decode(encoded) -> np.ndarray:
    """Inverse of :func:`prophoto_encode`."""
    e = np.asarray(encoded, dtype=np.float64)
    return np.where(e < 16.0 / 512.0, e / 16.0, np.power(np.maximum(e, 16.0 / 512.0), 1.8))


# --------------------------------------------------------------------------------------------------
# The DNG SDK's HSV (hue in [0, 6))
# --------------------------------------------------------------------------------------------------


def rgb_to_hsv_dng(rgb) -> np.ndarray:
    """RGB (..., 3) -> HSV (..., 3) as the DNG SDK's ``DNG_RGBtoHSV``: hue in [0, 6) (60-degree
    sextants, 0 = red), saturation (max - min) / max (0 when max <= 0), value = max. The input's
    float dtype is kept (float32 stays float32)."""
    rgb = np.asarray(rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    rng = mx - mn
    one = rgb.dtype.type(1) if np.issubdtype(rgb.dtype, np.floating) else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(mx > 0, rng / np.where(mx > 0, mx, one), 0)
        safe = np.where(rng > 0, rng, one)
        h = np.where(r == mx, (g - b) / safe, np.where(g == mx, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = np.where(rng > 0, h, 0)
    h = np.where(h < 0, h + 6, h)
    return np.stack([h, s, mx], axis=-1).astype(
        rgb.dtype if np.issubdtype(rgb.dtype, np.floating) else np.float64, copy=False
    )


def hsv_to_rgb_dng(hsv) -> np.ndarray:
    """Inverse of :func:`rgb_to_hsv_dng` (the SDK's ``DNG_HSVtoRGB``); hue is taken modulo 6.
    Saturations above 1 give negative components (the exact inverse for such inputs).

    Written without sextant branches: channel = v (1 - s a(h)) with the piecewise-linear
    a_R = clip(2 - |h - 3|, 0, 1), a_G = clip(|h - 2| - 1, 0, 1), a_B = clip(|h - 4| - 1, 0, 1) on
    [0, 6) - the same values as the SDK's switch over the six sextants (p = v(1 - s),
    q = v(1 - s f), t = v(1 - s(1 - f)))."""
    hsv = np.asarray(hsv)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    h = np.mod(h, 6)
    vs = v * s
    r = v - vs * np.clip(2 - np.abs(h - 3), 0, 1)
    g = v - vs * np.clip(np.abs(h - 2) - 1, 0, 1)
    b = v - vs * np.clip(np.abs(h - 4) - 1, 0, 1)
    return np.stack([r, g, b], axis=-1)
