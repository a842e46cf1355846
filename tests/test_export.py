"""`hcvg export inputs`: the manifest and context PNGs, and the whole external-model round trip."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.cli.main import main
from benchmark.export import ExportExistsError, export_inputs, read_manifest
from benchmark.splits import load_split
from hcvg.errors import InvalidInputError
from hcvg.sample import Sample
from hcvg.splits import InMemorySplit

SPLIT = "demo:num_samples=3"

# An external model in miniature: it knows nothing of the suite but the manifest and
# the PNGs, and writes its clips with plain PyAV (FFV1, lossless): the context repeated.
EXTERNAL_MODEL = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import av
    import numpy as np
    from PIL import Image

    inputs, outputs = Path(sys.argv[1]), Path(sys.argv[2])
    outputs.mkdir(parents=True, exist_ok=True)
    for line in (inputs / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        context = np.asarray(Image.open(inputs / record["context"]).convert("RGB"))
        assert context.shape == (record["height"], record["width"], 3), context.shape
        with av.open(str(outputs / record["output"]), mode="w") as container:
            stream = container.add_stream("ffv1", rate=record["fps"])
            stream.width, stream.height, stream.pix_fmt = record["width"], record["height"], "bgr0"
            for _ in range(record["num_frames"]):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(context, format="rgb24")))
            container.mux(stream.encode())
    """
)


@pytest.fixture(scope="module")
def demo_split():
    return load_split("demo", num_samples=3)


def test_export_writes_one_record_per_sample_with_its_context_png(demo_split, tmp_path):
    result = export_inputs(demo_split, tmp_path / "inputs", num_frames=15, split_spec=SPLIT)
    records = read_manifest(tmp_path / "inputs")
    assert [r.id for r in records] == demo_split.ids() == [r.id for r in result.records]
    for record in records:
        sample = demo_split.get(record.id)
        assert (record.split, record.prompt, record.expanded_prompt) == (sample.split, sample.prompt, sample.expanded_prompt)
        assert (record.num_frames, record.height, record.width, record.fps) == (15, *sample.size, 8)
        assert record.output == f"{sample.id}.mkv" and record.context == f"contexts/{sample.id}.png"
        png = np.asarray(Image.open(tmp_path / "inputs" / record.context))
        assert np.array_equal(png, sample.context)  # lossless, RGB in the right order
        assert sample.motion_area is not None and record.motion_area == f"masks/{sample.id}.png"
        assert np.array_equal(np.asarray(Image.open(tmp_path / "inputs" / record.motion_area)) == 255, sample.motion_area)
    header = json.loads((tmp_path / "inputs" / "export.json").read_text())
    assert header["split"] == SPLIT and header["num_samples"] == 3 and header["num_frames"] == 15
    assert f"--splits '{SPLIT}'" in header["score_with"]


def test_export_refuses_an_existing_export_unless_overwrite(demo_split, tmp_path):
    export_inputs(demo_split, tmp_path, num_frames=15)
    with pytest.raises(ExportExistsError, match="already holds an export.*--overwrite"):
        export_inputs(demo_split, tmp_path, num_frames=15)
    (tmp_path / "contexts" / "stale.png").write_bytes(b"old")
    export_inputs(demo_split, tmp_path, num_frames=9, overwrite=True)
    assert {r.num_frames for r in read_manifest(tmp_path)} == {9}
    assert not (tmp_path / "contexts" / "stale.png").exists()


def test_export_help_documents_the_file_contract(capsys):
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    for key in ("manifest.jsonl", "expanded_prompt", "num_frames", "fps", "output", "contexts/<id>.png", "folder:root="):
        assert key in text


def test_exported_inputs_round_trip_through_an_external_model_and_folder(tmp_path):
    """Export → a separate process writes clips from the manifest alone → `folder` scores them.

    The external clips repeat the context frame, as the `static` adapter does, so their
    scores must equal static's on every sample: anything lost or reordered on the way
    (a wrong id, a channel swap, a lossy write, a dropped sample) breaks the equality.
    """
    inputs, outputs, run = tmp_path / "inputs", tmp_path / "outputs", tmp_path / "run"
    assert main(["export", "inputs", "--split", SPLIT, "--out", str(inputs), "--no-progress"]) == 0
    script = tmp_path / "external_model.py"
    script.write_text(EXTERNAL_MODEL)
    subprocess.run([sys.executable, str(script), str(inputs), str(outputs)], check=True, cwd=tmp_path, timeout=300)
    assert sorted(p.name for p in outputs.iterdir()) == [f"demo-000{i}.mkv" for i in range(3)]

    code = main([
        "run", "--adapters", "static", f"folder:root={outputs},label=external", "--splits", SPLIT,
        "--metrics", "psnr", "ssim", "--scopes", "full", "--out", str(run), "--no-progress",
    ])  # fmt: skip
    assert code == 0
    failures = [json.loads(line) for line in (run / "failures.jsonl").read_text().splitlines()] if (run / "failures.jsonl").exists() else []
    assert [f for f in failures if f.get("adapter") == "external"] == []
    scores = pd.read_parquet(run / "scores.parquet").set_index(["metric", "sample_id", "adapter"])["value"].unstack("adapter")
    assert len(scores) == 2 * 3  # two metrics, three samples, each scored for both adapters
    np.testing.assert_array_equal(scores["external"].to_numpy(), scores["static"].to_numpy())


def test_a_sample_without_motion_area_exports_null_and_no_mask(tmp_path):
    context = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    sample = Sample("clip-1", "mine", "open drawer", context, np.repeat(context[None], 4, axis=0), expanded_prompt="a hand opens a drawer")
    export_inputs(InMemorySplit("mine", [sample]), tmp_path, num_frames=4)
    (record,) = read_manifest(tmp_path)
    assert record.motion_area is None and not (tmp_path / "masks").exists()
    assert (record.expanded_prompt, record.height, record.width) == ("a hand opens a drawer", 32, 48)


def test_an_id_that_cannot_name_a_file_is_refused(tmp_path):
    context = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="cannot name a file"):  # refused by the Sample itself, before any export
        sample = Sample("../escape", "mine", "p", context, context[None])
        export_inputs(InMemorySplit("mine", [sample]), tmp_path, num_frames=1)
