"""The data types that flow between stages: raw metadata, the raw image, the developed image.

Conventions
-----------
* Arrays are numpy, channels last: a CFA mosaic is (H, W); LinearRaw and developed images are (H, W, C).
* Matrices follow the DNG specification's orientation: ``color_matrix`` maps XYZ -> camera
  (shape (C, 3)), ``forward_matrix`` maps white-balanced camera -> XYZ D50 (shape (3, C)),
  ``camera_calibration`` is (C, C), ``analog_balance`` and ``as_shot_neutral`` are (C,).
* Index 0/1 of the paired colour tags is the file's "1"/"2" tags, in the order they are stored;
  the colour stage sorts them by illuminant temperature itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Colour index used in ``cfa_pattern``: 0 red, 1 green, 2 blue (the DNG CFAPlaneColor default).
RED, GREEN, BLUE = 0, 1, 2


@dataclass(frozen=True)
class HueSatMap:
    """A DNG ProfileHueSatMap or ProfileLookTable.

    ``table`` is float32 (V, H, S, 3) holding (hue shift in degrees, saturation scale, value scale)
    for each division, in the DNG storage order (value outermost, then hue, then saturation).
    ``encoding`` is 0 for linear, 1 for sRGB-gamma value encoding (ProfileHueSatMapEncoding /
    ProfileLookTableEncoding).
    """

    table: np.ndarray
    encoding: int = 0

    @property
    def dims(self) -> tuple[int, int, int]:
        """(hue divisions, saturation divisions, value divisions) as DNG stores them."""
        v, h, s, _ = self.table.shape
        return h, s, v


@dataclass(frozen=True)
class ColorInfo:
    """The camera colour model of a DNG (all optional; missing ones are None)."""

    color_matrix: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    forward_matrix: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    camera_calibration: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    #: EXIF LightSource codes of CalibrationIlluminant1/2 (0 = unknown / absent).
    calibration_illuminant: tuple[int, int] = (0, 0)
    analog_balance: np.ndarray | None = None
    as_shot_neutral: np.ndarray | None = None
    as_shot_white_xy: tuple[float, float] | None = None
    hue_sat_map: tuple[HueSatMap | None, HueSatMap | None] = (None, None)
    look_table: HueSatMap | None = None
    baseline_exposure: float = 0.0
    baseline_exposure_offset: float = 0.0
    profile_name: str | None = None


@dataclass(frozen=True)
class Exif:
    """The capture facts users ask about. Units: seconds, ISO, f-number, millimetres."""

    make: str | None = None
    model: str | None = None
    exposure_time: float | None = None
    iso: float | None = None
    f_number: float | None = None
    focal_length: float | None = None
    datetime: str | None = None
    lens: str | None = None


@dataclass(frozen=True)
class RawMetadata:
    """Everything the pipeline needs to know about a raw file, in typed form.

    Geometry: ``data`` of the RawImage is the stored image, uncropped (OpcodeList1 works on it); the
    linearisation stage crops it to ``active_area``; ``default_crop`` is (top, left, height, width)
    relative to the active area.
    """

    path: str | None
    width: int
    height: int
    photometric: str  # "cfa" or "linear_raw"
    samples_per_pixel: int = 1
    #: (rows, cols) int array of colour indices (RED/GREEN/BLUE) for CFA data, else None.
    cfa_pattern: np.ndarray | None = None
    compression: int = 1
    bits_per_sample: int = 16
    sample_format: str = "uint"  # "uint" or "float"
    #: black level array of shape (repeat_rows, repeat_cols, samples), in stored units.
    black_level: np.ndarray = field(default_factory=lambda: np.zeros((1, 1, 1), np.float64))
    black_level_delta_h: np.ndarray | None = None  # (width,) per column, stored units
    black_level_delta_v: np.ndarray | None = None  # (height,) per row, stored units
    white_level: np.ndarray = field(default_factory=lambda: np.array([65535.0]))  # (samples,)
    linearization_table: np.ndarray | None = None
    active_area: tuple[int, int, int, int] | None = None  # top, left, bottom, right (stored image)
    default_crop: tuple[int, int, int, int] | None = None  # top, left, height, width (in active area)
    orientation: int = 1  # EXIF/TIFF orientation 1..8
    #: Raw bytes of OpcodeList1/2/3 (big-endian as stored), or None.
    opcode_lists: tuple[bytes | None, bytes | None, bytes | None] = (None, None, None)
    color: ColorInfo = field(default_factory=ColorInfo)
    exif: Exif = field(default_factory=Exif)
    dng_version: tuple[int, ...] | None = None
    unique_camera_model: str | None = None
    source: str = "dng"  # "dng" or "libraw"
    extra: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> RawMetadata:
        return dataclasses.replace(self, **changes)


@dataclass
class Image:
    """A developed image.

    ``data`` is float32 (H, W, 3), display-referred, already encoded with ``space``'s transfer
    function, nominal range [0, 1]; or the same already quantised, as ``rotpunkt.io.write.quantize``
    does (``floor(v * (2**bits - 1) + 0.5)``): uint8 for 8-bit outputs, uint16 for 16-bit outputs
    (the tiled runner fills such an array band by band; ``write`` encodes it unchanged). ``space`` is
    "srgb" or "p3" (Display P3); "linear_srgb" / "linear_p3" hold scene-linear float32 values in
    the same primaries (not clipped, not encoded; ``write`` refuses them). ``orientation`` is the
    EXIF orientation the pixels still need for display (writers either rotate or record it).
    """

    data: np.ndarray
    space: str = "srgb"
    orientation: int = 1
    exif: Exif = field(default_factory=Exif)
    source: str | None = None
