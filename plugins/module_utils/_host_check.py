# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_check module's logic: read facts, ask the engine, judge the plan, report."""

from __future__ import annotations

from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import (
    DockerException,
    docker_client,
    engine_error,
    require_docker_sdk,
)
from ansible_collections.speechops.edge.plugins.module_utils._host_facts import (
    DEFAULT_DOCKER_DATA_ROOT,
    judge,
    notes,
    plan_containers,
    read_host_facts,
    summarize,
)


def ask_engine(docker_host: str, timeout: int) -> tuple[dict[str, Any], str | None]:
    """The engine's version and data root, or the reason it does not answer."""
    try:
        client = docker_client(docker_host, timeout)
        version = client.version()
        info = client.info()
    except (DockerException, OSError) as exc:
        return {"answers": False}, engine_error(exc, docker_host)
    return (
        {
            "answers": True,
            "version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "data_root": info.get("DockerRootDir"),
            "storage_driver": info.get("Driver"),
            # GPU containers need the "nvidia" runtime (or CDI specs on Docker 25+): see _host_facts.
            "runtimes": sorted(info.get("Runtimes") or {}),
            "cdi_spec_dirs": list(info.get("CDISpecDirs") or []),
        },
        None,
    )


def run_host_check(module: Any) -> None:
    params = module.params
    require_docker_sdk(module)
    try:
        planned = plan_containers(params["containers"])
    except CatalogError as exc:
        module.fail_json(msg="invalid containers: %s" % exc)

    docker_facts: dict[str, Any] = {"answers": None}
    error = None
    if params["check_docker"]:
        docker_facts, error = ask_engine(params["docker_host"], params["timeout"])
    data_root = params["docker_data_root"] or docker_facts.get("data_root") or DEFAULT_DOCKER_DATA_ROOT

    facts = read_host_facts(
        cpuinfo_path=params["cpuinfo_path"],
        meminfo_path=params["meminfo_path"],
        cgroup_root=params["cgroup_root"],
        disk_path=data_root,
        nvidia_gpus_path=params["nvidia_gpus_path"],
        nvidia_device_path=params["nvidia_device_path"],
    )
    facts.docker = docker_facts
    unmet = judge(facts, planned, error)
    result = {
        "changed": False,
        "ok": not unmet,
        "host": facts.as_dict(),
        "plan": summarize(planned),
        "unmet": [vars(item) for item in unmet],
        "notes": notes(planned),
    }
    if unmet and params["fail_on_unmet"]:
        module.fail_json(
            msg="this host cannot run the planned speech containers: %s" % "; ".join(item.message for item in unmet),
            **result,
        )
    module.exit_json(**result)
