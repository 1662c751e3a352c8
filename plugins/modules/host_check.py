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
  - With O(fail_on_unmet=true) it fails with one message that lists every unmet requirement with numbers.
  - Never changes anything on the host.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.docker_engine
attributes:
  check_mode:
    description: The module only reads, so it runs unchanged in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
  idempotent:
    description: Reading facts never changes the host.
    support: full
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
        choices:
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
seealso:
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
      description: The engine's answer, with its runtimes and CDI spec directories.
      type: dict
      sample: {"answers": true, "version": "20.10.24", "api_version": "1.41", "data_root": "/var/lib/docker",
               "runtimes": ["io.containerd.runc.v2", "nvidia", "runc"], "cdi_spec_dirs": []}
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
from ansible_collections.speechops.edge.plugins.module_utils._catalog import KINDS
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import DOCKER_ENGINE_ARGUMENT_SPEC
from ansible_collections.speechops.edge.plugins.module_utils._host_check import run_host_check


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            containers=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    name=dict(type="str"),
                    kind=dict(type="str", required=True, choices=list(KINDS)),
                    cpus=dict(type="float"),
                    memory=dict(type="str"),
                    containerpreview=dict(type="bool", default=False),
                    concurrency=dict(type="int"),
                    gpus=dict(type="str", choices=["all", "none"]),
                ),
            ),
            fail_on_unmet=dict(type="bool", default=True),
            check_docker=dict(type="bool", default=True),
            docker_data_root=dict(type="path"),
            cpuinfo_path=dict(type="path", default="/proc/cpuinfo"),
            meminfo_path=dict(type="path", default="/proc/meminfo"),
            cgroup_root=dict(type="path", default="/sys/fs/cgroup"),
            nvidia_gpus_path=dict(type="path", default="/proc/driver/nvidia/gpus"),
            nvidia_device_path=dict(type="path", default="/dev/nvidia0"),
            **DOCKER_ENGINE_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    run_host_check(module)


if __name__ == "__main__":
    main()
