"""Key/value-cache helpers for scoring many continuations of a few prompts (likelihood ranking).

A ranking pass continues each candidate from its prompt's cache: ``gather_rows`` copies the
prompt's keys/values once per candidate row into a buffer that the candidate's own tokens are
written into, and ``plan_passes`` decides how many length-sorted rows each pass takes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers.cache_utils import DynamicLayer

LOGIT_BUDGET = 1 << 27  # candidate log-probabilities per ranking pass (512 MiB in fp32)


def pass_token_budget(cache: Any, device: torch.device) -> int:
    """Prompt-plus-candidate tokens per ranking pass: each row holds its own copy of the prompt's
    keys/values, and a pass gathers as many as fit in a quarter of the GPU's free memory, or 2 GiB on CPU."""
    layers = getattr(cache, "layers", None) or []
    per_token = sum(
        2 * layer.keys[0, :, :1].numel() * layer.keys.element_size()
        for layer in layers
        if layer.keys is not None and layer.keys.numel()
    )
    budget = torch.cuda.mem_get_info(device)[0] // 4 if device.type == "cuda" else 2 << 30
    return max(1, budget // per_token) if per_token else 1 << 15


def pass_overhead_tokens(device: torch.device) -> int:
    """What one extra ranking pass costs, in padding tokens: launches dominate on a GPU, FLOPs on a CPU."""
    return 1024 if device.type == "cuda" else 64


def rows_per_pass(width: int, prompt_length: int, pass_tokens: int, vocab: int, cap: int | None = None) -> int:
    """Rows of ``width`` fed tokens a pass may take: within ``pass_tokens``, the logit budget and ``cap``."""
    limit = min(pass_tokens // (prompt_length + width), LOGIT_BUDGET // (width * vocab)) or 1
    return min(limit, cap) if cap else limit


def plan_passes(widths: Sequence[int], rows_limit: Callable[[int], int], overhead: int) -> int:
    """How many rows the next ranking pass takes, from rows sorted by decreasing ``widths``.

    Every row of a pass is padded to its first (widest) row, and every pass costs ``overhead``
    padding tokens' worth of time. Over the distinct widths (a few dozen at most) a dynamic
    programme picks where passes start so that padded tokens plus pass overheads are fewest,
    each pass holding at most ``rows_limit(width)`` rows.
    """
    distinct = sorted(set(widths), reverse=True)
    counts = [widths.count(w) for w in distinct]
    best = [0.0] + [float("inf")] * len(distinct)  # best[j]: cost of the rows of the first j widths
    first_cut = [0] * (len(distinct) + 1)
    for j in range(1, len(distinct) + 1):
        for i in range(j):
            rows = sum(counts[i:j])
            passes = -(-rows // rows_limit(distinct[i]))
            cost = best[i] + rows * distinct[i] + passes * overhead
            if cost < best[j]:
                best[j], first_cut[j] = cost, (first_cut[i] if i else j)
    group_rows = sum(counts[: first_cut[len(distinct)]])
    return min(group_rows, rows_limit(distinct[0]))


def gather_rows(cache: Any, rows: torch.Tensor, width: int) -> Any:
    """The cache for continuing prompt ``rows`` by ``width`` tokens; the prompt cache itself stays intact."""
    if not hasattr(cache, "layers"):
        cache = copy.deepcopy(cache)
        cache.batch_select_indices(rows)
        return cache
    selected = copy.copy(cache)
    selected.layers = []
    for layer in cache.layers:
        if type(layer) is DynamicLayer and layer.is_initialized:
            selected.layers.append(GatheredLayer(layer, rows, width))
        else:
            layer = copy.copy(layer)
            layer.batch_select_indices(rows)
            selected.layers.append(layer)
    return selected


class GatheredLayer(DynamicLayer):
    """One layer's prompt keys/values gathered per row into a buffer with room for ``width`` more tokens.

    ``DynamicLayer`` would copy the gathered prompt again on every update (``torch.cat``); with
    hundreds of candidate rows over a long prompt those two copies cost more than the candidates'
    own compute on a CPU. Here the new keys/values are written into the buffer in place.
    """

    def __init__(self, layer: DynamicLayer, rows: torch.Tensor, width: int) -> None:
        super().__init__()
        assert layer.keys is not None and layer.values is not None
        self.lazy_initialization(layer.keys, layer.values)
        self.length = layer.keys.shape[-2]

        def gathered(states: torch.Tensor) -> torch.Tensor:
            room = states.new_zeros(*states.shape[:-2], width, states.shape[-1])
            return torch.cat([states, room], dim=-2)[rows.to(states.device)]  # layers may sit on several GPUs

        self._keys, self._values = gathered(layer.keys), gathered(layer.values)
        self.keys, self.values = self._keys[..., : self.length, :], self._values[..., : self.length, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        end = self.length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            raise ValueError(f"a continuation of {end - self.length} tokens does not fit the gathered cache")
        self._keys[..., self.length : end, :] = key_states
        self._values[..., self.length : end, :] = value_states
        self.length = end
        self.keys, self.values = self._keys[..., :end, :], self._values[..., :end, :]
        return self.keys, self.values
