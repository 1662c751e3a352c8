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
import json
import time
from pathlib import Path
from typing import Any

from benchlib import (
    LAB_DIR,
    NEW_STT,
    OLD_STT,
    REPO,
    LabRunner,
    ansible_environment,
    assert_unchanged,
    lab_hosts,
    median,
    per_host,
    registry_bytes,
    stamp,
    timed,
    upgrade_gaps,
)

RESULTS = REPO / "benchmarks" / "results"
CALLBACKS = REPO / "benchmarks" / "callback_plugins"
STT_NAME = "stt-en-us"  # the name the speech role plans for speech-to-text en-US
STT_PREVIOUS = STT_NAME + "-speechops-previous"  # the old container while the new one takes over
# lab/speechlab.py bakes STANDIN_WARMUP_SECONDS="" into the lab's tags: the stand-in's default applies.
STANDIN_DEFAULT_WARMUP = 2.0
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


class Runner(LabRunner):
    def deploy(self, fleet: str, *extra: str) -> tuple[float, str]:
        return self.playbook("speechops.edge.deploy", fleet, *extra)

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
        since = stamp()
        upgrade = [*runner.inventories, "speechops.edge.deploy", "--limit", fleet, "-e", "bench_stt_version=" + NEW_STT]
        _elapsed, phases = upgrade_gaps(
            runner, fleet, members, ["ansible-playbook", *upgrade], (STT_PREVIOUS, STT_NAME), COMMAND_DEADLINE
        )
        out["upgrade_bytes"].append(registry_bytes(since, stamp()))
        for phase, values in phases.items():
            out[phase].extend(values)
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
