"""Benchmark: the time each shipped look adds to a 12 MP develop, end to end.

    python bench/look.py                 # every shipped look, 12 MP, median of 7
    python bench/look.py --looks vibrant authentic --repeat 9 --engine numpy

Both sides read and develop the synthetic 12 MP Bayer DNG that bench/develop.py writes
(bench/_data/bench_12mp.dng, made if missing) to display-encoded float32 with ``raw.develop``: the
plain develop (look "neutral": colorimetric, encoded by the compiled colour kernel) beside
``raw.develop(look=NAME)`` (the scene rendered to linear Rec.2020, the look with its local tone
mapping, sharpening, grain..., the output matrix, clip and encoding). Runs interleave (plain, then
every look, repeated) so that a busy machine slows both alike: medians of wall and process CPU time,
the median over rounds of (look run / plain run of the same round), and the best runs.
The target (issue 5): a look adds at most 40 % to the develop time. Also printed: rawpy (LibRaw, AHD)
open + postprocess of the same file in the same rounds, and the look alone
(``rotpunkt.look.render_look`` on a 12 MP scene-linear image) for each engine asked for.
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
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--engine", default="auto", choices=("auto", "halide", "numpy"))
    args = ap.parse_args()
    names = [n for n in (args.looks or [n for n, _, _ in L.list_looks()]) if n != "neutral"]

    path = HERE / "_data" / "bench_12mp.dng"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        write_bench_dng(path, 12)
    h, w = SIZES[12]
    img = scene(h, w)

    def develop(look: str = "neutral"):
        with rotpunkt.open(path) as raw:
            raw.develop(workers=args.workers, look=look, engine=args.engine)

    def peer():  # rawpy (LibRaw) open + postprocess of the same file, its default rendering (AHD)
        import rawpy

        with rawpy.imread(str(path)) as r:
            r.postprocess()

    def alone(name: str):
        L.render_look(img, name, workers=args.workers, engine=args.engine)

    develop()  # warm up (imports, page cache)
    for n in names:
        develop(n)
    t_dev: list[tuple[float, float]] = []
    t_look: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    t_alone: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    t_peer: list[tuple[float, float]] = []
    peer()
    for _ in range(args.repeat):
        t_dev.append(timed(develop))
        for n in names:
            t_look[n].append(timed(lambda n=n: develop(n)))
        t_peer.append(timed(peer))
    for _ in range(args.repeat):
        for n in names:
            t_alone[n].append(timed(lambda n=n: alone(n)))

    def med(ts, i):
        return statistics.median(t[i] for t in ts)

    def best(ts):
        return min(t[0] for t in ts)

    dw, dc, db = med(t_dev, 0), med(t_dev, 1), best(t_dev)
    load = os.getloadavg()[0]
    print(f"12 MP ({h} x {w}), engine {args.engine}, {args.workers} threads, {args.repeat} runs each, "
          f"{os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'':16s} {'median s':>8s} {'added':>6s} {'paired':>6s} {'best s':>7s} {'added':>6s} {'cpu s':>6s} "
          f"{'added':>6s}   {'look alone s':>12s}")
    print(f"{'develop (plain)':16s} {dw:8.3f} {'':>6s} {'':>6s} {db:7.3f} {'':>6s} {dc:6.3f}")
    worst = worst_pair = 0.0
    for n in names:
        lw, lc, lb = med(t_look[n], 0), med(t_look[n], 1), best(t_look[n])
        # paired: each look run over the plain run of the same round (robust to the machine's drift)
        pair = statistics.median(a[0] / b[0] for a, b in zip(t_look[n], t_dev, strict=True)) - 1
        worst, worst_pair = max(worst, (lw - dw) / dw), max(worst_pair, pair)
        print(f"{'  + ' + n:16s} {lw:8.3f} {100 * (lw - dw) / dw:5.0f}% {100 * pair:5.0f}% {lb:7.3f} "
              f"{100 * (lb - db) / db:5.0f}% {lc:6.3f} {100 * (lc - dc) / dc:5.0f}%   {med(t_alone[n], 0):12.3f}",
              flush=True)
    pw, pb, pc = med(t_peer, 0), best(t_peer), med(t_peer, 1)
    print(f"{'rawpy AHD':16s} {pw:8.3f} {'':>6s} {'':>6s} {pb:7.3f} {'':>6s} {pc:6.3f}"
          "   (LibRaw's own rendering of the same file, for scale)")
    print(f"worst look adds {100 * worst:.0f} % (medians), {100 * worst_pair:.0f} % (median of paired ratios) to "
          "the plain develop (target: at most 40 %)")


if __name__ == "__main__":
    main()
