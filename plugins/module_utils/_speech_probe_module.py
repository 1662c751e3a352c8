# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The speech_probe module's logic: ask each speech container whether it really serves.

/ready and /status through _speech_probe.probe(); then one real query per kind family, sent the way Microsoft's
Speech SDKs send it to a container (observed: SDK for Python 1.53 and JavaScript 1.52 against a capture server):
- text-to-speech: REST synthesis with the exact SSML voice name; the answer must be a RIFF WAV with audio;
- speech-to-text: /speech/recognition/{interactive|conversation}/cognitiveservices/v1 over a WebSocket, USP
  messages speech.config, speech.context, audio (RIFF header first, an empty message ends the audio); the final
  speech.phrase is judged;
- language detection: /speech/universal/v2 with the speech.context of the Python SDK's SourceLanguageRecognizer
  (speech-container-lid.md tells container users to use that recognizer); PrimaryLanguage is judged.
Where Microsoft's sources leave the language-detection protocol open, an unexpected answer is reported as
inconclusive (with /ready and /status as the fallback judgement) instead of failing a real rollout.
Standard library only: it runs on the edge host (or on the controller) next to the containers.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import struct
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    FAST_TRANSCRIPTION_PATH,
    LANGUAGE_DETECTION_UNIVERSAL_PATH,
    STT_QUERY_PATHS,
    TTS_SYNTHESIS_HEALTH_PATH,
    CatalogError,
    ContainerKind,
    display_locale,
    get_kind,
    ssml_voice_name,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import (
    WS_BINARY,
    WS_NORMAL_CLOSURE,
    WS_TEXT,
    HandshakeError,
    WebSocket,
    WebSocketClosed,
    describe,
    http_request,
    kind_probe_options,
    parse_usp_text,
    parse_wav,
    probe,
    synthesize,
    use_transport,
    usp_binary,
    usp_text,
    wav_summary,
)

CHECKS = ("ready", "status", "query")
RECOGNITION_MODES = ("interactive", "conversation")
RECOGNITION_FORMATS = ("simple", "detailed")
DEFAULT_TEXT = "Hello from the speech edge."
DEFAULT_OUTPUT_FORMAT = "riff-16khz-16bit-mono-pcm"
# Candidate languages of the language-detection query: the first two of the candidates in Microsoft's
# language-identification.md examples (["en-US", "de-DE", "zh-CN"]), the pair the capture of the Python SDK used.
DEFAULT_LANGUAGES = ("en-US", "de-DE")
# language-identification.md: "up to four languages for at-start LID" (the probe detects at audio start).
MAX_AT_START_LANGUAGES = 4
# The Speech SDK's default input format (sdk/Audio/AudioStreamFormat.js): 16 kHz, 16-bit, mono PCM.
AUDIO_RATE = 16000
AUDIO_BITS = 16
AUDIO_CHANNELS = 1
AUDIO_CHUNK = 3200  # 100 ms of that format: the size of every audio message both SDKs sent
READY_POLL_SECONDS = 0.25
USER_AGENT = "speechops.edge speech_probe"
# SpeechConfig's default recognition language in both SDKs (the JavaScript capture sent language=en-US unasked).
SDK_DEFAULT_LANGUAGE = "en-US"

# RecognitionStatus of speech.phrase (common.speech/ServiceMessages/Enums.js; numbers are the enum's values).
RECOGNITION_STATUSES = (
    "Success",
    "NoMatch",
    "InitialSilenceTimeout",
    "BabbleTimeout",
    "Error",
    "EndOfDictation",
    "TooManyRequests",
    "BadRequest",
    "Forbidden",
)
# EnumTranslation.implTranslateRecognitionResult: these three become ResultReason.NoMatch (the recognizer
# answered, but heard no words); Error, BadRequest, Forbidden and anything else become Canceled.
NO_MATCH_STATUSES = ("NoMatch", "InitialSilenceTimeout", "BabbleTimeout")
# SpeechServiceRecognizer.js: "Don't event / return an EndOfDictation message" (end of a continuous session).
END_OF_DICTATION = "EndOfDictation"
NOT_JUDGED_NO_AUDIO = "transcript not judged (no speech audio given)"
LANGUAGE_NOT_JUDGED_NO_AUDIO = "language not judged (no speech audio given)"


class ProbeInputError(ValueError):
    """A module argument the probe cannot use; the message names the field, the value and the fix."""


# ---------------------------------------------------------------------------------------------------- audio


def riff_stream_header(rate: int = AUDIO_RATE, bits: int = AUDIO_BITS, channels: int = AUDIO_CHANNELS) -> bytes:
    """The 44-byte WAV header the Speech SDK sends as the first audio message: PCM format, sizes 0.

    sdk/Audio/AudioStreamFormat.js writes "file length" 0 and "data chunk length" 0: the stream has no end yet.
    """
    block_align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 0)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block_align, block_align, bits)
        + b"data"
        + struct.pack("<I", 0)
    )


def silence(seconds: float) -> bytes:
    """Digital silence in the SDK's input format (16 kHz 16-bit mono), whole 100 ms chunks, at least one."""
    chunks = max(1, round(seconds * AUDIO_RATE * 2 / AUDIO_CHUNK))
    return bytes(chunks * AUDIO_CHUNK)


def read_speech_wav(path: str, field_name: str) -> bytes:
    """The PCM samples of a 16 kHz 16-bit mono PCM WAV file, or ProbeInputError naming the field and the fix."""
    convert = "convert it, for example: sox IN.wav -r 16000 -c 1 -b 16 -e signed-integer OUT.wav"
    try:
        with open(path, "rb") as handle:
            body = handle.read()
    except OSError as exc:
        raise ProbeInputError(
            "%s %r cannot be read on the host the module runs on: %s" % (field_name, path, exc.strerror or exc)
        ) from exc
    wav = parse_wav(body)
    if wav is None:
        raise ProbeInputError("%s %r is not a RIFF WAV file with a data chunk: %s" % (field_name, path, convert))
    found = (wav.format_tag, wav.sample_rate, wav.bits_per_sample, wav.channels)
    if found != (1, AUDIO_RATE, AUDIO_BITS, AUDIO_CHANNELS):
        raise ProbeInputError(
            "%s %r is %s %d Hz %d-bit with %d channel(s); the probe sends 16 kHz 16-bit mono PCM, the Speech SDK's "
            "input format: %s"
            % (
                field_name,
                path,
                "PCM" if wav.format_tag == 1 else "format %d (not PCM)" % wav.format_tag,
                wav.sample_rate,
                wav.bits_per_sample,
                wav.channels,
                convert,
            )
        )
    if len(wav.data) < AUDIO_CHUNK:
        raise ProbeInputError("%s %r holds less than 100 ms of audio: give a recording of speech" % (field_name, path))
    return wav.data


# ------------------------------------------------------------------------------------------- USP session


def _timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # noqa: UP017 (Python 3.8+ hosts)


def _speech_config() -> dict[str, Any]:
    """speech.config as the Python SDK sends it (its system name and version replaced by the probe's own)."""
    return {
        "context": {
            "system": {"version": "1", "name": USER_AGENT, "build": platform.machine(), "lang": "Python"},
            "os": {"platform": platform.system(), "name": platform.platform(), "version": platform.release()},
            "audio": {
                "source": {
                    "type": "File",
                    "model": "",
                    "samplerate": str(AUDIO_RATE),
                    "bitspersample": str(AUDIO_BITS),
                    "channelcount": str(AUDIO_CHANNELS),
                }
            },
        }
    }


def usp_messages(speech_context: dict[str, Any], pcm: bytes, request_id: str) -> list[tuple[int, bytes]]:
    """(opcode, payload) of every message a recognition sends, in order, framed as the Python SDK frames them.

    Observed (capture of SDK 1.53, /work notes): speech.config has X-Timestamp, Path, Content-Type and no
    X-RequestId; speech.context has X-Timestamp, Path, X-RequestId; audio messages have X-Timestamp, Path,
    (Content-Type: audio/x-wav on the first, which carries the RIFF header), X-RequestId, X-StreamId; the last
    audio message is empty and ends the audio.
    """
    messages = [
        (
            WS_TEXT,
            usp_text(
                [("X-Timestamp", _timestamp()), ("Path", "speech.config"), ("Content-Type", "application/json")],
                json.dumps(_speech_config(), separators=(",", ":")),
            ),
        ),
        (
            WS_TEXT,
            usp_text(
                [("X-Timestamp", _timestamp()), ("Path", "speech.context"), ("X-RequestId", request_id)],
                json.dumps(speech_context, separators=(",", ":")),
            ),
        ),
        (
            WS_BINARY,
            usp_binary(
                [
                    ("X-Timestamp", _timestamp()),
                    ("Path", "audio"),
                    ("Content-Type", "audio/x-wav"),
                    ("X-RequestId", request_id),
                    ("X-StreamId", "1"),
                ],
                riff_stream_header(),
            ),
        ),
    ]
    for start in [*range(0, len(pcm), AUDIO_CHUNK), len(pcm)]:  # the last slice is empty: end of audio
        chunk = pcm[start : start + AUDIO_CHUNK]
        headers = [("X-Timestamp", _timestamp()), ("Path", "audio"), ("X-RequestId", request_id), ("X-StreamId", "1")]
        messages.append((WS_BINARY, usp_binary(headers, chunk)))
    return messages


def stt_speech_context(locale: str, recognition_format: str) -> dict[str, Any]:
    """speech.context of a speech-to-text recognition, as the Python SDK sends it."""
    context: dict[str, Any] = {"phraseDetection": {"language": locale}, "audio": {"streams": {"1": None}}}
    if recognition_format == "detailed":
        # Python SDK (capture): "phraseOutput":{"format":"Detailed","detailed":{"options":[...]}}; without word
        # options the list is empty, as SpeechContext.js setDetailedOutputFormat() writes it.
        context["phraseOutput"] = {"format": "Detailed", "detailed": {"options": []}}
    return context


def lid_speech_context(languages: list[str]) -> dict[str, Any]:
    """speech.context of the Python SDK's SourceLanguageRecognizer.recognize_once() (capture, /speech/universal/v2)."""
    return {
        "phraseDetection": {"mode": "None"},
        "languageId": {
            "languages": list(languages),
            "onSuccess": {"action": "None"},
            "onUnknown": {"action": "None"},
            "mode": "DetectAtAudioStart",
            "Priority": "PrioritizeLatency",
        },
        "audio": {"streams": {"1": None}},
    }


@dataclass
class Session:
    """What one recognition WebSocket session gave."""

    url: str
    accepted: bool = False
    http_status: int | None = None
    paths: list[str] = field(default_factory=list)
    phrases: list[dict[str, Any]] = field(default_factory=list)
    turn_end: bool = False
    close_code: int | None = None
    error: str | None = None
    # Why the session did not complete: connect, handshake, accept, closed, timeout (None: it did).
    failure: str | None = None


def recognition_session(url: str, speech_context: dict[str, Any], pcm: bytes, timeout: float) -> Session:
    """Open the WebSocket, stream the messages and read the answers up to turn.end, in one thread.

    Real containers answer while audio still streams (interactive recognition may end its turn before the audio
    does): between two messages whatever has arrived is read first, and turn.end stops the stream. One thread,
    because a wss:// socket must not be read and written at once (WebSocket's docstring). Returns every
    speech.phrase body in order.
    """
    session = Session(url)
    deadline = time.monotonic() + timeout
    connection_id = uuid.uuid4().hex
    # Request headers in the Python SDK's order (capture); no key: containers have no authentication.
    headers = [("User-agent", USER_AGENT), ("X-ConnectionId", connection_id), ("Sec-WebSocket-Protocol", "USP")]
    try:
        socket_ = WebSocket.connect(url, headers, timeout)
    except HandshakeError as exc:
        session.http_status = exc.status_code
        session.error = str(exc)
        session.failure = (
            "connect" if exc.status_code is None else ("accept" if exc.status_code == 101 else "handshake")
        )
        return session
    session.accepted = True
    request_id = uuid.uuid4().hex
    messages = iter(usp_messages(speech_context, pcm, request_id))
    sending = True
    send_error = ""
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if sending:
                message = next(messages, None)
                if message is not None:
                    try:
                        socket_.send(*message)
                    except OSError as exc:  # the service went away mid-stream: read why (its close frame)
                        send_error = str(exc.strerror or exc)
                        message = None
                sending = message is not None
                if sending and not socket_.readable():
                    continue  # nothing to read yet: stream on
            opcode, payload = socket_.receive(remaining)
            if opcode != WS_TEXT:
                continue
            message_headers, body = parse_usp_text(payload.decode("utf-8", "replace"))
            path = message_headers.get("path", "?").lower()  # the SDK compares paths in lowercase
            session.paths.append(path)
            if path == "speech.phrase":
                try:
                    document = json.loads(body)
                except ValueError:
                    document = None
                session.phrases.append(document if isinstance(document, dict) else {})
            elif path == "turn.end":
                session.turn_end = True
                break
    except TimeoutError:
        session.failure = "timeout"
        session.error = "no turn.end within %gs (received %s)" % (timeout, _received(session))
    except WebSocketClosed as exc:
        session.failure = "closed"
        session.close_code = exc.code
        session.error = "the service closed the WebSocket %sbefore turn.end (received %s)%s" % (
            "with code %s " % exc.code if exc.code is not None else "",
            _received(session),
            ": %s" % exc.reason if exc.reason else "",
        )
    finally:
        socket_.close()
    if session.error and send_error:
        session.error += "; sending the audio failed: %s" % send_error
    return session


def _received(session: Session) -> str:
    return ", ".join(session.paths) if session.paths else "nothing"


# --------------------------------------------------------------------------------------------- judgement


def recognition_status(phrase: dict[str, Any]) -> str | None:
    """RecognitionStatus as a name; the service may send the name or the enum number (SimpleSpeechPhrase.js)."""
    status = phrase.get("RecognitionStatus")
    if isinstance(status, int) and not isinstance(status, bool) and 0 <= status < len(RECOGNITION_STATUSES):
        return RECOGNITION_STATUSES[status]
    return status if isinstance(status, str) and status else None


def phrase_text(phrase: dict[str, Any], recognition_format: str) -> str:
    """The text the SDK reports: DisplayText (simple) or NBest[0].Display (detailed, SpeechServiceRecognizer.js)."""
    if recognition_format == "detailed":
        nbest = phrase.get("NBest")
        best = nbest[0] if isinstance(nbest, list) and nbest and isinstance(nbest[0], dict) else {}
        text = best.get("Display") or best.get("DisplayText")
    else:
        text = phrase.get("DisplayText")
    return text if isinstance(text, str) else ""


def words(text: str) -> list[str]:
    """Lowercase words without punctuation, to compare a transcript with expected words."""
    return re.findall(r"\w+(?:'\w+)?", text.casefold())


def canceled_statuses(statuses: list[str | None]) -> list[str]:
    """The statuses the SDK turns into a cancellation (EnumTranslation.js): neither Success nor the NoMatch family."""
    return [s for s in statuses if s is not None and s != "Success" and s not in NO_MATCH_STATUSES]


def final_phrases(session: Session) -> list[dict[str, Any]]:
    return [phrase for phrase in session.phrases if recognition_status(phrase) != END_OF_DICTATION]


def judge_transcript(
    session: Session, speech_given: bool, expected_words: list[str], recognition_format: str, not_judged: str
) -> dict[str, Any]:
    """ok, error, judgement, recognition_status, text of a speech-to-text session."""
    if session.failure:
        return {"ok": False, "error": session.error}
    phrases = final_phrases(session)
    if not phrases:
        return {"ok": False, "error": "turn.end without a final speech.phrase (received %s)" % _received(session)}
    statuses = [recognition_status(phrase) for phrase in phrases]
    if None in statuses:
        return {"ok": False, "error": "a speech.phrase without a RecognitionStatus (received %s)" % _received(session)}
    canceled = canceled_statuses(statuses)
    result: dict[str, Any] = {"recognition_status": statuses[-1]}
    if canceled:
        return dict(result, ok=False, error="recognition failed: RecognitionStatus %s" % canceled[0])
    texts = [
        phrase_text(phrase, recognition_format).strip() for phrase in phrases if recognition_status(phrase) == "Success"
    ]
    text = " ".join(t for t in texts if t)
    if text:
        result["text"] = text
    if not speech_given:
        if "Success" in statuses and text:
            # Microsoft's service answers silence with NoMatch or InitialSilenceTimeout; a transcript of silence
            # is odd but proves the recognizer answers: report it, do not fail the rollout.
            return dict(
                result,
                ok=True,
                judgement=not_judged,
                inconclusive="the service recognised %r in silence (Microsoft's service answers NoMatch or "
                "InitialSilenceTimeout there)" % text,
            )
        return dict(result, ok=True, judgement=not_judged)
    if not text:
        status = next((s for s in reversed(statuses) if s != "Success"), "Success with an empty text")
        return dict(result, ok=False, error="speech audio was not recognised: RecognitionStatus %s" % status)
    missing = [word for word in expected_words if not set(words(word)) <= set(words(text))]
    if missing:
        return dict(
            result,
            ok=False,
            error="the transcript %r lacks the expected word(s) %s" % (text, ", ".join(repr(w) for w in missing)),
        )
    judged = "transcript %r" % text + (" contains every expected word" if expected_words else " (no words expected)")
    return dict(result, ok=True, judgement=judged)


def judge_language(
    session: Session, speech_given: bool, languages: list[str], expected_language: str | None
) -> dict[str, Any]:
    """ok, error or inconclusive, judgement, recognition_status, language of a language-detection session.

    Microsoft documents no wire protocol for the language-detection container, only the SDK to use with it, so
    anything that does not prove a fault (a refused upgrade with a 4xx, a normal close, no answer, missing fields)
    is inconclusive; 5xx, a close with an error code, a wrong handshake or a wrong language fail.
    """
    if session.failure == "handshake" and session.http_status is not None and 400 <= session.http_status < 500:
        return {"ok": None, "inconclusive": "%s; %s is what the Python SDK opens" % (session.error, session.url)}
    if session.failure == "closed" and session.close_code in (None, WS_NORMAL_CLOSURE) and not session.phrases:
        return {"ok": None, "inconclusive": session.error}
    if session.failure == "timeout" and not session.phrases:
        return {"ok": None, "inconclusive": session.error}
    if session.failure:
        return {"ok": False, "error": session.error}
    phrases = final_phrases(session)
    if not phrases:
        return {"ok": None, "inconclusive": "no speech.phrase before turn.end (received %s)" % _received(session)}
    statuses = [recognition_status(phrase) for phrase in phrases]
    canceled = canceled_statuses(statuses)
    if canceled:
        return {"ok": False, "recognition_status": canceled[0], "error": "RecognitionStatus %s" % canceled[0]}
    detected = [
        phrase["PrimaryLanguage"].get("Language")
        for phrase in phrases
        if isinstance(phrase.get("PrimaryLanguage"), dict) and phrase["PrimaryLanguage"].get("Language")
    ]
    result: dict[str, Any] = {"recognition_status": statuses[-1]}
    if detected:
        result["language"] = detected[0]
    if not speech_given:
        return dict(result, ok=True, judgement=LANGUAGE_NOT_JUDGED_NO_AUDIO)
    if not detected:
        if statuses[-1] in NO_MATCH_STATUSES:
            return dict(result, ok=False, error="speech audio was not recognised: RecognitionStatus %s" % statuses[-1])
        return dict(
            result,
            ok=None,
            inconclusive="the answer names no PrimaryLanguage.Language (RecognitionStatus %s)" % statuses[-1],
        )
    folded = [language.casefold() for language in languages]
    if detected[0].casefold() not in folded:
        return dict(result, ok=False, error="detected %r, not one of the candidates %s" % (detected[0], languages))
    if expected_language and detected[0].casefold() != expected_language.casefold():
        return dict(result, ok=False, error="detected %r, expected %r" % (detected[0], expected_language))
    return dict(result, ok=True, judgement="detected %s among %s" % (detected[0], ", ".join(languages)))


# ------------------------------------------------------------------------------------ queries per family


@dataclass
class Target:
    """One container to check, with every option resolved (container value, else the module's)."""

    name: str
    kind: ContainerKind
    base_url: str
    checks: list[str]
    locale: str | None
    voice: str | None
    ssml_voice: str | None
    speech: bytes | None  # PCM of the speech audio, None: silence
    audio_file: str | None
    audio_language: str | None
    expected_words: list[str]
    languages: list[str]
    expected_language: str | None


def _ws_url(base_url: str, path: str, query: dict[str, str]) -> str:
    return "ws" + base_url[len("http") :] + path + ("?" + urlencode(sorted(query.items())) if query else "")


def stt_query(target: Target, params: dict[str, Any]) -> dict[str, Any]:
    """Speech-to-text: one recognition, judged by its final speech.phrase."""
    mode, recognition_format = params["recognition_mode"], params["recognition_format"]
    path = next(path for path in STT_QUERY_PATHS if path.startswith("/speech/recognition/%s/" % mode))
    # Without a known locale (custom speech-to-text), the SDKs' default recognition language.
    locale = target.locale or SDK_DEFAULT_LANGUAGE
    # The Python SDK sends language=... and, for detailed output, format=detailed (capture; keys sorted).
    query_args = {"language": locale}
    if recognition_format == "detailed":
        query_args["format"] = "detailed"
    url = _ws_url(target.base_url, path, query_args)
    speech = target.speech
    not_judged = NOT_JUDGED_NO_AUDIO
    if (
        speech is not None
        and target.audio_language
        and target.locale
        and target.audio_language.casefold() != target.locale.casefold()
    ):
        speech = None
        not_judged = "transcript not judged (the audio is %s, the container recognises %s)" % (
            target.audio_language,
            target.locale,
        )
    pcm = speech if speech is not None else silence(params["audio_seconds"])
    session = recognition_session(url, stt_speech_context(locale, recognition_format), pcm, params["request_timeout"])
    query = _session_summary("recognition", session, speech is not None, target)
    query.update(judge_transcript(session, speech is not None, target.expected_words, recognition_format, not_judged))
    return query


def lid_query(target: Target, params: dict[str, Any]) -> dict[str, Any]:
    """Language detection: SourceLanguageRecognizer's session on /speech/universal/v2, judged by PrimaryLanguage."""
    url = _ws_url(target.base_url, LANGUAGE_DETECTION_UNIVERSAL_PATH, {})
    speech_given = target.speech is not None
    pcm = target.speech if target.speech is not None else silence(params["audio_seconds"])
    session = recognition_session(url, lid_speech_context(target.languages), pcm, params["request_timeout"])
    query = _session_summary("language-detection", session, speech_given, target)
    query["languages"] = list(target.languages)
    if target.expected_language:
        query["expected_language"] = target.expected_language
    query.update(judge_language(session, speech_given, target.languages, target.expected_language))
    if query.get("ok") is None:
        query.update(_fallback(target, params, query["inconclusive"]))
    return query


def _session_summary(query_type: str, session: Session, speech_given: bool, target: Target) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "type": query_type,
        "url": session.url,
        "accepted": session.accepted,
        "messages": session.paths,
        "audio_source": target.audio_file if speech_given else "silence",
    }
    if session.http_status not in (None, 101):
        summary["status_code"] = session.http_status
    if session.close_code is not None:
        summary["close_code"] = session.close_code
    return summary


def _fallback(target: Target, params: dict[str, Any], reason: str) -> dict[str, Any]:
    """An inconclusive query falls back to /ready and /status: serving there is a pass, with the reason kept."""
    result = _look(target, min(params["request_timeout"], 10.0))
    fallback = {"ready": result.ready, "api_status": result.api_status}
    if result.ready and result.api_status in params["accept_api_statuses"]:
        return {"ok": True, "fallback": fallback, "judgement": "inconclusive, judged by /ready and /status"}
    return {"ok": False, "fallback": fallback, "error": "%s; and the fallback: %s" % (reason, describe(result))}


def tts_query(target: Target, params: dict[str, Any]) -> dict[str, Any]:
    """Text-to-speech: REST synthesis with the exact SSML voice name; a RIFF WAV with audio passes."""
    voice = target.ssml_voice
    if not voice:
        if not (target.locale and target.voice):
            return {"type": "synthesize", "ok": None, "skipped": "no SSML voice: set ssml_voice, or locale and voice"}
        voice = ssml_voice_name(target.locale, target.voice)
    query: dict[str, Any] = {"type": "synthesize", "url": target.base_url + "/speech/synthesize/cognitiveservices/v1"}
    query["ssml_voice"] = voice
    try:
        code, body = synthesize(
            target.base_url, voice, params["text"], params["output_format"], params["request_timeout"], target.locale
        )
    except (OSError, ValueError) as exc:
        return dict(query, ok=False, error="synthesis request failed: %s" % (getattr(exc, "reason", None) or exc))
    query["status_code"] = code
    if code != 200:
        detail = body[:200].decode("utf-8", "replace").strip()
        hint = " (SSML voice names are case-sensitive: %s)" % voice if code == 400 else ""
        return dict(query, ok=False, error="synthesis answered HTTP %d: %s%s" % (code, detail, hint))
    summary = wav_summary(body)
    if not summary or not summary.get("data_bytes"):
        return dict(query, ok=False, error="synthesis answered %d bytes that are not a WAV with audio" % len(body))
    query.update(ok=True, audio=summary, audio_bytes=len(body))
    query["synthesis_health"] = _synthesis_health(target.base_url, params["request_timeout"])
    if params.get("audio_dir"):
        query.update(_save_audio(params["audio_dir"], target.name, body, params["check_mode"]))
    return query


def _synthesis_health(base_url: str, timeout: float) -> int | None:
    """HTTP status of GET /synthesize/health (neural TTS 3.10+; older images 404): reported, not judged."""
    try:
        return http_request(base_url + TTS_SYNTHESIS_HEALTH_PATH, min(timeout, 10.0))[0]
    except (OSError, ValueError):
        return None


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


def _multipart(fields: list[tuple[str, str, str, bytes]]) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data request: (name, filename, content type, data) per part."""
    boundary = "speechops-%s" % uuid.uuid4().hex
    body = b""
    for name, filename, content_type, data in fields:
        disposition = 'form-data; name="%s"' % name + ('; filename="%s"' % filename if filename else "")
        body += (
            "--%s\r\nContent-Disposition: %s\r\nContent-Type: %s\r\n\r\n" % (boundary, disposition, content_type)
        ).encode("ascii")
        body += data + b"\r\n"
    return "multipart/form-data; boundary=%s" % boundary, body + ("--%s--\r\n" % boundary).encode("ascii")


def ft_query(target: Target, params: dict[str, Any]) -> dict[str, Any]:
    """Fast transcription: the REST transcribe call of speech-container-ft.md, a form with `audio` and `definition`."""
    speech_given = target.speech is not None
    pcm = target.speech if speech_given else silence(params["audio_seconds"])
    wav = riff_stream_header()[:4] + struct.pack("<I", 36 + len(pcm)) + riff_stream_header()[8:40]
    wav += struct.pack("<I", len(pcm)) + pcm
    definition = {"locales": [target.locale or SDK_DEFAULT_LANGUAGE]}
    content_type, body = _multipart(
        [
            ("audio", "probe.wav", "audio/wav", wav),
            ("definition", "", "application/json", json.dumps(definition).encode("utf-8")),
        ]
    )
    query: dict[str, Any] = {"type": "transcribe", "url": target.base_url + FAST_TRANSCRIPTION_PATH}
    try:
        code, answer, _headers = http_request(
            query["url"], params["request_timeout"], data=body, headers={"Content-Type": content_type}
        )
    except (OSError, ValueError) as exc:
        return dict(query, ok=False, error="transcription request failed: %s" % (getattr(exc, "reason", None) or exc))
    query["status_code"] = code
    if code != 200:
        detail = answer[:200].decode("utf-8", "replace").strip()
        return dict(query, ok=False, error="transcription answered HTTP %d: %s" % (code, detail))
    try:
        document = json.loads(answer.decode("utf-8"))
        combined = document.get("combinedPhrases") or []
        text = " ".join(str(item.get("text", "")) for item in combined).strip()
    except (ValueError, AttributeError, TypeError):
        return dict(query, ok=False, error="transcription answered something that is not the documented JSON")
    if text:
        query["text"] = text
    if not speech_given:
        return dict(query, ok=True, judgement=NOT_JUDGED_NO_AUDIO)
    if not text:
        return dict(query, ok=False, error="speech audio was not transcribed: combinedPhrases is empty")
    missing = [word for word in target.expected_words if not set(words(word)) <= set(words(text))]
    if missing:
        return dict(
            query,
            ok=False,
            error="the transcript %r lacks the expected word(s) %s" % (text, ", ".join(repr(w) for w in missing)),
        )
    return dict(query, ok=True, judgement="transcript %r" % text)


def query_function(kind: ContainerKind) -> Callable[[Target, dict[str, Any]], dict[str, Any]] | None:
    """The real query of a kind family; None for a kind the probe has no query for (yet)."""
    if kind.is_text_to_speech:
        return tts_query
    if kind.is_speech_to_text:
        return stt_query
    if kind.name == "language-detection":
        return lid_query
    if kind.name == "fast-transcription":
        return ft_query
    return None


# ------------------------------------------------------------------------------------------------ module


def _look(target: Target, timeout: float) -> Any:
    """/ready and /status, or the kind's own health path and no /status (catalog: ready_path, has_status)."""
    return probe(target.base_url, timeout, **kind_probe_options(target.kind.name))


def _wait_ready(target: Target, wait_timeout: float, probe_timeout: float) -> Any:
    deadline = time.monotonic() + wait_timeout
    while True:
        result = _look(target, probe_timeout)
        if result.ready or time.monotonic() >= deadline:
            return result
        time.sleep(READY_POLL_SECONDS)


def check_container(target: Target, params: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": target.name,
        "kind": target.kind.name,
        "url": target.base_url,
        "problems": [],
        "warnings": [],
    }
    result = _wait_ready(target, params["wait_timeout"], min(params["request_timeout"], 10.0))
    entry.update(result.as_dict())
    if "ready" in target.checks and not result.ready:
        entry["problems"].append(describe(result))
    status_checked = "status" in target.checks and target.kind.has_status
    if result.ready and status_checked and result.api_status not in params["accept_api_statuses"]:
        entry["problems"].append(describe(result))
    if result.ready and "query" in target.checks and not entry["problems"]:
        run_query = query_function(target.kind)
        if run_query is None:
            entry["query"] = {"ok": None, "skipped": "the probe has no real query for kind %s" % target.kind.name}
        else:
            entry["query"] = run_query(target, params)
        if entry["query"].get("ok") is False:
            entry["problems"].append(entry["query"]["error"])
        if entry["query"].get("inconclusive"):
            entry["warnings"].append("%s: query inconclusive: %s" % (target.name, entry["query"]["inconclusive"]))
    entry["ok"] = not entry["problems"]
    return entry


def _locale(value: str | None, field_name: str) -> str | None:
    if not value:
        return None
    try:
        return display_locale(value)
    except CatalogError as exc:
        raise ProbeInputError("%s: %s" % (field_name, exc)) from exc


def resolve_target(index: int, container: dict[str, Any], params: dict[str, Any], audio_cache: dict) -> Target:
    """A Target from one containers[] entry and the module's defaults; ProbeInputError names the field."""
    where = "containers[%d] (%s)" % (index, container.get("name"))
    try:
        kind = get_kind(container["kind"])
    except CatalogError as exc:
        raise ProbeInputError("%s.kind: %s" % (where, exc)) from exc

    def option(name: str) -> tuple[Any, str]:
        value = container.get(name)
        return (value, "%s.%s" % (where, name)) if value not in (None, [], "") else (params.get(name), name)

    # Fast transcription names a model group where other kinds name a locale (en-gpu-1.0.0-preview: "en").
    if kind.name == "fast-transcription" and container.get("locale") and "-" not in str(container["locale"]):
        locale: str | None = str(container["locale"])
    else:
        locale = _locale(container.get("locale"), where + ".locale")
    audio_file, audio_field = option("audio_file")
    speech = None
    if audio_file and (kind.is_speech_to_text or kind.name in ("language-detection", "fast-transcription")):
        if audio_file not in audio_cache:
            audio_cache[audio_file] = read_speech_wav(audio_file, audio_field)
        speech = audio_cache[audio_file]
    audio_language_value, audio_language_field = option("audio_language")
    audio_language = _locale(audio_language_value, audio_language_field)
    expected_words, expected_field = option("expected_words")
    if expected_words and not audio_file:
        raise ProbeInputError(
            "%s %s needs speech audio to judge: set audio_file (a 16 kHz 16-bit mono WAV of those words)"
            % (expected_field, expected_words)
        )
    languages_value, languages_field = option("languages")
    languages = [_locale(language, languages_field) or "" for language in languages_value or DEFAULT_LANGUAGES]
    if not 1 <= len(languages) <= MAX_AT_START_LANGUAGES:
        raise ProbeInputError(
            "%s %s: give 1 to %d candidate languages (at-start language identification, language-identification.md)"
            % (languages_field, languages, MAX_AT_START_LANGUAGES)
        )
    expected_value, expected_language_field = option("expected_language")
    expected_language = _locale(expected_value, expected_language_field)
    if expected_language is None and audio_language and audio_file:
        expected_language, expected_language_field = audio_language, audio_language_field
    if (
        kind.name == "language-detection"
        and expected_language
        and expected_language.casefold() not in [language.casefold() for language in languages]
    ):
        raise ProbeInputError(
            "%s %s is not one of the candidate languages %s (%s): add it to the candidates"
            % (expected_language_field, expected_language, languages, languages_field)
        )
    host = container.get("host") or params["host"]
    return Target(
        name=container["name"],
        kind=kind,
        base_url="%s://%s:%d"
        % ("https" if params.get("tls") else "http", "[%s]" % host if ":" in host else host, int(container["port"])),
        checks=container.get("checks") or params["checks"],
        locale=locale,
        voice=container.get("voice"),
        ssml_voice=container.get("ssml_voice"),
        speech=speech,
        audio_file=audio_file or None,
        audio_language=audio_language,
        expected_words=[str(word) for word in expected_words or []],
        languages=languages,
        expected_language=expected_language,
    )


def run_speech_probe(module: Any) -> None:
    params = dict(module.params)
    params["check_mode"] = module.check_mode
    # Behind the speech gateway: TLS verified against ca_cert, the access key with every request.
    use_transport(params.get("ca_cert"), params.get("access_key"), bool(params.get("tls")))
    audio_cache: dict[str, bytes] = {}
    try:
        targets = [
            resolve_target(index, container, params, audio_cache)
            for index, container in enumerate(params["containers"])
        ]
    except ProbeInputError as exc:
        module.fail_json(msg=str(exc))
    results: list[dict[str, Any]] = []
    if targets:
        with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            results = list(pool.map(lambda target: check_container(target, params), targets))
    for entry in results:
        for warning in entry["warnings"]:
            module.warn(warning)
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
