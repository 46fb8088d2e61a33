"""Slanted-edge sharpness (ISO 12233 style) of the whole develop against the edge's known blur."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import slanted_edge

from rotpunkt.io import read
from rotpunkt.pipeline import DevelopParams, scene_linear


def mtf50_from_edge(img: np.ndarray, truth, margin: int = 8) -> float:
    """MTF50 (cycles/pixel) of ``img`` (H, W) linear, by the super-sampled edge-spread method:
    project pixels onto the edge normal in 1/4-pixel bins, differentiate, window, Fourier transform."""
    h, w = img.shape
    yy, xx = np.mgrid[margin:h - margin, margin:w - margin]
    d = (xx + 0.5 - truth.cx) * truth.normal[0] + (yy + 0.5 - truth.cy) * truth.normal[1]
    v = img[margin:h - margin, margin:w - margin]
    keep = np.abs(d) < 16
    bins = np.round(d[keep] * 4).astype(int)
    bins -= bins.min()
    esf = np.bincount(bins, weights=v[keep]) / np.maximum(np.bincount(bins), 1)
    lsf = np.diff(esf)
    lsf *= np.hanning(lsf.size)
    spec = np.abs(np.fft.rfft(lsf, n=4096))
    spec /= spec[0]
    freq = np.fft.rfftfreq(4096, d=0.25)  # cycles per pixel
    i = int(np.argmax(spec < 0.5))
    return float(np.interp(0.5, [spec[i], spec[i - 1]], [freq[i], freq[i - 1]]))


@pytest.mark.parametrize("method,tolerance", [("rcd", 0.03), ("bilinear", 0.12)])
def test_edge_mtf50_matches_the_blur(tmp_path, method, tolerance):
    scene = slanted_edge(size=160, angle_deg=5.0, blur_sigma=1.2)
    data, meta = read(scene.write(tmp_path / "edge.dng"))
    lin, _ = scene_linear(data, meta, DevelopParams(demosaic=method))
    measured = mtf50_from_edge(lin[..., 1], scene.truth)
    expect = scene.truth.mtf50
    print(f"\n{method}: MTF50 measured {measured:.4f} c/px, truth {expect:.4f} c/px")
    assert abs(measured / expect - 1.0) < tolerance


def test_default_demosaic_sharper_than_bilinear(tmp_path):
    scene = slanted_edge(size=160, angle_deg=5.0, blur_sigma=0.8)
    data, meta = read(scene.write(tmp_path / "edge.dng"))
    rcd = mtf50_from_edge(scene_linear(data, meta, DevelopParams(demosaic="rcd"))[0][..., 1], scene.truth)
    bil = mtf50_from_edge(scene_linear(data, meta, DevelopParams(demosaic="bilinear"))[0][..., 1], scene.truth)
    assert rcd > 1.05 * bil


def test_mtf_method_sees_extra_blur(tmp_path):
    """The measurement itself can fail: a blurrier edge gives a proportionally lower MTF50."""
    a = slanted_edge(size=160, blur_sigma=1.2)
    b = slanted_edge(size=160, blur_sigma=2.4)
    ma = mtf50_from_edge(scene_linear(*read(a.write(tmp_path / "a.dng")), DevelopParams())[0][..., 1], a.truth)
    mb = mtf50_from_edge(scene_linear(*read(b.write(tmp_path / "b.dng")), DevelopParams())[0][..., 1], b.truth)
    assert 1.7 < ma / mb < 2.3
