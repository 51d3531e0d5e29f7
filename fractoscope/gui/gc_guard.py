"""Run Python's cyclic garbage collector only in the GUI thread.

If a worker thread (analysis, batch) happens to trigger a collection that frees a Qt object's
Python wrapper, Qt destroys that object from the wrong thread and the app can deadlock or crash
(seen here: a worker building the model collected a stale pyqtgraph item while the GUI thread
painted). pyqtgraph's GarbageCollector disables automatic collection and collects on a timer in
the GUI thread instead.
"""

from __future__ import annotations

_collector = None


def collect_garbage_in_gui_thread(interval_s: float = 0.5) -> None:
    """Idempotent; call after the QApplication exists, from the GUI thread."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=interval_s)
