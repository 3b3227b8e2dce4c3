"""`timesteer serve RUN`: drive the Udacity self-driving car simulator with a timesteer model.

The simulator is a Socket.IO client: it sends `telemetry` (`steering_angle`, `throttle`, `speed` as
strings, `image` a base64 JPEG of the centre camera) and expects `steer` (`steering_angle`,
`throttle`) back, or `manual` when its telemetry is empty (the user is driving).

Protocol notes. The simulator's Unity client (Fabio Panettieri's SocketIO for Unity) opens
`/socket.io/?EIO=4&transport=websocket` but speaks the Socket.IO 1/2 packet protocol: it never sends
the CONNECT packet that Socket.IO 3+ servers wait for, so with python-socketio 5 its events would be
dropped as "not connected to namespace /"; with older servers that only accept EIO=3 it is refused.
We use the maintained python-socketio 5 (over aiohttp) and connect such a client to "/" implicitly on
its first event. Engine.IO: the URL says 4 and 4 is what python-engineio 4 accepts; the client answers
the server's pings, which is all Engine.IO 4 needs to keep the connection open.

Each connection has its own Steerer state and speed controller, reset on connect. Malformed telemetry
(bad base64, not an image, wrong size, missing or non-numeric field) is answered with a logged error
and a neutral command; the server keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import socketio
from aiohttp import web
from socketio import packet

from timesteer.config import NonNegative, Range, validate
from timesteer.data.imaging import decode_image_bytes
from timesteer.errors import InputError, TimesteerError
from timesteer.models import SteeringModel
from timesteer.stream.steerer import Preprocessing, Steerer
from timesteer.train.run import Which, load_run

log = logging.getLogger("timesteer.serve")

UDACITY_MAX_ANGLE_RAD = math.radians(25.0)  # the simulator's steering_angle 1.0
NEUTRAL = {"steering_angle": "0.0", "throttle": "0.0"}
SIO_KEY = web.AppKey("sio", socketio.AsyncServer)


class TelemetryError(ValueError):
    pass


class SpeedPI:
    """The PI throttle controller of Udacity's own drive.py, holding a set speed (the simulator's mph)."""

    def __init__(self, set_speed: float, kp: float = 0.1, ki: float = 0.002) -> None:
        self.set_speed, self.kp, self.ki = set_speed, kp, ki
        self.integral = 0.0

    def update(self, speed: float) -> float:
        error = self.set_speed - speed
        self.integral += error
        return float(np.clip(self.kp * error + self.ki * self.integral, -1.0, 1.0))


@dataclass
class Session:
    steerer: Steerer
    speed: SpeedPI
    frames: int = 0


@dataclass
class DriveServer:
    """What the Socket.IO handlers call; testable without a network."""

    model: SteeringModel
    pre: Preprocessing
    unit: str
    to_rad: float | None
    set_speed: float = 15.0
    sessions: dict[str, Session] = field(default_factory=dict)

    def connect(self, sid: str) -> None:
        self.sessions[sid] = Session(Steerer(self.model, self.pre, self.unit), SpeedPI(self.set_speed))

    def disconnect(self, sid: str) -> None:
        self.sessions.pop(sid, None)

    def to_simulator(self, value: float) -> float:
        """Model output (recording unit) -> the simulator's normalised steering in [-1, 1]."""
        if self.unit == "normalized" and self.to_rad and abs(self.to_rad - UDACITY_MAX_ANGLE_RAD) < 1e-6:
            return float(np.clip(value, -1, 1))
        if self.to_rad:
            return float(np.clip(value * self.to_rad / UDACITY_MAX_ANGLE_RAD, -1, 1))
        return float(np.clip(value, -1, 1))  # unknown scale: taken as already normalised

    def telemetry(self, sid: str, data: Any) -> dict[str, str]:
        if sid not in self.sessions:
            self.connect(sid)
        session = self.sessions[sid]
        frame, speed = parse_telemetry(data, self.pre)
        angle = self.to_simulator(session.steerer.step(frame))
        throttle = session.speed.update(speed)
        session.frames += 1
        return {"steering_angle": repr(angle), "throttle": repr(throttle)}


def parse_telemetry(data: Any, pre: Preprocessing) -> tuple[np.ndarray, float]:
    if not isinstance(data, dict):
        raise TelemetryError(f"expected a JSON object, got {type(data).__name__}")
    for key in ("speed", "image"):
        if key not in data:
            raise TelemetryError(f"missing field {key!r}")
    try:
        speed = float(data["speed"])  # the simulator sends numbers as strings
    except (TypeError, ValueError):
        raise TelemetryError(f"field 'speed': expected a number, got {data['speed']!r}") from None
    if not math.isfinite(speed):
        raise TelemetryError(f"field 'speed': expected a finite number, got {data['speed']!r}")
    try:
        raw = base64.b64decode(data["image"], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise TelemetryError("field 'image': not valid base64") from None
    try:
        image = decode_image_bytes(raw)
    except ValueError as exc:
        raise TelemetryError(f"field 'image': {exc}") from None
    frame = np.asarray(image.convert("RGB"))
    if frame.shape[:2] != (pre.source_height, pre.source_width):
        raise TelemetryError(f"field 'image': {frame.shape[1]}x{frame.shape[0]} image, the model expects "
                             f"{pre.source_width}x{pre.source_height}")
    return frame, speed


class UdacityCompatibleServer(socketio.AsyncServer):
    """python-socketio 5, plus the one thing the Udacity simulator's Socket.IO 1/2 client needs: it never
    sends CONNECT, so its first event connects it to the namespace implicitly (as Socket.IO 2 servers did)."""

    async def _handle_eio_message(self, eio_sid, data):
        if isinstance(data, str) and data[:1] == str(packet.EVENT):
            pkt = self.packet_class(encoded_packet=data)
            namespace = pkt.namespace or "/"
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
            if sid is None or not self.manager.is_connected(sid, namespace):
                await self._handle_connect(eio_sid, namespace, None)
        await super()._handle_eio_message(eio_sid, data)


def build_app(server: DriveServer) -> web.Application:
    sio = UdacityCompatibleServer(async_mode="aiohttp", cors_allowed_origins="*", logger=False,
                                  engineio_logger=False)
    app = web.Application()
    sio.attach(app)

    @sio.event
    async def connect(sid, environ, auth=None):
        server.connect(sid)
        log.info("connected %s (%d open)", sid, len(server.sessions))

    @sio.event
    async def disconnect(sid, reason=None):
        server.disconnect(sid)
        log.info("disconnected %s", sid)

    @sio.on("telemetry")
    async def telemetry(sid, *args):
        # The simulator sends one argument; anything else (none, two, garbage) must still get an answer,
        # or it waits forever for the reply that paces its next telemetry.
        data = args[0] if args else None
        if not data:
            await sio.emit("manual", data={}, to=sid)
            return
        try:
            command = server.telemetry(sid, data)
        except (TelemetryError, InputError) as exc:
            log.error("telemetry from %s: %s; answering with a neutral command", sid, exc)
            command = dict(NEUTRAL)
        except Exception as exc:  # a bug must not silence the car: log one line, answer neutral
            log.error("telemetry from %s: unexpected %s: %s; answering with a neutral command", sid,
                      type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
            command = dict(NEUTRAL)
        await sio.emit("steer", data=command, to=sid)

    app[SIO_KEY] = sio
    return app


@dataclass
class ServeConfig:
    run: str
    host: str = "127.0.0.1"  # 0.0.0.0 to accept a simulator on another machine
    port: Annotated[int, Range(1, 65535)] = 4567
    set_speed: Annotated[float, NonNegative] = 15.0
    checkpoint: Which = "best"

    def __post_init__(self) -> None:
        validate(self)


def drive_server_from_run(cfg: ServeConfig) -> DriveServer:
    run = load_run(cfg.run, cfg.checkpoint, "cpu")
    steer = run.data.steering
    return DriveServer(run.model, Preprocessing.from_run_info(run.info), steer.unit, steer.to_rad,
                       cfg.set_speed)


def serve(cfg: ServeConfig) -> None:
    """Serve until interrupted. A port that cannot be opened is one error line, before anything else."""
    server = drive_server_from_run(cfg)
    asyncio.run(_serve_forever(server, cfg))


async def _serve_forever(server: DriveServer, cfg: ServeConfig) -> None:
    runner = web.AppRunner(build_app(server))
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, cfg.host, cfg.port).start()
        except OSError as exc:
            raise TimesteerError(f"--port {cfg.port}: cannot listen on {cfg.host}:{cfg.port} "
                                 f"({exc.strerror or exc})") from None
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        log.info("model %s, expecting %dx%d camera images; set speed %.1f; listening on %s:%d", server.model.name,
                 server.pre.source_width, server.pre.source_height, cfg.set_speed, cfg.host, cfg.port)
        await asyncio.Event().wait()  # until Ctrl-C or a termination signal
    finally:
        await runner.cleanup()
