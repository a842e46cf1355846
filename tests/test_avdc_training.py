"""`hcvg train avdc`: the shared fine-tuning loop on the demo split, with a tiny AVDC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from adapters.avdc.unet import AVDCUNet3D
from benchmark.baseline_training import TRAINERS, build_trainable, collate, load_config, train_baseline
from benchmark.cli.main import main
from benchmark.splits import load_split

TINY = Path(__file__).parents[1] / "adapters" / "avdc" / "configs" / "tiny.yaml"
PAPER = Path(__file__).parents[1] / "adapters" / "avdc" / "configs" / "paper.yaml"


def _config(tmp_path: Path, **loop) -> Path:
    data = yaml.safe_load(TINY.read_text())
    data.update({"output_dir": str(tmp_path / "out"), "train_split": "demo:num_samples=2", "checkpoint_every": 2, **loop})
    data["model"].update(height=8, width=8, frames=4)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _fixed_loss(unet: AVDCUNet3D, trainable, examples) -> float:
    """The loss on every example with the same draws (seeded generator), for before / after."""
    original = trainable.unet
    trainable.unet = unet
    try:
        with torch.no_grad():
            return float(trainable.training_loss(collate(examples), torch.Generator().manual_seed(123)))
    finally:
        trainable.unet = original


def test_fine_tuning_on_the_demo_split_lowers_the_loss(tmp_path, capsys):
    config_path = _config(tmp_path, max_steps=16)
    assert main(["train", "avdc", "--config", str(config_path), "--no-progress"]) == 0
    assert "avdc: 16 steps" in capsys.readouterr().out
    out = tmp_path / "out"
    losses = [json.loads(line)["loss"] for line in (out / "losses.jsonl").read_text().splitlines()]
    assert len(losses) == 16
    config = load_config(config_path)
    start = build_trainable("avdc", config, config["seed"])  # the same seeded start the run had
    split = load_split("demo", num_samples=2)
    examples = start.make_batches([split.get(i) for i in split.ids()], config)
    trained = AVDCUNet3D.from_pretrained(out / "weights" / "unet")
    before, after = _fixed_loss(start.unet, start, examples), _fixed_loss(trained, start, examples)
    assert after < 0.8 * before, (before, after)


def test_resume_continues_where_the_run_stopped(tmp_path):
    split = load_split("demo", num_samples=2)
    samples = [split.get(i) for i in split.ids()]
    whole = load_config(_config(tmp_path / "a", max_steps=6))
    first = train_baseline("avdc", whole, samples, progress=False)
    part = load_config(_config(tmp_path / "b", max_steps=4))
    train_baseline("avdc", part, samples, progress=False)
    part["max_steps"] = 6
    resumed = train_baseline("avdc", part, samples, resume=True, progress=False)
    assert resumed.steps == 6 and len(resumed.losses) == 2
    torch.testing.assert_close(torch.tensor(resumed.losses), torch.tensor(first.losses[4:]), rtol=1e-5, atol=1e-6)
    lines = (Path(part["output_dir"]) / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5, 6]


def test_the_trained_folder_loads_in_the_adapter(tmp_path):
    from adapters.avdc.adapter import AVDCAdapter
    from adapters.testing import conformance_samples, requests_for

    config = load_config(_config(tmp_path, max_steps=1))
    split = load_split("demo", num_samples=1)
    result = train_baseline("avdc", config, [split.get(i) for i in split.ids()], progress=False)
    adapter = AVDCAdapter(variant="tiny", weights=result.weights_dir, steps=1, device="cpu")
    assert adapter.describe()["fitting"]["trained_at"] == {"variant": "tiny", "height": 8, "width": 8, "frames": 4}
    adapter.load()
    try:
        [video] = adapter.generate(requests_for(adapter, conformance_samples(count=1, size=32)))
    finally:
        adapter.close()
    assert video.shape == (15, 32, 32, 3)


def test_configs_and_registry(tmp_path):
    assert "avdc" in TRAINERS.names()
    paper = load_config(PAPER)
    # The paper's recipe: 50 epochs; the authors' optimizer settings (train_bridge.py, goal_diffusion.py).
    assert paper["epochs"] == 50 and paper["learning_rate"] == 1e-4 and paper["batch_size"] == 32
    assert paper["adam_betas"] == [0.9, 0.99] and paper["ema_decay"] == 0.999 and paper["model"]["pretrained"] == "official"
    with pytest.raises(ValueError, match="unknown model keys"):
        build_trainable("avdc", {**load_config(TINY), "model": {"variant": "tiny", "colour": 1}}, 0)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"epoch": 3}))
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(bad)
