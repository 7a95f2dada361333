"""IDEFICS adapter on a tiny random checkpoint written by the test (no download, CPU, a few seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from score_checks import assert_same_scores

from fseval.errors import FsevalError
from fseval.models.base import ModelAdapter
from fseval.models.idefics import IdeficsAdapter, load, to_idefics_text
from fseval.models.idefics.adapter import split_continuation
from fseval.models.idefics.inputs import build_batch, image_attention_mask
from fseval.models.settings import switched
from fseval.types import GenerationSettings, Media, Prompt

RED = Media("red.jpg", (Image.new("RGB", (40, 30), (255, 0, 0)),))
BLUE = Media("blue.jpg", (Image.new("RGB", (20, 30), (0, 0, 255)),))
GREEN = Media("green.jpg", (Image.new("RGB", (33, 33), (0, 200, 0)),))

TWO_SHOT = Prompt(
    "<image>Output:a red square<|endofchunk|>\n<image>Output:a blue one<|endofchunk|>\n<image>Output:",
    (RED, BLUE, GREEN),
)
ONE_IMAGE = Prompt("<image>Output:", (BLUE,))
ZERO_SHOT = Prompt("Question:what? Short answer:no<|endofchunk|>\n<image>Question:and this? Short answer:", (RED,))
GREEDY = GenerationSettings(max_new_tokens=6, num_beams=1)


@pytest.fixture(scope="module")
def tiny_dir(tiny_idefics: Path) -> Path:
    return tiny_idefics  # the session's (tests/conftest.py)


@pytest.fixture(scope="module")
def adapter(tiny_dir: Path) -> IdeficsAdapter:
    return load(str(tiny_dir))


def test_loads_tiny_model_offline(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load(str(tiny_dir), precision="bf16")
    assert isinstance(model, ModelAdapter)
    assert model.model.dtype == torch.bfloat16
    info = model.describe()
    assert info["family"] == "idefics" and info["precision"] == "bf16" and info["end_of_chunk"] == "\n"
    assert info["path"] == str(tiny_dir) and len(info["checkpoint_fingerprint"]) == 64

    instruct_style = load(str(tiny_dir), end_of_chunk="end_of_utterance")
    assert instruct_style.tokens.stop == instruct_style.tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    with pytest.raises(FsevalError, match="precision"):
        load(str(tiny_dir), precision="int4")


def test_maps_markers_to_idefics_tokens() -> None:
    fake, image = "<fake_token_around_image>", "<image>"
    text = "<image>Output:a cat<|endofchunk|>\n<image><image>Output:two dogs<|endofchunk|><image>Output:"
    assert to_idefics_text(text, "<s>") == (
        f"<s>{fake}{image}{fake}Output:a cat\n{fake}{image}{fake}{image}{fake}Output:two dogs\n"
        f"{fake}{image}{fake}Output:"
    )
    assert to_idefics_text(text, "<s>", "<end_of_utterance>") == (
        f"<s>{fake}{image}{fake}Output:a cat<end_of_utterance>\n{fake}{image}{fake}{image}{fake}"
        f"Output:two dogs<end_of_utterance>{fake}{image}{fake}Output:"
    )


def test_inputs_equal_idefics_processor(adapter: IdeficsAdapter, tiny_dir: Path) -> None:
    from transformers import IdeficsProcessor

    processor = IdeficsProcessor.from_pretrained(tiny_dir)
    red, blue, green = (m.frames[0] for m in (RED, BLUE, GREEN))
    items = [[red, "Output:a red square\n", blue, green, "Output:"], ["Question:x?", red, "Answer:"]]
    # The tiny tokenizer lists <end_of_utterance>; the processor must not insert it between texts here.
    expected = processor(text=items, add_end_of_utterance_token=False)
    prompts = [
        Prompt("<image>Output:a red square<|endofchunk|><image><image>Output:", (RED, BLUE, GREEN)),
        Prompt("Question:x?<image>Answer:", (RED,)),
    ]
    texts = [adapter.idefics_text(p) for p in prompts]
    ours = build_batch(texts, [[red, blue, green], [red]], adapter.tokenizer, adapter.image_processor, adapter.tokens)
    for key in ("input_ids", "attention_mask", "image_attention_mask"):
        assert torch.equal(ours[key], expected[key]), key
    assert torch.allclose(ours["pixel_values"], expected["pixel_values"])


def test_image_attention_mask_equals_the_m4_packing_code() -> None:
    from types import SimpleNamespace

    from transformers.models.idefics.processing_idefics import (
        image_attention_mask_for_packed_input_ids,
        incremental_to_binary_attention_mask,
    )

    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, 8, (4, 50), generator=generator)  # 7 = <image>, 2 = EOS
    stub = SimpleNamespace(convert_tokens_to_ids=lambda token: 7, eos_token_id=2)
    incremental, _ = image_attention_mask_for_packed_input_ids(input_ids, stub, "pt")
    expected = incremental_to_binary_attention_mask(incremental, "pt", num_classes=3)
    assert torch.equal(image_attention_mask(input_ids, 7, 2, num_images=3), expected)


def test_generates_a_batch_with_different_image_counts(adapter: IdeficsAdapter) -> None:
    text_only = Prompt("Output:a cat<|endofchunk|>\nOutput:")
    outputs = adapter.generate([TWO_SHOT, ONE_IMAGE, ZERO_SHOT, text_only], GenerationSettings(max_new_tokens=4))
    assert len(outputs) == 4 and all(isinstance(o, str) for o in outputs)
    ids = adapter.generate_ids([TWO_SHOT, ONE_IMAGE], GenerationSettings(max_new_tokens=4))
    assert all(len(row) <= 4 and adapter.tokens.stop not in row for row in ids)


def test_greedy_output_does_not_depend_on_batch(adapter: IdeficsAdapter) -> None:
    batched = adapter.generate_ids([TWO_SHOT, ONE_IMAGE], GREEDY)
    alone = [adapter.generate_ids([TWO_SHOT], GREEDY)[0], adapter.generate_ids([ONE_IMAGE], GREEDY)[0]]
    assert batched == alone
    assert batched[0] != batched[1]  # the prompts (and images) matter


def test_beam_search_runs_each_prompt_once_with_the_same_result(adapter: IdeficsAdapter) -> None:
    prompts = [TWO_SHOT, ONE_IMAGE, ZERO_SHOT, Prompt("Output:a cat<|endofchunk|>\nOutput:")]
    beams = GenerationSettings(max_new_tokens=6, num_beams=3, length_penalty=0.0)
    rows: list[int] = []
    handle = adapter.model.register_forward_pre_hook(
        lambda module, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        with switched(adapter, decoding_loop="transformers", beam_prefill_once=False):
            plain = adapter.generate_ids(prompts, beams)
        assert rows[0] == 3 * len(prompts)  # generate alone: the prompt once per beam
        rows.clear()
        with switched(adapter, decoding_loop="transformers", beam_prefill_once=True):
            assert adapter.generate_ids(prompts, beams) == plain
        assert rows[0] == len(prompts) and rows[1] == 3 * len(prompts)
        rows.clear()
        assert adapter.generate_ids(prompts, beams) == plain  # fseval's loop: its own prompt pass, then the beams'
        assert rows[0] == len(prompts) and set(rows[1:]) == {3 * len(prompts)}
    finally:
        handle.remove()


@pytest.mark.parametrize("media_cache", [True, False], ids=["encoder outputs", "pixels"])
@pytest.mark.parametrize(
    "settings",
    [GREEDY, GenerationSettings(max_new_tokens=6, num_beams=3), GenerationSettings(8, 2, 1.0, min_new_tokens=3)],
    ids=["greedy", "3 beams", "2 beams, min 3"],
)
def test_fsevals_decoding_loop_generates_what_generate_does(adapter: IdeficsAdapter, media_cache, settings) -> None:
    prompts = [TWO_SHOT, ONE_IMAGE, ZERO_SHOT]
    with switched(adapter, media_cache=media_cache, decoding_loop="transformers"):
        expected = adapter.generate_ids(prompts, settings)
    for lag in (0, 1):
        with switched(adapter, media_cache=media_cache, decoding_loop="fseval", stop_lag=lag):
            assert adapter.generate_ids(prompts, settings) == expected


@pytest.mark.parametrize("num_beams", [1, 3])
def test_images_are_resampled_once_per_generation(adapter: IdeficsAdapter, monkeypatch, num_beams: int) -> None:
    """transformers re-runs the resampler (and the image key/value projections) at every decoding step."""
    prompts = [TWO_SHOT, ONE_IMAGE, ZERO_SHOT]
    settings = GenerationSettings(max_new_tokens=5, min_new_tokens=5, num_beams=num_beams, length_penalty=0.0)
    resampler = type(adapter.model.model.perceiver_resampler)
    original, runs = resampler.forward, []

    def counting(module, context):
        runs.append(context.shape[0])
        return original(module, context)

    monkeypatch.setattr(resampler, "forward", counting)
    with switched(adapter, reuse_image_states=False):
        plain = adapter.generate_ids(prompts, settings)
    assert len(runs) >= 5  # the prompt pass and every decoding step
    runs.clear()
    assert adapter.generate_ids(prompts, settings) == plain
    assert len(runs) == (1 if num_beams == 1 else 2)  # beams: the prompt pass, then the images repeated per beam


def test_stops_at_end_of_chunk(adapter: IdeficsAdapter) -> None:
    assert adapter.tokens.stop == adapter.tokenizer("a\n", add_special_tokens=False)["input_ids"][-1]
    assert adapter._cut([5, 6, adapter.tokens.stop, 7]) == [5, 6]
    assert adapter._cut([5, adapter.tokens.eos, 7]) == [5]


def test_rank_equals_a_manual_forward_pass(adapter: IdeficsAdapter) -> None:
    from transformers.models.idefics.processing_idefics import (
        image_attention_mask_for_packed_input_ids,
        incremental_to_binary_attention_mask,
    )

    candidates = [["yes", "no way"], ["a cat"]]
    scores = adapter.rank([TWO_SHOT, ONE_IMAGE], candidates)
    assert [[len(s) for s in row] for row in scores] == [[3, 6], [5]]  # characters: no merges apply

    text = adapter.idefics_text(TWO_SHOT)
    tokenizer, model = adapter.tokenizer, adapter.model
    for candidate, expected in zip(candidates[0], scores[0], strict=True):
        ids = tokenizer(text + candidate, add_special_tokens=False, return_tensors="pt")["input_ids"]
        count = ids.shape[1] - len(tokenizer(text, add_special_tokens=False)["input_ids"])
        mask, _ = image_attention_mask_for_packed_input_ids(ids, tokenizer, "pt")
        pixels = adapter.image_processor([m.frames[0] for m in TWO_SHOT.media], return_tensors="pt")
        with torch.no_grad():
            logits = model(
                input_ids=ids,
                pixel_values=pixels.unsqueeze(0),
                image_attention_mask=incremental_to_binary_attention_mask(mask, "pt", num_classes=3),
            ).logits
        log_probs = logits[0, :-1].log_softmax(-1).gather(-1, ids[0, 1:, None])[-count:, 0]
        assert torch.allclose(torch.tensor(expected), log_probs, atol=1e-4)


def full_forward_log_probs(adapter: IdeficsAdapter, prompt: Prompt, ids: list[int], count: int) -> torch.Tensor:
    """The last ``count`` token log-probabilities of ``ids`` in one uncached forward pass."""
    input_ids = torch.tensor([ids])
    pixels = adapter.image_processor([m.frames[0] for m in prompt.media], return_tensors="pt")
    mask = image_attention_mask(input_ids, adapter.tokens.image, adapter.tokens.eos, len(prompt.media))
    with torch.no_grad():
        logits = adapter.model(input_ids=input_ids, pixel_values=pixels.unsqueeze(0), image_attention_mask=mask).logits
    return logits[0, :-1].log_softmax(-1).gather(-1, input_ids[0, 1:, None])[-count:, 0]


def test_rank_feeds_a_token_merged_across_the_boundary(adapter: IdeficsAdapter, monkeypatch) -> None:
    """A candidate whose first token merges with the prompt's last shortens the shared prompt pass."""
    text = adapter.idefics_text(TWO_SHOT)
    (context,) = adapter._ids([text])
    merged = adapter.tokenizer.convert_tokens_to_ids("x")  # stands in for ":" + "y" merged into one token
    batched_ids = adapter._ids

    def original_ids(string: str) -> list[int]:
        return batched_ids([string])[0]

    def ids(strings: list[str]) -> list[list[int]]:
        return [[*context[:-1], merged, *original_ids("es")] if s == text + "yes" else original_ids(s) for s in strings]

    monkeypatch.setattr(adapter, "_ids", ids)
    eos = adapter.tokenizer.eos_token
    scores = adapter.rank([TWO_SHOT], [["yes", "no way", f"no{eos}more"]])[0]
    expected = [
        full_forward_log_probs(adapter, TWO_SHOT, [*context[:-1], merged, *original_ids("es")], 4),
        full_forward_log_probs(adapter, TWO_SHOT, original_ids(text + "no way"), 6),
        full_forward_log_probs(adapter, TWO_SHOT, original_ids(f"{text}no{eos}more"), len(scores[2])),
    ]
    assert [len(s) for s in scores] == [4, 6, len(scores[2])]
    for got, want in zip(scores, expected, strict=True):
        assert torch.allclose(torch.tensor(got), want, atol=1e-4)


def test_split_continuation_finds_the_first_difference_anywhere() -> None:
    context = list(range(40))
    assert split_continuation(context, [*context, 7, 8]) == ([*context, 7, 8], 2)
    assert split_continuation(context, [*context[:-1], 99, 8])[1] == 2  # a merge at the boundary
    early = [*context[:3], 99, *context[4:], 7]
    assert split_continuation(context, early)[1] == len(early) - 3  # a difference far from the boundary
    assert split_continuation([1, 2], [1, 5])[1] == 1
    with pytest.raises(FsevalError, match="empty"):
        split_continuation(context, context)


def test_rank_projects_each_image_to_keys_and_values_once_per_pass(adapter: IdeficsAdapter, monkeypatch) -> None:
    prompts, candidates = [TWO_SHOT, ONE_IMAGE], [["yes", "no way", "maybe so"], ["a cat", "two dogs"]]
    k_proj = adapter.model.model.gated_cross_attn_layers[0].cross_attn.k_proj
    linear, rows = type(k_proj).forward, []

    def counting(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        if module is k_proj:
            rows.append(x.shape[0])
        return linear(module, x)

    monkeypatch.setattr(type(k_proj), "forward", counting)
    with switched(adapter, reuse_image_states=False):
        plain = adapter.rank(prompts, candidates)
    assert max(rows) == 5  # every candidate row projects its own copy of its image
    rows.clear()
    shared = adapter.rank(prompts, candidates)
    assert rows[0] == 2 and max(rows[1:]) == 2  # the prompt pass, then one image per prompt
    assert_same_scores(shared, plain)


def test_rank_batches_the_candidates(adapter: IdeficsAdapter) -> None:
    prompts = [TWO_SHOT, ONE_IMAGE, Prompt("Output:")]  # 3, 1 and no images in one forward pass
    candidates = [["yes", "no", "maybe"], ["a cat"], ["a dog"]]
    with switched(adapter, rank_batch_size=2):
        chunked = adapter.rank(prompts, candidates)
    whole = adapter.rank(prompts, candidates)
    assert_same_scores(chunked, whole)


def test_rank_halves_its_pass_on_out_of_memory(adapter: IdeficsAdapter, monkeypatch) -> None:
    prompts, candidates = [TWO_SHOT, ONE_IMAGE], [["yes", "no", "maybe so"], ["a cat", "two dogs"]]
    expected = adapter.rank(prompts, candidates)
    original, sizes = adapter._continue, []

    def small_memory(cache, prompt_mask, rows, features):
        sizes.append(len(rows))
        if len(rows) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(cache, prompt_mask, rows, features)

    monkeypatch.setattr(adapter, "_continue", small_memory)
    got = adapter.rank(prompts, candidates)
    assert sizes[0] > 2 and max(sizes[1:]) <= 2
    assert_same_scores(got, expected)


@pytest.fixture
def cache_off(adapter: IdeficsAdapter) -> Iterator[IdeficsAdapter]:
    adapter.clear_media_cache()
    try:
        with switched(adapter, media_cache=False):
            yield adapter
    finally:
        adapter.clear_media_cache()


def cache_on(adapter: IdeficsAdapter) -> None:
    """The media cache switched on, for the rest of a test under ``cache_off`` (which restores the settings)."""
    adapter.settings = adapter.settings.model_copy(update={"media_cache": True})


def test_media_cache_gives_the_results_of_pixels_through_the_model(cache_off: IdeficsAdapter) -> None:
    adapter = cache_off
    prompts = [TWO_SHOT, ONE_IMAGE, ZERO_SHOT, Prompt("Output:a cat<|endofchunk|>\nOutput:")]
    beams = GenerationSettings(max_new_tokens=6, num_beams=3, length_penalty=0.0)
    candidates = [["yes", "no way"], ["a cat"], ["red", "blue"], ["a dog"]]
    plain = (
        adapter.generate_ids(prompts, GREEDY),
        adapter.generate_ids(prompts, beams),
        adapter.rank(prompts, candidates),
    )
    assert not adapter.features.entries
    cache_on(adapter)
    cached = (
        adapter.generate_ids(prompts, GREEDY),
        adapter.generate_ids(prompts, beams),
        adapter.rank(prompts, candidates),
    )
    assert len(adapter.features.entries) == 3  # red, blue, green
    assert cached[:2] == plain[:2]
    assert_same_scores(cached[2], plain[2])


def test_each_image_is_encoded_once_per_run(cache_off: IdeficsAdapter) -> None:
    adapter = cache_off
    cache_on(adapter)
    encoded = adapter.counters["vision_images"]
    first = adapter.generate_ids([TWO_SHOT, ONE_IMAGE], GREEDY)
    assert adapter.counters["vision_images"] - encoded == 3  # blue is in both prompts
    red_again = Media("copy/of/red.jpg", (Image.new("RGB", (40, 30), (255, 0, 0)),))  # same pixels, other path
    assert adapter.content_key(red_again) == adapter.content_key(RED)
    again = adapter.generate_ids([Prompt(TWO_SHOT.text, (red_again, BLUE, GREEN)), ONE_IMAGE], GREEDY)
    adapter.rank([ZERO_SHOT], [["yes", "no"]])
    assert adapter.counters["vision_images"] - encoded == 3 and again == first


def test_prepared_media_are_not_preprocessed_again(cache_off: IdeficsAdapter, monkeypatch) -> None:
    adapter = cache_off
    expected = adapter.generate_ids([TWO_SHOT], GREEDY)
    cache_on(adapter)
    adapter.prepare_media(TWO_SHOT.media)
    assert len(adapter.features.staged) == 3

    def no_preprocessing(item: Media) -> torch.Tensor:
        raise AssertionError("preprocessed again")

    monkeypatch.setattr(adapter, "_pixels", no_preprocessing)
    assert adapter.generate_ids([TWO_SHOT], GREEDY) == expected
    assert not adapter.features.staged


def test_refuses_video(adapter: IdeficsAdapter) -> None:
    clip = Media("clip.mp4", RED.frames + BLUE.frames)
    with pytest.raises(FsevalError, match="2 frames"):
        adapter.generate([Prompt("<image>Question:what happens? Answer:", (clip,))], GREEDY)


def test_missing_checkpoint_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FsevalError, match="does not exist") as error:
        load(str(tmp_path / "nowhere"))
    assert "hf download HuggingFaceM4/idefics-9b" in str(error.value)

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FsevalError) as error:
        load(str(tmp_path))
    message = error.value.message
    assert "model.safetensors" in message and "tokenizer.json" in message and "preprocessor_config.json" in message

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(FsevalError, match="Hugging Face cache") as error:
        load("idefics-9b")
    assert error.value.hint is not None and "hf download HuggingFaceM4/idefics-9b" in error.value.hint


def test_attention_calls_could_all_run_fused(tiny_dir: Path) -> None:
    """Every attention call (vision tower, resampler, cross- and self-attention) in a form CUDA's fused kernels
    take, in bf16 (``fseval.instruments.traffic.attention_calls``; see tests/models/test_fused_attention.py)."""
    from fseval.instruments.traffic import attention_calls

    bf16 = load(str(tiny_dir), precision="bf16")
    with attention_calls() as calls:
        bf16.generate([TWO_SHOT, ONE_IMAGE], GenerationSettings(max_new_tokens=3, num_beams=2))
        bf16.rank([TWO_SHOT, ONE_IMAGE], [["a red one", "green"], ["blue"]])
    assert {call.caller for call in calls} == {"sdpa_attention.py:sdpa_attention_forward"}  # transformers' SDPA path
    assert len({call.mask for call in calls}) >= 2 and len(calls) > 10  # with and without masks, every module
    assert [call for call in calls if call.obstacles] == []
    assert {call.cpu_backend for call in calls} == {"FLASH_ATTENTION"}
