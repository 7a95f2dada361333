"""Released and training checkpoints load; mismatching ones fail with a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fseval.errors import FsevalError
from fseval.models.openflamingo import load_model_dir
from fseval.models.openflamingo.loader import CheckpointError


def logits(adapter) -> torch.Tensor:
    tok = adapter.tokenizer
    ids = tok(["<image>Question:What is this? Short answer:"], return_tensors="pt").input_ids
    torch.manual_seed(0)
    with torch.inference_mode():
        return adapter.model(torch.randn(1, 1, 1, 3, 32, 32), ids).logits


def test_released_checkpoint_layout(of_tiny_dir: Path) -> None:
    state = torch.load(of_tiny_dir / "checkpoint.pt", weights_only=True)
    assert "lang_encoder.gpt_neox.layers.0.gated_cross_attn_layer.attn_gate" in state
    assert "lang_encoder.gpt_neox.embed_in.weight" in state
    assert "lang_encoder.embed_out.weight" in state  # OpenFlamingo's (transformers 4) name
    assert not any(k.startswith("vision_encoder.") or ".decoder_layer." in k for k in state)
    assert state["lang_encoder.gpt_neox.embed_in.weight"].shape[0] == 403  # 400 + 3 added tokens


def test_training_checkpoint_loads_like_released(of_tiny, of_tiny_dir: Path, tmp_path: Path) -> None:
    state = torch.load(of_tiny_dir / "checkpoint.pt", weights_only=True)
    # A training checkpoint: DDP prefixes, OpenFlamingo's duplicate aliases, optimizer state.
    wrapped = {f"module.{k}": v for k, v in state.items()}
    for key, value in state.items():
        if ".gated_cross_attn_layer." in key:
            index = key.split(".")[3]
            rest = key.split(".gated_cross_attn_layer.")[1]
            wrapped[f"module.lang_encoder.gated_cross_attn_layers.{index}.{rest}"] = value
    training = tmp_path / "checkpoint_0.pt"
    torch.save({"epoch": 0, "model_state_dict": wrapped, "optimizer_state_dict": {"state": {}}}, training)
    other = load_model_dir(of_tiny_dir, checkpoint=str(training))
    torch.testing.assert_close(logits(other), logits(of_tiny), atol=0, rtol=0)


def test_checkpoint_changes_outputs(of_tiny, of_tiny_dir: Path) -> None:
    no_checkpoint = load_model_dir(of_tiny_dir, checkpoint=None)
    assert not torch.allclose(logits(no_checkpoint), logits(of_tiny))


def test_missing_cross_attention_keys_fail(of_tiny_dir: Path, tmp_path: Path) -> None:
    state = torch.load(of_tiny_dir / "checkpoint.pt", weights_only=True)
    del state["lang_encoder.gpt_neox.layers.1.gated_cross_attn_layer.attn.to_q.weight"]
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="missing") as info:
        load_model_dir(of_tiny_dir, checkpoint=str(tmp_path / "broken.pt"))
    assert isinstance(info.value, FsevalError) and info.value.hint


def test_wrong_cross_attn_interval_fails(of_tiny_dir: Path) -> None:
    with pytest.raises(CheckpointError, match="unexpected"):
        load_model_dir(of_tiny_dir, cross_attn_every_n_layers=2)


def test_missing_card_and_bad_precision(tmp_path: Path, of_tiny_dir: Path) -> None:
    with pytest.raises(FsevalError, match=r"fseval-model\.json"):
        load_model_dir(tmp_path)
    with pytest.raises(FsevalError, match="precision"):
        load_model_dir(of_tiny_dir, precision="fp8")
