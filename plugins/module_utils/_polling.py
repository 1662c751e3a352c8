# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one backoff of every wait on a host: a short first pause (responsive in the first second), growing to a cap
(cheap when the wait is long), never past the caller's deadline."""

from __future__ import annotations

import time
from collections.abc import Callable

FIRST_DELAY = 0.05
GROWTH = 1.5
MAX_DELAY = 1.0


class Poller:
    """The pauses of one wait: `first`, growing by `growth` up to `maximum`."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        *,
        first: float = FIRST_DELAY,
        growth: float = GROWTH,
        maximum: float = MAX_DELAY,
    ) -> None:
        self._sleep = sleep
        self.delay = first
        self._growth = growth
        self._maximum = maximum

    def pause(self, remaining: float) -> None:
        """Sleep the next delay, never past a deadline `remaining` seconds away."""
        self._sleep(max(0.0, min(self.delay, remaining)))
        self.delay = min(self.delay * self._growth, self._maximum)
