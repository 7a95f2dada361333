"""A run's options, validated and typed, as the CLI builds them and ``results.json`` records them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from fseval.errors import DataError


@dataclass(frozen=True)
class RunConfig:
    tasks: tuple[str, ...]
    model: str
    model_args: dict[str, str] = field(default_factory=dict)
    shots: tuple[int, ...] | None = None
    data_dir: str | None = None
    tasks_dirs: tuple[Path, ...] = ()
    output: Path | None = None
    limit: int | None = None
    seed: int = 42
    trials: int = 1
    batch_size: int = 8
    device: str = "cpu"
    precision: str = "fp32"
    metric_variant: str | None = None
    zero_shot_text_demos: bool = True
    prompt_ensembles: int = 1
    demos: str = "random"
    demos_file: Path | None = None
    rices_model: str = "ViT-L-14"
    rices_pretrained: str = "openai"
    cache_dir: Path | None = None
    group_by_length: bool = True
    prefetch: bool = True
    compat: str | None = None

    @property
    def seeds(self) -> list[int]:
        return [self.seed + trial for trial in range(self.trials)]

    def record(self, output: Path) -> dict[str, object]:
        """JSON-ready, as stored under ``config`` in results.json."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(tasks=list(self.tasks), tasks_dirs=[str(p) for p in self.tasks_dirs], output=str(output))
        values["cwd"] = str(Path.cwd())  # what relative paths were relative to, for --resume from elsewhere
        for name in ("demos_file", "cache_dir"):
            values[name] = str(values[name]) if values[name] is not None else None
        return values


def config_from_run(run_dir: Path) -> RunConfig:
    """The configuration a run directory was started with (``fseval run --resume``)."""
    path = run_dir / "results.json"
    if not path.is_file():
        raise DataError(f"{run_dir} is not a run directory: it has no results.json.")
    saved = json.loads(path.read_text(encoding="utf-8"))["config"]
    saved["tasks"] = tuple(saved["tasks"])
    saved["shots"] = tuple(saved["shots"]) if saved.get("shots") is not None else None
    saved["tasks_dirs"] = tuple(Path(p) for p in saved.get("tasks_dirs", ()))
    for name in ("demos_file", "cache_dir"):
        if saved.get(name) is not None:
            saved[name] = Path(saved[name])
    saved["output"] = run_dir
    known = {f.name for f in fields(RunConfig)}
    return RunConfig(**{k: v for k, v in saved.items() if k in known})


def run_origin(run_dir: Path) -> Path | None:
    """The folder a run was started from: its relative paths (data, tasks, model) are relative to it."""
    cwd = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))["config"].get("cwd")
    return Path(cwd) if cwd and Path(cwd).is_dir() else None
