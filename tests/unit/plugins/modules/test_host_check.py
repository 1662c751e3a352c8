# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _docker_api, _host_check
from ansible_collections.speechops.edge.plugins.modules import host_check
from ansible_collections.speechops.edge.tests.unit.fake_registry import Pki, Registry, make_pki, serve_registry

from .module_runner import run_module

CPUINFO_AVX2 = "processor : 0\nflags : sse avx avx2\nprocessor : 1\nflags : sse avx avx2\n"
MEMINFO_16G = "MemTotal: 16777216 kB\nMemAvailable: 15000000 kB\n"


class FakeClient:
    # RepoTags of the images the engine has (GET /images/json).
    repo_tags: list[str] = []

    def version(self) -> dict[str, Any]:
        return {"Version": "20.10.24", "ApiVersion": "1.41"}

    def info(self) -> dict[str, Any]:
        return {"DockerRootDir": "/", "Driver": "overlay2"}

    def images(self) -> list[dict[str, Any]]:
        return [{"Id": "sha256:" + "0" * 64, "RepoTags": self.repo_tags}]


class DeadClient:
    def version(self) -> dict[str, Any]:
        raise _docker_api.DockerException("Error while fetching server API version: connection refused")


@pytest.fixture
def host_files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "cpuinfo").write_text(CPUINFO_AVX2)
    (tmp_path / "noavx2").write_text(CPUINFO_AVX2.replace(" avx2", ""))
    (tmp_path / "meminfo").write_text(MEMINFO_16G)
    (tmp_path / "cgroup").mkdir()
    return {name: str(tmp_path / name) for name in ("cpuinfo", "noavx2", "meminfo", "cgroup")}


def args(files: dict[str, str], **extra: Any) -> dict[str, Any]:
    base = {"cpuinfo_path": files["cpuinfo"], "meminfo_path": files["meminfo"], "cgroup_root": files["cgroup"]}
    base.update(extra)
    return base


def run(files: dict[str, str], client: Any = None, **extra: Any):
    with mock.patch.object(_host_check, "docker_client", return_value=client or FakeClient()):
        return run_module(host_check.main, args(files, **extra), check_mode=True)


def test_small_plan_passes_and_reports_facts(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, containers=[{"kind": "language-detection"}])
    assert not failed and result["ok"] and result["unmet"] == [] and result["changed"] is False
    assert result["host"]["avx2"] is True
    assert result["host"]["memory_total_bytes"] == 16 * 1024**3
    assert result["host"]["docker"] == {
        "answers": True,
        "version": "20.10.24",
        "api_version": "1.41",
        "data_root": "/",
        "storage_driver": "overlay2",
        "runtimes": [],
        "cdi_spec_dirs": [],
        "proxies": {"http": "", "https": "", "no": ""},
    }
    assert result["plan"]["memory_bytes"] == 1024**3


def test_one_message_lists_every_unmet_requirement(host_files: dict[str, str]) -> None:
    failed, result = run(
        host_files,
        client=DeadClient(),
        cpuinfo_path=host_files["noavx2"],
        containers=[
            {"kind": "neural-text-to-speech", "cpus": 1, "memory": "12g"},
            {"kind": "speech-to-text", "cpus": 1},
        ],
    )
    assert failed
    message = result["msg"]
    assert message.startswith("this host cannot run the planned speech containers: ")
    assert "AVX2 is not supported by this CPU (no avx2 flag in %s)" % host_files["noavx2"] in message
    assert "the Docker engine at unix:///var/run/docker.sock does not answer (Error while fetching" in message
    assert "planned memory 16.0 GiB + 4.0 GiB language-model headroom exceeds 16.0 GiB" in message
    assert [item["requirement"] for item in result["unmet"]] == ["avx2", "docker", "memory"]


def test_report_only_mode_succeeds_with_unmet_listed(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, cpuinfo_path=host_files["noavx2"], fail_on_unmet=False)
    assert not failed and result["ok"] is False
    assert [item["requirement"] for item in result["unmet"]] == ["avx2"]


def test_bad_kind_is_rejected_by_the_argument_spec(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, containers=[{"kind": "speech2text"}])
    assert failed and "speech2text" in result["msg"] and "speech-to-text" in result["msg"]


def test_bad_memory_names_the_field(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, containers=[{"kind": "speech-to-text", "memory": "a lot"}])
    assert failed
    assert (
        result["msg"] == "invalid containers: containers[0].memory: memory 'a lot' is not a size like 4g, 512m or 4GiB"
    )


def test_missing_docker_sdk_gives_the_install_hint(host_files: dict[str, str]) -> None:
    with mock.patch.object(_docker_api, "HAS_DOCKER_SDK", False):
        failed, result = run(host_files)
    assert failed
    assert "Docker SDK for Python >= 5.0.0" in result["msg"] and "pip" in result["msg"].lower()


def test_old_docker_sdk_is_refused(host_files: dict[str, str]) -> None:
    with mock.patch.object(_docker_api.docker, "__version__", "4.4.4"):
        failed, result = run(host_files)
    assert failed and "4.4.4" in result["msg"] and ">= 5.0.0" in result["msg"]


class GpuReadyClient(FakeClient):
    def info(self) -> dict[str, Any]:
        return dict(super().info(), Runtimes={"nvidia": {"path": "nvidia-container-runtime"}, "runc": {"path": "runc"}})


def test_fast_transcription_without_gpu_fails_with_one_message(host_files: dict[str, str]) -> None:
    failed, result = run(
        host_files,
        containers=[{"name": "fast", "kind": "fast-transcription", "cpus": 1, "memory": "1g"}],
        nvidia_gpus_path=host_files["cgroup"] + "/no-gpus",
        nvidia_device_path=host_files["cgroup"] + "/no-nvidia0",
    )
    assert failed
    assert [item["requirement"] for item in result["unmet"]] == ["gpu", "gpu_runtime"]
    assert "container fast (fast-transcription) needs an NVIDIA GPU (T4 or better)" in result["msg"]
    assert result["host"]["nvidia_gpus"] == [] and result["host"]["nvidia_device"] is False


def test_gpu_host_with_nvidia_runtime_passes(host_files: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "gpus" / "0000:00:1e.0").mkdir(parents=True)
    failed, result = run(
        host_files,
        client=GpuReadyClient(),
        containers=[{"name": "fast", "kind": "fast-transcription", "cpus": 1, "memory": "1g"}],
        nvidia_gpus_path=str(tmp_path / "gpus"),
        nvidia_device_path=str(tmp_path / "no-nvidia0"),
    )
    assert not failed and result["ok"] and result["notes"] == []
    assert result["host"]["docker"]["runtimes"] == ["nvidia", "runc"]


def test_cpu_stand_in_skips_the_gpu_and_says_so(host_files: dict[str, str]) -> None:
    failed, result = run(
        host_files,
        containers=[{"name": "fast", "kind": "fast-transcription", "cpus": 1, "memory": "1g", "gpus": "none"}],
        nvidia_gpus_path=host_files["cgroup"] + "/no-gpus",
        nvidia_device_path=host_files["cgroup"] + "/no-nvidia0",
    )
    assert not failed and result["ok"]
    assert result["notes"][0].startswith("container fast (fast-transcription) runs with gpus: none")


def test_concurrency_is_judged(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, containers=[{"name": "lid", "kind": "language-detection", "concurrency": 3}])
    assert failed
    # Issue 10's guidance: language detection 2 per core.
    assert result["msg"].endswith(
        "container lid (language-detection) is expected to serve 3 concurrent sessions but its 1 CPUs serve 2 by "
        "Microsoft's guidance (2 sessions per core): give it 1.5 CPUs"
    )


# --- reachability (images, billing, bind addresses) ---------------------------------------------------------
LID_REPOSITORY = "azure-cognitive-services/speechservices/language-detection"  # speech-container-lid.md


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def reach(registry: Registry, pki: Pki, version: str, **extra: Any) -> dict[str, Any]:
    return dict(
        containers=[{"name": "langdetect", "kind": "language-detection"}],
        reachability=[{"name": "langdetect", "kind": "language-detection", "version": version, "preview": True}],
        registry=registry.host,
        registry_username="puller",
        registry_password="pull-secret",
        registry_ca_cert=pki.ca_crt.read_text(),
        registry_config_path="/nonexistent/config.json",
        check_billing=False,
        **extra,
    )


def test_a_missing_image_fails_the_preflight_naming_image_and_fix(host_files: dict[str, str], pki: Pki) -> None:
    registry = Registry(
        {LID_REPOSITORY: ["1.17.0-amd64-preview", "1.18.0-amd64-preview"]}, "basic", {"puller": "pull-secret"}
    )
    with serve_registry(pki, registry):
        failed, result = run(host_files, **reach(registry, pki, "1.13.0"))
    assert failed
    assert result["msg"] == (
        "this host cannot run the planned speech containers: container langdetect: tag 1.13.0-amd64-preview not found "
        "in %s/%s: check the version (the registry lists 1.17.0-amd64-preview, 1.18.0-amd64-preview)"
        % (registry.host, LID_REPOSITORY)
    )
    assert [image["status"] for image in result["reachability"]["images"]] == ["missing"]


def test_an_image_on_the_engine_passes_without_the_registry(host_files: dict[str, str], pki: Pki) -> None:
    registry = Registry({LID_REPOSITORY: []}, "basic", {"puller": "pull-secret"})
    with serve_registry(pki, registry):
        client = FakeClient()
        client.repo_tags = ["%s/%s:1.13.0-amd64-preview" % (registry.host, LID_REPOSITORY)]
        failed, result = run(host_files, client=client, **reach(registry, pki, "1.13.0", bind_address="127.0.0.1"))
    assert not failed and result["ok"], result.get("msg")
    assert result["reachability"]["images"][0]["status"] == "present"
    assert registry.requests == []
    assert "127.0.0.1" in result["reachability"]["addresses"]


def test_a_bind_address_that_is_not_the_hosts_fails(host_files: dict[str, str]) -> None:
    failed, result = run(
        host_files,
        reachability=[{"name": "langdetect", "image": "x.example/y:1", "bind_address": "203.0.113.77"}],
        check_images=False,
        check_billing=False,
    )
    if "203.0.113.77" in result["reachability"]["addresses"]:
        pytest.skip("this machine has 203.0.113.77")
    assert failed
    assert (
        "container langdetect: bind_address 203.0.113.77 is not an address of this host (its addresses: "
        in result["msg"]
    )


def test_an_unknown_kind_in_reachability_is_named(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, reachability=[{"name": "x", "kind": "speech2text", "version": "5.1.0"}])
    # Ansible's choice check, from the schema's choices: the value, the field and what is accepted.
    assert failed
    assert "speech2text" in result["msg"] and "speech-to-text" in result["msg"] and "reachability" in result["msg"]


def test_a_reachability_entry_without_version_is_refused(host_files: dict[str, str]) -> None:
    failed, result = run(host_files, reachability=[{"name": "stt", "kind": "speech-to-text", "locale": "en-US"}])
    assert failed
    assert result["msg"] == (
        "invalid reachability: reachability[0] (stt): version is missing: give the pinned version of the image"
    )


def test_reachability_options_agree_with_the_container_schema() -> None:
    """Entry keys of the plan passed through to the network checks: same type, default, choices, secrecy."""
    schema = pytest.importorskip("ansible_collections.speechops.edge.plugins.module_utils._schema")
    captured: dict[str, Any] = {}

    class Built(Exception):
        pass

    def capture(**kwargs: Any) -> None:
        captured.update(kwargs)
        raise Built

    with mock.patch.object(host_check, "AnsibleModule", side_effect=capture), pytest.raises(Built):
        host_check.main()
    spec = captured["argument_spec"]

    def facts(argument: dict[str, Any]) -> tuple[Any, ...]:
        return (
            argument["type"],
            argument.get("default"),
            list(argument.get("choices") or []),
            bool(argument.get("no_log")),
        )

    for name, argument in spec["reachability"]["options"].items():
        option = schema.OPTIONS[name]
        assert facts(argument) == (option.type, option.default, list(option.choices), option.secret), name
    for name in ("registry", "billing", "bind_address"):
        option = schema.OPTIONS[name]
        assert option.inherited and facts(spec[name]) == (option.type, option.module_default, [], False), name
