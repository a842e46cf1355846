"""Fine-tuning LFDM's diffusion: batches from the demo split, the loss, a short loop, the saved folder."""

from __future__ import annotations

import pytest
import torch

from adapters.lfdm.training import CONFIGS_DIR, build_trainable, load_config, make_batches, resolve_config


@pytest.fixture(scope="module")
def demo_samples():
    from benchmark.splits import load_split

    split = load_split("demo", num_samples=4)
    return [split.get(i) for i in split.ids()]


def test_packaged_configs_load_with_the_papers_recipe():
    paper = load_config(CONFIGS_DIR / "paper.yaml")
    assert (paper["epochs"], paper["lr"], paper["batch_size"], paper["adam_betas"]) == (50, 2e-4, 5, [0.9, 0.99])
    assert paper["model"] == "released" and paper["null_cond_prob"] == 0.1
    assert load_config(CONFIGS_DIR / "tiny.yaml")["model"] == "tiny"
    with pytest.raises(ValueError, match="unknown keys.*'learning_rate'"):
        resolve_config({"learning_rate": 1.0})


def test_batches_are_the_context_then_the_targets_at_the_native_size(demo_samples):
    config = load_config(CONFIGS_DIR / "tiny.yaml") | {"batch_size": 3}
    batches = make_batches(demo_samples, config)
    assert [b["video"].shape for b in batches] == [(3, 3, 16, 32, 32), (1, 3, 16, 32, 32)]
    assert batches[0]["prompts"] == [s.prompt for s in demo_samples[:3]]
    first = batches[0]["video"][0, :, 0].permute(1, 2, 0).numpy() * 255  # frame 0 = the context, resized
    import cv2

    expected = cv2.resize(demo_samples[0].context, (32, 32), interpolation=cv2.INTER_AREA)
    assert abs(first - expected).max() < 0.5


def test_ten_adamw_steps_on_the_demo_split_lower_the_loss(demo_samples, tmp_path):
    # 2 clips of 4 frames keep the loop short; the recipe is the tiny config's otherwise.
    config = load_config(CONFIGS_DIR / "tiny.yaml") | {"batch_size": 2, "num_frames": 4}
    trainable = build_trainable(config, seed=0)
    batch = make_batches(demo_samples[:2], config)[0]

    def fixed_loss() -> float:  # same steps, noise and text dropout before and after
        with torch.no_grad():
            return float(trainable.training_loss(batch, torch.Generator().manual_seed(7)))

    before = fixed_loss()
    trainable.train()
    optimizer = torch.optim.AdamW(trainable.unet.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(10):
        loss = trainable.training_loss(batch, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    after = fixed_loss()
    print(f"tiny LFDM, 10 AdamW steps: loss {losses[0]:.4f} -> {losses[-1]:.4f}; fixed-draw loss {before:.4f} -> {after:.4f}")
    assert after < 0.9 * before, (before, after, losses)
    assert all(not p.requires_grad for p in trainable.lfae.parameters())
    assert not trainable.lfae.training  # the frozen LFAE's BatchNorm keeps its statistics

    # The saved folder is what the adapter loads with weights=FOLDER.
    from adapters.lfdm.adapter import LFDMAdapter

    trainable.save_pretrained(tmp_path / "w")
    adapter = LFDMAdapter(weights=str(tmp_path / "w"), steps=2, frames=16, device="cpu")
    adapter.load()
    for name, value in trainable.unet.state_dict().items():
        assert torch.equal(adapter.pipe.unet.state_dict()[name], value), name
    adapter.close()


@pytest.mark.slow
def test_hcvg_train_lfdm_runs_the_shared_loop_and_resumes(tmp_path):
    from benchmark.cli.main import main

    config = str(CONFIGS_DIR / "train_tiny.yaml")
    out = tmp_path / "out"
    assert main(["train", "lfdm", "--config", config, "--output-dir", str(out), "--max-steps", "2", "--no-progress"]) == 0
    assert (out / "weights").is_dir() and len((out / "losses.jsonl").read_text().splitlines()) == 2
    assert main(["train", "lfdm", "--config", config, "--output-dir", str(out), "--max-steps", "3", "--resume", "--no-progress"]) == 0
    assert len((out / "losses.jsonl").read_text().splitlines()) == 3
