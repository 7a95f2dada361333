"""What one decoding step does to memory: bytes written by copying operators, and host synchronisations.

On a GPU a decoding step is bound by the bytes it moves, so a step that re-concatenates or
re-gathers the key/value cache costs several times the bytes it must read. ``step_traffic`` runs
``adapter.generate`` under a ``TorchDispatchMode`` and records, between the start of the language
model's ``step``-th call and the next (one forward pass, the beam bookkeeping and the cache
reorder), every operator called and the bytes written by the copying ones, next to the size of
the key/value cache the step attends over. It runs on CPU: the design is proven without a GPU.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

COPIES = frozenset({"cat", "stack", "index_select", "gather", "index", "index_put_", "copy_", "clone"})
# The host waits for the device: a result's size or value depends on data (nonzero, unique), or becomes a Python number.
SYNCS = frozenset({"nonzero", "_local_scalar_dense", "is_nonzero", "item", "unique", "_unique2", "masked_select"})


@dataclass
class StepTraffic:
    calls: Counter[str] = field(default_factory=Counter)
    copied: Counter[str] = field(default_factory=Counter)  # bytes written, by operator
    cache_bytes: int = 0  # keys and values of every layer the step attends over

    @property
    def copied_fraction(self) -> float:
        return sum(self.copied.values()) / self.cache_bytes if self.cache_bytes else float("nan")

    @property
    def syncs(self) -> int:
        return sum(self.calls[name] for name in SYNCS)


def _written(name: str, args: tuple[Any, ...], out: Any) -> int:
    target = args[0] if name.endswith("_") and args and isinstance(args[0], torch.Tensor) else out
    if name == "index_put_":  # writes its values, not the whole tensor
        target = args[2]
    return target.numel() * target.element_size() if isinstance(target, torch.Tensor) else 0


class _Recorder(TorchDispatchMode):
    def __init__(self, traffic: StepTraffic) -> None:
        super().__init__()
        self.traffic, self.on = traffic, False

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if self.on:
            name = func.overloadpacket.__name__
            self.traffic.calls[name] += 1
            if name in COPIES:
                self.traffic.copied[name] += _written(name, args, out)
        return out


def cache_bytes(cache: Any) -> int:
    """Bytes of the keys and values a step attends over (the visible length, not spare room)."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for states in (layer.keys, layer.values):
            if isinstance(states, torch.Tensor):
                total += states.numel() * states.element_size()
    return total


def step_traffic(adapter: Any, prompts: Any, settings: Any, step: int = 2) -> StepTraffic:
    """The traffic of decoding step ``step``: the ``step``-th language-model call after the prompt pass, up to
    the next (greedy makes ``max_new_tokens - 1`` such calls; beam search after its own prompt pass, which
    leaves out the last prompt token, ``max_new_tokens``)."""
    traffic = StepTraffic()
    recorder = _Recorder(traffic)
    calls = 0

    def boundary(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        recorder.on = calls == 1 + step
        if recorder.on:
            traffic.cache_bytes = cache_bytes(kwargs.get("past_key_values") or kwargs.get("cache"))

    handle = adapter.model.lang_encoder.register_forward_pre_hook(boundary, with_kwargs=True)
    try:
        with recorder:
            adapter.generate(prompts, settings)
    finally:
        handle.remove()
    if not traffic.calls:
        raise ValueError(f"generate made no decoding step {step} (it called the model {calls} times)")
    return traffic
