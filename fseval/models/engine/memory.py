"""Out of accelerator memory: what the error looks like, and how work shrinks to fit (one policy).

Work that may not fit runs in parts: the runner's batches of prompts (``fseval.run.evaluation``)
and ranking passes (``kv_cache.score_in_passes``). A part of more than one item that runs out of
memory is run again smaller: the allocator's cached blocks are released, the limit drops to what
half the part amounts to, and the parts after it keep that limit, as does a later call given the
same ``Halving`` (the runner keeps one per model; an OpenFlamingo adapter keeps its ranking passes'
in ``rank_passes``, starting at its ``rank_chunk_tokens`` setting). A part of one item that does not
fit raises. Splitting work does not change results beyond float noise: every item is computed on its
own, padding masked.

Nothing here imports torch, so that the runner can use it without loading a model's libraries.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def is_out_of_memory(error: BaseException) -> bool:
    """An accelerator out-of-memory error: ``torch.OutOfMemoryError``, or a RuntimeError saying so.

    Matched by name, so that callers need not import torch.
    """
    return type(error).__name__ == "OutOfMemoryError" or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def release_accelerator_memory() -> None:
    """Hand the blocks torch's CUDA allocator caches back, so that a smaller retry finds them free."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _up_to_limit(rest: Sequence[object], limit: int | None) -> int:
    return min(len(rest), limit or len(rest))


class Halving:
    """The most one part of some work may amount to (``limit``; None: no bound), halved on out-of-memory."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit

    def run(
        self,
        items: Sequence[T],
        work: Callable[[Sequence[T]], None],
        take: Callable[[Sequence[T], int | None], int] = _up_to_limit,
        amount: Callable[[Sequence[T]], int] = len,
    ) -> None:
        """``work`` on consecutive parts of ``items``, in order.

        Each part is the first ``take(rest, limit)`` items of those left (by default at most ``limit``
        of them). A part of several items that runs out of memory sets ``limit`` to the ``amount`` of
        its first half and is taken again; any other error, or one item out of memory, propagates.
        """
        start = 0
        while start < len(items):
            part = items[start : start + take(items[start:], self.limit)]
            try:
                work(part)
            except Exception as error:
                if not is_out_of_memory(error) or len(part) == 1:
                    raise
                release_accelerator_memory()
                self.limit = amount(part[: max(1, len(part) // 2)])
                continue
            start += len(part)
