"""What the backbones made of a tile, kept in memory so that the same pixels are not run twice.

The backbones (CNN and DINOv2 branch, ``HFFNet2d.backbone``) are ~90 % of v3's FLOPs per tile, and
they see nothing but the tile's pixels: not the pixel size, not the heads. So an image analysed
again in the same session - with an adapted model (new heads over the same backbone), with lab
statistics or a surface context switched on or off, without its calibration, by ``evaluate``
after ``calibrate`` - only needs the cheap rest of the network (``HFFNet2d.fuse``: the small
transformer, the fusion and the heads) on the stored backbone outputs.

Entries are keyed by a digest of the backbone's weights and one of the standardised tile's bytes, so
a model with another backbone never reads them. The outputs are those the network computed for
the tile (fp32, CPU), so a cached analysis gives what a fresh one gives, up to the rounding of a
different batch composition (tests/test_tilecache.py). Bounded, least recently used first out.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

import numpy as np
import torch

SIZE_ENV = "FRACTOSCOPE_TILE_CACHE_MB"
# A 4096 x 3072 frame at a third overlap is ~700 tiles of v3 backbone outputs (~0.42 MB each): the
# default keeps one such frame or a dozen 1280 x 960 ones.
DEFAULT_MB = 512

Entry = tuple[torch.Tensor, ...]


class TileCache:
    """Thread-safe LRU map from tile keys to backbone outputs (one tensor per output, no batch axis)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict[bytes, tuple[Entry, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: bytes) -> Entry | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: bytes, entry: Entry) -> None:
        size = sum(t.numel() * t.element_size() for t in entry)
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (entry, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, s) = self._items.popitem(last=False)
                self._bytes -= s

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0


_shared: TileCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> TileCache:
    """The process's cache, shared by every Analyzer (so a base and an adapted model share it).
    Its size is ``$FRACTOSCOPE_TILE_CACHE_MB`` megabytes (default 512; 0 turns it off)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            try:
                mb = float(os.environ.get(SIZE_ENV, DEFAULT_MB))
            except ValueError:
                mb = DEFAULT_MB
            _shared = TileCache(int(max(0.0, mb) * 1024 * 1024))
        return _shared


def backbone_digest(model: torch.nn.Module) -> bytes:
    """Digest of the weights :meth:`HFFNet2d.backbone` reads (names, shapes and values)."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        if name.startswith(("cnn.", "vit.")):
            a = t.detach().cpu().contiguous().numpy()
            h.update(f"{name}:{a.dtype}:{a.shape};".encode())
            h.update(memoryview(a).cast("B"))
    return h.digest()


def tile_keys(prefix: bytes, x: np.ndarray) -> list[bytes]:
    """One key per tile of the standardised batch ``x`` (N, ...): ``prefix`` + digest of its bytes."""
    x = np.ascontiguousarray(x)
    return [prefix + hashlib.blake2b(memoryview(t).cast("B"), digest_size=16).digest() for t in x]
