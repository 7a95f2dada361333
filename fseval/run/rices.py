"""RICES demo selection (Yang et al. 2022, as OpenFlamingo's ``eval/rices.py`` applies it).

Each query gets the k demos whose CLIP image embeddings (L2-normalised) have the highest cosine
similarity to its own, ordered so that the most similar demo comes last, closest to the query.
Embeddings of a split are computed once and cached on disk under a key made of the encoder and
the split's files and sample ids, so later runs (and ``fseval cache-features``) reuse them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from fseval.config import RicesSettings
from fseval.devices import resolve_device
from fseval.errors import FsevalError, MediaError
from fseval.media.images import load_media
from fseval.progress import bar, phase
from fseval.run.demos import DemoPlan
from fseval.tasks.task_data import TaskData
from fseval.types import Sample

CACHE_ENV = "FSEVAL_CACHE"


def cache_dir(settings: RicesSettings) -> Path:
    if settings.cache_dir is not None:
        return settings.cache_dir
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "fseval")) / "features"


def cache_key(encoder: str, pretrained: str, files: Sequence[str], samples: Sequence[Sample]) -> str:
    """Encoder + dataset files (path, size, mtime) + the samples' ids: any change makes a new key."""
    digest = hashlib.sha256(json.dumps([encoder, pretrained]).encode())
    for name in files:
        path = Path(name)
        stat = path.stat() if path.exists() else None
        where = str(path.resolve()) if stat else name  # however --data-dir was spelled
        digest.update(json.dumps([where, stat.st_size if stat else None, stat.st_mtime_ns if stat else None]).encode())
    digest.update(json.dumps([str(s.id) for s in samples]).encode())
    return digest.hexdigest()[:24]


@cache
def load_encoder(name: str, pretrained: str, device: str) -> tuple[Any, Any]:
    """An open_clip model (a registered name, or an open_clip config JSON) and its eval transform."""
    import open_clip

    if name.endswith(".json"):
        open_clip.add_model_config(name)
        name = Path(name).stem
    try:
        model, _, transform = open_clip.create_model_and_transforms(name, pretrained=pretrained or None, device=device)
    except (RuntimeError, OSError) as e:
        raise FsevalError(
            f"Cannot load the RICES encoder {name} ({pretrained}): {e}",
            hint="Pass --rices-pretrained as a local weights file, or pre-download the weights into the HF cache.",
        ) from e
    return model.eval(), transform


def embed(samples: Sequence[Sample], encoder: str, pretrained: str, device: str, batch_size: int = 64) -> np.ndarray:
    """L2-normalised image embeddings, one row per sample (its first media item); zeros if unreadable."""
    import torch

    with phase(f"Loading the RICES encoder {encoder}"):
        model, transform = load_encoder(encoder, pretrained, device)
    rows: list[np.ndarray] = []
    advance = bar(f"RICES features ({encoder})", len(samples))
    for start in range(0, len(samples), batch_size):
        batch = samples[start : start + batch_size]
        images, ok = [], []
        for sample in batch:
            try:
                images.append(transform(load_media(sample.media[0]).frames[0]))
                ok.append(True)
            except (MediaError, IndexError):
                ok.append(False)
        features = np.zeros((len(batch), 0), dtype=np.float32)
        if images:
            with torch.no_grad():
                encoded = model.encode_image(torch.stack(images).to(device)).float()
                encoded = encoded / encoded.norm(dim=-1, keepdim=True)
            features = np.zeros((len(batch), encoded.shape[1]), dtype=np.float32)
            features[np.asarray(ok)] = encoded.cpu().numpy()
        rows.append(features)
        advance(len(batch))
    width = max((r.shape[1] for r in rows), default=0)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]))) for r in rows]) if rows else np.zeros((0, 0))


def cached_embeddings(samples: Sequence[Sample], files: Sequence[str], settings: RicesSettings) -> np.ndarray:
    """The samples' embeddings, computed once and cached on disk under their key."""
    key = cache_key(settings.model, settings.pretrained, files, samples)
    path = cache_dir(settings) / f"{key}.npy"
    if path.is_file():
        cached: np.ndarray = np.load(path)
        return cached
    features = embed(samples, settings.model, settings.pretrained, resolve_device(settings.device))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, features)
    os.replace(tmp, path)
    return features


def most_similar(
    queries: np.ndarray, pool: np.ndarray, k: int, exclude: Sequence[int] | None = None
) -> list[list[int]]:
    """Top-k pool indices by cosine similarity per query, the most similar last (ties: lower index first)."""
    similarity = queries @ pool.T
    if exclude is not None:
        similarity[np.arange(len(exclude)), np.asarray(exclude)] = -np.inf
    top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return [list(reversed(row.tolist())) for row in top]


def plan_rices(data: TaskData, k: int, settings: RicesSettings, limit: int | None) -> DemoPlan:
    order = list(range(len(data.eval)))[:limit]
    pool = cached_embeddings(data.demo_pool, data.files["demo"], settings)
    queries = cached_embeddings([data.eval[i] for i in order], data.files["eval"], settings)
    exclude = order if data.demo_is_eval else None
    return DemoPlan(order, most_similar(queries, pool, k, exclude) if k else [[] for _ in order])
