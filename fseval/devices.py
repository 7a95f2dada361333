"""One meaning for ``--device``: checked before any weights move."""

from __future__ import annotations

import re

from fseval.errors import FsevalError

_FORMAT = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device_name(requested: str) -> str:
    """``requested`` if it is a device name fseval accepts, else a clear error (no torch import)."""
    if not _FORMAT.fullmatch(requested):
        raise FsevalError(f"{requested!r} is not a device.", hint="Use auto, cpu, cuda, cuda:N or mps.")
    return requested


def resolve_device(requested: str) -> str:
    """The torch device for ``requested``: ``auto`` picks cuda when torch sees one, else cpu."""
    import torch

    check_device_name(requested)
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "mps" and not torch.backends.mps.is_available():
        raise FsevalError("--device mps: torch reports no MPS device here.", hint="Use --device cpu or auto.")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise FsevalError(
                f"--device {requested}: torch sees no CUDA device (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}).",
                hint="Use --device cpu or auto; for a GPU, check that nvidia-smi lists it and torch supports it.",
            )
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise FsevalError(
                f"--device {requested}: there are {torch.cuda.device_count()} CUDA device(s), numbered from 0.",
                hint="Pick one with --device cuda:N, or set CUDA_VISIBLE_DEVICES.",
            )
    return requested
