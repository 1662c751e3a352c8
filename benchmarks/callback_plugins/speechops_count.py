# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: counts module invocations per host and times each task.

Enabled by benchmarks/bench_fleet.py only (ANSIBLE_CALLBACK_PLUGINS + ANSIBLE_CALLBACKS_ENABLED); it writes
JSON to $SPEECHOPS_BENCH_COUNT_FILE at the end of the playbook. Not part of the collection.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: speechops_count
type: aggregate
short_description: count module invocations per host (benchmark only)
description: Writes per-host module invocation counts and per-task wall times to SPEECHOPS_BENCH_COUNT_FILE.
requirements: [enable in ansible.cfg or ANSIBLE_CALLBACKS_ENABLED]
"""

# Actions that run on the controller only (no module is sent to the host).
CONTROLLER_ACTIONS = {
    "debug",
    "ansible.builtin.debug",
    "assert",
    "ansible.builtin.assert",
    "set_fact",
    "ansible.builtin.set_fact",
    "group_by",
    "add_host",
    "ansible.builtin.add_host",
    "ansible.builtin.group_by",
    "meta",
    "ansible.builtin.meta",
    "fail",
    "ansible.builtin.fail",
    "include_tasks",
    "ansible.builtin.include_tasks",
    "include_role",
    "ansible.builtin.include_role",
}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "speechops_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.modules: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.task_start: dict[str, float] = {}
        self.task_seconds: dict[str, float] = defaultdict(float)
        self.current = ""

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self.current = "%s | %s" % (task.get_name(), task.action)
        self.task_start[self.current] = time.perf_counter()

    def _ended(self, result: Any) -> None:
        action = result._task.action
        if action in CONTROLLER_ACTIONS:
            return
        # Loops report once per item through v2_runner_item_*; the per-host result of a loop has "results".
        items = result._result.get("results")
        count = len(items) if isinstance(items, list) else 1
        if result._result.get("skipped") and not isinstance(items, list):
            return
        host = result._host.get_name()
        delegated = result._result.get("_ansible_delegated_vars")
        if delegated:
            host = "%s (delegated to %s)" % (host, delegated.get("ansible_host", "?"))
        self.modules[host][action] += count

    def _finished_task(self) -> None:
        if self.current in self.task_start:
            self.task_seconds[self.current] = time.perf_counter() - self.task_start[self.current]

    def v2_runner_on_ok(self, result: Any) -> None:
        self._ended(result)
        self._finished_task()

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._ended(result)
        self._finished_task()

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._finished_task()

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("SPEECHOPS_BENCH_COUNT_FILE")
        if not path:
            return
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"modules": self.modules, "task_seconds": self.task_seconds}, handle, indent=1)
