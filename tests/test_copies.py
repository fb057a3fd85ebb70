"""Copies across a class (grader/copies.py), the folders a batch refuses (grader/safe.py: folder_problem) and
the class report (grader/classreport.py), on arrays of their own making and on real MNIST digits."""

import os

import numpy as np
import pandas as pd
import pytest

from grader.batch import Graded
from grader.checks import FAILED, NOT_RUN, PASSED
from grader.copies import Evidence, block_means, evidence_of, find_copies
from grader.safe import Submission, folder_problem
from tests import lab


@pytest.fixture(scope="module")
def digits(mnist_dir):
    from ddpm_lab.data import prepared_split

    train, _ = prepared_split(mnist_dir, "train", 32)
    test, _ = prepared_split(mnist_dir, "test", 32)
    return train[:1000], test[:1000]


def evidence(name, images, loss=None, seed=None, tmp_path=None, rubric=None):
    """The evidence a worker gathers, from a submission folder written here."""
    folder = tmp_path / name
    (folder / "fid").mkdir(parents=True)
    np.savez(folder / "fid/samples.npz", images=images)
    if loss is not None:
        (folder / "train").mkdir()
        pd.DataFrame({"epoch": np.arange(1, len(loss) + 1), "loss": loss}).to_csv(folder / "train/loss.csv", index=False)
    if seed is not None:
        (folder / "gaussian_demo").mkdir()
        (folder / "gaussian_demo/metrics.json").write_text(f'{{"seed": {seed}}}')
    return evidence_of(Submission(folder, rubric["limits"]), name, 32)


def kinds(pairs):
    return {(p.a, p.b): p.kinds for p in pairs}


def test_copied_samples_are_listed_and_honest_ones_are_not(digits, tmp_path, rubric):
    train, test = digits
    rng = np.random.default_rng(0)
    noisy = np.clip(train.astype(int) + rng.normal(0, 8, train.shape).round(), 0, 255).astype(np.uint8)
    half = np.concatenate([train[:500], test[500:]])  # half of its samples taken from another submission
    found = [
        evidence("honest", train, tmp_path=tmp_path, rubric=rubric),
        evidence("other honest", test, tmp_path=tmp_path, rubric=rubric),  # other digits of the same distribution
        evidence("exact copy", train[rng.permutation(len(train))], tmp_path=tmp_path, rubric=rubric),
        evidence("noisy copy", noisy[rng.permutation(len(train))], tmp_path=tmp_path, rubric=rubric),
        evidence("half copy", half, tmp_path=tmp_path, rubric=rubric),
    ]
    pairs = kinds(find_copies(found, rubric["copies"]))
    assert pairs[("honest", "exact copy")] == ["identical samples"]
    assert pairs[("honest", "noisy copy")] == ["near-identical samples"]
    assert pairs[("exact copy", "noisy copy")] == ["near-identical samples"]
    assert pairs[("honest", "half copy")] == ["identical samples"]  # 500 of 1000 byte-identical
    assert ("honest", "other honest") not in pairs and ("other honest", "exact copy") not in pairs
    assert len(pairs) == 7  # the four copies of train[:1000] pairwise (6), and the half copy with other honest
    assert ("other honest", "half copy") in pairs


def test_identical_loss_curves_are_listed_with_the_shared_seed(tmp_path, rubric):
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (50, 32, 32), dtype=np.uint8) for _ in range(4)]
    curve = np.exp(-np.linspace(0, 3, 200)) * 0.7 + 0.03
    found = [
        evidence("a", images[0], curve, seed=5, tmp_path=tmp_path, rubric=rubric),
        evidence("b", images[1], curve.round(5), seed=5, tmp_path=tmp_path, rubric=rubric),  # a copied CSV, rounded
        evidence("c", images[2], curve * (1 + 0.01 * rng.standard_normal(200)), seed=5, tmp_path=tmp_path, rubric=rubric),
        evidence("d", images[3], curve[:150], tmp_path=tmp_path, rubric=rubric),  # cut short: another length
    ]
    pairs = find_copies(found, rubric["copies"])
    assert [(p.a, p.b, p.kinds) for p in pairs] == [("a", "b", ["identical loss curves"])]
    assert "both claim seed 5" in pairs[0].evidence and "200 epochs" in pairs[0].evidence[0]


def test_blank_images_and_missing_files_are_no_evidence(tmp_path, rubric):
    blank = np.zeros((100, 32, 32), np.uint8)  # a broken sampler draws these in any run
    found = [evidence(n, blank, tmp_path=tmp_path, rubric=rubric) for n in ("a", "b")]
    assert len(found[0].hashes) == 0
    assert [p.kinds for p in find_copies(found, rubric["copies"])] == [["near-identical samples"]]  # but they do look alike
    (tmp_path / "empty").mkdir()
    nothing = evidence_of(Submission(tmp_path / "empty", rubric["limits"]), "empty", 32)
    assert nothing == Evidence("empty")
    assert find_copies([nothing, nothing], rubric["copies"]) == []


def test_block_means_are_the_8x8_means(rubric):
    images = np.arange(2 * 32 * 32).reshape(2, 32, 32).astype(np.uint8)
    blocks = block_means(images)
    assert blocks.shape == (2, 64)
    assert blocks[1, 9] == pytest.approx(images[1, 4:8, 4:8].astype(float).mean())


def test_folders_a_batch_cannot_grade_each_have_one_reason(tmp_path, rubric):
    limits = dict(rubric["limits"], max_submission_files=5, max_submission_bytes=1000)
    (tmp_path / "a file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "many").mkdir()
    for i in range(6):
        (tmp_path / "many" / f"{i}.txt").write_text("x")
    (tmp_path / "huge").mkdir()
    (tmp_path / "huge/big.npz").write_bytes(b"\0" * 2000)
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    (tmp_path / "fine/fid").mkdir(parents=True)
    (tmp_path / "fine/fid/samples.npz").write_bytes(b"\0" * 10)
    assert folder_problem(tmp_path / "nowhere", limits) == "no such folder"
    assert folder_problem(tmp_path / "a file", limits) == "a file, not a folder"
    assert folder_problem(tmp_path / "empty", limits) == "an empty folder"
    assert folder_problem(tmp_path / "many", limits) == "holds more than 5 files and folders"
    assert folder_problem(tmp_path / "huge", limits) == "holds more than 1000 bytes"
    assert folder_problem(tmp_path / "link", limits) == "a broken link, not a folder"
    assert folder_problem(tmp_path / "fine", limits) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder: an unreadable one cannot be made")
def test_an_unreadable_folder_is_refused(tmp_path, rubric):
    (tmp_path / "locked/sub").mkdir(parents=True)
    (tmp_path / "locked").chmod(0)
    try:
        assert folder_problem(tmp_path / "locked", rubric["limits"]).startswith("unreadable (PermissionError")
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_the_class_report_counts_every_check_and_lists_the_copies(tmp_path, rubric):
    from grader import classreport
    from grader.copies import Pair

    checks = [f"{task}.{name}" for task, spec in rubric["tasks"].items() for name in spec["checks"]]
    rows = []
    for i, verdict in enumerate(["PASS", "PASS", "FAIL", "INCOMPLETE"]):
        statuses = {c: PASSED for c in checks}
        if verdict == "FAIL":
            statuses["task1.samples_moments"] = FAILED
        if verdict == "INCOMPLETE":
            statuses["task7.fid_threshold"] = NOT_RUN
        rows.append(Graded(f"s{i}", score=15.5 - 2 * i, max_score=15.5, verdict=verdict, statuses=statuses))
    rows.append(Graded("s4", error="an empty folder"))
    pairs = [Pair("s0", "s1", ["identical samples"], ["2000 of 2000 samples byte-identical"])]
    written = classreport.write(rows, pairs, rubric, tmp_path / "grades.csv")
    assert {p.name for p in written} == {
        "grades.md",
        "grades.histogram.png",
        "grades.checks.csv",
        "grades.checks.png",
        "grades.copies.csv",
    }
    table = pd.read_csv(tmp_path / "grades.checks.csv").set_index("check")
    assert table.loc["task1.samples_moments", ["passed", "failed", "not run"]].tolist() == [3, 1, 0]
    assert table.loc["task1.samples_moments", "pass rate"] == 0.75
    assert table.loc["task7.fid_threshold", ["passed", "not run", "pass rate"]].tolist() == [3, 1, 1.0]
    report = (tmp_path / "grades.md").read_text()
    assert "5 submissions: 4 graded (2 PASS, 1 INCOMPLETE, 1 FAIL), 1 not graded." in report
    assert "| `s4` | an empty folder |" in report and "2000 of 2000 samples byte-identical" in report
    assert pd.read_csv(tmp_path / "grades.copies.csv").to_dict("records") == [
        {"a": "s0", "b": "s1", "kinds": "identical samples", "evidence": "2000 of 2000 samples byte-identical"}
    ]
    assert (tmp_path / "grades.histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_a_folder_that_cannot_be_listed_is_refused_with_the_reason(tmp_path, rubric, monkeypatch):
    """The same path as a folder without read permission, for runs as root (who reads every folder)."""
    import grader.safe

    (tmp_path / "locked/sub").mkdir(parents=True)

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(grader.safe.os, "scandir", refuse)
    assert folder_problem(tmp_path / "locked", rubric["limits"]) == "unreadable (PermissionError: Permission denied)"


def test_a_grading_folder_made_a_link_is_not_written_through(tmp_path, rubric):
    """The report goes to FOLDER/grading by default: a submission that makes it a link elsewhere is not graded."""
    from grader.batch import grade_into

    (tmp_path / "sub/gaussian_demo").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "sub/grading").symlink_to(tmp_path / "elsewhere")
    done = Graded("sub")
    assert grade_into(done, tmp_path / "sub", tmp_path / "sub/grading", rubric, refs=None) is None
    assert done.error.endswith("grading is a link: the grader writes its report there and follows no link")
    assert not done.graded and list((tmp_path / "elsewhere").iterdir()) == []


def test_identical_and_near_identical_weights_are_listed_and_independent_ones_are_not(tmp_path, rubric):
    import torch

    from ddpm_lab import weights
    from ddpm_lab.unet import UNet

    schedule, config = (
        lab.schedule(),
        lab.unet(base_channels=8, channel_mults=(1, 2), patch_size=2, full_res_channels=8),
    )

    def handed_in(name, net):
        folder = tmp_path / name / "sample_grid"
        folder.mkdir(parents=True)
        (folder / "weights.safetensors").write_bytes(weights.to_bytes(net, "ema"))
        return evidence_of(Submission(tmp_path / name, rubric["limits"]), name, 32)

    torch.manual_seed(0)
    first = UNet(config, schedule)
    torch.manual_seed(1)
    second = UNet(config, schedule)
    nudged = UNet(config, schedule)
    nudged.load_state_dict(first.state_dict())
    with torch.no_grad():
        for p in nudged.parameters():
            p.add_(torch.randn_like(p) * 0.01 * p.abs().mean())
    other_layout = UNet(lab.unet(base_channels=16, channel_mults=(1, 2), patch_size=2, full_res_channels=8), schedule)
    found = [handed_in("a", first), handed_in("b", second), handed_in("copy", first), handed_in("nudged", nudged)]
    found.append(handed_in("wider", other_layout))
    pairs = kinds(find_copies(found, rubric["copies"]))
    assert pairs[("a", "copy")] == ["identical weights"]
    assert pairs[("a", "nudged")] == ["near-identical weights"] and pairs[("copy", "nudged")] == ["near-identical weights"]
    assert not any("b" in pair or "wider" in pair for pair in pairs)
