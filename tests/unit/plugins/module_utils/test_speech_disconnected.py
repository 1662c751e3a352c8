# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Disconnected containers: validation, rendering, the license download per image before any change, its failure
(the serving container untouched), idempotence, image changes, and what speech_container_info reports.

The in-memory engine (fake_docker_engine) runs Microsoft's contract: DownloadLicense=True writes a file into the
directory bound at /license and exits; a container with Mounts:License=/license does not start without one.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.speechops.edge.plugins.filter.speech import speech_plan, speech_record
from ansible_collections.speechops.edge.plugins.module_utils import _container_spec, _speech_deploy
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    DesiredContainer,
    SpecError,
    build_desired,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import LICENSE_SUFFIX, deploy
from ansible_collections.speechops.edge.plugins.module_utils._speech_info import disconnected_facts, usage_records
from ansible_collections.speechops.edge.tests.unit.fake_docker_engine import Behaviour, FakeClock, FakeEngine

API_KEY = "canary-key-0123456789abcdef"
OLD, NEW = "3.11.0", "3.12.0"


@pytest.fixture(autouse=True)
def _own_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """The directories are chowned to the containers' user: here, to the user running the tests (no root needed)."""
    for module in (_container_spec, _speech_deploy):
        monkeypatch.setattr(module, "CONTAINER_UID", os.getuid())
        monkeypatch.setattr(module, "CONTAINER_GID", os.getgid())


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Any]:
    return {
        "eula": "accept",
        "billing": "https://westeurope.api.cognitive.microsoft.com/",
        "api_key": API_KEY,
        "registry": "registry.example.com:5000",
        "bind_address": "0.0.0.0",
        "allow_below_minimum": True,
        "models_root": str(tmp_path / "models"),
        "output_root": str(tmp_path / "output"),
        "license_root": str(tmp_path / "license"),
    }


def tts(version: str = NEW, **fields: Any) -> dict[str, Any]:
    entry = {
        "name": "tts",
        "kind": "neural-text-to-speech",
        "version": version,
        "locale": "en-US",
        "voice": "AriaNeural",
        "ready_timeout": 60,
        "disconnected": True,
    }
    entry.update(fields)
    return entry


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(FakeClock())


def desired(roots: dict[str, Any], *entries: dict[str, Any]) -> list[DesiredContainer]:
    return build_desired(list(entries), roots)


def publish(engine: FakeEngine, roots: dict[str, Any], version: str, **behaviour: Any) -> str:
    return engine.publish(desired(roots, tts(version))[0].image, Behaviour(**behaviour))


def converge(engine: FakeEngine, items: list[DesiredContainer], check_mode: bool = False) -> dict[str, Any]:
    return deploy(
        engine,
        items,
        prune=False,
        pull_always=False,
        check_mode=check_mode,
        probe_running=False,
        prober=engine.probe,
        clock=engine.clock,
        sleep=engine.clock.sleep,
    )


def license_root(roots: dict[str, Any]) -> Path:
    return Path(roots["license_root"]) / "tts"


def hex_of(image_id: str) -> str:
    return image_id.split(":", 1)[1]


def serves_from(engine: FakeEngine, image_id: str) -> bool:
    container = engine.by_name("tts")
    probe = engine.probe("http://127.0.0.1:5000", 1)
    return container.running and container.image_id == image_id and probe.api_status == "ValidNonMetered"


# ---- validation -------------------------------------------------------------------------------------------------
def test_language_detection_is_refused_with_field_value_reason_and_fix(roots: dict[str, Any]) -> None:
    entries = [tts(), {"name": "ld", "kind": "language-detection", "version": "1.18.0", "disconnected": True}]
    with pytest.raises(SpecError) as raised:
        desired(roots, *entries)
    assert raised.value.problems == [
        "containers[1] (ld).disconnected: true, but Microsoft does not offer language-detection as a disconnected "
        "container: remove disconnected or run it connected (disconnected: false)"
    ]


def test_the_inherited_default_is_refused_for_language_detection_too(roots: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as raised:
        desired(dict(roots, disconnected=True), {"name": "ld", "kind": "language-detection", "version": "1.18.0"})
    assert "(the default of every container here), but Microsoft does not offer language-detection" in str(raised.value)
    # An entry may opt out of the host's default.
    assert desired(
        dict(roots, disconnected=True),
        {"name": "ld", "kind": "language-detection", "version": "1.18.0", "disconnected": False},
    )


def test_the_plan_refuses_it_before_any_host_changes_and_names_speech_disconnected() -> None:
    declaration = [{"kind": "neural-text-to-speech", "version": NEW, "locale": "en-US", "voice": "AriaNeural"},
                   {"kind": "language-detection", "version": "1.18.0"}]  # fmt: skip
    with pytest.raises(AnsibleFilterError) as raised:
        speech_plan(declaration, disconnected=True)
    message = str(raised.value)
    assert "speech_containers[1] (langdetect).disconnected: true" in message
    assert "does not offer language-detection as a disconnected container" in message
    assert "speech_disconnected" in message
    assert "speech_containers[0]" not in message


def test_the_plan_gives_disconnected_entries_license_and_output_directories() -> None:
    [entry] = speech_plan(
        [{"kind": "neural-text-to-speech", "version": NEW, "locale": "en-US", "voice": "AriaNeural"}],
        license_root="/srv/license",
        output_root="/srv/output",
        disconnected=True,
    )
    assert entry["disconnected"] is True
    assert entry["license_path"] == "/srv/license/tts-en-us-arianeural"
    assert entry["output_path"] == "/srv/output/tts-en-us-arianeural"
    record = speech_record(entry, eula="accept", billing="https://billing.example.com/")
    assert record["disconnected"] is True
    assert "/srv/license/tts-en-us-arianeural/IMAGE_ID_HEX:/license:rw" in record["docker_run"]
    assert "Billing" not in record["docker_run"] and "ApiKey" not in record["docker_run"]
    assert "DownloadLicense=True" in record["license_download"] and "ApiKey=********" in record["license_download"]


# ---- rendering ---------------------------------------------------------------------------------------------------
def test_the_serving_container_runs_without_billing_and_the_download_with_it(
    roots: dict[str, Any], engine: FakeEngine
) -> None:
    [item] = desired(roots, tts())
    image_id = "sha256:" + "ab" * 32
    assert item.env["Eula"] == "accept"
    assert "Billing" not in item.env and "ApiKey" not in item.env
    assert "Mounts:License=/license" in item.args and "Mounts:Output=/output" in item.args
    assert not any(arg.startswith(("Billing", "ApiKey", "DownloadLicense")) for arg in item.args)
    assert item.download_env["ApiKey"] == API_KEY and item.download_env["Billing"] == roots["billing"]
    assert item.download_args == ["DownloadLicense=True", "Mounts:License=/license"]
    arguments = item.create_arguments(engine, image_id)
    binds = arguments["host_config"]["Binds"]
    assert "%s/%s:/license:rw" % (license_root(roots), "ab" * 32) in binds
    assert "%s/tts:/output:rw" % roots["output_root"] in binds
    assert API_KEY not in json.dumps(arguments, default=str)
    download = item.download_arguments(engine, image_id, "tts" + LICENSE_SUFFIX, "/x/partial")
    assert download["command"] == ["DownloadLicense=True", "Mounts:License=/license"]
    assert download["environment"]["ApiKey"] == API_KEY  # environment, never the command line
    assert download["host_config"]["Binds"] == ["/x/partial:/license:rw"]
    assert "PortBindings" not in download["host_config"]


def test_switching_between_connected_and_disconnected_changes_the_config_hash(roots: dict[str, Any]) -> None:
    [connected] = desired(roots, tts(disconnected=False))
    [disconnected] = desired(roots, tts())
    assert connected.config_hash("sha256:1") != disconnected.config_hash("sha256:1")
    assert "Billing" in connected.env and "disconnected" not in connected.public_spec()


# ---- the license download ------------------------------------------------------------------------------------------
def test_check_mode_predicts_the_download_and_runs_nothing(roots: dict[str, Any], engine: FakeEngine) -> None:
    publish(engine, roots, NEW)
    result = converge(engine, desired(roots, tts()), check_mode=True)
    assert result["changed"] is True
    [license_entry] = result["licenses"]
    assert license_entry["action"] == "download" and license_entry["name"] == "tts"
    [entry] = result["containers"]
    assert entry["action"] == "created" and entry["license"]["action"] == "download"
    assert entry["diff"]["before"]["license"] == "missing"
    assert entry["diff"]["after"]["license"] == "download for %s" % entry["image"]
    assert engine.mutating_calls() == [] and engine.by_id == {}
    assert not Path(roots["license_root"]).exists()


def test_the_license_is_downloaded_before_the_container_is_created(roots: dict[str, Any], engine: FakeEngine) -> None:
    image_id = publish(engine, roots, NEW)
    result = converge(engine, desired(roots, tts()))
    assert result["failures"] == []
    assert [(entry["name"], entry["action"]) for entry in result["licenses"]] == [("tts", "downloaded")]
    directory = license_root(roots) / hex_of(image_id)
    assert [path.name for path in directory.iterdir()] == ["license.bin"]
    assert sorted(path.name for path in license_root(roots).iterdir()) == [hex_of(image_id)]  # no partial
    assert engine.states() == {"tts": "running"} and serves_from(engine, image_id)
    creates = [args[0] for method, args in engine.calls if method == "create_container"]
    assert creates == ["tts" + LICENSE_SUFFIX, "tts"]
    env = engine.by_name("tts").config["Env"]
    assert not any(item.startswith(("Billing=", "ApiKey=")) for item in env)
    assert API_KEY not in json.dumps(result)


def test_a_rerun_with_the_license_present_changes_nothing(roots: dict[str, Any], engine: FakeEngine) -> None:
    publish(engine, roots, NEW)
    converge(engine, desired(roots, tts()))
    engine.revive()
    result = converge(engine, desired(roots, tts()))
    assert result["changed"] is False and result["licenses"] == []
    assert [entry["action"] for entry in result["containers"]] == ["unchanged"]
    assert result["containers"][0]["license"]["action"] == "present"
    assert engine.mutating_calls() == []


def test_a_failed_download_leaves_the_serving_container_alone(roots: dict[str, Any], engine: FakeEngine) -> None:
    old_image = publish(engine, roots, OLD)
    new_image = publish(engine, roots, NEW, license_download="fail")
    converge(engine, desired(roots, tts(OLD)))
    old = engine.by_name("tts")
    engine.revive()
    result = converge(engine, desired(roots, tts(NEW)))
    [failure] = result["failures"]
    assert "downloading the license for" in failure and "exited with code 1" in failure
    assert "is not valid for a disconnected container" in failure  # the container's own reason, from its log
    assert "the running container was not changed" in failure
    assert API_KEY not in json.dumps(result) and "ApiKey=********" in failure
    assert engine.states() == {"tts": "running"} and engine.by_name("tts").id == old.id
    assert serves_from(engine, old_image)
    assert not any(method in ("rename", "stop") for method, _args in engine.calls)
    assert sorted(path.name for path in license_root(roots).iterdir()) == [hex_of(old_image)]
    assert not (license_root(roots) / hex_of(new_image)).exists()


def test_a_download_that_never_finishes_is_given_up_at_its_deadline(roots: dict[str, Any], engine: FakeEngine) -> None:
    publish(engine, roots, NEW, license_download="hang")
    result = converge(engine, desired(roots, tts()))
    [failure] = result["failures"]
    assert "did not finish within ready_timeout=60s" in failure
    assert engine.by_id == {}  # neither the one-off container nor a serving one
    assert list(license_root(roots).iterdir()) == []


def test_an_image_change_downloads_a_new_license_before_the_replacement(
    roots: dict[str, Any], engine: FakeEngine
) -> None:
    old_image = publish(engine, roots, OLD)
    new_image = publish(engine, roots, NEW)
    converge(engine, desired(roots, tts(OLD)))
    engine.revive()
    result = converge(engine, desired(roots, tts(NEW)))
    assert result["failures"] == []
    mutating = [(method, args[0] if args else None) for method, args in engine.calls if method != "inspect_container"]
    download = mutating.index(("create_container", "tts" + LICENSE_SUFFIX))
    renamed = next(index for index, (method, _arg) in enumerate(mutating) if method == "rename")
    assert download < renamed  # the license first, then the old container is touched
    assert serves_from(engine, new_image) and engine.states() == {"tts": "running"}
    # The old image's license is pruned once the new container serves.
    assert sorted(path.name for path in license_root(roots).iterdir()) == [hex_of(new_image)]
    assert {"path": str(license_root(roots) / hex_of(old_image)), "action": "prune"} in result["licenses"]


def test_a_license_removed_by_hand_is_downloaded_again_and_the_container_recreated(
    roots: dict[str, Any], engine: FakeEngine
) -> None:
    image_id = publish(engine, roots, NEW)
    converge(engine, desired(roots, tts()))
    (license_root(roots) / hex_of(image_id) / "license.bin").unlink()
    engine.revive()
    result = converge(engine, desired(roots, tts()))
    assert result["failures"] == [] and result["containers"][0]["action"] == "replaced"
    assert "license" in result["containers"][0]["reason"]
    assert serves_from(engine, image_id)


def test_switching_a_connected_container_to_disconnected_replaces_it(roots: dict[str, Any], engine: FakeEngine) -> None:
    image_id = publish(engine, roots, NEW)
    converge(engine, desired(roots, tts(disconnected=False)))
    assert engine.probe("http://127.0.0.1:5000", 1).api_status == "Valid"
    engine.revive()
    result = converge(engine, desired(roots, tts()))
    assert result["failures"] == [] and result["containers"][0]["action"] == "replaced"
    assert serves_from(engine, image_id)


# ---- speech_container_info ----------------------------------------------------------------------------------------
def test_info_reports_the_license_of_the_image_it_runs(roots: dict[str, Any], engine: FakeEngine) -> None:
    image_id = publish(engine, roots, NEW)
    converge(engine, desired(roots, tts()))
    [listed] = engine.containers_list(all=True)
    facts = disconnected_facts(listed["Labels"], listed["ImageID"])
    assert facts is not None
    assert facts["license"] == "present" and facts["license_path"] == str(license_root(roots))
    assert facts["license_dir"] == str(license_root(roots) / hex_of(image_id))
    assert facts["license_downloaded"].endswith("+00:00")
    assert disconnected_facts(listed["Labels"], "sha256:" + "0" * 64)["license"] == "missing"
    assert disconnected_facts({}, image_id) is None  # connected


def test_usage_records_are_read_from_the_container() -> None:
    records = {"apiType": "speech", "serviceName": "neural-text-to-speech",
               "meters": [{"name": "Speech.TextToSpeech.Characters", "quantity": 42}]}  # fmt: skip
    paths = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            body = json.dumps(records).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = "http://127.0.0.1:%d" % server.server_address[1]
        assert usage_records(base, 3.0) == records
        assert usage_records(base, 3.0, "11/2026") == records
    finally:
        server.shutdown()
        server.server_close()
    assert paths == ["/records/usage-logs/", "/records/usage-logs/11/2026"]
    assert "error" in usage_records(base, 0.5)


def test_a_leftover_download_container_is_removed_and_a_foreign_one_never_touched(
    roots: dict[str, Any], engine: FakeEngine
) -> None:
    image_id = publish(engine, roots, NEW)
    [item] = desired(roots, tts())
    reference = item.image
    engine.local_images[reference] = image_id
    engine.create_container(
        reference, name="tts" + LICENSE_SUFFIX, labels={"io.speechops.edge.license-download": "tts"}
    )
    result = converge(engine, [item])
    assert result["failures"] == [] and engine.states() == {"tts": "running"}

    engine.revive()
    engine.create_container(reference, name="other" + LICENSE_SUFFIX, labels={"owner": "someone else"})
    [other] = desired(roots, tts(name="other", host_port=5001))
    result = converge(engine, [item, other])
    [failure] = result["failures"]
    assert "other%s exists that speechops.edge did not create" % LICENSE_SUFFIX in failure
    assert engine.states() == {"tts": "running", "other" + LICENSE_SUFFIX: "created"}
