"""`command`: runs an external program (a baseline's own repository and environment) per batch.

The program and the suite share only files (`adapters.command.contract`): the adapter
writes a manifest and the context frames into a fresh work folder, runs the program
with a deadline, and reads back one video per sample, fitted to the request with the
adapter kit (`adapters.fitting`). What the program did not deliver becomes a
`SampleFailure` for that sample, carrying the program's exit status and the tail of its
stderr; what it did write is scored. Program failures are never raised: the runner
would then retry each sample alone, and a program that hangs would hang once a sample.

`preset=` runs a baseline's upstream command line through a bridge script
(`adapters.command.presets`); ``docs/command-adapter.md`` documents both.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from adapters.command.contract import BatchFolder, ManifestEntry, prepare_batch, written_videos
from adapters.command.presets import PRESETS, Preset, placeholders, render
from adapters.command.process import ProgramResult, run_program
from adapters.fitting import SPATIAL_POLICIES, TEMPORAL_POLICIES, Fitting, FittingError, fit_video
from hcvg.adapter import Adapter, Capabilities, GenerationRequest, SampleFailure
from hcvg.errors import InputNotFoundError, InvalidInputError
from hcvg.video_io import VideoReadError, read_video

logger = logging.getLogger(__name__)

BRIDGES = Path(__file__).resolve().parent / "bridges"
EXAMPLE_PROGRAM = Path(__file__).resolve().parent / "example_program.py"
# Placeholders every command may use; the rest come from options (see `CommandAdapter`).
BATCH_PLACEHOLDERS = ("manifest", "out_dir", "work_dir")
OPTION_PLACEHOLDERS = ("python", "torchrun", "repo", "ckpt", "config", "ae_ckpt", "bridge")
# A preset's command: its bridge, run with the baseline environment's interpreter.
PRESET_COMMAND = "{python} {bridge} --manifest {manifest} --job {work_dir}/job.json"


class CommandAdapter(Adapter):
    """Runs ``command`` once per batch and reads the videos it writes.

    Args:
        command: The command line, with placeholders ``{manifest}``, ``{out_dir}``,
            ``{work_dir}`` (the batch's) and ``{python}``, ``{repo}``, ``{ckpt}``,
            ``{config}``, ``{ae_ckpt}`` (these options). Split with shlex into an argv
            list, each argument filled separately (no quoting needed), and run without
            a shell: a benchmark runs other people's prompts, so nothing a sample holds
            ever reaches a command line (prompts travel only in the manifest). Wrap a
            pipeline in a script of your own. Not with ``preset``.
        preset: A baseline's upstream command line (`adapters.command.presets.PRESETS`):
            dynamicrafter, dynamicrafter-512, opensora, avdc, lfdm, handi-inference.
        repo: The baseline's repository checkout (presets need it).
        ckpt: Checkpoint (a path relative to ``repo`` or absolute; AVDC: the number).
            Presets default to the path their README uses.
        config: Config file, likewise.
        ae_ckpt: LFDM's autoencoder checkpoint.
        python: Interpreter of the baseline's environment (default: this one).
        upstream_args: Extra arguments appended to a preset's upstream command (shlex).
        text: Which manifest field a preset's bridge gives upstream as its prompt.
        timeout: Seconds a batch's program may run; then its process group is killed.
        env: ``KEY=VALUE`` items added to the inherited environment.
        work_dir: Where batch folders are made (default: the system's temp dir).
        keep_work: Keep each batch folder (manifest, inputs, outputs, logs) afterwards.
        text_only: The program is text-to-video: the manifest has no context frames.
        needs_mask: Give the program the ground-truth motion area (an oracle input).
        deterministic: The program gives the same videos for the same seeds
            (conformance then checks it). Default False for external programs.
        batch_size: Requests per program run (default: the preset's, else 8).
        fps: Frame rate written into the manifest (default: the preset's, else none).
        spatial: Fitting of the program's frame size (`adapters.fitting.Fitting`).
        temporal: Fitting of its frame count.
        drop_context: Its frame 0 is the context frame (default: the preset's).
        stderr_chars: How much of stderr's end a failure record keeps.

    Raises:
        InvalidInputError: On a bad template (unknown placeholder, one whose option is
            not set), an unknown preset, or bad option values.
        InputNotFoundError: If the program, the repository, or a file a preset needs is
            missing: the message names the path and the option to set.
    """

    name: ClassVar[str] = "command"
    capabilities: ClassVar[Capabilities] = Capabilities(max_batch_size=8, deterministic=False)

    def __init__(
        self,
        command: str | None = None,
        preset: str | None = None,
        repo: Path | None = None,
        ckpt: str | None = None,
        config: str | None = None,
        ae_ckpt: str | None = None,
        python: str | None = None,
        upstream_args: str = "",
        text: Literal["prompt", "expanded_prompt"] = "prompt",
        timeout: float = 3600.0,
        env: tuple[str, ...] = (),
        work_dir: Path | None = None,
        keep_work: bool = False,
        text_only: bool | None = None,
        needs_mask: bool = False,
        deterministic: bool = False,
        batch_size: int | None = None,
        fps: float | None = None,
        spatial: Literal["strict", "center-crop", "resize", "pad"] = "center-crop",
        temporal: Literal["strict", "even", "first", "last"] = "even",
        drop_context: bool | None = None,
        stderr_chars: int = 2000,
    ):
        if (command is None) == (preset is None):
            raise InvalidInputError("command adapter: pass exactly one of command=... (a command line) or preset=... "
                                    f"(one of {', '.join(PRESETS)})")
        self.preset: Preset | None = None
        if preset is not None:
            if preset not in PRESETS:
                raise InvalidInputError(f"command adapter: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
            self.preset = PRESETS[preset]
        if timeout <= 0:
            raise InvalidInputError(f"command adapter: timeout must be > 0 seconds; got {timeout}")
        if spatial not in SPATIAL_POLICIES or temporal not in TEMPORAL_POLICIES:
            raise InvalidInputError(f"command adapter: spatial must be one of {', '.join(SPATIAL_POLICIES)} and temporal one of "
                                    f"{', '.join(TEMPORAL_POLICIES)}; got {spatial!r}, {temporal!r}")
        batch_size = batch_size if batch_size is not None else (self.preset.batch_size if self.preset else 8)
        if batch_size < 1:
            raise InvalidInputError(f"command adapter: batch_size must be >= 1; got {batch_size}")
        self.command = command
        self.timeout = float(timeout)
        self.env = _parse_env(env)
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.keep_work = keep_work
        self.fps = fps if fps is not None else (self.preset.native.fps if self.preset else None)
        self.stderr_chars = stderr_chars
        self.upstream_args = shlex.split(upstream_args)
        if text not in ("prompt", "expanded_prompt"):
            raise InvalidInputError(f"command adapter: text must be prompt or expanded_prompt; got {text!r}")
        self.text = text
        self.python = python or sys.executable
        self.values = self._option_values(repo, ckpt, config, ae_ckpt)
        if self.preset is None:
            self._check_template(command)
        else:
            self._check_preset()
        text_only = text_only if text_only is not None else (self.preset.text_only if self.preset else False)
        drop_context = drop_context if drop_context is not None else (self.preset.drop_context if self.preset else False)
        self._fitting = Fitting(spatial=spatial, temporal=temporal, drop_context=drop_context)
        self.capabilities = Capabilities(
            needs_image=not text_only, needs_mask=needs_mask, max_batch_size=batch_size, deterministic=deterministic
        )
        self.native = self.preset.native if self.preset else None

    # -- construction ------------------------------------------------------------
    def _option_values(self, repo, ckpt, config, ae_ckpt) -> dict[str, str]:
        """The option placeholders' values; relative preset paths are resolved against ``repo``."""
        defaults = dict(self.preset.defaults) if self.preset else {}
        raw = {"ckpt": ckpt or defaults.get("ckpt"), "config": config or defaults.get("config"), "ae_ckpt": ae_ckpt}
        values = {"python": self.python, "torchrun": str(Path(shutil.which(self.python) or self.python).parent / "torchrun")}
        if repo is not None:
            repo = Path(repo).expanduser().resolve()
            values["repo"] = str(repo)
        for key, value in raw.items():
            if value is None:
                continue
            # AVDC's ckpt is a checkpoint number, not a path: only path-like values are resolved.
            if repo is not None and self.preset is not None and not value.isdigit() and not Path(value).is_absolute():
                value = str(repo / value)
            values[key] = value
        if self.preset is not None:
            values["bridge"] = str(BRIDGES / self.preset.bridge)
        return values

    def _check_template(self, command: str) -> None:
        used = placeholders(command)
        unknown = used - set(BATCH_PLACEHOLDERS) - set(OPTION_PLACEHOLDERS)
        if unknown:
            raise InvalidInputError(
                f"command adapter: the command uses unknown placeholder(s) {', '.join('{' + u + '}' for u in sorted(unknown))}; "
                f"known: {', '.join('{' + k + '}' for k in (*BATCH_PLACEHOLDERS, *OPTION_PLACEHOLDERS))}"
            )
        unset = sorted(used & set(OPTION_PLACEHOLDERS) - set(self.values))
        if unset:
            raise InvalidInputError(
                f"command adapter: the command uses {', '.join('{' + u + '}' for u in unset)} but the option(s) "
                f"{', '.join(u + '=...' for u in unset)} are not set"
            )
        if "{manifest}" not in command and "{work_dir}" not in command:
            raise InvalidInputError("command adapter: the command must name {manifest} (or {work_dir}), or the program "
                                    "cannot find its requests")
        try:
            tokens = shlex.split(command)
        except ValueError as err:
            raise InvalidInputError(f"command adapter: cannot split the command {command!r}: {err}") from err
        if not tokens:
            raise InvalidInputError("command adapter: the command is empty")
        program = render(tokens[0], self.values)
        if shutil.which(program) is None:
            raise InputNotFoundError(
                f"command adapter: program {program!r} not found (not an executable file, nor on PATH); "
                "give its full path in the command"
            )

    def _check_preset(self) -> None:
        preset = self.preset
        assert preset is not None
        if "repo" not in self.values:
            raise InvalidInputError(f"command adapter: preset {preset.name!r} needs repo=PATH, a checkout of "
                                    f"github.com/{preset.upstream.repo} (read at {preset.upstream.commit[:12]})")
        repo = Path(self.values["repo"])
        if not repo.is_dir():
            raise InputNotFoundError(f"command adapter: repo {repo} is not a directory; clone github.com/{preset.upstream.repo} there")
        if shutil.which(self.python) is None:
            raise InputNotFoundError(f"command adapter: python {self.python!r} not found; pass python=PATH of the "
                                     f"{preset.name} environment's interpreter")
        templates = (*preset.must_exist, preset.cwd)
        for key in sorted(set().union(*map(placeholders, templates)) - set(self.values)):
            raise InvalidInputError(f"command adapter: preset {preset.name!r} needs {key}=... (it has no default)")
        for template in templates:
            path = Path(render(template, self.values))
            path = path if path.is_absolute() else repo / path
            if not path.exists():
                raise InputNotFoundError(
                    f"command adapter: preset {preset.name!r} needs {path}, which does not exist "
                    f"(see docs/command-adapter.md, '{preset.name}')"
                )

    # -- declarations ------------------------------------------------------------
    @classmethod
    def for_tests(cls) -> "CommandAdapter":
        """The packaged example program (`adapters/command/example_program.py`), deterministic."""
        return cls(command=f"{{python}} {shlex.quote(str(EXAMPLE_PROGRAM))} --manifest {{manifest}}", deterministic=True,
                   timeout=120)

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "command": self.command, "preset": self.preset.name if self.preset else None,
            "values": self._used_values(), "upstream_args": self.upstream_args, "text": self.text,
            "timeout": self.timeout, "env": sorted(self.env), "fps": self.fps,
            "work_dir": str(self.work_dir) if self.work_dir else None, "keep_work": self.keep_work,
        }
        if self.preset is not None:
            options["upstream"] = {"repo": self.preset.upstream.repo, "commit": self.preset.upstream.commit,
                                   "argv": list(self.preset.argv), "cwd": self.preset.cwd}
        return options

    def _used_values(self) -> dict[str, str]:
        """The option placeholders the command (or the preset) reads, as filled in."""
        if self.preset is None:
            used = placeholders(self.command or "")
        else:
            used = {"python", "repo"}.union(*map(placeholders, (*self.preset.argv, *self.preset.must_exist, self.preset.cwd)))
        return {key: value for key, value in self.values.items() if key in used}

    def fitting(self) -> dict[str, Any]:
        return self._fitting.describe()

    # -- generation --------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[np.ndarray | SampleFailure]:
        root = Path(tempfile.mkdtemp(prefix="hcvg-command-", dir=self._work_root()))
        folder = BatchFolder(root)
        try:
            entries = prepare_batch(root, requests, self.fps)
            if self.preset is not None:
                self._write_job(folder)
            argv, cwd = self._argv(folder)
            try:
                result = run_program(
                    argv, cwd=cwd, env={**os.environ, **self.env}, timeout=self.timeout, stdout=folder.stdout,
                    stderr=folder.stderr, tail_chars=self.stderr_chars,
                )
            except OSError as err:  # e.g. removed since construction: every sample fails, the run goes on
                result = ProgramResult(returncode=None, timed_out=False, seconds=0.0,
                                       stderr_tail=f"could not start {argv!r}: {type(err).__name__}: {err}")
            if not result.ok:
                logger.warning("command adapter: the program %s (batch of %d in %s)", result.status(self.timeout), len(requests), root)
            return [self._collect(request, entry, result) for request, entry in zip(requests, entries)]
        finally:
            if not self.keep_work:
                shutil.rmtree(root, ignore_errors=True)

    def _work_root(self) -> Path | None:
        if self.work_dir is None:
            return None
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir

    def _batch_values(self, folder: BatchFolder) -> dict[str, str]:
        return {**self.values, "manifest": str(folder.manifest), "out_dir": str(folder.out_dir), "work_dir": str(folder.root)}

    def _argv(self, folder: BatchFolder) -> tuple[list[str], Path]:
        values = self._batch_values(folder)
        if self.preset is not None:
            return [render(token, values) for token in shlex.split(PRESET_COMMAND)], folder.root
        assert self.command is not None
        return [render(token, values) for token in shlex.split(self.command)], folder.root

    def _write_job(self, folder: BatchFolder) -> None:
        """What a preset's bridge needs besides the manifest: the upstream command, half filled in."""
        preset = self.preset
        assert preset is not None
        job = {
            "preset": preset.name,
            "argv": [render(token, self.values) for token in preset.argv] + self.upstream_args,
            "cwd": render(preset.cwd, self.values),
            "repo": self.values["repo"],
            "text": self.text,
            "values": {k: v for k, v in self.values.items() if k not in ("bridge",)},
            "work_dir": str(folder.root),
        }
        (folder.root / "job.json").write_text(json.dumps(job, indent=1), encoding="utf-8")

    def _collect(self, request: GenerationRequest, entry: ManifestEntry, result: ProgramResult) -> np.ndarray | SampleFailure:
        """The request's video, fitted, or a failure naming the sample, the program's status and its stderr."""
        found = written_videos(entry)
        if not found:
            return self._failure(request, f"no video written (expected {entry.output}, or that name with another video suffix)", result)
        if len(found) > 1:
            return self._failure(request, f"{len(found)} videos written ({', '.join(p.name for p in found)}); write one", result)
        try:
            video = self._panel(read_video(found[0]), found[0])
            return fit_video(video, request, self._fitting, source=f"{found[0].name}")
        except (VideoReadError, FittingError) as err:
            return self._failure(request, f"{type(err).__name__}: {err}", result)

    def _panel(self, video: np.ndarray, path: Path) -> np.ndarray:
        """The preset's generated panel of a side-by-side output (the whole video for most).

        Raises:
            FittingError: If the width does not split into the preset's panels.
        """
        if self.preset is None or self.preset.panels == 1:
            return video
        panels, width = self.preset.panels, video.shape[2]
        if width % panels:
            raise FittingError(f"{path.name}: {width} pixels wide, not {panels} equal panels side by side", "size")
        side = width // panels
        return np.ascontiguousarray(video[:, :, self.preset.panel * side : (self.preset.panel + 1) * side])

    def _failure(self, request: GenerationRequest, reason: str, result: ProgramResult) -> SampleFailure:
        label = f"command adapter (preset {self.preset.name})" if self.preset else "command adapter"
        stderr = result.stderr_tail.strip() or "(empty)"
        return SampleFailure(
            f"{label}, sample {request.sample_id!r}: {reason}; the program {result.status(self.timeout)}; "
            f"stderr (last {self.stderr_chars} characters):\n{stderr}"
        )


def _parse_env(items: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"command adapter: env items are KEY=VALUE; got {item!r}")
        env[key] = value
    return env
