"""Streaming speech recognition for the speech-to-text stand-in, with Debian's pocketsphinx (CMU Sphinx 0.8).

Behaves towards the caller the way Microsoft's speech-to-text service behaves towards the Speech SDK: audio
arrives in chunks while the speaker talks, and the recogniser reports speech start, interim hypotheses while
audio still streams, a phrase when the speaker pauses (end silence) and speech end. Statuses are the service's
RecognitionStatus values (Success, NoMatch, InitialSilenceTimeout; Microsoft's speech-to-text REST/WebSocket
docs and the SDK's RecognitionStatus enum). Default timeouts follow Microsoft's own statement in
Azure-Samples/cognitive-services-speech-sdk issue #502: initial silence 5 s (interactive), 15 s (conversation).

Only en-US is transcribed: Debian ships one acoustic and language model (pocketsphinx-en-us). For any other
language the recogniser still detects speech and silence (the voice activity detector does not depend on the
language), but every phrase with speech is NoMatch and no hypotheses are sent.

Runs under Debian's /usr/bin/python3 with python3-pocketsphinx (binding 0.1.15 on libpocketsphinx3 0.8).
Decoders are pooled per process: loading one takes ~0.3 s, a session borrows one and gives it back.
"""

from __future__ import annotations

import array
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

MODEL_DIR = os.environ.get("STANDIN_POCKETSPHINX_MODEL", "/usr/share/pocketsphinx/model/en-us")
MODEL_SAMPLE_RATE = 16000  # the en-us acoustic model is trained on 16 kHz audio
FRAMES_PER_SECOND = 100  # pocketsphinx default -frate
SAMPLES_PER_FRAME = MODEL_SAMPLE_RATE // FRAMES_PER_SECOND
TICKS_PER_SECOND = 10_000_000  # the service's Offset/Duration unit: 100 ns
TICKS_PER_SAMPLE = TICKS_PER_SECOND // MODEL_SAMPLE_RATE
TICKS_PER_FRAME = TICKS_PER_SECOND // FRAMES_PER_SECOND
TRANSCRIBED_LANGUAGES = frozenset({"en-us"})
# Audio is handed to the decoder in 50 ms slices so speech start/end are noticed within 50 ms of audio.
SLICE_BYTES = 2 * MODEL_SAMPLE_RATE // 20
# Frames of speech the VAD needs before it reports speech (pocketsphinx default -vad_startspeech).
VAD_START_FRAMES = 10

OptionValue = str | bool | int | float
Options = tuple[tuple[str, OptionValue], ...]


def word_decoder_options(end_silence: float) -> Options:
    """Options of the word decoder: fwdflat off and maxhmmpf 3000 make it ~2x faster at equal WER (measured)."""
    return (
        ("-hmm", f"{MODEL_DIR}/en-us"),
        ("-lm", f"{MODEL_DIR}/en-us.lm.bin"),
        ("-dict", f"{MODEL_DIR}/cmudict-en-us.dict"),
        ("-fwdflat", False),
        ("-maxhmmpf", 3000),
        # The VAD's hangover is the end silence: speech ends after that many frames without speech.
        ("-vad_postspeech", max(1, round(end_silence * FRAMES_PER_SECOND))),
    )


def new_decoder(options: Options) -> Any:
    """A pocketsphinx Decoder with `options`, each set with the setter of its type.

    Why typed setters: in binding 0.1.15 / sphinxbase 0.8, Config.set_string() on a boolean, integer or float
    option (e.g. set_string('-beam', '1e-20')) crashes the process with SIGSEGV. That, not mixing allphone
    and word decoders, is what made one process segfault; both decoder kinds coexist in one process.
    """
    from pocketsphinx import Decoder  # Debian's python3-pocketsphinx; imported late so pure helpers need none

    config = Decoder.default_config()
    config.set_string("-logfn", os.devnull)
    for name, value in options:
        if isinstance(value, bool):
            config.set_boolean(name, value)
        elif isinstance(value, int):
            config.set_int(name, value)
        elif isinstance(value, float):
            config.set_float(name, value)
        else:
            config.set_string(name, value)
    return Decoder(config)


class DecoderPool:
    """Idle decoders per option set, shared by the server's threads; each decoder serves one session at a time."""

    def __init__(self, factory: Any = new_decoder, max_idle: int = 4) -> None:
        self._factory = factory
        self._idle: dict[Options, list[Any]] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def acquire(self, options: Options) -> Any:
        with self._lock:
            idle = self._idle.get(options)
            if idle:
                return idle.pop()
        return self._factory(options)  # outside the lock: loading takes ~0.3 s and must not block other sessions

    def release(self, options: Options, decoder: Any) -> None:
        with self._lock:
            idle = self._idle.setdefault(options, [])
            if len(idle) < self._max_idle:
                idle.append(decoder)

    @contextmanager
    def borrowed(self, options: Options) -> Iterator[Any]:
        decoder = self.acquire(options)
        try:
            yield decoder
        finally:
            self.release(options, decoder)


@dataclass
class _WordDecoder:
    """A word decoder and the audio it has been given since it was loaded.

    Why: pocketsphinx 0.8 numbers segment frames from the decoder's creation, not from start_utt(), so a
    pooled decoder's frame numbers must be taken relative to what it had already heard.
    """

    decoder: Any
    samples_fed: int = 0


def _new_word_decoder(options: Options) -> _WordDecoder:
    return _WordDecoder(new_decoder(options))


PHONE_DECODERS = DecoderPool()  # langid's phone recognisers
WORD_DECODERS = DecoderPool(_new_word_decoder)


def preload(end_silence: float = 0.5) -> None:
    """Load one word decoder into the pool now (at server start), so the first session does not wait for it."""
    options = word_decoder_options(end_silence)
    WORD_DECODERS.release(options, WORD_DECODERS.acquire(options))


class Resampler:
    """Linear-interpolation resampler to the model's 16 kHz, stateful so chunk boundaries leave no seams."""

    def __init__(self, rate_in: int, rate_out: int = MODEL_SAMPLE_RATE) -> None:
        self._step = rate_in / rate_out
        self._position = 1.0  # index into [previous sample] + chunk
        self._previous = 0

    def convert(self, pcm: bytes) -> bytes:
        samples = array.array("h", pcm)
        if sys.byteorder == "big":
            samples.byteswap()
        source = [self._previous, *samples]
        out = array.array("h")
        position = self._position
        while position <= len(source) - 1:
            index = int(position)
            fraction = position - index
            following = source[index + 1] if index + 1 < len(source) else source[index]
            out.append(round(source[index] * (1 - fraction) + following * fraction))
            position += self._step
        self._position = position - (len(source) - 1)
        self._previous = source[-1]
        if sys.byteorder == "big":
            out.byteswap()
        return out.tobytes()


@dataclass
class Word:
    text: str
    offset: int  # 100-ns ticks from the start of the audio stream
    duration: int
    confidence: float


@dataclass
class Event:
    kind: str  # "start" (speech start detected), "hypothesis", "phrase", "end" (speech end detected)
    offset: int  # ticks from the start of the audio stream
    duration: int = 0
    text: str = ""  # lexical (lowercase words) for hypothesis/phrase
    status: str = ""  # phrase only: "Success", "NoMatch", "InitialSilenceTimeout"
    words: list[Word] = field(default_factory=list)
    confidence: float = 0.0


_PRONUNCIATION_SUFFIX = re.compile(r"\(\d+\)$")


def lexical_word(token: str) -> str:
    """The word of a pocketsphinx token; empty for <s>, </s>, <sil> and fillers such as [NOISE] or ++UH++."""
    if not token or token[0] in "<[+":
        return ""
    return _PRONUNCIATION_SUFFIX.sub("", token)


def lexical_text(hypstr: str) -> str:
    return " ".join(word for word in map(lexical_word, hypstr.split()) if word)


def display_text(lexical: str) -> str:
    """Display form of lexical text: 'go forward ten meters' -> 'Go forward ten meters.'.

    Only capitalisation and a full stop; no inverse text normalisation (the real service writes "10 meters").
    """
    words = [re.sub(r"^i(?=$|')", "I", word) for word in lexical.split()]
    if not words:
        return ""
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


class StreamingRecognizer:
    """One recognition session: feed() audio as it arrives, finish() at the end of the audio stream.

    Events follow the service: "start" once speech is heard ("speech.startDetected"), "hypothesis" while audio
    streams (at most one per `hypothesis_interval` seconds of audio, only when the text changed), "phrase" after
    `end_silence` seconds of silence following speech or at finish(), "end" ("speech.endDetected"). Every "start"
    gets one "end": after the phrase of a single utterance, in continuous use at finish(). Without speech for
    `initial_silence_timeout` seconds of audio (or until finish() when nothing was recognised yet) the phrase is
    InitialSilenceTimeout; in continuous use recognition then goes on listening.

    Only en-US is transcribed (see the module docstring); other languages give NoMatch phrases for speech.
    Not thread-safe: one session belongs to one thread (the decoder pool is shared safely).
    """

    def __init__(
        self,
        language: str = "en-US",
        sample_rate: int = MODEL_SAMPLE_RATE,
        single_utterance: bool = False,
        initial_silence_timeout: float = 5.0,
        end_silence: float = 0.5,
        hypothesis_interval: float = 0.3,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate={sample_rate!r}: give the audio's rate in Hz, e.g. 16000")
        self.language = language
        self.single_utterance = single_utterance
        self._transcribes = language.lower() in TRANSCRIBED_LANGUAGES
        self._resampler = None if sample_rate == MODEL_SAMPLE_RATE else Resampler(sample_rate)
        self._initial_silence_samples = round(initial_silence_timeout * MODEL_SAMPLE_RATE)
        self._hypothesis_samples = round(hypothesis_interval * MODEL_SAMPLE_RATE)
        self._options = word_decoder_options(end_silence)
        self._holder: _WordDecoder | None = WORD_DECODERS.acquire(self._options)
        self._decoder: Any = self._holder.decoder
        self._decoder.start_utt()
        self._frame_origin = self._holder.samples_fed // SAMPLES_PER_FRAME  # segment frame of _utterance_start
        self._utterance_open = True  # ending an utterance twice is an error in pocketsphinx
        self._pending = b""  # 16 kHz audio not yet given to the decoder (less than one slice)
        self._odd_byte = b""  # a chunk that ended mid-sample, before resampling
        self._position = 0  # samples at 16 kHz given to the decoder so far
        self._utterance_start = 0  # sample where the decoder's current utterance (its frame 0) began
        self._silence_start = 0  # sample since which no speech was heard in the current recognition
        self._speech_start: int | None = None  # sample where the current phrase's speech began
        self._started = False  # "start" sent and its "end" not yet
        self._phrases = 0
        self._last_hypothesis_at = 0
        self._last_hypothesis = ""
        self._done = False

    @property
    def done(self) -> bool:
        """True once a single utterance has its phrase, or after finish(): further audio is ignored."""
        return self._done

    def feed(self, pcm: bytes) -> list[Event]:
        """Take 16-bit little-endian mono PCM of any length; return the events this audio caused."""
        if self._done:
            return []
        if self._resampler is not None:
            data = self._odd_byte + pcm
            even = len(data) & ~1
            self._odd_byte = data[even:]
            pcm = self._resampler.convert(data[:even])
        pcm = self._pending + pcm
        self._pending = b""
        events: list[Event] = []
        cut = 0
        while len(pcm) - cut >= SLICE_BYTES and not self._done:
            self._process(pcm[cut : cut + SLICE_BYTES], events)
            cut += SLICE_BYTES
        if not self._done:
            self._pending = pcm[cut:]
        return events

    def finish(self) -> list[Event]:
        """End of the audio stream: give the phrase still open, "end" if speech was heard, and free the decoder."""
        if self._done:
            return []
        events: list[Event] = []
        tail = self._pending[: len(self._pending) & ~1]
        self._pending = b""
        if tail:
            self._process(tail, events)
        if not self._done:
            if self._speech_start is not None:
                self._close_phrase(events)
            elif self._phrases == 0:
                self._silence_timeout(events)
            if self._started:
                events.append(Event("end", self._ticks(self._position)))
                self._started = False
        self._close()
        return events

    def close(self) -> None:
        """Give the decoder back without any more events (the client went away)."""
        if not self._done:
            self._close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def _process(self, pcm: bytes, events: list[Event]) -> None:
        decoder = self._decoder
        decoder.process_raw(pcm, False, False)
        self._position += len(pcm) // 2
        self._holder.samples_fed += len(pcm) // 2
        if self._speech_start is None:
            if decoder.get_in_speech():
                start = self._position - VAD_START_FRAMES * SAMPLES_PER_FRAME - len(pcm) // 2
                self._speech_start = max(self._silence_start, start)
                if not self._started:
                    self._started = True
                    events.append(Event("start", self._ticks(self._speech_start)))
            elif self._position - self._silence_start >= self._initial_silence_samples:
                self._silence_timeout(events)
                self._next_recognition(events)
        elif not decoder.get_in_speech():
            self._close_phrase(events)
            self._next_recognition(events)
        elif self._transcribes and self._position - self._last_hypothesis_at >= self._hypothesis_samples:
            self._last_hypothesis_at = self._position
            hypothesis = decoder.hyp()
            text = lexical_text(hypothesis.hypstr) if hypothesis is not None else ""
            if text and text != self._last_hypothesis:
                self._last_hypothesis = text
                offset = self._ticks(self._speech_start)
                events.append(Event("hypothesis", offset, self._ticks(self._position) - offset, text=text))

    def _silence_timeout(self, events: list[Event]) -> None:
        offset = self._ticks(self._silence_start)
        events.append(Event("phrase", offset, self._ticks(self._position) - offset, status="InitialSilenceTimeout"))
        self._phrases += 1

    def _end_utterance(self) -> None:
        if self._utterance_open:
            self._utterance_open = False
            self._decoder.end_utt()

    def _close_phrase(self, events: list[Event]) -> None:
        decoder = self._decoder
        self._end_utterance()
        words: list[Word] = []
        if self._transcribes:
            logmath = decoder.get_logmath()
            base = self._ticks(self._utterance_start) - self._frame_origin * TICKS_PER_FRAME
            for segment in decoder.seg():
                text = lexical_word(segment.word)
                if text:
                    words.append(
                        Word(
                            text,
                            base + segment.start_frame * TICKS_PER_FRAME,
                            (segment.end_frame - segment.start_frame + 1) * TICKS_PER_FRAME,
                            min(1.0, max(0.0, logmath.exp(segment.prob))),
                        )
                    )
        if words:
            offset = words[0].offset
            duration = words[-1].offset + words[-1].duration - offset
            confidence = sum(word.confidence for word in words) / len(words)
            text = " ".join(word.text for word in words)
            events.append(Event("phrase", offset, duration, text, "Success", words, round(confidence, 4)))
        else:
            assert self._speech_start is not None
            offset = self._ticks(self._speech_start)
            events.append(Event("phrase", offset, self._ticks(self._position) - offset, status="NoMatch"))
        self._phrases += 1
        self._speech_start = None

    def _next_recognition(self, events: list[Event]) -> None:
        """After a phrase: a single utterance ends here; continuous recognition listens again."""
        if self.single_utterance:
            if self._started:
                events.append(Event("end", self._ticks(self._position)))
                self._started = False
            self._close()
            return
        self._end_utterance()  # still open after a silence timeout
        self._decoder.start_utt()  # a fresh search, so phrases do not pile up in one utterance
        self._utterance_open = True
        self._frame_origin = self._holder.samples_fed // SAMPLES_PER_FRAME
        self._utterance_start = self._position
        self._silence_start = self._position
        self._last_hypothesis_at = self._position
        self._last_hypothesis = ""

    def _close(self) -> None:
        self._done = True
        if self._decoder is None:
            return
        self._end_utterance()
        holder, self._holder, self._decoder = self._holder, None, None
        WORD_DECODERS.release(self._options, holder)

    @staticmethod
    def _ticks(samples: int) -> int:
        return samples * TICKS_PER_SAMPLE
