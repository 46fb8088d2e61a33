"""The command line, run as a real process on the bundled sample and on broken files."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from dngwriter import write_dng
from PIL import Image as PILImage

import rotpunkt


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rotpunkt.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_develop_many_files_one_broken(tmp_path):
    sample = rotpunkt.sample_path()
    before = sha(sample)
    bad = tmp_path / "broken.dng"
    bad.write_bytes(open(sample, "rb").read()[:3000])  # header intact, pixel data cut away
    out = tmp_path / "out"
    r = run("develop", sample, bad, "-o", out)
    assert r.returncode == 1, r.stderr
    assert (out / "sample.jpg").is_file()
    assert not (out / "broken.jpg").exists()
    assert "broken.dng" in r.stderr and "error" in r.stderr
    assert "1 developed, 1 failed" in r.stderr
    assert sha(sample) == before  # the input is never written
    leftovers = [p.name for p in out.iterdir() if p.name != "sample.jpg"]
    assert leftovers == []  # no temporary or half-written file
    with PILImage.open(out / "sample.jpg") as im:
        assert im.format == "JPEG" and im.size == (600, 338)
        assert im.info.get("icc_profile")


def test_develop_tiff_p3(tmp_path):
    import tifffile

    r = run("develop", rotpunkt.sample_path(), "-o", tmp_path, "--space", "p3", "--format", "tiff")
    assert r.returncode == 0, r.stderr
    with tifffile.TiffFile(tmp_path / "sample.tif") as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.shape == (338, 600, 3)
        assert 34675 in page.tags  # ICC profile


def test_usage_errors_exit_2(tmp_path):
    r = run("develop", rotpunkt.sample_path(), "-o", tmp_path, "--space", "adobe")
    assert r.returncode == 2 and "space" in r.stderr
    r = run("develop", rotpunkt.sample_path(), "-o", tmp_path, "--format", "bmp")
    assert r.returncode == 2 and "format" in r.stderr


def test_info_json():
    r = run("info", rotpunkt.sample_path(), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["camera"] == "LG Mobile LG-H815"
    assert d["size"] == [600, 338]
    assert d["photometric"] == "linear_raw"
    assert d["compression"] == "lossy JPEG"
    assert d["calibration_illuminants"] == [21, 17]
    assert len(d["opcodes"]["OpcodeList2"]) == 3
    assert all("MapPolynomial" in line for line in d["opcodes"]["OpcodeList2"])


def test_info_text_and_missing_file(tmp_path):
    r = run("info", rotpunkt.sample_path())
    assert r.returncode == 0 and "LG-H815" in r.stdout and "OpcodeList2" in r.stdout
    r = run("info", tmp_path / "nope.dng")
    assert r.returncode == 1 and "nope.dng" in r.stderr and "not found" in r.stderr


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow(orientation):
    from PIL import ImageOps

    from rotpunkt.pipeline import orient

    a = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    im = PILImage.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    ref = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(orient(a, orientation), ref)


def test_preview_option_writes_a_half_size_image(tmp_path):
    r = run("develop", rotpunkt.sample_path(), "-o", tmp_path, "--preview", "2")
    assert r.returncode == 0, r.stderr
    with PILImage.open(tmp_path / "sample.jpg") as im:
        assert im.size == (300, 169)
    r = run("develop", rotpunkt.sample_path(), "-o", tmp_path, "--preview", "3")
    assert r.returncode == 2 and "--preview" in r.stderr


def test_contact_sheet(tmp_path):
    out = tmp_path / "sheet.jpg"
    r = run("contact-sheet", rotpunkt.sample_path(), "-o", out, "--look", "neutral", "--look", "monochrome",
            "--width", "200", "--cols", "2")
    assert r.returncode == 0, r.stderr
    with PILImage.open(out) as im:
        assert im.size == (2 * 200, 112 + 24)  # 600x338 boxed down 3x to 200x112, plus the label strip
        a = np.asarray(im.convert("RGB"), dtype=np.int16)
    mono = a[:112, 200:]
    assert np.abs(mono[..., 0] - mono[..., 1]).max() <= 3  # the monochrome cell is grey
    assert np.abs(a[:112, :200, 0] - a[:112, :200, 2]).mean() > 3  # the neutral cell has colour


def test_look_fit_and_export(tmp_path):
    """A JPEG made from the sample through the shipped 'vivid' look is fitted back by `rotpunkt look fit`,
    and the fitted look exports as a .cube."""
    r = run("develop", rotpunkt.sample_path(), "-o", tmp_path, "--look", "vivid")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "fitted.toml"
    r = run("look", "fit", "--raw", rotpunkt.sample_path(), "--jpeg", tmp_path / "sample.jpg", "-o", out,
            "--name", "mine")
    assert r.returncode == 0, r.stderr
    assert "mean" in r.stdout.lower()
    from rotpunkt.look import load_look

    look = load_look(out)
    assert look.name == "mine" and look.tone.contrast > 1.05  # vivid raises contrast; the fit finds it
    r = run("look", "export", out, "-o", tmp_path / "mine.cube", "--size", "17")
    assert r.returncode == 0, r.stderr
    assert "LUT_3D_SIZE 17" in (tmp_path / "mine.cube").read_text()
    r = run("look", "fit", "--raw", rotpunkt.sample_path(), "--holdout-jpeg", tmp_path / "sample.jpg", "-o", out)
    assert r.returncode == 1 and "--holdout-raw" in r.stderr


def test_look_fit_from_the_embedded_preview(tmp_path):
    """No --jpeg: the phone's own rendering embedded in the DNG (the LG G4 sample's preview) is the target."""
    out = tmp_path / "g4.toml"
    r = run("look", "fit", "--raw", rotpunkt.sample_path(), "-o", out, "--name", "g4")
    assert r.returncode == 0, r.stderr
    assert "mean" in r.stdout.lower() and out.exists()
    from rotpunkt.look import load_look

    assert load_look(out).name == "g4"
    bare = write_dng(tmp_path / "bare.dng", np.full((32, 48), 3000, np.uint16), cfa_pattern="RGGB",
                     black_level=0, white_level=16383, preview=False)
    r = run("look", "fit", "--raw", bare, "-o", tmp_path / "x.toml")
    assert r.returncode == 1 and "preview" in r.stderr and not (tmp_path / "x.toml").exists()


def test_engine_option(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("develop", rotpunkt.sample_path(), "-o", a, "--engine", "numpy", "-f", "tiff").returncode == 0
    assert run("develop", rotpunkt.sample_path(), "-o", b, "--engine", "auto", "-f", "tiff").returncode == 0
    import tifffile

    x = tifffile.imread(a / "sample.tif").astype(np.int32)
    y = tifffile.imread(b / "sample.tif").astype(np.int32)
    assert np.abs(x - y).max() <= 1  # 1 LSB at 16 bit
    r = run("develop", rotpunkt.sample_path(), "-o", a, "--engine", "cuda")
    assert r.returncode == 2 and "engine" in r.stderr
