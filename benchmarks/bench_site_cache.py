# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: bytes pulled from the upstream registry per site rollout of H hosts, with and without a site cache
(issue 13).

Usage (lab up with 6 hosts and the site caches, .venv/bin on PATH):
    python3 lab/speechlab.py up --hosts 6 --sites
    python benchmarks/bench_site_cache.py [--sizes 3,6] [--runs 1]

Per site size H (edge1..edgeH in one site) and run, both ways from the same empty start (every container and image
removed from the H hosts, the cache's storage emptied):
  - cache:  speechops.edge.site_cache (sets up cache-a, fills it from the upstream), then speechops.edge.deploy
            with the site's hosts pulling from cache-a;
  - direct: speechops.edge.deploy with every host pulling from the upstream itself.
The fleet: a speech-to-text and a neural text-to-speech container per host. "Bytes from the upstream" is what the
lab registry (our mcr.microsoft.com) wrote for blob GETs in that window (its own log lines, distribution's
http.response.written), against one copy of each image = the sizes of the distinct blobs of the fleet's images in
the registry's manifests. Results: benchmarks/results/site_cache.md and the printed table.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchlib import LAB_DIR, LAB_INVENTORY, REPO, ansible_environment, registry_bytes, stamp

RESULTS = REPO / "benchmarks" / "results"
CACHE = ("cache-a", "172.30.57.60:5443")
FLEET = [
    {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "port": 5620},
    {"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AriaNeural", "port": 5621},
]
MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def lab() -> dict[str, Any]:
    return json.loads((LAB_DIR / "lab.json").read_text())


def container(info: dict[str, Any], host: str) -> str:
    return next(item["container"] for item in info["hosts"] if item["name"] == host)


def inventory(workdir: Path, hosts: list[str], cached: bool) -> Path:
    """The site: its hosts, and (cached) the cache they pull from, written like tests/integration/sites/inventory."""
    site_vars: dict[str, Any] = {
        "speech_eula": "accept",
        "speech_billing": "{{ speechops_lab_billing }}",
        "speech_api_key": "{{ speechops_lab_api_key }}",
        "edge_host_billing_ca_file": "{{ speechops_lab_host_ca_file }}",
        "speech_container_defaults": {"cpus": 0.5, "memory": "512m"},
        "speech_allow_below_minimum": True,
        "speech_check_scope": "none",
        "speech_containers": FLEET,
    }
    if cached:
        site_vars.update(
            speech_registry=CACHE[1],
            speech_registry_username="site",
            speech_registry_password="{{ bench_password }}",
            speech_registry_ca_cert="{{ lookup('ansible.builtin.file', bench_ca_dir ~ '/ca.crt') }}",
        )
    else:
        site_vars.update(
            speech_registry="{{ speechops_lab_registry }}",
            speech_registry_username="{{ speechops_lab_registry_username }}",
            speech_registry_password="{{ speechops_lab_registry_password }}",
            speech_registry_ca_file="{{ speechops_lab_ca_file }}",
        )
    cache_vars = {
        "site_cache_site_ca_dir": "{{ bench_ca_dir }}",
        "site_cache_username": "site",
        "site_cache_password": "{{ bench_password }}",
        "site_cache_upstream": "{{ speechops_lab_registry }}",
        "site_cache_upstream_username": "{{ speechops_lab_registry_username }}",
        "site_cache_upstream_password": "{{ speechops_lab_registry_password }}",
        "site_cache_upstream_ca_cert": "{{ lookup('ansible.builtin.file', speechops_lab_ca_file) }}",
    }
    document = {
        "all": {
            "children": {
                "speech_site_caches": {"hosts": {CACHE[0]: None} if cached else {}, "vars": cache_vars},
                "bench_site": {"hosts": dict.fromkeys(hosts), "vars": site_vars},
            }
        }
    }
    path = workdir / ("site-%s.json" % ("cached" if cached else "direct"))
    path.write_text(json.dumps(document))  # JSON is YAML: ansible's yaml inventory plugin reads it
    return path


def run(env: dict[str, str], inventory_path: Path, playbook: str, limit: str, extra: Path) -> float:
    command = ["ansible-playbook", "-i", LAB_INVENTORY, "-i", str(inventory_path), "speechops.edge.%s" % playbook,
               "--limit", limit, "-e", "@%s" % extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (" ".join(command), (done.stdout + done.stderr)[-5000:]))
    return elapsed


def empty_hosts(info: dict[str, Any], hosts: list[str]) -> None:
    """Every container and image off the site's hosts, and the cache's storage emptied: nothing is cached yet."""
    for host in hosts:
        subprocess.run(["docker", "exec", container(info, host), "sh", "-c",
                        "docker ps -aq | xargs -r docker rm -f >/dev/null; docker images -q | xargs -r docker rmi -f"
                        " >/dev/null; true"], check=True, timeout=300)  # fmt: skip
    subprocess.run(["docker", "exec", container(info, CACHE[0]), "sh", "-c",
                    "service docker-registry stop >/dev/null 2>&1; rm -rf /var/lib/docker-registry/docker;"
                    " [ -f /etc/docker/registry/config.yml ] && service docker-registry start >/dev/null 2>&1; true"],
                   check=True, timeout=120)  # fmt: skip


def one_copy_bytes(info: dict[str, Any]) -> int:
    """Sizes of the distinct blobs (config and layers) of the fleet's images, from the lab registry's manifests."""
    context = ssl.create_default_context(cafile=info["ca_file"])
    login = base64.b64encode(("%s:%s" % (info["registry_username"], info["registry_password"])).encode()).decode()
    blobs: dict[str, int] = {}
    for entry in FLEET:
        image = next(i for i in info["images"] if i["repository"].endswith("/" + entry["kind"])
                     and i["tag"].startswith(entry["version"] + "-"))  # fmt: skip
        url = "%s/v2/%s/manifests/%s" % (info["registry_url"], image["repository"], image["tag"])
        request = urllib.request.Request(url, headers={"Accept": MANIFEST_TYPES, "Authorization": "Basic " + login})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            manifest = json.loads(response.read())
        for blob in [manifest["config"], *manifest["layers"]]:
            blobs[blob["digest"]] = int(blob["size"])
    return sum(blobs.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3,6")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    info = lab()
    sizes = [int(size) for size in args.sizes.split(",")]
    edge = [item["name"] for item in info["hosts"] if item["group"] == "edge"]
    if max(sizes) > len(edge) or not any(item["name"] == CACHE[0] for item in info["hosts"]):
        raise SystemExit("needs %d edge hosts and the site caches: python3 lab/speechlab.py up --hosts %d --sites"
                         % (max(sizes), max(sizes)))  # fmt: skip
    one_copy = one_copy_bytes(info)
    rows = []
    with ansible_environment() as env:
        workdir = Path(env["SPEECHOPS_BENCH_TMP"])
        extra = workdir / "extra.json"
        extra.write_text(
            json.dumps({"bench_ca_dir": str(workdir / "site-ca"), "bench_password": secrets.token_urlsafe(24)})
        )
        extra.chmod(0o600)
        for size in sizes:
            hosts = edge[:size]
            for _run in range(args.runs):
                for cached in (True, False):
                    empty_hosts(info, hosts)
                    path = inventory(workdir, hosts, cached)
                    since = stamp()
                    seconds = 0.0
                    if cached:
                        seconds += run(env, path, "site_cache", ",".join([CACHE[0], *hosts]), extra)
                    seconds += run(env, path, "deploy", ",".join([*hosts, CACHE[0]] if cached else hosts), extra)
                    pulled = registry_bytes(since, stamp())
                    rows.append({"hosts": size, "way": "site cache" if cached else "every host pulls",
                                 "bytes": pulled, "copies": pulled / one_copy, "seconds": seconds})  # fmt: skip
                    print("H=%d %-17s %12d bytes from the upstream = %.2f copies, rollout %.1f s"
                          % (size, rows[-1]["way"], pulled, pulled / one_copy, seconds))  # fmt: skip
        empty_hosts(info, edge[: max(sizes)])
    lines = [
        "# Site cache: bytes from the upstream per site rollout",
        "",
        "One copy of the fleet's images (distinct blobs): %d bytes. Command: `python benchmarks/bench_site_cache.py"
        " --sizes %s --runs %d`." % (one_copy, args.sizes, args.runs),
        "",
        "| hosts | way | bytes from the upstream | copies of the images | rollout s |",
        "|---|---|---|---|---|",
    ]
    lines += [
        "| %d | %s | %d | %.2f | %.1f |" % (r["hosts"], r["way"], r["bytes"], r["copies"], r["seconds"]) for r in rows
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "site_cache.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
