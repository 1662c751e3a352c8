# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn a host's speech container declaration into the plan the roles run.

One plan feeds every consumer, so the preflight (speechops.edge.edge_host), the converge
(speechops.edge.speech_containers), the service checks and the records on the host all see the same
names, ports, CPUs, memory and directories:

- ``speech_plan``: the inventory declaration -> the plan (per-kind defaults from the catalog, names,
  host ports, model/output/license directories), validated on the controller.
- ``speech_select``: one view of the plan (module entries, preflight entries, directories, probe targets).
- ``speech_record``: what an engineer at the edge needs to see and reproduce one container by hand,
  with an equivalent ``docker run`` line whose secrets are replaced by ``********``.

The documentation of each filter is in the YAML file of the same name next to this one.
"""

from __future__ import annotations

import difflib
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    CONTAINER_GID,
    CONTAINER_UID,
    KINDS,
    CatalogError,
    get_kind,
    parse_memory,
)
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    DEFAULT_MODELS_ROOT,
    SpecError,
    build_desired,
)
from ansible_collections.speechops.edge.plugins.module_utils._redact import REDACTED

DEFAULT_OUTPUT_ROOT = "/var/lib/speechops/output"
DEFAULT_LICENSE_ROOT = "/var/lib/speechops/license"

# The suboptions of speechops.edge.speech_containers' containers[] (plugins/modules/speech_containers.py).
MODULE_ENTRY_KEYS = (
    "name",
    "kind",
    "state",
    "version",
    "locale",
    "voice",
    "preview",
    "containerpreview",
    "image",
    "registry",
    "host_port",
    "bind_address",
    "cpus",
    "memory",
    "allow_below_minimum",
    "eula",
    "billing",
    "api_key",
    "model_id",
    "model_path",
    "output_path",
    "disk_logging",
    "log_level",
    "http_proxy",
    "http_proxy_creds",
    "decoder_max_count",
    "gpus",
    "settings",
    "restart_policy",
    "log_max_size",
    "log_max_files",
    "stop_timeout",
    "ready_timeout",
    "pids_limit",
)
# Declaration keys that are not module options: port (short for host_port), output/license (ask for a
# directory under the output/license root), check (run the real service check), ssml_voice (override),
# concurrency (expected concurrent sessions or requests, judged by the preflight).
DECLARATION_KEYS = (
    *MODULE_ENTRY_KEYS,
    "port",
    "output",
    "license",
    "license_path",
    "check",
    "ssml_voice",
    "concurrency",
)
PLAN_ONLY_KEYS = ("license_path", "check", "ssml_voice", "concurrency")
SECRET_ENTRY_KEYS = ("api_key", "http_proxy_creds")
STATES = ("started", "stopped", "absent")

# Short prefixes of generated container names, by kind.
NAME_PREFIX = {
    "speech-to-text": "stt",
    "custom-speech-to-text": "custom-stt",
    "neural-text-to-speech": "tts",
    "language-detection": "langdetect",
    "text-to-speech": "tts-standard",
    "custom-text-to-speech": "custom-tts",
    "fast-transcription": "fast-stt",
}


def _memory_string(gib: float) -> str:
    """Docker notation of a catalog size: 4 -> '4g', 0.5 -> '512m'."""
    return "%dg" % gib if float(gib).is_integer() else "%dm" % int(gib * 1024)


def _catalog_defaults(kind_name: str, containerpreview: bool, voice: Any = None) -> dict[str, Any]:
    kind = get_kind(kind_name)
    minimum, _recommended, _headroom = kind.sizing(containerpreview, voice=str(voice) if voice else None)
    return {"cpus": float(minimum.cpus), "memory": _memory_string(minimum.memory_gib)}


def concurrency_guidance(kind_name: str, cpus: float) -> dict[str, Any] | None:
    """Concurrent sessions (or requests) the container's CPUs serve by Microsoft's guidance, or None if none."""
    concurrency = get_kind(kind_name).concurrency
    if concurrency is None:
        return None
    return {
        "capacity": concurrency.capacity(cpus),
        "unit": concurrency.unit,
        "guidance": concurrency.guidance,
    }


def _generated_name(entry: Mapping[str, Any]) -> str:
    parts = [NAME_PREFIX.get(entry["kind"], entry["kind"])]
    for key in ("locale", "voice"):
        if entry.get(key):
            parts.append(str(entry[key]).lower())
    if entry.get("model_id"):
        parts.append(str(entry["model_id"]).lower()[:8])
    return "-".join(parts)


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise AnsibleFilterError("%s must be a list of containers, got %s" % (what, type(value).__name__))
    return list(value)


def _as_dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError("%s must be a dictionary, got %s" % (what, type(value).__name__))
    return dict(value)


def speech_plan(
    declaration: Any,
    kind_defaults: Any = None,
    defaults: Any = None,
    models_root: str | None = None,
    output_root: str | None = None,
    license_root: str | None = None,
) -> list[dict[str, Any]]:
    """The plan of one host: every entry complete and validated, in declaration order."""
    entries = _as_list(declaration, "speech_containers")
    per_kind = _as_dict(kind_defaults, "speech_kind_defaults")
    common = _as_dict(defaults, "speech_container_defaults")
    models_root = str(models_root or DEFAULT_MODELS_ROOT).rstrip("/") or "/"
    output_root = str(output_root or DEFAULT_OUTPUT_ROOT).rstrip("/") or "/"
    license_root = str(license_root or DEFAULT_LICENSE_ROOT).rstrip("/") or "/"
    problems: list[str] = []
    for kind_name, values in per_kind.items():
        if kind_name not in KINDS:
            problems.append("speech_kind_defaults.%s: not a speech container kind (%s)" % (kind_name, ", ".join(KINDS)))
        elif not isinstance(values, Mapping):
            problems.append("speech_kind_defaults.%s: must be a dictionary such as {cpus: 8, memory: 8g}" % kind_name)
    for key in common:
        if key not in DECLARATION_KEYS or key in ("name", "kind", "port", "host_port"):
            problems.append("speech_container_defaults.%s: not a setting every container can share" % key)

    plan: list[dict[str, Any]] = []
    for index, raw in enumerate(entries):
        where = "speech_containers[%d]" % index
        if not isinstance(raw, Mapping):
            problems.append("%s: must be a dictionary with at least kind and version, got %r" % (where, raw))
            continue
        if raw.get("name"):
            where += " (%s)" % raw["name"]
        unknown = sorted(str(key) for key in raw if key not in DECLARATION_KEYS)
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, DECLARATION_KEYS, n=1)
                hints.append("%s (did you mean %s?)" % (key, close[0]) if close else key)
            problems.append(
                "%s: unknown keys %s (valid keys: %s)" % (where, ", ".join(hints), ", ".join(DECLARATION_KEYS))
            )
            continue
        kind_name = raw.get("kind")
        if kind_name not in KINDS:
            problems.append("%s.kind: %r is not one of %s" % (where, kind_name, ", ".join(KINDS)))
            continue
        if "port" in raw and "host_port" in raw:
            problems.append("%s: give port or host_port, not both" % where)
            continue
        kind_values = per_kind.get(kind_name) or {}
        entry: dict[str, Any] = {}
        entry.update(_catalog_defaults(kind_name, bool(raw.get("containerpreview")), raw.get("voice")))
        entry.update({k: v for k, v in common.items() if v is not None})
        entry.update({k: v for k, v in dict(kind_values).items() if v is not None})
        entry.update({k: v for k, v in raw.items() if v is not None})
        if "port" in entry:
            entry["host_port"] = entry.pop("port")
        entry["kind"] = kind_name
        entry["state"] = entry.get("state") or "started"
        if entry["state"] not in STATES:
            problems.append("%s.state: %r is not one of %s" % (where, entry["state"], ", ".join(STATES)))
            continue
        if entry.get("version") is not None:
            entry["version"] = str(entry["version"])
        try:
            entry["cpus"] = float(entry["cpus"])
            if entry["cpus"] <= 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(
                "%s.cpus: %r is not a positive number of CPUs (for example 4 or 0.5)" % (where, entry["cpus"])
            )
            continue
        entry["memory"] = str(entry["memory"])
        try:
            parse_memory(entry["memory"])
        except CatalogError as exc:
            problems.append("%s.memory: %s" % (where, exc))
            continue
        entry["name"] = str(entry.get("name") or _generated_name(entry))
        kind = KINDS[kind_name]
        if kind.needs_model:
            entry["model_path"] = str(entry.get("model_path") or posixpath.join(models_root, entry["name"]))
        output = entry.pop("output", None)
        if output and not entry.get("output_path"):
            entry["output_path"] = posixpath.join(output_root, entry["name"])
        wants_license = entry.pop("license", None)
        if wants_license and not entry.get("license_path"):
            entry["license_path"] = posixpath.join(license_root, entry["name"])
        entry["check"] = bool(entry.get("check", True))
        if entry.get("concurrency") is not None:
            try:
                entry["concurrency"] = int(entry["concurrency"])
                if entry["concurrency"] < 1:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(
                    "%s.concurrency: %r is not a positive number of concurrent sessions (for example 8)"
                    % (where, entry["concurrency"])
                )
                continue
        entry["concurrency_guidance"] = concurrency_guidance(kind_name, entry["cpus"])
        plan.append(entry)

    seen: dict[str, int] = {}
    for index, entry in enumerate(plan):
        if entry["name"] in seen:
            problems.append(
                "speech_containers[%d]: the name %r is also the name of entry %d: set a distinct name"
                % (index, entry["name"], seen[entry["name"]])
            )
        seen.setdefault(entry["name"], index)
    _assign_ports(plan, problems)
    if problems:
        raise AnsibleFilterError("invalid speech container declaration: " + "; ".join(problems))
    return plan


def _assign_ports(plan: list[dict[str, Any]], problems: list[str]) -> None:
    """Explicit ports first; then, in declaration order, the kind's port or the next free one above it.

    Deterministic: the same declaration always gives the same ports, and appending a container never
    moves the ports of the containers declared before it. An entry with state absent keeps its place (and
    port), so removing a container that way moves no other container.
    """
    taken: dict[int, str] = {}
    for entry in plan:
        port = entry.get("host_port")
        if port in (None, ""):
            continue
        try:
            port = int(port)
        except (TypeError, ValueError):
            problems.append("%s.port: %r is not a TCP port" % (entry["name"], port))
            continue
        if not 1 <= port <= 65535:
            problems.append("%s.port: %d is not a TCP port (1-65535)" % (entry["name"], port))
        elif port in taken:
            problems.append("%s.port: %d is also the port of %s" % (entry["name"], port, taken[port]))
        entry["host_port"] = port
        taken[port] = entry["name"]
    for entry in plan:
        if entry.get("host_port") not in (None, ""):
            continue
        port = get_kind(entry["kind"]).port
        while port in taken:
            port += 1
        taken[port] = entry["name"]
        entry["host_port"] = port


VIEWS = ("module", "preflight", "directories", "probe", "names")


def speech_select(plan: Any, view: str) -> list[Any]:
    """One view of a plan made by speech_plan."""
    entries = _as_list(plan, "the plan")
    if view == "module":
        return [{k: v for k, v in entry.items() if k in MODULE_ENTRY_KEYS} for entry in entries]
    active = [entry for entry in entries if entry.get("state", "started") != "absent"]
    if view == "names":
        return [entry["name"] for entry in active]
    if view == "preflight":
        return [
            {
                "name": entry["name"],
                "kind": entry["kind"],
                "cpus": entry.get("cpus"),
                "memory": entry.get("memory"),
                "containerpreview": bool(entry.get("containerpreview")),
                **{key: entry[key] for key in ("concurrency", "gpus") if entry.get(key) is not None},
            }
            for entry in active
        ]
    if view == "directories":
        seen: set[str] = set()
        result = []
        for entry in active:
            for purpose, key in (("model", "model_path"), ("output", "output_path"), ("license", "license_path")):
                path = entry.get(key)
                if path and path not in seen:
                    seen.add(path)
                    result.append(
                        {
                            "path": path,
                            "parent": posixpath.dirname(path.rstrip("/")) or "/",
                            "purpose": purpose,
                            "container": entry["name"],
                            "owner": CONTAINER_UID,
                            "group": CONTAINER_GID,
                        }
                    )
        return result
    if view == "probe":
        targets = []
        for entry in active:
            if entry.get("state", "started") != "started" or not entry.get("check", True):
                continue
            target = {"name": entry["name"], "kind": entry["kind"], "port": int(entry["host_port"])}
            for key in ("locale", "voice", "ssml_voice"):
                if entry.get(key):
                    target[key] = str(entry[key])
            targets.append(target)
        return targets
    raise AnsibleFilterError("speech_select: view %r is not one of %s" % (view, ", ".join(VIEWS)))


def speech_record(
    entry: Any,
    eula: str | None = None,
    billing: str | None = None,
    registry: str | None = None,
    bind_address: str | None = None,
) -> dict[str, Any]:
    """What one planned container runs with, secrets replaced by ********, and how to run it by hand."""
    entry = _as_dict(entry, "the plan entry")
    module_entry = {k: v for k, v in entry.items() if k in MODULE_ENTRY_KEYS}
    for key in SECRET_ENTRY_KEYS:
        if module_entry.get(key):
            # Shaped like the secret (proxy credentials are user:password) so validation passes; the spec then
            # shows every secret as ********.
            module_entry[key] = "%s:%s" % (REDACTED, REDACTED) if key == "http_proxy_creds" else REDACTED
    defaults = {
        "eula": eula,
        "billing": billing,
        "api_key": REDACTED,
        "registry": registry or None,
        "bind_address": bind_address or "0.0.0.0",
        "allow_below_minimum": True,  # the module judged the sizes; the record only describes them
        "models_root": None,
    }
    try:
        desired = build_desired([module_entry], defaults)[0]
    except SpecError as exc:
        raise AnsibleFilterError("speech_record: %s" % exc) from None
    public = desired.public_spec()
    record: dict[str, Any] = {
        "name": desired.name,
        "kind": desired.kind,
        "state": desired.state,
        "image": desired.image,
        "version": desired.version,
        "locale": desired.locale,
        "voice": desired.voice,
        "ssml_voice": None,
        "host_port": desired.host_port,
        "container_port": desired.container_port,
        "bind_address": desired.bind_address,
        "cpus": desired.cpus,
        "memory": entry.get("memory") or public["memory"],
        "pids_limit": desired.pids_limit,
        "restart_policy": desired.restart_policy,
        "log": public["log"],
        "stop_timeout": desired.stop_timeout,
        "mounts": desired.mounts,
        "args": public["args"],
        "env": public["env"],
        "endpoints": desired.endpoints(),
        "model_id": entry.get("model_id"),
        "model_path": desired.model_path,
        "output_path": desired.output_path,
        "license_path": entry.get("license_path"),
        "docker_run": _docker_run(desired, entry.get("memory")),
    }
    if get_kind(desired.kind).is_text_to_speech:
        record["ssml_voice"] = entry.get("ssml_voice") or desired.ssml_voice
    return record


def _docker_run(desired: Any, memory: str | None) -> str:
    """The docker run command line equivalent to what speech_containers creates (without its labels)."""
    memory_value = str(memory) if memory else "%db" % desired.memory_bytes
    lines = [
        ["docker", "run", "--detach", "--name", desired.name],
        ["--publish", "%s:%d:%d" % (desired.bind_address, desired.host_port, desired.container_port)],
        ["--cpus", "%g" % desired.cpus, "--memory", memory_value, "--memory-swap", memory_value],
        ["--pids-limit", str(desired.pids_limit), "--security-opt", "no-new-privileges:true", "--cap-drop", "ALL"],
        [
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=%s" % desired.log_max_size,
            "--log-opt",
            "max-file=%d" % desired.log_max_files,
        ],
        ["--restart", desired.restart_policy, "--stop-timeout", str(desired.stop_timeout)],
        ["--gpus", "all"] if desired.gpus == "all" else [],
    ]
    for mount in desired.mounts:
        lines.append(["--volume", "%s:%s:%s" % (mount["source"], mount["target"], mount["mode"])])
    for key, value in sorted(desired.env.items()):
        lines.append(["--env", "%s=%s" % (key, REDACTED if value in desired.secrets else value)])
    lines.append([desired.image])
    lines.append(list(desired.public_spec()["args"]))
    return " \\\n    ".join(shlex.join(line) for line in lines if line)


class FilterModule:
    """speechops.edge speech container filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "speech_plan": speech_plan,
            "speech_select": speech_select,
            "speech_record": speech_record,
        }
