"""A bounded fuzz run of ``fuzz/fuzz_open.py`` finds no crash: 60 s when CI=true, about 10 s otherwise.

A crash is any exception other than a RotpunktError from ``rotpunkt.open(...).develop()``, a hang past
10 s or more than 2 GB resident (libFuzzer's -timeout and -rss_limit_mb). With atheris installed the run
is coverage guided (libFuzzer); without it the harness's own random mutation loop runs instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "fuzz" / "fuzz_open.py"
SECONDS = 60 if os.environ.get("CI") == "true" else 10


def _have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


def _run(cmd: list[str], seconds: float, artifacts: Path) -> tuple[str, list[Path]]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 180, cwd=ROOT)
    out = proc.stdout + proc.stderr
    found = [p for pattern in ("crash-*", "timeout-*", "oom-*", "leak-*") for p in artifacts.glob(pattern)]
    assert proc.returncode == 0 and not found, f"fuzzing found a crash ({found}):\n{out[-6000:]}"
    return out, found


def test_fuzz_smoke_run_finds_no_crash(tmp_path):
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    if _have_atheris():
        cmd = [sys.executable, str(HARNESS), f"-max_total_time={SECONDS}", "-rss_limit_mb=2048",
               "-timeout=10", f"-artifact_prefix={artifacts}/", "-print_final_stats=1",
               str(tmp_path / "corpus")]
        out, _ = _run(cmd, SECONDS, artifacts)
        runs = int(re.search(r"stat::number_of_executed_units:\s*(\d+)", out).group(1))
        assert any((tmp_path / "corpus").iterdir()), "the seeds were not written"
    else:
        cmd = [sys.executable, str(HARNESS), "--plain", "--seconds", str(SECONDS),
               "--artifacts", str(artifacts)]
        out, _ = _run(cmd, SECONDS, artifacts)
        runs = int(re.search(r"plain fuzz: (\d+) runs", out).group(1))
    assert runs > 10 * SECONDS, f"only {runs} inputs ran in {SECONDS} s:\n{out[-3000:]}"


@pytest.mark.skipif(not _have_atheris(), reason="without atheris the run above is the plain loop already")
def test_plain_mutation_loop_runs_too(tmp_path):
    """The fallback for machines without atheris: same harness, own mutations, no coverage feedback."""
    cmd = [sys.executable, str(HARNESS), "--plain", "--seconds", "2", "--seed", "7",
           "--artifacts", str(tmp_path)]
    out, _ = _run(cmd, 2, tmp_path)
    assert int(re.search(r"plain fuzz: (\d+) runs", out).group(1)) > 20
