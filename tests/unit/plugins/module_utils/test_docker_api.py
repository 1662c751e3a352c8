# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The standard-library engine reader against a fake engine on a unix socket, and the lazy SDK import."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _docker_api, _speech_deploy

CONTAINERS = [
    {
        "Id": "abc",
        "Names": ["/stt-en-us"],
        "State": "running",
        "Labels": {"speechops.edge.managed": "true"},
        "ImageID": "sha256:1",
        "Ports": [{"PublicPort": 5000}],
    }
]
IMAGES = [{"Id": "sha256:1", "RepoTags": ["registry/speech-to-text:3.12.0-amd64-en-us"]}]


class FakeEngine(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:
        FakeEngine.paths.append(self.path)
        if self.path.startswith("/containers/json"):
            self._send(200, CONTAINERS)
        elif self.path == "/images/json":
            self._send(200, IMAGES)
        else:
            self._send(404, {"message": "page not found"})

    def _send(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _address = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port) client address


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")
    FakeEngine.paths = []
    server = UnixServer(path, FakeEngine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "unix://" + path
    finally:
        server.shutdown()
        server.server_close()


def test_reader_lists_containers_and_images(engine: str) -> None:
    reader = _docker_api.engine_reader(engine, 5)
    assert reader is not None
    assert reader.containers(all=True) == CONTAINERS
    assert reader.images() == IMAGES
    assert FakeEngine.paths == ["/containers/json?all=1", "/images/json"]


def test_reader_sends_filters_as_the_sdk_does(engine: str) -> None:
    reader = _docker_api.EngineReader(engine, 5)
    reader.containers(all=True, filters={"label": "speechops.edge.managed=true"})
    assert FakeEngine.paths == [
        "/containers/json?all=1&filters=%7B%22label%22%3A%20%5B%22speechops.edge.managed%3Dtrue%22%5D%7D"
    ]


def test_reader_errors_are_oserror(engine: str, tmp_path: Path) -> None:
    with pytest.raises(OSError, match="404 page not found"):
        _docker_api.EngineReader(engine, 5).get("/nothing")
    with pytest.raises(FileNotFoundError):
        _docker_api.EngineReader("unix://" + str(tmp_path / "absent.sock"), 5).images()


@pytest.mark.parametrize(
    ("docker_host", "reads"),
    [
        ("unix:///var/run/docker.sock", True),
        ("tcp://127.0.0.1:2375", True),
        ("ssh://user@host", False),
        ("https://host:2376", False),
    ],
)
def test_reader_only_for_engines_the_standard_library_reaches(docker_host: str, reads: bool) -> None:
    assert (_docker_api.engine_reader(docker_host, 5) is not None) is reads


def test_host_state_from_the_reader(engine: str) -> None:
    reader = _docker_api.EngineReader(engine, 5)
    state = _speech_deploy.HostState(reader)
    assert list(state.by_name) == ["stt-en-us"]
    assert state.image_ids == {"registry/speech-to-text:3.12.0-amd64-en-us": "sha256:1"}


def test_unchanged_run_never_connects_the_sdk(engine: str) -> None:
    """Nothing to change: the SDK client factory is not called (it stays unimported for the run)."""
    connect = mock.Mock(side_effect=AssertionError("the SDK was needed"))
    reader = _docker_api.EngineReader(engine, 5)
    result = _speech_deploy.deploy(
        reader, [], prune=False, pull_always=False, check_mode=False, probe_running=False, connect=connect
    )
    assert result["changed"] is False
    connect.assert_not_called()


def test_sdk_names_resolve_lazily() -> None:
    assert issubclass(_docker_api.DockerException, Exception)
    assert isinstance(_docker_api.HAS_DOCKER_SDK, bool)
    with pytest.raises(AttributeError):
        _docker_api.no_such_name  # noqa: B018 (the attribute access is the test)
