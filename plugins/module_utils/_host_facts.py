# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read what an edge host offers (CPU, memory, disk) and judge a planned set of speech containers.

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_host_facts(
    cpuinfo_path: str = "/proc/cpuinfo",
    meminfo_path: str = "/proc/meminfo",
    cgroup_root: str = "/sys/fs/cgroup",
    disk_path: str = DEFAULT_DOCKER_DATA_ROOT,
    architecture: str | None = None,
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
    )


@dataclass
class PlannedContainer:
    index: int
    name: str
    kind: str
    cpus: float
    memory_bytes: int
    headroom_bytes: int
    image_disk_bytes: int


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
        planned.append(
            PlannedContainer(
                index=index,
                name=str(entry.get("name") or "%s-%d" % (kind.name, index)),
                kind=kind.name,
                cpus=cpus_value,
                memory_bytes=memory_bytes,
                headroom_bytes=int(headroom_gib * GIB),
                image_disk_bytes=int(kind.image_disk_gib * GIB),
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


def summarize(planned: Sequence[PlannedContainer]) -> dict[str, Any]:
    return {
        "containers": [asdict(container) for container in planned],
        "cpus_max": max((container.cpus for container in planned), default=0),
        "memory_bytes": sum(container.memory_bytes for container in planned),
        "headroom_bytes": sum(container.headroom_bytes for container in planned),
        "image_disk_bytes": sum(container.image_disk_bytes for container in planned),
    }
