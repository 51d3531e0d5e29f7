"""Synthetic fractograph generator: determinism, every class, the CLI tree and its calibration."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from fractoscope.cli import main
from fractoscope.errors import FractoscopeError
from fractoscope.model.taxonomy import Taxonomy
from fractoscope.synth import MORPHOLOGIES, generate_dataset, image_rng, render_fractograph
from fractoscope.synth.render import add_databar

TAX = Taxonomy.default()


def test_every_taxonomy_class_has_a_renderer():
    assert set(MORPHOLOGIES) == set(TAX.level2)


@pytest.mark.parametrize("level2", TAX.level2)
def test_class_renders_textured_image(level2):
    img, px, rows = render_fractograph(level2, image_rng(3, level2, 0), size=160)
    assert img.shape == (160, 160)
    assert img.dtype in (np.uint8, np.uint16)
    lo, hi = MORPHOLOGIES[level2].px_range_m
    assert lo <= px <= hi and 1e-9 < px < 1e-6
    f = img[: 160 - rows].astype(np.float64) / np.iinfo(img.dtype).max
    assert f.std() > 0.03  # real texture, not a flat field
    # Structure beyond pixel noise: survives a blur that averages the shot noise away.
    assert ndi.gaussian_filter(f, 2.0).std() > 0.02


def test_deterministic_for_a_seed_and_seeds_differ():
    a = render_fractograph("cleavage", image_rng(7, "cleavage", 2), size=128)
    b = render_fractograph("cleavage", image_rng(7, "cleavage", 2), size=128)
    c = render_fractograph("cleavage", image_rng(8, "cleavage", 2), size=128)
    assert a[0].tobytes() == b[0].tobytes() and a[1] == b[1] and a[2] == b[2]
    assert a[0].tobytes() != c[0].tobytes()


def test_class_stream_independent_of_other_classes(tmp_path):
    generate_dataset(tmp_path / "a", 1, seed=5, size=96, classes=["pitting"])
    generate_dataset(tmp_path / "b", 1, seed=5, size=96, classes=["cleavage", "pitting"])
    rel = "corrosion/pitting/pitting_5_0.tif"
    assert tifffile.imread(tmp_path / "a" / rel).tobytes() == tifffile.imread(tmp_path / "b" / rel).tobytes()


def test_databar_is_in_bottom_rows():
    rng = np.random.default_rng(0)
    img = np.full((200, 200), 0.5, np.float32)
    rows = add_databar(img, 50e-9, rng)
    assert 10 <= rows < 200 // 3
    assert np.all(img[: 200 - rows] == 0.5)
    bar = img[200 - rows :]
    assert bar.min() < 0.1 and bar.max() > 0.8  # dark band with bright glyphs/scale bar
    # Found in generated images too, and always at the bottom.
    seen = 0
    for i in range(40):
        im, _, r = render_fractograph("pitting", image_rng(1, "pitting", i), size=128)
        if r:
            seen += 1
            f = im.astype(np.float64) / np.iinfo(im.dtype).max
            band = f[128 - r :]
            assert np.median(band) < 0.1 and band.max() > 0.8
    assert seen >= 1


def test_cli_writes_calibrated_tree(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["synth", str(out), "--per-class", "2", "--seed", "11", "--size", "96",
               "--classes", "striations,mud_cracking"])
    assert rc == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tif"))
    assert files == [
        "corrosion/mud_cracking/mud_cracking_11_0.tif",
        "corrosion/mud_cracking/mud_cracking_11_1.tif",
        "fatigue/striations/striations_11_0.tif",
        "fatigue/striations/striations_11_1.tif",
    ]
    err = capsys.readouterr().err
    assert "4/4" in err
    path = out / files[2]
    _, px, _ = render_fractograph("striations", image_rng(11, "striations", 0), size=96)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_imagej and tf.imagej_metadata.get("unit") in ("um", "micron", "\\u00B5m")
        page = tf.pages[0]
        xres = page.tags["XResolution"].value
        assert page.shape == (96, 96)
        assert xres[1] / xres[0] == pytest.approx(px * 1e6, rel=1e-4)
    try:
        from fractoscope.io import read_sem
    except ImportError:
        return
    sem = read_sem(path, crop_databar=False)
    assert sem.calibration.pixel_size_x_m == pytest.approx(px, rel=1e-4)
    assert "imagej" in sem.calibration.source.lower()


def test_cli_reports_bad_input(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["synth", str(blocker / "sub"), "--per-class", "1", "--size", "96"]) == 2
    assert "cannot create" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "o"), "--per-class", "1", "--classes", "nope"]) == 2
    assert "unknown class" in capsys.readouterr().err
    with pytest.raises(FractoscopeError):
        render_fractograph("nope", np.random.default_rng(0))
