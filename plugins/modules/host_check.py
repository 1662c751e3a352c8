#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: host_check
short_description: Check that an edge host can run a planned set of Microsoft Speech containers
version_added: 0.1.0
description:
  - Reads the CPU flags and architecture, the logical cores (and a cgroup CPU quota), total and available
    memory (and a cgroup memory limit), the free disk under the Docker data root, NVIDIA GPUs, and whether the
    Docker engine answers (and which runtimes it has).
  - Decides whether the host can run every planned container at once. The host must be x86_64 with AVX2,
    each container's CPUs must fit in the host's cores, the sum of the containers' memory limits plus the
    language-model page-cache headroom of speech-to-text kinds must fit in the host's memory, and the images
    must fit on the disk.
  - A container with O(containers[].concurrency) must get enough CPUs for that many concurrent sessions or requests
    by Microsoft's guidance (speech-to-text and custom speech-to-text 2 sessions per core, neural text-to-speech 5
    requests per 8 cores, language detection 2 sessions per core).
  - A container of a kind that needs a GPU (fast-transcription) needs an NVIDIA GPU on the host
    (C(/proc/driver/nvidia/gpus/*) or C(/dev/nvidia0)) and, when the engine is asked, the NVIDIA container runtime
    (a runtime named C(nvidia) in C(docker info), or CDI spec directories). With O(containers[].gpus=none) the GPU
    requirement is skipped and RV(notes) says so.
  - "With O(reachability), for every planned container, it also checks what the host must reach before any
    change (each check can be turned off)."
  - "B(Images) (O(check_images)): the registry has the image. A manifest request (C(HEAD), then C(GET)) with the
    credentials and the CA the Docker engine uses for that registry (the fleet's O(registry_username) and
    O(registry_ca_cert) when given, which the rollout installs, else the engine user's C(config.json) and
    C(/etc/docker/certs.d/HOST:PORT/)), answering the registry's Basic or Bearer token challenge as docker does;
    nothing is pulled. An image the engine already has passes without a network call, so hosts with preloaded
    images pass without a registry. A missing tag names the nearest tags of the registry's tag list."
  - "B(Billing) (O(check_billing)): a TLS connection to the host and port of each billing endpoint URI, certificate
    verified, through the container's O(reachability[].http_proxy), within O(billing_timeout) seconds: the
    connectivity test of Microsoft's diagnostic container."
  - "B(Bind addresses) (O(check_bind_address)): each bind address is an address of this host (C(ip -j addr), else
    C(/proc/net)), or V(0.0.0.0) / V(::)."
  - The registry and billing checks run concurrently; the preflight takes about as long as the slowest of them.
  - With O(fail_on_unmet=true) it fails with one message that lists every unmet requirement with numbers.
  - Never changes anything on the host.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.docker_engine
  - speechops.edge.attributes
  - speechops.edge.attributes.actiongroup_docker
attributes:
  check_mode:
    details: The module only reads, so it runs unchanged in check mode.
    support: full
  diff_mode:
    details: Nothing changes, so there is no diff.
    support: N/A
  idempotent:
    details: Reading facts never changes the host.
    support: full
  platform:
    platforms: linux
    details: Reads C(/proc) and the cgroup files of a Linux edge host.
options:
  containers:
    description:
      - The speech containers planned for this host.
      - An entry with only O(containers[].kind) is planned at the kind's documented minimum.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A name to use in messages; defaults to the kind and the position in the list.
        type: str
      kind:
        description: The speech container kind.
        type: str
        required: true
        choices: &kinds
          - speech-to-text
          - custom-speech-to-text
          - neural-text-to-speech
          - language-detection
          - fast-transcription
          - text-to-speech
          - custom-text-to-speech
      cpus:
        description: CPUs given to the container (C(docker run --cpus)); defaults to the kind's minimum.
        type: float
      memory:
        description: Memory limit of the container in Docker's notation (V(4g), V(512m)); defaults to the kind's minimum.
        type: str
      containerpreview:
        description: The container comes from the 2019 gated preview registry, which documents smaller sizes.
        type: bool
        default: false
      concurrency:
        description:
          - Concurrent sessions (or requests) the container is expected to serve.
          - Unmet when its CPUs serve fewer by Microsoft's guidance; ignored for kinds without guidance.
        type: int
      gpus:
        description:
          - The GPU request of a kind that needs a GPU, V(all) by default.
          - V(none) (labs and CPU stand-ins only) skips the GPU requirement; RV(notes) says so.
        type: str
        choices: [all, none]
  reachability:
    description:
      - The planned containers' images, billing endpoints, proxies and bind addresses, for the network checks.
      - Entries of the plan (P(speechops.edge.speech_plan#filter)) carry these keys; the role speechops.edge.edge_host
        passes them. An entry gets the fleet-wide O(registry), O(billing) and O(bind_address) for what it does not set.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The container's name, for messages.
        type: str
      kind:
        description:
          - The speech container kind; with O(reachability[].version) (and locale, voice) it gives the image.
        type: str
        choices: *kinds
      version:
        description: The image version.
        type: str
      locale:
        description: The locale of the image (speech-to-text, text-to-speech kinds).
        type: str
      voice:
        description: The voice of a text-to-speech image.
        type: str
      preview:
        description: The tag ends in C(-preview).
        type: bool
        default: false
      containerpreview:
        description: The image comes from the 2019 gated preview registry.
        type: bool
        default: false
      image:
        description: A full image reference, instead of kind, version, locale and voice.
        type: str
      registry:
        description: This container's registry mirror (C(host[:port][/path])); defaults to O(registry).
        type: str
      billing:
        description: This container's billing endpoint URI; defaults to O(billing). Empty for none (disconnected).
        type: str
      http_proxy:
        description: The proxy the container reaches billing through (C(http://[user:password@]proxy:port)).
        type: str
      http_proxy_creds:
        description: The proxy credentials (C(user:password)) when they are not in O(reachability[].http_proxy).
        type: str
      bind_address:
        description: The host address the container's port is published on; defaults to O(bind_address).
        type: str
  registry:
    description: The fleet's registry mirror (C(host[:port][/path])); empty for C(mcr.microsoft.com).
    type: str
  registry_username:
    description:
      - The fleet's user of O(registry), which the rollout logs the engine in with.
      - Without it, the credentials in the engine user's C(config.json) are used (or none).
    type: str
  registry_password:
    description: The password of O(registry_username).
    type: str
  registry_ca_cert:
    description:
      - PEM text of the CA of O(registry), which the rollout installs for the engine; trusted with the system CAs
        and the files in O(registry_certs_dir).
    type: str
  registry_config_path:
    description: The Docker client configuration with stored credentials; defaults to C($DOCKER_CONFIG/config.json) or C(~/.docker/config.json).
    type: path
  registry_certs_dir:
    description:
      - Where the engine finds each registry's CA (C(HOST:PORT/*.crt)) and client certificate (C(*.cert), C(*.key)).
      - For tests and unusual hosts; leave the default otherwise.
    type: path
    default: /etc/docker/certs.d
  registry_timeout:
    description: Seconds each registry request may take.
    type: float
    default: 10
  billing:
    description: The fleet's billing endpoint URI (the Speech resource's endpoint).
    type: str
  billing_ca_file:
    description:
      - A CA certificate file on the host, trusted for billing endpoints besides the system CAs.
      - For labs and private endpoints; Microsoft's endpoints need none.
    type: path
  billing_timeout:
    description: Seconds the connection to a billing endpoint (TCP, proxy, TLS handshake) may take in all.
    type: float
    default: 5
  bind_address:
    description: The fleet's bind address, for entries without one.
    type: str
    default: 0.0.0.0
  check_images:
    description: Check that every image of O(reachability) is on the engine or in its registry.
    type: bool
    default: true
  check_billing:
    description: Check that every billing endpoint of O(reachability) answers TLS from this host.
    type: bool
    default: true
  check_bind_address:
    description: Check that every bind address of O(reachability) is an address of this host.
    type: bool
    default: true
  fail_on_unmet:
    description:
      - Fail the task when any requirement is unmet, with one message that lists them all.
      - When V(false), the task succeeds and RV(unmet) lists the problems.
    type: bool
    default: true
  check_docker:
    description: Ask the Docker engine for its version and data root; an engine that does not answer is an unmet requirement.
    type: bool
    default: true
  docker_data_root:
    description:
      - Where the engine stores images, for the free-disk check.
      - Defaults to the data root the engine reports, or C(/var/lib/docker) when it does not answer.
    type: path
  cpuinfo_path:
    description:
      - The file to read CPU flags and model from.
      - For tests and unusual hosts (for example a fake file without the avx2 flag); leave the default otherwise.
    type: path
    default: /proc/cpuinfo
  meminfo_path:
    description:
      - The file to read total and available memory from.
      - For tests and unusual hosts; leave the default otherwise.
    type: path
    default: /proc/meminfo
  nvidia_gpus_path:
    description:
      - The directory where the NVIDIA driver lists the host's GPUs, one entry per GPU.
      - For tests and unusual hosts; leave the default otherwise.
    type: path
    default: /proc/driver/nvidia/gpus
  nvidia_device_path:
    description:
      - The device node of the first NVIDIA GPU.
      - For tests and unusual hosts; leave the default otherwise.
    type: path
    default: /dev/nvidia0
  cgroup_root:
    description:
      - Where the cgroup file system is mounted, to find a memory limit or CPU quota on hosts that are themselves containers.
      - For tests and unusual hosts; leave the default otherwise.
    type: path
    default: /sys/fs/cgroup
notes:
  - Microsoft documents AVX2 as required (its own check is C(grep -q avx2 /proc/cpuinfo)) and cores at 2.6 GHz or faster;
    the clock speed is reported in RV(host.cpu_mhz) but not enforced, since virtual machines often report a nominal value.
  - Image sizes used for the disk check are estimates kept in the collection's catalog.
  - Registry requests go where the engine's pulls go, through the engine's proxy (C(docker info)) or direct; through
    the module's environment (C(HTTPS_PROXY), C(NO_PROXY)) only when the engine is not asked. Billing connections go
    through each container's own proxy.
  - Microsoft documents the diagnostic container (C(mcr.microsoft.com/azure-cognitive-services/diagnostic)), which
    "will test for network connectivity to the billing endpoint"; the billing check tests the same from the host.
seealso:
  - name: Diagnostic container
    description: Microsoft's check of the billing endpoint's reachability.
    link: https://learn.microsoft.com/azure/ai-services/containers/container-faq#how-can-i-diagnose-potential-errors-in-my-deployment-environment-
  - name: Speech containers host requirements
    description: Microsoft's documentation of container sizing.
    link: https://learn.microsoft.com/azure/ai-services/speech-service/speech-container-howto
"""

EXAMPLES = r"""
- name: Check the host can run speech-to-text and neural text-to-speech at their minimum size
  speechops.edge.host_check:
    containers:
      - kind: speech-to-text
      - kind: neural-text-to-speech

- name: Check a planned size, report instead of failing
  speechops.edge.host_check:
    containers:
      - kind: speech-to-text
        cpus: 8
        memory: 8g
    fail_on_unmet: false
  register: preflight

- name: Check images, billing and bind addresses too (the role speechops.edge.edge_host passes the plan)
  speechops.edge.host_check:
    containers:
      - kind: language-detection
    reachability:
      - name: langdetect
        kind: language-detection
        version: 1.18.0
        preview: true
    registry: registry.example.com:5000
    registry_username: puller
    registry_password: "{{ vault_registry_password }}"
    billing: https://westeurope.api.cognitive.microsoft.com/
    bind_address: 0.0.0.0

- name: Show every unmet requirement
  ansible.builtin.debug:
    msg: "{{ preflight.unmet | map(attribute='message') | list }}"
"""

RETURN = r"""
ok:
  description: Whether every requirement is met.
  returned: always
  type: bool
  sample: false
host:
  description: What the host offers.
  returned: always
  type: dict
  contains:
    architecture:
      description: The machine architecture.
      type: str
      sample: x86_64
    avx2:
      description: Whether the CPU has the avx2 flag.
      type: bool
      sample: true
    cpu_model:
      description: The CPU model name.
      type: str
      sample: AMD EPYC
    cpu_mhz:
      description: The clock the first CPU reports, in MHz.
      type: float
      sample: 2994.3
    logical_cores:
      description: Logical CPUs this process may use.
      type: int
      sample: 8
    cores:
      description: CPUs available to containers (logical cores, lowered by a cgroup CPU quota).
      type: float
      sample: 8.0
    memory_total_bytes:
      description: MemTotal from meminfo.
      type: int
      sample: 16624275456
    memory_available_bytes:
      description: MemAvailable from meminfo (at most the effective memory).
      type: int
      sample: 14012342272
    memory_cgroup_limit_bytes:
      description: The cgroup memory limit, or null when unlimited.
      type: int
      sample: null
    memory_bytes:
      description: Memory the plan is judged against (the lower of MemTotal and the cgroup limit).
      type: int
      sample: 16624275456
    disk_path:
      description: The Docker data root whose free space was measured.
      type: str
      sample: /var/lib/docker
    disk_free_bytes:
      description: Free bytes under RV(host.disk_path).
      type: int
      sample: 85899345920
    cpuinfo_path:
      description: The cpuinfo source read.
      type: str
      sample: /proc/cpuinfo
    meminfo_path:
      description: The meminfo source read.
      type: str
      sample: /proc/meminfo
    docker:
      description: The engine's answer, with its runtimes, CDI spec directories and the proxies it pulls through.
      type: dict
      sample: {"answers": true, "version": "20.10.24", "api_version": "1.41", "data_root": "/var/lib/docker",
               "runtimes": ["io.containerd.runc.v2", "nvidia", "runc"], "cdi_spec_dirs": [],
               "proxies": {"http": "", "https": "http://proxy.example.com:3128", "no": "localhost,127.0.0.1"}}
    nvidia_gpus:
      description: The GPUs the NVIDIA driver lists (entries of O(nvidia_gpus_path)).
      type: list
      elements: str
      sample: ["0000:00:1e.0"]
    nvidia_device:
      description: Whether O(nvidia_device_path) exists.
      type: bool
      sample: true
plan:
  description: The planned containers resolved to numbers, and their sums.
  returned: always
  type: dict
  sample:
    containers:
      - {index: 0, name: speech-to-text-0, kind: speech-to-text, cpus: 4.0, memory_bytes: 4294967296,
         headroom_bytes: 4294967296, image_disk_bytes: 8589934592, concurrency: 8, needs_gpu: false, gpus: ""}
    cpus_max: 4.0
    memory_bytes: 4294967296
    headroom_bytes: 4294967296
    image_disk_bytes: 8589934592
reachability:
  description: What the network checks found (empty lists when O(reachability) is empty or a check is off).
  returned: always
  type: dict
  contains:
    images:
      description:
        - One entry per planned image. C(status) is V(present) (the engine has it, no request made), V(found),
          V(missing) (the tag), V(repository_missing), or why the registry could not be asked (V(registry_unreachable),
          V(registry_trust), V(registry_auth), V(registry_error), V(registry_config)).
      type: list
      elements: dict
      sample:
        - {image: "registry.example.com:5000/azure-cognitive-services/speechservices/language-detection:1.13.0-amd64-preview",
           containers: [langdetect], status: missing, registry: "registry.example.com:5000",
           repository: azure-cognitive-services/speechservices/language-detection, tag: 1.13.0-amd64-preview,
           digest: null, detail: "", nearest_tags: [1.17.0-amd64-preview, 1.18.0-amd64-preview], version_only: true,
           seconds: 0.041}
    billing:
      description: One entry per billing endpoint (and proxy), with the containers that use it.
      type: list
      elements: dict
      sample:
        - {endpoint: "https://westeurope.api.cognitive.microsoft.com/", containers: [langdetect],
           host: westeurope.api.cognitive.microsoft.com, port: 443, proxy: null, reachable: true, detail: "",
           problem: "", seconds: 0.083}
    addresses:
      description: The host's addresses the bind addresses were judged against.
      type: list
      elements: str
      sample: ["127.0.0.1", "172.30.57.10", "::1"]
unmet:
  description: Every unmet requirement, with what was needed and what the host has.
  returned: always
  type: list
  elements: dict
  sample:
    - requirement: avx2
      message: AVX2 is not supported by this CPU (no avx2 flag in /proc/cpuinfo)
      needed: avx2
      available: null
notes:
  description: Requirements deliberately not checked, for example the GPU of a container with O(containers[].gpus=none).
  returned: always
  type: list
  elements: str
  sample: ["container fast-stt-en (fast-transcription) runs with gpus: none, so its GPU requirement is not checked
            (labs and CPU stand-ins only; Microsoft's image needs a GPU)"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._host_check import run_host_check
from ansible_collections.speechops.edge.plugins.module_utils._schema import (
    HOST_CHECK_KEYS,
    REACHABILITY_KEYS,
    entry_view_spec,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            containers=dict(
                type="list",
                elements="dict",
                default=[],
                options=entry_view_spec(HOST_CHECK_KEYS, required=("kind",)),
            ),
            fail_on_unmet=dict(type="bool", default=True),
            check_docker=dict(type="bool", default=True),
            docker_data_root=dict(type="path"),
            cpuinfo_path=dict(type="path", default="/proc/cpuinfo"),
            meminfo_path=dict(type="path", default="/proc/meminfo"),
            cgroup_root=dict(type="path", default="/sys/fs/cgroup"),
            nvidia_gpus_path=dict(type="path", default="/proc/driver/nvidia/gpus"),
            nvidia_device_path=dict(type="path", default="/dev/nvidia0"),
            reachability=dict(
                type="list",
                elements="dict",
                default=[],
                options=entry_view_spec(REACHABILITY_KEYS),
            ),
            registry=dict(type="str"),
            registry_username=dict(type="str"),
            registry_password=dict(type="str", no_log=True),
            registry_ca_cert=dict(type="str"),
            registry_config_path=dict(type="path"),
            registry_certs_dir=dict(type="path", default="/etc/docker/certs.d"),
            registry_timeout=dict(type="float", default=10),
            billing=dict(type="str"),
            billing_ca_file=dict(type="path"),
            billing_timeout=dict(type="float", default=5),
            bind_address=dict(type="str", default="0.0.0.0"),
            check_images=dict(type="bool", default=True),
            check_billing=dict(type="bool", default=True),
            check_bind_address=dict(type="bool", default=True),
            **DOCKER_ENGINE_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    run_host_check(module)


if __name__ == "__main__":
    main()
