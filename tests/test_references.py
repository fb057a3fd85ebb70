"""The grader's own files: each is what the rubric's SHA-256 says, made by the stage its metrics name, and
measures what the rubric claims of it; numbers that follow from the lab's settings are computed."""

import json
import re

import numpy as np
import pytest
import yaml

from ddpm_lab import data, fid
from ddpm_lab.io import file_digest
from ddpm_lab.schedule import NoiseSchedule
from grader import classifier
from grader.references import HERE, References, ReferenceUnavailable
from grader.runner import load_rubric


@pytest.fixture(scope="module")
def rubric():
    return load_rubric()


@pytest.mark.parametrize("name, stage", [("fid_statistics", "fid_reference"), ("digit_classifier", "digit_classifier")])
def test_each_reference_file_is_the_one_its_stage_wrote_and_recorded(root, rubric, name, stage):
    spec = rubric["references"][name]
    path = HERE / spec["file"]
    record = root / "reports" / stage / "metrics.json"
    assert (HERE / spec["recorded_in"]).resolve() == record.resolve()
    metrics = json.loads(record.read_text())
    assert file_digest(path, "sha256") == metrics["sha256"]
    assert (root / metrics["file"]).resolve() == path.resolve()
    assert metrics["sha256"] not in (root / "grader/rubric.yaml").read_text()  # read from the record, never copied


def test_the_shipped_classifier_recognises_at_least_99_percent_of_the_test_images(root, rubric, mnist_dir):
    refs = References(rubric, fid=False)
    images, labels = data.prepared_split(mnist_dir, "test", 32)
    measured = classifier.accuracy(refs.classifier, images, labels)
    assert measured >= 0.99
    assert measured == pytest.approx(
        json.loads((root / "reports/digit_classifier/metrics.json").read_text())["test_accuracy"], abs=1e-4
    )


def test_the_shipped_statistics_are_of_the_10000_test_images(root, rubric):
    stats = fid.load_statistics(HERE / rubric["references"]["fid_statistics"]["file"])
    assert int(stats["n"]) == 10000 and stats["mu"].shape == (2048,) and stats["sigma"].shape == (2048, 2048)
    assert np.array_equal(stats["sigma"], stats["sigma"].T)
    assert np.linalg.eigvalsh(stats["sigma"]).min() > -1e-3  # a covariance, up to the stored rounding
    metrics = json.loads((root / "reports/fid_reference/metrics.json").read_text())
    assert metrics["n_reference"] == 10000 and metrics["sigma_dtype"] == "float16"
    # what storing Sigma in float16 costs, measured by the stage on the full-precision statistics: well under 0.01
    assert abs(metrics["fid_of_first_2000_vs_stored"] - metrics["fid_of_first_2000_vs_full"]) < 0.01


def test_sqrt_alpha_bar_follows_from_the_lab_settings_not_the_rubric(rubric, root):
    refs = References(rubric, fid=False)
    s = rubric["lab_settings"]["schedule"]
    expected = float(NoiseSchedule.linear(s["alpha_start"], s["alpha_end"], s["steps"]).alpha_bars[s["steps"]].sqrt())
    assert refs.sqrt_alpha_bar(500) == expected == pytest.approx(0.0797, abs=1e-4)
    assert "0.0797" not in (root / "grader/rubric.yaml").read_text()


def test_a_tampered_reference_is_refused(rubric, tmp_path):
    forged = tmp_path / "stats.npz"
    forged.write_bytes((HERE / rubric["references"]["fid_statistics"]["file"]).read_bytes()[:-10])
    tampered = yaml.safe_load(yaml.safe_dump(rubric))
    tampered["references"]["fid_statistics"]["file"] = str(forged)
    with pytest.raises(ReferenceUnavailable, match="SHA-256"):
        _ = References(tampered).fid_statistics


def test_a_reference_without_its_stages_record_is_refused(rubric, tmp_path):
    (tmp_path / "metrics.json").write_text('{"n_train": 60000}')  # a record that names no SHA-256
    for recorded_in in (tmp_path / "missing.json", tmp_path / "metrics.json"):
        tampered = yaml.safe_load(yaml.safe_dump(rubric))
        tampered["references"]["digit_classifier"]["recorded_in"] = str(recorded_in)
        with pytest.raises(
            ReferenceUnavailable, match=re.escape(f"the record of the grader's digit classifier, {recorded_in}, holds no SHA-256")
        ):
            _ = References(tampered, fid=False).classifier
