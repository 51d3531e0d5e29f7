"""What the network made of a tile, kept in memory so that the same pixels are not run twice.

The backbones (CNN and DINOv2 branch, ``HFFNet2d.backbone``) are ~90 % of v3's FLOPs per tile, and
they see nothing but the tile's pixels: not the pixel size, not the heads. The rest up to the heads
(``HFFNet2d.fuse_maps``) adds the pixel size. So an image analysed again in the same session only
needs the heads (``HFFNet2d.heads``: two linear layers and their CAMs) when only the heads changed
- an adapted model, lab statistics (a batch's main pass after its lab-statistics sample), a
surface context - and only the cheap fusion when its pixel size changed (analysed without its
calibration; ``evaluate`` after ``calibrate``).

Two kinds of entries: backbone outputs keyed by a digest of the backbone's weights and one of the
standardised tile's bytes; the heads' input maps keyed by a digest of every weight but the heads',
the tile's digest and its pixel size. A model with other weights never reads them. The entries
are what the network computed for the tile (fp32, CPU), so a cached analysis gives what a fresh
one gives, up to the rounding of another batch make-up (tests/test_tilecache.py). Bounded, least
recently used first out.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict

import numpy as np
import torch

SIZE_ENV = "FRACTOSCOPE_TILE_CACHE_MB"
# A tile's two entries take ~0.8 MB with v3 (backbone outputs 0.42 MB, the heads' input maps 0.39 MB):
# the default keeps about 1300 tiles, some 18 frames of 1280 x 960 (70 tiles each).
DEFAULT_MB = 1024

Entry = tuple[torch.Tensor, ...]


class TileCache:
    """Thread-safe LRU map from tile keys to what the network made of the tile (one tensor per
    output, no batch axis).

    Entries put with ``keep=True`` (a first pass whose tiles a second pass will read, such as a
    batch's lab-statistics sample) are not evicted until read once or released, and may grow past
    ``max_bytes`` up to the ``keep_limit`` of :meth:`keep`: under plain LRU, a second pass in the
    same order over more tiles than fit would evict each tile just before it is needed.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._items: OrderedDict[bytes, tuple[Entry, int]] = OrderedDict()
        self._kept: OrderedDict[bytes, tuple[Entry, int]] = OrderedDict()
        self._bytes = 0  # all entries
        self._kept_bytes = 0
        self._keep_limit = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def kept_bytes(self) -> int:
        return self._kept_bytes

    def __len__(self) -> int:
        return len(self._items) + len(self._kept)

    def get(self, key: bytes) -> Entry | None:
        with self._lock:
            item = self._kept.pop(key, None)
            if item is not None:  # read once: from now on an ordinary entry
                self._kept_bytes -= item[1]
                self._items[key] = item
                self.hits += 1
                self._evict()
                return item[0]
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: bytes, entry: Entry, keep: bool = False) -> None:
        size = sum(t.numel() * t.element_size() for t in entry)
        with self._lock:
            for d in (self._items, self._kept):
                old = d.pop(key, None)
                if old is not None:
                    self._bytes -= old[1]
                    if d is self._kept:
                        self._kept_bytes -= old[1]
            if keep and self._kept_bytes + size <= max(self.max_bytes, self._keep_limit):
                self._kept[key] = (entry, size)
                self._kept_bytes += size
            elif size <= self.max_bytes:
                self._items[key] = (entry, size)
            else:
                return
            self._bytes += size
            self._evict()

    def _evict(self) -> None:
        # Kept entries may fill more than max_bytes; ordinary ones then get no room at all.
        budget = max(self.max_bytes, self._kept_bytes)
        while self._bytes > budget and self._items:
            _, (_, s) = self._items.popitem(last=False)
            self._bytes -= s

    def keep(self, limit_bytes: int) -> None:
        """Let kept entries grow up to ``limit_bytes`` (never below ``max_bytes``)."""
        with self._lock:
            self._keep_limit = max(0, int(limit_bytes))

    def release(self) -> None:
        """Kept entries become ordinary ones (the oldest), and the cache shrinks to ``max_bytes``."""
        with self._lock:
            kept, self._kept = self._kept, OrderedDict()
            for k, v in reversed(kept.items()):
                self._items[k] = v
                self._items.move_to_end(k, last=False)
            self._kept_bytes = 0
            self._keep_limit = 0
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._kept.clear()
            self._bytes = self._kept_bytes = self._keep_limit = 0
            self.hits = self.misses = 0


def keep_limit_bytes() -> int:
    """How much a pass may keep for a second one: a quarter of the memory free now, at most 4 GiB
    (50 frames of 1280 x 960, a batch's largest lab-statistics sample, need about 1.5 GB)."""
    import psutil

    return int(min(4 << 30, psutil.virtual_memory().available // 4))


_shared: TileCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> TileCache:
    """The process's cache, shared by every Analyzer (so a base and an adapted model share it).
    Its size is ``$FRACTOSCOPE_TILE_CACHE_MB`` megabytes (default 1024; 0 turns it off)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            try:
                mb = float(os.environ.get(SIZE_ENV, DEFAULT_MB))
            except ValueError:
                mb = DEFAULT_MB
            _shared = TileCache(int(max(0.0, mb) * 1024 * 1024))
        return _shared


def network_digests(model: torch.nn.Module) -> tuple[bytes, bytes]:
    """(backbone digest, maps digest) in one pass over the weights (names, shapes and values).

    The backbone's covers what :meth:`HFFNet2d.backbone` reads; the maps' covers every weight but
    the heads' (what :meth:`HFFNet2d.fuse_maps` depends on, the backbone included)."""
    hb, hm = hashlib.blake2b(digest_size=16), hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        if name.startswith(("head_level1.", "head_level2.")):
            continue
        h = hb if name.startswith(("cnn.", "vit.")) else hm
        a = t.detach().cpu().contiguous().numpy()
        h.update(f"{name}:{a.dtype}:{a.shape};".encode())
        h.update(memoryview(a).cast("B"))
    b = hb.digest()
    hm.update(b)
    return b"B" + b, b"M" + hm.digest()


def tile_digests(x: np.ndarray) -> list[bytes]:
    """One digest per tile of the standardised batch ``x`` (N, ...), of its bytes."""
    x = np.ascontiguousarray(x)
    return [hashlib.blake2b(memoryview(t).cast("B"), digest_size=16).digest() for t in x]
