"""The adapter on the tiny model: generation, ranking, batching, media caching, provenance."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fseval.models.base import ModelAdapter
from fseval.models.openflamingo import load_model_dir
from fseval.models.openflamingo.tiny import LM_FAMILIES
from fseval.types import GenerationSettings, Prompt

GREEDY = GenerationSettings(max_new_tokens=6, num_beams=1)
BEAMS = GenerationSettings(max_new_tokens=6, num_beams=3, length_penalty=0.0)


@pytest.fixture(scope="module")
def prompts(make_media) -> list[Prompt]:
    return [
        Prompt("<image>Question:What color is the cat? Short answer:", (make_media("a", 0),)),
        Prompt(
            "<image>Output:A dog on the grass.<|endofchunk|>\n<image>Output:",
            (make_media("b", 1), make_media("a", 0)),
        ),
        Prompt(
            "Question:Is it raining? Short answer:no<|endofchunk|><image>Question:Why? Short answer:",
            (make_media("c", 2),),
        ),
    ]


def test_is_a_model_adapter(of_tiny) -> None:
    assert isinstance(of_tiny, ModelAdapter)


@pytest.mark.parametrize("settings", [GREEDY, BEAMS], ids=["greedy", "beams"])
def test_generate(of_tiny, prompts, settings) -> None:
    out = of_tiny.generate(prompts, settings)
    assert len(out) == 3 and all(isinstance(text, str) for text in out)
    assert not any("<|endofchunk|>" in text or "<image>" in text or "<PAD>" in text for text in out)


def test_greedy_is_batch_size_invariant(of_tiny, prompts) -> None:
    batched = of_tiny.generate(prompts, GREEDY)
    assert [of_tiny.generate([p], GREEDY)[0] for p in prompts] == batched
    assert of_tiny.generate(prompts[::-1], GREEDY) == batched[::-1]


@pytest.mark.parametrize("lm_family", ["mpt", "mosaic_gpt"])
def test_decoding_steps_continue_the_cache(tmp_path: Path, make_media, lm_family: str) -> None:
    """MPT configs say ``use_cache: false``; generation must not re-run the prompt at every step."""
    from fseval.models.openflamingo import make_tiny

    adapter = load_model_dir(make_tiny(tmp_path / lm_family, lm_family=lm_family), device="cpu", precision="fp32")
    assert adapter.model.lang_encoder.config.use_cache is False
    fed: list[int] = []
    adapter.model.lang_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: fed.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    prompt = Prompt("<image>Question:What color is the cat? Short answer:", (make_media("a", 0),))
    adapter.generate([prompt], GenerationSettings(max_new_tokens=4, min_new_tokens=4, num_beams=1))
    assert fed[0] > 1 and fed[1:] == [1, 1, 1]


@pytest.mark.parametrize("lm_family", LM_FAMILIES)
def test_prompt_passes_project_only_the_last_position_to_the_vocabulary(
    tmp_path: Path, make_media, lm_family: str
) -> None:
    """A prompt's logits are read at its last position only; the others would cost B x L x V floats."""
    from fseval.models.openflamingo import make_tiny

    adapter = load_model_dir(make_tiny(tmp_path / lm_family, lm_family=lm_family), device="cpu", precision="fp32")
    calls: list[tuple[int, int]] = []  # (tokens fed, positions projected to the vocabulary)
    adapter.model.lang_encoder.register_forward_hook(
        lambda module, args, kwargs, out: calls.append((kwargs["input_ids"].shape[1], out.logits.shape[1])),
        with_kwargs=True,
    )
    prompt = Prompt("<image>Question:What color is the cat? Short answer:", (make_media("a", 0),))
    for settings in (GREEDY, BEAMS):
        adapter.generate([prompt], settings)
        assert calls[0][0] > 1 and all(projected == 1 for _, projected in calls), calls
        calls.clear()
    adapter.rank([prompt], [["a black cat", "white"]])
    assert calls[0][0] > 1 and calls[0][1] == 1
    assert all(fed == projected for fed, projected in calls[1:]), calls  # candidates: every fed token


def test_images_change_generations(of_tiny, prompts, make_media) -> None:
    swapped = Prompt(prompts[0].text, (make_media("z", 7),))
    base = of_tiny.rank([prompts[0]], [["black"]])[0][0]
    other = of_tiny.rank([swapped], [["black"]])[0][0]
    assert base != other


def test_generation_stops_at_end_of_chunk(of_tiny, prompts) -> None:
    tokenizer = of_tiny.tokenizer
    media = of_tiny._encode_media(prompts[:1])
    ids = tokenizer([prompts[0].text], return_tensors="pt").input_ids
    with torch.inference_mode():
        out = of_tiny.model.generate(
            None,
            ids,
            media=media,
            max_new_tokens=30,
            num_beams=1,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )[0, ids.shape[1] :].tolist()
    eoc = tokenizer.convert_tokens_to_ids("<|endofchunk|>")
    assert eoc not in out[:-1]  # nothing is generated after <|endofchunk|>


def full_forward_logprobs(adapter, prompt: Prompt, candidate: str) -> list[float]:
    """Log-likelihoods from one uncached forward pass over prompt + candidate tokens."""
    tok = adapter.tokenizer
    prompt_ids = tok(prompt.text).input_ids
    cand_ids = tok(candidate, add_special_tokens=False).input_ids
    ids = torch.tensor([prompt_ids + cand_ids])
    with torch.inference_mode():
        logits = adapter.model(None, ids, media=adapter._encode_media([prompt])).logits
    logprobs = torch.log_softmax(logits[0, len(prompt_ids) - 1 : -1].float(), -1)
    return logprobs.gather(-1, torch.tensor(cand_ids)[:, None])[:, 0].tolist()


def test_rank_matches_uncached_forward(of_tiny, prompts) -> None:
    candidates = [["black", "a white cat"], ["yes", "two dogs playing", "no"], ["because"]]
    scores = of_tiny.rank(prompts, candidates)
    for prompt, options, got in zip(prompts, candidates, scores, strict=True):
        assert len(got) == len(options)
        for option, values in zip(options, got, strict=True):
            assert len(values) == len(of_tiny.tokenizer(option, add_special_tokens=False).input_ids)
            assert values == pytest.approx(full_forward_logprobs(of_tiny, prompt, option), abs=1e-4)


def test_rank_is_batch_invariant(of_tiny, prompts) -> None:
    candidates = [["black", "a white cat"], ["yes"], ["no", "because it is"]]
    batched = of_tiny.rank(prompts, candidates)
    single = [of_tiny.rank([p], [c])[0] for p, c in zip(prompts, candidates, strict=True)]
    for a, b in zip(batched, single, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x == pytest.approx(y, abs=1e-4)
    of_tiny.rank_batch_size = 1  # candidates in chunks of one give the same numbers
    try:
        chunked = of_tiny.rank(prompts, candidates)
    finally:
        of_tiny.rank_batch_size = 64
    assert chunked[0][1] == pytest.approx(batched[0][1], abs=1e-4)


def test_each_media_key_encoded_once(of_tiny, prompts, monkeypatch) -> None:
    of_tiny.clear_media_cache()
    calls: list[int] = []
    original = of_tiny.model.encode_vision_x

    def counting(vision_x: torch.Tensor) -> torch.Tensor:
        calls.append(vision_x.shape[0])
        return original(vision_x)

    monkeypatch.setattr(of_tiny.model, "encode_vision_x", counting)
    of_tiny.generate(prompts, GREEDY)
    assert sum(calls) == 3  # keys a, b, c; "a" appears twice
    of_tiny.generate(prompts, GREEDY)
    assert sum(calls) == 3  # cached across batches


def test_video_and_text_only_prompts(of_tiny, make_media) -> None:
    video = Prompt("<image>Question:What happens? Short answer:", (make_media("clip", 3, frames=4),))
    text_only = Prompt("Question:What is two plus two? Short answer:")
    assert len(of_tiny.generate([video], GREEDY)) == 1
    assert len(of_tiny.generate([text_only], GREEDY)) == 1
    assert len(of_tiny.rank([text_only, video], [["four"], ["a man runs"]])) == 2


def test_describe(of_tiny) -> None:
    info = of_tiny.describe()
    assert info["family"] == "openflamingo" and info["precision"] == "fp32" and info["device"] == "cpu"
    assert len(info["checkpoint_sha256"]) == 16 and info["lm_model_type"] == "gpt_neox"
    assert info["arguments"]["cross_attn_every_n_layers"] == 1


def test_bf16_precision(of_tiny_dir: Path, prompts) -> None:
    adapter = load_model_dir(of_tiny_dir, precision="bf16")
    assert next(adapter.model.parameters()).dtype == torch.bfloat16
    assert len(adapter.generate(prompts[:2], GenerationSettings(max_new_tokens=3, num_beams=2))) == 2
    expected = len(adapter.tokenizer("black", add_special_tokens=False).input_ids)
    assert len(adapter.rank(prompts[:1], [["black"]])[0][0]) == expected
