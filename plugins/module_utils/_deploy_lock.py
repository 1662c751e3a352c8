# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-host deploy lock: one root-only file naming its holder, so two controllers never interleave on a host.

The lock is published with link(2) from a complete temporary file: like O_CREAT|O_EXCL it fails when the lock
exists, and unlike it a holder killed between create and write can never leave an empty, nameless lock.
A lock held by another run is waited for (up to a timeout, polling with backoff) and then reported with its
holder and age; a stale one is reported at once. Nothing takes a lock over unless told to break it, and a
break is written to the audit log before the lock is removed.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._audit_log import (
    UTC,
    append_entry,
    build_entry,
    entry_line,
    iso_utc,
    operation_entry,
    utc_now,
)
from ansible_collections.speechops.edge.plugins.module_utils._polling import Poller

LOCK_PATH = "/var/lib/speechops/deploy.lock"
LOCK_DIR_MODE = 0o755  # the parent of the container directories (models, output, license)
MAX_POLL = 2.0  # a lock is held for a whole rollout: no need to look more often


@dataclass(frozen=True)
class Holder:
    """Who holds (or wants) the lock."""

    user: str
    controller: str
    pid: int
    run_id: str
    operation: str
    started_at: str  # ISO 8601 UTC, host clock

    @property
    def name(self) -> str:
        return "%s@%s" % (self.user, self.controller)

    def age_seconds(self, now: datetime) -> float:
        try:
            started = datetime.strptime(self.started_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return 0.0
        return max(0.0, (now - started).total_seconds())

    def describe(self, now: datetime) -> str:
        return "%s (pid %s, run %s, %s) since %s" % (
            self.name,
            self.pid,
            self.run_id,
            self.operation,
            human_duration(self.age_seconds(now)),
        )


class LockHeld(Exception):
    """The lock is held by another run (or is stale) and was not taken."""

    def __init__(self, holder: Holder, stale: bool, age_seconds: float, waited: float, message: str) -> None:
        super().__init__(message)
        self.holder = holder
        self.stale = stale
        self.age_seconds = age_seconds
        self.waited = waited


@dataclass
class LockOutcome:
    """What a take or release did (or would do, in check mode)."""

    changed: bool
    action: str  # taken, held, broken, released, none
    holder: Holder | None  # the holder after the call
    previous: Holder | None = None  # the broken holder, or another run's lock left alone by a release
    waited: float = 0.0


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return "%d s" % seconds
    minutes = seconds // 60
    if minutes < 60:
        return "%d min" % minutes
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return "%d h %d min" % (hours, minutes) if minutes else "%d h" % hours
    days, hours = divmod(hours, 24)
    return "%d d %d h" % (days, hours) if hours else "%d d" % days


def read_lock(path: str) -> Holder | None:
    """The holder recorded in the lock file, None without one. A file that is not a lock still counts as held."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = handle.read()
        modified = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw)
        return Holder(
            user=str(data["user"]),
            controller=str(data["controller"]),
            pid=int(data["pid"]),
            run_id=str(data["run_id"]),
            operation=str(data.get("operation", "deploy")),
            started_at=str(data["started_at"]),
        )
    except (ValueError, KeyError, TypeError):
        # Made by hand or by something else: never mistaken for free, dated by its mtime.
        stamp = iso_utc(datetime.fromtimestamp(modified, UTC))
        return Holder("unknown", "unknown", 0, "unreadable", "unknown", stamp)


def _publish(path: str, holder: Holder) -> None:
    """Create the lock with the holder's complete record, or raise FileExistsError."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=LOCK_DIR_MODE, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".deploy-lock-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as output:
            json.dump(asdict(holder), output, sort_keys=True)
            output.write("\n")
            output.flush()
            os.fsync(output.fileno())
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _held_message(holder: Holder, now: datetime, stale: bool, stale_after: float, waited: float) -> str:
    """Reads after the host's name: 'edge1 is locked by ...'."""
    described = holder.describe(now)
    if stale:
        return (
            "locked by %s: stale (older than stale_after, %s), so that run probably died. It is not taken over "
            "silently: make sure no %s from %s is still running, then break the lock (break_lock=true; in the "
            "playbooks -e speech_lock=break), which the audit log records"
            % (described, human_duration(stale_after), holder.operation, holder.name)
        )
    return (
        "locked by %s; waited %s (timeout). Wait for that %s to finish or raise the timeout "
        "(-e speech_lock_timeout=SECONDS); if that run is dead, break the lock (break_lock=true; in the playbooks "
        "-e speech_lock=break), which the audit log records" % (described, human_duration(waited), holder.operation)
    )


def take_lock(
    path: str,
    me: Holder,
    *,
    timeout: float,
    stale_after: float,
    break_lock: bool,
    check_mode: bool,
    on_break: Callable[[Holder], None],
    now: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LockOutcome:
    """Take the lock for me.run_id; a lock of the same run is already mine (no change).

    on_break(previous) runs before a lock is broken, so that no break goes unrecorded.
    """
    begin = monotonic()
    deadline = begin + max(0.0, timeout)
    poller = Poller(sleep, maximum=MAX_POLL)
    while True:
        current = read_lock(path)
        if current is not None and current.run_id == me.run_id:
            return LockOutcome(changed=False, action="held", holder=current, waited=monotonic() - begin)
        if current is None:
            if check_mode:
                return LockOutcome(changed=True, action="taken", holder=me, waited=monotonic() - begin)
            try:
                _publish(path, me)
            except FileExistsError:
                continue  # another controller was faster: judge its lock
            return LockOutcome(changed=True, action="taken", holder=me, waited=monotonic() - begin)
        if break_lock:
            if not check_mode:
                on_break(current)
                if read_lock(path) != current:
                    continue  # released or replaced meanwhile: judge what is there now
                _remove(path)
                try:
                    _publish(path, me)
                except FileExistsError:
                    # Someone took it between the break and our take: theirs now, judged like any lock.
                    break_lock = False
                    continue
            return LockOutcome(changed=True, action="broken", holder=me, previous=current, waited=monotonic() - begin)
        age = current.age_seconds(now())
        stale = age > stale_after
        remaining = deadline - monotonic()
        if stale or remaining <= 0:
            waited = monotonic() - begin
            raise LockHeld(current, stale, age, waited, _held_message(current, now(), stale, stale_after, waited))
        poller.pause(remaining)


def release_lock(path: str, run_id: str, *, check_mode: bool) -> LockOutcome:
    """Remove the lock when this run holds it; a lock of another run is left alone (and reported)."""
    current = read_lock(path)
    if current is None:
        return LockOutcome(changed=False, action="none", holder=None)
    if current.run_id != run_id:
        return LockOutcome(changed=False, action="none", holder=current, previous=current)
    if not check_mode:
        _remove(path)
    return LockOutcome(changed=True, action="released", holder=None, previous=current)


def holder_result(holder: Holder | None, now: datetime) -> dict[str, Any] | None:
    if holder is None:
        return None
    return dict(asdict(holder), holder=holder.name, age_seconds=int(holder.age_seconds(now)))


def run_speech_lock(module: Any) -> None:
    params = module.params
    path = params["path"]
    moment = utc_now()
    result: dict[str, Any] = {"changed": False, "path": path}
    if not params["run_id"]:
        module.fail_json(msg="run_id: missing; it names the run the lock belongs to (the action plugin sets it)")
    audit_error = ""
    if params["audit"] and params["state"] == "present":
        module.fail_json(msg="audit: given with state=present; the entry of a run goes with its release (state=absent)")
    if params["state"] == "absent":
        if params["audit"]:
            for required in ("controller_user", "controller"):
                if not params[required]:
                    module.fail_json(
                        msg="%s: missing; it names who wrote the audit entry (the action plugin sets it)" % required
                    )
            # The run's closing audit entry, in the call that ends the run: one module start less per host, and a
            # log that cannot be written still lets the lock go (the failure is reported after the release).
            entry, audit_error = record_run(params, module.check_mode)
            result["entry"] = entry
        try:
            outcome = release_lock(path, params["run_id"], check_mode=module.check_mode)
        except OSError as exc:
            module.fail_json(msg="deploy lock %s: %s (the lock needs root on the edge host)" % (path, exc))
        if outcome.action == "none" and outcome.previous is not None:
            module.warn(
                "the deploy lock %s is held by another run, %s: left alone" % (path, outcome.previous.describe(moment))
            )
    else:
        me = Holder(
            user=params["controller_user"],
            controller=params["controller"],
            pid=params["controller_pid"],
            run_id=params["run_id"],
            operation=params["operation"],
            started_at=iso_utc(moment),
        )

        def record_break(previous: Holder) -> None:
            entry = build_entry(
                operation="lock_break",
                run_id=me.run_id,
                user=me.user,
                controller=me.controller,
                result="ok",
                message="broke the deploy lock of %s" % previous.describe(utc_now()),
                extra={"broken_lock": holder_result(previous, utc_now())},
            )
            append_entry(params["audit_log"], entry)

        try:
            outcome = take_lock(
                path,
                me,
                timeout=params["lock_timeout"],
                stale_after=params["stale_after"],
                break_lock=params["break_lock"],
                check_mode=module.check_mode,
                on_break=record_break,
            )
        except LockHeld as held:
            module.fail_json(
                msg=str(held),
                path=path,
                holder=holder_result(held.holder, utc_now()),
                stale=held.stale,
                waited=round(held.waited, 1),
            )
        except OSError as exc:
            module.fail_json(msg="deploy lock %s: %s (the lock needs root on the edge host)" % (path, exc))
        result["waited"] = round(outcome.waited, 1)
        if outcome.action == "broken":
            result["broken"] = holder_result(outcome.previous, utc_now())
            module.warn(
                "broke the deploy lock of %s (recorded in %s)"
                % (outcome.previous.describe(utc_now()), params["audit_log"])
            )
    result.update(
        changed=outcome.changed or "entry" in result,
        action=outcome.action,
        holder=holder_result(outcome.holder, utc_now()),
    )
    if module._diff:
        before = outcome.previous if outcome.action in ("broken", "released") else outcome.holder
        if outcome.action == "taken":
            before = None
        result["diff"] = {
            "before": {"holder": before.name if before else None},
            "after": {"holder": outcome.holder.name if outcome.holder else None},
        }
        if "entry" in result:
            line = entry_line(result["entry"])
            result["diff"] = [result["diff"], {"before": "", "after": line, "after_header": params["audit_log"]}]
    if audit_error:
        module.fail_json(msg=audit_error, **result)
    module.exit_json(**result)


def record_run(params: dict[str, Any], check_mode: bool) -> tuple[dict[str, Any], str]:
    """The audit entry of the run this release ends (O(audit)), appended unless check_mode; and why it could
    not be (empty when it was)."""
    entry = operation_entry(params["operation"], params, params["audit"])
    if check_mode:
        return entry, ""
    try:
        append_entry(params["audit_log"], entry)
    except OSError as exc:
        return entry, "audit log %s: %s (writing it needs root on the edge host); the deploy lock was released" % (
            params["audit_log"],
            exc,
        )
    return entry, ""
