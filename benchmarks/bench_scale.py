# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: how the deploy's cost grows with the fleet, and which forks and strategy to run it with (issue 15).

Usage (lab up with as many hosts as the largest size; .venv/bin on PATH):
    python3 lab/speechlab.py up --hosts 20
    python benchmarks/bench_scale.py [--sizes 3,10,20] [--forks 5,25] [--strategies linear,free] [--reruns 3]

The fleet is bench_fleet.py's (3 speech containers per host). Per size N (the first N edge hosts):
  1. a fresh converge of speechops.edge.deploy (containers, images and records removed first) with the first
     --forks value that is at least N (ansible's default is 5: a fleet larger than the forks is served in waves);
  2. for every forks value and strategy: idempotent reruns (changed=0 asserted), each followed by `ansible -m ping`
     on the same hosts with the same forks (the floor), medians of --reruns.
Then: growth from the smallest to the largest size (rerun and ping, each against its own smallest-size time), and
a straight line through the rerun times of each forks setting, which the README's 500-host estimate reads from.
Results: benchmarks/results/scale.md and scale.json (not committed), and the table printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_fleet import write_inventory
from benchlib import (
    REPO,
    LabRunner,
    ansible_environment,
    assert_unchanged,
    edge_order,
    lab_hosts,
    median,
    timed,
)

RESULTS = REPO / "benchmarks" / "results"


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares line through (hosts, seconds): (intercept, seconds per host)."""
    n = len(points)
    mean_x = sum(x for x, _y in points) / n
    mean_y = sum(y for _x, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _y in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def measure(runner: LabRunner, sizes: list[int], args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}}
    for size in sizes:
        fleet = "bench_%d" % size
        converge_forks = next((forks for forks in sorted(args.forks) if forks >= size), max(args.forks))
        runner.clean(fleet)
        converge = timed(
            [
                "ansible-playbook",
                *runner.inventories,
                "speechops.edge.deploy",
                "--limit",
                fleet,
                "-f",
                str(converge_forks),
            ],
            runner.env,
        )[0]
        entry: dict[str, Any] = {"converge": converge, "converge_forks": converge_forks, "settings": {}}
        print("%2d hosts: fresh converge %.1f s (forks %d)" % (size, converge, converge_forks), flush=True)
        for forks in args.forks:
            for strategy in args.strategies:
                env = dict(runner.env, ANSIBLE_STRATEGY=strategy)
                reruns, pings = [], []
                for _run in range(args.reruns):
                    command = ["ansible-playbook", *runner.inventories, "speechops.edge.deploy", "--limit", fleet]
                    elapsed, output = timed([*command, "-f", str(forks)], env)
                    assert_unchanged(output)
                    reruns.append(elapsed)
                    ping = ["ansible", *runner.inventories, fleet, "-m", "ansible.builtin.ping", "-f", str(forks)]
                    pings.append(timed(ping, env)[0])
                key = "forks=%d strategy=%s" % (forks, strategy)
                entry["settings"][key] = {"rerun": median(reruns), "ping": median(pings)}
                print("   %s: rerun %.2f s, ping %.2f s" % (key, median(reruns), median(pings)), flush=True)
        results["sizes"][str(size)] = entry
    return results


def table(results: dict[str, Any], command: str) -> str:
    sizes = sorted(results["sizes"], key=int)
    settings = list(results["sizes"][sizes[0]]["settings"])
    lines = [
        "Command: `%s`" % command,
        "",
        "3 speech containers per host (bench_fleet.py's fleet); medians of %d reruns and pings." % results["reruns"],
        "",
        "| hosts | fresh converge (s) | setting | idempotent rerun (s) | ansible -m ping (s) | rerun / ping |",
        "|---|---|---|---|---|---|",
    ]
    for size in sizes:
        entry = results["sizes"][size]
        for index, key in enumerate(settings):
            values = entry["settings"][key]
            converge = "%.1f (forks %d)" % (entry["converge"], entry["converge_forks"]) if index == 0 else ""
            lines.append(
                "| %s | %s | %s | %.2f | %.2f | %.2f |"
                % (
                    size if index == 0 else "",
                    converge,
                    key,
                    values["rerun"],
                    values["ping"],
                    values["rerun"] / values["ping"],
                )
            )
    low, high = sizes[0], sizes[-1]
    lines += ["", "Growth from %s to %s hosts (time at %s / time at %s):" % (low, high, high, low), ""]
    lines += [
        "| setting | rerun growth | ping growth | rerun grows no faster than ping | rerun s/host (fit) | 500 hosts, rerun (s, fit) |"
    ]
    lines += ["|---|---|---|---|---|---|"]
    for key in settings:
        first, last = results["sizes"][low]["settings"][key], results["sizes"][high]["settings"][key]
        rerun_growth, ping_growth = last["rerun"] / first["rerun"], last["ping"] / first["ping"]
        intercept, slope = fit([(int(size), results["sizes"][size]["settings"][key]["rerun"]) for size in sizes])
        lines.append(
            "| %s | %.2f | %.2f | %s | %.3f | %.0f |"
            % (
                key,
                rerun_growth,
                ping_growth,
                "yes" if rerun_growth <= ping_growth else "NO",
                slope,
                intercept + 500 * slope,
            )
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3,10,20")
    parser.add_argument("--forks", default="5,25")
    parser.add_argument("--strategies", default="linear")
    parser.add_argument("--reruns", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    args.forks = [int(forks) for forks in args.forks.split(",")]
    args.strategies = args.strategies.split(",")
    hosts = lab_hosts()
    if len(hosts) < sizes[-1]:
        raise SystemExit(
            "the lab has %d edge hosts, %d needed: python3 lab/speechlab.py up --hosts %d"
            % (len(hosts), sizes[-1], sizes[-1])
        )
    names = dict(sorted(hosts.items(), key=lambda item: edge_order(item[0])))
    with ansible_environment() as env, tempfile.TemporaryDirectory() as temporary:
        inventory = Path(temporary) / "inventory"
        write_inventory(inventory, names, sizes)
        runner = LabRunner(env, inventory)
        results = measure(runner, sizes, args)
    results["reruns"] = args.reruns
    command = "python benchmarks/bench_scale.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=1))
    text = table(results, command.strip())
    (RESULTS / "scale.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
