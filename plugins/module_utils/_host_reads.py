# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a speech_containers plan reads on an edge host: standard library only, nothing else of this collection.

The module reads its host through LocalHost and EngineReader. The speech_containers action plugin sends this
file's source to the host as a script instead (take_snapshot: the engine's container and image lists, an inspect of
each managed container, the desired ports, directories, license directories and gateway files, and /ready and
/status of each running managed container) and plans on the controller from the answers (SnapshotEngine,
SnapshotHost). Every deploy's plan of every host then pays no module payload (benchmarks/bench_module_weight.py,
variant reader). The planner is the same code either way
(_speech_deploy.deploy); a question the snapshot cannot answer raises SnapshotMiss, and the module plans instead.

Secrets: a container's environment holds its ApiKey and proxy credentials. The snapshot carries environment and
command values only as HMAC-SHA256 digests under a key the controller draws for each snapshot and sends on the
script's standard input (never on its command line, which `ps` and -vvv show; -vvv shows the answer); the
controller restores the values it declares itself by their digest, and any other value stays a placeholder, which
differs from every desired value (a change; where a result would show it, the module plans and reports instead).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import http.client
import json
import os
import socket
import stat
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlparse

# An environment or command value the controller does not declare (see the module docstring).
UNKNOWN_VALUE = "<not read: differs from the declared value>"


class SnapshotMiss(Exception):
    """The snapshot does not answer a question the plan asks: the module plans on the host instead."""


def probe_base_url(bind_address: str | None, port: int) -> str:
    """Where a container published on bind_address:port answers on its host: a wildcard bind is asked on loopback."""
    address = str(bind_address or "0.0.0.0")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
    return "http://%s:%d" % ("[%s]" % host if ":" in host else host, int(port))


def published_base_url(ports: list[dict[str, Any]]) -> str | None:
    """Where a running container answers: the first port it publishes (docker ps' Ports), None when none."""
    published = [port for port in ports if port.get("PublicPort")]
    if not published:
        return None
    return probe_base_url(published[0].get("IP"), int(published[0]["PublicPort"]))


# ---- the engine ----------------------------------------------------------------------------------------------
class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket (what the SDK does through requests and urllib3)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class EngineReader:
    """Read-only engine calls with the standard library: the container list, the image list, inspect.

    The same calls (and the same answers) as the SDK's APIClient.containers(all=True), images() and
    inspect_container(), without the API version negotiation: the engine answers unversioned paths with its own
    API version, and the fields read here (Id, Names, State, Labels, ImageID, Ports, RepoTags, Config, HostConfig)
    are the same in every version the SDK minimum supports. Errors are OSError (including http.client's).
    """

    def __init__(self, docker_host: str, timeout: float) -> None:
        parsed = urlparse(docker_host)
        self.docker_host = docker_host
        self.timeout = timeout
        self.scheme = parsed.scheme
        if parsed.scheme == "unix":
            self.target = parsed.path or parsed.netloc
        else:
            self.target = parsed.netloc

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "unix":
            return _UnixHTTPConnection(self.target, self.timeout)
        return http.client.HTTPConnection(self.target, timeout=self.timeout)

    def get(self, path: str) -> Any:
        connection = self._connection()
        try:
            connection.request("GET", path, headers={"Host": "docker"})
            response = connection.getresponse()
            body = response.read()
        except (http.client.HTTPException, ValueError) as exc:
            raise OSError("GET %s: %s" % (path, exc)) from None
        finally:
            connection.close()
        if response.status != 200:
            message = body.decode("utf-8", "replace").strip()
            try:
                message = json.loads(message).get("message", message)
            except (ValueError, AttributeError):
                pass
            raise OSError("GET %s: %d %s" % (path, response.status, message))
        return json.loads(body.decode("utf-8"))

    def containers(self, **options: Any) -> list[dict[str, Any]]:
        """GET /containers/json; options as the SDK's: all (bool), filters ({name: value})."""
        query = "all=%d" % (1 if options.get("all") else 0)
        filters: dict[str, str] | None = options.get("filters")
        if filters:
            query += "&filters=" + quote(json.dumps({key: [value] for key, value in filters.items()}))
        return self.get("/containers/json?" + query)

    def images(self) -> list[dict[str, Any]]:
        return self.get("/images/json")

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        """GET /containers/{id}/json, as the SDK's APIClient.inspect_container (drift needs HostConfig, Env)."""
        return self.get("/containers/%s/json" % quote(container_id, safe=""))


def engine_reader(docker_host: str, timeout: float) -> EngineReader | None:
    """A standard-library reader for unix:// and plain tcp:// engines; None for anything else (ssh://, TLS)."""
    parsed = urlparse(docker_host)
    if parsed.scheme == "unix" and (parsed.path or parsed.netloc):
        return EngineReader(docker_host, timeout)
    if parsed.scheme in ("tcp", "http") and parsed.netloc:
        return EngineReader(docker_host, timeout)
    return None


# ---- files and ports -----------------------------------------------------------------------------------------
class LocalHost:
    """The files and ports of the host this runs on."""

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read_text(self, path: str) -> str | None:
        """The file's text; None when it is missing or this user cannot read it."""
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except (FileNotFoundError, PermissionError):
            return None

    def owner(self, path: str) -> tuple[int, int] | None:
        """(uid, gid) of the path; None when it does not exist."""
        try:
            found = os.stat(path)
        except FileNotFoundError:
            return None
        return found.st_uid, found.st_gid

    def license_present(self, directory: str | None) -> bool:
        """A license is present when its directory holds a regular file (name and format are Microsoft's)."""
        if not directory:
            return False
        try:
            with os.scandir(directory) as entries:
                return any(entry.is_file(follow_symlinks=False) for entry in entries)
        except OSError:
            return False

    def listdir(self, path: str) -> list[str] | None:
        """The names in a directory, sorted; None when it cannot be read."""
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def is_directory(self, path: str) -> bool:
        """A directory itself, not a symbolic link to one."""
        try:
            return stat.S_ISDIR(os.lstat(path).st_mode)
        except OSError:
            return False

    def port_taken(self, address: str, port: int) -> bool:
        """Whether a process holds the port on the address (a bind fails with EADDRINUSE)."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError as exc:
                return exc.errno == errno.EADDRINUSE
        return False


LOCAL_HOST = LocalHost()


# ---- the snapshot, taken on the host -------------------------------------------------------------------------
def digest(key: bytes, value: str) -> str:
    return "hmac-sha256:" + hmac.new(key, value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def _inspected(details: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The inspect fields a plan compares, environment and command values as digests."""
    config = details.get("Config") or {}
    env = []
    for entry in config.get("Env") or []:
        name, _sep, value = str(entry).partition("=")
        env.append("%s=%s" % (name, digest(key, value)))
    command = config.get("Cmd")
    return {
        "Image": details.get("Image"),
        "Config": {
            "Image": config.get("Image"),
            "Cmd": None if command is None else [digest(key, str(argument)) for argument in command],
            "Env": env,
            "StopTimeout": config.get("StopTimeout"),
        },
        "HostConfig": details.get("HostConfig") or {},
    }


def _fetch(url: str, timeout: float) -> tuple[int, str]:
    """GET without a proxy: (status, body). Raises OSError or ValueError when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url), timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def take_snapshot(
    request: dict[str, Any], engine: Any = None, host: LocalHost = LOCAL_HOST, fetch: Any = _fetch
) -> dict[str, Any]:
    """Everything request asks for (_speech_snapshot.snapshot_request builds it), read on this host."""
    key = bytes.fromhex(request["key"])
    labels = request["labels"]
    if engine is None:
        engine = EngineReader(request["docker_host"], request["timeout"])
    containers, inspected, answers = [], {}, {}
    for item in engine.containers(all=True):
        item_labels = item.get("Labels") or {}
        managed = item_labels.get(labels["managed"]) == "true"
        listed = {name: item.get(name) for name in ("Id", "Names", "State", "ImageID", "Ports")}
        # Foreign containers: their name, state and ports only (their labels are none of our business).
        listed["Labels"] = item_labels if managed else {}
        containers.append(listed)
        name = ((item.get("Names") or ["/"])[0]).lstrip("/")
        if not managed or name.endswith(labels["previous_suffix"]):
            continue
        inspected[item["Id"]] = _inspected(engine.inspect_container(item["Id"]), key)
        base_url = published_base_url(item.get("Ports") or []) if item.get("State") == "running" else None
        if base_url is None:
            continue
        # How the container's kind says it serves: as _speech_probe.probe asks (ready path, then /status).
        try:
            kind = json.loads(item_labels.get(labels["spec"], "{}")).get("kind") or item_labels.get(labels["kind"])
        except ValueError:
            kind = item_labels.get(labels["kind"])
        ready_path, with_status = request["probes"].get(kind or "", request["probes"][""])
        for path in (ready_path, request["status_path"]):
            try:
                answers[base_url + path] = fetch(base_url + path, request["probe_timeout"])
            except (OSError, ValueError):
                break  # not recorded: the plan asks the module, which reports why
            if answers[base_url + path][0] != 200 or not with_status:
                break
    license_roots = {}
    for root in request["license_roots"]:
        names = host.listdir(root)
        license_roots[root] = (
            None
            if names is None
            else {
                name: [host.is_directory(os.path.join(root, name)), host.license_present(os.path.join(root, name))]
                for name in names
            }
        )
    return {
        "containers": containers,
        "images": [{"Id": image.get("Id"), "RepoTags": image.get("RepoTags")} for image in engine.images()],
        "inspect": inspected,
        "http": answers,
        "ports": [[address, port, host.port_taken(address, port)] for address, port in request["ports"]],
        "owners": {path: host.owner(path) for path in request["directories"]},
        "license_roots": license_roots,
        "exists": {path: host.exists(path) for path in request["exists"]},
        "texts": {path: host.read_text(path) for path in request["texts"]},
    }


# ---- the snapshot, read on the controller --------------------------------------------------------------------
class SnapshotEngine:
    """The engine calls of a plan, answered from a snapshot; environment and command values restored from
    `known` (digest -> value of the controller's declaration) or left as UNKNOWN_VALUE."""

    def __init__(self, snapshot: dict[str, Any], known: dict[str, str]) -> None:
        self.snapshot = snapshot
        self.known = known

    def containers(self, **_options: Any) -> list[dict[str, Any]]:
        return self.snapshot["containers"]

    def images(self) -> list[dict[str, Any]]:
        return self.snapshot["images"]

    def inspect_container(self, container_id: str) -> dict[str, Any]:
        details = self.snapshot["inspect"].get(container_id)
        if details is None:
            raise SnapshotMiss("no inspect of container %s" % container_id)
        config = dict(details["Config"])
        config["Env"] = [
            "%s=%s" % (name, self.known.get(value, UNKNOWN_VALUE))
            for name, _sep, value in (entry.partition("=") for entry in config["Env"])
        ]
        if config["Cmd"] is not None:
            config["Cmd"] = [self.known.get(value, UNKNOWN_VALUE) for value in config["Cmd"]]
        return dict(details, Config=config)


class SnapshotHost(LocalHost):
    """LocalHost's answers from a snapshot: a question it was not asked raises SnapshotMiss."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def _answer(self, section: str, path: str) -> Any:
        answers = self.snapshot[section]
        if path not in answers:
            raise SnapshotMiss("%s of %s" % (section, path))
        return answers[path]

    def exists(self, path: str) -> bool:
        return bool(self._answer("exists", path))

    def read_text(self, path: str) -> str | None:
        return self._answer("texts", path)

    def owner(self, path: str) -> tuple[int, int] | None:
        found = self._answer("owners", path)
        return None if found is None else (found[0], found[1])

    def _license_entry(self, path: str) -> list[bool] | None:
        root, name = os.path.split(path.rstrip("/"))
        entries = self._answer("license_roots", root)
        return None if entries is None else entries.get(name)

    def license_present(self, directory: str | None) -> bool:
        if not directory:
            return False
        entry = self._license_entry(directory)
        return bool(entry and entry[1])

    def listdir(self, path: str) -> list[str] | None:
        entries = self._answer("license_roots", path)
        return None if entries is None else sorted(entries)

    def is_directory(self, path: str) -> bool:
        entry = self._license_entry(path)
        return bool(entry and entry[0])

    def port_taken(self, address: str, port: int) -> bool:
        for tested_address, tested_port, taken in self.snapshot["ports"]:
            if (tested_address, tested_port) == (address, port):
                return bool(taken)
        raise SnapshotMiss("port %s:%d" % (address, port))

    def request(
        self, url: str, timeout: float, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        """_speech_probe.http_request's answer, as the host recorded it."""
        if data is not None or headers or url not in self.snapshot["http"]:
            raise SnapshotMiss("GET %s" % url)
        status, body = self.snapshot["http"][url]
        return status, body.encode("utf-8"), {}


if __name__ == "__main__":  # run by the speech_containers action plugin: python3 -c SOURCE, the request on stdin
    json.dump(take_snapshot(json.load(sys.stdin)), sys.stdout)
