"""What one decoding step does to memory (bytes written by copying operators, host synchronisations), and
whether every attention call could run on a fused SDPA kernel.

On a GPU a decoding step is bound by the bytes it moves, so a step that re-concatenates or
re-gathers the key/value cache costs several times the bytes it must read. ``step_traffic`` runs
``adapter.generate`` under a ``TorchDispatchMode`` and records, between the start of the language
model's ``step``-th call and the next (one forward pass, the beam bookkeeping and the cache
reorder), every operator called and the bytes written by the copying ones, next to the size of
the key/value cache the step attends over. It runs on CPU: the design is proven without a GPU.

``attention_calls()`` records every ``scaled_dot_product_attention`` call with a
``TorchFunctionMode`` and names what would keep CUDA's fused kernels (flash, memory-efficient) from
taking it, by the checks PyTorch makes before choosing one (``fused_kernel_obstacles``); on CPU the
backend PyTorch picks for the call is recorded too.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
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
    the next (fseval's loop makes ``max_new_tokens - 1`` such calls; transformers' beam search after a prompt
    pass that leaves out the last prompt token, ``beam_prefill_once``, makes ``max_new_tokens``)."""
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


@dataclass(frozen=True)
class AttentionCall:
    """One ``scaled_dot_product_attention`` call: who made it, its query shape and mask, what blocks fused kernels."""

    caller: str
    query_shape: tuple[int, ...]
    dtype: torch.dtype
    mask: str  # "none", "causal", or the mask's dtype
    obstacles: tuple[str, ...]
    cpu_backend: str | None  # the backend PyTorch chose on CPU (FLASH_ATTENTION is its fused kernel)


def fused_kernel_obstacles(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    enable_gqa: bool = False,
) -> list[str]:
    """What would make CUDA fall back to the math kernel: PyTorch's shape, dtype, layout and mask checks."""
    obstacles = []
    if not query.dim() == key.dim() == value.dim() == 4:
        obstacles.append(f"{query.dim()}-D inputs (fused kernels take (batch, heads, length, head_dim))")
    if not query.dtype == key.dtype == value.dtype:
        obstacles.append("query, key and value dtypes differ")
    if query.dim() == key.dim() == 4 and (
        query.shape[0] != key.shape[0] or (query.shape[1] != key.shape[1] and not enable_gqa)
    ):
        obstacles.append("batch or head counts differ between query and key (broadcast)")
    if any(t.stride(-1) != 1 for t in (query, key, value)):
        obstacles.append("last dimension not contiguous")
    if query.shape[-1] % 8:
        obstacles.append(f"head_dim {query.shape[-1]} not a multiple of 8")
    if attn_mask is not None and attn_mask.dtype not in (torch.bool, query.dtype):
        obstacles.append(f"{attn_mask.dtype} mask with {query.dtype} inputs")
    return obstacles


def _caller() -> str:
    """The innermost frame outside torch: the module whose code called attention."""
    for frame in reversed(traceback.extract_stack()[:-2]):  # past this function and the mode's
        if "/torch/" not in frame.filename:
            return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.name}"
    return "?"


class _AttentionRecorder(TorchFunctionMode):
    def __init__(self, calls: list[AttentionCall]) -> None:
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            names = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
            bound = dict(zip(names, args, strict=False)) | kwargs
            q, k, v, mask = bound["query"], bound["key"], bound["value"], bound.get("attn_mask")
            gqa = bool(bound.get("enable_gqa", False))
            backend = None
            if q.device.type == "cpu":
                options = {name: bound[name] for name in names[3:] if name in bound}
                backend = torch.nn.attention.SDPBackend(torch._fused_sdp_choice(q, k, v, **options)).name
            causal = "causal" if bound.get("is_causal") else "none"
            self.calls.append(
                AttentionCall(
                    _caller(), tuple(q.shape), q.dtype, causal if mask is None else str(mask.dtype),
                    tuple(fused_kernel_obstacles(q, k, v, mask, gqa)), backend,
                )
            )  # fmt: skip
        return func(*args, **kwargs)


@contextmanager
def attention_calls() -> Iterator[list[AttentionCall]]:
    """Every attention call made inside the block, as ``AttentionCall``s."""
    calls: list[AttentionCall] = []
    with _AttentionRecorder(calls):
        yield calls
