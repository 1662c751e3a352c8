#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_lock
short_description: Take or release the deploy lock of an edge host
version_added: 0.1.0
description:
  - A per-host lock, so that two controllers never change the speech containers of one host at the same time.
    The deploy playbook takes it on every host of the rollout before any host changes and releases it at the
    end, also when the rollout fails; the remove playbook holds it while it removes.
  - The lock is a root-only file (mode 0600) holding the holder - controller user and host, the
    C(ansible-playbook) process id, the run id, the operation and when it was taken (UTC). It is published
    atomically with its complete content, so it is never half written.
  - A lock held by another run is waited for up to O(lock_timeout) seconds, polling with backoff, then the module
    fails naming the holder and its age. A lock older than O(stale_after), or held by a run of this controller
    that is no longer running, is reported as such at once and never taken over silently; O(break_lock=true)
    breaks it and records the break in the audit log first.
  - The action plugin fills in the holder on the controller; a release only removes a lock of its own run.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.controller_identity
  - speechops.edge.attributes
attributes:
  check_mode:
    details: Reports whether the lock could be taken (or would be released or broken) without touching it.
    support: full
  diff_mode:
    details: Shows the holder before and after, and with O(audit) the line appended to the audit log.
    support: full
  idempotent:
    details:
      - Taking a lock this run already holds, or releasing a lock that is not held, changes nothing.
      - A release with O(audit) appends a new entry every time, by design (a log of events, as M(speechops.edge.speech_audit)).
    support: partial
  platform:
    platforms: posix
options:
  state:
    description: V(present) takes (or keeps) the lock for this run, V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  controller_pid:
    description: The process id of C(ansible-playbook) on the controller (set by the action plugin).
    type: int
  operation:
    description: What the holder does, shown to anyone who finds the lock held.
    type: str
    choices: [deploy, remove]
    default: deploy
  lock_timeout:
    description: Seconds to wait for a lock held by another run before failing; V(0) fails at once.
    type: float
    default: 0
  stale_after:
    description:
      - Seconds after which a lock counts as stale - reported as such at once instead of waited for, never taken.
      - Longer than the longest rollout you run (batches times the ready timeouts of their containers).
    type: int
    default: 14400
  break_lock:
    description:
      - Take the lock even when another run holds it, stale or not. The break is appended to O(audit_log)
        (who broke whose lock, its age) before the lock is removed.
      - Only after making sure the holder is not running any more.
    type: bool
    default: false
  path:
    description: The lock file.
    type: path
    default: /var/lib/speechops/deploy.lock
  audit_log:
    description: The audit log a break, or the run a release ends (O(audit)), is recorded in (see M(speechops.edge.speech_audit)).
    type: path
    default: /var/log/speechops/audit.jsonl
  audit:
    description:
      - With O(state=absent), first append the audit entry of the run this release ends to O(audit_log) - the
        entry M(speechops.edge.speech_audit) writes for O(operation), built and redacted the same way - then
        release the lock. The deploy and remove playbooks end each host this way, one module start instead of two.
      - When the entry cannot be written the lock is still released, and the module then fails saying so.
    type: dict
    version_added: 0.3.0
    suboptions:
      result:
        description: As O(speechops.edge.speech_audit#module:result).
        type: str
        choices: [ok, failed]
        default: ok
      detail:
        description: As O(speechops.edge.speech_audit#module:detail).
        type: str
        default: ""
      containers:
        description: As O(speechops.edge.speech_audit#module:containers).
        type: list
        elements: dict
        default: []
      redact:
        description: As O(speechops.edge.speech_audit#module:redact).
        type: list
        elements: str
        default: []
notes:
  - Needs root on the edge host (C(/var/lib/speechops) and C(/var/log/speechops) are root's).
  - Whether a holder run is dead is only known on the controller it ran on (its process is gone, or its pid now
    belongs to another process); a lock from another controller is judged by its age.
  - The module runs on the edge host; the lock's age comes from the host's clock.
seealso:
  - module: speechops.edge.speech_audit
  - module: speechops.edge.speech_containers
"""

EXAMPLES = r"""
- name: Take the deploy lock, waiting up to two minutes for another deploy
  speechops.edge.speech_lock:
    lock_timeout: 120

- name: Release it (only a lock of this run is removed)
  speechops.edge.speech_lock:
    state: absent

- name: Record the deploy in the audit log and release the lock, in one call
  speechops.edge.speech_lock:
    state: absent
    operation: deploy
    audit:
      result: "{{ 'failed' if converge is failed else 'ok' }}"
      detail: "{{ converge.msg | default('') }}"
      containers: "{{ converge.containers | default([]) }}"
      redact: ["{{ speech_api_key }}"]

- name: Break the lock an interrupted run left behind (recorded in the audit log)
  speechops.edge.speech_lock:
    break_lock: true
"""

RETURN = r"""
action:
  description: What was done (or would be, in check mode).
  returned: success
  type: str
  choices: [taken, held, broken, released, none]
  sample: taken
path:
  description: The lock file.
  returned: always
  type: str
  sample: /var/lib/speechops/deploy.lock
holder:
  description: The holder of the lock after the call (on failure, the run that holds it); null when free.
  returned: always
  type: dict
  contains:
    holder:
      description: C(user@controller).
      type: str
      sample: alice@ctl-2
    user:
      description: The controller user.
      type: str
      sample: alice
    controller:
      description: The controller host.
      type: str
      sample: ctl-2
    pid:
      description: The C(ansible-playbook) process id on the controller.
      type: int
      sample: 4242
    run_id:
      description: The run id.
      type: str
      sample: 7f3a9c01d2e4
    operation:
      description: What the holder does.
      type: str
      sample: deploy
    started_at:
      description: When the lock was taken (UTC, host clock).
      type: str
      sample: "2026-03-02T09:14:07Z"
    age_seconds:
      description: Seconds since then.
      type: int
      sample: 720
broken:
  description: The holder of the lock that was broken, like RV(holder).
  returned: when O(break_lock=true) broke a lock
  type: dict
  sample: {"holder": "alice@ctl-2", "pid": 4242, "run_id": "7f3a9c01d2e4", "age_seconds": 720}
entry:
  description: The audit entry appended (or that would be, in check mode) before the release.
  returned: when O(audit) is given with O(state=absent)
  type: dict
  sample: {"time": "2026-03-02T09:26:41Z", "operation": "deploy", "result": "ok", "changes": []}
waited:
  description: Seconds spent waiting for another run's lock.
  returned: when O(state=present)
  type: float
  sample: 0.0
stale:
  description: Whether the lock that stopped the module is older than O(stale_after).
  returned: on failure
  type: bool
  sample: false
holder_alive:
  description:
    - Whether the holder run still runs - V(false) when it ran on this controller and its process is gone;
      null when that cannot be known (another controller).
  returned: on failure
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._audit_log import (
    AUDIT_ENTRY_ARGUMENT_SPEC,
    AUDIT_LOG,
    CONTROLLER_IDENTITY_ARGUMENT_SPEC,
)
from ansible_collections.speechops.edge.plugins.module_utils._deploy_lock import LOCK_PATH, run_speech_lock


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            controller_pid=dict(type="int"),
            operation=dict(type="str", choices=["deploy", "remove"], default="deploy"),
            lock_timeout=dict(type="float", default=0),
            stale_after=dict(type="int", default=14400),
            break_lock=dict(type="bool", default=False),
            path=dict(type="path", default=LOCK_PATH),
            audit_log=dict(type="path", default=AUDIT_LOG),
            audit=dict(type="dict", options=AUDIT_ENTRY_ARGUMENT_SPEC),
            **CONTROLLER_IDENTITY_ARGUMENT_SPEC,
        ),
        required_if=[("state", "present", ("run_id", "controller_user", "controller", "controller_pid"))],
        supports_check_mode=True,
    )
    run_speech_lock(module)


if __name__ == "__main__":
    main()
