"""fseval's decoding loop picks the tokens transformers' ``generate`` picks, and never reads the device mid-loop.

The reference is ``generate`` itself, on tiny language models of every family OpenFlamingo
uses, with the end-of-sequence token made likely enough that rows finish at different steps and
beam search stops early on its heuristic (both outcomes are checked to occur). Each case runs
with the stop flag read at once and one step late, with the in-place and the dynamic cache, and in
the fixed shapes a CUDA graph captures (``CapturedSteps``, run eagerly off CUDA).
"""

from __future__ import annotations

import inspect
import itertools

import pytest
import torch
import transformers

from fseval.models.engine.decoding import Search, StopSignal, TokenSteps, decode, takes_sdpa_mask, unsupported_settings
from fseval.models.engine.kv_cache import DecodingCache
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.models.openflamingo.tiny import tiny_lm
from fseval.models.settings import switched
from fseval.types import GenerationSettings, Prompt

VOCAB, EOS, BANNED = 96, 3, 5
ENDS = {(0.0, 0): (EOS,), (1.5, 1): (EOS, 4), (3.0, 0): (EOS,), (3.0, 1): (4, EOS)}  # IDEFICS stops at two tokens
PROMPT_LENGTH = 7
# (beams, length penalty, min new tokens, max new tokens)
# (stop-flag lag, in-place cache, fixed shapes as a CUDA graph captures them)
VARIANTS = [(0, True, False), (1, True, False), (0, False, False), (1, False, False), (1, True, True)]
SEARCHES = [(1, 1.0, 0, 12), (1, 1.0, 3, 8), (3, 0.0, 0, 10), (3, 1.0, 2, 10), (4, -1.0, 0, 12), (2, 2.0, 1, 9)]


def eos_prone(family: str, scale: float) -> torch.nn.Module:
    torch.manual_seed(0)
    lm = tiny_lm(family, VOCAB, 0).eval()
    head = (lm.get_output_embeddings() or lm.get_input_embeddings()).weight  # MosaicGPT ties them
    with torch.no_grad():  # the end token's logit: the mean row plus a random direction of chosen size
        head[EOS] = head.mean(0) + scale * torch.randn(head.shape[1])
    return lm


def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(6, VOCAB, (5, PROMPT_LENGTH), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    mask[1, :3] = mask[3, :1] = 0  # left padding
    return ids, mask


def ours(lm, ids, mask, search: Search, lag: int, in_place: bool, fixed: bool = False) -> torch.Tensor:
    takes_positions = lm.config.model_type != "mosaic_gpt"
    positions = {"position_ids": (mask.cumsum(-1) - 1).clamp(min=0)} if takes_positions else {}
    name = "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"
    cache = DecodingCache(search.max_new_tokens) if in_place else None
    out = lm(input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1, **positions, **{name: cache})
    cache = out.cache if hasattr(out, "cache") else out.past_key_values
    steps = TokenSteps(lm, cache, mask, search.max_new_tokens, name, takes_positions, takes_sdpa_mask(lm))
    return decode(steps, out.logits[:, -1], search, lag, graphs=fixed)  # off CUDA: fixed shapes, run eagerly


def reference(lm, ids, mask, search: Search) -> torch.Tensor:
    options = {"length_penalty": search.length_penalty} if search.num_beams > 1 else {}
    out = lm.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=search.max_new_tokens,
        min_new_tokens=search.min_new_tokens, num_beams=search.num_beams, do_sample=False, pad_token_id=search.pad,
        eos_token_id=list(search.eos), bad_words_ids=[[BANNED]], use_cache=True, **options,
    )  # fmt: skip
    return out[:, PROMPT_LENGTH:]


@pytest.mark.parametrize("family", ["gpt_neox", "llama", "mosaic_gpt", "opt", "gpt2"])
@torch.inference_mode()
def test_the_loop_picks_the_tokens_generate_picks(family: str) -> None:
    early, full, cases = 0, 0, 0
    for scale, seed in ENDS:
        lm = eos_prone(family, scale)
        ids, mask = batch(seed)
        for (beams, penalty, least, most), pad in itertools.product(SEARCHES, (0, 7)):
            search = Search(most, ENDS[(scale, seed)], pad, least, beams, penalty, (BANNED,))
            expected = reference(lm, ids, mask, search)
            early, full = early + (expected.shape[1] < most), full + (expected.shape[1] == most)
            for lag, in_place, fixed in VARIANTS:
                if fixed and not takes_sdpa_mask(lm):
                    continue
                got = ours(lm, ids, mask, search, lag, in_place, fixed)
                assert got.shape == expected.shape and torch.equal(got, expected), (scale, seed, search, lag, in_place)
                cases += 1
    assert early >= 5 and full >= 5, (early, full)  # both stopping paths were taken
    assert cases == 4 * 2 * len(SEARCHES) * (len(VARIANTS) - (family == "mosaic_gpt"))


def test_the_stop_flag_is_read_a_step_late() -> None:
    signal = StopSignal(torch.device("cpu"), lag=1)
    assert signal.push(torch.tensor(True)) is False  # nothing pushed before
    assert signal.push(torch.tensor(False)) is True  # the previous step's flag
    assert signal.push(torch.tensor(False)) is False
    assert StopSignal(torch.device("cpu"), lag=0).push(torch.tensor(True)) is True


def test_settings_the_loop_does_not_implement_are_reported() -> None:
    config = transformers.GenerationConfig(repetition_penalty=1.2, no_repeat_ngram_size=3, temperature=0.7)
    assert unsupported_settings(config) == ["repetition_penalty", "no_repeat_ngram_size"]
    assert unsupported_settings(transformers.GenerationConfig(max_length=50, eos_token_id=2)) == []
    neutral = transformers.GenerationConfig(repetition_penalty=1.0, early_stopping=False, min_length=0)
    assert unsupported_settings(neutral) == []


def test_the_adapter_falls_back_to_generate_for_them(of_tiny, make_media) -> None:
    prompts = [Prompt("<image>Question:What is it? Short answer:", (make_media("a.jpg", 0),)), Prompt("Output:")]
    settings = GenerationSettings(max_new_tokens=6, num_beams=3)
    config = of_tiny.model.lang_encoder.generation_config
    saved = config.repetition_penalty
    calls: list[int] = []
    original = of_tiny.model.lang_encoder.generate
    of_tiny.model.lang_encoder.generate = lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs)
    try:
        of_tiny.generate(prompts, settings)
        assert calls == [] and of_tiny.unsupported_generation_settings == []
        config.repetition_penalty = 1.3
        assert of_tiny.unsupported_generation_settings == ["repetition_penalty"]
        penalised = of_tiny.generate(prompts, settings)
        assert calls == [1]
        with switched(of_tiny, decoding_loop="transformers"):
            assert of_tiny.generate(prompts, settings) == penalised
    finally:
        config.repetition_penalty = saved
        del of_tiny.model.lang_encoder.generate


def test_an_unknown_loop_is_refused(of_tiny) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="decoding_loop"):
        OpenFlamingoSettings(lm="in memory", decoding_loop="fast")
    with pytest.raises(ValidationError, match="decoding_loop"), switched(of_tiny, decoding_loop="fast"):
        pass


def test_fixed_shapes_need_an_lm_taking_a_prepared_mask() -> None:
    lm = eos_prone("mosaic_gpt", 0.0)
    ids, mask = batch(0)
    out = lm(input_ids=ids, attention_mask=mask, cache=DecodingCache(4), use_cache=True)
    steps = TokenSteps(lm, out.cache if hasattr(out, "cache") else out.past_key_values, mask, 4, "cache", False)
    with pytest.raises(ValueError, match="fixed shapes need"):
        steps.fix()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (benchmarks/gpu.sh runs this)")
@pytest.mark.parametrize("settings", [GenerationSettings(8, 1), GenerationSettings(8, 3, 0.0)], ids=["greedy", "beams"])
def test_replayed_cuda_graphs_generate_the_same(of_tiny_dir, make_media, settings) -> None:
    from fseval.models.openflamingo import load_model_dir

    adapter = load_model_dir(of_tiny_dir, device="cuda")
    demo = "<image>Question:What is it? Short answer:a cat<|endofchunk|>"
    images = (make_media("a.jpg", 0), make_media("b.jpg", 1))
    prompts = [Prompt(demo + "<image>Question:Why? Short answer:", images), Prompt("<image>Output:", images[:1])]
    eager = adapter.generate_ids(prompts, settings)
    with switched(adapter, cuda_graphs=True):
        assert torch.equal(adapter.generate_ids(prompts, settings), eager)


def test_cuda_graphs_where_they_cannot_apply_say_so(tiny_parts, of_tiny, make_media, caplog) -> None:
    from fseval.models.openflamingo.adapter import OpenFlamingoAdapter

    model = tiny_parts(lm_family="mosaic_gpt")
    settings = OpenFlamingoSettings(lm="in memory", cuda_graphs=True)
    adapter = OpenFlamingoAdapter(model, of_tiny.tokenizer, of_tiny.image_processor, settings)
    prompts = [Prompt("<image>Output:", (make_media("a.jpg", 0),))]
    with caplog.at_level("WARNING"):
        ids = adapter.generate_ids(prompts, GenerationSettings(4, 1))
    assert "cuda_graphs is ignored" in caplog.text and "'mosaic_gpt'" in caplog.text
    with switched(adapter, cuda_graphs=False):
        assert torch.equal(adapter.generate_ids(prompts, GenerationSettings(4, 1)), ids)
