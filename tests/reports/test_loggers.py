"""--log-to tensorboard|wandb, against stand-ins for the two packages (neither is a dependency)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from fseval.cli import app
from fseval.record import RunRecord
from fseval.reports import loggers

runner = CliRunner()


class FakeWriter:
    calls: ClassVar[list[tuple[str, Any]]] = []

    def __init__(self, log_dir: str) -> None:
        FakeWriter.calls.append(("dir", log_dir))

    def add_scalar(self, tag: str, value: float, global_step: int) -> None:
        FakeWriter.calls.append(("scalar", (tag, value, global_step)))

    def add_text(self, tag: str, text: str) -> None:
        FakeWriter.calls.append(("text", tag))

    def close(self) -> None:
        FakeWriter.calls.append(("close", None))


class FakeRun:
    def __init__(self, **kwargs: Any) -> None:
        self.init, self.logged, self.finished, self.name = kwargs, [], False, kwargs["name"]

    def log(self, values: dict[str, Any], step: int | None = None) -> None:
        self.logged.append((values, step))

    def finish(self) -> None:
        self.finished = True


@pytest.fixture
def fake_trackers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    FakeWriter.calls = []
    tensorboard = types.ModuleType("torch.utils.tensorboard")
    tensorboard.SummaryWriter = FakeWriter  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", tensorboard)
    runs: list[FakeRun] = []
    wandb = types.ModuleType("wandb")
    wandb.init = lambda **kwargs: runs.append(FakeRun(**kwargs)) or runs[-1]  # type: ignore[attr-defined]
    wandb.Table = lambda columns, data: {"columns": columns, "data": data}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: object())
    return {"runs": runs}


def test_run_logs_its_scores_and_breakdowns(fake_trackers: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--model", "mock", "--task", "shapes_vqa", "--limit", "8", "-o", str(out)]
    result = runner.invoke(app, [*args, "--log-to", "tensorboard,wandb"])
    assert result.exit_code == 0, result.output
    assert f"Logged to TensorBoard: {out / 'tensorboard'}" in result.output and "Logged to W&B" in result.output

    record = RunRecord.load(out)
    expected = {("shapes_vqa/vqa_accuracy", row.mean, row.shots) for _, row in record.rows()}
    scalars = {value for kind, value in FakeWriter.calls if kind == "scalar"}
    assert expected <= scalars
    assert (
        "shapes_vqa/question_type/what color",
        record.rows()[0][1].breakdown["question_type"]["what color"].mean,
        0,
    ) in scalars
    assert FakeWriter.calls[-1] == ("close", None)

    (run,) = fake_trackers["runs"]
    assert run.finished and run.init["config"]["model"] == "mock" and run.init["dir"] == str(out)
    steps = {step: values for values, step in run.logged if step is not None}
    assert steps[4]["shapes_vqa/vqa_accuracy"] == record.row("shapes_vqa", 4).mean  # type: ignore[union-attr]
    tables = next(values for values, step in run.logged if step is None)
    assert len(tables["samples"]["data"]) == len((out / "samples.jsonl").read_text().splitlines())
    assert (
        json.loads(tables["samples"]["data"][0][6])
        == json.loads((out / "samples.jsonl").read_text().splitlines()[0])["targets"]
    )


def test_a_missing_tracker_is_refused_before_the_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(loggers.importlib.util, "find_spec", lambda name: None)
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "--model", "mock", "--task", "shapes_vqa", "-o", str(out), "--log-to", "wandb"])
    assert result.exit_code == 1 and "pip install wandb" in result.output and not out.exists()
    unknown = runner.invoke(app, ["run", "--model", "mock", "--task", "shapes_vqa", "--log-to", "mlflow"])
    assert unknown.exit_code == 1 and "choose from tensorboard, wandb" in unknown.output


def test_nan_scores_are_not_logged() -> None:
    record = RunRecord.model_validate(
        {
            "results": {
                "t": [
                    {
                        "shots": 0,
                        "trials": [],
                        "mean": float("nan"),
                        "stddev": float("nan"),
                        "ci95": [float("nan")] * 2,
                        "metric": "m",
                    }
                ]
            }
        }
    )
    assert list(loggers.scalars(record)) == []
