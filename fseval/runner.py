"""The evaluation loop: tasks -> data -> demos -> prompts -> model -> post-processing -> metric -> results.

Everything a run needs is validated and loaded (task files, dataset files) before the model, so
a typo costs seconds, not a model load.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fseval.data.base import Sample
from fseval.data.hf import HF_PREFIX, resolve_hub_dataset
from fseval.data.layouts import LoadedSplit, load_split
from fseval.demos import random_demos
from fseval.errors import DataError
from fseval.media import MediaError, load_media
from fseval.metrics import get_metric
from fseval.models.base import GenerationSettings, ModelAdapter, Prompt
from fseval.postprocess import get_postprocessor
from fseval.prompts import render
from fseval.resources import PACKAGE_DIR
from fseval.results import RunWriter, SampleRecord, ShotResult
from fseval.tasks import Task, load_tasks

Progress = Callable[[str, int], Callable[[int], None]]
"""Given a description and a total, returns a callback advancing the bar by n."""


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

    @property
    def seeds(self) -> list[int]:
        return [self.seed + trial for trial in range(self.trials)]


@dataclass(frozen=True)
class TaskData:
    eval: list[Sample]
    demo_pool: list[Sample]
    demo_is_eval: bool
    files: dict[str, list[str]]


def data_roots(task: Task, data_dir: str | None) -> list[Path]:
    """Folders to search: ``D/<task>`` then ``D``; a task's bundled data when no --data-dir is given."""
    if data_dir is None:
        if task.spec.data.default_dir is None:
            raise DataError(
                f"Task {task.name!r} needs --data-dir.", hint=f"Where to get the files: fseval tasks show {task.name}"
            )
        return [PACKAGE_DIR / task.spec.data.default_dir]
    root = resolve_hub_dataset(data_dir[len(HF_PREFIX) :]) if data_dir.startswith(HF_PREFIX) else Path(data_dir)
    if not root.is_dir():
        raise DataError(f"--data-dir {data_dir}: no such folder.")
    return [root / task.name, root]


def load_task_data(task: Task, data_dir: str | None, limit: int | None, for_scoring: bool = False) -> TaskData:
    """The evaluation split (its first ``limit`` samples) and the demo pool; scoring needs neither demos nor images."""
    roots = data_roots(task, data_dir)
    data = task.spec.data
    evaluation = load_split(task.name, "evaluation", data.eval, roots, data.source)
    if data.demo and not for_scoring:
        demo: LoadedSplit = load_split(task.name, "demo", data.demo, roots, data.source)
    else:
        demo = evaluation
    samples = evaluation.samples[:limit] if limit is not None else evaluation.samples
    if not for_scoring:
        for split in {id(evaluation): evaluation, id(demo): demo}.values():
            broken = next((m.error for s in split.samples for m in s.media if m.error), None)
            if broken:
                raise DataError(broken, hint=f"See the expected layout: fseval tasks show {task.name}")
            first = next((m.path for s in split.samples for m in s.media if m.path is not None), None)
            if first is not None and not first.parent.is_dir():
                raise DataError(
                    f"Task {task.name!r}: image folder {first.parent} does not exist.",
                    hint=f"Expected images at {split.layout.images}; see fseval tasks show {task.name}.",
                )
    files = {"eval": evaluation.files, "demo": demo.files}
    return TaskData(samples, demo.samples, demo is evaluation, files)


def batched(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@dataclass
class _Query:
    index: int
    sample: Sample
    record: SampleRecord
    media: list[Any]


def plan_queries(task: Task, data: TaskData, shots: int, seed: int, trial: int, text_demos: bool) -> list[_Query]:
    n_demos = shots if shots > 0 else (task.spec.zero_shot_text_demos if text_demos else 0)
    queries = []
    for index, sample in enumerate(data.eval):
        exclude = index if data.demo_is_eval else None
        demos = [data.demo_pool[i] for i in random_demos(len(data.demo_pool), n_demos, seed, sample.id, exclude)]
        text, media = render(task.prompt, demos, sample, demo_media=shots > 0)
        record = SampleRecord(
            task=task.name,
            shots=shots,
            seed=seed,
            trial=trial,
            id=sample.id,
            demo_ids=[d.id for d in demos],
            prompt=text,
            media=[m.key for m in media],
            targets={"answers": sample.fields.get("answers")},
        )
        queries.append(_Query(index, sample, record, media))
    return queries


def evaluate(
    task: Task,
    data: TaskData,
    model: ModelAdapter,
    shots: int,
    seed: int,
    trial: int,
    config: RunConfig,
    advance: Callable[[int], None],
) -> tuple[list[SampleRecord], ShotResult]:
    """One trial of one task at one shot count."""
    spec = task.spec
    postprocess = get_postprocessor(spec.postprocess)
    settings = GenerationSettings(**spec.generation.model_dump())
    queries = plan_queries(task, data, shots, seed, trial, config.zero_shot_text_demos)
    for batch in batched(queries, config.batch_size):
        ready, prompts = [], []
        for query in batch:
            try:
                media = tuple(load_media(ref) for ref in query.media)
            except MediaError as e:
                query.record.error = str(e)
                continue
            ready.append(query)
            prompts.append(Prompt(query.record.prompt, media, reference=query.sample.fields))
        if prompts:
            for query, generation in zip(ready, model.generate(prompts, settings), strict=True):
                query.record.generation = generation
                query.record.prediction = postprocess(generation)
        advance(len(batch))
    scored = [q for q in queries if q.record.error is None]
    metric = get_metric(spec.metric)
    variant = metric.check_variant(config.metric_variant or spec.metric_variant)
    outcome = metric.score([q.record.prediction or "" for q in scored], [q.sample.fields for q in scored], variant)
    for query, value in zip(scored, outcome.per_sample, strict=True):
        query.record.score = value
    result = ShotResult(shots, [outcome.value], [seed], len(scored), len(queries) - len(scored), spec.metric, variant)
    return [q.record for q in queries], result


def default_output(config: RunConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    model = Path(config.model).name.replace(" ", "_") or "model"
    return Path("runs") / f"{stamp}-{model}-{'+'.join(config.tasks)}"


def run(config: RunConfig, progress: Progress, load_model: Callable[[RunConfig], ModelAdapter]) -> Path:
    """Evaluate every (task, shots, seed); return the run directory."""
    tasks = load_tasks(config.tasks, config.tasks_dirs)
    for task in tasks:
        get_metric(task.spec.metric).check_variant(config.metric_variant or task.spec.metric_variant)
    data = {task.name: load_task_data(task, config.data_dir, config.limit) for task in tasks}
    model = load_model(config)
    output = config.output or default_output(config)
    config_record = {**asdict(config), "tasks_dirs": [str(p) for p in config.tasks_dirs], "output": str(output)}
    writer = RunWriter(output, model.describe(), config_record)
    try:
        for task in tasks:
            task_data = data[task.name]
            writer.add_task(task.name, {"version": task.spec.version, "spec": str(task.path), "files": task_data.files})
            for shots in config.shots or tuple(task.spec.shots):
                trials: list[ShotResult] = []
                for trial, seed in enumerate(config.seeds):
                    advance = progress(f"{task.name} {shots}-shot seed {seed}", len(task_data.eval))
                    records, result = evaluate(task, task_data, model, shots, seed, trial, config, advance)
                    writer.add_samples(records)
                    trials.append(result)
                first = trials[0]
                writer.add_result(
                    task.name,
                    ShotResult(
                        shots,
                        [t.trials[0] for t in trials],
                        [t.seeds[0] for t in trials],
                        first.n,
                        sum(t.failed for t in trials),
                        first.metric,
                        first.metric_variant,
                    ),
                )
    finally:
        writer.close()
    return output
