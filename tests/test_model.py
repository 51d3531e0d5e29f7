"""HFFNet-2d: hierarchy, exact fast Grad-CAM, training step, checkpoint integrity."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from fractoscope.errors import ModelError
from fractoscope.model.checkpoint import (
    default_model_path,
    load_checkpoint,
    resolve_device,
    sha256_file,
)
from fractoscope.model.hffnet import HFFNet2d, HFFNetConfig, count_parameters
from fractoscope.model.taxonomy import Taxonomy

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def small_model() -> HFFNet2d:
    torch.manual_seed(0)
    tax = Taxonomy.default()
    return HFFNet2d(HFFNetConfig(parent_index=tuple(tax.parent_index()), input_size=96)).eval()


def test_parameter_budget():
    assert count_parameters(HFFNet2d()) < 15_000_000


def test_level2_probabilities_are_conditional_on_level1(small_model):
    x = torch.randn(4, 1, 96, 96)
    with torch.inference_mode():
        out = small_model(x, torch.tensor([5.0, 50.0, float("nan"), 500.0]))
    p1, p2 = out.log_p_level1.exp(), out.log_p_level2.exp()
    parent = torch.tensor(small_model.cfg.parent_index)
    assert torch.allclose(p2.sum(1), torch.ones(4), atol=1e-5)
    # Children of each parent sum to that parent's probability: P(l2) = P(l1) * P(l2 | l1).
    sums = torch.zeros_like(p1).index_add_(1, parent, p2)
    assert torch.allclose(sums, p1, atol=1e-5)


def test_scale_embedding_changes_output_and_unknown_is_distinct(small_model):
    x = torch.randn(1, 1, 96, 96).repeat(3, 1, 1, 1)
    with torch.inference_mode():
        out = small_model(x, torch.tensor([10.0, 300.0, float("nan")]), with_cams=False)
    logits = out.logits_level1
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[0], logits[2])


@pytest.mark.parametrize("level", [1, 2])
def test_fast_cam_equals_autograd_grad_cam(small_model, level):
    """Our CAM (from the forward pass) equals textbook Grad-CAM computed with autograd."""
    torch.manual_seed(1)
    x = torch.randn(3, 1, 96, 96)
    out = small_model(x, torch.tensor([20.0, 20.0, 20.0]))
    feats = out.features_level1 if level == 1 else out.features_level2
    logits = out.logits_level1 if level == 1 else out.logits_level2
    fast = out.cam_level1 if level == 1 else out.cam_level2
    for b in range(3):
        for c in range(logits.shape[1]):
            (grad,) = torch.autograd.grad(logits[b, c], feats, retain_graph=True)
            alpha = grad[b].mean((1, 2))  # Grad-CAM channel weights
            ref = torch.relu((alpha[:, None, None] * feats[b]).sum(0))
            assert torch.allclose(torch.relu(fast[b, c]), ref, atol=1e-6, rtol=1e-4)
    # The CAM of a GAP + linear logit sums back to the logit (minus its bias).
    head = small_model.head_level1 if level == 1 else small_model.head_level2
    assert torch.allclose(fast.sum((2, 3)) + head.bias, logits, atol=1e-4)


def test_a_few_training_steps_lower_the_loss():
    from fractoscope.train.trainer import hierarchical_loss

    torch.manual_seed(0)
    tax = Taxonomy.default()
    model = HFFNet2d(HFFNetConfig(parent_index=tuple(tax.parent_index()), input_size=64)).train()
    rng = np.random.default_rng(0)
    # Ten visibly different textures (stripes of class-dependent period and angle).
    yy, xx = np.mgrid[0:64, 0:64]
    xs, y1, y2 = [], [], []
    for j in range(10):
        ang, period = j * np.pi / 10, 4 + j
        img = np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period)
        for _ in range(2):
            xs.append(img + 0.2 * rng.standard_normal(img.shape))
            y2.append(j)
            y1.append(tax.parent_index()[j])
    x = torch.tensor(np.stack(xs)[:, None], dtype=torch.float32)
    y1t, y2t = torch.tensor(y1), torch.tensor(y2)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        out = model(x, None, with_cams=False)
        loss = hierarchical_loss(out, y1t, y2t, 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3])


def test_bundled_checkpoint_loads_with_its_card():
    m = load_checkpoint()
    assert m.info.sha256 == sha256_file(default_model_path())
    default = Taxonomy.default()
    assert set(m.taxonomy.level1) == set(default.level1)
    assert {c: m.taxonomy.parent_of(c) for c in m.taxonomy.level2} == {c: default.parent_of(c) for c in default.level2}
    card = m.card
    for key in ("taxonomy", "input", "training", "sha256", "config"):
        assert key in card
    # v3 carries the first 8 DINOv2-S blocks (14 M frozen parameters, fp32): 73 MB. The budget
    # keeps the app and the repository from growing by accident, not the model from its design.
    assert default_model_path().stat().st_size < 80e6


def _copy_bundled(tmp_path):
    src = default_model_path()
    dst = tmp_path / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_tampered_weights_are_refused(tmp_path):
    dst = _copy_bundled(tmp_path)
    data = bytearray(dst.read_bytes())
    data[-100] ^= 0xFF  # one flipped bit pattern inside a tensor
    dst.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_checkpoint(dst)


def test_card_that_does_not_match_tensor_shapes_is_refused(tmp_path):
    dst = _copy_bundled(tmp_path)
    card = json.loads(dst.with_suffix(".json").read_text())
    card["config"]["fused_dim"] = card["config"]["fused_dim"] + 8
    dst.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="shape"):
        load_checkpoint(dst)


def test_missing_card_and_pickle_files_are_refused(tmp_path):
    dst = _copy_bundled(tmp_path)
    dst.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="card"):
        load_checkpoint(dst)
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"\x80\x04not really")
    with pytest.raises(ModelError, match="safetensors"):
        load_checkpoint(pt)


def test_device_auto_and_bad_device():
    auto = resolve_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ModelError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA"):
            resolve_device("cuda")


def test_input_spec_is_read_from_the_card_and_used(tmp_path):
    """The card's percentile clip, mean and std are what the analysis uses (not constants)."""
    from fractoscope.analysis.pipeline import Analyzer
    from fractoscope.imaging import InputSpec, prepare_image
    from fractoscope.io.sem_image import SemImage

    dst = _copy_bundled(tmp_path)
    card = json.loads(dst.with_suffix(".json").read_text())
    card["input"]["normalisation"] = {"percentile_clip": [5.0, 95.0], "mean": 0.4, "std": 0.3}
    dst.with_suffix(".json").write_text(json.dumps(card))
    m = load_checkpoint(dst)
    assert m.info.input_spec == InputSpec(
        tile_size=m.info.input_size, percentile_clip=(5.0, 95.0), mean=0.4, std=0.3,
        uncalibrated_max_side=card["input"].get("uncalibrated_max_side"),
    )
    a = Analyzer(dst, "cpu")
    assert a.input_spec == m.info.input_spec
    # 5-95 % clipping saturates 5 % of a ramp's pixels at each end; 0.5-99.5 % only 0.5 %.
    ramp = SemImage(data=np.tile(np.arange(1000, dtype=np.float32), (200, 1)))
    img = a.prepare(ramp).image
    assert np.mean(img == 0.0) == pytest.approx(0.05, abs=0.005) and np.mean(img == 1.0) == pytest.approx(0.05, abs=0.005)
    default = prepare_image(ramp).image
    assert np.mean(default == 0.0) == pytest.approx(0.005, abs=0.002)
    # Tensor normalisation: (x - 0.4) / 0.3.
    np.testing.assert_allclose(a.input_spec.standardise(np.array([0.4, 0.7])), [0.0, 1.0], atol=1e-6)


def test_invalid_input_block_and_level2_flag(tmp_path):
    dst = _copy_bundled(tmp_path)
    card = json.loads(dst.with_suffix(".json").read_text())
    assert load_checkpoint(dst).info.has_level2
    card["level2_trained"] = False
    card["input"]["normalisation"]["std"] = 0.0
    dst.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="input"):
        load_checkpoint(dst)
    card["input"]["normalisation"]["std"] = 0.25
    dst.with_suffix(".json").write_text(json.dumps(card))
    assert not load_checkpoint(dst).info.has_level2
