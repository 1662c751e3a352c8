# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: speechops.edge.deploy against a community.docker playbook, same fleet, same run (issue 15).

Usage (lab up; the first N edge hosts are used):
    python3 lab/speechlab.py up
    python benchmarks/bench_vs_community_docker.py [--runs 3] [--reruns 3] [--hosts 3]

The fleet is bench_fleet.py's: speech-to-text en-US, neural text-to-speech en-US AriaNeural and language
detection on every host, same images, 0.25 CPU / 256 MiB each, host ports 5000, 5001, 5003, Eula/Billing/ApiKey
from the lab's variables. The anchor, benchmarks/community_docker/deploy.yml, deploys it the way community.docker's
module documentation shows: the registry CA into /etc/docker/certs.d, docker_login, docker_image_pull,
docker_container (state started, published ports, limits, env, restart policy), then ansible.builtin.uri on
/ready with retries/until.

Both deploy onto the same hosts and ports, so they take turns. Per run, for each tool (the order alternates from
run to run so neither always goes first on a warm machine):
  1. the hosts emptied (containers, images, speechops records, the registry login and CA): a fresh converge;
  2. idempotent reruns (changed=0 asserted), each followed by `ansible -m ping` on the same hosts (the floor);
  3. an upgrade of speech-to-text 5.0.0 -> 5.1.0 on every host while the controller polls its port every 50 ms:
     gap = last good answer of the old version to the first good answer of the new one, split by the hosts'
     engine events into old stopped, new started and the new container's own warm-up (benchlib.upgrade_gaps).
Medians go to benchmarks/results/vs_community_docker.md (with the ratios collection / community.docker and
rerun / ping), .json and .png (matplotlib), and the table is printed.

Where community.docker comes from: the `ansible` package pinned in requirements/community-docker.txt (never a
collection dependency). It is not installed into .venv, whose tests expect ansible-core alone: on first use this
script creates .venv-bench (git-ignored; build_ignore's '.*' keeps it out of the artifact) from
requirements/controller.txt, benchmark.txt and community-docker.txt, reinstalls when those files change, and runs
itself again with that venv's Python.
There ANSIBLE_COLLECTIONS_PATH holds only this checkout as speechops.edge (benchlib.ansible_environment), and
community.docker is found in the venv's site-packages/ansible_collections (ansible-core scans sys.path); both are
checked with `ansible-galaxy collection list` before anything is measured.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_fleet import GROUP_VARS  # the same fleet (bench_stt_version starts at 5.0.0)
from benchlib import (
    CLEAN_HOST,
    LAB_DIR,
    NEW_STT,
    REPO,
    LabRunner,
    ansible_environment,
    assert_unchanged,
    edge_order,
    lab_hosts,
    median,
    timed,
    upgrade_gaps,
)

RESULTS = REPO / "benchmarks" / "results"
BENCH_VENV = REPO / ".venv-bench"
REQUIREMENTS = [REPO / "requirements" / name for name in ("controller.txt", "benchmark.txt", "community-docker.txt")]
ANCHOR = str(REPO / "benchmarks" / "community_docker" / "deploy.yml")
COLLECTION, ANCHOR_NAME = "speechops.edge", "community.docker"
TOOLS = (COLLECTION, ANCHOR_NAME)
STT_NAME = "stt-en-us"
# The old container while the new one takes over: the collection renames it; docker_container stops and removes
# the old container under its own name before it creates the new one.
STOPPED_NAME = {COLLECTION: STT_NAME + "-speechops-previous", ANCHOR_NAME: STT_NAME}
COMMAND_DEADLINE = 900


# ---- .venv-bench: ansible-core of .venv plus the `ansible` package ---------------------------------------------
def requirements_digest() -> str:
    return hashlib.sha256(b"".join(path.read_bytes() for path in REQUIREMENTS)).hexdigest()


def in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == BENCH_VENV.resolve()


def run_in_bench_venv() -> None:
    """Create or refresh .venv-bench when the requirements changed, then run this script again with its Python."""
    stamp_file = BENCH_VENV / "speechops-requirements.sha256"
    digest = requirements_digest()
    if not stamp_file.exists() or stamp_file.read_text().strip() != digest:
        print("[bench] preparing %s (controller + benchmark requirements)" % BENCH_VENV, flush=True)
        steps = [
            [sys.executable, "-m", "venv", str(BENCH_VENV)],
            [str(BENCH_VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
            + [argument for path in REQUIREMENTS for argument in ("-r", str(path))],
        ]
        for step in steps:
            if subprocess.run(step, check=False).returncode != 0:
                raise SystemExit("could not prepare %s: %s failed" % (BENCH_VENV, " ".join(step)))
        stamp_file.write_text(digest + "\n")
    python = str(BENCH_VENV / "bin" / "python")
    os.execv(python, [python, str(Path(__file__).resolve()), *sys.argv[1:]])


def check_collections(env: dict[str, str]) -> dict[str, str]:
    """The version of each collection; speechops.edge must be this checkout, community.docker the venv's."""
    output = timed(["ansible-galaxy", "collection", "list", "--format", "json"], env)[1]
    found: dict[str, tuple[str, str]] = {}
    for path, collections in json.loads(output).items():
        for name, info in collections.items():
            found.setdefault(name, (path, info.get("version") or "?"))  # the first path listed wins
    site = str(BENCH_VENV.resolve())
    checks = {
        COLLECTION: lambda path: path.startswith(env["ANSIBLE_COLLECTIONS_PATH"]),
        ANCHOR_NAME: lambda path: str(Path(path).resolve()).startswith(site),
    }
    for name, expected in checks.items():
        if name not in found or not expected(found[name][0]):
            raise SystemExit("%s is not the expected copy: %s" % (name, found.get(name, "not found")))
    return {name: found[name][1] for name in checks}


# ---- the run -----------------------------------------------------------------------------------------------
class Runner(LabRunner):
    def __init__(self, env: dict[str, str], inventory: Path, registry: str) -> None:
        super().__init__(env, inventory)
        self.registry = registry

    def playbook_of(self, tool: str) -> str:
        return "speechops.edge.deploy" if tool == COLLECTION else ANCHOR

    def deploy(self, tool: str, fleet: str, *extra: str) -> tuple[float, str]:
        return self.playbook(self.playbook_of(tool), fleet, *extra)

    def clean(self, fleet: str) -> None:
        """Nothing of either tool on the hosts: containers, images, records, the registry login and its CA."""
        self.shell(
            fleet,
            "%s; docker logout %s >/dev/null 2>&1; rm -rf /etc/docker/certs.d/%s"
            % (CLEAN_HOST, self.registry, self.registry),
        )


def measure(runner: Runner, fleet: str, members: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    keys = ("converge", "rerun", "ping", "upgrade", "gap", "stop", "start", "warmup", "overhead")
    out: dict[str, Any] = {tool: {key: [] for key in keys} for tool in TOOLS}
    for run in range(args.runs):
        order = TOOLS if run % 2 == 0 else TOOLS[::-1]
        for tool in order:
            data = out[tool]
            print("[bench] run %d/%d, %s: clean, fresh converge" % (run + 1, args.runs, tool), flush=True)
            runner.clean(fleet)
            data["converge"].append(runner.deploy(tool, fleet)[0])
            for _rerun in range(args.reruns):
                elapsed, output = runner.deploy(tool, fleet)
                assert_unchanged(output)
                data["rerun"].append(elapsed)
                data["ping"].append(runner.ping(fleet))
            print("[bench] run %d/%d, %s: upgrade speech-to-text" % (run + 1, args.runs, tool), flush=True)
            upgrade = ["ansible-playbook", *runner.inventories, runner.playbook_of(tool), "--limit", fleet]
            upgrade += ["-e", "bench_stt_version=" + NEW_STT]
            elapsed, phases = upgrade_gaps(
                runner, fleet, members, upgrade, (STOPPED_NAME[tool], STT_NAME), COMMAND_DEADLINE
            )
            data["upgrade"].append(elapsed)
            for phase, values in phases.items():
                data[phase].extend(values)
    return out


def table(results: dict[str, Any], args: argparse.Namespace, command: str, versions: dict[str, str]) -> str:
    coll, anchor = results[COLLECTION], results[ANCHOR_NAME]
    lines = [
        "Command: `%s`" % command,
        "",
        "%d hosts, 3 speech containers per host; %s %s against %s %s (benchmarks/community_docker/deploy.yml)."
        % (args.hosts, COLLECTION, versions[COLLECTION], ANCHOR_NAME, versions[ANCHOR_NAME]),
        "",
        "| median of %d runs (reruns: %d per run) | %s | %s | %s / %s |"
        % (args.runs, args.reruns, COLLECTION, ANCHOR_NAME, COLLECTION, ANCHOR_NAME),
        "|---|---|---|---|",
    ]

    def row(label: str, key: str) -> None:
        first, second = median(coll[key]), median(anchor[key])
        ratio = "%.2f" % (first / second) if second else "-"
        lines.append("| %s | %.2f | %.2f | %s |" % (label, first, second, ratio))

    row("fresh converge (s)", "converge")
    row("idempotent rerun (s, changed=0)", "rerun")
    row("ansible -m ping, same hosts, taken after each rerun (s)", "ping")
    row("upgrade run, one container per host (s)", "upgrade")
    row("upgrade gap per host, stt 5.0.0 -> %s (s)" % NEW_STT, "gap")
    row("- last old answer to old container stopped (s)", "stop")
    row("- old stopped to new container started (s)", "start")
    row("- new container's own warm-up (s)", "warmup")
    row("gap minus own warm-up (s)", "overhead")
    lines.append(
        "| idempotent rerun / ping | %.2f | %.2f | |"
        % tuple(median(data["rerun"]) / median(data["ping"]) for data in (coll, anchor))
    )
    lines.append(
        "| upgrade gap per host, max (s) | %.2f | %.2f | |" % tuple(max(data["gap"]) for data in (coll, anchor))
    )
    lines += ["", "Targets (issue 15):"] + ["- " + line for line in verdicts(results, args.hosts)]
    return "\n".join(lines)


def verdicts(results: dict[str, Any], hosts: int) -> list[str]:
    coll, anchor = results[COLLECTION], results[ANCHOR_NAME]

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    converge = median(coll["converge"]) / median(anchor["converge"])
    rerun = median(coll["rerun"]) / median(anchor["rerun"])
    floor = median(coll["rerun"]) / median(coll["ping"])
    return [
        "%d hosts: fresh converge %.2fx community.docker's <= 0.8x: %s" % (hosts, converge, verdict(converge <= 0.8)),
        "%d hosts: idempotent rerun %.2fx community.docker's <= 0.25x: %s" % (hosts, rerun, verdict(rerun <= 0.25)),
        "%d hosts: idempotent rerun %.2fx ansible -m ping <= 1.3x: %s" % (hosts, floor, verdict(floor <= 1.3)),
    ]


def chart(results: dict[str, Any], path: Path, hosts: int) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[bench] no chart: matplotlib missing (requirements/benchmark.txt)")
        return False
    keys = ["converge", "rerun", "ping", "gap"]
    labels = ["fresh converge", "idempotent rerun", "ping floor", "upgrade gap per host"]
    figure, axis = plt.subplots(figsize=(9, 4.5))
    width = 0.38
    for index, tool in enumerate(TOOLS):
        positions = [k + (index - 0.5) * width for k in range(len(keys))]
        values = [median(results[tool][key]) for key in keys]
        bars = axis.bar(positions, values, width, label=tool)
        axis.bar_label(bars, fmt="%.2f", fontsize="small")
    axis.set_xticks(range(len(keys)), labels)
    axis.set_ylabel("seconds (median)")
    axis.set_title("%d hosts, 3 speech containers per host: %s vs %s" % (hosts, COLLECTION, ANCHOR_NAME))
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs, each with both tools (default 3)")
    parser.add_argument(
        "--reruns", type=int, default=3, help="idempotent reruns (and pings) per tool and run (default 3)"
    )
    parser.add_argument("--hosts", type=int, default=3, help="the first N edge hosts of the lab (default 3)")
    args = parser.parse_args()
    if args.runs < 1 or args.reruns < 1 or args.hosts < 1:
        parser.error("--runs, --reruns and --hosts must be at least 1")
    lab_json = LAB_DIR / "lab.json"
    if not lab_json.exists():
        raise SystemExit("the lab is not up (no %s): python3 lab/speechlab.py up --hosts %d" % (lab_json, args.hosts))
    hosts = lab_hosts()
    if len(hosts) < args.hosts:
        raise SystemExit("the lab has %d edge hosts: python3 lab/speechlab.py up --hosts %d" % (len(hosts), args.hosts))
    if not in_bench_venv():
        run_in_bench_venv()
    registry = json.loads(lab_json.read_text())["registry"]
    members = dict(sorted(hosts.items(), key=lambda item: edge_order(item[0]))[: args.hosts])
    fleet = "bench_vs"
    command = "python benchmarks/bench_vs_community_docker.py --runs %d --reruns %d --hosts %d" % (
        args.runs,
        args.reruns,
        args.hosts,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    with ansible_environment() as env:
        versions = check_collections(env)
        inventory = Path(env["SPEECHOPS_BENCH_TMP"]) / "inventory"
        (inventory / "group_vars").mkdir(parents=True)
        (inventory / "group_vars" / "edge.yml").write_text(GROUP_VARS)
        (inventory / "fleet.yml").write_text(
            json.dumps({"all": {"children": {fleet: {"hosts": dict.fromkeys(members)}}}}, indent=1)
        )
        runner = Runner(env, inventory, registry)
        try:
            results = measure(runner, fleet, members, args)
        finally:
            # Leave the lab hosts as they were found: no speech containers.
            runner.clean(fleet)
    text = table(results, args, command, versions)
    (RESULTS / "vs_community_docker.md").write_text(text + "\n")
    (RESULTS / "vs_community_docker.json").write_text(json.dumps(results, indent=1))
    drawn = chart(results, RESULTS / "vs_community_docker.png", args.hosts)
    print(text)
    print(
        "\n[bench] written: %s%s"
        % (RESULTS / "vs_community_docker.md", ", %s" % (RESULTS / "vs_community_docker.png") if drawn else "")
    )


if __name__ == "__main__":
    main()
