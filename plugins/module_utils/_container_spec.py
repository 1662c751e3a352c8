# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate a desired speech container and render it into the exact Docker settings it runs with.

Validation is pure (no host access) and collects every problem with its field path, so a module can
fail with one message before anything changes. The rendered spec is hashed into a label: a container
whose label matches the desired hash is unchanged, with no field-by-field comparison against Docker's
normalised state.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    CONTAINER_GID,
    CONTAINER_UID,
    MODELS_MOUNT,
    OUTPUT_MOUNT,
    STATUS_PATH,
    CatalogError,
    format_gib,
    get_kind,
    image_reference,
    is_multilingual_voice,
    parse_memory,
    ssml_voice_name,
)
from ansible_collections.speechops.edge.plugins.module_utils._redact import REDACTED

LABEL_PREFIX = "io.speechops.edge."
LABEL_MANAGED = LABEL_PREFIX + "managed"
LABEL_NAME = LABEL_PREFIX + "name"
LABEL_HASH = LABEL_PREFIX + "config-hash"
LABEL_SPEC = LABEL_PREFIX + "spec"
PREVIOUS_SUFFIX = "-speechops-previous"
DEFAULT_MODELS_ROOT = "/var/lib/speechops/models"

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")
LOG_LEVELS = ("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None")
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
STATES = ("started", "stopped", "absent")
# GPU request of kinds that need one: "all" is docker run --gpus all (speech-container-ft.md's command); "none"
# runs without a GPU, for labs and CPU stand-ins only (the real image does not start without one).
GPU_CHOICES = ("all", "none")
# Docker SDK DeviceRequest(count=-1, capabilities=[["gpu"]]): what docker run --gpus all sends (API 1.40+).
ALL_GPUS_REQUEST = {"count": -1, "capabilities": [["gpu"]]}
# Documented optional settings that may be passed through as they are.
EXTRA_SETTINGS = ("Fluentd:Host", "Fluentd:Port", "ApplicationInsights:InstrumentationKey")
SECRET_EXTRA_SETTINGS = ("ApplicationInsights:InstrumentationKey",)

# Options an entry may inherit from the module level.
INHERITED = ("eula", "billing", "api_key", "registry", "bind_address", "allow_below_minimum", "models_root")


class SpecError(ValueError):
    """All problems of a desired set, one per line item."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class DesiredContainer:
    name: str
    kind: str
    state: str
    image: str
    version: str | None
    locale: str | None
    voice: str | None
    host_port: int
    container_port: int
    bind_address: str
    cpus: float
    memory_bytes: int
    args: list[str]
    env: dict[str, str]
    mounts: list[dict[str, str]]
    restart_policy: str
    log_max_size: str
    log_max_files: int
    stop_timeout: int
    ready_timeout: int
    pids_limit: int
    model_path: str | None
    output_path: str | None
    secrets: list[str] = field(default_factory=list)
    # The SSML voice name in Microsoft's casing (text-to-speech kinds), resolved once from the voice as given.
    ssml_voice: str | None = None
    # "all" or "none" for kinds that need a GPU, "" for the others.
    gpus: str = ""

    @property
    def probe_host(self) -> str:
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "") else self.bind_address

    @property
    def base_url(self) -> str:
        host = self.probe_host
        return "http://%s:%d" % ("[%s]" % host if ":" in host else host, self.host_port)

    def endpoints(self) -> dict[str, Any]:
        kind = get_kind(self.kind)
        result: dict[str, Any] = {
            "ready": self.base_url + kind.ready_path,
            "status": self.base_url + STATUS_PATH if kind.has_status else None,
            "query": [
                ("ws" + self.base_url[4:] if kind.is_speech_to_text else self.base_url) + path
                for path in kind.query_paths
            ],
        }
        if self.ssml_voice:
            result["ssml_voice"] = self.ssml_voice
        return result

    def public_spec(self) -> dict[str, Any]:
        """The spec with secrets replaced: safe for diffs, labels and results."""
        secrets = set(self.secrets)

        def hide(value: str) -> str:
            key, sep, setting = value.partition("=")
            return key + sep + REDACTED if sep and setting in secrets else value

        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "image": self.image,
            "host_port": self.host_port,
            "bind_address": self.bind_address,
            "cpus": self.cpus,
            "memory": format_gib(self.memory_bytes),
            "args": [hide(arg) for arg in self.args],
            "env": {key: (REDACTED if value in secrets else value) for key, value in sorted(self.env.items())},
            "mounts": self.mounts,
            "restart_policy": self.restart_policy,
            "log": {"max_size": self.log_max_size, "max_files": self.log_max_files},
            "stop_timeout": self.stop_timeout,
            "pids_limit": self.pids_limit,
            # Only GPU kinds carry the key, so the config hash of every other container stays as it was.
            **({"gpus": self.gpus} if self.gpus else {}),
        }

    def config_hash(self, image_id: str) -> str:
        """Hash of everything the container runs with, secrets included (a rotated key is a change)."""
        material = dict(self.public_spec(), args=self.args, env=self.env, image_id=image_id)
        material.pop("state")
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def labels(self, image_id: str) -> dict[str, str]:
        labels = {
            LABEL_MANAGED: "true",
            LABEL_NAME: self.name,
            LABEL_HASH: self.config_hash(image_id),
            LABEL_SPEC: json.dumps(self.public_spec(), sort_keys=True),
            LABEL_PREFIX + "kind": self.kind,
            LABEL_PREFIX + "host-port": str(self.host_port),
        }
        for key in ("version", "locale", "voice", "model_path", "output_path"):
            value = getattr(self, key)
            if value:
                labels[LABEL_PREFIX + key.replace("_", "-")] = value
        return labels

    def create_arguments(self, client: Any, image_id: str) -> dict[str, Any]:
        """Keyword arguments for APIClient.create_container: the safe defaults live here."""
        port = "%d/tcp" % self.container_port
        host_config = client.create_host_config(
            port_bindings={port: (self.bind_address, self.host_port)},
            mem_limit=self.memory_bytes,
            memswap_limit=self.memory_bytes,
            nano_cpus=int(self.cpus * 1e9),
            pids_limit=self.pids_limit,
            security_opt=["no-new-privileges:true"],
            cap_drop=["ALL"],
            privileged=False,
            log_config={
                "type": "json-file",
                "config": {"max-size": self.log_max_size, "max-file": str(self.log_max_files)},
            },
            restart_policy={"Name": self.restart_policy, "MaximumRetryCount": 0},
            binds={mount["source"]: {"bind": mount["target"], "mode": mount["mode"]} for mount in self.mounts},
            **({"device_requests": [dict(ALL_GPUS_REQUEST)]} if self.gpus == "all" else {}),
        )
        return dict(
            image=self.image,
            command=list(self.args),
            name=self.name,
            environment=dict(self.env),
            labels=self.labels(image_id),
            ports=[port],
            host_config=host_config,
            stop_timeout=self.stop_timeout,
            detach=True,
        )


class _ProblemList(list):
    """Problems of one entry, each prefixed with the entry's field path."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def add(self, field_name: str, message: str) -> None:
        self.append("%s.%s: %s" % (self.where, field_name, message))


def _ports_clash(first: tuple[str, int], second: tuple[str, int]) -> bool:
    """Two bindings of one port clash on the same address, or when either takes every address."""
    return first[1] == second[1] and (first[0] == second[0] or "0.0.0.0" in (first[0], second[0]))


def _https_url(value: Any) -> bool:
    parsed = urlparse(str(value))
    return parsed.scheme == "https" and bool(parsed.hostname)


def _entry_value(entry: Mapping[str, Any], defaults: Mapping[str, Any], key: str) -> Any:
    value = entry.get(key)
    return defaults.get(key) if value is None else value


def build_desired(entries: list[Mapping[str, Any]], defaults: Mapping[str, Any]) -> list[DesiredContainer]:
    """Validate every entry and render it; raise SpecError listing every problem of every entry."""
    problems: list[str] = []
    desired: list[DesiredContainer] = []
    seen_names: dict[str, int] = {}
    seen_ports: dict[tuple[str, int], str] = {}
    for index, entry in enumerate(entries):
        where = "containers[%d]" % index
        if entry.get("name"):
            where += " (%s)" % entry["name"]
        entry_problems = _ProblemList(where)
        problem = entry_problems.add

        container = _build_one(entry, defaults, problem)
        if container is not None and not entry_problems:
            if container.name in seen_names:
                problem(
                    "name",
                    "%r is used by containers[%d] too: names must be unique"
                    % (container.name, seen_names[container.name]),
                )
            seen_names[container.name] = index
            if container.state != "absent":
                clashes = [
                    owner
                    for (address, port), owner in seen_ports.items()
                    if _ports_clash((address, port), (container.bind_address, container.host_port))
                ]
                if clashes:
                    problem(
                        "host_port",
                        "%d is planned for %s too: give each container its own host port"
                        % (container.host_port, clashes[0]),
                    )
                seen_ports[(container.bind_address, container.host_port)] = container.name
        problems.extend(entry_problems)
        if container is not None and not entry_problems:
            desired.append(container)
    if problems:
        raise SpecError(problems)
    return desired


def _build_one(entry: Mapping[str, Any], defaults: Mapping[str, Any], problem: Any) -> DesiredContainer | None:
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith(PREVIOUS_SUFFIX):
        problem(
            "name",
            "%r is not a valid container name: use letters, digits, '_', '.', '-' (at most 63, not ending in %s)"
            % (name, PREVIOUS_SUFFIX),
        )
        return None
    try:
        kind = get_kind(entry.get("kind"))
    except CatalogError as exc:
        problem("kind", str(exc))
        return None
    state = entry.get("state") or "started"
    if state not in STATES:
        problem("state", "%r is not one of %s" % (state, ", ".join(STATES)))

    image = entry.get("image")
    version, locale, voice = entry.get("version"), entry.get("locale"), entry.get("voice")
    sizing_voice = voice
    ssml_voice = None
    registry = _entry_value(entry, defaults, "registry")
    if image:
        if any((version, locale, voice)):
            problem("image", "give either image or version/locale/voice, not both")
    else:
        if not version:
            problem(
                "version",
                "missing: set a pinned version such as %s (tag format %s)" % (kind.latest_version, kind.tag_format),
            )
        else:
            try:
                image = image_reference(
                    kind.name,
                    version,
                    locale,
                    voice,
                    registry=registry or None,
                    preview=bool(entry.get("preview")),
                    containerpreview=bool(entry.get("containerpreview")),
                )
                if kind.is_text_to_speech and locale and voice:
                    ssml_voice = ssml_voice_name(locale, voice)
                if locale:
                    locale = locale.lower()
                if voice:
                    voice = voice.lower()
            except CatalogError as exc:
                problem("version/locale/voice", str(exc))

    secrets: list[str] = []
    args: list[str] = []
    env: dict[str, str] = dict(kind.default_env)
    gpus = entry.get("gpus")
    if gpus is not None and gpus not in GPU_CHOICES:
        problem("gpus", "%r is not one of %s" % (gpus, ", ".join(GPU_CHOICES)))
    elif not kind.needs_gpu and gpus == "all":
        problem("gpus", "%s does not use a GPU: remove gpus (only fast-transcription requests one)" % kind.name)
    gpus = (gpus or "all") if kind.needs_gpu else ""
    eula = _entry_value(entry, defaults, "eula")
    if eula != "accept":
        problem(
            "eula",
            "%r is not 'accept': read Microsoft's license terms, then set eula: accept (it is never defaulted)"
            % (eula,),
        )
    billing = _entry_value(entry, defaults, "billing")
    if not _https_url(billing):
        problem(
            "billing",
            "%r is not an https URL: set the endpoint URI of your Speech resource, "
            "for example https://westeurope.api.cognitive.microsoft.com/" % (billing,),
        )
    api_key = _entry_value(entry, defaults, "api_key")
    if not api_key or not str(api_key).strip():
        problem("api_key", "is empty: set the key of the Speech resource named by billing (keep it in ansible-vault)")
    else:
        secrets.append(str(api_key))
    args += ["Eula=%s" % eula, "Billing=%s" % billing, "ApiKey=%s" % api_key]

    models_root = _entry_value(entry, defaults, "models_root") or DEFAULT_MODELS_ROOT
    model_path = entry.get("model_path")
    model_id = entry.get("model_id")
    mounts: list[dict[str, str]] = []
    if kind.needs_model:
        if not model_id:
            problem("model_id", "missing: %s needs ModelId (the id of your custom model)" % kind.name)
        elif not re.match(r"^[A-Za-z0-9-]{1,64}$", str(model_id)):
            problem("model_id", "%r is not a model id (letters, digits and '-')" % (model_id,))
        else:
            args.append("ModelId=%s" % model_id)
        model_path = model_path or "%s/%s" % (models_root.rstrip("/"), name)
        if not str(model_path).startswith("/"):
            problem("model_path", "%r must be an absolute host path" % (model_path,))
        mounts.append({"source": model_path, "target": MODELS_MOUNT, "mode": "rw"})
    else:
        if model_id or model_path:
            problem(
                "model_id" if model_id else "model_path",
                "%s images carry their own model in %s: remove model_id/model_path (a volume there shadows it)"
                % (kind.name, MODELS_MOUNT),
            )
        model_path = None

    output_path = entry.get("output_path")
    if output_path:
        if not str(output_path).startswith("/"):
            problem("output_path", "%r must be an absolute host path" % (output_path,))
        mounts.append({"source": output_path, "target": OUTPUT_MOUNT, "mode": "rw"})
        args.append("Mounts:Output=%s" % OUTPUT_MOUNT)
    if entry.get("disk_logging"):
        if not output_path:
            problem(
                "disk_logging", "needs output_path: the container fails at start when disk logging has no output mount"
            )
        args.append("Logging:Disk:Format=json")
    log_level = entry.get("log_level")
    if log_level:
        if log_level not in LOG_LEVELS:
            problem("log_level", "%r is not one of %s" % (log_level, ", ".join(LOG_LEVELS)))
        args.append("Logging:Console:LogLevel:Default=%s" % log_level)
    http_proxy = entry.get("http_proxy")
    if http_proxy:
        if urlparse(str(http_proxy)).scheme not in ("http", "https"):
            problem("http_proxy", "%r is not a proxy URL like http://proxy.example.com:3128" % (http_proxy,))
        args.append("HTTP_PROXY=%s" % http_proxy)
    proxy_creds = entry.get("http_proxy_creds")
    if proxy_creds:
        if not http_proxy:
            problem("http_proxy_creds", "needs http_proxy")
        elif ":" not in str(proxy_creds):
            problem("http_proxy_creds", "must be user:password")
        secrets.append(str(proxy_creds))
        args.append("HTTP_PROXY_CREDS=%s" % proxy_creds)
    for key, value in sorted((entry.get("settings") or {}).items()):
        if key not in EXTRA_SETTINGS:
            problem(
                "settings", "%r is not a documented optional setting (valid: %s)" % (key, ", ".join(EXTRA_SETTINGS))
            )
            continue
        if key in SECRET_EXTRA_SETTINGS:
            secrets.append(str(value))
        args.append("%s=%s" % (key, value))
    decoders = entry.get("decoder_max_count")
    if decoders is not None:
        if not kind.decoder_env:
            problem(
                "decoder_max_count",
                "%s has no decoder count setting (speech-to-text kinds and fast-transcription have); remove it"
                % kind.name,
            )
        elif int(decoders) < 1:
            problem("decoder_max_count", "%r must be 1 or more" % (decoders,))
        else:
            env[kind.decoder_env] = str(decoders)

    minimum, _recommended, _headroom = kind.sizing(bool(entry.get("containerpreview")), voice=sizing_voice)
    allow_small = bool(_entry_value(entry, defaults, "allow_below_minimum"))
    cpus = entry.get("cpus")
    cpus = float(minimum.cpus) if cpus is None else cpus
    try:
        cpus = float(cpus)
        if cpus <= 0:
            raise ValueError
    except (TypeError, ValueError):
        problem("cpus", "%r is not a positive number of CPUs (for example 4 or 0.5)" % (cpus,))
        cpus = float(minimum.cpus)
    if cpus < minimum.cpus and not allow_small:
        problem(
            "cpus",
            "%g is below the %s minimum of %g%s: raise it, or set allow_below_minimum: true (tests, labs)"
            % (cpus, kind.name, minimum.cpus, _voice_note(kind, sizing_voice)),
        )
    memory = entry.get("memory")
    try:
        memory_bytes = parse_memory(memory) if memory is not None else minimum.memory_bytes
    except CatalogError as exc:
        problem("memory", str(exc))
        memory_bytes = minimum.memory_bytes
    if memory_bytes < minimum.memory_bytes and not allow_small:
        problem(
            "memory",
            "%r is below the %s minimum of %s%s: raise it, or set allow_below_minimum: true (tests, labs)"
            % (memory, kind.name, format_gib(minimum.memory_bytes), _voice_note(kind, sizing_voice)),
        )

    host_port = entry.get("host_port") or kind.port
    if not isinstance(host_port, int) or not 1 <= host_port <= 65535:
        problem("host_port", "%r is not a TCP port (1-65535)" % (host_port,))
        host_port = kind.port
    bind_address = _entry_value(entry, defaults, "bind_address") or "0.0.0.0"
    restart_policy = entry.get("restart_policy") or "unless-stopped"
    if restart_policy not in RESTART_POLICIES:
        problem("restart_policy", "%r is not one of %s" % (restart_policy, ", ".join(RESTART_POLICIES)))
    log_max_size = str(entry.get("log_max_size") or "10m")
    if not re.match(r"^[0-9]+[kmg]$", log_max_size):
        problem("log_max_size", "%r is not a size like 10m" % log_max_size)
    return DesiredContainer(
        name=name,
        kind=kind.name,
        state=state,
        image=str(image or ""),
        version=version,
        locale=locale,
        voice=voice,
        host_port=host_port,
        container_port=kind.port,
        bind_address=bind_address,
        cpus=cpus,
        memory_bytes=memory_bytes,
        args=args,
        env=env,
        mounts=mounts,
        restart_policy=restart_policy,
        log_max_size=log_max_size,
        log_max_files=int(entry.get("log_max_files") or 3),
        stop_timeout=int(entry.get("stop_timeout") or 30),
        ready_timeout=int(entry.get("ready_timeout") or 600),
        pids_limit=int(entry.get("pids_limit") or 4096),
        model_path=model_path,
        output_path=output_path,
        secrets=secrets,
        ssml_voice=ssml_voice,
        gpus=gpus,
    )


def _voice_note(kind: Any, voice: str | None) -> str:
    """Why the minimum is higher than the kind's own, when a multilingual voice raised it."""
    if kind.multilingual_voice_minimum is not None and voice and is_multilingual_voice(voice):
        return " for multilingual voices"
    return ""


def owned_directories(desired: list[DesiredContainer]) -> list[tuple[str, int, int]]:
    """Host directories the containers write to, with the owner the non-root container user needs."""
    return [
        (mount["source"], CONTAINER_UID, CONTAINER_GID)
        for item in desired
        if item.state != "absent"
        for mount in item.mounts
    ]
