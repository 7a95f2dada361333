"""A family's settings: validated once, before any weights load, and handed whole to its loader and adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import torch
from pydantic import ValidationError

from fseval.config import RunConfig
from fseval.errors import FsevalError
from fseval.models import registry
from fseval.models.idefics.settings import IdeficsSettings
from fseval.models.settings import PRECISIONS, switched, torch_dtype
from fseval.run.runner import RegistryLoader


def test_one_precision_table() -> None:
    assert tuple(PRECISIONS) == get_args(RunConfig.model_fields["precision"].annotation)  # what --precision offers
    assert [torch_dtype(name) for name in PRECISIONS] == [torch.float32, torch.bfloat16, torch.float16]
    with pytest.raises(FsevalError, match="Unknown precision 'int4'") as error:
        torch_dtype("int4")
    assert error.value.hint == "Use one of fp32, bf16, fp16."


def counting_validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    validate = registry.validate_settings

    def counted(settings: Any, family: str, arguments: dict[str, Any]) -> Any:
        calls.append(family)
        return validate(settings, family, arguments)

    monkeypatch.setattr(registry, "validate_settings", counted)
    return calls


def test_a_run_validates_the_arguments_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_validations(monkeypatch)
    config = RunConfig(tasks=("shapes_vqa",), model="mock", model_args={"mode": "constant", "text": "red"})
    loader = RegistryLoader()
    assert loader.check(config) == ("openflamingo",)
    loader.files(config)
    model = loader.load(config, "cpu")
    assert calls == ["mock"] and model.describe()["text"] == "red"  # type: ignore[attr-defined]


def test_the_loader_gets_the_validated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[Any] = []
    monkeypatch.setattr("fseval.models.mock.build", lambda settings, **options: received.append((settings, options)))
    registry.load_model("mock", {"mode": "copy-demo", "crash_after": "3"})
    ((settings, options),) = received
    assert (settings.mode, settings.crash_after, options) == ("copy-demo", 3, {})
    registry.load_model("mock", {}, compat="openflamingo")
    assert received[-1][1] == {"compat": "openflamingo"}


def test_compat_is_given_when_the_model_is_built() -> None:
    assert registry.load_model("mock", {}, compat="openflamingo").compat == "openflamingo"
    assert registry.load_model("mock", {}).compat is None
    idefics = registry.CheckedModel(registry.FAMILIES["idefics"], {}, IdeficsSettings(path="nowhere"))
    with pytest.raises(FsevalError, match="cannot rank as --compat openflamingo"):
        registry.build(idefics, compat="openflamingo")  # refused before anything is loaded


def test_openflamingo_adapters_are_built_with_compat(of_tiny_dir: Path) -> None:
    from fseval.models.openflamingo import load_model_dir

    assert load_model_dir(of_tiny_dir, compat="openflamingo").compat == "openflamingo"


def test_switched_validates_and_restores(of_tiny: Any) -> None:
    before = of_tiny.settings
    with switched(of_tiny, cuda_graphs=True, stop_lag="2"):
        assert of_tiny.settings.cuda_graphs and of_tiny.settings.stop_lag == 2
    assert of_tiny.settings is before
    with pytest.raises(ValidationError, match="cuda_graph"), switched(of_tiny, cuda_graph=True):
        pass
    assert of_tiny.settings is before
