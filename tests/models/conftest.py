"""Shared tiny OpenFlamingo models, built once per test session."""

from __future__ import annotations

import io
import logging
import lzma
import tarfile
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from release_stack import RELEASE_STACK
from server_helpers import served  # noqa: F401  (one `transformers serve` for the session's server tests)

from fseval.types import Media

logging.getLogger("root").setLevel(logging.ERROR)  # open_clip's "no pretrained weights" notice


@pytest.fixture(scope="session")
def release_stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The models and outputs ``scripts/make_reference_fixture.py`` recorded on the release-era stack."""
    root = tmp_path_factory.mktemp("release-stack")
    archive = lzma.decompress((RELEASE_STACK / "reference.tar.xz").read_bytes())
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return root, torch.load(root / "reference.pt", weights_only=True)


@pytest.fixture(scope="session")
def of_tiny_dir(tiny_openflamingo: Path) -> Path:
    """The session's tiny OpenFlamingo (tests/conftest.py), under the name these tests use."""
    return tiny_openflamingo


@pytest.fixture(scope="session")
def of_tiny(of_tiny_dir: Path):
    from fseval.models.openflamingo import load_model_dir

    return load_model_dir(of_tiny_dir)


def _image(seed: int) -> Image.Image:
    """A small deterministic picture: coloured stripes that differ by seed."""
    img = Image.new("RGB", (48, 40))
    for x in range(48):
        for y in range(40):
            img.putpixel((x, y), ((x * 7 * (seed + 1)) % 256, (y * 11 + seed * 50) % 256, ((x + y) * seed) % 256))
    return img


@pytest.fixture(scope="session")
def make_media():
    """``make_media(key, seed, frames=1)``: a Media item of deterministic pictures."""

    def make(key: str, seed: int, frames: int = 1) -> Media:
        return Media(key, tuple(_image(seed + i) for i in range(frames)))

    return make


class TinyParts:
    """Builds in-memory Flamingo modules on tiny random LMs of any family (no files, no checkpoint)."""

    vocab_size = 403  # the last three ids stand for <|endofchunk|>, <image>, <PAD>

    def __init__(self, vision_name: str) -> None:
        self.vision_name = vision_name

    def plain_lm(self, lm_family: str):
        from fseval.models.openflamingo.tiny import tiny_lm

        torch.manual_seed(0)
        return tiny_lm(lm_family, self.vocab_size, 0).eval()

    def __call__(self, cross_attn_every_n_layers: int = 1, lm_family: str = "gpt_neox"):
        import open_clip

        from fseval.models.openflamingo.flamingo import Flamingo

        lm = self.plain_lm(lm_family)
        visual = open_clip.create_model(self.vision_name).visual
        visual.output_tokens = True
        return Flamingo(
            visual,
            lm,
            eoc_token_id=self.vocab_size - 3,
            media_token_id=self.vocab_size - 2,
            vis_dim=visual.transformer.width,
            cross_attn_every_n_layers=cross_attn_every_n_layers,
        ).eval()


@pytest.fixture(scope="session")
def tiny_parts(tmp_path_factory: pytest.TempPathFactory) -> TinyParts:
    import json

    import open_clip

    from fseval.models.openflamingo.tiny import TINY_VISION_CONFIG, VISION_NAME

    path = tmp_path_factory.mktemp("vision") / f"{VISION_NAME}.json"
    path.write_text(json.dumps(TINY_VISION_CONFIG))
    open_clip.add_model_config(path)
    return TinyParts(VISION_NAME)
