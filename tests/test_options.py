"""Options parsed once: typed coercion from signatures, matrix files, bracketed labels, registries."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import pandas as pd
import pytest

from benchmark.cli.main import build_parser, main
from benchmark.run_config import ComponentSpec, RunConfig
from benchmark.run_matrix import MATRIX_KEYS, MatrixError, run_config_from_dict
from hcvg.errors import UserError
from hcvg.options import OptionError, coerce_options, options_from
from hcvg.registry import Registry


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Component:
    """Every annotation kind a constructor may use."""

    def __init__(
        self,
        root: Path,
        flag: bool = False,
        count: int = 1,
        rate: float = 0.5,
        word: str = "x",
        mode: Literal["strict", "even"] = "strict",
        limit: int | None = None,
        legacy_limit: Optional[float] = None,
        names: tuple[str, ...] = (),
        pair: tuple[float, float] = (0.0, 1.0),
        seeds: list[int] | None = None,
        colour: Colour = Colour.RED,
        untyped=None,
    ):
        pass


def coerce(**options: Any) -> dict[str, Any]:
    return coerce_options(Component, {"root": "r", **options}, "adapter 'thing'")


# -- one value per annotation kind ----------------------------------------------------
@pytest.mark.parametrize("text, value", [("true", True), ("False", False), ("1", True), ("0", False), ("YES", True),
                                         ("no", False), ("On", True), ("off", False)])  # fmt: skip
def test_booleans_accept_the_usual_words_in_any_case(text, value):
    assert coerce(flag=text)["flag"] is value


def test_a_misspelt_boolean_is_an_error_naming_option_value_and_accepted_words():
    with pytest.raises(OptionError) as info:
        coerce(flag="ture")
    assert str(info.value) == (
        "adapter 'thing': option flag='ture' is not a boolean (accepted: true, false, 1, 0, yes, no, on, off)"
    )
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)
    with pytest.raises(OptionError, match="not a boolean"):
        coerce(flag=1)  # YAML gives booleans as true/false, never as numbers


def test_numbers_and_text():
    typed = coerce(count="12", rate="1e-3", word="hello")
    assert typed["count"] == 12 and type(typed["count"]) is int
    assert typed["rate"] == 0.001 and typed["word"] == "hello"
    assert coerce(rate=2)["rate"] == 2.0 and type(coerce(rate=2)["rate"]) is float  # an int is fine for a float
    assert coerce(count=3)["count"] == 3  # YAML values of the type pass
    with pytest.raises(OptionError, match=r"option count='1.5' is not an integer"):
        coerce(count="1.5")
    with pytest.raises(OptionError, match=r"option count=True is not an integer"):
        coerce(count=True)
    with pytest.raises(OptionError, match=r"option rate='fast' is not a number"):
        coerce(rate="fast")
    with pytest.raises(OptionError, match=r"option word=5 is not a string \(a int; quote it in YAML\)"):
        coerce(word=5)


def test_paths_become_path_objects():
    assert coerce_options(Component, {"root": "outputs/model"}, "x") == {"root": Path("outputs/model")}


def test_literals_must_be_one_of_the_choices():
    assert coerce(mode="even")["mode"] == "even"
    with pytest.raises(OptionError, match=r"option mode='evn' is not one of the choices; did you mean even\? \(accepted: strict, even\)"):
        coerce(mode="evn")


def test_optional_values_take_none_and_null():
    assert coerce(limit="none")["limit"] is None
    assert coerce(limit="NULL")["limit"] is None
    assert coerce(limit=None)["limit"] is None
    assert coerce(limit="7")["limit"] == 7
    assert coerce(legacy_limit="0.25")["legacy_limit"] == 0.25
    with pytest.raises(OptionError, match="option limit='seven' is not an integer"):
        coerce(limit="seven")


def test_tuples_and_lists_from_bars_or_yaml_lists():
    assert coerce(names="cut| push |wipe")["names"] == ("cut", "push", "wipe")
    assert coerce(names=["cut", "push"])["names"] == ("cut", "push")
    assert coerce(pair="40|60")["pair"] == (40.0, 60.0)
    assert coerce(pair=[40, 60])["pair"] == (40.0, 60.0)
    assert coerce(seeds="0|1|2")["seeds"] == [0, 1, 2]
    assert coerce(seeds=["3", 4])["seeds"] == [3, 4]
    with pytest.raises(OptionError, match=r"option pair='1\|2\|3' needs exactly 2 items"):
        coerce(pair="1|2|3")
    with pytest.raises(OptionError, match=r"option seeds='0\|x' has item 1 'x' that is not an integer"):
        coerce(seeds="0|x")


def test_enums_by_value_or_name():
    assert coerce(colour="blue")["colour"] is Colour.BLUE
    assert coerce(colour="RED")["colour"] is Colour.RED
    with pytest.raises(OptionError, match=r"accepted: red, blue"):
        coerce(colour="green")


def test_unannotated_parameters_take_any_value():
    assert coerce(untyped="as given")["untyped"] == "as given"


class Network:
    """Something no text can stand for (a torch module, say)."""


def with_network(network: Network | None = None):
    return network


def test_objects_that_cannot_be_text_refuse_a_string():
    network = Network()
    assert coerce_options(with_network, {"network": network}, "x")["network"] is network
    with pytest.raises(OptionError, match="network='net' cannot be given as text: it takes a Network"):
        coerce_options(with_network, {"network": "net"}, "extractor 'e'")


def test_unknown_option_lists_the_accepted_ones_with_close_matches():
    with pytest.raises(OptionError) as info:
        coerce(rot="x")
    message = str(info.value)
    assert message.startswith("adapter 'thing': unknown option 'rot'; did you mean root?")
    assert "(accepted: root, flag, count, rate, word, mode, limit, legacy_limit, names, pair, seeds, colour, untyped)" in message


def test_missing_required_option_is_named():
    with pytest.raises(OptionError, match=r"missing required option\(s\) root"):
        coerce_options(Component, {"flag": "true"}, "adapter 'thing'")


class Base:
    def __init__(self, steps: int = 25, guidance: float = 7.5, mode: Literal["a", "b"] = "a"):
        self.steps, self.guidance, self.mode = steps, guidance, mode


class Forwarding(Base):
    """Sets one option of its own and hands the rest to its base, as adapter families do."""

    def __init__(self, preset: str = "x", steps: int | None = None, **options: Any):
        super().__init__(steps=steps or 25, **options)
        self.preset = preset


def test_a_subclass_forwarding_kwargs_takes_its_bases_options_typed_by_the_base():
    typed = coerce_options(Forwarding, {"preset": "y", "steps": "none", "guidance": "6", "mode": "b"}, "adapter 'f'")
    assert typed == {"preset": "y", "steps": None, "guidance": 6.0, "mode": "b"}  # the subclass's steps annotation wins
    with pytest.raises(OptionError, match=r"option mode='c' is not one of the choices \(accepted: a, b\)"):
        coerce_options(Forwarding, {"mode": "c"}, "adapter 'f'")
    with pytest.raises(OptionError, match=r"unknown option 'guidence'; did you mean guidance\?"):
        coerce_options(Forwarding, {"guidence": "6"}, "adapter 'f'")


def test_kwargs_factories_pass_unknown_names_on_untouched():
    def derived(base: str = "demo", fraction: float = 0.1, **base_options: Any):
        return None

    typed = coerce_options(derived, {"fraction": "0.5", "num_samples": "3"}, "split 'derived'")
    assert typed == {"fraction": 0.5, "num_samples": "3"}


def test_a_class_without_a_constructor_takes_no_option():
    class Plain:
        name: ClassVar[str] = "plain"

    assert coerce_options(Plain, {}, "adapter 'plain'") == {}
    with pytest.raises(OptionError, match=r"unknown option 'x' \(accepted: none\)"):
        coerce_options(Plain, {"x": "1"}, "adapter 'plain'")


def test_options_from_reads_a_config_class():
    from dataclasses import dataclass

    @dataclass
    class Config:
        num_samples: int = 12
        actions: tuple[str, ...] = ("cut",)

    @options_from(Config)
    def build(**options: Any) -> Config:
        return Config(**options)

    assert coerce_options(build, {"num_samples": "2", "actions": "cut|push"}, "split 'x'") == {
        "num_samples": 2, "actions": ("cut", "push"),
    }  # fmt: skip
    with pytest.raises(OptionError, match="unknown option 'num_sample'; did you mean num_samples"):
        coerce_options(build, {"num_sample": "2"}, "split 'x'")


def test_coercing_twice_changes_nothing():
    once = coerce(flag="yes", names="a|b", limit="none", pair="1|2", colour="blue")
    assert coerce_options(Component, once, "x") == once


# -- the registry is the one place that coerces -------------------------------------------
class Sized:
    def __init__(self, size: int = 1, resize: bool = False):
        self.size, self.resize = size, resize


def test_registry_create_coerces_through_the_signature():
    registry = Registry("thing", base=Sized)
    registry.register("sized", Sized)
    built = registry.create("sized", size="4", resize="on")
    assert (built.size, built.resize) == (4, True)
    with pytest.raises(OptionError, match="thing 'sized': option resize='ture' is not a boolean"):
        registry.create("sized", resize="ture")


def test_built_in_components_take_typed_options():
    from adapters.registry import ADAPTERS
    from benchmark.splits import SPLITS, load_split
    from metrics.features.registry import FEATURES
    from metrics.registry import METRICS

    assert ADAPTERS.coerce("folder", {"root": "x", "resize": "true", "frames": "even"}) == {
        "root": Path("x"), "resize": True, "frames": "even",
    }  # fmt: skip
    assert METRICS.create("hs-err", missing="penalize").missing == "penalize"
    with pytest.raises(OptionError, match=r"metric 'hs-err': option missing='penalise' is not one of the choices; did you mean penalize\?"):
        METRICS.create("hs-err", missing="penalise")
    typed = FEATURES.coerce("inception-pool3", {"mode": "clean", "batch_size": "4", "weights_path": "none"})
    assert typed == {"mode": "clean", "batch_size": 4, "weights_path": None}
    assert SPLITS.coerce("demo", {"num_samples": "2", "actions": "cut|push"}) == {"num_samples": 2, "actions": ("cut", "push")}
    split = load_split("motion-intensive", base="demo", fraction="0.5", num_samples="2")
    assert len(split) == 1  # fraction typed by motion-intensive, num_samples by demo
    with pytest.raises(OptionError, match="split 'demo': unknown option 'num_sample'"):
        load_split("motion-intensive", base="demo", num_sample="2")


def test_a_dataset_refuses_an_option_of_another_dataset(tmp_path):
    from benchmark.datasets.registry import DATASETS

    with pytest.raises(OptionError, match=r"dataset 'ego4d': unknown option 'source'.*accepted: root, split, annotations"):
        DATASETS.create("ego4d", root=tmp_path, split="test", source="videos")


# -- component specs ----------------------------------------------------------------------
def test_options_split_on_commas_outside_brackets():
    spec = ComponentSpec.parse("handi:mask=stage1,hrl=on,label=handi[mask=stage1,hrl=on]")
    assert spec == ComponentSpec("handi", {"mask": "stage1", "hrl": "on"}, "handi[mask=stage1,hrl=on]")
    assert ComponentSpec.parse("folder:root=a,label=x[y=[1,2],z=3]").label == "x[y=[1,2],z=3]"
    with pytest.raises(ValueError, match="'\\[' without a matching '\\]'"):
        ComponentSpec.parse("handi:label=handi[mask=stage1,hrl=on")
    with pytest.raises(ValueError, match="must look like key=value"):
        ComponentSpec.parse("handi:mask")


def test_component_mappings_and_plain_names():
    assert ComponentSpec.of({"name": "folder", "label": "mine", "options": {"root": "x"}}) == ComponentSpec(
        "folder", {"root": "x"}, "mine"
    )
    assert ComponentSpec.of("psnr") == ComponentSpec("psnr")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['option'\]; a component mapping takes \['label', 'name', 'options'\]"):
        ComponentSpec.of({"name": "folder", "option": {"root": "x"}})
    config = RunConfig(out="runs/x", adapters=["static"], splits=["demo:num_samples=2"], metrics=["psnr", "hs-err"])
    assert config.metrics == [ComponentSpec("psnr"), ComponentSpec("hs-err")]
    assert config.splits == [ComponentSpec("demo", {"num_samples": "2"})]
    with pytest.raises(ValueError, match="listed more than once"):
        RunConfig(out="x", adapters=["static"], splits=["demo"], metrics=["psnr", "psnr:cap=50"])


# -- the matrix -----------------------------------------------------------------------------
def test_matrix_written_as_yaml_values_or_as_cli_text_is_the_same_config():
    as_yaml = {
        "out": "runs/x", "adapters": ["static", {"name": "folder", "label": "mine", "options": {"root": ".", "resize": True}}],
        "splits": [{"name": "demo", "options": {"num_samples": 2, "actions": ["cut", "push"]}}],
        "metrics": ["psnr", {"name": "hs-err", "options": {"missing": "penalize"}}, "fid"],
        "extractors": {"inception-pool3": {"mode": "clean", "batch_size": 4}, "hand-keypoints": None},
        "scopes": ["full"], "seeds": [0, 1], "batch_size": 2,
    }  # fmt: skip
    as_cli = {
        "out": "runs/x", "adapters": ["static", "folder:root=.,resize=yes,label=mine"],
        "splits": ["demo:num_samples=2,actions=cut|push"], "metrics": ["psnr", "hs-err:missing=penalize", "fid"],
        "extractors": ["inception-pool3:mode=clean,batch_size=4", "hand-keypoints"],
        "scopes": ["full"], "seeds": ["0", "1"], "batch_size": "2",
    }  # fmt: skip
    yaml_config, cli_config = run_config_from_dict(as_yaml), run_config_from_dict(as_cli)
    assert yaml_config == cli_config
    assert yaml_config.matrix()["splits"][0]["options"] == {"num_samples": 2, "actions": ("cut", "push")}
    assert yaml_config.extractors == {"inception-pool3": {"mode": "clean", "batch_size": 4}, "hand-keypoints": {}}
    assert yaml_config.out == Path("runs/x") and yaml_config.seeds == [0, 1]


def test_matrix_errors_name_the_key_and_what_is_accepted():
    base = {"out": "runs/x", "adapters": ["static"], "metrics": ["psnr"]}
    with pytest.raises(MatrixError) as info:
        run_config_from_dict({**base, "seed": [1]})
    assert str(info.value) == f"matrix: unknown key 'seed'; did you mean seeds? (accepted: {', '.join(MATRIX_KEYS)})"
    with pytest.raises(MatrixError, match="'adapters' is required"):
        run_config_from_dict({"out": "x"})
    with pytest.raises(OptionError, match=r"matrix: option scopes=\['full', 'mask'\] has item 1 'mask' that is not one of the choices"):
        run_config_from_dict({**base, "scopes": ["full", "mask"]})
    with pytest.raises(MatrixError, match=r"extractor\(s\) \['inception-pool3'\] are configured, but no metric of the run reads them"):
        run_config_from_dict({**base, "extractors": {"inception-pool3": {"mode": "clean"}}})
    with pytest.raises(MatrixError, match="adapter labels must be unique"):
        run_config_from_dict({**base, "adapters": ["static", "oracle:label=static"]})


HCVG = [sys.executable, "-m", "benchmark.cli.main"]


def test_a_misspelt_option_on_the_command_line_exits_2_with_the_message(tmp_path):
    done = subprocess.run(
        [*HCVG, "run", "--adapters", f"folder:root={tmp_path},resize=ture", "--splits", "demo:num_samples=2",
         "--metrics", "psnr", "--scopes", "full", "--out", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2
    assert "error: adapter 'folder': option resize='ture' is not a boolean (accepted: true, false" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # refused before any work


def test_config_file_equals_the_same_run_on_the_command_line(tmp_path, capsys):
    flags = ["--adapters", "static", "--splits", "demo:num_samples=2", "--metrics", "psnr", "--scopes", "full"]
    assert main(["run", *flags, "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        f"out: {tmp_path / 'yaml'}\n"
        "adapters: [static]\n"
        "splits:\n  - name: demo\n    options: {num_samples: 2}\n"
        "metrics: [psnr]\n"
        "scopes: [full, ma]\n"
        "seeds: [3]\n"
    )
    # Flags beside --config replace the file's keys: scopes and seeds come from here.
    assert main(["run", "--config", str(matrix), "--scopes", "full", "--seeds", "0", "--no-progress"]) == 0
    capsys.readouterr()
    stored = [json.loads((tmp_path / name / "run_config.json").read_text())["matrix"] for name in ("cli", "yaml")]
    assert stored[0] == stored[1]
    assert stored[0]["splits"] == [{"name": "demo", "options": {"num_samples": 2}, "label": "demo"}]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "cli" / "summary.parquet"), pd.read_parquet(tmp_path / "yaml" / "summary.parquet")
    )


def test_metric_and_extractor_options_reach_their_constructors_and_the_run_config(tmp_path, capsys):
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        f"out: {tmp_path / 'run'}\n"
        "adapters: [static]\n"
        "splits: ['demo:num_samples=2']\n"
        "metrics: [psnr, 'hs-err:missing=penalize', fid]\n"
        "scopes: [full]\n"
        # A missing weights file: fid is skipped, and the message shows the option arrived.
        f"extractors:\n  inception-pool3: {{mode: clean, weights_path: {tmp_path / 'none.pt'}}}\n"
    )
    # fid's cells have no score (skipped for its weights): the run says so with exit status 1.
    assert main(["run", "--config", str(matrix), "--no-progress"]) == 1
    assert "cells scored;" in capsys.readouterr().out
    config = json.loads((tmp_path / "run" / "run_config.json").read_text())
    hs_err = next(m for m in config["matrix"]["metrics"] if m["name"] == "hs-err")
    assert hs_err["options"] == {"missing": "penalize"}
    assert config["metrics"]["hs-err"]["missing_joints"] == "penalize"  # the built metric's own config
    assert config["matrix"]["extractors"] == {"inception-pool3": {"mode": "clean", "weights_path": str(tmp_path / "none.pt")}}
    failures = [json.loads(line) for line in (tmp_path / "run" / "failures.jsonl").read_text().splitlines()]
    fid = next(f for f in failures if f.get("metric") == "fid")
    # mode=clean pairs with the TorchScript network (the default mode would want pytorch-fid's file).
    assert "inception-fid-torchscript" in fid["error"] and str(tmp_path / "none.pt") in fid["error"]


# -- choices come from the registries ---------------------------------------------------------
def _parses(argv: list[str]) -> bool:
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        return False
    return True


def test_cli_choices_come_from_the_registries(monkeypatch, capsys):
    from benchmark.datasets.registry import DATASETS
    from leaderboards.formats import TABLE_FORMATS
    from leaderboards.specs import PAPER_TABLES, TABLE1

    prepare = ["data", "prepare", "--root", "r", "--out", "o", "--dataset"]
    assert not _parses([*prepare, "ego5d"]) and not _parses(["tables", "--paper", "table9"])
    assert not _parses(["tables", "--paper", "table1", "--format", "txt"])
    monkeypatch.setitem(DATASETS._entries, "ego5d", DATASETS.get("ego4d"))
    monkeypatch.setitem(PAPER_TABLES._entries, "table9", TABLE1)
    monkeypatch.setitem(TABLE_FORMATS._entries, "txt", lambda table: "")
    assert _parses([*prepare, "ego5d"]) and _parses(["tables", "--paper", "table9", "--format", "txt"])
    capsys.readouterr()
