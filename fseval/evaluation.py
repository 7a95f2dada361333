"""One trial of one task at one shot count: demos -> prompts -> model -> post-processing -> metric.

With several processes each evaluates every ``world_size``-th pending sample and every finished
batch is gathered to rank 0, which stores it, scores the trial and returns its records.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fseval import demos as demo_strategies
from fseval.config import RunConfig
from fseval.data.base import MediaRef, Sample
from fseval.data.classification import class_names
from fseval.distributed import Dist
from fseval.media import MediaError, load_media
from fseval.metrics import get_metric
from fseval.metrics.classification import Ranked
from fseval.models.base import GenerationSettings, ModelAdapter, Prompt
from fseval.postprocess import get_postprocessor
from fseval.prompts import render
from fseval.results import SampleRecord, TrialResult
from fseval.store import SampleStore, sample_key
from fseval.taskdata import TaskData
from fseval.tasks import Task


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
    """The drawn order, then up to ``ensembles - 1`` reshuffles (OpenFlamingo: at most min(6, k!) orders)."""
    count = min(ensembles, math.factorial(len(demos)))
    rng = random.Random(f"fseval-ensemble:{seed}:{sample_id}")
    orders = [list(demos)]
    for _ in range(count - 1):
        order = list(demos)
        rng.shuffle(order)
        orders.append(order)
    return orders


def plan_demos(task: Task, data: TaskData, n_demos: int, seed: int, config: RunConfig) -> demo_strategies.DemoPlan:
    pool = data.demo_pool
    if config.demos == "openflamingo":
        return demo_strategies.plan_openflamingo(len(data.eval), len(pool), n_demos, seed, config.limit)
    if config.demos == "fixed":
        assert config.demos_file is not None
        return demo_strategies.plan_fixed(data.eval, pool, n_demos, config.demos_file, config.limit)
    if config.demos == "rices":
        from fseval.rices import plan_rices

        return plan_rices(task, data, n_demos, config)
    return demo_strategies.plan_random(data.eval, len(pool), n_demos, seed, config.limit, data.demo_is_eval)


def plan_queries(task: Task, data: TaskData, shots: int, seed: int, trial: int, config: RunConfig) -> list[Query]:
    n_demos = shots if shots > 0 else (task.spec.zero_shot_text_demos if config.zero_shot_text_demos else 0)
    targets = get_metric(task.spec.metric).target_fields
    ensembles = config.prompt_ensembles if task.spec.mode == "rank" else 1
    plan = plan_demos(task, data, n_demos, seed, config)
    queries = []
    for position, (index, demo_indices) in enumerate(zip(plan.order, plan.demos, strict=True)):
        sample = data.eval[index]
        demos = [data.demo_pool[i] for i in demo_indices]
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
        queries.append(Query(position, sample, record, variants))
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


def rank_queries(task: Task, model: ModelAdapter, queries: list[Query], prompts: list[list[Prompt]]) -> None:
    """Score every candidate under every demo order; average the orders' scores (prompt ensembling)."""
    rank = task.spec.rank
    assert rank is not None
    options = [candidates_for(task, q.sample) for q in queries]
    flat_prompts = [p for per_query in prompts for p in per_query]
    flat_options = [opts for opts, per_query in zip(options, prompts, strict=True) for _ in per_query]
    token_logprobs = iter(model.rank(flat_prompts, flat_options))
    for query, candidates, per_query in zip(queries, options, prompts, strict=True):
        totals = [0.0] * len(candidates)
        for _ in per_query:
            for j, tokens in enumerate(next(token_logprobs)):
                totals[j] += statistics.fmean(tokens) if rank.normalize == "mean" else math.fsum(tokens)
        query.prediction = Ranked.from_scores({c: t / len(per_query) for c, t in zip(candidates, totals, strict=True)})
        query.record.prediction = query.prediction.top
        query.record.ranking = [[label, score] for label, score in zip(*_top(query.prediction), strict=True)]


def _top(ranked: Ranked, k: int = 5) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return ranked.labels[:k], ranked.scores[:k]


def restore_finished(queries: list[Query], finished: dict[str, SampleRecord], mode: str) -> list[Query]:
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


def run_batch(task: Task, model: ModelAdapter, batch: list[Query], settings: GenerationSettings) -> None:
    """Load the batch's media (a failure fails only its sample), then generate or rank."""
    ready, prompts = [], []
    for query in batch:
        try:
            loaded = {ref.key: load_media(ref) for _, media in query.variants for ref in media}
        except MediaError as e:
            query.record.error = str(e)
            continue
        ready.append(query)
        prompts.append(
            [Prompt(text, tuple(loaded[r.key] for r in media), query.sample.fields) for text, media in query.variants]
        )
    if ready and task.spec.mode == "rank":
        rank_queries(task, model, ready, prompts)
    elif ready:
        postprocess = get_postprocessor(task.spec.postprocess)
        for query, generation in zip(ready, model.generate([p[0] for p in prompts], settings), strict=True):
            query.record.generation = generation
            query.prediction = query.record.prediction = postprocess(generation)


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
    dist: Dist | None = None,
) -> tuple[list[SampleRecord], TrialResult] | None:
    """Run what ``store`` lacks, then score; returns None on ranks other than 0."""
    dist = dist or Dist()
    spec = task.spec
    settings = GenerationSettings(**spec.generation.model_dump())
    queries = plan_queries(task, data, shots, seed, trial, config)
    finished = store.finished(task.name, shots, seed) if store is not None else {}
    todo = restore_finished(queries, dist.broadcast(finished), spec.mode)
    advance(len(queries) - len(todo))
    mine = todo[dist.rank :: dist.world_size]
    rounds = math.ceil(math.ceil(len(todo) / dist.world_size) / config.batch_size)
    for step in range(rounds):
        batch = mine[step * config.batch_size : (step + 1) * config.batch_size]
        run_batch(task, model, batch, settings)
        done = [item for part in dist.gather([(q.index, q.record, q.prediction) for q in batch]) for item in part]
        if dist.is_main:
            for index, record, prediction in done:
                queries[index].record, queries[index].prediction = record, prediction
            if store is not None:
                store.put(record for _, record, _ in done)
        advance(len(done))
    if not dist.is_main:
        return None
    return [q.record for q in queries], score_trial(task, queries, seed, config)


def score_trial(task: Task, queries: list[Query], seed: int, config: RunConfig) -> TrialResult:
    scored = [q for q in queries if q.record.error is None]
    metric = get_metric(task.spec.metric)
    variant = metric.check_variant(config.metric_variant or task.spec.metric_variant)
    outcome = metric.score([q.prediction for q in scored], [q.sample.fields for q in scored], variant)
    for query, value in zip(scored, outcome.per_sample, strict=True):
        query.record.score = value
    failed = len(queries) - len(scored)
    return TrialResult(seed, outcome.value, outcome.extra, len(scored), failed, outcome.resampler())
