"""The look engine (rotpunkt.look): files, validation, versions, each stage, .cube LUTs.

Every stage is checked for: shape and dtype, hand-computed or independently computed values, its
input left unchanged, and bad params raising InvalidParams. Oracles: closed forms, colour-science
(colour temperature, tetrahedral interpolation, .cube I/O), Python's colorsys (HSV), scipy
(gaussian blur for the unsharp mask).
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
import os
from pathlib import Path

import colour
import numpy as np
import pytest
from scipy import ndimage

from rotpunkt import colour_math as cm
from rotpunkt import look as L
from rotpunkt.errors import CorruptFile, InvalidParams, UnsupportedFormat, WriteError

RNG = np.random.default_rng(20240517)
SHIPPED = sorted(p.stem for p in L.SHIPPED_DIR.glob("*.toml"))
REC2020 = colour.RGB_COLOURSPACES["ITU-R BT.2020"]


def scene(h=48, w=64, hi=3.0, seed=0) -> np.ndarray:
    """Random scene-linear image (float32) with values in [0, hi]; read-only so any write fails."""
    img = (np.random.default_rng(seed).random((h, w, 3)) ** 2 * hi).astype(np.float32)
    img.setflags(write=False)
    return img


def flat(value, h=40, w=60) -> np.ndarray:
    return np.full((h, w, 3), value, np.float32)


def luma(img) -> np.ndarray:
    return np.asarray(img, np.float64) @ L.LUMA


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ==================================================================================================
# Files, names, validation, versions
# ==================================================================================================


def test_shipped_looks_are_listed_and_load():
    listed = {n: (p, s) for n, p, s in L.list_looks()}
    for name in ["neutral", "authentic", "vibrant", "natural", "vivid", "monochrome", "monochrome-hc"]:
        assert name in listed
    for name in SHIPPED:
        look = L.load_look(name)
        assert look.name == name and look.version == L.LOOK_VERSION
        assert listed[name][1] == look.summary and look.summary
        assert not any(tm in name for tm in ("leica", "xiaomi", "kodak", "fuji", "portra"))
    film = [n for n in SHIPPED if L.load_look(n).grain.strength > 0 and L.load_look(n).halation.strength > 0]
    assert film


def test_load_by_name_path_object_and_default(tmp_path):
    v = L.load_look("vibrant")
    assert L.load_look(L.SHIPPED_DIR / "vibrant.toml") == v
    assert L.load_look(str(L.SHIPPED_DIR / "vibrant.toml")) == v
    assert L.load_look(v) is v
    assert L.load_look(None) == L.load_look("neutral") == L.load_look(L.DEFAULT_LOOK)
    assert L.load_look("neutral") == L.Look()
    assert L.is_identity(L.load_look("neutral")) and not L.is_identity(L.load_look("vivid"))
    with pytest.raises(InvalidParams, match="vibrant"):
        L.load_look("vibrnat")
    with pytest.raises(InvalidParams, match="no such look file"):
        L.load_look(tmp_path / "nope.toml")
    with pytest.raises(InvalidParams):
        L.load_look(3)


@pytest.mark.parametrize("text, key", [
    ('version = 2\ncontrast = 1.2\n', "contrast"),
    ('version = 2\n[tone]\ncontrats = 1.2\n', "tone.contrats"),
    ('version = 2\n[colour]\nsaturaton = 1.2\n', "colour.saturaton"),
    ('version = 2\n[toen]\ncontrast = 1.2\n', "toen"),
])
def test_unknown_keys_name_the_file_and_key(tmp_path, text, key):
    p = write(tmp_path, "bad.toml", text)
    with pytest.raises(InvalidParams) as err:
        L.load_look(p)
    assert str(p) in str(err.value) and key in str(err.value)


@pytest.mark.parametrize("text, key", [
    ('version = 2\n[tone]\ncontrast = 9.0\n', "tone.contrast"),
    ('version = 2\n[exposure]\nev = -7\n', "exposure.ev"),
    ('version = 2\n[tone]\ncontrast = "high"\n', "tone.contrast"),
    ('version = 2\n[tone]\ncontrast = true\n', "tone.contrast"),
    ('version = 2\n[grain]\nsize = 0.5\n', "grain.size"),
    ('version = 2\n[monochrome]\nenabled = 1\n', "monochrome.enabled"),
    ('version = 2\n[monochrome]\nfilter = "purple"\n', "monochrome.filter"),
    ('version = 2\n[monochrome]\nenabled = true\nfilter = "custom"\n', "monochrome.mix"),
    ('version = 2\n[monochrome]\nfilter = "custom"\nmix = [1, -1, 0]\n', "monochrome.mix"),
    ('version = 2\n[vignette]\nmode = "more"\n', "vignette.mode"),
    ('version = 2\n[tone]\ncurve = [[0.2, 0.5], [0.6, 0.4]]\n', "tone.curve"),
    ('version = 2\n[tone]\ncurve = [[0.6, 0.5], [0.2, 0.6]]\n', "tone.curve"),
    ('version = 2\n[tone]\ncurve = [[0.2, 1.5]]\n', "tone.curve"),
    ('version = 2\n[tone]\ncurve = [0.2, 0.5]\n', "tone.curve"),
    ('version = 2\n[tone]\ncurve = [[0.2, 0.5], [0.3]]\n', "tone.curve"),
    ('version = 2\n[colour]\nsat_scale = [[1, 1, 1], [1, 1]]\n', "colour.sat_scale"),
    ('version = 2\n[colour]\nhue_shift = [[10, 0]]\n', "colour.hue_shift"),
    ('version = 2\n[colour]\nhue_shift = [[10, 0, 0]]\nsat_scale = [[1, 1, 1, 1]]\n', "hue_shift"),
    ('version = 2\n[colour]\nhue_shift = [[200, 0, 0]]\n', "colour.hue_shift"),
    ('version = 2\n[halation]\ntint = [1, 0.5]\n', "halation.tint"),
    ('version = 2\n[colour]\nlut = "missing.cube"\n', "missing.cube"),
    ('version = 2\nname = 3\n', "name"),
    ('version = 2\n[tone]\n', None),
])
def test_bad_values_name_the_file_and_key(tmp_path, text, key):
    p = write(tmp_path, "bad.toml", text)
    if key is None:  # an empty section is fine
        assert L.load_look(p).tone == L.ToneLook()
        return
    with pytest.raises(InvalidParams) as err:
        L.load_look(p)
    assert str(p) in str(err.value) and key in str(err.value), str(err.value)


def test_toml_syntax_error(tmp_path):
    with pytest.raises(InvalidParams, match="TOML"):
        L.load_look(write(tmp_path, "x.toml", "version = 2\n[tone\n"))


def test_versions_and_migration(tmp_path):
    with pytest.raises(InvalidParams, match="version"):
        L.load_look(write(tmp_path, "a.toml", "[tone]\ncontrast = 1.2\n"))
    with pytest.raises(InvalidParams, match="newer"):
        L.load_look(write(tmp_path, "b.toml", f"version = {L.LOOK_VERSION + 1}\n"))
    with pytest.raises(InvalidParams, match="integer"):
        L.load_look(write(tmp_path, "c.toml", 'version = "2"\n'))
    # version 1: the flat layout, migrated to sections
    v1 = {"version": 1, "name": "old", "summary": "s", "ev": 0.5, "contrast": 1.3, "saturation": 1.2,
          "vibrance": 0.1, "vignette": -0.5, "grain": 0.05, "sharpen": 0.4, "monochrome": True,
          "filter": "red"}
    before = dict(v1)
    migrated = L.migrate(v1)
    assert v1 == before  # input untouched
    assert migrated["version"] == L.LOOK_VERSION
    p = write(tmp_path, "old.toml", "".join(f"{k} = {L._toml_value(v)}\n" for k, v in v1.items()))
    look = L.load_look(p)
    assert look == L.Look(name="old", summary="s", exposure=L.ExposureLook(ev=0.5),
                          tone=L.ToneLook(contrast=1.3), colour=L.ColourLook(saturation=1.2, vibrance=0.1),
                          vignette=L.VignetteLook(amount=-0.5), grain=L.GrainLook(strength=0.05),
                          sharpen=L.SharpenLook(amount=0.4),
                          monochrome=L.MonochromeLook(enabled=True, filter="red"))
    with pytest.raises(InvalidParams, match="tone"):  # sections did not exist in version 1
        L.migrate({"version": 1, "tone": {}}, p)
    with pytest.raises(InvalidParams):
        L.validate_look(dataclasses.replace(look, version=1))


def full_look(tmp_path: Path | None = None) -> L.Look:
    """A look with every section away from its defaults."""
    return L.Look(
        name="everything", summary='all "sections" on',
        exposure=L.ExposureLook(ev=0.2, warmth=10.0, tint=-5.0),
        local_tone=L.LocalToneLook(strength=0.3, detail=1.2, radius=0.1, knee=0.5, edge=0.3),
        tone=L.ToneLook(contrast=1.2, toe=0.01, shoulder=0.5, black=0.002, white=6.0, lift=0.01,
                        curve=((0.25, 0.2), (0.75, 0.8))),
        colour=L.ColourLook(saturation=1.1, vibrance=0.2, hue_shift=((0.0, 10.0, 0.0, -10.0, 0.0, 0.0),) * 2,
                            sat_scale=((1.0, 1.1, 1.0, 1.0, 0.9, 1.0),) * 2),
        monochrome=L.MonochromeLook(enabled=True, filter="custom", mix=(0.5, 0.4, 0.1),
                                    highlights_strength=0.2),
        vignette=L.VignetteLook(mode="total", amount=-0.5, radius=0.3, feather=0.6),
        halation=L.HalationLook(strength=0.4, radius=0.05, threshold=0.6, tint=(1.0, 0.4, 0.2)),
        sharpen=L.SharpenLook(amount=0.5, radius=1.2),
        grain=L.GrainLook(strength=0.05, size=2.0),
    )


@pytest.mark.parametrize("name", [*SHIPPED, None])
def test_toml_round_trip(tmp_path, name):
    look = L.load_look(name) if name else full_look()
    p = write(tmp_path, "rt.toml", L.look_to_toml(look, header="made by a test\nsecond line"))
    assert L.load_look(p) == look


def test_user_folder_shadows_and_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("ROTPUNKT_LOOKS", str(tmp_path))
    assert L.user_looks_dir() == tmp_path
    write(tmp_path, "mine.toml", 'version = 2\nsummary = "my own"\n[tone]\ncontrast = 1.4\n')
    write(tmp_path, "vibrant.toml", 'version = 2\nsummary = "my vibrant"\n')
    write(tmp_path, "broken.toml", 'version = 2\n[tone]\nnope = 1\n')
    listed = {n: (p, s) for n, p, s in L.list_looks()}
    assert listed["mine"] == (str(tmp_path / "mine.toml"), "my own")
    assert listed["vibrant"][1] == "my vibrant"
    assert listed["broken"][1].startswith("(invalid:")
    assert L.load_look("mine").tone.contrast == 1.4 and L.load_look("mine").name == "mine"
    assert L.load_look("vibrant").summary == "my vibrant"
    monkeypatch.delenv("ROTPUNKT_LOOKS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert L.user_looks_dir() == tmp_path / "cfg" / "rotpunkt" / "looks"


def test_lut_path_is_relative_to_the_look_file(tmp_path):
    (tmp_path / "luts").mkdir()
    n = 5
    e = np.linspace(0, 1, n, dtype=np.float32)
    ident = np.stack(np.meshgrid(e, e, e, indexing="ij"), axis=-1)
    L.write_cube(L.CubeLUT(table=ident), tmp_path / "luts" / "id.cube")
    p = write(tmp_path, "withlut.toml",
              'version = 2\n[colour]\nlut = "luts/id.cube"\nlut_encoding = "linear"\n')
    look = L.load_look(p)
    assert Path(look.colour.lut) == tmp_path / "luts" / "id.cube"
    img = scene(hi=1.0)
    np.testing.assert_allclose(L.apply_look(img, look), img, atol=1e-6)


# ==================================================================================================
# The whole look
# ==================================================================================================


def test_neutral_is_identity_then_clip():
    img = scene(hi=2.0)
    for lk in ("neutral", L.Look(), None):
        out = L.apply_look(img, lk)
        assert out.dtype == np.float32 and out.shape == img.shape
        np.testing.assert_array_equal(out, np.clip(img, 0, 1))
    neg = np.array(img)
    neg[0, 0] = (-0.2, 0.5, 1.5)
    np.testing.assert_array_equal(L.apply_look(neg, None), np.clip(neg, 0, 1))


@pytest.mark.parametrize("name", [*SHIPPED, "full"])
def test_every_look_shape_range_input_unchanged_and_threads(name):
    img = scene(64, 80, hi=4.0)
    look = full_look() if name == "full" else name
    before = img.copy()
    out = L.apply_look(img, look, seed=7, workers=2, vignette_kept=-0.2)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(img, before)
    np.testing.assert_array_equal(out, L.apply_look(img, look, seed=7, workers=1, vignette_kept=-0.2))
    # float64 input gives the same
    np.testing.assert_allclose(L.apply_look(img.astype(np.float64), look, seed=7, vignette_kept=-0.2), out,
                               atol=1e-6)


def test_stages_compose_to_the_look():
    """apply_look is the sections' stages in ORDER, then a clip (fused passes change nothing)."""
    look = dataclasses.replace(full_look(), monochrome=L.MonochromeLook())
    img = scene(64, 80, hi=4.0)
    x = img
    for sec in L.ORDER:
        x = getattr(L, f"apply_{sec}")(x, getattr(look, sec), **({"seed": 3} if sec == "grain" else {}))
        if sec == "exposure":  # vignette_kept -0.1 with mode "total": undone in scene-linear light
            v = look.vignette
            x = L.apply_vignette(x, L.VignetteLook(amount=0.1, radius=v.radius, feather=v.feather))
    out = L.apply_look(img, look, seed=3, vignette_kept=-0.1)
    np.testing.assert_allclose(out, np.clip(x, 0, 1), atol=2e-6)


@pytest.mark.parametrize("kwargs", [
    {"rgb": np.zeros((4, 4), np.float32)}, {"rgb": np.zeros((4, 4, 4), np.float32)},
    {"rgb": np.zeros((4, 4, 3), np.uint16)}, {"rgb": np.zeros((0, 4, 3), np.float32)},
    {"workers": 0}, {"workers": 1.5}, {"seed": -1}, {"seed": "x"}, {"vignette_kept": "x"},
    {"vignette_kept": 9.0}, {"look": 5}, {"rgb": np.full((4, 4, 3), np.nan, np.float32)},
    {"rgb": np.full((4, 4, 3), np.inf, np.float32)},
])
def test_apply_look_rejects_bad_arguments(kwargs):
    args = {"rgb": np.zeros((4, 4, 3), np.float32), "look": "vibrant", **kwargs}
    rgb, look = args.pop("rgb"), args.pop("look")
    with pytest.raises(InvalidParams):
        L.apply_look(rgb, look, **args)


# ==================================================================================================
# Stages
# ==================================================================================================

STAGES = {
    "exposure": (L.apply_exposure, L.ExposureLook(ev=0.5, warmth=30, tint=10), L.ExposureLook(ev=5.0)),
    "local_tone": (L.apply_local_tone, L.LocalToneLook(strength=0.5), L.LocalToneLook(strength=1.5)),
    "tone": (L.apply_tone, L.ToneLook(contrast=1.3, toe=0.01, shoulder=0.5, white=8.0),
             L.ToneLook(curve=((0.5, 0.6), (0.4, 0.7)))),
    "colour": (L.apply_colour, L.ColourLook(saturation=1.3, vibrance=0.2, hue_shift=((10.0, 0.0, -10.0),)),
               L.ColourLook(saturation=-1.0)),
    "monochrome": (L.apply_monochrome, L.MonochromeLook(enabled=True, shadows_strength=0.3),
                   L.MonochromeLook(filter="magenta")),
    "vignette": (L.apply_vignette, L.VignetteLook(amount=-1.0), L.VignetteLook(feather=0.0)),
    "halation": (L.apply_halation, L.HalationLook(strength=0.5, threshold=0.5),
                 L.HalationLook(tint=(1.0, 1.0))),
    "sharpen": (L.apply_sharpen, L.SharpenLook(amount=1.0), L.SharpenLook(radius=10.0)),
    "grain": (L.apply_grain, L.GrainLook(strength=0.1), L.GrainLook(strength=-0.1)),
}


@pytest.mark.parametrize("sec", list(STAGES))
def test_stage_smoke_shape_input_unchanged_bad_params(sec):
    fn, good, bad = STAGES[sec]
    img = scene(40, 56, hi=1.2)
    before = img.copy()
    out = fn(img, good)
    assert out.dtype == np.float32 and out.shape == img.shape and np.all(np.isfinite(out))
    assert not np.array_equal(out, img)  # it did something
    np.testing.assert_array_equal(img, before)
    with pytest.raises(InvalidParams):
        fn(img, bad)
    with pytest.raises(InvalidParams):
        fn(img, L.GrainLook() if sec != "grain" else L.SharpenLook())  # the wrong section's params
    with pytest.raises(InvalidParams):
        fn(img[..., 0], good)
    # defaults do nothing (the section is off)
    np.testing.assert_array_equal(fn(img, type(good)()), img)


# --- exposure ---------------------------------------------------------------------------------------

def test_exposure_hand_values():
    img = scene()
    np.testing.assert_allclose(L.apply_exposure(img, L.ExposureLook(ev=1.0)), 2 * img, rtol=1e-6)
    np.testing.assert_allclose(L.apply_exposure(img, L.ExposureLook(ev=-0.5)), img * 2**-0.5, rtol=1e-6)


@pytest.mark.parametrize("warmth, tint", [(50.0, 0.0), (-40.0, 0.0), (0.0, 20.0), (30.0, -15.0)])
def test_white_balance_shift_moves_neutral_to_the_shifted_white(warmth, tint):
    """Grey becomes the colour of the white at D65's reciprocal temperature + warmth (colour-science's
    Robertson CCT, in mireds) and D65's DNG tint - tint (DNG tint = 3000 Duv, + towards green, so a
    positive look tint is magenta); its luminance is kept."""
    out = L.apply_exposure(flat(0.18), L.ExposureLook(warmth=warmth, tint=tint))[0, 0].astype(np.float64)
    xyz = out @ np.asarray(REC2020.matrix_RGB_to_XYZ).T
    assert xyz[1] == pytest.approx(0.18, rel=1e-5)
    uv = colour.xy_to_UCS_uv(colour.XYZ_to_xy(xyz))
    cct, duv = colour.temperature.uv_to_CCT_Robertson1968(uv)
    cct65, duv65 = colour.temperature.uv_to_CCT_Robertson1968(colour.xy_to_UCS_uv(np.array(cm.D65_XY)))
    assert 1e6 / cct == pytest.approx(1e6 / cct65 + warmth, abs=0.5)
    assert duv * 3000 == pytest.approx(duv65 * 3000 - tint, abs=0.5)
    if warmth > 0 and tint == 0:
        assert out[0] > out[1] > out[2]  # warmer: more red, less blue


# --- local tone mapping -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.02, 0.18, 1.0, 4.0])
@pytest.mark.parametrize("knee", [0.0, 1.0])
def test_local_tone_flat_field_hand_value(value, knee):
    """On a flat field the base is the field: log2 level = grey + (d - c(d)), d = log2(v / 0.18)."""
    s = 0.4
    out = L.apply_local_tone(flat(value), L.LocalToneLook(strength=s, knee=knee, detail=1.5))
    d = math.log2(value / 0.18)
    m = lambda x: (x + math.sqrt(x * x + 1 / 16)) / 2  # noqa: E731 - the documented smooth max
    c = s * d if knee == 0 else s * (m(d - knee) - m(-d - knee))
    np.testing.assert_allclose(out, 0.18 * 2 ** (d - c), rtol=2e-5)


def step_edge(hi, lo, h=120, w=320):
    img = np.full((h, w, 3), lo, np.float32)
    img[:, w // 2:] = hi
    return img


def halo(out: np.ndarray) -> tuple[float, float]:
    """(overshoot of the bright side, undershoot of the dark side) in EV against the far field."""
    y = luma(out)
    w = y.shape[1]
    far_lo, far_hi = y[:, 4].mean(), y[:, -4].mean()
    return float(np.log2(y[:, w // 2:].max() / far_hi)), float(np.log2(far_lo / y[:, :w // 2].min()))


@pytest.mark.parametrize("hi, lo, tol", [(4.0, 0.02, 0.02), (1.0, 0.1, 0.05)])
def test_local_tone_has_no_halos(hi, lo, tol):
    """A step between a bright and a dark region: far from the edge each side is compressed by the
    hand value; near it nothing overshoots the bright side or undershoots the dark side by more than
    ``tol`` EV (while the step itself shrinks by strength x its EV). The same measure sees a clear
    halo when the filter is made blind to edges (edge = 4 EV), so it can fail."""
    s = 0.6
    out = L.apply_local_tone(step_edge(hi, lo), L.LocalToneLook(strength=s, radius=0.1))
    y = luma(out)
    np.testing.assert_allclose(y[:, 4], 0.18 * (lo / 0.18) ** (1 - s), rtol=1e-4)
    np.testing.assert_allclose(y[:, -4], 0.18 * (hi / 0.18) ** (1 - s), rtol=1e-4)
    over, under = halo(out)
    assert over < tol and under < tol, (over, under)
    blind = L.apply_local_tone(step_edge(hi, lo), L.LocalToneLook(strength=s, radius=0.1, edge=4.0))
    assert min(halo(blind)) > 0.3


def test_local_tone_keeps_and_boosts_detail():
    """Fine texture on a bright base: the base is pulled towards grey, the texture's local
    contrast is kept (detail 1) or multiplied (detail 2)."""
    h, w = 96, 128
    tex = 1 + 0.2 * np.sin(np.arange(w) * 2 * np.pi / 4)[None, :].repeat(h, 0)
    img = np.repeat((2.0 * tex)[..., None], 3, axis=2).astype(np.float32)

    def contrast(o):
        y = np.log2(luma(o)[h // 2, 32:96])
        return y.max() - y.min()

    c0 = contrast(img)
    k1 = L.apply_local_tone(img, L.LocalToneLook(strength=0.5, radius=0.2))
    k2 = L.apply_local_tone(img, L.LocalToneLook(strength=0.5, radius=0.2, detail=2.0))
    assert luma(k1).mean() < luma(img).mean() * 0.5
    assert contrast(k1) == pytest.approx(c0, rel=0.1)
    assert contrast(k2) == pytest.approx(2 * c0, rel=0.15)


def test_local_tone_keeps_hue():
    img = scene(40, 60)
    out = L.apply_local_tone(img, L.LocalToneLook(strength=0.5))
    ratio = out / np.maximum(img, 1e-6)
    mask = img.min(axis=2) > 1e-3
    assert np.ptp(ratio[mask], axis=1).max() < 1e-4 * ratio[mask].max()


# --- tone curve -------------------------------------------------------------------------------------

TONES = [
    L.ToneLook(contrast=1.3, toe=0.01, shoulder=0.5, white=8.0),
    L.ToneLook(contrast=0.7, shoulder=1.0, white=64.0, lift=0.05),
    L.ToneLook(contrast=1.6, toe=0.1, black=0.01, shoulder=0.2, white=2.0),
    L.ToneLook(contrast=1.0, shoulder=0.8, white=16.0, curve=((0.2, 0.15), (0.5, 0.5), (0.8, 0.85))),
    L.ToneLook(contrast=2.5, toe=0.001, black=0.05),
]


@pytest.mark.parametrize("tone", TONES)
def test_tone_curve_hand_values(tone):
    g = L.tone_curve(0.18, tone)
    if not tone.curve:
        assert g == pytest.approx(tone.lift + (1 - tone.lift) * 0.18, rel=1e-12)
    if not tone.curve and tone.lift == 0:  # log-log slope at grey is the contrast
        e = 1e-5
        up, down = L.tone_curve(0.18 * math.exp(e), tone), L.tone_curve(0.18 * math.exp(-e), tone)
        slope = (np.log(up) - np.log(down)) / (2 * e)
        assert slope == pytest.approx(tone.contrast, rel=1e-5)
    if not tone.curve:
        assert L.tone_curve(0.0, tone) == pytest.approx(tone.lift, abs=1e-15)
    assert L.tone_curve(tone.black * 0.999, dataclasses.replace(tone, lift=0.0, curve=())) == 0.0
    if tone.shoulder > 0 and tone.white > 1:
        assert L.tone_curve(tone.white, tone) == pytest.approx(1.0, abs=1e-12)
        assert L.tone_curve(tone.white * 0.98, tone) < 1.0


def test_tone_curve_closed_form_on_one_case():
    """contrast 1.2, no toe, no black point: q = 0.18 (x / 0.18)^1.2; shoulder 0.5 -> ys = 0.59,
    white 4 -> W = 0.18 (4 / 0.18)^1.2; y = ys + (1 - ys) u / (1 + u - t)."""
    tone = L.ToneLook(contrast=1.2, shoulder=0.5, white=4.0)
    x = np.array([0.05, 0.18, 0.5, 1.0, 2.0, 4.0, 10.0])
    q = 0.18 * (x / 0.18) ** 1.2
    ys, w = 1 - 0.5 * 0.82, 0.18 * (4 / 0.18) ** 1.2
    qc = np.clip(q, ys, w)
    u, t = (qc - ys) / (1 - ys), (qc - ys) / (w - ys)
    expected = np.where(q <= ys, q, ys + (1 - ys) * u / (1 + u - t))
    np.testing.assert_allclose(L.tone_curve(x, tone), expected, rtol=1e-12)


def test_shoulder_is_smooth_where_it_starts():
    tone = L.ToneLook(contrast=1.2, shoulder=0.5, white=8.0)
    ys = 1 - 0.5 * 0.82
    x_ys = 0.18 * (ys / 0.18) ** (1 / 1.2)  # the scene level whose q is ys
    e = 1e-6
    left = (L.tone_curve(x_ys, tone) - L.tone_curve(x_ys - e, tone)) / e
    right = (L.tone_curve(x_ys + e, tone) - L.tone_curve(x_ys, tone)) / e
    assert left == pytest.approx(right, rel=1e-4)


def test_tone_curves_are_monotone_for_random_params():
    rng = np.random.default_rng(1)
    x = np.concatenate([[0.0], np.exp2(np.linspace(-20, 8, 4001))])
    for _ in range(60):
        pts = np.sort(rng.random((3, 2)), axis=0)
        pts[:, 0] += np.arange(3) * 1e-3
        tone = L.ToneLook(contrast=float(rng.uniform(0.3, 3)), toe=float(rng.uniform(0, 0.1)),
                          shoulder=float(rng.uniform(0, 1)), black=float(rng.uniform(0, 0.05)),
                          white=float(rng.uniform(1, 64)), lift=float(rng.uniform(0, 0.1)),
                          curve=tuple(map(tuple, np.clip(pts, 0, 1).tolist())) if rng.random() < 0.5 else ())
        y = L.tone_curve(x, tone)
        assert np.all(np.diff(y) >= -1e-15) and y.min() >= 0 and y.max() <= 1


def test_free_curve_is_a_monotone_cubic_through_its_points():
    pts = ((0.1, 0.05), (0.3, 0.35), (0.32, 0.36), (0.7, 0.9), (0.9, 0.9))
    f = L._monotone_cubic(np.array(pts))
    for xk, yk in pts:
        assert f(xk) == pytest.approx(yk, abs=1e-12)
    x = np.linspace(0, 1, 10001)
    y = f(x)
    assert np.all(np.diff(y) >= -1e-12)
    assert np.all(y[(x >= 0.7) & (x <= 0.9)] == pytest.approx(0.9))  # flat stays flat, no overshoot
    line = L._monotone_cubic(np.array([(0.0, 0.1), (0.3, 0.28), (1.0, 0.7)]))  # collinear: the line
    np.testing.assert_allclose(line(np.linspace(0, 1, 50)), 0.1 + 0.6 * np.linspace(0, 1, 50), atol=1e-12)
    tone = L.ToneLook(curve=((0.5, 0.6),))  # encoded 0.5 -> 0.6 on top of the identity
    assert cm.srgb_encode(L.tone_curve(cm.srgb_decode(0.5), tone)) == pytest.approx(0.6, abs=1e-9)


def test_tone_stage_matches_the_curve_and_keeps_hue():
    img = scene(40, 60, hi=6.0)
    for tone in TONES:
        out = L.apply_tone(img, tone)
        n = img.max(axis=2, keepdims=True).astype(np.float64)
        ref = img * L.tone_curve(n, tone) / n
        np.testing.assert_allclose(out, ref, rtol=3e-5, atol=1e-7)


# --- colour -----------------------------------------------------------------------------------------

def test_saturation_hand_values():
    grey = flat(0.3)
    np.testing.assert_array_equal(L.apply_colour(grey, L.ColourLook(saturation=2.0)), grey)
    c = np.array([[[0.40, 0.30, 0.25]]], np.float32)
    y = float(luma(c)[0, 0])
    out0 = L.apply_colour(c, L.ColourLook(saturation=0.0))
    np.testing.assert_allclose(out0, np.full((1, 1, 3), y), atol=1e-6)
    out = L.apply_colour(c, L.ColourLook(saturation=1.5))[0, 0]
    # soft gamut limit by hand: kmax from the max channel reaching 1 or the min reaching 0
    kmax = min((1 - y) / (0.40 - y), y / (y - 0.25))
    e, em = 0.5, kmax - 1
    k = 1 + e / (1 + (e / em) ** 4) ** 0.25
    np.testing.assert_allclose(out, y + k * (c[0, 0] - y), rtol=1e-5)
    assert float(luma(out)) == pytest.approx(y, rel=1e-5)  # luminance kept


def test_saturation_never_leaves_the_gamut_and_vibrance_favours_dull_colours():
    img = scene(40, 60, hi=1.0)
    out = L.apply_colour(img, L.ColourLook(saturation=3.0))
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6
    np.testing.assert_allclose(luma(out), luma(img), atol=2e-6)
    dull = np.array([[[0.30, 0.27, 0.25]]], np.float32)
    vivid = np.array([[[0.40, 0.10, 0.05]]], np.float32)

    def gain(c, p):
        y = luma(c)[..., None]
        return float(np.linalg.norm(L.apply_colour(c, p) - y) / np.linalg.norm(c - y))

    p = L.ColourLook(vibrance=0.5)
    assert gain(dull, p) > gain(vivid, p) > 1
    s = 1 - 0.25 / 0.30  # HSV saturation of the dull colour: k = 1 + 0.5 (1 - s), far from the gamut edge
    assert gain(dull, p) == pytest.approx(1 + 0.5 * (1 - s), rel=1e-3)


def test_hue_table_against_colorsys():
    """A uniform +30 degree hue shift and 0.8 saturation scale, computed with Python's colorsys."""
    table = L.ColourLook(hue_shift=((30.0,) * 6,) * 2, sat_scale=((0.8,) * 6,) * 2)
    px = np.array([[[0.5, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.2, 0.2], [0.05, 0.4, 0.1]]], np.float32)
    out = L.apply_colour(px, table)[0]
    for i, c in enumerate(px[0]):
        h, s, v = colorsys.rgb_to_hsv(*map(float, c))
        expected = colorsys.hsv_to_rgb((h + 30 / 360) % 1, s * 0.8, v)
        np.testing.assert_allclose(out[i], expected, atol=2e-6)


def test_value_table_depends_on_value():
    """Two value rows (dark, bright): the bright row's value scale acts on bright colours only;
    the scale multiplies the sRGB-encoded value (DNG encoding 1)."""
    p = L.ColourLook(val_scale=((1.0, 1.0, 1.0), (0.5, 0.5, 0.5)))
    bright = np.array([[[1.0, 0.5, 0.5]]], np.float32)
    dark = np.array([[[0.0, 0.0, 0.0]]], np.float32)
    out = L.apply_colour(bright, p)[0, 0]
    assert out[0] == pytest.approx(cm.srgb_decode(0.5), abs=1e-5)
    np.testing.assert_allclose(out / out[0], bright[0, 0], atol=1e-5)  # hue and saturation kept
    np.testing.assert_array_equal(L.apply_colour(dark, p), dark)


def cube_of(fn, n: int) -> np.ndarray:
    e = np.linspace(0, 1, n)
    grid = np.stack(np.meshgrid(e, e, e, indexing="ij"), axis=-1)
    return fn(grid).astype(np.float32)


AFFINE = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [-0.05, 0.1, 0.9]])


def test_colour_lut_stage(tmp_path):
    path = tmp_path / "affine.cube"
    L.write_cube(L.CubeLUT(table=cube_of(lambda g: g @ AFFINE.T + 0.02, 17)), path)
    img = scene(20, 30, hi=1.0)
    out = L.apply_colour(img, L.ColourLook(lut=str(path), lut_encoding="linear"))
    np.testing.assert_allclose(out, img @ AFFINE.T + 0.02, atol=2e-6)
    half = L.apply_colour(img, L.ColourLook(lut=str(path), lut_encoding="linear", lut_strength=0.5))
    np.testing.assert_allclose(half, 0.5 * (img + out), atol=2e-6)
    ident = tmp_path / "id.cube"
    L.write_cube(L.CubeLUT(table=cube_of(lambda g: g, 9)), ident)
    for enc in ("srgb", "linear"):
        for prim in ("rec2020", "p3", "srgb"):
            out = L.apply_colour(img, L.ColourLook(lut=str(ident), lut_encoding=enc, lut_primaries=prim))
            conv = img @ (cm.xyz_to_rgb_matrix(prim) @ cm.rgb_to_xyz_matrix("rec2020")).T
            inside = np.all((conv >= 0) & (conv <= 1), axis=2)  # the LUT's own gamut
            assert inside.sum() > 100
            np.testing.assert_allclose(out[inside], img[inside], atol=2e-5)


# --- monochrome -------------------------------------------------------------------------------------

@pytest.mark.parametrize("flt", ["none", "red", "orange", "yellow", "green", "blue"])
def test_monochrome_filters(flt):
    img = scene(16, 20, hi=1.0)
    out = L.apply_monochrome(img, L.MonochromeLook(enabled=True, filter=flt))
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    w = L.monochrome_weights(L.MonochromeLook(filter=flt))
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(out[..., 0], np.maximum(img @ w.astype(np.float32), 0), atol=1e-6)
    if flt == "none":
        np.testing.assert_allclose(w, L.LUMA, rtol=1e-12)  # panchromatic = luminance
    grey = flat(0.3)
    np.testing.assert_allclose(L.apply_monochrome(grey, L.MonochromeLook(enabled=True, filter=flt)), grey,
                               rtol=1e-6)


def test_filters_do_what_their_colour_says():
    sky, foliage, skin = (np.array([[c]], np.float32) for c in ([0.05, 0.15, 0.45], [0.08, 0.25, 0.04],
                                                                [0.45, 0.25, 0.18]))

    def level(c, flt):
        return float(L.apply_monochrome(c, L.MonochromeLook(enabled=True, filter=flt))[0, 0, 0])

    assert level(sky, "red") < level(sky, "orange") < level(sky, "yellow") < level(sky, "none")
    assert level(sky, "none") < level(sky, "blue")
    assert level(foliage, "green") > level(foliage, "none") > level(foliage, "red")
    assert level(skin, "red") > level(skin, "none") > level(skin, "green")
    custom = L.MonochromeLook(enabled=True, filter="custom", mix=(2.0, 1.0, 1.0))
    expected = (2 * 0.45 + 0.25 + 0.18) / 4
    assert float(L.apply_monochrome(skin, custom)[0, 0, 0]) == pytest.approx(expected, rel=1e-6)


def test_split_toning_tints_towards_its_hues():
    ramp = np.repeat(np.linspace(0.02, 0.9, 64, dtype=np.float32)[None, :, None], 3, axis=2)
    p = L.MonochromeLook(enabled=True, shadows_hue=220.0, shadows_strength=0.5, highlights_hue=40.0,
                         highlights_strength=0.5)
    out = L.apply_monochrome(ramp, p)[0]
    for i, hue in ((2, 220.0), (61, 40.0)):
        h, s, _ = colorsys.rgb_to_hsv(*map(float, out[i]))
        assert s > 0.02 and abs((h * 360 - hue + 180) % 360 - 180) < 3
    np.testing.assert_allclose(luma(out), luma(ramp[0]), rtol=0.05)  # level kept at first order
    assert np.array_equal(L.apply_monochrome(ramp, L.MonochromeLook(enabled=True))[0, :, 0],
                          L.apply_monochrome(ramp, L.MonochromeLook(enabled=True))[0, :, 2])


# --- vignette ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("amount, radius, feather", [(-0.7, 0.25, 0.75), (-1.5, 0.5, 0.2), (0.6, 0.0, 1.0)])
def test_vignette_corners_centre_and_shape(amount, radius, feather):
    p = L.VignetteLook(amount=amount, radius=radius, feather=feather)
    h, w = 300, 400
    out = L.apply_vignette(flat(0.5, h, w), p)[..., 1] / 0.5
    ref = L.vignette_gain((h, w), p)
    np.testing.assert_allclose(out, ref, rtol=2e-4)
    corners = np.log2([out[0, 0], out[0, -1], out[-1, 0], out[-1, -1]])
    r_corner = math.hypot(h / 2 - 0.5, w / 2 - 0.5) / (0.5 * math.hypot(h, w))
    t = min(1.0, max(0.0, (r_corner - radius) / feather))
    norm = min(1.0, (1 - radius) / feather)
    expected = amount * (t * t * (3 - 2 * t)) / (norm * norm * (3 - 2 * norm))  # smoothstep by hand
    np.testing.assert_allclose(corners, expected, atol=1e-4)
    assert abs(corners.mean() - amount) < 0.02
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy + 0.5 - h / 2, xx + 0.5 - w / 2) / (0.5 * math.hypot(h, w))
    assert np.all(out[r < radius] == pytest.approx(1.0, abs=1e-6))
    order = np.argsort(r.ravel())
    g = out.ravel()[order]
    assert np.all(np.diff(g) <= 1e-6) if amount < 0 else np.all(np.diff(g) >= -1e-6)


def test_vignette_total_mode_accounts_for_what_the_input_has():
    p = L.VignetteLook(mode="total", amount=-0.7)
    h, w = 120, 160
    for kept in (None, 0.0, -0.3, -0.7, -1.0):
        out = L.apply_vignette(flat(0.5, h, w), p, vignette_kept=kept)[..., 0] / 0.5
        assert np.log2(out[0, 0]) == pytest.approx(-0.7 - (kept or 0.0), abs=0.01)
    add = L.VignetteLook(mode="add", amount=-0.7)
    out = L.apply_vignette(flat(0.5, h, w), add, vignette_kept=-0.3)[..., 0] / 0.5
    assert np.log2(out[0, 0]) == pytest.approx(-0.7, abs=0.01)
    with pytest.raises(InvalidParams):
        L.apply_vignette(flat(0.5), p, vignette_kept=float("nan"))


# --- halation ---------------------------------------------------------------------------------------

def test_halation_glows_around_highlights_only():
    h, w = 160, 160
    img = np.full((h, w, 3), 0.1, np.float32)
    img[60:100, 60:100] = 0.95
    p = L.HalationLook(strength=1.0, radius=0.05, threshold=0.7, tint=(1.0, 0.3, 0.1))
    out = L.apply_halation(img, p)
    add = out - img
    assert np.all(add >= -1e-7)
    np.testing.assert_allclose(add[65:95, 65:95], 0, atol=1e-6)  # none inside the highlight
    ring = add[55:58, 70:90].reshape(-1, 3)  # just outside its edge
    assert ring[:, 0].min() > 0.005
    np.testing.assert_allclose(ring[:, 1] / ring[:, 0], 0.3, rtol=1e-4)  # tinted as asked
    np.testing.assert_allclose(ring[:, 2] / ring[:, 0], 0.1, rtol=1e-4)
    np.testing.assert_allclose(add[:5, :5], 0, atol=1e-6)  # far away: nothing
    assert add[50:58, 70:90, 0].mean() > add[40:48, 70:90, 0].mean()  # fades with distance
    for field in (flat(0.95), flat(0.3)):  # a flat field, bright or not, has nothing to spill
        np.testing.assert_allclose(L.apply_halation(field, p), field, atol=1e-6)


# --- sharpening -------------------------------------------------------------------------------------

@pytest.mark.parametrize("radius", [0.5, 0.8, 1.7])
def test_sharpen_is_an_unsharp_mask_on_luminance(radius):
    img = scene(50, 70, hi=1.0)
    p = L.SharpenLook(amount=0.7, radius=radius)
    out = L.apply_sharpen(img, p)
    y = luma(img)
    r = int(3.0 * radius + 0.5)
    ref = img + 0.7 * (y - ndimage.gaussian_filter(y, radius, mode="nearest", truncate=r / radius))[..., None]
    np.testing.assert_allclose(out, ref, atol=2e-5)
    np.testing.assert_allclose(L.apply_sharpen(flat(0.4), p), flat(0.4), atol=1e-6)
    grey = np.repeat(img[..., :1], 3, axis=2)
    g = L.apply_sharpen(grey, p)
    np.testing.assert_array_equal(g[..., 0], g[..., 2])


# --- grain ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1.0, 1.5, 3.0])
def test_grain_reproducible_and_measured(size):
    img = flat(0.25, 192, 256)  # L = sqrt(Y) = 0.5: the weight is 1, grain std = strength (EV)
    p = L.GrainLook(strength=0.08, size=size)
    a = L.apply_grain(img, p, seed=1)
    np.testing.assert_array_equal(a, L.apply_grain(img, p, seed=1, workers=1))
    b = L.apply_grain(img, p, seed=2)
    assert not np.array_equal(a, b)
    ev = np.log2(a[..., 0] / 0.25)
    assert ev.std() == pytest.approx(0.08, rel=0.05)
    assert abs(ev.mean()) < 0.01
    np.testing.assert_array_equal(a[..., 0], a[..., 2])  # luminance grain: greys stay grey
    corr = np.corrcoef(ev[:, :-1].ravel(), ev[:, 1:].ravel())[0, 1]
    assert (corr < 0.05) if size == 1.0 else (corr > 0.3)
    for v in (0.0, 1.0):  # no grain in pure black or pure white
        np.testing.assert_array_equal(L.apply_grain(flat(v), p, seed=1), flat(v))


def test_grain_seed_is_validated():
    with pytest.raises(InvalidParams):
        L.apply_grain(flat(0.2), L.GrainLook(strength=0.1), seed=-3)


# ==================================================================================================
# .cube LUTs
# ==================================================================================================


@pytest.mark.parametrize("n", [2, 5, 33])
def test_cube_round_trip_bit_exact(tmp_path, n):
    table = RNG.random((n, n, n, 3)).astype(np.float32) * 1.5 - 0.2
    lut = L.CubeLUT(table=table, domain_min=(-0.1, 0.0, 0.0), domain_max=(1.0, 2.0, 1.5), title="a test",
                    comments=("first", "second"))
    L.write_cube(lut, tmp_path / "t.cube")
    back = L.read_cube(tmp_path / "t.cube")
    np.testing.assert_array_equal(back.table, table)
    assert back.size == n and back.title == "a test" and back.comments == ("first", "second")
    assert back.domain_min == (-0.1, 0.0, 0.0) and back.domain_max == (1.0, 2.0, 1.5)


def test_cube_files_agree_with_colour_science(tmp_path):
    n = 9
    table = RNG.random((n, n, n, 3)).astype(np.float32)
    L.write_cube(L.CubeLUT(table=table, title="ours"), tmp_path / "ours.cube")
    theirs = colour.io.read_LUT(str(tmp_path / "ours.cube"))
    np.testing.assert_allclose(theirs.table, table, atol=1e-7)  # colour's LUT3D is indexed [r, g, b]
    colour.io.write_LUT(colour.LUT3D(table=table.astype(np.float64), name="theirs"), str(tmp_path / "t.cube"))
    np.testing.assert_allclose(L.read_cube(tmp_path / "t.cube").table, table, atol=1e-6)


def test_tetrahedral_exact_on_affine_and_agrees_with_colour_science():
    n = 17
    table = cube_of(lambda g: g @ AFFINE.T + np.array([0.01, -0.02, 0.03]), n)
    x = RNG.random((5000, 3)).astype(np.float32)
    x[:10] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0.5, 0.5, 0.5], [1, 1, 0], [0.3, 0.3, 0.7], [0.25, 0.5, 0.25],
              [0.999, 0.001, 0.5], [0.0, 1.0, 1.0], [0.6, 0.6, 0.2]]  # nodes, ties, edges
    lut = L.CubeLUT(table=table)
    np.testing.assert_allclose(L.apply_cube(x, lut), x @ AFFINE.T + [0.01, -0.02, 0.03], atol=2e-6)
    rough = RNG.random((n, n, n, 3)).astype(np.float32)
    ref = colour.algebra.table_interpolation_tetrahedral(x.astype(np.float64), rough.astype(np.float64))
    np.testing.assert_allclose(L.apply_cube(x, L.CubeLUT(table=rough)), ref, atol=2e-6)
    # out-of-domain inputs clamp; a domain maps to the table's ends
    np.testing.assert_allclose(L.apply_cube(np.array([[2.0, -1.0, 0.5]], np.float32), lut),
                               L.apply_cube(np.array([[1.0, 0.0, 0.5]], np.float32), lut), atol=1e-7)
    wide = L.CubeLUT(table=table, domain_min=(0.0, 0.0, 0.0), domain_max=(2.0, 2.0, 2.0))
    np.testing.assert_allclose(L.apply_cube(2 * x, wide), L.apply_cube(x, lut), atol=2e-6)
    img = x[:4800].reshape(60, 80, 3)
    np.testing.assert_allclose(L.apply_cube(img, lut), L.apply_cube(x[:4800], lut).reshape(60, 80, 3), atol=0)


def test_cube_1d_and_resolve_shaper(tmp_path):
    one = "TITLE \"1d\"\nLUT_1D_SIZE 3\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n0 0 0\n0.5 0.25 1\n1 1 1\n"
    lut = L.read_cube(write(tmp_path, "one.cube", one))
    assert lut.table is None and lut.shaper.shape == (3, 3) and lut.shaper_max == (2.0, 2.0, 2.0)
    out = L.apply_cube(np.array([[0.5, 1.0, 1.5]], np.float32), lut)
    np.testing.assert_allclose(out, [[0.25, 0.25, 1.0]], atol=1e-7)  # linear between the entries
    cube = cube_of(lambda g: g[..., ::-1], 2)  # swaps red and blue
    rows = "\n".join(" ".join(f"{v:g}" for v in r) for r in cube.transpose(2, 1, 0, 3).reshape(-1, 3))
    both = ("LUT_1D_SIZE 2\nLUT_1D_INPUT_RANGE 0 4\nLUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 0 1\n"
            "0 0 0\n1 1 1\n" + rows + "\n")
    lut = L.read_cube(write(tmp_path, "both.cube", both))
    assert lut.shaper_max == (4.0, 4.0, 4.0) and lut.domain_max == (1.0, 1.0, 1.0)
    out = L.apply_cube(np.array([[1.0, 2.0, 3.0]], np.float32), lut)
    np.testing.assert_allclose(out, [[0.75, 0.5, 0.25]], atol=1e-6)
    L.write_cube(lut, tmp_path / "again.cube")
    again = L.read_cube(tmp_path / "again.cube")
    np.testing.assert_array_equal(again.table, lut.table)
    np.testing.assert_array_equal(again.shaper, lut.shaper)
    assert again.shaper_max == lut.shaper_max


@pytest.mark.parametrize("text, exc", [
    ("LUT_3D_SIZE 2\n0 0 0\n", CorruptFile),
    ("LUT_3D_SIZE 300\n", CorruptFile),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 x 0\n", CorruptFile),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 0\n", CorruptFile),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 4 + "TITLE \"late\"\n" + "0 0 0\n" * 4, CorruptFile),
    ("0 0 0\n", CorruptFile),
    ("LUT_3D_SIZE 2\nDOMAIN_MIN 1 1 1\nDOMAIN_MAX 0 1 1\n" + "0 0 0\n" * 8, CorruptFile),
    ("LUT_3D_SIZE 2\nLUT_3D_SIZE_X 2\n" + "0 0 0\n" * 8, UnsupportedFormat),
    ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "0 0 nan\n", CorruptFile),
])
def test_bad_cube_files(tmp_path, text, exc):
    p = write(tmp_path, "bad.cube", text)
    with pytest.raises(exc) as err:
        L.read_cube(p)
    assert str(p) in str(err.value)


def test_missing_cube_and_bad_writes(tmp_path):
    with pytest.raises(InvalidParams):
        L.read_cube(tmp_path / "none.cube")
    with pytest.raises(InvalidParams):
        L.write_cube(L.CubeLUT(table=None), tmp_path / "x.cube")
    with pytest.raises(InvalidParams):
        L.write_cube(L.CubeLUT(table=np.zeros((3, 3, 2, 3), np.float32)), tmp_path / "x.cube")
    with pytest.raises(InvalidParams):
        L.apply_cube(np.zeros((4, 3), np.float32), "lut")


def test_shaper_round_trip():
    x = 0.18 * np.exp2(np.linspace(-9.99, 5.99, 200))
    np.testing.assert_allclose(L.shaper_decode(L.shaper_encode(x)), x, rtol=1e-12)
    assert L.shaper_encode(0.18) == pytest.approx(10 / 16)
    assert L.shaper_encode(0.0) == 0.0 and L.shaper_encode(1e6) == 1.0


@pytest.mark.parametrize("name, size, mean_tol", [("vivid", 33, 0.005), ("monochrome-hc", 33, 0.005),
                                                  ("vibrant", 65, 0.002)])
def test_export_cube_reproduces_the_global_look(tmp_path, name, size, mean_tol):
    """The exported LUT, fed scene-linear colours through its log2 shaper, gives the look's global
    part (no local tone mapping, vignette, halation, sharpening, grain) as sRGB-encoded sRGB."""
    path = tmp_path / f"{name}.cube"
    lut = L.export_cube(name, path, size=size)
    back = L.read_cube(path)
    np.testing.assert_array_equal(back.table, lut.table)
    assert back.size == size and "shaper" in back.title and any("log2" in c for c in back.comments)
    rgb = (np.random.default_rng(4).random((4000, 3)) ** 2 * 2.5 + 0.005).astype(np.float32)
    via_lut = L.apply_cube(L.shaper_encode(rgb).astype(np.float32), back)
    look = L.global_part(L.load_look(name))
    direct = L.apply_look(rgb.reshape(40, 100, 3), look).reshape(-1, 3).astype(np.float64)
    to_srgb = cm.xyz_to_rgb_matrix("srgb") @ cm.rgb_to_xyz_matrix("rec2020")
    direct = cm.srgb_encode(np.clip(direct @ to_srgb.T, 0, 1))
    err = np.abs(via_lut - direct)
    # a 33-point LUT is good to about 1/255 on average; its worst errors sit at the gamut clip
    assert err.mean() < mean_tol and np.percentile(err, 99) < 16 * mean_tol, (err.mean(), err.max())


def test_export_cube_bad_arguments(tmp_path):
    with pytest.raises(InvalidParams):
        L.export_cube("vivid", tmp_path / "x.cube", size=1)
    with pytest.raises(InvalidParams):
        L.export_cube("vivid", tmp_path / "x.cube", space="adobe")
    with pytest.raises(WriteError):
        L.export_cube("vivid", tmp_path / "missing" / "x.cube", size=2)
    assert not os.path.exists(tmp_path / "missing")


@pytest.mark.parametrize("nv, nh", [(1, 6), (2, 9), (3, 12)])
def test_hue_table_matches_the_dng_reference(nv, nh):
    """The look's planar table kernel against rotpunkt.stages.colour's DNG LookTable lookup (two
    identical saturation divisions, sRGB-encoded value) on random colours and tables."""
    from rotpunkt.stages.colour import apply_hue_sat_map
    from rotpunkt.types import HueSatMap

    rng = np.random.default_rng(nv * 100 + nh)
    hue = rng.uniform(-40, 40, (nv, nh))
    sat = rng.uniform(0.6, 1.5, (nv, nh))
    val = rng.uniform(0.7, 1.3, (nv, nh))
    p = L.ColourLook(hue_shift=tuple(map(tuple, hue.tolist())), sat_scale=tuple(map(tuple, sat.tolist())),
                     val_scale=tuple(map(tuple, val.tolist())))
    img = (rng.random((30, 40, 3)) ** 1.5).astype(np.float32)
    img[0, :3] = [[0.2, 0.2, 0.2], [0.0, 0.0, 0.0], [0.5, -0.1, 0.2]]  # grey, black, negative: as the SDK
    img[1, :2] = [[1.6, 0.9, 0.4], [0.3, 2.5, 1.1]]  # above 1: the value is not clipped
    cell = np.stack([hue, sat, val], axis=-1).astype(np.float32)
    ref = apply_hue_sat_map(img, HueSatMap(table=np.stack([cell, cell], axis=2), encoding=1), workers=1)
    np.testing.assert_allclose(L.apply_colour(img, p), ref, atol=3e-6)
