"""Benchmark: the demosaic methods on synthetic 12 MP and 50 MP Bayer mosaics.

    python bench/demosaic.py                       # every method, 12 MP and 50 MP, 2 workers
    python bench/demosaic.py --mp 12 --repeat 5 --workers 1 --strip-rows 256 --method rcd

Each (size, method) runs in a fresh subprocess so that its peak RSS belongs to it alone. Reported:
the first call (includes first-touch page faults of the output), the median and minimum of
``--repeat`` further calls (wall clock), the CPU time of the median call, the peak of numpy/Python
allocations during one call (tracemalloc, output included) and the process's peak RSS (input mosaic,
output and interpreter included). The machine may be shared: compare CPU time as well as wall time.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

SIZES = {12: (3000, 4000), 50: (6000, 8400)}


def make_mosaic(h: int, w: int):
    """A textured RGGB mosaic (float32, 0.05..0.95) made without full-size RGB temporaries."""
    import numpy as np

    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    m = np.sin(x * np.float32(0.05) + np.sin(y * np.float32(0.01)) * 3).astype(np.float32)
    m *= np.float32(0.35)
    m += np.float32(0.5)
    m *= (np.float32(0.8) + np.float32(0.2) * np.cos(y * np.float32(0.003))).astype(np.float32)
    m[0::2, 0::2] *= np.float32(0.6)  # red sites: a colour cast, so channels differ
    m[1::2, 1::2] *= np.float32(0.8)  # blue sites
    return m


def child(mp: int, method: str, repeat: int, workers: int, strip_rows: int | None) -> dict:
    import tracemalloc

    import numpy as np

    from rotpunkt.stages.demosaic import DemosaicParams, demosaic

    h, w = SIZES[mp]
    mosaic = make_mosaic(h, w)
    pattern = np.array([[0, 1], [1, 2]])
    params = DemosaicParams(method=method)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def once():
        c0, t0 = time.process_time(), time.perf_counter()
        out = demosaic(mosaic, pattern, params, workers=workers, strip_rows=strip_rows)
        return time.perf_counter() - t0, time.process_time() - c0, out

    first, _, out = once()
    del out
    runs = []
    for _ in range(repeat):
        wall, cpu, out = once()
        del out
        runs.append((wall, cpu))
    tracemalloc.start()
    out = demosaic(mosaic, pattern, params, workers=workers, strip_rows=strip_rows)
    peak_traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out_mib = out.nbytes / 2**20
    del out
    walls = sorted(r[0] for r in runs)
    median = statistics.median(walls)
    cpu_of_median = min(runs, key=lambda r: abs(r[0] - median))[1]
    return {
        "mp": mp,
        "method": method,
        "pixels": h * w,
        "workers": workers,
        "first_ms": first * 1e3,
        "median_ms": median * 1e3,
        "min_ms": walls[0] * 1e3,
        "cpu_ms": cpu_of_median * 1e3,
        "traced_peak_mib": peak_traced / 2**20,
        "output_mib": out_mib,
        "rss_before_mib": rss_before,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=int, nargs="+", default=[12, 50], choices=sorted(SIZES))
    ap.add_argument("--method", nargs="+", default=None, help="default: every registered method")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--strip-rows", type=int, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        res = child(args.mp[0], args.method[0], args.repeat, args.workers, args.strip_rows)
        print(json.dumps(res))
        return

    from rotpunkt.stages.demosaic import DEMOSAIC

    methods = args.method or list(DEMOSAIC)
    print(
        f"{'size':>6} {'method':>9} {'first ms':>9} {'median ms':>10} {'min ms':>8} {'cpu ms':>8} "
        f"{'traced MiB':>11} {'(output)':>9} {'peak RSS MiB':>13}"
    )
    for mp in args.mp:
        for method in methods:
            cmd = [sys.executable, __file__, "--child", "--mp", str(mp), "--method", method]
            cmd += ["--repeat", str(args.repeat), "--workers", str(args.workers)]
            if args.strip_rows:
                cmd += ["--strip-rows", str(args.strip_rows)]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            times = " ".join(
                f"{res[k]:>{n}.0f}"
                for k, n in (("first_ms", 9), ("median_ms", 10), ("min_ms", 8), ("cpu_ms", 8))
            )
            mem = f"{res['traced_peak_mib']:>11.0f} {res['output_mib']:>9.0f} {res['peak_rss_mib']:>13.0f}"
            print(f"{mp:>4}MP {method:>9} {times} {mem}")


if __name__ == "__main__":
    main()
