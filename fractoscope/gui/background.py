"""The GUI's one threading model: Qt-free worker threads, a mailbox, a GUI-thread drain.

Rules (issue 13; a worker thread that touched, emitted from or freed a Qt object crashed the app):

* Work runs in plain ``threading.Thread``s whose target is a module-level function and whose
  arguments are plain Python data (paths, numpy arrays, ``threading.Event``s, an ``Outbox``).
  ``start_worker`` refuses a Qt object, or a bound method / closure that reaches one, so a worker
  can never hold the last reference to a widget and destroy it in the wrong thread.
* A worker only ever ``post``s plain-data messages to its ``Outbox`` (a thread-safe queue).
* ``Drain``, a QObject living in the GUI thread, empties the outbox on a ``QTimer`` and hands the
  messages to a GUI-thread handler, which is the only place that touches widgets or emits signals.
* Python's cyclic garbage collector runs only in the GUI thread (``gc_guard``), so a collection
  triggered by a worker's allocations cannot free a Qt wrapper there either.
* Shutdown is cooperative: set the job's cancel event, then ``join`` with a timeout. A worker
  that overruns the timeout holds nothing Qt, so leaving it (a daemon thread) is safe.
"""

from __future__ import annotations

import functools
import inspect
import queue
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, QTimer

# Fast enough that progress looks live, slow enough to cost nothing measurable while idle
# (the timer only runs while a worker is active).
DRAIN_INTERVAL_MS = 15
# At most this many messages per timer tick, so a flood of progress never starves painting.
DRAIN_BATCH = 200


class Outbox:
    """A worker's thread-safe message queue (no Qt): ``post(kind, *payload)``."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()

    def post(self, kind: str, *payload: Any) -> None:
        self._q.put((kind, *payload))

    def drain(self, limit: int = DRAIN_BATCH) -> list[tuple[Any, ...]]:
        out = []
        for _ in range(limit):
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                break
        return out

    def empty(self) -> bool:
        return self._q.empty()


class Drain(QObject):
    """GUI thread: polls an ``Outbox`` while ``start``ed and calls ``handler(message)``.

    The handler runs in the GUI thread; it may touch widgets and emit signals. A bound method is
    held weakly, so the drain (a child of its owner) does not keep its owner alive.
    """

    def __init__(
        self,
        outbox: Outbox,
        handler: Callable[[tuple[Any, ...]], None],
        parent: QObject | None = None,
        interval_ms: int = DRAIN_INTERVAL_MS,
    ) -> None:
        super().__init__(parent)
        self.outbox = outbox
        self._handler = weakref.WeakMethod(handler) if inspect.ismethod(handler) else (lambda: handler)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.pump)

    def start(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def pump(self) -> int:
        """Hand every waiting message to the handler now; returns how many."""
        handler = self._handler()
        if handler is None:  # its owner is gone
            self.stop()
            return 0
        messages = self.outbox.drain()
        for msg in messages:
            handler(msg)
        return len(messages)


# --- refusing Qt objects at the thread boundary -----------------------------------------------


def _reaches_qt(obj: Any, depth: int = 0) -> bool:
    """True when ``obj`` is, or directly holds, a QObject (bound method, partial, closure)."""
    if isinstance(obj, QObject):
        return True
    if depth > 2:
        return False
    if isinstance(obj, functools.partial):
        return any(_reaches_qt(x, depth + 1) for x in (obj.func, *obj.args, *obj.keywords.values()))
    bound_to = getattr(obj, "__self__", None)
    if bound_to is not None and not isinstance(bound_to, type) and _reaches_qt(bound_to, depth + 1):
        return True
    cells = getattr(obj, "__closure__", None) or ()
    for cell in cells:
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if _reaches_qt(value, depth + 1):
            return True
    return False


def ensure_qt_free(*objs: Any, what: str = "worker argument") -> None:
    """Raise TypeError when one of ``objs`` is or holds a Qt object (see the module rules)."""
    for obj in objs:
        if _reaches_qt(obj):
            raise TypeError(f"{what} {obj!r} is or holds a Qt object; pass plain data to a worker thread")


def start_worker(target: Callable[..., None], args: Iterable[Any], name: str) -> threading.Thread:
    """Start a daemon thread running ``target(*args)`` after checking both are Qt-free."""
    args = tuple(args)
    ensure_qt_free(target, *args)
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.start()
    return t
