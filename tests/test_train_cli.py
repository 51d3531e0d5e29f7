"""`fractoscope train` (resumable, safetensors + card) and `fractoscope evaluate` on generated data."""

from __future__ import annotations

import json
import shutil

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

    flat = tmp_path / "flat"
    for img in tiny_set.glob("*/*/*.tif"):
        dest = flat / img.parent.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(img, dest / img.name)
    assert main(["evaluate", str(flat), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n"] == 10 and d["level2_accuracy"] is None and d["confusion_level2"] is None


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
