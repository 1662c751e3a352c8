"""Shared pieces of the conformance suite: targets, reference audio, word error rate, WAV checks.

Nothing here knows how this project's containers or stand-ins work: the expected values come from
outside the project (the RFC 6455 test vector, Debian's pocketsphinx-testdata transcripts, audio that
espeak-ng speaks at test time, Microsoft's documentation cited next to each check).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import urllib.request
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGETS_ENV = "SPEECHOPS_CONFORMANCE_TARGETS"
NOT_DEPLOYED_ENV = "SPEECHOPS_CONFORMANCE_NOT_DEPLOYED"

# The four kinds of Microsoft's Speech containers whose use Microsoft documents through the Speech SDK
# (articles/ai-services/speech-service/speech-container-howto.md, "Host URLs").
KINDS = ("speech-to-text", "custom-speech-to-text", "neural-text-to-speech", "language-detection")
STT_KINDS = ("speech-to-text", "custom-speech-to-text")

# RFC 6455 section 1.3: the worked example of the opening handshake. Sent as Sec-WebSocket-Key, a
# conforming server must answer with exactly this Sec-WebSocket-Accept.
RFC6455_EXAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC6455_EXAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# Human speech with a transcript from outside this project: Debian package pocketsphinx-testdata.
TESTDATA = Path(os.environ.get("SPEECHOPS_CONFORMANCE_TESTDATA", "/usr/share/pocketsphinx/test/data"))
LIBRIVOX = TESTDATA / "librivox"
# goforward.raw is 16 kHz 16-bit mono headerless PCM ("go forward ten meters", goforward.gram).
GOFORWARD_RAW = TESTDATA / "goforward.raw"
# Short LibriVox utterances used for the transcript check (ids from librivox/transcription).
TRANSCRIPT_IDS = ("sense_and_sensibility_01_austen_64kb-0880", "sense_and_sensibility_01_austen_64kb-0930")
# The English utterance for language detection: the longest one (7 s), so at-start detection has audio.
ENGLISH_ID = "sense_and_sensibility_01_austen_64kb-0870"

# A real Microsoft container transcribes these recordings far better; the threshold leaves room for a
# stand-in with a small offline model without accepting a canned sentence (WER 1.0).
MAX_WER = 0.35

# German speech for language detection, spoken by espeak-ng at test time (no recording ships with Debian).
GERMAN_TEXT = (
    "Guten Morgen. Heute scheint die Sonne über der Stadt, und am Nachmittag gehen wir mit den Kindern "
    "im Park spazieren. Danach trinken wir zusammen einen Kaffee."
)

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
CHANNELS = 1


class TargetMissing(Exception):
    """A kind has no target and the environment does not say it is undeployed."""


class TargetNotDeployed(Exception):
    """The environment says this kind is not deployed: the check is reported as skipped, with the reason."""


KEY_HEADER = "Ocp-Apim-Subscription-Key"  # what SpeechConfig(host=..., subscription=KEY) sends


@dataclass(frozen=True)
class Target:
    kind: str
    host: str
    port: int
    locale: str
    voice: str
    # Behind speechops.edge's speech gateway: wss:// and https:// (the CA from SSL_CERT_FILE / NODE_EXTRA_CA_CERTS)
    # and an access key, which the SDKs send as Ocp-Apim-Subscription-Key.
    tls: bool = False
    key: str = ""

    @property
    def authority(self) -> str:
        return "%s:%d" % (self.host, self.port)

    @property
    def ws_host(self) -> str:
        """Speech-to-text: `SpeechConfig(host="ws://HOST:PORT")` (speech-container-howto.md, Host URLs)."""
        return ("wss://" if self.tls else "ws://") + self.authority

    @property
    def http_host(self) -> str:
        """Text-to-speech and language detection: `host="http://HOST:PORT"` (same table)."""
        return ("https://" if self.tls else "http://") + self.authority

    @property
    def sdk_arguments(self) -> dict[str, str]:
        """SpeechConfig's keyword for the key: `SpeechConfig(host=..., subscription=KEY)`."""
        return {"subscription": self.key} if self.key else {}

    @property
    def headers(self) -> dict[str, str]:
        """The key as a REST client sends it (rest-text-to-speech.md: Ocp-Apim-Subscription-Key)."""
        return {KEY_HEADER: self.key} if self.key else {}

    def open(self, request: urllib.request.Request | str, timeout: float) -> Any:
        """urllib without proxies; TLS verified against the default store (SSL_CERT_FILE names the lab CA)."""
        if isinstance(request, str):
            request = urllib.request.Request(request)
        for name, value in self.headers.items():
            request.add_header(name, value)
        return urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=timeout)


def not_deployed() -> set[str]:
    raw = os.environ.get(NOT_DEPLOYED_ENV, "")
    kinds = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(
            "%s=%r names unknown kinds %s; use a comma-separated list of: %s"
            % (NOT_DEPLOYED_ENV, raw, ", ".join(sorted(unknown)), ", ".join(KINDS))
        )
    return kinds


def load_targets() -> dict[str, Any]:
    path = os.environ.get(TARGETS_ENV, "").strip()
    if not path:
        raise TargetMissing(
            "%s is not set: point it at a JSON file of targets, e.g. "
            '{"speech-to-text": {"host": "10.0.0.5", "port": 5000, "locale": "en-US"}} '
            "(tests/conformance/local_targets.py writes one for local stand-ins)" % TARGETS_ENV
        )
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise TargetMissing("%s=%s cannot be read as JSON: %s" % (TARGETS_ENV, path, exc)) from None
    if not isinstance(data, dict):
        raise TargetMissing("%s=%s must hold a JSON object keyed by kind" % (TARGETS_ENV, path))
    return data


def target(kind: str) -> Target:
    """The target of `kind`; TargetNotDeployed when the environment says so, TargetMissing otherwise."""
    if kind in not_deployed():
        raise TargetNotDeployed("%s is listed in %s" % (kind, NOT_DEPLOYED_ENV))
    entry = load_targets().get(kind)
    if not isinstance(entry, dict) or not entry.get("host") or not entry.get("port"):
        raise TargetMissing(
            "no target for %s in %s (needs host and port); if it is not deployed, add it to %s"
            % (kind, os.environ.get(TARGETS_ENV), NOT_DEPLOYED_ENV)
        )
    return Target(
        kind=kind,
        host=str(entry["host"]),
        port=int(entry["port"]),
        locale=str(entry.get("locale") or "en-US"),
        voice=str(entry.get("voice") or ""),
        tls=bool(entry.get("tls")),
        key=str(entry.get("key") or ""),
    )


# --------------------------------------------------------------------------------------------------
# Reference audio


def librivox_transcripts() -> dict[str, str]:
    """utterance id -> transcript, from the package's librivox/transcription (`<s> words </s> (id)`)."""
    transcripts = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if match:
            transcripts[match.group(2)] = match.group(1).strip()
    return transcripts


def librivox_pcm(utterance_id: str) -> bytes:
    """The utterance as 16 kHz 16-bit mono PCM frames (the package's WAVs are in that format)."""
    return read_wav_pcm((LIBRIVOX / (utterance_id + ".wav")).read_bytes())


def goforward_pcm() -> bytes:
    return GOFORWARD_RAW.read_bytes()


def silence_pcm(seconds: float) -> bytes:
    return bytes(int(seconds * SAMPLE_RATE) * SAMPLE_WIDTH * CHANNELS)


def espeak_pcm(text: str, voice: str) -> bytes:
    """`text` spoken by espeak-ng (`-v voice`), resampled by sox to 16 kHz 16-bit mono PCM frames."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError("%s is not installed (Debian packages espeak-ng and sox)" % tool)
    spoken = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True).stdout
    # Raw output: a WAV header written to a pipe cannot carry the length.
    return subprocess.run(
        ["sox", "-V1", "-t", "wav", "-", "-t", "raw", *("-r %d -c 1 -b 16 -e signed -" % SAMPLE_RATE).split()],
        input=spoken,
        capture_output=True,
        check=True,
    ).stdout


def to_wav(pcm: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    return buffer.getvalue()


def read_wav_pcm(data: bytes) -> bytes:
    info = wav_info(data)
    if (info.rate, info.channels, info.sample_width) != (SAMPLE_RATE, CHANNELS, SAMPLE_WIDTH):
        raise ValueError("expected 16 kHz 16-bit mono, got %s" % info)
    with wave.open(io.BytesIO(data)) as reader:
        return reader.readframes(reader.getnframes())


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    sample_width: int
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def wav_info(data: bytes) -> WavInfo:
    """Parse a RIFF/WAVE file (raises wave.Error or EOFError when it is not one)."""
    with wave.open(io.BytesIO(data)) as reader:
        return WavInfo(reader.getframerate(), reader.getnchannels(), reader.getsampwidth(), reader.getnframes())


# --------------------------------------------------------------------------------------------------
# Word error rate


def words(text: str) -> list[str]:
    """Lower case, punctuation dropped (apostrophes inside words kept), split on white space."""
    cleaned = re.sub(r"[^\w\s']", " ", text.lower())
    return [word.strip("'") for word in cleaned.split() if word.strip("'")]


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference length): Levenshtein distance over words."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1], len(ref)


def word_error_rate(reference: str, hypothesis: str) -> float:
    errors, length = word_errors(reference, hypothesis)
    return errors / length if length else float(bool(words(hypothesis)))
