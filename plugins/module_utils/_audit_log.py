# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log of an edge host: one JSON line per deploy, remove or lock break, only ever appended.

An entry names who (controller user), from where (controller host), when (UTC, host clock), the run id, what
changed (container name, action, kind, image; nothing else of the container result) and the result. Entries
are built from an allow-list of fields and then redacted, so a secret reaches the log neither through a field
nobody thought of nor through a free-text message.

File mode 0640 owner root, group adm (where that group exists): Debian's convention for logs an administrator
reads without root (/var/log/syslog, auth.log). The content carries no secret by construction; the
directory is 0750 so that nobody outside adm lists or reads it.
"""

from __future__ import annotations

import grp
import json
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._redact import redact_value

UTC = timezone.utc  # noqa: UP017 (Python 3.8+ hosts)
AUDIT_LOG = "/var/log/speechops/audit.jsonl"
AUDIT_FILE_MODE = 0o640
AUDIT_DIR_MODE = 0o750
AUDIT_GROUP = "adm"
OPERATIONS = ("deploy", "remove", "lock_break")
RESULTS = ("ok", "failed")
# Fields of a speech_containers result entry that describe a change; everything else (logs, endpoints,
# settings, api_key of a per-container override) never reaches the log.
CHANGE_FIELDS = ("name", "action", "kind", "image")
MESSAGE_LIMIT = 1000
# Who runs the playbook (doc fragment speechops.edge.controller_identity), filled in by the action plugins.
CONTROLLER_IDENTITY_ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    run_id=dict(type="str"),
    controller_user=dict(type="str"),
    controller=dict(type="str"),
)
READ_CHUNK = 8192
# What an entry says of the operation: speech_audit's options, and speech_lock's audit (the entry of the run a
# release ends).
AUDIT_ENTRY_ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    result=dict(type="str", choices=list(RESULTS), default="ok"),
    detail=dict(type="str", default=""),
    containers=dict(type="list", elements="dict", default=[]),
    redact=dict(type="list", elements="str", default=[], no_log=True),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_changes(containers: Iterable[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """What changed, from a speech_containers result: containers whose action is not 'unchanged'."""
    changes = []
    for container in containers or []:
        if not isinstance(container, dict):
            continue
        rolled_back = bool(container.get("rolled_back"))
        if container.get("action") in (None, "unchanged") and not rolled_back:
            continue
        change = {key: str(container[key]) for key in CHANGE_FIELDS if container.get(key) not in (None, "")}
        if rolled_back:
            change["rolled_back"] = True
        changes.append(change)
    return changes


def build_entry(
    *,
    operation: str,
    run_id: str,
    user: str,
    controller: str,
    result: str,
    message: str = "",
    containers: Iterable[dict[str, Any]] | None = None,
    secrets: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
    now: Callable[[], datetime] = utc_now,
) -> dict[str, Any]:
    """One audit entry, redacted: every known secret and any value of a secret setting becomes ********."""
    if operation not in OPERATIONS:
        raise ValueError("operation: %r is not one of %s" % (operation, ", ".join(OPERATIONS)))
    if result not in RESULTS:
        raise ValueError("result: %r is not one of %s" % (result, ", ".join(RESULTS)))
    entry: dict[str, Any] = {
        "time": iso_utc(now()),
        "operation": operation,
        "run_id": run_id,
        "user": user,
        "controller": controller,
        "result": result,
        "message": (message or "")[:MESSAGE_LIMIT],
        "changes": audit_changes(containers),
    }
    entry.update(extra or {})
    return redact_value(entry, secrets)


def operation_entry(operation: str, identity: Mapping[str, Any], described: Mapping[str, Any]) -> dict[str, Any]:
    """The entry of an operation: who from the controller identity options (run_id, controller_user, controller),
    what from the options of AUDIT_ENTRY_ARGUMENT_SPEC (speech_audit's, or speech_lock's audit)."""
    return build_entry(
        operation=operation,
        run_id=identity["run_id"],
        user=identity["controller_user"],
        controller=identity["controller"],
        result=described["result"],
        message=described["detail"] or "",
        containers=described["containers"],
        secrets=described["redact"] or [],
    )


def _audit_gid() -> int:
    try:
        return grp.getgrnam(AUDIT_GROUP).gr_gid
    except KeyError:
        return 0


def entry_line(entry: dict[str, Any]) -> str:
    """The line an entry is in the log (ASCII JSON): what append_entry writes and what a diff shows."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


def append_entry(path: str, entry: dict[str, Any]) -> str:
    """Append one line (a single O_APPEND write, so concurrent writers never interleave within a line)."""
    line = entry_line(entry)
    directory = os.path.dirname(path)
    gid = _audit_gid()
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=AUDIT_DIR_MODE, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(directory, 0, gid)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, AUDIT_FILE_MODE)
    try:
        status = os.fstat(descriptor)
        if status.st_mode & 0o777 != AUDIT_FILE_MODE:
            os.fchmod(descriptor, AUDIT_FILE_MODE)
        if os.geteuid() == 0 and (status.st_uid, status.st_gid) != (0, gid):
            os.fchown(descriptor, 0, gid)
        os.write(descriptor, line.encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return line


def read_last(path: str, count: int) -> tuple[list[dict[str, Any]], int]:
    """The last count entries, oldest first, read backwards from the end; and how many lines were unreadable."""
    if count <= 0:
        return [], 0
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            position = handle.tell()
            tail = b""
            # count + 1 newlines guarantee count complete lines (the file ends with a newline).
            while position > 0 and tail.count(b"\n") <= count:
                step = min(READ_CHUNK, position)
                position -= step
                handle.seek(position)
                tail = handle.read(step) + tail
    except FileNotFoundError:
        return [], 0
    lines = tail.splitlines()
    if position > 0:
        lines = lines[1:]  # the first line may be cut
    entries: list[dict[str, Any]] = []
    unreadable = 0
    for raw in lines[-count:]:
        try:
            entry = json.loads(raw)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(entry, dict):
            entries.append(entry)
        else:
            unreadable += 1
    return entries, unreadable


def run_speech_audit(module: Any) -> None:
    params = module.params
    path = params["path"]
    result: dict[str, Any] = {"changed": False, "path": path}
    if params["operation"]:
        for required in ("run_id", "controller_user", "controller"):
            if not params[required]:
                module.fail_json(
                    msg="%s: missing; it names who wrote the entry (the action plugin sets it on the controller)"
                    % required
                )
        try:
            entry = operation_entry(params["operation"], params, params)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        result.update(changed=True, entry=entry)
        if not module.check_mode:
            try:
                line = append_entry(path, entry)
            except OSError as exc:
                module.fail_json(msg="audit log %s: %s (writing it needs root on the edge host)" % (path, exc))
        else:
            line = entry_line(entry)
        if module._diff:
            result["diff"] = {"before": "", "after": line, "after_header": path}
    try:
        result["entries"], result["unreadable_lines"] = read_last(path, params["last"])
    except OSError as exc:
        module.fail_json(msg="audit log %s: %s (reading it needs root or group %s)" % (path, exc, AUDIT_GROUP))
    module.exit_json(**result)
