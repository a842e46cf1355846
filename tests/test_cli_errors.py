"""`hcvg` prints a user error as one line and exits 2; a bug keeps its traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli.main import main
from benchmark.cli.tables import TablesCommand
from hcvg.errors import UserError


def _user_error_cases(tmp: Path) -> list[tuple[list[str], str]]:
    run = ["run", "--adapters", "static", "--metrics", "psnr", "--out", str(tmp / "run"), "--no-progress", "--splits"]
    return [
        (["tables", "--run", str(tmp / "none")], "summary.parquet not found; run `hcvg run"),
        (["run", "--config", str(tmp / "no-matrix.yaml")], "no-matrix.yaml not found; pass the path of a YAML matrix"),
        (["leaderboard", "build", "--runs", str(tmp / "none"), "--out", str(tmp / "site")], "summary.parquet not found"),
        ([*run, f"ek100-test:cache={tmp / 'no-cache'}"], "Prepare it once with `hcvg data prepare --dataset ek100"),
        ([*run, "demo:num_samples=many"], "option num_samples='many' is not an integer"),
        ([*run, "demo:num_sample=3"], "split 'demo': unknown option 'num_sample'; did you mean num_samples"),
        ([*run, "demo:num_samples"], "option 'num_samples' must look like key=value"),
        ([*run, "motion-intensive:base=demo,fraction=most"], "fraction='most' is not a number"),
        (["tables", "--paper", "table1", "--run", str(tmp / "none"), "--split-as", "ek100-test"], "summary.parquet not found"),
    ]


def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys):
    for argv, expected in _user_error_cases(tmp_path):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and expected in err[-1], (argv, err)
        assert not any("Traceback" in line for line in err), argv


def test_split_as_without_equals_is_a_user_error():
    from benchmark.cli.tables import parse_split_map

    with pytest.raises(UserError, match="PAPER_SPLIT=RUN_SPLIT"):
        parse_split_map(["ek100-test"])


def test_very_verbose_shows_the_traceback_of_a_user_error(tmp_path):
    with pytest.raises(UserError, match="summary.parquet not found"):
        main(["-vv", "tables", "--run", str(tmp_path / "none")])


@pytest.mark.parametrize("error", [ValueError("a bug"), FileNotFoundError("a bug's missing file"), KeyError("a bug")])
def test_a_bug_is_not_turned_into_a_user_error(monkeypatch, error):
    def broken(self, args):
        raise error

    monkeypatch.setattr(TablesCommand, "run", broken)
    with pytest.raises(type(error)):
        main(["tables", "--paper", "table1"])


def test_a_bug_prints_its_traceback():
    script = (
        "import sys\n"
        "from benchmark.cli.adapters import AdaptersCommand\n"
        "def broken(self, args):\n"
        "    raise ValueError('a bug in a subcommand')\n"
        "AdaptersCommand.run = broken\n"
        "from benchmark.cli.main import main\n"
        "sys.exit(main(['adapters', 'list']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr and "ValueError: a bug in a subcommand" in done.stderr
    assert "error: a bug" not in done.stderr
