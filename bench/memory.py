"""Benchmark: peak memory and time of the tiled develop (rotpunkt.runner.develop_tiled) at 50 and 100 MP.

    python bench/memory.py                        # 50 and 100 MP, uint8 and uint16 outputs
    python bench/memory.py --mp 100 --dtype uint8 --tile-rows 256
    python bench/memory.py --mp 50 --gainmap      # also a file with a GainMap in OpcodeList2 (phone case)
    python bench/memory.py --mp 50 --whole        # also the whole-image path, for comparison

Synthetic Bayer DNGs come from bench/develop.py's ``write_bench_dng`` (bench/_data/, git-ignored).
Every measurement runs in a fresh subprocess: read the DNG, develop it to an (H, W, 3) array of the
output dtype (no file encoding), and report the time of each step and the peak resident memory of
that process (VmHWM from /proc/self/status: the subprocess's own address space). ``cpu s`` is the
develop's process CPU time (both threads), steadier than wall time on a shared machine. ``import`` is the
resident memory after importing rotpunkt, before reading: the interpreter's and libraries' share.
Target (issue 4): peak under 2 GB at 100 MP.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

DTYPES = ("uint8", "uint16", "float32")


def _status(field: str) -> int:
    """A memory field of /proc/self/status (VmHWM: peak resident, VmRSS: current), in bytes."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def write_gainmap_dng(path: Path, mp: int) -> None:
    """The bench scene of ``write_bench_dng`` with a per-CFA-site lens-shading GainMap in OpcodeList2
    (what phones store), so the whole-mosaic OpcodeList2 step is measured too."""
    import dngwriter
    import numpy as np
    from develop import SIZES, write_bench_dng

    h, w = SIZES[mp]
    v, u = np.meshgrid(np.linspace(0, 1, 13), np.linspace(0, 1, 17), indexing="ij")
    gains = (1.0 + 0.5 * ((v - 0.5) ** 2 + (u - 0.5) ** 2) / 0.5).astype(np.float32)
    records = [dngwriter.gain_map_opcode(gains, top=r, left=c, bottom=h, right=w, row_pitch=2, col_pitch=2)
               for r in (0, 1) for c in (0, 1)]
    original = dngwriter.write_dng
    dngwriter.write_dng = functools.partial(original, opcode_list2=dngwriter.opcode_list(*records))
    try:
        write_bench_dng(path, mp)  # imports write_dng from dngwriter when called
    finally:
        dngwriter.write_dng = original


def worker(path: str, dtype: str, tile_rows: int, mode: str) -> None:
    import numpy as np

    import rotpunkt.io
    from rotpunkt.runner import develop_tiled

    imported = _status("VmRSS")
    t0 = time.perf_counter()
    data, meta = rotpunkt.io.read(path)
    t1, c1 = time.perf_counter(), time.process_time()
    if mode == "tiled":
        img = develop_tiled(data, meta, tile_rows=tile_rows, out_dtype=np.dtype(dtype))
    else:  # the whole-image path, then quantised as the writer would
        from rotpunkt.io.write import quantize
        from rotpunkt.pipeline import develop

        img = develop(data, meta)
        if dtype != "float32":
            img.data = quantize(img.data, 8 if dtype == "uint8" else 16)
    t2, c2 = time.perf_counter(), time.process_time()
    assert img.data.dtype == np.dtype(dtype)
    print(json.dumps({"read": t1 - t0, "develop": t2 - t1, "cpu": c2 - c1, "peak": _status("VmHWM"),
                      "import": imported,
                      "shape": list(img.data.shape)}))


def measure(path: Path, dtype: str, tile_rows: int, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", str(path), dtype, str(tile_rows), mode],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    from develop import SIZES, write_bench_dng

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=int, nargs="*", default=[50, 100], choices=sorted(SIZES))
    ap.add_argument("--dtype", nargs="*", default=["uint8", "uint16"], choices=DTYPES)
    ap.add_argument("--tile-rows", type=int, default=512)
    ap.add_argument("--gainmap", action="store_true", help="also a file with a GainMap in OpcodeList2")
    ap.add_argument("--whole", action="store_true", help="also the whole-image path (needs several GB)")
    ap.add_argument("--worker", nargs=4, metavar=("PATH", "DTYPE", "TILE_ROWS", "MODE"))
    args = ap.parse_args()
    if args.worker:
        path, dtype, tile_rows, mode = args.worker
        worker(path, dtype, int(tile_rows), mode)
        return
    data = HERE / "_data"
    data.mkdir(exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; one fresh process per row; read + develop to an array, "
          "no encode; "
          f"tile_rows {args.tile_rows}")
    print(f"{'size':>6} {'file':>8} {'path':>6} {'dtype':>8} {'read s':>7} {'develop s':>10} {'cpu s':>6} "
          f"{'peak RSS':>9} {'import':>7}")
    for mp in args.mp:
        files = [("plain", data / f"bench_{mp}mp.dng")]
        if args.gainmap:
            files.append(("gainmap", data / f"bench_{mp}mp_gainmap.dng"))
        for kind, path in files:
            if not path.exists():
                (write_bench_dng if kind == "plain" else write_gainmap_dng)(path, mp)
            for mode in ("tiled", "whole") if args.whole else ("tiled",):
                for dtype in args.dtype:
                    r = measure(path, dtype, args.tile_rows, mode)
                    print(f"{mp:>4}MP {kind:>8} {mode:>6} {dtype:>8} {r['read']:>7.2f} {r['develop']:>10.2f} "
                          f"{r['cpu']:>6.2f} {r['peak'] / 2**30:>6.2f} GB {r['import'] / 2**20:>4.0f} MB",
                          flush=True)


if __name__ == "__main__":
    main()
