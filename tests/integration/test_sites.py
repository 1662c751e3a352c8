# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sites with thin or no links: a site image cache per site (speechops.edge.site_cache) and offline bundles.

The lab (`speechlab.py up --sites`) has two cache hosts; tests/integration/sites/inventory makes edge1+edge2 site A
(cache-a) and edge3 site B (cache-b). The lab registry stands for mcr.microsoft.com; "the link is cut" is a network
disconnect of that registry's container, always reconnected. Expected digests come from the lab registry as
`speechlab.py up` pushed it (.lab/lab.json), not from the code under test.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ansible_env import ansible_environment, write_vars_file

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR", REPO / ".lab"))
SITES_INVENTORY = Path(__file__).resolve().parent / "sites" / "inventory"
CACHES = {"cache-a": "172.30.57.60:5443", "cache-b": "172.30.57.61:5443"}
SITE_HOSTS = {"cache-a": ("edge1", "edge2"), "cache-b": ("edge3",)}
REPOSITORY = "azure-cognitive-services/speechservices/neural-text-to-speech"
TAG = "4.1.0-amd64-en-us-arianeural"
RECAP_RE = re.compile(r"^(?P<host>\S+)\s*:\s*ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=\d+\s+failed=(?P<failed>\d+)",
                      re.MULTILINE)  # fmt: skip


@dataclass
class Run:
    returncode: int
    output: str

    def assert_ok(self) -> None:
        assert self.returncode == 0, self.output[-8000:]

    def changed(self) -> dict[str, int]:
        return {match["host"]: int(match["changed"]) for match in RECAP_RE.finditer(self.output)}


class Sites:
    def __init__(self, lab: dict, collections_path: Path, workdir: Path) -> None:
        self.lab = lab
        self.workdir = workdir
        self.env = ansible_environment(collections_path)
        self.bin = Path(sys.executable).parent
        self.ca_dir = workdir / "site-ca"
        self.password = secrets.token_urlsafe(24)
        self.counter = 0

    def playbook(self, name: str, limit: str, extra: dict[str, Any] | None = None) -> Run:
        self.counter += 1
        extra_vars = {"sites_it_ca_dir": str(self.ca_dir), "sites_it_password": self.password, **(extra or {})}
        command = [str(self.bin / "ansible-playbook"), "-i", str(LAB_DIR / "inventory.yml"), "-i", str(SITES_INVENTORY),
                   "speechops.edge.%s" % name, "--limit", limit,
                   "-e", write_vars_file(self.workdir / ("extra-%d.json" % self.counter), extra_vars)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=self.workdir, timeout=900,
                              check=False)  # fmt: skip
        return Run(done.returncode, done.stdout + done.stderr)

    def container(self, host: str) -> str:
        return next(item["container"] for item in self.lab["hosts"] if item["name"] == host)

    def on_host(self, host: str, script: str) -> str:
        done = subprocess.run(["docker", "exec", self.container(host), "sh", "-c", script], capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        return done.stdout

    def cache_request(self, cache: str, path: str, login: bool = True) -> tuple[int, dict[str, Any]]:
        """GET https://CACHE/v2/..., the certificate verified against the site CA only."""
        context = ssl.create_default_context(cafile=str(self.ca_dir / "ca.crt"))
        request = urllib.request.Request("https://%s%s" % (CACHES[cache], path))
        request.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
        if login:
            token = base64.b64encode(("site:%s" % self.password).encode()).decode()
            request.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                body = response.read()
                headers = dict(response.headers)
                return response.status, {"headers": headers, "json": json.loads(body or b"{}")}
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    def upstream_digest(self) -> str:
        """The digest the lab registry (our stand-in for mcr.microsoft.com) has for the site image."""
        image = next(i for i in self.lab["images"] if i["repository"].endswith(REPOSITORY) and i["tag"] == TAG)
        return image["digest"]

    def site_image(self, cache: str) -> str:
        return "%s/%s:%s" % (CACHES[cache], REPOSITORY, TAG)

    def forget_site_image(self, cache: str) -> None:
        """A site host that never had the site image: its containers of it and the image removed."""
        image = self.site_image(cache)
        for host in SITE_HOSTS[cache]:
            self.on_host(host, "docker ps -aq --filter ancestor=%s | xargs -r docker rm -f; docker rmi -f %s; true"
                         % (image, image))  # fmt: skip
            assert self.on_host(host, "docker images -q %s" % image).strip() == ""

    def running_image(self, host: str) -> dict[str, Any]:
        raw = self.on_host(host, "docker inspect --format '{{json .}}' $(docker ps -q --filter publish=5610)")
        container = json.loads(raw)
        image = json.loads(self.on_host(host, "docker image inspect --format '{{json .}}' %s" % container["Image"]))
        return {"name": container["Config"]["Image"], "repo_digests": image["RepoDigests"]}


@pytest.fixture(scope="module")
def sites(lab: dict, collections_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    if not any(host["group"] == "site_caches" for host in lab["hosts"]):
        pytest.fail("the lab has no site caches: python3 lab/speechlab.py up --sites")
    sites = Sites(lab, collections_path, tmp_path_factory.mktemp("sites"))
    yield sites
    sites.playbook("remove", "sites")


@contextmanager
def upstream_cut(lab: dict) -> Iterator[None]:
    """The lab registry (our mcr.microsoft.com) unreachable from every lab container, reconnected whatever happens."""
    network = lab["network"]["name"]
    subprocess.run(["docker", "network", "disconnect", network, lab["registry_container"]], check=True, timeout=60)
    try:
        yield
    finally:
        subprocess.run(["docker", "network", "connect", "--ip", lab["registry"].split(":")[0], network,
                        lab["registry_container"]], check=True, timeout=60)  # fmt: skip


def test_a_site_cache_is_filled_once_and_its_site_deploys_with_the_upstream_cut(sites: Sites, lab: dict) -> None:
    # act: the cache of site A set up (TLS from the site CA, a login) and filled from the upstream
    setup = sites.playbook("site_cache", "cache-a,site_a")
    setup.assert_ok()
    assert setup.changed()["cache-a"] > 0
    # against references of the registry API (distribution's answers), verified with the site CA only
    assert sites.cache_request("cache-a", "/v2/", login=False)[0] == 401
    status, answer = sites.cache_request("cache-a", "/v2/%s/manifests/%s" % (REPOSITORY, TAG))
    assert status == 200 and answer["headers"]["Docker-Content-Digest"] == sites.upstream_digest()
    # act again: nothing changes
    again = sites.playbook("site_cache", "cache-a,site_a")
    again.assert_ok()
    assert again.changed()["cache-a"] == 0, again.output[-4000:]

    sites.forget_site_image("cache-a")
    with upstream_cut(lab):
        deploy = sites.playbook("deploy", "cache-a,site_a")
        deploy.assert_ok()
        for host in SITE_HOSTS["cache-a"]:
            running = sites.running_image(host)
            assert running["name"] == sites.site_image("cache-a")
            assert "%s/%s@%s" % (CACHES["cache-a"], REPOSITORY, sites.upstream_digest()) in running["repo_digests"]
        rerun = sites.playbook("deploy", "cache-a,site_a")
        rerun.assert_ok()
        assert all(count == 0 for count in rerun.changed().values()), rerun.output[-4000:]


def test_a_bundle_carried_to_a_site_that_never_reached_the_upstream_deploys_there(sites: Sites, lab: dict) -> None:
    bundle = sites.workdir / "speech-bundle"
    export = sites.playbook("images", "cache-b,site_b",
                            {"speech_images_mode": "export", "speech_images_bundle": str(bundle)})  # fmt: skip
    export.assert_ok()
    # The bundle is an OCI image layout (image-spec image-layout.md) naming the image with the upstream's digest.
    assert json.loads((bundle / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((bundle / "index.json").read_text())
    named = {entry["annotations"]["org.opencontainers.image.ref.name"]: entry["digest"] for entry in index["manifests"]}
    assert named == {"%s/%s:%s" % (lab["registry"], REPOSITORY, TAG): sites.upstream_digest()}

    sites.forget_site_image("cache-b")
    with upstream_cut(lab):
        # carried: the disk arrives at site B and is attached to its cache host
        subprocess.run(["docker", "exec", sites.container("cache-b"), "rm", "-rf", "/srv/speech-bundle"], check=True)
        subprocess.run(["docker", "cp", str(bundle), "%s:/srv/speech-bundle" % sites.container("cache-b")],
                       check=True, timeout=300)  # fmt: skip
        setup = sites.playbook("site_cache", "cache-b,site_b", {"site_cache_bundle": "/srv/speech-bundle"})
        setup.assert_ok()
        status, answer = sites.cache_request("cache-b", "/v2/%s/manifests/%s" % (REPOSITORY, TAG))
        assert status == 200 and answer["headers"]["Docker-Content-Digest"] == sites.upstream_digest()
        deploy = sites.playbook("deploy", "cache-b,site_b")
        deploy.assert_ok()
        running = sites.running_image("edge3")
        assert "%s/%s@%s" % (CACHES["cache-b"], REPOSITORY, sites.upstream_digest()) in running["repo_digests"]


def test_site_hosts_that_would_not_trust_their_cache_fail_before_any_host_changes(sites: Sites) -> None:
    before = sites.on_host("edge3", "docker ps -q --no-trunc --filter publish=5610")
    # A change the rollout would make (more memory), and the site's hosts without the site CA.
    changed_fleet = {"speech_registry_ca_cert": "", "speech_container_defaults": {"cpus": 0.5, "memory": "640m"}}
    refused = sites.playbook("deploy", "cache-b,site_b", changed_fleet)
    assert refused.returncode != 0
    assert (
        "speech_registry_ca_cert: empty on edge3, whose speech_registry 172.30.57.61:5443 is the site cache cache-b"
        in (" ".join(refused.output.split()))
    ), refused.output[-4000:]
    assert "halfway through the rollout; nothing was changed" in " ".join(refused.output.split())
    assert sites.on_host("edge3", "docker ps -q --no-trunc --filter publish=5610") == before
    assert refused.changed().get("edge3", 0) == 0
