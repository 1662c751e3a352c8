#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_containers
short_description: Converge every Microsoft Speech container of an edge host in one call
version_added: 0.1.0
description:
  - Takes the host's whole desired set of speech containers and makes the Docker engine run exactly that.
  - Validates every entry before it touches the host (catalog checks, O(containers[].eula), billing URL, key, sizes,
    host ports unique and free, model ids for custom kinds) and fails with one message that lists every problem
    with its field path, the bad value and the fix.
  - A container whose config-hash label matches the rendered settings and image ID is unchanged; an unchanged
    host costs one container list and one image list from the engine.
  - Those two lists are read with the Python standard library (for C(unix://) and C(tcp://) engines); the Docker
    SDK for Python is imported only when something changes, so a run that changes nothing (and check mode) also
    works without it.
  - Pulls every needed image before it stops anything, so a registry outage leaves running containers untouched.
  - A replaced container is stopped and kept (renamed) until the new one answers C(/ready) and C(/status) says
    C(Valid); otherwise the new one is removed, the previous one is started again and the task fails with the
    reason and the last log lines, secrets redacted.
  - Containers always run with memory and CPU limits, a pids limit, C(no-new-privileges), all capabilities dropped,
    json-file log rotation and ports bound to the given address; never privileged, never with the Docker socket.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.docker_engine
attributes:
  check_mode:
    description: Reports exactly which containers would be created, replaced, started, stopped or removed, and which images pulled.
    support: full
  diff_mode:
    description: Shows the before and after settings of each changed container, secrets redacted.
    support: full
  idempotent:
    description: A second run with the same input reports no change.
    support: full
options:
  containers:
    description:
      - The desired speech containers of this host.
      - Options marked as inherited take the module-level value of the same name when not set in the entry.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The container name; unique on the host.
        type: str
        required: true
      kind:
        description:
          - The speech container kind, one of V(speech-to-text), V(custom-speech-to-text), V(neural-text-to-speech),
            V(language-detection), V(fast-transcription), V(text-to-speech), V(custom-text-to-speech).
        type: str
        required: true
      state:
        description:
          - V(started) runs the container and waits until it serves; V(stopped) keeps it created but stopped;
            V(absent) removes it.
        type: str
        default: started
      version:
        description: The pinned image version (x.y.z); required unless O(containers[].image) is given.
        type: str
      locale:
        description: The locale for kinds whose tag has one (V(en-us) or V(en-US)).
        type: str
      voice:
        description:
          - The voice for text-to-speech kinds, best in Microsoft's casing (V(AriaNeural), V(AndrewMultilingualNeural)),
            which the SSML voice name keeps; voice names are case-sensitive.
          - A voice in lowercase (V(arianeural)) is accepted only when the collection's table of Microsoft's voice
            names knows its casing.
          - Neural voices whose name contains C(Multilingual) need at least 8 CPUs and 24 GB.
        type: str
      preview:
        description:
          - Use the C(-preview) tag of kinds that have one (speech-to-text, custom-speech-to-text,
            neural-text-to-speech, language-detection, text-to-speech); fast-transcription tags always carry it.
        type: bool
        default: false
      containerpreview:
        description: Use the 2019 gated preview repository naming (C(microsoft/cognitive-services-<kind>)).
        type: bool
        default: false
      image:
        description: An explicit image reference instead of version, locale and voice.
        type: str
      registry:
        description:
          - Registry host (and optional path prefix) that mirrors Microsoft's repositories; inherited.
          - Defaults to C(mcr.microsoft.com).
        type: str
      host_port:
        description: The host port; defaults to the kind's container port (5000, language-detection 5003).
        type: int
      bind_address:
        description: The host address the port is bound to; inherited; defaults to V(0.0.0.0).
        type: str
      cpus:
        description: CPU limit (C(docker run --cpus)); defaults to the kind's documented minimum.
        type: float
      memory:
        description: Memory limit in Docker's notation (V(8g)); defaults to the kind's documented minimum.
        type: str
      allow_below_minimum:
        description: Accept CPUs or memory below the kind's documented minimum (labs, tests); inherited.
        type: bool
      eula:
        description: Must be exactly V(accept), set by the operator after reading Microsoft's terms; inherited; never defaulted.
        type: str
      billing:
        description: The https endpoint URI of the Speech resource; inherited.
        type: str
      api_key:
        description: The key of the Speech resource; inherited. Never shown in any output.
        type: str
      model_id:
        description: The custom model id; required for custom kinds, refused for standard kinds.
        type: str
      model_path:
        description:
          - Host directory mounted at C(/usr/local/models) for custom kinds; the model is downloaded into it once.
          - Defaults to O(models_root)/NAME. Created and owned by the container's non-root user.
        type: path
      output_path:
        description: Host directory mounted at C(/output) (C(Mounts:Output)), owned by the container's user.
        type: path
      disk_logging:
        description: Write JSON logs to the output mount (C(Logging:Disk:Format=json)); needs O(containers[].output_path).
        type: bool
        default: false
      log_level:
        description: Console log level (C(Logging:Console:LogLevel:Default)), for example V(Information) or V(Warning).
        type: str
      http_proxy:
        description: Outbound proxy for billing (C(HTTP_PROXY)).
        type: str
      http_proxy_creds:
        description: Proxy credentials C(user:password) (C(HTTP_PROXY_CREDS)). Never shown in any output.
        type: str
      decoder_max_count:
        description:
          - Concurrent decoders, env C(DECODER_MAX_COUNT) of speech-to-text kinds or C(DECODER_COUNT) of
            fast-transcription (Microsoft's default 2; at least 2 for dual-channel audio).
        type: int
      gpus:
        description:
          - GPUs of a kind that needs one (fast-transcription). V(all) gives the container every GPU, as
            C(docker run --gpus all) does; the host needs an NVIDIA GPU and the NVIDIA Container Toolkit.
          - V(none) runs it without a GPU. For labs and CPU stand-ins only; Microsoft's image does not work
            without a GPU.
          - Defaults to V(all) for kinds that need a GPU; other kinds take no GPU.
        type: str
        choices: [all, none]
      settings:
        description:
          - Further documented settings passed as they are
            (C(Fluentd:Host), C(Fluentd:Port), C(ApplicationInsights:InstrumentationKey)).
        type: dict
      restart_policy:
        description: Docker restart policy (V(no), V(always), V(unless-stopped), V(on-failure)).
        type: str
        default: unless-stopped
      log_max_size:
        description: json-file log rotation size.
        type: str
        default: 10m
      log_max_files:
        description: json-file log files kept.
        type: int
        default: 3
      stop_timeout:
        description: Seconds a graceful stop may take before the container is killed.
        type: int
        default: 30
      ready_timeout:
        description: Seconds a started container has to answer C(/ready) and report a valid billing status.
        type: int
        default: 600
      pids_limit:
        description: Maximum number of processes in the container.
        type: int
        default: 4096
  eula:
    description: Default O(containers[].eula).
    type: str
  billing:
    description: Default O(containers[].billing).
    type: str
  api_key:
    description: Default O(containers[].api_key). Never shown in any output.
    type: str
  registry:
    description: Default O(containers[].registry).
    type: str
  bind_address:
    description: Default O(containers[].bind_address).
    type: str
    default: 0.0.0.0
  allow_below_minimum:
    description: Default O(containers[].allow_below_minimum).
    type: bool
    default: false
  models_root:
    description: Parent directory of the default model directories of custom kinds.
    type: path
    default: /var/lib/speechops/models
  prune:
    description: Remove managed containers that are not in O(containers). Containers this module did not create are never touched.
    type: bool
    default: false
  pull:
    description: V(missing) pulls images not on the host; V(always) asks the registry on every run.
    type: str
    choices: [missing, always]
    default: missing
  probe:
    description: Ask every started container for C(/ready) and C(/status) and return the answers.
    type: bool
    default: true
notes:
  - Credentials for private registries come from the engine user's C(config.json); log in first with M(speechops.edge.registry_login).
seealso:
  - module: speechops.edge.registry_login
  - module: speechops.edge.speech_container_info
  - module: speechops.edge.host_check
"""

EXAMPLES = r"""
- name: Run speech-to-text and neural text-to-speech on an edge host
  speechops.edge.speech_containers:
    eula: accept
    billing: https://westeurope.api.cognitive.microsoft.com/
    api_key: "{{ vault_speech_api_key }}"
    containers:
      - name: stt-en
        kind: speech-to-text
        version: 5.1.0
        locale: en-US
        cpus: 8
        memory: 8g
      - name: tts-aria
        kind: neural-text-to-speech
        version: 4.1.0
        locale: en-US
        voice: AriaNeural
        host_port: 5001
        memory: 16g
        cpus: 8

- name: A custom speech model from a private mirror, with disk logs
  speechops.edge.speech_containers:
    registry: registry.example.com:5000
    eula: accept
    billing: https://westeurope.api.cognitive.microsoft.com/
    api_key: "{{ vault_speech_api_key }}"
    containers:
      - name: stt-custom
        kind: custom-speech-to-text
        version: 5.1.0
        model_id: 0a1b2c3d-aaaa-bbbb-cccc-0123456789ab
        output_path: /var/lib/speechops/output/stt-custom
        disk_logging: true
    prune: true

- name: Remove one container
  speechops.edge.speech_containers:
    containers:
      - name: tts-aria
        kind: neural-text-to-speech
        state: absent
        eula: accept
        billing: https://westeurope.api.cognitive.microsoft.com/
        api_key: unused-for-removal
"""

RETURN = r"""
containers:
  description: One entry per desired or pruned container.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Container name.
      type: str
      sample: stt-en
    action:
      description: What was done (or would be, in check mode).
      type: str
      sample: replaced
      choices: [unchanged, created, replaced, started, stopped, removed]
    reason:
      description: Why the action was needed.
      type: str
      sample: image or settings changed
    pull:
      description: Whether the image was (or would be) pulled.
      type: bool
      sample: false
    kind:
      description: The speech container kind.
      type: str
      sample: speech-to-text
    state:
      description: The desired state.
      type: str
      sample: started
    image:
      description: The image reference.
      type: str
      sample: mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us
    id:
      description: ID of a container created by this run.
      type: str
      returned: when a container was created
      sample: 4f1c0e5e9b1a
    host_port:
      description: The host port.
      type: int
      sample: 5000
    bind_address:
      description: The host address of the port.
      type: str
      sample: 0.0.0.0
    endpoints:
      description: URLs of the container as seen from the edge host.
      type: dict
      sample: {"ready": "http://127.0.0.1:5000/ready", "status": "http://127.0.0.1:5000/status",
               "query": ["ws://127.0.0.1:5000/speech/recognition/interactive/cognitiveservices/v1"]}
    model_path:
      description: Host directory of the model (custom kinds).
      type: str
      sample: /var/lib/speechops/models/stt-custom
    ready:
      description: Whether C(/ready) answered 200.
      type: bool
      returned: when the container was probed
      sample: true
    ready_code:
      description: The HTTP status of C(/ready).
      type: int
      returned: when the container was probed
      sample: 200
    api_status:
      description: The apiStatus from C(/status).
      type: str
      returned: when the container was probed and ready
      sample: Valid
    api_status_message:
      description: The apiStatusMessage from C(/status).
      type: str
      returned: when the container was probed and ready
      sample: Api Key is valid, no action needed.
    error:
      description: Why a probe got no answer.
      type: str
      returned: when the container was probed
      sample: null
    logs:
      description: The last log lines of a container that failed to serve, secrets redacted.
      type: list
      elements: str
      returned: on failure
      sample: ["Billing endpoint rejected the key"]
    rolled_back:
      description: Whether the previous container was restored after the new one failed.
      type: bool
      returned: on failure of a replacement
      sample: true
pulled:
  description: Images pulled (or that would be pulled) before any container changed.
  returned: always
  type: list
  elements: str
  sample: ["mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"]
directories:
  description: Host directories created or re-owned for the containers' non-root user.
  returned: always
  type: list
  elements: str
  sample: ["/var/lib/speechops/models/stt-custom"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import run_speech_containers

CONTAINER_OPTIONS = dict(
    name=dict(type="str", required=True),
    kind=dict(type="str", required=True),
    state=dict(type="str", default="started"),
    version=dict(type="str"),
    locale=dict(type="str"),
    voice=dict(type="str"),
    preview=dict(type="bool", default=False),
    containerpreview=dict(type="bool", default=False),
    image=dict(type="str"),
    registry=dict(type="str"),
    host_port=dict(type="int"),
    bind_address=dict(type="str"),
    cpus=dict(type="float"),
    memory=dict(type="str"),
    allow_below_minimum=dict(type="bool"),
    eula=dict(type="str"),
    billing=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    model_id=dict(type="str"),
    model_path=dict(type="path"),
    output_path=dict(type="path"),
    disk_logging=dict(type="bool", default=False),
    log_level=dict(type="str"),
    http_proxy=dict(type="str"),
    http_proxy_creds=dict(type="str", no_log=True),
    decoder_max_count=dict(type="int"),
    gpus=dict(type="str", choices=["all", "none"]),
    settings=dict(type="dict"),
    restart_policy=dict(type="str", default="unless-stopped"),
    log_max_size=dict(type="str", default="10m"),
    log_max_files=dict(type="int", default=3),
    stop_timeout=dict(type="int", default=30),
    ready_timeout=dict(type="int", default=600),
    pids_limit=dict(type="int", default=4096),
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            containers=dict(type="list", elements="dict", required=True, options=CONTAINER_OPTIONS),
            eula=dict(type="str"),
            billing=dict(type="str"),
            api_key=dict(type="str", no_log=True),
            registry=dict(type="str"),
            bind_address=dict(type="str", default="0.0.0.0"),
            allow_below_minimum=dict(type="bool", default=False),
            models_root=dict(type="path", default="/var/lib/speechops/models"),
            prune=dict(type="bool", default=False),
            pull=dict(type="str", choices=["missing", "always"], default="missing"),
            probe=dict(type="bool", default=True),
            **DOCKER_ENGINE_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    run_speech_containers(module)


if __name__ == "__main__":
    main()
