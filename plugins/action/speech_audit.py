# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run speechops.edge.speech_audit with the controller's identity (user, host, run id) filled in."""

from __future__ import annotations

from ansible_collections.speechops.edge.plugins.plugin_utils._controller_identity import IdentityAction


class ActionModule(IdentityAction):
    MODULE = "speechops.edge.speech_audit"
    IDENTITY_KEYS = ("controller_user", "controller", "run_id")
