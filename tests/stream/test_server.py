"""The drive server over loopback: a modern Socket.IO client, a client speaking like the Udacity
simulator (EIO=4 URL, no CONNECT packet), two clients at once, and malformed telemetry."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import logging

import numpy as np
import pytest
import socketio
from aiohttp import ClientSession, web
from PIL import Image

from tests.helpers import synthetic_frame
from timesteer.stream.server import (
    NEUTRAL,
    DriveServer,
    ServeConfig,
    TelemetryError,
    build_app,
    drive_server_from_run,
    parse_telemetry,
)


def jpeg_b64(frame: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=95)
    return base64.b64encode(buf.getvalue()).decode()


def telemetry(steer: float = 0.0, speed: str = "10.5", frame: np.ndarray | None = None) -> dict:
    frame = synthetic_frame(steer, 48, 64) if frame is None else frame
    return {"steering_angle": "0.0", "throttle": "0.2", "speed": speed, "image": jpeg_b64(frame)}


@pytest.fixture()
def server(stream_runs) -> DriveServer:
    return drive_server_from_run(ServeConfig(run=str(stream_runs["cnn_gru"])))


def test_malformed_telemetry_is_named(server):
    pre = server.pre
    good = telemetry()
    cases = [
        ("not a dict", "expected a JSON object"),
        ({k: v for k, v in good.items() if k != "image"}, "missing field 'image'"),
        ({**good, "speed": "fast"}, "field 'speed': expected a number"),
        ({**good, "image": "%%%not base64%%%"}, "not valid base64"),
        ({**good, "image": base64.b64encode(b"plain text, no picture").decode()}, "not a decodable image"),
        ({**good, "image": jpeg_b64(np.zeros((40, 80, 3), np.uint8))}, "80x40 image, the model expects 64x48"),
    ]
    for data, message in cases:
        with pytest.raises(TelemetryError, match=message):
            parse_telemetry(data, pre)
    frame, speed, comma = parse_telemetry(good, pre)
    assert frame.shape == (48, 64, 3) and speed == 10.5 and not comma


def test_each_connection_has_its_own_state(server):
    server.connect("a")
    server.connect("b")
    for _ in range(3):
        server.telemetry("a", telemetry(0.4))
    out_b = server.telemetry("b", telemetry(0.4))
    fresh = DriveServer(server.make_steerer)
    assert out_b == fresh.telemetry("x", telemetry(0.4))  # b's first frame is like anyone's first frame
    assert server.sessions["a"].frames == 3 and server.sessions["b"].frames == 1
    assert server.sessions["a"].steerer is not server.sessions["b"].steerer
    server.connect("a")  # reconnect resets
    assert server.sessions["a"].frames == 0


async def _serve(server: DriveServer):
    runner = web.AppRunner(build_app(server))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, port


def test_socketio_clients_over_loopback(server, caplog):
    # The server stamps each frame with its clock, and a model that uses time steps only when a frame at its
    # training rate is due: with the wall clock, whether a client's second frame steps the model depends on
    # how fast the machine answered (in one CI run it did for one client and not the other). Each message
    # here arrives one training period after the one before, so every frame steps, whatever the machine's speed.
    period_s = server.make_steerer().period_s  # the connections' steerers all keep the model's training clock
    assert period_s is not None
    ticks = itertools.count()
    server.clock = lambda: next(ticks) * period_s

    async def scenario():
        runner, port = await _serve(server)
        url = f"http://127.0.0.1:{port}"
        clients = [socketio.AsyncClient(), socketio.AsyncClient()]
        replies: list[list[tuple[str, dict]]] = [[], []]
        def recorder(box: list, event: str):
            return lambda data: box.append((event, data))

        for client, box in zip(clients, replies, strict=True):
            for event in ("steer", "manual"):
                client.on(event, recorder(box, event))
            await client.connect(url, transports=["websocket"])
        # Two clients at once, each a few good frames; then an empty and a malformed message.
        await asyncio.gather(*[c.emit("telemetry", telemetry(0.3)) for c in clients])
        await asyncio.gather(*[c.emit("telemetry", telemetry(-0.3)) for c in clients])
        await clients[0].emit("telemetry", {})
        await clients[1].emit("telemetry", {**telemetry(), "image": "not base64!"})
        await clients[1].emit("telemetry", telemetry(0.1))  # still served after the bad message
        for _ in range(100):
            if len(replies[0]) >= 3 and len(replies[1]) >= 4:
                break
            await asyncio.sleep(0.05)
        for c in clients:
            await c.disconnect()
        await runner.cleanup()
        return replies

    with caplog.at_level(logging.ERROR, logger="timesteer.serve"):
        replies = asyncio.run(scenario())
    a, b = replies
    assert [ev for ev, _ in a] == ["steer", "steer", "manual"]
    assert [ev for ev, _ in b] == ["steer", "steer", "steer", "steer"]
    assert b[2][1] == NEUTRAL
    for _, data in a[:2] + b[:2] + b[3:]:
        assert -1.0 <= float(data["steering_angle"]) <= 1.0 and -1.0 <= float(data["throttle"]) <= 1.0
    # Same frames, separate states: both clients got the same answers.
    assert a[:2] == b[:2]
    assert any("not valid base64" in r.message for r in caplog.records)


def test_a_client_speaking_like_the_udacity_simulator(server):
    """The simulator's Unity client opens /socket.io/?EIO=4&transport=websocket and sends Socket.IO 2
    packets: events straight away, never a CONNECT; it answers the server's pings."""

    async def scenario():
        runner, port = await _serve(server)
        answers = []
        async with ClientSession() as http, http.ws_connect(
                f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket") as ws:
            opened = await ws.receive_str()
            assert opened.startswith("0{") and "sid" in json.loads(opened[1:])
            await ws.send_str("42" + json.dumps(["telemetry", telemetry(0.2)]))
            await ws.send_str("42" + json.dumps(["telemetry", {}]))
            await ws.send_str("42" + json.dumps(["telemetry", {"speed": "1"}]))
            while len(answers) < 3:
                msg = await asyncio.wait_for(ws.receive_str(), timeout=10)
                if msg == "2":  # Engine.IO ping: the simulator answers pong
                    await ws.send_str("3")
                elif msg.startswith("42"):
                    answers.append(json.loads(msg[2:]))
        await runner.cleanup()
        return answers

    answers = asyncio.run(scenario())
    assert [a[0] for a in answers] == ["steer", "manual", "steer"]
    assert set(answers[0][1]) == {"steering_angle", "throttle"} and isinstance(answers[0][1]["steering_angle"], str)
    assert answers[2][1] == NEUTRAL
