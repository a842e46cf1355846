"""HANDI training on the demo split with tiny components: losses, the HRL gradient path, resume, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("accelerate")

from handi.training.config import TrainConfig  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "handi" / "training" / "configs"


@pytest.fixture(scope="module")
def demo_samples():
    from benchmark.splits.demo_split import build_demo_split

    split = build_demo_split(seed=1, num_samples=3)
    return [split.get(i) for i in split.ids()]


@pytest.fixture(scope="module")
def tiny_pipeline_dir(tmp_path_factory):
    from handi.models.tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(seed=0)
    pipe.prior_mask = np.full((64, 64), 0.5, np.float32)
    folder = tmp_path_factory.mktemp("tiny") / "pipeline"
    pipe.save_pretrained(folder)
    return folder


def _config(stage, pretrained, out, **overrides):
    name = {"1": "tiny_stage1", "2": "tiny_stage2_hrl", "vae": "tiny_vae"}[stage]
    base = dict(pretrained=str(pretrained), output_dir=str(out), max_steps=2, batch_size=2, log_with=None,
                validation_steps=1, num_validation=1, checkpoint_every=1)
    return TrainConfig.from_yaml(CONFIGS / f"{name}.yaml", **{**base, **overrides})


def test_hand_refinement_loss_reaches_unet_through_vae_crop_and_landmark_net(tiny_pipeline_dir, demo_samples):
    """Eq. 7's L_HR: non-zero, finite gradients in the stage-2 UNet via decode → crop → landmark net."""
    from diffusers import DDPMScheduler

    from handi.landmark.network import load_hand_landmark_net
    from handi.training.data import examples_from_samples
    from handi.training.trainer import _loss, _Precomputed, freeze_pretrained_parts, load_pipeline

    try:
        net = load_hand_landmark_net()
    except Exception as err:  # the bundle is built by `hcvg assets fetch hand-landmarker`
        pytest.skip(f"hand-landmarker bundle unavailable: {err}")
    pipe = load_pipeline(str(tiny_pipeline_dir))
    freeze_pretrained_parts(pipe)
    config = _config("2", tiny_pipeline_dir, "unused", hrl=True, eta=1.0, hrl_frame_stride=5)
    examples = examples_from_samples(demo_samples[:2], config.size)
    data = _Precomputed(pipe, examples, "2", torch.device("cpu"))
    sched = DDPMScheduler.from_config(pipe.scheduler.config)
    parts = _loss(config, pipe, pipe.unet, sched, data, examples, [0, 1], torch.device("cpu"), net, step=0)
    assert parts["hrl"].item() > 0
    pipe.unet.zero_grad()
    parts["hrl"].backward()
    grads = [p.grad for p in pipe.unet.parameters() if p.grad is not None]
    assert grads, "L_HR sent no gradient into the UNet"
    total = sum(float(g.abs().sum()) for g in grads)
    assert np.isfinite(total) and total > 0
    assert all(p.grad is None for p in pipe.vae.parameters()), "the frozen VAE must not collect gradients"


def test_stage1_trains_validates_and_saves(tiny_pipeline_dir, demo_samples, tmp_path):
    from handi.loading import load_handi_pipeline
    from handi.training.trainer import train

    config = _config("1", tiny_pipeline_dir, tmp_path / "s1")
    result = train(config, demo_samples, demo_samples[:1], progress=False)
    assert result.steps == 2
    rows = [json.loads(line) for line in (tmp_path / "s1" / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all({"noise", "miou", "loss"} <= set(r) for r in rows)
    assert rows[0]["loss"] == pytest.approx(rows[0]["noise"] + 0.1 * rows[0]["miou"], rel=1e-5)
    assert {"val/stage1_iou", "val/prior_iou"} <= set(result.validation)
    assert (tmp_path / "s1" / "validation" / "final" / f"{demo_samples[0].id}_mask.mp4").is_file()
    pipe = load_handi_pipeline(result.pipeline_dir)
    assert pipe.mask_unet is not None and pipe.prior_mask is not None
    before = load_handi_pipeline(tiny_pipeline_dir)
    changed = any(not torch.equal(a, b) for a, b in zip(pipe.mask_unet.parameters(), before.mask_unet.parameters()))
    assert changed, "stage 1 did not update the mask UNet"
    assert all(torch.equal(a, b) for a, b in zip(pipe.unet.parameters(), before.unet.parameters())), "stage 1 touched stage 2"


def test_stage2_resume_continues_from_checkpoint(tiny_pipeline_dir, demo_samples, tmp_path):
    from handi.training.trainer import train

    out = tmp_path / "s2"
    train(_config("2", tiny_pipeline_dir, out, hrl=False), demo_samples, progress=False)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["checkpoint-0000001", "checkpoint-0000002"]
    resumed = train(_config("2", tiny_pipeline_dir, out, hrl=False, max_steps=3), demo_samples, resume=True, progress=False)
    assert resumed.steps == 3
    steps = [json.loads(line)["step"] for line in (out / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # the resumed run appends only the unfinished step
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(_config("2", tiny_pipeline_dir, tmp_path / "empty", hrl=False), demo_samples, resume=True, progress=False)


def test_stage1_without_prior_mask_is_a_clear_error(demo_samples, tmp_path):
    from handi.models.tiny import build_tiny_pipeline
    from handi.training.trainer import train

    folder = tmp_path / "noprior"
    build_tiny_pipeline(0).save_pretrained(folder)
    with pytest.raises(ValueError, match="hcvg masks prior"):
        train(_config("1", folder, tmp_path / "out"), demo_samples, progress=False)


def test_config_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: 2\nlearning_rat: 1.0e-4\n")
    with pytest.raises(ValueError, match="learning_rat"):
        TrainConfig.from_yaml(bad)
    paper = TrainConfig.from_yaml(CONFIGS / "paper_stage2.yaml")
    assert (paper.learning_rate, paper.batch_size, paper.eta, paper.epochs, paper.mixed_precision) == (5e-5, 48, 0.1, 50, "bf16")
    assert TrainConfig.from_yaml(CONFIGS / "paper_stage1.yaml").alpha == 0.1


def test_train_cli_help_and_missing_config():
    help_text = subprocess.run([sys.executable, "-m", "benchmark.cli.main", "train", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "L_mIoU" in help_text.stdout and "--resume" in help_text.stdout
    missing = subprocess.run([sys.executable, "-m", "benchmark.cli.main", "train", "handi", "--config", "nope.yaml"],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "nope.yaml" in missing.stderr and "Traceback" not in missing.stderr
