"""ONNX export: run in ONNX Runtime over a sequence, carrying the state by hand, it matches the Steerer."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from tests.helpers import run_cli
from timesteer.data import Recording
from timesteer.models import list_models
from timesteer.stream import Steerer
from timesteer.stream.export import ExportConfig, export_onnx, read_metadata


@pytest.mark.parametrize("name", list_models())  # a model registered is a model exported (README)
def test_onnx_matches_the_steerer_with_state_carried_by_hand(name, stream_runs, stream_rec, tmp_path):
    path = export_onnx(ExportConfig(run=str(stream_runs[name]), onnx=str(tmp_path / f"{name}.onnx")))
    meta = read_metadata(path)
    assert meta["timesteer.model"] == name and meta["timesteer.steering_unit"] == "normalized"
    assert "crop 6 rows from the top and 4 from the bottom; resize to 30x40" in meta["timesteer.preprocessing"]
    shapes = json.loads(meta["timesteer.state"])["shapes"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    assert inputs == ["frame", *[f"state_{i}" for i in range(len(shapes))]]
    state = [np.zeros(s, np.float32) for s in shapes]
    if "timesteer.distance_ref" in meta:  # motion per distance (the default here): that input starts where told
        assert "timesteer.distance_ref" in json.loads(meta["timesteer.state"])["initial"]
        at = json.loads(meta["timesteer.state"])["distance_input"]
        assert at == len(state) - 1 - int(json.loads(meta["timesteer.own_command"]))  # before the command's
        state[at][:] = float(meta["timesteer.distance_ref"])
    steerer = Steerer.from_run(stream_runs[name])
    frames = Recording.open(stream_rec).frames
    for t in range(15):
        frame = np.asarray(frames[t])
        outs = session.run(None, {"frame": frame, **{f"state_{i}": s for i, s in enumerate(state)}})
        steering, state = outs[0], list(outs[1:])
        assert steering.shape == (1,)
        assert abs(float(steering[0]) - steerer.step_shaped(frame)) < 1e-4, t


def test_cli_export(stream_runs, tmp_path, capsys):
    code, out, err = run_cli("export", stream_runs["cnn_gru"], "--onnx", tmp_path / "m.onnx", capsys=capsys)
    assert code == 0, err
    assert (tmp_path / "m.onnx").stat().st_size > 10_000 and "preprocessing:" in out
    # cnn_gru measures its motion per distance here (a wheel angle with speed): its state does not start at zero.
    ref = float(read_metadata(tmp_path / "m.onnx")["timesteer.distance_ref"])
    assert f"motion per distance: state_3 starts at {ref:.6g}" in out and "x the seconds since the last frame" in out
