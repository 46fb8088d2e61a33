"""The shipped looks, measured on a synthetic colour chart whose truth is known.

The chart: the 24 ColorChecker patches (N Ohta reflectances) under D65, CIE 1931 XYZ with the perfect
white reflector at Y = 1, converted to linear Rec.2020 with colour-science's matrix, on a middle-grey
(0.18) border - what rotpunkt's develop hands a look (diffuse white ~1, grey 0.18). Each look renders
it; patch means go to CIELAB (D65 white) with colour-science. Numbers measured:

* ``slope``: contrast, d log2(Y out) / d log2(Y in) between the neutral 3.5 and neutral 6.5 patches
  (about 1 EV either side of middle grey); the colorimetric rendering has 1.
* ``black_L``, ``grey_L``, ``white_L``: L* of the black, neutral 5 and white patches.
* ``chroma``: mean C*ab of the 24 patches.
* ``corner_ev``: log2(corner / centre) of a flat grey field through the whole look (grain off).
* ``hdr_white``: display-linear Y of a highlight 2 EV above diffuse white (4.0), 1 = clipped.

The chart is measured with the look's spatial finishing (vignette, halation, sharpening, grain)
off, and its local tone mapping on. Each look file quotes its numbers in a ``# measured:`` comment;
a test re-measures them. ``python tests/test_looks_character.py`` prints the table and the lines.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from functools import cache
from pathlib import Path

import colour
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenes  # noqa: E402

from rotpunkt import look as L  # noqa: E402

REC2020 = colour.RGB_COLOURSPACES["ITU-R BT.2020"]
D65 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
PATCH, GAP = 48, 16
WHITE, N8, N65, N5, N35, BLACK = 18, 19, 20, 21, 22, 23
NEUTRALS = [WHITE, N8, N65, N5, N35, BLACK]
SHIPPED = sorted(p.stem for p in L.SHIPPED_DIR.glob("*.toml"))
COLOUR_LOOKS = [n for n in SHIPPED if not L.load_look(n).monochrome.enabled]
MONO_LOOKS = [n for n in SHIPPED if L.load_look(n).monochrome.enabled]
#: how far a quoted number may be from the measurement
TOLERANCE = {"slope": 0.01, "black_L": 0.15, "grey_L": 0.15, "white_L": 0.15, "chroma": 0.15,
             "corner_ev": 0.01, "hdr_white": 0.005}


@cache
def chart_truth() -> tuple[np.ndarray, np.ndarray]:
    """(24, 3) XYZ of the patches under D65 (white reflector Y = 1) and their linear Rec.2020."""
    _, refl = scenes.chart_reflectances()
    xyz = scenes.reflectance_to_xyz(refl, "D65")
    rgb = xyz @ np.asarray(REC2020.matrix_XYZ_to_RGB).T
    return xyz, rgb


@cache
def chart_image() -> np.ndarray:
    """The chart, (4 P + 5 G, 6 P + 7 G, 3) float32 scene-linear Rec.2020 on a 0.18 grey border."""
    _, rgb = chart_truth()
    h, w = 4 * PATCH + 5 * GAP, 6 * PATCH + 7 * GAP
    img = np.full((h, w, 3), 0.18, np.float32)
    for i in range(24):
        r, c = divmod(i, 6)
        t, left = GAP + r * (PATCH + GAP), GAP + c * (PATCH + GAP)
        img[t:t + PATCH, left:left + PATCH] = rgb[i]
    img.setflags(write=False)
    return img


def patch_means(img: np.ndarray) -> np.ndarray:
    """(24, 3) mean of each patch's inner half."""
    q = PATCH // 4
    out = []
    for i in range(24):
        r, c = divmod(i, 6)
        t, left = GAP + r * (PATCH + GAP) + q, GAP + c * (PATCH + GAP) + q
        out.append(img[t:t + PATCH - 2 * q, left:left + PATCH - 2 * q].reshape(-1, 3).mean(axis=0))
    return np.asarray(out, np.float64)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Linear Rec.2020 (D65) -> CIELAB (D65 white), by colour-science."""
    xyz = np.asarray(rgb, np.float64) @ np.asarray(REC2020.matrix_RGB_to_XYZ).T
    return colour.XYZ_to_Lab(xyz, D65)


def chart_look(look: L.Look) -> L.Look:
    """The look with its spatial finishing off (local tone mapping kept)."""
    return dataclasses.replace(look, vignette=L.VignetteLook(), halation=L.HalationLook(),
                               sharpen=L.SharpenLook(), grain=L.GrainLook())


def render_chart(look: L.Look) -> np.ndarray:
    return L.apply_look(chart_image(), chart_look(look), workers=2)


def corner_ev(look: L.Look, kept: float | None = None, shape=(120, 160)) -> float:
    """log2(mean of the 4 corner pixels / centre) of a grey field (0.18) through the look, grain
    off. With ``kept``, the field has that much lens vignetting (EV at the corners, the look's
    falloff) and the look is told so."""
    lk = dataclasses.replace(look, grain=L.GrainLook())
    field = np.full((*shape, 3), 0.18, np.float32)
    if kept:
        lens = L.VignetteLook(amount=kept, radius=look.vignette.radius, feather=look.vignette.feather)
        field *= L.vignette_gain(shape, lens)[..., None].astype(np.float32)
    out = L.apply_look(field, lk, vignette_kept=kept)
    y = out @ L.LUMA.astype(np.float32)
    h, w = shape
    centre = y[h // 2 - 1:h // 2 + 1, w // 2 - 1:w // 2 + 1].mean()
    corners = np.mean([y[0, 0], y[0, -1], y[-1, 0], y[-1, -1]])
    return float(np.log2(corners / centre))


@cache
def measure(name: str) -> dict[str, float]:
    look = L.load_look(name)
    _, rgb_in = chart_truth()
    out = patch_means(render_chart(look))
    lab = rgb_to_lab(out)
    y_in = rgb_in @ L.LUMA
    y_out = out @ L.LUMA
    slope = np.log2(y_out[N65] / y_out[N35]) / np.log2(y_in[N65] / y_in[N35])
    hdr = L.apply_look(np.full((8, 8, 3), 4.0, np.float32), chart_look(look))
    return {
        "slope": float(slope),
        "black_L": float(lab[BLACK, 0]),
        "grey_L": float(lab[N5, 0]),
        "white_L": float(lab[WHITE, 0]),
        "chroma": float(np.hypot(lab[:, 1], lab[:, 2]).mean()),
        "corner_ev": corner_ev(look),
        "hdr_white": float((hdr @ L.LUMA.astype(np.float32)).mean()),
    }


def measured_line(m: dict[str, float]) -> str:
    fine = ("slope", "corner_ev", "hdr_white")
    return "# measured: " + " ".join(f"{k}={v:.3f}" if k in fine else f"{k}={v:.2f}" for k, v in m.items())


def quoted(name: str) -> dict[str, float]:
    text = (L.SHIPPED_DIR / f"{name}.toml").read_text()
    line = re.search(r"^# measured: (.*)$", text, re.M)
    assert line, f"{name}.toml quotes no '# measured:' line"
    return {k: float(v) for k, v in (kv.split("=") for kv in line.group(1).split())}


# --------------------------------------------------------------------------------------------------


def test_chart_is_what_develop_hands_a_look():
    """Sanity of the scene: diffuse white ~0.9, neutral 5 ~0.19, greys neutral in Rec.2020."""
    xyz, rgb = chart_truth()
    assert 0.85 < xyz[WHITE, 1] < 0.95 and 0.17 < xyz[N5, 1] < 0.21
    for i in NEUTRALS:
        assert np.ptp(rgb[i]) / rgb[i].mean() < 0.1


@pytest.mark.parametrize("name", SHIPPED)
def test_quoted_character_is_measured(name):
    """Each look file's '# measured:' comment is what the look does (the docs cannot go stale)."""
    m, q = measure(name), quoted(name)
    assert set(q) == set(m)
    for k, v in m.items():
        assert abs(v - q[k]) <= TOLERANCE[k], f"{name}: {k} measured {v:.3f}, file says {q[k]}"


def test_neutral_is_the_colorimetric_rendering():
    m = measure("neutral")
    assert abs(m["slope"] - 1.0) < 1e-3
    assert abs(m["corner_ev"]) < 1e-6
    _, rgb_in = chart_truth()
    out = patch_means(render_chart(L.load_look("neutral")))
    np.testing.assert_allclose(out, np.clip(rgb_in, 0, 1), rtol=1e-5, atol=1e-6)


def test_authentic():
    """Higher contrast, deep shadows not lifted, a gentle highlight shoulder, about -0.7 EV of
    vignetting at the corners, no local tone mapping, light sharpening."""
    a, n = measure("authentic"), measure("neutral")
    look = L.load_look("authentic")
    assert a["slope"] >= 1.25
    assert a["black_L"] <= n["black_L"] - 2.0  # deeper than colorimetric, not lifted
    assert a["white_L"] < n["white_L"] and 0.9 < a["hdr_white"] < 1.0  # shoulder: bright but not clipped
    assert abs(a["corner_ev"] - (-0.7)) <= 0.02
    assert look.local_tone == L.LocalToneLook()
    assert 0 < look.sharpen.amount <= 0.5


def test_vibrant():
    """Brighter mid-tones, shadows opened and highlights held by local tone mapping, mean chart
    chroma at least 20 % above authentic, vignetting corrected, crisper than authentic."""
    v, a = measure("vibrant"), measure("authentic")
    look = L.load_look("vibrant")
    assert v["chroma"] >= 1.2 * a["chroma"]
    assert v["grey_L"] > a["grey_L"] + 2
    assert v["black_L"] > a["black_L"] + 2
    assert v["hdr_white"] < 0.99
    assert look.local_tone.strength > 0
    assert abs(v["corner_ev"]) < 0.01
    # the input still darkened by 0.5 EV at the corners comes out corrected
    assert abs(corner_ev(look, kept=-0.5)) < 0.02
    assert look.sharpen.amount > L.load_look("authentic").sharpen.amount


@pytest.mark.parametrize("name", SHIPPED)
def test_vignette_at_the_corners_is_the_files_value(name):
    look = L.load_look(name)
    assert abs(corner_ev(look) - look.vignette.amount) <= 0.02
    if look.vignette.mode == "total":  # input with -0.4 EV left: the look tops it up to its amount
        assert abs(corner_ev(look, kept=-0.4) - look.vignette.amount) <= 0.02


@pytest.mark.parametrize("name", COLOUR_LOOKS)
def test_neutral_greys_stay_neutral(name):
    """The chart with its six grey patches made exactly neutral (R = G = B, their own luminance; the
    real patches are up to 1 a*b* unit off), through the whole look (grain, halation, sharpening,
    vignette too): every grey patch keeps |a*|, |b*| < 0.5."""
    img = np.array(chart_image())
    _, rgb = chart_truth()
    for i in NEUTRALS:
        r, c = divmod(i, 6)
        t, left = GAP + r * (PATCH + GAP), GAP + c * (PATCH + GAP)
        img[t:t + PATCH, left:left + PATCH] = rgb[i] @ L.LUMA
    assert np.abs(rgb_to_lab(patch_means(img)[NEUTRALS])[:, 1:]).max() < 1e-4
    out = patch_means(L.apply_look(img, name, seed=3))
    lab = rgb_to_lab(out[NEUTRALS])
    assert np.abs(lab[:, 1:]).max() < 0.5, lab


@pytest.mark.parametrize("name", MONO_LOOKS)
def test_monochrome_has_no_colour(name):
    out = L.apply_look(chart_image(), name, seed=3)
    lab = rgb_to_lab(out.reshape(-1, 3)[::7])
    assert np.abs(lab[:, 1:]).max() < 1e-3


@pytest.mark.parametrize("name", SHIPPED)
def test_tone_curve_monotone(name):
    tone = L.load_look(name).tone
    x = np.concatenate([[0.0], np.exp2(np.linspace(-20, 8, 20001))])
    y = L.tone_curve(x, tone)
    assert np.all(np.diff(y) >= 0) and 0 <= y.min() and y.max() <= 1


def test_monochrome_hc_is_harder_than_monochrome():
    hc, m = measure("monochrome-hc"), measure("monochrome")
    assert hc["slope"] > m["slope"] + 0.2 and hc["black_L"] < m["black_L"] - 2
    assert L.load_look("monochrome-hc").grain.strength > 0


def test_film_look_has_grain_and_halation():
    look = L.load_look("film-400")
    assert look.grain.strength > 0 and look.halation.strength > 0


if __name__ == "__main__":
    for n in SHIPPED:
        m = measure(n)
        print(f"{n:14s}", measured_line(m))
