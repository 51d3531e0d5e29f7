"""The Batch panel (``batch_panel``): images analysed into an output folder on a Qt-free worker,
with progress/ETA, pause, cancel, sort and filter.
"""
