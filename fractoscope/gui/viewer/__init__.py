"""The main window's image view: linked panes (``viewer``), their Qt-free state (``viewer_state``),
the side panels (``panels``), the analysis of the shown image (``analysis_controller``, ``surface``),
the image list (``file_list``), Set scale (``set_scale``) and view/PDF exports (``exports``).

Nothing is re-exported here, so importing the Qt-free ``viewer_state`` loads no widgets.
"""
