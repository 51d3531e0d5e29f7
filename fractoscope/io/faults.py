"""Whose fault is an exception raised while reading a file: the file's, or a bug in our code?

tifffile and Pillow raise many types on a malformed file (TiffFileError, ValueError, KeyError,
struct.error, IndexError, ...), so the type alone does not tell. Where it was raised does: an
exception raised inside a decoder library is that library's verdict on the bytes (reported as a
corrupt or unsupported file), while one raised in Fractoscope's own parsing code is a bug (our
vendor readers never raise on bad metadata by design, see ``io/vendors.py``), which must keep its
traceback instead of being reported as "corrupt TIFF".
"""

from __future__ import annotations

import struct
import traceback
import zlib

import tifffile

from fractoscope.errors import FractoscopeError

# Packages that decode file contents: what they raise is about the file.
DECODER_PACKAGES = frozenset({"tifffile", "PIL", "imagecodecs"})

# What bad bytes or a bad disk raise wherever they are met.
FORMAT_ERRORS: tuple[type[BaseException], ...] = (
    FractoscopeError,
    tifffile.TiffFileError,
    OSError,
    EOFError,
    MemoryError,
    struct.error,
    zlib.error,
    UnicodeDecodeError,
)


def raised_in(exc: BaseException) -> str:
    """Top-level package of the frame nearest the raise site that is Fractoscope's or a decoder's
    (numpy and the standard library called *from* one of them count as that caller); "" if none."""
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        root = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if root == "fractoscope" or root in DECODER_PACKAGES:
            return root
    return ""


def is_parser_bug(exc: BaseException) -> bool:
    """True when ``exc`` is a bug in Fractoscope's reading code rather than the file's fault."""
    if isinstance(exc, FORMAT_ERRORS):
        return False
    return raised_in(exc) == "fractoscope"
