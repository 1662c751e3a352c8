# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that imports the Docker SDK for Python and checks its version.

Modules call require_docker_sdk() first; it fails through missing_required_lib with an install
hint tied to the single documented minimum version (see doc_fragments/docker_engine.py).

The SDK is imported on first use (PEP 562 module __getattr__), not when this file is imported:
`from ... import APIError` still loads it at once, `_docker_api.APIError` only when evaluated. That
lets speech_containers read the engine with EngineReader (standard library, in _host_reads) and import
the SDK only when it changes something. Measured on the lab's edge hosts (Debian 12, python3-docker 5.0.3):
`import docker` + APIClient(version="auto") + two list calls 117-131 ms, the standard library
(http.client, socket, json) 33-45 ms; an unchanged host is the path every deploy takes.
"""

from __future__ import annotations

import traceback
from typing import Any

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.speechops.edge.plugins.module_utils._host_reads import EngineReader, engine_reader

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
