"""Synthetic raw scenes whose truth is known, for end-to-end tests.

Each scene function returns a :class:`Scene`: the stored raw data, the keyword arguments for
:func:`dngwriter.write_dng` that describe it (CFA, levels, colour matrices, white balance, opcodes), and a
truth record. ``scene.write(path)`` writes the DNG.

* :func:`colour_chart` -- the 24 ColorChecker patches rendered from spectra (reflectance x illuminant x
  camera sensitivity) into a Bayer mosaic, with a camera characterisation computed the way camera makers
  do it (least-squares matrices for Standard light A and D65). Truth: each patch's XYZ under the
  illuminant and adapted to the DNG PCS white (D50).
* :func:`slanted_edge` -- an ISO 12233-style slanted edge blurred by a Gaussian of known sigma, seen by a
  neutral camera. Truth: the edge line and the MTF.
* :func:`flat_field_with_shading` -- a uniform grey field times a known shading, with the DNG opcode
  (GainMap in OpcodeList2 or FixVignetteRadial in OpcodeList3) that undoes it. Truth: flat.

Spectral maths: every spectrum is sampled on 380..780 nm every 5 nm (linear interpolation, zero outside a
spectrum's own range -- camera sensitivities measured over a narrower range are zero beyond it); integrals
are sums on that grid. XYZ use the CIE 1931 2-degree observer and are normalised so that the perfect
white reflector under the illuminant has Y = 1. Chromatic adaptation to the PCS is linear Bradford
(von Kries in the Bradford cone space), as the DNG specification prescribes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import colour
import numpy as np
from dngwriter import (
    cfa_pattern_codes,
    encode_fix_vignette_radial,
    gain_map_opcode,
    opcode_list,
    quantize,
    write_dng,
)
from scipy.special import ndtr

from rotpunkt.errors import InvalidParams

#: The wavelength grid of all spectral maths here, nm.
WAVELENGTHS = np.arange(380.0, 781.0, 5.0)
#: EXIF LightSource codes of the two calibration illuminants.
ILLUMINANT_CODES = {"A": 17, "D65": 21}
#: DNG profile connection space white: D50 as the DNG specification gives it (x, y).
PCS_WHITE_XY = (0.3457, 0.3585)
#: Bradford cone-response matrix (Lam 1985; as used by ICC and the DNG specification).
BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                     [-0.7502, 1.7135, 0.0367],
                     [0.0389, -0.0685, 1.0296]])
CHART_NAME = "ColorChecker N Ohta"
CHART_ROWS, CHART_COLS = 4, 6


def xy_to_xyz(xy: Sequence[float]) -> np.ndarray:
    """XYZ with Y = 1 of chromaticity (x, y)."""
    x, y = xy
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


PCS_WHITE_XYZ = xy_to_xyz(PCS_WHITE_XY)


def _resample(wavelengths: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values (n,) or (n, k) resampled onto WAVELENGTHS; zero outside the given range."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        return np.interp(WAVELENGTHS, wavelengths, v, left=0.0, right=0.0)
    return np.stack([np.interp(WAVELENGTHS, wavelengths, v[:, i], left=0.0, right=0.0)
                     for i in range(v.shape[1])], axis=1)


def illuminant_spd(name: str) -> np.ndarray:
    """Relative spectral power of CIE illuminant "A" or "D65" on :data:`WAVELENGTHS`."""
    if name not in ILLUMINANT_CODES:
        raise InvalidParams(f"illuminant must be one of {sorted(ILLUMINANT_CODES)}, got {name!r}")
    sd = colour.SDS_ILLUMINANTS[name]
    return _resample(sd.wavelengths, sd.values)


def cmfs() -> np.ndarray:
    """CIE 1931 2-degree colour matching functions on :data:`WAVELENGTHS`, shape (n, 3)."""
    m = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    return _resample(m.wavelengths, m.values)


def camera_sensitivities(camera: str) -> np.ndarray:
    """Spectral sensitivities (n, 3) of an entry of ``colour.MSDS_CAMERA_SENSITIVITIES``."""
    if camera not in colour.MSDS_CAMERA_SENSITIVITIES:
        raise InvalidParams(f"camera must be one of {list(colour.MSDS_CAMERA_SENSITIVITIES)}, got {camera!r}")
    m = colour.MSDS_CAMERA_SENSITIVITIES[camera]
    return _resample(m.wavelengths, m.values)


def chart_reflectances() -> tuple[tuple[str, ...], np.ndarray]:
    """Names and reflectances (24, n) of the ColorChecker (N Ohta), row-major from dark skin."""
    sds = colour.SDS_COLOURCHECKERS[CHART_NAME]
    names = tuple(sds.keys())
    return names, np.stack([_resample(sds[k].wavelengths, sds[k].values) for k in names])


def training_reflectances() -> np.ndarray:
    """The 190 training reflectances of RAW to ACES v1 (shipped with colour-science), (190, n)."""
    t = colour.characterisation.read_training_data_rawtoaces_v1()
    return _resample(t.wavelengths, t.values).T


def reflectance_to_xyz(reflectance: np.ndarray, illuminant: str) -> np.ndarray:
    """XYZ (..., 3) of reflectances (..., n) under the illuminant; perfect white reflector Y = 1."""
    s = illuminant_spd(illuminant)
    c = cmfs()
    return (np.asarray(reflectance) * s) @ c / (s @ c[:, 1])


def reflectance_to_camera(reflectance: np.ndarray, illuminant: str, camera: str) -> np.ndarray:
    """Camera responses (..., 3) normalised so the perfect white reflector's largest channel is 1."""
    s = illuminant_spd(illuminant)
    q = camera_sensitivities(camera)
    return (np.asarray(reflectance) * s) @ q / np.max(s @ q)


def illuminant_white_xyz(illuminant: str) -> np.ndarray:
    """XYZ (Y = 1) of the illuminant itself (the perfect white reflector under it)."""
    return reflectance_to_xyz(np.ones(WAVELENGTHS.size), illuminant)


def bradford_matrix(src_white: np.ndarray, dst_white: np.ndarray) -> np.ndarray:
    """Linear Bradford adaptation matrix taking XYZ seen under ``src_white`` to ``dst_white``."""
    lms_s, lms_d = BRADFORD @ src_white, BRADFORD @ dst_white
    return np.linalg.inv(BRADFORD) @ np.diag(lms_d / lms_s) @ BRADFORD


def adapt_to_pcs(xyz: np.ndarray, illuminant: str) -> np.ndarray:
    """XYZ under ``illuminant`` adapted (Bradford) to the DNG PCS white D50 (x 0.3457, y 0.3585)."""
    m = bradford_matrix(illuminant_white_xyz(illuminant), PCS_WHITE_XYZ)
    return np.asarray(xyz) @ m.T


def _white_preserving_lstsq(a: np.ndarray, b: np.ndarray, w: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """M (k, 3) minimising ||a M^T - b||^2 subject to M w = bw exactly (Lagrange, row by row).

    a: (N, 3) inputs, b: (N, k) targets, w: (3,) input white, bw: (k,) its required image.
    """
    ata_inv = np.linalg.inv(a.T @ a)
    rows = []
    for j in range(b.shape[1]):
        m = ata_inv @ a.T @ b[:, j]
        m = m + ata_inv @ w * (bw[j] - w @ m) / (w @ ata_inv @ w)
        rows.append(m)
    return np.array(rows)


@dataclass(frozen=True)
class Characterisation:
    """A camera's DNG colour model for one calibration illuminant, as a camera maker would fit it.

    ``color_matrix`` (XYZ -> camera, maps the illuminant's white (Y = 1) to camera values whose largest
    is 1), ``forward_matrix`` (white-balanced camera -> XYZ D50, maps (1, 1, 1) to the PCS white),
    ``neutral`` (camera response to the illuminant's white, largest channel 1). All quantised to what
    the DNG file stores.
    """

    illuminant: str
    color_matrix: np.ndarray
    forward_matrix: np.ndarray
    neutral: np.ndarray


def characterise(camera: str, illuminant: str, training: str = "extended") -> Characterisation:
    """Fit the DNG matrices of ``camera`` under ``illuminant`` over a training set of reflectances.

    ``training`` "chart" uses the 24 chart patches, "extended" adds the 190 RAW-to-ACES training
    reflectances. Both fits are least squares in linear XYZ / camera space, constrained so that white
    maps exactly to white (before quantisation to the file's 1/10000 steps).
    """
    _, chart = chart_reflectances()
    if training == "chart":
        refl = chart
    elif training == "extended":
        refl = np.concatenate([chart, training_reflectances()])
    else:
        raise InvalidParams(f"training must be 'chart' or 'extended', got {training!r}")
    xyz = reflectance_to_xyz(refl, illuminant)
    cam = reflectance_to_camera(refl, illuminant, camera)
    w = illuminant_white_xyz(illuminant)
    neutral = reflectance_to_camera(np.ones(WAVELENGTHS.size), illuminant, camera)
    cm = _white_preserving_lstsq(xyz, cam, w, neutral)
    xyz50 = adapt_to_pcs(xyz, illuminant)
    fm = _white_preserving_lstsq(cam / neutral, xyz50, np.ones(3), PCS_WHITE_XYZ)
    return Characterisation(illuminant, quantize(cm), quantize(fm), quantize(neutral))


@dataclass(frozen=True)
class Scene:
    """Stored raw data, the :func:`write_dng` keyword arguments that describe it, and its truth."""

    data: np.ndarray
    dng: dict[str, Any]
    truth: Any

    def write(self, path: str | Path, **overrides: Any) -> Path:
        """Write the scene as a DNG (``overrides`` replace or add :func:`write_dng` arguments)."""
        return write_dng(path, self.data, **{**self.dng, **overrides})


@dataclass(frozen=True)
class ChartTruth:
    """Truth of :func:`colour_chart`. Patch arrays are (24, ...) in chart order (row-major)."""

    illuminant: str
    camera: str
    names: tuple[str, ...]
    #: (24, 4) int: top, left, bottom (exclusive), right (exclusive) of each patch's inner region,
    #: stored-image pixels; every edge is even, so each rectangle holds whole CFA periods.
    rects: np.ndarray
    #: (24, 3) XYZ under the scene illuminant, perfect white reflector Y = 1.
    xyz: np.ndarray
    #: (24, 3) ``xyz`` Bradford-adapted to the PCS white D50 (x 0.3457, y 0.3585), Y of white = 1.
    xyz_d50: np.ndarray
    #: (24, 3) noise-free camera signal in DN above black (before the black level is added, before
    #: rounding); divide by ``white - black`` for normalised camera RGB.
    camera_rgb: np.ndarray
    #: (3,) signal in DN above black a perfect white reflector would give (may exceed white - black).
    camera_rgb_white: np.ndarray
    #: XYZ (Y = 1) of the scene illuminant's white.
    illuminant_xyz: np.ndarray
    black: int
    white: int
    #: Characterisations written to the file: {17: StdA, 21: D65} (ColorMatrix1/2, ForwardMatrix1/2).
    characterisation: dict[int, Characterisation]
    #: AsShotNeutral as written (camera response to the scene illuminant's white, max 1).
    as_shot_neutral: np.ndarray
    reflectances: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0,)))


def _mosaic(planes: np.ndarray, pattern: tuple[int, ...]) -> np.ndarray:
    """(H, W) mosaic taking each pixel from ``planes[..., colour of that CFA site]``."""
    h, w = planes.shape[:2]
    n = int(round(len(pattern) ** 0.5))
    codes = np.array(pattern).reshape(n, n)
    idx = codes[np.arange(h)[:, None] % n, np.arange(w)[None, :] % n]
    return np.take_along_axis(planes, idx[..., None], axis=2)[..., 0]


def _to_raw(signal: np.ndarray, black: int, white: int, noise: float, seed: int) -> np.ndarray:
    """black + signal (+ Gaussian read noise of std ``noise`` DN), rounded and clipped to [0, white]."""
    x = black + signal
    if noise > 0:
        x = x + np.random.default_rng(seed).normal(0.0, noise, size=x.shape)
    return np.clip(np.round(x), 0, white).astype(np.uint16)


def colour_chart(
    illuminant: str = "D65",
    camera: str = "Nikon 5100 (NPL)",
    *,
    patch_px: int = 32,
    gap_px: int = 8,
    exposure: float = 0.75,
    black: int = 512,
    white: int = 16383,
    noise: float = 0.0,
    seed: int = 0,
    cfa_pattern: str = "RGGB",
    training: str = "extended",
    forward_matrices: bool = True,
    border_reflectance: float = 0.2,
) -> Scene:
    """The 24-patch ColorChecker under ``illuminant`` as ``camera`` records it, in a Bayer mosaic.

    Patches are uniform squares of ``patch_px`` pixels on a spectrally flat grey border
    (``border_reflectance``) ``gap_px`` wide, 4 rows x 6 columns; the mosaic is
    (4 patch + 5 gap) x (6 patch + 7 gap) pixels. Exposure puts the largest channel of the brightest
    patch at ``exposure`` of (white - black). ``noise`` is the standard deviation, in DN, of Gaussian
    read noise (0 = none). The file carries ColorMatrix1/ForwardMatrix1 for StdA (17) and
    ColorMatrix2/ForwardMatrix2 for D65 (21), fitted over ``training`` reflectances, and AsShotNeutral
    for the scene illuminant; the matrices are not perfect (the camera is not colorimetric), which is
    the point: a test computes the error floor they imply from ``truth.camera_rgb``.
    """
    if patch_px % 2 or gap_px % 2 or patch_px < 8 or gap_px < 2:
        raise InvalidParams("patch_px (>= 8) and gap_px (>= 2) must be even")
    if not 0 < exposure <= 1:
        raise InvalidParams(f"exposure must be in (0, 1], got {exposure}")
    if not 0 <= black < white:
        raise InvalidParams("need 0 <= black < white")
    pattern = cfa_pattern_codes(cfa_pattern)
    names, refl = chart_reflectances()
    xyz = reflectance_to_xyz(refl, illuminant)
    xyz50 = adapt_to_pcs(xyz, illuminant)
    cam = reflectance_to_camera(refl, illuminant, camera)
    gain = exposure * (white - black) / cam.max()
    camera_rgb = cam * gain
    white_cam = reflectance_to_camera(np.ones(WAVELENGTHS.size), illuminant, camera) * gain
    border = white_cam * border_reflectance

    h = CHART_ROWS * patch_px + (CHART_ROWS + 1) * gap_px
    w = CHART_COLS * patch_px + (CHART_COLS + 1) * gap_px
    planes = np.empty((h, w, 3))
    planes[:] = border
    margin = max(2, (patch_px // 8) // 2 * 2)
    rects = []
    for i in range(CHART_ROWS * CHART_COLS):
        r, c = divmod(i, CHART_COLS)
        t, left = gap_px + r * (patch_px + gap_px), gap_px + c * (patch_px + gap_px)
        planes[t:t + patch_px, left:left + patch_px] = camera_rgb[i]
        rects.append((t + margin, left + margin, t + patch_px - margin, left + patch_px - margin))
    data = _to_raw(_mosaic(planes, pattern), black, white, noise, seed)

    chars = {ILLUMINANT_CODES[n]: characterise(camera, n, training) for n in ("A", "D65")}
    neutral = quantize(white_cam / white_cam.max())
    dng: dict[str, Any] = dict(
        cfa_pattern=cfa_pattern, black_level=black, white_level=white,
        color_matrix1=chars[17].color_matrix, color_matrix2=chars[21].color_matrix,
        calibration_illuminant1=17, calibration_illuminant2=21,
        as_shot_neutral=neutral, model=f"Synthetic {camera}",
    )
    if forward_matrices:
        dng.update(forward_matrix1=chars[17].forward_matrix, forward_matrix2=chars[21].forward_matrix)
    truth = ChartTruth(
        illuminant=illuminant, camera=camera, names=names, rects=np.array(rects), xyz=xyz, xyz_d50=xyz50,
        camera_rgb=camera_rgb, camera_rgb_white=white_cam, illuminant_xyz=illuminant_white_xyz(illuminant),
        black=black, white=white, characterisation=chars, as_shot_neutral=neutral, reflectances=refl,
    )
    return Scene(data, dng, truth)


# ------------------------------------------------------------------------------------------------
# A neutral camera: camera RGB is linear sRGB (D65), so grey is R = G = B.
# ------------------------------------------------------------------------------------------------


def neutral_camera_dng() -> dict[str, Any]:
    """write_dng arguments of a camera whose RGB is linear sRGB: ColorMatrix (D65) = XYZ -> sRGB
    scaled so D65 white maps to (1, 1, 1); ForwardMatrix = sRGB -> XYZ Bradford-adapted to D50;
    AsShotNeutral (1, 1, 1)."""
    srgb_to_xyz = np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ, dtype=np.float64)
    d65 = xy_to_xyz(colour.RGB_COLOURSPACES["sRGB"].whitepoint)
    cm = np.linalg.inv(srgb_to_xyz)
    cm = cm / np.max(cm @ d65)
    fm = bradford_matrix(d65, PCS_WHITE_XYZ) @ srgb_to_xyz
    fm = fm * (PCS_WHITE_XYZ / (fm @ np.ones(3)))[:, None]  # exact (1,1,1) -> PCS white
    return dict(color_matrix1=quantize(cm), calibration_illuminant1=21, forward_matrix1=quantize(fm),
                as_shot_neutral=np.ones(3))


@dataclass(frozen=True)
class EdgeTruth:
    """Truth of :func:`slanted_edge`.

    Continuous image coordinates: x to the right, y down, origin at the top-left corner of the image,
    pixel (row i, col j) sampled at its centre (j + 0.5, i + 0.5). The signed distance of a point to
    the edge is ``d = (x - cx) * normal[0] + (y - cy) * normal[1]``; the bright side has d > 0. The
    signal (DN above black, every CFA site alike) is ``lo + (hi - lo) * Phi(d / sigma)``: an ideal edge
    blurred by an isotropic Gaussian PSF of ``sigma`` pixels, point-sampled (no pixel aperture), so the
    system MTF is exactly the Gaussian's, ``exp(-2 pi^2 sigma^2 f^2)`` (f in cycles per pixel).
    """

    cx: float
    cy: float
    angle_deg: float
    normal: tuple[float, float]
    lo: float
    hi: float
    sigma: float
    black: int
    white: int

    def mtf(self, f: Any) -> np.ndarray:
        """MTF at spatial frequency ``f`` (cycles / pixel)."""
        return np.exp(-2.0 * np.pi**2 * self.sigma**2 * np.asarray(f, dtype=np.float64) ** 2)

    @property
    def mtf50(self) -> float:
        """Frequency (cycles / pixel) where the MTF is 0.5: sqrt(ln 2 / 2) / (pi sigma)."""
        return float(np.sqrt(np.log(2.0) / 2.0) / (np.pi * self.sigma)) if self.sigma > 0 else float("inf")

    def esf(self, d: Any) -> np.ndarray:
        """Edge spread function, DN above black, at signed distance ``d`` (pixels)."""
        d = np.asarray(d, dtype=np.float64)
        if self.sigma == 0:
            return np.where(d > 0, self.hi, np.where(d < 0, self.lo, 0.5 * (self.lo + self.hi)))
        return self.lo + (self.hi - self.lo) * ndtr(d / self.sigma)


def slanted_edge(
    size: int | tuple[int, int] = 128,
    angle_deg: float = 5.0,
    *,
    contrast: float = 4.0,
    blur_sigma: float = 1.0,
    level: float = 0.7,
    black: int = 512,
    white: int = 16383,
    noise: float = 0.0,
    seed: int = 0,
    cfa_pattern: str = "RGGB",
) -> Scene:
    """A near-vertical edge through the image centre, tilted ``angle_deg`` clockwise from vertical.

    The bright side (right) is at ``level`` of (white - black), the dark side ``contrast`` times darker
    (ISO 12233:2017 recommends 4:1). A neutral camera (every CFA site sees the same signal, RGB = linear
    sRGB, AsShotNeutral 1) records it; ``blur_sigma`` is the Gaussian PSF's sigma in pixels.
    """
    h, w = (size, size) if isinstance(size, int) else size
    if h < 16 or w < 16 or h % 2 or w % 2:
        raise InvalidParams(f"size must be even and at least 16, got {size}")
    if contrast < 1 or blur_sigma < 0 or not 0 < level <= 1:
        raise InvalidParams("need contrast >= 1, blur_sigma >= 0, 0 < level <= 1")
    cfa_pattern_codes(cfa_pattern)  # validates
    theta = np.deg2rad(angle_deg)
    normal = (float(np.cos(theta)), float(np.sin(theta)))
    hi = level * (white - black)
    truth = EdgeTruth(cx=w / 2, cy=h / 2, angle_deg=angle_deg, normal=normal, lo=hi / contrast, hi=hi,
                      sigma=float(blur_sigma), black=black, white=white)
    y, x = np.mgrid[0:h, 0:w] + 0.5
    d = (x - truth.cx) * normal[0] + (y - truth.cy) * normal[1]
    data = _to_raw(truth.esf(d), black, white, noise, seed)
    dng = dict(cfa_pattern=cfa_pattern, black_level=black, white_level=white, **neutral_camera_dng())
    return Scene(data, dng, truth)


# ------------------------------------------------------------------------------------------------
# Flat field with lens shading and the opcode that undoes it.
# ------------------------------------------------------------------------------------------------


def gain_map_field(gains: np.ndarray, shape: tuple[int, int], *, origin: tuple[float, float] = (0.0, 0.0),
                   spacing: tuple[float, float] | None = None) -> np.ndarray:
    """The gain a DNG GainMap applies at every pixel of an image of ``shape`` (one map plane).

    Pixel (i, j) sits at relative position ((i + 0.5) / H, (j + 0.5) / W) of the image; its map index is
    (position - origin) / spacing, clamped to the map; the gain is bilinear between map points (the
    interpolation of Adobe's DNG SDK, dng_gain_map.cpp).
    """
    g = np.asarray(gains, dtype=np.float64)
    pv, ph = g.shape
    if spacing is None:
        spacing = (1.0 / max(pv - 1, 1), 1.0 / max(ph - 1, 1))
    h, w = shape
    fv = np.clip(((np.arange(h) + 0.5) / h - origin[0]) / spacing[0], 0, pv - 1)
    fh = np.clip(((np.arange(w) + 0.5) / w - origin[1]) / spacing[1], 0, ph - 1)
    iv = np.minimum(fv.astype(int), max(pv - 2, 0))
    ih = np.minimum(fh.astype(int), max(ph - 2, 0))
    tv, th = (fv - iv)[:, None], (fh - ih)[None, :]
    iv1, ih1 = np.minimum(iv + 1, pv - 1), np.minimum(ih + 1, ph - 1)
    g00, g01 = g[iv][:, ih], g[iv][:, ih1]
    g10, g11 = g[iv1][:, ih], g[iv1][:, ih1]
    return (g00 * (1 - th) + g01 * th) * (1 - tv) + (g10 * (1 - th) + g11 * th) * tv


def vignette_radial_gain(k: Sequence[float], cx: float, cy: float, shape: tuple[int, int]) -> np.ndarray:
    """The gain FixVignetteRadial applies: ``1 + sum_i k_i r^(2i+2)`` at every pixel of ``shape``.

    r is the distance from pixel centre (j + 0.5, i + 0.5) to the optical centre (cx W, cy H), divided
    by the largest centre-to-corner distance (the convention of Adobe's DNG SDK, dng_lens_correction.cpp;
    a reader that puts pixel centres on integers and the far edge at W - 1 differs by about 0.5 / max
    radius in r).
    """
    h, w = shape
    ocx, ocy = cx * w, cy * h
    rmax = np.hypot(max(ocx, w - ocx), max(ocy, h - ocy))
    y, x = np.mgrid[0:h, 0:w] + 0.5
    r2 = ((x - ocx) ** 2 + (y - ocy) ** 2) / rmax**2
    g = np.ones(shape)
    for i, ki in enumerate(k):
        g += ki * r2 ** (i + 1)
    return g


@dataclass(frozen=True)
class FlatTruth:
    """Truth of :func:`flat_field_with_shading`.

    ``shading`` (H, W) multiplies the flat signal in the stored mosaic (per pixel, so colour shading
    shows as different values at different CFA sites); after the scene's opcode the normalised image
    ``(raw - black) / (white - black)`` equals ``level`` everywhere (up to rounding, 0.5 DN).
    """

    kind: str
    level: float
    shading: np.ndarray
    black: int
    white: int
    #: Map gains per CFA site (2x2 row-major) for "gain_map", or the k0..k4, cx, cy for "vignette_radial".
    params: dict[str, Any]


def flat_field_with_shading(
    kind: str = "gain_map",
    size: tuple[int, int] = (96, 128),
    *,
    level: float = 0.5,
    black: int = 512,
    white: int = 16383,
    strength: float = 0.6,
    per_cfa: bool = True,
    map_points: tuple[int, int] = (9, 11),
    k: Sequence[float] = (0.6, 0.2),
    cx: float = 0.5,
    cy: float = 0.5,
    noise: float = 0.0,
    seed: int = 0,
    cfa_pattern: str = "RGGB",
) -> Scene:
    """A uniform grey field at ``level`` of (white - black) darkened by lens shading, plus the opcode.

    kind "gain_map": the correction is a GainMap in OpcodeList2 (applied to the linearised mosaic):
    gains ``1 + strength * rho^2`` on a ``map_points`` grid (rho = distance from the image centre in
    relative units, 1 at the corners); with ``per_cfa`` four GainMaps (one per 2x2 site, RowPitch =
    ColPitch = 2) whose strengths differ by colour (red 1.3x, blue 0.8x of green), else one map for all
    pixels. The stored shading is exactly 1 / (the gain the DNG interpolation yields), so the opcode
    restores ``level`` exactly.

    kind "vignette_radial": FixVignetteRadial (k, cx, cy) in OpcodeList3 (applied after demosaic, all
    planes); the stored shading is ``1 / (1 + k0 r^2 + k1 r^4 + ...)`` on every CFA site alike.
    """
    h, w = size
    if h % 2 or w % 2 or h < 16 or w < 16:
        raise InvalidParams(f"size must be even and at least 16, got {size}")
    if not 0 < level <= 1:
        raise InvalidParams(f"level must be in (0, 1], got {level}")
    pattern = cfa_pattern_codes(cfa_pattern)
    if per_cfa and kind == "gain_map" and len(pattern) != 4:
        raise InvalidParams("per_cfa gain maps need a 2x2 CFA pattern")
    dng: dict[str, Any] = dict(cfa_pattern=cfa_pattern, black_level=black, white_level=white,
                               **neutral_camera_dng())
    if kind == "gain_map":
        pv, ph = map_points
        v, u = np.meshgrid(np.linspace(0, 1, pv), np.linspace(0, 1, ph), indexing="ij")
        rho2 = ((v - 0.5) ** 2 + (u - 0.5) ** 2) / 0.5
        colour_scale = {0: 1.3, 1: 1.0, 2: 0.8}
        gain = np.ones((h, w))
        records, maps = [], {}
        if per_cfa:
            for site in range(4):
                r0, c0 = divmod(site, 2)
                gmap = (1 + strength * colour_scale[pattern[site]] * rho2).astype(np.float32)
                maps[(r0, c0)] = gmap
                full = gain_map_field(gmap, (h, w))
                gain[r0::2, c0::2] = full[r0::2, c0::2]
                records.append(
                    gain_map_opcode(gmap, top=r0, left=c0, bottom=h, right=w, row_pitch=2, col_pitch=2)
                )
        else:
            gmap = (1 + strength * rho2).astype(np.float32)
            maps[(0, 0)] = gmap
            gain = gain_map_field(gmap, (h, w))
            records.append(gain_map_opcode(gmap, bottom=h, right=w))
        dng["opcode_list2"] = opcode_list(*records)
        params: dict[str, Any] = {"maps": maps, "per_cfa": per_cfa}
    elif kind == "vignette_radial":
        kk = tuple(float(v) for v in k)
        gain = vignette_radial_gain(kk, cx, cy, (h, w))
        dng["opcode_list3"] = encode_fix_vignette_radial(kk, cx, cy)
        params = {"k": kk, "cx": cx, "cy": cy}
    else:
        raise InvalidParams(f"kind must be 'gain_map' or 'vignette_radial', got {kind!r}")
    shading = 1.0 / gain
    data = _to_raw(level * (white - black) * shading, black, white, noise, seed)
    return Scene(data, dng, FlatTruth(kind, level, shading, black, white, params))


__all__: list[str] = [
    "Scene", "ChartTruth", "EdgeTruth", "FlatTruth", "Characterisation", "colour_chart", "slanted_edge",
    "flat_field_with_shading", "characterise", "reflectance_to_xyz", "reflectance_to_camera", "adapt_to_pcs",
    "illuminant_white_xyz", "bradford_matrix", "neutral_camera_dng", "gain_map_field", "vignette_radial_gain",
    "PCS_WHITE_XYZ", "WAVELENGTHS", "ILLUMINANT_CODES",
]
