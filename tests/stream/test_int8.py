"""Int8 convolutions: every model quantises, steers like the float step within the bound it reports, and
an export that strays, lacks frames to calibrate on, or gets the wrong frames is refused in one line."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest

import timesteer.stream.quantize as quantize
from tests.helpers import fails_with_one_line, make_recording, run_cli
from timesteer.data import Recording
from timesteer.errors import TimesteerError
from timesteer.stream import Steerer
from timesteer.stream.export import ExportConfig, export_onnx, read_metadata
from timesteer.train.run import read_run_info


@pytest.mark.parametrize("name", ["pilotnet", "diffnet", "cnn_gru", "cnn_lstm", "rnn", "conv3d_lstm"])
def test_int8_step_quantises_the_convolutions_and_steers_like_the_float_step(name, stream_runs, stream_rec,
                                                                             tmp_path):
    path = export_onnx(ExportConfig(run=str(stream_runs[name]), onnx=str(tmp_path / "m.onnx"), int8=True))
    graph = onnx.load(str(path)).graph
    ops = Counter(n.op_type for n in graph.node)
    convs = ops["Conv"]
    assert convs > 0 and ops["QuantizeLinear"] >= 1 and ops["DequantizeLinear"] >= 2 * convs, ops
    # Only the convolutions: the recurrent matrices stay float.
    quantized_inputs = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    for node in graph.node:
        if node.op_type in ("GRU", "LSTM", "RNN", "MatMul", "Gemm"):
            assert not quantized_inputs & set(node.input), node.op_type
    check = json.loads(read_metadata(path)["timesteer.int8"])
    std = read_run_info(stream_runs[name]).normalization["target_std"][0]
    assert check["check_frames"] >= 20 and check["rmse_vs_float"] <= quantize.MAX_RMSE_FRACTION * std
    # The file steers like the float model, state carried, within the bound it was checked against.
    float_steerer, int8_steerer = Steerer.from_run(stream_runs[name]), Steerer.load(path)
    assert int8_steerer.backend == "onnx-int8"
    frames = Recording.open(stream_rec).frames
    want = np.array([float_steerer.step_shaped(np.asarray(f)) for f in frames[:30]])
    got = np.array([int8_steerer.step_shaped(np.asarray(f)) for f in frames[:30]])
    assert np.sqrt(np.mean((got - want) ** 2)) <= quantize.MAX_RMSE_FRACTION * std


def test_the_steerer_quantises_in_memory(stream_runs, stream_rec):
    steerer = Steerer.from_run(stream_runs["cnn_gru"], backend="onnx-int8")
    assert steerer.backend == "onnx-int8"
    frame = np.asarray(Recording.open(stream_rec).frames[0])
    assert np.isfinite(steerer.step_shaped(frame))


def test_an_int8_step_that_strays_from_the_float_step_is_not_written(stream_runs, tmp_path, monkeypatch):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"an earlier export")
    monkeypatch.setattr(quantize, "MAX_RMSE_FRACTION", 0.0)  # any rounding at all is now too much
    with pytest.raises(TimesteerError, match="away from the float step") as raised:
        export_onnx(ExportConfig(run=str(stream_runs["pilotnet"]), onnx=str(target), int8=True))
    assert str(raised.value).startswith(f"{target}: ")
    assert target.read_bytes() == b"an earlier export"


def test_int8_without_frames_to_calibrate_on_says_how(stream_runs, stream_rec, tmp_path, capsys):
    fails_with_one_line(capsys, "export", stream_runs["cnn_gru"], "--onnx", tmp_path / "m.onnx", "--int8",
                        "--calibrate", tmp_path / "nowhere", watch=(tmp_path,), mentions=("nowhere", "not found"))


def test_int8_calibration_frames_must_match_the_model(stream_runs, tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=40)  # 48x64 frames; the model takes 30x40
    fails_with_one_line(capsys, "export", stream_runs["cnn_gru"], "--onnx", tmp_path / "m.onnx", "--int8",
                        "--calibrate", rec, watch=(tmp_path,), mentions=("30x40x3", "48x64x3"))


def test_cli_export_int8_and_bench_report_it(stream_runs, tmp_path, capsys):
    code, out, err = run_cli("export", stream_runs["cnn_gru"], "--onnx", tmp_path / "m.onnx", "--int8", capsys=capsys)
    assert code == 0, err
    assert "int8 convolutions: steering RMSE" in out
    code, out, err = run_cli("bench", "stream", stream_runs["cnn_gru"], "--frames", "12", "--threads", "1",
                             "--json", capsys=capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["int8_skipped"] is None and result["frames"] == 12
    assert 0 < result["onnx_int8_p50_ms"] <= result["onnx_int8_p99_ms"]
    assert 0 < result["eager_p50_ms"] <= result["eager_p99_ms"]  # the untraced PyTorch step, timed beside it


def test_int8_calibration_on_one_frame_segments_says_how(tmp_path):
    from types import SimpleNamespace

    one_frame = SimpleNamespace(start=0, stop=1, frames=1)  # a recording of one frame (a step of 0 frames before)
    rec = SimpleNamespace(path=tmp_path / "rec", segments=[one_frame], frames=np.zeros((1, 30, 40, 3), np.uint8))
    with pytest.raises(TimesteerError) as raised:
        quantize.frame_chunks(rec, chunks=4)
    assert str(raised.value).startswith(f"{tmp_path / 'rec'}: ") and "longest segment has 1" in str(raised.value)
