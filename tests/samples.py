"""Where the shared real-world samples live (``../shared/samples`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SAMPLES = Path(os.environ.get("ROTPUNKT_SAMPLES", Path(__file__).resolve().parents[2] / "shared" / "samples"))


def sample(name: str) -> Path:
    """Path of a shared sample, or skip the test with the reason when it is absent."""
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"shared sample {name} not found in {SAMPLES} (the samples folder is not in this checkout)")
    return path
