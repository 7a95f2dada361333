"""Shared fixtures; the dataset writers live in data_writers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_writers import write_vqav2


@pytest.fixture
def vqav2_dir(tmp_path: Path) -> Path:
    return write_vqav2(tmp_path / "vqav2")
