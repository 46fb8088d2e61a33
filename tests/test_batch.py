"""``rotpunkt batch``: a folder tree developed in-process and on a real ``distributed.LocalCluster``.

The tree holds 40 small synthetic DNGs (64 x 96 mosaics) in nested folders, 3 of them corrupt (cut in
half, random bytes, a DNG whose strip byte count was zeroed so its pixel data is missing), plus files a
batch must ignore. Every good file is a flat neutral field at its own raw level and carries its own
EXIF Model, so each output can be traced to its source (the Model is copied into the output) and its
grey level checked against its neighbours' (brighter raw -> brighter output), independently of how the
batch scheduled it.

Cluster start-ups: one module-scoped LocalCluster (reached by address, as a remote scheduler is) and
one CLI subprocess with ``--cluster local`` (the second CLI run needs no cluster: only the 3 corrupt
files are left, and they fail again).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from dngwriter import write_dng
from PIL import Image as PILImage

import rotpunkt
from rotpunkt.batch import FAILED, RAW_SUFFIXES, SKIPPED, Job, Result, develop_one, plan, run_batch
from rotpunkt.errors import InvalidParams, RotpunktError

distributed = pytest.importorskip("distributed")

# 40 raw files: (relative path, kind); kind is "good" or the corruption. Spread over nested folders,
# one with a space in its name, one good file with an upper-case suffix.
FOLDERS = [("", 4), ("2024/01", 10), ("2024/02/day1", 10), ("2025/trip a", 10), ("2025/trip a/raw", 6)]
BAD = {"2024/01/IMG_0005.dng": "truncated", "2024/02/day1/IMG_0002.dng": "garbage",
       "2025/trip a/raw/IMG_0003.dng": "no_pixels"}
UPPER = "2025/trip a/IMG_0007.DNG"
#: what the reader says about each corruption (the reason in the error line)
BAD_REASON = {"truncated": "beyond the end of the file", "garbage": "not a raw format",
              "no_pixels": "pixel data is missing"}
N_GOOD = 37


def _rel_paths() -> list[str]:
    rels = []
    for folder, n in FOLDERS:
        for k in range(n):
            rels.append(f"{folder}/IMG_{k:04d}.dng".lstrip("/"))
    rels[rels.index(UPPER.replace(".DNG", ".dng"))] = UPPER
    return rels


def _zero_strip_byte_counts(path: Path) -> None:
    """Overwrite the raw image's StripByteCounts (LONG values) with 0: metadata intact, pixels gone."""
    with tifffile.TiffFile(path) as tif:
        raw = tif.pages[0].pages[0]
        tag = raw.tags[279]
        assert tag.dtype == 4  # LONG
        offset, count = tag.valueoffset, tag.count
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\0" * 4 * count)


def bad_path(kind: str) -> str:
    return next(rel for rel, k in BAD.items() if k == kind)


def sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict:
    """The input tree; returns its root, the raw files' relative paths, levels and hashes of all files."""
    root = tmp_path_factory.mktemp("batch") / "in"
    rels = _rel_paths()
    assert len(rels) == 40
    levels = {}
    rng = np.random.default_rng(4)
    good = [r for r in rels if r not in BAD]
    for rank, rel in enumerate(rng.permutation(good)):  # levels not in path order: mapping must be traced
        levels[str(rel)] = 300 + 90 * rank
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        level = levels.get(rel, 1500)
        write_dng(path, np.full((64, 96), level, np.uint16), black_level=64, white_level=4095,
                  as_shot_neutral=(1.0, 1.0, 1.0), model=f"batch {rel}")
        kind = BAD.get(rel)
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif kind == "garbage":
            path.write_bytes(rng.integers(0, 256, 9000, dtype=np.uint8).tobytes())
        elif kind == "no_pixels":
            _zero_strip_byte_counts(path)
    # things a batch must not pick up
    (root / "notes.txt").write_text("not a raw")
    (root / "2024" / "01" / "preview.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    (root / "2024" / "01" / "._IMG_0001.dng").write_bytes(b"\0\5\26\7 AppleDouble resource fork")
    (root / ".hidden").mkdir()
    write_dng(root / ".hidden" / "IMG_9999.dng", np.full((64, 96), 900, np.uint16))
    hashes = {p: sha(p) for p in root.rglob("*") if p.is_file()}
    return {"root": root, "rels": rels, "levels": levels, "hashes": hashes}


@pytest.fixture(scope="module")
def cluster():
    """One real LocalCluster of 2 single-threaded worker processes for the module's API tests."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as c:
        yield c


def out_name(rel: str) -> str:
    return os.path.splitext(rel)[0] + ".jpg"


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def check_outputs(out: Path, tree: dict) -> dict[str, int]:
    """Exactly the 37 expected outputs, each traced to its source; returns each output's grey level."""
    good = [r for r in tree["rels"] if r not in BAD]
    assert files_under(out) == {out_name(r) for r in good}  # mirrored tree, nothing else (no temporaries)
    grey = {}
    for rel in good:
        with PILImage.open(out / out_name(rel)) as im:
            assert im.format == "JPEG" and im.size == (96, 64)
            assert im.getexif().get(272) == f"batch {rel}"  # Model copied from this very source
            px = np.asarray(im.convert("RGB"), np.int32)
        assert np.ptp(px) <= 1  # a flat neutral field stays flat and neutral
        grey[rel] = int(px[..., 1].mean().round())
    # brighter raw level -> brighter output, file by file (so no output belongs to another source)
    by_level = sorted(good, key=lambda r: tree["levels"][r])
    values = [grey[r] for r in by_level]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values
    return grey


def assert_inputs_unchanged(tree: dict) -> None:
    root = tree["root"]
    now = {p: sha(p) for p in root.rglob("*") if p.is_file()}
    assert now == tree["hashes"]  # same files (nothing added, e.g. no temporary), same bytes


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rotpunkt.cli", "batch", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


# --- plan ------------------------------------------------------------------------------------------------


def test_plan_mirrors_the_tree(tree, tmp_path):
    out = tmp_path / "out"
    jobs = plan(tree["root"], out)
    assert [j.src for j in jobs] == sorted(tree["root"] / r for r in tree["rels"])
    for j in jobs:
        rel = j.src.relative_to(tree["root"]).as_posix()
        assert j.dst == out / out_name(rel)
        assert j.src.is_absolute() and j.dst.is_absolute()
    assert not out.exists()  # planning creates nothing
    assert [j.dst.suffix for j in plan(tree["root"], out, fmt="tiff")] == [".tif"] * 40
    top = plan(tree["root"], out, recursive=False)
    assert sorted(j.src.name for j in top) == [f"IMG_{k:04d}.dng" for k in range(4)]


def test_plan_edge_cases(tmp_path):
    src = tmp_path / "in"
    (src / "out").mkdir(parents=True)
    for name in ("A.dng", "A.CR2", "b.NEF", "c.arw", "d.jpg", "e.xmp", "out/f.dng"):
        (src / name).write_bytes(b"x")
    jobs = plan(src, src / "out", fmt="png")  # output folder inside the input: not searched
    names = {j.src.name: j.dst.name for j in jobs}
    # same stem twice in one folder: each output keeps its raw suffix, so neither replaces the other
    assert names == {"A.dng": "A.dng.png", "A.CR2": "A.CR2.png", "b.NEF": "b.png", "c.arw": "c.png"}
    assert {".dng", ".cr2", ".nef", ".arw", ".cr3", ".raf", ".orf", ".rw2", ".pef", ".srw", ".3fr",
            ".iiq"} == RAW_SUFFIXES
    with pytest.raises(RotpunktError, match="not found"):
        plan(tmp_path / "nope", tmp_path / "o")
    with pytest.raises(RotpunktError, match="not a folder"):
        plan(src / "A.dng", tmp_path / "o")
    with pytest.raises(InvalidParams, match="format"):
        plan(src, tmp_path / "o", fmt="bmp")


# --- one file --------------------------------------------------------------------------------------------


def test_develop_one_never_raises(tree, tmp_path):
    root = tree["root"]
    good = root / "2024/01/IMG_0001.dng"
    r = develop_one(Job(good, tmp_path / "a" / "b.jpg"), {"space": "p3"}, "jpeg", 90)
    assert r.status == "developed" and r.ok and r.error is None and r.seconds > 0
    # the batch writes exactly what a direct develop + write of the same file gives
    direct = tmp_path / "direct.jpg"
    rotpunkt.write(rotpunkt.develop(good, space="p3"), direct, quality=90)
    assert sha(direct) == sha(tmp_path / "a" / "b.jpg")

    # an existing output is complete (outputs are atomic): skipped, not read, not touched
    before = (tmp_path / "a" / "b.jpg").stat().st_mtime_ns
    r = develop_one(Job(root / bad_path("garbage"), tmp_path / "a" / "b.jpg"), {}, "jpeg", 90)
    assert r.status == SKIPPED and r.ok
    assert (tmp_path / "a" / "b.jpg").stat().st_mtime_ns == before

    for rel, kind in BAD.items():
        r = develop_one(Job(root / rel, tmp_path / f"{kind}.jpg"), None, "jpeg", 95)
        assert r.status == FAILED and not r.ok
        assert BAD_REASON[kind] in r.error
        assert str(root) not in r.error  # the reason only: the Job names the file
    # anything that is not a RotpunktError is reported too, typed, and does not escape
    r = develop_one(Job(good, tmp_path / "x.jpg"), {"no_such_param": 1}, "jpeg", 95)
    assert r.status == FAILED and r.error.startswith("internal error: TypeError:")
    assert files_under(tmp_path) == {"a/b.jpg", "direct.jpg"}  # no failed output, no temporary
    assert_inputs_unchanged(tree)


# --- in-process default ----------------------------------------------------------------------------------


def test_in_process_default(tree, tmp_path):
    out = tmp_path / "out"
    seen: list[Result] = []
    jobs = plan(tree["root"], out)
    results = run_batch(jobs, progress=seen.append)
    assert [r.job for r in results] == jobs  # job order, whatever the completion order
    assert sorted(seen, key=lambda r: r.job.src) == results  # the callback saw every file once
    assert sum(r.status == "developed" for r in results) == N_GOOD
    failed = {r.job.src.relative_to(tree["root"]).as_posix(): r.error for r in results if not r.ok}
    assert set(failed) == set(BAD)
    for rel, err in failed.items():
        assert BAD_REASON[BAD[rel]] in err
    check_outputs(out, tree)
    assert_inputs_unchanged(tree)

    # a second run develops nothing new; --overwrite develops again, same bytes (deterministic)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    hashes = {p: sha(p) for p in mtimes}
    again = run_batch(jobs, workers=1)
    assert [r.status for r in again].count(SKIPPED) == N_GOOD
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    redo = run_batch(jobs, overwrite=True, executor="process", workers=2)
    assert [r.status for r in redo].count("developed") == N_GOOD
    assert {p: sha(p) for p in mtimes} == hashes
    check_outputs(out, tree)


def test_bad_arguments_fail_before_any_file(tree, tmp_path):
    jobs = plan(tree["root"], tmp_path / "out")
    for kw in ({"quality": 0}, {"workers": 0}, {"executor": "fibers"}, {"fmt": "gif"},
               {"scheduler": "tcp://127.0.0.1:1", "workers": 2}):
        with pytest.raises(InvalidParams):
            run_batch(jobs, **kw)
    with pytest.raises(InvalidParams, match="space"):
        run_batch(jobs, {"space": "adobe"})
    with pytest.raises(RotpunktError, match="cannot connect to the Dask scheduler"):
        run_batch(jobs, scheduler="tcp://127.0.0.1:1", connect_timeout=1)
    assert not (tmp_path / "out").exists()


# --- Dask distributed ------------------------------------------------------------------------------------


def test_run_batch_on_a_scheduler_address(tree, cluster, tmp_path):
    out = tmp_path / "out"
    jobs = plan(tree["root"], out)
    results = run_batch(jobs, {"space": "srgb"}, scheduler=cluster.scheduler_address)
    assert [r.job for r in results] == jobs
    assert [r.status for r in results].count("developed") == N_GOOD
    assert {r.job.src.relative_to(tree["root"]).as_posix() for r in results if not r.ok} == set(BAD)
    check_outputs(out, tree)
    # the workers wrote what the in-process path writes
    local = tmp_path / "local"
    run_batch(plan(tree["root"], local), workers=2)
    assert {p: sha(out / p) for p in files_under(out)} == {p: sha(local / p) for p in files_under(local)}
    # with every output present, the workers skip too (the client's check is only a shortcut)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}
    client_jobs = [j for j in jobs if j.src.relative_to(tree["root"]).as_posix() not in BAD]
    with distributed.Client(cluster) as client:
        done = client.gather(client.map(develop_one, client_jobs, pure=False))
    assert {r.status for r in done} == {SKIPPED}
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert_inputs_unchanged(tree)


def test_cli_on_a_local_cluster_then_rerun(tree, cluster, tmp_path):
    out = tmp_path / "developed"
    r = cli(tree["root"], "-o", out, "--cluster", "local")
    assert r.returncode == 1, r.stderr
    err_lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err_lines) == 3, r.stderr
    for rel, kind in BAD.items():
        line = next(line for line in err_lines if str(tree["root"] / rel) in line)
        assert BAD_REASON[kind] in line
    assert f"{N_GOOD} developed, 0 skipped, 3 failed" in r.stderr
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr  # only the lines above, no noise
    check_outputs(out, tree)
    assert_inputs_unchanged(tree)

    # second run, this time on the running cluster by address: nothing new is developed
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    r = cli(tree["root"], "-o", out, "--scheduler", cluster.scheduler_address)
    assert r.returncode == 1, r.stderr
    assert f"0 developed, {N_GOOD} skipped, 3 failed" in r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes
    assert_inputs_unchanged(tree)


def test_cli_success_and_usage_errors(tree, tmp_path):
    good = tmp_path / "in"
    (good / "sub").mkdir(parents=True)
    for name in ("sub/IMG_0001.dng", "sub/IMG_0002.dng"):
        (good / name).write_bytes((tree["root"] / "2024/01" / Path(name).name).read_bytes())
    r = cli(good, "-o", tmp_path / "out", "--format", "tiff", "--space", "p3", "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert "2 developed, 0 skipped, 0 failed" in r.stderr
    assert files_under(tmp_path / "out") == {"sub/IMG_0001.tif", "sub/IMG_0002.tif"}
    with tifffile.TiffFile(tmp_path / "out/sub/IMG_0001.tif") as tif:
        assert tif.pages[0].dtype == np.uint16 and 34675 in tif.pages[0].tags  # 16-bit, ICC embedded

    # usage errors exit 2 before touching anything (run in-process through typer's test runner: fast)
    from typer.testing import CliRunner

    from rotpunkt.cli import app

    runner = CliRunner()
    for args, words in ((["--look", "no-such-look"], "unknown look"), (["--cluster", "ec2"], "local"),
                        (["--cluster", "local", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
                        (["--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "workers"),
                        (["--format", "gif"], "format"), (["--quality", "101"], "quality"),
                        (["--space", "adobe"], "space")):
        r = runner.invoke(app, ["batch", str(good), "-o", str(tmp_path / "o2"), *args])
        assert r.exit_code == 2 and words in r.stderr, (args, r.stderr)
    r = runner.invoke(app, ["batch", str(tmp_path / "missing"), "-o", str(tmp_path / "o2")])
    assert r.exit_code == 2 and "not found" in r.stderr
    assert not (tmp_path / "o2").exists()
    r = runner.invoke(app, ["batch", "--help"])
    assert "rotpunkt looks" in " ".join(r.stdout.split())
