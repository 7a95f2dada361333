"""The OpenFlamingo adapter's speed features give the results of the plain path.

Covered: the content-hash media cache (and its byte bound), shared cross-attention keys/values, the
in-place decoding cache,
packed candidate ranking, background preprocessing (``prepare_media``) and the out-of-memory
backoff of ranking.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from score_checks import assert_same_scores

from fseval.models.engine.memory import Halving
from fseval.models.settings import switched
from fseval.types import GenerationSettings, Media, Prompt

GREEDY = GenerationSettings(max_new_tokens=6, num_beams=1)
BEAMS = GenerationSettings(max_new_tokens=6, num_beams=3, length_penalty=0.0)
FAST = {
    "media_cache": True, "shared_media_kv": True, "beam_prefill_once": True, "static_kv_cache": True,
    "rank_strategy": "packed", "rank_batch_size": None, "decoding_loop": "fseval", "stop_lag": 1,
}  # fmt: skip
PLAIN = {
    "media_cache": False, "shared_media_kv": False, "beam_prefill_once": False, "static_kv_cache": False,
    "rank_strategy": "chunked", "rank_batch_size": 1, "decoding_loop": "transformers", "stop_lag": 0,
}  # fmt: skip
SWITCHES = {"decoding_loop": "fseval", "stop_lag": 1}  # switched on by a value, not True


@contextmanager
def configured(adapter, rank_batch_size: int | None = None, **switches) -> Iterator:
    """``adapter`` with ``switches`` in its settings, and what it reads of them when built (the media cache's
    size, the ranking passes' limit) made anew; ``rank_batch_size`` is the adapter's own."""
    saved = adapter.rank_batch_size, adapter.rank_passes, adapter.features.max_bytes
    adapter.clear_media_cache()
    try:
        with switched(adapter, **switches):
            adapter.rank_batch_size, adapter.rank_passes = rank_batch_size, Halving(adapter.settings.rank_chunk_tokens)
            adapter.features.max_bytes = adapter.settings.media_cache_bytes
            yield adapter
    finally:
        adapter.rank_batch_size, adapter.rank_passes, adapter.features.max_bytes = saved
        adapter.clear_media_cache()


@pytest.fixture(scope="module")
def prompts(make_media) -> list[Prompt]:
    a, b, c = make_media("a.jpg", 0), make_media("b.jpg", 1), make_media("c.jpg", 2)
    demo = "<image>Question:What is it? Short answer:a cat<|endofchunk|>\n"
    return [
        Prompt(demo * 2 + "<image>Question:What color is the cat? Short answer:", (a, b, c)),
        Prompt(demo + "<image>Question:Why? Short answer:", (b, a)),
        Prompt("Question:Is it raining? Short answer:no<|endofchunk|><image>Output:", (c,)),
        Prompt("Question:What is two plus two? Short answer:"),
        Prompt(demo * 3 + "<image>Output:", (make_media("clip", 3, frames=3), a, c, b)),
    ]


CANDIDATES = [
    ["black", "a white cat", "two dogs playing in the grass", ""],
    ["yes", "no"],
    ["because it is raining today", "a"],
    ["four", "4", "five apples"],
    ["golden retriever", "tabby cat", "great white shark"],
]


@pytest.mark.parametrize("settings", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_fast_and_plain_generations_are_identical(of_tiny, prompts, settings) -> None:
    with configured(of_tiny, **PLAIN):
        plain = of_tiny.generate(prompts, settings)
    with configured(of_tiny, **FAST):
        cold = of_tiny.generate(prompts, settings)
        warm = of_tiny.generate(prompts, settings)  # every image now comes from the cache
        assert of_tiny.counters["vision_images"] >= 0
    assert cold == plain and warm == plain


@pytest.mark.parametrize(
    "option", ["media_cache", "shared_media_kv", "beam_prefill_once", "static_kv_cache", "decoding_loop", "stop_lag"]
)
@pytest.mark.parametrize("settings", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_each_switch_alone_keeps_generations(of_tiny, prompts, option, settings) -> None:
    with configured(of_tiny, **PLAIN):
        plain = of_tiny.generate(prompts, settings)
    one_on = {option: SWITCHES.get(option, True)}
    if option == "stop_lag":  # read by fseval's loop only
        one_on["decoding_loop"] = "fseval"
    with configured(of_tiny, **{**PLAIN, **one_on}):
        assert of_tiny.generate(prompts, settings) == plain


def test_beam_search_runs_each_prompt_once(of_tiny, prompts) -> None:
    shapes: list[tuple[int, ...]] = []
    handle = of_tiny.model.lang_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        with configured(of_tiny, **FAST):
            of_tiny.generate(prompts, BEAMS)
        with configured(of_tiny, **PLAIN):
            of_tiny.generate(prompts, BEAMS)
    finally:
        handle.remove()
    fast_prefill, first_step = shapes[0], shapes[1]
    assert fast_prefill[0] == len(prompts) and first_step == (3 * len(prompts), 1)
    plain_prefill = next(shape for shape in shapes[2:] if shape[1] > 1)
    assert plain_prefill == (3 * len(prompts), fast_prefill[1])  # what generate alone does: every beam


def test_transformers_beam_search_after_one_prompt_pass(of_tiny, prompts) -> None:
    """``beam_prefill_once`` with transformers' loop: all but the last prompt token once per prompt."""
    shapes: list[tuple[int, ...]] = []
    handle = of_tiny.model.lang_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    try:
        with configured(of_tiny, **{**FAST, "decoding_loop": "transformers"}):
            of_tiny.generate(prompts, BEAMS)
    finally:
        handle.remove()
    assert shapes[0][0] == len(prompts) and shapes[1] == (3 * len(prompts), 1)


@pytest.mark.parametrize("variant", [FAST, {**FAST, "shared_media_kv": False}, {**PLAIN, "rank_batch_size": 64}])
def test_ranking_variants_match_one_candidate_at_a_time(of_tiny, prompts, variant) -> None:
    with configured(of_tiny, **PLAIN):
        plain = of_tiny.rank(prompts, CANDIDATES)
    with configured(of_tiny, **variant):
        fast = of_tiny.rank(prompts, CANDIDATES)
    assert_same_scores(fast, plain)
    assert fast[0][3] == []  # an empty candidate has no tokens to score


def test_rank_chunks_of_any_size_agree(of_tiny, prompts) -> None:
    with configured(of_tiny, **FAST):
        whole = of_tiny.rank(prompts, CANDIDATES)
    with configured(of_tiny, **FAST, rank_chunk_tokens=1):  # one candidate per pass
        single = of_tiny.rank(prompts, CANDIDATES)
    assert_same_scores(single, whole)


def counting_vision(adapter, monkeypatch) -> list[int]:
    calls: list[int] = []
    original = adapter.model.encode_vision_x

    def counting(vision_x: torch.Tensor) -> torch.Tensor:
        calls.append(vision_x.shape[0])
        return original(vision_x)

    monkeypatch.setattr(adapter.model, "encode_vision_x", counting)
    return calls


def test_identical_pixels_under_different_keys_share_one_encoding(of_tiny, make_media, monkeypatch) -> None:
    calls = counting_vision(of_tiny, monkeypatch)
    first, second = make_media("train/1.jpg", 5), make_media("copy/of/1.jpg", 5)
    prompts = [Prompt("<image>Output:", (first,)), Prompt("<image>Output:", (second,))]
    with configured(of_tiny, **PLAIN):
        plain = of_tiny.generate(prompts, GREEDY)
        assert sum(calls) == 2  # no cache: every image of every prompt
    calls.clear()
    with configured(of_tiny, **FAST):
        assert of_tiny.content_key(first) == of_tiny.content_key(second)
        assert of_tiny.generate(prompts, GREEDY) == plain
        assert of_tiny.generate(prompts[::-1], GREEDY) == plain[::-1]
        assert sum(calls) == 1


def test_media_cache_is_bounded_in_bytes(of_tiny, make_media, monkeypatch) -> None:
    calls = counting_vision(of_tiny, monkeypatch)
    n, dim = of_tiny.model.perceiver.latents.shape
    entry = n * dim * 4  # fp32 latents of one image
    items = [make_media(f"img{i}", 10 + i) for i in range(4)]
    with configured(of_tiny, **FAST, media_cache_bytes=2 * entry):
        for item in items:
            of_tiny.generate([Prompt("<image>Output:", (item,))], GREEDY)
        assert len(of_tiny.features.entries) == 2 and of_tiny.features.used_bytes == 2 * entry
        of_tiny.generate([Prompt("<image>Output:", (items[-1],))], GREEDY)  # still cached
        assert sum(calls) == 4
        of_tiny.generate([Prompt("<image>Output:", (items[0],))], GREEDY)  # evicted (least recently used)
        assert sum(calls) == 5


def test_prepared_media_skip_preprocessing_on_the_main_thread(of_tiny, prompts, monkeypatch) -> None:
    with configured(of_tiny, **FAST):
        expected = of_tiny.generate(prompts, GREEDY)
    with configured(of_tiny, **FAST):
        of_tiny.prepare_media([m for p in prompts for m in p.media])
        staged = len(of_tiny.features.staged)
        assert staged == 4  # a, b, c and the clip

        def no_preprocessing(item: Media) -> torch.Tensor:
            raise AssertionError("preprocessed again")

        monkeypatch.setattr(of_tiny, "preprocess", no_preprocessing)
        assert of_tiny.generate(prompts, GREEDY) == expected
        assert not of_tiny.features.staged


def test_bf16_cache_and_shared_kv_keep_generations(of_tiny_dir, prompts) -> None:
    from fseval.models.openflamingo import load_model_dir

    adapter = load_model_dir(of_tiny_dir, precision="bf16")
    with configured(adapter, **PLAIN):
        plain = adapter.generate(prompts[:3], GREEDY)
        plain_scores = adapter.rank(prompts[:2], CANDIDATES[:2])
    with configured(adapter, **FAST):
        assert adapter.generate(prompts[:3], GREEDY) == plain
        assert next(iter(adapter.features.entries.values())).dtype == torch.bfloat16
        fast_scores = adapter.rank(prompts[:2], CANDIDATES[:2])
    for got, want in zip(fast_scores, plain_scores, strict=True):
        for x, y in zip(got, want, strict=True):
            assert x == pytest.approx(y, abs=0.1)  # bf16 rounding


def test_rank_backs_off_on_cuda_out_of_memory(of_tiny, prompts, monkeypatch) -> None:
    with configured(of_tiny, **FAST):
        expected = of_tiny.rank(prompts, CANDIDATES)
    original = of_tiny._continue
    sizes: list[int] = []

    def small_memory(prompt, rows, token_lists, shared):
        sizes.append(len(rows))
        if len(rows) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(prompt, rows, token_lists, shared)

    monkeypatch.setattr(of_tiny, "_continue", small_memory)
    with configured(of_tiny, **FAST, rank_chunk_tokens=1 << 15):
        got = of_tiny.rank(prompts, CANDIDATES)
        assert of_tiny.rank_passes.limit < 1 << 15  # the smaller pass is kept
    assert max(sizes) > 2 and sizes[-1] <= 2
    assert_same_scores(got, expected)


def test_other_errors_are_not_retried(of_tiny, prompts, monkeypatch) -> None:
    def broken(prompt, rows, token_lists, shared):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(of_tiny, "_continue", broken)
    with configured(of_tiny, **FAST), pytest.raises(RuntimeError, match="shape mismatch"):
        of_tiny.rank(prompts, CANDIDATES)


def test_pass_plan_keeps_long_candidates_from_padding_short_ones() -> None:
    from fseval.models.engine.kv_cache import plan_passes

    def unlimited(width: int) -> int:
        return 10_000

    widths = [28] + [8] * 500 + [7] * 400
    assert plan_passes(widths, unlimited, overhead=64) == 1  # 27 x 900 padding tokens outweigh one pass
    assert plan_passes(widths[1:], unlimited, overhead=64) == 500  # 400 padding tokens cost more than a pass
    assert plan_passes(widths[1:], unlimited, overhead=500) == 900  # and less than this one
    assert plan_passes(widths, unlimited, overhead=10**6) == 901  # passes dear: one for everything
    assert plan_passes(widths[1:], lambda width: 128, overhead=64) == 128  # the pass's row limit holds
    assert plan_passes([3], unlimited, overhead=64) == 1


@pytest.mark.parametrize("lm_family", ["gpt_neox", "mpt", "mosaic_gpt", "llama", "opt", "gptj", "gpt2"])
def test_fast_paths_match_the_plain_ones_for_every_lm(tmp_path, prompts, lm_family) -> None:
    """The gathered, beam-repeated and in-place caches and the per-image cross-attention hold for each LM."""
    from fseval.models.openflamingo import load_model_dir, make_tiny

    adapter = load_model_dir(make_tiny(tmp_path / lm_family, lm_family=lm_family), device="cpu", precision="fp32")
    with configured(adapter, **PLAIN):
        plain_beams, plain_greedy = adapter.generate(prompts, BEAMS), adapter.generate(prompts, GREEDY)
    with configured(adapter, **FAST):
        assert adapter.generate(prompts, BEAMS) == plain_beams
        assert adapter.generate(prompts, GREEDY) == plain_greedy
    with configured(adapter, **FAST):
        fast = adapter.rank(prompts, CANDIDATES)
    with configured(adapter, **PLAIN):
        plain = adapter.rank(prompts, CANDIDATES)
    assert_same_scores(fast, plain)


def test_palette_images_with_other_palettes_are_other_images(of_tiny) -> None:
    """Palette images keep their mode until the transform, so the cache key must see the palette too."""
    from PIL import Image

    first = Image.new("P", (8, 8), 1)
    first.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    second = first.copy()
    second.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    assert first.tobytes() == second.tobytes()
    assert of_tiny.content_key(Media("a", (first,))) != of_tiny.content_key(Media("b", (second,)))
