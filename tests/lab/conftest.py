"""pytest configuration for the lab's own checks (tests/lab).

- test_lab.py: end-to-end checks of a running lab (`python3 lab/speechlab.py up` first), marked `lab`.
- test_standin_local.py: the stand-in and lab cloud as local processes (no Docker).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

# tests/ holds the helpers the lab and integration tests share (polling.py).
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[2]
STANDIN_DIR = ROOT / "lab" / "images" / "speech-standin"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lab: needs the local edge lab up (python3 lab/speechlab.py up); skipped when it is not, "
        "failed instead when SPEECHOPS_REQUIRE_LAB=1",
    )


@pytest.fixture(scope="session")
def langid_model() -> str:
    """The stand-in's language-identification models, trained as the image build does (~60 s), cached under
    build/ by the hash of the training inputs; STANDIN_LANGID_MODEL names an existing one instead."""
    given = os.environ.get("STANDIN_LANGID_MODEL")
    if given and Path(given).exists():
        return given
    inputs = hashlib.sha256()
    for name in ("train_langid.py", "langid_sentences.py", "langid.py", "recognizer.py"):
        inputs.update((STANDIN_DIR / name).read_bytes())
    model = ROOT / "build" / "langid" / ("langid_model-%s.json" % inputs.hexdigest()[:16])
    if not model.exists():
        model.parent.mkdir(parents=True, exist_ok=True)
        partial = model.with_suffix(".partial")
        subprocess.run(
            ["/usr/bin/python3", str(STANDIN_DIR / "train_langid.py"), str(partial)], check=True, timeout=900
        )
        partial.replace(model)
    return str(model)
