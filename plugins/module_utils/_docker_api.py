# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that imports the Docker SDK for Python and checks its version.

Modules call require_docker_sdk() first; it fails through missing_required_lib with an install
hint tied to the single documented minimum version (see doc_fragments/docker_engine.py).
"""

from __future__ import annotations

import traceback
from typing import Any

from ansible.module_utils.basic import missing_required_lib

__all__ = [
    "DOCKER_ENGINE_ARGUMENT_SPEC",
    "DOCKER_SDK_MIN_VERSION",
    "APIError",
    "DockerException",
    "NotFound",
    "docker_client",
    "engine_error",
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


try:
    import docker  # type: ignore[import-not-found]
    from docker.errors import APIError, DockerException, NotFound  # type: ignore[import-not-found]

    HAS_DOCKER_SDK = True
    DOCKER_SDK_IMPORT_ERROR: str | None = None
except ImportError:
    docker = None
    HAS_DOCKER_SDK = False
    DOCKER_SDK_IMPORT_ERROR = traceback.format_exc()
    DockerException = APIError = NotFound = _DockerSdkMissing  # type: ignore[misc]


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def require_docker_sdk(module: Any) -> None:
    """Fail the module with an install hint when the SDK is missing or older than the minimum."""
    if not HAS_DOCKER_SDK:
        module.fail_json(
            msg="%s Install it on the edge host: apt-get install python3-docker (Debian 12) or pip install 'docker>=%s'."
            % (
                missing_required_lib(
                    "docker (Docker SDK for Python >= %s)" % DOCKER_SDK_MIN_VERSION,
                    url="https://docker-py.readthedocs.io/",
                ),
                DOCKER_SDK_MIN_VERSION,
            ),
            exception=DOCKER_SDK_IMPORT_ERROR,
        )
    version = getattr(docker, "__version__", "0")
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
    return docker.APIClient(base_url=docker_host, version="auto", timeout=timeout)


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
