# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The speech_probe module's logic: ask each speech container whether it really serves.

/ready and /status through _speech_probe.probe(); then a real query: text-to-speech synthesises a phrase
and must answer a RIFF WAV with audio in it; speech-to-text (and language detection) must accept the
WebSocket, take audio in the Speech SDK's message framing and answer with text messages.
Standard library only: it runs on the edge host (or on the controller) next to the containers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import socket
import struct
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlparse

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    CatalogError,
    display_locale,
    get_kind,
    ssml_voice_name,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import (
    _ws_frame,
    _ws_read,
    describe,
    probe,
    synthesize,
    wav_summary,
)

CHECKS = ("ready", "status", "query")
DEFAULT_TEXT = "Hello from the speech edge."
DEFAULT_OUTPUT_FORMAT = "riff-16khz-16bit-mono-pcm"
AUDIO_RATE = 16000
AUDIO_CHUNK = 3200  # 100 ms of 16 kHz 16-bit mono, the Speech SDK's chunk size
READY_POLL_SECONDS = 0.25


def tone_wav(seconds: float = 1.0, rate: int = AUDIO_RATE, frequency: float = 440.0) -> bytes:
    """A RIFF WAV (16-bit mono PCM) with a soft tone: audio a recogniser must accept."""
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * frequency * i / rate))) for i in range(frames)
    )
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    header += b"data" + struct.pack("<I", len(samples))
    return header + samples


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # noqa: UP017 (Python 3.8+ hosts)


def _sdk_headers(path: str, request_id: str, content_type: str) -> str:
    return "Path: %s\r\nX-RequestId: %s\r\nX-Timestamp: %s\r\nContent-Type: %s\r\n" % (
        path,
        request_id,
        _timestamp(),
        content_type,
    )


def _audio_message(request_id: str, chunk: bytes) -> bytes:
    headers = _sdk_headers("audio", request_id, "audio/x-wav").encode("ascii")
    return struct.pack(">H", len(headers)) + headers + chunk


def _parse_text_message(text: str) -> tuple[dict[str, str], Any]:
    head, _sep, body = text.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    try:
        document = json.loads(body) if body.strip() else None
    except ValueError:
        document = None
    return headers, document


def websocket_session(url: str, audio: bytes, timeout: float) -> dict[str, Any]:
    """Open a recognition WebSocket, stream audio as the Speech SDK does, collect the service's answer.

    Returns accepted (the upgrade was accepted), the message paths received in order, the recognised text
    and language (when the service said), and an error when the session did not complete.
    """
    result: dict[str, Any] = {"url": url, "accepted": False, "paths": [], "text": None, "language": None, "error": None}
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    path = (parsed.path or "/") + ("?" + parsed.query if parsed.query else "")
    key = base64.b64encode(os.urandom(16)).decode()
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, parsed.port or 80), timeout=timeout) as sock:
            sock.sendall(
                (
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                    "X-ConnectionId: %s\r\n\r\n" % (path, parsed.netloc, key, uuid.uuid4().hex.upper())
                ).encode("ascii")
            )
            reader = sock.makefile("rb")
            status_line = reader.readline().decode("latin-1").strip()
            while reader.readline() not in (b"\r\n", b"\n", b""):
                pass
            if " 101 " not in status_line + " ":
                result["error"] = "WebSocket upgrade refused: %s" % (status_line or "no answer")
                return result
            result["accepted"] = True
            request_id = uuid.uuid4().hex.upper()
            config = {"context": {"system": {"name": "speechops.edge speech_probe", "version": "1"}}}
            sock.sendall(
                _ws_frame(
                    0x1,
                    (
                        _sdk_headers("speech.config", request_id, "application/json") + "\r\n" + json.dumps(config)
                    ).encode(),
                )
            )
            for start in range(0, len(audio), AUDIO_CHUNK):
                sock.sendall(_ws_frame(0x2, _audio_message(request_id, audio[start : start + AUDIO_CHUNK])))
            sock.sendall(_ws_frame(0x2, _audio_message(request_id, b"")))  # end of audio
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    result["error"] = "no turn.end within %gs (received %s)" % (timeout, result["paths"] or "nothing")
                    break
                sock.settimeout(remaining)
                opcode, payload = _ws_read(reader)
                if opcode == 0x1:
                    headers, document = _parse_text_message(payload.decode("utf-8", "replace"))
                    message_path = headers.get("path", "?")
                    result["paths"].append(message_path)
                    if isinstance(document, dict) and message_path == "speech.phrase":
                        result["text"] = document.get("DisplayText")
                        language = document.get("PrimaryLanguage")
                        if isinstance(language, dict):
                            result["language"] = language.get("Language")
                    if message_path == "turn.end":
                        break
                elif opcode == 0x9:
                    sock.sendall(_ws_frame(0xA, payload))
                elif opcode == 0x8 or opcode is None:
                    code = struct.unpack(">H", payload[:2])[0] if payload and len(payload) >= 2 else None
                    if "turn.end" not in result["paths"]:
                        result["error"] = "the service closed the WebSocket%s before turn.end (received %s)" % (
                            " with code %s" % code if code else "",
                            result["paths"] or "nothing",
                        )
                    break
            try:
                sock.sendall(_ws_frame(0x8, struct.pack(">H", 1000)))
            except OSError:
                pass
    except (OSError, ValueError) as exc:
        result["error"] = "WebSocket %s: %s" % (url, getattr(exc, "strerror", None) or exc)
    return result


def _tts_query(base_url: str, target: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    voice = target.get("ssml_voice")
    if not voice:
        if not (target.get("locale") and target.get("voice")):
            return {"type": "synthesize", "ok": None, "skipped": "no SSML voice: set ssml_voice, or locale and voice"}
        voice = ssml_voice_name(target["locale"], target["voice"])
    query: dict[str, Any] = {"type": "synthesize", "url": base_url + "/speech/synthesize/cognitiveservices/v1"}
    query["ssml_voice"] = voice
    try:
        code, body = synthesize(base_url, voice, params["text"], params["output_format"], params["timeout"])
    except (OSError, ValueError) as exc:
        return dict(query, ok=False, error="synthesis request failed: %s" % (getattr(exc, "reason", None) or exc))
    query["status_code"] = code
    if code != 200:
        detail = body[:200].decode("utf-8", "replace").strip()
        return dict(query, ok=False, error="synthesis answered HTTP %d: %s" % (code, detail))
    summary = wav_summary(body)
    if not summary or not summary.get("data_bytes"):
        return dict(query, ok=False, error="synthesis answered %d bytes that are not a WAV with audio" % len(body))
    query.update(ok=True, audio=summary, audio_bytes=len(body))
    if params.get("audio_dir"):
        query.update(_save_audio(params["audio_dir"], target["name"], body, params["check_mode"]))
    return query


def _save_audio(directory: str, name: str, body: bytes, check_mode: bool) -> dict[str, Any]:
    path = os.path.join(directory, "%s.wav" % name)
    digest = hashlib.sha1(body).hexdigest()
    try:
        with open(path, "rb") as handle:
            same = hashlib.sha1(handle.read()).hexdigest() == digest
    except OSError:
        same = False
    if not same and not check_mode:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".speechops-")
        with os.fdopen(handle, "wb") as output:
            output.write(body)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    return {"audio_path": path, "audio_changed": not same, "audio_sha1": digest}


def _ws_query(base_url: str, target: dict[str, Any], kind: Any, params: dict[str, Any]) -> dict[str, Any]:
    path = kind.query_paths[1] if kind.is_speech_to_text and len(kind.query_paths) > 1 else kind.query_paths[0]
    query_args: dict[str, str] = {}
    if kind.is_speech_to_text:
        if target.get("locale"):
            query_args["language"] = display_locale(target["locale"])
        query_args["format"] = "simple"
    url = "ws" + base_url[4:] + path + ("?" + urlencode(query_args) if query_args else "")
    session = websocket_session(url, params["audio"], params["timeout"])
    query = {"type": "websocket", "url": url, "messages": session["paths"]}
    if session["text"] is not None:
        query["text"] = session["text"]
    if session["language"] is not None:
        query["language"] = session["language"]
    if session["error"]:
        return dict(query, ok=False, accepted=session["accepted"], error=session["error"])
    if not session["paths"]:
        return dict(query, ok=False, accepted=True, error="the WebSocket was accepted but the service sent no answer")
    return dict(query, ok=True, accepted=True)


def _wait_ready(base_url: str, wait_timeout: float, probe_timeout: float) -> Any:
    deadline = time.monotonic() + wait_timeout
    while True:
        result = probe(base_url, probe_timeout)
        if result.ready or time.monotonic() >= deadline:
            return result
        time.sleep(READY_POLL_SECONDS)


def check_container(target: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    host = target.get("host") or params["host"]
    base_url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, int(target["port"]))
    checks = target.get("checks") or params["checks"]
    entry: dict[str, Any] = {"name": target["name"], "kind": target["kind"], "url": base_url, "problems": []}
    kind = get_kind(target["kind"])
    result = _wait_ready(base_url, params["wait_timeout"], min(params["timeout"], 10.0))
    entry.update(result.as_dict())
    if "ready" in checks and not result.ready:
        entry["problems"].append(describe(result))
    if result.ready and "status" in checks and result.api_status not in params["accept_api_statuses"]:
        entry["problems"].append(describe(result))
    if result.ready and "query" in checks and not entry["problems"]:
        if kind.is_text_to_speech:
            entry["query"] = _tts_query(base_url, target, params)
        else:
            entry["query"] = _ws_query(base_url, target, kind, params)
        if entry["query"].get("ok") is False:
            entry["problems"].append(entry["query"]["error"])
    entry["ok"] = not entry["problems"]
    return entry


def run_speech_probe(module: Any) -> None:
    params = dict(module.params)
    params["check_mode"] = module.check_mode
    params["audio"] = tone_wav(params["audio_seconds"])
    for index, target in enumerate(params["containers"]):
        try:
            get_kind(target["kind"])
            if target.get("locale"):
                display_locale(target["locale"])
        except CatalogError as exc:
            module.fail_json(msg="containers[%d] (%s): %s" % (index, target.get("name"), exc))
    targets = params["containers"]
    results: list[dict[str, Any]] = []
    if targets:
        with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            results = list(pool.map(lambda target: check_container(target, params), targets))
    failed = [entry for entry in results if not entry["ok"]]
    output = {
        "changed": any(entry.get("query", {}).get("audio_changed") for entry in results),
        "containers": results,
        "ok": not failed,
        "failed_containers": [entry["name"] for entry in failed],
    }
    if failed and params["fail_on_error"]:
        module.fail_json(
            msg="speech services do not serve: %s"
            % "; ".join("%s (%s): %s" % (e["name"], e["url"], " / ".join(e["problems"])) for e in failed),
            **output,
        )
    module.exit_json(**output)
