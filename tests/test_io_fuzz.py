"""Mutated TIFF bytes: read_sem returns a sane SemImage or raises FractoscopeError, nothing else."""

import math

import numpy as np
import tifffile
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fractoscope.calibration import is_plausible_pixel_size
from fractoscope.errors import FractoscopeError
from fractoscope.io import SemImage, read_sem


def _seed_tiff() -> bytes:
    import io

    buf = io.BytesIO()
    data = (np.arange(24 * 32) % 251).astype(np.uint8).reshape(24, 32)
    tifffile.imwrite(buf, data, imagej=True, resolution=(20.0, 20.0), metadata={"unit": "um"})
    return buf.getvalue()


SEED = _seed_tiff()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(SEED) - 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, len(SEED) - 1), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, len(SEED)), st.integers(0, 255)),
    st.tuples(st.just("word"), st.integers(0, len(SEED) - 4), st.integers(0, 2**32 - 1)),
)


def _mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for kind, pos, val in ops:
        pos = min(pos, len(b))
        if kind == "flip" and pos < len(b):
            b[pos] ^= val
        elif kind == "truncate":
            del b[pos:]
        elif kind == "insert":
            b[pos:pos] = bytes([val])
        elif kind == "word" and pos + 4 <= len(b):
            b[pos:pos + 4] = val.to_bytes(4, "little")
    return bytes(b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(mutation, min_size=1, max_size=4))
@example(ops=[("flip", 12, 1)])  # found by this test: a header shape of tuples (TypeError before)
@example(ops=[("flip", 62, 1)])  # found by this test: PhotometricInterpretation a tuple (TypeError)
@example(ops=[("flip", 60, 1)])  # found by this test: PhotometricInterpretation a text (ValueError)
def test_mutated_tiff(tmp_path, ops):
    path = tmp_path / "m.tif"
    path.write_bytes(_mutate(SEED, ops))
    try:
        sem = read_sem(path)
    except FractoscopeError as exc:
        assert str(exc).startswith(str(path))
        return
    assert isinstance(sem, SemImage)
    assert sem.data.ndim in (2, 3)
    assert min(sem.data.shape) > 0 and min(sem.shape) > 0
    if sem.data.dtype.kind == "f":
        assert np.isfinite(sem.data).all()
    cal = sem.calibration
    if cal.is_calibrated:
        assert is_plausible_pixel_size(cal.pixel_size_x_m)
        assert is_plausible_pixel_size(cal.pixel_size_y_m)
    else:
        assert cal.source == "none"
    assert 0 <= sem.databar_rows < sem.raw_shape[0]
    assert not math.isnan(float(sem.data.reshape(-1)[0]))
