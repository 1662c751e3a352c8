"""Build the language-detection stand-in's phone-bigram models (run at image build time).

    python3 train_langid.py /opt/standin/langid_model.json [--jobs N]

espeak-ng speaks every sentence of langid_sentences.TRAINING in three voice variants (speeds and voices
differ, so the models do not learn one speaker's timing); pocketsphinx's English phone loop (langid.py)
transcribes each into phones; the phone-bigram counts per language go to the output JSON. Needs espeak-ng,
sox, python3-pocketsphinx and pocketsphinx-en-us. ~70 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from langid import count_bigrams, recognise_phones
from langid_sentences import LANGUAGE_OF_VOICE, TRAINING

# (words per minute, espeak-ng voice variant): default speaker, slower male, faster female.
VOICE_VARIANTS = ((175, ""), (140, "+m3"), (200, "+f2"))


def synthesise(voice: str, text: str, words_per_minute: int = 175, variant: str = "") -> bytes:
    """16 kHz 16-bit mono PCM of espeak-ng speaking `text` (espeak-ng's own rate is 22050 Hz: sox converts)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice + variant, "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=True,
    ).stdout
    return subprocess.run(
        ["sox", "-t", "wav", "-", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1", "-"],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout


def _phones_of(job: tuple[str, str, int, str]) -> tuple[str, list[str]]:
    voice, text, words_per_minute, variant = job
    return voice, recognise_phones(synthesise(voice, text, words_per_minute, variant))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    jobs = [
        (voice, text, rate, variant)
        for voice, texts in TRAINING.items()
        for text in texts
        for rate, variant in VOICE_VARIANTS
    ]
    sequences: dict[str, list[list[str]]] = {LANGUAGE_OF_VOICE[voice]: [] for voice in TRAINING}
    with ProcessPoolExecutor(args.jobs) as pool:
        for voice, phones in pool.map(_phones_of, jobs):
            sequences[LANGUAGE_OF_VOICE[voice]].append(phones)
    document = {
        "method": "PRLM: pocketsphinx en-us allphone (CI) phones, Witten-Bell phone bigrams",
        "languages": {language: count_bigrams(found) for language, found in sequences.items()},
    }
    args.output.write_text(json.dumps(document, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {', '.join(sorted(sequences))}, {len(jobs)} utterances")


if __name__ == "__main__":
    main()
