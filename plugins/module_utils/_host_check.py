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
from ansible_collections.speechops.edge.plugins.module_utils._reachability import (
    ReachabilityOptions,
    resolve_targets,
    run_checks,
)


def ask_engine(docker_host: str, timeout: int, images: set[str] | None = None) -> tuple[dict[str, Any], str | None]:
    """The engine's version and data root, or the reason it does not answer.

    With images (a set), also adds the engine's image references (RepoTags) to it: a planned image the engine
    already has needs no registry request.
    """
    try:
        client = docker_client(docker_host, timeout)
        version = client.version()
        info = client.info()
        if images is not None:
            images.update(tag for image in client.images() for tag in image.get("RepoTags") or ())
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
            # The engine pulls through these (its own environment, docker info; passwords shown as xxxxx).
            "proxies": {
                "http": info.get("HttpProxy") or "",
                "https": info.get("HttpsProxy") or "",
                "no": info.get("NoProxy") or "",
            },
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
    try:
        targets = resolve_targets(params["reachability"], params["registry"], params["billing"], params["bind_address"])
    except CatalogError as exc:
        module.fail_json(msg="invalid reachability: %s" % exc)

    docker_facts: dict[str, Any] = {"answers": None}
    error = None
    local_images: set[str] | None = set() if params["check_images"] and targets else None
    if params["check_docker"]:
        docker_facts, error = ask_engine(params["docker_host"], params["timeout"], local_images)
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
    reachability = run_checks(targets, reachability_options(params, docker_facts), local_images)
    unmet.extend(reachability.unmet)
    result = {
        "changed": False,
        "ok": not unmet,
        "host": facts.as_dict(),
        "plan": summarize(planned),
        "reachability": reachability.as_dict(),
        "unmet": [vars(item) for item in unmet],
        "notes": notes(planned) + reachability.notes,
    }
    if unmet and params["fail_on_unmet"]:
        module.fail_json(
            msg="this host cannot run the planned speech containers: %s" % "; ".join(item.message for item in unmet),
            **result,
        )
    module.exit_json(**result)


def reachability_options(params: dict[str, Any], docker_facts: dict[str, Any]) -> ReachabilityOptions:
    username, password = params["registry_username"], params["registry_password"]
    proxies = docker_facts.get("proxies")
    return ReachabilityOptions(
        # Registry requests go where the engine's pulls go: through its proxy or direct; the module's
        # environment only when the engine was not asked.
        registry_proxies=proxies if docker_facts.get("answers") else None,
        check_images=params["check_images"],
        check_billing=params["check_billing"],
        check_bind_address=params["check_bind_address"],
        registry=params["registry"],
        registry_credentials=(username, password) if username and password else None,
        registry_ca_cert=params["registry_ca_cert"],
        registry_config_path=params["registry_config_path"],
        registry_certs_dir=params["registry_certs_dir"],
        registry_timeout=params["registry_timeout"],
        billing_ca_file=params["billing_ca_file"],
        billing_timeout=params["billing_timeout"],
    )
