"""A decoding step moves a few percent of the key/value cache's bytes and never waits on data (CPU, no GPU needed).

The memory a step writes is counted with a TorchDispatchMode (``fseval.instruments.traffic``): bytes
written by cat, stack, index_select, gather, index, index_put_, copy_ and clone between the
start of one language-model call of ``generate`` and the next. The model is tiny in depth but
256 wide, so that the per-row bookkeeping of beam search (masks, token ids, logits: a few KB a
row) weighs against the cache as it does in real models rather than dominating it.
"""

from __future__ import annotations

import open_clip
import pytest
import torch
import transformers

from fseval.instruments.traffic import SYNCS, step_traffic
from fseval.models.openflamingo.adapter import OpenFlamingoAdapter
from fseval.models.openflamingo.flamingo import Flamingo
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.models.settings import switched
from fseval.types import GenerationSettings, Prompt

BEAMS = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=3, length_penalty=0.0)
GREEDY = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=1)


@pytest.fixture(scope="module")
def wide(of_tiny, tiny_parts) -> OpenFlamingoAdapter:
    torch.manual_seed(0)
    config = transformers.GPTNeoXConfig(
        vocab_size=len(of_tiny.tokenizer), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=512, max_position_embeddings=2048, tie_word_embeddings=False,
    )  # fmt: skip
    visual = open_clip.create_model(tiny_parts.vision_name).visual
    visual.output_tokens = True
    model = Flamingo(
        visual,
        transformers.AutoModelForCausalLM.from_config(config),
        eoc_token_id=of_tiny.model.eoc_token_id,
        media_token_id=of_tiny.model.media_token_id,
        vis_dim=visual.transformer.width,
    ).eval()
    settings = OpenFlamingoSettings(lm="in memory")
    return OpenFlamingoAdapter(model, of_tiny.tokenizer, of_tiny.image_processor, settings, name="wide")


@pytest.fixture(scope="module")
def eight_shot(make_media) -> list[Prompt]:
    """32 prompts of 8 demos and a query, each with 9 images (about 230 tokens)."""
    images = tuple(make_media(f"{i}.jpg", i) for i in range(9))
    demo = "<image>Question:What colour is the object on the left? Short answer:a red square<|endofchunk|>"
    return [Prompt(demo * 8 + f"<image>Question:What is object {i}? Short answer:", images) for i in range(32)]


@pytest.mark.parametrize("fixed", [False, True], ids=["", "fixed shapes"])
@pytest.mark.parametrize("settings", [BEAMS, GREEDY], ids=["32x3 beams", "greedy"])
def test_a_step_copies_under_five_percent_of_the_cache_and_never_syncs(wide, eight_shot, settings, fixed) -> None:
    """fseval's loop, reading its stop flag a step late (as on CUDA): no operator of a step reads the device.
    In the fixed shapes a CUDA graph captures, a reorder moves every generated position, still a few percent."""
    with switched(wide, static_kv_cache=True, decoding_loop="fseval", stop_lag=1, cuda_graphs=fixed):
        for step in (1, 2, 3):  # a reorder grows with the tokens generated (step 4, the last, ends the loop)
            traffic = step_traffic(wide, eight_shot, settings, step)
            assert traffic.cache_bytes > 0
            assert traffic.copied_fraction < 0.05, (step, dict(traffic.copied))
            assert traffic.syncs == 0, {name: traffic.calls[name] for name in SYNCS if traffic.calls[name]}


@pytest.mark.parametrize("settings", [BEAMS, GREEDY], ids=["32x3 beams", "greedy"])
def test_transformers_loop_waits_on_the_device_every_step(wide, eight_shot, settings) -> None:
    """What fseval's loop replaces: ``generate`` asks whether every sequence is done (beam search twice: its
    stopping test, and the attention mask's all-ones check), with the in-place cache's traffic still small."""
    with switched(wide, decoding_loop="transformers", stop_lag=None):
        traffic = step_traffic(wide, eight_shot, settings, 2)
    assert traffic.copied_fraction < 0.05
    assert traffic.calls["nonzero"] == 0 and traffic.calls["unique"] == traffic.calls["_unique2"] == 0
    assert 1 <= traffic.syncs == traffic.calls["is_nonzero"] <= 2


def test_the_dynamic_cache_copies_the_whole_cache_twice_a_step(wide, eight_shot) -> None:
    """What the in-place cache replaces: concatenation, then a gather of every beam's keys/values."""
    with switched(wide, static_kv_cache=False, stop_lag=1):
        traffic = step_traffic(wide, eight_shot, BEAMS, 2)
    assert traffic.copied_fraction > 1.9
    assert (
        traffic.copied["cat"] > 0.9 * traffic.cache_bytes and traffic.copied["index_select"] > 0.9 * traffic.cache_bytes
    )


def test_in_place_decoding_gives_the_same_answers(wide, eight_shot) -> None:
    answers = {}
    for static in (False, True):
        with switched(wide, static_kv_cache=static):
            answers[static] = (wide.generate(eight_shot[:6], BEAMS), wide.generate(eight_shot[:6], GREEDY))
    assert answers[True] == answers[False]
