# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who is running this playbook, from the controller: user, host, the ansible-playbook process and its run id.

Action plugins run in a worker process forked from the ansible-playbook process (ansible.utils.multiprocessing
uses the 'fork' context), so the worker's parent is the playbook run, the same for every task of it. The run
id is derived from that process (host, pid, start time, boot id): every task of one run computes the same id
without shared state, and a later process that reuses the pid gets another id.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
from typing import Any

from ansible.plugins.action import ActionBase


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def process_start(pid: int) -> str:
    """Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat); empty when unknown."""
    stat = _read("/proc/%d/stat" % pid)
    # The command name (field 2) may contain spaces and parentheses: count fields after its closing ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def run_id_of(controller: str, pid: int) -> str:
    start = process_start(pid)
    boot = _read("/proc/sys/kernel/random/boot_id")
    return hashlib.sha256(("%s|%d|%s|%s" % (controller, pid, start, boot)).encode()).hexdigest()[:12]


def controller_identity() -> dict[str, str | int]:
    controller = socket.gethostname()
    pid = os.getppid()
    return {
        "controller_user": getpass.getuser(),
        "controller": controller,
        "controller_pid": pid,
        "run_id": run_id_of(controller, pid),
    }


def run_is_alive(controller: str, pid: int, run_id: str) -> bool | None:
    """Whether the run holding a lock still runs: only answerable on the controller it ran on (else None)."""
    if controller != socket.gethostname() or pid <= 0:
        return None
    if not os.path.exists("/proc/%d" % pid):
        if not os.path.isdir("/proc/self"):
            return None  # no procfs: cannot tell
        return False
    return run_id_of(controller, pid) == run_id


class IdentityAction(ActionBase):
    """Runs MODULE on the host with the controller's identity filled in where the task did not give it."""

    MODULE = ""
    IDENTITY_KEYS: tuple[str, ...] = ("controller_user", "controller", "controller_pid", "run_id")
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        super().run(tmp, task_vars)
        module_args = dict(self._task.args)
        identity = controller_identity()
        for key in self.IDENTITY_KEYS:
            module_args.setdefault(key, identity[key])
        result = self._execute_module(module_name=self.MODULE, module_args=module_args, task_vars=task_vars)
        return self.judge(result, task_vars)

    def judge(self, result: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        """What the controller adds to the module's result (nothing by default)."""
        return result
