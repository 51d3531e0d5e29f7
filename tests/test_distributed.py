"""Batch runs on a Dask cluster (one local cluster of 2 worker processes for the whole module):
same results as the embedded path, a killed worker loses nothing, a bad file is a failed row,
the model is loaded once per worker process and refused when its sha256 does not match."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import distributed  # noqa: F401 - a hard dependency (pyproject): missing, this module errors, not skips
import numpy as np
import pytest

from fractoscope.batch import read_manifest, read_records, run_batch
from fractoscope.synth import generate_dataset

CLASSES = ["striations", "cleavage", "pitting", "equiaxed_dimples", "intergranular", "abrasive_grooves"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=50,
    ) as lc, Client(lc) as client:
        yield lc, client


@pytest.fixture(scope="module")
def analyzer():
    from fractoscope.analysis.pipeline import Analyzer

    return Analyzer(device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Six small generated fractographs and one file that is not an image."""
    src = tmp_path_factory.mktemp("dist") / "in"
    generate_dataset(src, per_class=1, seed=11, size=256, classes=CLASSES)
    (src / "broken.tif").write_bytes(b"II*\x00" + b"\x00" * 40)  # TIFF magic, no valid IFD
    return src


@pytest.fixture(scope="module")
def embedded(images: Path, tmp_path_factory, analyzer):
    out = tmp_path_factory.mktemp("embedded") / "out"
    s = run_batch([images], out, analyzer, recursive=True)
    return s, {r.name: r for r in read_records(out)[0]}


def _loads(client) -> dict:
    from fractoscope.batch.distributed import worker_model_loads

    return client.run(worker_model_loads)


def test_same_results_as_embedded_and_bad_file_is_a_failed_row(
    cluster, analyzer, images: Path, embedded, tmp_path: Path
) -> None:
    lc, client = cluster
    ref_summary, ref = embedded
    out = tmp_path / "out"
    s = run_batch([images], out, analyzer, recursive=True, scheduler=lc.scheduler_address)
    assert (s.total, s.ok, s.failed, s.exit_code) == (7, 6, 1, 1)
    assert s.exit_code == ref_summary.exit_code
    rows = {r.name: r for r in read_records(out)[0]}
    assert set(rows) == set(ref)
    bad = rows["broken.tif"]
    assert bad.status == "failed" and bad.error == ref["broken.tif"].error and bad.error
    for name, r in rows.items():
        e = ref[name]
        assert (r.status, r.key, r.level1, r.level2) == (e.status, e.key, e.level1, e.level2)
        assert (r.uncertain, r.closest_level1, r.closest_level2) == (e.uncertain, e.closest_level1, e.closest_level2)
        if r.ok:  # closest_*: filled for every analysed row (p_level1 is empty for a flagged one)
            np.testing.assert_allclose(r.closest_p_level1, e.closest_p_level1, atol=1e-5)
            np.testing.assert_allclose(r.closest_p_level2, e.closest_p_level2, atol=1e-5)
            for col in ("item", "overlay_level1", "overlay_level2", "thumbnail"):
                assert (out / getattr(r, col)).is_file()
    m = read_manifest(out)
    assert m["status"] == "complete" and m["counts"]["ok"] == 6 and m["counts"]["failed"] == 1
    assert not (out / ".fractoscope-batch.lock").exists()

    # Resume on the cluster: nothing recomputed, nothing duplicated.
    s2 = run_batch([images], out, analyzer, recursive=True, scheduler=lc.scheduler_address)
    assert (s2.reused, s2.ok, s2.failed) == (6, 6, 1)
    assert len((out / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 7

    # Two runs, one model load per worker process, and the weights sent once: the second run found
    # the model's plugin on the scheduler and the model loaded in every worker.
    loads = _loads(client)
    assert len(loads) == 2
    for v in loads.values():
        assert v[analyzer.model_info.sha256] == 1
    from fractoscope.batch.distributed import worker_model_receipts

    for v in client.run(worker_model_receipts).values():
        assert v[analyzer.model_info.sha256] == 1


def test_killed_worker_loses_nothing(cluster, analyzer, images: Path, embedded, tmp_path: Path) -> None:
    lc, client = cluster
    _, ref = embedded
    pids = sorted(client.run(os.getpid).values())
    killed: list[int] = []

    def on_event(ev) -> None:
        # After the first finished image both workers are busy with queued tasks: kill one.
        if ev.kind == "image_done" and not killed:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(ev.done + ev.failed)

    out = tmp_path / "out"
    s = run_batch(
        [images], out, analyzer, recursive=True, progress=on_event, scheduler=lc.scheduler_address
    )
    assert killed and killed[0] < 7, "the worker must have been killed mid-run"
    assert (s.total, s.ok, s.failed) == (7, 6, 1)
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 7  # every image exactly once
    rows = {r.name: r for r in read_records(out)[0]}
    assert {n: r.key for n, r in rows.items()} == {n: r.key for n, r in ref.items()}
    assert {n: r.level2 for n, r in rows.items()} == {n: r.level2 for n, r in ref.items()}
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it, with the model plugin
    assert pids[0] not in client.run(os.getpid).values()


def test_model_with_wrong_sha256_is_refused(cluster, analyzer) -> None:
    from fractoscope.batch.distributed import AnalyzerPlugin
    from fractoscope.model.checkpoint import default_model_path, read_card

    _, client = cluster
    path = default_model_path()
    weights = bytearray(path.read_bytes())
    weights[-1] ^= 0xFF  # one flipped bit in the last tensor
    plugin = AnalyzerPlugin(bytes(weights), read_card(path), analyzer.model_info.sha256)
    with pytest.raises(Exception, match="sha256"):
        client.register_plugin(plugin, name="fractoscope-tamper-test")
    client.unregister_worker_plugin("fractoscope-tamper-test")


def test_cli_scheduler_option(cluster, images: Path, tmp_path: Path) -> None:
    lc, _ = cluster
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-m", "fractoscope", "batch", str(images), "--out", str(out),
         "--scheduler", lc.scheduler_address, "--device", "cpu", "-q", "-r"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr  # broken.tif failed, the rest ok
    assert "Traceback" not in res.stderr
    with open(out / "results.csv", encoding="utf-8-sig", newline="") as fh:
        st = {r["name"]: r["status"] for r in csv.DictReader(fh)}
    assert st.pop("broken.tif") == "failed" and set(st.values()) == {"ok"} and len(st) == 6
    assert read_manifest(out)["cluster"] == {"scheduler": lc.scheduler_address}


def test_unreachable_scheduler_is_a_clear_error(analyzer, images: Path, tmp_path: Path, monkeypatch) -> None:
    from fractoscope.batch import distributed as dist
    from fractoscope.errors import FractoscopeError

    monkeypatch.setattr(dist, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(FractoscopeError, match="cannot use Dask scheduler tcp://127.0.0.1:1"):
        run_batch([images], tmp_path / "out", analyzer, scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "out").exists()  # refused before the output folder was created
