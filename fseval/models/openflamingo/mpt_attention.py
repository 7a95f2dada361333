"""transformers' MPT attention computed by ``scaled_dot_product_attention``.

transformers' ``MptAttention`` (the language model of OpenFlamingo-9B, MPT-7B) multiplies queries
and keys, adds the ALiBi bias, masks, and applies softmax and the values itself: on a GPU that is
several kernels and a (batch, heads, queries, keys) score tensor written and read, where SDPA's
memory-efficient kernel takes the bias and does it in one pass. ``use_sdpa(lm)`` switches every
``MptAttention`` of ``lm`` to ``MptSdpaAttention`` (same weights, same state dict): the ALiBi bias
and the mask become one additive bias (masked entries at the dtype's finite minimum, as MPT fills
them, so a left-padding query row stays finite), and SDPA computes the rest. Results equal MPT's to
float rounding; attention weights are not returned (``output_attentions`` gets None).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.mpt.modeling_mpt import MptAttention


class MptSdpaAttention(MptAttention):
    def forward(
        self,
        hidden_states: torch.Tensor,
        position_bias: torch.Tensor,
        cache: Any = None,
        attention_mask: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, None]:
        batch, length = hidden_states.shape[:2]
        qkv = self.Wqkv(hidden_states)
        if self.clip_qkv:
            qkv = qkv.clamp(min=-self.clip_qkv, max=self.clip_qkv)
        query, key, value = (
            t.reshape(batch, length, self.n_heads, self.head_dim).transpose(1, 2) for t in qkv.chunk(3, dim=2)
        )
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx, kwargs=kwargs)
        # MPT's bias (heads, 1, max_seq_len): the last key_length columns, the same for every query.
        keys = key.shape[-2]
        bias = position_bias[:, max(0, position_bias.size(1) - length) :, max(0, position_bias.size(2) - keys) :]
        bias = bias.to(query.dtype)
        if attention_mask is not None:  # MPT's mask: True where a key is hidden
            bias = bias.masked_fill(attention_mask, torch.finfo(query.dtype).min)
        else:
            bias = bias.expand(batch, -1, length, -1)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias, scale=self.softmax_scale)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, -1)), None


def use_sdpa(lm: nn.Module) -> int:
    """Every ``MptAttention`` of ``lm`` computed by SDPA from now on; returns how many were switched."""
    switched = 0
    for module in lm.modules():
        if type(module) is MptAttention:
            module.__class__ = MptSdpaAttention
            switched += 1
    return switched
