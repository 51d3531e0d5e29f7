"""The reference library in the window: the dock (``library_dock``), its wiring into the main window
(``library_actions``), similar labelled images (``similar_panel``), Teach it your lab
(``teach_dialog``) and the Qt-free adaptation, thumbnail and similarity jobs (``adapt_worker``).
"""
