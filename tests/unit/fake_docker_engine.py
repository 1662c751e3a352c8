# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An in-memory Docker engine with the low-level APIClient calls _speech_deploy makes, and failure injection.

Behaviour follows the Docker Engine API where the deploy code depends on it:
- create_container keeps the container in state "created"; the name is taken at once (409 Conflict on reuse);
- start of a running container is a no-op (the engine answers 304, which the SDK does not raise);
- start fails when another running container publishes the same host port, or the engine holds it for no container
  (held_ports: an engine stopped during a start, moby/libnetwork#1790), with Docker's words ("driver failed
  programming external connectivity on endpoint NAME (ID): Bind for 0.0.0.0:PORT failed: port is already
  allocated", as moby/moby#36591 quotes it); only a restart of the engine (restart_daemon) frees a held port;
- remove_container of a running container needs force=True;
- inspect's HostConfig is what docker.types.HostConfig sent (the SDK itself renders it here), with the engine's
  defaults for the fields the client left out; Config.Env is the image's ENV followed by the container's;
- a daemon restart (reboot) starts "always" containers, and "unless-stopped" ones that were not stopped by hand
  (docs.docker.com/engine/containers/start-containers-automatically/); a container never started stays created.
A container "serves" (probe) when it runs, publishes the probed port, and its image's warm-up has passed.

Disconnected containers, as Microsoft documents them: a container started with DownloadLicense=True writes a
license file into the host directory bound at /license and exits 0 after the image's download_time (or exits 1
with the reason in its log, when the image's license_download is "fail"); one started with Mounts:License=/license
otherwise exits 1 at start when that directory holds no file, and reports ValidNonMetered when it serves.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import Probe
from docker import errors as docker_errors
from docker.types import HostConfig

API_VERSION = "1.41"
IMAGE_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ASPNETCORE_URLS=http://+:5000"]
# HostConfig fields the engine reports with its default when the client did not send them.
ENGINE_HOST_DEFAULTS: dict[str, Any] = {
    "CpuQuota": 0,
    "CpuPeriod": 0,
    "CpuShares": 0,
    "CpusetCpus": "",
    "MemoryReservation": 0,
    "CapAdd": None,
    "Privileged": False,
    "Mounts": None,
    "DeviceRequests": None,
}


class Killed(BaseException):
    """The module process died here (SIGKILL, SSH lost, host rebooted): no code of it runs after this."""


class FakeClock:
    """Monotonic time that advances only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Behaviour:
    """How containers of one image behave once started."""

    warmup: float = 2.0  # seconds from start to /ready 200
    ready: bool = True  # False: /ready never answers 200
    api_status: str = "Valid"
    crash: bool = False  # exits with code 1 right after start
    license_download: str = "ok"  # ok, fail (exits 1 with a log naming the key), hang (never finishes), empty
    download_time: float = 3.0  # seconds a license download runs


@dataclass
class Injection:
    method: str
    error: BaseException | None  # raised instead of the call (None with kill)
    when: Callable[..., bool]
    times: int
    kill: bool = False  # the process dies: every later call raises Killed
    after: bool = False  # the call takes effect first


@dataclass
class FakeContainer:
    id: str
    name: str
    image_id: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    status: str = "created"
    exit_code: int = 0
    started_at: float = 0.0
    stopped_by_hand: bool = False
    log: str = "starting\nbilling check failed\n"
    finishes_at: float | None = None  # a license download: when it exits

    @property
    def command(self) -> list[str]:
        return list(self.config.get("Cmd") or [])

    def bound(self, target: str) -> str | None:
        """The host directory bound at target."""
        for bind in self.host_config.get("Binds") or []:
            source, _sep, rest = bind.partition(":")
            if rest.split(":")[0] == target:
                return source
        return None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def host_bindings(self) -> list[tuple[str, int]]:
        return [
            (binding.get("HostIp") or "0.0.0.0", int(binding["HostPort"]))
            for bindings in (self.host_config.get("PortBindings") or {}).values()
            for binding in bindings
        ]

    def host_ports(self) -> list[int]:
        return [
            int(binding["HostPort"])
            for bindings in (self.host_config.get("PortBindings") or {}).values()
            for binding in bindings
        ]


class FakeEngine:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.by_id: dict[str, FakeContainer] = {}
        self.local_images: dict[str, str] = {}  # reference -> image ID, on the host
        self.registry: dict[str, str] = {}  # reference -> image ID, pullable
        self.behaviour: dict[str, Behaviour] = {}  # image ID -> behaviour
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.probes: list[tuple[str, bool]] = []  # (ready URL, with /status) of every probe
        self.injections: list[Injection] = []
        self.dead = False
        self.held_ports: set[int] = set()  # host ports the engine holds for no container (moby/libnetwork#1790)
        self.daemon_restarts = 0
        self._ids = itertools.count(1)

    # ---- test controls ------------------------------------------------------------------------
    def publish(self, reference: str, behaviour: Behaviour | None = None) -> str:
        """Put an image into the registry; returns its ID."""
        image_id = "sha256:%064x" % next(self._ids)
        self.registry[reference] = image_id
        self.behaviour[image_id] = behaviour or Behaviour()
        return image_id

    def fail(
        self,
        method: str,
        error: BaseException,
        when: Callable[..., bool] = lambda *args, **kwargs: True,
        times: int = 1,
        after: bool = False,
    ) -> None:
        self.injections.append(Injection(method, error, when, times, after=after))

    def kill_at(
        self, method: str, when: Callable[..., bool] = lambda *args, **kwargs: True, after: bool = True
    ) -> None:
        """The process dies at this call: before it, or (after=True) once it took effect."""
        self.injections.append(Injection(method, None, when, 1, kill=True, after=after))

    def revive(self) -> None:
        """A new module process: the next run."""
        self.dead = False
        self.injections = []
        self.calls = []

    def reboot(self) -> None:
        """The host restarts: every container stops; the daemon starts them by their restart policy."""
        for container in self.by_id.values():
            was_running = container.running
            if was_running:
                container.status, container.exit_code = "exited", 0
            policy = (container.host_config.get("RestartPolicy") or {}).get("Name")
            if container.status == "created":
                continue  # never started: no restart policy applies
            if policy == "always" or (policy == "unless-stopped" and was_running and not container.stopped_by_hand):
                try:
                    self._start(container)
                except docker_errors.APIError:
                    container.status = "exited"

    def restart_daemon(self) -> None:
        """The engine alone restarts (systemctl restart docker): held ports are freed, containers restart by policy."""
        self.daemon_restarts += 1
        self.held_ports = set()
        self.reboot()

    def by_name(self, name: str) -> FakeContainer:
        return next(container for container in self.by_id.values() if container.name == name)

    def states(self) -> dict[str, str]:
        return {container.name: container.status for container in self.by_id.values()}

    def update(self, name: str, **host_config: Any) -> None:
        """docker update: changes HostConfig fields of a container (cpus, memory, restart policy, ...)."""
        self.by_name(name).host_config.update(host_config)

    def hand_made_copy(self, name: str, image_id: str | None = None, **host_config: Any) -> None:
        """Replace a container by one made by hand with its labels copied, and some settings of its own."""
        original = self.by_name(name)
        del self.by_id[original.id]
        copy = FakeContainer(
            id="%064x" % next(self._ids),
            name=name,
            image_id=image_id or original.image_id,
            config=dict(original.config),
            host_config=dict(original.host_config, **host_config),
        )
        self.by_id[copy.id] = copy
        self._start(copy)

    def mutating_calls(self) -> list[str]:
        return [method for method, _args in self.calls if method not in ("containers", "images", "inspect_container")]

    def probe(self, base_url: str, timeout: float, with_status: bool = True, ready_path: str = "/ready") -> Probe:
        """What _speech_probe.probe would see at base_url (a kind without /status: ready is all it says)."""
        self.probes.append((base_url + ready_path, with_status))
        port = urlsplit(base_url).port
        for container in self.by_id.values():
            if container.running and port in container.host_ports():
                behaviour = self.behaviour[container.image_id]
                if not behaviour.ready or self.clock() - container.started_at < behaviour.warmup:
                    return Probe(False, 503, None, None)
                if not with_status:
                    return Probe(True, 200, None, None, status_expected=False)
                api_status = (
                    "ValidNonMetered" if "Mounts:License=/license" in container.command else behaviour.api_status
                )
                return Probe(True, 200, api_status, "fake %s" % api_status)
        return Probe(False, None, None, None, "no answer on %s/ready: Connection refused" % base_url)

    # ---- the APIClient calls --------------------------------------------------------------------
    def _enter(self, method: str, *args: Any, **kwargs: Any) -> list[Injection]:
        if self.dead:
            raise Killed(method)
        self.calls.append((method, args))
        later = []
        for injection in list(self.injections):
            if injection.method != method or not injection.when(*args, **kwargs):
                continue
            injection.times -= 1
            if injection.times <= 0:
                self.injections.remove(injection)
            if injection.after:
                later.append(injection)
            else:
                self._trigger(injection, method)
        return later

    def _leave(self, method: str, later: list[Injection]) -> None:
        for injection in later:
            self._trigger(injection, method)

    def _trigger(self, injection: Injection, method: str) -> None:
        if injection.kill:
            self.dead = True
            raise Killed(method)
        assert injection.error is not None
        raise injection.error

    def _get(self, container_id: str) -> FakeContainer:
        container = self.by_id.get(container_id) or next(
            (item for item in self.by_id.values() if item.name == container_id), None
        )
        if container is None:
            raise docker_errors.NotFound("No such container: %s" % container_id)
        return container

    def _settle(self) -> None:
        """License downloads whose time has come exit (the container's process ends on its own)."""
        for container in self.by_id.values():
            if container.running and container.finishes_at is not None and self.clock() >= container.finishes_at:
                container.finishes_at = None
                outcome = self.behaviour[container.image_id].license_download
                env = dict(item.partition("=")[::2] for item in container.config["Env"])
                if outcome == "fail":
                    container.status, container.exit_code = "exited", 1
                    container.log = "downloading the license\nApiKey=%s is not valid for a disconnected container\n" % (
                        env.get("ApiKey", "")
                    )
                    continue
                directory = container.bound("/license")
                if outcome == "ok" and directory:
                    with open(os.path.join(directory, "license.bin"), "w", encoding="utf-8") as handle:
                        handle.write("license of %s\n" % container.image_id)
                container.status, container.exit_code = "exited", 0
                container.log = "license downloaded\n"

    def containers_list(self, all: bool = False) -> list[dict[str, Any]]:
        self._settle()
        return [
            {
                "Id": container.id,
                "Names": ["/" + container.name],
                "Image": container.config["Image"],
                "ImageID": container.image_id,
                "State": container.status,
                "Labels": dict(container.config.get("Labels") or {}),
                "Ports": [
                    {"IP": address, "PublicPort": port, "PrivatePort": 5000, "Type": "tcp"}
                    for address, port in container.host_bindings()
                ]
                if container.running
                else [],
            }
            for container in self.by_id.values()
            if all or container.running
        ]

    def containers(self, all: bool = False, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self._leave("containers", self._enter("containers", all=all, filters=filters))
        return self.containers_list(all)

    def images(self) -> list[dict[str, Any]]:
        self._leave("images", self._enter("images"))
        tags: dict[str, list[str]] = {}
        for reference, image_id in self.images_on_host():
            tags.setdefault(image_id, []).append(reference)
        return [{"Id": image_id, "RepoTags": references} for image_id, references in tags.items()]

    def images_on_host(self) -> list[tuple[str, str]]:
        return list(self.local_images.items())

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        later = self._enter("inspect_container", container_id)
        self._settle()
        container = self._get(container_id)
        self._leave("inspect_container", later)
        return {
            "Id": container.id,
            "Name": "/" + container.name,
            "Image": container.image_id,
            "State": {
                "Status": container.status,
                "Running": container.running,
                "ExitCode": container.exit_code,
            },
            "Config": dict(container.config),
            "HostConfig": dict(ENGINE_HOST_DEFAULTS, **container.host_config),
        }

    def inspect_image(self, reference: str) -> dict[str, Any]:
        self._leave("inspect_image", self._enter("inspect_image", reference))
        if reference not in self.local_images:
            raise docker_errors.ImageNotFound("No such image: %s" % reference)
        return {"Id": self.local_images[reference]}

    def pull(self, repository: str, tag: str = "latest", stream: bool = False, decode: bool = False) -> Iterator[Any]:
        later = self._enter("pull", repository, tag)
        reference = "%s:%s" % (repository, tag)
        self._leave("pull", later)
        if reference not in self.registry:
            yield {"error": "manifest for %s not found: manifest unknown" % reference}
            return
        self.local_images[reference] = self.registry[reference]
        yield {"status": "Downloaded newer image for %s" % reference}

    def create_host_config(self, **keywords: Any) -> dict[str, Any]:
        return HostConfig(version=API_VERSION, **keywords)

    def create_container(
        self,
        image: str,
        command: list[str] | None = None,
        name: str | None = None,
        environment: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        host_config: dict[str, Any] | None = None,
        stop_timeout: int | None = None,
        **_other: Any,
    ) -> dict[str, str]:
        later = self._enter("create_container", name)
        if image not in self.local_images:
            raise docker_errors.ImageNotFound("No such image: %s" % image)
        if any(container.name == name for container in self.by_id.values()):
            raise docker_errors.APIError('Conflict. The container name "/%s" is already in use' % name)
        container = FakeContainer(
            id="%064x" % next(self._ids),
            name=str(name),
            image_id=self.local_images[image],
            config={
                "Image": image,
                "Cmd": list(command or []),
                "Env": IMAGE_ENV + ["%s=%s" % item for item in (environment or {}).items()],
                "Labels": dict(labels or {}),
                "StopTimeout": stop_timeout,
            },
            host_config=dict(host_config or {}),
        )
        self.by_id[container.id] = container
        self._leave("create_container", later)
        return {"Id": container.id}

    def rename(self, container_id: str, name: str) -> None:
        later = self._enter("rename", container_id, name)
        container = self._get(container_id)
        if container.status == "restarting":
            # moby daemon/rename.go: Docker counts a restarting container as running and updates its network
            # sandbox, which a crash-looping container has just lost.
            raise docker_errors.NotFound("sandbox %064x not found" % 0)
        if any(other.name == name and other is not container for other in self.by_id.values()):
            raise docker_errors.APIError('Conflict. The container name "/%s" is already in use' % name)
        container.name = name
        self._leave("rename", later)

    def _start(self, container: FakeContainer) -> None:
        if container.running:
            return
        taken = {port for other in self.by_id.values() if other.running for port in other.host_ports()}
        clash = sorted((taken | self.held_ports) & set(container.host_ports()))
        if clash:
            raise docker_errors.APIError(
                '500 Server Error: Internal Server Error ("driver failed programming external connectivity on endpoint'
                ' %s (%064x): Bind for 0.0.0.0:%d failed: port is already allocated")' % (container.name, 0, clash[0])
            )
        container.status, container.started_at, container.stopped_by_hand = "running", self.clock(), False
        behaviour = self.behaviour[container.image_id]
        if behaviour.crash:
            container.status, container.exit_code = "exited", 1
        elif "DownloadLicense=True" in container.command:
            if behaviour.license_download != "hang":
                container.finishes_at = self.clock() + behaviour.download_time
        elif "Mounts:License=/license" in container.command:
            directory = container.bound("/license")
            if not (directory and os.path.isdir(directory) and os.listdir(directory)):
                container.status, container.exit_code = "exited", 1
                container.log = "no license found in /license\n"

    def start(self, container_id: str) -> None:
        later = self._enter("start", container_id)
        self._start(self._get(container_id))
        self._leave("start", later)

    def stop(self, container_id: str, timeout: int = 10) -> None:
        later = self._enter("stop", container_id)
        container = self._get(container_id)
        if container.status in ("running", "restarting"):
            container.status, container.exit_code, container.stopped_by_hand = "exited", 0, True
        self._leave("stop", later)

    def remove_container(self, container_id: str, force: bool = False) -> None:
        later = self._enter("remove_container", container_id)
        container = self._get(container_id)
        if container.running and not force:
            raise docker_errors.APIError("You cannot remove a running container: stop it or use force")
        del self.by_id[container.id]
        self._leave("remove_container", later)

    def logs(self, container_id: str, **_options: Any) -> bytes:
        self._leave("logs", self._enter("logs", container_id))
        return self._get(container_id).log.encode()
