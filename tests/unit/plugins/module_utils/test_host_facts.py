# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.speechops.edge.plugins.module_utils._catalog import GIB, CatalogError
from ansible_collections.speechops.edge.plugins.module_utils._host_facts import (
    HostFacts,
    judge,
    notes,
    parse_cpuinfo,
    parse_meminfo,
    plan_containers,
    read_host_facts,
)

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2994.372
flags\t\t: fpu sse sse2 avx avx2 fma

processor\t: 1
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2994.372
flags\t\t: fpu sse sse2 avx avx2 fma
"""
MEMINFO = "MemTotal:       16252928 kB\nMemFree:  1000 kB\nMemAvailable:   12000000 kB\n"


def facts(**overrides) -> HostFacts:
    base = dict(
        architecture="x86_64",
        avx2=True,
        cpu_model="x",
        cpu_mhz=3000.0,
        logical_cores=8,
        cores=8.0,
        memory_total_bytes=16 * GIB,
        memory_available_bytes=12 * GIB,
        memory_cgroup_limit_bytes=None,
        memory_bytes=16 * GIB,
        disk_path="/var/lib/docker",
        disk_free_bytes=100 * GIB,
        cpuinfo_path="/proc/cpuinfo",
        meminfo_path="/proc/meminfo",
    )
    base.update(overrides)
    return HostFacts(**base)


def test_parse_cpuinfo_and_meminfo() -> None:
    cpu = parse_cpuinfo(CPUINFO)
    assert cpu.processors == 2 and "avx2" in cpu.flags and cpu.model == "AMD EPYC 7B13" and cpu.mhz == 2994.372
    memory = parse_meminfo(MEMINFO)
    assert memory["MemTotal"] == 16252928 * 1024 and memory["MemAvailable"] == 12000000 * 1024


def test_read_host_facts_from_files_with_a_cgroup_limit(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(CPUINFO.replace(" avx2", ""))
    (tmp_path / "meminfo").write_text(MEMINFO)
    (tmp_path / "cgroup" / "memory").mkdir(parents=True)
    (tmp_path / "cgroup" / "memory" / "memory.limit_in_bytes").write_text(str(3 * GIB))
    read = read_host_facts(
        cpuinfo_path=str(tmp_path / "cpuinfo"),
        meminfo_path=str(tmp_path / "meminfo"),
        cgroup_root=str(tmp_path / "cgroup"),
        disk_path=str(tmp_path / "not" / "there" / "yet"),
    )
    assert read.avx2 is False
    assert read.memory_cgroup_limit_bytes == 3 * GIB and read.memory_bytes == 3 * GIB
    assert read.memory_available_bytes == 3 * GIB
    assert read.disk_free_bytes > 0


def test_cgroup_v2_limits(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    (tmp_path / "meminfo").write_text(MEMINFO)
    read = read_host_facts(meminfo_path=str(tmp_path / "meminfo"), cgroup_root=str(tmp_path))
    assert read.memory_cgroup_limit_bytes is None
    assert read.cores == min(1.5, float(read.logical_cores))


def test_kind_alone_plans_its_minimum() -> None:
    planned = plan_containers([{"kind": "speech-to-text"}, {"kind": "neural-text-to-speech", "memory": "16g"}])
    assert (planned[0].cpus, planned[0].memory_bytes, planned[0].headroom_bytes) == (4.0, 4 * GIB, 4 * GIB)
    assert (planned[1].cpus, planned[1].memory_bytes, planned[1].headroom_bytes) == (6.0, 16 * GIB, 0)


def test_plan_errors_name_every_entry() -> None:
    with pytest.raises(CatalogError) as error:
        plan_containers(
            [{"kind": "speech"}, {"kind": "speech-to-text", "memory": "big"}, {"kind": "speech-to-text", "cpus": -1}]
        )
    message = str(error.value)
    assert "containers[0].kind: unknown speech container kind 'speech'" in message
    assert "containers[1].memory: memory 'big' is not a size" in message
    assert "containers[2].cpus: -1 is not a positive number" in message


def test_a_host_that_fits_has_nothing_unmet() -> None:
    assert judge(facts(), plan_containers([{"kind": "speech-to-text"}, {"kind": "language-detection"}])) == []


@pytest.mark.parametrize(
    "override,plan,requirement,message",
    [
        ({"avx2": False}, [], "avx2", "AVX2 is not supported by this CPU (no avx2 flag in /proc/cpuinfo)"),
        (
            {"architecture": "aarch64"},
            [],
            "architecture",
            "architecture aarch64 is not supported: speech containers exist for x86_64 (amd64) only",
        ),
        (
            {"cores": 4.0},
            [{"kind": "neural-text-to-speech"}],
            "cpus",
            "container neural-text-to-speech-0 (neural-text-to-speech) needs 6 CPUs but the host has 4 cores",
        ),
        (
            {"memory_bytes": int(15.5 * GIB)},
            [{"kind": "speech-to-text", "memory": "8g"}, {"kind": "neural-text-to-speech"}],
            "memory",
            "planned memory 20.0 GiB + 4.0 GiB language-model headroom exceeds 15.5 GiB",
        ),
        (
            {"memory_bytes": 3 * GIB, "memory_cgroup_limit_bytes": 3 * GIB},
            [{"kind": "language-detection", "memory": "4g"}],
            "memory",
            "planned memory 4.0 GiB + 0.0 GiB language-model headroom exceeds 3.0 GiB (cgroup limit)",
        ),
        (
            {"disk_free_bytes": 2 * GIB},
            [{"kind": "speech-to-text"}],
            "disk",
            "images need about 8.0 GiB but /var/lib/docker has 2.0 GiB free",
        ),
    ],
)
def test_every_failure_reason(override: dict, plan: list, requirement: str, message: str) -> None:
    unmet = judge(facts(**override), plan_containers(plan))
    assert [(item.requirement, item.message) for item in unmet] == [(requirement, message)]


def test_engine_not_answering_is_an_unmet_requirement() -> None:
    unmet = judge(facts(), [], engine_error="the Docker engine at unix:///x does not answer (refused)")
    assert [item.requirement for item in unmet] == ["docker"]


def test_all_problems_are_reported_together() -> None:
    unmet = judge(facts(avx2=False, cores=2.0), plan_containers([{"kind": "speech-to-text"}]), "engine down")
    assert [item.requirement for item in unmet] == ["avx2", "docker", "cpus"]


def test_concurrency_beyond_the_guidance_is_unmet_with_numbers() -> None:
    planned = plan_containers([{"name": "stt", "kind": "speech-to-text", "cpus": 4, "concurrency": 10}])
    [unmet] = judge(facts(), planned)
    # Issue 10's guidance: speech-to-text 2 sessions per core.
    assert unmet.message == (
        "container stt (speech-to-text) is expected to serve 10 concurrent sessions but its 4 CPUs serve 8 by "
        "Microsoft's guidance (2 sessions per core): give it 5 CPUs"
    )
    assert (unmet.requirement, unmet.needed, unmet.available) == ("concurrency", 5, 4)
    assert judge(facts(), plan_containers([{"kind": "speech-to-text", "cpus": 4, "concurrency": 8}])) == []
    tts = plan_containers(
        [{"name": "tts", "kind": "neural-text-to-speech", "cpus": 8, "memory": "12g", "concurrency": 6}]
    )
    # Neural TTS: 5 requests per 8 cores.
    assert [item.message for item in judge(facts(cores=16.0, memory_bytes=64 * GIB), tts)] == [
        "container tts (neural-text-to-speech) is expected to serve 6 concurrent requests but its 8 CPUs serve 5 by "
        "Microsoft's guidance (5 requests per 8 cores): give it 9.6 CPUs"
    ]


GPU_HOST = dict(cores=16.0, memory_bytes=128 * GIB, memory_total_bytes=128 * GIB)


def test_gpu_kind_needs_an_nvidia_gpu_and_runtime() -> None:
    planned = plan_containers([{"name": "fast", "kind": "fast-transcription"}])
    docker = {"answers": True, "runtimes": ["io.containerd.runc.v2", "runc"], "cdi_spec_dirs": []}
    unmet = judge(facts(docker=docker, **GPU_HOST), planned)
    assert [item.requirement for item in unmet] == ["gpu", "gpu_runtime"]
    assert unmet[0].message.startswith("container fast (fast-transcription) needs an NVIDIA GPU (T4 or better)")
    assert "lists the runtimes io.containerd.runc.v2, runc and no CDI spec directories" in unmet[1].message
    assert "nvidia-ctk runtime configure --runtime=docker" in unmet[1].message
    ready = dict(docker, runtimes=["nvidia", "runc"])
    assert judge(facts(docker=ready, nvidia_gpus=["0000:00:1e.0"], **GPU_HOST), planned) == []
    assert judge(facts(docker=dict(docker, cdi_spec_dirs=["/etc/cdi"]), nvidia_device=True, **GPU_HOST), planned) == []


def test_gpus_none_skips_the_gpu_requirement_and_says_so() -> None:
    planned = plan_containers([{"name": "fast", "kind": "fast-transcription", "gpus": "none"}])
    assert judge(facts(docker={"answers": True, "runtimes": ["runc"]}, **GPU_HOST), planned) == []
    assert notes(planned) == [
        "container fast (fast-transcription) runs with gpus: none, so its GPU requirement is not checked (labs and "
        "CPU stand-ins only; Microsoft's image needs a GPU)"
    ]


def test_read_host_facts_finds_nvidia_gpus(tmp_path: Path) -> None:
    (tmp_path / "gpus" / "0000:00:1e.0").mkdir(parents=True)
    (tmp_path / "nvidia0").write_text("")
    read = read_host_facts(
        cpuinfo_path=str(tmp_path / "none"),
        meminfo_path=str(tmp_path / "none"),
        cgroup_root=str(tmp_path),
        disk_path=str(tmp_path),
        nvidia_gpus_path=str(tmp_path / "gpus"),
        nvidia_device_path=str(tmp_path / "nvidia0"),
    )
    assert (read.nvidia_gpus, read.nvidia_device) == (["0000:00:1e.0"], True)
