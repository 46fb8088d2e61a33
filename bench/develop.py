"""Benchmark: rotpunkt read + develop vs rawpy (LibRaw, AHD) open + postprocess, same files, same run.

    python bench/develop.py            # 12 MP and 50 MP
    python bench/develop.py --mp 12 --repeat 5

Synthetic Bayer DNGs are written by the project's test DNG writer (tests/dngwriter.py) into
bench/_data/ (git-ignored). Each measurement runs in a fresh subprocess so that peak memory (max RSS)
belongs to that engine alone. JPEG encoding is excluded on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

SIZES = {12: (3000, 4000), 50: (6000, 8400), 60: (6336, 9504), 100: (8660, 11560)}


def make_scene(h: int, w: int, seed: int = 1):
    """A colourful, textured, linear scene (H, W, 3) float32 in [0, 0.9], made cheaply."""
    import numpy as np
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    small = rng.random((h // 64 + 2, w // 64 + 2, 3)).astype(np.float32)
    zoom = ndimage.zoom(small, (h / small.shape[0], w / small.shape[1], 1), order=1)[:h, :w]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = 0.5 + 0.5 * np.sin(xx * 0.05 + np.sin(yy * 0.01) * 3.0)
    return (zoom * (0.4 + 0.5 * texture[..., None])).astype(np.float32)


def write_bench_dng(path: Path, mp: int) -> None:
    import numpy as np
    from dngwriter import write_dng

    h, w = SIZES[mp]
    scene = make_scene(h, w)
    mosaic = np.empty((h, w), np.float32)
    mosaic[0::2, 0::2] = scene[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = scene[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = scene[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = scene[1::2, 1::2, 2]
    del scene
    black, white = 512, 16383
    raw = np.clip(np.round(black + mosaic * (white - black)), 0, 65535).astype(np.uint16)
    cm_a = np.array([[0.9, -0.2, -0.1], [-0.5, 1.4, 0.1], [-0.1, 0.3, 0.6]])
    cm_d65 = np.array([[0.7, -0.15, -0.08], [-0.45, 1.3, 0.17], [-0.1, 0.22, 0.62]])
    write_dng(path, raw, cfa_pattern="RGGB", black_level=black, white_level=white,
              color_matrix1=cm_a, color_matrix2=cm_d65, calibration_illuminant1=17, calibration_illuminant2=21,
              as_shot_neutral=np.array([0.55, 1.0, 0.7]))


def worker(engine: str, path: str, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        if engine == "rotpunkt":
            import rotpunkt

            t0 = time.perf_counter()
            with rotpunkt.open(path) as raw:
                img = raw.develop()
            times.append(time.perf_counter() - t0)
            del img
        elif engine == "rawpy":
            import rawpy

            t0 = time.perf_counter()
            with rawpy.imread(path) as raw:
                rgb = raw.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD, output_bps=16)
            times.append(time.perf_counter() - t0)
            del rgb
        else:
            raise SystemExit(f"unknown engine {engine}")
    print(json.dumps({"times": times, "peak": peak_rss()}))


def peak_rss() -> int:
    """Peak resident memory of this process in bytes. VmHWM belongs to this address space alone
    (ru_maxrss would carry the parent's peak across fork + exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(engine: str, path: Path, repeat: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", engine, str(path), "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=int, nargs="*", default=[12, 50], choices=sorted(SIZES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "PATH"))
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.repeat)
        return
    data = HERE / "_data"
    data.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; median of {args.repeat}; read + develop, no encode")
    print(f"{'size':>6} {'rotpunkt s':>11} {'rawpy AHD s':>12} {'ratio':>6} {'rotpunkt peak':>14} {'rawpy peak':>11}")
    for mp in args.mp:
        path = data / f"bench_{mp}mp.dng"
        if not path.exists():
            write_bench_dng(path, mp)
        r = measure("rotpunkt", path, args.repeat)
        p = measure("rawpy", path, args.repeat)
        tr, tp = statistics.median(r["times"]), statistics.median(p["times"])
        print(f"{mp:>4}MP {tr:>11.3f} {tp:>12.3f} {tr / tp:>6.2f} {r['peak'] / 2**30:>11.2f} GB "
              f"{p['peak'] / 2**30:>8.2f} GB", flush=True)


if __name__ == "__main__":
    main()
