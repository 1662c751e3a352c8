# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only report of the managed speech containers of a host."""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError, ssml_voice_name
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_PREFIX,
    PREVIOUS_SUFFIX,
    probe_base_url,
)
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import (
    DockerException,
    docker_client,
    engine_error,
    require_docker_sdk,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway import (
    CERTIFICATE_PATH,
    GatewayError,
    certificate_facts,
    gateway_ports,
    server_stats,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import kind_probe_options, probe


def _ssml_voice(locale: str | None, voice: str | None) -> str | None:
    """Microsoft's voice name for the container's labels (the table knows its casing), None when it cannot say."""
    if not (locale and voice):
        return None
    try:
        return ssml_voice_name(locale, voice)
    except CatalogError:
        return None


def describe_container(client: Any, listed: dict[str, Any], with_probe: bool, probe_timeout: float) -> dict[str, Any]:
    labels = listed.get("Labels") or {}
    details = client.inspect_container(listed["Id"])
    state = details.get("State") or {}
    ports = [p for p in listed.get("Ports") or [] if p.get("PublicPort")]
    host_port = int(labels.get(LABEL_PREFIX + "host-port") or (ports[0]["PublicPort"] if ports else 0))
    bind = ports[0].get("IP", "0.0.0.0") if ports else "0.0.0.0"
    model_path = labels.get(LABEL_PREFIX + "model-path")
    entry: dict[str, Any] = {
        "name": labels.get(LABEL_NAME) or listed["Names"][0].lstrip("/"),
        "container_name": listed["Names"][0].lstrip("/"),
        "id": listed["Id"],
        "kind": labels.get(LABEL_PREFIX + "kind"),
        "version": labels.get(LABEL_PREFIX + "version"),
        "locale": labels.get(LABEL_PREFIX + "locale"),
        "voice": labels.get(LABEL_PREFIX + "voice"),
        "image": listed.get("Image"),
        "image_id": listed.get("ImageID"),
        "status": state.get("Status"),
        "running": bool(state.get("Running")),
        "started_at": state.get("StartedAt"),
        "restart_count": details.get("RestartCount", 0),
        "host_port": host_port,
        "bind_address": bind,
        "ports": [
            {"host_ip": p.get("IP"), "host_port": p["PublicPort"], "container_port": p.get("PrivatePort")}
            for p in ports
        ],
        "model_path": model_path,
        "model_present": bool(model_path and os.path.exists(os.path.join(model_path, "properties.json"))),
        "previous": listed["Names"][0].endswith(PREVIOUS_SUFFIX),
        "ssml_voice": _ssml_voice(labels.get(LABEL_PREFIX + "locale"), labels.get(LABEL_PREFIX + "voice")),
    }
    if with_probe and entry["running"] and host_port:
        # Asked where it is published (behind the gateway: its loopback slot, not the gateway's port). A wildcard
        # bind is asked on IPv4 loopback: Docker lists 0.0.0.0 and :: for one publish on every address.
        published = int(ports[0]["PublicPort"]) if ports else host_port
        base_url = probe_base_url("0.0.0.0" if bind in ("0.0.0.0", "::", "") else bind, published)
        entry.update(probe(base_url, probe_timeout, **kind_probe_options(entry["kind"])).as_dict())
    return entry


def run_speech_container_info(module: Any) -> None:
    params = module.params
    require_docker_sdk(module)
    try:
        client = docker_client(params["docker_host"], params["timeout"])
        listed = client.containers(all=True, filters={"label": "%s=true" % LABEL_MANAGED})
    except (DockerException, OSError) as exc:
        module.fail_json(msg=engine_error(exc, params["docker_host"]))
    wanted = set(params["names"] or [])
    containers = []
    for item in sorted(listed, key=lambda entry: entry["Names"][0]):
        name = (item.get("Labels") or {}).get(LABEL_NAME) or item["Names"][0].lstrip("/")
        if wanted and name not in wanted:
            continue
        try:
            containers.append(describe_container(client, item, params["probe"], params["probe_timeout"]))
        except DockerException:
            continue  # removed between the list and the inspect
    gateway = gateway_facts()
    if gateway is not None:
        attach_gateway(containers, gateway.pop("servers"))
    module.exit_json(changed=False, containers=containers, gateway=gateway)


def gateway_facts() -> dict[str, Any] | None:
    """The host's speech gateway, when this collection's runs: its ports, certificate and servers (None: none)."""
    ports = gateway_ports()
    if not ports:
        return None
    try:
        servers = server_stats()
    except (OSError, GatewayError) as exc:
        return {"ports": sorted(ports), "running": False, "error": str(exc), "servers": [],
                "certificate": certificate_facts(CERTIFICATE_PATH)}  # fmt: skip
    return {
        "ports": sorted(ports),
        "running": True,
        "servers": servers,
        "certificate": certificate_facts(CERTIFICATE_PATH),
    }


def attach_gateway(containers: list[dict[str, Any]], servers: list[dict[str, str]]) -> None:
    """Each container behind the gateway: the slot that sends it traffic, its state there and its sessions now."""
    by_address = {(row.get("pxname"), row.get("addr")): row for row in servers}
    for entry in containers:
        for port in entry["ports"]:
            row = by_address.get((entry["name"], "127.0.0.1:%d" % port["host_port"]))
            if row:
                entry["gateway"] = {
                    "slot": row["svname"],
                    "status": row.get("status"),
                    "sessions": int(row.get("scur") or 0),
                }
