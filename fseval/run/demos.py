"""Choosing the evaluated samples' demos (in-context examples), recorded per sample.

- ``random`` (default): a generator seeded per (seed, sample id), so a sample's demos do not depend
  on batch size, process count or which other samples are evaluated. ``random.Random`` seeds from
  a string through SHA-512, so the draw is stable across processes and hash randomisation. Samples
  that share a ``demo_group`` field (Winoground's two images of one example) draw the same demos,
  seeded per group, and never a demo of their own group (it would give the answer away).
- ``fixed``: demo ids from a JSON file, either one list for every query or ``{sample id: [...]}``.
- ``rices``: the demos whose CLIP image features are most similar to the query's (``rices.py``).
- ``openflamingo``: OpenFlamingo's own draws for a single process: ``np.random.seed(seed)``,
  the evaluated subset ``np.random.choice(len(test), n, replace=False)``, a query pool
  ``np.random.choice(len(train), 2048, replace=False)``, the evaluation order of a
  ``DistributedSampler`` (``torch.randperm`` seeded 0), then ``random.seed(seed)`` and
  ``random.sample(pool, k)`` per query in that order. Its published tables can be re-run like
  for like; with several GPUs OpenFlamingo's draws also depend on the rank, which is not reproduced.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fseval.errors import DataError, FsevalError, plural
from fseval.types import Sample

STRATEGIES = ("random", "fixed", "rices", "openflamingo")
OPENFLAMINGO_QUERY_SET_SIZE = 2048


@dataclass(frozen=True)
class DemoPlan:
    """Which evaluation samples run, in which order, and each one's demo indices into the pool."""

    order: list[int]
    demos: list[list[int]]


def random_demos(pool_size: int, k: int, seed: int, sample_id: int | str, exclude: int | None = None) -> list[int]:
    """Indices of ``k`` distinct demos from a pool, never ``exclude`` (the query, when the pool is its split)."""
    available = pool_size - (exclude is not None)
    if k > available:
        raise DataError(f"Cannot draw {k} demos from a pool of {available} examples.", hint="Use fewer --shots.")
    rng = random.Random(f"fseval-demos:{seed}:{sample_id}")
    drawn = rng.sample(range(available), k)
    if exclude is None:
        return drawn
    return [i + 1 if i >= exclude else i for i in drawn]


DEMO_GROUP = "demo_group"  # a sample field: samples that share it share their demos and never demo each other


def plan_random(
    samples: Sequence[Sample], pool: Sequence[Sample], k: int, seed: int, limit: int | None, pool_is_eval: bool
) -> DemoPlan:
    order = list(range(len(samples)))[:limit]
    members: dict[object, list[int]] = {}
    for j, demo in enumerate(pool):
        if (group := demo.fields.get(DEMO_GROUP)) is not None:
            members.setdefault(group, []).append(j)
    demos = []
    for i in order:
        group = samples[i].fields.get(DEMO_GROUP)
        if group is None:
            demos.append(random_demos(len(pool), k, seed, samples[i].id, i if pool_is_eval else None))
        else:
            demos.append(group_demos(len(pool), k, seed, group, members.get(group, [])))
    return DemoPlan(order, demos)


def group_demos(pool_size: int, k: int, seed: int, group: object, own: Sequence[int]) -> list[int]:
    """``k`` distinct demos for every sample of ``group``, none of the group's own pool entries ``own``."""
    allowed = sorted(set(range(pool_size)) - set(own))
    if k > len(allowed):
        raise DataError(f"Cannot draw {k} demos from a pool of {len(allowed)} examples.", hint="Use fewer --shots.")
    rng = random.Random(f"fseval-demos:{seed}:group:{group!r}")
    return [allowed[i] for i in rng.sample(range(len(allowed)), k)]


def plan_fixed(samples: Sequence[Sample], pool: Sequence[Sample], k: int, path: Path, limit: int | None) -> DemoPlan:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        hint = 'Give a JSON list of demo ids or {"sample id": [...]}.'
        raise FsevalError(f"--demos-file {path} cannot be read as JSON: {e}.", hint=hint) from None
    position = {str(s.id): i for i, s in enumerate(pool)}

    def lookup(ids: object, owner: str) -> list[int]:
        if not isinstance(ids, list):
            raise DataError(f"--demos-file {path}: {owner} should be a list of demo ids, not {ids!r}.")
        missing = [i for i in ids if str(i) not in position]
        if missing:
            raise DataError(f"--demos-file {path}: demo ids {missing[:5]} ({owner}) are not in the demo split.")
        if len(ids) < k:
            hint = "At 0 shots the text of 2 demos is still used (--no-zero-shot-text-demos drops it)."
            raise DataError(
                f"--demos-file {path}: {owner} lists {plural(len(ids), 'demo')} but {k} are needed.", hint=hint
            )
        return [position[str(i)] for i in ids[:k]]

    order = list(range(len(samples)))[:limit]
    if isinstance(spec, list):
        shared = lookup(spec, "the shared list")
        return DemoPlan(order, [list(shared) for _ in order])
    if isinstance(spec, dict):
        absent = [samples[i].id for i in order if str(samples[i].id) not in spec]
        if absent:
            raise DataError(f"--demos-file {path} has no demos for sample ids {absent[:5]}.")
        return DemoPlan(order, [lookup(spec[str(samples[i].id)], f"sample {samples[i].id}") for i in order])
    raise DataError(f"--demos-file {path} should hold a JSON list or object.")


def plan_openflamingo(n_eval: int, pool_size: int, k: int, seed: int, limit: int | None) -> DemoPlan:
    """OpenFlamingo's draws, call for call (see the module docstring)."""
    import numpy as np
    import torch

    n_samples = n_eval if limit is None else min(limit, n_eval)
    query_set_size = OPENFLAMINGO_QUERY_SET_SIZE
    if pool_size < query_set_size:
        raise DataError(
            f"--demos openflamingo draws a query set of {query_set_size} but the demo split has {pool_size}."
        )
    np.random.seed(seed)
    subset = np.random.choice(n_eval, n_samples, replace=False)
    query_set = np.random.choice(pool_size, query_set_size, replace=False)
    generator = torch.Generator()
    generator.manual_seed(0)  # DistributedSampler's default seed, epoch 0
    order = [int(subset[i]) for i in torch.randperm(n_samples, generator=generator).tolist()]
    rng = random.Random(seed)  # utils.random_seed(seed, rank=0) seeds Python's random with seed + 0
    demos = [[int(query_set[j]) for j in rng.sample(range(query_set_size), k)] for _ in order]
    return DemoPlan(order, demos)
