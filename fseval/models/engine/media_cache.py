"""Encoded media kept for a whole run, keyed by a hash of the decoded pixels.

A k-shot evaluation shows the same demo-pool images to many queries; every adapter that keeps
their encodings here encodes each image once per run. Keys hash the pixels, not the path, so
identical images under different paths share one entry. ``prepare`` runs in the harness's
prefetch threads: it hashes and preprocesses upcoming items so the main thread only encodes.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from PIL import Image

from fseval.types import Media

Encode = Callable[[Sequence[Media], Sequence[str]], list[torch.Tensor]]
"""Encodes items (given with their keys, for ``pixels``): one tensor per item."""


class MediaFeatureCache:
    """An LRU of encoded media bounded by ``max_bytes``, with staged preprocessed pixels. Thread-safe."""

    def __init__(self, preprocess: Callable[[Media], torch.Tensor], max_bytes: int = 2 << 30) -> None:
        self.preprocess = preprocess
        self.max_bytes = max_bytes
        self.entries: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.used_bytes = 0
        self.staged: OrderedDict[str, torch.Tensor] = OrderedDict()  # preprocessed by ``prepare``
        self._digests: OrderedDict[int, tuple[weakref.ref[Image.Image], bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _frame_digest(self, frame: Image.Image) -> bytes:
        """blake2b of a frame's pixels, remembered per image object (the media loader reuses them)."""
        with self._lock:
            known = self._digests.get(id(frame))
            if known is not None and known[0]() is frame:
                self._digests.move_to_end(id(frame))
                return known[1]
        digest = hashlib.blake2b(f"{frame.mode}{frame.size}".encode(), digest_size=16)
        digest.update(frame.tobytes())
        if frame.mode in ("P", "PA"):  # the bytes are palette indices
            digest.update(bytes(frame.getpalette() or ()))
        value = digest.digest()
        with self._lock:
            self._digests[id(frame)] = (weakref.ref(frame), value)
            while len(self._digests) > 16384:
                self._digests.popitem(last=False)
        return value

    def key(self, item: Media) -> str:
        """A hash of the item's frames' pixels, whatever its path."""
        if len(item.frames) == 1:
            return "px:" + self._frame_digest(item.frames[0]).hex()
        digest = hashlib.blake2b(digest_size=16)
        for frame in item.frames:
            digest.update(self._frame_digest(frame))
        return f"px{len(item.frames)}:" + digest.hexdigest()

    def prepare(self, items: Sequence[Media]) -> None:
        """Hash and preprocess the items that are not cached or staged yet."""
        for item in items:
            key = self.key(item)
            with self._lock:
                if key in self.entries or key in self.staged:
                    continue
            pixels = self.preprocess(item)
            with self._lock:
                self.staged[key] = pixels
                while len(self.staged) > 512:
                    self.staged.popitem(last=False)

    def pixels(self, item: Media, key: str | None = None) -> torch.Tensor:
        """The item preprocessed: taken from the staged ones when ``prepare`` got there first."""
        if key is not None:
            with self._lock:
                staged = self.staged.pop(key, None)
            if staged is not None:
                return staged
        return self.preprocess(item)

    def get(self, keys: Sequence[str], items: Sequence[Media], encode: Encode) -> list[torch.Tensor]:
        """The encoding of each item: cached ones looked up, the others encoded together once and kept."""
        with self._lock:
            found = {key: self.entries[key] for key in keys if key in self.entries}
        todo = {key: item for key, item in zip(keys, items, strict=True) if key not in found}
        if todo:
            found.update(zip(todo, encode(list(todo.values()), list(todo)), strict=True))
        with self._lock:
            for key in keys:
                if key in self.entries:
                    self.entries.move_to_end(key)
                else:
                    self.entries[key] = found[key]
                    self.used_bytes += found[key].nbytes
            while self.used_bytes > self.max_bytes and self.entries:
                self.used_bytes -= self.entries.popitem(last=False)[1].nbytes
        return [found[key] for key in keys]

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.staged.clear()
            self.used_bytes = 0
