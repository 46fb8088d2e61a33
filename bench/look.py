"""Benchmark: the time each shipped look adds to a 12 MP develop.

    python bench/look.py                 # every shipped look, 12 MP, median of 5
    python bench/look.py --looks vibrant authentic --repeat 7 --workers 2

The plain develop is rotpunkt's read + develop of the synthetic 12 MP Bayer DNG that
bench/develop.py writes (bench/_data/bench_12mp.dng, made if missing). A look runs on a 12 MP
scene-linear Rec.2020 image (float32, grey 0.18, highlights up to ~2.5 EV above diffuse white) with
``rotpunkt.look.apply_look``. Measurements interleave (develop, then each look, repeated), so that a
busy machine slows both alike; wall time and process CPU time are both reported. The target is a
look adding at most 40 % of the develop time, local tone mapping included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))


def scene(h: int, w: int):
    """Scene-linear Rec.2020 test image: bench/develop.py's textured colour scene, rescaled so that
    its median luminance is middle grey, with a few bright highlights."""
    import numpy as np
    from develop import make_scene

    img = make_scene(h, w)
    y = img @ np.array([0.2627, 0.678, 0.0593], np.float32)
    img *= np.float32(0.18 / np.median(y[::7, ::7]))
    img[h // 3:h // 3 + h // 20, w // 5:w // 5 + w // 20] *= np.float32(8.0)  # a highlight block
    return img


def timed(fn) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    from develop import SIZES, write_bench_dng

    import rotpunkt
    from rotpunkt import look as L

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--looks", nargs="*", default=None, help="look names (default: every shipped look)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    names = args.looks or [n for n, _, _ in L.list_looks()]
    looks = {n: L.load_look(n) for n in names}

    path = HERE / "_data" / "bench_12mp.dng"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        write_bench_dng(path, 12)
    h, w = SIZES[12]
    img = scene(h, w)

    def develop():
        with rotpunkt.open(path) as raw:
            raw.develop(workers=args.workers)

    develop()  # warm up (imports, page cache)
    for lk in looks.values():
        L.apply_look(img[:64, :64], lk)
    t_dev: list[tuple[float, float]] = []
    t_look: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for _ in range(args.repeat):
        t_dev.append(timed(develop))
        for n, lk in looks.items():
            t_look[n].append(timed(lambda lk=lk: L.apply_look(img, lk, workers=args.workers)))

    def med(ts, i):
        return statistics.median(t[i] for t in ts)

    dw, dc = med(t_dev, 0), med(t_dev, 1)
    load = os.getloadavg()[0]
    print(f"12 MP ({h} x {w}), {args.workers} threads, median of {args.repeat}, {os.cpu_count()} cores, "
          f"load average {load:.1f}")
    print(f"{'':16s} {'wall s':>7s} {'+% develop':>11s} {'cpu s':>7s} {'+% develop':>11s}")
    print(f"{'develop (plain)':16s} {dw:7.3f} {'':>11s} {dc:7.3f}")
    for n in names:
        lw, lc = med(t_look[n], 0), med(t_look[n], 1)
        print(f"{n:16s} {lw:7.3f} {100 * lw / dw:10.0f}% {lc:7.3f} {100 * lc / dc:10.0f}%", flush=True)


if __name__ == "__main__":
    main()
