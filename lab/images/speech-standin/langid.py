"""Spoken language identification for the language-detection stand-in: decides from the audio (PRLM).

Method (parallel phone recognition followed by language modelling, the classic PRLM): the English acoustic
model of Debian's pocketsphinx-en-us recognises the audio as a sequence of context-independent phones
(allphone search); a phone-bigram model per language scores that sequence, and the language whose model
explains it best wins. The bigram models come from `train_langid.py` at image build time: espeak-ng speaks the
sentences of langid_sentences.TRAINING in each language and the same phone recogniser transcribes them.

How far it goes: six languages (en, de, fr, es, it, nl), trained on synthetic speech only. Held-out espeak-ng
sentences and pocketsphinx's human English recordings are recognised well (figures in lab/images/README.md);
accents, noise, short utterances (< 2 s) and languages without a model are not. Candidates whose language has no
model get score 0 and can never win.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import Counter
from functools import lru_cache
from pathlib import Path

from recognizer import MODEL_DIR, MODEL_SAMPLE_RATE, PHONE_DECODERS, Options, Resampler

MODEL_PATH = Path(os.environ.get("STANDIN_LANGID_MODEL", Path(__file__).with_name("langid_model.json")))
PHONE_DECODER_OPTIONS: Options = (
    ("-hmm", f"{MODEL_DIR}/en-us"),
    ("-allphone", f"{MODEL_DIR}/en-us-phone.lm.bin"),
    # Context-independent phones: ~0.05 x real time instead of ~0.4 with triphones, at similar accuracy here.
    ("-allphone_ci", True),
    ("-lw", 2.0),
    ("-beam", 1e-20),
    ("-pbeam", 1e-20),
    ("-bestpath", False),
)
SILENCE = "SIL"
BOUNDARY = "<s>"
# Fewer recognised phones than this is not speech enough to decide (about half a second).
MIN_PHONES = 6
# Log-likelihood ratio (natural log, whole utterance) between the best and the second candidate, measured on
# held-out sentences: below LOW_RATIO decisions were often wrong, above HIGH_RATIO they were right.
HIGH_RATIO = 12.0
LOW_RATIO = 4.0


def recognise_phones(pcm: bytes, sample_rate: int = MODEL_SAMPLE_RATE) -> list[str]:
    """Phones the English phone loop hears in `pcm` (16-bit LE mono), fillers dropped, pauses as one SIL."""
    if sample_rate != MODEL_SAMPLE_RATE:
        pcm = Resampler(sample_rate).convert(pcm[: len(pcm) & ~1])
    with PHONE_DECODERS.borrowed(PHONE_DECODER_OPTIONS) as decoder:
        decoder.start_utt()
        decoder.process_raw(pcm, False, True)
        decoder.end_utt()
        tokens = [segment.word for segment in decoder.seg()]
    phones: list[str] = []
    for token in tokens:
        if token.startswith(("+", "<", "[")):
            continue
        if token == SILENCE and (not phones or phones[-1] == SILENCE):
            continue
        phones.append(token)
    while phones and phones[-1] == SILENCE:
        phones.pop()
    return phones


def count_bigrams(sequences: list[list[str]]) -> dict[str, int]:
    """Bigram counts "A B" (with <s> at both ends) of one language's phone sequences: the trained model."""
    counts: Counter[str] = Counter()
    for phones in sequences:
        padded = [BOUNDARY, *phones, BOUNDARY]
        counts.update(f"{a} {b}" for a, b in itertools.pairwise(padded))
    return dict(counts)


class PhoneBigram:
    """Witten-Bell smoothed phone bigram, backing off to an add-one unigram."""

    def __init__(self, bigram_counts: dict[str, int]) -> None:
        self._pair: dict[tuple[str, str], int] = {}
        self._history: Counter[str] = Counter()
        self._followers: Counter[str] = Counter()
        self._unigram: Counter[str] = Counter()
        for key, count in bigram_counts.items():
            first, second = key.split(" ")
            self._pair[(first, second)] = count
            self._history[first] += count
            self._followers[first] += 1
            self._unigram[second] += count
        self._total = sum(self._unigram.values())
        self._vocabulary = len(self._unigram) + 1

    def log_likelihood(self, phones: list[str]) -> float:
        padded = [BOUNDARY, *phones, BOUNDARY]
        total = 0.0
        for first, second in itertools.pairwise(padded):
            lower = (self._unigram[second] + 1) / (self._total + self._vocabulary)
            seen, kinds = self._history[first], self._followers[first]
            probability = (self._pair.get((first, second), 0) + kinds * lower) / (seen + kinds) if seen else lower
            total += math.log(probability)
        return total


@lru_cache(maxsize=4)
def load_models(path: Path = MODEL_PATH) -> dict[str, PhoneBigram]:
    """Language -> model from the file train_langid.py wrote."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"language models {path} not found: run train_langid.py {path} (the image does at build time)"
        ) from None
    return {language: PhoneBigram(counts) for language, counts in document["languages"].items()}


def language_of(locale: str) -> str:
    """'de-DE' -> 'de'."""
    return locale.split("-")[0].lower()


def identify(
    pcm: bytes, candidates: list[str], sample_rate: int = MODEL_SAMPLE_RATE, model_path: Path = MODEL_PATH
) -> tuple[str | None, str, dict[str, float]]:
    """(best candidate locale or None, "High" | "Medium" | "Low", candidate -> posterior probability).

    None when the audio holds too little speech or no candidate's language has a model. Posteriors assume
    equal priors over the candidates that have a model; the others get 0.
    """
    models = load_models(model_path)
    scores = dict.fromkeys(candidates, 0.0)
    known = [locale for locale in candidates if language_of(locale) in models]
    phones = recognise_phones(pcm, sample_rate)
    if not known or sum(phone != SILENCE for phone in phones) < MIN_PHONES:
        return None, "Low", scores
    likelihood = {locale: models[language_of(locale)].log_likelihood(phones) for locale in known}
    best = max(likelihood.values())
    normaliser = sum(math.exp(value - best) for value in likelihood.values())
    for locale, value in likelihood.items():
        scores[locale] = round(math.exp(value - best) / normaliser, 4)
    ranked = sorted(likelihood.values(), reverse=True)
    # Same language twice (en-US, en-GB) ties: the first listed wins, and the tie makes confidence Low.
    ratio = ranked[0] - ranked[1] if len(ranked) > 1 else HIGH_RATIO
    confidence = "High" if ratio >= HIGH_RATIO else "Medium" if ratio >= LOW_RATIO else "Low"
    winner = next(locale for locale in known if likelihood[locale] == best)
    return winner, confidence, scores
