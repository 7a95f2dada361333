"""Progress on long work, reported by whatever shows it (the CLI's bars), reached from any depth.

A run shows a bar per (task, shots, seed) and a status line for every phase that can take more
than a moment (reading the data, checking the model's files, loading the model, RICES features,
scoring). The runner sets the reporter once; the code doing the work asks for a bar or a phase
here, so progress need not be passed through every call on the way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Advance = Callable[[int], None]
Progress = Callable[[str, int], Advance]
"""``progress(description, total)`` starts a bar and returns its ``advance(n)``; total 0 is a phase
without a count (a status line), which ``advance`` with any n marks as done."""


def no_progress(description: str, total: int) -> Advance:
    return lambda n: None


_reporter: ContextVar[Progress] = ContextVar("fseval_progress", default=no_progress)


@contextmanager
def reporting_to(progress: Progress) -> Iterator[None]:
    """Bars and phases started inside the block (in this thread) are shown by ``progress``."""
    token = _reporter.set(progress)
    try:
        yield
    finally:
        _reporter.reset(token)


def bar(description: str, total: int) -> Advance:
    """A bar of ``total`` steps; returns its ``advance(n)``."""
    return _reporter.get()(description, total)


@contextmanager
def phase(description: str) -> Iterator[None]:
    """A status line for the block (its elapsed time ticking), marked done when the block ends."""
    done = _reporter.get()(description, 0)
    try:
        yield
    finally:
        done(1)
