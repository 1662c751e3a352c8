# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: an idempotent speech_containers run on one lab host with three containers.

Usage (lab up, venv active):  python3 benchmarks/bench_module_idempotent.py [--runs 7]
Prints the median wall time of the unchanged playbook run next to `ansible HOST -m ping`
on the same host, measured interleaved in one run so the ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR", REPO / ".lab"))
CONTAINERS = [
    {
        "name": "bench-stt",
        "kind": "speech-to-text",
        "version": "3.12.0",
        "locale": "en-us",
        "cpus": 0.25,
        "memory": "256m",
        "host_port": 7000,
    },
    {
        "name": "bench-tts",
        "kind": "neural-text-to-speech",
        "version": "3.1.0",
        "locale": "en-us",
        "voice": "arianeural",
        "cpus": 0.25,
        "memory": "256m",
        "host_port": 7001,
    },
    {
        "name": "bench-ld",
        "kind": "language-detection",
        "version": "1.12.0",
        "preview": True,
        "cpus": 0.25,
        "memory": "256m",
        "host_port": 7003,
    },
]


def environment(collections: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections), PATH=bin_dir + ":" + os.environ["PATH"])


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(
            "command failed: %s\n%s" % (" ".join(command), completed.stdout[-3000:] + completed.stderr[-3000:])
        )
    return elapsed, completed.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--host", default="edge1")
    args = parser.parse_args()
    inventory = str(LAB_DIR / "inventory.yml")
    with tempfile.TemporaryDirectory() as temporary:
        collections = Path(temporary)
        (collections / "ansible_collections" / "speechops").mkdir(parents=True)
        (collections / "ansible_collections" / "speechops" / "edge").symlink_to(REPO)
        env = environment(collections)
        vars_file = collections / "vars.json"
        vars_file.write_text(json.dumps({"bench_host": args.host, "bench_containers": CONTAINERS}))
        playbook = [
            "ansible-playbook",
            "-i",
            inventory,
            str(REPO / "benchmarks" / "module_idempotent.yml"),
            "-e",
            "@%s" % vars_file,
        ]
        ping = ["ansible", "-i", inventory, args.host, "-m", "ansible.builtin.ping"]
        first = timed(playbook, env)[0]  # converge (creates on the first benchmark run)
        rerun, ping_times = [], []
        for _run in range(args.runs):
            elapsed, output = timed(playbook, env)
            if "changed=0" not in output:
                raise SystemExit("the rerun changed something:\n" + output[-2000:])
            rerun.append(elapsed)
            ping_times.append(timed(ping, env)[0])
        vars_file.write_text(
            json.dumps({"bench_host": args.host, "bench_containers": CONTAINERS, "bench_state": "absent"})
        )
        timed(playbook, env)
    median_rerun, median_ping = statistics.median(rerun), statistics.median(ping_times)
    print("| measurement (host %s, 3 containers, %d runs) | median s |" % (args.host, args.runs))
    print("|---|---|")
    print("| first converge | %.2f |" % first)
    print("| idempotent speech_containers playbook | %.2f |" % median_rerun)
    print("| ansible -m ping, same host | %.2f |" % median_ping)
    print("| ratio | %.2f |" % (median_rerun / median_ping))


if __name__ == "__main__":
    main()
