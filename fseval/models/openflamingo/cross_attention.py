"""Masked gated cross-attention (Flamingo, section 3.1.2 and figure 7), in OpenFlamingo's layout.

Each text token attends only to the visual latents of the latest ``<image>`` at or before it
(``text_time = cumsum(<image> tokens)``); text before any image gets no cross-attention output
(its feed-forward still runs). Both residual branches are scaled by ``tanh`` gates that start at
0, so a freshly initialised block leaves the language model unchanged.

``FlamingoLayer`` wraps one decoder layer of the language model and keeps OpenFlamingo's
attribute names (``gated_cross_attn_layer``, ``decoder_layer``), which fixes the checkpoint keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fseval.models.openflamingo.perceiver import feed_forward


class MaskedCrossAttention(nn.Module):
    """Text queries attend to the latents of the image selected by ``text_time``."""

    def __init__(self, dim: int, dim_visual: int, dim_head: int = 64, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        inner = dim_head * heads
        self.norm = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim_visual, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, x: torch.Tensor, media: torch.Tensor, text_time: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, D), ``media`` (B, T_img, n, D_vis), ``text_time`` (B, L) -> (B, L, D)."""
        b, length, _ = x.shape
        t_img, n = media.shape[1], media.shape[2]
        q = self.to_q(self.norm(x))
        if t_img == 0:
            return self.to_out(torch.zeros_like(q))
        k, v = self.to_kv(media.reshape(b, t_img * n, -1)).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))

        media_time = torch.arange(1, t_img + 1, device=x.device).repeat_interleave(n)
        allowed = text_time[:, :, None] == media_time[None, None, :]  # (B, L, T_img * n)
        # A row with no matching image (text before any image, or past the last one) would be fully
        # masked; the reference's masked_fill(-max) then softmax makes it uniform, which is what an
        # all-True row gives here. Rows before any image are zeroed below, as in the reference.
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
        out = out.masked_fill((text_time == 0)[:, None, :, None], 0.0)
        return self.to_out(out.transpose(1, 2).reshape(b, length, -1))


class GatedCrossAttentionBlock(nn.Module):
    """``x + tanh(attn_gate) * xattn(x, media)`` then ``x + tanh(ff_gate) * ff(x)``; gates start at 0."""

    def __init__(self, dim: int, dim_visual: int, dim_head: int = 64, heads: int = 8, ff_mult: int = 4) -> None:
        super().__init__()
        self.attn = MaskedCrossAttention(dim, dim_visual, dim_head, heads)
        self.attn_gate = nn.Parameter(torch.tensor([0.0]))
        self.ff = feed_forward(dim, ff_mult)
        self.ff_gate = nn.Parameter(torch.tensor([0.0]))

    def forward(self, x: torch.Tensor, media: torch.Tensor, text_time: torch.Tensor) -> torch.Tensor:
        x = self.attn(x, media, text_time) * self.attn_gate.tanh() + x
        return self.ff(x) * self.ff_gate.tanh() + x


@dataclass
class MediaState:
    """What the cross-attention layers see during one forward pass of the language model.

    ``media`` holds the resampled latents (B, T_img, n, D_vis); ``text_time`` the image index
    (1-based, 0 = none yet) of each token of the current input; ``last_time`` the index reached
    at the end of the tokens already in the key/value cache, so cached continuations (generation
    steps, ranked candidates) keep attending to the prompt's latest image.
    """

    media: torch.Tensor | None = None
    text_time: torch.Tensor | None = None
    last_time: torch.Tensor | None = None

    def clear(self) -> None:
        self.media = self.text_time = self.last_time = None

    def locate(self, input_ids: torch.Tensor, media_token_id: int, continuing: bool) -> None:
        """Set ``text_time`` for ``input_ids``; ``continuing`` means they follow cached tokens."""
        counts = (input_ids == media_token_id).long().cumsum(dim=-1)
        if continuing:
            if self.last_time is None:
                raise RuntimeError("a cached continuation needs the image positions of its prompt")
            last = self.last_time
            if last.shape[0] != counts.shape[0]:  # beams or candidates expanded the batch
                last = last.repeat_interleave(counts.shape[0] // last.shape[0])
            counts = counts + last[:, None]
        self.text_time = counts
        self.last_time = counts[:, -1]

    def media_for(self, batch_size: int) -> torch.Tensor:
        if self.media is None or self.text_time is None:
            raise RuntimeError("Flamingo layers are not conditioned on media; call the Flamingo model, not its LM")
        media = self.media
        if media.shape[0] != batch_size:
            media = media.repeat_interleave(batch_size // media.shape[0], dim=0)
        return media


class FlamingoLayer(nn.Module):
    """A decoder layer preceded by an optional gated cross-attention block."""

    def __init__(self, gated_cross_attn_layer: GatedCrossAttentionBlock | None, decoder_layer: nn.Module) -> None:
        super().__init__()
        self.gated_cross_attn_layer = gated_cross_attn_layer
        self.decoder_layer = decoder_layer
        self.media_state: MediaState | None = None  # shared, set by Flamingo; not a submodule

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if args:
            hidden, args = args[0], args[1:]
        else:
            hidden = kwargs.pop("hidden_states")
        if self.gated_cross_attn_layer is not None:
            state = self.media_state
            if state is None:
                raise RuntimeError("FlamingoLayer has no media state")
            media = state.media_for(hidden.shape[0])
            assert state.text_time is not None
            hidden = self.gated_cross_attn_layer(hidden, media.to(hidden.dtype), state.text_time)
        return self.decoder_layer(hidden, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Some LMs read attributes of their layers (attention_type, layer_idx...); forward them.
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("decoder_layer"), name)
