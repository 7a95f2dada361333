"""Checkpoint key layout per LM family: the names OpenFlamingo's released checkpoints use."""

from __future__ import annotations

import pytest
import torch

from fseval.models.openflamingo.flamingo import DECODER_LAYERS_ATTR
from fseval.models.openflamingo.tiny import LM_FAMILIES, trainable_state_dict

XATTN_KEYS = {
    "attn_gate",
    "ff_gate",
    "attn.norm.weight",
    "attn.norm.bias",
    "attn.to_q.weight",
    "attn.to_kv.weight",
    "attn.to_out.weight",
    "ff.0.weight",
    "ff.0.bias",
    "ff.1.weight",
    "ff.3.weight",
}


@pytest.mark.parametrize("lm_family", LM_FAMILIES)
def test_state_dict_keys(tiny_parts, lm_family: str) -> None:
    model = tiny_parts(cross_attn_every_n_layers=2, lm_family=lm_family)
    path = DECODER_LAYERS_ATTR[lm_family]
    assert model.decoder_layers_attr_name == path
    keys = set(model.state_dict())
    prefix = f"lang_encoder.{path}"
    assert {
        k[len(f"{prefix}.1.gated_cross_attn_layer.") :]
        for k in keys
        if k.startswith(f"{prefix}.1.gated_cross_attn_layer.")
    } == XATTN_KEYS
    assert not any(k.startswith(f"{prefix}.0.gated_cross_attn_layer.") for k in keys)  # (0 + 1) % 2 != 0
    assert any(k.startswith(f"{prefix}.0.decoder_layer.") for k in keys)
    assert any(k.startswith("perceiver.layers.5.") for k in keys)
    assert any(k.startswith("vision_encoder.transformer.") for k in keys)
    assert not any("old_decoder_blocks" in k or "gated_cross_attn_layers" in k for k in keys)
    xattn = model.state_dict()[f"{prefix}.1.gated_cross_attn_layer.attn.to_kv.weight"]
    assert xattn.shape == (2 * 8 * 64, model.vis_dim)


@pytest.mark.parametrize("lm_family", LM_FAMILIES)
def test_forward_and_generate_run(tiny_parts, lm_family: str) -> None:
    model = tiny_parts(lm_family=lm_family)
    ids = torch.tensor([[0, 1, 2, 0], [model.media_token_id, 5, 6, 7]])
    ids[0, 0] = model.media_token_id
    mask = torch.ones_like(ids)
    vision_x = torch.randn(2, 1, 1, 3, 32, 32)
    with torch.inference_mode():
        assert model(vision_x, ids, attention_mask=mask).logits.shape == (2, 4, tiny_parts.vocab_size)
        out = model.generate(vision_x, ids, attention_mask=mask, max_new_tokens=2, num_beams=2, pad_token_id=0)
    assert out.shape[0] == 2 and out.shape[1] <= 6


def test_trainable_state_dict_matches_released_layout(tiny_parts) -> None:
    keys = set(trainable_state_dict(tiny_parts(lm_family="gpt_neox")))
    assert "lang_encoder.gpt_neox.embed_in.weight" in keys and "lang_encoder.embed_out.weight" in keys
    assert not any(".decoder_layer." in k or k.startswith("vision_encoder.") for k in keys)
    keys = set(trainable_state_dict(tiny_parts(lm_family="mosaic_gpt")))
    assert "lang_encoder.transformer.wte.weight" in keys
    assert any(k.startswith("lang_encoder.transformer.blocks.0.gated_cross_attn_layer.") for k in keys)


def test_mosaic_gpt_keys_match_mpt_1b() -> None:
    """The parameter names of anas-awadalla/mpt-1b-redpajama-200b (ALiBi, QK LayerNorm, no biases)."""
    from fseval.models.openflamingo.mosaic_gpt import MosaicGPTConfig, MosaicGPTForCausalLM

    model = MosaicGPTForCausalLM(MosaicGPTConfig(d_model=32, n_heads=4, n_layers=1, vocab_size=50))
    assert set(model.state_dict()) == {
        "transformer.wte.weight",
        "transformer.ln_f.weight",
        "transformer.blocks.0.ln_1.weight",
        "transformer.blocks.0.attn.Wqkv.weight",
        "transformer.blocks.0.attn.q_ln.weight",
        "transformer.blocks.0.attn.k_ln.weight",
        "transformer.blocks.0.attn.out_proj.weight",
        "transformer.blocks.0.ln_2.weight",
        "transformer.blocks.0.mlp.mlp_up.weight",
        "transformer.blocks.0.mlp.mlp_down.weight",
    }


@pytest.mark.parametrize("alibi", [True, False])
def test_mosaic_gpt_cache_and_padding(alibi: bool) -> None:
    from fseval.models.openflamingo.mosaic_gpt import MosaicGPTConfig, MosaicGPTForCausalLM

    torch.manual_seed(0)
    model = MosaicGPTForCausalLM(
        MosaicGPTConfig(d_model=32, n_heads=4, n_layers=2, vocab_size=50, alibi=alibi, init_std=0.3)
    ).eval()
    ids = torch.randint(1, 50, (1, 7))
    with torch.inference_mode():
        full = model(input_ids=ids).logits
        prefix = model(input_ids=ids[:, :4], use_cache=True)
        rest = model(input_ids=ids[:, 4:], cache=prefix.cache, attention_mask=torch.ones(1, 7, dtype=torch.long))
        padded = model(
            input_ids=torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], 1),
            attention_mask=torch.cat([torch.zeros(1, 3), torch.ones(1, 7)], 1).long(),
        ).logits
    torch.testing.assert_close(torch.cat([prefix.logits, rest.logits], 1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded[:, 3:], full, atol=1e-5, rtol=1e-5)
