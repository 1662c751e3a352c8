# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only report of the managed speech containers of a host."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError, ssml_voice_name
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    LABEL_LICENSE_PATH,
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_PREFIX,
    PREVIOUS_SUFFIX,
    license_dir,
    probe_base_url,
)
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import (
    DockerException,
    docker_client,
    engine_error,
    require_docker_sdk,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway import (
    GatewayError,
    certificate_facts,
    server_stats,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import CERTIFICATE_PATH, gateway_ports
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import license_facts
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import kind_probe_options, probe

# Usage records of a disconnected container (speech-container-howto.md, "Disconnected containers"):
# GET /records/usage-logs/ (every month) or /records/usage-logs/{MONTH}/{YEAR}.
USAGE_PATH = "/records/usage-logs/"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
USAGE_PERIOD_RE = re.compile(r"^(0?[1-9]|1[0-2])/[0-9]{4}$")


def disconnected_facts(labels: dict[str, str], image_id: str | None) -> dict[str, Any] | None:
    """license_path, license (present or missing) and license_downloaded of a disconnected container; None when it
    runs connected."""
    license_path = labels.get(LABEL_LICENSE_PATH)
    if not license_path:
        return None
    directory = license_dir(license_path, image_id) if image_id else None
    return dict(license_path=license_path, license_dir=directory, **license_facts(directory))


def usage_records(base_url: str, timeout: float, period: str = "") -> dict[str, Any]:
    """The container's usage records ({apiType, serviceName, meters: [{name, quantity}]}), or {"error": why}."""
    url = base_url + USAGE_PATH + (period.strip("/") if period else "")
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            body = response.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        return {"error": "GET %s answered %d" % (url, exc.code)}
    except (OSError, ValueError) as exc:
        return {"error": "no answer on %s: %s" % (url, exc)}
    try:
        records = json.loads(body.decode("utf-8", "replace"))
    except ValueError:
        return {"error": "GET %s did not answer JSON" % url}
    return records if isinstance(records, dict) else {"records": records}


def _ssml_voice(locale: str | None, voice: str | None) -> str | None:
    """Microsoft's voice name for the container's labels (the table knows its casing), None when it cannot say."""
    if not (locale and voice):
        return None
    try:
        return ssml_voice_name(locale, voice)
    except CatalogError:
        return None


def describe_container(
    client: Any,
    listed: dict[str, Any],
    with_probe: bool,
    probe_timeout: float,
    usage: bool = False,
    usage_period: str = "",
) -> dict[str, Any]:
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
        "disconnected": disconnected_facts(labels, listed.get("ImageID")),
    }
    # Asked where it is published (behind the gateway: its loopback slot, not the gateway's port). A wildcard
    # bind is asked on IPv4 loopback: Docker lists 0.0.0.0 and :: for one publish on every address.
    published = int(ports[0]["PublicPort"]) if ports else host_port
    base_url = probe_base_url("0.0.0.0" if bind in ("0.0.0.0", "::", "") else bind, published)
    if with_probe and entry["running"] and host_port:
        entry.update(probe(base_url, probe_timeout, **kind_probe_options(entry["kind"])).as_dict())
    if usage and entry["disconnected"] is not None:
        entry["usage"] = (
            usage_records(base_url, probe_timeout, usage_period)
            if entry["running"] and host_port
            else {"error": "the container does not run"}
        )
    return entry


def run_speech_container_info(module: Any) -> None:
    params = module.params
    period = params["usage_period"] or ""
    if period and not USAGE_PERIOD_RE.match(period):
        module.fail_json(msg="usage_period: %r is not MONTH/YEAR: give for example 11/2026, or leave it empty" % period)
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
            containers.append(
                describe_container(
                    client,
                    item,
                    params["probe"],
                    params["probe_timeout"],
                    usage=params["usage"],
                    usage_period=params["usage_period"] or "",
                )
            )
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
