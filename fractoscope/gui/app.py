"""Start the desktop app: QApplication, theme, main window, command-line files, screenshot mode."""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

# Screenshot mode gives up waiting for the analysis after this long (and still saves one).
SCREENSHOT_TIMEOUT_S = 600


@dataclass
class GuiOptions:
    paths: list[Path] = field(default_factory=list)
    screenshot: Path | None = None
    analyse: bool | None = None  # None = the saved preference
    device: str | None = None
    model: Path | None = None
    settings_org: str | None = None
    settings_file: Path | None = None
    size: tuple[int, int] | None = None  # window size for screenshots


# Qt warnings that say nothing to a user: the offscreen platform (``--screenshot``, no display)
# cannot pass size hints to a window manager it does not have.
HARMLESS_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def install_qt_message_filter() -> None:
    """Drop the harmless Qt warnings above; every other Qt message still goes to stderr.

    The handler runs in whichever thread Qt logs from; it only writes text (no Qt objects).
    """
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind, _context, message: str) -> None:
        if any(m in message for m in HARMLESS_QT_MESSAGES):
            return
        if kind == QtMsgType.QtDebugMsg:
            return
        sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


def _install_excepthook(window) -> None:
    """An unexpected error in a slot becomes a line in the window, not a traceback on stderr;
    its traceback goes to the log file (``fractoscope.applog``), for the bug report."""

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unhandled error: %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
        try:
            window.show_error(f"Unexpected error: {exc_type.__name__}: {exc}")
        except Exception:  # noqa: BLE001 - the window itself may be gone
            pass

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        # A thread outside gui/background's wrappers: logged only (touching the window from
        # another thread is what gui/background forbids).
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error("unhandled error in thread %s: %s", name, args.exc_value,
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def run_app(opts: GuiOptions) -> int:
    """Run the GUI until it is closed (or, with ``screenshot``, until the picture is saved)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from fractoscope.applog import setup_logging
    from fractoscope.gui.main_window import MainWindow
    from fractoscope.gui.settings import AppSettings, open_qsettings
    from fractoscope.gui.theme import apply_theme

    setup_logging()  # before anything can fail: tracebacks of unexpected errors go to this file
    install_qt_message_filter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    # Import torch & co. now, before the window shows: a first import inside the analysis thread
    # holds the GIL long enough to freeze the GUI for ~0.5 s (measured); at start-up it is free.
    import fractoscope.analysis.pipeline  # noqa: F401
    app.setApplicationName("Fractoscope")
    app.setOrganizationName(opts.settings_org or "Fractoscope")
    settings = AppSettings(open_qsettings(opts.settings_org, opts.settings_file))
    apply_theme(app, settings.theme)
    win = MainWindow(settings, model_path=opts.model, device=opts.device, auto_analyse=opts.analyse)
    if opts.size:
        win.resize(*opts.size)
    _install_excepthook(win)
    win.show()

    status = {"code": 0}
    if opts.screenshot is not None:
        out = Path(opts.screenshot)

        def shoot(ok: bool = True) -> None:
            # Let the last repaint (panels, overlays) happen before grabbing.
            QTimer.singleShot(300, lambda: _save_screenshot(win, out, ok, status))

        if opts.paths and any((Path(p) / "case.json").is_file() for p in opts.paths):
            # A failure case: shot once its map is drawn (and analysed, if that started with it).
            win.case.shown.connect(lambda _c: shoot(True))
            win.case.loader.failed.connect(lambda _m: shoot(False))
            QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: shoot(False))
        elif opts.paths:
            waiting_for_analysis = win.act_auto_analyse.isChecked()
            if waiting_for_analysis:
                win.analysisFinished.connect(lambda _p: shoot(True))
                win.analysisFailed.connect(lambda _m: shoot(False))
            else:
                win.imageLoaded.connect(lambda _s: shoot(True))
            win.imageFailed.connect(lambda _m: shoot(False))
            QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: shoot(False))
        else:
            shoot(True)

    if opts.paths:
        QTimer.singleShot(0, lambda: win.open_paths(list(opts.paths)))
    app.exec()
    return status["code"]


def _save_screenshot(win, out: Path, ok: bool, status: dict) -> None:
    if status.get("done"):
        return
    status["done"] = True
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        saved = win.grab().save(str(out))
    except OSError as exc:
        saved = False
        print(f"fractoscope: cannot write {out}: {exc}", file=sys.stderr)
    if not saved:
        print(f"fractoscope: cannot write screenshot {out}", file=sys.stderr)
    elif not ok:
        print(f"fractoscope: screenshot saved, but: {win.last_error or 'analysis did not finish'}", file=sys.stderr)
    status["code"] = 0 if (saved and ok) else 1
    win.close()
