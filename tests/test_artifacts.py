"""The contract of ddpm_lab/artifacts.py: every file a stage writes to reports/ round-trips from the stages' writer
to the grader's reader and the student's check, the writer refuses what breaks a declaration, dvc.yaml declares
the same files, and no reader names a reports/ file except through the contract. Fast: no pipeline runs."""

import ast
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from ddpm_lab import artifacts  # noqa: E402
from ddpm_lab.artifacts import Archive, Blob, Figure, Metrics, Table  # noqa: E402
from ddpm_lab.check.reports import Reports  # noqa: E402
from grader.safe import Rejected, Submission, declared  # noqa: E402

SIZE, N = 32, 5
LENGTHS = {"n": N, "size": SIZE, "rows": 3}


def concrete(root: Path) -> list:
    """Every declared artifact, a family of figures expanded at the lab's timesteps (params.yaml)."""
    timesteps = yaml.safe_load((root / "params.yaml").read_text())["forward_demo"]["timesteps"]
    out = []
    for a in artifacts.DECLARED:
        if isinstance(a, Figure) and "{" in a.path:
            out += [a.at(t=t) for t in timesteps if t > 0]
        else:
            out.append(a)
    return out


def example(a, rng: np.random.Generator):
    """Content that fits ``a``'s declaration, different on every call."""
    if isinstance(a, Table):
        return {c: rng.normal(size=7) for c in a.columns}
    if isinstance(a, Archive):
        names = [p.replace("*", str(t)) for p in a.arrays for t in ((0, 100, 500) if "*" in p else (None,))]
        out = {}
        for name in names:
            spec = a.spec(name)
            shape = tuple(LENGTHS[d] if isinstance(d, str) else d for d in spec.shape)
            dtype = np.dtype(spec.dtype)
            out[name] = rng.integers(0, 256, shape).astype(dtype) if dtype.kind == "u" else rng.normal(size=shape).astype(dtype)
        return out
    if isinstance(a, Metrics):
        return {k: float(rng.normal()) for k in a.keys}
    if isinstance(a, Figure):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot(rng.normal(size=5))
        return fig
    return rng.bytes(100)


@pytest.fixture
def written(tmp_path, root):
    rng = np.random.default_rng(0)
    reports = tmp_path / "reports"
    contents = {}
    for a in concrete(root):
        content = example(a, rng)
        contents[a.path] = content
        path = artifacts.write(reports, a, content, **({"size": SIZE} if isinstance(a, Archive) else {}))
        assert path == reports / a.path and path.is_file()
    return reports, contents


def test_every_artifact_round_trips_from_the_stages_writer_to_the_graders_reader(written, root, rubric):
    reports, contents = written
    sub = Submission(reports, rubric["limits"])
    for a in concrete(root):
        content = contents[a.path]
        if isinstance(a, Table):
            read = sub.table(a)
            assert list(read) == list(a.columns)
            for column, values in content.items():
                np.testing.assert_array_equal(read[column], values)  # repr'd floats: exact
        elif isinstance(a, Archive):
            arrays = sub.npz(a.path)
            assert sorted(arrays) == sorted(content)
            for name, value in content.items():
                got = declared(arrays, a, name, size=SIZE)
                assert got.dtype == value.dtype
                np.testing.assert_array_equal(got, value)
        elif isinstance(a, Metrics):
            assert sub.json(a.path) == content
        elif isinstance(a, Figure):
            width, height = sub.image(a.path)
            assert width >= 16 and height >= 16
        else:
            assert isinstance(a, Blob) and sub.read_bytes(a.path) == content


def test_tasks_1_to_4_round_trip_to_the_students_check(written, root, rubric, mnist_dir):
    reports, contents = written
    r = Reports(reports, mnist_dir, rubric)
    for table in (artifacts.GAUSSIAN_SAMPLES, artifacts.GNDM_DATA):
        expected = np.stack([contents[table.path][c] for c in table.columns], axis=1)
        np.testing.assert_array_equal(r.table(table), expected)
    for archive in (artifacts.SUBSET, artifacts.FORWARD):
        arrays = r.arrays(archive)
        assert sorted(arrays) == sorted(contents[archive.path])
        for name, value in contents[archive.path].items():
            np.testing.assert_array_equal(arrays[name], value)
    metrics = artifacts.metrics("gndm_fit")
    assert r.metric("gndm_fit", "learned_mean") == contents[metrics.path]["learned_mean"]


@pytest.mark.parametrize(
    "artifact, content, fragment",
    [
        (artifacts.GAUSSIAN_SAMPLES, {"x1": [0.0], "y": [1.0]}, "columns ('x1', 'y'), declared ('x1', 'x2')"),
        (artifacts.LOSS, {"epoch": [1, 2], "loss": [0.1]}, "columns of lengths [2, 1]"),
        (artifacts.GRID_SAMPLES, {"images": np.zeros((4, SIZE, SIZE), np.float32)}, "dtype float32, declared uint8"),
        (artifacts.GRID_SAMPLES, {"images": np.zeros((4, 28, 28), np.uint8)}, "declared ('n', 'size', 'size') with size = 32"),
        (artifacts.GRID_SAMPLES, {"samples": np.zeros((4, SIZE, SIZE), np.uint8)}, "no array 'images'"),
        (
            artifacts.SUBSET,
            {"images": np.zeros((4, SIZE, SIZE), np.uint8), "labels": np.zeros(3, np.uint8)},
            "declared ('n',) with n = 4",
        ),
        (artifacts.FORWARD, {"x0": np.zeros((SIZE, SIZE), np.float32), "x_100": np.zeros(1)}, "declares no array 'x_100'"),
        (artifacts.metrics("fid"), {"fid": 1.0}, "missing keys"),
        (artifacts.metrics("gaussian_demo"), {**dict.fromkeys(artifacts.metrics("gaussian_demo").keys, 0), "x": 1}, "undeclared"),
    ],
)
def test_the_writer_refuses_content_that_breaks_the_declaration_and_writes_nothing(tmp_path, artifact, content, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        artifacts.write(tmp_path, artifact, content, size=SIZE)
    assert not (tmp_path / artifact.path).exists()


def test_the_grader_refuses_an_array_or_column_that_breaks_the_declaration(tmp_path, rubric):
    from ddpm_lab import io

    io.write_npz(tmp_path / artifacts.SUBSET.path, images=np.zeros((3, SIZE, SIZE), np.int64), labels=np.zeros(3, np.uint8))
    io.write_text(tmp_path / artifacts.LOSS.path, "epoch,mse\n1,0.5\n")
    sub = Submission(tmp_path, rubric["limits"])
    with pytest.raises(Rejected, match=r"mnist_subset/subset.npz images: dtype int64, expected uint8"):
        declared(sub.npz(artifacts.SUBSET.path), artifacts.SUBSET, "images", size=SIZE)
    with pytest.raises(Rejected, match=r"train/loss.csv: no column 'loss'"):
        sub.table(artifacts.LOSS)
    with pytest.raises(KeyError):  # a reader naming an undeclared column is the grader's own bug
        sub.table(artifacts.LOSS, "mse")


def test_a_reader_naming_an_undeclared_metrics_key_fails_at_once():
    assert artifacts.metrics("fid").key("fid") == "fid"
    with pytest.raises(KeyError, match="fid/metrics.json declares no key 'fidd'"):
        artifacts.metrics("fid").key("fidd")


def test_dvc_yaml_declares_exactly_the_contracts_reports(root):
    """Every output of dvc.yaml under reports/ is a declared artifact, and every declared artifact is an output."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    outputs = set()
    for spec in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in spec.get(kind, []):
                path = next(iter(entry)) if isinstance(entry, dict) else entry
                if path.startswith("reports/"):
                    outputs.add(path.removeprefix("reports/"))
    assert outputs == {a.path for a in concrete(root)}


PATH_LITERAL = re.compile(r"\b[a-z_]+/[a-z_0-9{}]+\.(csv|npz|json|png|safetensors)\b")
READERS_AND_WRITERS = ["stages", "grader", "ddpm_lab/check"]
STAGES = {a.path.split("/")[0] for a in artifacts.DECLARED}


def test_no_reader_or_writer_names_a_reports_file_but_the_contract(root):
    """A path like ``fid/samples.npz`` in code (docstrings and comments aside) outside ddpm_lab/artifacts.py would be
    a second declaration that a rename could miss."""
    found = []
    for folder in READERS_AND_WRITERS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                    named = [m.group(0) for m in PATH_LITERAL.finditer(node.value) if m.group(0).split("/")[0] in STAGES]
                    found += [f"{path.relative_to(root)}:{node.lineno}: {n!r}" for n in named]
    assert not found, "\n".join(found)
