"""Stopping a run on Ctrl-C or SIGTERM, even where a library swallows the interruption.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be; inside a ``__del__``
(which model loading runs plenty of) it is printed as "Exception ignored" and dropped, and the run
would go on. So the signal also leaves a flag, which the run checks once the model is loaded and
after every batch.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = threading.Event()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    _requested.set()
    raise KeyboardInterrupt


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM (what schedulers send) stop the block, and are remembered if swallowed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    _requested.clear()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _requested.clear()


def raise_if_requested() -> None:
    """A stop that a library swallowed, raised again where the run can act on it."""
    if _requested.is_set():
        raise KeyboardInterrupt
