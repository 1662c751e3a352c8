#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_login
short_description: Log the edge host's Docker engine in to a container registry
version_added: 0.1.0
description:
  - Logs the Docker engine of the edge host in to a registry through the Docker SDK for Python, so that
    M(speechops.edge.speech_containers) can pull from private mirrors and air-gapped registries.
  - Stores the credentials as the docker CLI does, in the engine user's C(config.json) with mode 0600, or through
    the credential helper that file configures (C(credsStore), C(credHelpers)).
  - When the stored credentials already match, the module makes no network call and reports no change.
  - Optionally installs the registry's CA certificate to C(/etc/docker/certs.d/HOST:PORT/ca.crt), which the engine
    reads on every request (no daemon restart).
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.docker_engine
  - speechops.edge.attributes
  - speechops.edge.attributes.actiongroup_docker
attributes:
  check_mode:
    details: Predicts a login, a logout or a CA change without making it.
    support: full
  diff_mode:
    details: Shows the user logged in and the CA certificate's checksum before and after; never the password.
    support: full
  idempotent:
    details: Matching stored credentials and CA mean no change and no network call.
    support: full
  platform:
    platforms: linux
    details: An edge host running the Docker engine.
options:
  registry:
    description: The registry as C(host[:port]), exactly as image references name it.
    type: str
    required: true
  username:
    description: The registry user; required with O(state=present).
    type: str
  password:
    description: The registry password or token; required with O(state=present). Never shown in any output.
    type: str
  state:
    description:
      - V(present) logs in, V(absent) logs out (forgets the stored credentials).
      - O(ca_cert) is installed in both states, so V(absent) with O(ca_cert) is how an anonymous registry (a mirror
        without login) gets trusted; the engine then holds no credentials for it.
    type: str
    choices: [present, absent]
    default: present
  reauthorize:
    description: Log in even when the stored credentials match (to check they still work).
    type: bool
    default: false
  ca_cert:
    description:
      - PEM text of the CA that signed the registry's certificate, installed to
        C(/etc/docker/certs.d/HOST:PORT/ca.crt).
    type: str
  config_path:
    description: The docker client configuration file; defaults to C($DOCKER_CONFIG/config.json) or C(~/.docker/config.json).
    type: path
notes:
  - The engine verifies the credentials against the registry; an unknown CA, wrong credentials and an unreachable
    registry each fail with a message that says which, and what fixes it.
seealso:
  - module: speechops.edge.speech_containers
"""

EXAMPLES = r"""
- name: Trust the site mirror's CA and log in
  speechops.edge.registry_login:
    registry: registry.example.com:5000
    username: speech
    password: "{{ vault_registry_password }}"
    ca_cert: "{{ lookup('ansible.builtin.file', 'files/registry-ca.crt') }}"

- name: Log out
  speechops.edge.registry_login:
    registry: registry.example.com:5000
    state: absent
"""

RETURN = r"""
registry:
  description: The registry host.
  returned: always
  type: str
  sample: registry.example.com:5000
username:
  description: The user logged in.
  returned: when O(state=present)
  type: str
  sample: speech
action:
  description: What was done (or would be, in check mode).
  returned: always
  type: str
  choices: [login, logout, none]
  sample: none
config_path:
  description: The client configuration file holding the credentials.
  returned: always
  type: str
  sample: /root/.docker/config.json
ca_path:
  description: Where the CA certificate is installed.
  returned: when O(ca_cert) is given
  type: str
  sample: /etc/docker/certs.d/registry.example.com:5000/ca.crt
ca_changed:
  description: Whether the CA certificate was (or would be) written.
  returned: when O(ca_cert) is given
  type: bool
  sample: false
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._registry_login import run_registry_login


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            registry=dict(type="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            reauthorize=dict(type="bool", default=False),
            ca_cert=dict(type="str"),
            config_path=dict(type="path"),
            **DOCKER_ENGINE_ARGUMENT_SPEC,
        ),
        required_if=[("state", "present", ("username", "password"))],
        supports_check_mode=True,
    )
    run_registry_login(module)


if __name__ == "__main__":
    main()
