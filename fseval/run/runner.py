"""The run: tasks -> data -> model -> for each (task, shots, seed) an evaluation -> results.

Everything a run needs is validated and loaded (task files, dataset files) before the model, so
a typo costs seconds, not a model load. Under ``torchrun`` every process runs this loop; only
rank 0 writes the run directory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from fseval.config import RunConfig
from fseval.errors import FsevalError
from fseval.metrics import get_metric
from fseval.models import registry
from fseval.models.base import ModelAdapter
from fseval.models.settings import RunNeeds
from fseval.progress import Advance, Progress, bar, no_progress, phase, reporting_to
from fseval.record import STORE_FILE, RunRecord, stored_samples
from fseval.run import preflight
from fseval.run.distributed import Dist, init_from_env
from fseval.run.evaluation import TrialSettings, evaluate, trial_settings
from fseval.run.prefetch import PipelineOptions
from fseval.run.stopping import raise_if_requested
from fseval.run.store import SampleStore
from fseval.run.writer import ERROR_LOG, RunDirClaim, RunWriter, ShotResult, TrialResult, model_changes
from fseval.tasks.spec import Task, load_tasks
from fseval.tasks.task_data import TaskData, load_task_data


class ModelLoader(Protocol):
    """How a run gets its model: ``check`` before anything loads, ``load`` once the run is set up."""

    def check(self, config: RunConfig, needs: RunNeeds | None = None) -> tuple[str, ...]:
        """Raise ``FsevalError`` for a model or arguments that cannot load, or cannot serve what ``needs`` says
        the run asks (video clips, the most images in one prompt ...); return its ``--compat`` modes."""
        ...

    def load(self, config: RunConfig, device: str) -> ModelAdapter: ...

    def files(self, config: RunConfig) -> dict[str, str]:
        """Fingerprints of the files the model reads (``fseval.models.files``), without loading them."""
        ...


class RegistryLoader:
    """Models named as the CLI names them (presets, families, model directories: ``fseval.models.registry``).

    ``check`` validates the model's arguments into its family's settings (before anything loads) and
    keeps them; ``load`` hands those to the family's loader, with the ranking numerics ``--compat`` asks.
    """

    def __init__(self) -> None:
        self._last: tuple[tuple[str, dict[str, Any]], registry.CheckedModel] | None = None

    def _checked(self, config: RunConfig) -> registry.CheckedModel:
        """The model's arguments validated once per run (``check`` and then ``load`` ask for the same model)."""
        asked = (config.model, config.model_args)
        if self._last is None or self._last[0] != asked:
            self._last = (asked, registry.checked(*asked))
        return self._last[1]

    def check(self, config: RunConfig, needs: RunNeeds | None = None) -> tuple[str, ...]:
        model = self._checked(config)
        problems = registry.file_problems(model.family, model.arguments)
        if problems:
            raise FsevalError(f"The model {config.model}'s files cannot be loaded: " + "; ".join(problems))
        problems = registry.video_problems(model.family, model.arguments) if needs and needs.video else []
        if problems:
            raise FsevalError(f"The model {config.model} cannot run video tasks: " + "; ".join(problems))
        problems = registry.run_problems(model.family, model.arguments, needs) if needs is not None else []
        if problems:
            raise FsevalError(f"The model {config.model} cannot serve this run: " + "; ".join(problems))
        return model.family.compat_modes

    def load(self, config: RunConfig, device: str) -> ModelAdapter:
        model = self._checked(config)
        compat = model_compat(config, model.family.compat_modes)
        return registry.build(model, device, config.precision, compat)

    def files(self, config: RunConfig) -> dict[str, str]:
        model = self._checked(config)
        return registry.model_files(model.family, model.arguments)


@dataclass(frozen=True)
class GivenModel:
    """A model built already (benchmarks and tests), with the ``compat`` the run asks for (``check_compat``)."""

    model: ModelAdapter

    def check(self, config: RunConfig, needs: RunNeeds | None = None) -> tuple[str, ...]:
        return self.model.compat_modes  # a model that cannot take clips refuses them when given one

    def load(self, config: RunConfig, device: str) -> ModelAdapter:
        return self.model

    def files(self, config: RunConfig) -> dict[str, str]:
        return {}


def model_compat(config: RunConfig, compat_modes: tuple[str, ...]) -> str | None:
    """The ranking numerics a model with ``compat_modes`` is built with for this run.

    ``--compat`` names a code base; a model that cannot rank as it did is built without it, and
    preflight (``option_problems``) has refused any rank task for it before anything loaded: its
    generation is the same either way.
    """
    numerics = config.compat_profile.model_numerics
    return numerics if numerics in compat_modes else None


class RunInterrupted(Exception):
    """Ctrl-C during a run: every finished sample is in the store, and ``--resume`` finishes the rest."""

    def __init__(self, output: Path, saved: int) -> None:
        super().__init__(f"interrupted; {saved} samples saved in {output}")
        self.output, self.saved = output, saved


class RunFailed(Exception):
    """An error inside a run (the model, the disk, the accelerator): what finished is saved, as on Ctrl-C.

    ``log`` holds the full traceback (in the run directory, or the temporary folder where that
    cannot be written); ``started`` says whether the run directory holds this run to resume.
    """

    def __init__(self, output: Path, saved: int, error: BaseException, log: Path | None, started: bool) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.output, self.saved, self.error, self.log, self.started = output, saved, error, log, started


def default_output(config: RunConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = Path(config.model).name.replace(" ", "_") or "model"
    return Path("runs") / f"{stamp}-{model}-{'+'.join(config.tasks)}"


def run(
    config: RunConfig,
    progress: Progress,
    models: ModelLoader | None = None,
    dist: Dist | None = None,
    resume: bool = False,
    pipeline: PipelineOptions | None = None,
) -> Path:
    """Evaluate every (task, shots, seed); return the run directory (``resume``: one that holds this run)."""
    dist = dist or init_from_env()
    models = models or RegistryLoader()
    with reporting_to(progress if dist.is_main else no_progress):
        tasks = [task.with_instruction(config.instruction) for task in load_tasks(config.tasks, config.tasks_dirs)]
        config = with_compat_defaults(config, tasks)
        output: Path = dist.broadcast(config.output or default_output(config))
        data, files = check_before_loading(config, tasks, models, output, resume, dist)
        return run_checked(config, tasks, data, files, models, output, dist, resume, pipeline)


def run_checked(
    config: RunConfig,
    tasks: list[Task],
    data: dict[str, TaskData],
    files: dict[str, str],
    models: ModelLoader,
    output: Path,
    dist: Dist,
    resume: bool,
    pipeline: PipelineOptions | None,
) -> Path:
    """The run once every check has passed: its directory held, the model loaded, every task evaluated."""
    claim = writer = store = None
    failing = True
    try:
        # Rank 0 holds the run directory (before the model load, which can take minutes); every rank stops with it.
        claim = on_main(dist, lambda: RunDirClaim(output, resume))
        with phase(f"Loading the model {config.model}"):
            model = models.load(config, dist.device(config.device))
        raise_if_requested()  # a Ctrl-C that the loading libraries swallowed
        check_compat(model, config)
        if resume:
            on_main(dist, lambda: check_same_model(output, model))
        if dist.is_main:
            writer = RunWriter(output, {**model.describe(), "files": files}, config.record(output), dist.world_size)
            writer.usage = model.usage
            writer.save()  # the config is on disk before any work, so even a run killed at once can resume
            store = SampleStore(output / STORE_FILE)
        # The run's switches over whatever else the caller set (a benchmark's stopwatch, worker counts).
        options = replace(
            pipeline or PipelineOptions(), group_by_length=config.group_by_length, prefetch=config.prefetch
        )
        for task in tasks:
            settings = trial_settings(config, task, options)
            run_task(task, data[task.name], model, config, settings, writer, store, dist)
        failing = False
    except KeyboardInterrupt:
        raise RunInterrupted(output, saved_samples(store)) from None
    except FsevalError:
        raise
    except Exception as error:
        started = writer is not None
        raise RunFailed(output, saved_samples(store), error, write_error_log(output, started), started) from error
    finally:
        close_quietly([store, writer, claim], failing)
        dist.close()
    return output


def saved_samples(store: SampleStore | None) -> int:
    """The samples a stopped run has stored (0 where the store itself cannot be read)."""
    if store is None:
        return 0
    try:
        return store.count()
    except sqlite3.Error:
        return 0


def write_error_log(output: Path, started: bool) -> Path | None:
    """The traceback being handled, in the run directory's ``error.log`` (else in the temporary folder)."""
    text = traceback.format_exc()
    folders = [output] if started else []
    for folder in [*folders, Path(tempfile.gettempdir())]:
        path = folder / (ERROR_LOG if folder == output else f"fseval-error-{os.getpid()}.log")
        try:
            path.write_text(text, encoding="utf-8", errors="backslashreplace")
            return path
        except OSError:  # a full disk: no empty log left behind, try the next place
            with contextlib.suppress(OSError):
                path.unlink()
    return None


def close_quietly(resources: list[Any], failing: bool) -> None:
    """Close each of ``resources`` (a ``release`` or ``close``); while a failure propagates, their own errors
    (a full disk again) are dropped, so the message is about the first one."""
    for resource in resources:
        if resource is None:
            continue
        try:
            (resource.release if isinstance(resource, RunDirClaim) else resource.close)()
        except (OSError, sqlite3.Error):
            if not failing:
                raise


def check_before_loading(
    config: RunConfig, tasks: list[Task], models: ModelLoader, output: Path, resume: bool, dist: Dist
) -> tuple[dict[str, TaskData], dict[str, str]]:
    """The tasks' data and the model's file fingerprints, once every check that needs no weights has passed.

    All problems are reported at once (``preflight``). Rank 0 checks the output folder (the others
    would see its claim) and the model's files against a resumed run's; its verdict stops every rank.
    """
    data: dict[str, TaskData] = {}
    problems = []
    for task in tasks:
        with phase(f"Reading {task.name}'s data"):
            try:
                # --limit pays only for the samples it evaluates; --demos openflamingo draws its subset from all
                limit = None if config.demos == "openflamingo" else config.limit
                data[task.name] = load_task_data(task, config.data_dir, limit)
            except FsevalError as error:
                problems.append(str(error))
    compat_modes: tuple[str, ...] = ()
    files: dict[str, str] = {}
    with phase("Checking the model's files"):
        try:
            needs = run_needs(config, tasks, data)
            compat_modes = models.check(config, needs)
            files = models.files(config) if dist.is_main else {}
        except FsevalError as error:
            problems.append(str(error))
    problems += preflight.option_problems(config, tasks, compat_modes)
    problems += preflight.demo_problems(config, tasks, data)
    problems += preflight.scorer_problems(config, tasks)
    problems += preflight.output_problems(output, resume, files) if dist.is_main else []
    problems += preflight.network_problems(config)
    preflight.raise_problems(dist.broadcast(problems))
    return data, files


def run_needs(config: RunConfig, tasks: list[Task], data: dict[str, TaskData]) -> RunNeeds:
    """What the run will ask of its model: its largest prompt's media items (the most shots, each demo and the
    query with as many as the task's samples have at most), whether it ranks, whether it takes clips."""

    def most(samples: list[Any]) -> int:
        return max((len(sample.media) for sample in samples), default=0)

    def largest(task: Task) -> int:
        shots = max(config.shots or task.spec.shots or (0,))
        source, evaluated = data[task.name].demo_source, data[task.name].eval
        if source is None:
            return shots * most(data[task.name].demo_pool) + most(evaluated)
        try:
            sets = source.demos(config.seed, shots)
        except FsevalError:  # demo_problems reports it
            return most(evaluated)
        return max((len(q.media) + sum(len(d.media) for d in sets[str(q.id)]) for q in evaluated), default=0)

    images = [largest(task) for task in tasks if task.name in data]
    ranks = any(task.spec.mode == "rank" for task in tasks)
    return RunNeeds(max(images, default=0), ranks, any(task.video for task in tasks))


def with_compat_defaults(config: RunConfig, tasks: list[Task]) -> RunConfig:
    """The metric variant ``--compat`` implies (``openflamingo``), where a task's metric has it.

    (The CLI also makes it draw demos as the profile says unless ``--demos`` is given.) The run
    records the resolved variant, so a resume needs no second look.
    """
    implied = config.compat_profile.metric_variant
    if implied is None or config.metric_variant is not None:
        return config
    offered = {variant for task in tasks for variant in get_metric(task.spec.metric).variants}
    return config.model_copy(update={"metric_variant": implied}) if implied in offered else config


def check_compat(model: ModelAdapter, config: RunConfig) -> None:
    """The loaded model ranks with the numerics ``--compat`` asks for (loaders build it so; a given model must be)."""
    wanted = model_compat(config, model.compat_modes)
    if model.compat != wanted:
        raise FsevalError(
            f"The {model.name} model was built with compat={model.compat!r}; this run needs compat={wanted!r}.",
            hint="Build the adapter with the compat the run's --compat names.",
        )


T = TypeVar("T")


def on_main(dist: Dist, step: Callable[[], T]) -> T | None:
    """``step`` on rank 0; a user error there stops every rank with it, rather than leaving them waiting."""
    result, refusal = None, None
    if dist.is_main:
        try:
            result = step()
        except FsevalError as error:
            refusal = (error.message, error.hint)
    refusal = dist.broadcast(refusal)
    if refusal is not None:
        raise FsevalError(*refusal)
    return result


def check_same_model(output: Path, model: ModelAdapter) -> None:
    """A resumed run's stored samples came from the model resuming it (its files may have moved)."""
    if stored_samples(output) == 0:
        return
    saved = RunRecord.load(output).model
    changes = model_changes(saved, model.describe())
    if changes:
        raise FsevalError(
            f"{output} was made by another model than the one resuming it ({'; '.join(changes)}).",
            hint="Resume with the run's own model (only where its files live may change), "
            "or start a new run with another --output.",
        )


def run_task(
    task: Task,
    task_data: TaskData,
    model: ModelAdapter,
    config: RunConfig,
    settings: TrialSettings,
    writer: RunWriter | None,
    store: SampleStore | None,
    dist: Dist,
) -> None:
    """Every shot count and trial of one task; rank 0 records them as each shot count finishes."""
    if writer is not None:
        info: dict[str, Any] = {"version": task.spec.version, "mode": task.spec.mode, "spec": str(task.path)}
        info["prompt"] = task.prompt.model_dump()
        info["shots"] = list(config.shots or task.spec.shots)  # what the run sets out to do (reports: incomplete?)
        writer.add_task(task.name, {**info, "files": task_data.files})
    total = len(task_data.eval) if config.limit is None else min(config.limit, len(task_data.eval))
    for shots in config.shots or tuple(task.spec.shots):
        trials: list[TrialResult] = []
        for trial, seed in enumerate(config.seeds):
            advance = stoppable(bar(f"{task.name} {shots}-shot seed {seed}", total))
            outcome = evaluate(task, task_data, model, shots, seed, trial, settings, advance, store, dist)
            if outcome is not None and writer is not None:
                records, result = outcome
                writer.add_samples(records)
                trials.append(result)
        if writer is not None:
            writer.add_result(task.name, ShotResult(shots, task.spec.metric, settings.metric_variant, trials))


def stoppable(advance: Advance) -> Advance:
    """``advance`` that also stops the run after a batch if a Ctrl-C was swallowed during it."""

    def step(n: int) -> None:
        advance(n)
        raise_if_requested()

    return step
