"""Key/value caches: for generation (``DecodingCache``: written in place, beams reordered cheaply), and
for scoring many continuations of a few prompts (likelihood ranking).

A ranking pass continues each candidate from its prompt's cache: ``gather_rows`` copies the
prompt's keys/values once per candidate row into a buffer that the candidate's own tokens are
written into, and ``plan_passes`` decides how many length-sorted rows each pass takes.
``score_in_passes`` is the one ranking loop of every family: each family tokenises its
candidates into rows and runs a pass its own way (its masks, positions, images).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

from fseval.errors import FsevalError
from fseval.models.engine.memory import Halving

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


def next_pass_rows(
    widths: Sequence[int], prompt_length: int, pass_tokens: int, vocab: int, cap: int | None, device: torch.device
) -> int:
    """How many of the pending candidate rows (``widths``: fed tokens, decreasing) the next ranking pass takes."""
    limit = functools.partial(rows_per_pass, prompt_length=prompt_length, pass_tokens=pass_tokens, vocab=vocab, cap=cap)
    return plan_passes(widths, limit, pass_overhead_tokens(device))


# A candidate to score: (prompt index, candidate index, the prompt's ids continued by the candidate's, tokens scored).
Continuation = tuple[int, int, list[int], int]
# A ranking row: (prompt index, candidate index, the tokens after what the prompt's cache holds, how many of
# their scores to keep: the last ones).
Row = tuple[int, int, list[int], int]


def split_continuation(context: list[int], full: list[int]) -> tuple[list[int], int]:
    """(full ids, number of continuation tokens) where the continuation is what follows the context.

    Tokenising context + continuation as one text keeps the tokens the model saw in training. When a
    token merges across the boundary, the context shrinks to the common prefix, so the merged token
    is scored as part of the continuation rather than dropped.
    """
    n = min(len(context), len(full))
    # A merge only touches the last few context tokens: compare the rest at C speed, then step.
    skip = max(0, n - 16)
    common = skip if full[:skip] == context[:skip] else 0
    while common < n and context[common] == full[common]:
        common += 1
    if common == len(full):
        raise FsevalError("A ranking candidate is empty.", hint="Check the task's candidate list.")
    return full, len(full) - common


def cached_lengths(prompt_lengths: Sequence[int], continuations: Sequence[Continuation]) -> list[int]:
    """How much of each prompt a ranking prompt pass runs: what all its continuations share (a candidate's first
    token may merge with the prompt's last, which that row then feeds itself)."""
    shared = list(prompt_lengths)
    for i, _, full, count in continuations:
        shared[i] = min(shared[i], len(full) - count)
    return shared


def rows_after_cache(
    prompt_lengths: Sequence[int], continuations: Sequence[Continuation]
) -> tuple[list[int], list[Row]]:
    """What each prompt's cache is to hold (``cached_lengths``), and each continuation as the row that follows it."""
    shared = cached_lengths(prompt_lengths, continuations)
    return shared, [(i, j, full[shared[i] :], count) for i, j, full, count in continuations]


def score_in_passes(
    rows: Sequence[Row],
    prompt_length: int,
    cache: Any,
    first: torch.Tensor,
    run_pass: Callable[[Sequence[Row]], torch.Tensor],
    scores: list[list[list[float]]],
    rows_cap: int | None = None,
    passes: Halving | None = None,
) -> None:
    """Score candidate ``rows`` by continuing the prompts' ``cache`` (``prompt_length`` positions) in passes.

    Row ``(i, j, rest, count)`` continues prompt ``i`` by ``rest``: its first token is scored from
    ``first`` (the prompt pass's last log-probabilities, (prompts, V)), the others from
    ``run_pass(chunk)`` (log-probabilities (rows, width, V) after each of a row's ``rest[:-1]``, the
    tokens it feeds); ``scores[i][j]`` gets the last ``count`` of them. Rows of one token need no
    pass and rows of none are left as they are; the others go longest first, each pass taking what
    ``next_pass_rows`` plans within ``passes.limit`` prompt-plus-fed tokens (None: ``pass_token_budget``)
    and ``rows_cap`` rows. A pass that runs out of memory is halved (``memory.Halving``), and ``passes``
    keeps the smaller size.
    """
    single = [row for row in rows if len(row[2]) == 1]
    if single:
        picked = first[[i for i, *_ in single], [rest[0] for _, _, rest, _ in single]].tolist()
        for (i, j, _, _), value in zip(single, picked, strict=True):
            scores[i][j] = [value]
    pending = sorted((row for row in rows if len(row[2]) > 1), key=lambda row: -len(row[2]))
    if not pending:
        return
    device, vocab = first.device, first.shape[-1]
    passes = passes or Halving()
    budget = passes.limit or pass_token_budget(cache, device)

    def take(rest: Sequence[Row], limit: int | None) -> int:
        widths = [len(fed) - 1 for _, _, fed, _ in rest]
        return next_pass_rows(widths, prompt_length, limit or budget, vocab, rows_cap, device)

    def run(chunk: Sequence[Row]) -> None:
        logprobs = run_pass(chunk)
        width = logprobs.shape[1]
        targets = torch.tensor([rest[1:] + [0] * (width + 1 - len(rest)) for _, _, rest, _ in chunk], device=device)
        later = logprobs.gather(-1, targets[..., None])[..., 0].tolist()
        heads = first[[i for i, *_ in chunk], [rest[0] for _, _, rest, _ in chunk]].tolist()
        for (i, j, rest, count), head, tail in zip(chunk, heads, later, strict=True):
            scores[i][j] = [head, *tail[: len(rest) - 1]][-count:]

    passes.run(pending, run, take, amount=lambda chunk: len(chunk) * (prompt_length + len(chunk[0][2]) - 1))


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


class DecodingLayer(DynamicLayer):
    """One layer's keys/values for generation: a buffer with room for the tokens to come, written in place.

    ``DynamicLayer`` concatenates the whole cache with each new token and beam search then copies
    all of it again to reorder the beams (``index_select``): two copies of every prompt's keys and
    values per decoding step. Here a step writes its token's keys/values into the buffer, and a
    reorder moves only the positions after ``shared``: the beams of a prompt are copies of one
    prompt pass (``batch_repeat_interleave``), identical up to there, so reordering them within a
    prompt leaves those positions as they are. A reorder waits for the next token (beam search
    also reorders after its last step, which then costs nothing), and reorders in a row compose.
    The keys/values returned are views of the buffer; ``keys``/``values`` read between a reorder
    and the next token are those of the beams' previous order.
    """

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room, self.length, self.shared = room, 0, 0
        self._keys = self._values = torch.empty(0)
        self._pending: torch.Tensor | None = None  # a beam reorder not applied yet
        self.cursor: torch.Tensor | None = None  # fixed shapes: where the next token goes, on the device

    def fix(self, cursor: torch.Tensor) -> None:
        """Fixed shapes from here on, so that a decoding step can be captured in a CUDA graph.

        The keys/values returned are the whole buffer (positions not written yet are zeros; the
        caller's attention mask hides them); each token is written at ``cursor`` (a device tensor
        the caller advances), and a beam reorder moves all positions after ``shared``.
        """
        self._reorder()
        self._keys[..., self.length :, :].zero_()
        self._values[..., self.length :, :].zero_()
        self.cursor = cursor
        self.keys, self.values = self._keys, self._values

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if self.cursor is not None:
            return self._update_fixed(key_states, value_states)
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        self._reorder()
        end = self.length + key_states.shape[-2]
        if self._keys.dim() != key_states.dim() or end > self._keys.shape[-2]:
            self._grow(key_states, value_states, end + self.room)
        self._keys[..., self.length : end, :].copy_(key_states)
        self._values[..., self.length : end, :].copy_(value_states)
        self._view(end)
        return self.keys, self.values

    def _update_fixed(self, key_states: torch.Tensor, value_states: torch.Tensor) -> Any:
        assert self.cursor is not None
        index, self._pending = self._pending, None
        if index is not None:
            for states in (self._keys, self._values):
                states[:, :, self.shared :] = states[:, :, self.shared :].index_select(0, index)
        self._keys.index_copy_(-2, self.cursor, key_states)
        self._values.index_copy_(-2, self.cursor, value_states)
        return self._keys, self._values

    def _grow(self, key_states: torch.Tensor, value_states: torch.Tensor, capacity: int) -> None:
        """A buffer of ``capacity`` positions holding what is cached so far (the prompt pass allocates it once)."""
        old = (self._keys, self._values) if self.length else None
        self._keys, self._values = (
            s.new_empty(*s.shape[:-2], capacity, s.shape[-1]) for s in (key_states, value_states)
        )
        if old is not None:
            self._keys[..., : self.length, :].copy_(old[0][..., : self.length, :])
            self._values[..., : self.length, :].copy_(old[1][..., : self.length, :])

    def _view(self, end: int) -> None:
        self.length = end
        self.keys, self.values = self._keys[..., :end, :], self._values[..., :end, :]

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Applied when the next token's keys/values arrive: beam search reorders after its last step too."""
        index = beam_idx.to(self._keys.device)
        self._pending = index if self._pending is None else self._pending[index]

    def _reorder(self) -> None:
        index, self._pending = self._pending, None
        if index is not None and self.length > self.shared:
            part = slice(self.shared, self.length)
            self._keys[:, :, part] = self._keys[:, :, part].index_select(0, index)
            self._values[:, :, part] = self._values[:, :, part].index_select(0, index)

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Beams of each prompt: the prompt's keys/values copied once, the positions so far shared by the beams."""
        self._reorder()
        if self.length:
            self._keys = self._keys.repeat_interleave(repeats, dim=0)
            self._values = self._values.repeat_interleave(repeats, dim=0)
            self.shared = self.length
            self._view(self.length)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._reorder()
        if self.length:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self.shared = 0  # rows of several prompts may now sit side by side
            self._view(self.length)

    def crop(self, tokens_to_remove: int) -> None:
        self._reorder()
        if tokens_to_remove < 0 and self.is_initialized:
            self._view(max(0, self.length + tokens_to_remove))
            self.shared = min(self.shared, self.length)

    def reset(self) -> None:
        self.length = self.shared = 0
        self._pending = self.cursor = None
        self._keys = self._values = torch.empty(0)
        super().reset()


class DecodingCache(Cache):
    """A key/value cache of ``DecodingLayer``s for ``generate``: ``room`` is how many tokens will follow the prompt."""

    def __init__(self, room: int) -> None:
        super().__init__(layer_class_to_replicate=functools.partial(DecodingLayer, room))  # type: ignore[arg-type]

    def fix(self) -> torch.Tensor:
        """Every layer in fixed shapes (``DecodingLayer.fix``); returns the shared write cursor (1,) to advance."""
        layers = [layer for layer in self.layers if isinstance(layer, DecodingLayer) and layer.is_initialized]
        if not layers:
            raise ValueError("fix() needs a cache a prompt pass has written")
        cursor = torch.tensor([layers[0].length], device=layers[0]._keys.device)
        for layer in layers:
            layer.fix(cursor)
        return cursor

    @property
    def capacity(self) -> int:
        """Positions every layer's buffer holds (prompt and room)."""
        layer = self.layers[0]
        assert isinstance(layer, DecodingLayer)
        return int(layer._keys.shape[-2])
