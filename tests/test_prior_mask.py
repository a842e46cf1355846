"""The prior motion-area mask (paper §3.1): its math, the demo split's, and `hcvg masks prior`."""

import json

import cv2
import numpy as np
import pytest

from benchmark.cli.main import main
from benchmark.cli.masks import _ground_truth_masks
from benchmark.hand_annotations import HandAnnotationStore, default_annotation_dir
from benchmark.splits import InMemorySplit, load_split
from handi.motion_area import postprocess_mask
from handi.prior_mask import load_prior_mask, prior_mask, prior_mask_with_stats, save_prior_mask
from hcvg.errors import InputNotFoundError, InvalidInputError
from tests.conftest import moving_square_sample
from tests.test_layers import HEAVY, _modules_loaded_by

DEMO = {"num_samples": 4}


@pytest.fixture(scope="module")
def demo_masks() -> list[np.ndarray]:
    split = load_split("demo", **DEMO)
    return [split.get(i).motion_area for i in split.ids()]


def _masks(*rows: str) -> list[np.ndarray]:
    """Masks from strings of 0/1, one string per mask, rows split by '/'."""
    return [np.array([[c == "1" for c in row] for row in mask.split("/")]) for mask in rows]


# -- the math ----------------------------------------------------------------------------

def test_prior_is_coverage_divided_by_its_maximum():
    masks = _masks("110/000", "100/000", "100/001", "000/000")
    prior = prior_mask(masks)
    # coverage = [[3, 1, 0], [0, 0, 1]] / 4 masks; the peak 3/4 becomes 1
    np.testing.assert_array_equal(prior, np.array([[1, 1 / 3, 0], [0, 0, 1 / 3]], dtype=np.float32))
    assert prior.dtype == np.float32 and prior.max() == 1.0


def test_prior_does_not_depend_on_the_number_of_masks_but_on_their_fractions():
    masks = _masks("110/000", "100/010")
    np.testing.assert_array_equal(prior_mask(masks), prior_mask(masks * 3))
    assert not np.array_equal(prior_mask(masks), prior_mask([*masks, masks[0]]))  # fractions moved


def test_prior_consumes_any_iterable_once():
    masks = _masks("10/01", "11/00")
    np.testing.assert_array_equal(prior_mask(iter(masks)), prior_mask(masks))


def test_stats_count_masks_empty_ones_coverage_and_the_peak():
    _, stats = prior_mask_with_stats(_masks("1100", "1000", "0000", "0000"))
    assert (stats.num_masks, stats.num_empty) == (4, 2)
    assert stats.coverage == 0.5
    assert stats.peak_fraction == 0.5
    assert stats.mean == pytest.approx((1 + 0.5) / 4)


@pytest.mark.parametrize(
    "masks, message",
    [
        ([], "no masks"),
        (_masks("10/01") + _masks("100/001"), "2x3 but mask 0 is 2x2"),
        ([np.ones((2, 2), np.uint8)], "must be bool"),
        ([np.ones((2, 2, 1), bool)], "must be bool [H, W]"),
        (_masks("00/00", "00/00"), "all 2 masks are empty"),
    ],
    ids=["none", "mixed-sizes", "not-bool", "not-2d", "all-empty"],
)
def test_prior_refuses_what_it_cannot_normalize(masks, message):
    with pytest.raises(InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        prior_mask(masks)


# -- the demo split ------------------------------------------------------------------------

def test_demo_prior_is_the_normalized_count_of_its_drawn_masks(demo_masks):
    prior = prior_mask(demo_masks)
    counts = np.sum(demo_masks, axis=0)
    np.testing.assert_allclose(prior, counts / counts.max(), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(prior > 0, np.any(demo_masks, axis=0))  # support = the union of the masks
    assert 0 < (prior > 0).mean() < 1  # hands cover part of the frame, not all of it


def test_prior_survives_saving_and_loading(tmp_path, demo_masks):
    prior = prior_mask(demo_masks)
    npy_path, png_path = save_prior_mask(tmp_path / "annotations", prior, meta={"num_masks": 4})
    assert npy_path == tmp_path / "annotations" / "prior_mask.npy" and png_path.suffix == ".png"
    np.testing.assert_array_equal(load_prior_mask(npy_path), prior)
    np.testing.assert_array_equal(load_prior_mask(tmp_path / "annotations"), prior)  # the folder names it too
    png = cv2.imread(str(png_path), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == prior.shape and png.max() == 255
    np.testing.assert_allclose(load_prior_mask(png_path), prior, atol=0.5 / 255 + 1e-7)
    assert json.loads(npy_path.with_suffix(".json").read_text()) == {"num_masks": 4}
    assert not list(tmp_path.rglob("*.tmp"))  # written through atomic renames


def test_load_prior_mask_says_how_to_make_a_missing_one(tmp_path):
    with pytest.raises(InputNotFoundError, match="hcvg masks prior"):
        load_prior_mask(tmp_path / "prior_mask.npy")


def test_load_prior_mask_refuses_values_outside_unit_range(tmp_path):
    np.save(tmp_path / "bad.npy", np.full((4, 4), 2.0, np.float32))
    with pytest.raises(InvalidInputError, match=r"lies in \[0, 1\]"):
        load_prior_mask(tmp_path / "bad.npy")


# -- hcvg masks prior ----------------------------------------------------------------------

def test_cli_prior_on_the_demo_split_saves_it_with_the_splits_masks(tmp_path, monkeypatch, capsys, demo_masks):
    monkeypatch.setenv("HCVG_CACHE", str(tmp_path / "cache"))
    assert main(["masks", "prior", "--split", "demo:num_samples=4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    where = default_annotation_dir("demo", {"num_samples": "4"})
    assert where.is_relative_to(tmp_path / "cache")
    np.testing.assert_array_equal(load_prior_mask(where / "prior_mask.npy"), prior_mask(demo_masks))
    assert (where / "prior_mask.png").is_file()
    coverage = np.any(demo_masks, axis=0).mean()
    assert f"prior mask: {where / 'prior_mask.npy'}" in out
    assert "from 4 ground-truth masks (0 empty)" in out
    assert f"coverage: {100 * coverage:.1f}% of pixels" in out
    meta = json.loads((where / "prior_mask.json").read_text())
    assert meta["num_masks"] == 4 and meta["coverage"] == pytest.approx(coverage)


def test_cli_prior_reads_the_annotation_directory_and_writes_into_it(tmp_path, capsys, demo_masks):
    """With --hands the masks are the cached annotations (here: dilated drawn masks), not the split's own."""
    hands = tmp_path / "hands"
    store = HandAnnotationStore(hands)
    split = load_split("demo", **DEMO)
    cached = []
    for sample_id in split.ids():
        sample = split.get(sample_id)
        cached.append(postprocess_mask(sample.motion_area, kernel_size=31))
        store.save(sample_id, {"keypoints": sample.keypoints, "scores": np.ones((16, 2), np.float32), "motion_area": cached[-1]})
    assert main(["masks", "prior", "--split", "demo:num_samples=4", "--hands", str(hands), "--no-progress"]) == 0
    assert f"hand annotations in {hands}" in capsys.readouterr().out
    saved = load_prior_mask(hands / "prior_mask.npy")
    np.testing.assert_array_equal(saved, prior_mask(cached))
    assert not np.array_equal(saved, prior_mask(demo_masks))


def test_cli_prior_writes_where_out_says(tmp_path, demo_masks):
    assert main(["masks", "prior", "--split", "demo:num_samples=4", "--out", str(tmp_path / "p" / "demo.npy"), "--no-progress"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p" / "demo.npy"), prior_mask(demo_masks))
    assert (tmp_path / "p" / "demo.png").is_file()


def test_cli_prior_with_conflicting_hands_is_a_one_line_error(tmp_path, capsys):
    argv = ["masks", "prior", "--split", f"demo:num_samples=4,hands={tmp_path / 'a'}", "--hands", str(tmp_path / "b")]
    assert main(argv) == 2
    assert "disagree" in capsys.readouterr().err


def test_a_split_without_masks_names_the_sample_and_the_command_that_makes_them():
    samples = [moving_square_sample("sq-0"), moving_square_sample("sq-1")]
    bare = type(samples[1])(**{**samples[1].__dict__, "motion_area": None})
    with pytest.raises(InputNotFoundError, match=r"'sq-1'.*hcvg masks build"):
        prior_mask(_ground_truth_masks(InMemorySplit("squares", [samples[0], bare]), "squares", progress=False))


def test_masks_help_imports_no_model_library():
    loaded = _modules_loaded_by(["masks", "--help"])
    assert "benchmark.cli.masks" in loaded
    assert not sorted(m for m in loaded if m.split(".")[0] in HEAVY)
