"""Tests of DNG opcode lists (DNG 1.7 chapter 6): parsing, encoding and applying.

Byte strings are packed by hand with ``struct`` (independent of the module's encoder); expected pixel
values come from the opcode definitions written out again here in closed form.
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from rotpunkt.errors import CorruptFile, InvalidParams, RotpunktWarning, UnsupportedFormat
from rotpunkt.stages import opcodes as oc
from rotpunkt.stages.opcodes import (
    AreaSpec,
    DeltaPerColumn,
    DeltaPerRow,
    FixBadPixelsConstant,
    FixBadPixelsList,
    FixVignetteRadial,
    GainMap,
    MapPolynomial,
    MapTable,
    Opcode,
    ScalePerColumn,
    ScalePerRow,
    TrimBounds,
    WarpRectilinear,
    apply_opcode_list,
    describe,
    encode_opcode_list,
    parse_opcode_list,
)

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples"
V13 = 0x01030000

# ------------------------------------------------------------------------------------------------
# hand packing (big-endian, DNG 1.7 chapter 6)
# ------------------------------------------------------------------------------------------------


def op_bytes(op_id: int, params: bytes, flags: int = 0, version: int = V13) -> bytes:
    return struct.pack(">IIII", op_id, version, flags, len(params)) + params


def list_bytes(*ops: bytes) -> bytes:
    return struct.pack(">I", len(ops)) + b"".join(ops)


def area(t=0, l=0, b=0, r=0, plane=0, planes=1, rp=1, cp=1) -> bytes:
    return struct.pack(">iiiiIIII", t, l, b, r, plane, planes, rp, cp)


def gain_map_bytes(a: bytes, pv, ph, sv, sh, ov, oh, gains, mp=1) -> bytes:
    g = np.asarray(gains, dtype=np.float32).ravel()
    return a + struct.pack(">II4dI", pv, ph, sv, sh, ov, oh, mp) + struct.pack(f">{g.size}f", *g)


def one(op_id, params, flags=0):
    return parse_opcode_list(list_bytes(op_bytes(op_id, params, flags)))


def rggb(h=8, w=10, seed=0):
    return np.random.default_rng(seed).uniform(0.1, 0.9, (h, w)).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# parsing
# ------------------------------------------------------------------------------------------------


def test_parse_gain_map():
    gains = np.arange(12, dtype=np.float32).reshape(2, 3, 2) / 10 + 1
    data = gain_map_bytes(area(0, 1, 8, 10, 0, 1, 2, 2), 2, 3, 1.0, 0.5, 0.0, 0.25, gains, mp=2)
    (op,) = parse_opcode_list(list_bytes(op_bytes(9, data, flags=3)), path="a.dng")
    assert (op.id, op.name, op.dng_version, op.version) == (9, "GainMap", V13, "1.3.0.0")
    assert op.optional and op.preview_skip
    p = op.params
    assert isinstance(p, GainMap)
    assert p.area == AreaSpec(0, 1, 8, 10, 0, 1, 2, 2)
    assert (p.points_v, p.points_h, p.map_planes) == (2, 3, 2)
    assert (p.spacing_v, p.spacing_h, p.origin_v, p.origin_h) == (1.0, 0.5, 0.0, 0.25)
    np.testing.assert_array_equal(p.gain_array(), gains)


def test_parse_warp_rectilinear_and_vignette():
    coeffs = [(1.0, -0.1, 0.02, 0.0, 1e-3, -2e-3), (1.001, -0.09, 0.0, 0.0, 0.0, 0.0)]
    warp = warp_bytes(coeffs, 0.4, 0.6)
    vig = struct.pack(">7d", 0.1, 0.2, 0.3, 0.4, 0.5, 0.45, 0.55)
    w, v = parse_opcode_list(list_bytes(op_bytes(1, warp), op_bytes(3, vig)))
    assert w.name == "WarpRectilinear" and w.params == WarpRectilinear(tuple(coeffs), 0.4, 0.6)
    assert w.params.planes == 2 and not w.optional
    assert v.name == "FixVignetteRadial"
    assert v.params == FixVignetteRadial((0.1, 0.2, 0.3, 0.4, 0.5), 0.45, 0.55)


def test_parse_bad_pixels_trim_table_polynomial():
    bp = struct.pack(">III", 1, 2, 1) + struct.pack(">4i", 3, 4, 5, 6) + struct.pack(">4i", 0, 1, 2, 3)
    ops = parse_opcode_list(
        list_bytes(
            op_bytes(4, struct.pack(">II", 0, 3)),
            op_bytes(5, bp),
            op_bytes(6, struct.pack(">4i", 1, 2, 7, 9)),
            op_bytes(7, area(0, 0, 4, 4, 1, 2) + struct.pack(">I3H", 3, 10, 20, 65535)),
            op_bytes(8, area() + struct.pack(">I3d", 2, 0.5, -1.0, 0.25)),
        )
    )
    assert [o.name for o in ops] == ["FixBadPixelsConstant", "FixBadPixelsList", "TrimBounds", "MapTable",
                                     "MapPolynomial"]
    assert ops[0].params == FixBadPixelsConstant(0, 3)
    assert ops[1].params == FixBadPixelsList(1, ((3, 4), (5, 6)), ((0, 1, 2, 3),))
    assert ops[2].params == TrimBounds(1, 2, 7, 9)
    assert ops[3].params == MapTable(AreaSpec(0, 0, 4, 4, 1, 2), (10, 20, 65535))
    assert ops[4].params == MapPolynomial(AreaSpec(), (0.5, -1.0, 0.25)) and ops[4].params.degree == 2


def test_parse_per_row_and_column():
    rows = area(2, 0, 9, 5, 0, 1, 2, 1)  # rows 2, 4, 6, 8 -> 4 values
    cols = area(0, 1, 4, 8, 0, 1, 1, 3)  # cols 1, 4, 7 -> 3 values
    ops = parse_opcode_list(
        list_bytes(
            op_bytes(10, rows + struct.pack(">I4f", 4, 1, 2, 3, 4)),
            op_bytes(11, cols + struct.pack(">I3f", 3, 1, 2, 3)),
            op_bytes(12, rows + struct.pack(">I4f", 4, 0.5, 1, 1.5, 2)),
            op_bytes(13, cols + struct.pack(">I3f", 3, 0.5, 1, 2)),
        )
    )
    assert [type(o.params) for o in ops] == [DeltaPerRow, DeltaPerColumn, ScalePerRow, ScalePerColumn]
    assert ops[0].params.values == (1.0, 2.0, 3.0, 4.0)
    assert ops[3].params.values == (0.5, 1.0, 2.0)


def test_unknown_opcode_keeps_raw_bytes():
    (op,) = one(2, b"\x00\x01\x02", flags=1)
    assert op.name == "WarpFisheye" and op.params == b"\x00\x01\x02" and op.optional
    (op,) = one(99, b"xyz")
    assert op.name == "Opcode99" and op.params == b"xyz"


def _all_kinds_bytes() -> bytes:
    warp = struct.pack(">I6d2d", 1, 1.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5)
    return list_bytes(
        op_bytes(1, warp),
        op_bytes(2, b"\x00" * 8, flags=1),
        op_bytes(3, struct.pack(">7d", 0.1, 0, 0, 0, 0, 0.5, 0.5)),
        op_bytes(4, struct.pack(">II", 0, 1)),
        op_bytes(5, struct.pack(">III2i", 2, 1, 0, 1, 1)),
        op_bytes(6, struct.pack(">4i", 0, 0, 4, 4)),
        op_bytes(7, area() + struct.pack(">I2H", 2, 0, 65535)),
        op_bytes(8, area() + struct.pack(">I2d", 1, 0.0, 1.0)),
        op_bytes(9, gain_map_bytes(area(), 1, 1, 1.0, 1.0, 0.0, 0.0, [1.5])),
        op_bytes(10, area(0, 0, 2, 2) + struct.pack(">I2f", 2, 1, 2)),
        op_bytes(11, area(0, 0, 2, 2) + struct.pack(">I2f", 2, 1, 2)),
        op_bytes(12, area(0, 0, 2, 2) + struct.pack(">I2f", 2, 1, 2)),
        op_bytes(13, area(0, 0, 2, 2) + struct.pack(">I2f", 2, 1, 2)),
        op_bytes(14, b"\x01\x02\x03\x04", flags=1),
        op_bytes(1234, b"", flags=2, version=0x01070000),
    )


def test_round_trip_exact():
    data = _all_kinds_bytes()
    ops = parse_opcode_list(data)
    assert len(ops) == 15
    assert encode_opcode_list(ops) == data
    assert parse_opcode_list(encode_opcode_list(ops)) == ops
    assert encode_opcode_list([]) == b"\x00\x00\x00\x00" and parse_opcode_list(b"\x00" * 4) == []


def test_round_trip_of_built_opcodes():
    gains = np.float32([1, 1.25, 1.5, 2])
    gm = GainMap(AreaSpec(0, 0, 10, 10, 1, 2, 2, 2), 2, 2, 0.5, 0.5, 0.25, 0.25, 1, gains)
    ops = [Opcode.make(gm, optional=True), Opcode.make(TrimBounds(1, 1, 5, 5), preview_skip=True)]
    assert ops[0].id == 9 and ops[0].flags == 1 and ops[1].id == 6 and ops[1].flags == 2
    assert parse_opcode_list(encode_opcode_list(ops)) == ops


def test_every_truncation_raises_corrupt_file_naming_the_path():
    full = _all_kinds_bytes()
    for cut in range(len(full)):
        with pytest.raises(CorruptFile) as info:
            parse_opcode_list(full[:cut], path="x.dng")
        assert info.value.path == "x.dng"


@pytest.mark.parametrize(
    "data",
    [
        list_bytes(op_bytes(9, gain_map_bytes(area(), 2, 2, 1, 1, 0, 0, [1, 1, 1]))),  # 3 gains for 2x2
        list_bytes(op_bytes(6, struct.pack(">3i", 0, 0, 4))),  # short TrimBounds
        list_bytes(op_bytes(6, struct.pack(">4i", 0, 0, 4, 4) + b"\x00" * 4)),  # byte count too large
        list_bytes(op_bytes(6, struct.pack(">4i", 4, 0, 4, 4))),  # empty bounds
        list_bytes(op_bytes(8, area() + struct.pack(">I", 9) + b"\x00" * 80)),  # degree 9
        list_bytes(op_bytes(10, area(0, 0, 4, 4) + struct.pack(">I3f", 3, 1, 2, 3))),  # 3 deltas for 4 rows
        list_bytes(op_bytes(1, struct.pack(">I6d2d", 1, 1, 0, 0, 0, 0, 0, 1.5, 0.5))),  # centre outside
        list_bytes(op_bytes(4, struct.pack(">II", 0, 7))),  # Bayer phase 7
        list_bytes(op_bytes(7, area(planes=0) + struct.pack(">I1H", 1, 0))),  # zero planes
        struct.pack(">I", 1000) + b"\x00" * 20,  # count larger than the data can hold
        list_bytes(op_bytes(6, struct.pack(">4i", 0, 0, 4, 4))) + b"junk",  # trailing bytes
    ],
)
def test_inconsistent_lists_raise_corrupt_file(data):
    with pytest.raises(CorruptFile) as info:
        parse_opcode_list(data, path="bad.dng")
    assert "bad.dng" in str(info.value)


# ------------------------------------------------------------------------------------------------
# applying: closed-form truths
# ------------------------------------------------------------------------------------------------


def bilinear_truth(grid, u, v):
    """Bilinear interpolation of grid (V, H) at fractional node indices u (rows), v (cols), clamped."""
    u = np.clip(u, 0, grid.shape[0] - 1)
    v = np.clip(v, 0, grid.shape[1] - 1)
    out = np.zeros((u.size, v.size))
    for a, ua in enumerate(u):
        for b, vb in enumerate(v):
            i0, j0 = min(int(ua), grid.shape[0] - 2), min(int(vb), grid.shape[1] - 2)
            fu, fv = ua - i0, vb - j0
            out[a, b] = ((1 - fu) * (1 - fv) * grid[i0, j0] + (1 - fu) * fv * grid[i0, j0 + 1]
                         + fu * (1 - fv) * grid[i0 + 1, j0] + fu * fv * grid[i0 + 1, j0 + 1])
    return out


def test_gain_map_flat_field_gives_interpolated_gain():
    h, w = 8, 12
    grid = np.array([[1.0, 2.0], [3.0, 4.0]])
    ops = one(9, gain_map_bytes(area(), 2, 2, 1.0, 1.0, 0.0, 0.0, grid))
    out = apply_opcode_list(np.ones((h, w), np.float32), ops)
    u = (np.arange(h) + 0.5) / h  # relative positions of pixel centres
    v = (np.arange(w) + 0.5) / w
    truth = (1 - u)[:, None] * (1 - v)[None] * 1 + (1 - u)[:, None] * v[None] * 2
    truth += u[:, None] * (1 - v)[None] * 3 + u[:, None] * v[None] * 4
    np.testing.assert_allclose(out, truth, rtol=0, atol=1e-6)


def test_gain_map_origin_spacing_and_clamping():
    h, w = 10, 16
    grid = np.random.default_rng(1).uniform(0.5, 2.0, (3, 4))
    # nodes at rows 0.2, 0.5, 0.8 and columns 0.1, 0.35, 0.6, 0.85: the image edges lie outside the grid
    ops = one(9, gain_map_bytes(area(), 3, 4, 0.3, 0.25, 0.2, 0.1, grid.astype(np.float32)))
    img = np.full((h, w, 2), 0.5, np.float32)
    out = apply_opcode_list(img, ops)
    u = (((np.arange(h) + 0.5) / h) - 0.2) / 0.3
    v = (((np.arange(w) + 0.5) / w) - 0.1) / 0.25
    truth = 0.5 * bilinear_truth(grid.astype(np.float32).astype(np.float64), u, v)
    np.testing.assert_allclose(out[:, :, 0], truth, atol=2e-6)
    np.testing.assert_array_equal(out[:, :, 1], 0.5)  # only plane 0 named
    assert np.isclose(out[0, 0, 0], 0.5 * np.float32(grid[0, 0]), atol=1e-6)  # clamped corner


def test_gain_map_map_planes_fewer_than_planes_reuse_the_last():
    # a 1x1 map with 2 map planes over 3 image planes: plane 0 -> gain 2, planes 1 and 2 -> gain 3
    gm = gain_map_bytes(area(planes=3), 1, 1, 1, 1, 0, 0, [2.0, 3.0], mp=2)
    out = apply_opcode_list(np.full((3, 4, 3), 0.25, np.float32), one(9, gm))
    np.testing.assert_array_equal(out[0, 0], [0.5, 0.75, 0.75])


def test_gain_map_plane_and_pitch_on_rggb_green_sites():
    h, w = 8, 10
    mosaic = rggb(h, w)
    grid = np.array([[1.0, 2.0], [1.5, 3.0]], np.float32)
    g1 = gain_map_bytes(area(0, 1, h, w, 0, 1, 2, 2), 2, 2, 1.0, 1.0, 0.0, 0.0, grid)  # greens on red rows
    g2 = gain_map_bytes(area(1, 0, h, w, 0, 1, 2, 2), 2, 2, 1.0, 1.0, 0.0, 0.0, grid)  # greens on blue rows
    out = apply_opcode_list(mosaic, parse_opcode_list(list_bytes(op_bytes(9, g1), op_bytes(9, g2))))
    yy, xx = np.mgrid[0:h, 0:w]
    green = (yy + xx) % 2 == 1
    np.testing.assert_array_equal(out[~green], mosaic[~green])  # red and blue untouched
    gain = bilinear_truth(grid.astype(np.float64), (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w)
    np.testing.assert_allclose(out[green], (mosaic * gain)[green], rtol=2e-6)


def vignette_truth(h, w, k, cx, cy):
    px, py = cx * w, cy * h
    m = max(math.hypot(px - x, py - y) for x in (0, w) for y in (0, h))  # farthest corner
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    r2 = ((xx - px) ** 2 + (yy - py) ** 2) / m**2
    return 1 + sum(kk * r2 ** (i + 1) for i, kk in enumerate(k))


def test_fix_vignette_radial_flattens_shaded_field():
    h, w = 30, 44
    k, cx, cy = (0.35, 0.12, -0.05, 0.02, 0.01), 0.4, 0.6
    shaded = (0.6 / vignette_truth(h, w, k, cx, cy))[:, :, None] * np.ones((1, 1, 3))
    ops = one(3, struct.pack(">7d", *k, cx, cy))
    out = apply_opcode_list(shaded.astype(np.float32), ops)
    np.testing.assert_allclose(out, 0.6, atol=1e-5)
    assert shaded.min() < 0.5  # the shading was real


def test_fix_vignette_radius_reaches_one_at_the_corner_only():
    # with k0 = 1 only, g = 1 + r^2: the centre pixel of a symmetric image is ~1, corner pixels ~2
    h, w = 41, 61
    out = apply_opcode_list(np.ones((h, w), np.float32), one(3, struct.pack(">7d", 1, 0, 0, 0, 0, 0.5, 0.5)))
    np.testing.assert_allclose(out, vignette_truth(h, w, (1, 0, 0, 0, 0), 0.5, 0.5), rtol=1e-6)
    assert 1.95 < out[0, 0] < 2.0 and out[20, 30] < 1.001


def warp_bytes(coeffs, cx=0.5, cy=0.5):
    return struct.pack(">I", len(coeffs)) + b"".join(struct.pack(">6d", *c) for c in coeffs) + struct.pack(
        ">2d", cx, cy
    )


def warp_source(h, w, c, cx, cy):
    """Source pixel indices (sy, sx) of every output pixel, written from the WarpRectilinear equations."""
    kr0, kr1, kr2, kr3, kt0, kt1 = c
    px, py = cx * w, cy * h
    m = max(math.hypot(px - x, py - y) for x in (0, w) for y in (0, h))
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    dx, dy = (xx - px) / m, (yy - py) / m
    r2 = dx**2 + dy**2
    f = kr0 + kr1 * r2 + kr2 * r2**2 + kr3 * r2**3
    sx = px + m * (f * dx + kt0 * 2 * dx * dy + kt1 * (r2 + 2 * dx**2)) - 0.5
    sy = py + m * (f * dy + kt1 * 2 * dx * dy + kt0 * (r2 + 2 * dy**2)) - 0.5
    return sy, sx


def test_warp_identity():
    img = np.random.default_rng(2).random((13, 17, 3)).astype(np.float32)
    out = apply_opcode_list(img, one(1, warp_bytes([(1, 0, 0, 0, 0, 0)], 0.3, 0.7)))
    np.testing.assert_array_equal(out, img)
    assert out is not img


def test_warp_maps_coordinates_exactly_on_ramps():
    # bilinear sampling of a linear ramp is exact, so the output shows the source coordinate itself
    h, w = 40, 56
    c = (1.0, -0.08, 0.03, 0.0, 0.004, -0.003)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramps = np.stack([xx, yy], axis=2)
    out = apply_opcode_list(ramps, one(1, warp_bytes([c], 0.45, 0.55)))
    sy, sx = warp_source(h, w, c, 0.45, 0.55)
    np.testing.assert_allclose(out[:, :, 0], np.clip(sx, 0, w - 1), atol=2e-4)
    np.testing.assert_allclose(out[:, :, 1], np.clip(sy, 0, h - 1), atol=2e-4)
    assert np.abs(sx - xx).max() > 1.0  # the warp moved pixels by more than a pixel


def test_warp_per_plane_coefficients():
    h, w = 24, 32
    coeffs = [(1.0, 0.05, 0, 0, 0, 0), (1.0, 0.0, 0, 0, 0, 0), (0.98, -0.05, 0, 0, 0, 0)]
    xx = np.broadcast_to(np.arange(w, dtype=np.float32), (h, w))
    out = apply_opcode_list(np.stack([xx] * 3, axis=2), one(1, warp_bytes(coeffs)))
    for plane, c in enumerate(coeffs):
        _, sx = warp_source(h, w, c, 0.5, 0.5)
        np.testing.assert_allclose(out[:, :, plane], np.clip(sx, 0, w - 1), atol=2e-4)
    np.testing.assert_allclose(out[:, :, 1], xx, atol=1e-4)


def test_warp_moves_a_point_to_the_predicted_place():
    h, w = 64, 96
    c = (1.0, 0.12, 0.0, 0.0, 0.0, 0.0)  # pincushion source: the correction pulls points outwards
    yd, xd = 12.0, 15.0  # where the point must land (pixel indices)
    sy, sx = warp_source(h, w, c, 0.5, 0.5)
    ys, xs = sy[int(yd), int(xd)], sx[int(yd), int(xd)]  # where it is in the source
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-((yy - ys) ** 2 + (xx - xs) ** 2) / (2 * 1.5**2)).astype(np.float32)
    out = apply_opcode_list(blob, one(1, warp_bytes([c])))
    win = (slice(int(yd) - 6, int(yd) + 7), slice(int(xd) - 6, int(xd) + 7))
    wgt = out[win]
    cy_ = (wgt * yy[win]).sum() / wgt.sum()
    cx_ = (wgt * xx[win]).sum() / wgt.sum()
    assert math.hypot(ys - yd, xs - xd) > 1.5  # a real displacement
    assert abs(cy_ - yd) < 0.15 and abs(cx_ - xd) < 0.15


def test_map_polynomial_values_and_negative_inputs():
    x = np.linspace(-0.5, 1.2, 60, dtype=np.float32).reshape(6, 10)
    coeffs = (0.01, 0.9, 0.2, -0.1)
    out = apply_opcode_list(x, one(8, area() + struct.pack(">I4d", 3, *coeffs)))
    xd = x.astype(np.float64)
    pos = coeffs[0] + coeffs[1] * np.abs(xd) + coeffs[2] * xd**2 + coeffs[3] * np.abs(xd) ** 3
    truth = np.where(xd >= 0, pos, 2 * coeffs[0] - pos)  # the SDK's odd extension below zero
    np.testing.assert_allclose(out, truth, atol=1e-6)


def test_map_polynomial_stage1_uses_stored_units():
    stored = np.array([[0, 100, 1023], [512, 7, 900]], dtype=np.float64)
    coeffs = (10.0, 2.0, 0.001)  # in stored units: y = 10 + 2 x + 0.001 x^2
    ops = one(8, area() + struct.pack(">I3d", 2, *coeffs))
    out = apply_opcode_list((stored / 65535).astype(np.float32), ops, stage=1)
    np.testing.assert_allclose(out * 65535, 10 + 2 * stored + 0.001 * stored**2, rtol=1e-5)


def test_map_polynomial_area_plane_pitch():
    img = np.full((6, 6, 3), 0.5, np.float32)
    ops = one(8, area(1, 2, 5, 6, 1, 2, 2, 3) + struct.pack(">I2d", 1, 0.0, 2.0))
    out = apply_opcode_list(img, ops)
    touched = np.zeros(img.shape, bool)
    touched[1:5:2, 2:6:3, 1:3] = True
    np.testing.assert_array_equal(out[touched], 1.0)
    np.testing.assert_array_equal(out[~touched], 0.5)


def test_map_table_values():
    table = [(7 * i + 3) % 65536 for i in range(300)]
    ops = one(7, area() + struct.pack(f">I{len(table)}H", len(table), *table))
    stored = np.array([[0, 1, 2, 299], [150, 300, 5000, 65535]], dtype=np.float64)
    out = apply_opcode_list((stored / 65535).astype(np.float32), ops)
    expected = np.array([table[min(int(s), len(table) - 1)] for s in stored.ravel()]).reshape(stored.shape)
    np.testing.assert_allclose(out * 65535, expected, atol=1e-2)


def test_trim_bounds_shape_and_content():
    img = np.random.default_rng(3).random((10, 12, 3)).astype(np.float32)
    out = apply_opcode_list(img, one(6, struct.pack(">4i", 2, 3, 9, 11)))
    assert out.shape == (7, 8, 3)
    np.testing.assert_array_equal(out, img[2:9, 3:11])
    with pytest.raises(CorruptFile, match="outside"):
        apply_opcode_list(img, one(6, struct.pack(">4i", 0, 0, 11, 12)), path="t.dng")


def test_fix_bad_pixels_constant_uses_same_colour_neighbours():
    m = rggb(10, 12, seed=4)
    m[4, 5] = 0.0  # green (RGGB: green where row + col is odd)
    m[6, 6] = 0.0  # red
    m[0, 0] = 0.0  # red in the corner: only 2 neighbours exist
    m[4, 7] = 0.0  # green; its diagonal neighbour [5, 6] stays good, its neighbour [4,5] is not diagonal
    ref = m.copy()
    out = apply_opcode_list(m, one(4, struct.pack(">II", 0, 0)))
    assert out[4, 5] == pytest.approx(np.mean([ref[3, 4], ref[3, 6], ref[5, 4], ref[5, 6]]), abs=1e-6)
    assert out[6, 6] == pytest.approx(np.mean([ref[4, 6], ref[8, 6], ref[6, 4], ref[6, 8]]), abs=1e-6)
    assert out[0, 0] == pytest.approx(np.mean([ref[2, 0], ref[0, 2]]), abs=1e-6)
    assert out[4, 7] == pytest.approx(np.mean([ref[3, 6], ref[3, 8], ref[5, 6], ref[5, 8]]), abs=1e-6)
    others = np.ones_like(m, bool)
    others[[4, 6, 0, 4], [5, 6, 0, 7]] = False
    np.testing.assert_array_equal(out[others], ref[others])


def test_fix_bad_pixels_constant_compares_stored_value_and_honours_phase():
    m = rggb(8, 8, seed=5)
    m[3, 3] = 1023 / 65535  # stored value 1023 after the caller's /65535
    m[2, 2] = 1023 / 65535
    # phase 1 (G R / B G): greens where row + col is even -> [3,3] and [2,2] are green and diagonal
    # neighbours of each other, so each is repaired from its other three diagonals
    out = apply_opcode_list(m, one(4, struct.pack(">II", 1023, 1)))
    assert out[3, 3] == pytest.approx(np.mean([m[2, 4], m[4, 2], m[4, 4]]), abs=1e-6)
    assert out[2, 2] == pytest.approx(np.mean([m[1, 1], m[1, 3], m[3, 1]]), abs=1e-6)
    # the same opcode with an explicit CFA pattern gives the same answer
    cfa = np.array([[1, 0], [2, 1]])
    same = apply_opcode_list(m, one(4, struct.pack(">II", 1023, 1)), cfa_pattern=cfa)
    np.testing.assert_array_equal(same, out)
    with pytest.warns(RotpunktWarning, match="BayerPhase"):
        apply_opcode_list(m, one(4, struct.pack(">II", 1023, 1)), cfa_pattern=np.array([[0, 1], [1, 2]]))


def test_fix_bad_pixels_list_points_and_column():
    m = rggb(10, 12, seed=6)
    ref = m.copy()
    bp = struct.pack(">III", 0, 1, 1) + struct.pack(">2i", 2, 8) + struct.pack(">4i", 0, 5, 10, 6)  # column 5
    out = apply_opcode_list(m, one(5, bp))
    assert out[2, 8] == pytest.approx(np.mean([ref[0, 8], ref[4, 8], ref[2, 6], ref[2, 10]]), abs=1e-6)  # red
    # column 5: row 4 is green (4 + 5 odd): diagonals lie in columns 4 and 6, all good
    assert out[4, 5] == pytest.approx(np.mean([ref[3, 4], ref[3, 6], ref[5, 4], ref[5, 6]]), abs=1e-6)
    # row 3 is blue (RGGB odd row, odd column): same-colour neighbours up/down are bad, left/right are good
    assert out[3, 5] == pytest.approx(np.mean([ref[3, 3], ref[3, 7]]), abs=1e-6)
    keep = np.ones_like(m, bool)
    keep[:, 5] = False
    keep[2, 8] = False
    np.testing.assert_array_equal(out[keep], ref[keep])


def test_bad_pixels_need_a_single_plane():
    with pytest.raises(CorruptFile, match="single-plane"):
        apply_opcode_list(np.ones((4, 4, 3), np.float32), one(4, struct.pack(">II", 0, 0)))


def test_scale_and_delta_per_row_and_column():
    img = np.full((9, 7), 0.25, np.float32)
    rows = area(2, 0, 9, 7, 0, 1, 2, 1)  # rows 2, 4, 6, 8
    cols = area(0, 1, 9, 7, 0, 1, 1, 3)  # columns 1, 4
    ops = parse_opcode_list(
        list_bytes(
            op_bytes(12, rows + struct.pack(">I4f", 4, 2, 3, 4, 0.5)),
            op_bytes(11, cols + struct.pack(">I2f", 2, 655.35, -6553.5)),  # stored units: +0.01, -0.1
        )
    )
    out = apply_opcode_list(img, ops)
    truth = np.full((9, 7), 0.25)
    truth[[2, 4, 6, 8]] *= np.array([2, 3, 4, 0.5])[:, None]
    truth[:, 1] += 0.01
    truth[:, 4] -= 0.1
    np.testing.assert_allclose(out, truth, atol=1e-6)
    # ScalePerColumn and DeltaPerRow
    ops = parse_opcode_list(
        list_bytes(
            op_bytes(13, cols + struct.pack(">I2f", 2, 1.5, 0.0)),
            op_bytes(10, rows + struct.pack(">I4f", 4, 65535, 0, 0, 0)),
        )
    )
    out = apply_opcode_list(img, ops)
    truth = np.full((9, 7), 0.25)
    truth[:, 1] *= 1.5
    truth[:, 4] = 0
    truth[2] += 1.0
    np.testing.assert_allclose(out, truth, atol=1e-6)
    out = apply_opcode_list(img, ops, stored_scale=1.0)  # float data: deltas in image units
    assert out[2, 0] == pytest.approx(0.25 + 65535)


# ------------------------------------------------------------------------------------------------
# applying: contracts
# ------------------------------------------------------------------------------------------------


def test_input_unchanged_and_float32_out():
    img = np.random.default_rng(7).random((8, 10)).astype(np.float32)
    before = img.copy()
    data = list_bytes(
        op_bytes(9, gain_map_bytes(area(), 1, 1, 1, 1, 0, 0, [2.0])),
        op_bytes(4, struct.pack(">II", 0, 0)),
        op_bytes(1, warp_bytes([(1.0, 0.1, 0, 0, 0, 0)])),
        op_bytes(12, area(0, 0, 8, 10) + struct.pack(">I8f", 8, *range(8))),
    )
    out = apply_opcode_list(img, parse_opcode_list(data))
    np.testing.assert_array_equal(img, before)
    assert out.dtype == np.float32 and out.shape == img.shape and not np.shares_memory(out, img)
    out64 = apply_opcode_list(img.astype(np.float64)[:, :, None], [])
    assert out64.dtype == np.float32 and out64.shape == (8, 10, 1)


def test_unknown_optional_warns_and_skips_required_raises():
    img = np.full((4, 4), 0.5, np.float32)
    ops = parse_opcode_list(list_bytes(op_bytes(16, b"\x00" * 4, flags=1), op_bytes(9, gain_map_bytes(
        area(), 1, 1, 1, 1, 0, 0, [2.0]))))
    with pytest.warns(RotpunktWarning, match="Opcode16"):
        out = apply_opcode_list(img, ops, path="p.dng")
    np.testing.assert_array_equal(out, 1.0)
    with pytest.raises(UnsupportedFormat, match="WarpFisheye") as info:
        apply_opcode_list(img, one(2, b"\x00" * 4), path="p.dng")
    assert info.value.path == "p.dng"
    with pytest.raises(UnsupportedFormat, match="WarpRectilinear2"):
        apply_opcode_list(img, one(14, b""))


def test_missing_plane_is_an_error_unless_optional():
    img = np.full((4, 4, 3), 0.5, np.float32)
    gm = gain_map_bytes(area(plane=3), 1, 1, 1, 1, 0, 0, [2.0])
    with pytest.raises(CorruptFile, match="plane 3") as info:
        apply_opcode_list(img, one(9, gm), path="m.dng")
    assert info.value.path == "m.dng"
    with pytest.warns(RotpunktWarning, match="plane 3"):
        out = apply_opcode_list(img, one(9, gm, flags=1))
    np.testing.assert_array_equal(out, img)
    with pytest.raises(CorruptFile):  # a 2-plane warp on a 3-plane image
        apply_opcode_list(img, one(1, warp_bytes([(1, 0.1, 0, 0, 0, 0)] * 2)))
    with pytest.warns(RotpunktWarning, match="planes 2..3"):  # partly outside: the existing plane is done
        out = apply_opcode_list(img, one(9, gain_map_bytes(area(plane=2, planes=2), 1, 1, 1, 1, 0, 0, [2.0])))
    np.testing.assert_array_equal(out[:, :, 2], 1.0)


def test_bad_arguments_raise_invalid_params():
    with pytest.raises(InvalidParams):
        apply_opcode_list(np.ones(5, np.float32), [])
    with pytest.raises(InvalidParams):
        apply_opcode_list(np.ones((2, 2), np.float32), [], stage=4)
    with pytest.raises(InvalidParams):
        apply_opcode_list(np.ones((2, 2), np.float32), [], stored_scale=0)
    with pytest.raises(InvalidParams):
        GainMap(AreaSpec(), 2, 2, 1, 1, 0, 0, 1, [1.0, 2.0])
    with pytest.raises(InvalidParams):
        Opcode(9, V13, 0, TrimBounds(0, 0, 1, 1))


def test_describe_lines():
    ops = parse_opcode_list(_all_kinds_bytes())
    lines = describe(ops)
    assert len(lines) == len(ops)
    assert lines[8] == "GainMap plane 0 1x1 points"
    assert lines[1].startswith("WarpFisheye") and lines[1].endswith("(optional)")
    gm = gain_map_bytes(area(0, 0, 100, 100, 1, 1, 2, 2), 13, 17, 0.08, 0.06, 0, 0, np.ones(13 * 17))
    assert describe(one(9, gm)) == ["GainMap plane 1 pitch 2x2 rows 0:100 cols 0:100 17x13 points"]
    assert all(isinstance(s, str) and s for s in lines)


def test_registry_covers_every_decoded_kind():
    assert set(oc.OPCODE_APPLY) == set(oc._PARAM_TYPES)
    assert oc.OPCODE_IDS["GainMap"] == 9 and oc.OPCODE_NAMES[14] == "WarpRectilinear2"


# ------------------------------------------------------------------------------------------------
# real files
# ------------------------------------------------------------------------------------------------


def _opcode_tags(path: Path):
    tifffile = pytest.importorskip("tifffile")
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tifffile.TiffFile(path) as tif:
            pages = list(tif.pages)
            for page in list(pages):
                pages.extend(page.pages or [])
            for page in pages:
                for tag in (51008, 51009, 51022):
                    if tag in page.tags:
                        found.append((tag, page.shape, bytes(page.tags[tag].value)))
    return found


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="real samples folder ../shared/samples is absent")
def test_real_lg_g4_opcode_list2():
    tags = _opcode_tags(SAMPLES / "lg-g4_skia_sample_1mp.dng")
    ((tag, shape, data),) = tags
    assert tag == 51009 and shape == (338, 600, 3)
    ops = parse_opcode_list(data, path="lg-g4")
    assert [o.name for o in ops] == ["MapPolynomial"] * 3
    assert [o.params.area.plane for o in ops] == [0, 1, 2]
    assert all(o.params.area == AreaSpec(0, 0, 338, 600, o.params.area.plane, 1, 1, 1) for o in ops)
    assert encode_opcode_list(ops) == data
    img = np.full(shape, 0.5, np.float32)
    out = apply_opcode_list(img, ops)
    for plane, op in enumerate(ops):
        expected = sum(c * 0.5**j for j, c in enumerate(op.params.coefficients))
        np.testing.assert_allclose(out[:, :, plane], expected, rtol=1e-6)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="real samples folder ../shared/samples is absent")
@pytest.mark.parametrize(
    "name",
    ["canon6d_photoprism_lossy.dng", "adobe-dngsdk17_01_jxl_linear_raw_integer.dng",
     "aosp-dngsdk_cve_2020_9589_original.dng", "aosp-dngsdk_cve_2020_9589_poc.dng"],
)
def test_real_files_parse_or_fail_cleanly(name):
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{name} not in the samples folder")
    for _tag, _shape, data in _opcode_tags(path):
        try:
            ops = parse_opcode_list(data, path=str(path))
        except CorruptFile as exc:
            assert exc.path == str(path)
            continue
        assert encode_opcode_list(ops) == data
        assert len(describe(ops)) == len(ops)
