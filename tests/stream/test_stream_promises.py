"""What export, bench and serve promise: settings refused in one line, a good ONNX file never replaced
by a bad one, and a drive server that answers whatever arrives."""

from __future__ import annotations

import asyncio
import base64
import json
import socket

import pytest
import torch
from aiohttp import ClientSession

from tests.helpers import fails_with_one_line, png_claiming, run_cli, tree_state
from tests.stream.test_server import _serve, telemetry
from timesteer.stream.server import NEUTRAL, ServeConfig, drive_server_from_run


@pytest.mark.parametrize("opset", ["5", "999"])
def test_export_refuses_an_opset_it_cannot_write_and_keeps_the_good_file(stream_runs, tmp_path, capsys, opset):
    good = tmp_path / "good.onnx"
    assert run_cli("export", stream_runs["cnn_gru"], "--onnx", good)[0] == 0
    fails_with_one_line(capsys, "export", stream_runs["cnn_gru"], "--onnx", good, "--opset", opset,
                        watch=(tmp_path,), mentions=("--opset",))


def test_a_failed_export_leaves_the_previous_file(stream_runs, tmp_path, capsys, monkeypatch):
    good = tmp_path / "good.onnx"
    assert run_cli("export", stream_runs["pilotnet"], "--onnx", good)[0] == 0
    before = tree_state(tmp_path)
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("exporter failed half way")

    monkeypatch.setattr(torch.onnx, "export", broken)
    fails_with_one_line(capsys, "export", stream_runs["pilotnet"], "--onnx", good, watch=(tmp_path,),
                        mentions=("good.onnx", "nothing was written"))
    assert tree_state(tmp_path) == before


def test_export_to_a_directory(stream_runs, tmp_path, capsys):
    fails_with_one_line(capsys, "export", stream_runs["pilotnet"], "--onnx", tmp_path, watch=(tmp_path,),
                        mentions=("directory",))


@pytest.mark.parametrize(("args", "option"), [(["--frames", "0"], "--frames"), (["--window", "0"], "--window"),
                                              (["--threads", "0"], "--threads")])
def test_bench_numbers_are_checked(stream_runs, tmp_path, capsys, args, option):
    fails_with_one_line(capsys, "bench", "stream", stream_runs["pilotnet"], *args, watch=(tmp_path,),
                        mentions=(option,))


def test_serve_port_out_of_range(stream_runs, capsys):
    fails_with_one_line(capsys, "serve", stream_runs["pilotnet"], "--port", "70000", mentions=("--port",))


def test_serve_on_a_port_in_use(stream_runs, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        fails_with_one_line(capsys, "serve", stream_runs["pilotnet"], "--port", str(port),
                            mentions=("--port", str(port)))


def test_serve_answers_every_telemetry_however_malformed(stream_runs):
    """Two arguments, a decompression bomb, a list: each gets an answer (neutral), never silence."""
    server = drive_server_from_run(ServeConfig(run=str(stream_runs["cnn_gru"])))
    bomb = base64.b64encode(png_claiming(65000, 65000)).decode()
    messages = [["telemetry", telemetry(0.1), "extra"], ["telemetry", {**telemetry(), "image": bomb}],
                ["telemetry", [1, 2]], ["telemetry", telemetry(0.1)]]

    async def scenario():
        runner, port = await _serve(server)
        answers = []
        async with ClientSession() as http, http.ws_connect(
                f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws:
            await ws.receive_str()
            for m in messages:
                await ws.send_str("42" + json.dumps(m))
            while len(answers) < len(messages):
                msg = await asyncio.wait_for(ws.receive_str(), timeout=20)
                if msg == "2":
                    await ws.send_str("3")
                elif msg.startswith("42"):
                    answers.append(json.loads(msg[2:]))
        await runner.cleanup()
        return answers

    answers = asyncio.run(scenario())
    assert [a[0] for a in answers] == ["steer"] * 4
    assert answers[1][1] == NEUTRAL and answers[2][1] == NEUTRAL
    assert answers[0][1] != NEUTRAL and answers[3][1] != NEUTRAL


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_bench_on_a_gpu_without_one_says_so(stream_runs, tmp_path, capsys):
    fails_with_one_line(capsys, "bench", "stream", stream_runs["pilotnet"], "--device", "cuda", watch=(tmp_path,),
                        mentions=("--device cuda", "no CUDA device"))
