"""Lead heads (`--lead-heads-s`): a model also learns the steering for a few latencies ahead (labels less
the latency their recording was made under, pushes corrected at each head's lead), and whoever drives picks
the head nearest the car's latency; `diffnet` and `cnn_gru` get one at 0.1 s by default where the recordings
were made without latency, and a resume and `--init` keep their checkpoint's."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.helpers import make_recording
from timesteer.config import to_dict
from timesteer.data.augment import AugmentConfig, LaneParams, apply
from timesteer.data.recording import Recording
from timesteer.train import TrainConfig, train
from timesteer.train.checkpoint import load_checkpoint, save_checkpoint
from timesteer.train.dataset import lead_index, load_train_data
from timesteer.train.lead_heads import (
    column_for_latency,
    default_lead_heads,
    head_name,
    recorded_latency_s,
    with_default_lead_heads,
)
from timesteer.train.loop import loss_terms
from timesteer.train.run import load_run


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recording(tmp_path_factory.mktemp("heads") / "rec", n=150, segments=2)


def _cfg(rec, out, model="cnn_gru", **kw):
    kw = {"epochs": 1, "progress": False, "augment": AugmentConfig(time_warp=0.0), **kw}
    return TrainConfig(data=str(rec), out=str(out), model=model, threads=1, max_steps_per_epoch=2, batch_frames=32,
                       tensorboard=False, **kw)


def _driven_with_latency(rec, dest, latency_ms):
    """A copy of `rec` whose manifest says it was driven with `latency_ms` (what record-sim writes)."""
    shutil.copytree(rec, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["source"]["details"]["conditions"] = {"noise": 0.0, "latency_ms": latency_ms}
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_the_head_nearest_the_latency_steers():
    leads = [0.0, 0.05, 0.1, 0.15, 0.2]
    assert column_for_latency(leads, 0.0) == 0
    assert column_for_latency(leads, 0.1) == 2
    assert column_for_latency(leads, 0.12) == 2
    assert column_for_latency(leads, 0.13) == 3
    assert column_for_latency(leads, 5.0) == 4, "past the last head: the last"
    assert column_for_latency([0.1, 0.05, 0.1], 0.1) == 0, "a tie goes to the plain steering"
    assert column_for_latency([], 0.1) == 0, "a run from before the heads"


LEADS = (0.05, 0.1, 0.15, 0.2)  # the set the guide suggests


def test_the_default_head_where_the_recordings_were_made_without_latency(rec, tmp_path):
    for model in ("cnn_gru", "diffnet", "pilotnet", "conv3d_lstm"):
        cfg, said = with_default_lead_heads(_cfg(rec, tmp_path / model, model))
        assert cfg.lead_heads_s == default_lead_heads(model), model
        assert (said is not None) == bool(default_lead_heads(model)), model
    assert default_lead_heads("cnn_gru") == (0.1,) and default_lead_heads("pilotnet") == ()
    cfg, said = with_default_lead_heads(_cfg(rec, tmp_path / "a"))
    assert "0.1 s" in said and "--lead-heads-s ''" in said
    # The user's setting is kept, none included.
    assert with_default_lead_heads(_cfg(rec, tmp_path / "c", lead_heads_s=(0.3,))) == \
        (_cfg(rec, tmp_path / "c", lead_heads_s=(0.3,)), None)
    assert with_default_lead_heads(_cfg(rec, tmp_path / "d", lead_heads_s=()))[0].lead_heads_s == ()


def test_no_default_head_where_every_recording_already_leads_by_it(rec, tmp_path):
    late = _driven_with_latency(rec, tmp_path / "late", 100.0)
    cfg, said = with_default_lead_heads(_cfg(late, tmp_path / "a"))
    assert cfg.lead_heads_s == () and "100 ms" in said and "--lead-heads-s 0.1 asks" in said
    half = _driven_with_latency(rec, tmp_path / "half", 50.0)
    assert with_default_lead_heads(_cfg(half, tmp_path / "b"))[0].lead_heads_s == (0.1,), "50 ms: still ahead"
    mixed = TrainConfig.from_dict({**to_dict(_cfg(late, tmp_path / "c")), "data": [str(late), str(rec)]})
    assert with_default_lead_heads(mixed)[0].lead_heads_s == (0.1,), "one clean recording keeps it"


def test_each_head_learns_the_label_its_lead_later_less_the_recordings_latency(rec, tmp_path):
    fps = Recording.open(rec).manifest.fps
    k1, k2 = 2, 5
    heads = (k1 / fps, k2 / fps)
    clean = load_train_data(_cfg(rec, tmp_path / "a", lead_heads_s=heads), ())
    assert clean.outputs == ("steering", head_name(heads[0]), head_name(heads[1]))
    assert clean.steer_leads_s == (0.0, *heads)
    steering = clean.targets[:, 0]
    spans = [(s.start, s.stop) for s in Recording.open(rec).segments]
    assert len(spans) == 2
    for k, column in ((k1, 1), (k2, 2)):
        np.testing.assert_array_equal(clean.targets[:, column], steering[lead_index(len(steering), spans, k)])
        assert not np.array_equal(clean.targets[:, column], steering)
    # Driven under a latency of k1 frames: its labels already lead by k1, so the first head is the label
    # itself and the second leads by k2 - k1.
    late = _driven_with_latency(rec, tmp_path / "late", 1000.0 * k1 / fps)
    assert recorded_latency_s(Recording.open(late).manifest) == pytest.approx(k1 / fps)
    data = load_train_data(_cfg(late, tmp_path / "b", lead_heads_s=heads), ())
    np.testing.assert_array_equal(data.targets[:, 1], data.targets[:, 0])
    np.testing.assert_array_equal(data.targets[:, 2], steering[lead_index(len(steering), spans, k2 - k1)])
    assert data.steer_leads_s == (pytest.approx(k1 / fps), *heads)
    # A head shorter than the recording's latency reads labels from before its frame, inside the segment.
    early = load_train_data(_cfg(late, tmp_path / "c", lead_heads_s=(0.5 / fps,)), ())
    np.testing.assert_array_equal(early.targets[:, 1], steering[lead_index(len(steering), spans, round(0.5 - k1))])
    assert lead_index(10, [(0, 4), (4, 10)], -2).tolist() == [0, 0, 0, 1, 4, 4, 4, 5, 6, 7]


def test_augmentation_moves_every_steering_column_alike():
    frames = torch.zeros(2, 3, 3, 8, 8)
    steer = torch.tensor([[[0.1, 0.2]] * 3, [[0.3, -0.1]] * 3])  # (B=2, T=3, S=2)
    params = LaneParams.identity(2)
    params.flip[:] = [True, False]
    params.camera[:] = [1, 0]  # lane 0 from the left camera
    _, out = apply(frames, steer, params, AugmentConfig(), side_offset=0.05)
    _, plain = apply(frames, steer[..., 0], params, AugmentConfig(), side_offset=0.05)
    torch.testing.assert_close(out[..., 0], plain)
    torch.testing.assert_close(out[1], steer[1], msg="an untouched lane")
    assert out[0, 0, 0] == pytest.approx(-(0.1 + 0.05)) and out[0, 0, 1] == pytest.approx(-(0.2 + 0.05))


def test_the_heads_share_the_steering_loss_and_leave_the_aux_weight_alone():
    out = torch.zeros(1, 2, 4)
    target = torch.tensor([[[1.0, 3.0, 0.0, 2.0]] * 2])  # plain, two heads, speed
    loss, mse = loss_terms(out, target, aux_weight=0.5, steer_columns=3)
    assert mse.item() == pytest.approx(1.0), "the MSE reported is the plain steering's"
    assert loss.item() == pytest.approx((1 + 9 + 0) / 3 + 0.5 * 4)
    loss, _ = loss_terms(out[..., :2], target[..., [0, 3]], aux_weight=0.5)
    assert loss.item() == pytest.approx(1 + 0.5 * 4), "no heads: the loss as before"


def test_a_run_steers_with_the_head_for_its_latency(rec, tmp_path):
    from timesteer.stream.steerer import Steerer

    run_dir = tmp_path / "gru"
    train(_cfg(rec, run_dir, lead_heads_s=LEADS))
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config"]["lead_heads_s"] == list(LEADS)
    assert info["data"]["steer_leads_s"] == [0.0, *LEADS]
    assert info["data"]["outputs"][: len(LEADS) + 1] == ["steering", *map(head_name, LEADS)]
    run = load_run(run_dir)
    shaped = np.array(Recording.open(rec).frames[:6])  # (6, H, W, 3) as trained on
    frames = torch.from_numpy(shaped).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        every, _ = run.model.forward_all(frames)
        assert run.steer_for_latency(0.1) == 0.1
        ahead, _ = run.model(frames)
    torch.testing.assert_close(ahead, every[..., 2])
    assert not torch.allclose(every[..., 2], every[..., 0]), "the head is its own output"
    # Live, through PyTorch and ONNX Runtime: the head for 100 ms, and the plain steering without a latency.
    for backend in ("torch", "onnx"):
        plain = Steerer.from_run(run_dir, backend=backend)
        late = Steerer.from_run(run_dir, backend=backend, latency_s=0.1)
        got_plain = [plain.step_shaped(f) for f in shaped]
        got_late = [late.step_shaped(f) for f in shaped]
        np.testing.assert_allclose(got_plain, every[0, :, 0].numpy(), rtol=1e-3, atol=1e-4, err_msg=backend)
        np.testing.assert_allclose(got_late, every[0, :, 2].numpy(), rtol=1e-3, atol=1e-4, err_msg=backend)
    # A simulator's driver is told its conditions' latency.
    from timesteer.sim.drivers import model_policy

    for latency_ms, column in ((0.0, 0), (100.0, 2), (190.0, 4)):
        driver = model_policy(str(run_dir), latency_ms=latency_ms)
        got = [driver.policy(f, None) for f in shaped]
        np.testing.assert_allclose(got, every[0, :, column].numpy(), rtol=1e-3, atol=1e-4, err_msg=str(latency_ms))


def test_a_default_run_has_its_head_and_resume_and_init_keep_theirs(rec, tmp_path, capsys):
    train(_cfg(rec, tmp_path / "plain", progress=True))
    assert "cnn_gru: a lead head for 0.1 s" in capsys.readouterr().out, "train() says what the default chose"
    info = json.loads((tmp_path / "plain" / "run.json").read_text())
    assert info["data"]["outputs"] == ["steering", head_name(0.1)] and info["config"]["lead_heads_s"] == [0.1]
    train(_cfg(rec, tmp_path / "heads", lead_heads_s=(0.2,)))
    train(_cfg(rec, tmp_path / "heads", epochs=2), resume=True)
    assert json.loads((tmp_path / "heads" / "run.json").read_text())["data"]["outputs"] == ["steering", head_name(0.2)]
    train(_cfg(rec, tmp_path / "from-heads", init=str(tmp_path / "heads")))
    assert json.loads((tmp_path / "from-heads" / "run.json").read_text())["config"]["lead_heads_s"] == [0.2]
    run = tmp_path / "old"
    train(_cfg(rec, run, lead_heads_s=()))
    payload = load_checkpoint(run / "last.pt")  # a run from before the heads: its config does not say
    del payload["train_config"]["lead_heads_s"]
    save_checkpoint(run / "last.pt", payload)
    config = json.loads((run / "run.json").read_text())["config"]
    del config["lead_heads_s"]
    again = train(TrainConfig.from_dict({**config, "epochs": 2}), resume=True)
    assert again.history[-1]["epoch"] == 2
    assert json.loads((run / "run.json").read_text())["data"]["outputs"] == ["steering"]
    # DAgger's rounds start from the round before (--init): its heads, none here.
    train(_cfg(rec, tmp_path / "next", init=str(run)))
    assert json.loads((tmp_path / "next" / "run.json").read_text())["config"]["lead_heads_s"] == []


def test_live_use_picks_the_head_at_export_serve_and_in_a_donkeycar(rec, tmp_path):
    from timesteer.errors import TimesteerError
    from timesteer.integrations.donkey import TimesteerPilot
    from timesteer.stream.export import ExportConfig, export_onnx
    from timesteer.stream.server import ServeConfig, drive_server_from_run
    from timesteer.stream.steerer import Steerer

    run_dir = tmp_path / "gru"
    train(_cfg(rec, run_dir, lead_heads_s=(0.1, 0.2)))
    shaped = np.array(Recording.open(rec).frames[:5])
    want = {}
    for lead in (0.0, 0.1, 0.2):
        steerer = Steerer.from_run(run_dir, latency_s=lead)
        assert steerer.lead_s == lead and steerer.sharing().lead_s == lead
        want[lead] = [steerer.step_shaped(f) for f in shaped]
    assert want[0.1] != want[0.0] and want[0.2] != want[0.1]
    onnx = export_onnx(ExportConfig(run=str(run_dir), onnx=str(tmp_path / "late.onnx"), latency_ms=200.0))
    exported = Steerer.from_onnx(onnx)
    assert exported.lead_s == 0.2
    np.testing.assert_allclose([exported.step_shaped(f) for f in shaped], want[0.2], rtol=1e-3, atol=1e-4)
    with pytest.raises(TimesteerError, match="chosen at export"):
        Steerer.load(onnx, latency_s=0.1)
    with pytest.raises(TimesteerError, match="chosen at export"):
        drive_server_from_run(ServeConfig(run=str(onnx), latency_ms=100.0))
    pilot = TimesteerPilot(run_dir, latency_ms=100.0, max_steering_rad=1.0)
    assert pilot.steerer.lead_s == 0.1
