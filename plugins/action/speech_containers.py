# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run speechops.edge.speech_containers; plan its prediction here, from a snapshot of the host.

A prediction (check mode with probe=true, what every deploy runs on every planned host) first asks the host for
a snapshot with one command of the host's Python and the standard library, and plans here with the module's own
planner (plugin_utils/_speech_snapshot.py). When that answer is exactly the module's, it is the result; otherwise,
and for every other call, the module runs on the host as usual.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash
from ansible_collections.speechops.edge.plugins.module_utils import _host_reads
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import module_arguments_problems
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._schema import module_argument_spec
from ansible_collections.speechops.edge.plugins.plugin_utils._speech_snapshot import (
    new_key,
    plannable,
    predict,
    snapshot_request,
)

# The script the host runs: _host_reads as it is (its __main__ block takes the snapshot).
SNAPSHOT_SCRIPT = Path(_host_reads.__file__).read_text(encoding="utf-8")
_SPEC = ArgumentSpecValidator(module_argument_spec(DOCKER_ENGINE_ARGUMENT_SPEC))
_AUTO_INTERPRETERS = ("auto", "auto_legacy", "auto_silent", "auto_legacy_silent")


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp  # no effect (as in ansible.builtin.normal, which this is otherwise)
        task_vars = task_vars or {}
        if self._task.check_mode and not self._task.async_val:
            predicted = self._predict(task_vars)
            if predicted is not None:
                return merge_hash(result, predicted)
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _python(self, task_vars: dict[str, Any]) -> str | None:
        """The host's Python, when set or already discovered (else the module runs, which discovers it)."""
        python = C.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars)
        python = str(self._templar.template(python)) if python else ""
        if not python or python in _AUTO_INTERPRETERS:
            python = str((task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python") or "")
        return python if python.startswith("/") else None

    def _predict(self, task_vars: dict[str, Any]) -> dict[str, Any] | None:
        args = {key: value for key, value in self._task.args.items() if not str(key).startswith("_ansible_")}
        python = self._python(task_vars)
        if python is None or module_arguments_problems(args):
            return None
        validated = _SPEC.validate(args)
        if validated.error_messages:
            return None
        params = validated.validated_parameters
        desired = plannable(params)
        if desired is None:
            return None
        if not getattr(self._connection, "has_pipelining", False):
            return None  # the request (its HMAC key) goes on the script's standard input
        key = new_key()
        request = snapshot_request(desired, params, key)
        command = " ".join(shlex.quote(part) for part in (python, "-c", SNAPSHOT_SCRIPT))
        try:
            done = self._low_level_execute_command(command, sudoable=True, in_data=json.dumps(request).encode("utf-8"))
        except AnsibleError:
            return None  # the module runs and reports what is wrong with the connection
        if done.get("rc") != 0:
            return None
        try:
            snapshot = json.loads(done.get("stdout") or "")
        except ValueError:
            return None
        return predict(params, desired, snapshot, key, diff=bool(self._task.diff))
