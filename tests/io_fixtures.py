"""Builders for image-input test files: sidecars in the vendors' documented layouts, crafted
headers. Kept small so every test stays fast."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile


def textured(rows: int = 96, cols: int = 128, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    """A smooth random surface, not a data bar anywhere."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(rows // 8 + 2, cols // 8 + 2))
    y = np.linspace(0, base.shape[0] - 1.01, rows)
    x = np.linspace(0, base.shape[1] - 1.01, cols)
    img = base[y.astype(int)][:, x.astype(int)]
    img = img + 0.3 * rng.normal(size=(rows, cols))
    img = (img - img.min()) / (img.max() - img.min())
    if np.dtype(dtype).kind == "f":
        return img.astype(dtype)
    top = np.iinfo(dtype).max
    return (20 + img * (top * 0.8)).astype(dtype)


def jeol_txt(*, mag=5000, kv=15.0, full_size=(1280, 960), bar_px=160, marker="5um",
             wd="10.0", extra: str = "") -> str:
    """A JEOL SEM sidecar (``$KEY value`` lines, as JSM instruments write next to the image)."""
    lines = [
        "$CM_FORMAT JEOL/SEM",
        "$CM_VERSION 1.0",
        "$CM_INSTRUMENT JSM-7800F",
        "$CM_SIGNAL SEI",
        "$CM_DATE 2023/04/05",
        "$CM_TIME 10:11:12",
        f"$CM_MAG {mag}",
        f"$CM_ACCEL_VOLT {kv}",
        f"$CM_FULL_SIZE {full_size[0]} {full_size[1]}",
        f"$$SM_MICRON_BAR {bar_px}",
        f"$$SM_MICRON_MARKER {marker}",
        f"$$SM_WD {wd}",
    ]
    return "\r\n".join(lines) + "\r\n" + extra


def hitachi_txt(*, pixel_nm="24.8", datasize="1280x960", kv="15000 Volt", wd="8100 um",
                mag="5000") -> str:
    """A Hitachi SU/S-series sidecar (``[SemImageFile]`` INI section)."""
    return (
        "[SemImageFile]\r\n"
        "InstructName=S-4800\r\n"
        "SerialNumber=1234-05\r\n"
        "Date=2022/11/30\r\n"
        "Time=14:03:22\r\n"
        f"DataSize={datasize}\r\n"
        f"PixelSize={pixel_nm}\r\n"
        "SignalName=SE(U)\r\n"
        f"AcceleratingVoltage={kv}\r\n"
        f"Magnification={mag}\r\n"
        f"WorkingDistance={wd}\r\n"
    )


def tescan_hdr(*, pixel_m="4.5e-09") -> str:
    """A TESCAN ``<image>-tif.hdr`` sidecar: [MAIN] and [SEM] key=value sections."""
    return (
        "[MAIN]\r\nDevice=MIRA3 TESCAN\r\nDate=2021-06-01\r\nTime=09:00:00\r\n"
        f"PixelSizeX={pixel_m}\r\nPixelSizeY={pixel_m}\r\nMagnification=50000\r\n"
        "[SEM]\r\nHV=15000.0\r\nWD=0.0098\r\nDetector=SE\r\n"
    )


def write_tiff(path: Path, data: np.ndarray, **kwargs) -> Path:
    tifffile.imwrite(path, data, **kwargs)
    return path


def huge_header_tiff(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A tiny little-endian TIFF whose header claims ``width x height`` 8-bit pixels."""
    entries = [
        (256, 4, 1, width),  # ImageWidth LONG
        (257, 4, 1, height),  # ImageLength LONG
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression none
        (262, 3, 1, 1),  # min-is-black
        (273, 4, 1, 200),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, min(width * height, 2**32 - 1)),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        fmt = "<HHIHH" if typ == 3 else "<HHII"
        ifd += struct.pack(fmt, tag, typ, count, value, 0) if typ == 3 else struct.pack(
            fmt, tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    data = b"II*\x00" + struct.pack("<I", 8) + ifd
    data += b"\x00" * (210 - len(data))
    path.write_bytes(data)
    return path


def huge_header_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A PNG with a valid IHDR claiming a huge size and no image data."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path
