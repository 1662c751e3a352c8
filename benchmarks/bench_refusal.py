# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: how long the deploy playbook takes to refuse bad input, on the lab with the demo fleet deployed.

Usage (lab up, demo fleet deployed, .venv/bin on PATH):  python benchmarks/bench_refusal.py [--runs 3]
Each case must fail (exit status 2) and leave every container of every edge host as it was (`docker ps -a` of
each host before and after). Issue 11 measured 1,204 s for an unreachable billing endpoint before this check.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time

from benchlib import LAB_INVENTORY, REPO, ansible_environment, median

CASES = {
    # A billing endpoint nothing answers for (TEST-NET-1, RFC 5737): the preflight's HTTPS check times out.
    "billing endpoint unreachable (TEST-NET-1)": {"speech_billing": "https://192.0.2.1/"},
    "billing endpoint refuses connections": {"speech_billing": "https://127.0.0.1:9/"},
    "image not in the registry (locale xx-XX)": {
        "speech_containers": [{"kind": "speech-to-text", "version": "5.1.0", "locale": "xx-XX"}]
    },
    "declaration error (cpus: lots)": {
        "speech_containers": [{"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "cpus": "lots"}]
    },
}


def containers(env: dict[str, str]) -> str:
    """Every edge host's `docker ps -a` (ids, names, states): what a refusal must not change."""
    command = ["ansible", "-i", LAB_INVENTORY, "edge", "-o", "-m", "ansible.builtin.command", "-a", "docker ps -a -q"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=True)
    return "\n".join(sorted(done.stdout.splitlines()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    inventories = ["-i", LAB_INVENTORY, "-i", str(REPO / "examples" / "lab")]
    print("| refused input (%d runs) | median s | exit |" % args.runs)
    print("|---|---|---|")
    with ansible_environment() as env:
        for label, extra in CASES.items():
            before = containers(env)
            seconds, codes = [], set()
            for _run in range(args.runs):
                start = time.perf_counter()
                done = subprocess.run(
                    ["ansible-playbook", *inventories, "speechops.edge.deploy", "-e", json.dumps(extra)],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=REPO,
                    check=False,
                )
                seconds.append(time.perf_counter() - start)
                codes.add(done.returncode)
                if done.returncode == 0:
                    raise SystemExit("%s: the deploy succeeded, it must refuse" % label)
            if containers(env) != before:
                raise SystemExit("%s: containers changed on an edge host" % label)
            print("| %s | %.1f | %s |" % (label, median(seconds), ",".join(map(str, sorted(codes)))))


if __name__ == "__main__":
    main()
