"""Lab statistics without labels (issue 23.4): the heads adjusted to a lab's feature statistics,
fitted and stored by batch runs, reused on resume, off with too few images or --no-lab-stats.

The bundled v2 card has no training feature statistics yet, so these tests give a copy of the
model hand-set ones (the card's ``confidence.feature_stats``, the block ``fractoscope calibrate``
writes). Expected logits are computed here with numpy from the model's own head weights.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fractoscope.analysis.labstats import LabStats
from fractoscope.batch import read_records, run_batch
from fractoscope.synth import generate_dataset

# Hand-set training statistics: every pooled feature with mean 0.3 and spread 0.5.
TRAIN_MEAN, TRAIN_STD = 0.3, 0.5
TEN = [  # one morphology of each mechanism, twice: 10 classes x 2 = 20 images
    "equiaxed_dimples", "shear_dimples", "cleavage", "intergranular", "striations",
    "beach_marks", "abrasive_grooves", "adhesive_delamination", "pitting", "mud_cracking",
]


def _feature_dim(analyzer) -> int:
    m = analyzer.model
    return m.head_level1.in_features + m.head_level2.in_features


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory) -> Path:
    """The bundled weights with a card that carries hand-set training feature statistics."""
    from fractoscope.analysis.confidence import _encode
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.model.checkpoint import card_path_for, default_model_path

    src = default_model_path()
    d = tmp_path_factory.mktemp("model")
    dst = d / src.name
    shutil.copy2(src, dst)
    card = json.loads(card_path_for(src).read_text(encoding="utf-8"))
    dim = _feature_dim(Analyzer(src, device="cpu"))
    card["confidence"]["feature_stats"] = {
        "images": 100,
        "mean": _encode(np.full(dim, TRAIN_MEAN, np.float32)),
        "std": _encode(np.full(dim, TRAIN_STD, np.float32)),
    }
    card_path_for(dst).write_text(json.dumps(card), encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def analyzer(model_copy: Path):
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(model_copy, device="cpu")


@pytest.fixture(scope="module")
def twenty(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("lab") / "in"
    generate_dataset(src, per_class=2, seed=23, size=256, classes=TEN)
    return src


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_adjusted_heads_are_the_heads_on_affine_mapped_features(analyzer, twenty: Path) -> None:
    from fractoscope.imaging import extract_tiles, tile_grid
    from fractoscope.io import read_sem

    sem = read_sem(sorted(twenty.rglob("*.tif"))[0])
    prep = analyzer.prepare(sem)
    size = analyzer.input_spec.tile_size
    tiles = extract_tiles(prep.image, tile_grid(prep.image.shape, size, 0.5)[:4], size)
    before = analyzer.run_tiles(tiles, prep.analysis_pixel_size_m, with_cams=False)
    m = analyzer.model
    w1, b1 = m.head_level1.weight.detach().numpy().astype(np.float64), m.head_level1.bias.detach().numpy()
    w2, b2 = m.head_level2.weight.detach().numpy().astype(np.float64), m.head_level2.bias.detach().numpy()
    d1 = w1.shape[1]
    dim = d1 + w2.shape[1]
    rng = np.random.default_rng(5)
    lab_mean = rng.uniform(0.0, 1.0, dim)
    lab_std = rng.uniform(0.05, 0.8, dim)  # some below a quarter of 0.5: floored there
    lab = LabStats(lab_mean, lab_std, 25, analyzer.model_info.sha256)

    # By hand: f' = a f + c with a = train_std / max(lab_std, 0.25 train_std), c = mean - a lab_mean.
    a = TRAIN_STD / np.maximum(lab_std, 0.25 * TRAIN_STD)
    c = TRAIN_MEAN - a * lab_mean
    mapped = before.features.astype(np.float64) * a + c
    want1 = mapped[:, :d1] @ w1.T + b1
    want2 = mapped[:, d1:] @ w2.T + b2
    # The unadjusted heads reproduce the network's own logits from the pooled features.
    np.testing.assert_allclose(before.features[:, :d1] @ w1.T + b1, before.logits_level1, atol=2e-4)

    analyzer.set_lab_stats(lab)
    try:
        after = analyzer.run_tiles(tiles, prep.analysis_pixel_size_m, with_cams=False)
        assert analyzer.lab_stats is lab
        np.testing.assert_allclose(after.features, before.features, atol=1e-5)  # features untouched
        np.testing.assert_allclose(after.logits_level1, want1, rtol=1e-4, atol=5e-4)
        np.testing.assert_allclose(after.logits_level2, want2, rtol=1e-4, atol=5e-4)
        assert not np.allclose(after.logits_level1, before.logits_level1, atol=1e-2)
        pred = analyzer.analyze(sem, with_cams=False)
        assert pred.lab_adjustment == "adjusted to this lab's 25 images"
        assert pred.to_json_dict()["lab_stats"] == "adjusted to this lab's 25 images"
    finally:
        analyzer.set_lab_stats(None)
    back = analyzer.run_tiles(tiles, prep.analysis_pixel_size_m, with_cams=False)
    np.testing.assert_allclose(back.logits_level1, before.logits_level1, atol=1e-5)
    assert analyzer.analyze(sem, with_cams=False).to_json_dict()["lab_stats"] is None


def test_batch_fits_stores_records_and_resume_reuses(analyzer, twenty: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    events = []
    s = run_batch([twenty], out, analyzer, recursive=True, progress=events.append)
    assert (s.total, s.ok) == (20, 20)
    stored = json.loads((out / "lab_stats.json").read_text(encoding="utf-8"))
    assert stored["images"] == 20 and stored["model_sha256"] == analyzer.model_info.sha256
    assert len(stored["fitted_on"]) == 20
    text = "adjusted to this lab's 20 images"
    lab_events = [e for e in events if e.kind == "lab_stats"]
    assert lab_events and lab_events[-1].message == text
    assert lab_events[0].message.startswith("lab statistics: image 1/20")
    rows = _rows(out)
    assert len(rows) == 20 and all(r["lab_stats"] == text for r in rows)
    records, _ = read_records(out)
    assert all(r.details["lab_stats"] == text for r in records)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["lab_stats"]["images"] == 20
    from fractoscope.report.data import BatchReport

    assert BatchReport.from_out_dir(out).lab_stats == text  # the batch report's provenance line
    # The run gives the analyzer back with its trained heads.
    assert analyzer.lab_stats is None

    # Resume with the same stored statistics: nothing recomputed, the file untouched.
    before = (out / "lab_stats.json").read_bytes()
    s2 = run_batch([twenty], out, analyzer, recursive=True)
    assert s2.reused == 20
    assert (out / "lab_stats.json").read_bytes() == before

    # A resumed run uses what the folder holds, not a new fit: hand-edited statistics of "33
    # images" are used (every image redone with them, as they change the answers).
    edited = dict(stored, images=33, mean=[v + 0.1 for v in stored["mean"]])
    (out / "lab_stats.json").write_text(json.dumps(edited), encoding="utf-8")
    s3 = run_batch([twenty], out, analyzer, recursive=True)
    assert (s3.ok, s3.reused) == (20, 0)
    assert all(r["lab_stats"] == "adjusted to this lab's 33 images" for r in _rows(out))
    assert json.loads((out / "lab_stats.json").read_text(encoding="utf-8"))["images"] == 33


def test_no_lab_stats_writes_none(model_copy, twenty: Path, tmp_path: Path, capsys) -> None:
    from fractoscope.cli import main

    out = tmp_path / "out"
    rc = main(["batch", str(twenty), "-r", "--out", str(out), "--model", str(model_copy), "--no-lab-stats", "-q"])
    assert rc == 0
    assert not (out / "lab_stats.json").exists()
    rows = _rows(out)
    assert len(rows) == 20 and all(r["lab_stats"] == "" for r in rows)
    assert "--no-lab-stats" in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["lab_stats"]["off"]


def test_fewer_than_20_images_is_off_with_one_message(analyzer, twenty: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    events = []
    s = run_batch(sorted(twenty.rglob("*.tif"))[:3], out, analyzer, progress=events.append)
    assert s.ok == 3
    said = [e.message for e in events if e.kind == "lab_stats"]
    assert len(said) == 1 and "at least 20" in said[0] and "3 usable images" in said[0]
    assert not (out / "lab_stats.json").exists()
    assert all(r["lab_stats"] == "" for r in _rows(out))


def test_dask_task_carries_the_statistics_as_plain_data(analyzer, twenty: Path) -> None:
    """What a Dask worker does with a task's lab statistics (run in this process)."""
    import distributed  # noqa: F401 - a hard dependency: missing, this fails rather than skips

    from fractoscope.batch import distributed as dist
    from fractoscope.batch.work import ImageJob

    sha = analyzer.model_info.sha256
    dim = _feature_dim(analyzer)
    lab = LabStats(np.full(dim, 0.2), np.full(dim, 0.4), 21, sha).to_dict()
    path = str(sorted(twenty.rglob("*.tif"))[0])
    dist._ANALYZERS[sha] = analyzer
    try:
        out = dist.analyse_on_worker(ImageJob(0, path, "x", "k" * 32, sha, True, lab))
        assert out.record.ok and out.record.lab_stats == "adjusted to this lab's 21 images"
        out = dist.analyse_on_worker(ImageJob(1, path, "x", "k" * 32, sha, True, None))
        assert out.record.ok and out.record.lab_stats == ""
    finally:
        dist._ANALYZERS.pop(sha, None)
        dist._LAB_APPLIED.pop(sha, None)
        analyzer.set_lab_stats(None)


def test_predict_judges_loose_files_alone_unless_given_a_file(model_copy, analyzer, twenty, tmp_path, capsys) -> None:
    from fractoscope.cli import main

    img = str(sorted(twenty.rglob("*.tif"))[0])
    assert main(["predict", img, "--model", str(model_copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["lab_stats"] is None
    dim = _feature_dim(analyzer)
    lab = LabStats(np.full(dim, 0.25), np.full(dim, 0.45), 37, analyzer.model_info.sha256)
    f = tmp_path / "lab_stats.json"
    f.write_text(json.dumps(lab.to_dict()), encoding="utf-8")
    assert main(["predict", img, "--model", str(model_copy), "--lab-stats", str(f)]) == 0
    assert "lab statistics: adjusted to this lab's 37 images" in capsys.readouterr().out
    f.write_text("{not json", encoding="utf-8")
    assert main(["predict", img, "--model", str(model_copy), "--lab-stats", str(f)]) == 2
    err = capsys.readouterr().err
    assert "--lab-stats" in err and "lab_stats.json" in err and "Traceback" not in err


def test_library_fits_stores_and_refreshes_its_lab_stats(analyzer, twenty: Path, tmp_path: Path) -> None:
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.model.taxonomy import Taxonomy

    tax = Taxonomy.default()
    lib = ReferenceLibrary(tmp_path / "lib", cache_dir=tmp_path / "cache")
    imgs = sorted(twenty.rglob("*.tif"))
    for p in imgs[:19]:
        lib.add(p, tax.parent_of(p.parent.name), p.parent.name)
    lab, msg = lib.lab_stats(analyzer)
    assert lab is None and "at least 20" in msg and "19" in msg
    assert not (tmp_path / "lib" / "lab_stats.json").exists()
    lib.add(imgs[19], tax.parent_of(imgs[19].parent.name), imgs[19].parent.name)
    lab, msg = lib.lab_stats(analyzer)
    assert lab is not None and lab.images == 20 and "adjusted to this lab's 20 images" in msg
    stored = json.loads((tmp_path / "lib" / "lab_stats.json").read_text(encoding="utf-8"))
    assert stored["images"] == 20 and stored["model_sha256"] == analyzer.model_info.sha256
    # Reopened: the stored statistics, no features needed (a fresh library object, no analyzer work).
    again = ReferenceLibrary(tmp_path / "lib").stored_lab_stats(analyzer.model_info.sha256)
    assert again is not None and np.allclose(again.mean, lab.mean, atol=1e-5)
    assert ReferenceLibrary(tmp_path / "lib").stored_lab_stats("0" * 64) is None  # another model
    # An image added: refitted over 21.
    (extra,) = generate_dataset(tmp_path / "more", per_class=1, seed=99, size=256, classes=["striations"])
    lib.add(extra, "fatigue", "striations")
    assert lib.stored_lab_stats(analyzer.model_info.sha256) is None
    lab, _ = lib.lab_stats(analyzer)
    assert lab.images == 21


def test_the_lab_statistics_sample_is_run_through_the_backbones_once(model_copy, twenty: Path, tmp_path: Path) -> None:
    """The sample's tiles, run to fit the statistics, are read back by the main pass even from a
    cache far smaller than them (kept until read), and the cache is back within budget after."""
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.analysis.tilecache import TileCache

    cache = TileCache(8 << 20)  # ~10 v3 tiles' entries; the 20 images have 80 tiles
    an = Analyzer(model_copy, device="cpu", tile_cache=cache)
    s = run_batch([twenty], tmp_path / "out", an, recursive=True)
    assert (s.total, s.ok) == (20, 20) and all(r["lab_stats"] for r in _rows(tmp_path / "out"))
    # Sample pass: each tile's maps and backbone outputs missed (2 per tile); main pass: each
    # tile's maps read back (1 per tile), so nothing but the heads ran twice.
    assert cache.hits >= 20 and cache.misses == 2 * cache.hits
    assert cache.kept_bytes == 0 and cache.nbytes <= cache.max_bytes
