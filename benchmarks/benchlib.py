# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every benchmark here needs: the collection from this checkout, the lab inventory, timed commands."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR", REPO / ".lab"))
LAB_INVENTORY = str(LAB_DIR / "inventory.yml")
REGISTRY_CONTAINER = "speechops-lab-registry"
LAB_NET = "172.30.57."
OLD_STT, NEW_STT = "5.0.0", "5.1.0"
STT_PORT = 5000
POLL_SECONDS = 0.05
# What a fresh converge starts from: no containers, images or speechops records on the host.
CLEAN_HOST = (
    "docker ps -aq | xargs -r docker rm -f >/dev/null; docker system prune -af >/dev/null; rm -rf /etc/speechops/*.yml"
)


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


# ---- the lab's edge hosts and ad-hoc commands on them --------------------------------------------------------
def lab_hosts() -> dict[str, str]:
    """edge1..edgeN of the lab inventory and their addresses (only lab addresses)."""
    if not Path(LAB_INVENTORY).exists():
        raise SystemExit("the lab is not up (no %s): python3 lab/speechlab.py up" % LAB_INVENTORY)
    text = Path(LAB_INVENTORY).read_text()
    hosts = dict(re.findall(r"^\s+(edge\d+):\n\s+ansible_host: \"([0-9.]+)\"", text, re.M))
    if any(not address.startswith(LAB_NET) for address in hosts.values()):
        raise SystemExit("the lab inventory names a host outside %s0/24" % LAB_NET)
    return hosts


def edge_order(name: str) -> int:
    return int(name.removeprefix("edge"))


class LabRunner:
    """ansible and ansible-playbook against the lab inventory plus a benchmark's own inventory directory."""

    def __init__(self, env: dict[str, str], inventory: Path) -> None:
        self.env = env
        self.inventories = ["-i", LAB_INVENTORY, "-i", str(inventory)]

    def playbook(self, playbook: str, fleet: str, *extra: str) -> tuple[float, str]:
        return timed(["ansible-playbook", *self.inventories, playbook, "--limit", fleet, *extra], self.env)

    def ping(self, fleet: str) -> float:
        return timed(["ansible", *self.inventories, fleet, "-m", "ansible.builtin.ping"], self.env)[0]

    def shell(self, fleet: str, command: str) -> str:
        return timed(["ansible", *self.inventories, fleet, "-m", "ansible.builtin.shell", "-a", command], self.env)[1]

    def clean(self, fleet: str) -> None:
        """Hosts without speech containers, images or records: what a fresh converge starts from."""
        self.shell(fleet, CLEAN_HOST)


def per_host(output: str) -> dict[str, str]:
    """The output of each host in an `ansible -m shell` run that succeeded there."""
    return dict(re.findall(r"^(\S+) \| CHANGED \| rc=0 >>\n(.*?)(?=^\S+ \| |\Z)", output, re.M | re.S))


# ---- upgrade gap: poll every host's speech-to-text port ----------------------------------------------------
# One GET /ready per poll (http.client, no opener machinery): the poller shares the 2 CPUs with the fleet, so
# its own load is kept small. A good answer's version comes from the stand-in's /swagger/v1/swagger.json, read on
# the first good answer after a bad one and at least once a second; the answers in between are the same container's.
Sample = tuple[float, str | None]  # (wall-clock time, version of a good answer or None)


def _get(address: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(address, STT_PORT, timeout=0.5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def poll_once(address: str, known: str | None, checked_at: float) -> tuple[str | None, float]:
    """(version of a good answer or None, when the version was last read) for one GET /ready."""
    try:
        status, _body = _get(address, "/ready")
        if status != 200:
            return None, checked_at
        now = time.monotonic()
        if known is None or now - checked_at >= 1.0:
            status, body = _get(address, "/swagger/v1/swagger.json")
            return (json.loads(body)["info"]["version"] if status == 200 else None), now
        return known, checked_at
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return None, checked_at


@contextlib.contextmanager
def polling(addresses: dict[str, str], deadline: float) -> Iterator[dict[str, list[Sample]]]:
    outside = [address for address in addresses.values() if not address.startswith(LAB_NET)]
    if outside:
        raise SystemExit("refusing to poll %s: not lab addresses" % ", ".join(outside))
    samples: dict[str, list[Sample]] = {host: [] for host in addresses}
    stop = threading.Event()

    def poll(host: str, address: str) -> None:
        end = time.monotonic() + deadline
        version, checked_at = None, 0.0
        while not stop.is_set() and time.monotonic() < end:
            began = time.monotonic()
            wall = time.time()
            version, checked_at = poll_once(address, version, checked_at)
            samples[host].append((wall, version))
            stop.wait(max(0.0, POLL_SECONDS - (time.monotonic() - began)))

    threads = [threading.Thread(target=poll, args=item, daemon=True) for item in addresses.items()]
    for thread in threads:
        thread.start()
    try:
        yield samples
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def gap_window(samples: list[Sample], old: str, new: str) -> tuple[float, float] | None:
    """(last good answer of the old version, first good answer of the new one), wall clock."""
    last_old = max((at for at, version in samples if version == old), default=None)
    first_new = min((at for at, version in samples if version == new), default=None)
    if last_old is None or first_new is None or first_new < last_old:
        return None
    return last_old, first_new


# Where the gap goes, from the edge host's engine events (same kernel clock as the controller in the lab):
# last old answer -> old container stopped and its port released ("stop") -> new container started ("start")
# -> first good answer of the new one (the new container's own warm-up, as the poller sees it).
# The format sits in {% raw %}: ansible templates ad-hoc arguments.
EVENTS = (
    "docker events --since %d --until %d --filter type=container --filter event=stop "
    "--filter event=start --format '{%% raw %%}{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}}{%% endraw %%}'"
)
Event = tuple[float, str, str]  # (wall-clock time, action, container name)


def engine_events(runner: LabRunner, fleet: str, since: float, until: float) -> dict[str, list[Event]]:
    events: dict[str, list[Event]] = {}
    for host, body in per_host(runner.shell(fleet, EVENTS % (int(since), int(until) + 1))).items():
        for line in body.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[0].isdigit():
                events.setdefault(host, []).append((int(fields[0]) / 1e9, fields[1], fields[2]))
    return events


def gap_phases(
    window: tuple[float, float], events: list[Event], stopped_name: str, started_name: str
) -> dict[str, float]:
    """The gap split at the old container's stop and the new container's start (their engine events)."""
    last_old, first_new = window
    stopped = [at for at, action, name in events if action == "stop" and name == stopped_name and at >= last_old]
    started = [at for at, action, name in events if action == "start" and name == started_name and at <= first_new]
    if not stopped or not started:
        raise SystemExit("no stop/start events of %s around the gap: %s" % (started_name, events))
    stop_done, start_done = min(stopped), max(started)
    return {
        "gap": first_new - last_old,
        "stop": stop_done - last_old,
        "start": start_done - stop_done,
        "warmup": first_new - start_done,
        "overhead": start_done - last_old,
    }


def upgrade_gaps(
    runner: LabRunner,
    fleet: str,
    members: dict[str, str],
    upgrade: list[str],
    names: tuple[str, str],
    deadline: float,
) -> tuple[float, dict[str, list[float]]]:
    """Run the upgrade command while every member's speech-to-text port is polled: its seconds, gap phases per host.

    names: the container that stops (the old one) and the one that starts (the new one), as the engine names them.
    """
    began = time.time()
    with polling(members, deadline=deadline) as samples:
        elapsed = timed(upgrade, runner.env)[0]
        time.sleep(0.3)  # a few polls of the new version after the command returned
    events = engine_events(runner, fleet, began, time.time())
    phases: dict[str, list[float]] = {}
    for host, host_samples in samples.items():
        window = gap_window(host_samples, OLD_STT, NEW_STT)
        if window is None:
            raise SystemExit("no old-then-new answers seen on %s: %s" % (host, host_samples[:3]))
        for phase, value in gap_phases(window, events.get(host, []), *names).items():
            phases.setdefault(phase, []).append(value)
    return elapsed, phases
