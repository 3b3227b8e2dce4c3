"""`serve` against what the Udacity simulator's client really sends: events before the OPEN packet is
read, text fragmented at 1016 bytes, its own pings, `telemetry` with null (manual driving), two request
chains on one connection, numbers with decimal commas, and real 320x160 frames from the shared drive."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import numpy as np
import pytest

from tests.helpers import synthetic_frame
from tests.stream.test_server import _serve, jpeg_b64, telemetry
from tests.stream.udacity_client import FRAGMENT_BYTES, RawWebSocket
from timesteer.stream.server import NEUTRAL, ServeConfig, drive_server_from_run


def event(name: str, data) -> str:
    return "42" + json.dumps([name, data])


async def _answers(ws: RawWebSocket, count: int) -> tuple[list, list[str]]:
    """(Socket.IO events from the server until `count` have come, the other packets); pings answered."""
    events, other = [], []
    while len(events) < count:
        msg = await ws.receive_text()
        if msg == "2":
            await ws.send_text("3")
        elif msg.startswith("42"):
            events.append(json.loads(msg[2:]))
        else:
            other.append(msg)
    return events, other


def run_scenario(server, scenario):
    async def main():
        runner, port = await _serve(server)
        try:
            return await scenario(port)
        finally:
            await runner.cleanup()

    return asyncio.run(main())


@pytest.fixture()
def server(stream_runs):
    return drive_server_from_run(ServeConfig(run=str(stream_runs["cnn_gru"])))


def test_events_before_open_is_read_fragmented_text_and_manual_mode(server):
    noisy = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)  # a JPEG of several kB
    big = telemetry(0.3, frame=noisy)
    assert len(event("telemetry", big)) > 3 * FRAGMENT_BYTES  # really fragmented

    async def scenario(port):
        ws = await RawWebSocket.connect(port)
        # The simulator emits straight away, without waiting for the server's OPEN packet.
        await ws.send_text(event("telemetry", big))
        await ws.send_text('42["telemetry",null]')
        await ws.send_text(event("telemetry", {}))
        replies = await _answers(ws, 3)
        await ws.close()
        return replies

    replies, other = run_scenario(server, scenario)
    assert other[0].startswith("0{")  # the OPEN packet, read only now
    assert [r[0] for r in replies] == ["steer", "manual", "manual"]
    assert replies[0][1] != NEUTRAL


def test_the_clients_own_ping_is_answered(server):
    async def scenario(port):
        ws = await RawWebSocket.connect(port)
        assert (await ws.receive_text()).startswith("0{")
        await ws.send_text("2")
        answer = await ws.receive_text()
        await ws.close()
        return answer

    assert run_scenario(server, scenario) == "3"


def test_two_request_chains_on_one_connection_keep_the_training_clock(server):
    """The simulator's open handler fires twice: two chains, each sending the next telemetry as soon as
    its answer comes. Every message is answered, and the model advances at most at its training rate."""
    clock = {"t": 0.0}
    server.clock = lambda: clock["t"]

    async def scenario(port):
        ws = await RawWebSocket.connect(port)
        assert (await ws.receive_text()).startswith("0{")
        await ws.send_text(event("telemetry", telemetry(0.1)))
        await ws.send_text(event("telemetry", telemetry(0.1)))
        answered = 0
        while answered < 40:
            msg = await ws.receive_text()
            if msg.startswith("42"):
                answered += 1
                clock["t"] += 0.02  # 50 answers a second: 5x the training rate of 10 fps
                if answered <= 38:
                    await ws.send_text(event("telemetry", telemetry(0.1)))
        (session,) = server.sessions.values()
        await ws.close()
        return answered, session

    answered, session = run_scenario(server, scenario)
    assert answered == 40 and session.frames == 40
    assert 6 <= session.steerer.frames_seen <= 10  # 40 frames over 0.8 s at 10 fps: about 8 steps


def test_decimal_commas_are_read_and_answered_in_kind(server, caplog):
    with caplog.at_level(logging.WARNING, logger="timesteer.serve"):
        comma = server.telemetry("a", {**telemetry(0.2), "speed": "12,5000", "throttle": "0,3000"})
        server.telemetry("a", {**telemetry(0.2), "speed": "13,0000"})
        dot = server.telemetry("b", telemetry(0.2))
    assert "," in comma["steering_angle"] and "." not in comma["steering_angle"]
    assert float(comma["throttle"].replace(",", ".")) == pytest.approx(0.1 * (15 - 12.5) + 0.002 * 2.5)
    assert "." in dot["steering_angle"] and "," not in dot["steering_angle"]
    advice = [r for r in caplog.records if "decimal comma" in r.message]
    assert len(advice) == 1 and "LC_ALL" in advice[0].message


@pytest.mark.slow
def test_real_simulator_frames_from_the_shared_drive(track1, tmp_path):
    """A model trained on the shared drive's 320x160 frames (imported at 66x200 with a crop) is served
    the drive's own JPEGs exactly as the simulator sends them."""
    from tests.helpers import run_cli

    rec = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", track1, rec, "--size", "66x200", "--crop", "60,20", "--quiet")[0] == 0
    assert run_cli("train", "--data", rec, "--out", tmp_path / "run", "--model", "cnn_gru", "--epochs", "1",
                   "--max-steps-per-epoch", "2", "--threads", "2", "--quiet", "--no-tensorboard")[0] == 0
    server = drive_server_from_run(ServeConfig(run=str(tmp_path / "run")))
    images = sorted((track1 / "IMG").glob("center_*.jpg"))[:12]
    messages = [{"steering_angle": "0.0000", "throttle": "0.0000", "speed": "30.1900",
                 "image": base64.b64encode(p.read_bytes()).decode()} for p in images]

    async def scenario(port):
        ws = await RawWebSocket.connect(port)
        for m in messages:
            await ws.send_text(event("telemetry", m))
        replies, _ = await _answers(ws, len(messages))
        await ws.close()
        return replies

    steer = run_scenario(server, scenario)
    assert len(steer) == len(messages) and all(r[1] != NEUTRAL for r in steer)
    assert all(-1 <= float(r[1]["steering_angle"]) <= 1 for r in steer)


def test_frames_for_another_camera_size_get_a_neutral_answer(server):
    wrong = {**telemetry(), "image": jpeg_b64(synthetic_frame(0.0, 160, 320))}
    assert server.telemetry("a", telemetry()) != NEUTRAL
    with pytest.raises(Exception, match="320x160 image, the model expects 64x48"):
        server.telemetry("a", wrong)
