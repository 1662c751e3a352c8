# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy lock: take, release, contention, wait, stale, break, check mode, same run; no sleeps as sync.

Time is a fake clock: the lock's sleep advances it, and a contended lock is released by the fake sleep itself,
so "the other run finished while we waited" is deterministic.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _deploy_lock
from ansible_collections.speechops.edge.plugins.module_utils._audit_log import read_last
from ansible_collections.speechops.edge.plugins.module_utils._deploy_lock import (
    Holder,
    LockHeld,
    read_lock,
    release_lock,
    take_lock,
)
from ansible_collections.speechops.edge.plugins.modules import speech_lock
from ansible_collections.speechops.edge.plugins.plugin_utils import _controller_identity as identity

from ..modules.module_runner import run_module

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = None

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.elapsed += seconds
        if self.on_sleep:
            self.on_sleep()


def holder(run_id: str, user: str = "alice", started: datetime = T0, pid: int = 4242) -> Holder:
    return Holder(user, "ctl-2", pid, run_id, "deploy", started.strftime("%Y-%m-%dT%H:%M:%SZ"))


@pytest.fixture
def lock_path(tmp_path: Path) -> str:
    return str(tmp_path / "speechops" / "deploy.lock")


def take(path: str, me: Holder, clock: FakeClock, breaks: list[Holder] | None = None, **options):
    settings = {"timeout": 0, "stale_after": 3600, "break_lock": False, "check_mode": False}
    settings.update(options)
    return take_lock(
        path,
        me,
        on_break=(breaks if breaks is not None else []).append,
        now=clock.now,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        **settings,
    )


def test_take_writes_a_root_only_lock_naming_the_holder(lock_path: str) -> None:
    outcome = take(lock_path, holder("run-a"), FakeClock())
    assert outcome.changed and outcome.action == "taken"
    assert stat.S_IMODE(os.stat(lock_path).st_mode) == 0o600
    with open(lock_path, encoding="utf-8") as handle:
        recorded = json.load(handle)
    assert recorded == {
        "user": "alice",
        "controller": "ctl-2",
        "pid": 4242,
        "run_id": "run-a",
        "operation": "deploy",
        "started_at": "2026-03-02T09:00:00Z",
    }
    assert os.listdir(os.path.dirname(lock_path)) == ["deploy.lock"]  # no temporary file left


def test_same_run_takes_again_without_change(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    again = take(lock_path, holder("run-a", started=T0 + timedelta(minutes=5)), FakeClock())
    assert not again.changed and again.action == "held"
    assert read_lock(lock_path).started_at == "2026-03-02T09:00:00Z"  # the original lock, untouched


def test_contended_lock_fails_at_once_naming_holder_and_age(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    clock = FakeClock()
    clock.elapsed = 12 * 60
    with pytest.raises(LockHeld) as held:
        take(lock_path, holder("run-b", user="bob"), clock)
    assert held.value.holder.run_id == "run-a"
    assert not held.value.stale
    assert clock.sleeps == []
    assert str(held.value).startswith("locked by alice@ctl-2 (pid 4242, run run-a, deploy) since 12 min;")
    assert read_lock(lock_path).run_id == "run-a"


def test_waits_with_backoff_until_the_deadline(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    clock = FakeClock()
    with pytest.raises(LockHeld) as held:
        take(lock_path, holder("run-b"), clock, timeout=5)
    # Responsive at first, then backing off (the collection's one backoff), never past the deadline.
    assert clock.sleeps[0] == pytest.approx(0.05) and clock.sleeps[:-1] == sorted(clock.sleeps[:-1])
    assert clock.sleeps[1] > clock.sleeps[0] and max(clock.sleeps) <= 2.0
    assert sum(clock.sleeps) == pytest.approx(5.0)
    assert held.value.waited == pytest.approx(5.0)


def test_takes_the_lock_once_the_other_run_releases_it(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    clock = FakeClock()
    # The other run finishes during our third wait.
    clock.on_sleep = lambda: len(clock.sleeps) == 3 and release_lock(lock_path, "run-a", check_mode=False)
    outcome = take(lock_path, holder("run-b"), clock, timeout=60)
    assert outcome.action == "taken" and outcome.changed
    assert len(clock.sleeps) == 3
    assert read_lock(lock_path).run_id == "run-b"


def test_stale_lock_is_reported_at_once_and_not_taken(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    clock = FakeClock()
    clock.elapsed = 5 * 3600 + 3 * 60
    with pytest.raises(LockHeld) as held:
        take(lock_path, holder("run-b"), clock, timeout=600, stale_after=4 * 3600)
    assert held.value.stale
    assert clock.sleeps == []  # a stale lock does not go away by waiting
    assert "since 5 h 3 min: stale (older than stale_after, 4 h)" in str(held.value)
    assert "speech_lock=break" in str(held.value)
    assert read_lock(lock_path).run_id == "run-a"


def test_break_records_the_broken_holder_first_then_takes(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    breaks: list[Holder] = []
    outcome = take(lock_path, holder("run-b", user="bob"), FakeClock(), breaks, break_lock=True)
    assert outcome.action == "broken" and outcome.changed
    assert [broken.run_id for broken in breaks] == ["run-a"]
    assert outcome.previous.name == "alice@ctl-2"
    assert read_lock(lock_path).run_id == "run-b"


def test_break_of_a_free_lock_just_takes_it(lock_path: str) -> None:
    breaks: list[Holder] = []
    outcome = take(lock_path, holder("run-b"), FakeClock(), breaks, break_lock=True)
    assert outcome.action == "taken" and breaks == []


def test_check_mode_predicts_without_touching(lock_path: str) -> None:
    free = take(lock_path, holder("run-a"), FakeClock(), check_mode=True)
    assert free.changed and free.action == "taken"
    assert not os.path.exists(lock_path)
    take(lock_path, holder("run-a"), FakeClock())
    with pytest.raises(LockHeld):
        take(lock_path, holder("run-b"), FakeClock(), check_mode=True)
    breaks: list[Holder] = []
    broken = take(lock_path, holder("run-b"), FakeClock(), breaks, break_lock=True, check_mode=True)
    assert broken.action == "broken" and breaks == []
    assert read_lock(lock_path).run_id == "run-a"


def test_release_removes_only_a_lock_of_its_own_run(lock_path: str) -> None:
    take(lock_path, holder("run-a"), FakeClock())
    other = release_lock(lock_path, "run-b", check_mode=False)
    assert not other.changed and other.previous.run_id == "run-a"
    assert os.path.exists(lock_path)
    predicted = release_lock(lock_path, "run-a", check_mode=True)
    assert predicted.changed and os.path.exists(lock_path)
    released = release_lock(lock_path, "run-a", check_mode=False)
    assert released.changed and released.action == "released"
    assert not os.path.exists(lock_path)
    assert not release_lock(lock_path, "run-a", check_mode=False).changed


def test_a_file_that_is_not_a_lock_counts_as_held(lock_path: str) -> None:
    os.makedirs(os.path.dirname(lock_path))
    Path(lock_path).write_text("")
    with pytest.raises(LockHeld) as held:
        take(lock_path, holder("run-b"), FakeClock())
    assert held.value.holder.run_id == "unreadable"


def test_a_faster_controller_wins_the_race(lock_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another controller publishes its lock between our read (free) and our link.
    real_publish = _deploy_lock._publish

    def raced(path: str, me: Holder) -> None:
        monkeypatch.setattr(_deploy_lock, "_publish", real_publish)
        real_publish(path, holder("run-fast", user="carol"))
        real_publish(path, me)

    monkeypatch.setattr(_deploy_lock, "_publish", raced)
    with pytest.raises(LockHeld) as held:
        take(lock_path, holder("run-b"), FakeClock())
    assert held.value.holder.name == "carol@ctl-2"


LOCK_ARGS = {"run_id": "run-b", "controller_user": "bob", "controller": "ctl-9", "controller_pid": 77}


def test_module_fails_with_holder_and_audits_a_break(tmp_path: Path) -> None:
    paths = {"path": str(tmp_path / "deploy.lock"), "audit_log": str(tmp_path / "log" / "audit.jsonl")}
    failed, result = run_module(speech_lock.main, dict(LOCK_ARGS, run_id="run-a", controller_user="alice", **paths))
    assert not failed and result["changed"] and result["action"] == "taken"
    assert result["holder"]["holder"] == "alice@ctl-9"

    failed, result = run_module(speech_lock.main, dict(LOCK_ARGS, **paths))
    assert failed and result["holder"]["run_id"] == "run-a" and result["stale"] is False
    assert result["msg"].startswith("locked by alice@ctl-9 (pid 77, run run-a, deploy) since")

    failed, result = run_module(speech_lock.main, dict(LOCK_ARGS, break_lock=True, **paths), check_mode=True)
    assert not failed and result["action"] == "broken"
    assert read_last(paths["audit_log"], 5) == ([], 0)  # check mode records nothing

    failed, result = run_module(speech_lock.main, dict(LOCK_ARGS, break_lock=True, **paths))
    assert not failed and result["action"] == "broken" and result["broken"]["run_id"] == "run-a"
    entries, _unused = read_last(paths["audit_log"], 5)
    assert [(e["operation"], e["user"], e["controller"], e["run_id"]) for e in entries] == [
        ("lock_break", "bob", "ctl-9", "run-b")
    ]
    assert entries[0]["broken_lock"]["holder"] == "alice@ctl-9"

    failed, result = run_module(speech_lock.main, {"state": "absent", "run_id": "run-b", **paths})
    assert not failed and result["changed"] and result["action"] == "released"
    assert not os.path.exists(paths["path"])


CANARY = "canary-key-5f1e0c"
CONVERGED = [
    {"name": "stt-en-us", "action": "created", "kind": "speech-to-text", "image": "r.example/stt:5.1.0", "env": CANARY},
    {"name": "tts", "action": "unchanged", "kind": "neural-text-to-speech", "image": "r.example/tts:4.1.0"},
]


def test_a_release_with_audit_records_the_run_then_releases(tmp_path: Path) -> None:
    """What the deploy playbook ends every host with: the entry speech_audit would write, then the release."""
    paths = {"path": str(tmp_path / "deploy.lock"), "audit_log": str(tmp_path / "log" / "audit.jsonl")}
    identity_args = {"run_id": "run-a", "controller_user": "alice", "controller": "ctl-9"}
    assert not run_module(speech_lock.main, dict(LOCK_ARGS, **identity_args, **paths))[0]
    audit = {"result": "failed", "detail": "stt-en-us: ApiKey=%s rejected" % CANARY, "containers": CONVERGED}
    release = {"state": "absent", "operation": "deploy", "audit": dict(audit, redact=[CANARY]), **identity_args}

    failed, result = run_module(speech_lock.main, dict(release, **paths), check_mode=True)
    assert not failed and result["action"] == "released" and result["entry"]["result"] == "failed"
    assert os.path.exists(paths["path"]) and read_last(paths["audit_log"], 5) == ([], 0)  # check mode: nothing

    failed, result = run_module(speech_lock.main, dict(release, _ansible_diff=True, **paths))
    assert not failed and result["action"] == "released" and not os.path.exists(paths["path"])
    entries, unreadable = read_last(paths["audit_log"], 5)
    assert unreadable == 0 and len(entries) == 1
    entry = entries[0]
    assert {key: entry[key] for key in ("operation", "run_id", "user", "controller", "result")} == {
        "operation": "deploy",
        "run_id": "run-a",
        "user": "alice",
        "controller": "ctl-9",
        "result": "failed",
    }
    assert entry["message"] == "stt-en-us: ApiKey=******** rejected"
    assert entry["changes"] == [
        {"name": "stt-en-us", "action": "created", "kind": "speech-to-text", "image": "r.example/stt:5.1.0"}
    ]
    assert CANARY not in Path(paths["audit_log"]).read_text() and CANARY not in json.dumps(result)
    assert [diff.get("after_header") for diff in result["diff"]] == [None, paths["audit_log"]]


def test_a_release_whose_audit_log_cannot_be_written_still_releases(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    paths = {"path": str(tmp_path / "deploy.lock"), "audit_log": str(blocker / "audit.jsonl")}
    identity_args = {"run_id": "run-a", "controller_user": "alice", "controller": "ctl-9"}
    assert not run_module(speech_lock.main, dict(LOCK_ARGS, **identity_args, **paths))[0]
    failed, result = run_module(
        speech_lock.main, {"state": "absent", "audit": {"result": "ok"}, **identity_args, **paths}
    )
    assert failed and result["action"] == "released" and not os.path.exists(paths["path"])
    assert result["msg"].startswith("audit log %s: " % paths["audit_log"])
    assert result["msg"].endswith("the deploy lock was released")


def test_audit_goes_only_with_a_release(tmp_path: Path) -> None:
    paths = {"path": str(tmp_path / "deploy.lock"), "audit_log": str(tmp_path / "audit.jsonl")}
    failed, result = run_module(speech_lock.main, dict(LOCK_ARGS, audit={"result": "ok"}, **paths))
    assert failed and result["msg"].startswith("audit: given with state=present")
    assert not os.path.exists(paths["path"]) and not os.path.exists(paths["audit_log"])


def test_controller_identity_is_stable_and_judges_dead_runs() -> None:
    # The holder run is judged on the controller: this test process plays the ansible-playbook process.
    me = identity.controller_identity()
    assert me["controller_pid"] == os.getppid() and me["run_id"] == identity.controller_identity()["run_id"]
    here = socket.gethostname()
    assert identity.run_is_alive(here, os.getppid(), me["run_id"]) is True
    assert identity.run_is_alive(here, os.getppid(), "another-run") is False  # the pid now runs something else
    assert identity.run_is_alive(here, 2**22 + 1, "gone") is False  # above Linux's pid_max: no such process
    assert identity.run_is_alive("another-controller", os.getppid(), me["run_id"]) is None
