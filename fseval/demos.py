"""Choosing the demos (in-context examples) of each query.

``random`` seeds a generator per (seed, sample id), so a sample's demos do not depend on batch
size, process count or which other samples are evaluated. ``random.Random`` seeds from a string
through SHA-512, so the draw is stable across processes and Python's hash randomisation.
"""

from __future__ import annotations

import random

from fseval.errors import DataError


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
