"""Batch processing of folders: durable incremental results, resume, stored predictions (Qt-free)."""

from fractoscope.batch.eta import EtaEstimator, format_eta
from fractoscope.batch.inputs import BatchInputError, collect_inputs
from fractoscope.batch.records import CSV_COLUMNS, STATUS_FAILED, STATUS_OK, BatchRecord
from fractoscope.batch.runner import BatchEvent, BatchRun, BatchSummary, run_batch
from fractoscope.batch.store import read_manifest, read_records
from fractoscope.batch.stored import load_stored_prediction, save_prediction

__all__ = [
    "CSV_COLUMNS",
    "STATUS_FAILED",
    "STATUS_OK",
    "BatchEvent",
    "BatchInputError",
    "BatchRecord",
    "BatchRun",
    "BatchSummary",
    "EtaEstimator",
    "collect_inputs",
    "format_eta",
    "load_stored_prediction",
    "read_manifest",
    "read_records",
    "run_batch",
    "save_prediction",
]
