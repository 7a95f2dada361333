"""fseval's decoding loop: greedy and beam search that never make the host wait for the device mid-loop.

``transformers``' ``generate`` asks the device after every step whether every sequence is done
(``unfinished.max() == 0``, or beam search's stopping test), and the host launches nothing until
the step has finished: on a GPU, the device idles while the next step's kernels are queued.
Here that question is read one step late (``StopSignal``): the flag of step t is copied to
pinned host memory without blocking and read after step t + 1 is launched, so the host waits at
most for a step that is already followed by queued work. When every sequence has finished, one
extra step has run; its tokens are never kept. The loops pick the same tokens as
``generate``'s greedy search and its beam search (length penalty, ``early_stopping=False``'s
heuristic, ``min_new_tokens`` and banned tokens), and read the device once at the end for the
output's length.

A loop drives a ``step(tokens, order)`` callable: feed one token per row (after reordering the
rows' key/value cache by ``order`` when given) and return the next-token logits. Settings that
the loops do not implement (a repetition penalty, n-gram blocking and the like, which a
checkpoint's ``generation_config`` may carry) are reported by ``unsupported_settings`` so that
the caller can use ``generate`` instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import torch

from fseval.models.engine.kv_cache import DecodingCache

Step = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
HOPELESS = -1.0e9  # the score transformers gives a beam that must not be chosen

# generation_config fields that change the tokens in ways these loops do not implement, with their neutral
# values (unset is None in transformers 5; configs saved by older versions write the neutral value out).
NEUTRAL: dict[str, tuple[object, ...]] = {
    "repetition_penalty": (1.0,), "encoder_repetition_penalty": (1.0,), "no_repeat_ngram_size": (0,),
    "encoder_no_repeat_ngram_size": (0,), "bad_words_ids": (), "suppress_tokens": (), "begin_suppress_tokens": (),
    "forced_bos_token_id": (), "forced_eos_token_id": (), "sequence_bias": (), "exponential_decay_length_penalty": (),
    "renormalize_logits": (False,), "remove_invalid_values": (False,), "min_length": (0,), "diversity_penalty": (0.0,),
    "num_beam_groups": (1,), "early_stopping": (False,), "epsilon_cutoff": (0.0,), "eta_cutoff": (0.0,),
    "guidance_scale": (1.0,), "watermarking_config": (), "token_healing": (False,), "low_memory": (False,),
}  # fmt: skip


def unsupported_settings(generation_config: object) -> list[str]:
    """The fields of a model's ``generation_config`` with a non-neutral value that these loops would ignore."""
    return [
        name for name, neutral in NEUTRAL.items() if getattr(generation_config, name, None) not in (None, [], *neutral)
    ]


def takes_sdpa_mask(lm: torch.nn.Module) -> bool:
    """Whether ``lm`` builds its masks with transformers' masking utilities for SDPA (and so accepts a prepared
    4D boolean mask); fseval's MosaicGPT builds its own ALiBi bias from the 2D mask."""
    config = getattr(lm, "config", None)
    return getattr(config, "model_type", "") != "mosaic_gpt" and getattr(config, "_attn_implementation", "") == "sdpa"


@dataclass(frozen=True)
class Search:
    """What to generate: ``banned`` tokens are never produced, the ``eos`` tokens (any ends a row) only after
    ``min_new_tokens``."""

    max_new_tokens: int
    eos: tuple[int, ...]
    pad: int
    min_new_tokens: int = 0
    num_beams: int = 1
    length_penalty: float = 1.0
    banned: tuple[int, ...] = ()

    @property
    def beam_fill(self) -> int:
        """What pads beam search's hypotheses: ``pad``, or the first ``eos`` where ``pad`` is 0 (``generate``'s
        quirk)."""
        return self.pad or self.eos[0]


class _Rules:
    """``Search``'s rules as device tensors, made once per loop (indexing with Python lists would copy to the
    device at every step): the end tokens, and which tokens are impossible before and after ``min_new_tokens``."""

    def __init__(self, search: Search, vocab: int, device: torch.device) -> None:
        self.search, self.eos = search, torch.tensor(search.eos, device=device)
        self.never = torch.zeros(vocab, dtype=torch.bool, device=device)
        self.never[list(search.banned)] = True
        self.early = self.never.clone()  # before min_new_tokens: no end either
        self.early[self.eos] = True

    def process(self, scores: torch.Tensor, generated: int) -> torch.Tensor:
        """Logits or log-probabilities (N, V) with impossible tokens at -inf (in place)."""
        return scores.masked_fill_(self.early if generated < self.search.min_new_tokens else self.never, -float("inf"))

    def ends(self, tokens: torch.Tensor) -> torch.Tensor:
        """Whether each of ``tokens`` ends its row."""
        return torch.isin(tokens, self.eos)


class StopSignal:
    """Whether the loop may stop, as decided ``lag`` steps ago.

    ``push(done)`` hands over this step's flag (a device tensor) and returns the flag pushed
    ``lag`` steps before (False until there is one). With ``lag=0`` it reads ``done`` at once. On
    CUDA the flag travels to pinned host memory without blocking; reading it waits only for the
    step that produced it, which is already followed by ``lag`` queued steps.
    """

    def __init__(self, device: torch.device, lag: int = 1) -> None:
        self.device, self.lag = device, lag
        self.pending: deque[tuple[torch.Tensor, torch.cuda.Event | None]] = deque()

    def push(self, done: torch.Tensor) -> bool:
        if self.lag == 0:
            return bool(done)
        cuda = self.device.type == "cuda"
        host = torch.empty((), dtype=torch.bool, pin_memory=cuda)
        host.copy_(done, non_blocking=cuda)
        event = torch.cuda.Event() if cuda else None
        if event is not None:
            event.record()
        self.pending.append((host, event))
        if len(self.pending) <= self.lag:
            return False
        host, event = self.pending.popleft()
        if event is not None:
            event.synchronize()
        return bool(host.numpy())  # host memory: reading it involves no device


def greedy(step: Step, logits: torch.Tensor, search: Search, stop: StopSignal) -> torch.Tensor:
    """(B, new tokens): the argmax token per step; rows that have produced ``eos`` continue with ``pad``.

    ``logits`` (B, V) are the prompt pass's next-token logits. The result is as wide as the step at
    which the last row finished (or ``max_new_tokens``), as ``generate`` returns it.
    """
    rows = logits.shape[0]
    rules = _Rules(search, logits.shape[-1], logits.device)
    tokens = torch.full((rows, search.max_new_tokens), search.pad, dtype=torch.long, device=logits.device)
    alive = torch.ones(rows, dtype=torch.bool, device=logits.device)
    steps = torch.zeros((), dtype=torch.long, device=logits.device)  # steps generate would have taken
    for t in range(search.max_new_tokens):
        token = rules.process(logits.to(torch.float32, copy=True), t).argmax(dim=-1)
        token = torch.where(alive, token, search.pad)
        tokens[:, t] = token
        steps += alive.any()
        alive &= ~rules.ends(token)
        if t + 1 == search.max_new_tokens or stop.push(~alive.any()):
            break
        logits = step(token, None)
    return tokens[:, : int(steps)]


@dataclass
class _Beams:
    """Per prompt, ``width`` hypotheses: their new tokens (B, width, max_new), scores and lengths."""

    tokens: torch.Tensor
    scores: torch.Tensor
    lengths: torch.Tensor

    def take(self, index: torch.Tensor) -> _Beams:
        """The hypotheses at ``index`` (B, k) of each prompt."""
        return _Beams(
            self.tokens.gather(1, index[:, :, None].expand(-1, -1, self.tokens.shape[2])),
            self.scores.gather(1, index),
            self.lengths.gather(1, index),
        )

    def join(self, other: _Beams) -> _Beams:
        return _Beams(*(torch.cat(pair, dim=1) for pair in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.tokens, self.scores, self.lengths


def beam_search(step: Step, logits: torch.Tensor, search: Search, stop: StopSignal) -> torch.Tensor:
    """(B, new tokens): the best finished hypothesis of each prompt, padded with ``Search.beam_fill``.

    ``logits`` (B * K, V) are the first next-token logits of each prompt's K beams (copies of one
    prompt pass). Each step scores every continuation of the K running beams, keeps the best
    (1 + end tokens) x K (at least 2K),
    moves those ending in ``eos`` (or at ``max_new_tokens``) among the first K into the finished
    set with score / length ** ``length_penalty``, and continues the K best unfinished ones.
    Stops when, for every prompt, the finished set is full and its worst member beats the best
    running beam's score at its current length (``generate``'s default heuristic).
    """
    k, n = search.num_beams, search.max_new_tokens
    prompts, vocab = logits.shape[0] // k, logits.shape[-1]
    device = logits.device
    rules = _Rules(search, vocab, device)
    running = _Beams(
        torch.full((prompts, k, n), search.beam_fill, dtype=torch.long, device=device),
        torch.zeros(prompts, k, device=device),
        torch.zeros(prompts, k, dtype=torch.long, device=device),
    )
    running.scores[:, 1:] = HOPELESS  # the beams start as copies: only the first one's continuations count
    finished = _Beams(running.tokens.clone(), torch.full_like(running.scores, HOPELESS), running.lengths.clone())
    done = torch.zeros(prompts, k, dtype=torch.bool, device=device)
    improvable = torch.ones(prompts, 1, dtype=torch.bool, device=device)
    keep = max(2, 1 + len(search.eos)) * k  # continuations kept per step: K of them at least do not end
    first_k = (torch.arange(keep, device=device) < k)[None, :]
    offsets = torch.arange(prompts, device=device)[:, None] * k
    for t in range(n):
        logprobs = rules.process(torch.log_softmax(logits.float(), dim=-1), t)
        totals = (logprobs.view(prompts, k, vocab) + running.scores[:, :, None]).view(prompts, -1)
        scores, flat = totals.topk(keep)
        parent, token = flat // vocab, flat % vocab
        candidates = running.take(parent)
        candidates.tokens[:, :, t] = token
        candidates.scores, candidates.lengths = scores, torch.full_like(parent, t + 1)
        ended = rules.ends(token) | (t + 1 >= n)

        live = torch.topk(scores + ended.float() * HOPELESS, k)[1]  # the next running beams
        order = (parent + offsets).gather(1, live).flatten()
        running = candidates.take(live)
        running.scores = (scores + ended.float() * HOPELESS).gather(1, live)

        just_done = ended & first_k
        final = scores / ((t + 1) ** search.length_penalty)
        final = final + (~improvable).float() * HOPELESS
        final = final + (~just_done) * HOPELESS
        merged = finished.join(_Beams(candidates.tokens, final, candidates.lengths))
        best = merged.scores.topk(k)[1]
        finished, done = merged.take(best), torch.cat([done, just_done], dim=1).gather(1, best)

        hopeful = running.scores[:, :1] / ((t + 1) ** search.length_penalty)
        worst = torch.where(done, finished.scores.min(dim=1, keepdim=True)[0], HOPELESS)
        improvable = improvable & (hopeful > worst).any(dim=-1, keepdim=True)
        if t + 1 == n or stop.push(~(improvable.any() & ~ended.all())):
            break
        logits = step(running.tokens[:, :, t].flatten(), order)
    return finished.tokens[:, 0, : int(finished.lengths[:, 0].max())]


class TokenSteps:
    """The ``step`` of a loop for a causal LM continuing ``cache`` after a prompt pass over ``attention_mask``.

    ``forward`` is called as transformers' ``generate`` calls a decoder-only model for one step,
    with the new token per row, its position (``start``, then one more each step: by default the
    count of unmasked tokens before it; ``positions=False`` for LMs that take none), the cache, and
    the attention mask so far: a view of one buffer with ``room`` columns for the tokens to come,
    not a concatenation per step. ``start`` is (N, 1), or (axes, N, 1) for multimodal positions
    (Qwen2-VL's text and rotary axes), each axis advancing by one per token as ``generate`` does.

    The mask is given so that building the step's attention mask never reads the device: without
    left padding in the batch there is none to give (transformers then asks SDPA for no mask at
    all, as it would after checking, on the device, that the mask is all ones); with padding and
    ``sdpa_mask=True`` (transformers models using SDPA) it is the (N, 1, 1, length) boolean mask
    transformers would build for a one-token query, which it passes through unchanged.
    """

    def __init__(
        self,
        forward: Callable[..., object],
        cache: object,
        attention_mask: torch.Tensor,
        room: int,
        cache_kwarg: str = "past_key_values",
        positions: bool = True,
        sdpa_mask: bool = False,
        extra: dict[str, torch.Tensor] | None = None,
        start: torch.Tensor | None = None,
    ) -> None:
        self.forward, self.cache, self.cache_kwarg, self.positions = forward, cache, cache_kwarg, positions
        self.extra = dict(extra or {})  # further inputs of every step, one row per prompt row (IDEFICS' images)
        self.padded = bool((attention_mask == 0).any())  # once per call, before the loop
        mask = torch.cat([attention_mask, attention_mask.new_ones(attention_mask.shape[0], room)], dim=1)
        self.sdpa_mask = sdpa_mask
        self.mask = mask.bool()[:, None, None, :] if sdpa_mask else mask
        self.length = attention_mask.shape[1]
        self.position = attention_mask.long().sum(dim=-1, keepdim=True) if start is None else start
        self.cursor: torch.Tensor | None = None  # fixed shapes: the cache position of the next token

    def fix(self) -> None:
        """Fixed shapes from here on, so that a step can be captured in a CUDA graph and replayed.

        The cache returns its whole buffer (``DecodingCache.fix``) and the mask covers it, its
        columns opened one per step on the device at ``cursor``; positions and cursor advance in
        place. Needs the in-place cache and an LM that takes a prepared SDPA mask.
        """
        if not self.sdpa_mask or not isinstance(self.cache, DecodingCache):
            raise ValueError("fixed shapes need the in-place DecodingCache and an LM taking a prepared SDPA mask")
        self.cursor = self.cache.fix()
        if self.mask.shape[-1] != self.cache.capacity:
            raise ValueError(f"a mask of {self.mask.shape[-1]} columns for a cache of {self.cache.capacity}")
        self.mask = self.mask.clone()
        self.mask[..., self.length :] = False

    def repeat(self, times: int) -> None:
        """Each row ``times`` times in a row (beams of one prompt), the cache included."""
        self.mask = self.mask.repeat_interleave(times, dim=0)
        self.position = self.position.repeat_interleave(times, dim=self.position.dim() - 2)  # the rows' axis
        self.extra = {name: value.repeat_interleave(times, dim=0) for name, value in self.extra.items()}
        self.cache.batch_repeat_interleave(times)  # type: ignore[attr-defined]

    def __call__(self, tokens: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
        if order is not None:  # rows of one prompt reordered among themselves: masks and positions stay
            self.cache.reorder_cache(order)  # type: ignore[attr-defined]
        if self.cursor is not None:
            self.mask.index_fill_(-1, self.cursor, True)
            mask: torch.Tensor | None = self.mask
        else:
            self.length += 1
            mask = self.mask[..., : self.length] if self.padded else None
        out = self.forward(
            input_ids=tokens[:, None],
            attention_mask=mask,
            use_cache=True,
            **({"position_ids": self.position} if self.positions else {}),
            **{self.cache_kwarg: self.cache},
            **self.extra,
        )
        if self.cursor is not None:  # in place: a replayed graph advances them
            self.cursor += 1
            self.position += 1
        else:
            self.position = self.position + 1
        return out.logits[:, -1]  # type: ignore[attr-defined]


class CapturedSteps:
    """``steps`` in fixed shapes, run eagerly once, then captured in a CUDA graph and replayed.

    A step's few thousand kernel launches cost more host time than the GPU needs to run them at
    small batches; a replayed graph launches them all at once. The first call runs the step
    (warming up kernels and allocator), then captures it reading the token and order buffers;
    later calls copy their inputs into those buffers and replay. ``keep`` returns tensors the
    captured step reads that its caller might otherwise drop (they are held while the graph lives).
    Off CUDA the steps run eagerly in fixed shapes (what the capture records).
    """

    def __init__(self, steps: TokenSteps, keep: Callable[[], object] = lambda: None) -> None:
        steps.fix()
        self.steps, self.keep = steps, keep
        self.held: object = None
        self.graph: torch.cuda.CUDAGraph | None = None
        self.tokens = self.order = self.logits = torch.empty(0)

    def __call__(self, tokens: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
        if tokens.device.type != "cuda":
            return self.steps(tokens, order)
        if self.graph is not None:
            self.tokens.copy_(tokens)
            if order is not None:
                self.order.copy_(order)
            self.graph.replay()
            return self.logits
        self.tokens, self.order = tokens.clone(), torch.empty(0) if order is None else order.clone()
        logits = self.steps(self.tokens, None if order is None else self.order)
        self.held = self.keep()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.logits = self.steps(self.tokens, None if order is None else self.order)
        return logits


def decode(
    steps: TokenSteps,
    logits: torch.Tensor,
    search: Search,
    lag: int | None = None,
    graphs: bool = False,
    keep: Callable[[], object] = lambda: None,
) -> torch.Tensor:
    """(B, new tokens) after a prompt pass whose next-token logits are ``logits`` (B, V).

    ``lag``: how many steps late the stop flag is read (default: 1 on CUDA, 0 elsewhere, where
    reading it costs nothing). ``graphs``: steps in fixed shapes, replayed from a CUDA graph on a
    GPU (``CapturedSteps``; ``keep`` as there).
    """
    stop = StopSignal(logits.device, (1 if logits.device.type == "cuda" else 0) if lag is None else lag)
    if search.num_beams > 1:
        steps.repeat(search.num_beams)
        logits = logits.repeat_interleave(search.num_beams, dim=0)
    step: Step = CapturedSteps(steps, keep) if graphs else steps
    if search.num_beams == 1:
        return greedy(step, logits, search, stop)
    return beam_search(step, logits, search, stop)
