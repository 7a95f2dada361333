"""A run's options: one validated model, as the CLI builds it, ``results.json`` records it and ``--resume`` reads it.

Every choice and cross-field rule is checked when a ``RunConfig`` is built, whichever way it is
built, and all problems are reported at once. The parts of the run get the small settings
objects they need (``demo_settings``, ``rices_settings``), not the whole config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fseval.errors import DataError
from fseval.record import RESULTS_FILE, RunRecord

DEMO_STRATEGIES = ("random", "fixed", "rices", "openflamingo")
# What --demo-ablation does to the drawn demos of every prompt with shots (fseval/run/evaluation.py ablate_demos).
DemoAblation = Literal["none", "no_images", "shuffled_images", "random_answers", "permuted_order"]
DEFAULT_MODEL = "tiny-shapes"  # the bundled model (fseval/assets/tiny-shapes)
# Seeds reach numpy (np.random.seed, OpenFlamingo's draws), which takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class CompatProfile:
    """What ``--compat NAME`` reproduces of another code base's evaluation, resolved once per run.

    Each flag is one place where that code base's numbers differ from fseval's own; the run reads the
    flags, never the name.
    """

    name: str | None = None  # None: fseval's own evaluation
    demos: str | None = None  # the demo strategy it implies, unless --demos is given
    metric_variant: str | None = None  # the metric variant it implies where a task's metric has one
    zero_shot_rank_demo_image: bool = False  # 0-shot rank prompts attend to the first demo's image
    batch_dependent_ranking: bool = False  # rank scores computed on the padded batch, in its batches

    @property
    def model_numerics(self) -> str | None:
        """The code base whose ranking numerics the model must reproduce (``ModelAdapter.compat``), if any."""
        return self.name if self.batch_dependent_ranking else None


COMPAT_PROFILES = {
    None: CompatProfile(),
    # OpenFlamingo's evaluate.py: its demo draws and VQA metric, and its classification path (README,
    # "Classification tasks"; docs/fidelity.md).
    "openflamingo": CompatProfile(
        "openflamingo",
        demos="openflamingo",
        metric_variant="openflamingo",
        zero_shot_rank_demo_image=True,
        batch_dependent_ranking=True,
    ),
}
COMPAT_MODES = tuple(name for name in COMPAT_PROFILES if name is not None)


@dataclass(frozen=True)
class RicesSettings:
    """What RICES needs: the CLIP encoder, where features are cached, and the device that computes them."""

    model: str = "ViT-L-14"
    pretrained: str = "openai"
    cache_dir: Path | None = None
    device: str = "auto"


@dataclass(frozen=True)
class DemoSettings:
    """How a trial chooses and orders each query's demos."""

    strategy: str = "random"
    file: Path | None = None
    rices: RicesSettings = RicesSettings()
    limit: int | None = None
    zero_shot_text_demos: bool = True
    prompt_ensembles: int = 1
    ablation: DemoAblation = "none"


class RunConfig(BaseModel):
    """Every option of a run, and the one holder of their defaults (``fseval run``'s options take theirs from here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: tuple[str, ...] = Field(min_length=1)
    model: str = DEFAULT_MODEL
    model_args: dict[str, Any] = {}
    shots: tuple[int, ...] | None = None
    data_dir: str | None = None
    tasks_dirs: tuple[Path, ...] = ()
    output: Path | None = None
    limit: int | None = Field(default=None, ge=1)
    seed: int = Field(default=42, ge=0, le=MAX_SEED)
    trials: int = Field(default=1, ge=1)
    batch_size: int = Field(default=8, ge=1)
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    metric_variant: str | None = None
    zero_shot_text_demos: bool = True
    prompt_ensembles: int = Field(default=1, ge=1)
    demos: Literal["random", "fixed", "rices", "openflamingo"] = "random"
    demos_file: Path | None = None
    demo_ablation: DemoAblation = "none"
    instruction: str | None = None
    rices_model: str = "ViT-L-14"
    rices_pretrained: str = "openai"
    cache_dir: Path | None = None
    group_by_length: bool = True
    prefetch: bool = True
    compat: Literal["openflamingo"] | None = None

    @field_validator("shots")
    @classmethod
    def _shots(cls, shots: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if shots is None:
            return None
        if not shots or any(k < 0 for k in shots):
            raise ValueError("shot counts must be one or more numbers >= 0, e.g. 0,4,8")
        return tuple(dict.fromkeys(shots))  # each once, in the order given

    @field_validator("device")
    @classmethod
    def _device(cls, device: str) -> str:
        from fseval.devices import check_device_name
        from fseval.errors import FsevalError

        try:
            return check_device_name(device)
        except FsevalError as error:
            raise ValueError(f"{error.message} {error.hint or ''}".strip()) from None

    @field_validator("data_dir", "output", "tasks_dirs", "demos_file", "cache_dir", "model", "model_args")
    @classmethod
    def _utf8(cls, value: Any) -> Any:
        """A path that is not valid UTF-8 cannot be recorded in results.json or shown; said here, not mid-run."""
        texts = value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else [value]
        for text in (str(item) for item in texts if item is not None):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                shown = text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
                raise ValueError(f"{shown} holds bytes that are not UTF-8 (rename it)") from None
        return value

    @model_validator(mode="after")
    def _demos_file(self) -> RunConfig:
        if (self.demos == "fixed") != (self.demos_file is not None):
            raise ValueError("--demos fixed needs --demos-file FILE (and --demos-file needs --demos fixed)")
        if self.seed + self.trials - 1 > MAX_SEED:
            raise ValueError(f"--seed + --trials - 1 must be at most {MAX_SEED} (trial i uses seed + i)")
        return self

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each option's default, by field name (the command line shows and uses these)."""
        return {name: field.default for name, field in cls.model_fields.items() if not field.is_required()}

    @property
    def compat_profile(self) -> CompatProfile:
        return COMPAT_PROFILES[self.compat]

    @property
    def seeds(self) -> list[int]:
        return [self.seed + trial for trial in range(self.trials)]

    @property
    def rices_settings(self) -> RicesSettings:
        return RicesSettings(self.rices_model, self.rices_pretrained, self.cache_dir, self.device)

    @property
    def demo_settings(self) -> DemoSettings:
        return DemoSettings(
            self.demos,
            self.demos_file,
            self.rices_settings,
            self.limit,
            self.zero_shot_text_demos,
            self.prompt_ensembles,
            self.demo_ablation,
        )

    def record(self, output: Path) -> dict[str, object]:
        """JSON-ready, as stored under ``config`` in results.json."""
        values = self.model_dump(mode="json")
        values.update(tasks=list(self.tasks), output=str(output))
        values["cwd"] = str(Path.cwd())  # what relative paths were relative to, for --resume from elsewhere
        return values


# pydantic's wording of a rule, as a person would put it to a command-line user.
_PLAIN = {
    "too_short": "give at least {min_length} value(s)",
    "greater_than_equal": "must be {ge} or more",
    "less_than_equal": "must be at most {le}",
}


def problems(error: ValidationError) -> str:
    """A pydantic validation error as one line per problem, named by option (``--model-arg``, not ``model_args``)."""
    lines = []
    for issue in error.errors():
        parts = [str(part) for part in issue["loc"] if not str(part).isdigit()][:1]
        where = "--" + parts[0].replace("_", "-") if parts else "options"
        where = {"--tasks": "--task", "--model-args": "--model-arg", "--tasks-dirs": "--tasks-dir"}.get(where, where)
        plain = _PLAIN.get(issue["type"])
        message = plain.format(**issue.get("ctx", {})) if plain else issue["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return "; ".join(dict.fromkeys(lines))


def config_from_run(run_dir: Path) -> RunConfig:
    """The configuration a run directory was started with (``fseval run --resume``), checked again."""
    saved = dict(RunRecord.load(run_dir).config)
    saved["output"] = run_dir
    known = set(RunConfig.model_fields)
    try:
        return RunConfig.model_validate({k: v for k, v in saved.items() if k in known})
    except ValidationError as error:
        raise DataError(f"{run_dir / RESULTS_FILE}: the recorded options are not valid ({problems(error)}).") from None


def run_origin(run_dir: Path) -> Path | None:
    """The folder a run was started from: its relative paths (data, tasks, model) are relative to it."""
    cwd = RunRecord.load(run_dir).config.get("cwd")
    return Path(cwd) if cwd and Path(cwd).is_dir() else None
