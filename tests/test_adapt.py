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
    generate_dataset(raw, per_class=2 * PER_CLASS, seed=31, size=SIZE, classes=classes, workers=2)
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
    # Measured: bundled v1 model base 0.50 / 0.50, adapted 0.83 / 0.77. The v3 base already reads
    # this unseen style (inverted contrast + blur) at 0.77 level 1 (its backbones are frozen
    # natural-image features), adapted 0.83: adaptation must still add, and reach 0.8.
    assert after[0] > before[0] and after[0] >= 0.8
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
    # The same images give the same heads: features from the cache are the features computed
    # the first time, so every weight tensor of the new model hashes the same.
    assert _weight_hashes(res2.weights) == _weight_hashes(adapted[0].weights)
    # One more image: only that one is computed.
    grown = tmp_path / "grown"
    shutil.copytree(data["train"], grown)
    extra = next((data["test"] / "fatigue" / "striations").glob("*.tif"))
    shutil.copy(extra, grown / "fatigue" / "striations" / "new.tif")
    res3 = adapt_model(grown, tmp_path / "grown-model", cache_dir=data["cache"], analyzer=base)
    assert (res3.computed, res3.cached) == (1, 6 * PER_CLASS)
    # ... and changes the heads (the hash comparison above can fail), not the frozen backbone.
    h1, h3 = _weight_hashes(adapted[0].weights), _weight_hashes(res3.weights)
    changed = {k for k in h1 if h1[k] != h3.get(k)}
    assert changed and all("head" in k for k in changed), sorted(changed)


def _weight_hashes(path: Path) -> dict[str, str]:
    """sha256 of each tensor's bytes in a .safetensors file, by name."""
    from safetensors.numpy import load_file

    return {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in load_file(path).items()}


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
        ({"fatigue/fatigue": 3, "wear": 3}, "unique across both levels"),
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


# --- mixed layouts: one scanner for train, adapt and the library -------------------------------------
def _mixed_tree(root: Path, data: dict[str, Path]) -> None:
    """brittle_overload: two morphology folders; ductile_overload: mechanism only (5 loose images);
    fatigue: two morphology folders *and* 2 loose images beside them; plus a hidden folder and a
    sidecar that are not images."""
    for l2 in ("cleavage", "intergranular"):
        for f in sorted((data["train"] / "brittle_overload" / l2).glob("*.tif")):
            (root / "brittle_overload" / l2).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, root / "brittle_overload" / l2 / f.name)
    (root / "ductile_overload").mkdir(parents=True)
    dimples = sorted((data["train"] / "ductile_overload").rglob("*.tif"))
    for f in dimples[:3] + dimples[-2:]:
        shutil.copy(f, root / "ductile_overload" / f.name)
    for l2 in ("beach_marks", "striations"):
        for f in sorted((data["train"] / "fatigue" / l2).glob("*.tif")):
            (root / "fatigue" / l2).mkdir(parents=True, exist_ok=True)
            shutil.copy(f, root / "fatigue" / l2 / f.name)
    for f in sorted((data["test"] / "fatigue" / "striations").glob("*.tif"))[:2]:
        shutil.copy(f, root / "fatigue" / f"loose_{f.name}")
    (root / ".models").mkdir()
    shutil.copy(dimples[0], root / ".models" / "not_a_class.tif")
    (root / "fatigue" / "notes.txt").write_text("a sidecar, not an image")


MIXED_COUNTS = {
    "brittle_overload": {"cleavage": 5, "intergranular": 5},
    "ductile_overload": {"": 5},
    "fatigue": {"": 2, "beach_marks": 5, "striations": 5},
}


def test_one_scanner_reads_mixed_layouts_for_train_adapt_and_the_library(data, tmp_path):
    from fractoscope.adapt.dataset import scan_folder
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.io.labelled import ScanMode, scan_labelled_tree
    from fractoscope.train.data import scan_labelled_folder

    root = tmp_path / "mixed"
    _mixed_tree(root, data)
    # Expected by listing the tree here: every image at depth 1 or 2 outside hidden folders.
    want = sorted(
        (p.relative_to(root).as_posix(), p.relative_to(root).parts[0],
         p.relative_to(root).parts[1] if len(p.relative_to(root).parts) == 3 else None)
        for p in root.rglob("*.tif") if not p.relative_to(root).parts[0].startswith(".")
    )
    assert len(want) == 27

    def triples(items):
        return sorted((i.path.relative_to(root).as_posix(), i.level1, i.level2) for i in items)

    assert triples(scan_labelled_tree(root)) == want
    assert triples(ReferenceLibrary(root).entries()) == want
    folder = scan_folder(root)
    assert triples(folder.files) == want and folder.has_level2 and folder.counts() == MIXED_COUNTS
    train_items, train_tax = scan_labelled_folder(root)
    assert triples(train_items) == want  # loose fatigue images are kept, not dropped
    assert train_tax.to_dict()["tree"] == folder.taxonomy.to_dict()["tree"] == {
        "brittle_overload": ["cleavage", "intergranular"],
        "ductile_overload": ["ductile_overload_unspecified"],
        "fatigue": ["beach_marks", "striations"],
    }
    # Modes: a library may not exist yet; data to learn from must.
    assert scan_labelled_tree(tmp_path / "absent", ScanMode.LIBRARY) == []
    assert ReferenceLibrary(tmp_path / "absent").entries() == []
    with pytest.raises(FractoscopeError, match="not a folder"):
        scan_labelled_tree(tmp_path / "absent", ScanMode.DATASET)
    (tmp_path / "empty").mkdir()
    assert scan_labelled_tree(tmp_path / "empty", ScanMode.LIBRARY) == []
    with pytest.raises(FractoscopeError, match="no images found"):
        scan_labelled_tree(tmp_path / "empty")


def test_level2_is_fitted_only_on_images_with_a_morphology():
    """Hand-made pooled features: in mechanism m1, morphology a sits at +1 and b at -1 of the
    level-2 feature; m1's mechanism-only images also sit at -1. Fitted on the images that have a
    morphology only, the level-2 head separates a from b perfectly (cross-validated accuracy 1);
    counting the mechanism-only images as one of the children would make 'a' images at -1."""
    from types import SimpleNamespace

    from fractoscope.adapt.adapter import fit_level2, hierarchical_cv, out_of_fold_logits
    from fractoscope.model.taxonomy import taxonomy_from_tree

    tax = taxonomy_from_tree({"m1": ["a", "b"], "m2": []})
    rng = np.random.default_rng(3)

    def image(level1_x: float, level2_x: float) -> SimpleNamespace:
        t = np.column_stack([np.full(6, level1_x), np.zeros(6), np.full(6, level2_x), np.zeros(6)])
        return SimpleNamespace(tile_features=t + rng.normal(0, 0.05, t.shape), tile_weights=np.ones(6, np.float32))

    a, b = tax.level2.index("a"), tax.level2.index("b")
    items = ([(image(1, 1), 0, a) for _ in range(4)] + [(image(1, -1), 0, b) for _ in range(4)]
             + [(image(1, -1), 0, -1) for _ in range(4)] + [(image(-1, 0), 1, -1) for _ in range(4)])
    w2, b2, info = fit_level2(items, tax, d1=2, folds=4)
    assert set(info) == {"m1"}  # m2 has a single placeholder child: nothing to fit
    assert info["m1"]["cv_accuracy"] == 1.0
    for x, want in ((-1.0, b), (1.0, a)):
        z = np.array([x, 0.0]) @ w2.T + b2
        assert [a, b][int(np.argmax(z[[a, b]]))] == want
    oof = out_of_fold_logits(items, tax, 2, 1.0, {"m1": 1.0}, 4, True)
    held1, held2 = hierarchical_cv(items, tax, oof)
    # Level 1 over all 16 images, level 2 over the 8 with a morphology.
    assert held1.accuracy == 1.0 and set(held1.per_class_recall) == {"m1", "m2"}
    assert held2.accuracy == 1.0 and set(held2.per_class_recall) == {"a", "b"}


def _check_mixed_model(weights: Path, data: dict[str, Path]) -> dict:
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.io import read_sem

    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["level2_trained"] is True
    assert card["taxonomy"]["tree"]["ductile_overload"] == ["ductile_overload_unspecified"]
    imgs = card["adaptation"]["images"]
    assert len(imgs) == 27 and sum(i["level2"] is None for i in imgs) == 7
    # Level 2 is fitted per mechanism with morphologies, on the images that have one.
    assert set(card["adaptation"]["regularisation"]["level2"]) == {"brittle_overload", "fatigue"}
    an = Analyzer(weights, device="cpu")
    pred = an.analyze(read_sem(next((data["test"] / "fatigue" / "beach_marks").glob("*.tif"))), with_cams=False)
    assert pred.has_level2 and pred.taxonomy.parent_of(pred.level2.label) == pred.level1.label
    return card


def test_mixed_library_adapts_from_the_cli(data, tmp_path, capsys):
    from fractoscope.cli import main

    root = tmp_path / "mixed"
    _mixed_tree(root, data)
    rc = main(["adapt", str(root), "--out", str(tmp_path / "m"), "--cache", str(data["cache"]),
               "--device", "cpu", "--folds", "3", "-q"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Fatigue: 12 (mechanism only 2, Beach marks 5, Fatigue striations 5)" in out
    assert "Ductile overload: 5 (mechanism only 5)" in out
    assert "level 2" in out and "Traceback" not in err
    _check_mixed_model(tmp_path / "m.safetensors", data)


def test_mixed_library_adapts_from_update_model(data, tmp_path):
    """The window's *Update model* job, on a library filled with Label as (some images labelled
    with a mechanism only, which the window allows)."""
    from fractoscope.adapt.library import ReferenceLibrary
    from fractoscope.gui.library.adapt_worker import adapt_job

    src = tmp_path / "src"
    _mixed_tree(src, data)
    lib = ReferenceLibrary(tmp_path / "lib", cache_dir=data["cache"])
    for e in ReferenceLibrary(src).entries():
        lib.add(e.path, e.level1, e.level2)
    assert lib.counts() == {k: {(c or None): n for c, n in v.items()} for k, v in MIXED_COUNTS.items()}
    steps: list[str] = []
    job = adapt_job(lib.root, tmp_path / "lib" / ".models" / "lab-x", None, device="cpu",
                    cache_dir=data["cache"], folds=3)
    summary = job(lambda f, m: steps.append(m), lambda: False)
    assert summary.has_level2 and summary.counts == MIXED_COUNTS
    # The named progress stages of adapt_model, in order (between them: images, CV folds).
    stages = ["loading the base model", "computing features", "fitting the level-1 head",
              "fitting the level-2 head", "cross-validating the hierarchy", "writing the model", "done"]
    assert [m for m in steps if m in stages] == stages
    assert any(m.startswith("features 1/") for m in steps)
    assert summary.cv_level1 is not None and summary.cv_level2 is not None
    _check_mixed_model(Path(summary.weights), data)


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
