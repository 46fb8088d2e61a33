"""ruff (configured in pyproject.toml) must be clean: CI runs it through this test."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    exe = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(exe).exists():
        pytest.skip("ruff is not installed (it comes with the test extras)")
    r = subprocess.run([exe, "check", str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
