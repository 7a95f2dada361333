"""Perceiver Resampler (Alayrac et al. 2022, "Flamingo", section 3.1.1 and figure 4).

A fixed set of learned latents cross-attends to the vision encoder's patch tokens; keys and values
come from the concatenation of the media tokens and the latents, as in the paper and in
OpenFlamingo's ``helpers.PerceiverResampler``. Parameter names follow OpenFlamingo so that
released checkpoints load unchanged (``perceiver.latents``, ``perceiver.layers.{i}.0.to_q`` ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def feed_forward(dim: int, mult: int = 4) -> nn.Sequential:
    """Pre-norm GELU MLP; a ``Sequential`` so its keys read ``.0`` (norm), ``.1`` and ``.3`` (linears)."""
    inner = dim * mult
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, inner, bias=False),
        nn.GELU(),
        nn.Linear(inner, dim, bias=False),
    )


class PerceiverAttention(nn.Module):
    """Latents attend to ``concat(media, latents)``; both inputs are layer-normed separately."""

    def __init__(self, dim: int, dim_head: int = 64, heads: int = 8) -> None:
        super().__init__()
        self.heads = heads
        inner = dim_head * heads
        self.norm_media = nn.LayerNorm(dim)
        self.norm_latents = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """``media`` (N, v, D) and ``latents`` (N, n, D) -> (N, n, D)."""
        media = self.norm_media(media)
        latents = self.norm_latents(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat((media, latents), dim=-2)).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, -1)).transpose(1, 2) for t in (q, k, v))
        # SDPA's default scale is dim_head ** -0.5, the reference's explicit scale.
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).flatten(-2))


class PerceiverResampler(nn.Module):
    """Maps (B, T, F, v, D) vision tokens to (B, T, num_latents, D).

    ``max_num_frames`` adds learned frame embeddings (``frame_embs``) for videos; OpenFlamingo leaves
    them out (None), and then the F frames of a clip are simply flattened into one token set.
    """

    def __init__(
        self,
        dim: int,
        depth: int = 6,
        dim_head: int = 64,
        heads: int = 8,
        num_latents: int = 64,
        ff_mult: int = 4,
        max_num_frames: int | None = None,
    ) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim))
        self.frame_embs = nn.Parameter(torch.randn(max_num_frames, dim)) if max_num_frames else None
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim, dim_head, heads), feed_forward(dim, ff_mult)]) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, f, v, d = x.shape
        if self.frame_embs is not None:
            if f > self.frame_embs.shape[0]:
                raise ValueError(
                    f"clip has {f} frames but the resampler has {self.frame_embs.shape[0]} frame embeddings"
                )
            x = x + self.frame_embs[:f, None, :]
        media = x.reshape(b * t, f * v, d)
        latents = self.latents.expand(b * t, -1, -1)
        for attn, ff in self.layers:  # type: ignore[misc]
            latents = attn(media, latents) + latents  # type: ignore[has-type]
            latents = ff(latents) + latents  # type: ignore[has-type]
        return self.norm(latents).reshape(b, t, -1, d)
