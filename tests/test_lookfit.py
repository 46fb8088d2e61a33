"""Fitting a look from a camera's JPEG (rotpunkt.lookfit).

Truth: a synthetic scene (the 24 ColorChecker patches from their reflectances under D65, pasted on a
smooth texture that covers every hue, a range of saturations and ~9 EV of tones) rendered through a
hidden, known look; the "camera JPEG" is that rendering cropped, resized, turned to another
orientation and JPEG-compressed by Pillow. The fitted look must reproduce the hidden look on a
*different* scene (CIEDE2000 computed by colour-science, not rotpunkt), recover the registration,
keep greys neutral, keep its tone curve monotone, and survive a TOML round trip.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from functools import cache
from pathlib import Path

import colour
import numpy as np
import pytest
from PIL import Image as PILImage
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenes  # noqa: E402

from rotpunkt import colour_math as cm  # noqa: E402
from rotpunkt import look as L  # noqa: E402
from rotpunkt.errors import InvalidParams  # noqa: E402
from rotpunkt.lookfit import FitReport, fit_look, register  # noqa: E402

REC2020 = colour.RGB_COLOURSPACES["ITU-R BT.2020"]
SRGB = colour.RGB_COLOURSPACES["sRGB"]
D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]

#: the hidden look: contrast, toe, shoulder, exposure, saturation, vibrance and hue shifts by hue
HIDDEN = L.Look(
    name="hidden",
    exposure=L.ExposureLook(ev=0.2),
    tone=L.ToneLook(contrast=1.3, toe=0.005, shoulder=0.6, white=5.0),
    colour=L.ColourLook(saturation=1.3, vibrance=0.2, hue_shift=((8.0, 0.0, -6.0, 0.0, 10.0, 0.0),)),
)
#: the shipped vivid look, its per-pixel part (its sharpening is spatial, not a colour transform)
VIVID = dataclasses.replace(L.global_part(L.load_look("vivid")), name="vivid-global")


@cache
def chart_rgb() -> np.ndarray:
    """(24, 3) linear Rec.2020 of the ColorChecker under D65 (white reflector Y = 1)."""
    _, refl = scenes.chart_reflectances()
    xyz = scenes.reflectance_to_xyz(refl, "D65")
    return xyz @ np.asarray(REC2020.matrix_XYZ_to_RGB).T


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colourful scene-linear Rec.2020 (h, w, 3): hue runs across, tone down (about 0.18 *
    2^-5.5 .. 0.18 * 2^3), saturation and fine detail from seeded smooth noise."""
    rng = np.random.default_rng(seed)

    def field(sigma):
        f = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma, mode="wrap")
        return f / f.std()

    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    hue = (6.0 * (xx + 0.15 * field(w / 8))) % 6.0
    sat = np.clip(0.45 + 0.25 * field(w / 10), 0.0, 0.85)
    ev = -5.5 + 8.5 * yy + 0.8 * field(w / 12) + 0.25 * field(2.0)
    rgb = cm.hsv_to_rgb_dng(np.stack([hue, sat, np.ones_like(hue)], axis=-1))
    rgb *= (0.18 * np.exp2(ev) / (rgb @ L.LUMA))[..., None]
    return rgb


def scene(h: int, w: int, seed: int, at: tuple[int, int], patch: int = 16, gap: int = 4) -> np.ndarray:
    """The texture with the chart (24 patches of ``patch`` px on a 0.18 grey board) at ``at``."""
    img = texture(h, w, seed)
    t0, l0 = at
    img[t0:t0 + 4 * patch + 5 * gap, l0:l0 + 6 * patch + 7 * gap] = 0.18
    for i, rgb in enumerate(chart_rgb()):
        r, c = divmod(i, 6)
        t, left = t0 + gap + r * (patch + gap), l0 + gap + c * (patch + gap)
        img[t:t + patch, left:left + patch] = rgb
    out = img.astype(np.float32)
    out.setflags(write=False)
    return out


def display_srgb(render: np.ndarray, look: L.Look) -> np.ndarray:
    """What a camera shows: the look, then linear sRGB clipped to [0, 1] (float64)."""
    out = L.apply_look(render, look).astype(np.float64)
    m = np.asarray(SRGB.matrix_XYZ_to_RGB) @ np.asarray(REC2020.matrix_RGB_to_XYZ)
    return np.clip(out @ m.T, 0.0, 1.0)


def camera_jpeg(render: np.ndarray, look: L.Look, crop: tuple[int, int, int, int], size: tuple[int, int],
                transpose: int | None) -> np.ndarray:
    """The camera's JPEG: look, sRGB encoding, 8 bits, crop (top, left, bottom, right), resize to
    ``size`` (w, h), a PIL transpose, JPEG quality 92, decoded to float in [0, 1]."""
    enc = colour.cctf_encoding(display_srgb(render, look), function="sRGB")
    im = PILImage.fromarray(np.round(enc * 255).astype(np.uint8))
    t, left, b, r = crop
    im = im.crop((left, t, r, b)).resize(size, PILImage.Resampling.LANCZOS)
    if transpose is not None:
        im = im.transpose(transpose)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=92)
    return np.asarray(PILImage.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float32) / 255.0


def delta_e(a_srgb: np.ndarray, b_srgb: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two linear sRGB images, by colour-science."""
    def lab(x):
        return colour.XYZ_to_Lab(x @ np.asarray(SRGB.matrix_RGB_to_XYZ).T, D65)
    return colour.delta_E(lab(a_srgb), lab(b_srgb), method="CIE 2000")


SCENE_A = dict(h=200, w=300, seed=1, at=(20, 150))
SCENE_B = dict(h=180, w=260, seed=7, at=(90, 20))
CASES = {
    # hidden look; crop (t, l, b, r) of scene A; JPEG size (w, h) before the transpose; transpose; EXIF
    # orientation that brings the JPEG back into the render's frame
    "hidden-rot90": (HIDDEN, (10, 20, 190, 290), (189, 126), PILImage.Transpose.ROTATE_90, 6),
    "vivid-flip-upscaled": (VIVID, (8, 6, 196, 290), (355, 235), PILImage.Transpose.FLIP_LEFT_RIGHT, 2),
}


@cache
def fitted(case: str):
    look, crop, size, tr, _ = CASES[case]
    a = scene(**SCENE_A)
    jpeg = camera_jpeg(a, look, crop, size, tr)
    b = scene(**SCENE_B)
    jpeg_b = camera_jpeg(b, look, (0, 0, b.shape[0], b.shape[1]), (b.shape[1], b.shape[0]), None)
    a_copy, j_copy = a.copy(), jpeg.copy()
    pairs = [(a, jpeg)]
    if case.startswith("vivid"):  # two pairs fit one look
        c = scene(h=140, w=200, seed=11, at=(60, 60))
        pairs.append((c, camera_jpeg(c, look, (0, 0, 140, 200), (150, 105), PILImage.Transpose.ROTATE_270)))
    fit, report = fit_look(pairs, name="mine", holdout=(b, jpeg_b))
    assert np.array_equal(a, a_copy) and np.array_equal(jpeg, j_copy)  # inputs untouched
    return fit, report


@pytest.mark.parametrize("case", list(CASES))
def test_fitted_look_reproduces_hidden_look_on_another_scene(case):
    fit, report = fitted(case)
    hidden = CASES[case][0]
    b = scene(**SCENE_B)
    de = delta_e(display_srgb(b, fit), display_srgb(b, hidden))
    assert de.mean() < 1.5, (de.mean(), np.percentile(de, 95), report.text())
    # the report's own numbers are honest: small on the pair (JPEG compression) and on the held-out pair
    assert isinstance(report, FitReport)
    assert report.mean < 1.5 and report.holdout is not None and report.holdout.mean < 1.5
    assert report.p95 >= report.mean


@pytest.mark.parametrize("case", list(CASES))
def test_registration_recovers_crop_scale_and_orientation(case):
    _, report = fitted(case)
    _, crop, size, tr, code = CASES[case]
    r = report.pairs[0]
    assert r.orientation == code
    t, left, b, rr = crop
    scale = size[0] / (rr - left)  # JPEG px per render px (the resize keeps the aspect to 1 %)
    assert r.scale == pytest.approx(scale, rel=0.01)
    # the JPEG's first pixel centre sits at the crop's corner plus half a JPEG pixel in render px
    expect = (t + 0.5 / scale - 0.5, left + 0.5 / scale - 0.5)
    assert r.offset == pytest.approx(expect, abs=0.5)
    assert r.ncc > 0.9 and r.samples > 3000
    if len(report.pairs) > 1:  # the second pair of the vivid case: whole frame, 0.75x, rotated 270
        r2 = report.pairs[1]
        assert r2.orientation == 8 and r2.scale == pytest.approx(0.75, rel=0.01)


def test_fitted_tone_curve_is_monotone_and_greys_stay_neutral():
    fit, _ = fitted("hidden-rot90")
    x = np.geomspace(1e-5, 64.0, 4000)
    t = L.tone_curve(x * 2.0**fit.exposure.ev, fit.tone)
    assert np.all(np.diff(t) >= 0) and t[-1] > 0.9 and t[0] < 0.01
    greys = np.repeat(np.geomspace(0.002, 4.0, 64)[:, None], 3, axis=1).reshape(8, 8, 3).astype(np.float32)
    out = L.apply_look(greys, fit).astype(np.float64).reshape(-1, 3)
    lab = colour.XYZ_to_Lab(out @ np.asarray(REC2020.matrix_RGB_to_XYZ).T, D65)
    assert np.abs(lab[:, 1:]).max() < 0.5
    assert np.all(np.diff(lab[:, 0]) >= -1e-6)


def test_fitted_look_round_trips_through_toml(tmp_path):
    fit, report = fitted("hidden-rot90")
    path = tmp_path / "mine.toml"
    path.write_text(L.look_to_toml(fit, header=report.text()), encoding="utf-8")
    back = L.load_look(path)
    assert back == fit
    img = scene(**SCENE_B)
    assert np.array_equal(L.apply_look(img, back), L.apply_look(img, fit))


def test_a_look_fitted_to_an_untouched_jpeg_is_near_identity():
    """The JPEG is the colorimetric rendering itself (neutral look) of a scene kept 3 EV down, below
    white (the neutral look's per-channel clip of highlights is not in the fitted model): the fit must
    find next to nothing to do."""
    a = scene(h=120, w=180, seed=3, at=(10, 40)) / np.float32(8)
    neutral = L.load_look("neutral")
    jpeg = camera_jpeg(a, neutral, (0, 0, a.shape[0], a.shape[1]), (a.shape[1], a.shape[0]), None)
    fit, report = fit_look([(a, jpeg)], table=False)
    assert report.mean < 1.5  # what 8-bit JPEG with 4:2:0 chroma leaves on a dark scene (~1.1)
    b = scene(**SCENE_B) / np.float32(8)
    assert delta_e(display_srgb(b, fit), display_srgb(b, neutral)).mean() < 0.5
    assert abs(fit.tone.contrast - 1) < 0.05 and abs(fit.colour.saturation - 1) < 0.05


def test_display_p3_jpeg():
    """A phone JPEG in Display P3 (declared with jpeg_space): the fit works in P3, clipped to P3."""
    p3 = colour.RGB_COLOURSPACES["Display P3"]
    to_p3 = np.asarray(p3.matrix_XYZ_to_RGB) @ np.asarray(REC2020.matrix_RGB_to_XYZ)

    def display_p3(img, look):
        return np.clip(L.apply_look(img, look).astype(np.float64) @ to_p3.T, 0.0, 1.0)

    a = scene(h=150, w=220, seed=5, at=(20, 60))
    enc = colour.cctf_encoding(display_p3(a, HIDDEN), function="sRGB")
    buf = io.BytesIO()
    PILImage.fromarray(np.round(enc * 255).astype(np.uint8)).save(buf, format="JPEG", quality=92)
    jpeg = np.asarray(PILImage.open(buf).convert("RGB"), np.float32) / 255.0
    fit, report = fit_look([(a, jpeg)], jpeg_space="p3")
    assert report.mean < 1.5
    b = scene(**SCENE_B)

    def lab(x):
        return colour.XYZ_to_Lab(x @ np.asarray(p3.matrix_RGB_to_XYZ).T, D65)

    de = colour.delta_E(lab(display_p3(b, fit)), lab(display_p3(b, HIDDEN)), method="CIE 2000")
    assert de.mean() < 0.8  # ~0.2; the same JPEG taken for sRGB gives ~1.5
    with pytest.raises(InvalidParams, match="jpeg_space"):
        fit_look([(a, jpeg)], jpeg_space="adobe")


def test_register_rejects_an_unrelated_picture():
    a = scene(**SCENE_A)
    other = np.random.default_rng(3).random((150, 200, 3)).astype(np.float32)
    with pytest.raises(InvalidParams, match="register"):
        register(a, other)


@pytest.mark.parametrize("bad", [
    [],
    [(np.zeros((40, 40), np.float32), np.zeros((40, 40, 3), np.float32))],
    [(np.zeros((40, 40, 3), np.float32), np.full((40, 40, 3), 255.0, np.float32))],
    [(np.full((40, 40, 3), np.nan, np.float32), np.zeros((40, 40, 3), np.float32))],
    [(np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.float32))],
    [(np.zeros((40, 40, 3), np.float32),)],
])
def test_bad_inputs_raise_invalid_params(bad):
    with pytest.raises(InvalidParams):
        fit_look(bad)
