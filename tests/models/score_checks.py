"""Comparing the per-token log-probabilities that ``rank`` returns, for the model adapter tests."""

from __future__ import annotations

import pytest


def assert_same_scores(got: list[list[list[float]]], want: list[list[list[float]]]) -> None:
    """Same candidates, same token counts, log-probabilities within float rounding."""
    assert [[len(c) for c in row] for row in got] == [[len(c) for c in row] for row in want]
    for got_row, want_row in zip(got, want, strict=True):
        for x, y in zip(got_row, want_row, strict=True):
            assert x == pytest.approx(y, abs=1e-4)
