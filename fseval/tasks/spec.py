"""Task specs: ``tasks/<name>.yaml`` validated into ``TaskSpec``, prompts from ``prompts/<name>.yaml``.

Built-in tasks ship with fseval; directories in ``--tasks-dir`` and ``$FSEVAL_TASKS_DIR`` (and
``$FSEVAL_PROMPTS_DIR`` for prompts) come first, so users can add tasks or override built-ins.
"""

from __future__ import annotations

import os
import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fseval.data.layouts import Layout
from fseval.errors import FsevalError, SpecError, UnknownNameError
from fseval.resources import builtin_dir

TASKS_ENV = "FSEVAL_TASKS_DIR"
PROMPTS_ENV = "FSEVAL_PROMPTS_DIR"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptTemplate(_Strict):
    """How one demo and the query are written; ``{field}`` reads the sample's fields."""

    description: str = ""
    demo: str
    query: str
    separator: str = Field(default="\n", description="appended after each demo")
    instructions: dict[str, str] = Field(
        default_factory=dict,
        description="task instructions by level (fseval run --instruction LEVEL); the first is the default",
    )
    preamble: str = Field(
        default="", description="written once before the demos; {instruction} is the chosen instruction's text"
    )

    @model_validator(mode="after")
    def _instruction_used(self) -> PromptTemplate:
        if self.instructions and "{instruction}" not in self.preamble:
            raise ValueError("a prompt with instructions writes them with {instruction} in its preamble")
        return self

    @field_validator("demo", "query")
    @classmethod
    def _parses(cls, template: str) -> str:
        try:
            list(string.Formatter().parse(template))
        except ValueError as e:
            raise ValueError(f"not a valid template ({e}); write a literal brace as {{{{ or }}}}") from e
        return template


class GenerationSpec(_Strict):
    max_new_tokens: int = Field(default=5, gt=0)
    num_beams: int = Field(default=3, gt=0)
    length_penalty: float = 0.0
    min_new_tokens: int = Field(default=0, ge=0)


class RankSpec(_Strict):
    """Candidates scored by likelihood: a fixed list, a class-names file, or a per-sample field."""

    candidates: list[str] | None = None
    candidates_file: str | None = Field(default=None, description="one candidate per line (fseval/assets/...)")
    candidates_field: str | None = Field(default=None, description="sample field holding its own candidates")
    normalize: Literal["mean", "sum"] = Field(default="mean", description="mean or summed token log-likelihood")

    def fixed(self) -> list[str] | None:
        """The candidates shared by every sample (None when each sample has its own)."""
        if self.candidates is not None:
            return list(self.candidates)
        if self.candidates_file is not None:
            from fseval.data.classification import class_names

            return class_names(self.candidates_file)
        return None

    @model_validator(mode="after")
    def _one_source(self) -> RankSpec:
        given = [self.candidates, self.candidates_file, self.candidates_field]
        if sum(x is not None for x in given) != 1:
            raise ValueError("give exactly one of candidates, candidates_file, candidates_field")
        return self


class DataSpec(_Strict):
    source: str = Field(description="where users obtain the files")
    eval: list[Layout] = Field(min_length=1)
    demo: list[Layout] = Field(default_factory=list)
    default_dir: str | None = Field(default=None, description="data folder without --data-dir, relative to fseval/")


class TaskSpec(_Strict):
    name: str
    description: str
    version: int = 1
    mode: Literal["generate", "rank"] = "generate"
    prompt: str | PromptTemplate
    metric: str
    metric_variant: str | None = None
    postprocess: str = "none"
    generation: GenerationSpec = GenerationSpec()
    rank: RankSpec | None = Field(default=None, description="candidates and scoring of a rank-mode task")
    shots: list[int] = Field(default_factory=lambda: [0, 4, 8, 16, 32])
    zero_shot_text_demos: int = Field(default=2, ge=0, description="text-only demos at 0 shots (Flamingo convention)")
    breakdown: list[str] = Field(
        default_factory=list, description="sample fields to score groups by (e.g. answer_type, question_type)"
    )
    scored: bool = Field(
        default=True,
        description="false for a split whose labels are withheld (a test server's): predictions are stored, not "
        "scored, and fseval export writes the server's submission file",
    )
    data: DataSpec

    @field_validator("shots")
    @classmethod
    def _non_negative(cls, shots: list[int]) -> list[int]:
        if not shots or any(s < 0 for s in shots):
            raise ValueError("shots must be a non-empty list of counts >= 0")
        return shots

    @model_validator(mode="after")
    def _rank_matches_mode(self) -> TaskSpec:
        if (self.mode == "rank") != (self.rank is not None):
            raise ValueError("a task has a 'rank' section exactly when its mode is rank")
        return self

    @model_validator(mode="after")
    def _names_exist(self) -> TaskSpec:
        from fseval.metrics import get_metric
        from fseval.tasks.postprocess import get_postprocessor

        metric = get_metric(self.metric)
        metric.check_variant(self.metric_variant)
        if metric.mode != self.mode:
            scores = "ranked candidates" if metric.mode == "rank" else "generated text"
            raise ValueError(f"metric {self.metric!r} scores {scores}: it needs mode: {metric.mode}, not {self.mode}")
        get_postprocessor(self.postprocess)
        return self


@dataclass(frozen=True)
class Task:
    spec: TaskSpec
    path: Path
    prompt: PromptTemplate
    instruction: str | None = None  # the level of prompt.instructions a run chose (None: the first)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def preamble(self) -> str:
        """What prompts start with: the prompt's preamble with the chosen instruction's text."""
        levels = self.prompt.instructions
        if not levels:
            return self.prompt.preamble
        return self.prompt.preamble.replace("{instruction}", levels[self.instruction or next(iter(levels))])

    def with_instruction(self, level: str | None) -> Task:
        """This task with instruction ``level`` (``--instruction``), which its prompt must define."""
        if level is None:
            return self
        if level not in self.prompt.instructions:
            defined = ", ".join(self.prompt.instructions)
            raise SpecError(
                f"--instruction {level}: task {self.name!r} has "
                + (f"the instruction levels {defined}." if defined else "no instruction levels."),
                hint="Leave --instruction out for tasks without levels (their prompt file declares `instructions`).",
            )
        return replace(self, instruction=level)

    @property
    def video(self) -> bool:
        """Whether its prompts hold video clips."""
        return any(layout.video for layout in [*self.spec.data.eval, *self.spec.data.demo])


def search_dirs(env: str, builtin: str, extra: Sequence[Path] = ()) -> list[Path]:
    from_env = [Path(p) for p in os.environ.get(env, "").split(os.pathsep) if p]
    return [*extra, *from_env, builtin_dir(builtin)]


def discover(env: str, builtin: str, extra: Sequence[Path] = ()) -> dict[str, Path]:
    """name -> file; earlier directories win."""
    found: dict[str, Path] = {}
    for directory in search_dirs(env, builtin, extra):
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SpecError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path} should hold a mapping of fields, found {type(data).__name__}.")
    return data


def _validation_message(path: Path, error: ValidationError) -> str:
    lines = [f"{path} is invalid:"]
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  field {field!r}: {item['msg']}")
    return "\n".join(lines)


def _parse(model: type[BaseModel], path: Path) -> Any:
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as e:
        raise SpecError(_validation_message(path, e)) from None
    except FsevalError as e:  # unreadable YAML, or an unknown metric or post-processor named in the file
        message = e.message if e.message.startswith(str(path)) else f"{path}: {e.message}"
        raise SpecError(message, e.hint) from None


def load_prompt(name: str, prompts_dirs: Sequence[Path] = ()) -> PromptTemplate:
    known = discover(PROMPTS_ENV, "prompts", prompts_dirs)
    if name not in known:
        raise UnknownNameError("prompt", name, known)
    prompt: PromptTemplate = _parse(PromptTemplate, known[name])
    return prompt


def load_task_file(path: Path, prompts_dirs: Sequence[Path] = ()) -> Task:
    spec: TaskSpec = _parse(TaskSpec, path)
    if spec.name != path.stem:
        raise SpecError(f"{path}: field 'name' is {spec.name!r} but must equal the file name {path.stem!r}.")
    try:
        prompt = spec.prompt if isinstance(spec.prompt, PromptTemplate) else load_prompt(spec.prompt, prompts_dirs)
    except FsevalError as e:
        raise SpecError(f"{path}: field 'prompt': {e.message}", e.hint) from None
    return Task(spec, path, prompt)


def check_tasks_dirs(tasks_dirs: Sequence[Path]) -> None:
    """A ``--tasks-dir`` given must exist (a typo would otherwise hide its tasks without a word)."""
    missing = [str(directory) for directory in tasks_dirs if not directory.is_dir()]
    if missing:
        raise SpecError(f"--tasks-dir {', '.join(missing)}: no such folder.", hint="Give a folder of task YAML files.")
    for env in (TASKS_ENV, PROMPTS_ENV):
        unset = [p for p in os.environ.get(env, "").split(os.pathsep) if p and not Path(p).is_dir()]
        if unset:
            raise SpecError(f"${env} names {', '.join(unset)}: no such folder.", hint=f"Fix or unset {env}.")


def load_tasks(names: Sequence[str], tasks_dirs: Sequence[Path] = ()) -> list[Task]:
    """Load and validate the named tasks, reporting every problem at once."""
    check_tasks_dirs(tasks_dirs)
    known = discover(TASKS_ENV, "tasks", tasks_dirs)
    prompts_dirs = [d / "prompts" for d in tasks_dirs]
    tasks, problems = [], []
    for name in names:
        try:
            if name not in known:
                raise UnknownNameError("task", name, known, listing="fseval tasks")
            tasks.append(load_task_file(known[name], prompts_dirs))
        except FsevalError as e:
            problems.append(e)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise SpecError("\n".join(str(p) for p in problems))
    return tasks


def all_tasks(tasks_dirs: Sequence[Path] = ()) -> list[Task]:
    return load_tasks(sorted(discover(TASKS_ENV, "tasks", tasks_dirs)), tasks_dirs)


def tasks_and_problems(tasks_dirs: Sequence[Path] = ()) -> tuple[list[Task], list[FsevalError]]:
    """Every task that loads, and what is wrong with the others (``fseval tasks`` lists both)."""
    check_tasks_dirs(tasks_dirs)
    tasks, problems = [], []
    for name in sorted(discover(TASKS_ENV, "tasks", tasks_dirs)):
        try:
            tasks += load_tasks([name], tasks_dirs)
        except FsevalError as e:
            problems.append(e)
    return tasks, problems
