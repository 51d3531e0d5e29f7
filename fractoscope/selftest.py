"""``--self-test``: prove an installation (above all a frozen PyInstaller app) works end to end.

Reads the bundled sample fractograph(s), analyses them with the bundled model on the CPU, checks
the prediction, writes a PDF report with offscreen Qt into a temporary folder and checks the PDF.
Any failed check raises :class:`SelfTestFailure` with one line saying what is wrong.

This module imports no Qt at import time (it is core); only the report step imports the PDF
writer (``fractoscope.report.pdf``) and Qt, inside :func:`write_and_check_pdf`.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fractoscope.errors import FractoscopeError
from fractoscope.paths import is_frozen, resources_dir

SAMPLE_SUFFIXES = (".tif", ".tiff")
PROB_TOL = 1e-4  # float32 softmax sums


class SelfTestFailure(FractoscopeError):
    """A self-test check failed; the message is the one line shown to the user."""


def bundled_samples() -> list[Path]:
    """The sample fractographs shipped in ``resources/samples`` (sorted, so runs repeat)."""
    d = resources_dir() / "samples"
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix.lower() in SAMPLE_SUFFIXES and p.is_file())


@dataclass
class SampleResult:
    path: Path
    level1: str
    p_level1: float
    level2: str
    p_level2: float
    tiles: int
    seconds: float


@dataclass
class SelfTestResult:
    frozen: bool
    model_name: str
    model_sha256: str
    device: str
    samples: list[SampleResult] = field(default_factory=list)
    pdf_path: Path | None = None
    pdf_bytes: int = 0
    pdf_pages: int = 0
    pdf_text_checked: bool = False
    qt_image_formats: list[str] = field(default_factory=list)
    torch: str = ""  # torch version and whether it sees a GPU (informational)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"fractoscope self-test: OK ({'frozen app' if self.frozen else 'source install'}, "
            f"{self.seconds:.1f} s)",
            f"  model:   {self.model_name} sha256 {self.model_sha256[:16]}… (matches its card), "
            f"device {self.device}",
            f"  torch:   {self.torch}",
        ]
        for s in self.samples:
            lines.append(
                f"  sample:  {s.path.name}: {s.level1} ({100 * s.p_level1:.1f} %) / "
                f"{s.level2} ({100 * s.p_level2:.1f} %), {s.tiles} tiles, {s.seconds:.1f} s"
            )
        text = (
            "text names the predicted class"
            if self.pdf_text_checked
            else "text not checked (no QtPdf)"
        )
        lines.append(
            f"  report:  {self.pdf_path.name if self.pdf_path else '?'}: {self.pdf_bytes:,} bytes, "
            f"{self.pdf_pages} page(s), {text}"
        )
        if self.qt_image_formats:
            lines.append(f"  Qt image formats: {', '.join(self.qt_image_formats)}")
        return "\n".join(lines)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise SelfTestFailure(message)


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Fail loudly if anything tries to open a network connection (the app must work offline)."""

    def refuse(self: socket.socket, address: object, *a: object, **k: object) -> None:
        raise SelfTestFailure(
            f"network access attempted (to {address!r}); the app must run offline"
        )

    saved = socket.socket.connect, socket.socket.connect_ex
    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = saved  # type: ignore[method-assign]


def check_model_files(model_path: Path) -> tuple[str, dict]:
    """The weights' sha256 equals the one in their model card; returns (sha256, card)."""
    from fractoscope.model.checkpoint import read_card, sha256_file

    _check(model_path.is_file(), f"bundled model not found: {model_path}")
    card = read_card(model_path)
    actual = sha256_file(model_path)
    _check(
        actual == card.get("sha256"),
        f"model {model_path.name}: sha256 {actual[:12]}… differs from its card "
        f"({str(card.get('sha256'))[:12]}…)",
    )
    if is_frozen():
        # A frozen app must use its own copy, never one found elsewhere on the disk.
        _check(
            Path(sys._MEIPASS).resolve() in model_path.resolve().parents,  # type: ignore[attr-defined]
            f"model {model_path} is not inside the app bundle",
        )
    return actual, card


def check_prediction(
    pred, model_sha256: str
) -> None:  # pred: fractoscope.analysis.results.Prediction
    """Probabilities sum to 1, level 2 refines level 1, CAMs are finite and in [0, 1]."""
    tax = pred.taxonomy
    p1, p2 = np.asarray(pred.p_level1, float), np.asarray(pred.p_level2, float)
    _check(p1.shape == (len(tax.level1),), f"level-1 probabilities have shape {p1.shape}")
    _check(p2.shape == (len(tax.level2),), f"level-2 probabilities have shape {p2.shape}")
    _check(
        bool(np.all(np.isfinite(p1)) and np.all(np.isfinite(p2))), "probabilities are not finite"
    )
    _check(bool(p1.min() >= 0 and p2.min() >= 0), "negative probabilities")
    _check(abs(p1.sum() - 1) < PROB_TOL, f"level-1 probabilities sum to {p1.sum():.6f}, not 1")
    _check(abs(p2.sum() - 1) < PROB_TOL, f"level-2 probabilities sum to {p2.sum():.6f}, not 1")
    for i, parent in enumerate(tax.level1):
        kids = sum(p2[j] for j, lab in enumerate(tax.level2) if tax.parent_of(lab) == parent)
        _check(
            abs(kids - p1[i]) < PROB_TOL,
            f"level-2 probabilities of {parent} sum to {kids:.6f}, not its {p1[i]:.6f}",
        )
    l1, l2 = pred.level1.label, pred.level2.label
    _check(
        tax.parent_of(l2) == l1,
        f"level-2 class {l2} is not a child of the level-1 class {l1}",
    )
    _check(
        pred.model.sha256 == model_sha256,
        "the analysis used a different model than the bundled one",
    )
    _check(len(pred.tiles) > 0, "the analysis produced no tiles")
    for level in (1, 2):
        cam = pred.cam(level, shape=pred.image_shape)
        _check(cam.shape == tuple(pred.image_shape), f"level-{level} CAM has shape {cam.shape}")
        _check(bool(np.all(np.isfinite(cam))), f"level-{level} CAM is not finite")
        _check(
            bool(cam.min() >= 0.0 and cam.max() <= 1.0),
            f"level-{level} CAM outside [0, 1] ({cam.min():.3g}..{cam.max():.3g})",
        )


def _torch_summary() -> str:
    import torch

    cuda = torch.version.cuda
    build = f"CUDA {cuda} build" if cuda else "CPU-only build"
    gpu = "GPU available" if cuda and torch.cuda.is_available() else "no GPU in use"
    variant = os.environ.get("FRACTOSCOPE_BUILD_VARIANT")
    return f"{torch.__version__} ({build}, {gpu})" + (f", {variant} variant" if variant else "")


def _pdf_pages_from_bytes(data: bytes) -> int:
    # Fallback page count without QtPdf: page objects are plain (uncompressed) dictionaries.
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def write_and_check_pdf(
    out_dir: Path, sem, pred, expect_text: list[str]
) -> tuple[Path, int, int, bool, list[str]]:
    """Write the image report with offscreen Qt and check it.

    Returns (path, size in bytes, page count, whether the text was checked, Qt image formats).
    """
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # the self-test never opens a window
    from fractoscope.report.data import ReportMeta

    try:
        from fractoscope.report.pdf import write_image_report
        from fractoscope.report.pdf.check import image_formats, pdf_page_texts
    except ImportError as exc:
        raise SelfTestFailure(f"Qt (PySide6) cannot be imported: {exc}") from None
    formats = image_formats()
    # jpeg and tiff come from Qt's image-format plugins: proves the plugins were bundled.
    missing = [f for f in ("jpeg", "tiff") if f not in formats]
    _check(not missing, f"Qt image-format plugins missing: {', '.join(missing)}")

    meta = ReportMeta(
        title="Fractoscope self-test report", sample_id="SELF-TEST", analyst="self-test"
    )
    path = write_image_report(out_dir / "self-test-report.pdf", sem, pred, meta)
    _check(path.is_file(), f"the report {path} was not written")
    data = path.read_bytes()
    _check(len(data) > 1000, f"the report {path} is only {len(data)} bytes")
    _check(data.startswith(b"%PDF-"), f"the report {path} does not start with a %PDF header")
    _check(b"%%EOF" in data[-64:], f"the report {path} is truncated (no %%EOF)")
    text_checked = False
    try:
        texts = pdf_page_texts(path)
    except FractoscopeError as exc:
        raise SelfTestFailure(f"the report {path}: {exc}") from None
    if texts is None:  # a build without QtPdf
        pages = _pdf_pages_from_bytes(data)
    else:
        pages = len(texts)
        text = " ".join(" ".join(texts).split())
        for needle in expect_text:
            _check(needle in text, f"the report text does not name {needle!r}")
        text_checked = True
    _check(pages >= 1, f"the report {path} has no pages")
    return path, len(data), pages, text_checked, formats


def run_self_test(
    work_dir: Path | None = None,
    samples: list[Path] | None = None,
    log: Callable[[str], None] | None = None,
) -> SelfTestResult:
    """Run every check; raises SelfTestFailure (or another FractoscopeError) on the first failure.

    ``work_dir``: where the PDF goes (default: a temporary folder, removed afterwards).
    ``samples``: images to analyse (default: all bundled samples; the report is of the first).
    """
    t0 = time.perf_counter()
    say = log or (lambda _msg: None)
    samples = list(samples) if samples is not None else bundled_samples()
    _check(bool(samples), f"no sample images found in {resources_dir() / 'samples'}")
    for s in samples:
        _check(Path(s).is_file(), f"sample {s} not found")

    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem
    from fractoscope.model.checkpoint import default_model_path

    with no_network():
        model_path = default_model_path()
        sha, _card = check_model_files(model_path)
        say(f"model {model_path.name}: sha256 matches its card")
        analyzer = Analyzer(model_path, device="cpu")
        res = SelfTestResult(
            frozen=is_frozen(),
            model_name=analyzer.model_info.name,
            model_sha256=sha,
            device=analyzer.device,
        )
        res.torch = _torch_summary()
        first = None
        for path in samples:
            ts = time.perf_counter()
            sem = read_sem(Path(path))
            pred = analyzer.analyze(sem)
            check_prediction(pred, sha)
            res.samples.append(
                SampleResult(
                    Path(path),
                    pred.level1.label,
                    pred.level1.probability,
                    pred.level2.label,
                    pred.level2.probability,
                    len(pred.tiles),
                    time.perf_counter() - ts,
                )
            )
            say(f"analysed {Path(path).name}: {pred.level1.label} / {pred.level2.label}")
            if first is None:
                first = (sem, pred)
        assert first is not None
        sem, pred = first
        tax = pred.taxonomy
        expect = [tax.display_name(pred.level1.label), tax.display_name(pred.level2.label)]
        with contextlib.ExitStack() as stack:
            if work_dir is None:
                work_dir = Path(
                    stack.enter_context(tempfile.TemporaryDirectory(prefix="fractoscope-selftest-"))
                )
            out = Path(work_dir)
            pdf, size, pages, text_ok, formats = write_and_check_pdf(out, sem, pred, expect)
        res.pdf_path, res.pdf_bytes, res.pdf_pages = pdf, size, pages
        res.pdf_text_checked, res.qt_image_formats = text_ok, formats
    res.seconds = time.perf_counter() - t0
    return res


__all__ = [
    "SelfTestFailure",
    "SelfTestResult",
    "bundled_samples",
    "check_prediction",
    "run_self_test",
]
