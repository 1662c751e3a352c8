# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate a desired speech container and render it into the exact Docker settings it runs with.

Validation is pure (no host access) and collects every problem with its field path, so a module can
fail with one message before anything changes. The rendered spec is hashed into a label: a container
whose label matches the desired hash is unchanged, with no field-by-field comparison against Docker's
normalised state.

Secrets reach the container through its environment, never its command line: /proc/PID/cmdline is readable
by every local user, /proc/PID/environ only by the process's own user and root.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    CONTAINER_GID,
    CONTAINER_UID,
    LICENSE_MOUNT,
    MODEL_GROUP_RE,
    MODELS_MOUNT,
    OUTPUT_MOUNT,
    STATUS_PATH,
    CatalogError,
    format_gib,
    get_kind,
    image_reference,
    is_multilingual_voice,
    normalize_locale,
    normalize_voice,
    parse_memory,
    ssml_voice_name,
    validate_version,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import slot_ports
from ansible_collections.speechops.edge.plugins.module_utils._host_reads import probe_base_url
from ansible_collections.speechops.edge.plugins.module_utils._redact import (
    REDACTED,
    is_secret_setting,
    public_setting,
    url_password,
)
from ansible_collections.speechops.edge.plugins.module_utils._schema import (
    CONTROL_CHARACTER_RE,
    MODULE_ENTRY_KEYS,
    MODULE_OPTIONS,
    NAME_RE,
    OPTIONS,
    default_of,
    entry_place,
    kind_problems,
    list_problem,
    shape_problems,
    shown,
    value_problem,
)
from ansible_collections.speechops.edge.plugins.module_utils._schema import INHERITED as INHERITED_OPTIONS

LABEL_PREFIX = "io.speechops.edge."
LABEL_MANAGED = LABEL_PREFIX + "managed"
LABEL_NAME = LABEL_PREFIX + "name"
LABEL_HASH = LABEL_PREFIX + "config-hash"
LABEL_SPEC = LABEL_PREFIX + "spec"
# The gateway slot (loopback port) a container behind the gateway is published on; not part of its config hash.
LABEL_SLOT = LABEL_PREFIX + "slot"
# The license directory (parent of the per-image ones) of a disconnected container; absent on connected ones.
LABEL_LICENSE_PATH = LABEL_PREFIX + "license-path"
# The one-off license download container of a disconnected container (its value: the container's name).
LABEL_LICENSE_DOWNLOAD = LABEL_PREFIX + "license-download"
PREVIOUS_SUFFIX = "-speechops-previous"
DEFAULT_MODELS_ROOT = "/var/lib/speechops/models"
DEFAULT_OUTPUT_ROOT = "/var/lib/speechops/output"
DEFAULT_LICENSE_ROOT = "/var/lib/speechops/license"

# A model id as Microsoft issues them: a GUID (8-4-4-4-12 hex digits). speech-container-cstt.md (azure-ai-docs,
# articles/ai-services/speech-service) lists base models as "Id: a3d8aab9-6f36-44cd-9904-b37389ce2bfa" and asks
# for one of them (or a custom model's id, the same form) as ModelId.
MODEL_ID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
# GPU request of kinds that need one ("gpus" in _schema): "all" is docker run --gpus all (speech-container-ft.md's
# command); "none" runs without a GPU, for labs and CPU stand-ins only (the real image does not start without one).
# Docker SDK DeviceRequest(count=-1, capabilities=[["gpu"]]): what docker run --gpus all sends (API 1.40+).
ALL_GPUS_REQUEST = {"count": -1, "capabilities": [["gpu"]]}
# Documented optional settings that may be passed through as they are.
EXTRA_SETTINGS = ("Fluentd:Host", "Fluentd:Port", "ApplicationInsights:InstrumentationKey")

# Options an entry may inherit from the module level, and the module's parent of default model directories.
INHERITED = (*INHERITED_OPTIONS, "models_root", "output_root", "license_root")
# A disconnected container's license directory on the host is LICENSE_PATH/<hex of the image ID>: Microsoft binds
# a license to the kind and the image, so every image has its own, and an image change needs a new download.
# The one-off download container writes into LICENSE_PATH/<hex>.partial, renamed once it succeeded.
LICENSE_PARTIAL_SUFFIX = ".partial"
LICENSE_DIR_RE = re.compile(r"^[0-9a-f]{64}(%s)?$" % re.escape(LICENSE_PARTIAL_SUFFIX))
# The settings of the one-off license download (speech-container-howto.md "Disconnected containers").
DOWNLOAD_LICENSE_ARGS = ("DownloadLicense=True", "Mounts:License=%s" % LICENSE_MOUNT)
# Settings a disconnected container must not run with: it reports usage to no one, and the license replaces them.
CONNECTED_ONLY_SETTINGS = ("Billing", "ApiKey")

# The run contract and every secret setting go to the container as environment variables, the way Microsoft's
# Docker Compose recipe does (MicrosoftDocs/azure-ai-docs, articles/ai-services/containers/docker-compose-recipe.md:
# "environment: eula: accept, billing: ..., apikey: ...", nested settings as FormRecognizer__ComputerVisionApiKey).
# The containers read settings ASP.NET Core style: names are case-insensitive and "__" stands for ":" in a
# variable name. Other settings stay arguments, as Microsoft's docker run examples write them.
ENVIRONMENT_SETTINGS = ("Eula", "Billing", "ApiKey")
# Wildcard bind addresses: every IPv4 address, every IPv6 (and, dual-stack, IPv4) address.
WILDCARD_ADDRESSES = ("0.0.0.0", "::")
# A container's secrets enter its config hash only as salted, stretched digests (the hash label is readable by
# whoever can list containers); enough rounds to make guessing a weak proxy password slow, few enough to cost
# milliseconds per container on the unchanged path.
SECRET_DIGEST_ROUNDS = 20_000

# Host directories a container must never own: chowning them to the containers' user would hand it the system.
# Refused: "/" and every directory directly under it (/var, /home, /tmp, /opt, ...) itself, the directories
# directly under /var and /home (/var/lib, a user's home) themselves, and everything in the trees below.
SYSTEM_TREES = (
    "/root",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/boot",
    "/dev",
    "/proc",
    "/sys",
    "/run",
    "/var/run",  # -> /run on current distributions
    "/var/lock",  # -> /run/lock
    "/var/lib/docker",  # the engine's own state
)
SYSTEM_TREE_PREFIX_RE = re.compile(r"^/lib[^/]*(/|$)")  # /lib, /lib32, /lib64, /libx32
SHARED_PARENTS = ("/var", "/home")


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
    # Behind the host's speech gateway: published on loopback, on one of the two slots of host_port.
    gateway: bool = False
    # Disconnected: served from the license in license_path/<image hex> (mounted at /license), no Billing/ApiKey.
    disconnected: bool = False
    license_path: str | None = None
    # The environment and arguments of the one-off license download (Billing and ApiKey among them).
    download_env: dict[str, str] = field(default_factory=dict)
    download_args: list[str] = field(default_factory=list)

    def license_dir(self, image_id: str) -> str | None:
        """The host directory of this container's license for an image (None: not disconnected)."""
        if not (self.disconnected and self.license_path):
            return None
        return license_dir(self.license_path, image_id)

    def license_mounts(self, image_id: str) -> list[dict[str, str]]:
        """The license mount of a disconnected container: per image, so it is not part of `mounts`."""
        directory = self.license_dir(image_id)
        return [{"source": directory, "target": LICENSE_MOUNT, "mode": "rw"}] if directory else []

    @property
    def slots(self) -> tuple[int, ...]:
        return slot_ports(self.host_port) if self.gateway else ()

    def published(self, slot: int | None = None) -> tuple[str, int]:
        """(address, port) the container is published on: host_port, or a loopback slot behind the gateway."""
        if self.gateway:
            return ("127.0.0.1", slot or self.slots[0])
        return (self.bind_address, self.host_port)

    def url(self, slot: int | None = None) -> str:
        """Where the container itself answers on its host (on a slot: directly, not through the gateway)."""
        return probe_base_url(*self.published(slot))

    @property
    def base_url(self) -> str:
        return self.url()

    def endpoints(self) -> dict[str, Any]:
        """The URLs clients use: the container's own, or the gateway's (TLS, on host_port) in front of it."""
        kind = get_kind(self.kind)
        base = probe_base_url(self.bind_address, self.host_port) if self.gateway else self.base_url
        if self.gateway:
            base = "https" + base[4:]
        result: dict[str, Any] = {
            "ready": base + kind.ready_path,
            "status": base + STATUS_PATH if kind.has_status else None,
            "query": [("ws" + base[4:] if kind.is_speech_to_text else base) + path for path in kind.query_paths],
        }
        if self.ssml_voice:
            result["ssml_voice"] = self.ssml_voice
        return result

    def public_env(self) -> dict[str, str]:
        """The environment with every secret replaced (proxy URLs keep all but their password)."""
        secrets = set(self.secrets)
        return {key: public_setting(key, value, secrets) for key, value in sorted(self.env.items())}

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
            "env": self.public_env(),
            "mounts": self.mounts,
            "restart_policy": self.restart_policy,
            "log": {"max_size": self.log_max_size, "max_files": self.log_max_files},
            "stop_timeout": self.stop_timeout,
            "pids_limit": self.pids_limit,
            # Only GPU kinds carry the key, so the config hash of every other container stays as it was.
            **({"gpus": self.gpus} if self.gpus else {}),
            # Likewise only containers behind the gateway (either slot: the hash does not change with the slot).
            **({"gateway": True} if self.gateway else {}),
            # Likewise only disconnected containers: switching to or from disconnected replaces the container.
            **({"disconnected": True, "license_path": self.license_path} if self.disconnected else {}),
        }

    def config_hash(self, image_id: str) -> str:
        """Hash of everything the container runs with: a rotated key is a change, yet no secret enters it in clear."""
        public_env = self.public_env()
        secret_digests = {
            key: _secret_digest(self.name, key, value)
            for key, value in sorted(self.env.items())
            if public_env[key] != value
        }
        material = dict(self.public_spec(), args=self.args, secret_digests=secret_digests, image_id=image_id)
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
        if self.disconnected and self.license_path:
            labels[LABEL_LICENSE_PATH] = self.license_path
        return labels

    def limits(self) -> dict[str, Any]:
        """Limits and hardening of every container of this entry (the serving one and its license download)."""
        return dict(
            mem_limit=self.memory_bytes,
            memswap_limit=self.memory_bytes,
            nano_cpus=int(self.cpus * 1e9),
            pids_limit=self.pids_limit,
            security_opt=["no-new-privileges:true"],
            cap_drop=["ALL"],
            privileged=False,
        )

    def create_arguments(self, client: Any, image_id: str, slot: int | None = None) -> dict[str, Any]:
        """Keyword arguments for APIClient.create_container: the safe defaults live here."""
        port = "%d/tcp" % self.container_port
        host_config = client.create_host_config(
            port_bindings={port: self.published(slot)},
            **self.limits(),
            log_config={
                "type": "json-file",
                "config": {"max-size": self.log_max_size, "max-file": str(self.log_max_files)},
            },
            restart_policy={"Name": self.restart_policy, "MaximumRetryCount": 0},
            binds={
                mount["source"]: {"bind": mount["target"], "mode": mount["mode"]}
                for mount in [*self.mounts, *self.license_mounts(image_id)]
            },
            **({"device_requests": [dict(ALL_GPUS_REQUEST)]} if self.gpus == "all" else {}),
        )
        return dict(
            image=self.image,
            command=list(self.args),
            name=self.name,
            environment=dict(self.env),
            labels=dict(self.labels(image_id), **({LABEL_SLOT: str(self.published(slot)[1])} if self.gateway else {})),
            ports=[port],
            host_config=host_config,
            stop_timeout=self.stop_timeout,
            detach=True,
        )

    def download_arguments(self, client: Any, image_id: str, name: str, partial: str) -> dict[str, Any]:
        """Keyword arguments for create_container of the one-off license download into the host directory partial.

        Same image and user as the serving container, the same limits and hardening, no published port; Billing and
        ApiKey in its environment (never on its command line).
        """
        host_config = client.create_host_config(
            **self.limits(),
            log_config={"type": "json-file", "config": {"max-size": self.log_max_size, "max-file": "1"}},
            restart_policy={"Name": "no", "MaximumRetryCount": 0},
            binds={partial: {"bind": LICENSE_MOUNT, "mode": "rw"}},
            **({"device_requests": [dict(ALL_GPUS_REQUEST)]} if self.gpus == "all" else {}),
        )
        return dict(
            image=self.image,
            command=list(self.download_args),
            name=name,
            environment=dict(self.download_env),
            labels={LABEL_LICENSE_DOWNLOAD: self.name, LABEL_PREFIX + "image-id": image_id},
            host_config=host_config,
            detach=True,
        )


def license_dir(license_path: str, image_id: str) -> str:
    """LICENSE_PATH/<hex of the image ID> (sha256:abc... -> abc...)."""
    return posixpath.join(str(license_path), str(image_id).rsplit(":", maxsplit=1)[-1])


class _ProblemList(list):
    """Problems of one entry, each prefixed with the entry's field path."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def add(self, field_name: str, message: str) -> None:
        self.append("%s.%s: %s" % (self.where, field_name, message))


def bindings_clash(first: tuple[str | None, int], second: tuple[str | None, int]) -> bool:
    """Two bindings of one port clash on the same address, or when either takes every address.

    An address of None is a default not known here (the fleet's bind address): it may take every address.
    """
    (first_address, first_port), (second_address, second_port) = first, second
    if first_port != second_port:
        return False
    addresses = (first_address, second_address)
    return first_address == second_address or None in addresses or any(a in WILDCARD_ADDRESSES for a in addresses)


def address_problem(value: Any) -> str | None:
    """Why value cannot be a bind address, or None. Only literal IP addresses: a name would be resolved by Docker."""
    fix = (
        "give an IP address of this host (for example 192.0.2.10 or fd00::10), or 0.0.0.0 / :: for every address; "
        "host names are not accepted"
    )
    if not isinstance(value, str):
        return "%r is not an IP address: %s" % (value, fix)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "%r is not an IP address: %s" % (value, fix)
    if "%" in value:
        return "%r carries an IPv6 zone, which Docker cannot publish on: %s" % (value, fix)
    return None


def host_path_problem(value: Any, example: str) -> str | None:
    """Why value cannot be a host directory the containers' user owns, or None. example: a good path for the fix."""
    fix = "give a directory of its own, for example %s" % example
    if not isinstance(value, str) or not value:
        return "%r is not a host path: %s" % (value, fix)
    if CONTROL_CHARACTER_RE.search(value):
        return "%r contains a control character: %s" % (value, fix)
    if not value.startswith("/"):
        return "%r is not an absolute host path: %s" % (value, fix)
    parts = [part for part in value.split("/") if part]
    if ".." in parts:
        return "%r has a '..' component: %s" % (value, fix)
    if ":" in value:
        return "%r contains ':', which Docker's volume syntax reads as a separator: %s" % (value, fix)
    path = "/" + "/".join(parts)
    in_system_tree = SYSTEM_TREE_PREFIX_RE.match(path) or any(
        path == tree or path.startswith(tree + "/") for tree in SYSTEM_TREES
    )
    shared = len(parts) <= 1 or (len(parts) == 2 and "/" + parts[0] in SHARED_PARENTS)
    if in_system_tree or shared:
        return "%r would hand a system directory to the containers' user (uid %d): %s" % (value, CONTAINER_UID, fix)
    return None


def _setting_in_environment(setting: str, value: str) -> bool:
    return setting in ENVIRONMENT_SETTINGS or is_secret_setting(setting) or url_password(value) is not None


@functools.lru_cache(maxsize=256)
def _secret_digest(container: str, name: str, value: str) -> str:
    """A salted, stretched digest of one secret: it changes with the secret, and does not give the secret away."""
    salt = ("speechops.edge config-hash %s %s" % (container, name)).encode()
    return hashlib.pbkdf2_hmac("sha256", value.encode(), salt, SECRET_DIGEST_ROUNDS).hex()


def _billing_problem(value: Any) -> str | None:
    """Why value cannot be the Billing endpoint URI, or None."""
    fix = "set the endpoint URI of your Speech resource, for example https://westeurope.api.cognitive.microsoft.com/"
    if value in (None, ""):
        return "missing: %s (speech_billing in the role)" % fix
    given = shown(public_setting("Billing", value, set()) if isinstance(value, str) else value)
    if not isinstance(value, str):
        return "%s is not an https URL: %s" % (given, fix)
    if CONTROL_CHARACTER_RE.search(value) or re.search(r"\s", value):
        return "%s contains a space or a control character: remove it; %s" % (given, fix)
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname:
        return "%s is not an https URL: %s" % (given, fix)
    return None


def _eula_problem(value: Any) -> str | None:
    fix = "read Microsoft's license terms, then set eula: accept (speech_eula in the role); it is never defaulted"
    if value in (None, ""):
        return "missing: %s" % fix
    if value != "accept":
        return "%s is not 'accept': %s" % (shown(value), fix)
    return None


def _entry_value(entry: Mapping[str, Any], defaults: Mapping[str, Any], key: str) -> Any:
    value = entry.get(key)
    return defaults.get(key) if value is None else value


def _option_value(entry: Mapping[str, Any], key: str) -> Any:
    """The entry's value of an option, or the schema's default."""
    value = entry.get(key)
    return default_of(key) if value is None else value


def _flag(value: Any) -> bool:
    """A bool option as given (true, 'yes', 'on', ...), as Ansible converts it."""
    return bool(boolean(value, strict=False)) if value is not None else False


def validate_entry(
    entry: Any,
    defaults: Mapping[str, Any],
    where: str,
    keys: tuple[str, ...] = MODULE_ENTRY_KEYS,
    null_is_unset: bool = False,
) -> tuple[list[str], DesiredContainer | None]:
    """The one validator of a container entry, for the plan filter (controller) and the module (host).

    Every problem with its field path, the value as given (secrets as ********) and the fix; the rendered
    container when there is none. keys: the keys an entry may have (default: the module's); null_is_unset: the
    entry comes from Ansible's conversion, where every option not given is None.
    """
    found = shape_problems(entry, where, keys, null_is_unset)
    if found:
        return found, None
    found = kind_problems(entry, where)
    entry_problems = _ProblemList(where)
    container = _build_one(entry, defaults, entry_problems.add)
    found.extend(entry_problems)
    return found, (container if not found else None)


def defaults_problems(params: Mapping[str, Any]) -> list[str]:
    """Problems of the module-level options (inherited defaults and the module's own), before any conversion."""
    found = []
    for option in (*(OPTIONS[name] for name in INHERITED_OPTIONS), *MODULE_OPTIONS):
        value = params.get(option.name)
        if value is not None:  # a module-level null means "not given", as Ansible reads it
            problem = value_problem(option, value)
            if problem:
                found.append("%s: %s" % (option.name, problem))
    return found


def build_desired(
    entries: list[Mapping[str, Any]], defaults: Mapping[str, Any], gateway: bool = False
) -> list[DesiredContainer]:
    """Validate every entry and render it; raise SpecError listing every problem of every entry."""
    problems, desired = _check_containers(entries, defaults, null_is_unset=True)
    if problems:
        raise SpecError(problems)
    for item in desired:
        item.gateway = gateway
    return desired


def _where(index: int, entry: Any, label: str = "containers") -> str:
    return entry_place("%s[%d]" % (label, index), entry.get("name") if isinstance(entry, Mapping) else None)


def containers_problems(entries: Any, defaults: Mapping[str, Any]) -> list[str]:
    """Every problem of a module's containers: each entry's, then names and host ports shared between entries."""
    return _check_containers(entries, defaults)[0]


def _check_containers(
    entries: Any, defaults: Mapping[str, Any], null_is_unset: bool = False
) -> tuple[list[str], list[DesiredContainer]]:
    listed = list_problem(entries, "containers", "[{name: stt-en-us, kind: speech-to-text, version: 5.1.0}]")
    if listed:
        return [listed], []
    problems: list[str] = []
    desired: list[DesiredContainer] = []
    seen_names: dict[str, int] = {}
    seen_ports: dict[tuple[str, int], str] = {}
    for index, entry in enumerate(entries):
        where = _where(index, entry)
        found, container = validate_entry(entry, defaults, where, null_is_unset=null_is_unset)
        problems.extend(found)
        if container is None:
            continue
        if container.name in seen_names:
            problems.append(
                "%s.name: %r is used by containers[%d] too: names must be unique"
                % (where, container.name, seen_names[container.name])
            )
        seen_names[container.name] = index
        if container.state != "absent":
            binding = (container.bind_address, container.host_port)
            clashes = [owner for other, owner in seen_ports.items() if bindings_clash(other, binding)]
            if clashes:
                problems.append(
                    "%s.host_port: %d is planned for %s too: give each container its own host port"
                    % (where, container.host_port, clashes[0])
                )
            seen_ports[binding] = container.name
        desired.append(container)
    return problems, desired


def module_arguments_problems(params: Mapping[str, Any]) -> list[str]:
    """Every problem of speech_containers' arguments as they arrive, before Ansible converts any type."""
    found = defaults_problems(params)
    if found:
        return found
    defaults = {
        name: params.get(name) if params.get(name) is not None else OPTIONS[name].module_default
        for name in INHERITED_OPTIONS
    }
    for root in ("models_root", "output_root", "license_root"):
        defaults[root] = params.get(root) or default_of_module(root)
    return containers_problems(params.get("containers"), defaults)


def default_of_module(name: str) -> Any:
    return next(option.default for option in MODULE_OPTIONS if option.name == name)


def reject_invalid_arguments(params: Mapping[str, Any] | None, check_mode_supported: bool = True) -> None:
    """Fail a speech_containers run with every problem of its arguments, before Ansible's own conversion.

    Ansible's conversion errors name neither the entry nor the fix ("unable to convert to float"); this reports
    them the way the plan filter does. params: basic._load_params(), the raw arguments.
    """
    if not isinstance(params, Mapping):
        return  # nothing to judge (ansible-test's validate-modules loads no arguments): AnsibleModule decides
    problems = module_arguments_problems(params)
    if not problems:
        return
    from ansible.module_utils.basic import AnsibleModule  # only to fail: the filter imports this file too

    # A module that takes the arguments as they are, only to fail with the problems (secrets already masked;
    # the top-level api_key is no_log so that Ansible masks it too).
    lenient = {key: dict(type="raw", no_log=key == "api_key") for key in params if not str(key).startswith("_ansible_")}
    module = AnsibleModule(argument_spec=lenient, supports_check_mode=check_mode_supported)
    module.fail_json(msg="invalid containers (nothing was changed): %s" % "; ".join(problems), problems=problems)


def _image_problems(kind: Any, entry: Mapping[str, Any], problem: Any) -> bool:
    """Check version, locale and voice forms one by one (field by field); True when all are well-formed."""
    well_formed = True
    checks = (("version", validate_version), ("locale", lambda value: _locale_form(kind, value)))
    for key, check in (*checks, ("voice", normalize_voice)):
        value = entry.get(key)
        if value in (None, ""):
            continue
        try:
            check(value)
        except CatalogError as exc:
            problem(key, "%s: give %s" % (exc, OPTIONS[key].accepts))
            well_formed = False
    return well_formed


def _locale_form(kind: Any, value: str) -> None:
    if kind.needs_gpu and MODEL_GROUP_RE.match(str(value).lower()):
        return  # fast transcription also takes a model group (en, multilingual-15-locales)
    normalize_locale(value)


def _build_one(entry: Mapping[str, Any], defaults: Mapping[str, Any], problem: Any) -> DesiredContainer | None:
    """Semantic checks of one well-shaped entry (see validate_entry), and its rendering."""
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
    state = _option_value(entry, "state")

    image = entry.get("image")
    version = str(entry["version"]) if entry.get("version") not in (None, "") else None
    locale, voice = entry.get("locale"), entry.get("voice")
    sizing_voice = voice
    ssml_voice = None
    registry = _entry_value(entry, defaults, "registry")
    if image:
        if any((version, locale, voice)):
            problem("image", "give either image or version/locale/voice, not both")
    elif not version:
        problem(
            "version",
            "missing: set a pinned version such as %s (tag format %s)" % (kind.latest_version, kind.tag_format),
        )
    elif _image_problems(kind, entry, problem):
        try:
            image = image_reference(
                kind.name,
                version,
                locale,
                voice,
                registry=registry or None,
                preview=_flag(entry.get("preview")),
                containerpreview=_flag(entry.get("containerpreview")),
            )
            if kind.is_text_to_speech and locale and voice:
                ssml_voice = ssml_voice_name(locale, voice)
            locale = locale.lower() if locale else locale
            voice = voice.lower() if voice else voice
        except CatalogError as exc:
            problem("version/locale/voice", str(exc))

    secrets: list[str] = []
    args: list[str] = []
    env: dict[str, str] = dict(kind.default_env)

    def put(setting: str, value: Any) -> None:
        """One documented setting: in the environment (run contract, secrets) or as a Key=Value argument."""
        value = str(value)
        if _setting_in_environment(setting, value):
            env[setting.replace(":", "__")] = value
        else:
            args.append("%s=%s" % (setting, value))

    gpus = (entry.get("gpus") or "all") if kind.needs_gpu else ""
    eula = _entry_value(entry, defaults, "eula")
    eula_problem = _eula_problem(eula)
    if eula_problem:
        problem("eula", eula_problem)
    billing = _entry_value(entry, defaults, "billing")
    billing_problem = _billing_problem(billing)
    if billing_problem:
        problem("billing", billing_problem)
    api_key = _entry_value(entry, defaults, "api_key")
    if not api_key or not str(api_key).strip():
        problem("api_key", "is empty: set the key of the Speech resource named by billing (keep it in ansible-vault)")
    elif CONTROL_CHARACTER_RE.search(str(api_key)):
        problem("api_key", "******** contains a control character (a trailing newline?): remove it")
    else:
        secrets.append(str(api_key))
    disconnected = _flag(_entry_value(entry, defaults, "disconnected"))
    if disconnected and not kind.disconnected_supported:
        problem(
            "disconnected",
            "true%s, but Microsoft does not offer %s as a disconnected container: remove disconnected or run it "
            "connected (disconnected: false)"
            % ("" if entry.get("disconnected") is not None else " (the default of every container here)", kind.name),
        )
    put("Eula", eula)
    # A disconnected container serves without them; its one-off license download needs both (download_env below).
    put("Billing", billing)
    put("ApiKey", api_key)

    mounts: list[dict[str, str]] = []
    model_path = _model_mount(kind, entry, defaults, name, put, mounts, problem)
    output_path = entry.get("output_path")
    license_path = entry.get("license_path")
    if disconnected:
        # Microsoft's disconnected run mounts both: the license, and the output its usage records go to.
        output_path = output_path or _under_root(entry, defaults, "output_root", DEFAULT_OUTPUT_ROOT, name)
        license_path = license_path or _under_root(entry, defaults, "license_root", DEFAULT_LICENSE_ROOT, name)
    if license_path:
        path_problem = host_path_problem(license_path, "%s/%s" % (DEFAULT_LICENSE_ROOT, name))
        if path_problem:
            problem("license_path", path_problem)
    if disconnected:
        put("Mounts:License", LICENSE_MOUNT)
    if output_path:
        path_problem = host_path_problem(output_path, "%s/%s" % (DEFAULT_OUTPUT_ROOT, name))
        if path_problem:
            problem("output_path", path_problem)
        mounts.append({"source": str(output_path), "target": OUTPUT_MOUNT, "mode": "rw"})
        put("Mounts:Output", OUTPUT_MOUNT)
    if _flag(entry.get("disk_logging")):
        if not output_path:
            problem(
                "disk_logging", "needs output_path: the container fails at start when disk logging has no output mount"
            )
        put("Logging:Disk:Format", "json")
    if entry.get("log_level"):
        put("Logging:Console:LogLevel:Default", entry["log_level"])
    _proxy_settings(entry, put, secrets, problem)
    for key, value in sorted((entry.get("settings") or {}).items()):
        if key not in EXTRA_SETTINGS:
            problem(
                "settings", "%r is not a documented optional setting (valid: %s)" % (key, ", ".join(EXTRA_SETTINGS))
            )
            continue
        if is_secret_setting(key):
            secrets.append(str(value))
        put(key, value)
    decoders = entry.get("decoder_max_count")
    if decoders is not None and kind.decoder_env:
        if int(decoders) < 1:
            problem("decoder_max_count", "%r must be 1 or more" % (decoders,))
        else:
            env[kind.decoder_env] = str(int(decoders))

    download_env: dict[str, str] = {}
    download_args: list[str] = []
    if disconnected:
        download_env = dict(env)
        env = {key: value for key, value in env.items() if key not in CONNECTED_ONLY_SETTINGS}
        # The download reaches billing like a connected container: through the proxy, when there is one.
        download_args = [arg for arg in args if arg.startswith("HTTP_PROXY")] + list(DOWNLOAD_LICENSE_ARGS)
    cpus, memory_bytes = _sizes(kind, entry, defaults, sizing_voice, problem)
    host_port = int(entry.get("host_port") or kind.port)
    if not 1 <= host_port <= 65535:
        problem("host_port", "%r is not a TCP port (1-65535)" % (host_port,))
        host_port = kind.port
    bind_address = _entry_value(entry, defaults, "bind_address") or "0.0.0.0"
    bad_address = address_problem(bind_address)
    if bad_address:
        problem("bind_address", bad_address)
    log_max_size = str(_option_value(entry, "log_max_size"))
    if not re.match(r"^[0-9]+[kmg]$", log_max_size):
        problem("log_max_size", "%r is not a size like 10m" % log_max_size)
    counts = {key: int(_option_value(entry, key)) for key in ("log_max_files", "stop_timeout", "ready_timeout")}
    counts["pids_limit"] = int(_option_value(entry, "pids_limit"))
    for key, least in (("log_max_files", 1), ("stop_timeout", 0), ("ready_timeout", 1), ("pids_limit", 1)):
        if counts[key] < least:
            problem(key, "%d is less than %d: give %s" % (counts[key], least, OPTIONS[key].accepts))
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
        restart_policy=_option_value(entry, "restart_policy"),
        log_max_size=log_max_size,
        model_path=model_path,
        output_path=output_path,
        secrets=secrets,
        ssml_voice=ssml_voice,
        gpus=gpus,
        disconnected=disconnected,
        license_path=str(license_path) if license_path else None,
        download_env=download_env,
        download_args=download_args,
        **counts,
    )


def _under_root(entry: Mapping[str, Any], defaults: Mapping[str, Any], root: str, fallback: str, name: str) -> str:
    """ROOT/NAME: the directory of its own a container gets under the module's (or the plan's) root."""
    return "%s/%s" % (str(_entry_value(entry, defaults, root) or fallback).rstrip("/"), name)


def _model_mount(
    kind: Any,
    entry: Mapping[str, Any],
    defaults: Mapping[str, Any],
    name: str,
    put: Any,
    mounts: list[dict[str, str]],
    problem: Any,
) -> str | None:
    """ModelId and the model volume of custom kinds; the model directory, or None."""
    if not kind.needs_model:
        return None  # kind_problems refuses model_id and model_path here
    model_id = entry.get("model_id")
    if not model_id:
        problem("model_id", "missing: %s needs ModelId (the id of your custom model)" % kind.name)
    elif not MODEL_ID_RE.match(str(model_id)):
        problem(
            "model_id",
            "%r is not a model id in the form Microsoft issues: give %s" % (model_id, OPTIONS["model_id"].accepts),
        )
    else:
        put("ModelId", model_id)
    models_root = _entry_value(entry, defaults, "models_root") or DEFAULT_MODELS_ROOT
    model_path = entry.get("model_path") or "%s/%s" % (str(models_root).rstrip("/"), name)
    path_problem = host_path_problem(model_path, "%s/%s" % (DEFAULT_MODELS_ROOT, name))
    if path_problem:
        problem("model_path", path_problem)
    mounts.append({"source": str(model_path), "target": MODELS_MOUNT, "mode": "rw"})
    return model_path


def _proxy_settings(entry: Mapping[str, Any], put: Any, secrets: list[str], problem: Any) -> None:
    http_proxy = entry.get("http_proxy")
    if http_proxy:
        if urlparse(str(http_proxy)).scheme not in ("http", "https") or re.search(r"\s", str(http_proxy)):
            shown_proxy = public_setting("HTTP_PROXY", str(http_proxy), set())
            problem("http_proxy", "%r is not a proxy URL like http://proxy.example.com:3128" % (shown_proxy,))
        proxy_password = url_password(str(http_proxy))
        if proxy_password:
            secrets.append(proxy_password)
        put("HTTP_PROXY", http_proxy)
    proxy_creds = entry.get("http_proxy_creds")
    if proxy_creds:
        if not http_proxy:
            problem(
                "http_proxy_creds",
                "is set (%s) but http_proxy is not: set http_proxy to the proxy URL "
                "(http://proxy.example.com:3128), or remove http_proxy_creds" % REDACTED,
            )
        elif ":" not in str(proxy_creds):
            problem(
                "http_proxy_creds", "%s is not user:password: give the proxy credentials as user:password" % REDACTED
            )
        secrets.append(str(proxy_creds))
        put("HTTP_PROXY_CREDS", proxy_creds)


def _sizes(
    kind: Any, entry: Mapping[str, Any], defaults: Mapping[str, Any], voice: str | None, problem: Any
) -> tuple[float, int]:
    """CPUs and memory bytes: the entry's, else the kind's documented minimum; below it only when allowed."""
    minimum, _recommended, _headroom = kind.sizing(_flag(entry.get("containerpreview")), voice=voice)
    allow_small = _flag(_entry_value(entry, defaults, "allow_below_minimum"))
    cpus = float(entry["cpus"]) if entry.get("cpus") is not None else float(minimum.cpus)
    if cpus <= 0:
        problem("cpus", "%r is not a positive number of CPUs (for example 4 or 0.5)" % (entry.get("cpus"),))
        cpus = float(minimum.cpus)
    if cpus < minimum.cpus and not allow_small:
        problem(
            "cpus",
            "%g is below the %s minimum of %g%s: raise it, or set allow_below_minimum: true (tests, labs)"
            % (cpus, kind.name, minimum.cpus, _voice_note(kind, voice)),
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
            % (memory, kind.name, format_gib(minimum.memory_bytes), _voice_note(kind, voice)),
        )
    return cpus, memory_bytes


def _voice_note(kind: Any, voice: str | None) -> str:
    """Why the minimum is higher than the kind's own, when a multilingual voice raised it."""
    if kind.multilingual_voice_minimum is not None and voice and is_multilingual_voice(voice):
        return " for multilingual voices"
    return ""


def owned_directories(desired: list[DesiredContainer]) -> list[tuple[str, int, int]]:
    """Host directories the containers write to, with the owner the non-root container user needs."""
    return [
        (path, CONTAINER_UID, CONTAINER_GID)
        for item in desired
        if item.state != "absent"
        for path in [*(mount["source"] for mount in item.mounts), *([item.license_path] if item.license_path else [])]
    ]
