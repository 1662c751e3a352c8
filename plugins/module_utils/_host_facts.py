# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what an edge host offers (CPU, memory, disk, GPUs) and judge a planned set of speech containers.

Reading and judging are separate so the judgement is a pure function that unit tests drive with
numbers, and the module only wires the two together.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    GIB,
    CatalogError,
    format_gib,
    get_kind,
    parse_memory,
)

SUPPORTED_ARCHITECTURES = ("x86_64", "amd64")
DEFAULT_DOCKER_DATA_ROOT = "/var/lib/docker"
# The NVIDIA kernel driver lists one directory per GPU here and creates /dev/nvidia0 for the first one.
DEFAULT_NVIDIA_GPUS_PATH = "/proc/driver/nvidia/gpus"
DEFAULT_NVIDIA_DEVICE_PATH = "/dev/nvidia0"
# Docker runs GPU containers through the NVIDIA Container Toolkit: `nvidia-ctk runtime configure --runtime=docker`
# registers the runtime "nvidia" (docker info: Runtimes); Docker 25+ can use CDI specs instead (docker info:
# CDISpecDirs). See https://docs.docker.com/engine/containers/resource_constraints/#gpu and NVIDIA's install guide.
NVIDIA_RUNTIME = "nvidia"
# cgroup memory limits at or above this are "unlimited" (v1 reports a huge page-aligned number).
_UNLIMITED = 1 << 60


@dataclass
class CpuInfo:
    flags: list[str]
    model: str | None
    mhz: float | None
    processors: int


def parse_cpuinfo(text: str) -> CpuInfo:
    flags: list[str] = []
    model = None
    mhz = None
    processors = 0
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.strip()
        if key == "processor":
            processors += 1
        elif key == "flags" and not flags:
            flags = value.split()
        elif key == "model name" and model is None:
            model = value
        elif key == "cpu mhz" and mhz is None:
            try:
                mhz = float(value)
            except ValueError:
                mhz = None
    return CpuInfo(flags=flags, model=model, mhz=mhz, processors=processors)


def parse_meminfo(text: str) -> dict[str, int]:
    """meminfo values in bytes, keyed by field name (MemTotal, MemAvailable, ...)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        pieces = value.split()
        if not sep or not pieces:
            continue
        try:
            number = int(pieces[0])
        except ValueError:
            continue
        values[key.strip()] = number * 1024 if len(pieces) > 1 and pieces[1].lower() == "kb" else number
    return values


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def cgroup_memory_limit(cgroup_root: str) -> int | None:
    """The memory limit of the cgroup we run in (v2 or v1), or None when unlimited or unknown.

    Edge hosts are often containers or VMs with a cgroup limit below what /proc/meminfo shows.
    """
    for path in (os.path.join(cgroup_root, "memory.max"), os.path.join(cgroup_root, "memory", "memory.limit_in_bytes")):
        text = _read(path)
        if text is None:
            continue
        text = text.strip()
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return None if value >= _UNLIMITED else value
    return None


def cgroup_cpu_limit(cgroup_root: str) -> float | None:
    """CPUs granted by a CFS quota (v2 cpu.max or v1 cfs_quota/period), or None when unlimited."""
    text = _read(os.path.join(cgroup_root, "cpu.max"))
    if text:
        quota, _sep, period = text.strip().partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    for base in ("cpu", "cpu,cpuacct"):
        quota = _read(os.path.join(cgroup_root, base, "cpu.cfs_quota_us"))
        period = _read(os.path.join(cgroup_root, base, "cpu.cfs_period_us"))
        if quota and period:
            quota_us, period_us = int(quota.strip()), int(period.strip())
            return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def disk_free(path: str) -> dict[str, Any]:
    """Free bytes under path, walking up to the nearest existing parent (the data root may not exist yet)."""
    probe = path
    while not os.path.exists(probe) and probe not in ("", "/"):
        probe = os.path.dirname(probe)
    stats = os.statvfs(probe or "/")
    return {"path": path, "measured_at": probe or "/", "free_bytes": stats.f_bavail * stats.f_frsize}


@dataclass
class HostFacts:
    architecture: str
    avx2: bool
    cpu_model: str | None
    cpu_mhz: float | None
    logical_cores: int
    cores: float
    memory_total_bytes: int
    memory_available_bytes: int
    memory_cgroup_limit_bytes: int | None
    memory_bytes: int
    disk_path: str
    disk_free_bytes: int
    cpuinfo_path: str
    meminfo_path: str
    docker: dict[str, Any] = field(default_factory=dict)
    nvidia_gpus: list[str] = field(default_factory=list)
    nvidia_device: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_host_facts(
    cpuinfo_path: str = "/proc/cpuinfo",
    meminfo_path: str = "/proc/meminfo",
    cgroup_root: str = "/sys/fs/cgroup",
    disk_path: str = DEFAULT_DOCKER_DATA_ROOT,
    architecture: str | None = None,
    nvidia_gpus_path: str = DEFAULT_NVIDIA_GPUS_PATH,
    nvidia_device_path: str = DEFAULT_NVIDIA_DEVICE_PATH,
) -> HostFacts:
    cpu = parse_cpuinfo(_read(cpuinfo_path) or "")
    memory = parse_meminfo(_read(meminfo_path) or "")
    logical = cpu.processors or os.cpu_count() or 1
    try:
        logical = min(logical, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        pass
    cpu_limit = cgroup_cpu_limit(cgroup_root)
    memory_total = memory.get("MemTotal", 0)
    memory_limit = cgroup_memory_limit(cgroup_root)
    memory_effective = min(memory_total, memory_limit) if memory_limit else memory_total
    disk = disk_free(disk_path)
    return HostFacts(
        architecture=architecture or platform.machine(),
        avx2="avx2" in cpu.flags,
        cpu_model=cpu.model,
        cpu_mhz=cpu.mhz,
        logical_cores=logical,
        cores=min(float(logical), cpu_limit) if cpu_limit else float(logical),
        memory_total_bytes=memory_total,
        memory_available_bytes=min(memory.get("MemAvailable", memory_total), memory_effective),
        memory_cgroup_limit_bytes=memory_limit,
        memory_bytes=memory_effective,
        disk_path=disk_path,
        disk_free_bytes=disk["free_bytes"],
        cpuinfo_path=cpuinfo_path,
        meminfo_path=meminfo_path,
        nvidia_gpus=_list_dir(nvidia_gpus_path),
        nvidia_device=os.path.exists(nvidia_device_path),
    )


def _list_dir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


@dataclass
class PlannedContainer:
    index: int
    name: str
    kind: str
    cpus: float
    memory_bytes: int
    headroom_bytes: int
    image_disk_bytes: int
    # Expected concurrent sessions or requests, when declared.
    concurrency: int | None = None
    # The kind needs a GPU, and the GPU request ("all", or "none" for labs and CPU stand-ins).
    needs_gpu: bool = False
    gpus: str = ""


@dataclass
class Unmet:
    requirement: str
    message: str
    needed: Any = None
    available: Any = None


def plan_containers(containers: Sequence[Mapping[str, Any]]) -> list[PlannedContainer]:
    """Resolve each planned container to numbers: a kind alone means the kind's minimum.

    Raises CatalogError naming the entry (containers[i].field), the bad value and the fix.
    """
    planned: list[PlannedContainer] = []
    problems: list[str] = []
    for index, entry in enumerate(containers):
        where = "containers[%d]" % index
        try:
            kind = get_kind(entry.get("kind"))
        except CatalogError as exc:
            problems.append("%s.kind: %s" % (where, exc))
            continue
        preview_registry = bool(entry.get("containerpreview"))
        minimum, _recommended, headroom_gib = kind.sizing(preview_registry)
        cpus = entry.get("cpus")
        memory = entry.get("memory")
        try:
            cpus_value = float(cpus) if cpus is not None else float(minimum.cpus)
            if cpus_value <= 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append("%s.cpus: %r is not a positive number of CPUs (for example 4 or 0.5)" % (where, cpus))
            continue
        try:
            memory_bytes = parse_memory(memory) if memory is not None else minimum.memory_bytes
        except CatalogError as exc:
            problems.append("%s.memory: %s" % (where, exc))
            continue
        concurrency = entry.get("concurrency")
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            problems.append(
                "%s.concurrency: %r is not a positive number of concurrent sessions (for example 8)"
                % (where, concurrency)
            )
            continue
        gpus = entry.get("gpus")
        if gpus not in (None, "all", "none") or (gpus == "all" and not kind.needs_gpu):
            problems.append(
                "%s.gpus: %r is not valid for %s (all or none, and all only for kinds that need a GPU)"
                % (where, gpus, kind.name)
            )
            continue
        planned.append(
            PlannedContainer(
                index=index,
                name=str(entry.get("name") or "%s-%d" % (kind.name, index)),
                kind=kind.name,
                cpus=cpus_value,
                memory_bytes=memory_bytes,
                headroom_bytes=int(headroom_gib * GIB),
                image_disk_bytes=int(kind.image_disk_gib * GIB),
                concurrency=concurrency,
                needs_gpu=kind.needs_gpu,
                gpus=(gpus or "all") if kind.needs_gpu else "",
            )
        )
    if problems:
        raise CatalogError("; ".join(problems))
    return planned


def judge(facts: HostFacts, planned: Sequence[PlannedContainer], engine_error: str | None = None) -> list[Unmet]:
    """Every requirement the host does not meet for running all planned containers at once."""
    unmet: list[Unmet] = []
    if facts.architecture not in SUPPORTED_ARCHITECTURES:
        unmet.append(
            Unmet(
                "architecture",
                "architecture %s is not supported: speech containers exist for x86_64 (amd64) only"
                % facts.architecture,
                "x86_64",
                facts.architecture,
            )
        )
    if not facts.avx2:
        unmet.append(
            Unmet(
                "avx2",
                "AVX2 is not supported by this CPU (no avx2 flag in %s)" % facts.cpuinfo_path,
                "avx2",
                None,
            )
        )
    if engine_error:
        unmet.append(Unmet("docker", engine_error, "a Docker engine that answers", None))
    for container in planned:
        if container.cpus > facts.cores:
            unmet.append(
                Unmet(
                    "cpus",
                    "container %s (%s) needs %g CPUs but the host has %g cores"
                    % (container.name, container.kind, container.cpus, facts.cores),
                    container.cpus,
                    facts.cores,
                )
            )
    memory_planned = sum(container.memory_bytes for container in planned)
    headroom = sum(container.headroom_bytes for container in planned)
    if planned and memory_planned + headroom > facts.memory_bytes:
        unmet.append(
            Unmet(
                "memory",
                "planned memory %s + %s language-model headroom exceeds %s%s"
                % (
                    format_gib(memory_planned),
                    format_gib(headroom),
                    format_gib(facts.memory_bytes),
                    " (cgroup limit)"
                    if facts.memory_cgroup_limit_bytes and facts.memory_bytes < facts.memory_total_bytes
                    else "",
                ),
                memory_planned + headroom,
                facts.memory_bytes,
            )
        )
    unmet.extend(_judge_concurrency(planned))
    unmet.extend(_judge_gpus(facts, [container for container in planned if container.gpus == "all"]))
    disk_planned = sum(container.image_disk_bytes for container in planned)
    if planned and disk_planned > facts.disk_free_bytes:
        unmet.append(
            Unmet(
                "disk",
                "images need about %s but %s has %s free"
                % (format_gib(disk_planned), facts.disk_path, format_gib(facts.disk_free_bytes)),
                disk_planned,
                facts.disk_free_bytes,
            )
        )
    return unmet


def _judge_concurrency(planned: Sequence[PlannedContainer]) -> list[Unmet]:
    """Declared concurrency the container's CPUs cannot serve by Microsoft's guidance (catalog)."""
    unmet = []
    for container in planned:
        guidance = get_kind(container.kind).concurrency
        if container.concurrency is None or guidance is None:
            continue
        capacity = guidance.capacity(container.cpus)
        if container.concurrency > capacity:
            needed = guidance.cpus_for(container.concurrency)
            unmet.append(
                Unmet(
                    "concurrency",
                    "container %s (%s) is expected to serve %d concurrent %s but its %g CPUs serve %d by Microsoft's "
                    "guidance (%s): give it %g CPUs"
                    % (
                        container.name,
                        container.kind,
                        container.concurrency,
                        guidance.unit,
                        container.cpus,
                        capacity,
                        guidance.guidance,
                        needed,
                    ),
                    needed,
                    container.cpus,
                )
            )
    return unmet


def _judge_gpus(facts: HostFacts, gpu_containers: Sequence[PlannedContainer]) -> list[Unmet]:
    """An NVIDIA GPU and a Docker engine that can hand it to containers, when a planned container needs one."""
    if not gpu_containers:
        return []
    names = ", ".join("%s (%s)" % (container.name, container.kind) for container in gpu_containers)
    requirement = get_kind(gpu_containers[0].kind).gpu_requirement
    unmet = []
    if not facts.nvidia_gpus and not facts.nvidia_device:
        unmet.append(
            Unmet(
                "gpu",
                "container %s needs %s but the host shows none (no GPU under %s, no %s): install the NVIDIA driver, "
                "or plan the container on a GPU host"
                % (names, requirement, DEFAULT_NVIDIA_GPUS_PATH, DEFAULT_NVIDIA_DEVICE_PATH),
                requirement,
                None,
            )
        )
    docker = facts.docker or {}
    if docker.get("answers"):
        runtimes = list(docker.get("runtimes") or [])
        if NVIDIA_RUNTIME not in runtimes and not docker.get("cdi_spec_dirs"):
            unmet.append(
                Unmet(
                    "gpu_runtime",
                    "container %s needs the NVIDIA container runtime but the Docker engine lists the runtimes %s and "
                    "no CDI spec directories: install the NVIDIA Container Toolkit and run "
                    "nvidia-ctk runtime configure --runtime=docker, then restart Docker"
                    % (names, ", ".join(runtimes) or "(none)"),
                    NVIDIA_RUNTIME,
                    runtimes,
                )
            )
    return unmet


def notes(planned: Sequence[PlannedContainer]) -> list[str]:
    """What the judgement deliberately left out, so a green result is not mistaken for more than it is."""
    return [
        "container %s (%s) runs with gpus: none, so its GPU requirement is not checked (labs and CPU stand-ins only; "
        "Microsoft's image needs a GPU)" % (container.name, container.kind)
        for container in planned
        if container.needs_gpu and container.gpus == "none"
    ]


def summarize(planned: Sequence[PlannedContainer]) -> dict[str, Any]:
    return {
        "containers": [asdict(container) for container in planned],
        "cpus_max": max((container.cpus for container in planned), default=0),
        "memory_bytes": sum(container.memory_bytes for container in planned),
        "headroom_bytes": sum(container.headroom_bytes for container in planned),
        "image_disk_bytes": sum(container.image_disk_bytes for container in planned),
    }
