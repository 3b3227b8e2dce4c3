"""`timesteer serve RUN`: drive the Udacity self-driving car simulator with a timesteer model.

The simulator is a Socket.IO client: it sends `telemetry` (`steering_angle`, `throttle`, `speed` as
strings, `image` a base64 JPEG of the centre camera) and expects `steer` (`steering_angle`,
`throttle`, strings) back, or `manual` when its telemetry is empty (the user is driving). It sends the
next telemetry as soon as it gets a reply, so nothing paces it but us.

What its client (the simulator's bundled SocketIO for Unity, `CommandServer.cs`) does, read from its
source and reproduced byte for byte in the tests:
- it opens `/socket.io/?EIO=4&transport=websocket` but speaks the Socket.IO 1/2 packet protocol: it
  never sends the CONNECT packet a Socket.IO 3+ server waits for, so python-socketio 5 would drop its
  events ("connected, but nothing happens"); we connect it to "/" on its first event;
- it pings the server itself (`2`) besides answering the server's pings; we answer with `3`;
- its "open" handler fires twice, so two request chains run on one connection: one Steerer per
  connection, stamping frames with their arrival time, keeps the model on its training clock;
- it formats and parses numbers in the machine's locale (`ToString("N4")`, `float.Parse`): in a locale
  with a decimal comma it sends "12,3456" and would read our "0.1234" as 1234, so we read either and
  answer in the style it uses (and say once how to start it with a dot locale).

Each connection has its own Steerer state and speed controller, reset on connect. Whatever goes wrong
with a message (bad base64, not an image, wrong size, a missing or non-numeric field, a bug) is logged in
one line and answered with a neutral command; the server keeps running.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import socketio
from aiohttp import web
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket
from socketio import packet

from timesteer.config import Range, Threads, validate
from timesteer.data.imaging import decode_image_bytes
from timesteer.errors import InputError, TimesteerError
from timesteer.stream.backends import Backend
from timesteer.stream.preprocessing import Preprocessing
from timesteer.stream.steerer import Steerer
from timesteer.train.run import Which

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
    comma_decimals: bool = False  # the simulator runs in a locale that writes 0,5: answer the same way


@dataclass
class DriveServer:
    """What the Socket.IO handlers call; testable without a network.

    `make_steerer` gives each connection its own Steerer (its own state and clock). Frames are stamped
    with their arrival time: the simulator sends the next telemetry as soon as it has a reply, so the
    Steerer's clock is what keeps a model that uses time at the rate it was trained at."""

    make_steerer: Callable[[], Steerer]
    set_speed: float = 15.0
    clock: Callable[[], float] = time.monotonic
    sessions: dict[str, Session] = field(default_factory=dict)
    warned_locale: bool = False

    def __post_init__(self) -> None:
        probe = self.make_steerer()
        self.pre, self.unit, self.to_rad = probe.pre, probe.unit, probe.to_rad
        self.model_name = getattr(probe.model, "name", probe.backend)

    def connect(self, sid: str) -> None:
        self.sessions[sid] = Session(self.make_steerer(), SpeedPI(self.set_speed))

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
        arrived = self.clock()
        frame, speed, comma = parse_telemetry(data, self.pre)
        if comma and not session.comma_decimals:
            session.comma_decimals = True
            if not self.warned_locale:
                self.warned_locale = True
                log.warning("the simulator writes numbers with a decimal comma (%r): answering the same way. Its "
                            "own reading of numbers follows the machine's locale too; to avoid surprises start it "
                            "with a dot locale (Linux/macOS: LC_ALL=C.UTF-8 ./simulator; Windows: region format "
                            "English (United States))", data.get("speed"))
        # The telemetry's speed is in the simulator's mph, the unit its recordings (and so the model) keep.
        angle = self.to_simulator(session.steerer.step(frame, arrived, speed))
        throttle = session.speed.update(speed)
        session.frames += 1
        return {"steering_angle": format_number(angle, session.comma_decimals),
                "throttle": format_number(throttle, session.comma_decimals)}


def format_number(value: float, comma: bool) -> str:
    """What the simulator's float.Parse reads in its own locale: 0.1234, or 0,1234 where a comma is the
    decimal mark (there a dot would be read as a thousands separator: 0.1234 would become 1234)."""
    text = f"{value:.6f}"
    return text.replace(".", ",") if comma else text


def parse_number(text: Any, field_name: str) -> tuple[float, bool]:
    """A number the simulator sent as a string, in its locale: "12.5", "12,5", "1,234.5" or "1.234,5".
    Returns the value and whether the decimal mark was a comma."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise TelemetryError(f"field {field_name!r}: expected a number, got {text!r:.40}")
    raw = str(text).strip()
    comma = False
    if "," in raw:
        last_comma, last_dot = raw.rfind(","), raw.rfind(".")
        comma = last_comma > last_dot
        raw = raw.replace(".", "").replace(",", ".") if comma else raw.replace(",", "")
    try:
        value = float(raw)
    except ValueError:
        raise TelemetryError(f"field {field_name!r}: expected a number, got {text!r:.40}") from None
    if not math.isfinite(value):
        raise TelemetryError(f"field {field_name!r}: expected a finite number, got {text!r:.40}")
    return value, comma


def parse_telemetry(data: Any, pre: Preprocessing) -> tuple[np.ndarray, float, bool]:
    """(frame, speed, whether the simulator writes decimal commas) from one telemetry message."""
    if not isinstance(data, dict):
        raise TelemetryError(f"expected a JSON object, got {type(data).__name__}")
    for key in ("speed", "image"):
        if key not in data:
            raise TelemetryError(f"missing field {key!r}")
    speed, comma = parse_number(data["speed"], "speed")
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
    return frame, speed, comma


class _PingAnsweringSocket(AsyncSocket):
    """The Udacity client pings the server itself, as Engine.IO 3 clients did (`2`), besides answering the
    server's pings; Engine.IO 4 servers drop such a ping. Answer it with a pong (`3`)."""

    async def receive(self, pkt: eio_packet.Packet) -> None:
        if pkt.packet_type == eio_packet.PING:
            await self.send(eio_packet.Packet(eio_packet.PONG, pkt.data))
            return
        await super().receive(pkt)


class UdacityCompatibleServer(socketio.AsyncServer):
    """python-socketio 5, plus what the Udacity simulator's Socket.IO 1/2 client needs: it never sends
    CONNECT, so its first event connects it to the namespace implicitly (as Socket.IO 2 servers did); and
    its own pings are answered."""

    async def _handle_eio_connect(self, eio_sid, environ):
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and type(sock) is AsyncSocket:
            sock.__class__ = _PingAnsweringSocket
        return await super()._handle_eio_connect(eio_sid, environ)

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
    run: str  # a run directory, or an .onnx file from `timesteer export`
    host: str = "127.0.0.1"  # 0.0.0.0 to accept a simulator on another machine
    port: Annotated[int, Range(1, 65535)] = 4567
    set_speed: Annotated[float, Range(0, 1000)] = 15.0
    checkpoint: Which = "best"
    backend: Backend = "torch"
    threads: Annotated[int, Threads] = 0
    latency_ms: Annotated[float, Range(0, 10_000)] = 0.0  # the car's: a model with lead heads steers with its head

    def __post_init__(self) -> None:
        validate(self)


def drive_server_from_run(cfg: ServeConfig) -> DriveServer:
    if cfg.run.endswith(".onnx"):
        if cfg.latency_ms:  # refused: the file steers with the output chosen at export
            Steerer.load(cfg.run, latency_s=cfg.latency_ms / 1000.0, threads=cfg.threads)
        make = functools.partial(Steerer.from_onnx, cfg.run, cfg.threads)
    else:
        first = Steerer.from_run(cfg.run, cfg.checkpoint, "cpu", cfg.backend, cfg.threads, cfg.latency_ms / 1000.0)
        make = first.sharing  # one loaded model (or ONNX session) for every connection, each its own state and clock
    return DriveServer(make, cfg.set_speed)


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
        log.info("model %s (%s), expecting %dx%d camera images; set speed %.1f; listening on %s:%d",
                 server.model_name, cfg.backend, server.pre.source_width, server.pre.source_height, cfg.set_speed,
                 cfg.host, cfg.port)
        await asyncio.Event().wait()  # until Ctrl-C or a termination signal
    finally:
        await runner.cleanup()
