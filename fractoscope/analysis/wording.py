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


def headline(pred: Prediction) -> str:
    """'Brittle overload (62 %), showing cleavage (48 %)'; prefixed when the result is uncertain."""
    top = pred.ranked(0)[0]
    text = f"{_name(pred, top.level1)} ({percent(top.probability)})"
    if pred.has_level2 and top.level2 is not None:
        text += f", showing {_lower(_name(pred, top.level2))} ({percent(pred.level2.probability)})"
    if pred.confidence is not None and pred.confidence.uncertain:
        return f"Uncertain: best guess {text[:1].lower() + text[1:]}"
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
        if "low confidence" in c.reason or not calibrated:
            close = (
                f"; {_lower(_name(pred, runner.level1))} is close behind at {percent(runner.probability)}"
                if runner is not None and runner.level2 is None
                else ""
            )
            parts.append(f"the model is not sure ({percent(c.calibrated)} for {name}{close})")
        return "Uncertain: " + "; ".join(parts) + ". Confirm by eye, or fine-tune the model on your own images."
    if calibrated:
        return (
            f"Confident: {percent(c.calibrated)} for {name}, and the image resembles the images "
            "the model was trained on."
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


def level2_text(pred: Prediction) -> str:
    """The morphology line: name and probability, or that level 2 was not trained."""
    if not pred.has_level2:
        return LEVEL2_NOT_TRAINED
    return f"{_name(pred, pred.level2.label)} ({percent(pred.level2.probability)})"


__all__ = [
    "DECODING_RULE",
    "LEVEL2_NOT_TRAINED",
    "alternative_text",
    "alternatives",
    "confidence_text",
    "headline",
    "level2_text",
    "percent",
    "warnings",
]
