"""The case view (issue 25): a failure case's overview with every frame placed and coloured by
mechanism, annotations, hand placement, analysis with progress and cancel, the case report.

``install_case(window)`` adds it to the main window (``feature.py``); ``view.py`` is the widget,
``items.py`` its graphics items, ``jobs.py`` the Qt-free background jobs.
"""

from fractoscope.gui.case.feature import CaseFeature, install_case, is_case_folder

__all__ = ["CaseFeature", "install_case", "is_case_folder"]
