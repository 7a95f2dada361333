"""The evaluation loop: tasks -> data -> demos -> prompts -> model -> post-processing -> metric -> results.

Everything a run needs is validated and loaded (task files, dataset files) before the model, so
a typo costs seconds, not a model load.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from fseval.data.base import MediaRef, Sample
from fseval.data.classification import class_names
from fseval.data.hf import HF_PREFIX, resolve_hub_dataset
from fseval.data.layouts import LoadedSplit, load_split
from fseval.demos import random_demos
from fseval.errors import DataError
from fseval.media import MediaError, load_media
from fseval.metrics import get_metric
from fseval.metrics.classification import Ranked
from fseval.models.base import GenerationSettings, ModelAdapter, Prompt
from fseval.postprocess import get_postprocessor
from fseval.prompts import render
from fseval.resources import PACKAGE_DIR
from fseval.results import RunWriter, SampleRecord, ShotResult, TrialResult
from fseval.store import STORE_FILE, SampleStore, sample_key
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
    prompt_ensembles: int = 1

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
    sample: Sample
    record: SampleRecord
    # One (text, media) per demo order; more than one only with prompt ensembling.
    variants: list[tuple[str, list[MediaRef]]]
    prediction: Any = None


def demo_orders(demos: list[Sample], ensembles: int, seed: int, sample_id: int | str) -> list[list[Sample]]:
    """The drawn order, then up to ``ensembles - 1`` reshuffles (OpenFlamingo: at most min(6, k!) orders)."""
    count = min(ensembles, math.factorial(len(demos)))
    rng = random.Random(f"fseval-ensemble:{seed}:{sample_id}")
    orders = [list(demos)]
    for _ in range(count - 1):
        order = list(demos)
        rng.shuffle(order)
        orders.append(order)
    return orders


def plan_queries(task: Task, data: TaskData, shots: int, seed: int, trial: int, config: RunConfig) -> list[_Query]:
    n_demos = shots if shots > 0 else (task.spec.zero_shot_text_demos if config.zero_shot_text_demos else 0)
    targets = get_metric(task.spec.metric).target_fields
    ensembles = config.prompt_ensembles if task.spec.mode == "rank" else 1
    queries = []
    for index, sample in enumerate(data.eval):
        exclude = index if data.demo_is_eval else None
        demos = [data.demo_pool[i] for i in random_demos(len(data.demo_pool), n_demos, seed, sample.id, exclude)]
        variants = [
            render(task.prompt, order, sample, demo_media=shots > 0)
            for order in demo_orders(demos, ensembles, seed, sample.id)
        ]
        text, media = variants[0]
        record = SampleRecord(
            task=task.name,
            shots=shots,
            seed=seed,
            trial=trial,
            id=sample.id,
            demo_ids=[d.id for d in demos],
            prompt=text,
            media=[m.key for m in media],
            targets={name: sample.fields.get(name) for name in targets},
        )
        queries.append(_Query(sample, record, variants))
    return queries


def candidates_for(task: Task, sample: Sample) -> list[str]:
    rank = task.spec.rank
    assert rank is not None
    if rank.candidates is not None:
        return rank.candidates
    if rank.candidates_file is not None:
        return class_names(rank.candidates_file)
    assert rank.candidates_field is not None
    return list(sample.fields[rank.candidates_field])


def rank_queries(task: Task, model: ModelAdapter, queries: list[_Query], prompts: list[list[Prompt]]) -> None:
    """Score every candidate under every demo order; average the orders' scores (prompt ensembling)."""
    rank = task.spec.rank
    assert rank is not None
    flat = [p for per_query in prompts for p in per_query]
    options = [candidates_for(task, q.sample) for q, per_query in zip(queries, prompts, strict=True) for _ in per_query]
    token_logprobs = iter(model.rank(flat, options))
    for query, per_query in zip(queries, prompts, strict=True):
        candidates = candidates_for(task, query.sample)
        totals = [0.0] * len(candidates)
        for _ in per_query:
            for j, tokens in enumerate(next(token_logprobs)):
                totals[j] += statistics.fmean(tokens) if rank.normalize == "mean" else math.fsum(tokens)
        scores = {c: total / len(per_query) for c, total in zip(candidates, totals, strict=True)}
        query.prediction = Ranked.from_scores(scores)
        query.record.prediction = query.prediction.top
        query.record.ranking = [
            [label, score]
            for label, score in zip(query.prediction.labels[:5], query.prediction.scores[:5], strict=True)
        ]


def restore_finished(queries: list[_Query], finished: dict[str, SampleRecord], mode: str) -> list[_Query]:
    """Take the stored record of each finished query; return the queries still to run."""
    todo = []
    for query in queries:
        record = finished.get(sample_key(query.sample.id))
        if record is None:
            todo.append(query)
            continue
        query.record = record
        if record.error is None:
            ranking = {label: score for label, score in record.ranking or []}
            query.prediction = Ranked.from_scores(ranking) if mode == "rank" else record.prediction
    return todo


def evaluate(
    task: Task,
    data: TaskData,
    model: ModelAdapter,
    shots: int,
    seed: int,
    trial: int,
    config: RunConfig,
    advance: Callable[[int], None],
    store: SampleStore | None = None,
) -> tuple[list[SampleRecord], TrialResult]:
    """One trial of one task at one shot count; samples already in ``store`` are not recomputed."""
    spec = task.spec
    postprocess = get_postprocessor(spec.postprocess)
    settings = GenerationSettings(**spec.generation.model_dump())
    queries = plan_queries(task, data, shots, seed, trial, config)
    todo = restore_finished(queries, store.finished(task.name, shots, seed) if store else {}, spec.mode)
    advance(len(queries) - len(todo))
    for batch in batched(todo, config.batch_size):
        ready, prompts = [], []
        for query in batch:
            try:
                loaded = {ref.key: load_media(ref) for _, media in query.variants for ref in media}
            except MediaError as e:
                query.record.error = str(e)
                continue
            ready.append(query)
            prompts.append(
                [
                    Prompt(text, tuple(loaded[r.key] for r in media), query.sample.fields)
                    for text, media in query.variants
                ]
            )
        if ready and spec.mode == "rank":
            rank_queries(task, model, ready, prompts)
        elif ready:
            for query, generation in zip(ready, model.generate([p[0] for p in prompts], settings), strict=True):
                query.record.generation = generation
                query.prediction = query.record.prediction = postprocess(generation)
        if store is not None:
            store.put(q.record for q in batch)
        advance(len(batch))
    scored = [q for q in queries if q.record.error is None]
    metric = get_metric(spec.metric)
    variant = metric.check_variant(config.metric_variant or spec.metric_variant)
    outcome = metric.score([q.prediction for q in scored], [q.sample.fields for q in scored], variant)
    for query, value in zip(scored, outcome.per_sample, strict=True):
        query.record.score = value
    result = TrialResult(
        seed, outcome.value, outcome.extra, len(scored), len(queries) - len(scored), outcome.resampler()
    )
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
    writer.save()  # the config is on disk before any work, so even a run killed at once can resume
    store = SampleStore(output / STORE_FILE)
    try:
        for task in tasks:
            task_data = data[task.name]
            writer.add_task(task.name, {"version": task.spec.version, "spec": str(task.path), "files": task_data.files})
            for shots in config.shots or tuple(task.spec.shots):
                trials: list[TrialResult] = []
                for trial, seed in enumerate(config.seeds):
                    advance = progress(f"{task.name} {shots}-shot seed {seed}", len(task_data.eval))
                    records, result = evaluate(task, task_data, model, shots, seed, trial, config, advance, store)
                    writer.add_samples(records)
                    trials.append(result)
                metric = get_metric(task.spec.metric)
                variant = metric.check_variant(config.metric_variant or task.spec.metric_variant)
                writer.add_result(task.name, ShotResult(shots, metric.name, variant, trials))
    finally:
        store.close()
        writer.close()
    return output


def config_from_run(run_dir: Path) -> RunConfig:
    """The configuration a run directory was started with (``fseval run --resume``)."""
    path = run_dir / "results.json"
    if not path.is_file():
        raise DataError(f"{run_dir} is not a run directory: it has no results.json.")
    saved = json.loads(path.read_text(encoding="utf-8"))["config"]
    saved["tasks"] = tuple(saved["tasks"])
    saved["shots"] = tuple(saved["shots"]) if saved.get("shots") is not None else None
    saved["tasks_dirs"] = tuple(Path(p) for p in saved.get("tasks_dirs", ()))
    saved["output"] = run_dir
    known = {f.name for f in fields(RunConfig)}
    return RunConfig(**{k: v for k, v in saved.items() if k in known})
