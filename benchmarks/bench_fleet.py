# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the deploy playbook on fleets of 3 and 6 lab hosts with 3 speech containers each (issue 6).

Usage (lab up with 6 hosts, .venv/bin on PATH):
    python3 lab/speechlab.py up --hosts 6
    pip install -r requirements/benchmark.txt      # matplotlib, for the chart only
    python benchmarks/bench_fleet.py [--runs 3] [--reruns 3] [--fleets 3,6]

Per fleet and run, in one process so ratios hold on a noisy machine:
  1. fresh converge of speechops.edge.deploy (containers and images removed from the hosts first);
  2. idempotent reruns of deploy (changed=0 asserted), interleaved with 3. `ansible -m ping` on the same hosts;
  4. an upgrade of speech-to-text (5.0.0 -> 5.1.0) while the controller polls every host's port every 50 ms:
     gap = last good answer of the old version to the first good answer of the new one (the stand-in's /swagger/v1/swagger.json
     names its version), split by the host's engine events into: old container stopped (port released), new
     container started, and the new container's own warm-up (its start to its first good answer);
  5. module invocations per host in an idempotent run (callback_plugins/speechops_count.py) and Docker API calls
     per host (the edge hosts' dockerd debug log, switched on by SIGHUP and restored afterwards);
  6. bytes pulled from the lab registry per rollout (blob GETs in the registry's access log).
Medians go to benchmarks/results/fleet.md and fleet.png, and the table is printed. Only lab addresses are polled.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchlib import (
    LAB_DIR,
    LAB_INVENTORY,
    REPO,
    ansible_environment,
    assert_unchanged,
    median,
    registry_bytes,
    stamp,
    timed,
)

RESULTS = REPO / "benchmarks" / "results"
CALLBACKS = REPO / "benchmarks" / "callback_plugins"
LAB_NET = "172.30.57."
REGISTRY_CONTAINER = "speechops-lab-registry"
OLD_STT, NEW_STT = "5.0.0", "5.1.0"
STT_PORT = 5000
STT_NAME = "stt-en-us"  # the name the speech role plans for speech-to-text en-US
STT_PREVIOUS = STT_NAME + "-speechops-previous"  # the old container while the new one takes over
# lab/speechlab.py bakes STANDIN_WARMUP_SECONDS="" into the lab's tags: the stand-in's default applies.
STANDIN_DEFAULT_WARMUP = 2.0
POLL_SECONDS = 0.05
COMMAND_DEADLINE = 900

GROUP_VARS = (
    """\
# Written by benchmarks/bench_fleet.py: the lab's mapping (as examples/lab/group_vars/edge.yml) and
# 3 speech containers on every edge host.
speech_eula: accept
speech_billing: "{{ speechops_lab_billing }}"
speech_api_key: "{{ speechops_lab_api_key }}"
speech_registry: "{{ speechops_lab_registry }}"
speech_registry_username: "{{ speechops_lab_registry_username }}"
speech_registry_password: "{{ speechops_lab_registry_password }}"
speech_registry_ca_file: "{{ speechops_lab_ca_file }}"
# The lab CA signs the billing endpoint too: the billing reachability preflight trusts it (a path on the host).
edge_host_billing_ca_file: "{{ speechops_lab_host_ca_file }}"
speech_container_defaults:
  cpus: 0.25
  memory: 256m
speech_allow_below_minimum: true
bench_stt_version: "%s"
speech_containers:
  - kind: speech-to-text
    version: "{{ bench_stt_version }}"
    locale: en-US
  - kind: neural-text-to-speech
    version: 4.1.0
    locale: en-US
    voice: AriaNeural
  - kind: language-detection
    version: 1.18.0
    preview: true
"""
    % OLD_STT
)


def write_inventory(directory: Path, hosts: dict[str, str], fleets: list[int]) -> None:
    (directory / "group_vars").mkdir(parents=True)
    (directory / "group_vars" / "edge.yml").write_text(GROUP_VARS)
    names = sorted(hosts, key=lambda name: int(name.removeprefix("edge")))
    groups = {"bench_%d" % size: {"hosts": dict.fromkeys(names[:size])} for size in fleets}
    (directory / "fleets.yml").write_text(json.dumps({"all": {"children": groups}}, indent=1))


def lab_hosts() -> dict[str, str]:
    """edge1..edgeN of the lab inventory and their addresses (only lab addresses)."""
    text = Path(LAB_INVENTORY).read_text()
    hosts = dict(re.findall(r"^\s+(edge\d+):\n\s+ansible_host: \"([0-9.]+)\"", text, re.M))
    if any(not address.startswith(LAB_NET) for address in hosts.values()):
        raise SystemExit("the lab inventory names a host outside %s0/24" % LAB_NET)
    return hosts


class Runner:
    def __init__(self, env: dict[str, str], inventory: Path) -> None:
        self.env = env
        self.inventories = ["-i", LAB_INVENTORY, "-i", str(inventory)]

    def deploy(self, fleet: str, *extra: str) -> tuple[float, str]:
        command = ["ansible-playbook", *self.inventories, "speechops.edge.deploy", "--limit", fleet, *extra]
        return timed(command, self.env)

    def ping(self, fleet: str) -> float:
        return timed(["ansible", *self.inventories, fleet, "-m", "ansible.builtin.ping"], self.env)[0]

    def shell(self, fleet: str, command: str) -> str:
        return timed(["ansible", *self.inventories, fleet, "-m", "ansible.builtin.shell", "-a", command], self.env)[1]

    def counted_rerun(self, fleet: str, count_file: Path) -> tuple[str, dict[str, Any]]:
        env = dict(
            self.env,
            ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
            ANSIBLE_CALLBACKS_ENABLED="speechops_count",
            SPEECHOPS_BENCH_COUNT_FILE=str(count_file),
        )
        command = ["ansible-playbook", *self.inventories, "speechops.edge.deploy", "--limit", fleet]
        output = timed(command, env)[1]
        return output, json.loads(count_file.read_text())

    def clean(self, fleet: str) -> None:
        """Hosts without speech containers, images or records: what a fresh converge starts from."""
        self.shell(
            fleet,
            "docker ps -aq | xargs -r docker rm -f >/dev/null; docker system prune -af >/dev/null; "
            "rm -rf /etc/speechops/*.yml",
        )


# ---- Docker API calls: the dockerd debug log of the edge hosts ---------------------------------------------
# debug=true added to the host's daemon.json (its other keys kept), reloaded by SIGHUP; the log's length noted
# so that only the lines of the measured run are counted; the original file restored afterwards.
DEBUG_ON = (
    "set -e; f=/etc/docker/daemon.json; cp -p $f /tmp/speechops-bench-daemon.json; "
    'python3 -c \'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["debug"]=True; '
    'json.dump(d, open(p, "w"), indent=2)\' $f; kill -HUP $(cat /var/run/docker.pid); sleep 1; '
    "wc -l < /var/log/docker.log > /tmp/speechops-bench-logline"
)
CALLS = (
    "tail -n +$(( $(cat /tmp/speechops-bench-logline) + 1 )) /var/log/docker.log "
    "| grep -o 'msg=\"Calling [A-Z]* [^\"]*' | cut -c6- || true"
)
DEBUG_OFF = (
    "cp -p /tmp/speechops-bench-daemon.json /etc/docker/daemon.json && "
    "rm -f /tmp/speechops-bench-daemon.json /tmp/speechops-bench-logline && kill -HUP $(cat /var/run/docker.pid)"
)


def per_host(output: str) -> dict[str, str]:
    """The output of each host in an `ansible -m shell` run that succeeded there."""
    return dict(re.findall(r"^(\S+) \| CHANGED \| rc=0 >>\n(.*?)(?=^\S+ \| |\Z)", output, re.M | re.S))


def api_calls(runner: Runner, fleet: str, count_file: Path) -> tuple[dict[str, int], dict[str, Any], list[str]]:
    """Docker API calls per host during one idempotent deploy, and the callback's module counts."""
    runner.shell(fleet, DEBUG_ON)
    try:
        output, counts = runner.counted_rerun(fleet, count_file)
        assert_unchanged(output)
        time.sleep(0.5)  # let dockerd write its last lines
        lines = runner.shell(fleet, CALLS)
    finally:
        runner.shell(fleet, DEBUG_OFF)
    calls: dict[str, int] = {}
    examples: list[str] = []
    for host, body in per_host(lines).items():
        seen = [line for line in body.splitlines() if line.startswith("Calling ")]
        calls[host] = len(seen)
        examples = examples or sorted(set(seen))
    return calls, counts, examples


# ---- upgrade gap: poll every host's speech-to-text port ----------------------------------------------------
# One GET /ready per poll (http.client, no opener machinery): the poller shares the 2 CPUs with the fleet, so
# its own load is kept small. A good answer's version comes from the stand-in's /swagger/v1/swagger.json, read on the first good
# answer after a bad one and at least once a second; the answers in between are the same container's.
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


def engine_events(runner: Runner, fleet: str, since: float, until: float) -> dict[str, list[tuple[float, str, str]]]:
    events: dict[str, list[tuple[float, str, str]]] = {}
    for host, body in per_host(runner.shell(fleet, EVENTS % (int(since), int(until) + 1))).items():
        for line in body.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[0].isdigit():
                events.setdefault(host, []).append((int(fields[0]) / 1e9, fields[1], fields[2]))
    return events


def gap_phases(window: tuple[float, float], events: list[tuple[float, str, str]]) -> dict[str, float]:
    """The gap split at the old container's stop and the new container's start (the STT container's events)."""
    last_old, first_new = window
    stopped = [at for at, action, name in events if action == "stop" and name == STT_PREVIOUS and at >= last_old]
    started = [at for at, action, name in events if action == "start" and name == STT_NAME and at <= first_new]
    if not stopped or not started:
        raise SystemExit("no stop/start events of %s around the gap: %s" % (STT_NAME, events))
    stop_done, start_done = min(stopped), max(started)
    return {
        "gap": first_new - last_old,
        "stop": stop_done - last_old,
        "start": start_done - stop_done,
        "warmup": first_new - start_done,
        "overhead": start_done - last_old,
    }


# ---- the run -----------------------------------------------------------------------------------------------
def measure_fleet(runner: Runner, size: int, hosts: dict[str, str], args: argparse.Namespace, tmp: Path) -> dict:
    fleet = "bench_%d" % size
    members = dict(sorted(hosts.items(), key=lambda item: int(item[0].removeprefix("edge")))[:size])
    out: dict[str, Any] = {
        "converge": [],
        "rerun": [],
        "ping": [],
        "gap": [],
        "stop": [],
        "start": [],
        "warmup": [],
        "overhead": [],
        "converge_bytes": [],
        "upgrade_bytes": [],
    }
    for run in range(args.runs):
        print("[bench] fleet %d, run %d/%d: clean, converge" % (size, run + 1, args.runs), flush=True)
        runner.clean(fleet)
        since = stamp()
        elapsed, output = runner.deploy(fleet)
        out["converge"].append(elapsed)
        out["converge_bytes"].append(registry_bytes(since, stamp()))
        for _rerun in range(args.reruns):
            elapsed, output = runner.deploy(fleet)
            assert_unchanged(output)
            out["rerun"].append(elapsed)
            out["ping"].append(runner.ping(fleet))
        print(
            "[bench] fleet %d, run %d/%d: upgrade speech-to-text %s -> %s"
            % (size, run + 1, args.runs, OLD_STT, NEW_STT),
            flush=True,
        )
        since, began = stamp(), time.time()
        with polling(members, deadline=COMMAND_DEADLINE) as samples:
            runner.deploy(fleet, "-e", "bench_stt_version=%s" % NEW_STT)
            time.sleep(0.3)
        out["upgrade_bytes"].append(registry_bytes(since, stamp()))
        events = engine_events(runner, fleet, began, time.time())
        for host, host_samples in samples.items():
            window = gap_window(host_samples, OLD_STT, NEW_STT)
            if window is None:
                raise SystemExit("no old-then-new answers seen on %s: %s" % (host, host_samples[:3]))
            for phase, value in gap_phases(window, events.get(host, [])).items():
                out[phase].append(value)
        # Back to the old version for the next run (not measured; both images are on the hosts now).
        runner.deploy(fleet)
    calls, counts, examples = api_calls(runner, fleet, tmp / ("count_%d.json" % size))
    out["api_calls"] = calls
    out["modules"] = counts["modules"]
    out["api_examples"] = examples
    return out


def table(results: dict[int, dict], args: argparse.Namespace, command: str) -> str:
    lines = [
        "Command: `%s`" % command,
        "",
        "| fleet (3 speech containers/host), median of %d runs | %s |"
        % (args.runs, " | ".join("%d hosts" % size for size in results)),
        "|---|%s" % ("---|" * len(results)),
    ]

    def row(label: str, render: Any) -> None:
        lines.append("| %s | %s |" % (label, " | ".join(render(data) for data in results.values())))

    row("fresh converge (s)", lambda d: "%.2f" % median(d["converge"]))
    row("idempotent rerun (s, changed=0)", lambda d: "%.2f" % median(d["rerun"]))
    row("ansible -m ping, same hosts (s)", lambda d: "%.2f" % median(d["ping"]))
    row("rerun / ping (target <= 1.5 at 3 hosts)", lambda d: "%.2f" % (median(d["rerun"]) / median(d["ping"])))

    def spread(key: str) -> Any:
        return lambda d: "%.2f, %.2f" % (median(d[key]), max(d[key]))

    row("upgrade gap per host, stt %s -> %s (s; median, max)" % (OLD_STT, NEW_STT), spread("gap"))
    row("- last old answer to old container stopped, port released (s)", spread("stop"))
    row("- port released to new container started (s)", spread("start"))
    row("- new container's own warm-up: started to first good answer (s)", spread("warmup"))
    row("gap minus own warm-up (target <= 1.0 s)", spread("overhead"))
    row("stand-in's configured warm-up (STANDIN_WARMUP_SECONDS, s)", lambda d: "%.1f" % STANDIN_DEFAULT_WARMUP)
    row(
        "module invocations per host, idempotent run",
        lambda d: ", ".join(
            sorted({"%d (%s)" % (sum(m.values()), "+".join(sorted(m))) for m in d["modules"].values()})
        ),
    )
    row(
        "Docker API calls per host, idempotent run",
        lambda d: ", ".join(str(v) for v in sorted(set(d["api_calls"].values()))),
    )
    row("MB pulled from the registry, fresh converge (fleet)", lambda d: "%.1f" % (median(d["converge_bytes"]) / 1e6))
    row("kB pulled from the registry, upgrade (fleet)", lambda d: "%.1f" % (median(d["upgrade_bytes"]) / 1e3))
    examples = next(iter(results.values()))["api_examples"]
    lines += ["", "Docker API calls of an idempotent run (each host): %s" % ("; ".join(examples) or "none")]
    lines += ["", "Targets:"] + ["- " + line for line in verdicts(results)]
    return "\n".join(lines)


def verdicts(results: dict[int, dict]) -> list[str]:
    """The issue's targets, each with the measured value and met/missed."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    out = []
    for size, data in results.items():
        ratio = median(data["rerun"]) / median(data["ping"])
        out.append("%d hosts: idempotent rerun / ping %.2f <= 1.5: %s" % (size, ratio, verdict(ratio <= 1.5)))
        invocations = {sum(counts.values()) for counts in data["modules"].values()}
        out.append(
            "%d hosts: module invocations per host in an idempotent run %s == 1: %s"
            % (size, ", ".join(map(str, sorted(invocations))), verdict(invocations == {1}))
        )
        late = [value for value in data["overhead"] if value > 1.0]
        out.append(
            "%d hosts: upgrade gap <= own warm-up + 1 s: median %.2f s over the warm-up, %d of %d upgrades over 1 s: %s"
            % (
                size,
                median(data["overhead"]),
                len(late),
                len(data["overhead"]),
                verdict(median(data["overhead"]) <= 1.0),
            )
        )
    return out


def chart(results: dict[int, dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[bench] no chart: pip install -r requirements/benchmark.txt (matplotlib)")
        return False
    figure, (runs_axis, gap_axis) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    labels = ["fresh converge", "idempotent rerun", "ping floor"]
    keys = ["converge", "rerun", "ping"]
    width = 0.8 / len(results)
    for index, (size, data) in enumerate(results.items()):
        positions = [k + index * width for k in range(len(keys))]
        runs_axis.bar(positions, [median(data[key]) for key in keys], width, label="%d hosts" % size)
    runs_axis.set_xticks([k + width * (len(results) - 1) / 2 for k in range(len(keys))], labels)
    runs_axis.set_ylabel("seconds (median)")
    runs_axis.set_title("deploy playbook, 3 speech containers per host")
    runs_axis.legend()
    # The upgrade gap per fleet, stacked by phase (medians), against the target: own warm-up + 1 s.
    positions = list(range(len(results)))
    bottom = [0.0] * len(results)
    for key, label in (("stop", "old stopped"), ("start", "new started"), ("warmup", "new container's warm-up")):
        values = [median(data[key]) for data in results.values()]
        gap_axis.bar(positions, values, 0.5, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    targets = [median(data["warmup"]) + 1 for data in results.values()]
    gap_axis.hlines(
        targets,
        [x - 0.3 for x in positions],
        [x + 0.3 for x in positions],
        colors="black",
        label="target: warm-up + 1 s",
    )
    gap_axis.set_xticks(positions, ["%d hosts" % size for size in results])
    gap_axis.set_ylim(0, max(targets) * 1.45)
    gap_axis.set_ylabel("seconds (median)")
    gap_axis.set_title("upgrade gap per host, stt %s -> %s" % (OLD_STT, NEW_STT))
    gap_axis.legend(fontsize="small", loc="upper center", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="converge/upgrade runs per fleet (default 3)")
    parser.add_argument("--reruns", type=int, default=3, help="idempotent reruns (and pings) per run (default 3)")
    parser.add_argument("--fleets", default="3,6", help="fleet sizes (default 3,6)")
    args = parser.parse_args()
    fleets = [int(size) for size in args.fleets.split(",")]
    hosts = lab_hosts()
    if len(hosts) < max(fleets):
        raise SystemExit(
            "the lab has %d edge hosts: python3 lab/speechlab.py up --hosts %d" % (len(hosts), max(fleets))
        )
    if not (LAB_DIR / "lab.json").exists():
        raise SystemExit("the lab is not up: python3 lab/speechlab.py up --hosts %d" % max(fleets))
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_fleet.py --runs %d --reruns %d --fleets %s" % (
        args.runs,
        args.reruns,
        args.fleets,
    )
    results: dict[int, dict] = {}
    with ansible_environment() as env:
        tmp = Path(env["SPEECHOPS_BENCH_TMP"])
        inventory = tmp / "inventory"
        write_inventory(inventory, hosts, fleets)
        runner = Runner(env, inventory)
        for size in fleets:
            results[size] = measure_fleet(runner, size, hosts, args, tmp)
        # Leave the lab hosts as they were found: no speech containers.
        runner.clean("bench_%d" % max(fleets))
    text = table(results, args, command)
    (RESULTS / "fleet.md").write_text(text + "\n")
    (RESULTS / "fleet.json").write_text(json.dumps({str(k): v for k, v in results.items()}, indent=1))
    drawn = chart(results, RESULTS / "fleet.png")
    print(text)
    print("\n[bench] written: %s%s" % (RESULTS / "fleet.md", ", %s" % (RESULTS / "fleet.png") if drawn else ""))


if __name__ == "__main__":
    main()
