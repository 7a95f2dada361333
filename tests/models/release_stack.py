"""The fixture ``scripts/make_reference_fixture.py`` records on the release-era stack (docs/fidelity.md)."""

from __future__ import annotations

from pathlib import Path

from fseval.types import Media

RELEASE_STACK = Path(__file__).parents[1] / "fixtures" / "release_stack"


def fixture_media(name: str) -> Media:
    """One of the fixture's images as fseval's loaders hand it to a model."""
    from fseval.media.images import load_media
    from fseval.types import MediaRef

    path = RELEASE_STACK / "images" / name
    return load_media(MediaRef(key=str(path), path=path))
