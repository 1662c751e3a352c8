# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prediction planned on the controller from a host snapshot against the module's own prediction on the host.

The reference is the module's prediction (deploy() in check mode with probes, reading the in-memory engine, the
files and the probes directly), which the rest of the unit and lab tests pin down. The snapshot path must give
exactly that answer for an unchanged host, and give no answer (the module then plans) for everything else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _container_spec, _speech_deploy
from ansible_collections.speechops.edge.plugins.module_utils._catalog import STATUS_PATH
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import DesiredContainer, build_desired
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import gateway_files
from ansible_collections.speechops.edge.plugins.module_utils._host_reads import (
    LOCAL_HOST,
    LocalHost,
    SnapshotHost,
    SnapshotMiss,
    take_snapshot,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import DeployError, converge_output, deploy
from ansible_collections.speechops.edge.plugins.plugin_utils._speech_snapshot import (
    new_key,
    predict,
    snapshot_request,
)
from ansible_collections.speechops.edge.tests.unit.fake_docker_engine import Behaviour, FakeClock, FakeEngine
from ansible_collections.speechops.edge.tests.unit.plugins.module_utils.test_speech_deploy import stt
from ansible_collections.speechops.edge.tests.unit.plugins.module_utils.test_speech_disconnected import (
    API_KEY,
    roots,
    tts,
)

PROXY = "proxyuser:canary-proxy-pass-83b1"
PARAMS = {"docker_host": "unix:///var/run/docker.sock", "timeout": 60, "prune": False, "pull": "missing"}
TAKEN: set[int] = set()  # ports a foreign process holds on the host


class Host(LocalHost):
    """The host's files as they are (tmp_path), its ports as TAKEN says: no real bind in a unit test."""

    def port_taken(self, address: str, port: int) -> bool:
        return port in TAKEN


__all__ = ["roots"]  # the fixture: the containers' roots in tmp_path


@pytest.fixture(autouse=True)
def _own_user_and_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """The directories belong to the containers' user (here: the user running the tests), and no real bind."""
    for module in (_container_spec, _speech_deploy):
        monkeypatch.setattr(module, "CONTAINER_UID", os.getuid())
        monkeypatch.setattr(module, "CONTAINER_GID", os.getgid())
    monkeypatch.setattr(LOCAL_HOST, "port_taken", lambda address, port: port in TAKEN)
    TAKEN.clear()


def entries(**changes: Any) -> list[dict[str, Any]]:
    """A connected container with proxy credentials, and a disconnected one (its license on the host)."""
    proxied = stt(http_proxy="http://proxy.example.com:3128", http_proxy_creds=PROXY, decoder_max_count=1)
    return [dict(proxied, **changes.get("stt", {})), dict(tts(host_port=5001), **changes.get("tts", {}))]


def declared(roots: dict[str, Any], **changes: Any) -> list[DesiredContainer]:
    return build_desired(entries(**changes), roots)


@pytest.fixture
def engine(roots: dict[str, Any]) -> FakeEngine:
    """A host that serves both containers, converged by the module itself."""
    engine = FakeEngine(FakeClock())
    for item in declared(roots):
        engine.publish(item.image)
    result = module_run(engine, declared(roots), check_mode=False)
    assert result["failures"] == [] and engine.states() == {"stt": "running", "tts": "running"}
    return engine


def module_run(engine: FakeEngine, desired: list[DesiredContainer], check_mode: bool = True) -> dict[str, Any]:
    return deploy(
        engine,
        desired,
        prune=False,
        pull_always=False,
        check_mode=check_mode,
        probe_running=True,
        prober=engine.probe,
        clock=engine.clock,
        sleep=engine.clock.sleep,
    )


def module_prediction(engine: FakeEngine, desired: list[DesiredContainer]) -> dict[str, Any]:
    """What the module reports for its prediction on the host."""
    return converge_output(module_run(engine, desired), bool(gateway_files()), diff=True)


def fetch_from(engine: FakeEngine) -> Any:
    """HTTP answers of the containers as the in-memory engine gives them (its probe), for take_snapshot."""

    def fetch(url: str, timeout: float) -> tuple[int, str]:
        parts = urlsplit(url)
        base_url = "%s://%s" % (parts.scheme, parts.netloc)
        if parts.path == STATUS_PATH:
            found = engine.probe(base_url, timeout)
            return 200, json.dumps({"apiStatus": found.api_status, "apiStatusMessage": found.api_status_message})
        found = engine.probe(base_url, timeout, with_status=False, ready_path=parts.path)
        if found.ready_code is None:
            raise OSError(found.error)
        return found.ready_code, ""

    return fetch


def snapshot_prediction(engine: FakeEngine, desired: list[DesiredContainer]) -> tuple[dict[str, Any] | None, str]:
    """The controller's prediction from a snapshot, and the snapshot as the host sends it."""
    key = new_key()
    request = snapshot_request(desired, PARAMS, key)
    # Through JSON both ways, as over the connection.
    sent = json.dumps(
        take_snapshot(json.loads(json.dumps(request)), engine=engine, host=Host(), fetch=fetch_from(engine))
    )
    return predict(PARAMS, desired, json.loads(sent), key, diff=True), sent


def test_an_unchanged_host_is_predicted_exactly_as_the_module_predicts_it(
    engine: FakeEngine, roots: dict[str, Any]
) -> None:
    expected = module_prediction(engine, declared(roots))
    assert expected["changed"] is False and [entry["ready"] for entry in expected["containers"]] == [True, True]
    predicted, sent = snapshot_prediction(engine, declared(roots))
    assert predicted == expected
    # The containers' secrets never leave the host, in any form the controller could read back without the key.
    assert API_KEY not in sent and PROXY not in sent and "canary" not in sent


def test_a_container_that_does_not_serve_is_reported_as_the_module_reports_it(roots: dict[str, Any]) -> None:
    engine = FakeEngine(FakeClock())
    for item in declared(roots):
        engine.publish(item.image)
    module_run(engine, declared(roots), check_mode=False)
    engine.behaviour[engine.by_name("stt").image_id] = Behaviour(api_status="Invalid")  # the key was revoked since
    expected = module_prediction(engine, declared(roots))
    [stt] = [entry for entry in expected["containers"] if entry["name"] == "stt"]
    assert (stt["action"], stt["api_status"]) == ("unchanged", "Invalid")
    assert snapshot_prediction(engine, declared(roots))[0] == expected


def remove_licenses(engine: FakeEngine, roots: dict[str, Any]) -> None:
    for path in Path(roots["license_root"]).rglob("*"):
        if path.is_file():
            path.unlink()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda engine, roots: engine.update("stt", Memory=2 * 1024**3), id="memory by docker update"),
        pytest.param(
            lambda engine, roots: engine.by_name("tts").config.update(Env=["ApiKey=typed-by-hand"]),
            id="environment replaced by hand",
        ),
        pytest.param(lambda engine, roots: engine.stop(engine.by_name("stt").id), id="a container stopped"),
        pytest.param(
            lambda engine, roots: engine.remove_container(engine.by_name("tts").id, force=True), id="one removed"
        ),
        pytest.param(remove_licenses, id="license missing"),
        pytest.param(
            lambda engine, roots: (
                engine.remove_container(engine.by_name("stt").id, force=True)
                or engine.remove_container(engine.by_name("tts").id, force=True)
            ),
            id="a fresh host",
        ),
    ],
)
def test_a_host_that_would_change_is_predicted_exactly_as_the_module_predicts_it(
    engine: FakeEngine, roots: dict[str, Any], change: Any
) -> None:
    change(engine, roots)
    expected = module_prediction(engine, declared(roots))
    assert expected["changed"] is True
    predicted, sent = snapshot_prediction(engine, declared(roots))
    assert predicted == expected
    assert "typed-by-hand" not in sent and API_KEY not in sent


def test_a_changed_declaration_is_predicted_exactly_as_the_module_predicts_it(
    engine: FakeEngine, roots: dict[str, Any]
) -> None:
    changed = declared(roots, stt={"http_proxy_creds": "proxyuser:another-canary"})
    expected = module_prediction(engine, changed)
    assert [entry["action"] for entry in expected["containers"]] == ["replaced", "unchanged"]
    assert snapshot_prediction(engine, changed)[0] == expected


def test_a_value_set_by_hand_that_the_result_would_show_is_left_to_the_module(
    engine: FakeEngine, roots: dict[str, Any]
) -> None:
    """Eula is no secret: the module's drift shows the value found, which the snapshot only has as a digest."""
    container = engine.by_name("stt")
    container.config["Env"] = [
        "Eula=typed-by-hand" if entry.startswith("Eula=") else entry for entry in container.config["Env"]
    ]
    [stt, _tts] = module_prediction(engine, declared(roots))["containers"]
    assert stt["drift"] == [
        {"setting": "environment", "actual": {"Eula": "typed-by-hand"}, "desired": {"Eula": "accept"}}
    ]
    predicted, sent = snapshot_prediction(engine, declared(roots))
    assert predicted is None and "typed-by-hand" not in sent


def test_a_problem_on_the_host_is_left_to_the_module(engine: FakeEngine, roots: dict[str, Any]) -> None:
    """A new container's port held by a process: the module fails with its message, the snapshot says nothing."""
    more = build_desired(
        [*entries(), {"name": "lid", "kind": "language-detection", "version": "1.18.0", "host_port": 5002}], roots
    )
    TAKEN.add(5002)
    with pytest.raises(DeployError, match="5002 is in use by a process"):
        module_run(engine, more)
    assert snapshot_prediction(engine, more)[0] is None


def test_a_question_the_snapshot_was_not_asked_is_a_miss() -> None:
    host = SnapshotHost({"owners": {}, "ports": [], "http": {}, "license_roots": {}, "exists": {}, "texts": {}})
    for question in (
        lambda: host.owner("/var/lib/speechops/models"),
        lambda: host.port_taken("0.0.0.0", 5000),
        lambda: host.request("http://127.0.0.1:5000/ready", 3.0),
        lambda: host.license_present("/var/lib/speechops/license/" + "0" * 64),
    ):
        with pytest.raises(SnapshotMiss):
            question()
