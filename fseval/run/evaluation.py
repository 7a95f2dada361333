"""One trial of one task at one shot count: demos -> prompts -> model -> post-processing -> metric.

With several processes each evaluates every ``world_size``-th pending sample and every finished
batch is gathered to rank 0, which stores it, scores the trial and returns its records.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import random
import statistics
import time
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

import numpy as np

from fseval.config import COMPAT_PROFILES, CompatProfile, DemoSettings, RunConfig
from fseval.errors import MediaError
from fseval.media.images import load_media
from fseval.metrics import get_metric
from fseval.metrics.breakdown import breakdown, group_key
from fseval.models.base import ModelAdapter
from fseval.models.engine.memory import Halving
from fseval.progress import phase
from fseval.record import SampleRecord
from fseval.run import demos as demo_strategies
from fseval.run.distributed import Dist
from fseval.run.prefetch import PipelineOptions, Prefetcher, group_by_length
from fseval.run.store import SampleStore, sample_key
from fseval.run.writer import NOT_SCORED, TrialResult
from fseval.tasks.postprocess import get_postprocessor
from fseval.tasks.prompts import answer_fields, render
from fseval.tasks.ranking import candidates_for, stored_prediction
from fseval.tasks.spec import Task
from fseval.tasks.task_data import TaskData
from fseval.types import GenerationSettings, Media, MediaRef, Prompt, Ranked, ReferencedPrompt, Sample

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TrialSettings:
    """What a trial needs of the run's options; the metric variant is the task's, resolved once per run."""

    demos: DemoSettings
    metric_variant: str
    batch_size: int = 8
    compat: CompatProfile = COMPAT_PROFILES[None]
    pipeline: PipelineOptions = field(default_factory=PipelineOptions)


def trial_settings(config: RunConfig, task: Task, pipeline: PipelineOptions | None = None) -> TrialSettings:
    return TrialSettings(
        config.demo_settings,
        metric_variant(task, config.metric_variant),
        config.batch_size,
        config.compat_profile,
        pipeline or PipelineOptions(group_by_length=config.group_by_length, prefetch=config.prefetch),
    )


@dataclass
class Query:
    index: int
    sample: Sample
    record: SampleRecord
    # One (text, media) per demo order; more than one only with prompt ensembling.
    variants: list[tuple[str, list[MediaRef]]]
    prediction: Any = None


def batched(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def demo_orders(demos: list[Sample], ensembles: int, seed: int, sample_id: int | str) -> list[list[Sample]]:
    """The drawn order, then reshuffles until there are ``min(ensembles, k!)`` different orders.

    (OpenFlamingo reshuffles without checking, so two of its "orders" can be the same one.)
    """
    count = min(ensembles, math.factorial(len(demos)))
    rng = random.Random(f"fseval-ensemble:{seed}:{sample_id}")
    orders = [tuple(range(len(demos)))]
    while len(orders) < count:
        order = list(range(len(demos)))
        rng.shuffle(order)
        if tuple(order) not in orders:
            orders.append(tuple(order))
    return [[demos[i] for i in order] for order in orders]


def plan_demos(data: TaskData, n_demos: int, seed: int, settings: DemoSettings) -> demo_strategies.DemoPlan:
    pool, limit = data.demo_pool, settings.limit
    if settings.strategy == "openflamingo":
        return demo_strategies.plan_openflamingo(len(data.eval), len(pool), n_demos, seed, limit)
    if settings.strategy == "fixed":
        assert settings.file is not None
        return demo_strategies.plan_fixed(data.eval, pool, n_demos, settings.file, limit)
    if settings.strategy == "rices":
        from fseval.run.rices import plan_rices

        return plan_rices(data, n_demos, settings.rices, limit)
    return demo_strategies.plan_random(data.eval, pool, n_demos, seed, limit, data.demo_is_eval)


def draw_demos(
    data: TaskData, shots: int, n_demos: int, seed: int, settings: DemoSettings
) -> tuple[list[int], list[list[Sample]]]:
    """The evaluated samples' positions in order, and each one's demos: set by its data, or drawn from the pool.

    A task whose data sets its demos (``TaskData.demo_source``: VL-ICL Bench) shows exactly those, in
    evaluation order; ``random_answers`` then draws from its evaluation split, which is its demo pool.
    """
    if data.demo_source is not None:
        order = list(range(len(data.eval)))[: settings.limit]
        sets = data.demo_source.demos(seed, shots)
        return order, [list(sets[str(data.eval[i].id)]) for i in order]
    plan = plan_demos(data, n_demos, seed, settings)
    return plan.order, [[data.demo_pool[i] for i in indices] for indices in plan.demos]


def plan_queries(
    task: Task,
    data: TaskData,
    shots: int,
    seed: int,
    trial: int,
    settings: DemoSettings,
    compat: CompatProfile = COMPAT_PROFILES[None],
) -> list[Query]:
    """Each query of a trial with its demos, rendered prompt(s) and the record that will hold its result."""
    n_demos = shots if shots > 0 else (task.spec.zero_shot_text_demos if settings.zero_shot_text_demos else 0)
    targets = get_metric(task.spec.metric).target_fields
    ensembles = settings.prompt_ensembles if task.spec.mode == "rank" else 1
    positions, drawn = draw_demos(data, shots, n_demos, seed, settings)
    ablation = settings.ablation if shots > 0 else "none"  # the demos are drawn as the plain run's, then changed
    answers = answer_fields(task.prompt) if ablation == "random_answers" else ()
    demo_media = shots > 0 and ablation != "no_images"
    queries = []
    for position, (index, demos) in enumerate(zip(positions, drawn, strict=True)):
        sample = data.eval[index]
        shown = ablate_demos(demos, ablation, data.demo_pool, answers, seed, sample.id)
        variants = [
            openflamingo_zero_shot(render(task.prompt, order, sample, demo_media, task.preamble), order)
            if shots == 0 and compat.zero_shot_rank_demo_image and task.spec.mode == "rank"
            else render(task.prompt, order, sample, demo_media, task.preamble)
            for order in demo_orders(shown, ensembles, seed, sample.id)
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
            groups={
                name: key for name in task.spec.breakdown if (key := group_key(sample.fields.get(name))) is not None
            },
        )
        queries.append(Query(position, sample, record, variants))
    return queries


def ablate_demos(
    demos: list[Sample],
    ablation: str,
    pool: Sequence[Sample],
    answers: tuple[str, ...],
    seed: int,
    sample_id: int | str,
) -> list[Sample]:
    """The drawn demos as ``--demo-ablation`` changes them (``no_images`` is rendering's: ``demo_media=False``).

    ``shuffled_images``: each demo shows another demo's media (a derangement). ``permuted_order``: the
    demos in another order. ``random_answers``: each demo's answer fields (``answer_fields``) are those
    of a demo-pool sample drawn uniformly, so answers follow the pool's answer distribution and can match
    by chance. The generator is seeded per (ablation, seed, sample id): the same for any batch size,
    process count or resume. Records keep the drawn ``demo_ids``, which ``fseval compare`` pairs on.
    """
    rng = random.Random(f"fseval-ablation:{ablation}:{seed}:{sample_id}")
    if ablation == "shuffled_images":
        order = _permutation(len(demos), rng, derangement=True)
        return [replace(demo, media=demos[j].media) for demo, j in zip(demos, order, strict=True)]
    if ablation == "permuted_order":
        return [demos[j] for j in _permutation(len(demos), rng, derangement=False)]
    if ablation == "random_answers":
        drawn = [pool[rng.randrange(len(pool))].fields for _ in demos]
        return [
            replace(demo, fields={**demo.fields, **{name: other[name] for name in answers if name in other}})
            for demo, other in zip(demos, drawn, strict=True)
        ]
    return demos


def _permutation(k: int, rng: random.Random, derangement: bool) -> list[int]:
    """A random order of ``range(k)`` other than the drawn one (with ``derangement``, moving every item) when k > 1."""
    order = list(range(k))
    while k > 1 and (any(i == j for i, j in enumerate(order)) if derangement else order == sorted(order)):
        rng.shuffle(order)
    return order


def openflamingo_zero_shot(rendered: tuple[str, list[MediaRef]], demos: list[Sample]) -> tuple[str, list[MediaRef]]:
    """OpenFlamingo's 0-shot classification prompt (``--compat openflamingo``).

    Its ``evaluate_classification`` strips the demos' ``<image>`` markers from the text but keeps
    their images in ``vision_x`` before the query's, so the prompt's one marker makes the text attend
    to the first demo's image, not the query's. That image is the one the prompt gets here.
    """
    text, media = rendered
    return (text, [demos[0].media[0]]) if demos and demos[0].media else (text, media)


def rank_queries(task: Task, model: ModelAdapter, queries: list[Query], prompts: list[list[Prompt]]) -> None:
    """Score every candidate under every demo order; average the orders' scores (prompt ensembling)."""
    rank = task.spec.rank
    assert rank is not None
    options = [candidates_for(task, q.sample) for q in queries]
    flat_prompts = [p for per_query in prompts for p in per_query]
    flat_options = [opts for opts, per_query in zip(options, prompts, strict=True) for _ in per_query]
    pairs = list(zip(flat_prompts, flat_options, strict=True))
    ranked = with_oom_backoff(model, pairs, lambda part: model.rank([p for p, _ in part], [o for _, o in part]))
    token_logprobs = iter(ranked)
    for query, candidates, per_query in zip(queries, options, prompts, strict=True):
        totals = [0.0] * len(candidates)
        for _ in per_query:
            for j, tokens in enumerate(next(token_logprobs)):
                totals[j] += statistics.fmean(tokens) if rank.normalize == "mean" else math.fsum(tokens)
        scores = [t / len(per_query) for t in totals]
        query.prediction = Ranked.from_scores(dict(zip(candidates, scores, strict=True)))
        query.record.prediction = query.prediction.top
        query.record.ranking = [[label, score] for label, score in zip(*_top(query.prediction), strict=True)]
        query.record.scores = scores


def _top(ranked: Ranked, k: int = 5) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return ranked.labels[:k], ranked.scores[:k]


def restore_finished(task: Task, queries: list[Query], finished: dict[str, SampleRecord]) -> list[Query]:
    """Take the stored record of each finished query; return the queries still to run.

    A stored failure (an unreadable image, say) is tried again: a resume is how a fixed file gets in.
    A rank task's prediction is rebuilt from every candidate's stored score.
    """
    todo = []
    for query in queries:
        record = finished.get(sample_key(query.sample.id))
        if record is None or record.error is not None:
            todo.append(query)
            continue
        query.record = record
        query.prediction = stored_prediction(task, query.sample, record)
    return todo


LoadedMedia = list[tuple[Media, ...]] | MediaError
"""A query's media per prompt variant, or why it could not be read."""


def load_query_media(query: Query, prepare: Callable[[Sequence[Media]], None] | None = None) -> LoadedMedia:
    """Decode a query's media (a failure fails only this query); ``prepare`` lets the model preprocess them."""
    try:
        loaded = {ref.key: load_media(ref) for _, media in query.variants for ref in media}
    except MediaError as e:
        return e
    if prepare is not None:
        # Best effort: what fails here is redone on the main thread, which reports it.
        with contextlib.suppress(Exception):
            prepare(list(loaded.values()))
    return [tuple(loaded[r.key] for r in media) for _, media in query.variants]


def run_batch(
    task: Task,
    model: ModelAdapter,
    batch: list[Query],
    settings: GenerationSettings,
    loaded: Sequence[LoadedMedia] | None = None,
) -> None:
    """Load the batch's media unless given (a failure fails only its sample), then generate or rank."""
    loaded = loaded if loaded is not None else [load_query_media(query) for query in batch]
    ready: list[Query] = []
    prompts: list[list[Prompt]] = []
    for query, media in zip(batch, loaded, strict=True):
        if isinstance(media, MediaError):
            query.record.error = str(media)
            continue
        ready.append(query)
        variants = zip(query.variants, media, strict=True)
        if model.wants_reference:  # the mock oracle; real models never see the answers
            prompts.append([ReferencedPrompt(text, items, query.sample.fields) for (text, _), items in variants])
        else:
            prompts.append([Prompt(text, items) for (text, _), items in variants])
    if ready and task.spec.mode == "rank":
        rank_queries(task, model, ready, prompts)
    elif ready:
        postprocess = get_postprocessor(task.spec.postprocess)
        generations = with_oom_backoff(model, [p[0] for p in prompts], lambda part: model.generate(part, settings))
        for query, generation in zip(ready, generations, strict=True):
            query.record.generation = generation
            query.prediction = query.record.prediction = postprocess(generation)


# Prompts per model call after a CUDA out-of-memory error, per model, for the rest of the run.
_batch_limits: weakref.WeakKeyDictionary[Any, Halving] = weakref.WeakKeyDictionary()


def with_oom_backoff(model: ModelAdapter, items: Sequence[T], call: Callable[[Sequence[T]], list[R]]) -> list[R]:
    """``call(items)``, split into halves on out-of-memory until it fits; the smaller size is kept (``Halving``).

    Splitting a batch does not change greedy fp32 predictions (each prompt is computed on its own,
    padding masked), so the backoff never changes results beyond float noise.
    """
    try:
        batches = _batch_limits.setdefault(model, Halving())
    except TypeError:  # a model that cannot be weakly referenced keeps no limit
        batches = Halving()
    results: list[R] = []
    batches.run(items, lambda part: results.extend(call(part)))
    return results


def _load_batches(
    batches: list[list[Query]], model: ModelAdapter, pipeline: PipelineOptions
) -> Generator[tuple[list[Query], list[LoadedMedia]], None, None]:
    """Each batch with its media, loaded ahead in background threads unless prefetching is off."""
    if not pipeline.prefetch:
        for batch in batches:
            yield batch, [load_query_media(query) for query in batch]
        return
    load = partial(load_query_media, prepare=model.prepare_media)
    yield from Prefetcher(batches, load, pipeline.prefetch_batches, pipeline.workers)


def evaluate(
    task: Task,
    data: TaskData,
    model: ModelAdapter,
    shots: int,
    seed: int,
    trial: int,
    settings: TrialSettings,
    advance: Callable[[int], None],
    store: SampleStore | None = None,
    dist: Dist | None = None,
) -> tuple[list[SampleRecord], TrialResult] | None:
    """Run what ``store`` lacks, then score; returns None on ranks other than 0."""
    started = time.perf_counter()
    dist = dist or Dist()
    spec = task.spec
    generation = GenerationSettings(**spec.generation.model_dump())
    queries = plan_queries(task, data, shots, seed, trial, settings.demos, settings.compat)
    for query in queries:  # a model that rewrites the prompt (IDEFICS): record what it was given too
        clips = [ref.video is not None for ref in query.variants[0][1]]
        query.record.model_prompt = model.model_text(query.record.prompt, clips)
    finished = store.finished(task.name, shots, seed) if store is not None else {}
    todo = restore_finished(task, queries, dist.broadcast(finished))
    pending = {q.index for q in todo}
    advance(len(queries) - len(todo))
    pipeline = settings.pipeline
    batches = plan_batches(queries, todo, settings, dist)
    stopwatch = pipeline.stopwatch
    with contextlib.closing(_load_batches(batches, model, pipeline)) as loaded_batches:
        for _ in range(len(batches)):
            with stopwatch.time("data"):
                batch, loaded = next(loaded_batches)
            with stopwatch.time("model"):
                run_batch(task, model, batch, generation, loaded)
            with stopwatch.time("gather_store"):
                gathered = dist.gather([(q.index, q.record, q.prediction) for q in batch])
                done = [item for part in gathered for item in part]
                if dist.is_main:
                    for index, record, prediction in done:
                        queries[index].record, queries[index].prediction = record, prediction
                    if store is not None:
                        store.put(record for _, record, _ in done)
            advance(sum(index in pending for index, _, _ in done))  # (compat batches redo finished ones)
    if not dist.is_main:
        return None
    with stopwatch.time("scoring"), phase(f"{task.name} {shots}-shot seed {seed}: scoring"):
        result = score_trial(task, queries, seed, settings.metric_variant)
    stopwatch.seconds["evaluate"] += time.perf_counter() - started
    return [q.record for q in queries], result


def plan_batches(queries: list[Query], todo: list[Query], settings: TrialSettings, dist: Dist) -> list[list[Query]]:
    """This process's batches; every process gets as many (the last ones maybe empty) so that gathers pair up.

    Batching never changes fseval's results, so pending queries are shared out and grouped by length.
    Under ``--compat openflamingo`` scores depend on the batch, so batches are OpenFlamingo's: runs of
    ``batch_size`` queries in its evaluation order, each run whole if any of it is pending (a resumed
    run recomputes the finished ones beside the others, and gets the same numbers).
    """
    size = settings.batch_size
    if settings.compat.batch_dependent_ranking:
        pending = {id(q) for q in todo}
        runs = [queries[i : i + size] for i in range(0, len(queries), size)]
        runs = [run for run in runs if any(id(q) in pending for q in run)]
        own = runs[dist.rank :: dist.world_size]
        return own + [[] for _ in range(math.ceil(len(runs) / dist.world_size) - len(own))]
    mine = todo[dist.rank :: dist.world_size]
    rounds = math.ceil(math.ceil(len(todo) / dist.world_size) / size)
    if settings.pipeline.group_by_length:
        mine = group_by_length(mine, lambda q: sum(len(text) for text, _ in q.variants))
    return [mine[step * size : (step + 1) * size] for step in range(rounds)]


def metric_variant(task: Task, requested: str | None) -> str:
    """The variant a task is scored with: ``--metric-variant`` where its metric has it, else the task's own.

    (So ``--metric-variant openflamingo`` on VQA and captioning tasks applies to the VQA tasks; the
    results record each task's variant.)
    """
    metric = get_metric(task.spec.metric)
    return metric.check_variant(requested if requested in metric.variants else task.spec.metric_variant)


def score_trial(task: Task, queries: list[Query], seed: int, variant: str) -> TrialResult:
    """The trial's score; a split whose labels are withheld (``scored: false``) keeps its predictions unscored."""
    scored = [q for q in queries if q.record.error is None]
    failed = len(queries) - len(scored)
    if not task.spec.scored:  # n counts the predictions made, for the test server
        return TrialResult(seed, math.nan, {}, len(scored), failed, _no_score, not_scored=NOT_SCORED)
    if not scored:  # every sample failed (a wrong image folder, say): no score, and the run goes on
        return TrialResult(seed, math.nan, {}, 0, failed, lambda idx: np.full(len(idx), np.nan))
    metric = get_metric(task.spec.metric)
    predictions, targets = [q.prediction for q in scored], [q.sample.fields for q in scored]
    outcome = metric.score(predictions, targets, variant)
    for query, value in zip(scored, outcome.per_sample, strict=True):
        query.record.score = value
    groups = breakdown(metric, predictions, targets, variant, task.spec.breakdown)
    return TrialResult(seed, outcome.value, outcome.extra, len(scored), failed, outcome.resampler(), groups)


def _no_score(indices: np.ndarray) -> np.ndarray:
    return np.full(len(indices), np.nan)
