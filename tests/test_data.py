import gzip

import numpy as np
import pytest
import torch

from ddpm_lab import data


def test_balanced_indices_take_exactly_the_share_of_each_class():
    labels = np.repeat(np.arange(10), 50)
    idx = data.balanced_indices(labels, 100, seed=0)
    assert len(idx) == 100 and len(set(idx)) == 100
    assert np.all(np.bincount(labels[idx]) == 10)
    assert np.array_equal(idx, data.balanced_indices(labels, 100, seed=0))
    assert not np.array_equal(idx, data.balanced_indices(labels, 100, seed=1))
    rest = data.balanced_indices(labels, 100, seed=0, exclude=idx)
    assert not set(rest) & set(idx)
    with pytest.raises(ValueError, match="multiple of 10"):
        data.balanced_indices(labels, 95, seed=0)


def test_read_idx_roundtrip_and_truncation(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    (tmp_path / "ok").write_bytes(header + arr.tobytes())
    assert np.array_equal(data.read_idx(tmp_path / "ok"), arr)
    (tmp_path / "short").write_bytes(header + arr.tobytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        data.read_idx(tmp_path / "short")


def test_fetch_refuses_a_corrupt_file_and_names_what_it_tried(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in data.MD5:
        (source / name).write_bytes(b"\0\0\x08\x01\0\0\0\x01x")  # valid-looking, wrong checksum
    target = tmp_path / "mnist"
    target.mkdir()
    for name in data.MD5:
        with gzip.open(target / f"{name}.gz", "wb") as f:
            f.write((source / name).read_bytes())
    with pytest.raises(data.MnistUnavailable) as err:
        data.fetch_mnist(target, sources=("local",))
    message = str(err.value)
    assert "tried local" in message and "MD5" in message
    assert not any((target / name).exists() for name in data.MD5)  # nothing unverified left behind


@pytest.mark.slow
def test_fetch_from_a_local_folder_of_gzipped_files(tmp_path, mnist_dir):
    local = tmp_path / "mnist"
    local.mkdir()
    for name in data.MD5:
        with gzip.open(local / f"{name}.gz", "wb") as f:
            f.write((mnist_dir / name).read_bytes())
    assert data.fetch_mnist(local, sources=("local",)) == local
    assert all(data.md5_of(local / name) == md5 for name, md5 in data.MD5.items())


def test_prepare_balanced_resized_and_scaled(mnist_dir):
    sets = data.prepare(mnist_dir, data.SubsetConfig(n_train=100, n_reference=30, n_floor=20, image_size=32, seed=0))
    assert sets["train"].shape == (100, 1, 32, 32) and sets["train"].dtype == np.float32
    assert sets["train"].min() >= -1 and sets["train"].max() <= 1 and sets["train"].min() == -1
    assert np.all(np.bincount(sets["labels"]) == 10)
    assert sets["reference"].shape == (30, 32, 32) and sets["reference"].dtype == np.uint8
    # the training images and FID's uint8 images come from one resize: mapping back loses at most rounding
    back = data.to_uint8(torch.from_numpy(sets["train"])).astype(int)
    assert np.abs(back - sets["train_uint8"]).max() <= 1
