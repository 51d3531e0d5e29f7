"""The in-memory tile cache: an image analysed again skips the backbones and gets the same answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fractoscope.analysis.tilecache import TileCache, network_digests


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from fractoscope.io import read_sem
    from fractoscope.synth.generate import generate_dataset

    out = tmp_path_factory.mktemp("tilecache")
    paths = generate_dataset(out, per_class=1, seed=515, size=384, classes=["cleavage", "striations"])
    return [read_sem(p) for p in paths]


@pytest.fixture(scope="module")
def reference():
    """The network run on every tile, every time: what any cached answer must equal."""
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu", tile_cache=False)


def _assert_same(got, want):
    # Tiles taken from the cache are stacked into a batch of another make-up than the one that
    # computed them; measured: identical here, the bound allows for a kernel's batch-size rounding.
    np.testing.assert_allclose(got.p_level1, want.p_level1, atol=1e-5)
    np.testing.assert_allclose(got.p_level2, want.p_level2, atol=1e-5)
    np.testing.assert_allclose(got.tile_features, want.tile_features, atol=1e-4)
    span = float(np.ptp(want.cams_level1))
    np.testing.assert_allclose(got.cams_level1, want.cams_level1, atol=1e-4 * span)
    np.testing.assert_allclose(got.cams_level2, want.cams_level2, atol=1e-4 * float(np.ptp(want.cams_level2)))


def test_second_analysis_reads_the_cache_and_gives_the_same_answer(images, reference):
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.calibration import Calibration

    cache = TileCache(256 << 20)
    a = Analyzer(device="cpu", tile_cache=cache)
    sem = images[0]
    want = reference.analyze(sem)
    first = a.analyze(sem)
    n = int(first.timings["tiles_run"])
    # Each tile: its heads' input maps and its backbone outputs looked up, missed and stored.
    assert n > 1 and (cache.hits, cache.misses, len(cache)) == (0, 2 * n, 2 * n)
    _assert_same(first, want)
    again = a.analyze(sem)
    assert (cache.hits, cache.misses) == (n, 2 * n)  # only the heads ran again
    _assert_same(again, want)
    # The pixel size goes in after the backbones: without it, the maps are new but the backbone
    # outputs are read back, and the answer is what the network gives without it.
    bare = sem.with_calibration(Calibration.none())
    _assert_same(a.analyze(bare), reference.analyze(bare))
    assert (cache.hits, cache.misses, len(cache)) == (2 * n, 3 * n, 3 * n)


def test_other_heads_on_the_same_backbone_share_entries(images, reference):
    """An adapted model or lab statistics change the heads only: a second Analyzer of the model,
    with other heads, reads what the first stored and answers as its own uncached network."""
    from fractoscope.analysis.pipeline import Analyzer

    cache = TileCache(256 << 20)
    first = Analyzer(device="cpu", tile_cache=cache)
    first.analyze(images[1], with_cams=False)
    stored = len(cache)
    other = Analyzer(device="cpu", tile_cache=cache)
    uncached = Analyzer(device="cpu", tile_cache=False)
    with torch.no_grad():
        for m in (other.model, uncached.model):
            m.head_level1.weight.mul_(-0.5)
            m.head_level2.bias.add_(1.0)
    got = other.analyze(images[1])
    assert cache.hits == stored // 2 and len(cache) == stored  # every tile's maps read back
    want = uncached.analyze(images[1])
    _assert_same(got, want)
    assert not np.allclose(want.p_level1, reference.analyze(images[1]).p_level1, atol=1e-3)  # heads mattered


def test_mixed_batch_of_cached_and_new_tiles(images, reference):
    """analyze_many runs both images' tiles in shared batches: some read from the cache, some run."""
    from fractoscope.analysis.pipeline import Analyzer

    cache = TileCache(256 << 20)
    a = Analyzer(device="cpu", tile_cache=cache, batch_size=8)
    a.analyze(images[0], with_cams=False)
    hits_before, misses_before = cache.hits, cache.misses
    both = a.analyze_many(images)
    assert cache.hits > hits_before and cache.misses > misses_before
    for got, sem in zip(both, images, strict=True):
        _assert_same(got, reference.analyze(sem))


def test_another_network_never_reads_the_entries():
    from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig

    torch.manual_seed(0)
    cfg = HFFNetConfig(input_size=64)
    m = HFFNet2d(cfg).eval()
    b0, m0 = network_digests(m)
    with torch.no_grad():
        m.head_level1.weight.add_(1.0)  # the heads are in neither
    assert network_digests(m) == (b0, m0)
    with torch.no_grad():
        m.fuse16[0][0].weight.view(-1)[0] += 1e-3  # the fusion: the maps, not the backbone
    b1, m1 = network_digests(m)
    assert b1 == b0 and m1 != m0
    with torch.no_grad():
        next(m.cnn.parameters()).view(-1)[0] += 1e-3
    b2, m2 = network_digests(m)
    assert b2 != b0 and m2 != m1


def test_bounded_least_recently_used_first_out():
    one = (torch.zeros(256),)  # 1 kB
    c = TileCache(3 * 1024)
    for k in (b"a", b"b", b"c"):
        c.put(k, one)
    assert c.get(b"a") is not None  # "a" is now the most recent
    c.put(b"d", one)
    assert c.nbytes <= 3 * 1024 and len(c) == 3
    assert c.get(b"b") is None and c.get(b"a") is not None and c.get(b"d") is not None
    c.put(b"big", (torch.zeros(4096),))  # larger than the whole cache: not kept, nothing evicted
    assert c.get(b"big") is None and len(c) == 3
    off = TileCache(0)
    assert not off.enabled


def test_size_from_environment_and_zero_turns_it_off(images, monkeypatch):
    import fractoscope.analysis.tilecache as tc
    from fractoscope.analysis.pipeline import Analyzer

    monkeypatch.setattr(tc, "_shared", None)
    monkeypatch.setenv(tc.SIZE_ENV, "0")
    a = Analyzer(device="cpu")
    assert a.tile_cache is tc.shared_cache() and not a.tile_cache.enabled
    a.analyze(images[0], with_cams=False)
    assert len(a.tile_cache) == 0
    monkeypatch.setattr(tc, "_shared", None)
    monkeypatch.setenv(tc.SIZE_ENV, "64")
    assert tc.shared_cache().max_bytes == 64 << 20
    monkeypatch.setattr(tc, "_shared", None)


def test_kept_entries_survive_a_second_pass_in_the_same_order():
    """Plain LRU evicts each tile of a second same-order pass just before it is read (five tiles,
    room for three: no hit at all); kept entries are all read back, then shrink to the budget."""
    one = (torch.zeros(256),)  # 1 kB
    keys = [bytes([i]) for i in range(5)]

    def second_pass(cache: TileCache) -> int:
        hits = 0
        for k in keys:  # as the analyzer does: read, and on a miss run the tile and store it
            if cache.get(k) is not None:
                hits += 1
            else:
                cache.put(k, one)
        return hits

    lru = TileCache(3 * 1024)
    for k in keys:
        lru.put(k, one)
    assert second_pass(lru) == 0

    c = TileCache(3 * 1024)
    c.keep(1 << 20)
    for k in keys:
        c.put(k, one, keep=True)
    assert c.kept_bytes == c.nbytes == 5 * 1024  # past max_bytes, within the keep limit
    c.put(b"other", one)  # an ordinary entry gets no room while kept ones fill the cache
    assert c.get(b"other") is None
    assert second_pass(c) == 5  # every kept tile read back, in order
    assert c.kept_bytes == 0 and c.nbytes <= 3 * 1024  # read once: ordinary, and trimmed
    # A pass that is never read back (cancelled batch): release makes its entries ordinary.
    for k in keys:
        c.put(k, one, keep=True)
    c.release()
    assert c.kept_bytes == 0 and c.nbytes <= 3 * 1024
    # The keep limit is honoured: past it, kept puts become ordinary entries.
    small = TileCache(1024)
    small.keep(2 * 1024)
    for k in keys:
        small.put(k, one, keep=True)
    assert small.kept_bytes == 2 * 1024 and small.nbytes == 2 * 1024
