"""Pixel loading for TIFF (tifffile) and PNG/JPEG/BMP (Pillow), with layout checks.

Every header is checked (dimensions, sample layout, data extent) before any pixel is decoded, so
a corrupt or hostile header cannot make us allocate its claimed size.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import numpy as np

from fractoscope.errors import ImageReadError
from fractoscope.io.faults import is_parser_bug

# Refuse images above this many megapixels unless force=True: 400 MP of uint16 is 800 MB,
# beyond that a desktop is likely to run out of memory during tiling.
MAX_MEGAPIXELS = 400

_PIL_LOCK = threading.Lock()


def check_dimensions(rows: int, cols: int, force: bool) -> None:
    if rows <= 0 or cols <= 0:
        raise ImageReadError(f"image has no pixels ({rows} x {cols})")
    mp = rows * cols / 1e6
    if mp > MAX_MEGAPIXELS and not force:
        raise ImageReadError(
            f"image is {cols} x {rows} pixels ({mp:.0f} MP), above the {MAX_MEGAPIXELS} MP limit "
            "(use --force to open it anyway)"
        )


def finalize(data: np.ndarray, notes: list[str]) -> np.ndarray:
    """Native byte order, supported dtype, no NaN/inf; 2-D grey or rows x cols x 3 colour."""
    if data.dtype.kind == "c":
        raise ImageReadError("complex-valued pixels are not supported")
    if data.dtype.kind not in "buif":
        raise ImageReadError(f"unsupported pixel type {data.dtype}")
    if data.dtype.kind == "b":
        data = data.astype(np.uint8) * 255
        notes.append("bilevel image expanded to 0/255")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim == 3:
        channels = data.shape[2]
        if channels == 2:
            data = data[:, :, 0]
            notes.append("alpha channel dropped")
        elif channels == 4:
            data = data[:, :, :3]
            notes.append("alpha channel dropped")
        elif channels != 3:
            raise ImageReadError(f"unsupported layout: {channels} samples per pixel")
    if data.ndim not in (2, 3):
        raise ImageReadError(f"unsupported layout: {data.ndim}-D pixel data")
    if data.dtype.kind == "f":
        finite = np.isfinite(data)
        if not finite.all():
            if not finite.any():
                raise ImageReadError("no finite pixel values (all NaN/inf)")
            bad = int(data.size - np.count_nonzero(finite))
            lo, hi = float(data[finite].min()), float(data[finite].max())
            data = np.array(data, copy=True)
            data[np.isnan(data)] = lo
            data[np.isposinf(data)] = hi
            data[np.isneginf(data)] = lo
            notes.append(f"{bad} NaN/inf pixel values replaced by the finite min/max")
    return np.ascontiguousarray(data)


# --- TIFF ----------------------------------------------------------------------------------


def tiff_layout(page) -> tuple[int, int, int]:
    """(rows, cols, samples) from a tifffile page's header, refusing volumes and odd samples."""
    separate, depth, rows, cols, contig = page.shaped
    try:
        # A damaged header can give tifffile a shape made of tuples (one flipped bit in the
        # ImageJ seed file's byte 12 did): that is a bad file, not a bug to show as a traceback.
        separate, depth, rows, cols, contig = (int(v) for v in (separate, depth, rows, cols, contig))
    except (TypeError, ValueError):
        raise ImageReadError(f"unreadable TIFF header (page shape {page.shaped!r})") from None
    if depth != 1:
        raise ImageReadError(f"unsupported layout: volumetric page ({depth} slices)")
    samples = separate * contig
    if samples > 4:
        raise ImageReadError(f"unsupported layout: {samples} samples per pixel")
    if page.dtype is None:
        raise ImageReadError("unsupported pixel type (sample format)")
    if np.dtype(page.dtype).kind == "c":
        raise ImageReadError("complex-valued pixels are not supported")
    return int(rows), int(cols), samples


def check_tiff_extent(page, file_size: int) -> None:
    """Refuse pages whose strips/tiles point past the end of the file (truncated download)."""
    offsets, counts = page.dataoffsets, page.databytecounts
    if not offsets:
        raise ImageReadError("TIFF page has no pixel data")
    for off, cnt in zip(offsets, counts, strict=False):
        if cnt and off + cnt > file_size:
            raise ImageReadError("truncated TIFF: pixel data extends past the end of the file")
    if page.compression == 1:
        rows, cols, samples = tiff_layout(page)
        bits = _tag_int(page, "bitspersample")
        if bits is None:
            raise ImageReadError(f"unreadable TIFF header (BitsPerSample {page.bitspersample!r})")
        needed = rows * ((cols * samples * bits + 7) // 8) if page.is_contiguous else None
        if needed is not None and sum(counts) < needed:
            raise ImageReadError("truncated TIFF: less pixel data than the header declares")


def _tag_int(page, name: str) -> int | None:
    """A tifffile page's single-number header value as an int; None when a damaged header made it
    something else (a tuple of values, a text), which is the file's fault, not a bug."""
    try:
        return int(getattr(page, name))
    except (TypeError, ValueError):
        return None


def tiff_page_array(page, notes: list[str]) -> np.ndarray:
    """Decode a page; rows x cols (x samples), palette expanded."""
    data = page.asarray()
    rows, cols, samples = tiff_layout(page)
    if samples > 1 and data.shape[0] == samples and data.shape[-2:] == (rows, cols):
        data = np.moveaxis(data, 0, -1)  # planar (separate) -> interleaved
    data = data.reshape((rows, cols, samples) if samples > 1 else (rows, cols))
    photometric = _tag_int(page, "photometric")
    if photometric is None:
        # A damaged PhotometricInterpretation tag (a flipped bit gave a tuple or a text): the pixels
        # decoded, so they are shown as plain grey levels, and the notes say so.
        notes.append(f"PhotometricInterpretation tag unreadable ({page.photometric!r}): read as grey, dark = low")
        photometric = 1
    if photometric == 3 and page.colormap is not None and data.ndim == 2:
        data = expand_palette(data, np.asarray(page.colormap), notes)
    elif photometric == 0 and data.dtype.kind in "ui":  # min-is-white: store as min-is-black
        data = np.iinfo(data.dtype).max - data if data.dtype.kind == "u" else -data
    return data


def expand_palette(indices: np.ndarray, colormap: np.ndarray, notes: list[str]) -> np.ndarray:
    """Palette indices -> grey or RGB (8-bit when the map is 16-bit).

    Zeiss SmartSEM writes a grey palette with a few pure colours for annotations (the scale
    bar in the data zone): when under 1 % of the pixels use colour entries, the image is grey
    and those pixels take their brightest channel.
    """
    cmap = colormap.reshape(3, -1)
    cmap = (cmap // 257).astype(np.uint8) if cmap.max() > 255 else cmap.astype(np.uint8)
    idx = np.clip(indices.astype(np.intp), 0, cmap.shape[1] - 1)
    counts = np.bincount(idx.ravel(), minlength=cmap.shape[1])
    colour = (cmap[0] != cmap[1]) | (cmap[1] != cmap[2])
    coloured = int(counts[colour].sum())
    if coloured == 0:
        return cmap[0][idx]
    if coloured < 0.01 * idx.size:
        notes.append(f"{coloured} annotation pixels in palette colours rendered as grey")
        return cmap.max(axis=0)[idx]
    notes.append("palette image expanded to RGB")
    return np.stack([cmap[0][idx], cmap[1][idx], cmap[2][idx]], axis=-1)


# --- PNG / JPEG / BMP (and TIFFs tifffile cannot decode) -----------------------------------


def read_with_pillow(path: Path, force: bool, notes: list[str]) -> np.ndarray:
    from PIL import Image

    try:
        with _PIL_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # We apply our own megapixel limit (below) before decoding, so lift Pillow's.
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                img = Image.open(os.fspath(path))
            finally:
                Image.MAX_IMAGE_PIXELS = saved
        with img:
            cols, rows = img.size
            check_dimensions(rows, cols, force)
            frames = int(getattr(img, "n_frames", 1) or 1)
            if frames > 1:
                notes.append(f"page 1 of {frames} read")
            img.seek(0)
            mode = img.mode
            if mode in ("P", "PA"):
                rgb = np.asarray(img.convert("RGB"))
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(
                    rgb[..., 1], rgb[..., 2]
                ):
                    data = rgb[..., 0]
                else:
                    data = rgb
                notes.append("palette image expanded")
            elif mode in ("1", "L", "LA", "RGB", "RGBA", "F", "I") or mode.startswith("I;16"):
                data = np.asarray(img)
            else:
                data = np.asarray(img.convert("RGB"))
                notes.append(f"{mode} image converted to RGB")
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError("not enough memory to decode the image") from None
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...)
        if is_parser_bug(exc):  # raised in our own code: a bug, not a corrupt file
            raise
        raise ImageReadError(f"cannot decode image ({short_reason(exc)})") from exc
    return np.array(data)


def short_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    return msg[:200]
