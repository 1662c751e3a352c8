# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask a running speech container whether it serves: /ready, /status, and real queries.

Standard library only (urllib, socket): it runs on the edge host next to the containers.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    API_STATUSES,
    READY_PATH,
    SERVING_API_STATUSES,
    STATUS_PATH,
)

# apiStatus values that will not get better by waiting: fail the rollout at once.
FINAL_API_STATUSES = ("Invalid", "Mismatch", "ContainerUseUnauthorized", "OutOfQuota")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Probe:
    ready: bool
    ready_code: int | None
    api_status: str | None
    api_status_message: str | None
    error: str | None = None

    @property
    def serving(self) -> bool:
        return self.ready and self.api_status in SERVING_API_STATUSES

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
        url, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    try:
        with _NO_PROXY.open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers or {})


def probe(base_url: str, timeout: float = 3.0, with_status: bool = True) -> Probe:
    """One look at /ready and (when ready) /status. Connection errors are a not-ready answer."""
    try:
        code, _body, _headers = http_request(base_url + READY_PATH, timeout)
    except (OSError, ValueError) as exc:
        return Probe(False, None, None, None, "no answer on %s: %s" % (base_url + READY_PATH, _reason(exc)))
    if code != 200 or not with_status:
        return Probe(code == 200, code, None, None)
    try:
        code, body, _headers = http_request(base_url + STATUS_PATH, timeout)
        document = json.loads(body.decode("utf-8", "replace"))
        status = str(document.get("apiStatus"))
        return Probe(True, 200, status, document.get("apiStatusMessage"))
    except (OSError, ValueError, AttributeError) as exc:
        return Probe(True, 200, "Unknown", None, "no JSON from %s: %s" % (base_url + STATUS_PATH, _reason(exc)))


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
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
    base_url: str, ssml_voice: str, text: str, output_format: str, timeout: float = 30.0
) -> tuple[int, bytes]:
    """POST SSML to a text-to-speech container; (status, body)."""
    ssml = (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="%s">'
        '<voice name="%s">%s</voice></speak>' % ("-".join(ssml_voice.split("-")[:2]), ssml_voice, _xml_escape(text))
    )
    code, body, _headers = http_request(
        base_url + "/speech/synthesize/cognitiveservices/v1",
        timeout,
        data=ssml.encode("utf-8"),
        headers={"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": output_format},
    )
    return code, body


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def wav_summary(body: bytes) -> dict[str, Any] | None:
    """Channels, sample rate, bits and duration of a RIFF WAV, or None when it is not one."""
    if len(body) < 44 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        return None
    offset = 12
    fmt = None
    while offset + 8 <= len(body):
        chunk, size = body[offset : offset + 4], struct.unpack("<I", body[offset + 4 : offset + 8])[0]
        if chunk == b"fmt ":
            fmt = struct.unpack("<HHIIHH", body[offset + 8 : offset + 24])
        elif chunk == b"data" and fmt:
            data_size = min(size, len(body) - offset - 8)
            channels, rate, byte_rate, bits = fmt[1], fmt[2], fmt[3], fmt[5]
            return {
                "channels": channels,
                "sample_rate": rate,
                "bits_per_sample": bits,
                "data_bytes": data_size,
                "duration_seconds": round(data_size / byte_rate, 3) if byte_rate else 0.0,
            }
        offset += 8 + size + (size & 1)
    return None


def websocket_recognize(url: str, audio: bytes, timeout: float = 10.0) -> list[str]:
    """Open the speech-to-text WebSocket, send audio as binary frames, return the text messages received.

    A minimal RFC 6455 client, enough to prove the endpoint accepts the documented protocol.
    """
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    path = parsed.path + ("?" + parsed.query if parsed.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(
            (
                "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)
            ).encode()
        )
        reader = sock.makefile("rb")
        status_line = reader.readline().decode("latin-1").strip()
        while reader.readline() not in (b"\r\n", b"\n", b""):
            pass
        if " 101 " not in status_line + " ":
            raise ConnectionError("WebSocket upgrade refused: %s" % status_line)
        for start in range(0, max(len(audio), 1), 4096):
            sock.sendall(_ws_frame(0x2, audio[start : start + 4096]))
        messages: list[str] = []
        while True:
            opcode, payload = _ws_read(reader)
            if opcode == 0x1:
                text = payload.decode("utf-8", "replace")
                messages.append(text)
                if "Path: turn.end" in text or "Path:turn.end" in text:
                    break
            elif opcode == 0x8 or opcode is None:
                break
        sock.sendall(_ws_frame(0x8, b""))
        return messages


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        header += bytes([0x80 | length])
    elif length < 65536:
        header += bytes([0x80 | 126]) + struct.pack(">H", length)
    else:
        header += bytes([0x80 | 127]) + struct.pack(">Q", length)
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def _ws_read(reader: Any) -> tuple[int | None, bytes]:
    head = reader.read(2)
    if len(head) < 2:
        return None, b""
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack(">H", reader.read(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", reader.read(8))[0]
    mask = reader.read(4) if head[1] & 0x80 else b""
    payload = reader.read(length)
    if mask:
        payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return opcode, payload
