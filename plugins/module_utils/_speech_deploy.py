# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge every speech container of one host in one call, with health-gated, interruption-safe replacement.

Cost of the unchanged path: one container list and one image list from the engine, one inspect per managed
container whose label says unchanged (its effective settings: limits, ports, mounts, command, environment,
image), then a local /ready and /status probe per container. Those reads use the standard library
(_docker_api.EngineReader); the Docker SDK is imported and connected only when something changes
(Deployer.client), which keeps ~85 ms of SDK import and API negotiation off every deploy's plan.
Exception classes of the SDK are named as _docker_api.X so that naming them loads nothing early.

Replacement of container NAME, in this order, so that a run killed at any point (controller interrupted, SSH
lost, host rebooted) leaves a state the next run recognises from the container list alone:

  step                         after it: NAME-speechops-previous  NAME (new)   serving   next run (recover)
  1 rename old -> previous     running (old)                      absent        old       roll back: rename back
  2 create new                 running                            created       old       roll back: remove new,
                                                                                             rename back
  3 stop old                   exited                             created       nothing   roll back: remove new,
                                                                                             rename back, start
  4 start new                  exited                             running       warming   finish when new serves
                                                                                             within ready_timeout,
                                                                                             else roll back
  5 wait until new serves      exited                             running       new       finish: remove previous
  6 remove previous            absent                             running       new       (nothing left over)
  rollback a: remove new       exited or running                  absent        old/none  roll back: rename back,
                                                                                             start
  rollback b: rename back      absent                             (old) exited  nothing   the plan starts or
                                                                                             replaces it as usual
A host reboot changes "running" to "exited" (or back to running, per restart policy); a new container that does not
run is rolled back, one that runs is given its ready_timeout to serve. Recovery starts the restored container and
waits until it serves before the run plans anything (see Deployer.recover).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import shutil
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ansible_collections.speechops.edge.plugins.module_utils import _docker_api
from ansible_collections.speechops.edge.plugins.module_utils._catalog import CONTAINER_GID, CONTAINER_UID, format_gib
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    INHERITED,
    LABEL_HASH,
    LABEL_LICENSE_DOWNLOAD,
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_PREFIX,
    LABEL_SLOT,
    LABEL_SPEC,
    LICENSE_DIR_RE,
    LICENSE_PARTIAL_SUFFIX,
    PREVIOUS_SUFFIX,
    DesiredContainer,
    SpecError,
    build_desired,
    owned_directories,
    probe_base_url,
)
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import (
    docker_client,
    engine_error,
    engine_reader,
    require_docker_sdk,
)
from ansible_collections.speechops.edge.plugins.module_utils._engine_service import (
    EngineRestartError,
    allocated_ports,
    restart_engine,
    stale_port_advice,
    stale_ports,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import gateway_files, gateway_ports
from ansible_collections.speechops.edge.plugins.module_utils._host_reads import LOCAL_HOST, LocalHost
from ansible_collections.speechops.edge.plugins.module_utils._polling import Poller
from ansible_collections.speechops.edge.plugins.module_utils._records import (
    checked_plan,
    records_diff,
    records_output,
    write_records,
)
from ansible_collections.speechops.edge.plugins.module_utils._redact import public_setting, redact_text, redact_value
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import (
    FINAL_API_STATUSES,
    Probe,
    describe,
    kind_probe_options,
    probe,
)

if TYPE_CHECKING:
    from ansible_collections.speechops.edge.plugins.module_utils._gateway import GatewaySwitch

LOG_LINES = 20
# Pauses between polls: short at first (a container that is already up answers within the first 0.1 s), growing
# to about one request per second per container for warm-ups that take minutes.
# Docker state is read (one inspect per container) at most this often while waiting: it notices an exit.
STATE_CHECK_INTERVAL = 1.0
# Seconds a probe of a container (its ready path, then /status) waits for each answer.
PROBE_TIMEOUT = 3.0
# Engine calls one run makes at once (pulls; creating containers that replace nothing): a host's engine serves them
# concurrently, and a declaration rarely has more containers than this.
ENGINE_WORKERS = 4
# The module's default ready_timeout, for a restored container that no entry of this run describes any more.
DEFAULT_READY_TIMEOUT = 600
RESTORED_SERVING = "the previous container was restored and serves again"
# The one-off container that downloads a disconnected container's license: NAME-speechops-license.
LICENSE_SUFFIX = "-speechops-license"
# Log lines of a failed license download shown in the failure (the reason is in the last ones).
LICENSE_LOG_LINES = 5


def license_facts(directory: str | None) -> dict[str, Any]:
    """present or missing, and when it was downloaded (the directory's mtime, UTC ISO 8601; None when missing)."""
    present = LOCAL_HOST.license_present(directory)
    downloaded = None
    if present and directory:
        mtime = os.stat(directory).st_mtime
        downloaded = datetime.datetime.fromtimestamp(mtime, tz=datetime.UTC).isoformat(timespec="seconds")
    return {"license": "present" if present else "missing", "license_downloaded": downloaded}


class DeployError(Exception):
    """A failure to report with fail_json; the message is already redacted."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


def _exception_text(exc: BaseException) -> str:
    """Type and message: a bare timeout or OSError says little without its type."""
    text = str(exc).strip()
    return "%s: %s" % (exc.__class__.__name__, text) if text else exc.__class__.__name__


@dataclass
class Existing:
    """A container as the engine's list shows it (no inspect needed)."""

    id: str
    name: str
    running: bool
    managed: bool
    labels: dict[str, str]
    image_id: str
    ports: list[dict[str, Any]]
    # Docker's state word: created, running, paused, restarting, removing, exited or dead.
    state: str = ""

    @classmethod
    def from_list(cls, item: dict[str, Any]) -> Existing:
        labels = item.get("Labels") or {}
        return cls(
            id=item["Id"],
            name=(item.get("Names") or ["/"])[0].lstrip("/"),
            running=item.get("State") == "running",
            managed=labels.get(LABEL_MANAGED) == "true",
            labels=labels,
            image_id=item.get("ImageID", ""),
            ports=item.get("Ports") or [],
            state=item.get("State") or "",
        )

    def public_spec(self) -> dict[str, Any]:
        try:
            return json.loads(self.labels.get(LABEL_SPEC, "{}"))
        except ValueError:
            return {}

    def base_url(self) -> str:
        """Where the container answers: the port it is published on (a gateway slot, or its host port)."""
        published = [port for port in self.ports if port.get("PublicPort")]
        if published:
            return probe_base_url(published[0].get("IP"), int(published[0]["PublicPort"]))
        if self.labels.get(LABEL_SLOT, "").isdigit():  # a container that does not run lists no ports
            return probe_base_url("127.0.0.1", int(self.labels[LABEL_SLOT]))
        spec = self.public_spec()  # the settings it was created with
        return probe_base_url(spec.get("bind_address"), int(spec.get("host_port") or 0))

    def created_port(self) -> int | None:
        """The host port it was created to publish (a gateway slot, or its host port), running or not."""
        if self.labels.get(LABEL_SLOT, "").isdigit():
            return int(self.labels[LABEL_SLOT])
        return int(self.public_spec().get("host_port") or 0) or None

    def slot_of(self, slots: tuple[int, ...]) -> int | None:
        """The index of the gateway slot the container is published on, None when on neither."""
        for port in self.ports:
            if port.get("PublicPort") in slots and port.get("IP") in ("127.0.0.1", None, ""):
                return slots.index(port["PublicPort"])
        labelled = self.labels.get(LABEL_SLOT, "")  # a container that does not run lists no ports
        if not self.ports and labelled.isdigit() and int(labelled) in slots:
            return slots.index(int(labelled))
        return None

    def kind(self) -> str | None:
        """The kind it was created as (its spec label): how to ask it whether it serves."""
        return self.public_spec().get("kind") or self.labels.get(LABEL_PREFIX + "kind")


# ---- drift: the effective settings of a container against the desired ones --------------------------------------
class _HostConfigKeywords:
    """Stands in for the SDK client in DesiredContainer.create_arguments: create_host_config's keywords as given.

    The desired settings are then compared with `docker inspect` without importing the SDK (the unchanged path
    never imports it). Each keyword maps to an inspect field below, normalised the way the SDK and the engine
    store it (docker/types/containers.py HostConfig; the engine keeps what it was sent).
    """

    @staticmethod
    def create_host_config(**keywords: Any) -> dict[str, Any]:
        return keywords


def _ports(bindings: dict[str, Any] | None) -> list[str]:
    """'host address:host port->container port/proto', from create_host_config's or inspect's port bindings."""
    result = []
    for container_port, targets in (bindings or {}).items():
        for target in targets if isinstance(targets, list) else [targets]:
            if isinstance(target, dict):
                address, port = target.get("HostIp"), target.get("HostPort")
            elif isinstance(target, tuple):
                address, port = (target[0], target[1] if len(target) > 1 else None)
            else:
                address, port = None, target
            result.append("%s:%s->%s" % (address or "0.0.0.0", port or "", container_port))
    return sorted(result)


def _binds(binds: dict[str, dict[str, str]] | None) -> list[str]:
    return sorted("%s:%s:%s" % (source, bind["bind"], bind.get("mode", "rw")) for source, bind in (binds or {}).items())


def _inspected_mounts(host: dict[str, Any]) -> list[str]:
    """Binds plus --mount entries: a hand-made container may carry either."""
    mounts = list(host.get("Binds") or [])
    for mount in host.get("Mounts") or []:
        mounts.append("%s:%s:%s" % (mount.get("Source"), mount.get("Target"), "ro" if mount.get("ReadOnly") else "rw"))
    return sorted(mounts)


def _capabilities(names: list[str] | None) -> list[str]:
    # Docker 20.10+ stores capability names with the CAP_ prefix (ALL stays ALL).
    return sorted(name.upper().removeprefix("CAP_") for name in names or [])


def _log_config(config: dict[str, Any] | None) -> dict[str, Any]:
    config = config or {}
    return {
        "Type": config.get("Type", config.get("type")) or "json-file",
        "Config": {key: str(value) for key, value in (config.get("Config", config.get("config")) or {}).items()},
    }


def _restart_policy(policy: dict[str, Any] | None) -> dict[str, Any]:
    policy = policy or {}
    return {"Name": policy.get("Name") or "no", "MaximumRetryCount": policy.get("MaximumRetryCount") or 0}


def _device_requests(requests: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    def get(request: dict[str, Any], api_name: str, keyword: str) -> Any:
        return request.get(api_name, request.get(keyword))

    return [
        {
            "Driver": get(request, "Driver", "driver") or "",
            "Count": get(request, "Count", "count") or 0,
            "DeviceIDs": get(request, "DeviceIDs", "device_ids") or [],
            "Capabilities": get(request, "Capabilities", "capabilities") or [],
        }
        for request in requests or []
    ]


# create_host_config keyword -> (setting name in results, desired value from the keyword, effective value from
# inspect's HostConfig). A keyword DesiredContainer does not render is desired at Docker's default (None below),
# so `docker update --cpu-quota` or a hand-made --cap-add is drift too.
HOST_CONFIG_SETTINGS: dict[str, tuple[str, Callable[[Any], Any], Callable[[dict[str, Any]], Any]]] = {
    "port_bindings": ("ports", _ports, lambda host: _ports(host.get("PortBindings"))),
    "binds": ("mounts", _binds, _inspected_mounts),
    "nano_cpus": ("cpus", lambda value: (value or 0) / 1e9, lambda host: (host.get("NanoCpus") or 0) / 1e9),
    "cpu_quota": ("cpu_quota", lambda value: value or 0, lambda host: host.get("CpuQuota") or 0),
    "cpu_period": ("cpu_period", lambda value: value or 0, lambda host: host.get("CpuPeriod") or 0),
    "cpu_shares": ("cpu_shares", lambda value: value or 0, lambda host: host.get("CpuShares") or 0),
    "cpuset_cpus": ("cpuset_cpus", lambda value: value or "", lambda host: host.get("CpusetCpus") or ""),
    "mem_limit": ("memory", lambda value: value or 0, lambda host: host.get("Memory") or 0),
    "memswap_limit": ("memory_swap", lambda value: value or 0, lambda host: host.get("MemorySwap") or 0),
    "mem_reservation": ("memory_reservation", lambda value: value or 0, lambda h: h.get("MemoryReservation") or 0),
    "pids_limit": ("pids_limit", lambda value: value or 0, lambda host: host.get("PidsLimit") or 0),
    "security_opt": ("security_opt", lambda value: sorted(value or []), lambda h: sorted(h.get("SecurityOpt") or [])),
    "cap_drop": ("cap_drop", _capabilities, lambda host: _capabilities(host.get("CapDrop"))),
    "cap_add": ("cap_add", _capabilities, lambda host: _capabilities(host.get("CapAdd"))),
    "privileged": ("privileged", bool, lambda host: bool(host.get("Privileged"))),
    "log_config": ("log_config", _log_config, lambda host: _log_config(host.get("LogConfig"))),
    "restart_policy": ("restart_policy", _restart_policy, lambda host: _restart_policy(host.get("RestartPolicy"))),
    "device_requests": ("gpus", _device_requests, lambda host: _device_requests(host.get("DeviceRequests"))),
}
# create_container keywords compared besides host_config and environment (compared by name, see effective_drift).
CREATE_SETTINGS: dict[str, tuple[str, Callable[[Any], Any], Callable[[dict[str, Any]], Any]]] = {
    "image": ("image", str, lambda config: config.get("Image")),
    "command": ("command", lambda value: list(value or []), lambda config: list(config.get("Cmd") or [])),
    "stop_timeout": ("stop_timeout", lambda value: value, lambda config: config.get("StopTimeout")),
}
# Not settings of the running container: the name, the labels (the config hash judges them), the exposed ports
# (the port bindings say more), detach (a client-side flag).
CREATE_NOT_COMPARED = ("name", "labels", "ports", "detach", "host_config", "environment")


def declared_arguments(item: DesiredContainer, image_id: str, slot: int | None = None) -> dict[str, Any]:
    """create_container's keywords for the container, host_config as its create_host_config keywords."""
    return item.create_arguments(_HostConfigKeywords(), image_id, slot)


def _shown_env(name: str, value: str | None, secrets: list[str]) -> str | None:
    """An environment variable's value as a drift shows it (None: not set)."""
    return None if value is None else public_setting(name, value, secrets)


def _masked_arguments(arguments: Any, secrets: list[str]) -> Any:
    """Key=Value arguments with secret values masked; anything else as it is."""
    if not isinstance(arguments, list):
        return arguments
    return [
        "%s%s%s" % (key, sep, public_setting(key, value, secrets)) if sep else public_setting("", key, secrets)
        for key, sep, value in (str(argument).partition("=") for argument in arguments)
    ]


def effective_drift(
    item: DesiredContainer, image_id: str, details: dict[str, Any], slot: int | None = None
) -> list[dict[str, Any]]:
    """Settings in which the container (docker inspect) differs from the desired one; secrets masked.

    Environment: only the desired variables are judged (value and presence); the engine merges the image's own
    ENV into the container's, which cannot be told apart from an added variable without inspecting the image.
    """
    create = declared_arguments(item, image_id, slot)
    config = details.get("Config") or {}
    host = details.get("HostConfig") or {}
    secrets = list(item.secrets)
    drift: list[dict[str, Any]] = []

    def differs(setting: str, actual: Any, desired: Any, shown: Callable[[Any], Any] = lambda value: value) -> None:
        # Compared as they are, shown masked: a secret changed by hand is drift even though both show ********.
        if actual != desired:
            drift.append({"setting": setting, "actual": shown(actual), "desired": shown(desired)})

    differs("image_id", details.get("Image"), image_id)
    for keyword, (setting, desired, actual) in CREATE_SETTINGS.items():
        if keyword in create:
            differs(setting, actual(config), desired(create[keyword]), lambda value: _masked_arguments(value, secrets))
    keywords = create.get("host_config") or {}
    for keyword, (setting, desired, actual) in HOST_CONFIG_SETTINGS.items():
        differs(setting, actual(host), desired(keywords.get(keyword)))
    wanted_env = {str(key): str(value) for key, value in (create.get("environment") or {}).items()}
    actual_env = dict(entry.partition("=")[::2] for entry in config.get("Env") or [])
    changed = sorted(key for key, value in wanted_env.items() if actual_env.get(key) != value)
    if changed:
        drift.append(
            {
                "setting": "environment",
                "actual": {key: _shown_env(key, actual_env.get(key), secrets) for key in changed},
                "desired": {key: _shown_env(key, wanted_env[key], secrets) for key in changed},
            }
        )
    return drift


@dataclass
class Plan:
    desired: DesiredContainer | None
    existing: Existing | None
    action: str  # none, create, replace, start, stop, remove
    pull: bool = False
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    # Settings in which the container differs from its own label (changed outside speechops.edge).
    drift: list[dict[str, Any]] = field(default_factory=list)
    # Disconnected: the license directory of the image it will run, and whether a download is due.
    license_dir: str | None = None
    license_due: bool = False

    @property
    def name(self) -> str:
        return self.desired.name if self.desired else self.existing.name  # type: ignore[union-attr]


class HostState:
    """What the engine has now: two API calls for the whole host, plus an inspect per container judged for drift."""

    def __init__(self, client: Any, host: LocalHost = LOCAL_HOST) -> None:
        self.client = client
        self.host = host  # its files and ports
        self.containers = [Existing.from_list(item) for item in client.containers(all=True)]
        self.by_name = {item.name: item for item in self.containers}
        self.image_ids: dict[str, str] = {}
        for image in client.images():
            for tag in image.get("RepoTags") or []:
                self.image_ids[tag] = image["Id"]
        self._details: dict[str, dict[str, Any]] = {}

    def inspect(self, container_id: str) -> dict[str, Any]:
        """docker inspect, once per container and run (plans are made twice when images were pulled)."""
        if container_id not in self._details:
            self._details[container_id] = self.client.inspect_container(container_id)
        return self._details[container_id]

    def managed(self) -> dict[str, Existing]:
        return {
            item.labels.get(LABEL_NAME, item.name): item
            for item in self.containers
            if item.managed and not item.name.endswith(PREVIOUS_SUFFIX)
        }

    def replace(self, old: Existing, new: Existing | None) -> None:
        """Record a change made (or, in check mode, predicted) by the recovery."""
        self.containers = [item for item in self.containers if item.id != old.id] + ([new] if new else [])
        self.by_name = {item.name: item for item in self.containers}


def _port_holders(state: HostState, port: int) -> list[Existing]:
    return [item for item in state.containers if any(p.get("PublicPort") == port for p in item.ports)]


def _created_for_port(state: HostState, names: set[str], port: int) -> bool:
    """Whether one of these containers of ours was created to publish the port, though it lists none now.

    After a reboot the engine starts containers by their restart policy while the run reads the host: one listed as
    stopped may hold its port a moment later. The process on that port is then our own container.
    """
    return any(item.managed and item.name in names and item.created_port() == port for item in state.containers)


def _removed_by_run(desired: list[DesiredContainer], state: HostState, prune: bool) -> set[str]:
    """Docker names of the managed containers this run removes (state=absent, prune), whose ports it frees."""
    wanted = {item.name: item for item in desired}
    return {
        existing.name
        for name, existing in state.managed().items()
        if (name in wanted and wanted[name].state == "absent") or (prune and name not in wanted)
    }


def check_host_conflicts(desired: list[DesiredContainer], state: HostState, prune: bool = False) -> list[str]:
    """Problems only the host can reveal: foreign containers with our names, ports already taken.

    A port held by this collection's gateway is not taken for a container that leaves the gateway: the speech role
    takes the gateway away before such a converge.
    """
    problems = []
    freed = _removed_by_run(desired, state, prune)
    gateway = gateway_ports(host=state.host) if any(not item.gateway for item in desired) else set()
    for index, item in enumerate(desired):
        where = "containers[%d] (%s)" % (index, item.name)
        existing = state.by_name.get(item.name)
        if existing and not existing.managed:
            problems.append(
                "%s.name: a container named %r exists that speechops.edge did not create: "
                "rename the entry or remove that container yourself (it is never touched)" % (where, item.name)
            )
        if item.state == "absent":
            continue
        ours = {item.name, item.name + PREVIOUS_SUFFIX} | freed
        # Behind the gateway the container takes its loopback slots (the gateway itself listens on host_port).
        for address, port in [item.published(slot) for slot in item.slots] or [item.published()]:
            holders = [holder.name for holder in _port_holders(state, port) if holder.name not in ours]
            if holders:
                problems.append(
                    "%s.host_port: %d is published by container %s: choose a free host port"
                    % (where, port, ", ".join(holders))
                )
            elif (
                not _port_holders(state, port)
                and port not in gateway
                and not _created_for_port(state, ours, port)
                and state.host.port_taken(address, port)
            ):
                problems.append(
                    "%s.host_port: %d is in use by a process on the host (%s:%d): choose a free host port"
                    % (where, port, address, port)
                )
    return problems


def images_to_pull(plans: list[Plan]) -> list[str]:
    return sorted({plan.desired.image for plan in plans if plan.pull and plan.desired})


def make_plans(desired: list[DesiredContainer], state: HostState, prune: bool, pull_always: bool) -> list[Plan]:
    managed = state.managed()
    plans: list[Plan] = []
    for item in desired:
        existing = managed.get(item.name)
        if item.state == "absent":
            plans.append(Plan(item, existing, "remove" if existing else "none"))
            continue
        image_id = state.image_ids.get(item.image)
        pull = image_id is None or pull_always
        if existing is None:
            plans.append(Plan(item, None, "create", pull, "not present"))
            continue
        if image_id is None or existing.labels.get(LABEL_HASH) != item.config_hash(image_id):
            plans.append(Plan(item, existing, "replace", pull, "image or settings changed"))
            continue
        # The label says unchanged; `docker update` or a hand-made copy with our labels would still differ here.
        slot = existing.slot_of(item.slots) if item.gateway else None
        drift = effective_drift(item, image_id, state.inspect(existing.id), None if slot is None else item.slots[slot])
        if drift:
            reason = "the container's effective settings differ from the desired ones (%s)" % ", ".join(
                entry["setting"] for entry in drift
            )
            plans.append(Plan(item, existing, "replace", pull, reason, drift=drift))
        elif item.state == "started" and not existing.running:
            plans.append(Plan(item, existing, "start", pull, "not running"))
        elif item.state == "stopped" and existing.running:
            plans.append(Plan(item, existing, "stop", pull))
        else:
            plans.append(Plan(item, existing, "none", pull))
    if prune:
        wanted = {item.name for item in desired}
        for name, existing in sorted(managed.items()):
            if name not in wanted:
                plans.append(Plan(None, existing, "remove", reason="not in the desired set (prune)"))
    return plans


def plan_licenses(plans: list[Plan], image_ids: dict[str, str], host: LocalHost) -> None:
    """Disconnected containers: the license directory of the image each will run, and whether a download is due.

    A container whose license is missing is replaced (created anew) after the download, even when nothing else
    changed: the license it was started with is gone from the host (an image ID not known yet, before a pull,
    counts as missing: a new image needs a new license).
    """
    for plan in plans:
        item = plan.desired
        if item is None or not item.disconnected or item.state == "absent":
            continue
        image_id = image_ids.get(item.image)
        plan.license_dir = item.license_dir(image_id) if image_id else None
        plan.license_due = not host.license_present(plan.license_dir)
        if plan.license_due and plan.action in ("none", "start", "stop"):
            plan.action = "replace"
            plan.reason = "its license for the image is missing: downloaded again, then the container is recreated"


@dataclass
class Target:
    """A container to wait for until it serves."""

    name: str
    container_id: str
    base_url: str
    ready_timeout: float
    kind: str | None  # how it says it serves: the catalog's ready path, and /status when the kind has one


@dataclass
class Replacement:
    """One container being replaced (or restored by a recovery), as far as it got: what a rollback must undo."""

    name: str
    previous: Existing | None  # the old container; None when there was none (create)
    start_previous: bool  # a rollback starts it: it served before the change
    ready_timeout: float = DEFAULT_READY_TIMEOUT
    renamed: bool = False  # the old container is called NAME-speechops-previous now
    new_id: str | None = None
    # Behind the gateway: the slots (indexes) of the new and the old container; start-first keeps the old one
    # serving until the new one serves and the gateway has drained it.
    slot: int | None = None
    old_slot: int | None = None
    start_first: bool = False
    settled: bool = False  # finished or rolled back: nothing left to undo
    undone: bool = False  # a rollback ran (whether or not it could restore everything)
    restored: bool = False  # the old container has its name back (and runs, when start_previous)
    previous_started: bool = False  # the rollback started the old container (under either name)
    restore_error: str = ""

    @property
    def kept_name(self) -> str:
        return self.name + PREVIOUS_SUFFIX


@dataclass
class Leftover:
    """A replacement that an interrupted run left behind: NAME-speechops-previous, maybe a new NAME."""

    name: str
    previous: Existing
    new: Existing | None


def find_leftovers(state: HostState) -> list[Leftover]:
    leftovers = []
    for item in state.containers:
        if item.managed and item.name.endswith(PREVIOUS_SUFFIX):
            name = item.name[: -len(PREVIOUS_SUFFIX)]
            leftovers.append(Leftover(name, item, state.by_name.get(name)))
    return sorted(leftovers, key=lambda leftover: leftover.name)


class Deployer:
    def __init__(
        self,
        client: Any,
        desired: list[DesiredContainer],
        check_mode: bool,
        probe_timeout: float = PROBE_TIMEOUT,
        connect: Callable[[], Any] | None = None,
        prober: Callable[..., Probe] = probe,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        gateway: GatewaySwitch | None = None,  # made on first use: see the property
        capacity: Callable[[], tuple[int, float] | None] = lambda: None,
        drain_timeout: float = 600,
        host: LocalHost = LOCAL_HOST,  # the host's files and ports (HostState.host)
        await_running: bool = False,  # wait for running containers the run leaves alone too (after an engine restart)
    ):
        # Either an SDK client, or connect(): it makes one on first use, which only a change needs.
        self._client = client
        self._gateway = gateway
        self.host = host
        self._capacity = capacity  # (memory bytes, cores) of the host: whether old and new fit at once
        self.drain_timeout = drain_timeout
        self._serving_urls: dict[str, str] = {}
        self._connect = connect
        self.desired = desired
        self.check_mode = check_mode
        self.probe_timeout = probe_timeout
        self.secrets = [secret for item in desired for secret in item.secrets]
        self._probe = prober
        self._clock = clock
        self._sleep = sleep
        self._failed: set[str] = set()  # names of the containers whose change failed in this run
        self.await_running = await_running

    @property
    def client(self) -> Any:
        if self._client is None and self._connect is not None:
            self._client = self._connect()
        return self._client

    @property
    def gateway(self) -> GatewaySwitch:
        # Imported here: only a change of a container behind the gateway switches it, and an unchanged host (every
        # deploy's prediction) then does not compile the gateway's writer (benchmarks/bench_module_weight.py).
        if self._gateway is None:
            from ansible_collections.speechops.edge.plugins.module_utils._gateway import GatewaySwitch

            self._gateway = GatewaySwitch(clock=self._clock, sleep=self._sleep)
        return self._gateway

    def connected(self) -> None:
        """Connect now (a no-op when connected)."""
        if self.client is None:
            raise DeployError("no Docker engine client")

    # ---- helpers -------------------------------------------------------------------------------
    def redact(self, value: Any) -> Any:
        return redact_value(value, self.secrets)

    def error_text(self, exc: BaseException) -> str:
        return self.redact(_exception_text(exc))

    def logs(self, container_id: str) -> list[str]:
        try:
            raw = self.client.logs(container_id, stdout=True, stderr=True, tail=LOG_LINES)
        except Exception:  # the logs only explain a failure already reported
            return []
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return [redact_text(line, self.secrets) for line in text.splitlines()[-LOG_LINES:]]

    def pull(self, image: str) -> str:
        repository, _sep, tag = image.rpartition(":")
        if "/" in tag or not repository:
            repository, tag = image, "latest"
        try:
            for event in self.client.pull(repository, tag=tag, stream=True, decode=True):
                if isinstance(event, dict) and event.get("error"):
                    raise DeployError(
                        "pulling %s failed: %s; no running container was changed" % (image, self.redact(event["error"]))
                    )
            return self.client.inspect_image(image)["Id"]
        except DeployError:
            raise
        except (_docker_api.DockerException, OSError) as exc:
            raise DeployError(
                "pulling %s failed: %s; no running container was changed" % (image, self.redact(str(exc)))
            ) from None

    def pull_all(self, images: list[str], state: HostState) -> None:
        """Every image, at once: layers the images share are fetched once (the engine joins pulls of one layer,
        and bounds all downloads by its max-concurrent-downloads). The first failure is raised, after the others
        ended (nothing half-pulled is left running)."""

        def pull(image: str) -> tuple[str, str]:
            return image, self.pull(image)

        if len(images) < 2:
            state.image_ids.update(pull(image) for image in images)
            return
        with ThreadPoolExecutor(max_workers=min(len(images), ENGINE_WORKERS)) as pool:
            state.image_ids.update(list(pool.map(pull, images)))

    def ensure_directories(self) -> list[str]:
        """Create the writable mount sources, owned by the container's non-root user. Returns those changed."""
        changed = []
        for path, uid, gid in owned_directories(self.desired):
            if self.host.owner(path) == (uid, gid):
                continue
            changed.append(path)
            if not self.check_mode:
                os.makedirs(path, mode=0o750, exist_ok=True)
                os.chown(path, uid, gid)
        return changed

    def remove(self, container_id: str) -> None:
        try:
            self.client.remove_container(container_id, force=True)
        except _docker_api.NotFound:
            pass

    def _ready_timeout(self, name: str) -> float:
        return next((item.ready_timeout for item in self.desired if item.name == name), DEFAULT_READY_TIMEOUT)

    def look(self, base_url: str, kind_name: str | None) -> Probe:
        """One probe, the way the container's kind answers: its ready path, then /status when it has one."""
        return self._probe(base_url, self.probe_timeout, **kind_probe_options(kind_name))

    def wait_serving(self, targets: list[Target]) -> dict[str, tuple[bool, str, Probe]]:
        """Poll every container until it serves, exits, reports a final billing failure, or its deadline passes."""
        outcome: dict[str, tuple[bool, str, Probe]] = {}
        begin = self._clock()
        last_state_check: float | None = None
        poller = Poller(self._sleep)
        while True:
            pending = [target for target in targets if target.name not in outcome]
            if not pending:
                return outcome
            now = self._clock()
            check_state = last_state_check is None or now - last_state_check >= STATE_CHECK_INTERVAL
            if check_state:
                last_state_check = now
            for target in pending:
                result = self.look(target.base_url, target.kind)
                if result.serving:
                    outcome[target.name] = (True, "", result)
                elif result.ready and result.api_status in FINAL_API_STATUSES:
                    outcome[target.name] = (False, describe(result), result)
                elif now - begin >= target.ready_timeout:
                    outcome[target.name] = (
                        False,
                        "not serving within ready_timeout=%ds: %s" % (target.ready_timeout, describe(result)),
                        result,
                    )
                elif check_state:
                    try:
                        state = self.client.inspect_container(target.container_id)["State"]
                    except Exception as exc:  # any failure ends this wait; the caller restores what it replaced
                        outcome[target.name] = (False, "reading its state failed: %s" % self.error_text(exc), result)
                        continue
                    if not state.get("Running"):
                        outcome[target.name] = (
                            False,
                            "the container exited with code %s before it was ready" % state.get("ExitCode"),
                            result,
                        )
            if len(outcome) < len(targets):
                deadline = min(begin + target.ready_timeout for target in targets if target.name not in outcome)
                poller.pause(deadline - self._clock())

    # ---- recovery of an interrupted run --------------------------------------------------------------
    def recover(self, state: HostState) -> list[dict[str, Any]]:
        """Finish or roll back every replacement an interrupted run left behind (the table in this file's docstring).

        A new container that runs is given its ready_timeout to serve, then the previous one is removed; any other
        new container is removed and the previous one gets its name back, is started and must serve again.
        check mode predicts: a running new container finishes. Updates `state` to what the plans then see.
        """
        leftovers = find_leftovers(state)
        foreign = [leftover.name for leftover in leftovers if leftover.new and not leftover.new.managed]
        if foreign:
            raise DeployError(
                "cannot restore %s: a container that speechops.edge did not create holds the name %s; "
                "rename or remove it, then run again (nothing was changed)"
                % (", ".join(name + PREVIOUS_SUFFIX for name in foreign), ", ".join(foreign))
            )
        if not leftovers:
            return []
        if not self.check_mode:
            self.connected()
        running = [leftover for leftover in leftovers if leftover.new is not None and leftover.new.running]
        outcome: dict[str, tuple[bool, str, Probe]] = {}
        if running and not self.check_mode:
            outcome = self.wait_serving(
                [
                    Target(
                        leftover.name,
                        leftover.new.id,
                        leftover.new.base_url(),
                        self._ready_timeout(leftover.name),
                        leftover.new.kind(),
                    )
                    for leftover in running
                    if leftover.new is not None
                ]
            )
        reports: list[dict[str, Any]] = []
        rollbacks: list[tuple[dict[str, Any], Leftover, Replacement]] = []
        for leftover in leftovers:
            new = leftover.new
            report: dict[str, Any] = {
                "name": leftover.name,
                "found": {"previous": leftover.previous.state, "new": new.state if new else "absent"},
            }
            reports.append(report)
            finish = new is not None and new.running and (self.check_mode or outcome[leftover.name][0])
            if finish:
                report["action"] = "finished"
                if not self.check_mode:
                    self._switch_recovered(report, leftover)
                    try:
                        self.remove(leftover.previous.id)
                    except Exception as exc:
                        raise DeployError(
                            "%s serves, but removing %s failed: %s"
                            % (leftover.name, leftover.previous.name, self.error_text(exc)),
                            recovered=reports,
                        ) from None
                    report["serving"] = True
                state.replace(leftover.previous, None)
                continue
            report["action"] = "rolled_back"
            if new is not None and new.running:
                report["reason"] = "the new container did not serve: %s" % outcome[leftover.name][1]
            replacement = Replacement(
                leftover.name,
                leftover.previous,
                start_previous=True,
                ready_timeout=self._ready_timeout(leftover.name),
                renamed=True,
                new_id=new.id if new else None,
            )
            rollbacks.append((report, leftover, replacement))
            if new is not None:
                state.replace(new, None)
            state.replace(
                leftover.previous,
                dataclasses.replace(leftover.previous, name=leftover.name, running=True, state="running", ports=[]),
            )
        if self.check_mode:
            return reports
        for _report, _leftover, replacement in rollbacks:
            self._roll_back(replacement)
        notes = self._restore_notes([replacement for _report, _leftover, replacement in rollbacks])
        for report, _leftover, replacement in rollbacks:
            report["restore"] = notes[replacement.name]
            report["serving"] = notes[replacement.name] == RESTORED_SERVING
            if not replacement.restored:
                raise DeployError(
                    "%s could not be restored from an interrupted run: %s" % (replacement.name, report["restore"]),
                    recovered=reports,
                )
        return reports

    def _switch_recovered(self, report: dict[str, Any], leftover: Leftover) -> None:
        """A finished leftover behind the gateway: drain the previous container before it is removed."""
        item = next((item for item in self.desired if item.name == leftover.name and item.gateway), None)
        if item is None or leftover.new is None:
            return
        plan = Plan(item, leftover.previous, "replace")
        replacement = Replacement(leftover.name, leftover.previous, start_previous=False)
        replacement.slot = leftover.new.slot_of(item.slots)
        replacement.old_slot = leftover.previous.slot_of(item.slots)
        replacement.start_first = leftover.previous.running and replacement.old_slot is not None
        self._switch_gateway(plan, replacement)
        if "switch" in plan.result:
            report["switch"] = plan.result["switch"]

    # ---- replacement and rollback --------------------------------------------------------------
    def _replace(self, plan: Plan, item: DesiredContainer, image_id: str, replacement: Replacement) -> str | None:
        """Steps 1-4 of the table in this file's docstring; any failure rolls back at once.

        The old container is renamed (a running container can be) and kept until the new one is proven, so the
        serving gap is stop + start + the new container's warm-up: no pull, no create inside it.
        Returns the new container's ID, or None when it could not be created or started (the old one serves).
        """
        existing = replacement.previous
        step = "creating the container"
        slot = None if replacement.slot is None else item.slots[replacement.slot]
        try:
            if existing:
                step = "renaming the old container to %s" % replacement.kept_name
                self._rename_old(existing, replacement.kept_name, item.stop_timeout)
                replacement.renamed = True
                step = "creating the container"
            arguments = item.create_arguments(self.client, image_id, slot)
            replacement.new_id = self.client.create_container(**arguments)["Id"]
            plan.result["id"] = replacement.new_id
            if existing and existing.running and not replacement.start_first:
                step = "stopping the old container"
                self.client.stop(existing.id, timeout=item.stop_timeout)
            if item.state == "started":
                step = "starting the new container"
                self.client.start(replacement.new_id)
        except Exception as exc:  # of any type: the old container must serve again
            plan.result["error"] = "%s failed: %s" % (step, self.error_text(exc))
            self._roll_back(replacement)
            return None
        return replacement.new_id

    def _rename_old(self, existing: Existing, kept_name: str, stop_timeout: int) -> None:
        """Rename the old container; a crash-looping one is stopped first (it serves nothing).

        Docker counts a restarting container as running while its network sandbox comes and goes, so its rename
        can fail with 'sandbox ... not found' (moby daemon/rename.go updates the sandbox of running containers).
        The container may also start crash-looping between the listing and the rename: then it is stopped and
        renamed once more. A stopped container has no sandbox to update.
        """
        if existing.state == "restarting":
            self.client.stop(existing.id, timeout=stop_timeout)
            self.client.rename(existing.id, kept_name)
            return
        try:
            self.client.rename(existing.id, kept_name)
        except Exception as exc:
            if "sandbox" not in str(exc):
                raise
            self.client.stop(existing.id, timeout=stop_timeout)
            self.client.rename(existing.id, kept_name)

    def _roll_back(self, replacement: Replacement) -> None:
        """Remove the new container, give the old one its name back and start it (when it served). Never raises.

        When a step fails the others are still tried: an old container started under its kept name serves, and
        the next run's recovery gives it its name back.
        """
        replacement.settled = replacement.undone = True
        problems = []
        name_free = True
        if replacement.new_id:
            try:
                self.remove(replacement.new_id)
            except Exception as exc:
                problems.append("removing the new container failed: %s" % self.error_text(exc))
                name_free = False
        previous = replacement.previous
        if previous is None:
            replacement.restore_error = "; ".join(problems)
            return
        if replacement.renamed and name_free:
            try:
                self.client.rename(previous.id, replacement.name)
                replacement.renamed = False
            except Exception as exc:
                problems.append("renaming %s back failed: %s" % (replacement.kept_name, self.error_text(exc)))
        started = not replacement.start_previous
        if replacement.start_first:
            started = replacement.previous_started = True  # it never stopped: it served all along
        elif replacement.start_previous:
            try:
                self.client.start(previous.id)  # also after a failed or timed-out stop: it may have stopped since
                started = replacement.previous_started = True
            except Exception as exc:
                problems.append("starting it failed: %s" % self.error_text(exc))
        replacement.restored = not replacement.renamed and started
        replacement.restore_error = "; ".join(problems)

    def _restore_notes(self, replacements: list[Replacement]) -> dict[str, str]:
        """Wait until the restored containers serve; say for each what the rollback achieved."""
        targets = [
            Target(rep.name, rep.previous.id, rep.previous.base_url(), rep.ready_timeout, rep.previous.kind())
            for rep in replacements
            if rep.previous is not None and rep.previous_started
        ]
        outcome = self.wait_serving(targets) if targets else {}
        notes = {}
        for rep in replacements:
            if rep.previous is None:
                notes[rep.name] = "there was no previous container" + (
                    " (%s)" % rep.restore_error if rep.restore_error else ""
                )
            elif rep.restore_error and rep.previous_started and outcome[rep.name][0]:
                notes[rep.name] = "the previous container serves again, as %s (%s); the next run renames it back" % (
                    rep.kept_name,
                    rep.restore_error,
                )
            elif rep.restore_error:
                kept = (
                    "it is kept as %s; the next run restores it" % rep.kept_name
                    if rep.renamed
                    else "the next run starts or replaces it"
                )
                notes[rep.name] = "the previous container could not be restored (%s): %s" % (rep.restore_error, kept)
            elif not rep.start_previous:
                notes[rep.name] = "the previous container was restored (stopped, as it was)"
            elif outcome[rep.name][0]:
                notes[rep.name] = RESTORED_SERVING
            else:
                notes[rep.name] = "the previous container was restored but does not serve: %s" % outcome[rep.name][1]
        return notes

    # ---- the run -----------------------------------------------------------------------------
    def pull_images(self, state: HostState, pull_always: bool) -> dict[str, Any]:
        """Only the images the containers need (images_only): no container, directory or license changes.

        The deploy playbook runs this on every host of a rollout at once, before the first batch, so a batch only
        swaps containers and a failed pull stops the rollout before any container changed.
        """
        pulls = images_to_pull(make_plans(self.desired, state, prune=False, pull_always=pull_always))
        if pulls and not self.check_mode:
            self.connected()
            self.pull_all(pulls, state)
        return {
            "changed": bool(pulls),
            "pulled": pulls,
            "directories": [],
            "licenses": [],
            "containers": [],
            "recovered": [],
            "failures": [],
        }

    def run(self, state: HostState, prune: bool, pull_always: bool) -> dict[str, Any]:
        recovered = self.recover(state)
        plans = make_plans(self.desired, state, prune, pull_always)
        plan_licenses(plans, state.image_ids, state.host)
        # Where each container that is left alone answers (its own port or gateway slot), for probe_unchanged.
        self._serving_urls = {plan.name: plan.existing.base_url() for plan in plans if plan.existing}
        if not self.check_mode and any(plan.pull or plan.action != "none" for plan in plans):
            self.connected()  # the SDK (or its failure) before the first change, directories included
        directories = self.ensure_directories()
        pulls = images_to_pull(plans)
        failures: list[str] = []
        if not self.check_mode:
            self.pull_all(pulls, state)  # every image first: an outage leaves running containers untouched
            if pulls:
                # Plan again with the pulled image IDs: with pull=always an image may not have changed at all.
                plans = make_plans(self.desired, state, prune, pull_always=False)
                for plan in plans:
                    plan.pull = bool(plan.desired and plan.desired.image in pulls)
                plan_licenses(plans, state.image_ids, state.host)
            # Every license before any container changes: a failed download leaves its container serving.
            for plan in plans:
                if plan.license_due and plan.desired:
                    self.download_license(plan, state.image_ids[plan.desired.image])
            failures = self.apply(plans, state.image_ids)
            if self.await_running:
                failures += self.await_unchanged(plans)
        licenses = [self.license_entry(plan) for plan in plans if plan.license_due]
        pruned = self.prune_licenses(plans)
        return {
            "changed": bool(recovered or directories or pruned or any(plan.action != "none" for plan in plans)),
            "pulled": pulls,
            "directories": directories,
            "licenses": licenses + [{"path": path, "action": "prune"} for path in pruned],
            "containers": [self.describe_plan(plan) for plan in plans],
            "recovered": self.redact(recovered),
            "failures": failures,
        }

    def await_unchanged(self, plans: list[Plan]) -> list[str]:
        """Wait until the running containers the run left alone serve, each within its ready_timeout: after an engine
        restart they start over, and a host only converged when they serve again."""
        targets = [
            Target(plan.name, plan.existing.id, plan.existing.base_url(), plan.desired.ready_timeout, plan.desired.kind)
            for plan in plans
            if plan.action == "none"
            and plan.existing
            and plan.existing.running
            and plan.desired
            and plan.desired.state == "started"
        ]
        outcome = self.wait_serving(targets) if targets else {}
        return ["%s: %s" % (name, reason) for name, (ok, reason, _probe) in sorted(outcome.items()) if not ok]

    # ---- licenses of disconnected containers ---------------------------------------------------------
    def license_entry(self, plan: Plan) -> dict[str, Any]:
        item = plan.desired
        if item is None:
            raise ValueError("a license entry needs a desired container")
        outcome = (plan.result.get("license") or {}).get("action")
        return {
            "name": item.name,
            "image": item.image,
            "path": plan.license_dir or "%s/<ID of %s>" % (item.license_path, item.image),
            "action": outcome or "download",
        }

    def download_license(self, plan: Plan, image_id: str) -> bool:
        """Run the one-off license download into LICENSE_PATH/<hex>.partial, rename it to <hex> when it succeeded.

        On failure the partial directory and the one-off container are removed and the plan carries the error
        (its container is then left as it is, serving); False. Secrets never reach the result: the logs and the
        error are redacted.
        """
        item = plan.desired
        if item is None or not item.license_path:
            raise ValueError("a license download needs a disconnected container")
        final = item.license_dir(image_id) or ""
        plan.license_dir = final
        partial = final + LICENSE_PARTIAL_SUFFIX
        name = item.name + LICENSE_SUFFIX
        container_id = None
        logs: list[str] = []
        reason = ""
        try:
            self._remove_leftover_download(name)
            _remove_tree(partial)
            os.makedirs(item.license_path, mode=0o750, exist_ok=True)
            os.mkdir(partial, 0o750)
            os.chown(partial, CONTAINER_UID, CONTAINER_GID)
            container_id = self.client.create_container(
                **item.download_arguments(self.client, image_id, name, partial)
            )["Id"]
            self.client.start(container_id)
            code = self._wait_exit(container_id, item.ready_timeout)
            if code is None:
                reason = "it did not finish within ready_timeout=%ds" % item.ready_timeout
            elif code != 0:
                reason = "the download container exited with code %s" % code
            elif not self.host.license_present(partial):
                reason = "the download container exited with code 0 but wrote no license file"
            if reason:
                logs = self.logs(container_id)
        except Exception as exc:  # of any type: the serving container is not touched
            reason = self.error_text(exc)
            logs = self.logs(container_id) if container_id else []
        finally:
            if container_id:
                try:
                    self.remove(container_id)
                except Exception as exc:
                    reason = reason or "removing the download container %s failed: %s" % (name, self.error_text(exc))
        if not reason:
            try:
                _remove_tree(final)  # an empty directory left by hand
                os.rename(partial, final)
            except OSError as exc:
                reason = "moving the license to %s failed: %s" % (final, self.error_text(exc))
        if not reason:
            plan.result["license"] = {"path": final, "action": "downloaded"}
            return True
        _remove_tree(partial)
        shown_logs = logs[-LICENSE_LOG_LINES:]
        plan.result["license"] = {"path": final, "action": "failed"}
        plan.result["logs"] = logs
        plan.result["error"] = self.redact(
            "downloading the license for %s failed: %s%s; the running container was not changed"
            % (item.image, reason, " (last log lines: %s)" % " / ".join(shown_logs) if shown_logs else "")
        )
        return False

    def _remove_leftover_download(self, name: str) -> None:
        """Remove the one-off container an interrupted run left behind; a container of that name that this
        collection did not create is never touched (the download fails instead)."""
        try:
            details = self.client.inspect_container(name)
        except _docker_api.NotFound:
            return
        if LABEL_LICENSE_DOWNLOAD not in ((details.get("Config") or {}).get("Labels") or {}):
            raise DeployError(
                "a container named %s exists that speechops.edge did not create: remove or rename it" % name
            )
        self.remove(details["Id"])

    def _wait_exit(self, container_id: str, timeout: float) -> int | None:
        """The exit code of a container once it ran and exited; None when the deadline passed first."""
        begin = self._clock()
        poller = Poller(self._sleep)
        while True:
            state = self.client.inspect_container(container_id)["State"]
            if not state.get("Running") and state.get("Status") != "created":
                return int(state.get("ExitCode") or 0)
            remaining = begin + timeout - self._clock()
            if remaining <= 0:
                return None
            poller.pause(remaining)

    def prune_licenses(self, plans: list[Plan]) -> list[str]:
        """License directories of images a disconnected container no longer runs, once it serves from its current
        one (after a failure the old container may still need its own). Only <64 hex>[.partial] names go."""
        pruned = []
        for plan in plans:
            item = plan.desired
            if item is None or not item.disconnected or item.state == "absent" or not item.license_path:
                continue
            if plan.name in self._failed or "error" in plan.result or not plan.license_dir:
                continue
            if plan.license_due and (
                self.check_mode or (plan.result.get("license") or {}).get("action") != "downloaded"
            ):
                continue
            keep = os.path.basename(plan.license_dir)
            for entry in self.host.listdir(item.license_path) or []:
                path = os.path.join(item.license_path, entry)
                if entry == keep or not LICENSE_DIR_RE.match(entry) or not self.host.is_directory(path):
                    continue
                pruned.append(path)
                if not self.check_mode:
                    _remove_tree(path)
        return pruned

    def apply(self, plans: list[Plan], image_ids: dict[str, str]) -> list[str]:
        """Make the changes; any failure restores what it replaced. Returns the failures, one per container."""
        replacements: dict[str, Replacement] = {}
        try:
            return self._apply(plans, image_ids, replacements)
        except BaseException:
            # An interruption the process survives (KeyboardInterrupt, SystemExit): put the old containers back
            # without waiting; the next run's recovery checks that they serve.
            for replacement in replacements.values():
                if not replacement.settled:
                    self._roll_back(replacement)
            raise

    def _apply(self, plans: list[Plan], image_ids: dict[str, str], replacements: dict[str, Replacement]) -> list[str]:
        waiting: list[Target] = []
        new_ones: list[tuple[Plan, DesiredContainer, Replacement]] = []
        # Removals and stops first: they free the host ports that new containers may take over.
        for plan in sorted(plans, key=lambda plan: {"remove": 0, "stop": 1}.get(plan.action, 2)):
            item, existing = plan.desired, plan.existing
            if "error" in plan.result:
                continue  # its license download failed: the container stays as it is
            if plan.action in ("create", "replace") and item:
                replacement = Replacement(
                    item.name,
                    existing,
                    start_previous=bool(existing and existing.running),
                    ready_timeout=item.ready_timeout,
                )
                self._choose_slot(plan, item, replacement)
                replacements[item.name] = replacement
                if existing is None:
                    new_ones.append((plan, item, replacement))  # created last, at once (below)
                    continue
                container_id = self._replace(plan, item, image_ids[item.image], replacement)
                self._started(plan, item, replacement, container_id, waiting)
                continue
            try:
                if plan.action == "remove" and existing:
                    self.remove(existing.id)
                elif plan.action == "stop" and existing:
                    self.client.stop(existing.id, timeout=item.stop_timeout if item else 30)
                elif plan.action == "start" and item and existing:
                    self.client.start(existing.id)
                    waiting.append(Target(item.name, existing.id, existing.base_url(), item.ready_timeout, item.kind))
            except Exception as exc:
                plan.result["error"] = "%s failed: %s" % (plan.action, self.error_text(exc))

        # Containers with no predecessor replace nothing and free no port: the engine creates and starts them at
        # once, so the last one starts (and warms up) about when the first does. Each rolls itself back on failure.
        for (plan, item, replacement), container_id in self._create_new(new_ones, image_ids):
            self._started(plan, item, replacement, container_id, waiting)

        outcome = self.wait_serving(waiting) if waiting else {}
        failed: list[tuple[Plan, str]] = []
        for plan in plans:
            item = plan.desired
            replacement = replacements.get(plan.name) if item else None
            if "error" in plan.result:
                failed.append((plan, plan.result["error"]))
                continue
            if item is None or item.name not in outcome:
                continue
            ok, reason, result = outcome[item.name]
            plan.result["probe"] = result.as_dict()
            if ok:
                if replacement:
                    self._finish(plan, replacement)
                    if "error" in plan.result:
                        failed.append((plan, plan.result["error"]))
                elif item.gateway and plan.existing:  # started again: the gateway sends it traffic again
                    started = Replacement(item.name, None, start_previous=False)
                    started.slot = plan.existing.slot_of(item.slots)
                    self._switch_gateway(plan, started)
                continue
            if replacement and replacement.new_id:
                plan.result["logs"] = self.logs(replacement.new_id)
                self._roll_back(replacement)
            failed.append((plan, reason))

        notes = self._restore_notes([replacement for replacement in replacements.values() if replacement.undone])
        self._failed = {plan.name for plan, _reason in failed}
        failures = []
        for plan, reason in failed:
            if plan.name in notes:
                plan.result["rolled_back"] = replacements[plan.name].restored
                plan.result["restore"] = notes[plan.name]
                failures.append("%s: %s; %s" % (plan.name, reason, notes[plan.name]))
            else:
                failures.append("%s: %s" % (plan.name, reason))
        return failures

    def _create_new(
        self, new_ones: list[tuple[Plan, DesiredContainer, Replacement]], image_ids: dict[str, str]
    ) -> list[tuple[tuple[Plan, DesiredContainer, Replacement], str | None]]:
        """Create and start containers that replace nothing, concurrently (the SDK's client is shared by threads,
        as docker-compose v1 did); each with its new container's ID, or None (its failure is in its plan)."""

        def create(
            entry: tuple[Plan, DesiredContainer, Replacement],
        ) -> tuple[tuple[Plan, DesiredContainer, Replacement], str | None]:
            plan, item, replacement = entry
            return entry, self._replace(plan, item, image_ids[item.image], replacement)

        if len(new_ones) < 2:
            return [create(entry) for entry in new_ones]
        with ThreadPoolExecutor(max_workers=min(len(new_ones), ENGINE_WORKERS)) as pool:
            return list(pool.map(create, new_ones))

    def _started(
        self,
        plan: Plan,
        item: DesiredContainer,
        replacement: Replacement,
        container_id: str | None,
        waiting: list[Target],
    ) -> None:
        """After _replace: a started container is awaited; one that is not to run is finished at once."""
        new_url = item.url(None if replacement.slot is None else item.slots[replacement.slot])
        if container_id and item.state == "started":
            waiting.append(Target(item.name, container_id, new_url, item.ready_timeout, item.kind))
        elif container_id:
            self._finish(plan, replacement)

    def _choose_slot(self, plan: Plan, item: DesiredContainer, replacement: Replacement) -> None:
        """Behind the gateway: the new container takes the slot the old one does not use, and starts beside it when
        the host holds both at once (memory and cores); otherwise the old one stops first, and the result says why."""
        if not item.gateway:
            return
        existing = replacement.previous
        replacement.old_slot = existing.slot_of(item.slots) if existing else None
        replacement.slot = 1 - replacement.old_slot if replacement.old_slot is not None else 0
        plan.result["slot"] = item.slots[replacement.slot]
        if not (existing and existing.running and item.state == "started"):
            return
        reason = self._no_room_for_both(item, existing)
        replacement.start_first = not reason
        plan.result["order"] = "stop-first" if reason else "start-first"
        if reason:
            plan.result["order_reason"] = reason

    def _no_room_for_both(self, item: DesiredContainer, existing: Existing) -> str:
        """Why the host cannot run the old and the new container at once ("" when it can)."""
        capacity = self._capacity()
        if capacity is None:
            return ""
        memory, cores = capacity
        planned = sum(other.memory_bytes for other in self.desired if other.state == "started") + item.memory_bytes
        if planned > memory:
            return "the host's memory (%s) cannot hold the planned containers (%s) and a second %s at once" % (
                format_gib(memory),
                format_gib(planned - item.memory_bytes),
                item.name,
            )
        old_cpus = float(existing.public_spec().get("cpus") or item.cpus)
        if old_cpus + item.cpus > cores:
            return "the host's %g cores cannot run the old (%g CPUs) and the new (%g CPUs) %s at once" % (
                cores,
                old_cpus,
                item.cpus,
                item.name,
            )
        return ""

    def _switch_gateway(self, plan: Plan, replacement: Replacement) -> None:
        """Send new connections to the new slot and drain the old one (bounded), before the old container goes."""
        if replacement.slot is None or not self.gateway.serves(replacement.name):
            return  # no gateway in front yet (its first start follows the containers): nothing to switch
        from ansible_collections.speechops.edge.plugins.module_utils._gateway import GatewayError

        old_slot = replacement.old_slot if replacement.start_first else None
        try:
            plan.result["switch"] = self.gateway.switch(
                replacement.name, replacement.slot, old_slot, self.drain_timeout
            )
        except (GatewayError, OSError) as exc:
            plan.result["switch"] = {"error": str(exc)}

    def _finish(self, plan: Plan, replacement: Replacement) -> None:
        """Step 6: the new container is proven (or is not to run): the gateway switches to it, the old one goes."""
        replacement.settled = True
        self._switch_gateway(plan, replacement)
        if replacement.previous is None:
            return
        try:
            self.remove(replacement.previous.id)
        except Exception as exc:
            plan.result["error"] = "the new container serves, but removing %s failed: %s; the next run removes it" % (
                replacement.kept_name,
                self.error_text(exc),
            )

    def describe_plan(self, plan: Plan) -> dict[str, Any]:
        item, existing = plan.desired, plan.existing
        past = {
            "none": "unchanged",
            "create": "created",
            "replace": "replaced",
            "start": "started",
            "stop": "stopped",
            "remove": "removed",
        }[plan.action]
        entry: dict[str, Any] = {"name": plan.name, "action": past, "reason": plan.reason, "pull": plan.pull}
        if item:
            entry.update(
                kind=item.kind,
                state=item.state,
                image=item.image,
                host_port=item.host_port,
                bind_address=item.bind_address,
                endpoints=item.endpoints(),
                model_path=item.model_path,
                diff={
                    "before": existing.public_spec() if existing else {},
                    "after": item.public_spec() if item.state != "absent" else {},
                },
            )
        else:
            entry["diff"] = {"before": existing.public_spec() if existing else {}, "after": {}}
        if plan.drift:
            # The label matches the desired spec: the diff worth showing is the drifted settings alone.
            entry["drift"] = self.redact(plan.drift)
            entry["diff"] = {
                "before": {drift["setting"]: drift["actual"] for drift in entry["drift"]},
                "after": {drift["setting"]: drift["desired"] for drift in entry["drift"]},
            }
        if item and item.disconnected and item.state != "absent":
            license_state = {"path": plan.license_dir, "action": "download" if plan.license_due else "present"}
            if plan.license_due:
                shown = "download for %s" % item.image
                entry["diff"]["before"] = dict(entry["diff"]["before"], license="missing")
                entry["diff"]["after"] = dict(entry["diff"]["after"], license=shown)
            entry["license"] = license_state
        entry.update(self.redact(plan.result))
        if "probe" in entry:
            entry.update(entry.pop("probe"))
        return entry

    def probe_unchanged(self, results: list[dict[str, Any]]) -> None:
        """Ready and billing status of containers that were left alone and should serve."""
        for entry in results:
            if entry.get("state") == "started" and "ready" not in entry and entry["action"] != "removed":
                if self.check_mode and entry["action"] != "unchanged":
                    continue
                base_url = self._serving_urls.get(entry["name"])
                if base_url:
                    entry.update(self.look(base_url, entry.get("kind")).as_dict())


def _remove_tree(path: str) -> None:
    """Remove a directory tree (or file) if it is there; a symbolic link itself, never what it points to."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def deploy(
    client: Any,
    desired: list[DesiredContainer],
    prune: bool,
    pull_always: bool,
    check_mode: bool,
    probe_running: bool,
    connect: Callable[[], Any] | None = None,
    state: HostState | None = None,
    images_only: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """The whole host in one call. Raises DeployError for problems found before any change.

    client reads the host state (an SDK client or an EngineReader); connect() returns the SDK client for
    changes, when client is not one. state: the host state when the caller read it already.
    options: Deployer's prober, clock and sleep (tests).
    """
    if state is None:
        try:
            state = HostState(client)
        except (_docker_api.DockerException, OSError) as exc:
            raise DeployError("cannot read the host's containers: %s" % exc) from None
    # Names and ports concern containers; images_only changes none (the plan checked them already).
    problems = [] if images_only else check_host_conflicts(desired, state, prune)
    if problems:
        raise DeployError("invalid containers (nothing was changed): " + "; ".join(problems), problems=problems)
    deployer = (
        Deployer(None, desired, check_mode, connect=connect, host=state.host, **options)
        if connect
        else Deployer(client, desired, check_mode, host=state.host, **options)
    )
    try:
        if images_only:
            return deployer.pull_images(state, pull_always)
        result = deployer.run(state, prune, pull_always)
    except (_docker_api.DockerException, OSError) as exc:
        # Reads, directories and pulls raise here; the changes to containers report their failures instead.
        raise DeployError(
            "the Docker engine or the host failed before any container was changed: %s" % deployer.error_text(exc)
        ) from None
    if probe_running:
        deployer.probe_unchanged(result["containers"])
    return result


def _capacity() -> tuple[int, float]:
    """Memory (bytes, cgroup limits included) and cores of this host, as host_check judges them."""
    # Imported here: only a replacement asks (whether old and new fit at once), not an unchanged host.
    from ansible_collections.speechops.edge.plugins.module_utils._host_facts import read_host_facts

    facts = read_host_facts()
    return facts.memory_bytes, facts.cores


def desired_from_params(params: dict[str, Any]) -> list[DesiredContainer]:
    """The module's containers with its defaults (SpecError: a problem in them)."""
    defaults = {key: params.get(key) for key in INHERITED}
    return build_desired(params["containers"], defaults, gateway=params["gateway"])


def run_speech_containers(module: Any) -> None:
    """The speech_containers module: validate everything, then converge, then report."""
    params = module.params
    secrets = [s for s in (params.get("api_key"),) if s]
    try:
        desired = desired_from_params(params)
    except SpecError as exc:
        secrets += [str(entry.get(key)) for entry in params["containers"] for key in ("api_key", "http_proxy_creds")]
        module.fail_json(
            msg=redact_text("invalid containers (nothing was changed): %s" % exc, secrets),
            problems=redact_value(exc.problems, secrets),
        )

    def connect() -> Any:
        # The first change needs the SDK: fail here, before it, when the SDK is missing or too old.
        require_docker_sdk(module)
        try:
            return docker_client(params["docker_host"], params["timeout"])
        except (_docker_api.DockerException, OSError) as exc:
            module.fail_json(msg=engine_error(exc, params["docker_host"]))

    records = planned_records(module)
    reader = engine_reader(params["docker_host"], params["timeout"])
    if reader is None:  # an engine only the SDK can reach (ssh://, TLS): the SDK reads too
        client = connect()
        state = None
    else:
        client = reader
        try:
            # Making the SDK's client proves the engine answers; here the reader's first call does.
            state = HostState(reader)
        except OSError as exc:
            module.fail_json(msg=engine_error(exc, params["docker_host"]))

    def converge(state: HostState | None, **options: Any) -> tuple[dict[str, Any] | None, DeployError | None]:
        try:
            return (
                deploy(
                    client,
                    desired,
                    state=state,
                    prune=params["prune"],
                    pull_always=params["pull"] == "always",
                    images_only=params["images_only"],
                    check_mode=module.check_mode,
                    probe_running=params["probe"],
                    connect=connect if reader is not None else None,
                    capacity=_capacity,
                    drain_timeout=params["drain_timeout"],
                    **options,
                ),
                None,
            )
        except DeployError as exc:
            return None, exc

    result, error = converge(state)
    failures = result["failures"] if result is not None else [str(error)]
    stale = [] if module.check_mode else engine_held_ports(client, failures)
    restart: dict[str, Any] | None = None
    if stale and params["engine_restart_on_stale_port"]:
        restart = restarted_engine(module, reader, stale, failures)
        result, error = converge(None, await_running=True)  # the host read afresh, after the restart
        stale = []
    extra = {"engine_restart": restart} if restart else {}
    advice = "; " + stale_port_advice(stale) if stale else ""
    if result is None:  # converge() returns either a result or the error that stopped it
        module.fail_json(msg=str(error) + advice, **(error.extra if error else {}), **extra)
        return
    output = converge_output(result, bool(gateway_files()), module._diff)
    if restart:
        output.update(changed=True, **extra)
        if module._diff:
            output["diff"].insert(0, engine_restart_diff(restart))
    if result["failures"]:
        # The records stay as they were: they describe a converged host.
        module.fail_json(
            msg="speech containers did not converge: %s%s" % (" | ".join(result["failures"]), advice), **output
        )
    if records is not None:
        directory = params["keep_records"]["path"]
        if not module.check_mode:
            try:
                write_records(directory, records)
            except OSError as exc:
                module.fail_json(
                    msg="the containers converged, but writing their records in %s failed: %s" % (directory, exc),
                    **output,
                )
        output["changed"] = output["changed"] or bool(records["write"] or records["remove"])
        if module._diff:
            output["diff"] += records_diff(directory, records)
        output["records"] = records_output(directory, records)
    module.exit_json(**output)


def engine_held_ports(client: Any, failures: list[str]) -> list[int]:
    """Host ports a failed start found allocated by the engine for no running container (_engine_service)."""
    if not allocated_ports(failures):
        return []
    try:
        running = client.containers()
    except (_docker_api.DockerException, OSError):
        return []  # the failure says what went wrong; no diagnosis is better than a wrong one
    return stale_ports(failures, running)


def restarted_engine(module: Any, reader: Any, ports: list[int], failures: list[str]) -> dict[str, Any]:
    """Restart the host's engine to free ports it holds for no container (the run then converges again)."""

    def answers() -> bool:
        try:
            reader.containers()
        except OSError:
            return False
        return True

    try:
        command = restart_engine(module.params["docker_host"], module.run_command, answers, time.monotonic, time.sleep)
    except EngineRestartError as exc:
        module.fail_json(msg="%s; %s; restarting it failed: %s" % (" | ".join(failures), stale_port_advice(ports), exc))
    return {"ports": ports, "command": command, "failures": failures}


def engine_restart_diff(restart: dict[str, Any]) -> dict[str, Any]:
    held = ", ".join(str(port) for port in restart["ports"])
    return {
        "before": {"docker_engine": "holds host port %s for no container" % held},
        "after": {"docker_engine": "restarted (%s)" % restart["command"]},
        "before_header": "docker engine",
        "after_header": "docker engine",
    }


def planned_records(module: Any) -> dict[str, Any] | None:
    """What keep_records would write and remove, read before any change (None: no keep_records, or
    images_only). A problem in it fails the module here, before anything changed."""
    params = module.params
    if not params["keep_records"] or params["images_only"]:
        return None
    return checked_plan(module, params["keep_records"])


def converge_output(result: dict[str, Any], gateway_present: bool, diff: bool) -> dict[str, Any]:
    """The module's result (without failures) from deploy()'s: the diff of each changed container on its own."""
    diffs = [
        dict(entry.pop("diff"), before_header=entry["name"], after_header=entry["name"])
        for entry in result["containers"]
        if entry["action"] != "unchanged"
    ]
    for entry in result["containers"]:
        entry.pop("diff", None)
    output = dict(
        changed=result["changed"],
        containers=result["containers"],
        pulled=result["pulled"],
        directories=result["directories"],
        licenses=result["licenses"],
        recovered=result["recovered"],
        # Whether the host has this collection's gateway: the role takes it away (speech_gateway false) only then.
        gateway_present=gateway_present,
    )
    if diff:
        output["diff"] = diffs
    return output
