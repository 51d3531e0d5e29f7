"""A generated failure case: a round bar broken in bending fatigue, its overview and its frames.

The part: a bar of 4 mm diameter seen end-on. Fatigue started at one point of the surface (the
origin); beach marks run around it in arcs across the fatigue zone (a thumbnail reaching about
one radius from the origin); the rest of the section broke in overload (dimpled, rough), with a
shear lip, a slanted rim, around the overload zone.

Written to ``OUT``:

- ``overview.tif``: the whole section at about 33x (6 um per pixel, 1024 x 704 px plus a data bar);
- ``frame_NN.tif``: 14 frames at 300x-5000x (512 x 384 px plus a data bar), each showing its
  zone's morphology drawn by the training generator (``render_details`` at the frame's pixel size);
- optionally frames without any metadata (``frame_nometa_NN.tif``: they cannot be placed);
- ``case_truth.json``: where each frame was taken (centre in overview pixels, size, rotation),
  its zone and that zone's mechanism and morphology.

Every TIFF carries Thermo Fisher/FEI-style metadata in tag 34682 (``[Stage] StageX/StageY/StageZ``
in metres, ``StageR``/``StageT`` in radians, ``[Beam] ScanRotation`` in radians, ``[Scan]
PixelWidth``, ``[Image] ResolutionX/ResolutionY`` above the data bar), written as the
instruments write it (CRLF lines, three-digit exponents), so ``read_sem`` parses it as it parses a
real file. Stage positions follow the README's convention: +StageX right and +StageY up on the
overview at rotation 0; a frame whose stage rotation R or scan rotation S differ from the
overview's is drawn turned clockwise by ``R - S`` (``fractoscope.case.layout``). ``flip_x`` /
``flip_y`` write a case from an instrument whose stage axes run the other way.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

from fractoscope.atomic import write_atomic
from fractoscope.errors import FractoscopeError
from fractoscope.synth.common import Surface, fbm
from fractoscope.synth.generate import MORPHOLOGIES, render_details
from fractoscope.synth.render import acquire, add_databar, se_signal

TRUTH_FILE = "case_truth.json"
FEI_TAG = 34682
MAG_CANVAS_M = 0.2  # [Image] MagCanvasRealWidth: FEI magnification = canvas width / HFW

OVERVIEW_W, OVERVIEW_H = 1024, 704
OVERVIEW_PX_M = 6e-6  # 6.1 mm field width: 33x
BAR_DIAMETER_M = 4.0e-3
FRAME_W, FRAME_H = 512, 384
OVERVIEW_STAGE_M = (12.5e-3, -4.0e-3, 10.0e-3)  # X, Y, Z of the overview

# (zone, level1, level2, family, magnification range). Families whose pixel-size range admits
# the magnification; elongated tear dimples are left out (the model reads some as fatigue).
PLAN: tuple[tuple[str, str, str, str, tuple[float, float]], ...] = (
    ("origin", "fatigue", "beach_marks", "macro_arcs", (300, 500)),
    ("origin", "fatigue", "striations", "plateaus", (3000, 5000)),
    ("fatigue", "fatigue", "beach_marks", "macro_arcs", (300, 600)),
    ("fatigue", "fatigue", "beach_marks", "progression_bands", (1100, 2500)),
    ("fatigue", "fatigue", "striations", "plateaus", (2500, 5000)),
    ("fatigue", "fatigue", "striations", "curved_fine", (2800, 5000)),
    ("fatigue", "fatigue", "striations", "low_mag", (500, 1500)),
    ("overload", "ductile_overload", "equiaxed_dimples", "deep_cups", (1000, 5000)),
    ("overload", "ductile_overload", "equiaxed_dimples", "bimodal", (1200, 5000)),
    ("overload", "ductile_overload", "equiaxed_dimples", "patchy", (800, 4000)),
    ("overload", "ductile_overload", "equiaxed_dimples", "deep_cups", (2000, 5000)),
    ("shear_lip", "ductile_overload", "shear_dimples", "shear_lip", (1200, 3000)),
    ("shear_lip", "ductile_overload", "shear_dimples", "parabolic", (1500, 4000)),
    ("shear_lip", "ductile_overload", "shear_dimples", "shear_lip", (2000, 5000)),
)


@dataclass(frozen=True)
class BarGeometry:
    """The section on the overview (cropped pixels): centre, radius, origin, zone sizes."""

    cx: float
    cy: float
    radius: float
    origin_angle: float  # radians, on screen (y down)
    fatigue_reach: float  # the fatigue zone: within this distance of the origin (px)
    lip_width: float  # px

    @property
    def origin(self) -> tuple[float, float]:
        return (self.cx + self.radius * math.cos(self.origin_angle),
                self.cy + self.radius * math.sin(self.origin_angle))

    def zone_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """0 outside the part, 1 fatigue (incl. the origin), 2 overload, 3 shear lip."""
        r = np.hypot(x - self.cx, y - self.cy)
        ox, oy = self.origin
        d = np.hypot(x - ox, y - oy)
        zone = np.where(r <= self.radius, 2, 0)
        zone = np.where((zone == 2) & (r > self.radius - self.lip_width), 3, zone)
        zone = np.where((r <= self.radius) & (d <= self.fatigue_reach), 1, zone)
        return zone


ZONE_CODE = {"origin": 1, "fatigue": 1, "overload": 2, "shear_lip": 3}


def fei_number(v: float | int | str) -> str:
    """A number as xT writes it: ``%g`` with a three-digit exponent (``2.576e-005``)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return re.sub(r"e([+-])(\d\d)$", r"e\g<1>0\2", f"{v:g}")


def fei_metadata_text(
    *, px_m: float, width: int, height: int, stage_m: tuple[float, float, float],
    stage_r_deg: float = 0.0, stage_t_deg: float = 0.0, scan_rotation_deg: float = 0.0,
    hv_v: float = 20000.0, wd_m: float = 0.010, date: str = "12/06/2026", time: str = "10:00:00 AM",
) -> str:
    """The FEI_HELIOS tag text of one image (sections and keys as Helios/Quanta xT write them)."""
    hfw, vfw = width * px_m, height * px_m
    x, y, z = stage_m
    r, t, s = (math.radians(a) for a in (stage_r_deg, stage_t_deg, scan_rotation_deg))
    sections: list[tuple[str, dict[str, object]]] = [
        ("User", {"Date": date, "Time": time, "User": "fractoscope", "UserText": "generated case"}),
        ("System", {"Type": "SEM", "SystemType": "Fractoscope generated case", "Source": "FEG",
                    "DisplayWidth": 0.518, "DisplayHeight": 0.324}),
        ("Beam", {"HV": hv_v, "Spot": 3.0, "ScanRotation": s, "ImageMode": "Normal",
                  "Beam": "EBeam", "Scan": "EScan"}),
        ("EBeam", {"HV": hv_v, "HFW": hfw, "VFW": vfw, "WD": wd_m, "ScanRotation": s,
                   "StageX": x, "StageY": y, "StageZ": z, "StageR": r, "StageTa": t, "StageTb": 0}),
        ("Scan", {"InternalScan": True, "Dwelltime": 1e-6, "PixelWidth": px_m, "PixelHeight": px_m,
                  "HorFieldsize": hfw, "VerFieldsize": vfw, "FrameTime": 2.62}),
        ("EScan", {"Scan": "PIA 3.0", "InternalScan": True, "PixelWidth": px_m,
                   "PixelHeight": px_m, "HorFieldsize": hfw, "VerFieldsize": vfw}),
        ("Stage", {"StageX": x, "StageY": y, "StageZ": z, "StageR": r, "StageT": t, "StageTb": 0,
                   "SpecTilt": "", "ActiveStage": "Bulk", "WorkingDistance": wd_m}),
        ("Image", {"DigitalContrast": 1, "DigitalBrightness": 0, "DigitalGamma": 1.0,
                   "ResolutionX": width, "ResolutionY": height, "ZoomFactor": 1.0,
                   "MagCanvasRealWidth": MAG_CANVAS_M, "MagnificationMode": 3}),
        ("Detectors", {"Number": 1, "Name": "ETD", "Mode": "SE"}),
    ]
    lines: list[str] = []
    for name, d in sections:
        lines.append(f"[{name}]")
        lines += [f"{k}={fei_number(v)}" for k, v in d.items()]
        lines.append("")
    return "\r\n".join(lines) + "\r\n"


def write_fei_tiff(path: Path, img: np.ndarray, text: str | None) -> None:
    """An 8/16-bit grey TIFF, with the FEI tag text when given (as xT: ASCII tag 34682)."""
    extratags = [(FEI_TAG, "s", 0, text, True)] if text is not None else []
    tifffile.imwrite(path, img, extratags=extratags, photometric="minisblack")


def _with_databar(img: np.ndarray, px_m: float, rng: np.random.Generator) -> np.ndarray:
    """``img`` (float 0..1) with a vendor-style data bar appended below it (as xT stores it)."""
    h, w = img.shape
    canvas = np.zeros((h + 100, w), np.float32)
    rows = add_databar(canvas, px_m, rng)
    return np.vstack([img, canvas[-rows:]])


def _u8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def overview_image(geo: BarGeometry, rng: np.random.Generator) -> np.ndarray:
    """The whole section at the overview's scale (float32 0..1, OVERVIEW_H x OVERVIEW_W)."""
    shape = (OVERVIEW_H, OVERVIEW_W)
    yy, xx = np.mgrid[0:OVERVIEW_H, 0:OVERVIEW_W].astype(np.float32)
    zone = geo.zone_at(xx, yy)
    ox, oy = geo.origin
    d = np.hypot(xx - ox, yy - oy)
    r = np.hypot(xx - geo.cx, yy - geo.cy)

    # Fatigue: smooth, with beach marks (arcs about the origin, spacing growing with the crack)
    # and a few ratchet lines radiating from the origin near the surface.
    phase = 9.0 * (d / geo.fatigue_reach) ** 0.8 + 0.25 * fbm(rng, shape, beta=4.0)
    beach = np.tanh(3.0 * np.sin(2 * np.pi * phase))
    theta = np.arctan2(yy - oy, xx - ox)
    ratchet = np.exp(-d / (0.15 * geo.fatigue_reach)) * np.sin(theta * 40.0)
    h_fat = 1.5 * fbm(rng, shape, beta=3.4) + 3.0 * beach + 1.5 * ratchet
    # Overload: rough, with relief at several scales (torn ridges, granular at the finest).
    h_ovl = 30.0 * fbm(rng, shape, beta=2.7) + 3.0 * fbm(rng, shape, beta=2.0, cutoff=0.2)
    # Shear lip: a slanted rim (about 45 degrees) with texture drawn along the circumference.
    tang = np.arctan2(yy - geo.cy, xx - geo.cx) + np.pi / 2
    lip = 1.0 * (r - (geo.radius - geo.lip_width)) + 0.6 * fbm(rng, shape, beta=2.5, aniso=4.0,
                                                             angle=float(np.median(tang)))
    h = np.select([zone == 1, zone == 2, zone == 3], [h_fat, h_ovl, lip], default=-40.0)
    h = ndi.gaussian_filter(h.astype(np.float32), 0.8)
    albedo = np.where(zone == 0, 0.12, 1.0).astype(np.float32)
    albedo = ndi.gaussian_filter(albedo, 1.5)
    sig = se_signal(Surface(h, albedo), rng)
    img = acquire(sig, rng, "normal")
    return np.clip(img, 0, 1).astype(np.float32)


def _frame_px(family_range: tuple[float, float], mag_range: tuple[float, float],
              rng: np.random.Generator) -> tuple[float, float]:
    """(magnification, pixel size) inside both the plan's range and the family's pixel sizes."""
    lo_px, hi_px = family_range
    m_lo = max(mag_range[0], MAG_CANVAS_M / (FRAME_W * hi_px))
    m_hi = min(mag_range[1], MAG_CANVAS_M / (FRAME_W * lo_px))
    if m_lo > m_hi:
        raise FractoscopeError(f"no magnification in {mag_range} fits pixel sizes {family_range}")
    mag = float(np.exp(rng.uniform(np.log(m_lo), np.log(m_hi))))
    return mag, MAG_CANVAS_M / mag / FRAME_W


def _pick_centre(geo: BarGeometry, zone: str, half: float, rng: np.random.Generator,
                 taken: list[tuple[float, float]]) -> tuple[float, float]:
    """A frame centre whose outline (half-diagonal ``half`` px) lies in ``zone``."""
    code = ZONE_CODE[zone]
    ox, oy = geo.origin
    for attempt in range(4000):
        if zone == "origin":  # just inside the surface at the origin
            a = geo.origin_angle + rng.uniform(-0.08, 0.08)
            rr = geo.radius - max(half, 4.0) - rng.uniform(0, 12)
            x, y = geo.cx + rr * math.cos(a), geo.cy + rr * math.sin(a)
        elif zone == "shear_lip":  # the thin rim: draw the radius inside it
            a = rng.uniform(0, 2 * np.pi)
            rr = geo.radius - geo.lip_width * rng.uniform(0.3, 0.7)
            x, y = geo.cx + rr * math.cos(a), geo.cy + rr * math.sin(a)
        else:
            a, rr = rng.uniform(0, 2 * np.pi), geo.radius * math.sqrt(rng.uniform(0, 1))
            x, y = geo.cx + rr * math.cos(a), geo.cy + rr * math.sin(a)
        ring = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        px = np.concatenate([[x], x + half * np.cos(ring)])
        py = np.concatenate([[y], y + half * np.sin(ring)])
        zones = geo.zone_at(px, py)
        relaxed = attempt > 2000  # a large frame in a thin lip: its centre and most of it
        inside = (zones == code).mean() >= (0.6 if relaxed else 1.0) and zones[0] == code
        apart = all(math.hypot(x - tx, y - ty) > 25 for tx, ty in taken)
        if inside and apart and (zone != "origin" or math.hypot(x - ox, y - oy) < 60):
            return x, y
    raise FractoscopeError(f"could not place a frame in zone {zone}")


def generate_case(
    out: Path | str, seed: int = 0, *, unplaced: int = 0, flip_x: bool = False,
    flip_y: bool = False, rotations: bool = True,
) -> dict:
    """Write a generated case to ``out`` (created); returns the truth (also ``case_truth.json``).

    ``unplaced`` extra frames are written without any metadata (they cannot be placed; by
    default none, so every frame of a generated case is placed). ``rotations``: some frames are taken
    with a stage rotation, some with a scan rotation (their outlines turn on the overview).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 25])
    geo = BarGeometry(
        cx=OVERVIEW_W / 2 + rng.uniform(-30, 30),
        cy=OVERVIEW_H / 2 + rng.uniform(-10, 10),
        radius=BAR_DIAMETER_M / 2 / OVERVIEW_PX_M,
        origin_angle=math.radians(rng.uniform(60, 120)),  # lower side of the section
        fatigue_reach=BAR_DIAMETER_M / 2 / OVERVIEW_PX_M * rng.uniform(0.9, 1.1),
        lip_width=rng.uniform(0.10, 0.12) * BAR_DIAMETER_M / 2 / OVERVIEW_PX_M,
    )
    sx, sy = (-1.0 if flip_x else 1.0), (-1.0 if flip_y else 1.0)
    x0, y0, z0 = OVERVIEW_STAGE_M

    ov = _with_databar(overview_image(geo, rng), OVERVIEW_PX_M, rng)
    write_fei_tiff(out / "overview.tif", _u8(ov), fei_metadata_text(
        px_m=OVERVIEW_PX_M, width=OVERVIEW_W, height=OVERVIEW_H, stage_m=OVERVIEW_STAGE_M))

    frames: list[dict] = []
    taken: list[tuple[float, float]] = []
    n_plan = len(PLAN)
    for i in range(n_plan + max(0, unplaced)):
        zone, level1, level2, family, mags = PLAN[i if i < n_plan else (7 + i) % n_plan]
        frng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 25, i + 1])
        mag, px = _frame_px(MORPHOLOGIES[level2].families[family], mags, frng)
        w_ov, h_ov = FRAME_W * px / OVERVIEW_PX_M, FRAME_H * px / OVERVIEW_PX_M
        x, y = _pick_centre(geo, zone, math.hypot(w_ov, h_ov) / 2, frng, taken)
        taken.append((x, y))
        stage_r = scan_r = 0.0
        if rotations and i % 3 == 1:
            stage_r = float(frng.choice([-1, 1]) * frng.uniform(10, 60))
        elif rotations and i % 3 == 2:
            scan_r = float(frng.choice([-1, 1]) * frng.uniform(5, 40))
        r = render_details(level2, frng, 512, family, tilt=False, mixture=False, debris=False,
                           operator="normal", pixel_size_m=px)
        img = r.image[:FRAME_H].astype(np.float32) / float(np.iinfo(r.image.dtype).max)
        img = _with_databar(img, px, frng)
        stage = (x0 + sx * (x - OVERVIEW_W / 2) * OVERVIEW_PX_M,
                 y0 - sy * (y - OVERVIEW_H / 2) * OVERVIEW_PX_M, z0)
        has_meta = i < n_plan
        name = f"frame_{i + 1:02d}.tif" if has_meta else f"frame_nometa_{i + 1 - n_plan:02d}.tif"
        text = fei_metadata_text(px_m=px, width=FRAME_W, height=FRAME_H, stage_m=stage,
                                 stage_r_deg=stage_r, scan_rotation_deg=scan_r) if has_meta else None
        write_fei_tiff(out / name, _u8(img if has_meta else img[:FRAME_H]), text)
        frames.append({
            "path": name,
            "has_metadata": has_meta,
            "x_px": x, "y_px": y, "width_px": w_ov, "height_px": h_ov,
            # clockwise on screen, as fractoscope.case.layout draws it
            "rotation_deg": (stage_r - scan_r) * (-1.0 if flip_x != flip_y else 1.0),
            "stage_x_m": stage[0] if has_meta else None,
            "stage_y_m": stage[1] if has_meta else None,
            "stage_r_deg": stage_r, "scan_rotation_deg": scan_r,
            "magnification": mag, "pixel_size_m": px,
            "zone": zone, "level1": level1, "level2": level2, "family": family,
        })
    ox, oy = geo.origin
    truth = {
        "format": "fractoscope-generated-case",
        "seed": seed,
        "overview": "overview.tif",
        "overview_pixel_size_m": OVERVIEW_PX_M,
        "overview_size_px": [OVERVIEW_W, OVERVIEW_H],
        "overview_stage_m": list(OVERVIEW_STAGE_M),
        "flip_x": flip_x,
        "flip_y": flip_y,
        "bar": {"centre_px": [geo.cx, geo.cy], "radius_px": geo.radius,
                "diameter_m": BAR_DIAMETER_M, "fatigue_reach_px": geo.fatigue_reach,
                "shear_lip_width_px": geo.lip_width},
        "origin_px": [ox, oy],
        "zones": {"origin": "fatigue", "fatigue": "fatigue", "overload": "ductile_overload",
                  "shear_lip": "ductile_overload"},
        "frames": frames,
    }
    write_atomic(out / TRUTH_FILE, (json.dumps(truth, indent=1) + "\n").encode())
    return truth
