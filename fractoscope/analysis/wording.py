"""What a failure analyst reads: the one place for user-facing phrasing of a prediction.

The command line, the desktop app and the PDF report all word a result with these functions, so
the headline, the alternatives and the confidence never disagree between them.

The headline follows the decoding rule (:data:`DECODING_RULE`): first the most likely failure
mechanism, then the most likely morphology *of that mechanism*. The alternatives are ranked with
the same logic (``Prediction.ranked``): the other mechanisms, and the other morphologies of the
headline mechanism, each with its probability. So the headline is always the top of its own
list; a morphology of another mechanism may still carry a larger number than the headline's
morphology, and the rule says why it is not the headline.
"""

from __future__ import annotations

import math

from fractoscope.analysis.results import Alternative, Prediction

DECODING_RULE = (
    "The mechanism shown is the most likely failure mechanism, and the morphology shown is the "
    "most likely fracture appearance of that mechanism; a morphology of another mechanism is "
    "listed among the alternatives even when its own percentage is higher."
)
LEVEL2_NOT_TRAINED = "not trained (this model recognises failure mechanisms only)"
NOT_RECOGNISED = "Not recognised with confidence"
# Where a flagged result points the analyst: the lab's own labelled images beat any guess.
TEACH_HINT = "Confirm by eye, or teach the model your lab's labelled images."
NBSP = "\u00a0"  # keeps a number and its % sign on one line in titles and PDFs


def percent(p: float) -> str:
    """42 %, 7.5 %, <0.1 % (with a no-break space)."""
    v = 100.0 * float(p)
    if v >= 10 or v == 0:
        return f"{v:.0f}{NBSP}%"
    if v < 0.1:
        return f"<0.1{NBSP}%"
    return f"{v:.1f}{NBSP}%"


def _name(pred: Prediction, label: str) -> str:
    return pred.taxonomy.display_name(label)


def _lower(name: str) -> str:
    """Lower-case a class name inside a sentence (keeps acronyms such as 'SEM')."""
    return name[:1].lower() + name[1:] if name[1:2].islower() or len(name) < 2 else name


def is_uncertain(pred: Prediction) -> bool:
    """The model's own flag (``Prediction.confidence.uncertain``): every surface words a flagged
    result as "not recognised", never as a verdict."""
    return bool(pred.confidence is not None and pred.confidence.uncertain)


def best_guess(pred: Prediction) -> str:
    """'Ductile overload (54 %), equiaxed dimples (40 %)': the top-down best class, no verdict."""
    top = pred.ranked(0)[0]
    text = f"{_name(pred, top.level1)} ({percent(top.probability)})"
    if pred.has_level2 and top.level2 is not None:
        text += f", {_lower(_name(pred, top.level2))} ({percent(pred.level2.probability)})"
    return text


def closest_text(pred: Prediction) -> str:
    """The plain line under a "not recognised" headline: 'closest: Ductile overload (54 %), ...'."""
    return f"closest: {best_guess(pred)}"


def reason(pred: Prediction) -> str:
    """Why the result is flagged, as the confidence rule says it ("" when it is not flagged)."""
    if not is_uncertain(pred):
        return ""
    return str(pred.confidence.reason or "").strip()


def headline(pred: Prediction) -> str:
    """'Brittle overload (62 %), showing cleavage (48 %)' for a result the model stands behind;
    'Not recognised with confidence: <reason>' when it is flagged (the best guess then goes on
    its own line, :func:`closest_text`, so it never reads as the answer)."""
    if is_uncertain(pred):
        why = reason(pred)
        return f"{NOT_RECOGNISED}: {why}" if why else NOT_RECOGNISED
    top = pred.ranked(0)[0]
    text = f"{_name(pred, top.level1)} ({percent(top.probability)})"
    if pred.has_level2 and top.level2 is not None:
        text += f", showing {_lower(_name(pred, top.level2))} ({percent(pred.level2.probability)})"
    return text


def alternative_text(pred: Prediction, alt: Alternative) -> str:
    """One line of the alternatives list."""
    if alt.level2 is None:
        text = f"{_name(pred, alt.level1)} ({percent(alt.probability)})"
        if pred.has_level2 and alt.best_level2 is not None:
            j = pred.taxonomy.level2.index(alt.best_level2)
            text += f", most likely as {_lower(_name(pred, alt.best_level2))} ({percent(pred.p_level2[j])})"
        return text
    return f"{_name(pred, alt.level1)} showing {_lower(_name(pred, alt.level2))} instead ({percent(alt.probability)})"


def alternatives(pred: Prediction, k: int = 3) -> list[str]:
    """The next ``k`` answers after the headline, most likely first (see :data:`DECODING_RULE`)."""
    return [alternative_text(pred, a) for a in pred.ranked(k)[1:]]


def _card_thresholds(pred: Prediction) -> tuple[float | None, float | None]:
    """(minimum calibrated probability, OOD threshold) of the model card's confidence block."""
    block = (pred.model.card or {}).get("confidence") if pred.model is not None else None
    if not isinstance(block, dict):
        return None, None

    def num(v: object) -> float | None:
        try:
            f = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        return f if math.isfinite(f) else None

    ood = block.get("ood")
    return num(block.get("min_probability")), num(ood.get("threshold")) if isinstance(ood, dict) else None


def both_checks_pass(pred: Prediction) -> bool:
    """True only when the result is not flagged *and* each of the card's two checks is met:
    the calibrated probability is at or above its floor and the image's OOD score is at or below
    its threshold. Only then may a surface say "Confident ... resembles the training images"."""
    c = pred.confidence
    if c is None or c.uncertain or not math.isfinite(c.ood_score):
        return False
    min_p, thr = _card_thresholds(pred)
    return min_p is not None and thr is not None and c.calibrated >= min_p and c.ood_score <= thr


def confidence_text(pred: Prediction) -> str:
    """One or two sentences on how far to trust the result, for a reader, not a statistician."""
    c = pred.confidence
    name = _lower(_name(pred, pred.level1.label))
    ranked = pred.ranked(1)
    runner = ranked[1] if len(ranked) > 1 else None
    calibrated = math.isfinite(c.ood_score)
    if c.uncertain:
        parts = []
        if "unlike" in c.reason:
            parts.append(
                "this image is unlike the images the model was trained on, so its answer may be "
                "wrong whatever the percentages say"
            )
        if "low confidence" in c.reason or not calibrated or not parts:
            close = (
                f"; {_lower(_name(pred, runner.level1))} is close behind at {percent(runner.probability)}"
                if runner is not None and runner.level2 is None
                else ""
            )
            parts.append(f"the model is not sure ({percent(c.calibrated)} for {name}{close})")
        return "Uncertain: " + "; ".join(parts) + ". " + TEACH_HINT
    if both_checks_pass(pred):
        return (
            f"Confident: {percent(c.calibrated)} for {name}, and the image resembles the images "
            "the model was trained on."
        )
    if calibrated:
        # Not flagged, but a check is not met or the card does not say where its thresholds are:
        # no claim that the image resembles the training images.
        return (
            f"{percent(c.calibrated)} for {name} (calibrated). Not flagged as uncertain, but not "
            "every confidence check could be confirmed: treat it with care."
        )
    return (
        f"{percent(c.calibrated)} for {name}. This model has no confidence calibration: the "
        "percentage is the network's own and is often too high on unfamiliar images."
    )


def warnings(pred: Prediction) -> list[str]:
    """Plain-language caveats to show with the result (the confidence is worded separately)."""
    out = list(pred.warnings)
    if not pred.has_level2:
        out.append("this model was trained for failure mechanisms only: no morphology is given")
    return out


LAB_STATS_NONE = "none: the image was judged on its own"


def lab_stats_text(pred: Prediction) -> str:
    """'adjusted to this lab's 37 images', or that the image was judged on its own."""
    return pred.lab_adjustment or LAB_STATS_NONE


def surface_text(pred: Prediction) -> str:
    """The analyst's surface context and what it did: 'fracture surface: only ductile overload,
    brittle overload, fatigue considered' (default: 'unknown surface: all mechanisms considered')."""
    ctx = pred.surface_context or {}
    return str(ctx.get("text") or "unknown surface: all mechanisms considered")


def provenance_lines(pred: Prediction) -> list[str]:
    """What changed this result beyond the image and the model (empty when nothing did): the
    lab statistics the heads were adjusted to, and a surface context that was set."""
    out = []
    if pred.lab_adjustment:
        out.append(f"lab statistics: {pred.lab_adjustment}")
    ctx = pred.surface_context or {}
    if ctx.get("context", "unknown") != "unknown":
        out.append(f"surface context: {surface_text(pred)}")
    return out


def level2_text(pred: Prediction) -> str:
    """The morphology line: name and probability, or that level 2 was not trained."""
    if not pred.has_level2:
        return LEVEL2_NOT_TRAINED
    return f"{_name(pred, pred.level2.label)} ({percent(pred.level2.probability)})"


__all__ = [
    "DECODING_RULE",
    "LEVEL2_NOT_TRAINED",
    "NOT_RECOGNISED",
    "TEACH_HINT",
    "alternative_text",
    "alternatives",
    "best_guess",
    "both_checks_pass",
    "closest_text",
    "confidence_text",
    "headline",
    "is_uncertain",
    "lab_stats_text",
    "level2_text",
    "percent",
    "provenance_lines",
    "reason",
    "surface_text",
    "warnings",
]
