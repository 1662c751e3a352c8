#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_audit
short_description: Append to and read the audit log of an edge host
version_added: 0.1.0
description:
  - Every host keeps an append-only audit log, one JSON line per deploy, remove or lock break - who (the
    controller user), from which controller, when (UTC), the run id, what changed (container name, action, kind
    and image from the M(speechops.edge.speech_containers) result, and whether it was rolled back) and the
    result (V(ok) or V(failed) with its message).
  - With O(operation) the module appends one entry; without it, it only reads. Either way it returns the last
    O(last) entries.
  - An entry is built from an allow-list of fields and redacted - the values of O(redact) and any value of a
    secret setting (C(ApiKey=...)) become C(********) - so no secret is ever written.
  - The log is created with mode 0640, owner root, group C(adm) where it exists (as Debian's own logs, readable
    by administrators without root; it holds no secret), in a directory of mode 0750.
  - The action plugin fills in the controller user, the controller and the run id (the one M(speechops.edge.speech_lock)
    records).
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.controller_identity
  - speechops.edge.attributes
attributes:
  check_mode:
    details: Returns the entry it would append without writing it.
    support: full
  diff_mode:
    details: Shows the line appended.
    support: full
  idempotent:
    details: Reading changes nothing; every append is a new entry by design (a log of events).
    support: none
  platform:
    platforms: posix
options:
  operation:
    description: Append an entry for this operation; without it the module only reads.
    type: str
    choices: [deploy, remove]
  result:
    description: The outcome of the operation.
    type: str
    choices: [ok, failed]
    default: ok
  detail:
    description: What happened, for a failure the reason (at most 1000 characters are kept, redacted).
    type: str
    default: ""
  containers:
    description:
      - The RV(speechops.edge.speech_containers#module:containers) of the operation. Only C(name), C(action),
        C(kind), C(image) and C(rolled_back) of entries that changed are logged.
    type: list
    elements: dict
    default: []
  redact:
    description: Secret values that must never reach the log (the role passes the Speech key and proxy credentials).
    type: list
    elements: str
    default: []
  last:
    description: How many of the latest entries to return.
    type: int
    default: 0
  path:
    description: The audit log.
    type: path
    default: /var/log/speechops/audit.jsonl
notes:
  - Writing needs root on the edge host, reading root or group C(adm).
  - The time of an entry comes from the edge host's clock, in UTC.
  - Entries are single appended lines; the module never rewrites the file. Rotate it with logrotate if ever needed
    (an entry is a few hundred bytes).
seealso:
  - module: speechops.edge.speech_lock
  - module: speechops.edge.speech_containers
"""

EXAMPLES = r"""
- name: Converge
  speechops.edge.speech_containers:
    containers: "{{ plan }}"
    eula: accept
    billing: "{{ speech_billing }}"
    api_key: "{{ speech_api_key }}"
  register: converge

- name: Record the deploy in the host's audit log
  speechops.edge.speech_audit:
    operation: deploy
    result: "{{ 'failed' if converge is failed else 'ok' }}"
    detail: "{{ converge.msg | default('') }}"
    containers: "{{ converge.containers | default([]) }}"
    redact: ["{{ speech_api_key }}"]

- name: Read the last five entries
  speechops.edge.speech_audit:
    last: 5
  register: audit
"""

RETURN = r"""
entries:
  description: The last O(last) entries, oldest first (in check mode without the one that would be appended).
  returned: always
  type: list
  elements: dict
  sample:
    - time: "2026-03-02T09:26:41Z"
      operation: deploy
      run_id: 7f3a9c01d2e4
      user: alice
      controller: ctl-2
      result: ok
      message: ""
      changes:
        - {name: stt-en-us, action: replaced, kind: speech-to-text,
           image: "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"}
entry:
  description: The entry appended (or that would be, in check mode).
  returned: when O(operation) is given
  type: dict
  sample: {"time": "2026-03-02T09:26:41Z", "operation": "deploy", "result": "ok", "changes": []}
unreadable_lines:
  description: Lines among the last O(last) that are not JSON entries (edited by hand, or a torn write).
  returned: always
  type: int
  sample: 0
path:
  description: The audit log.
  returned: always
  type: str
  sample: /var/log/speechops/audit.jsonl
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._audit_log import (
    AUDIT_ENTRY_ARGUMENT_SPEC,
    AUDIT_LOG,
    CONTROLLER_IDENTITY_ARGUMENT_SPEC,
    OPERATIONS,
    run_speech_audit,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            # A lock break is recorded by speech_lock itself, in the same call that breaks it.
            operation=dict(type="str", choices=[name for name in OPERATIONS if name != "lock_break"]),
            **AUDIT_ENTRY_ARGUMENT_SPEC,
            last=dict(type="int", default=0),
            path=dict(type="path", default=AUDIT_LOG),
            **CONTROLLER_IDENTITY_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    run_speech_audit(module)


if __name__ == "__main__":
    main()
