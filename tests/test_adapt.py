"""``fractoscope adapt`` and the reference library, on generated fractographs of a style the bundled
model has not seen: inverted contrast and soft focus (a backscatter-like detector slightly out of
focus). Feature extraction is the slow part, so the images, the base Analyzer and the feature cache
are shared by the whole module."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from fractoscope.errors import FractoscopeError

CLASSES = {
    "brittle_overload": ["cleavage", "intergranular"],
    "ductile_overload": ["equiaxed_dimples", "shear_dimples"],
    "fatigue": ["beach_marks", "striations"],
}
PER_CLASS = 5  # training images per morphology; the test folder has another 5 of each
SIZE = 256


def _restyle(src: Path, dst: Path) -> None:
    """Invert the contrast and blur (sigma 2 px); keep the ImageJ calibration."""
    with tifffile.TiffFile(src) as t:
        img = t.asarray().astype(np.float64)
        num, den = t.pages[0].tags["XResolution"].value
    top = 65535 if img.max() > 255 else 255
    out = top - ndimage.gaussian_filter(img, 2.0)
    px_um = den / num
    dst.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(dst, out.round().astype(np.uint16 if top > 255 else np.uint8), imagej=True,
                     resolution=(1 / px_um, 1 / px_um), metadata={"unit": "um"})


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    from fractoscope.synth.generate import generate_dataset

    root = tmp_path_factory.mktemp("adapt")
    raw = root / "raw"
    classes = [c for kids in CLASSES.values() for c in kids]
    generate_dataset(raw, per_class=2 * PER_CLASS, seed=31, size=SIZE, classes=classes)
    for f in sorted(raw.rglob("*.tif")):
        index = int(f.stem.rsplit("_", 1)[1])
        split = "train" if index < PER_CLASS else "test"
        _restyle(f, root / split / f.relative_to(raw))
    return {"root": root, "train": root / "train", "test": root / "test", "cache": root / "cache"}


@pytest.fixture(scope="module")
def base():
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu")


@pytest.fixture(scope="module")
def adapted(data, base):
    from fractoscope.adapt.adapter import adapt_model

    steps: list[float] = []
    res = adapt_model(data["train"], data["root"] / "models" / "lab-v1", folds=5, cache_dir=data["cache"],
                      analyzer=base, progress=lambda f, _m: steps.append(f), command="test")
    return res, steps


def _accuracy(analyzer, folder: Path) -> tuple[float, float]:
    from fractoscope.io import read_sem

    files = sorted(folder.rglob("*.tif"))
    ok1 = ok2 = 0
    for f in files:
        pred = analyzer.analyze(read_sem(f), with_cams=False)
        l1, l2 = f.parent.parent.name, f.parent.name
        ok1 += pred.level1.label == l1
        ok2 += pred.level1.label == l1 and pred.level2.label == l2
    return ok1 / len(files), ok2 / len(files)


def test_adapting_on_5_images_per_class_beats_the_base_model_on_held_out_images(data, base, adapted):
    from fractoscope.analysis.pipeline import Analyzer

    res, steps = adapted
    assert res.weights.is_file() and res.has_level2
    assert steps == sorted(steps) and steps[-1] == 1.0  # progress only moves forward
    before = _accuracy(base, data["test"])
    after = _accuracy(Analyzer(res.weights, device="cpu"), data["test"])
    print(f"held-out image accuracy level 1/2: base {before}, adapted {after}")
    # Measured (bundled v1 model, generator of this commit): base 0.50 / 0.50, adapted 0.83 / 0.77.
    assert after[0] >= before[0] + 0.15 and after[0] >= 0.7
    assert after[1] >= before[1] + 0.1


def test_card_records_base_data_and_cross_validation(data, adapted):
    from fractoscope.model.checkpoint import default_model_path

    res, _ = adapted
    card = json.loads(res.weights.with_suffix(".json").read_text())
    a = card["adaptation"]
    base_hash = hashlib.sha256(default_model_path().read_bytes()).hexdigest()
    assert a["base_model"]["sha256"] == base_hash
    files = sorted(data["train"].rglob("*.tif"))
    assert sorted(i["sha256"] for i in a["images"]) == sorted(hashlib.sha256(f.read_bytes()).hexdigest() for f in files)
    for item in a["images"]:
        f = next(f for f in files if hashlib.sha256(f.read_bytes()).hexdigest() == item["sha256"])
        assert (item["level1"], item["level2"]) == (f.parent.parent.name, f.parent.name)
    assert a["counts"] == {l1: {l2: PER_CLASS for l2 in kids} for l1, kids in CLASSES.items()}
    assert card["taxonomy"]["tree"] == CLASSES
    assert card["config"]["n_level1"] == 3 and card["config"]["n_level2"] == 6
    assert card["level2_trained"] is True and a["command"] == "test"
    assert dt.datetime.fromisoformat(a["date"]).tzinfo is not None
    cv = a["cross_validation"]
    assert cv["level1"]["folds"] == 5 and 0.0 <= cv["level1"]["accuracy"] <= 1.0
    assert 0.0 <= cv["level2"]["accuracy"] <= cv["level1"]["accuracy"] + 1e-9  # top-down: l2 right needs l1 right
    # The card's training block keeps the base's pixel-size range: same resampling as the base.
    base_card = json.loads(default_model_path().with_suffix(".json").read_text())
    assert card["training"]["pixel_size_range_m"] == base_card["training"]["pixel_size_range_m"]
    assert card["input"] == base_card["input"]


def test_level2_head_is_conditional_and_cam_stays_exact(adapted):
    """The adapted heads are linear maps of the pooled features: the stitched CAM of a class is
    still W_c . A / hw (checked against autograd Grad-CAM), and level 2 sums to level 1."""
    import torch

    from fractoscope.model.checkpoint import load_checkpoint

    res, _ = adapted
    m = load_checkpoint(res.weights).model
    x = torch.rand(2, 1, 192, 192)
    out = m(x, torch.tensor([50.0, float("nan")]))
    p1, p2 = out.log_p_level1.exp(), out.log_p_level2.exp()
    assert torch.allclose(p2.reshape(2, 3, 2).sum(2), p1, atol=1e-5)  # children of each parent sum to it
    feats = out.features_level2.detach().requires_grad_(True)
    logit = m.head_level2(feats.mean((2, 3)))[0, 3]
    (grad,) = torch.autograd.grad(logit, feats)
    gradcam = (grad[0].mean((1, 2))[:, None, None] * feats[0]).sum(0)
    assert torch.allclose(gradcam, out.cam_level2[0, 3], atol=1e-5)


def test_second_run_takes_features_from_the_cache(data, base, adapted, tmp_path):
    from fractoscope.adapt.adapter import adapt_model

    res2 = adapt_model(data["train"], tmp_path / "again", cache_dir=data["cache"], analyzer=base)
    assert (res2.computed, res2.cached) == (0, 6 * PER_CLASS)
    # The same images give the same heads.
    a = json.loads(adapted[0].weights.with_suffix(".json").read_text())["adaptation"]["cross_validation"]
    b = json.loads(res2.weights.with_suffix(".json").read_text())["adaptation"]["cross_validation"]
    assert a["level1"]["accuracy"] == b["level1"]["accuracy"]
    # One more image: only that one is computed.
    grown = tmp_path / "grown"
    shutil.copytree(data["train"], grown)
    extra = next((data["test"] / "fatigue" / "striations").glob("*.tif"))
    shutil.copy(extra, grown / "fatigue" / "striations" / "new.tif")
    res3 = adapt_model(grown, tmp_path / "grown-model", cache_dir=data["cache"], analyzer=base)
    assert (res3.computed, res3.cached) == (1, 6 * PER_CLASS)


def test_level1_only_tree_gives_a_level1_only_model(data, base, tmp_path):
    from fractoscope.adapt.adapter import adapt_model
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem

    flat = tmp_path / "flat"
    for f in data["train"].rglob("*.tif"):
        (flat / f.parent.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, flat / f.parent.parent.name / f.name)
    res = adapt_model(flat, tmp_path / "l1only", cache_dir=data["cache"], analyzer=base)
    assert not res.has_level2 and res.cv_level2 is None and res.computed == 0
    card = json.loads(res.weights.with_suffix(".json").read_text())
    assert card["level2_trained"] is False and card["adaptation"]["level2_trained"] is False
    assert list(card["taxonomy"]["tree"]) == list(CLASSES)
    an = Analyzer(res.weights, device="cpu")
    f = next((data["test"] / "ductile_overload").rglob("*.tif"))
    pred = an.analyze(read_sem(f))
    assert pred.level1.label in CLASSES
    assert pred.has_level2 is False


def test_cli_reports_counts_accuracy_and_few_image_warnings(data, tmp_path, capsys):
    from fractoscope.cli import main

    small = tmp_path / "small"
    for l1, kids in CLASSES.items():
        for l2 in kids:
            src = sorted((data["train"] / l1 / l2).glob("*.tif"))
            keep = src[:2] if l2 == "cleavage" else src
            (small / l1 / l2).mkdir(parents=True)
            for f in keep:
                shutil.copy(f, small / l1 / l2 / f.name)
    (small / "fatigue" / "striations" / "broken.tif").write_text("not an image")
    rc = main(["adapt", str(small), "--out", str(tmp_path / "m"), "--cache", str(data["cache"]),
               "--device", "cpu", "--folds", "3", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Brittle overload: 7 (Cleavage 2, Intergranular facets 5)" in out
    # Folds are stratified by morphology and cleavage has only 2 images: at most 2 folds, said so.
    assert "2-fold cross-validated image accuracy (fewer than --folds 3: a class has only 2 images): level 1" in out
    assert "level 2" in out
    assert "warning: brittle_overload/cleavage: only 2 images" in err
    assert "broken.tif" in err and "skipped" in err and "Traceback" not in err
    assert (tmp_path / "m.safetensors").is_file()


@pytest.mark.parametrize(
    "layout, message",
    [
        ({}, "no images found"),
        ({"fatigue/striations": 3}, "only one class"),
        ({"fatigue/striations": 2, "wear": 2}, "mixes level1/*.tif"),
    ],
)
def test_unusable_folders_get_one_line(tmp_path, capsys, layout, message):
    from fractoscope.cli import main

    src = tmp_path / "src.tif"
    tifffile.imwrite(src, (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))
    root = tmp_path / "data"
    root.mkdir()
    for folder, n in layout.items():
        (root / folder).mkdir(parents=True)
        for i in range(n):
            shutil.copy(src, root / folder / f"{i}.tif")
    rc = main(["adapt", str(root), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.safetensors").exists()


# --- reference library ---------------------------------------------------------------------------
def test_library_copies_relabels_and_removes_only_its_own_files(data, tmp_path):
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.calibration import Calibration
    from fractoscope.io.manual import manual_calibration_path, save_manual_calibration

    user = tmp_path / "user"
    user.mkdir()
    img = user / "part7.tif"
    shutil.copy(next(data["train"].rglob("*.tif")), img)
    save_manual_calibration(img, Calibration(20e-9, 20e-9, "manual"))
    before = {p.name: p.read_bytes() for p in user.iterdir()}
    lib = ReferenceLibrary(tmp_path / "lib")
    assert lib.counts() == {} and len(lib) == 0
    copy = lib.add(img, "fatigue", "striations")
    assert copy == tmp_path / "lib" / "fatigue" / "striations" / "part7.tif"
    assert manual_calibration_path(copy).is_file()
    assert lib.add(img, "fatigue", "striations") == copy  # same file, same label: not copied twice
    assert lib.counts() == {"fatigue": {"striations": 1}}
    moved = lib.relabel(copy, "wear", "abrasive_grooves")
    assert not copy.exists() and moved.is_file() and manual_calibration_path(moved).is_file()
    assert not (tmp_path / "lib" / "fatigue").exists()  # emptied class folders go
    assert lib.counts() == {"wear": {"abrasive_grooves": 1}}
    with pytest.raises(FractoscopeError, match="not an image of the reference library"):
        lib.remove(img)
    lib.remove(moved)
    assert lib.counts() == {} and not manual_calibration_path(moved).exists()
    assert {p.name: p.read_bytes() for p in user.iterdir()} == before  # the user's files untouched
    with pytest.raises(FractoscopeError):
        lib.add(img, "../escape")


def test_similar_images_are_the_same_image_then_its_class(data, base, tmp_path):
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.io import read_sem

    lib = ReferenceLibrary(tmp_path / "lib", cache_dir=data["cache"])
    for f in sorted(data["train"].rglob("*.tif")):
        lib.add(f, f.parent.parent.name, f.parent.name)
    query = sorted((data["train"] / "ductile_overload" / "equiaxed_dimples").glob("*.tif"))[2]
    pred = base.analyze(read_sem(query))  # with CAMs, as the GUI analyses
    near = lib.similar(pred, k=3, analyzer=base)
    assert len(near) == 3
    assert Path(near[0].path).name == query.name and near[0].similarity == pytest.approx(1.0, abs=1e-4)
    assert all(-1.0 <= s.similarity <= 1.0 for s in near)
    assert near[0].similarity >= near[1].similarity >= near[2].similarity
    assert near[0].thumbnail.dtype == np.uint8 and max(near[0].thumbnail.shape) <= 128
    assert near[0].pixel_size_m == pytest.approx(read_sem(query).calibration.pixel_size_m)
    # Held-out images: the nearest library image shares the mechanism far more often than the
    # 1 in 3 of a random pick (30 images, 3 mechanisms).
    held = sorted(data["test"].rglob("*.tif"))
    agree = [lib.similar(base.analyze(read_sem(h), with_cams=False), k=1)[0].level1 == h.parent.parent.name
             for h in held]
    assert len(held) == 30 and sum(agree) >= 18, sum(agree)
