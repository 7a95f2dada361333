"""Presets name the released OpenFlamingo models; missing weights give one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fseval.errors import FsevalError, UnknownNameError
from fseval.models.openflamingo import PRESETS, resolve_preset


def test_released_arguments() -> None:
    table = {name: (p.lm, p.cross_attn_every_n_layers, p.checkpoint_repo) for name, p in PRESETS.items()}
    assert table == {
        "openflamingo-3b": (
            "anas-awadalla/mpt-1b-redpajama-200b",
            1,
            "openflamingo/OpenFlamingo-3B-vitl-mpt1b",
        ),
        "openflamingo-3b-instruct": (
            "anas-awadalla/mpt-1b-redpajama-200b-dolly",
            1,
            "openflamingo/OpenFlamingo-3B-vitl-mpt1b-langinstruct",
        ),
        "openflamingo-4b": (
            "togethercomputer/RedPajama-INCITE-Base-3B-v1",
            2,
            "openflamingo/OpenFlamingo-4B-vitl-rpj3b",
        ),
        "openflamingo-4b-instruct": (
            "togethercomputer/RedPajama-INCITE-Instruct-3B-v1",
            2,
            "openflamingo/OpenFlamingo-4B-vitl-rpj3b-langinstruct",
        ),
        "openflamingo-9b": ("anas-awadalla/mpt-7b", 4, "openflamingo/OpenFlamingo-9B-vitl-mpt7b"),
    }
    assert all(p.vision_encoder == "ViT-L-14" and p.vision_pretrained == "openai" for p in PRESETS.values())


def test_missing_weights_are_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FsevalError) as info:
        resolve_preset("openflamingo-9b")
    assert "openflamingo/OpenFlamingo-9B-vitl-mpt7b checkpoint.pt" in str(info.value)
    assert "anas-awadalla/mpt-7b" in str(info.value)


def test_local_overrides(of_tiny_dir: Path) -> None:
    arguments = resolve_preset(
        "openflamingo-4b",
        checkpoint=str(of_tiny_dir / "checkpoint.pt"),
        lm=str(of_tiny_dir / "lm"),
        vision_pretrained=str(of_tiny_dir / "vision"),
    )
    assert arguments["cross_attn_every_n_layers"] == 2 and arguments["tokenizer"] == str(of_tiny_dir / "lm")


def test_unknown_preset() -> None:
    with pytest.raises(UnknownNameError, match="openflamingo-9b"):
        resolve_preset("openflamingo-9")


def test_a_presets_settings_find_its_files_and_keep_what_is_given(of_tiny_dir: Path) -> None:
    from fseval.models import registry
    from fseval.models.openflamingo.presets import locate

    given = {"checkpoint": str(of_tiny_dir / "checkpoint.pt"), "lm": str(of_tiny_dir / "lm"), "stop_lag": "1"}
    checked = registry.checked("openflamingo-4b", {**given, "vision_pretrained": str(of_tiny_dir / "vision")})
    assert checked.preset == "openflamingo-4b" and checked.settings.tokenizer is None  # type: ignore[attr-defined]
    located = locate("openflamingo-4b", checked.settings)  # type: ignore[arg-type]
    assert (located.lm, located.tokenizer, located.checkpoint) == (given["lm"], given["lm"], given["checkpoint"])
    assert located.cross_attn_every_n_layers == 2 and located.stop_lag == 1


def test_a_presets_missing_files_are_listed_when_it_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    from fseval.models.openflamingo import load

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FsevalError, match="not on this machine") as info:
        load(preset="openflamingo-9b")
    assert "hf download openflamingo/OpenFlamingo-9B-vitl-mpt7b checkpoint.pt" in (info.value.hint or "")
    with pytest.raises(UnknownNameError, match="openflamingo-9b"):
        load(preset="openflamingo-9")
