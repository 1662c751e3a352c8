"""Conformance checks: Microsoft's Speech SDK for Python (azure-cognitiveservices-speech, pinned in
requirements/conformance.txt) against running Speech containers, used the way Microsoft documents it.

Every check cites where the behaviour it expects comes from. Paths starting with `articles/` are in
MicrosoftDocs/azure-ai-docs (learn.microsoft.com); SDK paths are in microsoft/cognitive-services-speech-sdk-js
(the JavaScript SDK's source, which shares the service protocol with the Python SDK's native core).
Every wait is bounded: events with a deadline, never a sleep used as synchronisation.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest
from conformance_support import (
    ENGLISH_ID,
    GERMAN_TEXT,
    MAX_WER,
    RFC6455_EXAMPLE_ACCEPT,
    RFC6455_EXAMPLE_KEY,
    TRANSCRIPT_IDS,
    Target,
    espeak_pcm,
    goforward_pcm,
    librivox_pcm,
    librivox_transcripts,
    silence_pcm,
    to_wav,
    wav_info,
    word_errors,
)

# Deadline of one SDK operation (connect, stream, result). A real container answers in well under a second
# per utterance once /ready says its model is loaded.
DEADLINE = float(os.environ.get("SPEECHOPS_CONFORMANCE_DEADLINE", "20"))
CANDIDATES = ["en-US", "de-DE"]
# Voices Microsoft lists for neural text to speech (articles/ai-services/speech-service/language-support.md,
# tab tts); one of them differs from the image's voice, so SSML naming it must be refused.
OTHER_VOICES = ("de-DE-KatjaNeural", "en-GB-SoniaNeural")


# --------------------------------------------------------------------------------------------------
# SDK plumbing


@dataclass
class Session:
    """What a recognizer reported: interim texts (with arrival time), final results, cancellation."""

    recognizing: list[tuple[float, str]] = field(default_factory=list)
    recognized: list[speechsdk.SpeechRecognitionResult] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    stopped: threading.Event = field(default_factory=threading.Event)

    def attach(self, recognizer: speechsdk.Recognizer) -> None:
        if recognizer.recognizing is not None:  # SourceLanguageRecognizer has no interim results
            recognizer.recognizing.connect(lambda evt: self.recognizing.append((time.monotonic(), evt.result.text)))
        recognizer.recognized.connect(lambda evt: self.recognized.append(evt.result))
        recognizer.canceled.connect(self._on_canceled)
        recognizer.session_stopped.connect(lambda _evt: self.stopped.set())

    def _on_canceled(self, evt: Any) -> None:
        details = evt.cancellation_details
        # End of the audio stream also raises `canceled` (reason EndOfStream): only errors count.
        if details.reason == speechsdk.CancellationReason.Error:
            self.canceled.append("%s: %s" % (details.code, details.error_details))
            self.stopped.set()

    def wait(self, what: str) -> None:
        assert self.stopped.wait(DEADLINE), "%s: no session end within %.0f s" % (what, DEADLINE)
        assert not self.canceled, "%s: canceled with an error: %s" % (what, "; ".join(self.canceled))

    def speech(self) -> list[speechsdk.SpeechRecognitionResult]:
        return [result for result in self.recognized if result.reason == speechsdk.ResultReason.RecognizedSpeech]


def wav_file(tmp_path: Path, name: str, pcm: bytes) -> str:
    path = tmp_path / (name + ".wav")
    path.write_bytes(to_wav(pcm))
    return str(path)


def stt_config(target: Target, **kwargs: Any) -> speechsdk.SpeechConfig:
    # articles/ai-services/speech-service/includes/containers-speech-config-ws.md (Python pivot):
    # `speechsdk.SpeechConfig(host="ws://localhost:5000")`.
    config = speechsdk.SpeechConfig(host=target.ws_host, **{**target.sdk_arguments, **kwargs})
    config.speech_recognition_language = target.locale
    return config


def recognize_once(recognizer: speechsdk.Recognizer, what: str) -> speechsdk.SpeechRecognitionResult:
    session = Session()
    session.attach(recognizer)
    future = recognizer.recognize_once_async()
    assert session.stopped.wait(DEADLINE), "%s: no result within %.0f s" % (what, DEADLINE)
    return future.get()


def recognize_continuous(recognizer: speechsdk.Recognizer, what: str) -> Session:
    session = Session()
    session.attach(recognizer)
    recognizer.start_continuous_recognition_async().get()
    try:
        session.wait(what)
    finally:
        recognizer.stop_continuous_recognition_async()
    return session


def describe(result: speechsdk.SpeechRecognitionResult) -> str:
    text = "reason=%s text=%r" % (result.reason, result.text)
    if result.reason == speechsdk.ResultReason.Canceled:
        details = result.cancellation_details
        text += " canceled: %s %s" % (details.code, details.error_details)
    elif result.reason == speechsdk.ResultReason.NoMatch:
        text += " no match: %s" % result.no_match_details.reason
    return text


def lexical(result: speechsdk.SpeechRecognitionResult) -> str:
    """The best hypothesis in spoken form (detailed output), comparable with a human transcript."""
    nbest = json.loads(result.json).get("NBest") or []
    return nbest[0].get("Lexical", "") if nbest else result.text


# --------------------------------------------------------------------------------------------------
# speech-to-text and custom speech-to-text
# Sources: articles/ai-services/speech-service/speech-container-stt.md and speech-container-cstt.md
# ("Use the container": the speech to text quickstart with host instead of key and region),
# articles/ai-services/speech-service/how-to-recognize-speech.md (recognize once, continuous, dictation).


def test_recognize_once(stt: Target, tmp_path: Path) -> None:
    # how-to-recognize-speech.md "Recognize speech from a file": recognize_once() -> RecognizedSpeech.
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "goforward", goforward_pcm()))
    result = recognize_once(speechsdk.SpeechRecognizer(stt_config(stt), audio_config=audio), "recognize_once")
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech, describe(result)
    assert result.text.strip(), describe(result)


def test_continuous(stt: Target, tmp_path: Path) -> None:
    # how-to-recognize-speech.md "Continuous recognition": recognized events, then session_stopped at the
    # end of the file; the SDK opens /speech/recognition/conversation/... for it.
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "utterance", librivox_pcm(TRANSCRIPT_IDS[0])))
    session = recognize_continuous(speechsdk.SpeechRecognizer(stt_config(stt), audio_config=audio), "continuous")
    assert session.speech() and any(r.text.strip() for r in session.speech()), [describe(r) for r in session.recognized]


def test_dictation(stt: Target, tmp_path: Path) -> None:
    # how-to-recognize-speech.md "Dictation mode": speech_config.enable_dictation(); the SDK then opens
    # /speech/recognition/dictation/cognitiveservices/v1, one of the container's WebSocket paths.
    config = stt_config(stt)
    config.enable_dictation()
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "goforward", goforward_pcm()))
    result = recognize_once(speechsdk.SpeechRecognizer(config, audio_config=audio), "dictation")
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech, describe(result)
    assert result.text.strip(), describe(result)


def test_detailed_output(stt: Target, tmp_path: Path) -> None:
    # articles/ai-services/speech-service/rest-speech-to-text-short.md "Detailed format": NBest, each entry
    # with Lexical, ITN and Display; get-speech-recognition-results.md shows OutputFormat.Detailed in the SDK.
    config = stt_config(stt)
    config.output_format = speechsdk.OutputFormat.Detailed
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "goforward", goforward_pcm()))
    result = recognize_once(speechsdk.SpeechRecognizer(config, audio_config=audio), "detailed")
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech, describe(result)
    body = json.loads(result.json)
    assert body.get("RecognitionStatus") == "Success", body
    nbest = body.get("NBest")
    assert isinstance(nbest, list) and nbest, "no NBest in %s" % body
    for name in ("Lexical", "ITN", "Display"):
        assert isinstance(nbest[0].get(name), str) and nbest[0][name].strip(), "NBest[0] lacks %s: %s" % (name, body)


def test_silence_is_no_match(stt: Target, tmp_path: Path) -> None:
    # rest-speech-to-text-short.md "RecognitionStatus": NoMatch ("speech was detected ... but no words from
    # the target language were matched") and InitialSilenceTimeout ("the start of the audio stream contained
    # only silence"); the SDK maps both to ResultReason.NoMatch (src/common.speech/EnumTranslation.ts) with
    # NoMatchDetails. Six seconds of silence outlast the service's initial silence timeout.
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "silence", silence_pcm(6.0)))
    result = recognize_once(speechsdk.SpeechRecognizer(stt_config(stt), audio_config=audio), "silence")
    assert result.reason == speechsdk.ResultReason.NoMatch, describe(result)
    assert result.no_match_details.reason in (
        speechsdk.NoMatchReason.InitialSilenceTimeout,
        speechsdk.NoMatchReason.NotRecognized,
    ), describe(result)


def test_live_stream_interim_results(stt: Target) -> None:
    # articles/ai-services/speech-service/how-to-use-audio-input-streams.md (PushAudioInputStream) and
    # speech-container-stt.md ("transcribes real-time speech ... with intermediate results"): `recognizing`
    # events (speech.hypothesis) arrive while the audio is still streaming, not after the stream is closed.
    chunk_seconds = 0.1
    chunk_bytes = int(16000 * 2 * chunk_seconds)
    stream_format = speechsdk.audio.AudioStreamFormat(samples_per_second=16000, bits_per_sample=16, channels=1)
    stream = speechsdk.audio.PushAudioInputStream(stream_format=stream_format)
    recognizer = speechsdk.SpeechRecognizer(stt_config(stt), audio_config=speechsdk.audio.AudioConfig(stream=stream))
    session = Session()
    session.attach(recognizer)
    recognizer.start_continuous_recognition_async().get()
    audio = goforward_pcm() + silence_pcm(1.0)
    start = time.monotonic()
    try:
        for index, offset in enumerate(range(0, len(audio), chunk_bytes)):
            stream.write(audio[offset : offset + chunk_bytes])
            # Pace the source like a microphone: this is the behaviour under test (audio arriving in real
            # time), not synchronisation with the service.
            time.sleep(max(0.0, start + (index + 1) * chunk_seconds - time.monotonic()))
        closed_at = time.monotonic()
        stream.close()
        session.wait("live stream")
    finally:
        recognizer.stop_continuous_recognition_async()
    early = [text for arrived, text in session.recognizing if arrived < closed_at]
    assert early, "no interim result (recognizing event) before the stream was closed after %.1f s; %d after it" % (
        closed_at - start,
        len(session.recognizing),
    )
    assert any(r.text.strip() for r in session.speech()), [describe(r) for r in session.recognized]


def test_transcript_of_spoken_audio(stt: Target, tmp_path: Path) -> None:
    # Human speech (LibriVox recordings in Debian's pocketsphinx-testdata) against the package's own
    # transcripts; the word error rate is computed on the Lexical (spoken) form of the detailed output.
    if not stt.locale.lower().startswith("en-"):
        pytest.skip("reference recordings are English; target locale is %s" % stt.locale)
    transcripts = librivox_transcripts()
    errors = length = 0
    heard = []
    for utterance in TRANSCRIPT_IDS:
        config = stt_config(stt)
        config.output_format = speechsdk.OutputFormat.Detailed
        audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, utterance, librivox_pcm(utterance)))
        session = recognize_continuous(speechsdk.SpeechRecognizer(config, audio_config=audio), utterance)
        hypothesis = " ".join(lexical(result) for result in session.speech())
        utterance_errors, utterance_length = word_errors(transcripts[utterance], hypothesis)
        errors += utterance_errors
        length += utterance_length
        heard.append("%r for %r" % (hypothesis, transcripts[utterance]))
    wer = errors / length
    assert wer <= MAX_WER, "word error rate %.2f > %.2f: %s" % (wer, MAX_WER, "; ".join(heard))


def test_subscription_key_is_accepted(stt: Target, tmp_path: Path) -> None:
    # SpeechConfig(host=..., subscription=KEY) sends Ocp-Apim-Subscription-Key; Microsoft's own container
    # client does this (microsoft/batch-processing-kit batchkit_examples/speech_sdk/recognize.py), and the
    # container API has no authentication (articles/ai-services/containers/includes/
    # cognitive-services-container-security.md: "By default there is no security on the ... container API").
    # Behind the gateway the key must be one it accepts (the target's); a container alone takes any key.
    config = stt_config(stt, subscription=stt.key or "conformance-check-not-a-real-key")
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "goforward", goforward_pcm()))
    result = recognize_once(speechsdk.SpeechRecognizer(config, audio_config=audio), "with subscription key")
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech, describe(result)


def test_rfc6455_handshake(stt: Target) -> None:
    # RFC 6455 section 1.3: key dGhlIHNhbXBsZSBub25jZQ== must be answered with
    # Sec-WebSocket-Accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo= (browsers and the JavaScript SDK's `ws` verify it).
    path = "/speech/recognition/interactive/cognitiveservices/v1?language=" + stt.locale
    request = (
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
        % (path, stt.authority, RFC6455_EXAMPLE_KEY, "".join("%s: %s\r\n" % pair for pair in stt.headers.items()))
    )
    with (
        socket.create_connection((stt.host, stt.port), timeout=DEADLINE) as raw,
        ssl.create_default_context().wrap_socket(raw, server_hostname=stt.host) if stt.tls else raw as sock,
    ):
        sock.sendall(request.encode("ascii"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    lines = head.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    assert lines[0].split(" ")[1:2] == ["101"], "no 101 Switching Protocols: %r" % lines[:1]
    headers = {name.strip().lower(): value.strip() for name, _sep, value in (line.partition(":") for line in lines[1:])}
    assert headers.get("sec-websocket-accept") == RFC6455_EXAMPLE_ACCEPT, headers


# --------------------------------------------------------------------------------------------------
# speechops.edge's speech gateway in front of the containers (skipped for targets without it): Microsoft's SDK is
# refused without a key, with a wrong key and over plain ws://, and says so as it says it for Azure.


@pytest.mark.parametrize("how", ["no key", "wrong key", "plain ws"])
def test_gateway_refuses(stt: Target, tmp_path: Path, how: str) -> None:
    if not stt.tls:
        pytest.skip("the target is not behind the speech gateway")
    host = "ws://" + stt.authority if how == "plain ws" else stt.ws_host
    keys = {"no key": {}, "wrong key": {"subscription": stt.key[::-1]}, "plain ws": stt.sdk_arguments}[how]
    config = speechsdk.SpeechConfig(host=host, **keys)
    config.speech_recognition_language = stt.locale
    audio = speechsdk.audio.AudioConfig(filename=wav_file(tmp_path, "goforward", goforward_pcm()))
    result = recognize_once(speechsdk.SpeechRecognizer(config, audio_config=audio), how)
    assert result.reason == speechsdk.ResultReason.Canceled, describe(result)
    details = result.cancellation_details
    assert details.reason == speechsdk.CancellationReason.Error, describe(result)
    if how != "plain ws":  # "WebSocket upgrade failed: Authentication error (401)"
        assert "401" in details.error_details, describe(result)


def test_gateway_rest_refuses_without_a_key(tts: Target) -> None:
    if not tts.tls:
        pytest.skip("the target is not behind the speech gateway")
    bare = Target(tts.kind, tts.host, tts.port, tts.locale, tts.voice, tls=True)
    status, headers, _body = post_ssml(bare, ssml_for(tts.voice))
    assert status == 401 and "Ocp-Apim-Subscription-Key" in headers.get(
        "www-authenticate", headers.get("WWW-Authenticate", "")
    )


# --------------------------------------------------------------------------------------------------
# neural text-to-speech
# Sources: articles/ai-services/speech-service/speech-container-ntts.md ("Use the container": the text to speech
# quickstart with host "http://localhost:5000"; "SSML voice element": the voice name must be the image's,
# e.g. en-US-AriaNeural), get-started-text-to-speech.md, how-to-speech-synthesis.md.


def synthesize(target: Target, ssml: str | None = None, text: str | None = None) -> speechsdk.SpeechSynthesisResult:
    # articles/ai-services/speech-service/includes/containers-speech-config-http.md: SpeechConfig(host="http://...").
    config = speechsdk.SpeechConfig(host=target.http_host, **target.sdk_arguments)
    config.speech_synthesis_voice_name = target.voice
    config.set_speech_synthesis_output_format(speechsdk.SpeechSynthesisOutputFormat.Riff16Khz16BitMonoPcm)
    synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
    done = threading.Event()
    synthesizer.synthesis_completed.connect(lambda _evt: done.set())
    synthesizer.synthesis_canceled.connect(lambda _evt: done.set())
    future = synthesizer.speak_ssml_async(ssml) if ssml is not None else synthesizer.speak_text_async(text)
    assert done.wait(DEADLINE), "no synthesis result within %.0f s" % DEADLINE
    return future.get()


def ssml_for(voice: str, text: str = "This is the text that is spoken.") -> str:
    # The SSML of speech-container-ntts.md "SSML voice element".
    return (
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="%s">'
        '<voice name="%s">%s</voice></speak>' % ("-".join(voice.split("-")[:2]), voice, text)
    )


def describe_synthesis(result: speechsdk.SpeechSynthesisResult) -> str:
    text = "reason=%s audio=%d bytes" % (result.reason, len(result.audio_data or b""))
    if result.reason == speechsdk.ResultReason.Canceled:
        details = result.cancellation_details
        text += " canceled: %s %s" % (details.reason, details.error_details)
    return text


def assert_pcm_wav(data: bytes, what: str) -> None:
    info = wav_info(data)
    assert (info.sample_width, info.channels) == (2, 1), "%s: not 16-bit mono PCM: %s" % (what, info)
    assert info.seconds > 0.3, "%s: only %.2f s of audio" % (what, info.seconds)


def test_tts_speak_text(tts: Target) -> None:
    # get-started-text-to-speech.md: speak_text_async -> SynthesizingAudioCompleted with audio_data.
    result = synthesize(tts, text="Hello from the conformance check. This is a test.")
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted, describe_synthesis(result)
    assert_pcm_wav(result.audio_data, "speak_text")


def test_tts_speak_ssml(tts: Target) -> None:
    # how-to-speech-synthesis.md "Use SSML to customize speech characteristics": speak_ssml_async.
    result = synthesize(tts, ssml=ssml_for(tts.voice))
    assert result.reason == speechsdk.ResultReason.SynthesizingAudioCompleted, describe_synthesis(result)
    assert_pcm_wav(result.audio_data, "speak_ssml")


def assert_refused_voice(target: Target, voice: str) -> None:
    """The image's own voice is spoken over the same SDK path (so a refusal is not a missing endpoint),
    and SSML naming `voice` ends Canceled with an error."""
    control = synthesize(target, ssml=ssml_for(target.voice))
    assert control.reason == speechsdk.ResultReason.SynthesizingAudioCompleted, (
        "control with the image's voice %s failed: %s" % (target.voice, describe_synthesis(control))
    )
    result = synthesize(target, ssml=ssml_for(voice))
    assert result.reason == speechsdk.ResultReason.Canceled, describe_synthesis(result)
    assert result.cancellation_details.reason == speechsdk.CancellationReason.Error, describe_synthesis(result)


def test_tts_wrong_voice_is_canceled(tts: Target) -> None:
    # speech-container-ntts.md "SSML voice element": a container speaks only its own voice; a request naming
    # another voice fails (the SDK reports Canceled with an error).
    assert_refused_voice(tts, next(voice for voice in OTHER_VOICES if voice.lower() != tts.voice.lower()))


def test_tts_case_mismatched_voice_is_canceled(tts: Target) -> None:
    # Voice names are case-sensitive with Microsoft's casing (speech-container-ntts.md gives
    # en-US-AriaNeural for the image tag's en-us-arianeural); the lower-cased tag form is not a voice name.
    assert_refused_voice(tts, tts.voice.lower())


def post_ssml(target: Target, ssml: str) -> tuple[int, dict[str, str], bytes]:
    # articles/ai-services/speech-service/rest-text-to-speech.md "Convert text to speech": POST
    # /cognitiveservices/v1 with Content-Type application/ssml+xml and X-Microsoft-OutputFormat; the
    # container serves it at /speech/synthesize/cognitiveservices/v1 (speech-container-ntts.md "SSML voice
    # element": "When you construct a neural text to speech HTTP POST").
    request = urllib.request.Request(
        target.http_host + "/speech/synthesize/cognitiveservices/v1",
        data=ssml.encode("utf-8"),
        headers={
            "Content-Type": "application/ssml+xml",
            "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm",
            "User-Agent": "speechops-conformance",
        },
        method="POST",
    )
    try:
        with target.open(request, timeout=DEADLINE) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_tts_rest_wav(tts: Target) -> None:
    status, headers, body = post_ssml(tts, ssml_for(tts.voice))
    assert status == 200, (status, body[:300])
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE", "not a RIFF WAVE body: %r (%s)" % (body[:16], headers)
    info = wav_info(body)
    # riff-16khz-16bit-mono-pcm (rest-text-to-speech.md "Audio outputs").
    assert (info.rate, info.sample_width, info.channels) == (16000, 2, 1), info
    assert info.seconds > 0.3, info


def test_tts_rest_wrong_voice_is_400(tts: Target) -> None:
    # rest-text-to-speech.md "HTTP status codes": 400 Bad Request for a request the service cannot serve;
    # speech-container-ntts.md: the voice must be the container's.
    control, _headers, body = post_ssml(tts, ssml_for(tts.voice))
    assert control == 200, "control with the image's voice %s: %s %r" % (tts.voice, control, body[:300])
    other = next(voice for voice in OTHER_VOICES if voice.lower() != tts.voice.lower())
    status, _headers, body = post_ssml(tts, ssml_for(other))
    assert status == 400, (status, body[:300])


# --------------------------------------------------------------------------------------------------
# language detection
# Sources: articles/ai-services/speech-service/speech-container-lid.md ("Use the container": host
# "http://localhost:5000"; language-identification.md: "When you run language ID in a container, use the
# SourceLanguageRecognizer object"), Microsoft's continuous use with a ws:// host in
# microsoft/batch-processing-kit batchkit_examples/speech_sdk/lang_id/classify.py.


@pytest.fixture(scope="module")
def lid_audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("lid-audio")
    return {
        "en-US": wav_file(directory, "english", librivox_pcm(ENGLISH_ID)),
        "de-DE": wav_file(directory, "german", espeak_pcm(GERMAN_TEXT, "de")),
    }


def source_language_recognizer(config: speechsdk.SpeechConfig, wav_path: str) -> speechsdk.SourceLanguageRecognizer:
    return speechsdk.SourceLanguageRecognizer(
        speech_config=config,
        auto_detect_source_language_config=speechsdk.languageconfig.AutoDetectSourceLanguageConfig(
            languages=CANDIDATES
        ),
        audio_config=speechsdk.audio.AudioConfig(filename=wav_path),
    )


def detected_language(result: speechsdk.SpeechRecognitionResult) -> str | None:
    # language-identification.md: AutoDetectSourceLanguageResult(result).language
    return speechsdk.AutoDetectSourceLanguageResult(result).language


@pytest.mark.parametrize("expected", CANDIDATES)
def test_language_detection_at_start(lid: Target, lid_audio: dict[str, str], expected: str) -> None:
    recognizer = source_language_recognizer(
        speechsdk.SpeechConfig(host=lid.http_host, **lid.sdk_arguments), lid_audio[expected]
    )
    result = recognize_once(recognizer, "at-start language detection")
    assert result.reason == speechsdk.ResultReason.RecognizedSpeech, describe(result)
    assert detected_language(result) == expected, describe(result)


@pytest.mark.parametrize("expected", CANDIDATES)
def test_language_detection_continuous(lid: Target, lid_audio: dict[str, str], expected: str) -> None:
    # language-identification.md "At-start and continuous": SpeechServiceConnection_LanguageIdMode=Continuous
    # with continuous recognition.
    config = speechsdk.SpeechConfig(host=lid.ws_host, **lid.sdk_arguments)
    config.set_property(speechsdk.PropertyId.SpeechServiceConnection_LanguageIdMode, "Continuous")
    session = recognize_continuous(
        source_language_recognizer(config, lid_audio[expected]), "continuous language detection"
    )
    found = [detected_language(result) for result in session.speech()]
    assert found, "no language detected: %s" % [describe(r) for r in session.recognized]
    assert set(found) == {expected}, found


# --------------------------------------------------------------------------------------------------
# Every container: /ready, /status, /swagger
# Source: articles/ai-services/speech-service/speech-container-howto.md "Validate that a container is running".


def http_get(target: Target, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with target.open(target.http_host + path, timeout=DEADLINE) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_ready(any_kind: Target) -> None:
    # "/ready ... provides a verification that the container is ready to accept a query against the model".
    status, _headers, body = http_get(any_kind, "/ready")
    assert status == 200, (status, body[:200])


def test_status(any_kind: Target) -> None:
    # "/status ... verifies if the api-key used to start the container is valid". The JSON body and its
    # value "Valid" for an accepted key come from the project's notes on Microsoft's containers (issue 10):
    # no Microsoft page found prints that JSON, so this value stays marked unverified.
    status, _headers, body = http_get(any_kind, "/status")
    assert status == 200, (status, body[:200])
    assert json.loads(body).get("apiStatus") == "Valid", body[:300]


def test_swagger(any_kind: Target) -> None:
    # "/swagger: The container provides a full set of documentation for the endpoints and a Try it out
    # feature ... a web-based HTML form": the Swagger UI page.
    status, headers, body = http_get(any_kind, "/swagger")
    assert status == 200, (status, body[:200])
    assert headers.get("content-type", "").lower().startswith("text/html"), headers.get("content-type")
    assert b"swagger-ui" in body.lower(), body[:300]
