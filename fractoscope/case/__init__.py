"""A failure case: an overview of one broken part with its frames placed and classified (Qt-free).

- ``model``: Case, CaseFrame, Placement, Annotation, load_case, save_case (``case.json``);
- ``geometry``: each image's size, pixel size and stage position, cached per case;
- ``layout``: place_frames (stage positions to overview pixels; the convention is its docstring);
- ``analyse``: analyse_case through the batch engine and results store, attach_results,
  overview_tile_map.

Beyond the agreed API (issue 25): ``load_case(folder, *, place=True, results=True)`` also places
the frames and attaches stored results; ``place_frames`` returns one warning line per unplaced
frame; ``analyse_case`` also takes ``analyzer=``, ``device=``, ``include_overview=`` (the overview
is analysed, for ``overview_tile_map``, only when asked) and ``on_frame(path, result)``; a frame
keeps ``stage_placement`` and ``unplaced_reason`` next to its (possibly hand) ``placement``; a
result also holds ``p_level1``, ``item`` (the stored prediction) and ``error``, and a frame
flagged uncertain carries the model's closest classes in ``level1``/``level2``.

Layer: may import io, imaging, model, analysis, adapt and batch; report, commands and gui import it.
"""
