"""Hostile files (issue 6): every case of the generated corpus raises a typed, clear error, within 2 s and
512 MB, the same way each time; the limits and checks behind that, tested one by one.

The corpus (tests/hostile.py) is written from valid dngwriter files; the valid files themselves are
checked first, so that each case fails because of its patch and not because its base was broken.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import hostile
import numpy as np
import pytest
import tifffile
from dngwriter import gain_map_opcode, opcode_list, opcode_record, write_dng

import rotpunkt
import rotpunkt.limits as rl
from rotpunkt.errors import CorruptFile, InvalidParams, MissingImageData, RotpunktError, UnsupportedFormat
from rotpunkt.io.dng import read_dng
from rotpunkt.limits import LimitExceeded
from rotpunkt.stages import opcodes

TIME_BUDGET = 2.0  # seconds per case (issue 6)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, hostile.Case]:
    folder = tmp_path_factory.mktemp("hostile")
    return {c.name: c for c in hostile.write_corpus(folder)}


@pytest.fixture(scope="module")
def measured(corpus) -> dict[str, dict]:
    """Every case opened three times in ONE child process, with its time and peak memory."""
    cases = list(corpus.values())
    hashes = {c.name: hashlib.sha256(c.path.read_bytes()).hexdigest() for c in cases}
    warm = corpus["width_0"].path.parent / "valid" / "strips.dng"
    env = dict(os.environ, MALLOC_ARENA_MAX="2")  # few malloc arenas: the address-space cap stays meaningful
    cmd = [sys.executable, hostile.__file__, "--warmup", str(warm), *(str(c.path) for c in cases)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env,
                          cwd=Path(hostile.__file__).parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for c in cases:  # nothing a reader does may change its input
        assert hashlib.sha256(c.path.read_bytes()).hexdigest() == hashes[c.name], c.name
    return {c.name: r for c, r in zip(cases, results, strict=True)}


def _case_names() -> list[str]:
    names = [s.name for s in hostile.SPECS]
    from samples import SAMPLES

    if (SAMPLES / "aosp-dngsdk_cve_2020_9589_poc.dng").is_file():
        names.append("cve_2020_9589_poc")
    return names


CASES = _case_names()


# ------------------------------------------------------------------------------------------------
# The valid files the corpus starts from
# ------------------------------------------------------------------------------------------------


def test_valid_bases_develop_and_decode_to_their_truth(corpus):
    folder = corpus["width_0"].path.parent / "valid"
    truth = hostile._mosaic()
    for name in ("strips", "tiles", "ljpeg", "ljpeg_strip", "opcodes", "huesat", "plain", "tables"):
        data, meta = read_dng(folder / f"{name}.dng")
        np.testing.assert_array_equal(data, truth, err_msg=name)
    for name in ("deflate", "float"):
        data, _ = read_dng(folder / f"{name}.dng")
        np.testing.assert_allclose(data, truth / hostile.WHITE, rtol=1e-6)
    data, _ = read_dng(folder / "jxl.dng")
    np.testing.assert_array_equal(data, hostile._rgb())
    data, meta = read_dng(folder / "jpeg.dng")  # lossy, 8 bits, chroma subsampled: within a few levels
    assert meta.compression == 34892
    assert np.abs(data.astype(int) - (hostile._rgb() >> 4)).mean() < 5.0  # unrelated images: about 80
    for path in sorted(folder.glob("*.dng")):
        with rotpunkt.open(path) as raw:
            img = raw.develop()
        assert img.data.shape[2] == 3 and np.isfinite(img.data).all(), path.name


# ------------------------------------------------------------------------------------------------
# Every case: typed error, clear message, bounded time and memory, repeatable
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_case_raises_its_typed_error_naming_file_and_cause(name, corpus, measured):
    case, runs = corpus[name], measured[name]["runs"]
    first = runs[0]
    assert "crash" not in first, f"{name} crashed:\n{first['message']}"
    assert first["classes"], f"{name} opened and developed without an error"
    assert "RotpunktError" in first["classes"]
    assert case.error.__name__ in first["classes"], f"{name}: {first['classes'][0]}: {first['message']}"
    message = first["message"]
    assert str(case.path) in message
    for word in case.words:
        assert word.lower() in message.lower(), f"{name}: {word!r} not in {message!r}"


@pytest.mark.parametrize("name", CASES)
def test_case_is_bounded_in_time_and_memory(name, measured):
    for run in measured[name]["runs"]:
        assert run["seconds"] < TIME_BUDGET, f"{name}: {run['seconds']:.2f} s"
        assert run["peak_bytes"] < hostile.MEMORY_BUDGET, f"{name}: {run['peak_bytes'] / 2**20:.0f} MiB"


@pytest.mark.parametrize("name", CASES)
def test_case_gives_the_same_result_three_times(name, measured):
    runs = measured[name]["runs"]
    assert len(runs) == 3
    assert all((r["classes"], r["message"]) == (runs[0]["classes"], runs[0]["message"]) for r in runs)


@pytest.mark.parametrize("name", [n for n in CASES if n not in ("empty", "not_tiff")])
def test_the_dng_reader_itself_raises_a_typed_error(name, corpus):
    """read_dng directly (no LibRaw fallback), with and without decoding: never anything untyped."""
    case = corpus[name]
    with pytest.raises(RotpunktError) as info:
        data, meta = read_dng(case.path)
        from rotpunkt.pipeline import develop

        develop(data, meta)
    assert str(case.path) in str(info.value)
    try:
        read_dng(case.path, decode=False)
    except RotpunktError as exc:
        assert str(case.path) in str(exc)


def test_the_corpus_covers_the_issue_list(corpus):
    needed = ["empty", "not_tiff", "first_ifd_past_eof", "ifd_loop_self", "subifd_deep_10000",
              "entries_65535", "count_overflow_colormatrix", "width_0", "height_0", "size_100000x100000",
              "width_4294967295",
              "strip_offset_past_eof", "tile_offset_past_eof", "strip_bytecount_0", "strip_bytecount_2gb",
              "tile_bytecount_2gb", "cut_strips", "short_ljpeg", "short_deflate", "short_jpeg", "short_jxl",
              "ljpeg_huffman_overfull", "jxl_declares_8192x262144", "bits_0", "bits_33", "compression_12345",
              "samples_per_pixel_0", "cfa_0x0", "cfa_255x255", "active_area_outside",
              "opcode_count_4294967295", "gainmap_points_65535x65535", "hue_sat_data_short"]
    assert not [n for n in needed if n not in corpus]


def test_cve_2020_9589_proof_of_concept_is_refused():
    from samples import sample

    path = sample("aosp-dngsdk_cve_2020_9589_poc.dng")
    with pytest.raises(CorruptFile) as info:
        rotpunkt.open(path)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------------------------------------
# The checks, one by one
# ------------------------------------------------------------------------------------------------


def _ramp(h=32, w=48):
    return hostile._mosaic()[:h, :w].copy()


def test_limits_refuse_an_image_over_them_and_allow_it_again_after(tmp_path):
    p = write_dng(tmp_path / "a.dng", _ramp(), white_level=4095)
    with rl.override(max_pixels=48 * 32 - 1):
        with pytest.raises(LimitExceeded, match=r"48 x 32 = 1536 pixels; the limit is 1535"):
            rotpunkt.open(p)
        _, meta = read_dng(p, decode=False)  # metadata only: nothing is allocated, no limit applies
        assert (meta.width, meta.height) == (48, 32)
    with rl.override(max_decoded_bytes=48 * 32 * 2 - 1):
        with pytest.raises(LimitExceeded, match="3072 bytes"):
            rotpunkt.open(p)
    assert rl.current() == rl.DEFAULT
    rotpunkt.open(p).close()  # exactly at the limits is allowed
    with rl.override(max_pixels=48 * 32, max_decoded_bytes=48 * 32 * 2):
        rotpunkt.open(p).close()


def test_limit_exceeded_is_an_unsupported_format_and_a_rotpunkt_error():
    assert issubclass(LimitExceeded, UnsupportedFormat) and issubclass(LimitExceeded, RotpunktError)


def test_set_limits_returns_the_previous_ones_and_validates():
    previous = rl.set_limits(max_pixels=1000)
    try:
        assert previous == rl.DEFAULT and rl.current().max_pixels == 1000
        assert rl.current().max_decoded_bytes == rl.DEFAULT.max_decoded_bytes
    finally:
        rl.set_limits(rl.DEFAULT)
    assert rl.current() == rl.DEFAULT
    for bad in (dict(max_pixels=0), dict(max_pixels=-5), dict(max_ifd_depth=1.5), dict(max_ifds=True),
                dict(nonsense=3)):
        with pytest.raises(InvalidParams):
            rl.set_limits(**bad)
        assert rl.current() == rl.DEFAULT
    with pytest.raises(InvalidParams):
        rl.set_limits("not limits")
    assert dataclasses.is_dataclass(rl.Limits) and rl.DEFAULT.max_pixels == 500_000_000
    assert rl.DEFAULT.max_decoded_bytes == 4 * 2**30


def test_override_restores_the_limits_when_the_block_raises():
    with pytest.raises(KeyError), rl.override(max_ifds=3):
        assert rl.current().max_ifds == 3
        raise KeyError
    assert rl.current() == rl.DEFAULT


def test_subifd_depth_limit_counts_levels(tmp_path):
    """IFD 0 -> SubIFD -> SubIFD -> raw IFD (3 levels): the structure passes with max_ifd_depth 3 (the
    reader then finds no raw image, as it looks one SubIFD level deep like DNG readers do) and is
    refused as too deep with 2."""
    base = hostile.Tiff(write_dng(tmp_path / "b.dng", _ramp(), white_level=4095).read_bytes())
    p = hostile._subifd_deep(2)(base).save(tmp_path / "deep2.dng")
    with rl.override(max_ifd_depth=3), pytest.raises(UnsupportedFormat, match="no raw image"):
        rotpunkt.open(p)
    with rl.override(max_ifd_depth=2), pytest.raises(LimitExceeded, match="more than 2 deep"):
        rotpunkt.open(p)
    p1 = hostile._subifd_deep(0)(hostile.Tiff(base.buf)).save(tmp_path / "deep0.dng")  # the usual layout
    with rl.override(max_ifd_depth=1):
        rotpunkt.open(p1).close()


def test_white_level_is_checked_against_the_highest_black_any_pixel_gets(tmp_path):
    """BlackLevel 2x2 [[60, 0], [0, 0]] plus DeltaH +30 on odd columns: the highest black is 60 (site 0, 0
    sits on even columns), not 60 + 30. White 80 is fine; white 60 is not."""
    black = np.array([60, 0, 0, 0])
    dh = np.tile([0.0, 30.0], 24)
    data = np.full((32, 48), 70, np.uint16)
    ok = write_dng(tmp_path / "ok.dng", data, black_level=black, black_level_repeat=(2, 2),
                   black_level_delta_h=dh, white_level=80)
    with rotpunkt.open(ok) as raw:
        assert np.isfinite(raw.develop().data).all()
    bad = write_dng(tmp_path / "bad.dng", data, black_level=black, black_level_repeat=(2, 2),
                    black_level_delta_h=dh, white_level=60)
    with pytest.raises(CorruptFile, match=r"WhiteLevel \(tag 50717\) 60 is not above BlackLevel.*up to 60"):
        rotpunkt.open(bad)


def test_zero_over_zero_reads_as_zero_like_the_dng_sdk(tmp_path):
    """0/0 is 'unset' for some writers (Magic Lantern's BaselineExposure): read as 0, not refused."""
    p = write_dng(tmp_path / "z.dng", _ramp(), white_level=4095, baseline_exposure=0.5)
    t = hostile.Tiff(p.read_bytes())
    t.put(t.find(50730), hostile.SRATIONAL, [0, 0])
    _, meta = read_dng(t.save(tmp_path / "z0.dng"))
    assert meta.color.baseline_exposure == 0.0
    t.put(t.find(50730), hostile.SRATIONAL, [3, 0])
    with pytest.raises(CorruptFile, match=r"BaselineExposure \(tag 50730\) value 1 is 3/0"):
        read_dng(t.save(tmp_path / "z3.dng"), decode=False)


def test_a_tiff_that_is_not_a_dng_still_goes_to_libraw_unchecked(tmp_path):
    """A TIFF without DNGVersion (many camera raws are TIFF based) is only read as far as IFD 0 and then
    declined with 'not a DNG', so rotpunkt.io.read hands it to LibRaw, even with a broken SubIFD."""
    p = tmp_path / "plain.tif"
    with tifffile.TiffWriter(p) as tw:
        tw.write(np.zeros((8, 8), np.uint16), subifds=1, metadata=None)
        tw.write(np.zeros((4, 4), np.uint16), metadata=None)
    t = hostile.Tiff(p.read_bytes())
    t.set_entry(t.find(hostile.SUB_IFDS, t.first_ifd), type=hostile.LONG, count=1, field=t.long(10**9))
    t.save(p)
    with pytest.raises(UnsupportedFormat, match="not a DNG"):
        read_dng(p)


def test_lossless_jpeg_may_be_laid_out_differently_if_the_sample_count_matches(tmp_path):
    """DNG allows a lossless-JPEG tile of 2 components of half its width (Adobe's layout): accepted."""
    p = write_dng(tmp_path / "two.dng", _ramp(), compression="ljpeg", tile=16, ljpeg_components=2,
                  white_level=4095)
    data, _ = read_dng(p)
    np.testing.assert_array_equal(data, _ramp())


def test_truncated_pixel_data_still_leaves_the_metadata_readable(corpus):
    _, meta = read_dng(corpus["cut_strips"].path, decode=False)
    assert (meta.width, meta.height) == (48, 32)
    with pytest.raises(MissingImageData):
        read_dng(corpus["cut_strips"].path)


def test_errors_name_file_tag_and_value(corpus):
    """The tag-level cases name the tag by name and number, and the offending value."""
    for name, needle in [("black_level_zero_denominator", "BlackLevel (tag 50714) value 1 is 64/0"),
                         ("colormatrix_inf", "ColorMatrix1 (tag 50721) value 1 is inf"),
                         ("bits_33", "BitsPerSample (tag 258) is 33"),
                         ("linearization_table_70000", "LinearizationTable (tag 50712) has 70000 entries"),
                         ("gainmap_nan", "OpcodeList2 (tag 51009): opcode 1 of 1 (GainMap)")]:
        with pytest.raises(RotpunktError) as info:
            read_dng(corpus[name].path)
        assert needle in str(info.value) and str(corpus[name].path) in str(info.value)


# ------------------------------------------------------------------------------------------------
# Opcode parameter bounds (stages/opcodes.py)
# ------------------------------------------------------------------------------------------------


def _gain_map_list(pv: int, ph: int, mp: int = 1) -> bytes:
    return opcode_list(gain_map_opcode(np.ones((pv, ph, mp)), bottom=8, right=8))


def test_gain_maps_up_to_the_bounds_parse_and_bigger_ones_are_refused():
    ok = opcodes.parse_opcode_list(_gain_map_list(opcodes.MAX_GAIN_MAP_POINTS, 2))
    assert ok[0].params.points_v == opcodes.MAX_GAIN_MAP_POINTS
    with pytest.raises(CorruptFile, match=r"1025x2 points"):
        opcodes.parse_opcode_list(_gain_map_list(opcodes.MAX_GAIN_MAP_POINTS + 1, 2))
    with pytest.raises(CorruptFile, match=r"1024x1024 points x 2 planes"):
        opcodes.parse_opcode_list(_gain_map_list(1024, 1024, 2))


def test_opcode_parameters_must_be_finite():
    for bad in (float("nan"), float("inf"), -float("inf")):
        params = struct.pack(">7d", 0.1, 0, 0, 0, 0, bad, 0.5)  # FixVignetteRadial k0..k4, cx, cy
        with pytest.raises(CorruptFile, match="byte 40 is .*not a finite number"):
            opcodes.parse_opcode_list(opcode_list(opcode_record(3, params)))


def test_bad_pixel_lists_are_bounded():
    head = struct.pack(">III", 0, 1, opcodes.MAX_BAD_RECTS + 1)
    with pytest.raises(CorruptFile, match="4097 bad rectangles"):
        opcodes.parse_opcode_list(opcode_list(opcode_record(5, head)))
    rects = struct.pack(">III", 0, 0, 2) + struct.pack(">8i", 0, 0, 2, 2, 4, 4, 6, 6)
    assert len(opcodes.parse_opcode_list(opcode_list(opcode_record(5, rects)))[0].params.rects) == 2


def test_embedded_preview_on_every_case_is_typed(corpus):
    """`look fit` without --jpeg reads the DNG's preview: on every hostile file that is a preview or a
    RotpunktError naming the file, never another exception; the file is left unchanged."""
    from rotpunkt.errors import RotpunktError
    from rotpunkt.io.dng import embedded_preview

    for name, case in corpus.items():
        before = case.path.read_bytes()
        try:
            img = embedded_preview(case.path)
        except RotpunktError as err:
            assert str(case.path) in str(err), name
        else:
            assert img.ndim == 3 and img.shape[2] == 3 and np.isfinite(img).all(), name
        assert case.path.read_bytes() == before, name
