"""Architecture pins for the Flamingo modules: shapes, image masking, gates, placement."""

from __future__ import annotations

import pytest
import torch

from fseval.models.openflamingo.cross_attention import (
    GatedCrossAttentionBlock,
    MaskedCrossAttention,
    MediaState,
)
from fseval.models.openflamingo.perceiver import PerceiverResampler

MEDIA = 5  # token id standing for <image> in the masking tests


def test_perceiver_shapes_and_keys() -> None:
    perceiver = PerceiverResampler(dim=32)
    out = perceiver(torch.randn(2, 3, 1, 10, 32))
    assert out.shape == (2, 3, 64, 32)
    assert perceiver(torch.randn(2, 1, 4, 10, 32)).shape == (2, 1, 64, 32)  # a 4-frame clip
    keys = set(perceiver.state_dict())
    assert "latents" in keys and "norm.weight" in keys and "frame_embs" not in keys
    assert {k for k in keys if k.startswith("layers.0.")} == {
        "layers.0.0.norm_media.weight",
        "layers.0.0.norm_media.bias",
        "layers.0.0.norm_latents.weight",
        "layers.0.0.norm_latents.bias",
        "layers.0.0.to_q.weight",
        "layers.0.0.to_kv.weight",
        "layers.0.0.to_out.weight",
        "layers.0.1.0.weight",
        "layers.0.1.0.bias",
        "layers.0.1.1.weight",
        "layers.0.1.3.weight",
    }
    assert perceiver.state_dict()["layers.0.0.to_q.weight"].shape == (8 * 64, 32)
    assert perceiver.state_dict()["layers.0.1.1.weight"].shape == (4 * 32, 32)
    assert len(perceiver.layers) == 6
    with_frames = PerceiverResampler(dim=32, max_num_frames=4)
    assert with_frames.state_dict()["frame_embs"].shape == (4, 32)


def reference_perceiver_attention(attn, media: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """The reference's explicit einsum formulation, to pin the SDPA version's numerics."""
    media, latents = attn.norm_media(media), attn.norm_latents(latents)
    q = attn.to_q(latents)
    k, v = attn.to_kv(torch.cat((media, latents), dim=-2)).chunk(2, dim=-1)
    q, k, v = (t.unflatten(-1, (attn.heads, -1)).transpose(1, 2) for t in (q, k, v))
    sim = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
    out = (sim - sim.amax(-1, keepdim=True)).softmax(-1) @ v
    return attn.to_out(out.transpose(1, 2).flatten(-2))


def test_perceiver_attention_matches_explicit_math() -> None:
    torch.manual_seed(0)
    attn = PerceiverResampler(dim=32).layers[0][0]
    media, latents = torch.randn(3, 10, 32), torch.randn(3, 64, 32)
    torch.testing.assert_close(
        attn(media, latents), reference_perceiver_attention(attn, media, latents), atol=1e-5, rtol=1e-5
    )


def locate(ids: list[int]) -> torch.Tensor:
    state = MediaState()
    state.locate(torch.tensor([ids]), MEDIA, continuing=False)
    assert state.text_time is not None
    return state.text_time


def test_text_time_counts_images() -> None:
    assert locate([1, 2, MEDIA, 3, 4, MEDIA, 6]).tolist() == [[0, 0, 1, 1, 1, 2, 2]]


def test_cross_attention_sees_only_the_latest_image() -> None:
    torch.manual_seed(0)
    xattn = MaskedCrossAttention(dim=16, dim_visual=8)
    ids = [1, 2, MEDIA, 3, 4, MEDIA, 6]
    x, media = torch.randn(1, 7, 16), torch.randn(1, 2, 4, 8)
    text_time = locate(ids)
    out = xattn(x, media, text_time)
    assert torch.all(out[0, :2] == 0)  # text before any image gets no cross-attention
    changed_first, changed_second = media.clone(), media.clone()
    changed_first[:, 0] += 1.0
    changed_second[:, 1] += 1.0
    out_first, out_second = xattn(x, changed_first, text_time), xattn(x, changed_second, text_time)
    torch.testing.assert_close(out_first[0, 5:], out[0, 5:])  # after image 2: image 1 is invisible
    assert not torch.allclose(out_first[0, 2:5], out[0, 2:5])
    torch.testing.assert_close(out_second[0, :5], out[0, :5])  # before image 2: image 2 is invisible
    assert not torch.allclose(out_second[0, 5:], out[0, 5:])


def test_gated_block_zero_gates_are_identity_and_ff_runs_without_images() -> None:
    torch.manual_seed(0)
    block = GatedCrossAttentionBlock(dim=16, dim_visual=8)
    x, media = torch.randn(2, 6, 16), torch.randn(2, 1, 4, 8)
    text_time = torch.zeros(2, 6, dtype=torch.long)
    assert torch.equal(block(x, media, text_time), x)
    with torch.no_grad():
        block.ff_gate.fill_(1.0)
        block.attn_gate.fill_(1.0)
    expected = x + block.ff(x) * torch.tanh(torch.tensor(1.0))
    torch.testing.assert_close(block(x, media, text_time), expected)


@pytest.mark.parametrize("every", [1, 2])
def test_cross_attention_placement(tiny_parts, every: int) -> None:
    model = tiny_parts(cross_attn_every_n_layers=every, lm_family="llama")
    present = [layer.gated_cross_attn_layer is not None for layer in model.layers]
    assert present == [(i + 1) % every == 0 for i in range(len(present))]


def test_zero_gates_leave_lm_logits_unchanged(tiny_parts) -> None:
    model = tiny_parts(cross_attn_every_n_layers=1, lm_family="gpt_neox")  # fresh blocks: gates at 0
    lm = tiny_parts.plain_lm("gpt_neox")
    ids = torch.tensor([[3, 4, model.media_token_id, 7, 8, 9]])
    with torch.inference_mode():
        ours = model(torch.randn(1, 1, 1, 3, 32, 32), ids).logits
        plain = lm(input_ids=ids).logits
    torch.testing.assert_close(ours, plain, atol=1e-6, rtol=1e-6)
