"""A websocket client that writes what the Udacity simulator's client writes, frame by frame.

The simulator uses websocket-sharp under its SocketIO for Unity: it opens
`/socket.io/?EIO=4&transport=websocket`, sends Socket.IO 1/2 event packets (`42[...]`) without ever
sending CONNECT, pings the server itself (`2`), and fragments any text message longer than 1016 bytes
into a text frame and continuation frames (websocket-sharp's `FragmentLength`). aiohttp's own client
always sends one frame per message, so this one speaks RFC 6455 by hand over a plain socket.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct

FRAGMENT_BYTES = 1016  # websocket-sharp's WebSocket.FragmentLength


class RawWebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str = "/socket.io/?EIO=4&transport=websocket") -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        await writer.drain()
        status = await reader.readuntil(b"\r\n\r\n")
        assert b" 101 " in status.split(b"\r\n")[0], status
        return cls(reader, writer)

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> bytes:
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)  # clients must mask
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    async def send_text(self, text: str, fragment: int | None = FRAGMENT_BYTES) -> None:
        data = text.encode()
        pieces = [data[i : i + fragment] for i in range(0, len(data), fragment)] if fragment else [data]
        pieces = pieces or [b""]
        for k, piece in enumerate(pieces):
            self.writer.write(self._frame(k == len(pieces) - 1, 0x1 if k == 0 else 0x0, piece))
        await self.writer.drain()

    async def receive_text(self, timeout: float = 20.0) -> str:
        """The next text message (reassembling fragments); pings from the server are answered."""
        parts: list[bytes] = []
        while True:
            b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", await self.reader.readexactly(8))[0]
            payload = await self.reader.readexactly(n)
            opcode = b0 & 0x0F
            if opcode == 0x9:  # websocket ping
                self.writer.write(self._frame(True, 0xA, payload))
                continue
            if opcode == 0x8:
                raise ConnectionError("closed by the server")
            parts.append(payload)
            if b0 & 0x80:
                return b"".join(parts).decode()

    async def close(self) -> None:
        self.writer.write(self._frame(True, 0x8, struct.pack(">H", 1000)))
        await self.writer.drain()
        self.writer.close()
