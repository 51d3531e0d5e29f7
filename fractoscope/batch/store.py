"""Durable, resumable result files of a batch run.

Layout of an output folder::

    manifest.json            run settings, app version, model name + sha256 (atomic rewrite)
    results.jsonl            one JSON record per image (full details): the source of truth
    results.csv              the same rows, flat, for spreadsheets
    items/<key>.npz          stored prediction + CAMs, so the viewer reopens without recomputing
    overlays/<stem>-<key8>-level{1,2}.png, thumbs/<key>.png

Each record is appended to the JSONL then the CSV, each followed by flush + fsync, only after its
item and overlay files were renamed into place: a record on disk always has its files. After a
``kill -9`` the last line may be cut short; ``open`` drops it and rewrites both files from the
surviving records (deduplicated by path), so nothing is lost or duplicated.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from fractoscope.atomic import FILE_MODE, write_atomic  # noqa: F401 - re-exported
from fractoscope.batch.records import CSV_COLUMNS, BatchRecord
from fractoscope.errors import FractoscopeError

RESULTS_CSV = "results.csv"
RESULTS_JSONL = "results.jsonl"
MANIFEST = "manifest.json"
LOCK = ".fractoscope-batch.lock"


def read_records(out_dir: Path) -> tuple[list[BatchRecord], int]:
    """Records of ``results.jsonl`` (last one per path wins) and the number of damaged lines."""
    path = Path(out_dir) / RESULTS_JSONL
    if not path.is_file():
        return [], 0
    by_path: dict[str, BatchRecord] = {}
    damaged = 0
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                rec = BatchRecord.from_json(json.loads(line.decode("utf-8")))
            except (ValueError, TypeError, UnicodeDecodeError):
                damaged += 1  # a line cut short by a killed process
                continue
            by_path.pop(rec.path, None)  # keep insertion order = completion order
            by_path[rec.path] = rec
    return list(by_path.values()), damaged


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class _Lock:
    """Exclusive lock on the output folder: two runs must not interleave rows.

    ``flock`` is released by the kernel when a process dies, so a ``kill -9`` leaves no stale
    lock (the empty file may stay; it holds nothing). A finished run removes the file: it
    unlinks it while still holding the lock, and a run that locked a file which was unlinked
    meanwhile notices (the path no longer names its file) and locks the new one instead.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        for _ in range(20):
            self._fh = open(path, "a+b")  # noqa: SIM115 - held for the lifetime of the run
            self._acquire()
            try:
                same = os.path.samestat(os.fstat(self._fh.fileno()), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                return
            self._fh.close()  # locked a file another run had just removed: try the new one
        raise FractoscopeError(f"cannot lock {path}")

    def _acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks a byte range
            import msvcrt

            try:
                msvcrt.locking(self._fh.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                self._fh.close()
                raise FractoscopeError(
                    f"another batch run is writing to {self._path.parent}"
                ) from None
            return
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise FractoscopeError(f"another batch run is writing to {self._path.parent}") from None

    def release(self) -> None:
        if self._fh.closed:
            return
        try:
            self._path.unlink()  # while still locked, so no other run is holding this file
        except OSError:
            pass  # Windows cannot remove an open file; the lock itself is what matters
        self._fh.close()


class ResultStore:
    """Appends records durably; on open, repairs and compacts what a previous run left."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "items").mkdir(exist_ok=True)
            (self.out_dir / "overlays").mkdir(exist_ok=True)
            (self.out_dir / "thumbs").mkdir(exist_ok=True)
        except OSError as exc:
            raise FractoscopeError(
                f"cannot create output folder {self.out_dir}: {exc.strerror}"
            ) from None
        self._lock = _Lock(self.out_dir / LOCK)
        self._jsonl = None
        self._csv = None
        self.repaired_lines = 0

    # -- opening ---------------------------------------------------------------------------
    def load(self) -> list[BatchRecord]:
        records, self.repaired_lines = read_records(self.out_dir)
        return records

    def rewrite(self, records: list[BatchRecord]) -> None:
        """Replace both result files with exactly ``records`` (atomic), then open for appending."""
        jsonl = "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in records)
        write_atomic(self.out_dir / RESULTS_JSONL, jsonl.encode("utf-8"))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for r in records:
            w.writerow(r.csv_row())
        # utf-8-sig: Excel then reads µ and accented file names correctly.
        write_atomic(self.out_dir / RESULTS_CSV, buf.getvalue().encode("utf-8-sig"))
        self._open_append()

    def _open_append(self) -> None:
        self.close_files()
        self._jsonl = open(self.out_dir / RESULTS_JSONL, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._csv = open(self.out_dir / RESULTS_CSV, "a", encoding="utf-8", newline="")  # noqa: SIM115
        self._csv_writer = csv.writer(self._csv, lineterminator="\n")

    # -- appending -------------------------------------------------------------------------
    def append(self, record: BatchRecord) -> None:
        if self._jsonl is None:
            raise RuntimeError("ResultStore.rewrite must be called before append")
        self._jsonl.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
        self._jsonl.flush()
        os.fsync(self._jsonl.fileno())
        self._csv_writer.writerow(record.csv_row())
        self._csv.flush()
        os.fsync(self._csv.fileno())

    def write_manifest(self, manifest: dict) -> None:
        data = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
        write_atomic(self.out_dir / MANIFEST, data.encode("utf-8"))

    def close_files(self) -> None:
        for fh in (self._jsonl, self._csv):
            if fh is not None:
                fh.close()
        self._jsonl = self._csv = None

    def close(self) -> None:
        self.close_files()
        self._lock.release()
