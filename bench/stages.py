"""Benchmark: time and peak memory of every stage of rotpunkt's develop, next to rawpy, darktable-cli
and rawtherapee-cli on the same file, in the same run.

    python bench/stages.py                        # 12, 50 and 60 MP, median of 3, with peers
    python bench/stages.py --mp 12 50 --repeat 5
    python bench/stages.py --mp 12 --no-peers     # stages only
    python bench/stages.py --file IMG_0001.dng    # a real file (opcode lists / profile tables, if any)

Files: synthetic Bayer DNGs written by ``bench/develop.py``'s ``write_bench_dng`` (the project's test DNG
writer) into ``bench/_data/`` (git-ignored), reused when present. Scratch outputs go to a temporary
folder in ``bench/_data/`` that is removed at the end.

Stages: a fresh subprocess per file runs the develop recipe of ``rotpunkt/pipeline.py`` step by step,
calling the same functions in the same order (``scene_linear`` then ``_develop``), with a timer around
each: read (``rotpunkt.io.read``), OpcodeList1, linearise, OpcodeList2, colour solve (``colour_plan``:
white balance and matrices from the metadata), white balance (per-plane gains and highlight clip on the
mosaic), demosaic (the default method in the chain; every other ``DEMOSAIC`` method timed on the same
mosaic, outside the totals), OpcodeList3, colour matrix, profile tables (HueSatMap, exposure, LookTable),
crop + orientation, encode (clip + sRGB transfer function), then writing JPEG quality 95 and 16-bit TIFF
as the CLI does. Stages the file does not need (no opcode list, no profile table) are listed as absent.
After the timed runs the chain's image is compared with ``pipeline.develop`` on the same data: a
difference means pipeline.py changed and this script must follow it. The same child then times read +
``runner.develop_tiled`` to uint8 (the banded path ``rotpunkt develop`` takes before it writes a JPEG),
with its own peak RSS.

Per stage: the median wall time of ``--repeat`` runs and the CPU time (all threads) of those runs; from
one extra run with tracemalloc on (run first, so it is also the cold run): the Python/numpy allocation
peak above what was live when the stage started (the stage's own output and temporaries) and the total
traced peak, and the process's peak RSS during the stage (VmHWM from /proc/self/status, reset before
each stage through /proc/self/clear_refs; if that is not allowed, the running process peak is shown).

Peers, on the same file (``--no-peers`` skips them):
  - rawpy (LibRaw): open + postprocess(AHD, output_bps=16) in its own process, timed in-process like
    rotpunkt's read + develop (no file written on either side); ratio = rotpunkt / rawpy.
  - ``rotpunkt develop FILE -o TMP`` (the venv's entry point, JPEG q95 written), whole process, and,
    where installed, ``darktable-cli`` (default export, JPEG q95) and ``rawtherapee-cli`` (neutral
    profile and ``-d`` default profile, JPEG q95 4:4:4), whole processes with their own config and cache
    folders in the temporary folder (each peer runs once untimed first, to create them); ratio =
    rotpunkt develop process / peer process. Peak memory of a process from wait4's ru_maxrss.

The machine may be shared: the CPU column tells a busy machine (wall >> cpu / threads) apart from a slow
stage. Every number is a median of ``--repeat``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
MIB = 2**20

# Row names, in pipeline order (scene_linear, then _develop, then the CLI's write).
READ = "read"
OPC1 = "opcode list 1"
LIN = "linearise"
OPC2 = "opcode list 2"
SOLVE = "colour solve"
WB = "white balance"
DEMOSAIC = "demosaic"  # + " <method>"
OPC3 = "opcode list 3"
MATRIX = "colour matrix"
TABLES = "profile tables"
CROP = "crop + orient"
ENCODE = "encode (sRGB)"
JPEG = "write JPEG q95"
TIFF = "write TIFF16"
#: rows that make up "read + develop" (what rawpy's open + postprocess is compared with)
DEVELOP_ROWS = (READ, OPC1, LIN, OPC2, SOLVE, WB, DEMOSAIC, OPC3, MATRIX, TABLES, CROP, ENCODE)


def _sizes() -> dict[int, tuple[int, int]]:
    sys.path.insert(0, str(HERE))
    from develop import SIZES  # bench/develop.py: the synthetic sizes

    return SIZES


# --------------------------------------------------------------------------------------------------------
# memory probes


def vm_hwm() -> int | None:
    """Peak resident memory of this process in bytes (VmHWM; bench/develop.py's probe)."""
    sys.path.insert(0, str(HERE))
    from develop import peak_rss

    return peak_rss()


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Probe:
    """Times named stages; with ``memory`` also records tracemalloc and VmHWM peaks per stage.

    A stage entered twice in one run (the colour matrix is applied twice when profile tables are present)
    adds its times and keeps the larger memory peaks.
    """

    def __init__(self, memory: bool):
        self.memory = memory
        self.hwm_resets = False
        self.rec: dict[str, dict | None] = {}

    def absent(self, name: str) -> None:
        self.rec.setdefault(name, None)

    @contextlib.contextmanager
    def stage(self, name: str):
        import tracemalloc

        if self.memory:
            self.hwm_resets = reset_hwm()
            tracemalloc.reset_peak()
            cur0 = tracemalloc.get_traced_memory()[0]
        c0, t0 = time.process_time(), time.perf_counter()
        yield
        r = {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        if self.memory:
            peak = tracemalloc.get_traced_memory()[1]
            r.update(traced_above=peak - cur0, traced_peak=peak, hwm=vm_hwm())
        old = self.rec.get(name)
        if old:
            r["wall"] += old["wall"]
            r["cpu"] += old["cpu"]
            for k in ("traced_above", "traced_peak", "hwm"):
                if k in r and old.get(k) is not None and (r[k] is None or old[k] > r[k]):
                    r[k] = old[k]
        self.rec[name] = r


# --------------------------------------------------------------------------------------------------------
# the develop recipe, step by step (mirror of rotpunkt/pipeline.py: scene_linear + _develop, then write)


def _pipeline():
    """The pipeline module and the helpers this mirror calls; a clear error if they moved."""
    from rotpunkt import pipeline

    need = ("check_shape", "apply_list1", "opcode_list", "colour_plan", "scale_planes_mosaic",
            "scale_planes_rgb", "default_crop", "orient", "_GAIN_COMMUTING", "STRIP_ROWS", "DevelopParams",
            "develop")
    missing = [n for n in need if not hasattr(pipeline, n)]
    if missing:
        raise SystemExit(f"rotpunkt/pipeline.py no longer has {', '.join(missing)}: update bench/stages.py "
                         "to follow its recipe")
    return pipeline


def develop_once(path: str, p, probe: Probe, outdir: Path, alt_methods: list[str]):
    """Read, develop and write ``path`` once, each step inside ``probe.stage``. Returns (Image, meta).

    The order and calls are those of ``pipeline.scene_linear`` and ``pipeline._develop`` (with
    ``pipeline.apply_colour_plan`` opened up so that the matrix and the profile tables are timed apart),
    then the CLI's ``write``.
    """
    import warnings

    import numpy as np

    from rotpunkt import colour_math as cm
    from rotpunkt import io as rio
    from rotpunkt.errors import RotpunktWarning, UnsupportedFormat
    from rotpunkt.io.write import write
    from rotpunkt.stages import colour, demosaic, opcodes
    from rotpunkt.stages.linearize import linearize
    from rotpunkt.types import Image

    pl = _pipeline()
    with probe.stage(READ):
        data, meta = rio.read(path)

    # scene_linear
    pl.check_shape(data, meta)
    if meta.opcode_lists[0]:
        with probe.stage(OPC1):
            stored = pl.apply_list1(data, meta)
    else:
        stored = data
        probe.absent(OPC1)
    with probe.stage(LIN):
        lin = linearize(stored, meta)
    del stored
    if meta.opcode_lists[1]:
        with probe.stage(OPC2):
            list2 = pl.opcode_list(meta, 1)
            lin = opcodes.apply_opcode_list(lin, list2, cfa_pattern=meta.cfa_pattern, path=meta.path, stage=2)
    else:
        probe.absent(OPC2)
    with probe.stage(SOLVE):
        plan = pl.colour_plan(meta, p)
    neutral, gains, clip = plan.neutral, plan.gains, plan.clip
    if meta.photometric == "cfa":
        with probe.stage(WB):
            pl.scale_planes_mosaic(lin, gains, meta.cfa_pattern, clip)
        with probe.stage(DEMOSAIC):
            try:
                rgb = demosaic.demosaic(lin, meta.cfa_pattern, demosaic.DemosaicParams(method=p.demosaic),
                                        workers=p.workers)
            except UnsupportedFormat:
                warnings.warn(f"{meta.path}: {p.demosaic} does not support this CFA; using bilinear",
                              RotpunktWarning, stacklevel=2)
                rgb = demosaic.demosaic(lin, meta.cfa_pattern, demosaic.DemosaicParams(method="bilinear"),
                                        workers=p.workers)
        for method in alt_methods:  # outside the chain and its totals; the same input mosaic
            with probe.stage(f"{DEMOSAIC} {method}"):
                try:
                    other = demosaic.demosaic(lin, meta.cfa_pattern, demosaic.DemosaicParams(method=method),
                                              workers=p.workers)
                except UnsupportedFormat:
                    other = None
            del other
        del lin
    else:
        rgb = lin
        with probe.stage(WB):
            pl.scale_planes_rgb(rgb, gains, clip)
        probe.absent(DEMOSAIC)
    if meta.opcode_lists[2]:
        with probe.stage(OPC3):
            list3 = pl.opcode_list(meta, 2)
            commute = all(op.name in pl._GAIN_COMMUTING for op in list3)
            if not commute:
                pl.scale_planes_rgb(rgb, neutral, False)
            rgb = opcodes.apply_opcode_list(rgb, list3, cfa_pattern=None, path=meta.path, stage=3)
            if not commute:
                pl.scale_planes_rgb(rgb, gains, clip)
    else:
        probe.absent(OPC3)

    # apply_colour_plan, step by step
    if plan.matrix is not None:
        with probe.stage(MATRIX):
            colour.apply_matrix(rgb, plan.matrix, out=rgb, workers=p.workers)
        probe.absent(TABLES)
    else:
        with probe.stage(MATRIX):
            colour.apply_matrix(rgb, plan.to_prophoto, out=rgb, workers=p.workers)
        with probe.stage(TABLES):
            if plan.hue_sat_map is not None:
                rgb = colour.apply_hue_sat_map(rgb, plan.hue_sat_map, workers=p.workers)
            if plan.exposure_gain != 1.0:
                pl.scale_planes_rgb(rgb, np.full(3, plan.exposure_gain), False)
            if plan.look_table is not None:
                rgb = colour.apply_hue_sat_map(rgb, plan.look_table, workers=p.workers)
        with probe.stage(MATRIX):
            colour.apply_matrix(rgb, plan.prophoto_to_out, out=rgb, workers=p.workers)
    with probe.stage(CROP):
        if p.crop and meta.default_crop is not None:
            rgb = pl.default_crop(rgb, meta.default_crop)
        if p.orient:
            rgb = pl.orient(rgb, meta.orientation)

    # _develop
    with probe.stage(ENCODE):
        for y0 in range(0, rgb.shape[0], pl.STRIP_ROWS):
            s = rgb[y0:y0 + pl.STRIP_ROWS]
            np.clip(s, 0.0, 1.0, out=s)
        cm.srgb_encode_fast(rgb, out=rgb, workers=p.workers)
        img = Image(data=rgb, space=p.space, orientation=1 if p.orient else meta.orientation, exif=meta.exif,
                    source=meta.path)
    del data, rgb  # the CLI closes the raw file before it writes

    # the CLI's write (rotpunkt.io.write.write)
    with probe.stage(JPEG):
        write(img, outdir / "stages.jpg", quality=95)
    with probe.stage(TIFF):
        write(img, outdir / "stages.tif")
    for name in ("stages.jpg", "stages.tif"):
        (outdir / name).unlink()
    return img, meta


def mirror_check(path: str, img, p) -> float:
    """Max |difference| between this script's chain and ``pipeline.develop`` on the same file."""
    import numpy as np

    from rotpunkt import io as rio

    pl = _pipeline()
    data, meta = rio.read(path)
    ref = pl.develop(data, meta, p).data
    del data
    if ref.shape != img.data.shape:
        return float("inf")
    worst = 0.0
    for y0 in range(0, ref.shape[0], 256):
        d = np.abs(ref[y0:y0 + 256] - img.data[y0:y0 + 256])
        worst = max(worst, float(d.max()) if d.size else 0.0)
    return worst


def time_tiled(path: str, p, repeat: int) -> dict | None:
    """read + ``runner.develop_tiled`` to uint8, as ``rotpunkt develop`` runs it before writing a JPEG
    (None where the runner is missing). Peak RSS over these runs alone (VmHWM reset first)."""
    import numpy as np

    from rotpunkt import io as rio

    try:
        from rotpunkt.runner import develop_tiled
    except ImportError:
        return None
    walls, cpus = [], []
    reset_hwm()
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        data, meta = rio.read(path)
        out = develop_tiled(data, meta, p, out_dtype=np.uint8)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        del data, out
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "walls": walls, "hwm": vm_hwm()}


def child_stages(path: str, repeat: int, scratch: Path) -> dict:
    import tracemalloc
    import warnings

    import numpy as np

    import rotpunkt
    from rotpunkt.params import validate
    from rotpunkt.stages.demosaic import DEMOSAIC

    pl = _pipeline()
    p = validate(pl.DevelopParams())
    alt = [m for m in DEMOSAIC if m != p.demosaic]
    warnings.simplefilter("ignore")
    hwm_start = vm_hwm()

    tracemalloc.start()
    mem = Probe(memory=True)
    img, meta = develop_once(path, p, mem, scratch, alt)
    tracemalloc.stop()
    del img

    runs = []
    for _ in range(repeat):
        probe = Probe(memory=False)
        img, _ = develop_once(path, p, probe, scratch, alt)
        runs.append(probe.rec)
        if len(runs) < repeat:
            del img
    diff = mirror_check(path, img, p)
    del img
    hwm_runs = vm_hwm()  # since the memory run's last reset: the untimed-memory runs and the check
    tiled = time_tiled(path, p, repeat)

    names = list(mem.rec)
    rows = []
    for name in names:
        m = mem.rec[name]
        if m is None:
            rows.append({"stage": name, "absent": True})
            continue
        walls = [r[name]["wall"] for r in runs]
        cpus = [r[name]["cpu"] for r in runs]
        rows.append({"stage": name, "wall": statistics.median(walls), "cpu": statistics.median(cpus),
                     "walls": walls, "traced_above": m["traced_above"], "traced_peak": m["traced_peak"],
                     "hwm": m["hwm"]})
    totals = {
        "develop": statistics.median(sum(r[n]["wall"] for n in DEVELOP_ROWS if r.get(n)) for r in runs),
        "develop_cpu": statistics.median(sum(r[n]["cpu"] for n in DEVELOP_ROWS if r.get(n)) for r in runs),
        "develop_jpeg": statistics.median(sum(r[n]["wall"] for n in (*DEVELOP_ROWS, JPEG) if r.get(n))
                                          for r in runs),
    }
    return {
        "file": path, "width": meta.width, "height": meta.height, "photometric": meta.photometric,
        "demosaic": p.demosaic, "workers": p.workers, "repeat": repeat, "rows": rows, "totals": totals,
        "hwm_per_stage": mem.hwm_resets, "hwm_start": hwm_start, "hwm_process": hwm_runs,
        "mirror_max_diff": diff, "tiled": tiled, "rotpunkt": rotpunkt.__version__, "numpy": np.__version__,
    }


# --------------------------------------------------------------------------------------------------------
# peers


def child_rawpy(path: str, repeat: int) -> dict:
    import rawpy

    times, cpu = [], []
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        with rawpy.imread(path) as raw:
            rgb = raw.postprocess(demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD, output_bps=16)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del rgb
    return {"times": times, "cpu": cpu, "hwm": vm_hwm(), "version": f"rawpy {rawpy.__version__} (LibRaw "
            f"{'.'.join(map(str, rawpy.libraw_version))})"}


def run_process(cmd: list[str], env: dict | None = None, timeout: float = 1800.0) -> dict:
    """Run ``cmd`` once: wall time, peak RSS (wait4's ru_maxrss), exit status, the tail of its output."""
    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        log.seek(0)
        tail = log.read().decode(errors="replace").strip().splitlines()[-6:]
    return {"wall": wall, "peak": usage.ru_maxrss * 1024, "cpu": usage.ru_utime + usage.ru_stime,
            "rc": proc.returncode, "tail": tail}


class Peer:
    """A whole-process developer: how to call it on ``src`` writing ``dst`` (a JPEG)."""

    def __init__(self, name: str, argv, env: dict | None = None):
        self.name, self.argv, self.env = name, argv, env
        self.version = ""
        self.warm = False

    def run(self, src: Path, outdir: Path) -> dict:
        dst = outdir / f"{src.stem}.jpg"
        dst.unlink(missing_ok=True)
        r = run_process(self.argv(src, dst, outdir), env=self.env)
        made = dst.exists() and dst.stat().st_size > 0
        r["error"] = None
        if r["rc"] != 0 or not made:
            r["error"] = f"exit {r['rc']}{'' if made else ', no output'}: " + " | ".join(r["tail"][-3:])
        dst.unlink(missing_ok=True)
        return r


def _first_line(cmd: list[str], env: dict | None) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return "?"
    lines = [ln.strip() for ln in (out.stdout + out.stderr).splitlines() if ln.strip()]
    return lines[0] if lines else "?"


def make_peers(scratch: Path) -> list[Peer]:
    """rotpunkt's own CLI, then darktable-cli and rawtherapee-cli where installed (never required)."""
    home = scratch / "home"
    for sub in ("config", "cache", "dt-config", "dt-cache", "dt-tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"))
    peers = []
    exe = Path(sys.executable).parent / "rotpunkt"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "rotpunkt.cli"]
    me = Peer("rotpunkt develop", lambda s, d, o: [*base, "develop", str(s), "-o", str(o)])
    import rotpunkt

    me.version = f"rotpunkt {rotpunkt.__version__}"
    me.warm = True  # its only first-run cost is Python's bytecode cache, already made by the stage child
    peers.append(me)
    dt = shutil.which("darktable-cli")
    if dt:
        core = ["--core", "--configdir", str(home / "dt-config"), "--cachedir", str(home / "dt-cache"),
                "--tmpdir", str(home / "dt-tmp"), "--library", ":memory:",
                "--conf", "plugins/imageio/format/jpeg/quality=95"]
        peer = Peer("darktable-cli", lambda s, d, o: [dt, str(s), str(d), "--hq", "true", *core], env)
        peer.version = _first_line([dt, "--version"], env).replace("this is ", "")
        peers.append(peer)
    rt = shutil.which("rawtherapee-cli")
    if rt:
        version = _first_line([rt, "-v"], env).replace("RawTherapee, version", "RawTherapee").split(",")[0]
        for label, extra in (("neutral", []), ("-d", ["-d"])):
            peer = Peer(f"rawtherapee-cli {label}",
                        lambda s, d, o, extra=extra: [rt, "-o", str(d), "-j95", "-js3", "-Y", "-q", *extra,
                                                      "-c", str(s)], env)
            peer.version = version
            peers.append(peer)
    return peers


def time_peer(peer: Peer, src: Path, outdir: Path, repeat: int) -> dict:
    if not peer.warm:  # first run creates its config / cache folders: not timed
        first = peer.run(src, outdir)
        peer.warm = True
        if first["error"]:
            return {"error": first["error"]}
    runs = [peer.run(src, outdir) for _ in range(repeat)]
    bad = [r for r in runs if r["error"]]
    if bad:
        return {"error": bad[0]["error"]}
    return {"wall": statistics.median(r["wall"] for r in runs), "walls": [r["wall"] for r in runs],
            "cpu": statistics.median(r["cpu"] for r in runs), "peak": max(r["peak"] for r in runs)}


# --------------------------------------------------------------------------------------------------------
# parent: files, children, tables


def child_json(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench child {' '.join(args)} failed:\n{out.stderr.strip()[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_dng(mp: int) -> Path:
    path = DATA / f"bench_{mp}mp.dng"
    if not path.exists():
        part = DATA / f".bench_{mp}mp.part.dng"
        subprocess.run([sys.executable, __file__, "--make-dng", str(mp), str(part)], check=True)
        os.replace(part, path)
    return path


def _mib(v) -> str:
    return "?" if v is None else f"{v / MIB:.0f}"


def print_stages(res: dict, label: str) -> None:
    hwm_head = "RSS peak MiB" if res["hwm_per_stage"] else "RSS so far MiB"
    print(f"\n{label}: {res['width']}x{res['height']} {res['photometric']}, {res['file']}")
    print(f"median of {res['repeat']}; {res['workers']} worker threads; memory from one traced cold run")
    print(f"{'stage':<22} {'median s':>9} {'cpu s':>7} {'share':>6} {'alloc MiB':>10} {'traced MiB':>11} "
          f"{hwm_head:>14}")
    total = res["totals"]["develop"]
    for row in res["rows"]:
        name = row["stage"]
        if name == DEMOSAIC:
            name = f"{DEMOSAIC} {res['demosaic']}"
        elif name.startswith(DEMOSAIC + " "):
            name = f"  ({name})"
        if row.get("absent"):
            print(f"{name:<22} {'-':>9}   (not in this file)")
            continue
        share = f"{100 * row['wall'] / total:5.1f}%" if row["stage"] in DEVELOP_ROWS else ""
        print(f"{name:<22} {row['wall']:>9.3f} {row['cpu']:>7.3f} {share:>6} {_mib(row['traced_above']):>10} "
              f"{_mib(row['traced_peak']):>11} {_mib(row['hwm']):>14}")
    t = res["totals"]
    print(f"{'= read + develop':<22} {t['develop']:>9.3f} {t['develop_cpu']:>7.3f}")
    print(f"{'= + write JPEG':<22} {t['develop_jpeg']:>9.3f}")
    print("(demosaic ...): the other registered methods on the same mosaic, not in the totals; alloc: "
          "traced peak above\nthe stage's start (its output and temporaries); traced: all live traced; "
          "RSS: process peak in the stage")
    print(f"peak RSS over the timed runs and the check: {_mib(res['hwm_process'])} MiB (interpreter and "
          f"imports: {_mib(res['hwm_start'])} MiB)")
    d = res["mirror_max_diff"]
    verdict = "identical" if d == 0 else "within 1e-6" if d < 1e-6 else \
        "DIFFERS: pipeline.py changed, update bench/stages.py"
    print(f"check against pipeline.develop: max |diff| {d:.3g} ({verdict})")


def print_peers(res: dict, peers: dict, rawpy_res: dict | None) -> None:
    t = res["totals"]
    dev_rows = [r for r in res["rows"] if r["stage"] in DEVELOP_ROWS and not r.get("absent")]
    dev_peak = max((r["hwm"] for r in dev_rows if r["hwm"] is not None), default=None)
    print(f"{'in-process, no file written':<36} {'median s':>9} {'cpu s':>7} {'peak MiB':>9}  version")
    print(f"{'rotpunkt read + develop':<36} {t['develop']:>9.3f} {t['develop_cpu']:>7.3f} "
          f"{_mib(dev_peak):>9}  rotpunkt {res['rotpunkt']}, numpy {res['numpy']}")
    tiled = res.get("tiled")
    if tiled:
        print(f"{'rotpunkt read + develop_tiled uint8':<36} {tiled['wall']:>9.3f} {tiled['cpu']:>7.3f} "
              f"{_mib(tiled['hwm']):>9}  runner.develop_tiled, the CLI's path")
    if rawpy_res is not None and "error" in rawpy_res:
        print(f"{'rawpy AHD open + postprocess 16 bit':<36} failed: {rawpy_res['error']}")
    elif rawpy_res is not None:
        med, cpu = statistics.median(rawpy_res["times"]), statistics.median(rawpy_res["cpu"])
        print(f"{'rawpy AHD open + postprocess 16 bit':<36} {med:>9.3f} {cpu:>7.3f} "
              f"{_mib(rawpy_res['hwm']):>9}  {rawpy_res['version']}")
        ratios = f"ratio rotpunkt / rawpy: read + develop {t['develop'] / med:.2f}"
        if tiled:
            ratios += f", read + develop_tiled {tiled['wall'] / med:.2f}"
        ratios += f" (cpu: {t['develop_cpu'] / cpu:.2f}" + (f", {tiled['cpu'] / cpu:.2f})" if tiled else ")")
        print(ratios)
    if not peers:
        return
    mine = peers.get("rotpunkt develop")
    mine_wall = mine[1]["wall"] if mine and "error" not in mine[1] else None
    print(f"{'whole process, JPEG q95 written':<36} {'median s':>9} {'cpu s':>7} {'peak MiB':>9} "
          f"{'ratio':>6}  version")
    for name, (version, r) in peers.items():
        if "error" in r:
            print(f"{name:<36} failed: {r['error']}  [{version}]")
            continue
        ratio = f"{mine_wall / r['wall']:.2f}" if mine_wall else "?"
        print(f"{name:<36} {r['wall']:>9.3f} {r['cpu']:>7.3f} {_mib(r['peak']):>9} {ratio:>6}  {version}")
    print("ratio: `rotpunkt develop` process time / this process's time (below 1: rotpunkt is faster)")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) / 2**20
    except OSError:
        mem = float("nan")
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> None:
    sizes = _sizes()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mp", type=int, nargs="+", choices=sorted(sizes), default=None,
                    help="synthetic sizes in megapixels (default 12 50 60; none when --file is given)")
    ap.add_argument("--file", type=Path, nargs="+", default=[],
                    help="raw files to profile (with --mp: as well as the synthetic ones)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median reported)")
    ap.add_argument("--no-peers", action="store_true",
                    help="skip rawpy, the CLI process and other developers")
    ap.add_argument("--json", type=Path, help="also write every measurement to this JSON file")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    ap.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--make-dng", nargs=2, metavar=("MP", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    if args.make_dng:
        from develop import write_bench_dng

        write_bench_dng(Path(args.make_dng[1]), int(args.make_dng[0]))
        return
    if args.child:
        kind, path = args.child
        from rotpunkt.errors import RotpunktError

        try:
            if kind == "stages":
                res = child_stages(path, args.repeat, args.scratch)
            else:
                res = child_rawpy(path, args.repeat)
        except RotpunktError as exc:  # the file, not the bench: one line for the table
            res = {"error": str(exc)}
        print(json.dumps(res))
        return

    mps = args.mp if args.mp is not None else ([] if args.file else [12, 50, 60])
    DATA.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=DATA))
    results = {"machine": machine(), "repeat": args.repeat, "runs": []}
    print(f"machine: {results['machine']}")
    try:
        peers = [] if args.no_peers else make_peers(scratch)
        if peers:
            print("peers: " + "; ".join(f"{p.version}" for p in peers[1:]) if len(peers) > 1 else
                  "peers: darktable-cli and rawtherapee-cli not installed")
        jobs = [(f"{mp} MP synthetic", mp) for mp in mps] + [(f.name, f) for f in args.file]
        for label, what in jobs:
            src = ensure_dng(what) if isinstance(what, int) else what.resolve()
            try:
                res = child_json(["--child", "stages", str(src), "--repeat", str(args.repeat),
                                  "--scratch", str(scratch)])
            except SystemExit as exc:  # a crash in the child: show it, go on with the others
                res = {"error": str(exc)}
            if "error" in res:
                print(f"\n{label}: rotpunkt failed: {res['error']}")
                results["runs"].append({"label": label, "error": res["error"]})
                continue
            print_stages(res, label)
            run = {"label": label, "stages": res}
            if not args.no_peers:
                try:
                    rawpy_res = child_json(["--child", "rawpy", str(src), "--repeat", str(args.repeat)])
                except SystemExit as exc:
                    rawpy_res = {"error": str(exc).strip().splitlines()[-1]}
                peer_res = {}
                for peer in peers:
                    peer_res[peer.name] = (peer.version, time_peer(peer, src, scratch, args.repeat))
                print_peers(res, peer_res, rawpy_res)
                run["rawpy"] = rawpy_res
                run["peers"] = {k: {"version": v, **r} for k, (v, r) in peer_res.items()}
            results["runs"].append(run)
            sys.stdout.flush()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
