"""The window keeps unexpected errors (issue 27): Help > About names the log file, and an error
escaping a slot is one line in the window with its traceback in that file."""

from __future__ import annotations

import sys
import threading

import pytest

from fractoscope import applog, paths


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "userdata"))
    applog.close_logging()
    path = applog.setup_logging()
    yield path
    applog.close_logging()


def test_about_names_the_log_file(make_window, log_file):
    w = make_window()
    w.act_about.trigger()
    assert str(log_file) in w.message_bar.text()


def test_unhandled_slot_error_goes_to_the_log_with_traceback(make_window, log_file, monkeypatch):
    from fractoscope.gui.app import _install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    w = make_window()
    _install_excepthook(w)

    def broken_slot():
        return {}["missing"]

    try:
        broken_slot()
    except KeyError:
        sys.excepthook(*sys.exc_info())
    assert w.last_error.startswith("Unexpected error: KeyError")
    text = log_file.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "in broken_slot" in text

    t = threading.Thread(target=broken_slot, name="stray-thread")
    t.start()
    t.join()
    text = log_file.read_text(encoding="utf-8")
    assert "unhandled error in thread stray-thread" in text and text.count("in broken_slot") == 2
