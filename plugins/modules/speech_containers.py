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
  - A container is unchanged when its config-hash label matches the rendered settings and image ID and its effective
    settings (C(docker inspect)) match too; image, CPU and memory limits (what C(docker update) changes), published
    ports, mounts, command, environment and the security settings are compared, so a C(docker update) or a hand-made
    container carrying copied labels is drift and gets replaced. An unchanged host costs one container list, one
    image list and one inspect per managed container.
  - Those two lists are read with the Python standard library (for C(unix://) and C(tcp://) engines); the Docker
    SDK for Python is imported only when something changes, so a run that changes nothing (and check mode) also
    works without it.
  - Pulls every needed image before it stops anything, so a registry outage leaves running containers untouched.
  - A replaced container is renamed to C(NAME-speechops-previous) and kept until the new one answers C(/ready) and
    C(/status) says C(Valid); otherwise, and on any failure during the change (an engine error, a timeout, a lost
    connection to the engine), the new one is removed, the previous one gets its name back, is started and must
    serve again, and the task fails saying so, with the reason and the last log lines, secrets redacted.
  - A run killed in the middle of a replacement (controller interrupted, SSH lost, host rebooted) leaves
    C(NAME-speechops-previous) behind; the next run finishes that replacement when the new container runs and
    serves within its O(containers[].ready_timeout), and otherwise rolls it back (the previous container is renamed
    back, started and must serve), before it plans anything, and reports what it found in RV(recovered).
  - Containers always run with memory and CPU limits, a pids limit, C(no-new-privileges), all capabilities dropped,
    json-file log rotation and ports bound to the given address; never privileged, never with the Docker socket.
  - "Disconnected containers (O(containers[].disconnected)): served with C(Eula), C(Mounts:License=/license) and
    C(Mounts:Output=/output), never with C(Billing) or C(ApiKey). Microsoft binds a license to the kind and the image,
    so each image has its license directory O(containers[].license_path)/<hex of the image ID>. When it is missing
    or empty, a one-off container of the same image (C(NAME-speechops-license), with C(DownloadLicense=True) and the
    entry's billing and api_key) downloads it into C(<hex>.partial) first, which becomes C(<hex>) when the download
    exits 0 with a file in it; only then is the container created or replaced. A failed download removes the partial
    directory and the one-off container and fails the task with its last log lines (secrets redacted); the running
    container is not touched. License directories of images no longer run are removed after a successful change."
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.docker_engine
  - speechops.edge.attributes
  - speechops.edge.attributes.actiongroup_docker
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    details:
      - In check mode with O(probe=true) (the deploy playbook's plan of every host), the action plugin first reads the
        host with one command of its Python and the standard library (containers, images, an inspect of each managed
        container, the desired ports and directories, licenses, gateway files, V(/ready) and V(/status)), and plans
        on the controller with the module's own planner; that is the result, with no module sent to the host.
        The module runs on the host instead, and reports as always, for a problem it reports (a port in use, a
        foreign container), a setting changed by hand to a value the controller does not know (its drift shows the
        value), a container that does not answer its probe, a connection that cannot take the request on standard
        input, and an interpreter still to be discovered.
      - The environment values of the containers (ApiKey, proxy credentials) reach the controller only as HMAC-SHA256
        digests under a key drawn for each read and sent on standard input.
    support: full
  check_mode:
    details:
      - Reports exactly which containers would be created, replaced, started, stopped or removed, which images pulled
        and which licenses downloaded (RV(licenses)); runs nothing.
    support: full
  diff_mode:
    details:
      - Shows the before and after settings of each changed container, secrets redacted.
      - For drift (effective settings that differ although the label matches), only the settings that differ.
      - A license download due shows as C(license) (V(missing) before, C(download for IMAGE) after).
    support: full
  idempotent:
    details: A second run with the same input reports no change.
    support: full
  platform:
    platforms: linux
    details: An edge host running the Docker engine.
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
          - The speech container kind.
        type: str
        required: true
        choices: [speech-to-text, custom-speech-to-text, neural-text-to-speech, language-detection, fast-transcription,
                  text-to-speech, custom-text-to-speech]
      state:
        description:
          - V(started) runs the container and waits until it serves; V(stopped) keeps it created but stopped;
            V(absent) removes it.
        type: str
        default: started
        choices: [started, stopped, absent]
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
        description:
          - The custom model id, a GUID as Microsoft issues it (V(a3d8aab9-6f36-44cd-9904-b37389ce2bfa));
            required for custom kinds, refused for standard kinds.
        type: str
      model_path:
        description:
          - Host directory mounted at C(/usr/local/models) for custom kinds; the model is downloaded into it once.
          - Defaults to O(models_root)/NAME. Created and owned by the container's non-root user.
        type: path
      output_path:
        description:
          - Host directory mounted at C(/output) (C(Mounts:Output)), owned by the container's user.
          - Disconnected containers always have one; it defaults to O(output_root)/NAME.
        type: path
      disconnected:
        description:
          - Run the container disconnected (Microsoft's commitment tier for disconnected containers) - served from a
            license downloaded once per image, without C(Billing) and C(ApiKey); O(containers[].billing) and
            O(containers[].api_key) are still required, for the license download. Inherited; defaults to V(false).
          - Only kinds Microsoft offers disconnected (speech-to-text, custom-speech-to-text, neural-text-to-speech,
            fast-transcription); any other kind is refused before anything changes.
          - Switching between connected and disconnected replaces the container.
        type: bool
      license_path:
        description:
          - Host directory of a disconnected container's licenses, one subdirectory per image (the hex of its ID)
            mounted at C(/license); defaults to O(license_root)/NAME. Created and owned by the container's user.
          - On a connected container only the directory is created (to prepare a later switch).
        type: path
      disk_logging:
        description: Write JSON logs to the output mount (C(Logging:Disk:Format=json)); needs O(containers[].output_path).
        type: bool
        default: false
      log_level:
        description: Console log level (C(Logging:Console:LogLevel:Default)).
        type: str
        choices: [Trace, Debug, Information, Warning, Error, Critical, None]
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
        description: Docker restart policy.
        type: str
        default: unless-stopped
        choices: ["no", always, unless-stopped, on-failure]
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
  output_root:
    description: Parent directory of the default output directories of disconnected containers.
    type: path
    default: /var/lib/speechops/output
  license_root:
    description: Parent directory of the default license directories of disconnected containers.
    type: path
    default: /var/lib/speechops/license
  disconnected:
    description: Default O(containers[].disconnected).
    type: bool
    default: false
  prune:
    description: Remove managed containers that are not in O(containers). Containers this module did not create are never touched.
    type: bool
    default: false
  pull:
    description: V(missing) pulls images not on the host; V(always) asks the registry on every run.
    type: str
    choices: [missing, always]
    default: missing
  images_only:
    description:
      - Only pull the images of O(containers) (by O(pull)), and change no container, directory or license. The
        deploy playbook pulls on every host of a rollout at once this way, before the first batch, so a batch only
        swaps containers and a failed pull stops the rollout before any container changed.
      - RV(containers) is then empty; RV(pulled) names the images pulled (or that would be, in check mode).
    type: bool
    default: false
    version_added: 0.2.0
  probe:
    description: Ask every started container for C(/ready) and C(/status) and return the answers.
    type: bool
    default: true
  gateway:
    description:
      - The containers run behind the host's speech gateway (M(speechops.edge.speech_gateway)), which listens on
        their C(host_port) with TLS and access keys. Each container is published on loopback only, on one of the two
        slots of its C(host_port) (plus 10000, plus 20000).
      - An upgrade starts the new container on the other slot beside the serving one; when it serves, the gateway
        sends new connections to it and drains the old one (sessions in progress finish there, at most
        O(drain_timeout) seconds), then the old one is removed. When the host's memory or cores cannot hold both at
        once the old one stops first (RV(containers[].order) says which, RV(containers[].order_reason) why).
    type: bool
    default: false
  drain_timeout:
    description: Seconds the gateway lets sessions in progress finish on the old container of an upgrade.
    type: int
    default: 600
  engine_restart_on_stale_port:
    description:
      - A Docker engine stopped in the middle of a container start (power loss, host reboot) can come back holding that
        container's host port for no container (moby/libnetwork#1790). Every start that publishes the port then fails
        with C(port is already allocated) until the engine restarts; removing containers does not free it.
      - With V(false) such a run fails with one message that names the port and the fix. With V(true) the module
        restarts the engine of the managed host (C(systemctl restart docker.service) under systemd, C(service docker
        restart) otherwise), waits until it answers, then converges once more; RV(engine_restart) says so.
      - Only when a start failed with C(port is already allocated) and no running container publishes that port.
        The restart stops every container of the host for its duration (those with a restart policy come back),
        which is worth it on unattended sites, where the service on that port cannot serve until someone restarts
        the engine.
      - Only for the engine of the managed host itself (a C(unix://) O(docker_host)). Check mode never restarts it
        and cannot predict the condition.
    type: bool
    default: false
    version_added: 0.3.0
  keep_records:
    description:
      - After a converge in which every container converged, write the container records the way
        M(speechops.edge.speech_records) does (the same options), in the same call. The role
        C(speechops.edge.speech) keeps its records this way, one module start less per host.
      - Read and checked before any change (a bad name fails the module before anything changed). When a container
        did not converge the records stay as they were; check mode predicts them (RV(records)), diff mode shows each
        file.
      - Ignored with O(images_only=true).
    type: dict
    version_added: 0.3.0
    suboptions:
      path:
        description: The directory of the records (mode 0750, root).
        type: path
        default: /etc/speechops
      records:
        description: The records to have, each C(name) (the container's) and C(content) (the whole file).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The container's name; the file is C(NAME.yml) in O(keep_records.path).
            type: str
            required: true
          content:
            description: The file's content; it must carry the record marker line to be recognised later.
            type: str
            required: true
      remove:
        description: Names of containers whose records go (only files carrying the record marker are removed).
        type: list
        elements: str
        default: []
      prune:
        description: Also remove every other record in O(keep_records.path) (files carrying the record marker).
        type: bool
        default: false
notes:
  - Credentials for private registries come from the engine user's C(config.json); log in first with M(speechops.edge.registry_login).
  - Leave a C(NAME-speechops-previous) container alone; it is the previous container of an interrupted
    replacement, which the next run restores or removes.
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

- name: Run neural text-to-speech disconnected (the license is downloaded for each image, then no billing)
  speechops.edge.speech_containers:
    eula: accept
    billing: https://westeurope.api.cognitive.microsoft.com/
    api_key: "{{ vault_speech_key }}"
    containers:
      - name: tts-aria
        kind: neural-text-to-speech
        version: 3.12.0
        locale: en-US
        voice: AriaNeural
        disconnected: true

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
    license:
      description:
        - Disconnected containers - the license directory of the image it runs (null before its image is pulled,
          in check mode) and V(present), V(download) (due, or would be in check mode), V(downloaded) or V(failed).
      type: dict
      returned: for disconnected containers
      sample: {"path": "/var/lib/speechops/license/tts-aria/0123abcd", "action": "present"}
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
      description:
        - Whether the previous container has its name back (and runs, when it ran before) after the new one failed.
        - C(false) for a failed create (there was no previous container) and when the restore failed; see RV(containers[].restore).
      type: bool
      returned: on failure of a create or replacement
      sample: true
    restore:
      description: What the rollback achieved, in words (restored and serving, restored but not serving, kept under
        C(NAME-speechops-previous) for the next run, ...).
      type: str
      returned: on failure of a create or replacement
      sample: the previous container was restored and serves again
    slot:
      description: The loopback port the new container is published on, behind the gateway (O(gateway=true)).
      type: int
      returned: when a container is created or replaced with O(gateway=true)
      sample: 25000
    order:
      description: V(start-first) (the new container started beside the old one) or V(stop-first).
      type: str
      returned: when a serving container is replaced with O(gateway=true)
      sample: start-first
    order_reason:
      description: Why the old container had to stop first (the host's memory or cores).
      type: str
      returned: when RV(containers[].order=stop-first)
      sample: the host's 2 cores cannot run the old (2 CPUs) and the new (2 CPUs) stt-en-us at once
    switch:
      description:
        - How the gateway moved the service to the new container - the sessions the old one still had, the seconds
          they took to finish, whether the drain timeout cut them (C(forced)); or C(error).
      type: dict
      returned: when the gateway switched a service
      sample: {"drained_sessions": 1, "drain_seconds": 3.2, "forced": false}
    drift:
      description:
        - The effective settings (from C(docker inspect)) in which the container differed from the desired ones
          although its config-hash label matched, for example after C(docker update --cpus). Secrets masked.
        - The environment is judged on the variables the module sets (the image's own are not compared).
      type: list
      elements: dict
      returned: when the container was replaced because of drift
      sample: [{"setting": "cpus", "actual": 1.0, "desired": 4.0}]
engine_restart:
  description:
    - The restart of the Docker engine that freed host ports it held for no container (O(engine_restart_on_stale_port)),
      before the module converged once more.
  returned: when the module restarted the engine
  type: dict
  version_added: 0.3.0
  contains:
    ports:
      description: The host ports the engine held for no container.
      type: list
      elements: int
      sample: [5000]
    command:
      description: The command that restarted the engine.
      type: str
      sample: systemctl restart docker.service
    failures:
      description: Why the first converge failed (secrets masked).
      type: list
      elements: str
      sample: ["stt-en-us: start failed: ... Bind for 0.0.0.0:5000 failed: port is already allocated ..."]
gateway_present:
  description:
    - Whether the host has the speech gateway's files (M(speechops.edge.speech_gateway)), whatever O(gateway) says.
      The role C(speechops.edge.speech) takes a gateway that was turned off away only when there is one.
  returned: always
  type: bool
  sample: false
  version_added: 0.2.0
records:
  description: The records written and removed (or that would be, in check mode), as M(speechops.edge.speech_records) returns them.
  returned: when O(keep_records) is given, without O(images_only), and every container converged
  type: dict
  version_added: 0.3.0
  contains:
    written:
      description: Records written because they were missing or differed.
      type: list
      elements: str
      sample: ["/etc/speechops/stt-en-us.yml"]
    removed:
      description: Records removed.
      type: list
      elements: str
      sample: []
    path:
      description: The directory of the records.
      type: str
      sample: /etc/speechops
pulled:
  description: Images pulled (or that would be pulled) before any container changed.
  returned: always
  type: list
  elements: str
  sample: ["mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"]
licenses:
  description:
    - Licenses of disconnected containers downloaded in this run (in check mode, to download), and license
      directories of images no longer run that were removed (V(prune)).
  returned: always
  type: list
  elements: dict
  sample:
    - {"name": "tts", "image": "mcr.microsoft.com/azure-cognitive-services/speechservices/neural-text-to-speech:3.12.0-amd64-en-us-arianeural",
       "path": "/var/lib/speechops/license/tts/0123abcd", "action": "downloaded"}
    - {"path": "/var/lib/speechops/license/tts/4567ef01", "action": "prune"}
directories:
  description: Host directories created or re-owned for the containers' non-root user.
  returned: always
  type: list
  elements: str
  sample: ["/var/lib/speechops/models/stt-custom"]
recovered:
  description:
    - Replacements an interrupted earlier run left behind (a C(NAME-speechops-previous) container), and what this run
      did about them before anything else (in check mode, what it would do).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container name.
      type: str
      sample: stt-en
    found:
      description:
        - Docker states found, of the previous container and of the new one (V(absent) when there was none).
      type: dict
      sample: {"previous": "exited", "new": "created"}
    action:
      description:
        - V(finished) the new container runs and serves, the previous one was removed.
        - V(rolled_back) the new container was removed, the previous one renamed back and started.
      type: str
      choices: [finished, rolled_back]
      sample: rolled_back
    reason:
      description: Why a running new container was rolled back.
      type: str
      returned: when the new container ran but did not serve
      sample: "the new container did not serve: not serving within ready_timeout=600s"
    restore:
      description: What the rollback achieved, in words.
      type: str
      returned: when rolled back, not in check mode
      sample: the previous container was restored and serves again
    serving:
      description: Whether the container serves after the recovery.
      type: bool
      returned: not in check mode
      sample: true
"""

from ansible.module_utils.basic import AnsibleModule, _load_params
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import reject_invalid_arguments
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._schema import module_argument_spec
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import run_speech_containers


def main() -> None:
    # The arguments as given, judged before Ansible converts them: every problem in one message with its
    # field path and fix, instead of Ansible's first conversion error.
    reject_invalid_arguments(_load_params())
    module = AnsibleModule(argument_spec=module_argument_spec(DOCKER_ENGINE_ARGUMENT_SPEC), supports_check_mode=True)
    run_speech_containers(module)


if __name__ == "__main__":
    main()
