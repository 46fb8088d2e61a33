"""Benchmark: the fast preview (rotpunkt.preview) - read + half-size develop - against rawpy's half_size.

    python bench/preview.py                    # 12 MP, median of 5, 2 threads
    python bench/preview.py --mp 12 50 --repeat 7 --workers 1 2

Files are the synthetic Bayer DNGs of bench/develop.py (uncompressed, 16 bit, RGGB), written once into
bench/_data/ (git-ignored). Variants:

* ``plain``: the bench file; the fused integer path (black, white, white balance as one multiply-add).
* ``gainmap``: the same pixels with four per-CFA-site GainMaps in OpcodeList2 (a phone's lens
  shading): the band path (linearising multiply-add, the GainMaps applied by the opcode module on
  full-resolution row bands, then white balance).
* ``scale4``: the bench file at scale=4.

Each configuration runs in a fresh subprocess (one warm-up, then ``--repeat`` timed runs, each a full
``rotpunkt.io.read`` + ``preview``; the file is in the page cache after the warm-up). Printed: median
and minimum wall time, the median CPU time of the process during a run (user + system, all threads: a
measure of work that grows much less than wall time when other programs share the cores), and the
peak RSS. rawpy
(LibRaw) is timed on the same file: ``imread`` + ``postprocess(half_size=True)`` (its default AHD is
skipped in half-size mode), 8-bit output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))


def gainmap_variant(src: Path, dst: Path) -> None:
    """Copy the bench DNG's pixels with per-site GainMaps (pitch 2, 17 x 13 points) in OpcodeList2."""
    import numpy as np
    from dngwriter import gain_map_opcode, opcode_list, write_dng

    from rotpunkt.io import read

    data, meta = read(src)
    h, w = data.shape
    v, u = np.meshgrid(np.linspace(0, 1, 13), np.linspace(0, 1, 17), indexing="ij")
    rho2 = ((v - 0.5) ** 2 + (u - 0.5) ** 2) / 0.5
    records = [gain_map_opcode((1 + 0.5 * k * rho2).astype(np.float32), top=site // 2, left=site % 2,
                               bottom=h, right=w, row_pitch=2, col_pitch=2)
               for site, k in enumerate((1.3, 1.0, 1.0, 0.8))]
    c = meta.color
    write_dng(dst, data, cfa_pattern="RGGB", black_level=512, white_level=16383,
              color_matrix1=c.color_matrix[0], color_matrix2=c.color_matrix[1], calibration_illuminant1=17,
              calibration_illuminant2=21, as_shot_neutral=c.as_shot_neutral,
              opcode_list2=opcode_list(*records))


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def worker(engine: str, path: str, repeat: int, workers: int, scale: int) -> None:
    def once():
        if engine == "rotpunkt":
            from rotpunkt.io import read
            from rotpunkt.pipeline import DevelopParams
            from rotpunkt.preview import preview

            data, meta = read(path)
            return preview(data, meta, DevelopParams(workers=workers), scale=scale).data.shape
        import rawpy

        with rawpy.imread(path) as raw:
            return raw.postprocess(half_size=True).shape

    shape = once()  # warm-up: imports, page cache
    walls, cpus = [], []
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        once()
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    from develop import peak_rss

    print(json.dumps({"walls": walls, "cpus": cpus, "peak": peak_rss(), "shape": list(shape)}))


def measure(engine: str, path: Path, repeat: int, workers: int, scale: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, str(path), "--repeat", str(repeat),
           "--workers", str(workers), "--scale", str(scale)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=int, nargs="*", default=[12])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="*", default=[2])
    ap.add_argument("--variants", nargs="*", default=["plain", "gainmap", "scale4"],
                    choices=["plain", "gainmap", "scale4"])
    ap.add_argument("--no-rawpy", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "PATH"))
    ap.add_argument("--scale", type=int, default=2)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.repeat, args.workers[0], args.scale)
        return
    from develop import write_bench_dng

    data_dir = HERE / "_data"
    data_dir.mkdir(exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f}; read + preview; "
          f"median of {args.repeat}")
    print(f"{'file':>14} {'engine':>18} {'threads':>7} {'median ms':>10} {'min ms':>7} {'cpu ms':>7} "
          f"{'peak RSS':>9} {'output':>14}")
    for mp in args.mp:
        plain = data_dir / f"bench_{mp}mp.dng"
        if not plain.exists():
            write_bench_dng(plain, mp)
        runs = []
        for variant in args.variants:
            path, scale = plain, 2
            if variant == "gainmap":
                path = data_dir / f"bench_{mp}mp_gainmap.dng"
                if not path.exists():
                    gainmap_variant(plain, path)
            elif variant == "scale4":
                scale = 4
            for workers in args.workers:
                runs.append((f"{mp}MP {variant}", "rotpunkt.preview", path, workers, scale))
        if not args.no_rawpy:
            runs.append((f"{mp}MP plain", "rawpy half_size", plain, 0, 2))
        for label, engine, path, workers, scale in runs:
            r = measure("rotpunkt" if engine.startswith("rotpunkt") else "rawpy", path, args.repeat,
                        max(workers, 1), scale)
            med = statistics.median(r["walls"]) * 1e3
            print(f"{label:>14} {engine:>18} {workers or '-':>7} {med:>10.1f} "
                  f"{min(r['walls']) * 1e3:>7.1f} {statistics.median(r['cpus']) * 1e3:>7.0f} "
                  f"{r['peak'] / 2**20:>6.0f} MB {'x'.join(map(str, r['shape'])):>14}", flush=True)


if __name__ == "__main__":
    main()
