# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: what the weight of speech_containers' code costs an idempotent deploy, before it does any work (issue 15).

Usage (lab up, .venv/bin on PATH):  python benchmarks/bench_module_weight.py [--runs 7] [--hosts 3]

Four `ansible HOSTS -m MODULE` runs on the first N lab edge hosts, taken in turns in one run (medians):
  ping      ansible.builtin.ping, the floor the issue compares the rerun with;
  empty     a module that only builds AnsibleModule and exits: the same payload as ping (ansible's module_utils);
  shipped   the same module, plus an import of exactly the module_utils speech_containers imports, inside a function
            that never runs: ansible finds, compiles on the controller and ships them, the host never imports them;
  imported  the same imports at the top of the module: the host also imports (compiles) them, as the prediction does.
  reader    no module at all: an action plugin runs a standard-library script with the host's Python over the
            connection (no AnsiballZ payload, no ansible module_utils on the host), which makes the reads an unchanged
            host's prediction makes - the engine's container list, an inspect of each managed container, /ready and
            /status of each running one - and returns counts only (a container's environment holds its ApiKey).
            What a plan computed on the controller from such a snapshot would pay on the hosts.
shipped - empty is the controller's share (finding the module_utils, building and sending the larger payload, once
per run), imported - shipped the hosts' share (compiling the code from the payload, on every host of every run).
The imports are read from plugins/modules/speech_containers.py, so the numbers follow the code.
The modules and the action plugin are written into a throwaway collection next to this checkout's, in a temporary
directory.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from benchlib import LAB_INVENTORY, REPO, ansible_environment, edge_order, lab_hosts, median, timed

MODULE = REPO / "plugins" / "modules" / "speech_containers.py"
SPEC = REPO / "plugins" / "module_utils" / "_container_spec.py"
IMPORT_RE = re.compile(
    r"^from (ansible_collections\.speechops\.edge\.plugins\.module_utils\.\w+) import ", re.MULTILINE
)
TEMPLATE = """#!/usr/bin/python
from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
{top}

def never_called() -> None:
{inside}


def main() -> None:
    AnsibleModule(argument_spec={{}}, supports_check_mode=True).exit_json(changed=False)


if __name__ == "__main__":
    main()
"""


# The reads of an unchanged host's prediction, with the standard library only. MANAGED_LABEL: _container_spec's.
READER = """
import http.client, json, socket


class Engine(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/var/run/docker.sock")


def engine(path):
    connection = Engine("localhost")
    connection.request("GET", path)
    return json.loads(connection.getresponse().read())


def answer(port, path):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, len(response.read())
    except OSError:
        return 0, 0


counts = {"containers": 0, "probes": 0}
for item in engine("/containers/json?all=1"):
    if (item.get("Labels") or {}).get(MANAGED_LABEL) != "true":
        continue
    engine("/containers/%s/json" % item["Id"])
    counts["containers"] += 1
    for port in [port["PublicPort"] for port in item.get("Ports") or [] if port.get("PublicPort")][:1]:
        counts["probes"] += sum(1 for path in ("/ready", "/status") if answer(port, path)[0])
print(json.dumps(counts))
"""

READER_ACTION = """from __future__ import annotations

import json
import shlex

from ansible.plugins.action import ActionBase

READER = %r


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        python = (task_vars or {}).get("ansible_python_interpreter", "/usr/bin/python3")
        done = self._low_level_execute_command("%%s -c %%s" %% (python, shlex.quote(READER)))
        if done["rc"] != 0:
            return dict(result, failed=True, msg=done["stderr"])
        return dict(result, changed=False, **json.loads(done["stdout"]))
"""


def write_collection(root: Path, imports: list[str]) -> None:
    modules = root / "ansible_collections" / "speechopsbench" / "weight" / "plugins" / "modules"
    modules.mkdir(parents=True)
    (modules.parents[1] / "galaxy.yml").write_text(
        "namespace: speechopsbench\nname: weight\nversion: 1.0.0\nreadme: README.md\nauthors: [bench]\n"
    )
    lines = ["import %s  # noqa: F401" % name for name in imports]
    for name, top, inside in (
        ("empty", "", ["    pass"]),
        ("shipped", "", ["    " + line for line in lines]),
        ("imported", "\n".join(lines), ["    pass"]),
    ):
        (modules / (name + ".py")).write_text(TEMPLATE.format(top=top, inside="\n".join(inside)))
    actions = modules.parent / "action"
    actions.mkdir()
    prefix = re.search(r'^LABEL_PREFIX = "([^"]+)"', SPEC.read_text(), re.MULTILINE)
    assert prefix, "LABEL_PREFIX not found in %s" % SPEC
    reader = READER.replace("MANAGED_LABEL", repr(prefix.group(1) + "managed"))
    (actions / "reader.py").write_text(READER_ACTION % reader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--hosts", type=int, default=3)
    args = parser.parse_args()
    imports = sorted(set(IMPORT_RE.findall(MODULE.read_text())))
    hosts = sorted(lab_hosts(), key=edge_order)[: args.hosts]
    if len(hosts) < args.hosts:
        raise SystemExit(
            "the lab has %d edge hosts, %d asked: python3 lab/speechlab.py up --hosts N" % (len(hosts), args.hosts)
        )
    with ansible_environment() as env:
        write_collection(Path(env["SPEECHOPS_BENCH_TMP"]), imports)
        modules = {
            "ping": "ansible.builtin.ping",
            "empty": "speechopsbench.weight.empty",
            "shipped": "speechopsbench.weight.shipped",
            "imported": "speechopsbench.weight.imported",
            "reader": "speechopsbench.weight.reader",
        }
        times: dict[str, list[float]] = {name: [] for name in modules}
        for _run in range(args.runs):
            for name, module in modules.items():
                times[name].append(timed(["ansible", "-i", LAB_INVENTORY, ",".join(hosts), "-m", module], env)[0])
    medians = {name: median(values) for name, values in times.items()}
    print("speech_containers imports: %s" % ", ".join(name.rpartition(".")[2] for name in imports))
    print("| `ansible -m` on %d lab hosts (%d runs) | median s | / ping |" % (len(hosts), args.runs))
    print("|---|---|---|")
    for name in modules:
        print("| %s | %.2f | %.2f |" % (name, medians[name], medians[name] / medians["ping"]))
    print("| controller's share (shipped - empty) | %.2f | |" % (medians["shipped"] - medians["empty"]))
    print("| hosts' share (imported - shipped) | %.2f | |" % (medians["imported"] - medians["shipped"]))


if __name__ == "__main__":
    main()
