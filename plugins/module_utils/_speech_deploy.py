# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge every speech container of one host in one call, with health-gated replacement and rollback.

Cost of the unchanged path: one container list and one image list from the engine, then a local
/ready and /status probe per container. Nothing is compared field by field against Docker's
normalised state: the config-hash label decides. Those two lists are read with the standard library
(_docker_api.EngineReader); the Docker SDK is imported and connected only when something changes
(Deployer.client), which keeps ~85 ms of SDK import and API negotiation off every deploy's plan.
Exception classes of the SDK are named as _docker_api.X so that naming them loads nothing early.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils import _docker_api
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    INHERITED,
    LABEL_HASH,
    LABEL_MANAGED,
    LABEL_NAME,
    LABEL_SPEC,
    PREVIOUS_SUFFIX,
    DesiredContainer,
    SpecError,
    build_desired,
    owned_directories,
)
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import (
    docker_client,
    engine_error,
    engine_reader,
    require_docker_sdk,
)
from ansible_collections.speechops.edge.plugins.module_utils._redact import redact_text, redact_value
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import (
    FINAL_API_STATUSES,
    Probe,
    describe,
    probe,
)

POLL_INTERVAL = 0.1
LOG_LINES = 20


class DeployError(Exception):
    """A failure to report with fail_json; the message is already redacted."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


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
        )

    def public_spec(self) -> dict[str, Any]:
        try:
            return json.loads(self.labels.get(LABEL_SPEC, "{}"))
        except ValueError:
            return {}


@dataclass
class Plan:
    desired: DesiredContainer | None
    existing: Existing | None
    action: str  # none, create, replace, start, stop, remove
    pull: bool = False
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.desired.name if self.desired else self.existing.name  # type: ignore[union-attr]


class HostState:
    """What the engine has now: two API calls for the whole host."""

    def __init__(self, client: Any) -> None:
        self.containers = [Existing.from_list(item) for item in client.containers(all=True)]
        self.by_name = {item.name: item for item in self.containers}
        self.image_ids: dict[str, str] = {}
        for image in client.images():
            for tag in image.get("RepoTags") or []:
                self.image_ids[tag] = image["Id"]

    def managed(self) -> dict[str, Existing]:
        return {
            item.labels.get(LABEL_NAME, item.name): item
            for item in self.containers
            if item.managed and not item.name.endswith(PREVIOUS_SUFFIX)
        }


def _port_holders(state: HostState, port: int) -> list[Existing]:
    return [item for item in state.containers if any(p.get("PublicPort") == port for p in item.ports)]


def _port_taken_by_process(bind_address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in bind_address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_address, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _removed_by_run(desired: list[DesiredContainer], state: HostState, prune: bool) -> set[str]:
    """Docker names of the managed containers this run removes (state=absent, prune), whose ports it frees."""
    wanted = {item.name: item for item in desired}
    return {
        existing.name
        for name, existing in state.managed().items()
        if (name in wanted and wanted[name].state == "absent") or (prune and name not in wanted)
    }


def check_host_conflicts(desired: list[DesiredContainer], state: HostState, prune: bool = False) -> list[str]:
    """Problems only the host can reveal: foreign containers with our names, ports already taken."""
    problems = []
    freed = _removed_by_run(desired, state, prune)
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
        holders = [holder.name for holder in _port_holders(state, item.host_port) if holder.name not in ours]
        if holders:
            problems.append(
                "%s.host_port: %d is published by container %s: choose a free host port"
                % (where, item.host_port, ", ".join(holders))
            )
        elif not _port_holders(state, item.host_port) and _port_taken_by_process(item.bind_address, item.host_port):
            problems.append(
                "%s.host_port: %d is in use by a process on the host (%s:%d): choose a free host port"
                % (where, item.host_port, item.bind_address, item.host_port)
            )
    return problems


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
        elif image_id is None or existing.labels.get(LABEL_HASH) != item.config_hash(image_id):
            plans.append(Plan(item, existing, "replace", pull, "image or settings changed"))
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


class Deployer:
    def __init__(
        self,
        client: Any,
        desired: list[DesiredContainer],
        check_mode: bool,
        probe_timeout: float = 3.0,
        connect: Callable[[], Any] | None = None,
    ):
        # Either an SDK client, or connect(): it makes one on first use, which only a change needs.
        self._client = client
        self._connect = connect
        self.desired = desired
        self.check_mode = check_mode
        self.probe_timeout = probe_timeout
        self.secrets = [secret for item in desired for secret in item.secrets]

    @property
    def client(self) -> Any:
        if self._client is None and self._connect is not None:
            self._client = self._connect()
        return self._client

    def connected(self) -> None:
        """Connect now (a no-op when connected)."""
        if self.client is None:
            raise DeployError("no Docker engine client")

    # ---- helpers -------------------------------------------------------------------------------
    def redact(self, value: Any) -> Any:
        return redact_value(value, self.secrets)

    def logs(self, container_id: str) -> list[str]:
        try:
            raw = self.client.logs(container_id, stdout=True, stderr=True, tail=LOG_LINES)
        except _docker_api.DockerException:
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

    def ensure_directories(self) -> list[str]:
        """Create the writable mount sources, owned by the container's non-root user. Returns those changed."""
        changed = []
        for path, uid, gid in owned_directories(self.desired):
            try:
                stat = os.stat(path)
                if (stat.st_uid, stat.st_gid) == (uid, gid):
                    continue
            except FileNotFoundError:
                pass
            changed.append(path)
            if not self.check_mode:
                os.makedirs(path, mode=0o750, exist_ok=True)
                os.chown(path, uid, gid)
        return changed

    def wait_serving(self, started: dict[str, tuple[DesiredContainer, str]]) -> dict[str, tuple[bool, str, Probe]]:
        """Poll every new container until it serves, exits, reports a final billing failure, or its deadline passes."""
        outcome: dict[str, tuple[bool, str, Probe]] = {}
        begin = time.monotonic()
        last_state_check = 0.0
        last: dict[str, Probe] = {}
        while len(outcome) < len(started):
            now = time.monotonic()
            check_state = now - last_state_check >= 1.0
            if check_state:
                last_state_check = now
            for name, (item, container_id) in started.items():
                if name in outcome:
                    continue
                result = probe(item.base_url, self.probe_timeout)
                last[name] = result
                if result.serving:
                    outcome[name] = (True, "", result)
                elif result.ready and result.api_status in FINAL_API_STATUSES:
                    outcome[name] = (False, describe(result), result)
                elif now - begin >= item.ready_timeout:
                    outcome[name] = (
                        False,
                        "not serving within ready_timeout=%ds: %s" % (item.ready_timeout, describe(result)),
                        result,
                    )
                elif check_state:
                    state = self.client.inspect_container(container_id)["State"]
                    if not state.get("Running"):
                        outcome[name] = (
                            False,
                            "the container exited with code %s before it was ready" % state.get("ExitCode"),
                            result,
                        )
            if len(outcome) < len(started):
                time.sleep(POLL_INTERVAL)
        return outcome

    def _replace(
        self,
        plan: Plan,
        item: DesiredContainer,
        existing: Existing | None,
        image_id: str,
        previous: dict[str, Existing],
    ) -> str | None:
        """Create the new container while the old one still serves; stop the old one only to hand over the port.

        The old container is renamed (a running container can be) and kept until the new one is proven, so the
        serving gap is stop + start + the new container's warm-up: no pull, no create inside it.
        Returns the new container's ID, or None when it could not be created or started (the old one serves).
        """
        if existing:
            self._remove_previous(existing.name)
            self.client.rename(existing.id, existing.name + PREVIOUS_SUFFIX)
            previous[item.name] = existing
        try:
            container_id = self.client.create_container(**item.create_arguments(self.client, image_id))["Id"]
        except (_docker_api.DockerException, OSError) as exc:
            if existing:
                self.client.rename(existing.id, existing.name)  # never stopped: it still serves
            plan.result = {"error": self.redact(str(exc))}
            return None
        plan.result = {"id": container_id}
        if existing and existing.running:
            self.client.stop(existing.id, timeout=item.stop_timeout)
        if item.state != "started":
            return container_id
        try:
            self.client.start(container_id)
        except (_docker_api.DockerException, OSError) as exc:
            self.remove(container_id)
            if existing:
                self._restore(existing, item)
            plan.result = {"error": self.redact(str(exc))}
            return None
        return container_id

    def remove(self, container_id: str) -> None:
        try:
            self.client.remove_container(container_id, force=True)
        except _docker_api.NotFound:
            pass

    # ---- the run -----------------------------------------------------------------------------
    def run(self, state: HostState, prune: bool, pull_always: bool) -> dict[str, Any]:
        plans = make_plans(self.desired, state, prune, pull_always)
        if not self.check_mode and any(plan.pull or plan.action != "none" for plan in plans):
            self.connected()  # the SDK (or its failure) before the first change, directories included
        directories = self.ensure_directories()
        pulls = sorted({plan.desired.image for plan in plans if plan.pull and plan.desired})
        failures: list[str] = []
        if not self.check_mode:
            for image in pulls:  # every image first: an outage leaves running containers untouched
                state.image_ids[image] = self.pull(image)
            if pulls:
                # Plan again with the pulled image IDs: with pull=always an image may not have changed at all.
                plans = make_plans(self.desired, state, prune, pull_always=False)
                for plan in plans:
                    plan.pull = bool(plan.desired and plan.desired.image in pulls)
            failures = self.apply(plans, state.image_ids)
        return {
            "changed": bool(directories or any(plan.action != "none" for plan in plans)),
            "pulled": pulls,
            "directories": directories,
            "containers": [self.describe_plan(plan) for plan in plans],
            "failures": failures,
        }

    def _remove_previous(self, name: str) -> None:
        """Remove a container kept from an earlier replacement (left over when a run was interrupted)."""
        for container in self.client.containers(all=True, filters={"name": "^/%s$" % (name + PREVIOUS_SUFFIX)}):
            self.remove(container["Id"])

    def apply(self, plans: list[Plan], image_ids: dict[str, str]) -> list[str]:
        started: dict[str, tuple[DesiredContainer, str]] = {}
        previous: dict[str, Existing] = {}
        # Removals and stops first: they free the host ports that new containers may take over.
        for plan in sorted(plans, key=lambda plan: {"remove": 0, "stop": 1}.get(plan.action, 2)):
            item, existing = plan.desired, plan.existing
            if plan.action == "remove" and existing:
                self.remove(existing.id)
                self._remove_previous(existing.name)
            elif plan.action == "stop" and existing:
                self.client.stop(existing.id, timeout=item.stop_timeout if item else 30)
            elif plan.action == "start" and item and existing:
                self.client.start(existing.id)
                started[item.name] = (item, existing.id)
            elif plan.action in ("create", "replace") and item:
                container_id = self._replace(plan, item, existing, image_ids[item.image], previous)
                if container_id and item.state == "started":
                    started[item.name] = (item, container_id)

        outcome = self.wait_serving(started) if started else {}
        failures: list[str] = []
        restored: dict[str, tuple[DesiredContainer, str]] = {}
        for plan in plans:
            item = plan.desired
            if item is None:
                continue
            if "error" in plan.result:
                failures.append("%s: could not create or start the container: %s" % (item.name, plan.result["error"]))
                plan.result["rolled_back"] = item.name in previous
                continue
            if item.name not in outcome:
                continue
            ok, reason, result = outcome[item.name]
            plan.result["probe"] = result.as_dict()
            if ok:
                if item.name in previous:
                    self.remove(previous[item.name].id)
                continue
            container_id = started[item.name][1]
            plan.result["logs"] = self.logs(container_id)
            if plan.action in ("create", "replace"):
                self.remove(container_id)
            if item.name in previous:
                self._restore(previous[item.name], item)
                plan.result["rolled_back"] = True
                if previous[item.name].running:
                    restored[item.name] = (item, previous[item.name].id)
            failures.append("%s: %s" % (item.name, reason))
        if restored:
            # The previous container must serve again before the task reports the failure.
            for name, (ok, reason, _result) in self.wait_serving(restored).items():
                note = (
                    "the previous container was restored and serves again"
                    if ok
                    else ("the previous container was restored but does not serve: %s" % reason)
                )
                failures = [f + "; " + note if f.startswith(name + ": ") else f for f in failures]
        return failures

    def _restore(self, existing: Existing, item: DesiredContainer) -> None:
        self.client.rename(existing.id, existing.name)
        if existing.running:
            self.client.start(existing.id)

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
                entry.update(probe(entry["endpoints"]["ready"].rsplit("/", 1)[0], self.probe_timeout).as_dict())


def deploy(
    client: Any,
    desired: list[DesiredContainer],
    prune: bool,
    pull_always: bool,
    check_mode: bool,
    probe_running: bool,
    connect: Callable[[], Any] | None = None,
    state: HostState | None = None,
) -> dict[str, Any]:
    """The whole host in one call. Raises DeployError for problems found before any change.

    client reads the host state (an SDK client or an EngineReader); connect() returns the SDK client for
    changes, when client is not one. state: the host state when the caller read it already.
    """
    if state is None:
        try:
            state = HostState(client)
        except (_docker_api.DockerException, OSError) as exc:
            raise DeployError("cannot read the host's containers: %s" % exc) from None
    problems = check_host_conflicts(desired, state, prune)
    if problems:
        raise DeployError("invalid containers (nothing was changed): " + "; ".join(problems), problems=problems)
    deployer = (
        Deployer(None, desired, check_mode, connect=connect) if connect else Deployer(client, desired, check_mode)
    )
    try:
        result = deployer.run(state, prune, pull_always)
    except _docker_api.APIError as exc:
        raise DeployError("the Docker engine refused a change: %s" % deployer.redact(str(exc))) from None
    if probe_running:
        deployer.probe_unchanged(result["containers"])
    return result


def run_speech_containers(module: Any) -> None:
    """The speech_containers module: validate everything, then converge, then report."""
    params = module.params
    defaults = {key: params.get(key) for key in INHERITED}
    secrets = [s for s in (params.get("api_key"),) if s]
    try:
        desired = build_desired(params["containers"], defaults)
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
    try:
        result = deploy(
            client,
            desired,
            state=state,
            prune=params["prune"],
            pull_always=params["pull"] == "always",
            check_mode=module.check_mode,
            probe_running=params["probe"],
            connect=connect if reader is not None else None,
        )
    except DeployError as exc:
        module.fail_json(msg=str(exc), **exc.extra)
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
    )
    if module._diff:
        output["diff"] = diffs
    if result["failures"]:
        module.fail_json(msg="speech containers did not converge: %s" % " | ".join(result["failures"]), **output)
    module.exit_json(**output)
