"""The engine's out-of-memory policy (``fseval.models.engine.memory``), on its own: no model, no torch."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fseval.models.engine.memory import Halving, is_out_of_memory


class OutOfMemoryError(RuntimeError):
    """Stands for ``torch.OutOfMemoryError``: recognised by name."""


def fits(capacity: int, seen: list[int]):
    def work(part: Sequence[int]) -> None:
        seen.append(len(part))
        if sum(part) > capacity:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    return work


def test_a_part_that_runs_out_of_memory_is_halved_and_the_size_kept() -> None:
    parts = Halving()
    seen: list[int] = []
    parts.run([1] * 10, fits(3, seen))
    assert seen == [10, 5, 2, 2, 2, 2, 2] and parts.limit == 2
    seen.clear()
    parts.run([1] * 3, fits(3, seen))  # a later call starts from the kept size
    assert seen == [2, 1]


def test_the_limit_is_in_the_callers_unit() -> None:
    parts, seen = Halving(limit=40), []
    widths = [9, 9, 5, 5, 5, 5, 1, 1]

    def take(rest: Sequence[int], limit: int | None) -> int:  # as many as fit in ``limit`` tokens
        assert limit is not None
        return max(1, sum(1 for end in range(1, len(rest) + 1) if sum(rest[:end]) <= limit))

    parts.run(widths, fits(12, seen), take, amount=sum)
    # 40 tokens take all 8 items (40), out of memory: half of them amount to 28, then 18, then 9, which fits
    assert seen == [8, 4, 2, 1, 1, 1, 1, 1, 3] and parts.limit == 9


def test_other_errors_and_single_items_propagate() -> None:
    def broken(part: Sequence[int]) -> None:
        raise ValueError("not memory")

    with pytest.raises(ValueError, match="not memory"):
        Halving().run([1, 2], broken)
    with pytest.raises(OutOfMemoryError):
        Halving().run([5], fits(3, []))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(ValueError("out of memory"))
