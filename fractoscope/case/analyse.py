"""Analyse a case's frames (and its overview) through the batch engine and its results store.

Results live in ``CASE/.fractoscope-case/results/`` (a batch output folder: ``results.jsonl``,
stored predictions ``items/*.npz`` for the viewer, overlays). The batch engine keys each result
by the image's content hash, the model's hash and the settings, so analysing an opened case
again reuses every frame already done (resumable after a crash or a cancel), and ``--workers`` /
``--scheduler`` spread the frames over a Dask cluster exactly as ``fractoscope batch`` does.

``attach_results(case)`` fills results from the store without a model (a reopened case shows
its colours at once); ``analyse_case`` analyses what is missing. ``overview_tile_map`` turns the
overview's own tile predictions into a coarse mechanism map.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fractoscope.batch import BatchEvent, BatchRecord, read_records, run_batch
from fractoscope.case.model import Case

RESULTS_SUBDIR = "results"


def results_dir(case: Case) -> Path:
    return case.work_dir / RESULTS_SUBDIR


def record_result(rec: BatchRecord, out_dir: Path) -> dict:
    """``CaseFrame.result`` of one batch record."""
    if not rec.ok:
        return {"level1": None, "level2": None, "uncertain": None, "calibrated": None,
                "reason": "", "error": rec.error, "p_level1": None, "item": None}
    conf = (rec.details or {}).get("confidence") or {}
    # A flagged row of the results store leaves level1/level2 empty ("not recognised with
    # confidence") and keeps the model's answer as closest_*. The map still colours such a frame
    # by that answer, hatched as uncertain, so the case result carries it with uncertain=True.
    level1 = rec.level1 or getattr(rec, "closest_level1", "") or None
    level2 = rec.level2 or getattr(rec, "closest_level2", "") or None
    calibrated = conf.get("calibrated", rec.p_level1)
    return {
        "level1": level1,
        "level2": level2,
        "uncertain": bool(rec.uncertain),
        "calibrated": calibrated,
        "reason": rec.uncertain_reason or conf.get("reason") or "",
        "p_level1": rec.p_level1 if rec.p_level1 is not None else getattr(rec, "closest_p_level1", None),
        "item": str(out_dir / rec.item) if rec.item else None,
        "error": "",
        "lab_stats": getattr(rec, "lab_stats", ""),
        "surface": getattr(rec, "surface", "") or "unknown",
    }


def _case_images(case: Case, include_overview: bool) -> list[Path]:
    paths = [f.path for f in case.frames]
    if include_overview and case.overview is not None:
        paths.insert(0, case.overview)
    return paths


def attach_results(case: Case) -> int:
    """Fill ``frame.result`` (and ``case.overview_result``) from the results store; no model.

    Only records whose image path is one of the case's count; a record of an image changed since
    it was analysed is still shown until ``analyse_case`` runs (which re-checks the hashes).
    Returns how many frames got a result.
    """
    out = results_dir(case)
    records, _ = read_records(out)
    by_path = {r.path: r for r in records}
    n = 0
    for f in case.frames:
        rec = by_path.get(str(f.path))
        if rec is not None:
            f.result = record_result(rec, out)
            n += 1
    if case.overview is not None:
        rec = by_path.get(str(case.overview))
        if rec is not None:
            case.overview_result = record_result(rec, out)
    return n


def analyse_case(
    case: Case,
    model_path: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    *,
    analyzer=None,
    device: str | None = None,
    include_overview: bool = False,
    on_frame: Callable[[Path, dict], None] | None = None,
    surface: str | None = None,
    lab_stats: bool = True,
) -> None:
    """Analyse every frame not yet in the store (and the overview with ``include_overview``,
    for ``overview_tile_map``); fill ``frame.result`` and ``case.overview_result``.

    ``progress(fraction, text)`` is called from this thread; ``cancel()`` stops after the
    current tile batch (results so far are kept and reused next time). ``analyzer`` (an
    ``Analyzer``) may be passed to reuse a loaded model; otherwise one is loaded from
    ``model_path`` (None: the bundled model). ``on_frame(path, result)`` is called (from this
    thread) as each image's result is known, so a view can colour frames as they finish; the
    case itself is updated at the end. Raises ``FractoscopeError`` when the model, the store or
    the cluster cannot be used. ``surface`` (the analyst's surface context) and ``lab_stats``
    (align to the case's own images when it holds 20 or more) are those of ``run_batch``.
    """
    out_dir = results_dir(case)
    paths = _case_images(case, include_overview)
    if not paths:  # a case of one image (the overview) and no frames: nothing to analyse
        attach_results(case)
        return
    if analyzer is None:
        from fractoscope.analysis.pipeline import Analyzer  # noqa: PLC0415 - torch loads here

        analyzer = Analyzer(model_path, device=device or "auto")

    def on_event(ev: BatchEvent) -> None:
        if on_frame is not None and ev.kind == "image_done" and ev.record is not None:
            on_frame(Path(ev.record.path), record_result(ev.record, out_dir))
        if progress is None:
            return
        name = Path(ev.path).name if ev.path else ""
        if ev.kind == "lab_stats":
            text = ev.message
        elif ev.kind == "image_done":
            text = f"{ev.done + ev.failed}/{ev.total} {name}" + (" (done earlier)" if ev.reused else "")
        elif ev.kind == "finished":
            text = ev.message
        else:
            text = f"{ev.done + ev.failed + 1}/{ev.total} {name} {ev.message}".strip()
        progress(float(ev.fraction), text)

    run_batch(
        paths,
        out_dir,
        analyzer,
        progress=on_event,
        cancel=cancel,
        workers=workers,
        scheduler=scheduler,
        lab_stats=lab_stats,
        surface=surface,
    )
    attach_results(case)


def overview_tile_map(case: Case) -> list[tuple[int, int, int, int, str]]:
    """The overview's tiles as ``(y0, x0, y1, x1, level1)`` in overview pixels (cropped image).

    Empty until the overview was analysed (``analyse_case(..., include_overview=True)``: off by
    default, as an overview is large and its tiles many). Tiles that do not vote (blank,
    saturated, text) are left out. A coarse mechanism map to draw under the frames: the overview
    is at a magnification the model was not trained for, so it is only a rough guide.
    """
    res = case.overview_result
    if not res or not res.get("item"):
        return []
    from fractoscope.batch import load_stored_prediction  # noqa: PLC0415

    try:
        pred = load_stored_prediction(res["item"])
    except Exception:  # noqa: BLE001 - a damaged stored item: no map, not a crash
        return []
    labels = pred.tile_labels()
    return [
        (t.y0, t.x0, t.y1, t.x1, lab[0])
        for t, lab in zip(pred.tiles, labels, strict=True)
        if t.weight > 0
    ]
