"""fseval's IDEFICS adapter against transformers 4.33.3, on which IDEFICS was released.

``scripts/make_reference_fixture.py`` saved a tiny ``IdeficsForVisionText2Text`` and its
``IdeficsProcessor`` with 4.33 and recorded the processor's inputs for three interleaved prompts,
the logits and greedy / 3-beam generations. fseval loads the same files on today's transformers.
With ``cross_attention_gate=false`` it computes as 4.33 did (to fp32 rounding); by default it
keeps transformers' later fix for tokens that attend to no image, which changes the numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from release_stack import fixture_media as media

from fseval.types import GenerationSettings, Prompt


@pytest.fixture(scope="module")
def recorded(release_stack: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return release_stack[1]["idefics"]


@pytest.fixture(scope="module", params=[True, False], ids=["media_cache", "no_media_cache"])
def adapter(request: pytest.FixtureRequest, release_stack: tuple[Path, dict[str, Any]]) -> Any:
    from fseval.models.idefics import load

    return load(str(release_stack[0] / "idefics"), media_cache=request.param, cross_attention_gate=False)


def prompts(recorded: dict[str, Any]) -> list[Prompt]:
    """The processor's interleaved lists as fseval prompts: text with one <image> per image."""
    out = []
    for items in recorded["prompts"]:
        text = "".join("<image>" if item.startswith("@") else item for item in items)
        out.append(Prompt(text, tuple(media(item[1:]) for item in items if item.startswith("@"))))
    return out


def logits(adapter: Any, batch: list[Prompt]) -> torch.Tensor:
    inputs = adapter._batch(batch)
    if "image_hidden_states" in inputs:  # the media cache hands on the vision encoder's output
        inputs["image_encoder_embeddings"] = inputs.pop("image_hidden_states")
    with torch.inference_mode():
        return adapter.model(**inputs).logits


def test_pixels(adapter: Any, recorded: dict[str, Any]) -> None:
    """Pillow's bicubic resize after compositing transparent images on white, in every image mode."""
    for name, expected in recorded["pixels"].items():
        assert (adapter._pixels(media(name)) - expected).abs().max() <= 1e-6, name


def test_inputs_equal_the_processors(release_stack: tuple[Path, dict[str, Any]], recorded: dict[str, Any]) -> None:
    """The text IDEFICS sees: "▁" opens every text piece after a special token, as 4.33's tokenizer did."""
    from fseval.models.idefics import load

    batch = load(str(release_stack[0] / "idefics"), media_cache=False)._batch(prompts(recorded))
    for key in ("input_ids", "attention_mask", "image_attention_mask"):
        assert torch.equal(batch[key].long(), recorded[key].long()), key
    assert (batch["pixel_values"] - recorded["pixel_values"]).abs().max() <= 1e-6


def test_logits(adapter: Any, recorded: dict[str, Any]) -> None:
    tail = recorded["logits_tail"]
    real = recorded["attention_mask"][:, -tail.shape[1] :].bool()
    difference = (logits(adapter, prompts(recorded))[:, -tail.shape[1] :] - tail)[real].abs().max().item()
    assert difference <= 1e-5 * recorded["logits_absmax"].item(), difference


@pytest.mark.parametrize(("label", "num_beams"), [("greedy", 1), ("beam3", 3)])
def test_generations(adapter: Any, recorded: dict[str, Any], label: str, num_beams: int) -> None:
    settings = GenerationSettings(max_new_tokens=8, num_beams=num_beams, length_penalty=0.0)
    batch = prompts(recorded)
    assert adapter.generate_ids(batch, settings) == recorded[label]["ids"]
    assert adapter.generate(batch, settings) == recorded[label]["text"]


def test_the_default_gate_changes_what_text_before_images_computes(
    release_stack: tuple[Path, dict[str, Any]], recorded: dict[str, Any]
) -> None:
    """Documented, not hidden: with the gate (the default) the logits are not 4.33's."""
    from fseval.models.idefics import load

    gated = load(str(release_stack[0] / "idefics"))
    assert gated.describe()["cross_attention_gate"] is True
    tail = recorded["logits_tail"]
    difference = (logits(gated, prompts(recorded))[:, -tail.shape[1] :] - tail).abs().max().item()
    assert difference > 1e-2 * recorded["logits_absmax"].item()
