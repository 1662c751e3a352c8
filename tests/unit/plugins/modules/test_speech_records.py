# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_records: the records written, compared and removed in one call, judged by the files on disk (os.stat,
read back), not by the module's own answer. Rhythm: check mode (nothing written) -> write -> again (unchanged) ->
change one record (only it is written) -> remove and prune (foreign files never touched)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.speechops.edge.plugins.modules import speech_records

from .module_runner import run_module

MARK = "# speechops.edge speech container record\n"


def record(name: str, body: str = "image: example\n") -> dict[str, str]:
    return {"name": name, "content": "# Ansible managed\n" + MARK + body}


def run(directory: Path, check_mode: bool = False, **options: Any) -> dict[str, Any]:
    failed, result = run_module(
        speech_records.main, dict({"path": str(directory), "_ansible_diff": True}, **options), check_mode=check_mode
    )
    assert not failed, result
    return result


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "speechops"


def test_write_again_change_one(directory: Path) -> None:
    wanted = [record("stt-en-us"), record("langdetect")]
    predicted = run(directory, check_mode=True, records=wanted)
    assert predicted["changed"] is True and not directory.exists()
    assert sorted(predicted["written"]) == sorted(str(directory / n) for n in ("stt-en-us.yml", "langdetect.yml"))

    written = run(directory, records=wanted)
    assert written["changed"] is True
    assert (directory / "stt-en-us.yml").read_text() == wanted[0]["content"]
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(directory / "langdetect.yml").st_mode) == 0o640

    again = run(directory, records=wanted)
    assert (again["changed"], again["written"], again["removed"]) == (False, [], [])

    wanted[1] = record("langdetect", "image: other\n")
    changed = run(directory, records=wanted)
    assert changed["written"] == [str(directory / "langdetect.yml")]
    assert changed["diff"][0]["before"].endswith("image: example\n")
    assert changed["diff"][0]["after"].endswith("image: other\n")


def test_a_record_with_the_wrong_mode_is_written_again(directory: Path) -> None:
    run(directory, records=[record("stt-en-us")])
    os.chmod(directory / "stt-en-us.yml", 0o644)
    assert run(directory, records=[record("stt-en-us")])["changed"] is True
    assert stat.S_IMODE(os.stat(directory / "stt-en-us.yml").st_mode) == 0o640


def test_remove_and_prune_touch_records_only(directory: Path) -> None:
    run(directory, records=[record("a"), record("b"), record("c")])
    (directory / "notes.yml").write_text("written by hand\n")

    removed = run(directory, records=[record("a"), record("b")], remove=["c", "notes", "never-was"])
    assert removed["removed"] == [str(directory / "c.yml")]
    assert sorted(p.name for p in directory.iterdir()) == ["a.yml", "b.yml", "notes.yml"]

    predicted = run(directory, check_mode=True, records=[record("a")], prune=True)
    assert predicted["removed"] == [str(directory / "b.yml")] and (directory / "b.yml").exists()
    run(directory, records=[record("a")], prune=True)
    assert sorted(p.name for p in directory.iterdir()) == ["a.yml", "notes.yml"]


def test_a_name_that_leaves_the_directory_is_refused(directory: Path) -> None:
    failed, result = run_module(speech_records.main, {"path": str(directory), "records": [record("../passwd")]})
    assert failed and "records[0].name: '../passwd' is not a container name" in result["msg"]
    assert "nothing was changed" in result["msg"] and not directory.exists()
