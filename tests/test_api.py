"""The Python API: open / develop / write, params validation, inputs untouched."""

import dataclasses
import hashlib

import numpy as np
import pytest

import rotpunkt
from rotpunkt.params import describe


def test_open_develop_write_round_trip(tmp_path):
    src = rotpunkt.sample_path()
    before = hashlib.sha256(open(src, "rb").read()).hexdigest()
    with rotpunkt.open(src) as raw:
        keep = raw.data.copy()
        img = raw.develop(space="p3")
        np.testing.assert_array_equal(raw.data, keep)  # develop never touches the raw samples
        assert raw.meta.exif.model == "LG-H815"
    assert raw.data is None  # closed
    assert img.space == "p3" and img.data.shape == (338, 600, 3)
    out = rotpunkt.write(img, tmp_path / "x.jpg")
    assert out.is_file()
    assert hashlib.sha256(open(src, "rb").read()).hexdigest() == before


@pytest.mark.parametrize("bad", [dict(exposure=99.0), dict(space="adobe"), dict(demosaic="magic"),
                                 dict(white_balance="auto"), dict(temperature=100.0), dict(nonsense=1)])
def test_bad_params_raise_invalid_params(bad):
    with rotpunkt.open(rotpunkt.sample_path()) as raw:
        with pytest.raises(rotpunkt.InvalidParams):
            raw.develop(**bad)


def test_exposure_is_a_power_of_two_in_linear_light():
    from rotpunkt.io import read
    from rotpunkt.pipeline import DevelopParams, scene_linear

    data, meta = read(rotpunkt.sample_path())
    a, _ = scene_linear(data, meta, DevelopParams())
    b, _ = scene_linear(data, meta, DevelopParams(exposure=1.0))
    np.testing.assert_allclose(b, 2.0 * a, rtol=1e-5, atol=1e-6)


def test_custom_white_balance_changes_colour_not_neutral_axis():
    """Developing at the white the file was shot under equals the as-shot result."""
    from rotpunkt.colour_math import xy_to_temperature_tint
    from rotpunkt.io import read
    from rotpunkt.pipeline import DevelopParams, scene_linear

    data, meta = read(rotpunkt.sample_path())
    a, facts = scene_linear(data, meta, DevelopParams())
    temp, tint = xy_to_temperature_tint(facts["white_xy"])
    b, _ = scene_linear(data, meta, DevelopParams(white_balance="custom", temperature=temp, tint=tint))
    np.testing.assert_allclose(a, b, atol=2e-4)
    c, _ = scene_linear(data, meta, DevelopParams(white_balance="custom", temperature=3000.0))
    assert np.abs(c - a).max() > 0.05


def test_params_are_declared_for_ui_and_cli():
    rows = {r["name"]: r for r in describe(rotpunkt.DevelopParams)}
    assert rows["exposure"]["unit"] == "EV" and rows["exposure"]["range"] == (-10.0, 10.0)
    assert set(rows["space"]["choices"]) == {"srgb", "p3"}
    assert "rcd" in rows["demosaic"]["choices"] and "bilinear" in rows["demosaic"]["choices"]
    p = rotpunkt.DevelopParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.exposure = 1.0  # type: ignore[misc]


def test_look_in_develop():
    """The default is the colorimetric 'neutral' look; a named look goes through rotpunkt.look and
    equals applying that look to the scene-linear Rec.2020 render by hand."""
    from rotpunkt import colour_math as cm
    from rotpunkt.io import read
    from rotpunkt.look import apply_look, load_look
    from rotpunkt.pipeline import DevelopParams, scene_linear

    data, meta = read(rotpunkt.sample_path())
    neutral = rotpunkt.develop(rotpunkt.sample_path()).data
    np.testing.assert_array_equal(neutral, rotpunkt.develop(rotpunkt.sample_path(), look="neutral").data)
    got = rotpunkt.develop(rotpunkt.sample_path(), look="authentic").data
    rec, _ = scene_linear(data, meta, dataclasses.replace(DevelopParams(), space="rec2020"))
    lin = apply_look(rec, load_look("authentic"))
    m = cm.xyz_to_rgb_matrix("srgb") @ cm.rgb_to_xyz_matrix("rec2020")
    expect = cm.srgb_encode(np.clip(lin @ m.T.astype(np.float32), 0, 1))
    np.testing.assert_allclose(got, expect, atol=2e-5)
    assert np.abs(got - neutral).mean() > 0.01
    with pytest.raises(rotpunkt.InvalidParams, match="unknown look"):
        rotpunkt.develop(rotpunkt.sample_path(), look="no-such-look")


def test_engines_agree_within_one_lsb(tmp_path):
    """The compiled path (when built) gives the numpy reference's develop within 1 LSB at 16 bit."""
    from scenes import colour_chart

    from rotpunkt import fast

    if not fast.AVAILABLE:
        pytest.skip(f"compiled kernels not built: {fast.REASON}")
    path = colour_chart(illuminant="A", patch_px=24, gap_px=6, noise=0.01).write(tmp_path / "c.dng")
    for method in ("rcd", "bilinear"):
        a = rotpunkt.develop(path, engine="numpy", demosaic=method).data
        b = rotpunkt.develop(path, engine="halide", demosaic=method).data
        assert np.abs(a.astype(np.float64) - b).max() <= 1 / 65535
    from rotpunkt.io import read
    from rotpunkt.runner import develop_tiled

    data, meta = read(path)
    t16 = develop_tiled(data, meta, rotpunkt.DevelopParams(engine="halide"), out_dtype=np.uint16, tile_rows=40)
    w16 = develop_tiled(data, meta, rotpunkt.DevelopParams(engine="numpy"), out_dtype=np.uint16, tile_rows=40)
    assert np.abs(t16.data.astype(np.int32) - w16.data).max() <= 1
