"""A grade tied to the student and to the model they trained (grader/identity.py, grader/checks/run.py,
grader/checks/regenerate.py): the committed run passes under its own seed, and each forgery fails the check it forges, on a
copy of the committed reports. The grader's random picks are fixed here (draw seed 0), so that regenerations are
computed once per session."""

import json

import numpy as np
import pytest
import torch

from ddpm_lab import weights
from grader.checks import FAILED, NOT_RUN
from grader.identity import Identity, IdentityError, from_gradescope, id_from_folder, read_roster, seed_for
from grader.references import References
from grader.runner import grade, verdict_line

TIED = ("run.seed", "run.seeded_draws", "task6.grid_regenerates", "task7.samples_regenerate", "task6.loss_matches_weights")
COMMITTED = Identity.of_seed(0)  # the committed run is the instructor's, seed 0


@pytest.fixture(scope="session")
def refs(rubric, mnist_dir):
    return References(rubric, mnist_dir=mnist_dir, fid=False, draw_seed=0)


def by_name(results):
    return {r.name: r for r in results}


def rewrite_npz(path, **arrays):
    with np.load(path) as f:
        kept = dict(f)
    np.savez(path, **(kept | arrays))


def test_the_committed_run_is_tied_to_its_seed_its_weights_and_its_loss(good, rubric, refs):
    results = by_name(grade(good, rubric, refs, COMMITTED))
    for name in TIED:
        assert results[name].passed, (name, results[name].measured)
    assert "draw seed 0" in results["task7.samples_regenerate"].expected


def test_without_an_id_the_seed_is_not_checked_and_the_verdict_says_so(good, rubric, refs):
    results = grade(good, rubric, refs)
    seed = by_name(results)["run.seed"]
    assert seed.status == NOT_RUN and "no student id given" in seed.measured
    assert verdict_line(results).startswith("INCOMPLETE: ") and "run.seed" in verdict_line(results)


def test_another_students_seed_fails_and_the_roster_names_whose_it_is(good, rubric, refs):
    alice = seed_for("alice")
    seed = by_name(grade(good, rubric, refs, Identity.of_student("alice", "--student-id")))["run.seed"]
    assert seed.status == FAILED and f"seed 0, not alice's seed {alice} (--student-id)" in seed.measured
    roster = {"alice": alice, "bob": 0}
    seed = by_name(grade(good, rubric, refs, Identity.of_student("alice", "the folder's name", roster)))["run.seed"]
    assert seed.status == FAILED and "0 is the seed of bob on the roster" in seed.measured
    stranger = by_name(grade(good, rubric, refs, Identity.of_student("mallory", "the folder's name", roster)))["run.seed"]
    assert stranger.status == NOT_RUN and "'mallory' (the folder's name) is not on the roster" in stranger.measured


def test_the_committed_run_relabelled_with_a_students_seed_fails_every_redraw(good, rubric, refs):
    alice = seed_for("alice")
    for stage in rubric["tasks"]["run"]["checks"]["seed"]["stages"]:
        path = good / stage / "metrics.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "seed": alice}))
    results = by_name(grade(good, rubric, refs, Identity.of_student("alice", "--student-id")))
    assert results["run.seed"].passed  # the claim is alice's ...
    draws = results["run.seeded_draws"]  # ... but nothing was drawn with it
    assert draws.status == FAILED
    for what in ("Task 1's samples", "Task 2's data", "the subset (", "the forward demo's noise"):
        assert what in draws.measured, what
    assert results["task6.grid_regenerates"].status == FAILED and results["task7.samples_regenerate"].status == FAILED


def test_swapped_samples_fail_to_regenerate_and_are_named(good, rubric, refs):
    with np.load(good / "fid/samples.npz") as f:
        fid = f["images"]
    rewrite_npz(good / "fid/samples.npz", images=fid[::-1].copy())
    rewrite_npz(good / "sample_grid/samples.npz", images=fid[:64].copy())  # the FID's first samples as the grid
    results = by_name(grade(good, rubric, refs, COMMITTED))
    for name in ("task6.grid_regenerates", "task7.samples_regenerate"):
        assert results[name].status == FAILED and "did not regenerate (#" in results[name].measured, name


def test_jittered_real_images_pass_as_digits_but_fail_to_regenerate(good, rubric, refs):
    test_images = refs.test_images[0]
    rng = np.random.default_rng(0)
    n = len(np.load(good / "fid/samples.npz")["images"])
    shifted = np.stack([np.roll(img, tuple(rng.integers(-2, 3, 2)), axis=(0, 1)) for img in test_images[:n]])
    rewrite_npz(good / "fid/samples.npz", images=shifted)
    rewrite_npz(good / "sample_grid/samples.npz", images=shifted[-64:].copy())
    results = by_name(grade(good, rubric, refs, COMMITTED))
    assert results["task7.digits_recognised"].passed and results["task7.not_training_copies"].passed
    assert results["task6.grid_regenerates"].status == FAILED and results["task7.samples_regenerate"].status == FAILED


def test_weights_changed_after_sampling_fail_to_regenerate(good, rubric, refs):
    path = good / "sample_grid/weights.safetensors"
    net = weights.from_bytes(path.read_bytes(), refs.schedule)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.02 * p.std().nan_to_num(0))
    path.write_bytes(weights.to_bytes(net, "ema"))
    results = by_name(grade(good, rubric, refs, COMMITTED))
    assert results["task6.grid_regenerates"].status == FAILED and results["task7.samples_regenerate"].status == FAILED


def test_weights_that_do_not_fit_their_config_or_are_a_pickle_fail_with_one_line(good, rubric, refs):
    path = good / "sample_grid/weights.safetensors"
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    head = json.loads(data[8 : 8 + size])
    described = json.loads(head["__metadata__"]["ddpm_lab.unet"])
    config = described["unet_config"]
    described["unet_config"] = config | {"base_channels": config["base_channels"] * 2}
    head["__metadata__"]["ddpm_lab.unet"] = json.dumps(described)
    text = json.dumps(head).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size :])
    result = by_name(grade(good, rubric, refs, COMMITTED))["task6.grid_regenerates"]
    assert result.status == FAILED and "do not fit the U-Net it declares" in result.measured
    torch.save({"ema": {}}, path)  # a pickle: never loaded
    result = by_name(grade(good, rubric, refs, COMMITTED))["task7.samples_regenerate"]
    assert result.status == FAILED and result.measured.startswith("sample_grid/weights.safetensors:")


def test_a_loss_curve_of_another_recipe_does_not_fit_the_weights(good, rubric, refs):
    lines = (good / "train/loss.csv").read_text().splitlines()
    # the curve of a run whose loss ended 1.5x higher (a shorter run, or another network), epochs kept
    rows = [f"{e},{float(v) * 1.5!r}" for e, v in (line.split(",") for line in lines[1:])]
    (good / "train/loss.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    result = by_name(grade(good, rubric, refs, COMMITTED))["task6.loss_matches_weights"]
    assert result.status == FAILED and "logged" in result.measured


def test_the_roster_and_gradescope_metadata_name_the_student(tmp_path):
    (tmp_path / "seeds.csv").write_text(f"student_id,seed\nalice,{seed_for('alice')}\nbob,12\n")
    assert read_roster(tmp_path / "seeds.csv") == {"alice": seed_for("alice"), "bob": 12}
    (tmp_path / "bad.csv").write_text("student_id,seed\nalice,x\n")
    with pytest.raises(IdentityError, match="line 2: seed 'x' is not an integer"):
        read_roster(tmp_path / "bad.csv")
    assert id_from_folder(tmp_path / "subs/alice/reports") == "alice" and id_from_folder(tmp_path / "subs/bob") == "bob"
    meta = tmp_path / "submission_metadata.json"
    meta.write_text(json.dumps({"users": [{"email": "alice@uni.example", "sid": "s123", "name": "Alice"}]}))
    assert from_gradescope(meta, "email").seed == seed_for("alice@uni.example")
    assert from_gradescope(meta, "sid").student_id == "s123"
    meta.write_text(json.dumps({"users": [{"email": "alice@uni.example", "sid": None}]}))
    assert from_gradescope(meta, "sid").seed is None and "has no sid" in from_gradescope(meta, "sid").problem
    assert from_gradescope(tmp_path / "missing.json", "email").seed is None


def test_the_same_weights_give_the_same_bytes(good, refs):
    data = (good / "sample_grid/weights.safetensors").read_bytes()
    net = weights.from_bytes(data, refs.schedule)
    assert all(weights.to_bytes(net, "ema") == data for _ in range(5))  # a stage rerun changes nothing
