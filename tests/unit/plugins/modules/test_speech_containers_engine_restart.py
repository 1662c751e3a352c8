# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_containers against an engine that holds a host port for no container (moby/libnetwork#1790).

The in-memory engine answers a start on such a port the way Docker does (its words as moby/moby#36591 and the lab's
engine print them), and only its own restart frees the port. Expected: without engine_restart_on_stale_port one
failure that names the port and the fix, and the engine left alone; with it one restart, then a converged host; a
port a running container publishes is never blamed on the engine (test_engine_service.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from ansible.module_utils import basic
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import build_desired
from ansible_collections.speechops.edge.plugins.modules import speech_containers
from ansible_collections.speechops.edge.tests.unit.fake_docker_engine import FakeClock, FakeEngine, Killed

from .module_runner import run_module, run_speech_containers_on, speech_arguments

API_KEY = "canary-key-stale-port-5c2e"
STT = {"name": "stt", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "ready_timeout": 60}
TTS = {
    "name": "tts",
    "kind": "neural-text-to-speech",
    "version": "4.1.0",
    "locale": "en-US",
    "voice": "AriaNeural",
    "host_port": 5001,
    "ready_timeout": 60,
}
ARGS = dict(speech_arguments(API_KEY), _ansible_diff=True)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine(FakeClock())
    for item in build_desired([STT, TTS], {key: ARGS[key] for key in ("eula", "billing", "api_key", "registry")}):
        engine.publish(item.image)
    run_speech_containers_on(engine, monkeypatch)
    return engine


@pytest.fixture
def commands(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command the module runs on the host; the init system's restart of docker restarts the engine."""
    ran: list[list[str]] = []

    def run_command(_module: Any, command: list[str], **_options: Any) -> tuple[int, str, str]:
        ran.append(command)
        if command in (["systemctl", "restart", "docker.service"], ["service", "docker", "restart"]):
            engine.restart_daemon()
            return 0, "", ""
        return 1, "", "unexpected command"

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return ran


def converge(**options: Any) -> tuple[bool, dict[str, Any]]:
    return run_module(speech_containers.main, dict(ARGS, containers=[STT, TTS], **options))


def test_a_port_the_engine_holds_for_no_container_fails_with_the_port_and_the_fix(
    engine: FakeEngine, commands: list[list[str]]
) -> None:
    engine.held_ports = {5000}
    failed, result = converge()
    assert failed
    assert "host port 5000 is held by the Docker engine itself, not by any container" in result["msg"]
    assert "moby/libnetwork#1790" in result["msg"]
    assert "engine_restart_on_stale_port=true" in result["msg"] and "systemctl restart docker" in result["msg"]
    assert "Bind for 0.0.0.0:5000 failed: port is already allocated" in result["msg"]  # Docker's own words stay
    assert commands == [] and engine.daemon_restarts == 0 and "engine_restart" not in result
    # The container on the free port converged; the one on the held port was rolled back (no half-made container).
    assert engine.states() == {"tts": "running"}
    assert API_KEY not in repr(result)


def test_with_engine_restart_the_engine_restarts_once_then_the_host_converges(
    engine: FakeEngine, commands: list[list[str]]
) -> None:
    engine.held_ports = {5000}
    tts_image = next(image_id for reference, image_id in engine.registry.items() if "text-to-speech" in reference)
    engine.behaviour[tts_image].warmup = 30.0  # the engine's restart starts tts over: it warms up again
    failed, result = converge(engine_restart_on_stale_port=True)
    assert not failed, result["msg"]
    # The module returns once tts serves again, not while it warms up after the restart.
    assert engine.clock() >= engine.by_name("tts").started_at + 30.0
    assert engine.daemon_restarts == 1 and len(commands) == 1
    assert commands[0] in (["systemctl", "restart", "docker.service"], ["service", "docker", "restart"])
    assert result["changed"] is True
    assert result["engine_restart"]["ports"] == [5000]
    assert result["engine_restart"]["command"] == " ".join(commands[0])
    assert any("port is already allocated" in failure for failure in result["engine_restart"]["failures"])
    assert engine.states() == {"stt": "running", "tts": "running"}
    assert result["diff"][0]["before_header"] == "docker engine"
    assert "5000" in result["diff"][0]["before"]["docker_engine"]
    assert API_KEY not in repr(result)

    failed, again = converge(engine_restart_on_stale_port=True)
    assert not failed and again["changed"] is False and "engine_restart" not in again
    assert engine.daemon_restarts == 1


@pytest.mark.parametrize("allow_restart", [False, True])
def test_a_host_killed_while_starting_a_replacement_then_its_engine_holds_the_port(
    engine: FakeEngine, commands: list[list[str]], allow_restart: bool
) -> None:
    """The lab's CI run of 2026-12-02: an upgrade's new container was being started when the host went down; after
    the reboot the engine held its port, so the recovery could not start the previous container again."""
    failed, _result = converge()
    assert not failed
    upgraded = dict(STT, version="5.2.0")
    [item] = build_desired([upgraded], {key: ARGS[key] for key in ("eula", "billing", "api_key", "registry")})
    engine.publish(item.image)
    engine.kill_at("start", when=lambda container_id: engine.by_id[container_id].name == "stt", after=False)
    with pytest.raises(Killed):
        run_module(speech_containers.main, dict(ARGS, containers=[upgraded, TTS]))
    engine.reboot()
    engine.held_ports = {5000}
    engine.revive()
    assert engine.states() == {"stt-speechops-previous": "exited", "stt": "created", "tts": "running"}

    failed, result = converge(engine_restart_on_stale_port=allow_restart)
    if not allow_restart:
        assert failed and "stt could not be restored from an interrupted run" in result["msg"]
        assert "host port 5000 is held by the Docker engine itself" in result["msg"]
        assert commands == [] and engine.daemon_restarts == 0
        assert engine.by_name("tts").running  # nothing else was touched
        return
    assert not failed, result["msg"]
    assert engine.daemon_restarts == 1 and result["engine_restart"]["ports"] == [5000]
    assert any("could not be restored" in failure for failure in result["engine_restart"]["failures"])
    assert engine.states() == {"stt": "running", "tts": "running"}
    assert (
        engine.by_name("stt").image_id
        == engine.local_images[
            build_desired([STT], {key: ARGS[key] for key in ("eula", "billing", "api_key", "registry")})[0].image
        ]
    )  # the declared (previous) version serves again
