"""Nothing lost: an interrupted batch (SIGINT, or the process killed outright) leaves no partial output,
the next run cleans up and finishes the rest, and no command ever changes an input file."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dngwriter import write_dng
from PIL import Image as PILImage

N = 30  # files; each big enough (3 MP, ~0.25 s) that a batch is still running when the signal lands


def _tree(root: Path) -> list[Path]:
    rng = np.random.default_rng(7)
    files = []
    for i in range(N):
        data = (600 + rng.integers(0, 3000, size=(1536, 2048))).astype(np.uint16)
        files.append(write_dng(root / f"IMG_{i:03d}.dng", data, black_level=512, white_level=4095))
    return files


def _hashes(files):
    return {f: hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files}


#: the batch as a shell would start it: SIGINT raises KeyboardInterrupt. (The test process may have SIGINT
#: ignored - the fuzz smoke test's libFuzzer can leave it so in its xdist worker - and an ignored signal
#: stays ignored across exec, so the child sets Python's handler itself.)
_CLI = ("import signal, runpy; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('rotpunkt.cli', run_name='__main__')")


def _batch(src: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", _CLI, "batch", str(src), "-o", str(out), "--workers", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_outputs(out: Path, n: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if out.is_dir() and len(list(out.glob("*.jpg"))) >= n:
            return
        if proc.poll() is not None:
            return
        time.sleep(0.02)


def _check_outputs(out: Path) -> int:
    done = sorted(out.glob("*.jpg"))
    for f in done:  # every output that exists is complete and decodable
        with PILImage.open(f) as im:
            im.load()
            assert im.size == (2048, 1536)
    return len(done)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_batch_loses_nothing_and_resumes(tmp_path, sig):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    files = _tree(src)
    before = _hashes(files)
    proc = _batch(src, out)
    _wait_for_outputs(out, 3, proc)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0 or len(list(out.glob("*.jpg"))) == N
    first = _check_outputs(out)
    assert 3 <= first < N  # really interrupted part way
    if sig == signal.SIGINT:  # an interrupted run removes its own temporary
        assert not list(out.glob(".*.tmp-*"))
    r = subprocess.run([sys.executable, "-m", "rotpunkt.cli", "batch", str(src), "-o", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{N - first} developed, {first} skipped, 0 failed" in r.stderr
    assert _check_outputs(out) == N
    assert not list(out.glob(".*"))  # no temporaries left by either run
    assert _hashes(files) == before  # inputs never change


def test_every_command_leaves_inputs_unchanged(tmp_path):
    import rotpunkt

    src = tmp_path / "x.dng"
    src.write_bytes(Path(rotpunkt.sample_path()).read_bytes())
    before = _hashes([src])
    mode = src.stat().st_mode
    for args in (["develop", src, "-o", tmp_path / "o"], ["develop", src, "-o", tmp_path / "o", "--preview", "2"],
                 ["info", src], ["info", src, "--json"], ["batch", tmp_path, "-o", tmp_path / "b"],
                 ["contact-sheet", src, "-o", tmp_path / "s.jpg", "--look", "neutral"]):
        r = subprocess.run([sys.executable, "-m", "rotpunkt.cli", *map(str, args)], capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, (args, r.stderr)
    assert _hashes([src]) == before and src.stat().st_mode == mode
