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

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    CONTAINER_GID,
    CONTAINER_UID,
    KINDS,
    CatalogError,
    get_kind,
)
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    DEFAULT_LICENSE_ROOT,
    DEFAULT_MODELS_ROOT,
    DEFAULT_OUTPUT_ROOT,
    SpecError,
    bindings_clash,
    build_desired,
    validate_entry,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway import key_digest
from ansible_collections.speechops.edge.plugins.module_utils._redact import REDACTED
from ansible_collections.speechops.edge.plugins.module_utils._schema import (
    DECLARATION_KEYS,
    HOST_CHECK_KEYS,
    MODULE_ENTRY_KEYS,
    NAME_RE,
    OPTIONS,
    REACHABILITY_KEYS,
    SECRET_KEYS,
    entry_place,
    list_problem,
    shape_problems,
    value_problem,
)

# The keys of an entry (the module's, and the plan's own), secrets, states: from the one schema (_schema.py).
SECRET_ENTRY_KEYS = SECRET_KEYS
STATES = OPTIONS["state"].choices
# Placeholders for fleet values the caller did not pass: they pass validation, so only what is known is judged.
_UNKNOWN_FLEET = {
    "eula": "accept",
    "billing": "https://billing.invalid/",
    "api_key": REDACTED,
    "registry": None,
    "bind_address": None,
    "allow_below_minimum": True,
}
_NOT_GIVEN: Any = object()
# The license directory of a disconnected container in records: LICENSE_PATH/IMAGE_ID_HEX (the image's ID is known
# on the host only).
LICENSE_PLACEHOLDER = "IMAGE_ID_HEX"

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

# Automatic host ports. Every kind keeps Microsoft's documented container port as its first host port (5000; language
# detection 5003), so a host with one speech service publishes it where Microsoft's docs and clients expect it.
# Entries whose kinds share a documented port take it in declaration order, each the next port up (skipping the
# other documented ports); a second language detection steps by AUTOMATIC_PORT_STRIDE. Every entry counts, with an
# explicit port or state absent too, so pinning, unpinning or changing a port elsewhere, appending entries, or
# retiring one with state absent moves no automatic port. Only inserting an entry in front (or deleting one outright)
# moves the later ones: append new entries, retire old ones with state absent, or pin their ports.
AUTOMATIC_PORT_STRIDE = 10
# The directories of a plan entry: key, the option naming the root of generated ones, that option's default.
DIRECTORIES = (
    ("model_path", "models_root", DEFAULT_MODELS_ROOT),
    ("output_path", "output_root", DEFAULT_OUTPUT_ROOT),
    ("license_path", "license_root", DEFAULT_LICENSE_ROOT),
)


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
    eula: Any = _NOT_GIVEN,
    billing: Any = _NOT_GIVEN,
    api_key: Any = _NOT_GIVEN,
    registry: Any = _NOT_GIVEN,
    bind_address: Any = _NOT_GIVEN,
    allow_below_minimum: Any = _NOT_GIVEN,
    disconnected: Any = False,
) -> list[dict[str, Any]]:
    """The plan of one host: every entry complete and validated, in declaration order.

    Every problem of the host's declaration is collected and raised as one AnsibleFilterError, so the plan phase
    of the deploy playbook fails for the host before any host changes. The fleet values (eula, billing, api_key,
    registry, bind_address, allow_below_minimum) are judged when given; each not given is taken as valid.
    disconnected (speech_disconnected) is the default of every entry's disconnected, written into each entry.
    """
    # null is refused, not read as []: with speech_prune an empty list removes every managed container of the
    # host, and a list whose entries are all commented out is more often an accident than that intent.
    listed = list_problem(declaration, "speech_containers", "[{kind: speech-to-text, version: 5.1.0, locale: en-US}]")
    if listed:
        raise AnsibleFilterError("invalid speech container declaration: " + listed)
    entries = list(declaration)
    per_kind = _as_dict(kind_defaults, "speech_kind_defaults")
    common = _as_dict(defaults, "speech_container_defaults")
    given_roots = {"models_root": models_root, "output_root": output_root, "license_root": license_root}
    roots = {option: str(given_roots[option] or default).rstrip("/") or "/" for _key, option, default in DIRECTORIES}
    given_fleet = {
        "eula": eula,
        "billing": billing,
        "api_key": api_key,
        "registry": registry,
        "bind_address": bind_address,
        "allow_below_minimum": allow_below_minimum,
    }
    fleet = {key: _UNKNOWN_FLEET[key] if value is _NOT_GIVEN else value for key, value in given_fleet.items()}
    fleet["models_root"] = roots["models_root"]
    problems: list[str] = []
    disconnected_problem = value_problem(OPTIONS["disconnected"], disconnected)
    if disconnected_problem:
        problems.append("speech_disconnected: %s" % disconnected_problem)
        disconnected = False
    for kind_name, values in per_kind.items():
        if kind_name not in KINDS:
            problems.append("speech_kind_defaults.%s: not a speech container kind (%s)" % (kind_name, ", ".join(KINDS)))
        elif not isinstance(values, Mapping):
            problems.append("speech_kind_defaults.%s: must be a dictionary such as {cpus: 8, memory: 8g}" % kind_name)
        else:
            problems.extend(shape_problems(values, "speech_kind_defaults.%s" % kind_name, DECLARATION_KEYS))
    shared = tuple(key for key in DECLARATION_KEYS if key not in ("name", "kind", "port", "host_port"))
    problems.extend(shape_problems(common, "speech_container_defaults", shared))

    plan: list[dict[str, Any]] = []
    places: list[str] = []  # speech_containers[INDEX] (NAME) of each plan entry, for messages
    for index, raw in enumerate(entries):
        where = entry_place("speech_containers[%d]" % index, raw.get("name") if isinstance(raw, Mapping) else None)
        shape = shape_problems(raw, where, DECLARATION_KEYS)
        if shape:
            problems.extend(shape)
            continue
        if "port" in raw and "host_port" in raw:
            problems.append("%s: give port or host_port, not both" % where)
            continue
        entry = _planned_entry(raw, common, per_kind.get(raw["kind"]) or {})
        # The host's default (speech_disconnected) unless the entry, its kind's or the host's defaults say otherwise.
        entry["disconnected"] = bool(boolean(entry.get("disconnected", disconnected), strict=False))
        kind = KINDS[entry["kind"]]
        where = "speech_containers[%d] (%s)" % (index, entry["name"])
        generated = _directories(entry, kind.needs_model, roots)
        found = []
        module_entry = {key: value for key, value in entry.items() if key in MODULE_ENTRY_KEYS}
        for problem in validate_entry(module_entry, fleet, where)[0]:
            key = problem[len(where) + 1 :].split(":", 1)[0]
            if key == "host_port" and "port" in raw:  # as declared
                problem, key = problem.replace(".host_port:", ".port:", 1), "port"
            # A directory made from a root names the root, which is what to fix.
            if key == "disconnected" and "disconnected" not in raw:
                problem += (
                    " (the default from speech_disconnected or speech_container_defaults: set disconnected: false)"
                )
            found.append(problem + generated[key] if key in generated else problem)
        if found:
            problems.extend(found)
            continue
        entry["cpus"] = float(entry["cpus"])  # after validation: messages show the value as given
        entry["check"] = bool(entry.get("check", True))
        if entry.get("concurrency") is not None:
            entry["concurrency"] = int(entry["concurrency"])
            if entry["concurrency"] < 1:
                problems.append(
                    "%s.concurrency: %r is not a positive number of concurrent sessions (for example 8)"
                    % (where, entry["concurrency"])
                )
                continue
        entry["concurrency_guidance"] = concurrency_guidance(entry["kind"], entry["cpus"])
        plan.append(entry)
        places.append(where)

    seen: dict[str, int] = {}
    for index, entry in enumerate(plan):
        if entry["name"] in seen:
            problems.append(
                "%s.name: %r is also the name of entry %d: set a distinct name"
                % (places[index], entry["name"], seen[entry["name"]])
            )
        seen.setdefault(entry["name"], index)
    _assign_ports(plan, places, problems)
    if problems:
        raise AnsibleFilterError("invalid speech container declaration: " + "; ".join(problems))
    return plan


def _planned_entry(raw: Mapping[str, Any], common: Mapping[str, Any], kind_values: Mapping[str, Any]) -> dict:
    """One declared entry with its defaults: entry, then its kind's, then the host's, then the catalog's sizes."""
    entry: dict[str, Any] = {}
    entry.update(_catalog_defaults(raw["kind"], bool(raw.get("containerpreview")), raw.get("voice")))
    for layer in (common, kind_values, raw):
        entry.update({key: value for key, value in layer.items() if value is not None})
    if "port" in entry:
        entry["host_port"] = entry.pop("port")
    entry["state"] = entry.get("state") or OPTIONS["state"].default
    if entry.get("version") is not None:
        entry["version"] = str(entry["version"])
    entry["memory"] = str(entry["memory"])
    entry["name"] = str(entry.get("name") or _generated_name(entry))
    return entry


def _directories(entry: dict[str, Any], needs_model: bool, roots: Mapping[str, str]) -> dict[str, str]:
    """Fill in the directories an entry asks for; for those made from a root, how (for messages)."""
    # A disconnected container needs both: its license (per image) and the output its usage records go to.
    wanted = {
        "model_path": needs_model,
        "output_path": bool(entry.pop("output", None)) or bool(entry.get("disconnected")),
        "license_path": bool(entry.pop("license", None)) or bool(entry.get("disconnected")),
    }
    generated = {}
    for key, root_option, _default_root in DIRECTORIES:
        if wanted[key] and not entry.get(key):
            entry[key] = posixpath.join(roots[root_option], entry["name"])
            generated[key] = " (made from %s %s)" % (root_option, roots[root_option])
    return generated


def _automatic_ports(plan: list[dict[str, Any]]) -> list[int]:
    """The automatic port of every entry (see AUTOMATIC_PORT_STRIDE above), whether or not it has an explicit one."""
    bases = [get_kind(entry["kind"]).port for entry in plan]
    documented = {kind.port for kind in KINDS.values()}
    ports, last = [], {}  # last port given per documented port
    for base in bases:
        if base not in last:
            port = base
        elif base == min(documented):
            # Never a port the other documented ports step through (5003, 5013, ...): no automatic clash, ever.
            port = last[base] + 1
            while any(port >= other and (port - other) % AUTOMATIC_PORT_STRIDE == 0 for other in documented - {base}):
                port += 1
        else:
            port = last[base] + AUTOMATIC_PORT_STRIDE
        last[base] = port
        ports.append(port)
    return ports


def _assign_ports(plan: list[dict[str, Any]], places: list[str], problems: list[str]) -> None:
    """Explicit ports as given; every other entry its automatic port (_automatic_ports); clashes are problems.

    An explicit port that takes another entry's port is refused, naming both, instead of moving either.
    """
    automatic_ports = _automatic_ports(plan)
    automatic: set[int] = set()  # indexes into plan
    for index, (entry, where) in enumerate(zip(plan, places, strict=True)):
        port = entry.get("host_port")
        if port in (None, ""):
            entry["host_port"] = automatic_ports[index]
            automatic.add(index)
            continue
        try:
            if isinstance(port, bool) or float(port) != int(port):
                raise ValueError
            port = int(port)
        except (TypeError, ValueError):
            problems.append("%s.port: %r is not a TCP port: give a whole number from 1 to 65535" % (where, port))
            continue
        if not 1 <= port <= 65535:
            problems.append("%s.port: %d is not a TCP port: give a whole number from 1 to 65535" % (where, port))
        entry["host_port"] = port
    active = [
        index for index, entry in enumerate(plan) if entry["state"] != "absent" and isinstance(entry["host_port"], int)
    ]
    for position, index in enumerate(active):
        for earlier in active[:position]:
            first, second = plan[earlier], plan[index]
            if not bindings_clash(
                (first.get("bind_address"), first["host_port"]), (second.get("bind_address"), second["host_port"])
            ):
                continue
            # Name the entry whose explicit port takes the other's (the later one when both are explicit).
            blamed, other = (earlier, index) if index in automatic else (index, earlier)
            problems.append(
                "%s.port: %d is also the %s port of %s: give one of them another port, or each its own bind_address"
                % (
                    places[blamed],
                    plan[blamed]["host_port"],
                    "automatic" if other in automatic else "explicit",
                    places[other],
                )
            )
            break


VIEWS = ("module", "preflight", "reachability", "gateway", "directories", "probe", "names", "images")


def speech_select(plan: Any, view: str) -> list[Any]:
    """One view of a plan made by speech_plan."""
    entries = _as_list(plan, "the plan")
    if view == "module":
        return [{k: v for k, v in entry.items() if k in MODULE_ENTRY_KEYS} for entry in entries]
    active = [entry for entry in entries if entry.get("state", "started") != "absent"]
    if view == "names":
        return [entry["name"] for entry in active]
    if view in ("preflight", "reachability"):
        keys = HOST_CHECK_KEYS if view == "preflight" else REACHABILITY_KEYS
        return [{key: entry[key] for key in keys if entry.get(key) is not None} for entry in active]
    if view == "gateway":
        # The services behind the speech gateway: each started container's client port and its kind's ready path.
        return [
            {"name": entry["name"], "port": entry["host_port"], "ready_path": KINDS[entry["kind"]].ready_path}
            for entry in active
            if entry.get("state", "started") == "started"
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
    if view == "images":
        # The image references the host pulls (a site cache fills exactly these), each once, sorted.
        # Imported here: _reachability brings the registry client, which every other view (the deploy's per-host
        # templating in forked workers) would compile for nothing.
        from ansible_collections.speechops.edge.plugins.module_utils._reachability import resolve_targets

        try:
            targets = resolve_targets([{key: entry.get(key) for key in REACHABILITY_KEYS} for entry in active])
        except CatalogError as exc:
            raise AnsibleFilterError("speech_select: %s" % exc) from exc
        return sorted({target.image for target in targets if target.image})
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
        "license_path": desired.license_path or entry.get("license_path"),
        "disconnected": desired.disconnected,
        "docker_run": _docker_run(desired, entry.get("memory")),
    }
    if desired.disconnected:
        # The one-off license download, by hand (LICENSE_PATH/IMAGE_ID_HEX: the hex of the image's ID).
        record["license_download"] = _license_download_run(desired)
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
    for mount in [*desired.mounts, *desired.license_mounts(LICENSE_PLACEHOLDER)]:
        lines.append(["--volume", "%s:%s:%s" % (mount["source"], mount["target"], mount["mode"])])
    # The environment as the container gets it (run contract and secrets among it), secrets shown as ********.
    for key, value in desired.public_env().items():
        lines.append(["--env", "%s=%s" % (key, value)])
    lines.append([desired.image])
    lines.append(list(desired.public_spec()["args"]))
    return " \\\n    ".join(shlex.join(line) for line in lines if line)


def _license_download_run(desired: Any) -> str:
    """The docker run command line of a disconnected container's license download (Billing and ApiKey shown as
    Microsoft's run contract names them, the key as ********)."""
    public = desired.public_env()
    download_env = {
        key: public.get(key, REDACTED if key == "ApiKey" else value) for key, value in desired.download_env.items()
    }
    lines = [["docker", "run", "--rm", "--volume", "%s:/license:rw" % desired.license_dir(LICENSE_PLACEHOLDER)]]
    for key, value in sorted(download_env.items()):
        lines.append(["--env", "%s=%s" % (key, value)])
    lines.append([desired.image])
    lines.append(list(desired.download_args))
    return " \\\n    ".join(shlex.join(line) for line in lines if line)


MINIMUM_KEY_LENGTH = 32  # an Azure Speech key is 32 hex digits; the gateway stores an unsalted SHA-256 of each key


def speech_access_keys(keys: Any) -> list[dict[str, str]]:
    """The gateway's keys as the hosts store them: each {label, key} becomes {label, sha256}; a key never leaves.

    Every problem is named by the entry's index and label, never by the key.
    """
    problems = []
    result = []
    for index, entry in enumerate(_as_list(keys, "speech_gateway_keys")):
        where = "speech_gateway_keys[%d]" % index
        if not isinstance(entry, Mapping):
            problems.append("%s: must be a dictionary {label: NAME, key: KEY}" % where)
            continue
        label, key = entry.get("label"), entry.get("key")
        if not isinstance(label, str) or not NAME_RE.match(label):
            problems.append("%s.label: %r is not a label of letters, digits, '_', '.', '-'" % (where, label))
            continue
        where = "speech_gateway_keys[%d] (%s)" % (index, label)
        if not isinstance(key, str) or not key:
            problems.append("%s.key: missing: give the client's key (from a vault)" % where)
        elif len(key) < MINIMUM_KEY_LENGTH or not re.match(r"^[!-~]+$", key):
            problems.append(
                "%s.key: ******** is too weak: give at least %d printable characters without spaces, for example "
                "the output of openssl rand -hex 16" % (where, MINIMUM_KEY_LENGTH)
            )
        else:
            result.append({"label": label, "sha256": key_digest(key)})
    if problems:
        raise AnsibleFilterError("invalid gateway keys: " + "; ".join(problems))
    return result


class FilterModule:
    """speechops.edge speech container filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "speech_plan": speech_plan,
            "speech_select": speech_select,
            "speech_record": speech_record,
            "speech_access_keys": speech_access_keys,
        }
