"""`hcvg assets fetch` for hub-hosted models: into the hub cache, or plain advice offline.

Nothing leaves the machine. The hub is either a small local HTTP server that answers
the three requests huggingface_hub's snapshot_download makes (revision info, file
tree, resolve), so the real client runs end to end, or a closed local port
(``HF_ENDPOINT=http://127.0.0.1:9``), as on a machine without network.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest

pytest.importorskip("huggingface_hub")

from benchmark.asset_fetch import fetch_asset  # noqa: E402
from hcvg.assets import Asset, AssetNotFoundError, resolve_asset  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO = "org/tiny-model"
COMMIT = "a" * 40
CLOSED_ENDPOINT = "http://127.0.0.1:9"  # port 9 (discard): nothing listens, refused at once


class FakeHub:
    """A local stand-in for huggingface.co serving one repo's files; logs each request."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                path = self.path.split("?")[0]
                hub.requests.append((self.command, path))
                headers: dict[str, str] = {}
                if path.startswith(f"/api/models/{REPO}/tree/"):
                    body = json.dumps([
                        {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                        for name, data in hub.files.items()
                    ]).encode()
                elif path.startswith(f"/api/models/{REPO}/revision/"):
                    body = json.dumps({"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": n} for n in hub.files]}).encode()
                elif path.startswith(f"/{REPO}/resolve/") and path.split("/", 5)[-1] in hub.files:
                    body = hub.files[path.split("/", 5)[-1]]
                    headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(body).hexdigest()[:20]}"'}
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._answer(True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(False)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def downloaded(self) -> set[str]:
        """Names of the files whose content was sent (GET on resolve)."""
        prefix = f"/{REPO}/resolve/"
        return {p.split("/", 5)[-1] for method, p in self.requests if method == "GET" and p.startswith(prefix)}


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty asset and hub caches; hub access allowed (the suite runs with HF_HUB_OFFLINE=1)."""
    import huggingface_hub.constants

    monkeypatch.setenv("HCVG_ASSET_DIR", str(tmp_path / "assets"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read once, at import
    return tmp_path / "hub"


@pytest.fixture
def fake_hub(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    hub = FakeHub(request.param)
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    yield hub
    hub.server.shutdown()


MODEL_FILES = {
    "config.json": b'{"model_type": "tiny"}',
    "tokenizer.json": b"{}",
    "vocab.txt": b"[PAD]\nhand\n",
    "model.safetensors": b"S" * 64,
    "pytorch_model.bin": b"B" * 64,
    "tf_model.h5": b"H" * 64,
    "flax_model.msgpack": b"F" * 64,
}


def folder_asset() -> Asset:
    return Asset(
        name="tiny-hub-model", filename="tiny-model/config.json", description="a tiny model folder",
        env_var="HCVG_TINY_HUB_MODEL", hf_repo=REPO, hf_filename="config.json",
    )


@pytest.mark.parametrize("fake_hub", [MODEL_FILES], indirect=True)
def test_fetch_brings_a_model_folder_into_the_hub_cache(hub_env: Path, fake_hub: FakeHub) -> None:
    path = fetch_asset(folder_asset(), timeout=5)
    assert hub_env in path.parents and path.name == "config.json"
    # Configs, tokenizer and safetensors weights; not the other copies of the weights.
    assert fake_hub.downloaded() == {"config.json", "tokenizer.json", "vocab.txt", "model.safetensors"}
    assert (path.parent / "model.safetensors").read_bytes() == MODEL_FILES["model.safetensors"]
    # The kernel finds it there without any network, and a second fetch asks nothing.
    assert resolve_asset(folder_asset()) == path
    before = len(fake_hub.requests)
    assert fetch_asset(folder_asset(), timeout=5) == path
    assert len(fake_hub.requests) == before


@pytest.mark.parametrize(
    "fake_hub", [{k: v for k, v in MODEL_FILES.items() if k != "model.safetensors"}], indirect=True
)
def test_fetch_takes_pickled_weights_only_without_safetensors(hub_env: Path, fake_hub: FakeHub) -> None:
    path = fetch_asset(folder_asset(), timeout=5)
    assert "pytorch_model.bin" in fake_hub.downloaded()
    assert (path.parent / "pytorch_model.bin").is_file()
    assert not {"tf_model.h5", "flax_model.msgpack"} & fake_hub.downloaded()


@pytest.mark.parametrize("fake_hub", [MODEL_FILES], indirect=True)
def test_fetch_of_a_single_hub_file_brings_only_that_file(hub_env: Path, fake_hub: FakeHub) -> None:
    asset = Asset(name="tiny-vocab", filename="tiny-model/vocab.txt", description="a vocabulary", hf_repo=REPO, hf_filename="vocab.txt")
    path = fetch_asset(asset, timeout=5)
    assert path.read_bytes() == MODEL_FILES["vocab.txt"]
    assert fake_hub.downloaded() == {"vocab.txt"}


def test_fetch_on_a_closed_hub_says_what_to_do_by_hand(hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_ENDPOINT)
    with pytest.raises(AssetNotFoundError) as info:
        fetch_asset(folder_asset(), timeout=5)
    message = str(info.value)
    assert CLOSED_ENDPOINT in message and REPO in message
    assert f"hf download {REPO}" in message
    assert "HCVG_TINY_HUB_MODEL=/that/folder/config.json" in message
    assert "hcvg assets fetch" not in message  # the command that just failed is no advice
    assert not any(hub_env.glob("**/config.json"))


@pytest.mark.parametrize("name, repo", [
    ("clip-vit-l-14", "openai/clip-vit-large-patch14"),
    ("blip-caption-large", "Salesforce/blip-image-captioning-large"),
])
def test_cli_fetch_of_a_hub_model_on_a_closed_network(tmp_path: Path, name: str, repo: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=CLOSED_ENDPOINT, HF_HUB_CACHE=str(tmp_path / "hub"), HCVG_ASSET_DIR=str(tmp_path / "assets"))
    for var in ("HCVG_CLIP_VIT_L_14", "HCVG_BLIP_CAPTION_LARGE"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.cli.main", "assets", "fetch", name],
        capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT,
    )
    assert done.returncode != 0
    message = done.stderr
    assert f"fetching {repo} from the Hugging Face hub ({CLOSED_ENDPOINT}) failed" in message
    assert f"on a machine that reaches huggingface.co, run `hf download {repo}`" in message
    assert str(tmp_path / "hub") in message  # where to put the copy
    assert f"hcvg assets fetch {name}" not in message
    assert "no official URL" not in message
    assert "Traceback" not in message


PIPELINE_FILES = {
    "model_index.json": b'{"_class_name": "TinyPipeline"}',
    # Distinct contents: the hub cache stores equal files once (by ETag).
    "scheduler/scheduler_config.json": b'{"s": 1}',
    "tokenizer/vocab.json": b'{"hand": 0}',
    "text_encoder/config.json": b'{"t": 1}',
    "text_encoder/model.safetensors": b"T" * 64,
    "unet/config.json": b'{"u": 1}',
    "unet/diffusion_pytorch_model.safetensors": b"U" * 64,
    "unet/diffusion_pytorch_model.fp16.safetensors": b"u" * 32,
    "unet/diffusion_pytorch_model.bin": b"B" * 64,
}


def pipeline_asset() -> Asset:
    return Asset(
        name="tiny-hub-pipeline", filename="tiny-pipeline", description="a tiny diffusers pipeline folder",
        hf_repo=REPO, hf_filename="model_index.json", directory=True, hf_ignore=("*.fp16.safetensors",),
    )


@pytest.mark.parametrize("fake_hub", [PIPELINE_FILES], indirect=True)
def test_fetch_brings_a_diffusers_pipeline_folder_with_its_component_subfolders(hub_env: Path, fake_hub: FakeHub) -> None:
    folder = fetch_asset(pipeline_asset(), timeout=5)
    assert hub_env in folder.parents and folder.is_dir()
    # Every component's config and safetensors weights, at any depth; not the fp16 copies
    # (hf_ignore) nor the pickled weights beside the safetensors.
    assert fake_hub.downloaded() == set(PIPELINE_FILES) - {"unet/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.bin"}
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == b"U" * 64
    # The kernel resolves the folder (not its model_index.json) offline.
    assert resolve_asset(pipeline_asset()) == folder
