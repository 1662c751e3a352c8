# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every benchmark here needs: the collection from this checkout, the lab inventory, timed commands."""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR", REPO / ".lab"))
LAB_INVENTORY = str(LAB_DIR / "inventory.yml")
REGISTRY_CONTAINER = "speechops-lab-registry"


@contextlib.contextmanager
def ansible_environment() -> Iterator[dict[str, str]]:
    """Environment for ansible commands with this checkout as speechops.edge, and the venv's tools first."""
    if not (LAB_DIR / "lab.json").exists():
        raise SystemExit("the lab is not up: python3 lab/speechlab.py up")
    with tempfile.TemporaryDirectory() as temporary:
        namespace = Path(temporary) / "ansible_collections" / "speechops"
        namespace.mkdir(parents=True)
        (namespace / "edge").symlink_to(REPO)
        bin_dir = str(Path(sys.executable).parent)
        yield dict(
            os.environ,
            ANSIBLE_COLLECTIONS_PATH=temporary,
            ANSIBLE_HOST_KEY_CHECKING="False",
            PATH=bin_dir + ":" + os.environ.get("PATH", ""),
            SPEECHOPS_BENCH_TMP=temporary,
        )


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds and output of a command that must succeed."""
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit("command failed: %s\n%s" % (" ".join(command), (completed.stdout + completed.stderr)[-4000:]))
    return elapsed, completed.stdout


def assert_unchanged(output: str) -> None:
    recap = output[output.rfind("PLAY RECAP") :]
    if "changed=" not in recap or any("changed=0" not in line for line in recap.splitlines()[1:] if "ok=" in line):
        raise SystemExit("a rerun changed something:\n" + recap)


def median(values: list[float]) -> float:
    return statistics.median(values)


def reruns_and_pings(
    rerun: list[str], ping: list[str], env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """Wall seconds of an unchanged rerun (changed=0 asserted) and of the ping floor, taken alternately."""
    reruns, pings = [], []
    for _run in range(runs):
        elapsed, output = timed(rerun, env)
        assert_unchanged(output)
        reruns.append(elapsed)
        pings.append(timed(ping, env)[0])
    return reruns, pings


def print_ratio_table(
    title: str, labels: tuple[str, str, str], first: float, reruns: list[float], pings: list[float]
) -> None:
    """The Markdown table of the rerun benchmarks: first run, median rerun, median ping, their ratio."""
    first_label, rerun_label, ping_label = labels
    print("| %s (%d runs) | median s |" % (title, len(reruns)))
    print("|---|---|")
    print("| %s | %.2f |" % (first_label, first))
    print("| %s | %.2f |" % (rerun_label, median(reruns)))
    print("| %s | %.2f |" % (ping_label, median(pings)))
    print("| ratio | %.2f |" % (median(reruns) / median(pings)))


# ---- bytes pulled from the lab registry: distribution's log line for each blob GET (http.response.written) ---
def registry_bytes(since: str, until: str) -> int:
    completed = subprocess.run(
        ["docker", "logs", "--since", since, "--until", until, REGISTRY_CONTAINER],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    total = 0
    for line in (completed.stdout + completed.stderr).splitlines():
        if "response completed" in line and "http.request.method=GET" in line and "/blobs/" in line:
            match = re.search(r"http\.response\.written=(\d+)", line)
            total += int(match.group(1)) if match else 0
    return total


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
