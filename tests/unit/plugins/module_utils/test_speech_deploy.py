# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replacement, rollback, restore, prune, recovery of interrupted runs and drift, against an in-memory engine.

Time is a fake clock that advances only when the code sleeps: no test waits for real.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from ansible_collections.speechops.edge.plugins.module_utils import _speech_deploy
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    PREVIOUS_SUFFIX,
    DesiredContainer,
    build_desired,
)
from ansible_collections.speechops.edge.plugins.module_utils._host_reads import LOCAL_HOST
from ansible_collections.speechops.edge.plugins.module_utils._polling import Poller
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import (
    CREATE_NOT_COMPARED,
    CREATE_SETTINGS,
    HOST_CONFIG_SETTINGS,
    DeployError,
    deploy,
)
from ansible_collections.speechops.edge.tests.unit.fake_docker_engine import Behaviour, FakeClock, FakeEngine, Killed
from docker import errors as docker_errors

API_KEY = "canary-key-0123456789abcdef"
DEFAULTS = {
    "eula": "accept",
    "billing": "https://westeurope.api.cognitive.microsoft.com/",
    "api_key": API_KEY,
    "registry": "registry.example.com:5000",
    "bind_address": "0.0.0.0",
    "allow_below_minimum": True,
    "models_root": "/srv/speechops/models",
}
OLD, NEW = "5.0.0", "5.1.0"
READY_TIMEOUT = 60
# docker ps names of a host that serves one container and kept nothing behind.
SERVING_ONLY_STT = {"stt": "running"}


def stt(version: str = NEW, **fields: Any) -> dict[str, Any]:
    entry = {
        "name": "stt",
        "kind": "speech-to-text",
        "version": version,
        "locale": "en-US",
        "ready_timeout": READY_TIMEOUT,
        "decoder_max_count": 2,
    }
    entry.update(fields)
    return entry


def desired(*entries: dict[str, Any]) -> list[DesiredContainer]:
    return build_desired(list(entries), DEFAULTS)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> FakeEngine:
    engine = FakeEngine(clock)
    for version in (OLD, NEW):
        engine.publish(desired(stt(version))[0].image)
    return engine


def converge(engine: FakeEngine, items: list[DesiredContainer], check_mode: bool = False, **kwargs: Any) -> dict:
    return deploy(
        engine,
        items,
        prune=kwargs.pop("prune", False),
        pull_always=False,
        check_mode=check_mode,
        probe_running=kwargs.pop("probe_running", False),
        prober=engine.probe,
        clock=engine.clock,
        sleep=engine.clock.sleep,
        **kwargs,
    )


def actions(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(entry["name"], entry["action"]) for entry in result["containers"]]


def serving(engine: FakeEngine, version: str) -> bool:
    """The stt container serves, from the image of `version`."""
    container = engine.by_name("stt")
    item = desired(stt(version))[0]
    return engine.probe(item.base_url, 1).serving and container.image_id == engine.local_images[item.image]


@pytest.fixture
def old_serving(engine: FakeEngine) -> FakeEngine:
    """A host where the old version serves."""
    result = converge(engine, desired(stt(OLD)))
    assert result["failures"] == [] and serving(engine, OLD)
    engine.revive()
    return engine


def old_id(engine: FakeEngine) -> str:
    return engine.by_name("stt").id


# ---- create, replace, unchanged ------------------------------------------------------------------------------
def test_replace_serves_the_new_version_and_keeps_nothing_behind(old_serving: FakeEngine) -> None:
    result = converge(old_serving, desired(stt(NEW)))
    assert result["failures"] == []
    assert actions(result) == [("stt", "replaced")]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_unchanged_rerun_costs_two_lists_and_one_inspect_per_container(old_serving: FakeEngine) -> None:
    """The brief's budget: GET /containers/json, GET /images/json, plus one inspect per managed container."""
    connect_calls = []
    result = converge(old_serving, desired(stt(OLD)), connect=lambda: connect_calls.append(1))
    assert result["changed"] is False and actions(result) == [("stt", "unchanged")]
    assert [method for method, _args in old_serving.calls] == ["containers", "images", "inspect_container"]
    assert connect_calls == []  # the SDK is never needed


# ---- every failure during the changes restores the previous container -------------------------------------
def assert_restored(result: dict[str, Any], engine: FakeEngine) -> None:
    [entry] = result["containers"]
    assert entry["rolled_back"] is True
    assert "restored and serves again" in entry["restore"]
    assert "restored and serves again" in result["failures"][0]
    assert engine.states() == SERVING_ONLY_STT and serving(engine, OLD)


def test_oserror_while_starting_the_new_container(old_serving: FakeEngine) -> None:
    previous = old_id(old_serving)
    old_serving.fail("start", ConnectionResetError(104, "Connection reset by peer"), when=lambda cid: cid != previous)
    result = converge(old_serving, desired(stt(NEW)))
    assert "starting the new container failed: ConnectionResetError" in result["failures"][0]
    assert_restored(result, old_serving)


def test_timeout_while_stopping_the_old_container(old_serving: FakeEngine) -> None:
    old_serving.fail("stop", requests.exceptions.ReadTimeout("UnixHTTPConnectionPool: Read timed out."))
    result = converge(old_serving, desired(stt(NEW)))
    assert "stopping the old container failed: ReadTimeout" in result["failures"][0]
    assert_restored(result, old_serving)


def test_timeout_after_the_old_container_stopped_anyway(old_serving: FakeEngine) -> None:
    """The engine stopped it, but the answer never came: the rollback starts it again."""
    old_serving.fail("stop", requests.exceptions.ReadTimeout("Read timed out."), after=True)
    assert_restored(converge(old_serving, desired(stt(NEW))), old_serving)


def test_a_crash_looping_old_container_is_stopped_then_replaced(old_serving: FakeEngine) -> None:
    """Docker refuses to rename a restarting container ('sandbox ... not found'): it serves nothing, so it stops."""
    old_serving.by_name("stt").status = "restarting"
    result = converge(old_serving, desired(stt(NEW)))
    assert result["failures"] == [] and actions(result) == [("stt", "replaced")]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_an_old_container_that_starts_crash_looping_before_the_rename_is_replaced(old_serving: FakeEngine) -> None:
    """Listed running, restarting by the time of the rename (the CI failure of stop 20): stopped, renamed again."""

    crashed: list[str] = []

    def crash(container_id: str, name: str) -> bool:
        if not crashed:  # the first rename finds it crash-looping; the engine's own answer is the error
            crashed.append(container_id)
            old_serving.by_id[container_id].status = "restarting"
        return False

    old_serving.fail("rename", docker_errors.APIError("unused"), when=crash)
    result = converge(old_serving, desired(stt(NEW)))
    assert result["failures"] == [] and actions(result) == [("stt", "replaced")]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_create_refused_leaves_the_old_container_serving(old_serving: FakeEngine) -> None:
    old_serving.fail("create_container", docker_errors.APIError("no space left on device"))
    result = converge(old_serving, desired(stt(NEW)))
    assert "creating the container failed: APIError" in result["failures"][0]
    assert_restored(result, old_serving)


def test_new_container_never_ready_is_rolled_back_after_ready_timeout(old_serving: FakeEngine) -> None:
    old_serving.behaviour[old_serving.registry[desired(stt(NEW))[0].image]].ready = False
    begin = old_serving.clock()
    result = converge(old_serving, desired(stt(NEW)))
    assert "not serving within ready_timeout=%ds" % READY_TIMEOUT in result["failures"][0]
    assert READY_TIMEOUT <= old_serving.clock() - begin <= READY_TIMEOUT + 2 * Behaviour().warmup + 1
    assert result["containers"][0]["logs"] == ["starting", "billing check failed"]
    assert_restored(result, old_serving)


def test_rejected_key_fails_at_once_not_after_the_timeout(old_serving: FakeEngine) -> None:
    old_serving.behaviour[old_serving.registry[desired(stt(NEW))[0].image]].api_status = "Invalid"
    begin = old_serving.clock()
    result = converge(old_serving, desired(stt(NEW)))
    assert "apiStatus Invalid" in result["failures"][0]
    assert old_serving.clock() - begin < 10
    assert_restored(result, old_serving)


def test_new_container_that_exits_is_rolled_back(old_serving: FakeEngine) -> None:
    old_serving.behaviour[old_serving.registry[desired(stt(NEW))[0].image]].crash = True
    result = converge(old_serving, desired(stt(NEW)))
    assert "exited with code 1 before it was ready" in result["failures"][0]
    assert_restored(result, old_serving)


def test_engine_lost_while_waiting_restores(old_serving: FakeEngine) -> None:
    old_serving.behaviour[old_serving.registry[desired(stt(NEW))[0].image]].warmup = 30
    previous = old_id(old_serving)
    old_serving.fail("inspect_container", OSError("engine restarting"), when=lambda cid: cid != previous)
    result = converge(old_serving, desired(stt(NEW)))
    assert "reading its state failed: OSError: engine restarting" in result["failures"][0]
    assert_restored(result, old_serving)


def test_rename_back_fails_old_serves_under_kept_name_next_run_restores(old_serving: FakeEngine) -> None:
    old_serving.behaviour[old_serving.registry[desired(stt(NEW))[0].image]].crash = True
    old_serving.fail("rename", docker_errors.APIError("engine busy"), when=lambda cid, name: name == "stt")
    result = converge(old_serving, desired(stt(NEW)))
    [entry] = result["containers"]
    assert entry["rolled_back"] is False
    assert "the previous container serves again, as stt%s" % PREVIOUS_SUFFIX in result["failures"][0]
    assert "the next run renames it back" in entry["restore"]
    assert old_serving.states() == {"stt" + PREVIOUS_SUFFIX: "running"}
    assert serving_on_port(old_serving)

    old_serving.revive()
    result = converge(old_serving, desired(stt(OLD)))
    assert result["recovered"] == [
        {
            "name": "stt",
            "found": {"previous": "running", "new": "absent"},
            "action": "rolled_back",
            "restore": "the previous container was restored and serves again",
            "serving": True,
        }
    ]
    assert actions(result) == [("stt", "unchanged")] and result["failures"] == []
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, OLD)


def serving_on_port(engine: FakeEngine) -> bool:
    return engine.probe(desired(stt())[0].base_url, 1).serving


def test_removing_the_previous_container_fails_then_next_run_finishes(old_serving: FakeEngine) -> None:
    previous = old_id(old_serving)
    old_serving.fail("remove_container", OSError("device busy"), when=lambda cid, **kw: cid == previous)
    result = converge(old_serving, desired(stt(NEW)))
    assert "the new container serves, but removing stt%s failed" % PREVIOUS_SUFFIX in result["failures"][0]
    old_serving.revive()
    result = converge(old_serving, desired(stt(NEW)))
    assert [(r["name"], r["found"], r["action"]) for r in result["recovered"]] == [
        ("stt", {"previous": "exited", "new": "running"}, "finished")
    ]
    assert result["failures"] == [] and old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_keyboard_interrupt_in_the_module_restores_then_propagates(old_serving: FakeEngine) -> None:
    old_serving.behaviour[old_serving.registry[desired(stt(NEW))[0].image]].warmup = 30
    previous = old_id(old_serving)
    calls = {"n": 0}

    def interrupted_sleep(seconds: float) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        old_serving.clock.sleep(seconds)

    with pytest.raises(KeyboardInterrupt):
        deploy(
            old_serving,
            desired(stt(NEW)),
            prune=False,
            pull_always=False,
            check_mode=False,
            probe_running=False,
            prober=old_serving.probe,
            clock=old_serving.clock,
            sleep=interrupted_sleep,
        )
    assert old_serving.states() == SERVING_ONLY_STT and old_serving.by_name("stt").id == previous


def test_create_failure_without_previous_leaves_nothing(engine: FakeEngine) -> None:
    engine.behaviour[engine.registry[desired(stt(NEW))[0].image]].crash = True
    result = converge(engine, desired(stt(NEW)))
    assert result["containers"][0]["rolled_back"] is False
    assert engine.states() == {}


# ---- runs killed mid-replacement: the next run recovers ---------------------------------------------------
def new_image(engine: FakeEngine) -> str:
    return engine.registry[desired(stt(NEW))[0].image]


KILLS = {
    # kill point: (method, call filter, found by the next run, its action)
    "after rename": ("rename", lambda cid, name: name.endswith(PREVIOUS_SUFFIX), "running", "absent", "rolled_back"),
    "after create": ("create_container", lambda name: True, "running", "created", "rolled_back"),
    "after stop": ("stop", lambda cid: True, "exited", "created", "rolled_back"),
    "after start": ("start", lambda cid: True, "exited", "running", "finished"),
}


@pytest.mark.parametrize("kill", sorted(KILLS))
@pytest.mark.parametrize("rebooted", [False, True])
def test_killed_mid_replacement_next_run_recovers(old_serving: FakeEngine, kill: str, rebooted: bool) -> None:
    method, when, previous_state, new_state, action = KILLS[kill]
    old_serving.kill_at(method, when=when)
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    if rebooted:
        # unless-stopped: a container stopped by the run stays stopped, a running one comes back.
        old_serving.reboot()
    old_serving.revive()
    result = converge(old_serving, desired(stt(NEW)))
    [report] = result["recovered"]
    assert (report["name"], report["found"], report["action"]) == (
        "stt",
        {"previous": previous_state, "new": new_state},
        action,
    )
    assert report["serving"] is True
    assert result["failures"] == []
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_killed_while_removing_the_previous_container(old_serving: FakeEngine) -> None:
    previous = old_id(old_serving)
    old_serving.kill_at("remove_container", when=lambda cid, **kw: cid == previous, after=False)
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    old_serving.revive()
    result = converge(old_serving, desired(stt(NEW)))
    assert [(r["found"], r["action"]) for r in result["recovered"]] == [
        ({"previous": "exited", "new": "running"}, "finished")
    ]
    assert actions(result) == [("stt", "unchanged")]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_killed_during_rollback_after_removing_the_new_container(old_serving: FakeEngine) -> None:
    old_serving.behaviour[new_image(old_serving)].crash = True
    previous = old_id(old_serving)
    old_serving.kill_at("remove_container", when=lambda cid, **kw: cid != previous)
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    old_serving.revive()
    result = converge(old_serving, desired(stt(OLD)))  # the operator goes back to the old version
    assert [(r["found"], r["action"]) for r in result["recovered"]] == [
        ({"previous": "exited", "new": "absent"}, "rolled_back")
    ]
    assert actions(result) == [("stt", "unchanged")]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, OLD)


def test_killed_during_rollback_after_renaming_back(old_serving: FakeEngine) -> None:
    """The old container has its name back but is stopped: not a leftover, the plan starts it."""
    old_serving.behaviour[new_image(old_serving)].crash = True
    old_serving.kill_at("rename", when=lambda cid, name: name == "stt")
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    old_serving.revive()
    result = converge(old_serving, desired(stt(OLD)))
    assert result["recovered"] == [] and actions(result) == [("stt", "started")]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, OLD)


def test_new_container_running_but_broken_is_rolled_back(old_serving: FakeEngine) -> None:
    old_serving.kill_at("start")
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    old_serving.behaviour[new_image(old_serving)].ready = False
    old_serving.revive()
    result = converge(old_serving, desired(stt(OLD)))
    [report] = result["recovered"]
    assert report["action"] == "rolled_back"
    assert report["reason"].startswith("the new container did not serve: not serving within ready_timeout")
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, OLD)


def test_restart_always_brings_back_both_after_a_reboot(old_serving: FakeEngine) -> None:
    """restart_policy always restarts even the stopped old container: it wins the port, the new one stays down."""
    engine = old_serving
    engine.update("stt", RestartPolicy={"Name": "always", "MaximumRetryCount": 0})
    engine.kill_at("stop")
    with pytest.raises(Killed):
        converge(engine, desired(stt(NEW, restart_policy="always")))
    engine.reboot()
    engine.revive()
    result = converge(engine, desired(stt(NEW, restart_policy="always")))
    assert [(r["found"], r["action"]) for r in result["recovered"]] == [
        ({"previous": "running", "new": "created"}, "rolled_back")
    ]
    assert engine.states() == SERVING_ONLY_STT and serving(engine, NEW)


@pytest.mark.parametrize("check_mode", [True, False])
def test_a_leftover_whose_new_container_the_engine_starts_while_the_run_reads_the_host(
    old_serving: FakeEngine, monkeypatch: pytest.MonkeyPatch, check_mode: bool
) -> None:
    """After a reboot the engine starts the new container by its restart policy while the next run reads the host:
    listed as stopped, it already holds its port. That process is ours, not a conflict (seen on the lab in CI)."""
    old_serving.kill_at("start")
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    old_serving.reboot()
    old_serving.revive()
    port = desired(stt(NEW))[0].host_port
    listed_as_stopped = old_serving.by_name("stt")
    listed_as_stopped.status = "exited"  # the engine has not restarted it yet when the run lists the containers ...
    taken = {port}  # ... and has when the run tries the port: docker-proxy holds it
    monkeypatch.setattr(LOCAL_HOST, "port_taken", lambda address, number: number in taken)
    result = converge(old_serving, desired(stt(NEW)), check_mode=check_mode)
    assert result["failures"] == []
    [report] = result["recovered"]
    assert (report["found"], report["action"]) == ({"previous": "exited", "new": "exited"}, "rolled_back")
    if not check_mode:
        assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, NEW)


def test_a_port_held_by_a_foreign_process_is_refused_before_any_change(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = desired(stt(NEW))[0].host_port
    monkeypatch.setattr(LOCAL_HOST, "port_taken", lambda address, number: number == port)
    with pytest.raises(_speech_deploy.DeployError, match="host_port: %d is in use by a process on the host" % port):
        converge(engine, desired(stt(NEW)))
    assert engine.mutating_calls() == []


def test_a_leftover_whose_name_is_taken_by_a_foreign_container_changes_nothing(old_serving: FakeEngine) -> None:
    old_serving.kill_at("rename", when=lambda cid, name: name.endswith(PREVIOUS_SUFFIX))
    with pytest.raises(Killed):
        converge(old_serving, desired(stt(NEW)))
    old_serving.revive()
    foreign = old_serving.create_container(desired(stt(OLD))[0].image, name="stt")
    old_serving.calls = []
    with pytest.raises(DeployError, match="did not create holds the name stt"):
        converge(old_serving, desired(stt(NEW, name="other", host_port=5010)))
    assert old_serving.mutating_calls() == [] and foreign["Id"] in old_serving.by_id


# ---- drift on effective settings ----------------------------------------------------------------------------
DRIFTS = {
    "cpus (docker update --cpus 1)": ("cpus", {"NanoCpus": 1_000_000_000}),
    "memory (docker update --memory)": ("memory", {"Memory": 2 * 1024**3}),
    "cpu quota (docker update --cpu-quota)": ("cpu_quota", {"CpuQuota": 50000}),
    "ports (hand-made copy)": ("ports", {"PortBindings": {"5000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5999"}]}}),
    "mounts (hand-made copy)": ("mounts", {"Binds": ["/etc:/etc:rw"]}),
    "capabilities (hand-made copy)": ("cap_add", {"CapAdd": ["SYS_ADMIN"]}),
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_drift_of_host_config_is_predicted_and_repaired(old_serving: FakeEngine, drift: str) -> None:
    setting, change = DRIFTS[drift]
    old_serving.hand_made_copy("stt", **change)
    assert_drift_repaired(old_serving, setting)


def assert_drift_repaired(engine: FakeEngine, setting: str) -> None:
    predicted = converge(engine, desired(stt(OLD)), check_mode=True)
    assert engine.mutating_calls() == []
    [entry] = predicted["containers"]
    assert entry["action"] == "replaced" and setting in entry["reason"]
    assert [drift["setting"] for drift in entry["drift"]] == [setting]
    assert list(entry["diff"]["before"]) == [setting] == list(entry["diff"]["after"])
    engine.revive()
    result = converge(engine, desired(stt(OLD)))
    assert actions(result) == actions(predicted) and result["failures"] == []
    engine.revive()
    assert actions(converge(engine, desired(stt(OLD)))) == [("stt", "unchanged")]
    assert engine.states() == SERVING_ONLY_STT and serving(engine, OLD)


def test_drift_of_environment(old_serving: FakeEngine) -> None:
    container = old_serving.by_name("stt")
    container.config["Env"] = [e.replace("DECODER_MAX_COUNT=2", "DECODER_MAX_COUNT=8") for e in container.config["Env"]]
    predicted = converge(old_serving, desired(stt(OLD)), check_mode=True)
    assert predicted["containers"][0]["drift"] == [
        {"setting": "environment", "actual": {"DECODER_MAX_COUNT": "8"}, "desired": {"DECODER_MAX_COUNT": "2"}}
    ]
    old_serving.revive()
    assert_drift_repaired(old_serving, "environment")


def test_drift_of_image_behind_copied_labels(old_serving: FakeEngine) -> None:
    old_serving.hand_made_copy("stt", image_id=new_image(old_serving))
    predicted = converge(old_serving, desired(stt(OLD)), check_mode=True)
    assert [drift["setting"] for drift in predicted["containers"][0]["drift"]] == ["image_id"]
    old_serving.revive()
    assert_drift_repaired(old_serving, "image_id")


def test_drift_of_a_secret_is_found_and_never_shown(old_serving: FakeEngine) -> None:
    """The key changed by hand (wherever the container carries it: arguments or environment)."""
    hand_key = "hand-made-key-9876543210"
    container = old_serving.by_name("stt")
    for part in ("Cmd", "Env"):
        container.config[part] = [entry.replace(API_KEY, hand_key) for entry in container.config[part]]
    predicted = converge(old_serving, desired(stt(OLD)), check_mode=True)
    [entry] = predicted["containers"]
    assert entry["action"] == "replaced" and entry["drift"]
    text = json.dumps(predicted)
    assert API_KEY not in text and hand_key not in text


def every_shape() -> list[DesiredContainer]:
    """Containers with an output mount, a model mount, a GPU request and another restart policy."""
    return build_desired(
        [
            stt(output_path="/srv/speechops/output/stt", restart_policy="no"),
            {
                "name": "cstt",
                "kind": "custom-speech-to-text",
                "version": NEW,
                "model_id": "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
                "host_port": 5001,
            },
            {
                "name": "ft",
                "kind": "fast-transcription",
                "image": "registry.example.com:5000/ft:1",
                "host_port": 5002,
                "gpus": "all",
            },
        ],
        DEFAULTS,
    )


def test_every_rendered_docker_setting_is_compared() -> None:
    """A new create argument in DesiredContainer must be judged for drift (or named as not a setting)."""
    for item in every_shape():
        create = item.create_arguments(_speech_deploy._HostConfigKeywords(), "sha256:x")
        assert set(create) <= set(CREATE_SETTINGS) | set(CREATE_NOT_COMPARED)
        assert set(create["host_config"]) <= set(HOST_CONFIG_SETTINGS)


def test_fresh_containers_of_every_shape_show_no_drift(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison agrees with what the Docker SDK sends (docker.types.HostConfig renders the fake's config)."""
    engine = FakeEngine(clock)
    items = every_shape()
    for item in items:
        engine.publish(item.image)
    monkeypatch.setattr(_speech_deploy.Deployer, "ensure_directories", lambda self: [])  # no chown in a unit test
    assert converge(engine, items)["failures"] == []
    engine.revive()
    assert {action for _name, action in actions(converge(engine, items))} == {"unchanged"}


# ---- check mode predicts what the run does -------------------------------------------------------------------
SCENARIOS = {
    "create": lambda engine: None,
    "replace": lambda engine: converge(engine, desired(stt(OLD))),
    "drift": lambda engine: (converge(engine, desired(stt(NEW))), engine.update("stt", NanoCpus=10**9)),
    "killed after create": lambda engine: kill_mid_replacement(engine, "create_container"),
    "killed after start": lambda engine: kill_mid_replacement(engine, "start"),
    "stopped by hand": lambda engine: (converge(engine, desired(stt(NEW))), engine.stop(engine.by_name("stt").id)),
    "prune and remove": lambda engine: converge(engine, desired(stt(NEW), stt(name="gone", host_port=5009))),
}


def kill_mid_replacement(engine: FakeEngine, method: str) -> None:
    converge(engine, desired(stt(OLD)))
    engine.kill_at(method)
    with pytest.raises(Killed):
        converge(engine, desired(stt(NEW)))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_check_mode_predicts_the_run(engine: FakeEngine, scenario: str) -> None:
    SCENARIOS[scenario](engine)
    engine.revive()
    before = engine.states()
    predicted = converge(engine, desired(stt(NEW)), check_mode=True, prune=True)
    assert engine.states() == before and engine.mutating_calls() == []
    engine.revive()
    result = converge(engine, desired(stt(NEW)), prune=True)
    assert result["failures"] == []
    assert actions(result) == actions(predicted)
    assert [(r["name"], r["found"], r["action"]) for r in result["recovered"]] == [
        (r["name"], r["found"], r["action"]) for r in predicted["recovered"]
    ]
    assert result["changed"] is predicted["changed"] is True
    assert engine.states() == SERVING_ONLY_STT and serving(engine, NEW)


# ---- stop, start, remove, prune -------------------------------------------------------------------------------
def test_prune_removes_managed_containers_only(old_serving: FakeEngine) -> None:
    foreign = old_serving.create_container(desired(stt(OLD))[0].image, name="someone-elses")
    result = converge(old_serving, [], prune=True)
    assert actions(result) == [("stt", "removed")]
    assert set(old_serving.by_id) == {foreign["Id"]}


def test_state_stopped_then_absent(old_serving: FakeEngine) -> None:
    assert actions(converge(old_serving, desired(stt(OLD, state="stopped")))) == [("stt", "stopped")]
    assert old_serving.states() == {"stt": "exited"}
    assert actions(converge(old_serving, desired(stt(OLD, state="absent")))) == [("stt", "removed")]
    assert old_serving.states() == {}


def test_a_failed_removal_is_reported(old_serving: FakeEngine) -> None:
    old_serving.fail("remove_container", OSError("device or resource busy"))
    result = converge(old_serving, desired(stt(OLD, state="absent")))
    assert result["failures"] == ["stt: remove failed: OSError: device or resource busy"]


# ---- a fresh host: pulls and new containers at once ------------------------------------------------------------
def test_a_fresh_host_pulls_its_images_and_starts_its_containers_at_once(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three pulls, and three creates, each held at a barrier that opens only when all three are inside it: run one
    after the other (as before this test), the first would wait there alone and fail."""
    third = "5.2.0"
    engine.publish(desired(stt(third))[0].image)
    items = desired(
        stt(OLD, name="stt-a", host_port=5000),
        stt(NEW, name="stt-b", host_port=5001),
        stt(third, name="stt-c", host_port=5002),
    )
    for method in ("pull", "create_container"):
        barrier = threading.Barrier(3, timeout=5)
        real = getattr(engine, method)

        def held(*args: Any, _real: Any = real, _barrier: threading.Barrier = barrier, **kwargs: Any) -> Any:
            _barrier.wait()  # BrokenBarrierError after 5 s alone: the calls did not overlap
            return _real(*args, **kwargs)

        monkeypatch.setattr(engine, method, held)
    result = converge(engine, items)
    assert result["failures"] == []
    assert actions(result) == [("stt-a", "created"), ("stt-b", "created"), ("stt-c", "created")]
    assert engine.states() == {"stt-a": "running", "stt-b": "running", "stt-c": "running"}


def test_a_new_container_that_fails_to_start_leaves_the_others_running(engine: FakeEngine) -> None:
    engine.fail(
        "start",
        RuntimeError("port is already allocated"),
        when=lambda container_id: engine.by_id[container_id].name == "stt-b",
    )
    items = desired(stt(OLD, name="stt-a", host_port=5000), stt(NEW, name="stt-b", host_port=5001))
    result = converge(engine, items)
    assert len(result["failures"]) == 1 and "starting the new container failed" in result["failures"][0]
    assert sorted(engine.states().values()) == ["running"]  # the failed one was removed, the other serves


# ---- polling --------------------------------------------------------------------------------------------------
def test_poller_starts_fast_and_backs_off_to_one_second() -> None:
    """The brief: start at about 0.05 s, grow to about 1 s."""
    slept: list[float] = []
    poller = Poller(slept.append)
    for _unused in range(30):
        poller.pause(remaining=1000)
    assert slept[0] == pytest.approx(0.05)
    assert slept == sorted(slept) and max(slept) == pytest.approx(1.0)
    in_first_second = [delay for index, delay in enumerate(slept) if sum(slept[:index]) < 1.0]
    assert len(in_first_second) >= 5
    poller.pause(remaining=0.2)
    assert slept[-1] == pytest.approx(0.2)  # never past a deadline


def test_a_container_that_is_ready_quickly_is_seen_quickly(engine: FakeEngine) -> None:
    engine.behaviour[new_image(engine)].warmup = 0.3
    begin = engine.clock()
    assert converge(engine, desired(stt(NEW)))["failures"] == []
    assert engine.clock() - begin < 0.5


# ---- how a kind says it serves -------------------------------------------------------------------------------
def test_fast_transcription_is_awaited_on_its_health_path_without_status(engine: FakeEngine) -> None:
    """Microsoft documents only GET /stt/health for fast transcription (speech-container-ft.md), no /status:
    the rollout waits on that path and takes a healthy container as serving, on the first run and the rerun."""
    [item] = build_desired(
        [{"name": "ft", "kind": "fast-transcription", "image": "registry.example.com:5000/ft:1", "gpus": "none"}],
        DEFAULTS,
    )
    engine.publish(item.image)
    result = converge(engine, [item])
    assert result["failures"] == [] and actions(result) == [("ft", "created")]
    assert set(engine.probes) == {("http://127.0.0.1:5000/stt/health", False)}
    engine.revive()
    engine.probes.clear()
    rerun = converge(engine, [item], probe_running=True)
    assert actions(rerun) == [("ft", "unchanged")] and rerun["containers"][0]["ready"] is True
    assert engine.probes == [("http://127.0.0.1:5000/stt/health", False)]


# ---- behind the gateway: slots, start-first, the switch -------------------------------------------------------
class FakeGateway:
    """Records what the deploy asks the gateway (in the engine's call log, so the order shows)."""

    def __init__(self, engine: FakeEngine, serves: bool = True) -> None:
        self.engine = engine
        self._serves = serves

    def serves(self, backend: str) -> bool:
        return self._serves

    def switch(self, backend: str, new_slot: int, old_slot: int | None, drain_timeout: float) -> dict[str, Any]:
        self.engine.calls.append(("gateway.switch", (backend, new_slot, old_slot, drain_timeout)))
        return {"drained_sessions": 0, "drain_seconds": 0.0, "forced": False}


SLOT1, SLOT2 = 15000, 25000  # the slots of host port 5000 (speech_gateway: port + 10000, port + 20000)


def gateway_converge(engine: FakeEngine, version: str, capacity: tuple[int, float] | None = None) -> dict[str, Any]:
    items = build_desired([stt(version, host_port=5000)], DEFAULTS, gateway=True)
    return converge(engine, items, gateway=FakeGateway(engine), capacity=lambda: capacity, drain_timeout=30)


def bindings(engine: FakeEngine) -> dict[str, list[tuple[str, int]]]:
    return {container.name: container.host_bindings() for container in engine.by_id.values()}


def test_gateway_create_takes_the_first_slot_on_loopback(engine: FakeEngine) -> None:
    result = gateway_converge(engine, OLD)
    assert result["failures"] == [] and actions(result) == [("stt", "created")]
    assert bindings(engine) == {"stt": [("127.0.0.1", SLOT1)]}
    assert result["containers"][0]["slot"] == SLOT1
    assert ("gateway.switch", ("stt", 0, None, 30)) in engine.calls


def test_gateway_upgrade_starts_first_and_switches_before_the_old_container_goes(engine: FakeEngine) -> None:
    gateway_converge(engine, OLD)
    engine.revive()
    engine.calls.clear()
    old = engine.by_name("stt").id
    result = gateway_converge(engine, NEW)
    assert result["failures"] == [] and actions(result) == [("stt", "replaced")]
    entry = result["containers"][0]
    assert (entry["order"], entry["slot"]) == ("start-first", SLOT2)
    assert bindings(engine) == {"stt": [("127.0.0.1", SLOT2)]}
    calls = [method if method != "gateway.switch" else (method, args) for method, args in engine.calls]
    assert "stop" not in [call for call in calls if isinstance(call, str)]  # the old one served until the switch
    switch = calls.index(("gateway.switch", ("stt", 1, 0, 30)))
    removal = next(
        i for i, (method, args) in enumerate(engine.calls) if method == "remove_container" and args[0] == old
    )
    assert switch < removal


def test_gateway_rerun_on_the_second_slot_is_unchanged(engine: FakeEngine) -> None:
    gateway_converge(engine, OLD)
    engine.revive()
    gateway_converge(engine, NEW)
    engine.revive()
    assert actions(gateway_converge(engine, NEW)) == [("stt", "unchanged")]


def test_gateway_upgrade_that_never_serves_leaves_the_old_one_serving_untouched(engine: FakeEngine) -> None:
    gateway_converge(engine, OLD)
    engine.revive()
    engine.behaviour[engine.registry[desired(stt(NEW))[0].image]].ready = False
    engine.calls.clear()
    result = gateway_converge(engine, NEW)
    assert result["failures"] and result["containers"][0]["rolled_back"] is True
    assert engine.states() == SERVING_ONLY_STT and bindings(engine) == {"stt": [("127.0.0.1", SLOT1)]}
    assert "stop" not in [method for method, _args in engine.calls]
    assert not [call for call in engine.calls if call[0] == "gateway.switch"]


@pytest.mark.parametrize(
    ("capacity", "why"),
    [
        ((64 * 2**30, 1.0), "the host's 1 cores cannot run the old"),  # speech-to-text's minimum is 4 CPUs
        ((6 * 2**30, 64.0), "the host's memory (6.0 GiB) cannot hold the planned containers (4.0 GiB) and a second"),
    ],
)
def test_gateway_upgrade_stops_first_when_the_host_cannot_hold_both(
    engine: FakeEngine, capacity: tuple[int, float], why: str
) -> None:
    gateway_converge(engine, OLD)
    engine.revive()
    result = gateway_converge(engine, NEW, capacity=capacity)
    entry = result["containers"][0]
    assert result["failures"] == [] and entry["order"] == "stop-first"
    assert entry["order_reason"].startswith(why)
    assert "stop" in engine.mutating_calls() and bindings(engine) == {"stt": [("127.0.0.1", SLOT2)]}


# ---- images_only: the deploy playbook's pull on every host before the batches -------------------------------
def test_images_only_pulls_and_changes_no_container(old_serving: FakeEngine) -> None:
    items = desired(stt(NEW))
    predicted = converge(old_serving, items, check_mode=True, images_only=True)
    assert (predicted["changed"], predicted["pulled"], predicted["containers"]) == (True, [items[0].image], [])
    assert items[0].image not in old_serving.local_images

    pulled = converge(old_serving, items, images_only=True)
    assert pulled["pulled"] == [items[0].image] and items[0].image in old_serving.local_images
    assert old_serving.mutating_calls() == ["pull", "inspect_image"]
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, OLD)

    again = converge(old_serving, items, images_only=True)
    assert (again["changed"], again["pulled"]) == (False, [])
    replaced = converge(old_serving, items)  # the batch then only swaps the container
    assert replaced["pulled"] == [] and actions(replaced) == [("stt", "replaced")]


def test_images_only_failed_pull_changes_nothing(old_serving: FakeEngine) -> None:
    missing = desired(stt("9.9.9"))  # not in the registry
    with pytest.raises(DeployError, match="manifest unknown; no running container was changed"):
        converge(old_serving, missing, images_only=True)
    assert old_serving.states() == SERVING_ONLY_STT and serving(old_serving, OLD)
