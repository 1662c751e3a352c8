#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_gateway
short_description: TLS and access keys in front of the speech containers of an edge host (HAProxy)
version_added: 0.1.0
description:
  - Configures the distribution's HAProxy as the speech gateway of the edge host. Clients keep the ports they know
    (one per service, for example 5000) and connect with C(https://) and C(wss://); a request passes only with an
    access key in the header C(Ocp-Apim-Subscription-Key) (what Microsoft's Speech SDKs send with
    C(SpeechConfig(host=..., subscription=KEY))) or in the query parameter of that name (what the JavaScript SDK also
    sends). No key or a wrong key gets 401 and never reaches the container; the key is removed before the request
    is forwarded. The service's ready path (and O(open_paths)) stays open for load balancers.
  - The containers of a service are published on loopback only, on one of two slot ports (the service port plus
    10000 and plus 20000), so that M(speechops.edge.speech_containers) can start an upgrade beside the serving
    container and switch at run time with no serving gap.
  - The host stores only the SHA-256 of each key, in a root-only file; the certificate and its key are one root-only
    PEM file. The new files are validated together with C(haproxy -c) before they replace the working ones; a
    configuration HAProxy rejects never replaces a working one.
  - HAProxy runs in master-worker mode; a change of the configuration reloads it seamlessly (established connections,
    WebSocket recognitions included, finish on the old worker, bounded by O(hard_stop_after)). Works with systemd and
    with Debian's init script.
  - A package upgrade of HAProxy that did not restart it (the role keeps the package scripts from restarting it) is
    finished by a seamless reload onto the new binary.
  - A change of the access keys or the certificate alone needs no reload - the running worker takes them through the
    runtime API (C(prepare map)/C(commit map), C(set ssl cert)/C(commit ssl cert)), so key rotation and certificate
    renewal touch no connection. Where the runtime API refuses, the module reloads instead and says why.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.attributes
attributes:
  check_mode:
    details: Predicts which files change and whether HAProxy would be started or reloaded.
    support: full
  diff_mode:
    details: Shows the configuration before and after, the key labels and the certificate's SHA-256; never a key.
    support: full
  idempotent:
    details: Unchanged files and a running gateway mean no change and no reload.
    support: full
  platform:
    platforms: linux
    details: An edge host with its distribution's HAProxy.
options:
  state:
    description: V(present) configures and runs the gateway; V(absent) stops it and removes the files it wrote.
    type: str
    choices: [present, absent]
    default: present
  services:
    description: The services behind the gateway, one per client port.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The service's name (the container's name in the plan); names the frontend and backend.
        type: str
        required: true
      port:
        description: The port clients use. Its containers run on loopback at this port plus 10000 or plus 20000.
        type: int
        required: true
      ready_path:
        description:
          - The path that says the service's container is ready (the kind's, from the filter
            P(speechops.edge.speech_select#filter) view V(gateway)); the gateway checks it and leaves it open.
        type: str
        default: /ready
  bind_address:
    description: The address the gateway listens on; V(0.0.0.0) for every IPv4 address, V(::) for IPv4 and IPv6.
    type: str
    default: 0.0.0.0
  access_keys:
    description:
      - The accepted keys, as the SHA-256 (lower-case hex) of each key with a label that the gateway's log shows.
      - The role speechops.edge.speech computes the digests on the controller, so no key reaches the host.
    type: list
    elements: dict
    default: []
    suboptions:
      label:
        description: Who holds the key (letters, digits, C(_), C(.), C(-)).
        type: str
        required: true
      sha256:
        description: SHA-256 of the key, 64 lower-case hex digits.
        type: str
        required: true
  require_key:
    description: Refuse every request without a valid key (except the ready path and O(open_paths)).
    type: bool
    default: true
  open_paths:
    description: Paths besides each service's ready path that need no key (for example V(/status)).
    type: list
    elements: str
    default: []
  tls_certificate:
    description: PEM of the gateway's certificate and its chain; its names must include the name or address clients use.
    type: str
  tls_private_key:
    description: PEM of the certificate's private key (keep it in a vault). Never shown in any output.
    type: str
  tunnel_timeout:
    description: Seconds an established WebSocket may stay idle before the gateway closes it.
    type: int
    default: 600
  drain_timeout:
    description: Seconds an upgrade lets sessions in progress finish on the old container (M(speechops.edge.speech_containers)).
    type: int
    default: 600
  hard_stop_after:
    description: Seconds an old HAProxy worker keeps its connections after a reload; at least O(drain_timeout).
    type: int
    default: 900
notes:
  - Needs the distribution's C(haproxy) package (HAProxy 2.6 or newer); the role speechops.edge.speech installs it.
  - Keys are checked per request and per WebSocket handshake; a WebSocket established with a key that is then
    revoked goes on until it closes (at most O(tunnel_timeout) idle).
seealso:
  - module: speechops.edge.speech_containers
  - name: HAProxy 2.6 configuration manual
    description: Sections 4.2 (http-request, timeout tunnel), 5.1 (crt) and 7.3.1 (sha2, map).
    link: https://docs.haproxy.org/2.6/configuration.html
"""

EXAMPLES = r"""
- name: TLS and access keys in front of speech-to-text on 5000
  speechops.edge.speech_gateway:
    services:
      - {name: stt-en-us, port: 5000}
    access_keys:
      - label: call-center
        sha256: "{{ vault_call_center_key | hash('sha256') }}"
    tls_certificate: "{{ lookup('ansible.builtin.file', 'pki/edge1.crt') }}"
    tls_private_key: "{{ vault_edge1_tls_key }}"

- name: Take the gateway away
  speechops.edge.speech_gateway:
    state: absent
"""

RETURN = r"""
action:
  description:
    - What the module did (or would do) - V(none), V(start), V(reload), V(update) or V(remove).
    - V(update) - only the keys or the certificate changed; the running worker took them without a reload.
  returned: always
  type: str
  sample: reload
files:
  description: The files that changed (or would).
  returned: always
  type: list
  elements: str
  sample: ["/etc/haproxy/haproxy.cfg", "/etc/haproxy/speechops-keys.map"]
config_path:
  description: The HAProxy configuration the module writes.
  returned: always
  type: str
  sample: /etc/haproxy/haproxy.cfg
services:
  description: Each service with its client port, its two loopback slot ports and its ready path.
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{"name": "stt-en-us", "port": 5000, "slots": [15000, 25000], "ready_path": "/ready"}]
slots:
  description:
    - Slots put in maintenance (nothing listens there) or back into service (a container listens there) after a
      start or reload, as C(BACKEND/SLOT STATE).
  returned: when O(state=present), not in check mode
  type: list
  elements: str
  sample: ["stt-en-us/slot2 maint"]
upgrade:
  description:
    - The HAProxy versions when the installed binary differs from the one serving (a package upgrade that did not
      restart it); the module then reloads, which re-executes the master with the new binary while connections in
      progress finish on the old workers.
  returned: when the installed HAProxy differs from the running one
  type: dict
  sample: {"running": "2.6.12-1+deb12u3", "installed": "2.6.12-1+deb12u4"}
update_error:
  description: Why the runtime API did not take the new keys or certificate, so that the module reloaded instead.
  returned: when an update fell back to a reload
  type: str
  sample: "commit ssl cert /etc/haproxy/speechops-gateway.pem: ..."
keys:
  description: The labels of the accepted keys.
  returned: when O(state=present)
  type: list
  elements: str
  sample: ["call-center"]
certificate:
  description: The installed certificate's subject, names and expiry (C(not_after)); null in check mode.
  returned: when O(state=present)
  type: dict
  sample: {"subject": "commonName=edge1", "names": ["edge1", "172.30.57.11"], "not_after": "Dec  2 10:00:00 2027 GMT"}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._gateway_module import run_speech_gateway


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            services=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str", required=True),
                    port=dict(type="int", required=True),
                    ready_path=dict(type="str", default="/ready"),
                ),
            ),
            bind_address=dict(type="str", default="0.0.0.0"),
            access_keys=dict(
                type="list",
                elements="dict",
                default=[],
                no_log=False,  # labels and SHA-256 digests of random keys, never the keys
                options=dict(label=dict(type="str", required=True), sha256=dict(type="str", required=True)),
            ),
            require_key=dict(type="bool", default=True),
            open_paths=dict(type="list", elements="str", default=[]),
            tls_certificate=dict(type="str"),
            tls_private_key=dict(type="str", no_log=True),
            tunnel_timeout=dict(type="int", default=600),
            drain_timeout=dict(type="int", default=600),
            hard_stop_after=dict(type="int", default=900),
        ),
        required_if=[("state", "present", ("tls_certificate", "tls_private_key"))],
        supports_check_mode=True,
    )
    run_speech_gateway(module)


if __name__ == "__main__":
    main()
