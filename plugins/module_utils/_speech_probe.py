# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask a running speech container whether it serves: /ready, /status, and the wire protocols of real queries.

Standard library only (urllib, socket): it runs on the edge host next to the containers.
Protocol pieces here, judgement in _speech_probe_module.py:
- HTTP (no proxy), /ready and /status;
- REST synthesis (speech-container-howto.md: POST /speech/synthesize/cognitiveservices/v1 with SSML);
- RIFF WAV parsing;
- a WebSocket client (RFC 6455) that verifies the handshake's Sec-WebSocket-Accept, as browsers and the
  JavaScript Speech SDK do (node_modules/ws/lib/websocket.js: 'Invalid Sec-WebSocket-Accept header');
- the Speech SDK's USP message framing (common.speech/WebsocketMessageFormatter.js): text messages are
  header lines, an empty line and a body; binary messages are a 2-byte big-endian header length, the header
  lines and the payload.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import socket
import ssl
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    API_STATUSES,
    KINDS,
    READY_PATH,
    SERVING_API_STATUSES,
    STATUS_PATH,
    TTS_REST_PATH,
)

# apiStatus values that will not get better by waiting: fail the rollout at once.
FINAL_API_STATUSES = ("Invalid", "Mismatch", "ContainerUseUnauthorized", "OutOfQuota")
# RFC 6455 section 1.3: the server proves it read the key by hashing it with this GUID.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG = 0x1, 0x2, 0x8, 0x9, 0xA
WS_NORMAL_CLOSURE = 1000
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
KEY_HEADER = "Ocp-Apim-Subscription-Key"  # what the Speech SDKs send with SpeechConfig(host=..., subscription=KEY)


@dataclass
class Transport:
    """How the probe reaches containers behind the speech gateway: TLS with this context, this access key."""

    context: ssl.SSLContext | None = None
    key: str | None = None

    def opener(self) -> Any:
        if self.context is None:
            return _NO_PROXY
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self.context)
        )

    def headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.key} if self.key else {}


# The probe of one module run: set once by the module (speech_probe's tls, ca_cert and access_key options).
TRANSPORT = Transport()


def use_transport(ca_cert: str | None, key: str | None, tls: bool) -> None:
    """https:// and wss:// verified against ca_cert (PEM; the system's CAs when None), the key sent with every request."""
    TRANSPORT.context = ssl.create_default_context(cadata=ca_cert or None) if tls else None
    TRANSPORT.key = key or None


@dataclass
class Probe:
    ready: bool
    ready_code: int | None
    api_status: str | None
    api_status_message: str | None
    error: str | None = None
    # False for kinds without /status (fast transcription documents only its health path): ready is serving.
    status_expected: bool = True

    @property
    def serving(self) -> bool:
        return self.ready and (self.api_status in SERVING_API_STATUSES or not self.status_expected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "ready_code": self.ready_code,
            "api_status": self.api_status,
            "api_status_message": self.api_status_message,
            "error": self.error,
        }


def http_request(
    url: str, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers); HTTP error statuses are returned, not raised. Never uses a proxy."""
    request = urllib.request.Request(
        url,
        data=data,
        headers=dict(TRANSPORT.headers(), **(headers or {})),
        method="POST" if data is not None else "GET",
    )
    try:
        with TRANSPORT.opener().open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers or {})


def probe(
    base_url: str, timeout: float = 3.0, with_status: bool = True, ready_path: str = READY_PATH, request: Any = None
) -> Probe:
    """One look at /ready (or a kind's own ready_path) and (when ready) /status. No connection is not ready.

    request: http_request's stand-in (the answers of a host snapshot, _host_reads.SnapshotHost.request).
    """
    request = request or http_request
    try:
        code, _body, _headers = request(base_url + ready_path, timeout)
    except (OSError, ValueError) as exc:
        return Probe(False, None, None, None, "no answer on %s: %s" % (base_url + ready_path, _reason(exc)))
    if code != 200 or not with_status:
        return Probe(code == 200, code, None, None, status_expected=with_status)
    try:
        code, body, _headers = request(base_url + STATUS_PATH, timeout)
        document = json.loads(body.decode("utf-8", "replace"))
        status = str(document.get("apiStatus"))
        return Probe(True, 200, status, document.get("apiStatusMessage"))
    except (OSError, ValueError, AttributeError) as exc:
        return Probe(True, 200, "Unknown", None, "no JSON from %s: %s" % (base_url + STATUS_PATH, _reason(exc)))


def kind_probe_options(kind_name: str | None) -> dict[str, Any]:
    """How a container of a kind says it serves (catalog): its ready path, and /status when it has one."""
    kind = KINDS.get(kind_name or "")
    return {} if kind is None else {"with_status": kind.has_status, "ready_path": kind.ready_path}


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
    return str(reason) or exc.__class__.__name__


def describe(result: Probe) -> str:
    """Why a container does not serve, in the words an operator searches for."""
    if not result.ready:
        return result.error or "/ready answered %s" % result.ready_code
    hint = {
        "Invalid": "ApiKey rejected by the billing endpoint",
        "Mismatch": "ApiKey belongs to another kind of resource than the Billing endpoint",
        "CouldNotConnect": "the container cannot reach the Billing endpoint (outbound HTTPS 443)",
        "OutOfQuota": "the Speech resource is out of quota",
        "BillingEndpointBusy": "the billing endpoint is busy",
        "ContainerUseUnauthorized": "the key is not allowed to run containers",
    }.get(result.api_status or "", "unexpected apiStatus" if result.api_status not in API_STATUSES else "not serving")
    message = ": %s" % result.api_status_message if result.api_status_message else ""
    return "%s: apiStatus %s%s" % (hint, result.api_status, message)


def synthesize(
    base_url: str, ssml_voice: str, text: str, output_format: str, timeout: float = 30.0, language: str | None = None
) -> tuple[int, bytes]:
    """POST SSML to a text-to-speech container (speech-container-howto.md); (status, body).

    The voice name goes out exactly as given: containers compare it case-sensitively.
    """
    ssml = (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="%s">'
        '<voice name="%s">%s</voice></speak>'
        % (
            _xml_escape(language or "-".join(ssml_voice.split("-")[:2])),
            _xml_escape(ssml_voice),
            _xml_escape(text),
        )
    )
    code, body, _headers = http_request(
        base_url + TTS_REST_PATH,
        timeout,
        data=ssml.encode("utf-8"),
        headers={"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": output_format},
    )
    return code, body


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@dataclass
class Wav:
    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int
    byte_rate: int
    data: bytes


def parse_wav(body: bytes) -> Wav | None:
    """The fmt chunk and the samples of a RIFF WAV, or None when it is not one (or has no data chunk)."""
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    offset = 12
    fmt = None
    while offset + 8 <= len(body):
        chunk, size = body[offset : offset + 4], struct.unpack("<I", body[offset + 4 : offset + 8])[0]
        if chunk == b"fmt " and size >= 16 and offset + 24 <= len(body):
            fmt = struct.unpack("<HHIIHH", body[offset + 8 : offset + 24])
        elif chunk == b"data" and fmt:
            # Streamed WAVs (the Speech SDK's own header, AudioStreamFormat.js) leave the size 0 or wrong.
            end = len(body) if size in (0, 0xFFFFFFFF) else min(len(body), offset + 8 + size)
            return Wav(fmt[0], fmt[1], fmt[2], fmt[5], fmt[3], body[offset + 8 : end])
        offset += 8 + size + (size & 1)
    return None


def wav_summary(body: bytes) -> dict[str, Any] | None:
    """Channels, sample rate, bits and duration of a RIFF WAV, or None when it is not one."""
    wav = parse_wav(body)
    if wav is None:
        return None
    return {
        "channels": wav.channels,
        "sample_rate": wav.sample_rate,
        "bits_per_sample": wav.bits_per_sample,
        "data_bytes": len(wav.data),
        "duration_seconds": round(len(wav.data) / wav.byte_rate, 3) if wav.byte_rate else 0.0,
    }


def websocket_accept(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer for a Sec-WebSocket-Key (RFC 6455 section 1.3)."""
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()).decode("ascii")


class HandshakeError(Exception):
    """The server did not open the WebSocket: status_code is its HTTP status (None: no HTTP answer)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class WebSocketClosed(Exception):
    """The server closed the WebSocket: code and reason of its close frame (code None: no close frame)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__("closed with code %s%s" % (code, ": %s" % reason if reason else ""))
        self.code = code
        self.reason = reason


class WebSocket:
    """A minimal RFC 6455 client for ONE thread: masked frames out, pings answered, `readable()` to interleave.

    One thread both sends and reads, never two: an SSL socket (wss://) must not be written by one thread while
    another reads it - OpenSSL's SSL objects are not thread-safe (openssl/openssl#20446), and Python 3.11's ssl module
    adds no lock; a write racing a read corrupts the TLS stream and the server drops the connection without a close
    frame (python-engineio#461 shows the same spurious disconnects over wss://).
    """

    def __init__(self, sock: socket.socket, leftover: bytes = b"") -> None:
        self.sock = sock
        self._buffer = bytearray(leftover)  # bytes after the handshake's headers, then from the socket

    @classmethod
    def connect(cls, url: str, headers: list[tuple[str, str]], timeout: float) -> WebSocket:
        """Open ws://HOST:PORT/PATH?QUERY with these extra request headers, in order; verify the accept value."""
        parsed = urlparse(url)
        host = parsed.hostname or "127.0.0.1"
        target = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        lines = [
            "GET %s HTTP/1.1" % target,
            "Host: %s" % parsed.netloc,
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: %s" % key,
            "Sec-WebSocket-Version: 13",
        ] + ["%s: %s" % pair for pair in [*TRANSPORT.headers().items(), *headers]]
        secure = parsed.scheme == "wss"
        try:
            sock = socket.create_connection((host, parsed.port or (443 if secure else 80)), timeout=timeout)
            if secure:
                sock = (TRANSPORT.context or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
        except OSError as exc:  # ssl.SSLError is one: a certificate the client does not trust says so here
            raise HandshakeError("no answer on %s: %s" % (url, _reason(exc))) from exc
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
            received = b""
            while b"\r\n\r\n" not in received and len(received) < 65536:
                chunk = sock.recv(8192)
                if not chunk:
                    break
                received += chunk
            head, _sep, leftover = received.partition(b"\r\n\r\n")
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            response_headers: dict[str, str] = {}
            for line in header_lines:
                name, _colon, value = line.partition(":")
                response_headers[name.strip().lower()] = value.strip()
            parts = status_line.strip().split(" ", 2)
            code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
            if code != 101:
                raise HandshakeError(
                    "the WebSocket upgrade of %s was refused: %s" % (url, status_line.strip() or "no HTTP answer"),
                    code,
                )
            expected = websocket_accept(key)
            accept = response_headers.get("sec-websocket-accept")
            if accept != expected:
                raise HandshakeError(
                    "the WebSocket handshake of %s is invalid: Sec-WebSocket-Accept is %s, RFC 6455 section 1.3 "
                    "requires %r for the key sent (browsers and Microsoft's JavaScript Speech SDK refuse this server)"
                    % (url, repr(accept) if accept is not None else "missing", expected),
                    code,
                )
        except HandshakeError:
            sock.close()
            raise
        except (OSError, ValueError) as exc:
            sock.close()
            raise HandshakeError("the WebSocket handshake of %s failed: %s" % (url, _reason(exc))) from exc
        return cls(sock, leftover)

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(_ws_frame(opcode, payload))

    def readable(self) -> bool:
        """Something from the server waits to be read: in our buffer, decrypted inside TLS, or on the socket."""
        if self._buffer or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return True
        return bool(select.select([self.sock], [], [], 0)[0])

    def read(self, size: int) -> bytes:
        """Exactly `size` bytes, fewer only at the end of the stream."""
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def receive(self, timeout: float) -> tuple[int, bytes]:
        """The next text or binary message (opcode, payload). Raises WebSocketClosed, or TimeoutError."""
        while True:
            self.sock.settimeout(max(timeout, 0.001))
            try:
                opcode, payload = _ws_read(self)
            except socket.timeout as exc:  # noqa: UP041 (an OSError, not TimeoutError, on Python 3.8 hosts)
                raise TimeoutError("no message within %gs" % timeout) from exc
            except OSError as exc:
                raise WebSocketClosed(None, "connection lost: %s" % _reason(exc)) from exc
            if opcode is None:
                raise WebSocketClosed(None, "the connection ended without a close frame")
            if opcode == WS_CLOSE:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                raise WebSocketClosed(code, payload[2:].decode("utf-8", "replace"))
            if opcode == WS_PING:
                self.send(WS_PONG, payload)
                continue
            if opcode in (WS_TEXT, WS_BINARY):
                return opcode, payload

    def close(self) -> None:
        try:
            self.sock.settimeout(1.0)
            self.sock.sendall(_ws_frame(WS_CLOSE, struct.pack(">H", WS_NORMAL_CLOSURE)))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 section 5.2: clients must mask)."""
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([0x80 | length])
    elif length < 65536:
        header += bytes([0x80 | 126]) + struct.pack(">H", length)
    else:
        header += bytes([0x80 | 127]) + struct.pack(">Q", length)
    return header + mask + _mask(payload, mask)


def _mask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


def _ws_read(reader: Any) -> tuple[int | None, bytes]:
    """(opcode, payload) of one message; continuation frames are joined. (None, b"") at end of stream."""
    opcode: int | None = None
    message = b""
    while True:
        head = reader.read(2)
        if len(head) < 2:
            return None, b""
        frame_opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack(">H", reader.read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", reader.read(8))[0]
        mask = reader.read(4) if head[1] & 0x80 else b""
        payload = reader.read(length)
        if len(payload) < length:
            return None, b""
        if mask:
            payload = _mask(payload, mask)
        if frame_opcode >= 0x8:  # control frames may come between fragments
            return frame_opcode, payload
        if frame_opcode != 0x0:
            opcode = frame_opcode
        message += payload
        if head[0] & 0x80:
            return opcode, message


def usp_headers(headers: list[tuple[str, str]]) -> str:
    """Header lines as the Python Speech SDK writes them: 'Name:value' and CRLF, in the order given."""
    return "".join("%s:%s\r\n" % pair for pair in headers)


def usp_text(headers: list[tuple[str, str]], body: str) -> bytes:
    """A USP text message: header lines, an empty line, the body."""
    return (usp_headers(headers) + "\r\n" + body).encode("utf-8")


def usp_binary(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """A USP binary message: 2-byte big-endian header length, header lines, payload."""
    head = usp_headers(headers).encode("ascii")
    return struct.pack(">H", len(head)) + head + payload


def parse_usp_text(text: str) -> tuple[dict[str, str], str]:
    """(headers with lowercase names, body) of a USP text message, as WebsocketMessageFormatter.js parses it."""
    head, _sep, body = text.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, body
