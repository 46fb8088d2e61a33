"""Regressions found in review: OpcodeList1 interplay with the LinearizationTable and the CFA phase,
DefaultCrop after TrimBounds, CLI output-name collisions."""

import struct
import subprocess
import sys
import warnings

import numpy as np
from dngwriter import opcode_list, opcode_record, write_dng

from rotpunkt import pipeline
from rotpunkt.io import read
from rotpunkt.stages.linearize import linearize

# FixBadPixelsConstant (opcode 4): Constant, BayerPhase
NO_MATCH = opcode_record(4, struct.pack(">II", 65535, 0))


def test_linearization_table_still_applies_after_opcode_list1(tmp_path):
    stored = np.full((8, 8), 100, np.uint16)
    table = (np.arange(256) ** 2).astype(np.uint16)  # 100 -> 10000
    for name, l1 in (("plain", None), ("list1", opcode_list(NO_MATCH))):
        p = write_dng(tmp_path / f"{name}.dng", stored, linearization_table=table, white_level=65025,
                      opcode_list1=l1)
        data, meta = read(p)
        lin = linearize(pipeline.apply_list1(data, meta), meta)
        np.testing.assert_allclose(lin, 10000 / 65025, rtol=1e-6)


def test_opcode_list1_uses_the_stored_cfa_phase(tmp_path):
    act = np.zeros((8, 8), np.uint16)
    act[0::2, 0::2], act[0::2, 1::2], act[1::2, 0::2], act[1::2, 1::2] = 1000, 2000, 2000, 3000  # RGGB
    stored = np.zeros((9, 8), np.uint16)
    stored[1:] = act
    stored[0] = 50
    stored[3, 2] = 0  # active (2, 2) is a red site, marked bad by Constant 0
    p = write_dng(tmp_path / "l1.dng", stored, cfa_pattern="RGGB", active_area=(1, 0, 9, 8), white_level=4000,
                  opcode_list1=opcode_list(opcode_record(4, struct.pack(">II", 0, 2))))
    data, meta = read(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the pattern now agrees with the opcode's BayerPhase: no warning
        out = pipeline.apply_list1(data, meta)
    assert out[3, 2] == 1000  # repaired from its red neighbours


def test_default_crop_is_kept_inside_a_smaller_image():
    rgb = np.arange(10 * 12 * 3, dtype=np.float32).reshape(10, 12, 3)
    out = pipeline.default_crop(rgb, (4, 6, 8, 8))  # would run past a 10 x 12 image
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out, rgb[2:10, 4:12])


def test_cli_refuses_two_inputs_with_one_output_name(tmp_path):
    import rotpunkt

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for d in (a, b):
        (d / "IMG_1.dng").write_bytes(open(rotpunkt.sample_path(), "rb").read())
    r = subprocess.run([sys.executable, "-m", "rotpunkt.cli", "develop", a / "IMG_1.dng", b / "IMG_1.dng",
                        "-o", tmp_path / "out"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "would overwrite the output of" in r.stderr
    assert (tmp_path / "out" / "IMG_1.jpg").is_file()
