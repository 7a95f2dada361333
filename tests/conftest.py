"""Shared fixtures; the dataset writers live in data_writers.py."""

from __future__ import annotations

import os
from pathlib import Path

# Rich wraps panels and tables at the terminal width, so a long temporary path would move the words
# a test looks for onto two lines. Tests run at a fixed, wide width whatever the terminal or the
# checkout path (set before fseval's consoles exist; subprocesses inherit it).
os.environ["COLUMNS"] = "4000"

import pytest
from data_writers import write_vqav2


@pytest.fixture
def vqav2_dir(tmp_path: Path) -> Path:
    return write_vqav2(tmp_path / "vqav2")
