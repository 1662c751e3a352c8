"""pytest configuration of the conformance suite (Microsoft's Speech SDK for Python against running containers).

Targets come from the JSON file named by SPEECHOPS_CONFORMANCE_TARGETS. A kind without a target fails its
checks, unless SPEECHOPS_CONFORMANCE_NOT_DEPLOYED lists it: then its checks are skipped with that reason,
and tests/conformance/run.py names every skipped check in its summary.
"""

from __future__ import annotations

import pytest
from conformance_support import KINDS, STT_KINDS, Target, TargetMissing, TargetNotDeployed, target


def require_target(kind: str) -> Target:
    try:
        return target(kind)
    except TargetNotDeployed as exc:
        pytest.skip("not deployed: %s" % exc)
    except (TargetMissing, ValueError) as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(params=STT_KINDS)
def stt(request: pytest.FixtureRequest) -> Target:
    """Speech-to-text and custom speech-to-text: Microsoft documents the same SDK use for both
    (speech-container-stt.md and speech-container-cstt.md, "Use the container")."""
    return require_target(request.param)


@pytest.fixture(params=KINDS)
def any_kind(request: pytest.FixtureRequest) -> Target:
    return require_target(request.param)


@pytest.fixture
def tts() -> Target:
    found = require_target("neural-text-to-speech")
    if not found.voice:
        pytest.fail("the neural-text-to-speech target needs its SSML voice name, e.g. en-US-AriaNeural", pytrace=False)
    return found


@pytest.fixture
def lid() -> Target:
    return require_target("language-detection")
