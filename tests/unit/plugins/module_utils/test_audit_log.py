# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log: append-only JSON lines, the last N read back, and never a secret (canaries planted)."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ansible_collections.speechops.edge.plugins.module_utils._audit_log import append_entry, build_entry, read_last
from ansible_collections.speechops.edge.plugins.modules import speech_audit

from ..modules.module_runner import run_module

CANARY_KEY = "canary-key-5d41402abc4b2a76"
CANARY_PROXY = "proxyuser:canary-proxy-pass-7c6f"
IMAGE = "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"

# A speech_containers result as the module returns it on a failed replacement, with secrets planted wherever a
# careless caller or a container log could carry them.
CONVERGE_RESULT = [
    {"name": "langdetect", "action": "unchanged", "kind": "language-detection", "image": "x:1.18.0"},
    {
        "name": "stt-en-us",
        "action": "replaced",
        "kind": "speech-to-text",
        "image": IMAGE,
        "rolled_back": True,
        "api_key": CANARY_KEY,
        "http_proxy_creds": CANARY_PROXY,
        "logs": ["Billing failed for ApiKey=%s" % CANARY_KEY],
        "reason": "image or settings changed",
    },
    {"name": "tts-old", "action": "removed", "kind": "neural-text-to-speech", "image": "y:4.1.0"},
]


def fixed_now() -> datetime:
    return datetime(2026, 3, 2, 9, 26, 41, tzinfo=UTC)


def entry(**overrides):
    arguments = {
        "operation": "deploy",
        "run_id": "7f3a9c01d2e4",
        "user": "alice",
        "controller": "ctl-2",
        "result": "failed",
        "message": "stt-en-us did not become ready (ApiKey=%s rejected by %s)" % (CANARY_KEY, CANARY_PROXY),
        "containers": CONVERGE_RESULT,
        "secrets": [CANARY_KEY, CANARY_PROXY],
        "now": fixed_now,
    }
    arguments.update(overrides)
    return build_entry(**arguments)


def test_entry_says_who_when_what_changed_and_result() -> None:
    built = entry()
    assert built["time"] == "2026-03-02T09:26:41Z"
    assert (built["operation"], built["user"], built["controller"], built["run_id"], built["result"]) == (
        "deploy",
        "alice",
        "ctl-2",
        "7f3a9c01d2e4",
        "failed",
    )
    assert built["changes"] == [
        {"name": "stt-en-us", "action": "replaced", "kind": "speech-to-text", "image": IMAGE, "rolled_back": True},
        {"name": "tts-old", "action": "removed", "kind": "neural-text-to-speech", "image": "y:4.1.0"},
    ]


def test_no_secret_reaches_the_log(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    append_entry(path, entry())
    # Even a caller that forgets to name the secrets: the ApiKey setting's value is still masked.
    append_entry(path, entry(secrets=[], message="container said ApiKey=" + CANARY_KEY))
    written = Path(path).read_text()
    assert CANARY_KEY not in written
    assert "canary-proxy-pass" not in written
    assert "********" in written
    assert "logs" not in written and "api_key" not in written


def test_append_only_mode_and_last_n(tmp_path: Path) -> None:
    path = str(tmp_path / "speechops" / "audit.jsonl")
    for number in range(7):
        append_entry(path, entry(run_id="run-%d" % number, result="ok", message=""))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o750
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 7 and json.loads(lines[0])["run_id"] == "run-0"
    entries, unreadable = read_last(path, 3)
    assert [e["run_id"] for e in entries] == ["run-4", "run-5", "run-6"] and unreadable == 0
    assert [e["run_id"] for e in read_last(path, 50)[0]] == ["run-%d" % n for n in range(7)]
    assert read_last(path, 0) == ([], 0)
    assert read_last(str(tmp_path / "missing.jsonl"), 5) == ([], 0)


def test_last_n_across_read_chunks_and_a_torn_line(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    for number in range(40):
        append_entry(path, entry(run_id="run-%d" % number, message="x" * 900))  # > 8 KiB in all
    with open(path, "a", encoding="ascii") as handle:
        handle.write('{"torn": \n')
    entries, unreadable = read_last(path, 4)
    assert [e["run_id"] for e in entries] == ["run-37", "run-38", "run-39"] and unreadable == 1


def test_bad_operation_and_result_name_the_field() -> None:
    with pytest.raises(ValueError, match="operation: 'deploi' is not one of deploy, remove, lock_break"):
        entry(operation="deploi")
    with pytest.raises(ValueError, match="result: 'success' is not one of ok, failed"):
        entry(result="success")


AUDIT_ARGS = {"run_id": "7f3a9c01d2e4", "controller_user": "alice", "controller": "ctl-2"}


def test_module_appends_reads_and_keeps_secrets_out(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    write = dict(
        AUDIT_ARGS,
        path=path,
        operation="deploy",
        result="failed",
        detail="rejected ApiKey=%s" % CANARY_KEY,
        containers=CONVERGE_RESULT,
        redact=[CANARY_KEY, CANARY_PROXY],
        last=5,
    )
    failed, result = run_module(speech_audit.main, write, check_mode=True)
    assert not failed and result["changed"] and result["entry"]["result"] == "failed"
    assert not os.path.exists(path)

    failed, result = run_module(speech_audit.main, write)
    assert not failed and result["changed"] and len(result["entries"]) == 1
    assert CANARY_KEY not in json.dumps(result) and CANARY_KEY not in Path(path).read_text()

    failed, result = run_module(speech_audit.main, {"path": path, "last": 5})
    assert not failed and not result["changed"]
    assert [(e["user"], e["result"]) for e in result["entries"]] == [("alice", "failed")]
