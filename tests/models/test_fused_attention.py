"""Every attention call of generation and ranking could run on a fused SDPA kernel (CPU, no GPU needed).

``fseval.instruments.traffic.attention_calls`` records each ``scaled_dot_product_attention`` call and
names what PyTorch's kernel selection would hold against CUDA's fused kernels (inputs that are
not 4-D, broadcast batch or heads, a non-contiguous last dimension, a head size not a multiple of
8, a mask of another dtype); on CPU it also records the backend PyTorch chose, whose fused
kernel is FLASH_ATTENTION. The models run in bf16, as on a GPU.
"""

from __future__ import annotations

import pytest
import torch

from fseval.instruments.traffic import attention_calls, fused_kernel_obstacles
from fseval.models.openflamingo.adapter import OpenFlamingoAdapter
from fseval.models.openflamingo.settings import OpenFlamingoSettings
from fseval.types import GenerationSettings, Prompt

BEAMS = GenerationSettings(max_new_tokens=4, num_beams=3, length_penalty=0.0)
GREEDY = GenerationSettings(max_new_tokens=4, num_beams=1)


@pytest.fixture(scope="module")
def prompts(make_media) -> list[Prompt]:
    a, b = make_media("a.jpg", 0), make_media("b.jpg", 1)
    demo = "<image>Question:What is it? Short answer:a cat<|endofchunk|>"
    return [
        Prompt(demo + "<image>Question:What colour is it? Short answer:", (a, b)),  # padded against the next
        Prompt(demo * 2 + "<image>Question:Why? Short answer:", (b, a, b)),
        Prompt("<image>Output:", (a,)),
    ]


@pytest.mark.parametrize("lm_family", ["gpt_neox", "llama", "mosaic_gpt", "mpt"])
@pytest.mark.parametrize("shared_media_kv", [True, False], ids=["shared media kv", "per-call media kv"])
def test_generation_and_ranking_attend_in_fused_form(of_tiny, tiny_parts, prompts, lm_family, shared_media_kv) -> None:
    model = tiny_parts(cross_attn_every_n_layers=1, lm_family=lm_family).to(torch.bfloat16)
    settings = OpenFlamingoSettings(lm="in memory", shared_media_kv=shared_media_kv)
    adapter = OpenFlamingoAdapter(model, of_tiny.tokenizer, of_tiny.image_processor, settings, precision="bf16")
    with attention_calls() as calls:
        adapter.generate(prompts, BEAMS)
        adapter.generate(prompts, GREEDY)
        adapter.rank(prompts, [["a cat", "two small dogs"]] * len(prompts))
    callers = {call.caller.split(":")[0] for call in calls}
    assert "perceiver.py" in callers and ("media_kv.py" in callers or "cross_attention.py" in callers)
    lm_callers = {"mosaic_gpt": "mosaic_gpt.py", "mpt": "mpt_attention.py"}  # fseval's; transformers' otherwise
    assert lm_callers.get(lm_family, "sdpa_attention.py") in callers
    blocked = {(call.caller, call.query_shape, call.mask, call.obstacles) for call in calls if call.obstacles}
    assert not blocked
    assert {call.cpu_backend for call in calls} == {"FLASH_ATTENTION"}
    assert {call.dtype for call in calls} == {torch.bfloat16}


def test_the_checks_name_what_blocks_a_fused_kernel() -> None:
    q = torch.zeros(2, 4, 5, 16, dtype=torch.bfloat16)
    assert fused_kernel_obstacles(q, q, q) == []
    assert fused_kernel_obstacles(q, q, q, torch.ones(2, 1, 5, 5, dtype=torch.bool)) == []
    flat = q[0]
    assert fused_kernel_obstacles(flat, flat, flat)[0].startswith("3-D inputs")
    assert fused_kernel_obstacles(q, q[:1], q[:1]) == ["batch or head counts differ between query and key (broadcast)"]
    odd = torch.zeros(2, 4, 5, 12, dtype=torch.bfloat16)
    assert fused_kernel_obstacles(odd, odd, odd) == ["head_dim 12 not a multiple of 8"]
    assert fused_kernel_obstacles(q, q, q, torch.zeros(2, 1, 5, 5)) == ["torch.float32 mask with torch.bfloat16 inputs"]
    strided = torch.zeros(2, 4, 16, 5, dtype=torch.bfloat16).transpose(-1, -2)
    assert fused_kernel_obstacles(strided, q, q) == ["last dimension not contiguous"]


@torch.inference_mode()
def test_mpt_through_sdpa_equals_transformers_mpt() -> None:
    """OpenFlamingo-9B's LM (transformers' MPT) attends through SDPA: the same weights and, in fp32, the same
    logits to float rounding on a left-padded batch; in bf16 as far from fp32 as MPT's own attention is, within
    a factor of 2 (bf16 rounding in another order: 2.2e-2 vs 2.9e-2 of the largest logit on one batch, 0.34
    vs 0.24 absolute on this one)."""
    import copy

    from fseval.models.openflamingo.mpt_attention import MptSdpaAttention, use_sdpa
    from fseval.models.openflamingo.tiny import tiny_lm

    torch.manual_seed(0)
    eager = tiny_lm("mpt", 403, 0).eval()
    fused = copy.deepcopy(eager)
    assert use_sdpa(fused) == 2 and all(type(block.attn) is MptSdpaAttention for block in fused.transformer.blocks)
    assert fused.state_dict().keys() == eager.state_dict().keys()
    ids = torch.randint(0, 400, (3, 20), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, :5] = mask[2, :2] = 0
    real = mask.bool()
    reference = eager(input_ids=ids, attention_mask=mask).logits[real]
    scale = reference.abs().max()
    assert (fused(input_ids=ids, attention_mask=mask).logits[real] - reference).abs().max() <= 1e-5 * scale
    bf16 = {name: lm.to(torch.bfloat16)(input_ids=ids, attention_mask=mask).logits[real].float()
            for name, lm in (("eager", eager), ("fused", fused))}  # fmt: skip
    assert (bf16["fused"] - reference).abs().max() <= 2 * (bf16["eager"] - reference).abs().max()


def test_mpt_sdpa_can_be_switched_off(tiny_parts) -> None:
    from transformers.models.mpt.modeling_mpt import MptAttention

    from fseval.models.openflamingo.flamingo import Flamingo

    model = tiny_parts(lm_family="mpt")
    assert all(type(block.attn).__name__ == "MptSdpaAttention" for block in model.lang_encoder.transformer.blocks)
    lm = tiny_parts.plain_lm("mpt")
    plain = Flamingo(model.vision_encoder, lm, 400, 401, model.vis_dim, mpt_sdpa=False)
    assert all(type(block.decoder_layer.attn) is MptAttention for block in plain.layers)
