"""A failure case: an overview of one broken part with its frames placed and classified (Qt-free).

- ``model``: Case, CaseFrame, Placement, Annotation, load_case, save_case (``case.json``);
- ``geometry``: each image's size, pixel size and stage position, cached per case;
- ``layout``: place_frames (stage positions to overview pixels; the convention is its docstring);
- ``analyse``: analyse_case through the batch engine and results store, attach_results,
  overview_tile_map.

Layer: may import io, imaging, model, analysis, adapt and batch; report, commands and gui import it.
"""
