"""The desktop app (PySide6); with ``report/pdf/`` the only package that imports Qt.

Grouped by window part; a piece two parts use stays at the top. One line per folder:

* ``viewer/``: the image view: panes, their state, side panels, analysis, file list, set scale.
* ``library/``: the reference library: dock, Label as…, similar images, Teach, Update model.
* ``batch/``: the Batch panel: folders analysed into an output folder, with progress/cancel.
* ``case/``: the case view: a failure case's map, annotations, case analysis and report.
* top level: app start, the main window that composes the parts, threading (``background``,
  ``worker``, ``gc_guard``), settings, preferences, theme, display pixels, the report dialog.

Feature folders import the top level and their own folder, not each other (one exception: the case
view borrows the viewer's scale bar); ``tests/test_architecture.py`` checks it.
"""
