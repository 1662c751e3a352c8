# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for a condition with a deadline: the one poll of the lab, stand-in and integration tests (never a sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def poll(predicate: Callable[[], Any], timeout: float, what: str | Callable[[], str], interval: float = 0.2) -> Any:
    """The first truthy value of predicate() before the deadline, else fail naming `what` and the last value.

    `what` may be a callable: it is evaluated only on failure (for example to show a container's logs then).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            pytest.fail("timed out after %.1f s waiting for %s (last: %r)" % (timeout, described, value))
        time.sleep(interval)  # polling interval, not synchronisation
