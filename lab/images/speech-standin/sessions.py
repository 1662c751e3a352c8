"""WebSocket sessions of the stand-in: speech recognition, language detection and speech synthesis.

Each session answers what Microsoft's Speech SDKs send to a real container (usp.py has the framing and the
sources). Recognition answers while the audio still streams: speech.startDetected, speech.hypothesis
(interim text), speech.phrase per utterance, speech.endDetected, turn.end.
"""

from __future__ import annotations

import audioop
import logging
import queue
import re
import struct
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import usp
from websocket import CLOSE_INTERNAL_ERROR, CLOSE_INVALID_PAYLOAD, CLOSE_NORMAL, WebSocket, WebSocketClosed

LOG = logging.getLogger("standin")

IDLE_TIMEOUT_SECONDS = 300.0
RECOGNIZER_RATE = 16000
# Interactive recognition stops at the first utterance; a stream that stays silent this long ends the turn
# with InitialSilenceTimeout (the SDK's InitialSilenceTimeoutMs, sent as initialSilenceTimeoutMs, overrides it).
DEFAULT_INITIAL_SILENCE_SECONDS = 5.0
SYNTHESIS_CHUNK_BYTES = 8192
OUTPUT_FORMAT_RE = re.compile(r"^(raw|riff)-(8khz|16khz|22050hz|24khz|44100hz|48khz)-16bit-mono-pcm$")
RATES = {"8khz": 8000, "16khz": 16000, "22050hz": 22050, "24khz": 24000, "44100hz": 44100, "48khz": 48000}


def output_format(name: str) -> tuple[int, bool] | None:
    """(sample rate, with RIFF header) of a PCM output format name, None for formats the stand-in lacks."""
    match = OUTPUT_FORMAT_RE.match(name.strip().lower())
    if not match:
        return None
    return RATES[match.group(2)], match.group(1) == "riff"


def _first(query: Mapping[str, list[str]], name: str) -> str:
    for key, values in query.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return ""


class Session:
    """Common loop: a reader thread fills the inbox, this thread answers."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def run(self) -> None:
        threading.Thread(target=self.ws.messages, args=(self.inbox,), daemon=True).start()
        try:
            self._loop()
        finally:
            self.on_close()

    def on_close(self) -> None:
        pass

    def _loop(self) -> None:
        try:
            while True:
                try:
                    kind, payload = self.inbox.get(timeout=IDLE_TIMEOUT_SECONDS)
                except queue.Empty:
                    self.ws.close(CLOSE_NORMAL, "idle timeout")
                    return
                if kind == "ping":
                    self.ws.send(0xA, payload)
                elif kind == "text":
                    headers, body = usp.parse_text(payload)
                    self.on_text(headers.get("path", "").lower(), headers, body)
                elif kind == "binary":
                    headers, data = usp.parse_binary(payload)
                    self.on_binary(headers, data)
                elif kind == "close":
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else CLOSE_NORMAL
                    self.ws.close(code)
                    return
                elif kind == "error":
                    self.ws.close(struct.unpack("!H", payload)[0])
                    return
                else:  # eof
                    return
                if self.ws.closed:
                    return
        except WebSocketClosed:
            return
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away mid-answer
        except Exception:  # the service's own failure: log it and tell the client, as a 1011 close
            LOG.exception("WebSocket session failed")
            self.ws.close(CLOSE_INTERNAL_ERROR, "Internal service error")

    def send(self, path: str, request_id: str, body: Mapping[str, Any]) -> None:
        self.ws.send_text(usp.text_message(path, request_id, body))

    def on_text(self, path: str, headers: dict[str, str], body: str) -> None:
        pass

    def on_binary(self, headers: dict[str, str], data: bytes) -> None:
        pass


# --------------------------------------------------------------------------------------------------
# Recognition (speech-to-text) and language detection


@dataclass
class RecognitionOptions:
    """What the request asks for: from the URL query and the speech.context message."""

    mode: str  # interactive, conversation or dictation
    language: str
    detailed: bool = False
    word_timings: bool = False
    initial_silence_seconds: float = DEFAULT_INITIAL_SILENCE_SECONDS
    # Language detection: candidate locales and whether to detect once (at audio start) or continuously.
    languages: list[str] = field(default_factory=list)
    lid_continuous: bool = False

    @property
    def language_detection(self) -> bool:
        return bool(self.languages)

    @property
    def single_utterance(self) -> bool:
        if self.language_detection:
            return not self.lid_continuous
        return self.mode == "interactive"


def recognition_options(
    mode: str, query: Mapping[str, list[str]], context: Mapping[str, Any], default_language: str
) -> RecognitionOptions:
    detection = context.get("phraseDetection") if isinstance(context.get("phraseDetection"), dict) else {}
    output = context.get("phraseOutput") if isinstance(context.get("phraseOutput"), dict) else {}
    language = _first(query, "language") or str(detection.get("language") or "") or default_language
    output_format = _first(query, "format") or str(output.get("format") or "")
    detailed_options = output.get("detailed", {}).get("options", []) if isinstance(output.get("detailed"), dict) else []
    options = RecognitionOptions(
        mode=mode,
        language=language,
        detailed=output_format.lower() == "detailed",
        word_timings=_first(query, "wordLevelTimestamps").lower() == "true" or "WordTimings" in detailed_options,
    )
    silence_ms = _first(query, "initialSilenceTimeoutMs")
    if silence_ms.isdigit() and int(silence_ms) > 0:
        options.initial_silence_seconds = int(silence_ms) / 1000.0
    language_id = context.get("languageId")
    if isinstance(language_id, dict) and isinstance(language_id.get("languages"), list):
        options.languages = [str(item) for item in language_id["languages"] if str(item).strip()]
        options.lid_continuous = str(language_id.get("mode", "")).lower() == "detectcontinuous"
    return options


@dataclass
class Turn:
    request_id: str
    options: RecognitionOptions
    recognizer: Any
    sample_rate: int = RECOGNIZER_RATE
    rate_state: Any = None
    header_seen: bool = False
    utterance_pcm: bytearray = field(default_factory=bytearray)


class RecognitionSession(Session):
    """speech-to-text and language detection over /speech/recognition/... and /speech/universal/v2."""

    def __init__(
        self,
        ws: WebSocket,
        mode: str,
        query: Mapping[str, list[str]],
        default_language: str,
        language_detection: bool,
        recognizer_factory: Callable[..., Any],
        identify: Callable[[bytes, list[str]], tuple[str | None, str, dict[str, float]]],
    ) -> None:
        super().__init__(ws)
        self.mode = mode
        self.query = query
        self.default_language = default_language
        self.language_detection = language_detection
        self.recognizer_factory = recognizer_factory
        self.identify = identify
        self.contexts: dict[str, dict[str, Any]] = {}
        self.latest_context: dict[str, Any] = {}
        self.turn: Turn | None = None
        self.finished: set[str] = set()

    def on_close(self) -> None:
        if self.turn is not None:
            self.turn.recognizer.close()  # the client went away mid-turn: give the decoder back
            self.turn = None

    def on_text(self, path: str, headers: dict[str, str], body: str) -> None:
        if path == "speech.context":
            context = usp.json_body(body)
            self.latest_context = context
            if headers.get("x-requestid"):
                self.contexts[headers["x-requestid"].lower()] = context

    def on_binary(self, headers: dict[str, str], data: bytes) -> None:
        request_id = headers.get("x-requestid", "") or (self.turn.request_id if self.turn else usp.new_id())
        if request_id.lower() in self.finished:
            return  # audio the SDK still sends after the turn ended (recognize-once): the real service ignores it
        if self.turn is None or self.turn.request_id.lower() != request_id.lower():
            self.turn = self.start_turn(request_id)
        turn = self.turn
        if headers and not data and "path" in headers:
            self.emit(turn, turn.recognizer.finish())  # the SDK's end of audio: an audio message without audio
            self.end_turn(turn)
            return
        if not turn.header_seen:
            # The SDK's first audio message carries the RIFF header (sizes zero: a stream), often nothing else.
            turn.header_seen = True
            fmt, data = usp.split_wav_header(data)
            if fmt:
                turn.sample_rate = fmt["sample_rate"] or RECOGNIZER_RATE
        if turn.sample_rate != RECOGNIZER_RATE and data:
            data, turn.rate_state = audioop.ratecv(data, 2, 1, turn.sample_rate, RECOGNIZER_RATE, turn.rate_state)
        if turn.options.language_detection:
            turn.utterance_pcm.extend(data)
        self.emit(turn, turn.recognizer.feed(data))
        if turn.recognizer.done:
            self.end_turn(turn)

    def start_turn(self, request_id: str) -> Turn:
        context = self.contexts.get(request_id.lower(), self.latest_context)
        options = recognition_options(self.mode, self.query, context, self.default_language)
        if self.language_detection and not options.languages:
            # JavaScript's auto-detect sends its candidates in speech.context; without any, detect among the two
            # languages Microsoft's examples start with.
            options.languages = ["en-US", "de-DE"]
        recognizer = self.recognizer_factory(
            language=options.language if not options.language_detection else "en-US",
            single_utterance=options.single_utterance,
            initial_silence_timeout=options.initial_silence_seconds,
        )
        self.send("turn.start", request_id, {"context": {"serviceTag": uuid.uuid4().hex}})
        LOG.info(
            "Recognition turn (%s, %s%s%s)",
            options.mode,
            options.language,
            ", detailed" if options.detailed else "",
            ", language detection among %s" % ",".join(options.languages) if options.language_detection else "",
        )
        return Turn(request_id, options, recognizer)

    def end_turn(self, turn: Turn) -> None:
        self.send("turn.end", turn.request_id, {})
        self.finished.add(turn.request_id.lower())
        self.turn = None

    def emit(self, turn: Turn, events: list[Any]) -> None:
        for event in events:
            if event.kind == "start":
                self.send("speech.startDetected", turn.request_id, {"Offset": event.offset})
            elif event.kind == "hypothesis":
                if not turn.options.language_detection:
                    body = {"Text": event.text, "Offset": event.offset, "Duration": event.duration}
                    self.send("speech.hypothesis", turn.request_id, body)
            elif event.kind == "phrase":
                self.send("speech.phrase", turn.request_id, self.phrase(turn, event))
            elif event.kind == "end":
                self.send("speech.endDetected", turn.request_id, {"Offset": event.offset})

    def phrase(self, turn: Turn, event: Any) -> dict[str, Any]:
        options = turn.options
        if options.language_detection:
            pcm = bytes(turn.utterance_pcm)
            turn.utterance_pcm.clear()
            body: dict[str, Any] = {"Offset": event.offset, "Duration": event.duration}
            if event.status == "InitialSilenceTimeout":
                return dict(body, RecognitionStatus="InitialSilenceTimeout")
            language, confidence, _scores = self.identify(pcm, options.languages)
            if language is None:
                return dict(body, RecognitionStatus="NoMatch")
            LOG.info("Detected %s (%s) among %s", language, confidence, ",".join(options.languages))
            # The container identifies the language; it does not transcribe (speech-container-lid.md).
            return dict(
                body,
                RecognitionStatus="Success",
                DisplayText="",
                PrimaryLanguage={
                    "Language": language,
                    "Confidence": confidence,
                },
            )
        body = {"RecognitionStatus": event.status, "Offset": event.offset, "Duration": event.duration}
        if event.status != "Success":
            return body
        display = display_text(event.text)
        body["DisplayText"] = display
        if options.detailed:
            best: dict[str, Any] = {
                "Confidence": round(event.confidence, 4),
                "Lexical": event.text,
                "ITN": event.text,
                "MaskedITN": event.text,
                "Display": display,
            }
            if options.word_timings:
                best["Words"] = [
                    {"Word": word.text, "Offset": word.offset, "Duration": word.duration, "Confidence": word.confidence}
                    for word in event.words
                ]
            body["NBest"] = [best]
        return body


def display_text(lexical: str) -> str:
    """What the service shows: a capital first letter and a full stop (Display / DisplayText)."""
    text = lexical.strip()
    if not text:
        return ""
    return text[0].upper() + text[1:] + ("" if text[-1] in ".?!" else ".")


# --------------------------------------------------------------------------------------------------
# Synthesis (text-to-speech over the SDK's WebSocket)


class SynthesisSession(Session):
    """/cognitiveservices/websocket/v1 (Python SDK) and /tts/cognitiveservices/websocket/v1 (JavaScript SDK).

    Client: speech.config, synthesis.context (output format, metadata options), ssml. Service: turn.start,
    response (names the audio stream), binary audio messages of that stream, audio.metadata SessionEnd,
    turn.end (SynthesisAdapterBase.ts, SynthesisTurn.ts). A voice the image does not have closes the
    connection with 1007.
    """

    def __init__(
        self, ws: WebSocket, parse_ssml: Callable[[bytes], str], synthesize: Callable[[str, int], bytes]
    ) -> None:
        super().__init__(ws)
        self.parse_ssml = parse_ssml
        self.synthesize = synthesize
        self.context: dict[str, Any] = {}

    def on_text(self, path: str, headers: dict[str, str], body: str) -> None:
        if path == "synthesis.context":
            self.context = usp.json_body(body)
        elif path == "ssml":
            self.speak(headers.get("x-requestid") or usp.new_id(), body)

    def speak(self, request_id: str, ssml: str) -> None:
        synthesis = self.context.get("synthesis") if isinstance(self.context.get("synthesis"), dict) else {}
        audio_options = synthesis.get("audio") if isinstance(synthesis.get("audio"), dict) else {}
        format_name = str(audio_options.get("outputFormat") or "riff-16khz-16bit-mono-pcm")
        metadata = (
            audio_options.get("metadataOptions") if isinstance(audio_options.get("metadataOptions"), dict) else {}
        )
        wanted = output_format(format_name)
        if wanted is None:
            self.ws.close(CLOSE_INVALID_PAYLOAD, "Unsupported output format %s" % format_name[:60])
            return
        rate, with_header = wanted
        try:
            text = self.parse_ssml(ssml.encode("utf-8"))
        except SsmlRejected as exc:
            self.ws.close(CLOSE_INVALID_PAYLOAD, exc.message)
            return
        try:
            _rate, pcm = usp.wav_to_pcm(self.synthesize(text, rate))
        except (OSError, RuntimeError, ValueError) as exc:
            LOG.error("Synthesis failed: %s", exc)
            self.ws.close(CLOSE_INTERNAL_ERROR, "Synthesis failed")
            return
        service_tag = uuid.uuid4().hex
        stream_id = uuid.uuid4().hex.upper()
        self.send("turn.start", request_id, {"context": {"serviceTag": service_tag}})
        self.send(
            "response",
            request_id,
            {"context": {"serviceTag": service_tag}, "audio": {"type": "inline", "streamId": stream_id}},
        )
        audio = (usp.riff_header(rate, len(pcm)) if with_header else b"") + pcm
        extra = {"X-StreamId": stream_id, "Content-Type": "audio/x-wav" if with_header else "audio/x-pcm"}
        for start in range(0, len(audio), SYNTHESIS_CHUNK_BYTES):
            self.ws.send_binary(
                usp.binary_message("audio", request_id, audio[start : start + SYNTHESIS_CHUNK_BYTES], extra)
            )
        if metadata.get("sessionEndEnabled") in (True, "true"):
            end = {"Metadata": [{"Type": "SessionEnd", "Data": {"Offset": usp.ticks(len(pcm) // 2, rate)}}]}
            self.send("audio.metadata", request_id, end)
        self.send("turn.end", request_id, {})
        LOG.info("Synthesized %d characters over WebSocket as %s (%d bytes)", len(text), format_name, len(audio))


class SsmlRejected(Exception):
    """SSML the service refuses: REST answers 400 with the message, WebSocket closes with 1007."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
