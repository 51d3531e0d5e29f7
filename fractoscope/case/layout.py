"""Place a case's frames on its overview from the stage positions in their metadata (Qt-free).

Convention (stated in the README): at stage rotation and scan rotation 0, **+StageX lies to the
right and +StageY up** on the overview (the Thermo Fisher display convention). A frame's centre is
its stage X/Y minus the overview's, divided by the overview's pixel size, from the overview's
centre (y negated: overview pixels run down). ``Case.flip_x`` / ``flip_y`` mirror either axis
for instruments whose stage runs the other way.

Rotations turn the frame about its centre: with stage rotations R and scan rotations S (degrees,
counter-clockwise positive as the instruments state them), the sample turned by R and the raster
by S show the surface turned by R - S, so a frame is drawn turned **clockwise on screen** by
``(R_frame - R_overview) - (S_frame - S_overview)`` (``Placement.rotation_deg``). A scan rotation
of the overview itself also turns the stage axes on it, so the frame centre offset is turned by
``-S_overview`` with them. Stage rotation does not move the frame centre (the stage's X/Y
axes do not turn with R). Mirroring one axis reverses the sense of every rotation.

A hand placement always wins; a frame with neither a hand placement nor a usable stage position
(and pixel size) on an overview that has both stays unplaced, with the reason in
``CaseFrame.unplaced_reason``.
"""

from __future__ import annotations

import math
from pathlib import Path

from fractoscope.case.geometry import ImageGeometry, image_geometry
from fractoscope.case.model import Case, Placement
from fractoscope.io import StagePosition

__all__ = ["ImageGeometry", "image_geometry", "place_frames", "stage_placement"]


def _angle(stage: StagePosition | None) -> tuple[float, float]:
    if stage is None:
        return 0.0, 0.0
    return stage.rotation_deg or 0.0, stage.scan_rotation_deg or 0.0


def stage_placement(
    frame: ImageGeometry, overview: ImageGeometry, flip_x: bool = False, flip_y: bool = False
) -> tuple[Placement | None, str]:
    """The frame's placement on the overview from the stage positions, or (None, reason)."""
    if overview.error:
        return None, f"overview unreadable ({overview.error})"
    if overview.stage is None or not overview.stage.has_xy:
        return None, "the overview has no stage position"
    if overview.pixel_x_m is None:
        return None, "the overview has no pixel size"
    if frame.error:
        return None, frame.error
    if frame.stage is None or not frame.stage.has_xy:
        return None, "no stage position in the metadata"
    if frame.pixel_x_m is None:
        return None, "no pixel size"
    sx = -1.0 if flip_x else 1.0
    sy = -1.0 if flip_y else 1.0
    dx_m = sx * (frame.stage.x_m - overview.stage.x_m)
    dy_m = sy * (frame.stage.y_m - overview.stage.y_m)
    # stage up = overview pixels up = negative y
    ox, oy = dx_m / overview.pixel_x_m, -dy_m / overview.pixel_y_m
    r_ov, s_ov = _angle(overview.stage)
    r_fr, s_fr = _angle(frame.stage)
    mirror = -1.0 if flip_x != flip_y else 1.0
    if s_ov:
        # The overview's raster turned by S (counter-clockwise) shows the stage axes turned
        # by S clockwise on screen; clockwise on screen with y down is the ordinary matrix.
        a = math.radians(mirror * s_ov)
        c, s = math.cos(a), math.sin(a)
        ox, oy = c * ox - s * oy, s * ox + c * oy
    rot = mirror * ((r_fr - r_ov) - (s_fr - s_ov))
    rot = (rot + 180.0) % 360.0 - 180.0
    return (
        Placement(
            x_px=overview.width_px / 2 + ox,
            y_px=overview.height_px / 2 + oy,
            width_px=frame.width_px * frame.pixel_x_m / overview.pixel_x_m,
            height_px=frame.height_px * (frame.pixel_y_m or frame.pixel_x_m) / overview.pixel_y_m,
            rotation_deg=rot,
            placed_by="stage",
        ),
        "",
    )


def place_frames(case: Case, geometry: dict[Path, ImageGeometry] | None = None) -> list[str]:
    """Set every frame's placement: a hand placement stays, else the stage one, else None.

    Fills ``CaseFrame.stage_placement`` and ``unplaced_reason``. Images not yet in
    ``case.geometry`` (or ``geometry``, keyed by path) are read. Returns one warning line per frame left unplaced.
    """
    geometry = {**case.geometry, **(geometry or {})}

    def geo(p: Path) -> ImageGeometry:
        if p not in geometry:
            geometry[p] = case.geometry[p] = image_geometry(p)
        return geometry[p]

    warnings: list[str] = []
    ov = geo(case.overview) if case.overview is not None else None
    for f in case.frames:
        if ov is None:
            f.stage_placement, reason = None, "no overview"
        else:
            f.stage_placement, reason = stage_placement(geo(f.path), ov, case.flip_x, case.flip_y)
        if f.placement is not None and f.placement.placed_by == "hand":
            f.unplaced_reason = ""
            continue
        f.placement = f.stage_placement
        f.unplaced_reason = reason
        if f.placement is None:
            warnings.append(f"{f.name}: unplaced ({reason}); place it by hand")
    return warnings
