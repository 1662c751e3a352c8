"""pytest configuration for the lab's own checks (tests/lab).

- test_lab.py: end-to-end checks of a running lab (`python3 lab/speechlab.py up` first), marked `lab`.
- test_standin_local.py: the stand-in and lab cloud as local processes (no Docker).
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lab: needs the local edge lab up (python3 lab/speechlab.py up); skipped when it is not, "
        "failed instead when SPEECHOPS_REQUIRE_LAB=1",
    )
