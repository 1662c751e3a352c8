#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_container_info
short_description: List the managed Microsoft Speech containers of an edge host
version_added: 0.1.0
description:
  - Lists the speech containers that M(speechops.edge.speech_containers) manages on the host (found by label),
    with kind, version, image ID, ports, readiness, billing status, model presence, start time and restart count.
  - Disconnected containers - their license directory for the image they run (present or missing, and when it
    was downloaded) and, with O(usage), their usage records from C(/records/usage-logs/).
  - Never changes anything.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.docker_engine
  - speechops.edge.attributes
  - speechops.edge.attributes.actiongroup_docker
attributes:
  check_mode:
    details: Read-only; runs unchanged in check mode.
    support: full
  diff_mode:
    details: Nothing changes.
    support: N/A
  idempotent:
    details: Read-only.
    support: full
  platform:
    platforms: linux
    details: An edge host running the Docker engine.
options:
  names:
    description: Only these containers (by their managed name); all when empty.
    type: list
    elements: str
    default: []
  probe:
    description: Ask each running container for C(/ready) and C(/status).
    type: bool
    default: true
  probe_timeout:
    description: Seconds one probe request (and one usage request) may take.
    type: float
    default: 3.0
  usage:
    description:
      - Ask every running disconnected container for its usage records (C(GET /records/usage-logs/)) where it is
        published on the host, and return them as RV(containers[].usage).
    type: bool
    default: false
  usage_period:
    description:
      - Only the records of one month, as C(MONTH/YEAR) (V(11/2026), C(GET /records/usage-logs/11/2026)); every
        month when empty.
    type: str
seealso:
  - module: speechops.edge.speech_containers
"""

EXAMPLES = r"""
- name: Read the speech containers of the host
  speechops.edge.speech_container_info:
  register: speech

- name: Fail when one of them does not serve
  ansible.builtin.assert:
    that: speech.containers | rejectattr('api_status', 'in', ['Valid', 'ValidNonMetered']) | list | length == 0

- name: Read the usage records of the disconnected containers
  speechops.edge.speech_container_info:
    usage: true
  register: speech_usage
"""

RETURN = r"""
gateway:
  description:
    - The host's speech gateway (M(speechops.edge.speech_gateway)) - its ports, whether it answers, its
      certificate (subject, names, C(not_after)); null when the host has none.
  returned: always
  type: dict
  sample: {"ports": [5000, 5001], "running": true,
           "certificate": {"subject": "commonName=172.30.57.11", "names": ["172.30.57.11", "edge1"],
                           "not_after": "Mar  7 11:23:00 2029 GMT"}}
containers:
  description: The managed speech containers.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The managed name.
      type: str
      sample: stt-en
    container_name:
      description: The Docker name (differs from RV(containers[].name) for a container kept during a replacement).
      type: str
      sample: stt-en
    id:
      description: Container ID.
      type: str
      sample: 4f1c0e5e9b1a2c
    kind:
      description: Speech container kind.
      type: str
      sample: speech-to-text
    version:
      description: Image version.
      type: str
      sample: 5.1.0
    locale:
      description: Locale, for kinds that have one.
      type: str
      sample: en-us
    voice:
      description: Voice, for text-to-speech kinds.
      type: str
      sample: arianeural
    ssml_voice:
      description:
        - The voice name SSML and the Speech SDKs use for this container (C(SpeechSynthesisVoiceName)), in
          Microsoft's casing from the catalog's voice table; voice names are case-sensitive.
        - Null for kinds without a voice, and for voices the table does not know.
      type: str
      sample: en-US-AriaNeural
    gateway:
      description:
        - Behind the speech gateway - the slot that sends this container traffic, its state there (C(UP), C(DRAIN),
          C(MAINT), C(DOWN)) and its sessions now.
      type: dict
      returned: when the container is behind this host's speech gateway
      sample: {"slot": "slot2", "status": "UP", "sessions": 3}
    image:
      description: Image reference.
      type: str
      sample: mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us
    image_id:
      description: Image ID.
      type: str
      sample: sha256:0123abcd
    status:
      description: Docker state (running, exited, ...).
      type: str
      sample: running
    running:
      description: Whether it runs.
      type: bool
      sample: true
    started_at:
      description: When it last started.
      type: str
      sample: "2026-11-26T05:00:00.000000000Z"
    restart_count:
      description: Restarts by the restart policy.
      type: int
      sample: 0
    host_port:
      description: The host port.
      type: int
      sample: 5000
    bind_address:
      description: The host address of the port.
      type: str
      sample: 0.0.0.0
    ports:
      description: Published ports.
      type: list
      elements: dict
      sample: [{"host_ip": "0.0.0.0", "host_port": 5000, "container_port": 5000}]
    model_path:
      description: Host model directory of custom kinds.
      type: str
      sample: /var/lib/speechops/models/stt-custom
    model_present:
      description: Whether a downloaded model sits in RV(containers[].model_path).
      type: bool
      sample: true
    previous:
      description: Whether this is a previous container kept during a replacement.
      type: bool
      sample: false
    disconnected:
      description:
        - A disconnected container's license - its license directory (C(license_path)), the directory of the image
          it runs (C(license_dir), LICENSE_PATH/<image ID hex>), V(present) or V(missing) (present - it holds at
          least one file), and when it was downloaded (the directory's modification time, UTC ISO 8601; null when
          missing).
        - Null for containers that run connected.
      type: dict
      sample: {"license_path": "/var/lib/speechops/license/tts", "license_dir": "/var/lib/speechops/license/tts/0123abcd",
               "license": "present", "license_downloaded": "2026-11-26T05:00:00+00:00"}
    usage:
      description:
        - The usage records of a disconnected container as it answers C(GET /records/usage-logs/) (C(apiType),
          C(serviceName), C(meters) with C(name) and C(quantity)), or C(error) when it gave none.
      type: dict
      returned: with O(usage), for disconnected containers
      sample: {"apiType": "speech", "serviceName": "neural-text-to-speech",
               "meters": [{"name": "Speech.TextToSpeech.Characters", "quantity": 1234}]}
    ready:
      description: Whether C(/ready) answered 200.
      type: bool
      returned: when probed
      sample: true
    ready_code:
      description: HTTP status of C(/ready).
      type: int
      returned: when probed
      sample: 200
    api_status:
      description: apiStatus from C(/status).
      type: str
      returned: when probed
      sample: Valid
    api_status_message:
      description: apiStatusMessage from C(/status).
      type: str
      returned: when probed
      sample: Api Key is valid, no action needed.
    error:
      description: Why a probe got no answer.
      type: str
      returned: when probed
      sample: null
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._speech_info import run_speech_container_info


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", default=[]),
            probe=dict(type="bool", default=True),
            probe_timeout=dict(type="float", default=3.0),
            usage=dict(type="bool", default=False),
            usage_period=dict(type="str"),
            **DOCKER_ENGINE_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    run_speech_container_info(module)


if __name__ == "__main__":
    main()
