# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11: every bad input goes through the deploy playbook on the lab; none changes any container on any host,
and each failure names the field, the value and the fix.

The bad inputs are tests/unit/plugins/filter/bad_declarations.py (the unit tests feed the same table to the plan
filter and the module). Each case declares its entry on every edge host (extra vars), so the plan phase of every
host must refuse it. Cases run four at a time: they fail in the read-only plan phase, before any lock or change.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from ansible_env import ansible_environment, write_vars_file

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR", REPO / ".lab"))
ROLES_INVENTORY = Path(__file__).resolve().parent / "roles" / "inventory"
HOSTS = ("edge1", "edge2", "edge3")
# Fleet values of the table -> the role variables that carry them.
FLEET_VARS = {
    "eula": "speech_eula",
    "billing": "speech_billing",
    "api_key": "speech_api_key",
    "allow_below_minimum": "speech_allow_below_minimum",
    "bind_address": "speech_bind_address",
}


def _load_table() -> Any:
    path = REPO / "tests" / "unit" / "plugins" / "filter" / "bad_declarations.py"
    spec = importlib.util.spec_from_file_location("speechops_bad_declarations", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLE = _load_table()
# Extra vars travel as JSON: a YAML date cannot (its case stays in the unit tests).
CASES = [case for case in TABLE.BAD if not any(isinstance(v, datetime.date) for v in case[0].values())]
REMOVE = object()  # a key the case takes out of the base entry
# What only the hosts can judge, in the read-only preflight (host_check): images the registry lacks, a billing
# endpoint the hosts cannot reach, an address the host does not have (issue 11's own examples).
CASES += [
    ({"locale": "xx-XX"}, {}, "tag 5.1.0-amd64-xx-xx not found in"),
    ({"version": "5.9.0"}, {}, "tag 5.9.0-amd64-de-de not found in"),
    (
        {"kind": "language-detection", "version": "1.13.0", "preview": True, "locale": REMOVE, "name": "ld"},
        {},
        "tag 1.13.0-amd64-preview not found in",
    ),
    ({}, {"billing": "https://172.30.57.99/"}, "billing endpoint https://172.30.57.99/"),
    ({}, {"bind_address": "10.9.9.9"}, "bind_address 10.9.9.9 is not an address of this host"),
]


def engine_snapshot(env: dict[str, str], inventory: list[str]) -> dict[str, list[str]]:
    """Every container of every edge host: id, name, image, state and start time (a restart changes it)."""
    command = [
        str(Path(sys.executable).parent / "ansible"),
        *inventory,
        "edge",
        "-m",
        "ansible.builtin.shell",
        "-a",
        # Ansible templates ad-hoc arguments: docker's own {{ }} are written as Jinja string literals.
        "docker ps -aq | xargs -r docker inspect --format '"
        + " ".join(
            "{{ '{{' }}%s{{ '}}' }}" % field
            for field in (".Id", ".Name", ".Config.Image", ".State.Status", ".State.StartedAt")
        )
        + "' | sort",
        "-o",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=True)
    snapshot: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        host, _sep, rest = line.partition(" | ")
        snapshot[host.strip()] = sorted(rest.split("\\n"))
    assert set(snapshot) >= set(HOSTS), done.stdout[-2000:]
    return snapshot


FAILED_RE = re.compile(r"^(?:fatal|failed): \[([^\]]+)\]: FAILED! => (\{.*\})$", re.MULTILINE)
RECAP_RE = re.compile(r"^(\S+)\s*:\s*ok=\d+\s+changed=(\d+)", re.MULTILINE)


def failure_messages(output: str) -> dict[str, list[str]]:
    """host -> the messages of its failed tasks."""
    found: dict[str, list[str]] = {}
    for host, document in FAILED_RE.findall(output):
        try:
            found.setdefault(host, []).append(str(json.loads(document).get("msg", "")))
        except ValueError:
            found.setdefault(host, []).append(document)
    return found


def changed_counts(output: str) -> dict[str, int]:
    return {host: int(changed) for host, changed in RECAP_RE.findall(output)}


def test_every_bad_input_changes_nothing_and_names_field_value_fix(
    lab: dict, collections_path: Path, tmp_path: Path
) -> None:
    assert len(CASES) >= 50
    # One JSON document per failure line: "fatal: [edge1]: FAILED! => {...}" (the default callback's json format).
    env = dict(ansible_environment(collections_path), ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_NOCOLOR="1")
    inventory = ["-i", str(LAB_DIR / "inventory.yml"), "-i", str(ROLES_INVENTORY)]
    playbook = str(Path(sys.executable).parent / "ansible-playbook")
    deployed = subprocess.run(
        [playbook, *inventory, "speechops.edge.deploy"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert deployed.returncode == 0, deployed.stdout[-4000:]
    before = engine_snapshot(env, inventory)

    def run(index: int) -> tuple[int, int, str]:
        changes, fleet, _expected = CASES[index]
        entry = {key: value for key, value in dict(TABLE.STT, **changes).items() if value is not REMOVE}
        extra: dict[str, Any] = {"speech_containers": [entry]}
        extra.update({FLEET_VARS[key]: value for key, value in fleet.items()})
        extra.setdefault("speech_allow_below_minimum", True)
        vars_file = write_vars_file(tmp_path / ("case-%d.json" % index), extra)
        done = subprocess.run(
            [playbook, *inventory, "speechops.edge.deploy", "-e", vars_file],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        return index, done.returncode, done.stdout

    problems = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for index, returncode, output in pool.map(run, range(len(CASES))):
            expected = CASES[index][2]
            messages, changed = failure_messages(output), changed_counts(output)
            if returncode == 0:
                problems.append("case %d (%s): the deploy passed" % (index, expected))
            if any(changed.get(host, 0) for host in HOSTS):
                problems.append("case %d (%s): a host reports changes: %s" % (index, expected, changed))
            for host in HOSTS:
                if not any(expected in message for message in messages.get(host, [])):
                    problems.append("case %d: %s lacks %r in %s" % (index, host, expected, messages.get(host)))
            if "CANARY" in output:
                problems.append("case %d: a canary secret shows in the output" % index)
    assert not problems, "\n".join(problems[:20])
    assert engine_snapshot(env, inventory) == before
