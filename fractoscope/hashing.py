"""The one file-hash helper: sha256 of a file's bytes (model checkpoints, batch resume keys)."""

from __future__ import annotations

import hashlib
import os

_CHUNK = 1 << 20  # 1 MiB: large enough for full disk throughput, small enough to stay flat


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``, read in chunks (memory stays flat for any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
