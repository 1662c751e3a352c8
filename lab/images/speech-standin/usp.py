"""The Speech SDK's message protocol over WebSocket (USP), as Microsoft's SDKs speak it to a container.

What the SDKs send was captured with the Speech SDK for Python 1.53 and for JavaScript 1.52 against a capture
server; what they expect back is read from the JavaScript SDK's sources (microsoft-cognitiveservices-speech-sdk,
src/common.speech/ServiceRecognizerBase.ts, SpeechServiceRecognizer.ts, SynthesisAdapterBase.ts,
SynthesisTurn.ts, ServiceMessages/*). lab/images/README.md lists each behaviour with its source.

Text message: header lines "Name: value" CRLF-separated, an empty line, then the body (JSON or SSML).
Binary message: a 2-byte big-endian header length, the header lines, then the payload (audio).
Every answer carries the X-RequestId of the client's request: the SDKs drop messages of other requests.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

TICKS_PER_SECOND = 10_000_000


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_id() -> str:
    return uuid.uuid4().hex.upper()


def parse_headers(text: str) -> dict[str, str]:
    """Header names are case-insensitive (the SDKs write "Path:x" and "Path: x"): keys come back lowercase."""
    headers = {}
    for line in text.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def parse_text(payload: bytes) -> tuple[dict[str, str], str]:
    head, _sep, body = payload.decode("utf-8", errors="replace").partition("\r\n\r\n")
    return parse_headers(head), body


def parse_binary(payload: bytes) -> tuple[dict[str, str], bytes]:
    """SDK binary messages: header length, headers, audio. Anything else is taken as raw audio."""
    if len(payload) >= 2:
        (size,) = struct.unpack("!H", payload[:2])
        if 0 < size <= len(payload) - 2:
            try:
                headers = parse_headers(payload[2 : 2 + size].decode("ascii"))
            except UnicodeDecodeError:
                headers = {}
            if "path" in headers:
                return headers, payload[2 + size :]
    return {}, payload


def json_body(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def text_message(path: str, request_id: str, body: Mapping[str, Any] | str, content_type: str = "") -> str:
    content_type = content_type or "application/json; charset=utf-8"
    text = body if isinstance(body, str) else json.dumps(body)
    return "X-RequestId:%s\r\nContent-Type:%s\r\nX-Timestamp:%s\r\nPath:%s\r\n\r\n%s" % (
        request_id,
        content_type,
        timestamp(),
        path,
        text,
    )


def binary_message(path: str, request_id: str, payload: bytes, extra: Mapping[str, str]) -> bytes:
    lines = ["X-RequestId:%s" % request_id, "X-Timestamp:%s" % timestamp(), "Path:%s" % path]
    lines += ["%s:%s" % item for item in extra.items()]
    head = ("\r\n".join(lines) + "\r\n").encode("ascii")
    return struct.pack("!H", len(head)) + head + payload


def ticks(num_samples: int, sample_rate: int) -> int:
    return num_samples * TICKS_PER_SECOND // sample_rate


def split_wav_header(data: bytes) -> tuple[dict[str, int] | None, bytes]:
    """The SDK's first audio message starts with a RIFF header (sizes zero: a stream). Returns (format, PCM)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None, data
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        if chunk == b"fmt ":
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", data[offset + 8 : offset + 24])
            fmt = {"format_tag": tag, "channels": channels, "sample_rate": rate, "bits": bits}
        elif chunk == b"data":
            return fmt, data[offset + 8 :]
        offset += 8 + size + (size & 1)
    return fmt, b""


def wav_to_pcm(data: bytes) -> tuple[int, bytes]:
    """(sample rate, PCM) of a whole RIFF WAV (sox output); raises ValueError for anything else."""
    fmt, pcm = split_wav_header(data)
    if fmt is None:
        raise ValueError("not a RIFF WAV")
    return fmt["sample_rate"], pcm


def riff_header(sample_rate: int, data_bytes: int, channels: int = 1, bits: int = 16) -> bytes:
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )
