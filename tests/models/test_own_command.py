"""Models that also take the command issued at the previous frame (`own_command`): the same numbers
whether they are stepped, run over a sequence feeding back their own outputs, or given those outputs as
recorded commands; the command changes what they say; a takeover written into the state is used; and
the recording, the training batches, the live step (PyTorch and ONNX Runtime) and the simulator's loop
all hand them the command that was really issued."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import make_recording
from timesteer.data import Recording
from timesteer.data.augment import AugmentConfig
from timesteer.data.commands import previous_commands
from timesteer.data.windows import Plan
from timesteer.models import SteeringModel, create_model
from timesteer.sim import EpisodeConfig, run_episode
from timesteer.train import TrainConfig, train
from timesteer.train.batches import BatchStream

MODELS = ["pilotnet", "diffnet", "cnn_gru", "cnn_lstm", "conv3d_lstm"]


def _model(name: str, seed: int = 0) -> SteeringModel:
    torch.manual_seed(seed)
    model = create_model(name, in_shape=(3, 30, 40), outputs=("steering",), own_command=True).eval()
    with torch.no_grad():  # a wider output so that commands fed back make a visible difference
        model.set_normalization([120.0] * 3, [60.0] * 3, [0.05], [0.3])
    return model


@pytest.mark.parametrize("name", MODELS)
def test_stepping_replaying_and_teacher_forcing_agree(name):
    model = _model(name)
    x = torch.randint(0, 256, (2, 6, 3, 30, 40)).float()
    with torch.no_grad():
        replay, state = model(x)  # no commands: its own outputs fed back, frame by frame
        steps, s = [], None
        for t in range(6):
            y, s = model(x[:, t : t + 1], s)
            steps.append(y)
        forced, _ = model(x, commands=torch.cat([torch.zeros(2, 1), replay[:, :-1]], dim=1))
        other, _ = model(x, commands=torch.full((2, 6), 0.3))
    torch.testing.assert_close(torch.cat(steps, dim=1), replay, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(forced, replay, atol=1e-5, rtol=1e-4)
    assert (other - forced).abs().max() > 1e-4  # the command is an input it uses
    torch.testing.assert_close(state[-1], replay[:, -1:])  # the state ends with the last command issued
    reset = SteeringModel.reset_state(state, torch.tensor([True, False]))
    assert float(reset[-1][0]) == 0.0 and float(reset[-1][1]) == float(state[-1][1])


def test_a_takeover_written_into_the_state_is_what_the_next_step_sees():
    model = _model("cnn_gru")
    x = torch.randint(0, 256, (1, 2, 3, 30, 40)).float()
    with torch.no_grad():
        _, s = model(x[:, :1])
        own, _ = model(x[:, 1:], s)
        taken, _ = model(x[:, 1:], SteeringModel.with_command(s, torch.tensor([0.4])))
        forced, _ = model(x, commands=torch.tensor([[0.0, 0.4]]))
    assert (own - taken).abs().max() > 1e-4
    torch.testing.assert_close(taken, forced[:, 1:], atol=1e-5, rtol=1e-4)


def test_a_recordings_commands_are_the_issued_ones_one_frame_late_and_centred_where_a_segment_starts(tmp_path):
    rec = Recording.open(make_recording(tmp_path / "rec", n=40, segments=2))
    prev = previous_commands(rec)  # a human drive: the steering recorded is what was asked
    steer = rec.steering.astype(np.float32)
    starts = [s.start for s in rec.segments]
    assert starts == [0, 20]
    assert prev[0] == 0 and prev[20] == 0
    np.testing.assert_allclose(prev[1:20], steer[:19])
    np.testing.assert_allclose(prev[21:], steer[20:39])


def test_a_mirrored_training_lane_gets_the_mirrored_command():
    frames = np.random.default_rng(0).integers(0, 256, (40, 30, 40, 3), dtype=np.uint8)
    targets = np.linspace(-0.2, 0.2, 40, dtype=np.float32)[:, None]
    commands = np.linspace(0.1, 0.5, 40, dtype=np.float32)
    plan = Plan(starts=np.array([[2, 12, 22, 30]]), reset=np.ones((1, 4), dtype=bool), seq_len=8, warmup=2)
    aug = AugmentConfig(flip=0.5, brightness=0, contrast=0, shadow=0, side_camera=0)
    (batch,) = list(BatchStream([frames], targets, plan, np.random.default_rng(3), aug, commands=commands))
    idx = plan.starts[0][:, None] + np.arange(-2, 8)
    flipped = torch.from_numpy(batch.targets[..., 0].numpy() * targets[idx[:, 2:], 0] < 0).any(dim=1)
    assert flipped.any() and not flipped.all()  # seed 3 mirrors some lanes and not others
    sign = torch.where(flipped, -1.0, 1.0).view(-1, 1)
    torch.testing.assert_close(batch.commands, sign * torch.from_numpy(commands[idx]))


@pytest.fixture(scope="module")
def command_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    rec = make_recording(root / "rec", n=64, size=(30, 40))
    train(TrainConfig(data=str(rec), out=str(root / "run"), model="cnn_gru", model_config={"own_command": True},
                      epochs=1, batch_frames=32, threads=2, progress=False, tensorboard=False))
    return root / "run", rec


def test_trained_it_steps_the_same_in_pytorch_and_onnx_runtime_and_hears_a_takeover(command_run):
    from timesteer.stream.steerer import Steerer

    run, rec = command_run
    frames = np.asarray(Recording.open(rec).frames[:8])
    torch_s = Steerer.from_run(run)
    onnx_s = Steerer.from_run(run, backend="onnx")
    assert torch_s.takes_command and onnx_s.takes_command
    out = {}
    for s in (torch_s, onnx_s):
        ys = []
        for i, f in enumerate(frames):
            ys.append(s.step_shaped(f))
            if i == 3:
                s.issued(0.5)  # something else steered after frame 3
        out[s.backend] = np.array(ys)
    np.testing.assert_allclose(out["onnx"], out["torch"], atol=1e-4)
    plain = Steerer.from_run(run)
    untouched = np.array([plain.step_shaped(f) for f in frames])
    np.testing.assert_allclose(untouched[:4], out["torch"][:4], atol=1e-6)
    assert np.abs(untouched[4:] - out["torch"][4:]).max() > 1e-5


def test_the_simulator_tells_the_driver_every_command_issued_and_shows_it_every_frame():
    seen: list[float] = []
    heard: list[float] = []

    def policy(frame, t_s):
        seen.append(t_s)
        return 0.05

    ep = run_episode(4, EpisodeConfig(laps=0.05, max_seconds=3.0, expert_share=0.5), policy,
                     on_command=heard.append)
    assert len(seen) == len(ep.commands_rad) == len(heard)  # the learner sees frames the expert steers, too
    np.testing.assert_allclose(heard, ep.commands_rad)
    took_over = np.abs(np.asarray(ep.commands_rad) - 0.05) > 1e-9
    assert 0.2 < took_over.mean() < 0.8
