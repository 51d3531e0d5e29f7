"""PNG/JPEG/BMP, bit depths, palette, RGB(A), multi-page, ImageJ written by tifffile."""

import numpy as np
import pytest
from io_fixtures import textured, write_tiff
from PIL import Image

from fractoscope.io import SUPPORTED_SUFFIXES, is_supported, read_sem


def test_imagej_written_by_tifffile_reads_back(tmp_path):
    px_um = 0.0375
    path = write_tiff(tmp_path / "ij.tif", textured(64, 80), imagej=True,
                      resolution=(1 / px_um, 1 / px_um), metadata={"unit": "um"})
    sem = read_sem(path)
    assert sem.calibration.source == "ImageJ"
    assert sem.pixel_size_m == pytest.approx(px_um * 1e-6, rel=1e-6)
    assert sem.field_of_view_m == pytest.approx((80 * px_um * 1e-6, 64 * px_um * 1e-6), rel=1e-6)


# ImageJ escapes the micro sign in its ASCII header as "\\u00B5m".
@pytest.mark.parametrize("unit,scale", [("nm", 1e-9), ("micron", 1e-6), ("\\u00B5m", 1e-6),
                                        ("mm", 1e-3)])
def test_imagej_units(tmp_path, unit, scale):
    path = write_tiff(tmp_path / "u.tif", textured(32, 32), imagej=True,
                      resolution=(4, 4), metadata={"unit": unit})
    assert read_sem(path).pixel_size_m == pytest.approx(0.25 * scale)


def test_imagej_absurd_scale_is_rejected(tmp_path):
    path = write_tiff(tmp_path / "abs.tif", textured(32, 32), imagej=True,
                      resolution=(1e-9, 1e-9), metadata={"unit": "mm"})
    with pytest.warns(UserWarning, match="implausible"):
        sem = read_sem(path)
    assert sem.calibration.source == "none"


@pytest.mark.parametrize("suffix,kwargs", [(".png", {}), (".jpg", {"quality": 95}), (".bmp", {})])
def test_pillow_formats_grey(tmp_path, suffix, kwargs):
    data = textured(48, 64)
    path = tmp_path / f"img{suffix}"
    Image.fromarray(data).save(path, **kwargs)
    sem = read_sem(path)
    assert sem.data.shape == (48, 64) and sem.data.dtype == np.uint8
    assert sem.calibration.source == "none"
    if suffix != ".jpg":
        assert np.array_equal(sem.data, data)


def test_png_16bit_rgb_rgba_palette(tmp_path):
    d16 = textured(32, 40, np.uint16)
    Image.fromarray(d16).save(tmp_path / "a.png")
    sem = read_sem(tmp_path / "a.png")
    assert sem.data.dtype == np.uint16 and np.array_equal(sem.data, d16)

    rgb = np.dstack([textured(32, 40, seed=s) for s in range(3)])
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert np.array_equal(read_sem(tmp_path / "rgb.png").data, rgb)

    rgba = np.dstack([rgb, np.full((32, 40), 200, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    sem = read_sem(tmp_path / "rgba.png")
    assert sem.data.shape == (32, 40, 3) and "alpha channel dropped" in sem.notes

    grey = Image.fromarray(textured(32, 40)).convert("P")  # palette of greys
    grey.save(tmp_path / "pal.png")
    sem = read_sem(tmp_path / "pal.png")
    assert sem.data.ndim == 2

    colour = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    colour.save(tmp_path / "palc.png")
    assert read_sem(tmp_path / "palc.png").data.shape == (32, 40, 3)

    Image.fromarray(textured(32, 40) > 100).save(tmp_path / "bw.png")
    bw = read_sem(tmp_path / "bw.png").data
    assert bw.dtype == np.uint8 and set(np.unique(bw)) <= {0, 255}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int16, np.float32])
def test_tiff_dtypes_kept(tmp_path, dtype):
    data = textured(32, 32, dtype) if np.dtype(dtype).kind != "i" else (
        textured(32, 32, np.uint16).astype(np.int16))
    sem = read_sem(write_tiff(tmp_path / "d.tif", data))
    assert sem.data.dtype == np.dtype(dtype)
    assert np.array_equal(sem.data, data)


def test_tiff_palette_grey_and_colour(tmp_path):
    idx = (textured(32, 32) // 16).astype(np.uint8)
    grey = np.stack([np.arange(256) * 257] * 3).astype(np.uint16)
    sem = read_sem(write_tiff(tmp_path / "g.tif", idx, photometric="palette", colormap=grey))
    assert sem.data.ndim == 2 and np.array_equal(sem.data, idx)
    colour = grey.copy()
    colour[0] = 0
    sem = read_sem(write_tiff(tmp_path / "c.tif", idx, photometric="palette", colormap=colour))
    assert sem.data.shape == (32, 32, 3)


def test_tiff_planar_rgb_and_multipage(tmp_path):
    rgb = np.stack([textured(24, 32, seed=s) for s in range(3)])
    sem = read_sem(write_tiff(tmp_path / "p.tif", rgb, photometric="rgb", planarconfig="separate"))
    assert sem.data.shape == (24, 32, 3)
    assert np.array_equal(sem.data[..., 1], rgb[1])
    stack = np.stack([textured(24, 32, seed=s) for s in range(4)])
    sem = read_sem(write_tiff(tmp_path / "m.tif", stack, photometric="minisblack"))
    assert sem.data.shape == (24, 32) and np.array_equal(sem.data, stack[0])
    assert "page 1 of 4 read" in sem.notes


def test_tiff_compressed(tmp_path):
    data = textured(40, 40)
    sem = read_sem(write_tiff(tmp_path / "z.tif", data, compression="zlib"))
    assert np.array_equal(sem.data, data)


def test_float_nan_inf_replaced_with_note(tmp_path):
    data = textured(32, 32, np.float32)
    data[0, 0], data[1, 1], data[2, 2] = np.nan, np.inf, -np.inf
    sem = read_sem(write_tiff(tmp_path / "f.tif", data))
    assert np.isfinite(sem.data).all()
    assert sem.data[1, 1] == np.nanmax(np.where(np.isfinite(data), data, np.nan))
    assert any("3 NaN/inf" in n for n in sem.notes)


def test_file_type_from_content_not_suffix(tmp_path):
    Image.fromarray(textured(32, 32)).save(tmp_path / "really_png.png")
    renamed = tmp_path / "really_png.tif"
    renamed.write_bytes((tmp_path / "really_png.png").read_bytes())
    assert read_sem(renamed).data.shape == (32, 32)


def test_supported_suffixes():
    assert ".tif" in SUPPORTED_SUFFIXES and ".png" in SUPPORTED_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)
    assert is_supported("a/B.TIF") and is_supported("x.jpeg") and is_supported("x.bmp")
    assert not is_supported("x.txt") and not is_supported("x.fractoscope.json")
    assert not is_supported(".hidden.tif")
