"""The evaluation's input pipeline: length-grouped batches, media loaded ahead, stage timings.

- ``group_by_length`` orders a trial's queries longest prompt first so that a batch holds prompts
  of similar length and pads little. It changes only which queries share a batch: demos, prompts
  and the order of the written records (reassembled by query index) stay as they are.
- ``Prefetcher`` decodes the media of the next batches in background threads while the model
  works on the current one, and lets the model hash and preprocess them there too (an adapter's
  optional ``prepare_media``). Each query's media load on its own, so a corrupt image still fails
  only its sample.
- ``Stopwatch`` adds up the seconds of the loop's stages for ``benchmarks/perf.py``.

All of it is on by default; a ``PipelineOptions`` handed to the run switches parts off (the
benchmark measures each against the run without it).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Q = TypeVar("Q")
R = TypeVar("R")


class Stopwatch:
    """Seconds per stage, summed over the run (``with stopwatch.time("scoring"): ...``)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


@dataclass(frozen=True)
class PipelineOptions:
    group_by_length: bool = True
    prefetch: bool = True
    prefetch_batches: int = 2
    workers: int = 2
    stopwatch: Stopwatch = field(default_factory=Stopwatch)


def group_by_length(items: Sequence[Q], length: Callable[[Q], int]) -> list[Q]:
    """Longest first (an out-of-memory error shows on the first batch); ties keep their order."""
    return sorted(items, key=lambda item: -length(item))


class Prefetcher(Generic[Q, R]):
    """Yields ``(batch, [load(q) for q in batch])``, loading up to ``depth`` batches ahead in threads.

    ``load`` must not raise for a bad item: it returns the failure as its result.
    """

    def __init__(self, batches: Sequence[list[Q]], load: Callable[[Q], R], depth: int = 2, workers: int = 2) -> None:
        self.batches = batches
        self.load = load
        self.depth = max(1, depth)
        self.workers = max(1, workers)

    def __iter__(self) -> Iterator[tuple[list[Q], list[R]]]:
        with ThreadPoolExecutor(self.workers, thread_name_prefix="fseval-prefetch") as pool:
            pending: list[list[Future[R]]] = []
            submitted = 0
            try:
                for batch in self.batches:
                    while submitted < len(self.batches) and len(pending) < self.depth + 1:
                        pending.append([pool.submit(self.load, q) for q in self.batches[submitted]])
                        submitted += 1
                    futures = pending.pop(0)
                    yield batch, [f.result() for f in futures]
            finally:
                for futures in pending:
                    for f in futures:
                        f.cancel()
