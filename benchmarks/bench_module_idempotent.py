# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: an idempotent speech_containers run on one lab host with three containers.

Usage (lab up, .venv/bin on PATH):  python benchmarks/bench_module_idempotent.py [--runs 7] [--host edge1]
Prints the median wall time of the unchanged playbook run next to `ansible HOST -m ping`
on the same host, measured alternately in one run so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchlib import LAB_INVENTORY, REPO, ansible_environment, print_ratio_table, reruns_and_pings, timed

LAB_SIZE = {"cpus": 0.25, "memory": "256m"}
CONTAINERS = [
    dict(LAB_SIZE, name="bench-stt", kind="speech-to-text", version="5.1.0", locale="en-us", host_port=7000),
    dict(
        LAB_SIZE,
        name="bench-tts",
        kind="neural-text-to-speech",
        version="4.1.0",
        locale="en-us",
        voice="arianeural",
        host_port=7001,
    ),
    dict(LAB_SIZE, name="bench-ld", kind="language-detection", version="1.18.0", preview=True, host_port=7003),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--host", default="edge1")
    args = parser.parse_args()
    with ansible_environment() as env:
        vars_file = Path(env["SPEECHOPS_BENCH_TMP"]) / "vars.json"
        vars_file.write_text(json.dumps({"bench_host": args.host, "bench_containers": CONTAINERS}))
        playbook = [
            "ansible-playbook",
            "-i",
            LAB_INVENTORY,
            str(REPO / "benchmarks" / "module_idempotent.yml"),
            "-e",
            "@%s" % vars_file,
        ]
        ping = ["ansible", "-i", LAB_INVENTORY, args.host, "-m", "ansible.builtin.ping"]
        first = timed(playbook, env)[0]  # logs in and converges (creates the containers on a fresh host)
        reruns, pings = reruns_and_pings([*playbook, "--skip-tags", "login"], ping, env, args.runs)
        vars_file.write_text(
            json.dumps({"bench_host": args.host, "bench_containers": CONTAINERS, "bench_state": "absent"})
        )
        timed(playbook, env)
    print_ratio_table(
        "speech_containers, host %s, 3 containers" % args.host,
        ("first converge", "idempotent speech_containers playbook", "ansible -m ping, same host"),
        first,
        reruns,
        pings,
    )


if __name__ == "__main__":
    main()
