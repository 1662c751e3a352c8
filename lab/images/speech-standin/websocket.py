"""RFC 6455 WebSocket, server side, over the HTTP handler's buffered streams (standard library only).

The stand-in speaks it to Microsoft's Speech SDKs: browsers and the JavaScript SDK (node `ws`) verify the
Sec-WebSocket-Accept value, so it must follow RFC 6455 section 1.3 exactly.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import struct
import threading
from typing import Any

# RFC 6455 section 1.3 (the test vector: key "dGhlIHNhbXBsZSBub25jZQ==" -> "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=").
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Close codes (RFC 6455 section 7.4.1) the stand-in sends.
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007  # what the TTS service sends for a voice it does not have
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")


def valid_key(key: str) -> bool:
    """A Sec-WebSocket-Key is 16 random bytes, base64-encoded (RFC 6455 section 4.1)."""
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        return False


class WebSocketClosed(Exception):
    pass


class ProtocolError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def unmask(data: bytes, mask: bytes) -> bytes:
    # XOR as one big integer: a per-byte Python loop is far too slow for audio streams.
    if not data:
        return data
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


class WebSocket:
    """One connection: any thread may send (a lock keeps frames whole), one reader thread reads."""

    def __init__(self, rfile: Any, wfile: Any) -> None:
        self._rfile = rfile
        self._wfile = wfile
        self._send_lock = threading.Lock()
        self.closed = False

    def send(self, opcode: int, payload: bytes) -> None:
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self._send_lock:
            if self.closed:
                raise WebSocketClosed("close frame already sent")
            self._wfile.write(header + payload)
            self._wfile.flush()

    def send_text(self, text: str) -> None:
        self.send(0x1, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        self.send(0x2, data)

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send a close frame once (code and a UTF-8 reason of at most 123 bytes)."""
        try:
            self.send(0x8, struct.pack("!H", code) + reason.encode("utf-8")[:123])
        except (OSError, WebSocketClosed):
            pass
        self.closed = True

    def _read_exact(self, count: int) -> bytes:
        data = self._rfile.read(count)
        if len(data) != count:
            raise WebSocketClosed("connection closed")
        return data

    def read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        if not second & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
        if length > MAX_MESSAGE_BYTES:
            raise ProtocolError(CLOSE_TOO_BIG, "frame too large")
        mask = self._read_exact(4)
        return bool(first & 0x80), first & 0x0F, unmask(self._read_exact(length), mask)

    def messages(self, sink: queue.Queue[tuple[str, bytes]]) -> None:
        """Reader thread: assemble fragmented messages; hand messages and control frames to the session."""
        kinds = {0x1: "text", 0x2: "binary"}
        parts: list[bytes] = []
        kind = ""
        try:
            while True:
                fin, opcode, payload = self.read_frame()
                if opcode == 0x8:
                    sink.put(("close", payload))
                    return
                if opcode == 0x9:
                    sink.put(("ping", payload))
                    continue
                if opcode == 0xA:
                    continue
                if opcode in kinds:
                    kind, parts = kinds[opcode], []
                elif opcode != 0x0 or not kind:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "unexpected opcode %d" % opcode)
                parts.append(payload)
                if sum(len(part) for part in parts) > MAX_MESSAGE_BYTES:
                    raise ProtocolError(CLOSE_TOO_BIG, "message too large")
                if fin:
                    sink.put((kind, b"".join(parts)))
                    kind, parts = "", []
        except ProtocolError as exc:
            sink.put(("error", struct.pack("!H", exc.code)))
        except (WebSocketClosed, OSError, ValueError):
            sink.put(("eof", b""))
