# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_containers' keep_records: the records written in the converge's own call, against the in-memory engine.

The expected files are what speech_records writes for the same options (the module the role used before), and the
expected states come from the engine, not from the code under test: written after a converge, predicted in check
mode, left alone when a container did not converge, and a bad name refused before any container changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import build_desired
from ansible_collections.speechops.edge.plugins.module_utils._records import MARKER
from ansible_collections.speechops.edge.plugins.modules import speech_containers, speech_records
from ansible_collections.speechops.edge.tests.unit.fake_docker_engine import FakeClock, FakeEngine

from .module_runner import run_module, run_speech_containers_on, speech_arguments

API_KEY = "canary-key-records-7d41"
ENTRY = {"name": "stt", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "ready_timeout": 60}
ARGS = speech_arguments(API_KEY)
RECORD = MARKER + "\nname: stt\nimage: registry.example.com:5000/stt:5.1.0\n"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """The module's engine, SDK client and probes are the in-memory engine; its clock advances only when it sleeps."""
    engine = FakeEngine(FakeClock())
    [item] = build_desired([ENTRY], {key: ARGS[key] for key in ("eula", "billing", "api_key", "registry")})
    engine.image_id = engine.publish(item.image)  # in the registry: the converge pulls it
    run_speech_containers_on(engine, monkeypatch)
    return engine


def converge(directory: Path, check_mode: bool = False, **keep: Any) -> tuple[bool, dict[str, Any]]:
    keep_records = {"path": str(directory), "records": [{"name": "stt", "content": RECORD}], **keep}
    arguments = dict(ARGS, containers=[ENTRY], keep_records=keep_records, _ansible_diff=True)
    return run_module(speech_containers.main, arguments, check_mode=check_mode)


def records_alone(directory: Path) -> dict[str, Any]:
    """What speech_records itself predicts for the same records (check mode): the reference."""
    arguments = {"path": str(directory), "records": [{"name": "stt", "content": RECORD}], "_ansible_diff": True}
    failed, result = run_module(speech_records.main, arguments, check_mode=True)
    assert not failed
    return result


def test_records_are_written_in_the_converge_and_predicted_in_check_mode(engine: FakeEngine, tmp_path: Path) -> None:
    directory = tmp_path / "speechops"
    reference = records_alone(directory)

    failed, predicted = converge(directory, check_mode=True)
    assert not failed and predicted["changed"] and engine.states() == {}
    assert predicted["records"] == {key: reference[key] for key in ("written", "removed", "path")}
    assert not directory.exists()  # check mode wrote nothing

    failed, result = converge(directory)
    assert not failed and result["changed"] and engine.states() == {"stt": "running"}
    assert result["records"]["written"] == [str(directory / "stt.yml")]
    assert (directory / "stt.yml").read_text() == RECORD
    assert (directory / "stt.yml").stat().st_mode & 0o777 == 0o640
    assert reference["diff"][0] in result["diff"]  # the record's diff beside the container's
    assert API_KEY not in json.dumps(result)

    failed, again = converge(directory)
    assert not failed and not again["changed"] and again["records"]["written"] == []

    (directory / "stt.yml").write_text(MARKER + "\nedited by hand\n")
    failed, changed = converge(directory)
    assert not failed and changed["changed"] and changed["records"]["written"] == [str(directory / "stt.yml")]
    assert [entry["action"] for entry in changed["containers"]] == ["unchanged"]
    assert (directory / "stt.yml").read_text() == RECORD


def test_records_stay_as_they_were_when_a_container_does_not_converge(engine: FakeEngine, tmp_path: Path) -> None:
    engine.behaviour[engine.image_id].ready = False
    directory = tmp_path / "speechops"
    directory.mkdir()
    (directory / "stt.yml").write_text(MARKER + "\nthe previous record\n")
    failed, result = converge(directory)
    assert failed and result["msg"].startswith("speech containers did not converge: stt: ")
    assert (directory / "stt.yml").read_text() == MARKER + "\nthe previous record\n"
    assert "records" not in result


def test_a_bad_record_name_is_refused_before_any_container_changes(engine: FakeEngine, tmp_path: Path) -> None:
    keep = {"records": [{"name": "../etc/passwd", "content": RECORD}]}
    failed, result = converge(tmp_path / "speechops", **keep)
    assert failed and result["msg"].startswith(
        "invalid records (nothing was changed): records[0].name: '../etc/passwd'"
    )
    assert engine.states() == {} and not (tmp_path / "speechops").exists()
