"""Batch processing of folders: durable incremental results, resume, stored predictions (Qt-free)."""

from fractoscope.batch.records import CSV_COLUMNS, BatchRecord
from fractoscope.batch.runner import BatchEvent, BatchSummary, run_batch
from fractoscope.batch.store import read_manifest, read_records
from fractoscope.batch.stored import load_stored_prediction, save_prediction

__all__ = [
    "CSV_COLUMNS",
    "BatchEvent",
    "BatchRecord",
    "BatchSummary",
    "load_stored_prediction",
    "read_manifest",
    "read_records",
    "run_batch",
    "save_prediction",
]
