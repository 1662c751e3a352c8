# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container records of an edge host: one human-readable file per speech container, in one directory.

This file owns them: it writes what is missing or differs and removes what the caller names, in one call (a copy
task per record and a find and a file task around them cost a module start each). speech_records calls it, and
speech_containers with its keep_records option, right after the converge it describes (one module start less per host).
"""

from __future__ import annotations

import os
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._files import read_text, write_private_file
from ansible_collections.speechops.edge.plugins.module_utils._schema import NAME_RE

# The line every record carries (roles/speech/templates/record.yml.j2): files without it are never touched.
MARKER = "# speechops.edge speech container record"
RECORD_MODE = 0o640
DIRECTORY_MODE = 0o750


def _path(directory: str, name: str) -> str:
    """A record's file: its container's name (a container name never leaves the directory) plus .yml."""
    return os.path.join(directory, name + ".yml")


def _is_record(text: str | None) -> bool:
    return text is not None and MARKER in text


def _owned_right(path: str) -> bool:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return False
    return (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid) == (RECORD_MODE, 0, 0)


def plan_records(directory: str, records: list[dict[str, str]], remove: list[str], prune: bool) -> dict[str, Any]:
    """What to write (name -> (before, after)) and which files to remove, read-only."""
    problems = [
        "records[%d].name: %r is not a container name (letters, digits, '_', '.', '-'; no '/'): use the "
        "container's name" % (index, record["name"])
        for index, record in enumerate(records)
        if not NAME_RE.match(record["name"])
    ]
    problems += [
        "remove: %r is not a container name: use the name of the container whose record goes" % name
        for name in remove
        if not NAME_RE.match(name)
    ]
    if problems:
        return {"problems": problems}
    directory_missing = not os.path.isdir(directory)
    write: dict[str, tuple[str | None, str]] = {}
    for record in records:
        path = _path(directory, record["name"])
        before = read_text(path)  # None when the file or its directory is missing
        if before != record["content"] or not _owned_right(path):
            write[record["name"]] = (before, record["content"])
    wanted = {record["name"] for record in records}
    candidates: set[str] = set(remove)
    if prune and not directory_missing:
        candidates |= {name[: -len(".yml")] for name in os.listdir(directory) if name.endswith(".yml")}
    removals = {}
    for name in sorted(candidates - wanted):
        text = read_text(_path(directory, name))
        if _is_record(text):
            removals[name] = text
    return {"directory_missing": directory_missing, "write": write, "remove": removals}


def write_records(directory: str, plan: dict[str, Any]) -> None:
    """Make what plan_records planned (OSError: a write or removal failed)."""
    if plan["directory_missing"]:
        os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
        os.chmod(directory, DIRECTORY_MODE)
    for name in sorted(plan["write"]):
        write_private_file(_path(directory, name), plan["write"][name][1], RECORD_MODE)
    for name in sorted(plan["remove"]):
        os.unlink(_path(directory, name))


def checked_plan(module: Any, options: dict[str, Any]) -> dict[str, Any]:
    """plan_records for the options of RECORDS_ARGUMENT_SPEC (speech_records', or speech_containers' keep_records);
    a problem fails the module, before anything changed."""
    directory = options["path"]
    try:
        plan = plan_records(directory, options["records"], options["remove"], options["prune"])
    except OSError as exc:
        module.fail_json(msg="cannot read the records in %s: %s (nothing was changed)" % (directory, exc))
    if "problems" in plan:
        module.fail_json(msg="invalid records (nothing was changed): " + "; ".join(plan["problems"]))
    return plan


def records_output(directory: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What a plan writes and removes (whole paths)."""
    return dict(
        written=[_path(directory, name) for name in sorted(plan["write"])],
        removed=[_path(directory, name) for name in sorted(plan["remove"])],
        path=directory,
    )


def records_diff(directory: str, plan: dict[str, Any]) -> list[dict[str, str]]:
    """The diff of each file a plan writes or removes."""
    return [
        dict(
            before=plan["write"][name][0] or "",
            after=plan["write"][name][1],
            before_header=_path(directory, name),
            after_header=_path(directory, name),
        )
        for name in sorted(plan["write"])
    ] + [
        dict(before=plan["remove"][name], after="", before_header=_path(directory, name))
        for name in sorted(plan["remove"])
    ]


def run_speech_records(module: Any) -> None:
    params = module.params
    directory = params["path"]
    plan = checked_plan(module, params)
    if not module.check_mode:
        try:
            write_records(directory, plan)
        except OSError as exc:
            module.fail_json(msg="writing the records in %s failed: %s" % (directory, exc))
    result = records_output(directory, plan)
    result["changed"] = bool(plan["write"] or plan["remove"])
    if module._diff:
        result["diff"] = records_diff(directory, plan)
    module.exit_json(**result)
