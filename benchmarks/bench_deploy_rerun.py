# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: idempotent rerun of the deploy playbook with the demo fleet on the lab, next to ansible -m ping.

Usage (lab up, .venv/bin on PATH):  python benchmarks/bench_deploy_rerun.py [--runs 9]
The two are measured alternately in one run, so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse

from benchlib import LAB_INVENTORY, REPO, ansible_environment, print_ratio_table, reruns_and_pings, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    inventories = ["-i", LAB_INVENTORY, "-i", str(REPO / "examples" / "lab")]
    with ansible_environment() as env:
        deploy = ["ansible-playbook", *inventories, "speechops.edge.deploy"]
        ping = ["ansible", *inventories, "edge", "-m", "ansible.builtin.ping"]
        converge = timed(deploy, env)[0]
        reruns, pings = reruns_and_pings(deploy, ping, env, args.runs)
    print_ratio_table(
        "deploy playbook, demo fleet on 3 lab hosts",
        ("converge (first run of this benchmark)", "idempotent rerun", "ansible edge -m ping"),
        converge,
        reruns,
        pings,
    )


if __name__ == "__main__":
    main()
