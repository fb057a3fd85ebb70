import errno

import numpy as np
import pytest

from ddpm_lab import io


def test_failed_write_leaves_the_previous_output_intact_and_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    io.write_json(target, {"fid": 1.0})
    before = target.read_bytes()

    with pytest.raises(OSError):
        with io.atomic_path(target) as tmp:
            tmp.write_bytes(b'{"fid": 2')  # half of the new output, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_npz_is_byte_identical_for_identical_arrays(tmp_path):
    import time

    io.write_npz(tmp_path / "a.npz", x=np.arange(1000), y=np.eye(3, dtype=np.float32))
    time.sleep(2.1)  # zip timestamps have 2-second resolution
    io.write_npz(tmp_path / "b.npz", x=np.arange(1000), y=np.eye(3, dtype=np.float32))
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as f:
        assert f["y"].dtype == np.float32 and f["x"].sum() == 499500


def test_writes_replace_whole_files_with_ordinary_permissions(tmp_path):
    io.write_npz(tmp_path / "a.npz", x=np.arange(3))
    io.write_npz(tmp_path / "a.npz", x=np.arange(5))
    with np.load(tmp_path / "a.npz") as f:
        assert f["x"].tolist() == [0, 1, 2, 3, 4]
    assert (tmp_path / "a.npz").stat().st_mode & 0o044 == 0o044  # readable by others, like any output


def test_json_refuses_nan_rather_than_writing_invalid_json(tmp_path):
    with pytest.raises(ValueError):
        io.write_json(tmp_path / "m.json", {"fid": float("nan")})
    assert not (tmp_path / "m.json").exists()


def test_same_tensors_same_bytes(tmp_path):
    import torch

    state = {"w": torch.arange(6.0).reshape(2, 3)}
    io.torch_save(tmp_path / "a.pt", state)
    io.torch_save(tmp_path / "b.pt", {"w": state["w"].clone()})
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    assert torch.equal(torch.load(tmp_path / "a.pt", weights_only=True)["w"], state["w"])
