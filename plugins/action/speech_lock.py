# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run speechops.edge.speech_lock with the controller's identity, and say when a lock's holder run is dead.

The module runs on the edge host and cannot know who runs the playbook nor whether a holder on this controller
still runs; this plugin fills the holder (user, host, playbook pid, run id) and, when the host reports a lock of
another run of this same controller, checks that run here.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._deploy_lock import human_duration
from ansible_collections.speechops.edge.plugins.plugin_utils._controller_identity import IdentityAction, run_is_alive


class ActionModule(IdentityAction):
    MODULE = "speechops.edge.speech_lock"

    def judge(self, result: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        holder = result.get("holder") or {}
        if not (result.get("failed") and holder.get("run_id")):
            return result
        host = self._task.delegate_to or task_vars.get("inventory_hostname", "the host")
        alive = run_is_alive(str(holder.get("controller")), int(holder.get("pid") or 0), str(holder["run_id"]))
        result["holder_alive"] = alive
        if alive is False:
            result["msg"] = (
                "%s is locked by %s (pid %s, run %s, %s) since %s, and that run is no longer running on this "
                "controller: it ended without releasing the lock (interrupted or killed). Check what it left on "
                "%s, then break the lock with -e speech_lock=break (break_lock=true), which the audit log records"
                % (
                    host,
                    holder.get("holder"),
                    holder.get("pid"),
                    holder["run_id"],
                    holder.get("operation"),
                    human_duration(float(holder.get("age_seconds") or 0)),
                    host,
                )
            )
        else:
            result["msg"] = "%s is %s" % (host, result.get("msg", ""))
        return result
