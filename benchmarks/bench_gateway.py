# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: the speech gateway on the lab's demo fleet - serving gap during upgrades, latency it adds.

Usage (lab up, .venv/bin on PATH):  python benchmarks/bench_gateway.py [--runs 3] [--requests 200]

1. Deploys the demo fleet (examples/lab) behind the gateway (TLS with the lab CA, the lab's access key).
2. Upgrades every container of the 3 hosts at once (a changed memory limit replaces each one, start-first), while
   one client per service port (a process each, at nice -10 when run as root) asks /status with the key every 10 ms
   from this machine: failed requests, and the longest time without a good answer per host. Repeated --runs times
   (alternating the limit), then once more as a control where the deploy replaces nothing.
3. The median text-to-speech request (REST synthesis, new TLS connection each time) on the edge host through the
   gateway against the same request straight to the container's loopback slot.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import ssl
import subprocess
import time

from benchlib import LAB_DIR, LAB_INVENTORY, REPO, ansible_environment, timed

KEY_HEADER = "Ocp-Apim-Subscription-Key"
SSML = "<speak version='1.0' xml:lang='en-US'><voice name='en-US-AriaNeural'>Hello from the edge.</voice></speak>"
# Runs on the edge host: the same synthesis through the gateway and straight to the slot, alternately.
LATENCY = (
    """
import json, ssl, statistics, sys, time, urllib.request
gateway, direct, key, ca, count = sys.argv[1:6]
context = ssl.create_default_context(cafile=ca)
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
ssml = %r.encode()
headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"}
times = {"gateway": [], "direct": []}
for _ in range(int(count)):
    for name, url, extra in (("gateway", gateway, {"Ocp-Apim-Subscription-Key": key}), ("direct", direct, {})):
        start = time.perf_counter()
        request = urllib.request.Request(url, data=ssml, headers=dict(headers, **extra))
        with opener.open(request, timeout=30) as response:
            assert response.status == 200 and response.read(4) == b"RIFF"
        times[name].append(time.perf_counter() - start)
print(json.dumps({name: statistics.median(values) for name, values in times.items()}))
"""
    % SSML
)


def gateway_vars(lab: dict) -> dict:
    return {
        "speech_gateway": True,
        "speech_gateway_keys": [{"label": "bench", "key": lab["gateway_key"]}],
        "speech_gateway_certificate": "{{ lookup('ansible.builtin.file', speechops_lab_gateway_cert_file) }}",
        "speech_gateway_private_key": "{{ lookup('ansible.builtin.file', speechops_lab_gateway_key_file) }}",
        "speech_gateway_ca_cert": "{{ lookup('ansible.builtin.file', speechops_lab_ca_file) }}",
    }


class Watcher:
    """One client per service port, in a process of its own (no shared interpreter lock between the clients): /status
    with the key every 10 ms on a kept-alive TLS connection (a new one after an error, as a client library would);
    counts of good and failed answers and the longest time without a good answer."""

    def __init__(self, lab: dict, host_ip: str, port: int) -> None:
        self.address = (host_ip, port)
        self.key = lab["gateway_key"]
        self.ca_file = lab["ca_file"]
        self.stop = multiprocessing.Event()
        self.results: multiprocessing.Queue = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=self.run, daemon=True)  # a failed deploy ends the benchmark
        self.ok = self.failed = 0
        self.gap = 0.0

    def run(self) -> None:
        # The clients are the measuring instrument: on this 2-core machine the deploy's own processes (ansible, three
        # engines) would otherwise stall them, and a stalled client reads as a gap of the service. The control run
        # shows what stalls remain without any upgrade.
        try:
            os.nice(-10)
        except PermissionError:
            pass
        context = ssl.create_default_context(cafile=self.ca_file)
        connection: http.client.HTTPSConnection | None = None
        ok = failed = 0
        gap = 0.0
        last_good = time.monotonic()
        while not self.stop.is_set():
            if connection is None:
                connection = http.client.HTTPSConnection(*self.address, timeout=5, context=context)
            try:
                connection.request("GET", "/status", headers={KEY_HEADER: self.key})
                response = connection.getresponse()
                response.read()
                good = response.status == 200
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = None
                good = False
            now = time.monotonic()
            if good:
                gap = max(gap, now - last_good)
                last_good = now
                ok += 1
            else:
                failed += 1
            self.stop.wait(0.01)
        self.results.put((ok, failed, gap))

    def start(self) -> None:
        self.process.start()

    def finish(self) -> None:
        self.stop.set()
        self.ok, self.failed, self.gap = self.results.get(timeout=30)
        self.process.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    lab = json.loads((LAB_DIR / "lab.json").read_text())
    inventories = ["-i", LAB_INVENTORY, "-i", str(REPO / "examples" / "lab")]
    with ansible_environment() as env:
        vars_file = LAB_DIR / "bench-gateway.json"
        deploy = ["ansible-playbook", *inventories, "speechops.edge.deploy", "-e", "@%s" % vars_file]

        def run_deploy(memory: str) -> float:
            settings = dict(gateway_vars(lab), speech_container_defaults={"cpus": 0.5, "memory": memory})
            vars_file.touch(mode=0o600)  # it holds the lab's access key
            vars_file.chmod(0o600)
            vars_file.write_text(json.dumps(settings))
            return timed(deploy, env)[0]

        run_deploy("512m")
        ports = {host["name"]: [] for host in lab["hosts"] if host["group"] == "edge"}
        info = subprocess.run(
            ["ansible", "-i", LAB_INVENTORY, "edge", "-m", "speechops.edge.speech_container_info", "-o"],
            capture_output=True, text=True, env=env, cwd=REPO, check=True,
        ).stdout  # fmt: skip
        for line in info.splitlines():
            host, _sep, rest = line.partition(" | ")
            result = json.loads(rest.partition(" => ")[2])
            ports[host] = sorted({entry["host_port"] for entry in result["containers"] if entry["running"]})
        ips = {host["name"]: host["ip"] for host in lab["hosts"]}
        print("| deploy while clients ask every service (run) | requests ok | failed | longest gap per host (s) |")
        print("|---|---|---|---|")

        def watched(label: str, memory: str) -> None:
            watchers = {host: [Watcher(lab, ips[host], port) for port in ports[host]] for host in ports}
            for watcher in (w for host in watchers.values() for w in host):
                watcher.start()
            time.sleep(1.0)  # the clients run before the deploy starts (a warm-up, not synchronisation)
            seconds = run_deploy(memory)
            for watcher in (w for host in watchers.values() for w in host):
                watcher.finish()
            ok = sum(w.ok for host in watchers.values() for w in host)
            failed = sum(w.failed for host in watchers.values() for w in host)
            gaps = ", ".join("%s %.3f" % (host, max(w.gap for w in ws)) for host, ws in sorted(watchers.items()))
            print("| %s (deploy %.0f s) | %d | %d | %s |" % (label, seconds, ok, failed, gaps))

        memory = "512m"
        for run in range(args.runs):
            memory = "640m" if memory == "512m" else "512m"
            watched("upgrade of every container %d" % (run + 1), memory)
        # The same clients while a deploy replaces nothing: the gap this machine shows without any upgrade.
        watched("control: unchanged rerun", memory)
        # Latency: on edge2 (neural text-to-speech on 5000, its slot is 15000 or 25000).
        slot = next(
            port["host_port"]
            for port in next(
                entry
                for entry in json.loads(
                    subprocess.run(
                        ["ansible", "-i", LAB_INVENTORY, "edge2", "-m", "speechops.edge.speech_container_info", "-o"],
                        capture_output=True, text=True, env=env, cwd=REPO, check=True,
                    ).stdout.partition(" => ")[2]
                )["containers"]
                if entry["kind"] == "neural-text-to-speech"
            )["ports"]
        )  # fmt: skip
        container = next(host["container"] for host in lab["hosts"] if host["name"] == "edge2")
        medians = json.loads(
            subprocess.run(
                ["docker", "exec", container, "python3", "-c", LATENCY,
                 "https://%s:5000/speech/synthesize/cognitiveservices/v1" % ips["edge2"],
                 "http://127.0.0.1:%d/speech/synthesize/cognitiveservices/v1" % slot,
                 lab["gateway_key"], lab["host_ca_file"], str(args.requests)],
                capture_output=True, text=True, check=True,
            ).stdout
        )  # fmt: skip
        print()
        print("| text-to-speech REST synthesis on edge2 (%d requests each) | median ms |" % args.requests)
        print("|---|---|")
        print("| straight to the container (loopback slot, plain HTTP) | %.1f |" % (medians["direct"] * 1000))
        print("| through the gateway (TLS, access key) | %.1f |" % (medians["gateway"] * 1000))
        print("| added by the gateway | %.1f |" % ((medians["gateway"] - medians["direct"]) * 1000))


if __name__ == "__main__":
    main()
