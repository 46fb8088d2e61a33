import numpy as np
import pytest

from rotpunkt.errors import CorruptFile
from rotpunkt.stages.linearize import linearize
from rotpunkt.types import RawMetadata


def meta(**kw):
    base = dict(path="x.dng", width=6, height=4, photometric="cfa", cfa_pattern=np.array([[0, 1], [1, 2]]))
    base.update(kw)
    return RawMetadata(**base)


def test_black_white_scalar_hand_values():
    data = np.array([[100, 612, 1124, 2148]], np.uint16)
    m = meta(black_level=np.full((1, 1, 1), 100.0), white_level=np.array([2148.0]))
    out = linearize(data, m)
    assert out.dtype == np.float32 and out.shape == (1, 4)
    np.testing.assert_allclose(out, [[0.0, 0.25, 0.5, 1.0]], atol=1e-7)


def test_repeat_pattern_anchored_at_active_area_and_deltas():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4000, size=(10, 12)).astype(np.uint16)
    black = np.array([[10.0, 20.0], [30.0, 40.0]])[..., None]
    dh = np.linspace(0, 5, 8)
    dv = np.linspace(-3, 3, 6)
    m = meta(black_level=black, white_level=np.array([4095.0]), active_area=(2, 3, 8, 11),
             black_level_delta_h=dh, black_level_delta_v=dv)
    out = linearize(data, m)
    assert out.shape == (6, 8)
    act = data[2:8, 3:11].astype(np.float64)
    rows, cols = np.mgrid[0:6, 0:8]
    b = black[rows % 2, cols % 2, 0] + dh[cols] + dv[rows]
    np.testing.assert_allclose(out, (act - b) / (4095.0 - b), rtol=1e-6, atol=1e-6)


def test_linearization_table_then_black():
    table = (np.arange(256) ** 2).astype(np.float64)  # a square-law companding curve
    data = np.array([[0, 10, 200, 255, 300]], np.uint16)  # 300 is past the table: clamps to its end
    m = meta(black_level=np.full((1, 1, 1), 25.0), white_level=np.array([65025.0]), linearization_table=table)
    out = linearize(data, m)
    expect = (np.array([0, 100, 40000, 65025, 65025]) - 25.0) / (65025.0 - 25.0)
    np.testing.assert_allclose(out[0], expect, rtol=1e-6)


def test_linear_raw_per_sample_levels_and_input_unchanged():
    data = np.full((3, 4, 3), 1000, np.uint16)
    data[..., 1] = 2000
    keep = data.copy()
    m = meta(photometric="linear_raw", samples_per_pixel=3, cfa_pattern=None,
             black_level=np.array([[[0.0, 1000.0, 500.0]]]), white_level=np.array([2000.0, 3000.0, 1500.0]))
    out = linearize(data, m)
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5, 0.5])
    np.testing.assert_array_equal(data, keep)


def test_white_not_above_black_is_a_clear_error():
    with pytest.raises(CorruptFile, match="WhiteLevel"):
        linearize(np.zeros((2, 2), np.uint16), meta(black_level=np.full((1, 1, 1), 500.0),
                                                    white_level=np.array([400.0])))
