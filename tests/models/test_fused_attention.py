"""Every attention call of generation and ranking could run on a fused SDPA kernel (CPU, no GPU needed).

``fseval.models.traffic.attention_calls`` records each ``scaled_dot_product_attention`` call and
names what PyTorch's kernel selection would hold against CUDA's fused kernels (inputs that are
not 4-D, broadcast batch or heads, a non-contiguous last dimension, a head size not a multiple of
8, a mask of another dtype); on CPU it also records the backend PyTorch chose, whose fused
kernel is FLASH_ATTENTION. The models run in bf16, as on a GPU.
"""

from __future__ import annotations

import pytest
import torch

from fseval.models.openflamingo.adapter import OpenFlamingoAdapter
from fseval.models.traffic import attention_calls, fused_kernel_obstacles
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


@pytest.mark.parametrize("lm_family", ["gpt_neox", "llama", "mosaic_gpt"])
@pytest.mark.parametrize("shared_media_kv", [True, False], ids=["shared media kv", "per-call media kv"])
def test_generation_and_ranking_attend_in_fused_form(of_tiny, tiny_parts, prompts, lm_family, shared_media_kv) -> None:
    model = tiny_parts(cross_attn_every_n_layers=1, lm_family=lm_family).to(torch.bfloat16)
    adapter = OpenFlamingoAdapter(
        model, of_tiny.tokenizer, of_tiny.image_processor, {}, precision="bf16", shared_media_kv=shared_media_kv
    )
    with attention_calls() as calls:
        adapter.generate(prompts, BEAMS)
        adapter.generate(prompts, GREEDY)
        adapter.rank(prompts, [["a cat", "two small dogs"]] * len(prompts))
    callers = {call.caller.split(":")[0] for call in calls}
    assert "perceiver.py" in callers and ("media_kv.py" in callers or "cross_attention.py" in callers)
    assert ("mosaic_gpt.py" if lm_family == "mosaic_gpt" else "sdpa_attention.py") in callers
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
