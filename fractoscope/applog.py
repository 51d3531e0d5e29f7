"""The application's log file: where unexpected errors keep their tracebacks.

User mistakes (a bad file, a wrong option) are one line on screen and need no log; a bug is
shown as one line too, but its traceback must survive for the bug report. ``setup_logging``
sends the ``fractoscope`` loggers to a rotating file in the user's data folder
(``paths.user_data_dir() / "logs" / "fractoscope.log"``). It is called when the window starts
and by the commands that run the model over many images (batch). Qt-free.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path

from fractoscope.paths import user_data_dir

LOG_NAME = "fractoscope.log"
MAX_BYTES = 1_000_000  # ~1 MB per file, 3 old files kept: enough history, never a disk problem
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"

_lock = threading.Lock()


def log_path() -> Path:
    """Where the log file is (whether or not it exists yet)."""
    return user_data_dir() / "logs" / LOG_NAME


def _our_handler(logger: logging.Logger) -> logging.handlers.RotatingFileHandler | None:
    for h in logger.handlers:
        if getattr(h, "_fractoscope_log", False):
            return h
    return None


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Write the ``fractoscope`` loggers (INFO and above) to the rotating log file.

    Idempotent; a second call with another ``$FRACTOSCOPE_DATA_DIR`` moves the file there (tests).
    Returns the file's path, or None when it cannot be opened (read-only home): the app still
    runs, and a line on stderr says why, once.
    """
    path = log_path()
    logger = logging.getLogger("fractoscope")
    with _lock:
        old = _our_handler(logger)
        if old is not None:
            if Path(old.baseFilename) == path.resolve():
                return path
            logger.removeHandler(old)
            old.close()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
            )
            # delay=True opens on the first record; check now that it can be written.
            with open(path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            print(f"fractoscope: no log file ({path}: {exc.strerror or exc})", file=sys.stderr)
            return None
        handler._fractoscope_log = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(level)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)
    return path


def configured_log_path() -> Path | None:
    """The file ``setup_logging`` opened, or None when logging to a file is not set up."""
    h = _our_handler(logging.getLogger("fractoscope"))
    return Path(h.baseFilename) if h is not None else None


def log_unexpected(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log an unexpected exception with its traceback at ERROR (the one way the app does it)."""
    logger.error("%s: %s: %s", what, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__))


def close_logging() -> None:
    """Detach and close the log file (tests; the window at exit needs nothing: logging does it)."""
    logger = logging.getLogger("fractoscope")
    with _lock:
        h = _our_handler(logger)
        if h is not None:
            logger.removeHandler(h)
            h.close()
