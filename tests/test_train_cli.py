"""`fractoscope train` (resumable, safetensors + card) and `fractoscope evaluate` on generated data."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter

import pytest

from fractoscope.cli import main


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    from fractoscope.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("tiny")
    generate_dataset(out, per_class=1, seed=99, size=256)
    (out / "fatigue" / "striations" / "notes.txt").write_text("not an image")  # ignored
    return out


def test_train_writes_checkpoint_and_resumes(tiny_set, tmp_path, capsys):
    from fractoscope.model.checkpoint import load_checkpoint

    out = tmp_path / "tinymodel"
    args = ["train", str(tiny_set), "--out", str(out), "--steps-per-epoch", "2", "--batch-size", "4",
            "--no-pretrained", "--threads", "2", "--val-fraction", "0"]
    assert main([*args, "--epochs", "1"]) == 0
    state = json.loads((tmp_path / "tinymodel.train-state.json").read_text())
    assert state["epoch"] == 1
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    assert "resuming after epoch 1" in capsys.readouterr().err
    state = json.loads((tmp_path / "tinymodel.train-state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]) == 2
    loaded = load_checkpoint(out.with_suffix(".safetensors"))
    card = loaded.card
    assert len(card["training"]["history"]) == 2
    # Strict JSON (no NaN for the absent held-out figures): other tools read the card.
    text = out.with_suffix(".json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"model card holds {c}"))
    assert card["training"]["history"][0]["heldout_level1_accuracy"] is None
    assert sorted(loaded.taxonomy.level2) == sorted(p.name for p in tiny_set.glob("*/*") if p.is_dir())


def test_train_refuses_a_flat_folder(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert main(["train", str(tmp_path), "--out", str(tmp_path / "m")]) == 2
    assert "no images" in capsys.readouterr().err


def test_evaluate_json_for_two_level_and_level1_only_trees(tiny_set, tmp_path, capsys):
    assert main(["evaluate", str(tiny_set), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("n", "level1_accuracy", "level2_accuracy", "confusion_level1", "confusion_level2"):
        assert key in d
    assert d["n"] == 10 and len(d["confusion_level2"]) == 10
    assert sum(map(sum, d["confusion_level1"])) == 10
    # Per-image results carry the generator family and mixture from the synth manifest (read here
    # with the csv module), and the per-family / per-mixture tallies add up to them.
    with (tiny_set / "synth_manifest.csv").open(newline="") as f:
        manifest = {r["path"]: r for r in csv.DictReader(f)}
    ims = d["images"]
    assert sorted(im["path"] for im in ims) == sorted(manifest)
    for im in ims:
        row = manifest[im["path"]]
        assert (im["level1"], im["level2"], im["family"], im["mixture"]) == (
            row["level1"], row["level2"], row["family"], row["mixture"])
        assert im["correct_level1"] == (im["predicted_level1"] == im["level1"])
    c1 = d["confusion_level1"]
    assert sum(im["correct_level1"] for im in ims) == sum(c1[i][i] for i in range(len(c1)))
    fams = Counter(r["family"] for r in manifest.values())
    assert {k: v["n"] for k, v in d["by_family"].items()} == dict(fams)
    mixes = Counter(r["mixture"] or "none" for r in manifest.values())
    assert {k: v["n"] for k, v in d["by_mixture"].items()} == dict(mixes)
    for fam, v in d["by_family"].items():
        right = [im["correct_level1"] for im in ims if im["family"] == fam]
        assert v["level1_accuracy"] == pytest.approx(sum(right) / len(right))

    flat = tmp_path / "flat"
    for img in tiny_set.glob("*/*/*.tif"):
        dest = flat / img.parent.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(img, dest / img.name)
    assert main(["evaluate", str(flat), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n"] == 10 and d["level2_accuracy"] is None and d["confusion_level2"] is None
    # No manifest in a copied folder: no family breakdown, but still one record per image.
    assert d["by_family"] == {} and d["by_mixture"] == {} and len(d["images"]) == 10
    assert all(im["family"] == "" and im["level2"] is None for im in d["images"])


def test_fine_tune_bundled_model_on_a_lab_taxonomy(tiny_set, tmp_path, capsys):
    """A lab's own (smaller) class tree: features come from the bundled model, heads are new."""
    from fractoscope.model.checkpoint import default_model_path, load_checkpoint

    lab = tmp_path / "lab"
    for sub in ("fatigue/striations", "fatigue/beach_marks", "brittle_overload/cleavage"):
        shutil.copytree(tiny_set / sub, lab / sub)
    out = tmp_path / "labmodel"
    rc = main(["train", str(lab), "--out", str(out), "--epochs", "1", "--steps-per-epoch", "1",
               "--batch-size", "4", "--threads", "2", "--val-fraction", "0",
               "--init-from", str(default_model_path())])
    assert rc == 0
    assert "new heads for 2 mechanisms / 3 morphologies" in capsys.readouterr().err
    tuned, bundled = load_checkpoint(out.with_suffix(".safetensors")), load_checkpoint()
    assert tuned.taxonomy.level2 == ["cleavage", "beach_marks", "striations"]
    # Frozen early CNN layers still hold the bundled model's weights.
    a = tuned.model.cnn.conv_stem.weight
    b = bundled.model.cnn.conv_stem.weight
    assert a.shape == b.shape and bool((a == b).all())


def test_train_library_reports_through_the_callback_and_holds_out_by_name(tiny_set, tmp_path, capsys):
    """Progress and notices reach the callback, the library prints nothing; images matching a
    held-out pattern are scored every epoch and the card records the split."""
    from fractoscope.imaging.spec import InputSpec
    from fractoscope.train.config import TrainConfig
    from fractoscope.train.trainer import train

    events = []
    cfg = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=4, pretrained=False, threads=2,
                      val_fraction=0.0, holdout=("striations_*", "cleavage_*"), log_every=1)
    res = train(tiny_set, tmp_path / "m", cfg, progress=events.append)
    assert capsys.readouterr().err == ""
    kinds = [e.kind for e in events]
    assert kinds.count("load") >= 1 and kinds.count("step") == 2 and kinds.count("epoch") == 1
    assert [e.step for e in events if e.kind == "step"] == [1, 2]
    split = res.card["training"]["split"]
    assert split == {"train_images": 8, "validation_images": 0, "heldout_images": 2, "heldout_images_scored": 2,
                     "heldout_patterns": ["striations_*", "cleavage_*"]}
    log = res.history[0]
    assert log.val_level1_accuracy != log.val_level1_accuracy  # NaN: no validation split
    assert log.heldout_level1_accuracy in (0.0, 0.5, 1.0)  # two held-out images, one crop each
    assert res.selected_epoch == 1 and res.card["training"]["selected_epoch"] == 1
    # A new model analyses uncalibrated images at 4 tiles across (README, "Uncalibrated images").
    assert InputSpec.from_card(res.card) == InputSpec(tile_size=cfg.input_size, uncalibrated_max_side=4 * cfg.input_size)


def test_train_refuses_a_holdout_pattern_that_matches_nothing(tiny_set, tmp_path, capsys):
    rc = main(["train", str(tiny_set), "--out", str(tmp_path / "m"), "--holdout", "nothing_*",
               "--no-pretrained", "--epochs", "1"])
    assert rc == 2
    assert "nothing_*" in capsys.readouterr().err


def test_lr_schedule_warms_up_linearly_then_follows_a_cosine():
    from fractoscope.train.trainer import lr_factor

    assert [lr_factor(s, 100, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 100, 4) == 1.0
    assert abs(lr_factor(52, 100, 4) - 0.5) < 1e-12  # half-way through the decay: cos(pi/2)
    assert lr_factor(99, 100, 4) < 0.001


def test_split_keeps_held_out_images_out_of_training():
    import numpy as np

    from fractoscope.train.data import LoadedImage
    from fractoscope.train.trainer import split_images

    img = np.zeros((4, 4), np.float16)
    items = [LoadedImage(img, None, c // 2, c, f"c{c}_{f}_{i}.tif", f"style{c}{f}") for c in range(4)
             for f in range(3) for i in range(10)]
    # One family of each class by name (generator manifest), plus one file-name pattern.
    tr, va, ho = split_images(items, 0.2, seed=0, holdout=("style02", "style12", "style22", "style32"))
    assert len(ho) == 40 and all(items[i].family.endswith("2") for i in ho)
    assert not set(ho) & (set(tr) | set(va)) and not set(tr) & set(va)
    assert len(va) == 16  # 20 % of each class's 20 remaining images
    assert len(tr) + len(va) + len(ho) == len(items)
    _, _, ho = split_images(items, 0.2, seed=0, holdout=("c1_*",))
    assert sorted(ho) == list(range(30, 60))


def test_family_subset_links_only_the_named_generator_families(tiny_set, tmp_path):
    import csv

    from fractoscope.train.data import link_family_subset, scan_labelled_folder

    with (tiny_set / "synth_manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    fams = sorted({r["family"] for r in rows})[:3]
    expected = sorted(r["path"] for r in rows if r["family"] in fams)
    n = link_family_subset(tiny_set, tmp_path / "sub", fams)
    assert n == len(expected) > 0
    got = sorted(p.relative_to(tmp_path / "sub").as_posix() for p in (tmp_path / "sub").rglob("*.tif"))
    assert got == expected
    items, _ = scan_labelled_folder(tiny_set)
    assert {i.family for i in items} == {r["family"] for r in rows}  # the manifest reached the items
