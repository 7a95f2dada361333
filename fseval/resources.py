"""Locations of what ships with fseval: built-in tasks, prompts and the bundled data.

In a source checkout ``tasks/`` and ``prompts/`` sit at the top of the repository; a wheel carries
them inside the package as ``fseval/_bundled/{tasks,prompts}``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = PACKAGE_DIR / "assets"


def builtin_dir(name: str) -> Path:
    packaged = PACKAGE_DIR / "_bundled" / name
    return packaged if packaged.is_dir() else PACKAGE_DIR.parent / name
