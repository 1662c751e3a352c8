# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that imports the Docker SDK for Python and checks its version.

Modules call require_docker_sdk() first; it fails through missing_required_lib with an install
hint tied to the single documented minimum version (see doc_fragments/docker_engine.py).

The SDK is imported on first use (PEP 562 module __getattr__), not when this file is imported:
`from ... import APIError` still loads it at once, `_docker_api.APIError` only when evaluated. That
lets speech_containers read the engine with EngineReader (standard library) and import the SDK only
when it changes something. Measured on the lab's edge hosts (Debian 12, python3-docker 5.0.3):
`import docker` + APIClient(version="auto") + two list calls 117-131 ms, the standard library
(http.client, socket, json) 33-45 ms; an unchanged host is the path every deploy takes.
"""

from __future__ import annotations

import http.client
import json
import socket
import traceback
from typing import Any
from urllib.parse import quote, urlparse

from ansible.module_utils.basic import missing_required_lib

# APIError, DockerException and NotFound are importable too (the SDK's classes, loaded on first use).
__all__ = [
    "DOCKER_ENGINE_ARGUMENT_SPEC",
    "DOCKER_SDK_MIN_VERSION",
    "EngineReader",
    "docker_client",
    "engine_error",
    "engine_reader",
    "require_docker_sdk",
]

DOCKER_SDK_MIN_VERSION = "5.0.0"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# The options of doc_fragments/docker_engine.py, for every module's argument_spec.
DOCKER_ENGINE_ARGUMENT_SPEC = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, aliases=["docker_url"]),
    timeout=dict(type="int", default=60),
)


class _DockerSdkMissing(Exception):
    """Stands in for the SDK's exception classes, so except clauses work when the SDK is missing."""


# Set by _load_sdk() on first use; a test may set them itself (mock.patch.object), which _load_sdk() keeps.
_SDK_NAMES = ("docker", "HAS_DOCKER_SDK", "DOCKER_SDK_IMPORT_ERROR", "APIError", "DockerException", "NotFound")


def _load_sdk() -> None:
    """Import the SDK once and publish it (or its stand-ins) as this module's globals."""
    if "HAS_DOCKER_SDK" in globals():
        return
    try:
        import docker  # type: ignore[import-not-found]
        from docker.errors import APIError, DockerException, NotFound  # type: ignore[import-not-found]

        loaded: dict[str, Any] = dict(
            docker=docker,
            HAS_DOCKER_SDK=True,
            DOCKER_SDK_IMPORT_ERROR=None,
            APIError=APIError,
            DockerException=DockerException,
            NotFound=NotFound,
        )
    except ImportError:
        loaded = dict(
            docker=None,
            HAS_DOCKER_SDK=False,
            DOCKER_SDK_IMPORT_ERROR=traceback.format_exc(),
            APIError=_DockerSdkMissing,
            DockerException=_DockerSdkMissing,
            NotFound=_DockerSdkMissing,
        )
    globals().update(loaded)


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        _load_sdk()
        return globals()[name]
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def require_docker_sdk(module: Any) -> None:
    """Fail the module with an install hint when the SDK is missing or older than the minimum."""
    _load_sdk()
    if not globals()["HAS_DOCKER_SDK"]:
        module.fail_json(
            msg="%s Install it on the edge host: apt-get install python3-docker (Debian 12) or pip install 'docker>=%s'."
            % (
                missing_required_lib(
                    "docker (Docker SDK for Python >= %s)" % DOCKER_SDK_MIN_VERSION,
                    url="https://docker-py.readthedocs.io/",
                ),
                DOCKER_SDK_MIN_VERSION,
            ),
            exception=globals()["DOCKER_SDK_IMPORT_ERROR"],
        )
    version = getattr(globals()["docker"], "__version__", "0")
    if _version_tuple(version) < _version_tuple(DOCKER_SDK_MIN_VERSION):
        module.fail_json(
            msg="the Docker SDK for Python on this host is %s; speechops.edge needs >= %s: "
            "run 'pip install \"docker>=%s\"' for the Python that runs the module"
            % (version, DOCKER_SDK_MIN_VERSION, DOCKER_SDK_MIN_VERSION)
        )


def docker_client(docker_host: str, timeout: int) -> Any:
    """A low-level APIClient: no per-object inspect round trips, which the high-level client makes.

    version="auto" asks the engine for its API version once; that call also proves the engine answers.
    """
    _load_sdk()
    return globals()["docker"].APIClient(base_url=docker_host, version="auto", timeout=timeout)


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
    """Read-only engine calls with the standard library: the container list and the image list.

    The same two calls (and the same answers) as the SDK's APIClient.containers(all=True) and images(),
    without the API version negotiation: the engine answers unversioned paths with its own API version,
    and the fields read here (Id, Names, State, Labels, ImageID, Ports, RepoTags) are the same in every
    version the SDK minimum supports. Errors are OSError (including http.client's), as from a socket.
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


def engine_error(exc: BaseException, docker_host: str) -> str:
    """One line that says which engine did not answer and why, without a traceback."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    return (
        "the Docker engine at %s does not answer (%s): start the engine (systemctl start docker) or set docker_host"
        % (
            docker_host,
            reason,
        )
    )
