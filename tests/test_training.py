import dataclasses
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import (
    TrainingDiverged,
    ema_decay_at,
    learning_rate_at,
    loss_weights,
    new_state,
    run_identity,
    train,
    training_step,
)
from ddpm_lab.unet import UNet, mixed_precision
from tests import lab

TINY = lab.unet(image_size=8, base_channels=8, channel_mults=(1, 2), attention=True)


def tiny_data(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.zeros(n, 1, 8, 8)
    base[:, :, 2:6, 3:5] = 1  # a bar, like a "1"
    return (base + 0.05 * torch.randn(base.shape, generator=g)).clamp(0, 1) * 2 - 1


def schedule():
    return NoiseSchedule.linear(0.9999, 0.98, 50)


def test_loss_falls_on_a_learnable_dataset():
    torch.manual_seed(0)
    state = train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=30, batch_size=16, learning_rate=3e-3, warmup_steps=5))
    assert len(state.history) == 30 and state.epoch == 30
    assert sum(state.history[-5:]) / 5 < 0.7 * sum(state.history[:5]) / 5


def test_resumed_run_ends_bit_for_bit_where_an_uninterrupted_one_does(tmp_path):
    config = lab.train(epochs=4, batch_size=8, checkpoint_every=2, seed=3)
    torch.manual_seed(0)
    straight = train(UNet(TINY), schedule(), tiny_data(), config)

    torch.manual_seed(0)
    first = train(
        UNet(TINY), schedule(), tiny_data(), lab.train(**{**config.__dict__, "epochs": 2}), checkpoint=tmp_path / "state.pt"
    )
    assert first.epoch == 2
    torch.manual_seed(123)  # a fresh process: different init, which the checkpoint overrides
    resumed = train(UNet(TINY), schedule(), tiny_data(), config, checkpoint=tmp_path / "state.pt")
    assert resumed.resumed_from == 2
    assert resumed.history == straight.history  # every epoch exactly once, same values
    for a, b in zip(resumed.model.state_dict().values(), straight.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(resumed.ema.state_dict().values(), straight.ema.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_of_other_settings_model_or_data_is_not_resumed(tmp_path):
    ckpt = tmp_path / "s.pt"
    train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=1, batch_size=8), checkpoint=ckpt)
    assert train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=2, batch_size=8), checkpoint=ckpt).resumed_from == 1
    train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=1, batch_size=8), checkpoint=ckpt)
    assert train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=1, batch_size=16), checkpoint=ckpt).resumed_from == 0
    train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=1, batch_size=8), checkpoint=ckpt)
    wider = UNet(lab.unet(image_size=8, base_channels=16, channel_mults=(1, 2)))
    assert train(wider, schedule(), tiny_data(), lab.train(epochs=1, batch_size=8), checkpoint=ckpt).resumed_from == 0
    train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=1, batch_size=8), checkpoint=ckpt)
    other_data = tiny_data(seed=9)
    assert train(UNet(TINY), schedule(), other_data, lab.train(epochs=1, batch_size=8), checkpoint=ckpt).resumed_from == 0


def test_divergence_stops_at_once_and_keeps_the_last_good_checkpoint(tmp_path):
    ckpt = tmp_path / "state.pt"
    config = lab.train(epochs=2, batch_size=8, checkpoint_every=1)
    train(UNet(TINY), schedule(), tiny_data(), lab.train(epochs=1, batch_size=8, checkpoint_every=1), checkpoint=ckpt)
    good = ckpt.read_bytes()
    data = tiny_data()
    data[5] = float("nan")  # other data: the checkpoint is not resumed, training starts over and diverges
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d+"):
        train(UNet(TINY), schedule(), data, config, checkpoint=ckpt)
    assert ckpt.read_bytes() == good


KILL_SCRIPT = r"""
import sys, torch
from pathlib import Path
from ddpm_lab.schedule import NoiseSchedule
from ddpm_lab.training import train
from ddpm_lab.unet import UNet
from tests import lab
torch.manual_seed(0)
g = torch.Generator().manual_seed(0)
data = torch.rand(64, 1, 8, 8, generator=g) * 2 - 1
config = lab.train(epochs=int(sys.argv[3]), batch_size=8, checkpoint_every=1, seed=1)
state = train(UNet(lab.unet(image_size=8, base_channels=8, channel_mults=(1, 2))), NoiseSchedule.linear(0.9999, 0.98, 50),
              data, config, checkpoint=Path(sys.argv[2]), on_epoch=lambda e, l: print("epoch", e, flush=True))
torch.save({"history": state.history, "model": state.model.state_dict()}, sys.argv[2] + ".final")
"""


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_resumes_with_every_epoch_once(tmp_path, root):
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT)
    ckpt = str(tmp_path / "state.pt")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{root}{os.pathsep}{root / 'scripts'}"}  # for tests.lab
    proc = subprocess.Popen([sys.executable, str(script), str(root), ckpt, "40"], stdout=subprocess.PIPE, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("epoch 3"):
            break
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-epoch, no chance to clean up
    proc.wait()
    assert not os.path.exists(ckpt + ".final")
    subprocess.run([sys.executable, str(script), str(root), ckpt, "6"], check=True, capture_output=True, env=env)
    resumed = torch.load(ckpt + ".final", weights_only=True)
    os.remove(ckpt)
    subprocess.run([sys.executable, str(script), str(root), ckpt, "6"], check=True, capture_output=True, env=env)
    straight = torch.load(ckpt + ".final", weights_only=True)
    assert len(resumed["history"]) == 6
    assert resumed["history"] == straight["history"]
    for k in straight["model"]:
        assert torch.equal(resumed["model"][k], straight["model"][k])


def test_the_learning_rate_warms_up_linearly_then_stays():
    config = lab.train(learning_rate=1e-3, warmup_steps=4)
    assert [learning_rate_at(step, config, 6) for step in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert learning_rate_at(0, lab.train(learning_rate=1e-3, warmup_steps=0), 6) == 1e-3


def test_a_decaying_learning_rate_falls_from_its_peak_to_zero_at_the_last_step():
    for shape, middle in (("cosine", 0.5e-3), ("linear", 0.5e-3)):
        config = lab.train(learning_rate=1e-3, warmup_steps=2, lr_schedule=shape)
        rates = [learning_rate_at(step, config, 102) for step in range(103)]
        assert rates[:3] == pytest.approx([0.5e-3, 1e-3, 1e-3])  # warm-up, then the peak
        assert rates[52] == pytest.approx(middle) and rates[102] == pytest.approx(0, abs=1e-12)
        assert all(a >= b for a, b in zip(rates[2:], rates[3:]))
    cosine = lab.train(learning_rate=1e-3, warmup_steps=0, lr_schedule="cosine")
    assert learning_rate_at(25, cosine, 100) == pytest.approx(1e-3 * (1 + math.cos(math.pi / 4)) / 2)


def test_ema_warm_up_and_loss_weights():
    assert ema_decay_at(0, lab.train(ema_decay=0.999)) == 0.999
    warm = lab.train(ema_decay=0.999, ema_warmup=True)
    assert [ema_decay_at(s, warm) for s in (0, 90)] == pytest.approx([0.1, 0.91]) and ema_decay_at(10**6, warm) == 0.999
    sched, t = schedule(), torch.tensor([1, 25, 50])
    alpha_bar = sched.alpha_bars[t]
    snr = alpha_bar / (1 - alpha_bar)
    assert loss_weights(sched, t, lab.train(), "eps") is None  # the lab's eq. (38)
    torch.testing.assert_close(loss_weights(sched, t, lab.train(), "v"), 1 / alpha_bar)
    min_snr = lab.train(loss_weighting="min_snr", min_snr_gamma=5.0)
    for prediction in ("eps", "v"):
        torch.testing.assert_close(loss_weights(sched, t, min_snr, prediction), snr.clamp(max=5.0) / snr)
    assert snr[0] > 5 > snr[-1]  # the weight is below 1 at small t and 1 at large t
    with pytest.raises(ValueError, match="lr_schedule.*loss_weighting"):
        lab.train(lr_schedule="step", loss_weighting="snr")


def test_a_decaying_run_is_resumed_only_by_a_checkpoint_of_the_same_length():
    model = UNet(TINY)
    same = run_identity(model, schedule(), tiny_data(8), lab.train(epochs=5))
    assert same == run_identity(model, schedule(), tiny_data(8), lab.train(epochs=9))
    cosine = [run_identity(model, schedule(), tiny_data(8), lab.train(epochs=e, lr_schedule="cosine")) for e in (5, 9)]
    assert cosine[0] != cosine[1]


def test_v_prediction_trains_through_the_same_step():
    torch.manual_seed(0)
    config = lab.train(batch_size=8, warmup_steps=1)
    model = UNet(dataclasses.replace(TINY, prediction="v"), schedule())
    state = new_state(model, config)
    losses = [training_step(state, schedule(), tiny_data(8), config).item() for _ in range(3)]
    assert all(math.isfinite(x) for x in losses)


def test_a_training_step_moves_the_weights_and_the_ema_a_non_finite_loss_moves_nothing():
    torch.manual_seed(0)
    config = lab.train(batch_size=8, ema_decay=0.5, warmup_steps=1)
    state = new_state(UNet(TINY), config)
    before = {k: v.clone() for k, v in state.model.state_dict().items()}
    loss = training_step(state, schedule(), tiny_data(8), config)
    assert loss.ndim == 0 and torch.isfinite(loss) and state.step == 1
    after = state.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    ema = state.ema.state_dict()
    assert any(not torch.equal(ema[k], after[k]) and not torch.equal(ema[k], before[k]) for k in before)
    broken = tiny_data(8)
    broken[0] = float("nan")
    snapshot = {k: v.clone() for k, v in state.model.state_dict().items()}
    with pytest.raises(TrainingDiverged, match="epoch 1, step 2"):
        training_step(state, schedule(), broken, config)
    assert all(torch.equal(snapshot[k], v) for k, v in state.model.state_dict().items()) and state.step == 1


def test_the_forward_pass_runs_under_the_precision_asked_for_and_fp32_on_a_cpu_by_default():
    config = lab.train(batch_size=8, warmup_steps=1, epochs=1)
    seen = []

    def watched(precision):
        def forward_precision(device):
            seen.append(device.type)
            return precision(device)

        return forward_precision

    runs = {}
    for name, precision in {
        "default": mixed_precision,
        "bf16": lambda device: torch.autocast(device.type, dtype=torch.bfloat16),
    }.items():
        torch.manual_seed(0)
        runs[name] = train(UNet(TINY, schedule()), schedule(), tiny_data(16), config, precision=watched(precision)).history
    assert seen == ["cpu"] * 4  # once per step: two steps an epoch, two trainings
    torch.manual_seed(0)
    assert train(UNet(TINY, schedule()), schedule(), tiny_data(16), config).history == runs["default"]  # fp32 on a CPU
    assert runs["bf16"] != runs["default"]  # the same draws, rounded otherwise
