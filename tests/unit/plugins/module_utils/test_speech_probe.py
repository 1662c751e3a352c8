# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_probe against small fake containers on 127.0.0.1 (one thread per connection).

Expected values come from outside the code under test: RFC 6455's worked example, the capture of what
Microsoft's Speech SDK for Python 1.53 sends to a container (/work/notes/capture-python-sdk.log, lines quoted
below), and the messages the JavaScript SDK's source expects from the service
(common.speech/ServiceRecognizerBase.js, SpeechServiceRecognizer.js, ServiceMessages/*.js).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import socket
import ssl
import struct
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _speech_probe_module as probe_module
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import parse_wav, websocket_accept
from ansible_collections.speechops.edge.plugins.modules import speech_probe
from certificates import self_signed

from ..modules.module_runner import run_module

# RFC 6455 section 1.3: the GUID, and the worked example of a key and the accept value it gives.
RFC6455_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC6455_KEY, RFC6455_ACCEPT = "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
# The GUID the lab's stand-in used before issue 10: a server hashing with it sends a wrong accept value.
WRONG_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"

# Capture of the Python SDK 1.53 (recognize_once, /speech/recognition/interactive/...), quoted:
#   === GET /speech/recognition/interactive/cognitiveservices/v1?language=en-us HTTP/1.1 | Host: 127.0.0.1:18001 |
#   Upgrade: websocket | Connection: Upgrade | Sec-WebSocket-Key: MBzu+PxSiDp6n0v7+D1+dQ== | Sec-WebSocket-Version: 13 |
#   User-agent: SpeechSDK-Python/1.53.0 Linux ... | X-ConnectionId: 2d9d4389726448d09c305fd03ab11d97 |
#   Sec-WebSocket-Protocol: USP
CAPTURED_UPGRADE_HEADERS = [
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "User-agent",
    "X-ConnectionId",
    "Sec-WebSocket-Protocol",
]
#   TEXT 0.01 X-Timestamp:2026-12-02T05:56:35.370Z\r\nPath:speech.config\r\nContent-Type:application/json\r\n\r\n{...}
CAPTURED_CONFIG_HEADERS = ["X-Timestamp", "Path", "Content-Type"]
#   TEXT 0.01 X-Timestamp:2026-12-02T05:56:35.370Z\r\nPath:speech.context\r\nX-RequestId:8378036a...\r\n\r\n
#   {"phraseDetection":{"language":"en-us"},"audio":{"streams":{"1":null}}}
CAPTURED_CONTEXT_HEADERS = ["X-Timestamp", "Path", "X-RequestId"]
#   BIN 0.01 #1 hdr=X-Timestamp:...\r\nPath:audio\r\nContent-Type:audio/x-wav\r\nX-RequestId:...\r\nX-StreamId:1\r\n
#   audiolen=44 first=b'RIFF\x00\x00\x00\x00WAVEfmt '
CAPTURED_FIRST_AUDIO_HEADERS = ["X-Timestamp", "Path", "Content-Type", "X-RequestId", "X-StreamId"]
CAPTURED_FIRST_AUDIO_START = b"RIFF\x00\x00\x00\x00WAVEfmt "
#   BIN 0.01 #2 hdr=X-Timestamp:...\r\nPath:audio\r\nX-RequestId:...\r\nX-StreamId:1\r\n audiolen=3200
#   BIN 0.02 #30 hdr=X-Timestamp:...\r\nPath:audio\r\nX-RequestId:...\r\nX-StreamId:1\r\n audiolen=0 first=b''
CAPTURED_AUDIO_HEADERS = ["X-Timestamp", "Path", "X-RequestId", "X-StreamId"]
CAPTURED_AUDIO_LENGTH = 3200
# SourceLanguageRecognizer.recognize_once() on /speech/universal/v2 (capture), its speech.context:
CAPTURED_LID_CONTEXT = json.loads(
    '{"phraseDetection":{"mode":"None"},"languageId":{"languages":["en-US","de-DE"],"onSuccess":{"action":"None"},'
    '"onUnknown":{"action":"None"},"mode":"DetectAtAudioStart","Priority":"PrioritizeLatency"},'
    '"audio":{"streams":{"1":null}}}'
)
# A voice name as Microsoft spells it (language-support.md, text to speech): the probe must send it unchanged.
MICROSOFT_VOICE = "en-US-AndrewMultilingualNeural"


# ------------------------------------------------------------------------------------------ fake container


@dataclass
class Received:
    """What the fake container got on one WebSocket: the upgrade and every USP message."""

    request_line: str = ""
    header_names: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[tuple[str, list[str], dict[str, str], bytes]] = field(default_factory=list)

    def texts(self, path: str) -> list[tuple[list[str], bytes]]:
        return [(names, body) for kind, names, headers, body in self.messages if headers.get("Path") == path]


# A string: pylint (ansible-test sanity) judges a runtime "X | None" against older Pythons.
Answer: TypeAlias = "list[tuple[str, dict[str, Any] | None]]"


@dataclass
class Behaviour:
    """How the fake container answers. answer(received) gives the USP messages sent after the end of audio."""

    answer: Callable[[Received], Answer] | None = None
    upgrade_status: int = 101
    guid: str = RFC6455_GUID
    send_accept: bool = True
    close_code: int | None = None  # close with this code after the end of audio instead of answering
    answer_after_first_audio: bool = False  # answer while the audio still streams
    api_status: str = "Valid"
    synthesis_voice: str | None = None  # the one voice the TTS container answers to (case-sensitive)


def _read_frame(reader: Any) -> tuple[int, bytes] | None:
    head = reader.read(2)
    if len(head) < 2:
        return None
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack(">H", reader.read(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", reader.read(8))[0]
    mask = reader.read(4) if head[1] & 0x80 else b"\x00" * 4
    payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(reader.read(length)))
    return head[0] & 0x0F, payload


def _frame(opcode: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        return bytes([0x80 | opcode, length]) + payload
    return bytes([0x80 | opcode, 126]) + struct.pack(">H", length) + payload


def _header_lines(text: str) -> tuple[list[str], dict[str, str]]:
    names, values = [], {}
    for line in text.split("\r\n"):
        if line:
            name, _sep, value = line.partition(":")
            names.append(name)
            values[name] = value
    return names, values


def _usp_answer(path: str, request_id: str, body: dict[str, Any] | None) -> bytes:
    # Service messages as the JavaScript SDK parses them (WebsocketMessageFormatter.js): "Name: value" lines.
    head = "Path: %s\r\nX-RequestId: %s\r\nContent-Type: application/json; charset=utf-8\r\n" % (path, request_id)
    return (head + "\r\n" + (json.dumps(body) if body is not None else "")).encode()


class FakeContainer:
    """An HTTP + WebSocket server on 127.0.0.1 that plays a speech container."""

    def __init__(self, behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.tls = tls  # wss:// and https:// (the speech gateway's side of a connection)
        self.sessions: list[Received] = []
        self.ssml: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.threads: list[threading.Thread] = []
        self.accepting = threading.Thread(target=self._accept, daemon=True)
        self.accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _address = self.server.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    connection = self.tls.wrap_socket(connection, server_side=True)
                except OSError:
                    continue
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def close(self) -> None:
        self.server.close()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            reader = connection.makefile("rb")
            request_line = reader.readline().decode("latin-1").strip()
            names, headers = [], {}
            while True:
                line = reader.readline().decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                name, _sep, value = line.partition(":")
                names.append(name.strip())
                headers[name.strip().lower()] = value.strip()
            method, target = request_line.split(" ")[:2]
            if headers.get("upgrade", "").lower() == "websocket":
                self._websocket(connection, reader, Received(request_line, names, headers))
                return
            body = reader.read(int(headers.get("content-length", "0")))
            self._http(connection, method, target, body)

    def _http(self, connection: socket.socket, method: str, target: str, body: bytes) -> None:
        status, content = 404, b"not found"
        if target == "/ready":
            status, content = 200, b"ready"
        elif target == "/status":
            status, content = 200, json.dumps({"apiStatus": self.behaviour.api_status}).encode()
        elif method == "POST" and target == "/speech/synthesize/cognitiveservices/v1":
            ssml = body.decode()
            self.ssml.append(ssml)
            if 'name="%s"' % self.behaviour.synthesis_voice in ssml:
                status, content = 200, _wav_bytes(b"\x01\x00" * 1600)
            else:
                status, content = 400, b"Voice doesn't match"
        connection.sendall(
            b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (status, len(content)) + content
        )

    def _websocket(self, connection: socket.socket, reader: Any, received: Received) -> None:
        self.sessions.append(received)
        behaviour = self.behaviour
        if behaviour.upgrade_status != 101:
            connection.sendall(b"HTTP/1.1 %d Refused\r\nContent-Length: 0\r\n\r\n" % behaviour.upgrade_status)
            return
        key = received.headers["sec-websocket-key"]
        accept = base64.b64encode(hashlib.sha1((key + behaviour.guid).encode()).digest()).decode()
        response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        if behaviour.send_accept:
            response += "Sec-WebSocket-Accept: %s\r\n" % accept
        connection.sendall((response + "\r\n").encode())
        request_id = ""
        while True:
            frame = _read_frame(reader)
            if frame is None or frame[0] == 0x8:
                return
            opcode, payload = frame
            if opcode == 0x1:
                head, _sep, body = payload.decode().partition("\r\n\r\n")
                names, headers = _header_lines(head)
                received.messages.append(("text", names, headers, body.encode()))
                request_id = headers.get("X-RequestId", request_id)
                continue
            (length,) = struct.unpack(">H", payload[:2])
            names, headers = _header_lines(payload[2 : 2 + length].decode())
            audio = payload[2 + length :]
            received.messages.append(("binary", names, headers, audio))
            first_audio = len([m for m in received.messages if m[0] == "binary"]) == 1
            end_of_audio = not audio
            if (behaviour.answer_after_first_audio and first_audio) or end_of_audio:
                break
        if behaviour.close_code is not None:
            connection.sendall(_frame(0x8, struct.pack(">H", behaviour.close_code) + b"internal error"))
            return
        for path, body in behaviour.answer(received) if behaviour.answer else []:
            connection.sendall(_frame(0x1, _usp_answer(path, request_id, body)))
        # Keep reading until the client closes, as a server does (and so late audio does not reset the socket).
        while (frame := _read_frame(reader)) is not None and frame[0] != 0x8:
            pass


def _wav_bytes(samples: bytes, rate: int = 16000, channels: int = 1) -> bytes:
    """A WAV made by Python's wave module (not by the code under test)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as output:
        output.setnchannels(channels)
        output.setsampwidth(2)
        output.setframerate(rate)
        output.writeframes(samples)
    return buffer.getvalue()


def phrase_turn(phrase: dict[str, Any]) -> Callable[[Received], Answer]:
    """The message sequence a recognition turn gives (ServiceRecognizerBase.js: turn.start, speech.startDetected,
    speech.hypothesis, speech.phrase, speech.endDetected, turn.end)."""

    def answer(_received: Received) -> Answer:
        return [
            ("turn.start", {"context": {"serviceTag": "probe-test"}}),
            ("speech.startDetected", {"Offset": 0}),
            ("speech.hypothesis", {"Text": "hello", "Offset": 0, "Duration": 5000000}),
            ("speech.phrase", phrase),
            ("speech.endDetected", {"Offset": 20000000}),
            ("turn.end", None),
        ]

    return answer


@pytest.fixture
def container() -> Iterator[Callable[[Behaviour], FakeContainer]]:
    started: list[FakeContainer] = []

    def start(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> FakeContainer:
        fake = FakeContainer(behaviour, tls)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


@pytest.fixture
def speech_wav(tmp_path: Path) -> str:
    """1.5 s of a 16 kHz 16-bit mono WAV (the content does not matter to a fake container)."""
    path = tmp_path / "speech.wav"
    path.write_bytes(_wav_bytes(struct.pack("<h", 1000) * 24000))
    return str(path)


def probe(fake: FakeContainer, kind: str = "speech-to-text", **options: Any) -> tuple[bool, dict[str, Any]]:
    """Run the module against one fake container; (failed, result)."""
    entry = {"name": "fake", "kind": kind, "port": fake.port, "locale": "en-US"}
    entry.update(options.pop("container", {}))
    return run_module(speech_probe.main, dict({"containers": [entry], "request_timeout": 10}, **options))


def query_of(result: dict[str, Any]) -> dict[str, Any]:
    return result["containers"][0]["query"]


SUCCESS = {"RecognitionStatus": "Success", "DisplayText": "Hello, world.", "Offset": 1000000, "Duration": 9000000}


# ------------------------------------------------------------------------------------------------ handshake


def test_accept_value_is_rfc6455s_worked_example() -> None:
    assert websocket_accept(RFC6455_KEY) == RFC6455_ACCEPT


@pytest.mark.parametrize(
    "guid,send_accept,shown",
    [(WRONG_GUID, True, "Sec-WebSocket-Accept is '"), (RFC6455_GUID, False, "Sec-WebSocket-Accept is missing")],
)
def test_a_wrong_or_missing_accept_value_fails_the_query(container, guid: str, send_accept: bool, shown: str) -> None:
    fake = container(Behaviour(answer=phrase_turn(SUCCESS), guid=guid, send_accept=send_accept))
    failed, result = probe(fake)
    assert failed
    assert shown in result["msg"] and "RFC 6455 section 1.3" in result["msg"]
    assert query_of(result)["accepted"] is False


# ------------------------------------------------------------------------------------- speech-to-text judgement


def test_success_with_text_passes_and_expected_words_ignore_case_and_punctuation(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn(SUCCESS)))
    failed, result = probe(fake, audio_file=speech_wav, expected_words=["HELLO", "world"])
    query = query_of(result)
    assert not failed and result["ok"]
    assert query["recognition_status"] == "Success" and query["text"] == "Hello, world."
    assert query["messages"] == [
        "turn.start",
        "speech.startdetected",
        "speech.hypothesis",
        "speech.phrase",
        "speech.enddetected",
        "turn.end",
    ]
    assert "contains every expected word" in query["judgement"]


def test_a_missing_expected_word_fails_naming_it(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn(SUCCESS)))
    failed, result = probe(fake, audio_file=speech_wav, expected_words=["hello", "edge"])
    assert failed and "'edge'" in result["msg"] and "Hello, world." in result["msg"]


@pytest.mark.parametrize("status", ["NoMatch", "InitialSilenceTimeout", "BabbleTimeout"])
def test_no_match_on_speech_audio_fails_naming_the_status(container, speech_wav: str, status: str) -> None:
    fake = container(Behaviour(answer=phrase_turn({"RecognitionStatus": status, "Offset": 0, "Duration": 0})))
    failed, result = probe(fake, audio_file=speech_wav)
    assert failed and "RecognitionStatus %s" % status in result["msg"]


def test_success_with_an_empty_text_on_speech_audio_fails(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn({"RecognitionStatus": "Success", "DisplayText": ""})))
    failed, result = probe(fake, audio_file=speech_wav)
    assert failed and "empty text" in result["msg"]


@pytest.mark.parametrize("status", ["InitialSilenceTimeout", "NoMatch"])
def test_silence_without_audio_passes_as_not_judged(container, status: str) -> None:
    fake = container(Behaviour(answer=phrase_turn({"RecognitionStatus": status, "Offset": 0, "Duration": 0})))
    failed, result = probe(fake)
    query = query_of(result)
    assert not failed and query["ok"] is True
    assert query["judgement"] == "transcript not judged (no speech audio given)"
    assert query["audio_source"] == "silence" and query["recognition_status"] == status


def test_the_numeric_status_form_is_understood(container) -> None:
    # SimpleSpeechPhrase.js accepts the number too: 4 is Error in ServiceMessages/Enums.js.
    fake = container(Behaviour(answer=phrase_turn({"RecognitionStatus": 4})))
    failed, result = probe(fake)
    assert failed and "RecognitionStatus Error" in result["msg"]


def test_detailed_format_judges_nbest(container, speech_wav: str) -> None:
    detailed = {
        "RecognitionStatus": "Success",
        "Offset": 0,
        "Duration": 9000000,
        "NBest": [{"Confidence": 0.93, "Lexical": "hello world", "ITN": "hello world", "Display": "Hello world."}],
    }
    fake = container(Behaviour(answer=phrase_turn(detailed)))
    failed, result = probe(fake, audio_file=speech_wav, recognition_format="detailed", expected_words=["world"])
    assert not failed and query_of(result)["text"] == "Hello world."
    assert "format=detailed" in fake.sessions[0].request_line


def test_a_close_before_turn_end_fails_with_its_code(container) -> None:
    fake = container(Behaviour(close_code=1011))
    failed, result = probe(fake)
    assert failed and "code 1011" in result["msg"] and "before turn.end" in result["msg"]


def test_no_turn_end_fails_after_the_timeout(container) -> None:
    fake = container(Behaviour(answer=lambda _received: [("turn.start", {})]))
    failed, result = probe(fake, request_timeout=1)
    assert failed and "no turn.end within 1s" in result["msg"] and "turn.start" in result["msg"]


def test_an_answer_while_audio_still_streams_completes_the_session(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn(SUCCESS), answer_after_first_audio=True))
    failed, result = probe(fake, audio_file=speech_wav)
    assert not failed and query_of(result)["text"] == "Hello, world."


def test_over_wss_one_thread_reads_and_writes_the_tls_socket(
    container, speech_wav: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenSSL's SSL objects are not thread-safe (openssl/openssl#20446): a write racing a read corrupts the stream,
    and a gateway then drops the WebSocket without a close frame. The probe must use its TLS socket from one thread."""
    certificate, key, ca_file = self_signed(tmp_path)
    (tmp_path / "server.pem").write_text(certificate + key)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(tmp_path / "server.pem"))
    fake = container(Behaviour(answer=phrase_turn(SUCCESS), answer_after_first_audio=True), server)
    users: dict[int, set[int]] = {}  # client socket -> the threads that used it
    for name in ("sendall", "send", "recv", "recv_into"):
        original = getattr(ssl.SSLSocket, name)

        def recorded(self: ssl.SSLSocket, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            if not self.server_side:
                users.setdefault(id(self), set()).add(threading.get_ident())
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(ssl.SSLSocket, name, recorded)
    failed, result = probe(fake, audio_file=speech_wav, tls=True, ca_cert=ca_file.read_text())
    assert not failed and query_of(result)["text"] == "Hello, world.", result
    assert users and all(len(threads) == 1 for threads in users.values()), users


def test_audio_in_another_language_is_not_sent_to_a_container_of_another_locale(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn({"RecognitionStatus": "InitialSilenceTimeout"})))
    failed, result = probe(fake, audio_file=speech_wav, audio_language="de-DE", expected_words=["hallo"])
    assert not failed
    assert query_of(result)["judgement"] == "transcript not judged (the audio is de-DE, the container recognises en-US)"


# ------------------------------------------------------------------------------------------- wire framing


def test_recognition_framing_matches_the_python_sdk_capture(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn(SUCCESS)))
    failed, _result = probe(fake, audio_file=speech_wav, recognition_mode="conversation")
    assert not failed
    session = fake.sessions[0]
    assert session.request_line == "GET /speech/recognition/conversation/cognitiveservices/v1?language=en-US HTTP/1.1"
    assert session.header_names == CAPTURED_UPGRADE_HEADERS
    assert session.headers["sec-websocket-protocol"] == "USP"
    kinds = [kind for kind, _names, _headers, _body in session.messages]
    assert kinds[:2] == ["text", "text"] and set(kinds[2:]) == {"binary"}
    (config_names, config), (context_names, context) = (
        session.texts("speech.config")[0],
        session.texts("speech.context")[0],
    )
    assert (
        config_names == CAPTURED_CONFIG_HEADERS
        and json.loads(config)["context"]["audio"]["source"]["samplerate"] == "16000"
    )
    assert context_names == CAPTURED_CONTEXT_HEADERS
    assert json.loads(context) == {"phraseDetection": {"language": "en-US"}, "audio": {"streams": {"1": None}}}
    audio = [(names, headers, body) for kind, names, headers, body in session.messages if kind == "binary"]
    assert audio[0][0] == CAPTURED_FIRST_AUDIO_HEADERS and audio[0][1]["Content-Type"] == "audio/x-wav"
    assert len(audio[0][2]) == 44 and audio[0][2].startswith(CAPTURED_FIRST_AUDIO_START)
    assert all(names == CAPTURED_AUDIO_HEADERS for names, _headers, _body in audio[1:])
    assert {len(body) for _names, _headers, body in audio[1:-1]} == {CAPTURED_AUDIO_LENGTH}
    assert audio[-1][2] == b""
    # Every message of the turn carries the speech.context's request id; the audio is the file's samples.
    request_ids = {headers.get("X-RequestId") for _kind, _names, headers, _body in session.messages[1:]}
    assert len(request_ids) == 1
    with wave.open(speech_wav) as source:
        assert b"".join(body for _names, _headers, body in audio[1:]) == source.readframes(source.getnframes())


# --------------------------------------------------------------------------------------- language detection


def lid_turn(language: str) -> Callable[[Received], Answer]:
    return phrase_turn(
        {"RecognitionStatus": "Success", "PrimaryLanguage": {"Language": language, "Confidence": "High"}}
    )


def test_language_detection_sends_the_source_language_recognizer_context(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=lid_turn("en-US")))
    failed, result = probe(fake, kind="language-detection", audio_file=speech_wav, container={"locale": None})
    assert not failed and query_of(result)["language"] == "en-US"
    session = fake.sessions[0]
    assert session.request_line == "GET /speech/universal/v2 HTTP/1.1"
    assert json.loads(session.texts("speech.context")[0][1]) == CAPTURED_LID_CONTEXT


def test_language_detection_404_is_inconclusive_and_falls_back_to_ready_and_status(container) -> None:
    fake = container(Behaviour(upgrade_status=404))
    failed, result = probe(fake, kind="language-detection")
    query = query_of(result)
    assert not failed and result["ok"]
    assert "404" in query["inconclusive"] and query["fallback"] == {"ready": True, "api_status": "Valid"}
    assert result["containers"][0]["warnings"] and "inconclusive" in result["containers"][0]["warnings"][0]


def test_language_detection_404_with_an_invalid_key_still_fails(container) -> None:
    fake = container(Behaviour(upgrade_status=404, api_status="Invalid"))
    failed, result = probe(fake, kind="language-detection", checks=["ready", "query"])
    assert failed and "404" in result["msg"] and "apiStatus Invalid" in result["msg"]


def test_language_detection_5xx_fails(container) -> None:
    fake = container(Behaviour(upgrade_status=503))
    failed, result = probe(fake, kind="language-detection")
    assert failed and "503" in result["msg"]


def test_detected_language_must_be_the_expected_one(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=lid_turn("de-DE")))
    failed, result = probe(fake, kind="language-detection", audio_file=speech_wav, audio_language="en-US")
    assert failed and "detected 'de-DE', expected 'en-US'" in result["msg"]


def test_detected_language_outside_the_candidates_fails(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=lid_turn("fr-FR")))
    failed, result = probe(fake, kind="language-detection", audio_file=speech_wav)
    assert failed and "'fr-FR', not one of the candidates" in result["msg"]


def test_language_detection_without_primary_language_is_inconclusive(container, speech_wav: str) -> None:
    fake = container(Behaviour(answer=phrase_turn({"RecognitionStatus": "Success"})))
    failed, result = probe(fake, kind="language-detection", audio_file=speech_wav)
    assert not failed and "PrimaryLanguage" in query_of(result)["inconclusive"]


# ------------------------------------------------------------------------------------------- text-to-speech


def test_synthesis_sends_microsofts_voice_name_unchanged(container) -> None:
    fake = container(Behaviour(synthesis_voice=MICROSOFT_VOICE))
    failed, result = probe(fake, kind="neural-text-to-speech", container={"ssml_voice": MICROSOFT_VOICE})
    assert not failed and query_of(result)["audio"]["sample_rate"] == 16000
    assert 'name="en-US-AndrewMultilingualNeural"' in fake.ssml[0]


def test_a_voice_the_container_refuses_fails_with_the_case_hint(container) -> None:
    fake = container(Behaviour(synthesis_voice=MICROSOFT_VOICE))
    failed, result = probe(
        fake, kind="neural-text-to-speech", container={"ssml_voice": "en-US-AndrewmultilingualNeural"}
    )
    assert failed and "HTTP 400" in result["msg"] and "case-sensitive" in result["msg"]


# --------------------------------------------------------------------------------------------- bad input


def test_audio_that_is_not_16khz_mono_is_refused_naming_the_field(container, tmp_path: Path) -> None:
    fake = container(Behaviour())
    stereo = tmp_path / "cd.wav"
    stereo.write_bytes(_wav_bytes(b"\x00\x00" * 44100 * 2, rate=44100, channels=2))
    failed, result = probe(fake, container={"audio_file": str(stereo)})
    assert failed
    assert result["msg"].startswith(
        "containers[0] (fake).audio_file '%s' is PCM 44100 Hz 16-bit with 2 channel(s)" % stereo
    )
    assert "sox" in result["msg"] and fake.sessions == []


def test_a_file_that_is_not_a_wav_is_refused(tmp_path: Path, container) -> None:
    fake = container(Behaviour())
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    failed, result = probe(fake, audio_file=str(text))
    assert failed and result["msg"].startswith("audio_file '%s' is not a RIFF WAV file" % text)


def test_expected_words_need_speech_audio(container) -> None:
    failed, result = probe(container(Behaviour()), expected_words=["hello"])
    assert failed and result["msg"].startswith("expected_words ['hello'] needs speech audio")


def test_expected_language_must_be_a_candidate(container, speech_wav: str) -> None:
    failed, result = probe(
        container(Behaviour()), kind="language-detection", audio_file=speech_wav, expected_language="fr-FR"
    )
    assert failed and "expected_language fr-FR is not one of the candidate languages" in result["msg"]


def test_more_than_four_candidates_are_refused(container) -> None:
    failed, result = probe(container(Behaviour()), languages=["en-US", "de-DE", "fr-FR", "es-ES", "it-IT"])
    assert failed and "give 1 to 4 candidate languages" in result["msg"]


def test_the_sdk_header_parses_as_a_wav_with_pcm_format() -> None:
    # AudioStreamFormat.js: PCM (1), 1 channel, 16000 Hz, 32000 bytes/s, 16 bits, sizes 0.
    header = probe_module.riff_stream_header()
    assert header.startswith(CAPTURED_FIRST_AUDIO_START) and len(header) == 44
    wav = parse_wav(header)
    assert wav is not None and (wav.format_tag, wav.channels, wav.sample_rate, wav.byte_rate, wav.bits_per_sample) == (
        1,
        1,
        16000,
        32000,
        16,
    )
