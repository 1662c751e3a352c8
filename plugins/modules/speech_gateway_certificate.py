#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_gateway_certificate
short_description: A site CA on the controller that issues each edge host's speech gateway certificate
version_added: 0.1.0
description:
  - For labs and small sites without their own PKI. Keeps a CA in O(ca_dir) on the controller (created on first use,
    an ECDSA P-256 key and a self-signed certificate valid O(ca_valid_days)) and issues the host O(common_name) a
    gateway certificate for O(subject_alt_names) (subjectAltName, serverAuth, at most 397 days), with a new key,
    whenever it has none, the names change, the CA changed, or it expires within O(renew_before_days).
  - Clients trust C(ca.crt) in O(ca_dir) (for example C(SSL_CERT_FILE) for the Python Speech SDK,
    C(NODE_EXTRA_CA_CERTS) for the JavaScript SDK). Keys stay in O(ca_dir) (mode 0600, the directory 0700); the
    module returns their paths, never their contents.
  - "Run it on the controller (C(delegate_to: localhost)); hosts may be issued in parallel, a lock in O(ca_dir)
    serialises the writes. The role speechops.edge.speech uses it when C(speech_gateway_site_ca_dir) is set."
  - Sites with a PKI give M(speechops.edge.speech_gateway) their own certificate instead.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.attributes
attributes:
  check_mode:
    details: Says whether the certificate (and the CA) would be created or renewed and why; writes nothing.
    support: full
  diff_mode:
    details: Names, expiry, issuer and serial number before and after; never a key.
    support: full
  idempotent:
    details: A certificate that is valid, for the same names and from the same CA, is left alone.
    support: full
  platform:
    platforms: posix
    details: The controller.
options:
  ca_dir:
    description: Absolute path of the site CA's directory on the controller. Back it up; keep it private.
    type: path
    required: true
  common_name:
    description: The edge host (its inventory name) - the certificate's common name and file name.
    type: str
    required: true
  subject_alt_names:
    description:
      - DNS names and IP addresses clients use to reach the host's gateway (subjectAltName). Clients verify these.
    type: list
    elements: str
    required: true
  valid_days:
    description: Days a host certificate is valid (at most 397, what clients accept).
    type: int
    default: 397
  renew_before_days:
    description: A certificate that expires within this many days is renewed.
    type: int
    default: 30
  ca_name:
    description: Common name of a CA this module creates.
    type: str
    default: speechops.edge site CA
  ca_valid_days:
    description: Days a CA this module creates is valid. Host certificates never outlive the CA.
    type: int
    default: 3650
notes:
  - Needs the Python package C(cryptography) on the controller, which ansible-core itself requires.
  - The gateway takes a renewed certificate without a reload (M(speechops.edge.speech_gateway)).
"""

EXAMPLES = r"""
- name: Issue the gateway certificate of this host from the site CA
  speechops.edge.speech_gateway_certificate:
    ca_dir: /srv/speechops/site-ca
    common_name: "{{ inventory_hostname }}"
    subject_alt_names:
      - "{{ inventory_hostname }}"
      - "{{ ansible_host }}"
  delegate_to: localhost
  become: false
  register: issued

- name: Put it in front of the speech containers
  speechops.edge.speech_gateway:
    services:
      - name: stt-en-us
        port: 5000
    access_keys: "{{ speech_keys | speechops.edge.speech_access_keys }}"
    tls_certificate: "{{ issued.certificate }}"
    tls_private_key: "{{ lookup('ansible.builtin.file', issued.private_key_path) }}"
"""

RETURN = r"""
action:
  description: V(create) (no certificate yet), V(renew) (see RV(reason)) or V(none).
  returned: always
  type: str
  sample: create
reason:
  description: Why the certificate is created or renewed, or until when it is valid.
  returned: always
  type: str
  sample: "its names edge1 differ from 10.0.0.11, edge1"
ca_created:
  description: Whether the site CA itself is (or would be) created by this call.
  returned: always
  type: bool
pending:
  description: Check mode only - the certificate would be created or renewed; RV(certificate) is empty until it is.
  returned: always
  type: bool
certificate:
  description: The host's certificate (PEM); empty in check mode when it is still to be issued.
  returned: always
  type: str
ca_certificate:
  description: The site CA's certificate (PEM), what clients trust; empty before the CA exists.
  returned: always
  type: str
certificate_path:
  description: Path of the host's certificate on the controller.
  returned: always
  type: str
  sample: /srv/speechops/site-ca/hosts/edge1.crt
private_key_path:
  description: Path of the host's private key on the controller (mode 0600).
  returned: always
  type: str
  sample: /srv/speechops/site-ca/hosts/edge1.key
ca_certificate_path:
  description: Path of the CA's certificate on the controller.
  returned: always
  type: str
  sample: /srv/speechops/site-ca/ca.crt
names:
  description: The names the certificate holds (or will hold).
  returned: always
  type: list
  elements: str
  sample: ["10.0.0.11", "edge1"]
not_after:
  description: When the certificate expires (UTC); null while it is still to be issued in check mode.
  returned: always
  type: str
  sample: "2027-12-04T10:00:00Z"
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._site_ca import run_site_certificate


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            ca_dir=dict(type="path", required=True),
            common_name=dict(type="str", required=True),
            subject_alt_names=dict(type="list", elements="str", required=True),
            valid_days=dict(type="int", default=397),
            renew_before_days=dict(type="int", default=30),
            ca_name=dict(type="str", default="speechops.edge site CA"),
            ca_valid_days=dict(type="int", default=3650),
        ),
        supports_check_mode=True,
    )
    run_site_certificate(module)


if __name__ == "__main__":
    main()
