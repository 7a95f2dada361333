"""fseval against OpenFlamingo on its release-era stack (open_flamingo 2.0.1, transformers 4.33.3,
open_clip 2.20.0, Pillow 10.0), recorded by ``scripts/make_reference_fixture.py`` in its own venv.

The fixture holds tiny models in the released layout (written by those library versions) and
what OpenFlamingo computed with them: pixels, vision tokens, token ids, logits and greedy and
3-beam generations of a padded batch of 0-, 2- and 4-shot prompts. Here fseval loads the same
files through its real loading path and must reproduce them. docs/fidelity.md lists what each
test guards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from release_stack import fixture_media as media

from fseval.models.engine.tokenization import decode
from fseval.types import END_OF_CHUNK, GenerationSettings, Prompt

FAMILIES = ("gpt_neox", "mpt", "llama", "opt")


@pytest.fixture(scope="module")
def reference_dir(release_stack: tuple[Path, dict[str, Any]]) -> Path:
    return release_stack[0]


@pytest.fixture(scope="module")
def reference(release_stack: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return release_stack[1]


def load_family(root: Path, reference: dict[str, Any], family: str) -> Any:
    from fseval.models.openflamingo import load

    name = reference["vision_name"]
    return load(
        vision_encoder=name,
        vision_pretrained=str(root / "vision" / f"{name}.pt"),
        vision_config=str(root / "vision" / f"{name}.json"),
        lm=str(root / family / "lm"),
        checkpoint=str(root / family / "checkpoint.pt"),
        cross_attn_every_n_layers=reference["families"][family]["cross_attn_every_n_layers"],
    )


@pytest.fixture(scope="module", params=FAMILIES)
def family(request: pytest.FixtureRequest, reference_dir: Path, reference: dict[str, Any]) -> tuple[str, Any]:
    return request.param, load_family(reference_dir, reference, request.param)


def test_fixture_was_made_on_the_release_stack(reference: dict[str, Any]) -> None:
    versions = reference["versions"]
    assert (versions["transformers"], versions["open_clip_torch"], versions["open-flamingo"]) == (
        "4.33.3",
        "2.20.0",
        "2.0.1",
    )
    assert set(reference["families"]) == set(FAMILIES)


def test_pixels(reference_dir: Path, reference: dict[str, Any]) -> None:
    """The tiny model's preprocessing, every image mode (JPEG RGB and L, palette and RGBA PNG)."""
    adapter = load_family(reference_dir, reference, "gpt_neox")
    for name, expected in reference["images"].items():
        pixels = adapter.preprocess(media(name))[0]
        assert (pixels - expected["pixels32"]).abs().max() <= 1e-6, (name, expected["mode"])


def test_pixels_at_vit_l_size(tmp_path: Path, reference: dict[str, Any]) -> None:
    """224 px, as ViT-L-14/openai preprocesses (the released models' vision tower).

    open_clip's ViT-L-14/openai transform is its default one at 224 px (OpenAI mean and std,
    bicubic, shortest-side resize), which a 224 px config reproduces without building ViT-L.
    """
    import json

    import open_clip

    from fseval.models.openflamingo.loader import load_vision_encoder

    pretrained = open_clip.get_pretrained_cfg("ViT-L-14", "openai")
    assert pretrained["interpolation"] == "bicubic" and pretrained["resize_mode"] == "shortest"
    assert tuple(pretrained["mean"]) == open_clip.OPENAI_DATASET_MEAN
    assert tuple(pretrained["std"]) == open_clip.OPENAI_DATASET_STD
    config = tmp_path / "fseval-ref-vit-224.json"
    vision = {"image_size": 224, "layers": 1, "width": 32, "patch_size": 112, "head_width": 16}
    config.write_text(json.dumps({"embed_dim": 8, "vision_cfg": vision, "text_cfg": {"layers": 1, "width": 8}}))
    _, transform, _ = load_vision_encoder(config.stem, None, str(config))
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN)[:, None, None]
    std = torch.tensor(open_clip.OPENAI_DATASET_STD)[:, None, None]
    for name, expected in reference["images"].items():
        ours = transform(media(name).frames[0])
        assert (ours - (expected["pixels224_uint8"] / 255 - mean) / std).abs().max() <= 1e-5, name


def test_vision_tokens(reference_dir: Path, reference: dict[str, Any]) -> None:
    """The patch tokens the Perceiver reads: without ln_post, as open_clip 2.20 returned them."""
    adapter = load_family(reference_dir, reference, "gpt_neox")
    for name, expected in reference["images"].items():
        with torch.inference_mode():
            tokens = adapter.model.vision_tokens(expected["pixels32"][None])[0]
        # open_clip 3.x computes attention with another kernel: fp32 rounding, relative to the largest value
        assert (tokens - expected["vision_tokens"]).abs().max() <= 1e-6 * expected["vision_tokens"].abs().max(), name


def test_rices_features(reference_dir: Path, reference: dict[str, Any]) -> None:
    """RICES ranks demos by the pooled CLIP embedding: open_clip 3.x must give 2.20's."""
    from fseval.run.rices import load_encoder

    name = reference["vision_name"]
    model, transform = load_encoder(
        str(reference_dir / "vision" / f"{name}.json"), str(reference_dir / "vision" / f"{name}.pt"), "cpu"
    )
    for image, expected in reference["images"].items():
        with torch.inference_mode():
            ours = model.encode_image(transform(media(image).frames[0])[None])[0]
        ours, theirs = ours / ours.norm(), expected["pooled"] / expected["pooled"].norm()
        assert (ours - theirs).abs().max() <= 1e-6, image


def prompts(recorded: dict[str, Any]) -> list[Prompt]:
    return [
        Prompt(text, tuple(media(name) for name in names))
        for text, names in zip(recorded["texts"], recorded["media"], strict=True)
    ]


def test_tokens_and_logits(family: tuple[str, Any], reference: dict[str, Any]) -> None:
    name, adapter = family
    recorded = reference["families"][name]
    batch = prompts(recorded)
    input_ids, attention_mask = adapter._encode_text([p.text for p in batch])
    assert torch.equal(input_ids, recorded["input_ids"]) and torch.equal(
        attention_mask.bool(), recorded["attention_mask"]
    )
    assert len(adapter.tokenizer) == recorded["tokenizer_length"]
    assert (adapter.model.eoc_token_id, adapter.model.media_token_id) == (
        recorded["eoc_token_id"],
        recorded["media_token_id"],
    )
    with torch.inference_mode():
        logits = adapter.model(
            None, input_ids, attention_mask=attention_mask, media=adapter._encode_media(batch)
        ).logits
    tail = recorded["logits_tail"]
    real = recorded["attention_mask"][:, -tail.shape[1] :]
    difference = (logits[:, -tail.shape[1] :] - tail)[real].abs().max().item()
    assert difference <= 1e-5 * recorded["logits_absmax"].item(), difference


def until_end_of_chunk(ids: torch.Tensor, eoc: int) -> list[list[int]]:
    """Each row up to its first <|endofchunk|> (the padding after it differs: OpenFlamingo pads with it)."""
    rows = []
    for row in ids.tolist():
        rows.append(row[: row.index(eoc) + 1] if eoc in row else row)
    return rows


@pytest.mark.parametrize(("label", "num_beams"), [("greedy", 1), ("beam3", 3)])
def test_generations(family: tuple[str, Any], reference: dict[str, Any], label: str, num_beams: int) -> None:
    name, adapter = family
    recorded = reference["families"][name]
    settings = GenerationSettings(max_new_tokens=8, num_beams=num_beams, length_penalty=0.0)
    ids = adapter.generate_ids(prompts(recorded), settings)
    eoc = adapter.tokenizer.convert_tokens_to_ids(END_OF_CHUNK)
    assert until_end_of_chunk(ids, eoc) == until_end_of_chunk(recorded[label]["ids"], eoc)
    assert adapter.decode(ids) == recorded[label]["text"]


def test_decoding_cleans_up_as_transformers_4_33(family: tuple[str, Any], reference: dict[str, Any]) -> None:
    """transformers 4.33 removed spaces before punctuation ("red , blue" -> "red, blue"); 5.x does not for BPE."""
    name, adapter = family
    for ids, text in reference["families"][name]["decode"]:
        assert decode(adapter.tokenizer, [ids], adapter.clean_up_tokenization_spaces) == [text]


def test_compat_ranking_is_openflamingos(family: tuple[str, Any], reference: dict[str, Any]) -> None:
    """``--compat openflamingo``: class names attend to the batch's padding, as get_rank_classifications has them.

    Each LM family on transformers 4.33 computed the padding rows (which the names then read) its own
    way; without compat, fseval masks the padding and the scores differ.
    """
    name, adapter = family
    recorded = reference["families"][name]["rank"]
    batch = [
        Prompt(text, tuple(media(m) for m in names))
        for text, names in zip(recorded["texts"], recorded["media"], strict=False)
    ]
    candidates = [recorded["names"]] * len(batch)

    def means(rows: list[list[list[float]]]) -> torch.Tensor:
        return torch.tensor([[sum(tokens) / len(tokens) for tokens in row] for row in rows])

    adapter.compat = "openflamingo"
    try:
        compat = means(adapter.rank(batch, candidates))
    finally:
        adapter.compat = None
    assert (compat - recorded["scores"]).abs().max() <= 1e-5 * recorded["scores"].abs().max()
    assert (means(adapter.rank(batch, candidates)) - recorded["scores"]).abs().max() > 1e-3
