"""Cross-attention keys and values of the media computed once per conditioning, not once per LM call.

``MaskedCrossAttention`` projects the resampled media to keys and values on every forward pass:
at every decoding step, for every beam, for all ``T_img`` images of the prompt, although tokens
after the prompt only ever see its latest image. At 32 shots that projection costs more than the
language model itself. ``shared_media_kv(model)`` patches the cross-attention layers for the
duration of a ``generate``/``rank`` call so that

- keys/values are projected once per media tensor (the prompt batch) and reused by every later
  LM call conditioned on the same tensor (decoding steps, beams, ranked candidates);
- tokens that continue a prompt (one-token decoding steps, candidate continuations) attend to
  the keys/values of their row's latest image only, gathered per row instead of repeated for
  every beam or candidate.

The result equals ``MaskedCrossAttention`` (same masking rule: a token attends to the latents of
the latest ``<image>`` at or before it, none before the first) up to float rounding of attention
over 64 keys instead of a masked ``T_img * 64``.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from fseval.models.openflamingo.cross_attention import MaskedCrossAttention
from fseval.models.openflamingo.flamingo import Flamingo


@dataclass
class MediaKV:
    """What the patched layers share during one adapter call.

    ``source`` is the media the keys/values come from (B0 rows; set by the adapter); ``rows``
    maps the rows of the current LM batch to rows of ``source`` (None: row r uses r // (B / B0),
    as beams expand it); ``continuation`` says every token of the current call continues a prompt
    without new images. Without a ``source`` the layers behave as unpatched.
    """

    source: torch.Tensor | None = None
    rows: torch.Tensor | None = None
    continuation: bool = False
    projected: dict[int, tuple[torch.Tensor, ...]] = field(default_factory=dict)
    latest: dict[int, tuple[torch.Tensor, ...]] = field(default_factory=dict)  # decoding: each prompt's last image

    def condition(self, media: torch.Tensor) -> None:
        if self.source is not media:
            self.source, self.projected, self.latest = media, {}, {}

    def clear(self) -> None:
        self.source, self.rows, self.continuation, self.projected, self.latest = None, None, False, {}, {}

    def prepare_decoding(self, time: torch.Tensor) -> None:
        """Before generating: each prompt's latest image is ``time`` (B0,), for every projected layer."""
        if self.source is not None:
            n = self.source.shape[2]
            self.latest = {key: _latest_image_kv(kv, time, n) for key, kv in self.projected.items()}


def _forward(
    layer: MaskedCrossAttention, shared: MediaKV, x: torch.Tensor, media: torch.Tensor, text_time: torch.Tensor
) -> torch.Tensor:
    source = shared.source
    if source is None or source.shape[1] == 0:
        return MaskedCrossAttention.forward(layer, x, media, text_time)
    b0, t_img, n = source.shape[:3]
    b, length, _ = x.shape
    kv = shared.projected.get(id(layer))
    if kv is None:
        k, v = layer.to_kv(source.reshape(b0, t_img * n, -1).to(x.dtype)).chunk(2, dim=-1)
        kv = shared.projected[id(layer)] = tuple(t.unflatten(-1, (layer.heads, -1)).transpose(1, 2) for t in (k, v))
    rows = shared.rows if shared.rows is not None else torch.arange(b, device=x.device) // max(1, b // b0)
    q = layer.to_q(layer.norm(x)).unflatten(-1, (layer.heads, -1)).transpose(1, 2)
    if length == 1 and shared.rows is None and not shared.continuation and b % b0 == 0:
        out = _decoding_step(shared, id(layer), q, kv, text_time[:, 0], n)
    elif shared.continuation or length == 1:
        out = _attend_latest_image(q, kv, rows, text_time[:, 0], t_img, n)
    else:
        if b == b0 and shared.rows is None and not shared.continuation:  # a prompt pass: generation may follow
            shared.latest[id(layer)] = _latest_image_kv(kv, text_time[:, -1], n)
        k, v = (t[rows] if b != b0 or shared.rows is not None else t for t in kv)
        media_time = torch.arange(1, t_img + 1, device=x.device).repeat_interleave(n)
        allowed = text_time[:, :, None] == media_time[None, None, :]
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)  # as MaskedCrossAttention
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
    out = out.masked_fill((text_time == 0)[:, None, :, None], 0.0)
    return layer.to_out(out.transpose(1, 2).reshape(b, length, -1))


def _latest_image_kv(kv: tuple[torch.Tensor, ...], time: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
    """The keys/values of each prompt's latest image: ``kv`` (B0, heads, T_img * n, dim_head), ``time`` (B0,)."""
    b0, heads, _, dim = kv[0].shape
    image = (time - 1).clamp(min=0)
    index = (image[:, None] * n + torch.arange(n, device=time.device))[:, None, :, None].expand(b0, heads, n, dim)
    return tuple(t.gather(2, index) for t in kv)


def _decoding_step(
    shared: MediaKV, key: int, q: torch.Tensor, kv: tuple[torch.Tensor, ...], time: torch.Tensor, n: int
) -> torch.Tensor:
    """One generated token per row, the rows of each prompt side by side (its beams, or itself alone).

    A generated token never is ``<image>`` (generation bans it), so a row's latest image is fixed
    for the whole ``generate`` call: its latents' keys/values are gathered once per prompt and
    layer, by the prompt pass (or ``MediaKV.prepare_decoding``), and each prompt's rows attend to
    them as one query sequence. No step synchronises with
    the host or copies keys (``_attend_latest_image`` finds the groups with ``unique``/``nonzero``).
    """
    b0, heads, _, dim = kv[0].shape
    per = q.shape[0] // b0
    latest = shared.latest.get(key)
    if latest is None:  # no prompt pass of B0 rows came first (beams expanded before it): gathered once here
        latest = shared.latest[key] = _latest_image_kv(kv, time[::per], n)  # every row of a prompt: one image
    grouped = q.reshape(b0, per, heads, dim).transpose(1, 2)  # (B0, heads, rows of the prompt, dim_head)
    keys, values = latest
    attended = F.scaled_dot_product_attention(grouped, keys, values)
    return attended.transpose(1, 2).reshape(b0 * per, heads, 1, dim)


def _attend_latest_image(
    q: torch.Tensor, kv: tuple[torch.Tensor, ...], rows: torch.Tensor, time: torch.Tensor, t_img: int, n: int
) -> torch.Tensor:
    """Attention of continuation rows to the latents of their prompt's latest image.

    ``q`` (B, heads, L, dim_head); ``kv`` (B0, heads, T_img * n, dim_head) per prompt; ``rows``
    (B,) the prompt of each row; ``time`` (B,) the row's image index (constant along a
    continuation). Rows that share a prompt and image are attended as one long query sequence
    against that image's n keys, so the keys are never copied per candidate or beam.
    """
    image = (time - 1).clamp(min=0)
    group = rows * t_img + image
    _, heads, length, dim = q.shape
    groups = torch.unique(group).tolist()
    out = torch.empty_like(q)
    for g in groups:
        source, latest = divmod(g, t_img)
        k, v = (t[source, :, latest * n : (latest + 1) * n] for t in kv)  # (heads, n, dim_head)
        members = None if len(groups) == 1 else (group == g).nonzero()[:, 0]
        q_g = q if members is None else q[members]
        flat = q_g.transpose(0, 1).reshape(1, heads, -1, dim)  # (1, heads, rows * L, dim_head): 4-D for fused kernels
        attended = F.scaled_dot_product_attention(flat, k[None], v[None])
        attended = attended.reshape(heads, -1, length, dim).transpose(0, 1)
        if members is None:
            return attended
        out[members] = attended
    return out


@contextmanager
def shared_media_kv(model: Flamingo, enabled: bool = True) -> Iterator[MediaKV | None]:
    """Patch ``model``'s cross-attention layers for one call; yields the shared state (None if disabled)."""
    if not enabled:
        yield None
        return
    shared = MediaKV()
    layers = [m for m in model.modules() if isinstance(m, MaskedCrossAttention)]
    for layer in layers:
        layer.forward = types.MethodType(  # type: ignore[method-assign]
            lambda self, x, media, text_time: _forward(self, shared, x, media, text_time), layer
        )
    try:
        yield shared
    finally:
        for layer in layers:
            del layer.forward
        shared.clear()
