"""A native MosaicGPT, the remote-code architecture of MPT-1B (``mosaic_gpt``).

OpenFlamingo-3B and -3B-instruct use ``anas-awadalla/mpt-1b-redpajama-200b(-dolly)``, whose
modelling code ships as Hugging Face remote code written for transformers 4.2x (MosaicML
Examples' ``mosaic_gpt``). Rather than trusting that code, this module re-implements the
architecture with the same parameter names, so the released ``pytorch_model.bin`` loads as is:
``transformer.wte``, ``transformer.blocks.{i}.ln_1 / attn.Wqkv / attn.q_ln / attn.k_ln /
attn.out_proj / ln_2 / mlp.mlp_up / mlp.mlp_down``, ``transformer.ln_f``; the output projection is
tied to ``wte``. MPT-1B uses ALiBi, QK LayerNorm and no biases; learned positions (``wpe``) are
supported for configs without ALiBi.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast


class MosaicGPTConfig(PretrainedConfig):
    """The fields of MosaicML's ``MosaicGPTConfig`` that change the computation; others are kept as given."""

    model_type = "mosaic_gpt"

    def __init__(
        self,
        d_model: int = 2048,
        n_heads: int = 16,
        n_layers: int = 24,
        mlp_ratio: int = 4,
        max_seq_len: int = 2048,
        vocab_size: int = 50432,
        attn_qk_ln: bool = True,
        attn_clip_qkv: float | None = None,
        softmax_scale: float | None = None,
        alibi: bool = True,
        alibi_bias_max: int = 8,
        no_bias: bool = True,
        logit_scale: float | str | None = None,
        init_std: float = 0.02,
        use_cache: bool = False,
        **kwargs: Any,
    ) -> None:
        self.d_model = d_model
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.mlp_ratio = mlp_ratio
        self.max_seq_len = max_seq_len
        self.vocab_size = vocab_size
        self.attn_qk_ln = attn_qk_ln
        self.attn_clip_qkv = attn_clip_qkv
        self.softmax_scale = softmax_scale
        self.alibi = alibi
        self.alibi_bias_max = alibi_bias_max
        self.no_bias = no_bias
        self.logit_scale = logit_scale
        self.init_std = init_std
        self.use_cache = use_cache
        kwargs.setdefault("tie_word_embeddings", False)  # logits use wte directly; there is no lm_head
        super().__init__(**kwargs)
        self.hidden_size = d_model
        self.num_hidden_layers = n_layers
        self.num_attention_heads = n_heads


class MosaicAttention(nn.Module):
    def __init__(self, config: MosaicGPTConfig, layer_idx: int) -> None:
        super().__init__()
        d, bias = config.d_model, not config.no_bias
        self.layer_idx = layer_idx
        self.n_heads = config.n_heads
        self.clip_qkv = config.attn_clip_qkv
        self.softmax_scale = config.softmax_scale or 1 / math.sqrt(d / config.n_heads)
        self.Wqkv = nn.Linear(d, 3 * d, bias=bias)
        if config.attn_qk_ln:
            self.q_ln = nn.LayerNorm(d, bias=bias)
            self.k_ln = nn.LayerNorm(d, bias=bias)
        self.qk_ln = config.attn_qk_ln
        self.out_proj = nn.Linear(d, d, bias=bias)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, cache: Cache | None) -> torch.Tensor:
        qkv = self.Wqkv(x)
        if self.clip_qkv:
            qkv = qkv.clamp(min=-self.clip_qkv, max=self.clip_qkv)
        q, k, v = qkv.chunk(3, dim=-1)
        if self.qk_ln:
            q, k = self.q_ln(q), self.k_ln(k)
        q, k, v = (t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.softmax_scale)
        return self.out_proj(out.transpose(1, 2).flatten(-2))


class MosaicMLP(nn.Module):
    def __init__(self, config: MosaicGPTConfig) -> None:
        super().__init__()
        bias = not config.no_bias
        self.mlp_up = nn.Linear(config.d_model, config.mlp_ratio * config.d_model, bias=bias)
        self.mlp_act = nn.GELU()
        self.mlp_down = nn.Linear(config.mlp_ratio * config.d_model, config.d_model, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp_down(self.mlp_act(self.mlp_up(x)))


class MosaicBlock(nn.Module):
    def __init__(self, config: MosaicGPTConfig, layer_idx: int) -> None:
        super().__init__()
        bias = not config.no_bias
        self.ln_1 = nn.LayerNorm(config.d_model, bias=bias)
        self.attn = MosaicAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.d_model, bias=bias)
        self.mlp = MosaicMLP(config)

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """``attention_mask`` is the additive (B, H, S_q, S_k) bias built by the model."""
        x = x + self.attn(self.ln_1(x), attention_mask, cache)
        return x + self.mlp(self.ln_2(x))


class MosaicGPTForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = MosaicGPTConfig
    base_model_prefix = "mosaic_gpt"  # not an attribute: checkpoint keys start with "transformer."
    _no_split_modules = ["MosaicBlock"]  # noqa: RUF012 (declared so by PreTrainedModel)

    def __init__(self, config: MosaicGPTConfig) -> None:
        super().__init__(config)
        layers: dict[str, nn.Module] = {"wte": nn.Embedding(config.vocab_size, config.d_model)}
        if not config.alibi:
            layers["wpe"] = nn.Embedding(config.max_seq_len, config.d_model)
        layers["blocks"] = nn.ModuleList(MosaicBlock(config, i) for i in range(config.n_layers))
        layers["ln_f"] = nn.LayerNorm(config.d_model, bias=not config.no_bias)
        self.transformer = nn.ModuleDict(layers)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.init_std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)  # type: ignore[arg-type]
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> nn.Module:
        return self.transformer["wte"]

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.transformer["wte"] = value

    def get_output_embeddings(self) -> None:
        return None

    def _attention_bias(self, attention_mask: torch.Tensor, query_len: int) -> torch.Tensor:
        """ALiBi plus causal and padding masks as one additive (B, H, S_q, S_k) bias.

        Masked entries are set to the model dtype's finite minimum (not added), like MosaicGPT, so a
        fully masked row (a left-padding query) stays finite instead of becoming NaN; the bias is
        made in that dtype once, not cast by every layer (float32's minimum would be -inf in bf16).
        """
        b, s_k = attention_mask.shape
        device = attention_mask.device
        key_pos = torch.arange(s_k, device=device)
        query_pos = key_pos[s_k - query_len :]
        allowed = (key_pos[None, :] <= query_pos[:, None])[None] & attention_mask.bool()[:, None, :]
        bias = torch.zeros(b, self.config.n_heads, query_len, s_k, device=device)
        if self.config.alibi:
            exponents = torch.arange(1, self.config.n_heads + 1, device=device) * (
                self.config.alibi_bias_max / self.config.n_heads
            )
            slopes = 2.0**-exponents
            bias = bias + slopes[:, None, None] * (key_pos - (s_k - 1)).float()[None, None, :]
        dtype = self.dtype
        return bias.masked_fill(~allowed[:, None], torch.finfo(dtype).min).to(dtype)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        use_cache: bool | None = None,
        past_key_values: Cache | None = None,
        logits_to_keep: int = 0,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        cache = cache if cache is not None else past_key_values
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache()
        x = self.transformer["wte"](input_ids) if inputs_embeds is None else inputs_embeds
        past = cache.get_seq_length() if cache is not None else 0
        query_len = x.shape[1]
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[0], past + query_len, dtype=torch.long, device=x.device)
        if not self.config.alibi:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -query_len:]
            x = x + self.transformer["wpe"](positions)
        bias = self._attention_bias(attention_mask, query_len)
        for block in self.transformer["blocks"]:  # type: ignore[attr-defined]
            x = block(x, attention_mask=bias, cache=cache)
        x = self.transformer["ln_f"](x)
        if logits_to_keep:  # as transformers' models: only the last positions' logits (generate asks for 1)
            x = x[:, -logits_to_keep:]
        logits = F.linear(x, self.transformer["wte"].weight)  # type: ignore[arg-type]
        if self.config.logit_scale is not None:
            scale = self.config.logit_scale
            logits = logits * (1 / math.sqrt(self.config.d_model) if scale == "inv_sqrt_d_model" else float(scale))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache if use_cache else None)
