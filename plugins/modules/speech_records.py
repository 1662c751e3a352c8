#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_records
short_description: Keep the human-readable records of the speech containers on an edge host
version_added: 0.2.0
description:
  - One file per speech container, C(NAME.yml) in O(path), says what runs there - image, ports, limits and the
    equivalent C(docker run) line, secrets replaced by C(********) (the role C(speechops.edge.speech) renders them).
  - In one call the module writes the records of O(records) that are missing or differ (mode 0640, owner root, in a
    directory of mode 0750), and removes the records named in O(remove) and, with O(prune), every other record.
  - Only files that carry the record marker line C(# speechops.edge speech container record) are ever removed.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.attributes
attributes:
  check_mode:
    details: Reports the records it would write and remove.
    support: full
  diff_mode:
    details: Shows each record written (before and after) and removed.
    support: full
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  path:
    description: The directory of the records.
    type: path
    default: /etc/speechops
  records:
    description: The records that must be on the host, exactly as given.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The container's name; the record is O(path)/C(NAME.yml).
        type: str
        required: true
      content:
        description: The record's text (it must carry no secret; the role's template masks them).
        type: str
        required: true
  remove:
    description: Names of containers whose records go (their containers were removed).
    type: list
    elements: str
    default: []
  prune:
    description: Also remove every other record in O(path) (the containers were pruned).
    type: bool
    default: false
notes:
  - Needs root on the edge host.
seealso:
  - module: speechops.edge.speech_containers
"""

EXAMPLES = r"""
- name: Keep one record per container, remove the record of a container that is gone
  speechops.edge.speech_records:
    records:
      - name: stt-en-us
        content: "{{ lookup('ansible.builtin.template', 'record.yml.j2') }}"
    remove: [stt-de-de]

- name: Would the records change? (check mode, nothing is written)
  speechops.edge.speech_records:
    records: "{{ wanted_records }}"
  check_mode: true
  register: records_compare
"""

RETURN = r"""
written:
  description: Records written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/speechops/stt-en-us.yml]
removed:
  description: Records removed (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/speechops/stt-de-de.yml]
path:
  description: The directory of the records.
  returned: always
  type: str
  sample: /etc/speechops
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._records import run_speech_records
from ansible_collections.speechops.edge.plugins.module_utils._schema import RECORDS_ARGUMENT_SPEC


def main() -> None:
    module = AnsibleModule(argument_spec=RECORDS_ARGUMENT_SPEC, supports_check_mode=True)
    run_speech_records(module)


if __name__ == "__main__":
    main()
