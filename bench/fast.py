"""Benchmark: numpy reference vs compiled Halide kernels (rotpunkt.fast), per kernel, at 12 and 50 MP.

    python bench/fast.py                        # 12 and 50 MP, 2 workers, median of 5
    python bench/fast.py --mp 12 --repeat 7 --workers 1 --kernels rcd colour

Kernels (numpy side = what the develop pipeline runs today):

* ``rcd`` / ``bilinear``: ``stages.demosaic`` vs ``fast.bayer_to_rgb`` (float32 (H, W) -> (H, W, 3));
* ``colour``: ``colour.apply_matrix`` + clip + ``colour_math.srgb_encode_fast`` vs
  ``fast.colour_encode``, both into one preallocated output;
* ``develop_rcd`` / ``develop_bilinear``: demosaic + the colour step above vs ``fast.bayer_develop``;
* ``linearize``: ``stages.linearize`` + white-balance gains and clip vs ``fast.linearize_wb``.

Each timing is the median wall time of ``--repeat`` calls after one warm-up call; the CPU time of those
calls (median) is printed too, since the machine may be shared. Except for ``colour``, both engines
allocate their result on every call (as the pipeline does), so first-touch page faults are included.
Results are also checked: the maximum absolute difference between the engines is printed (0 for the
demosaics).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

SIZES = {12: (3000, 4000), 50: (6000, 8400)}
KERNELS = ("rcd", "bilinear", "colour", "develop_rcd", "develop_bilinear", "linearize")


def make_mosaic(h: int, w: int) -> np.ndarray:
    """A textured RGGB mosaic (float32, about 0.05..0.95) with a colour cast."""
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    m = np.sin(x * np.float32(0.05) + np.sin(y * np.float32(0.01)) * 3).astype(np.float32)
    m *= np.float32(0.35)
    m += np.float32(0.5)
    m[0::2, 0::2] *= np.float32(0.6)
    m[1::2, 1::2] *= np.float32(0.8)
    return m


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(median wall s, median CPU s, last result) of ``repeat`` calls after a warm-up call."""
    res = fn()
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        res = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), res


def run(mp: int, kernels, repeat: int, workers: int) -> None:
    from rotpunkt import colour_math as cm
    from rotpunkt import fast, pipeline
    from rotpunkt.stages import colour, demosaic
    from rotpunkt.stages.linearize import linearize
    from rotpunkt.types import RawMetadata

    h, w = SIZES[mp]
    mosaic = make_mosaic(h, w)
    pattern = np.array([[0, 1], [1, 2]])
    matrix = np.array([[1.7, -0.5, -0.2], [-0.2, 1.4, -0.2], [0.0, -0.4, 1.4]])
    fast.set_num_threads(workers)
    rgb0 = demosaic.demosaic_bilinear(mosaic, pattern, workers=workers)
    buf = np.empty_like(rgb0)

    def np_colour(rgb, out=None):
        rgb = colour.apply_matrix(rgb, matrix, out=rgb if out is None else out, workers=workers)
        for y0 in range(0, rgb.shape[0], 256):
            np.clip(rgb[y0 : y0 + 256], 0.0, 1.0, out=rgb[y0 : y0 + 256])
        return cm.srgb_encode_fast(rgb, out=rgb, workers=workers)

    raw = (mosaic * 4000 + 64).astype(np.uint16)
    meta = RawMetadata(path=None, width=w, height=h, photometric="cfa", cfa_pattern=pattern,
                       black_level=np.full((1, 1, 1), 64.0), white_level=np.array([4095.0]))
    gains = np.array([2.0, 1.0, 1.5])
    inv_span = np.float32(1.0 / (4095.0 - 64.0))
    gain22 = gains[pattern].astype(np.float32)

    def np_linearize():
        lin = linearize(raw, meta)
        scale = getattr(pipeline, "scale_planes_mosaic", None) or pipeline._scale_planes_mosaic
        scale(lin, gains, pattern, True)
        return lin

    cases = {
        "rcd": (lambda: demosaic.demosaic_rcd(mosaic, pattern, workers=workers),
                lambda: fast.bayer_to_rgb(mosaic, (0, 0), "rcd")),
        "bilinear": (lambda: demosaic.demosaic_bilinear(mosaic, pattern, workers=workers),
                     lambda: fast.bayer_to_rgb(mosaic, (0, 0), "bilinear")),
        # both write into the same preallocated buffer (the pipeline encodes in place)
        "colour": (lambda: np_colour(rgb0, out=buf), lambda: fast.colour_encode(rgb0, matrix, out=buf)),
        "develop_rcd": (lambda: np_colour(demosaic.demosaic_rcd(mosaic, pattern, workers=workers)),
                        lambda: fast.bayer_develop(mosaic, (0, 0), "rcd", matrix)),
        "develop_bilinear": (lambda: np_colour(demosaic.demosaic_bilinear(mosaic, pattern, workers=workers)),
                             lambda: fast.bayer_develop(mosaic, (0, 0), "bilinear", matrix)),
        "linearize": (np_linearize, lambda: fast.linearize_wb(raw, 64.0, inv_span, gain22, clip_high=1.0)),
    }
    print(f"\n{mp} MP ({w}x{h}), {workers} worker(s), median of {repeat}; Halide target {fast.TARGET}")
    print(f"{'kernel':18s} {'numpy ms':>10s} {'(cpu)':>8s} {'halide ms':>10s} {'(cpu)':>8s} {'speed-up':>9s} "
          f"{'max |diff|':>11s}")
    for name in kernels:
        np_fn, hl_fn = cases[name]
        t_np, c_np, r_np = timed(np_fn, repeat)
        t_hl, c_hl, r_hl = timed(hl_fn, repeat)
        diff = float(np.max(np.abs(np.asarray(r_np, np.float32) - r_hl)))
        del r_np, r_hl
        print(f"{name:18s} {t_np * 1e3:10.1f} {c_np * 1e3:8.1f} {t_hl * 1e3:10.1f} {c_hl * 1e3:8.1f} "
              f"{t_np / t_hl:8.1f}x {diff:11.3g}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mp", type=int, nargs="+", default=[12, 50], choices=sorted(SIZES))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    a = ap.parse_args(argv)
    from rotpunkt import fast

    if not fast.AVAILABLE:
        print(f"rotpunkt.fast is not available: {fast.REASON}", file=sys.stderr)
        return 1
    for mp in a.mp:
        run(mp, a.kernels, a.repeat, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
