"""Doing transformers' IDEFICS image work once: module forwards patched for the length of one call.

transformers' IDEFICS recomputes what depends only on the images wherever it meets them again: the
perceiver resampler and the cross-attention key/value projections at every decoding step and for
every beam, and the projections for every candidate row of a ranking pass even when all rows read the
same image. These wrappers return the same numbers with that work done once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

Forward = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def patched(modules: Sequence[nn.Module], wrap: Callable[[Forward], Forward]) -> Iterator[None]:
    """Each module's ``forward`` replaced by ``wrap(forward)`` inside the block (hooks still run)."""
    for module in modules:
        module.forward = wrap(module.forward)
    try:
        yield
    finally:
        for module in modules:
            del module.forward  # the class's forward again


def key_value_projections(model: Any) -> list[nn.Module]:
    """The cross-attention key and value projections of an ``IdeficsForVisionText2Text``."""
    return [
        projection
        for layer in model.model.gated_cross_attn_layers
        for projection in (layer.cross_attn.k_proj, layer.cross_attn.v_proj)
    ]


def last_result_reused(forward: Forward) -> Forward:
    """``forward`` that returns its previous result when called again on the same tensor.

    "Same" is the same storage, offset, shape, strides and dtype; the previous input is kept alive,
    so no other tensor can take its memory in the meantime. Inference never writes to it in place.
    """
    last: list[Any] = []

    def reused(x: torch.Tensor) -> torch.Tensor:
        key = (x.data_ptr(), x.shape, x.stride(), x.dtype, x.device)
        if not last or last[0] != key:
            last[:] = [key, x, forward(x)]
        return last[2]

    return reused


def once_per_image(
    slots: torch.Tensor, distinct: torch.Tensor, image_of_row: torch.Tensor
) -> Callable[[Forward], Forward]:
    """A wrapper computing a projection of ``slots`` (rows' copies of few images) on ``distinct``, then gathered."""

    def wrap(forward: Forward) -> Forward:
        def projected(x: torch.Tensor) -> torch.Tensor:
            if x.data_ptr() == slots.data_ptr() and x.shape == slots.shape:
                return forward(distinct).index_select(0, image_of_row)
            return forward(x)

        return projected

    return wrap
