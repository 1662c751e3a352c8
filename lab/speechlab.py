"""speechops.edge local edge lab: bring-up, teardown and status.

    python3 lab/speechlab.py up [--hosts N] [--failure-hosts]
    python3 lab/speechlab.py down [--purge]
    python3 lab/speechlab.py status [--json]
    python3 lab/speechlab.py ee-base [--rebuild]

Python 3.11 standard library only; runs as root on the controller (a Debian 12 machine) and drives the
local Docker engine. Everything is built locally: no registry outside this machine is reachable.
See lab/README.md for what `up` creates and docs/ARCHITECTURE.md for the lab conventions.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
IMAGES_SRC = REPO / "lab" / "images"
sys.path.insert(0, str(REPO / "plugins" / "module_utils"))
import _catalog as catalog  # noqa: E402  (pure stdlib; the single source of truth for kinds and tags)

# --- lab conventions (docs/ARCHITECTURE.md) ---------------------------------------------------------------
NETWORK = "speechops-lab"
SUBNET = "172.30.57.0/24"
GATEWAY = "172.30.57.1"
REGISTRY_IP = "172.30.57.2"
REGISTRY_PORT = 5000
REGISTRY = "%s:%d" % (REGISTRY_IP, REGISTRY_PORT)
REGISTRY_URL = "https://%s" % REGISTRY
CLOUD_IP = "172.30.57.3"
CLOUD_URL = "https://%s" % CLOUD_IP
EDGE_FIRST_OCTET = 11
EDGE_LAST_OCTET = 49  # .50 and up are the failure hosts
FAILURE_HOSTS = (("edge-noavx2", "172.30.57.50"), ("edge-lowmem", "172.30.57.51"))
# --sites: one cache host per site (speechops.edge.site_cache), edge-host image, group site_caches.
SITE_CACHE_HOSTS = (("cache-a", "172.30.57.60"), ("cache-b", "172.30.57.61"))
LOWMEM_LIMIT = "3g"
REGISTRY_USER = "speechops"

PREFIX = "speechops-lab"  # container, volume and image name prefix
LABEL = "speechops.lab"  # every docker object the lab creates carries LABEL=1
LABEL_HASH = "speechops.lab.context"  # build-context hash of an image / run-spec hash of a container
LABEL_ROLE = "speechops.lab.role"  # set by `docker run` only: selects the lab's containers
CONTAINER_FILTER = "label=" + LABEL_ROLE  # (image labels are inherited by containers of images built FROM ours)
BASE_IMAGE = "speechops-lab/base:bookworm"
EDGE_IMAGE = "speechops-lab/edge-host:latest"
REGISTRY_IMAGE = "speechops-lab/registry:latest"
STANDIN_IMAGE = "speechops-lab/speech-standin:latest"
LABCLOUD_IMAGE = "speechops-lab/labcloud:latest"
# Base of the collection's execution environment (examples/execution-environment.yml, scripts/build_ee.sh);
# built only by `ee-base`, not by `up`.
EE_BASE_IMAGE = "speechops-lab/ee-base:bookworm"
REGISTRY_CONTAINER = PREFIX + "-registry"
CLOUD_CONTAINER = PREFIX + "-labcloud"
HOST_CERTS_D = Path("/etc/docker/certs.d") / REGISTRY
DOCKERD_LOG = Path("/var/log/speechops-lab-dockerd.log")
MARKER = ".speechops-lab"  # marks a directory as a lab dir (down --purge removes only such a directory)

# Host tools a fresh Debian 12 machine may lack: command -> Debian package.
TOOLS = {
    "dockerd": "docker.io",
    "docker": "docker.io",
    "mmdebstrap": "mmdebstrap",
    "htpasswd": "apache2-utils",
    "dpkg-scanpackages": "dpkg-dev",
    "openssl": "openssl",
    "ssh-keygen": "openssh-client",
    "ssh": "openssh-client",
}

# --- the stand-in images pushed to the lab registry (the one place to change the list) -------------------
# kind -> (versions, variants as (locale, voice), preview). Tags come from the catalog's build_tag().
LAB_IMAGES: dict[str, tuple[tuple[str, ...], tuple[tuple[str | None, str | None], ...], bool]] = {
    "speech-to-text": (("5.0.0", "5.1.0"), (("en-us", None), ("de-de", None)), False),
    "custom-speech-to-text": (("5.0.0", "5.1.0"), ((None, None),), False),
    "neural-text-to-speech": (("4.0.0", "4.1.0"), (("en-us", "arianeural"), ("en-us", "guyneural")), False),
    "language-detection": (("1.17.0", "1.18.0"), ((None, None),), True),
    # A CPU stand-in of a GPU container: deploy it with `gpus: none` (labs and CPU stand-ins only).
    "fast-transcription": (("1.0.0",), (("en", None),), True),
    "text-to-speech": (("1.2.0", "1.3.0"), (("en-us", "jessarus"),), True),
    "custom-text-to-speech": (("1.2.0", "1.3.0"), ((None, None),), False),
}
# Versions that never become ready (STANDIN_WARMUP_SECONDS=never), for rollback tests.
NEVER_READY_VERSION = "9.9.9"
NEVER_READY: tuple[tuple[str, str | None, str | None], ...] = (
    ("speech-to-text", "en-us", None),
    ("speech-to-text", "de-de", None),
    ("neural-text-to-speech", "en-us", "arianeural"),
    ("custom-speech-to-text", None, None),
)

BUILD_ENV = {"DOCKER_BUILDKIT": "0"}
APT_REPO_PORT = 47815
_print_lock = threading.Lock()


class LabError(Exception):
    """A failure with a message that tells the operator what to do."""


def say(msg: str) -> None:
    with _print_lock:
        print("[speechlab] %s" % msg, flush=True)


def warn(msg: str) -> None:
    with _print_lock:
        print("[speechlab] WARNING: %s" % msg, file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------------------------
def sh(
    args: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = 600,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, **env) if env else None
    try:
        proc = subprocess.run(
            list(args), input=input, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd, check=False
        )
    except FileNotFoundError as exc:
        raise LabError("command not found: %s" % args[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError("timed out after %ss: %s" % (timeout, " ".join(args))) from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-15:]
        raise LabError("command failed (%d): %s\n  %s" % (proc.returncode, " ".join(args), "\n  ".join(tail)))
    return proc


def docker(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return sh(["docker", *args], **kwargs)


def poll(what: str, probe: Callable[[], bool], deadline_s: float, interval: float = 0.1) -> None:
    """Call probe() until it returns True; raise LabError naming `what` after deadline_s seconds."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            if probe():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise LabError("%s: not ready within %.0f s" % (what, deadline_s))
        time.sleep(interval)


class Phases:
    """Prints the duration of each phase of a command and the total."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.rows: list[tuple[str, float, str]] = []

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[list[str]]:
        note: list[str] = []
        t0 = time.monotonic()
        yield note
        dt = time.monotonic() - t0
        self.rows.append((name, dt, " ".join(note)))
        say("%-10s %6.1f s  %s" % (name, dt, " ".join(note)))

    def total(self) -> float:
        dt = time.monotonic() - self.start
        say("%-10s %6.1f s" % ("total", dt))
        return dt


# --- lab directory ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabDir:
    root: Path

    @classmethod
    def from_env(cls) -> LabDir:
        return cls(Path(os.environ.get("SPEECHOPS_LAB_DIR") or (REPO / ".lab")).expanduser().resolve())

    ca_crt = property(lambda self: self.root / "ca.crt")
    pki = property(lambda self: self.root / "pki")
    ca_key = property(lambda self: self.root / "pki" / "ca.key")
    registry_tls = property(lambda self: self.root / "registry")  # registry.crt/.key + htpasswd, mounted
    cloud_tls = property(lambda self: self.root / "labcloud")  # labcloud.crt/.key, mounted
    gateway_tls = property(lambda self: self.root / "gateway")  # EDGE.crt/.key: each edge host's speech gateway
    ssh_dir = property(lambda self: self.root / "ssh")
    ssh_key = property(lambda self: self.root / "ssh" / "id_ed25519")
    ssh_pub = property(lambda self: self.root / "ssh" / "id_ed25519.pub")
    secrets_json = property(lambda self: self.root / "pki" / "secrets.json")
    cache = property(lambda self: self.root / "cache")
    debs = property(lambda self: self.root / "cache" / "debs")
    apt_repo = property(lambda self: self.root / "cache" / "apt-repo")
    registry_data = property(lambda self: self.root / "cache" / "registry-data")
    logs = property(lambda self: self.root / "logs")
    failure = property(lambda self: self.root / "failure")
    inventory = property(lambda self: self.root / "inventory.yml")
    group_vars = property(lambda self: self.root / "group_vars" / "all")
    lab_json = property(lambda self: self.root / "lab.json")
    images_json = property(lambda self: self.root / "images.json")

    def ensure(self) -> None:
        for d in (
            self.root,
            self.pki,
            self.registry_tls,
            self.cloud_tls,
            self.gateway_tls,
            self.ssh_dir,
            self.cache,
            self.logs,
        ):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.pki, self.registry_tls, self.cloud_tls, self.gateway_tls, self.ssh_dir):
            d.chmod(0o700)
        (self.root / MARKER).touch()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One lab command at a time per lab dir (engineers share this machine)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say("another speechlab command holds %s; waiting" % (self.root / ".lock"))
                fcntl.flock(fh, fcntl.LOCK_EX)
            yield


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write atomically with the given mode (secrets never exist with a wider mode, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# --- phase 1: tools and engine ------------------------------------------------------------------------------
def ensure_tools() -> list[str]:
    missing = sorted({pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None})
    if missing:
        say("installing %s" % " ".join(missing))
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        sh(["apt-get", "update", "-qq"], env=env, timeout=600)
        sh(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env, timeout=900)
    return missing


def engine_up() -> bool:
    return sh(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=20).returncode == 0


def ensure_dockerd() -> str:
    if engine_up():
        return "running"
    say("no Docker engine answers: starting dockerd in the background (log %s)" % DOCKERD_LOG)
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    poll("dockerd (see %s)" % DOCKERD_LOG, engine_up, 60, interval=0.25)
    return "started"


# --- hashing and image helpers ------------------------------------------------------------------------------
def hash_tree(root: Path, *extra: str) -> str:
    """Content hash of a build context (paths, exec bits, bytes) plus extra strings (build args, parent ids)."""
    h = hashlib.sha256()
    for item in extra:
        h.update(b"x\0" + item.encode() + b"\0")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or path.suffix == ".pyc" or rel.parts[0] in (".pytest_cache", ".ruff_cache"):
            continue
        h.update(b"f\0" + str(rel).encode() + b"\0" + (b"x" if os.access(path, os.X_OK) else b"-"))
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:32]


def inspect_images(refs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """ref -> {"id", "labels", "repo_digests"} for the refs that exist (one docker call)."""
    refs = list(dict.fromkeys(refs))
    if not refs:
        return {}
    proc = docker("image", "inspect", *refs, check=False)
    found: dict[str, dict[str, Any]] = {}
    try:
        data = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        data = []
    by_id = {}
    for item in data:
        info = {
            "id": item["Id"],
            "labels": (item.get("Config") or {}).get("Labels") or {},
            "repo_digests": item.get("RepoDigests") or [],
            "repo_tags": item.get("RepoTags") or [],
        }
        by_id[item["Id"]] = info
        for tag in info["repo_tags"]:
            found[tag] = info
    # Refs given without a tag (or by id) are matched through RepoTags with :latest.
    for ref in refs:
        if ref not in found and (ref + ":latest") in found:
            found[ref] = found[ref + ":latest"]
    return found


def lab_image_refs() -> list[str]:
    """Every local image reference the lab made: speechops-lab/... and the registry tags of the stand-ins."""
    out = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    return [r for r in out if r.startswith((PREFIX + "/", REGISTRY + "/")) and not r.endswith(":<none>")]


def image_id(ref: str) -> str | None:
    info = inspect_images([ref]).get(ref)
    return info["id"] if info else None


# --- phase 2: base image ------------------------------------------------------------------------------------
def ensure_base(lab: LabDir, force: bool) -> str:
    cfg_path = IMAGES_SRC / "base" / "base.json"
    cfg = json.loads(cfg_path.read_text())
    cmd = [
        "mmdebstrap",
        "--variant=" + cfg.get("variant", "minbase"),
        "--format=tar",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    ]
    cmd += ["--dpkgopt=path-exclude=%s" % p for p in cfg.get("dpkg_path_exclude", [])]
    cmd += ["--dpkgopt=path-include=%s" % p for p in cfg.get("dpkg_path_include", [])]
    cmd += ["--aptopt=%s" % o for o in cfg.get("apt_options", [])]
    if cfg.get("include"):
        cmd.append("--include=" + ",".join(cfg["include"]))
    # No service starts in package scripts (policy-rc.d stays in the image, mmdebstrap must not manage it)
    # and no apt sources (image builds use the lab's flat repo).
    cmd += [
        "--skip=chroot/policy-rc.d",
        "--essential-hook=printf '#!/bin/sh\\nexit 101\\n' > \"$1/usr/sbin/policy-rc.d\"; "
        'chmod 0755 "$1/usr/sbin/policy-rc.d"',
        '--customize-hook=rm -f "$1/etc/apt/sources.list"; rm -rf "$1"/etc/apt/sources.list.d/*',
    ]
    cmd += [cfg.get("suite", "bookworm"), "-", *cfg.get("mirrors", [])]
    want = hash_tree(IMAGES_SRC / "base", json.dumps(cmd))  # the recipe is part of the image's identity
    info = inspect_images([BASE_IMAGE]).get(BASE_IMAGE)
    if info and info["labels"].get(LABEL_HASH) == want and not force:
        return "present"
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["/bin/bash"]',
        "LABEL %s=1" % LABEL,
        "LABEL %s=%s" % (LABEL_HASH, want),
    ]
    log_path = lab.logs / "base-mmdebstrap.log"
    with open(log_path, "w") as log:
        mm = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log)
        assert mm.stdout is not None
        imp = subprocess.run(
            ["docker", "import", *[a for c in changes for a in ("--change", c)], "-", BASE_IMAGE],
            stdin=mm.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        mm.stdout.close()
        rc = mm.wait()
    if rc != 0 or imp.returncode != 0:
        tail = log_path.read_text().strip().splitlines()[-10:]
        raise LabError(
            "base image build failed (mmdebstrap rc=%d, docker import rc=%d): %s\n  %s"
            % (rc, imp.returncode, imp.stderr.strip(), "\n  ".join(tail))
        )
    return "built"


# --- phase 3: flat apt repository for image builds ----------------------------------------------------------
def wanted_packages() -> list[str]:
    pkgs: set[str] = set()
    for path in sorted(IMAGES_SRC.glob("*/packages.txt")):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            pkgs.update(line.split())
    return sorted(pkgs)


def base_dpkg_status(dest: Path) -> None:
    """Copy /var/lib/dpkg/status out of the base image without running it."""
    cid = docker("create", BASE_IMAGE).stdout.strip()
    try:
        proc = subprocess.run(["docker", "cp", cid + ":/var/lib/dpkg/status", "-"], capture_output=True, check=False)
        if proc.returncode != 0:
            raise LabError("docker cp of the base image's dpkg status failed: %s" % proc.stderr.decode().strip())
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
            member = tar.extractfile("status")
            if member is None:
                raise LabError("no dpkg status in the base image")
            dest.write_bytes(member.read())
    finally:
        docker("rm", "-f", cid, check=False)


def _apt(status: Path, archives: Path, pkgs: list[str], extra: Sequence[str]) -> subprocess.CompletedProcess[str]:
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    return sh(
        [
            "apt-get",
            "install",
            "--download-only",
            "-y",
            "-q",
            "--no-install-recommends",
            "-o",
            "Dir::State::status=%s" % status,
            "-o",
            "Dir::Cache::archives=%s" % archives,
            "-o",
            "Debug::NoLocking=1",
            *extra,
            *pkgs,
        ],
        check=False,
        env={"DEBIAN_FRONTEND": "noninteractive"},
        timeout=900,
    )


def write_release(repo: Path) -> None:
    lines = ["Origin: speechops-lab", "Label: speechops-lab", "Suite: lab", "Codename: lab"]
    lines.append("Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()))
    for algo, field_name in (("md5", "MD5Sum"), ("sha256", "SHA256")):
        lines.append("%s:" % field_name)
        for name in ("Packages", "Packages.gz"):
            data = (repo / name).read_bytes()
            lines.append(" %s %d %s" % (hashlib.new(algo, data).hexdigest(), len(data), name))
    (repo / "Release").write_text("\n".join(lines) + "\n")


def ensure_apt_repo(lab: LabDir) -> tuple[Path, str]:
    """A flat repo with every package of lab/images/*/packages.txt the base image lacks (cached by key)."""
    pkgs = wanted_packages()
    base = image_id(BASE_IMAGE) or ""
    key = hashlib.sha256(json.dumps([pkgs, base]).encode()).hexdigest()
    repo = lab.apt_repo
    key_file = repo / ".key"
    if key_file.exists() and key_file.read_text() == key and (repo / "Packages").exists():
        return repo, "cached (%d packages)" % len(pkgs)
    with tempfile.TemporaryDirectory(prefix="speechlab-apt-") as tmp:
        status = Path(tmp) / "status"
        base_dpkg_status(status)
        if not list(Path("/var/lib/apt/lists").glob("*_Packages*")):
            sh(["apt-get", "update", "-qq"], timeout=600)
        names: list[str] = []
        for attempt in (1, 2):
            # --print-uris with an empty archive dir lists every .deb the set needs, then fetch into the cache.
            listing = _apt(status, Path(tmp) / "empty", pkgs, ["--print-uris", "-qq"])
            fetch = _apt(status, lab.debs, pkgs, []) if listing.returncode == 0 else listing
            if fetch.returncode == 0:
                names = [line.split()[1] for line in listing.stdout.splitlines() if line.startswith("'")]
                break
            if attempt == 2:
                raise LabError(
                    "apt-get could not resolve/download %s:\n%s"
                    % (" ".join(pkgs), (fetch.stderr or fetch.stdout)[-2000:])
                )
            sh(["apt-get", "update", "-qq"], timeout=600)  # stale lists: refresh once
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    for name in names:
        try:
            os.link(lab.debs / name, repo / name)
        except OSError:
            shutil.copy2(lab.debs / name, repo / name)
    scan = sh(["dpkg-scanpackages", "--multiversion", ".", "/dev/null"], cwd=repo)
    (repo / "Packages").write_text(scan.stdout)
    (repo / "Packages.gz").write_bytes(gzip.compress(scan.stdout.encode(), mtime=0))
    write_release(repo)
    key_file.write_text(key)
    return repo, "%d packages -> %d debs" % (len(pkgs), len(names))


def bridge_ip() -> str:
    """IPv4 address of docker0 (the default bridge the classic builder's containers use)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            res = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", b"docker0"))  # SIOCGIFADDR
            return socket.inet_ntoa(res[20:24])
    except OSError:
        out = docker("network", "inspect", "bridge", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}")
        if out.stdout.strip():
            return out.stdout.strip()
    raise LabError("cannot find the docker0 bridge address")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_repo(repo: Path) -> Iterator[str]:
    """A throwaway http.server for the flat repo, bound to docker0, alive only while images build."""
    ip = bridge_ip()
    handler = functools.partial(_QuietHandler, directory=str(repo))
    # A fixed port keeps APT_REPO (a build arg, part of the classic builder's cache key) stable across runs.
    try:
        server = http.server.ThreadingHTTPServer((ip, APT_REPO_PORT), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer((ip, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="apt-repo", daemon=True)
    thread.start()
    try:
        yield "http://%s:%d/" % (ip, server.server_port)
    finally:
        server.shutdown()
        server.server_close()


# --- phase 4: images ----------------------------------------------------------------------------------------
@dataclass
class ImageSpec:
    name: str
    ref: str
    context: Path
    dockerfile: str = "Dockerfile"
    parent: str = BASE_IMAGE
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    needs_apt: bool = True

    def want_hash(self, parent_id: str) -> str:
        args = json.dumps(sorted(self.build_args.items()))
        return hash_tree(self.context, self.dockerfile, args, parent_id)


def build_image(lab: LabDir, spec: ImageSpec, want: str, apt_repo: str | None) -> None:
    args = ["build", "-t", spec.ref, "-f", str(spec.context / spec.dockerfile)]
    args += ["--label", "%s=1" % LABEL, "--label", "%s=%s" % (LABEL_HASH, want)]
    for k, v in spec.labels.items():
        args += ["--label", "%s=%s" % (k, v)]
    build_args = {"BASE_IMAGE": spec.parent, **spec.build_args}
    if apt_repo:
        build_args["APT_REPO"] = apt_repo
    for k, v in build_args.items():
        args += ["--build-arg", "%s=%s" % (k, v)]
    args.append(str(spec.context))
    log_path = lab.logs / ("build-%s.log" % spec.name.replace("/", "_").replace(":", "_"))
    proc = docker(*args, env=BUILD_ENV, check=False, timeout=1200)
    log_path.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise LabError("building %s failed (log %s):\n  %s" % (spec.ref, log_path, "\n  ".join(tail)))


def build_all(lab: LabDir, stages: list[list[ImageSpec]], force: bool, jobs: int) -> tuple[int, int]:
    """Build the stages in order (each stage in parallel), each image only when its context hash changed.

    The flat apt repo is prepared and served only when an image that installs packages needs building.
    """
    built = skipped = 0
    server: contextlib.ExitStack | None = None
    apt_url: str | None = None
    try:
        for stage in stages:
            refs = [s.ref for s in stage] + [s.parent for s in stage]
            info = inspect_images(refs)
            todo: list[tuple[ImageSpec, str]] = []
            for spec in stage:
                parent = info.get(spec.parent)
                if parent is None:
                    raise LabError("parent image %s of %s is missing" % (spec.parent, spec.ref))
                want = spec.want_hash(parent["id"])
                have = info.get(spec.ref)
                if force or not have or have["labels"].get(LABEL_HASH) != want:
                    todo.append((spec, want))
                else:
                    skipped += 1
            if not todo:
                continue
            if any(s.needs_apt for s, _unused in todo) and apt_url is None:
                repo, note = ensure_apt_repo(lab)
                say("apt repo   %s" % note)
                server = contextlib.ExitStack()
                apt_url = server.enter_context(serve_repo(repo))
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                for fut in [pool.submit(build_image, lab, s, w, apt_url) for s, w in todo]:
                    fut.result()
            built += len(todo)
    finally:
        if server is not None:
            server.close()
    return built, skipped


def prune_dangling() -> None:
    """Old builds of our images are left dangling after a rebuild and a retag: drop them (labelled ones only)."""
    docker("image", "prune", "-f", "--filter", "label=%s=1" % LABEL, check=False)


@dataclass(frozen=True)
class LabImage:
    kind: str
    version: str
    locale: str | None
    voice: str | None
    preview: bool
    never_ready: bool = False

    @property
    def repository(self) -> str:
        return catalog.KINDS[self.kind].repository

    @property
    def tag(self) -> str:
        return catalog.build_tag(self.kind, self.version, self.locale, self.voice, self.preview)

    @property
    def local_ref(self) -> str:
        return "%s/standin/%s:%s" % (PREFIX, self.kind, self.tag)

    @property
    def ref(self) -> str:
        return "%s/%s:%s" % (REGISTRY, self.repository, self.tag)

    def as_dict(self) -> dict[str, Any]:
        spec = catalog.KINDS[self.kind]
        return {
            "kind": self.kind,
            "repository": self.repository,
            "tag": self.tag,
            "image": self.ref,
            "version": self.version,
            "locale": self.locale,
            "voice": self.voice,
            "ssml_voice": catalog.ssml_voice_name(self.locale, self.voice) if self.locale and self.voice else None,
            "preview": self.preview,
            "port": spec.port,
            "needs_model": spec.needs_model,
            "retired": spec.retired,
            "never_ready": self.never_ready,
        }


def lab_images() -> list[LabImage]:
    images: list[LabImage] = []
    unknown = sorted(set(LAB_IMAGES) - set(catalog.KINDS))
    if unknown:
        raise LabError("LAB_IMAGES names kinds the catalog does not know: %s" % ", ".join(unknown))
    for kind in catalog.KINDS:
        if kind not in LAB_IMAGES:
            warn("catalog kind %s has no stand-in images: add it to LAB_IMAGES in lab/speechlab.py" % kind)
            continue
        versions, variants, preview = LAB_IMAGES[kind]
        for version in versions:
            for locale, voice in variants:
                images.append(LabImage(kind, version, locale, voice, preview))
    for kind, locale, voice in NEVER_READY:
        preview = LAB_IMAGES[kind][2]
        images.append(LabImage(kind, NEVER_READY_VERSION, locale, voice, preview, never_ready=True))
    return images


def standin_tag_spec(img: LabImage) -> ImageSpec:
    """The per-tag stand-in image: Dockerfile.tag of lab/images/speech-standin on top of the stand-in base."""
    args = {
        "STANDIN_KIND": img.kind,
        "STANDIN_VERSION": img.version,
        "STANDIN_TAG": img.tag,
        "STANDIN_LOCALE": img.locale or "",
        "STANDIN_VOICE": img.voice or "",
        "STANDIN_WARMUP_SECONDS": "never" if img.never_ready else "",
        "STANDIN_PORT": str(catalog.KINDS[img.kind].port),
        # The voice name in Microsoft's casing, from the catalog's table (voice names are case-sensitive).
        "STANDIN_SSML_VOICE": catalog.ssml_voice_name(img.locale, img.voice) if img.locale and img.voice else "",
    }
    return ImageSpec(
        name="standin-%s-%s" % (img.kind, img.tag),
        ref=img.local_ref,
        context=IMAGES_SRC / "speech-standin",
        dockerfile="Dockerfile.tag",
        parent=STANDIN_IMAGE,
        build_args=args,
        needs_apt=False,
    )


def image_stages(images: list[LabImage]) -> list[list[ImageSpec]]:
    first = [
        ImageSpec("edge-host", EDGE_IMAGE, IMAGES_SRC / "edge-host"),
        ImageSpec("registry", REGISTRY_IMAGE, IMAGES_SRC / "registry"),
        ImageSpec("speech-standin", STANDIN_IMAGE, IMAGES_SRC / "speech-standin"),
        ImageSpec("labcloud", LABCLOUD_IMAGE, IMAGES_SRC / "labcloud"),
    ]
    for spec in first:
        if not (spec.context / spec.dockerfile).exists():
            raise LabError("%s is missing (%s)" % (spec.context / spec.dockerfile, spec.name))
    return [first, [standin_tag_spec(img) for img in images]]


# --- phase 5: secrets ---------------------------------------------------------------------------------------
def _openssl(*args: str) -> None:
    sh(["openssl", *args])


def _leaf_ok(lab: LabDir, crt: Path, ip: str) -> bool:
    if not crt.exists() or not crt.with_suffix(".key").exists():
        return False
    if sh(["openssl", "verify", "-CAfile", str(lab.ca_crt), str(crt)], check=False).returncode != 0:
        return False
    text = sh(["openssl", "x509", "-in", str(crt), "-noout", "-ext", "subjectAltName"], check=False).stdout
    return ("IP Address:%s" % ip) in text and (
        sh(["openssl", "x509", "-in", str(crt), "-noout", "-checkend", str(30 * 86400)], check=False).returncode == 0
    )


def _issue_leaf(lab: LabDir, name: str, ip: str, directory: Path, names: list[str]) -> bool:
    """directory/NAME.crt and .key, a server certificate for ip (and names) signed by the lab CA; False: kept."""
    crt, key = directory / (name + ".crt"), directory / (name + ".key")
    if _leaf_ok(lab, crt, ip):
        return False
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="speechlab-pki-") as tmp:
        csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        ext.write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=%s\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid,issuer\n" % ",".join(["IP:%s" % ip, *names])
        )
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", "/O=speechops lab/CN=%s" % ip, "-keyout", str(key), "-out", str(csr),
        )  # fmt: skip
        key.chmod(0o600)
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(lab.ca_crt), "-CAkey", str(lab.ca_key),
            "-set_serial", "0x" + secrets.token_hex(16), "-days", "825", "-sha256",
            "-extfile", str(ext), "-out", str(crt),
        )  # fmt: skip
    return True


def ensure_gateway_certs(lab: LabDir, hosts: list[Host]) -> list[str]:
    """The speech gateway's certificate of every edge host: its lab address and name (what clients dial)."""
    return [
        host.name
        for host in hosts
        if _issue_leaf(
            lab, host.name, host.ip, lab.gateway_tls, ["DNS:%s" % host.name, "DNS:%s.%s" % (host.name, PREFIX)]
        )
    ]


def ensure_secrets(lab: LabDir) -> list[str]:
    made: list[str] = []
    os.umask(0o022)
    if not lab.ca_crt.exists() or not lab.ca_key.exists():
        _openssl(
            "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-sha256",
            "-days", "3650", "-subj", "/O=speechops lab/CN=speechops lab CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "subjectKeyIdentifier=hash",
            "-keyout", str(lab.ca_key), "-out", str(lab.ca_crt),
        )  # fmt: skip
        lab.ca_key.chmod(0o600)
        lab.ca_crt.chmod(0o644)
        made.append("ca")
    for name, ip, directory in (
        ("registry", REGISTRY_IP, lab.registry_tls),
        ("labcloud", CLOUD_IP, lab.cloud_tls),
    ):
        if _issue_leaf(lab, name, ip, directory, ["DNS:%s.%s" % (name, PREFIX)]):
            shutil.copy2(lab.ca_crt, directory / "ca.crt")
            made.append(name + " cert")
    # Passwords and keys: generated once, reused.
    data = json.loads(lab.secrets_json.read_text()) if lab.secrets_json.exists() else {}
    if not data.get("registry_password") or not data.get("api_key") or not data.get("gateway_key"):
        data.setdefault("registry_password", secrets.token_urlsafe(24))
        data.setdefault("api_key", secrets.token_hex(16))  # 32 hex characters, like an Azure resource key
        data.setdefault("gateway_key", secrets.token_hex(16))  # the lab clients' access key of the speech gateway
        write_file(lab.secrets_json, json.dumps(data, indent=2) + "\n", 0o600)
        made.append("passwords")
    htpasswd = lab.registry_tls / "htpasswd"
    if not htpasswd.exists() or not _htpasswd_ok(htpasswd, data["registry_password"]):
        out = sh(["htpasswd", "-B", "-i", "-n", REGISTRY_USER], input=data["registry_password"]).stdout
        write_file(htpasswd, out.strip() + "\n", 0o600)
        made.append("htpasswd")
    if not lab.ssh_key.exists() or not lab.ssh_pub.exists():
        for p in (lab.ssh_key, lab.ssh_pub):
            p.unlink(missing_ok=True)
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "speechops-lab", "-f", str(lab.ssh_key)])
        made.append("ssh key")
    lab.ssh_key.chmod(0o600)
    return made


def _htpasswd_ok(path: Path, password: str) -> bool:
    return sh(["htpasswd", "-v", "-i", str(path), REGISTRY_USER], input=password, check=False).returncode == 0


def lab_secrets(lab: LabDir) -> dict[str, str]:
    return json.loads(lab.secrets_json.read_text())


# --- phase 6: network, registry, lab cloud ------------------------------------------------------------------
def ensure_network() -> str:
    proc = docker("network", "inspect", NETWORK, "--format", "{{json .}}", check=False)
    if proc.returncode == 0:
        net = json.loads(proc.stdout)
        subnets = [c.get("Subnet") for c in (net.get("IPAM") or {}).get("Config") or []]
        if SUBNET in subnets and net.get("Internal"):
            return "present"
        raise LabError(
            "network %s exists with another configuration (subnets %s, internal %s): run `speechlab.py down`"
            % (NETWORK, subnets, net.get("Internal"))
        )
    docker(
        "network", "create", "--driver", "bridge", "--internal", "--subnet", SUBNET, "--gateway", GATEWAY,
        "--label", "%s=1" % LABEL, NETWORK,
    )  # fmt: skip
    return "created"


def lab_containers() -> dict[str, dict[str, str]]:
    """name -> {state, hash, role} for every container carrying the lab label."""
    fmt = '{{.Names}}\t{{.State}}\t{{.Label "%s"}}\t{{.Label "%s"}}' % (LABEL_HASH, LABEL_ROLE)
    out = docker("ps", "-a", "--filter", CONTAINER_FILTER, "--format", fmt).stdout
    result = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            result[parts[0]] = {"state": parts[1], "hash": parts[2], "role": parts[3]}
    return result


def ensure_container(name: str, role: str, run_args: list[str], image: str, existing: dict[str, dict[str, str]]) -> str:
    """docker run unless a running container with the same spec (args + image id) exists."""
    want = hashlib.sha256(json.dumps([run_args, image_id(image)]).encode()).hexdigest()[:32]
    have = existing.get(name)
    if have and have["hash"] == want and have["state"] == "running":
        return "kept"
    if have:
        docker("rm", "-f", name)
    docker(
        "run", "-d", "--name", name, "--label", "%s=1" % LABEL, "--label", "%s=%s" % (LABEL_HASH, want),
        "--label", "%s=%s" % (LABEL_ROLE, role), *run_args, image,
    )  # fmt: skip
    return "started" if not have else "recreated"


def ssl_context(lab: LabDir) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lab.ca_crt))


def registry_request(
    lab: LabDir, path: str, method: str = "GET", auth: bool = True, accept: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(REGISTRY_URL + path, method=method)
    if auth:
        token = base64.b64encode(("%s:%s" % (REGISTRY_USER, lab_secrets(lab)["registry_password"])).encode())
        req.add_header("Authorization", "Basic " + token.decode())
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, context=ssl_context(lab), timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def ensure_registry(lab: LabDir, existing: dict[str, dict[str, str]]) -> str:
    lab.registry_data.mkdir(parents=True, exist_ok=True)
    run_args = [
        "--network", NETWORK, "--ip", REGISTRY_IP, "--hostname", "registry",
        "-v", "%s:/run/speechops-lab:ro" % lab.registry_tls,
        # The storage is a cache in the lab dir (kept by `down`, removed by `down --purge`): warm runs push nothing.
        "-v", "%s:/var/lib/docker-registry" % lab.registry_data,
    ]  # fmt: skip
    state = ensure_container(REGISTRY_CONTAINER, "registry", run_args, REGISTRY_IMAGE, existing)
    poll("registry %s (docker logs %s)" % (REGISTRY_URL, REGISTRY_CONTAINER),
         lambda: registry_request(lab, "/v2/", auth=False)[0] == 401, 30, 0.05)  # fmt: skip
    # The machine's own engine trusts the lab CA for pushes (removed by `down`).
    HOST_CERTS_D.mkdir(parents=True, exist_ok=True)
    if not (HOST_CERTS_D / "ca.crt").exists() or (HOST_CERTS_D / "ca.crt").read_bytes() != lab.ca_crt.read_bytes():
        shutil.copyfile(lab.ca_crt, HOST_CERTS_D / "ca.crt")
    return state


def labcloud_run_args(lab: LabDir) -> list[str]:
    # The accepted key goes in a mounted file (0600), not the environment: `docker inspect` shows no secret.
    keys = lab.cloud_tls / "api-keys"
    text = "# accepted by the lab cloud's /billing/validate\n%s\n" % lab_secrets(lab)["api_key"]
    if not keys.exists() or keys.read_text() != text:
        write_file(keys, text, 0o600)
    return [
        "--network", NETWORK, "--ip", CLOUD_IP, "--hostname", "labcloud",
        "-v", "%s:/run/speechops-lab:ro" % lab.cloud_tls,
        "-e", "LABCLOUD_API_KEYS_FILE=/run/speechops-lab/api-keys",
        "-e", "LABCLOUD_CERT=/run/speechops-lab/labcloud.crt",
        "-e", "LABCLOUD_KEY=/run/speechops-lab/labcloud.key",
        "-e", "LABCLOUD_PORT=443",
    ]  # fmt: skip


def cloud_ready(lab: LabDir) -> bool:
    try:
        with (
            socket.create_connection((CLOUD_IP, 443), timeout=1) as raw,
            ssl_context(lab).wrap_socket(raw, server_hostname=CLOUD_IP),
        ):
            return True
    except OSError:
        return False


def ensure_labcloud(lab: LabDir, existing: dict[str, dict[str, str]]) -> str:
    state = ensure_container(CLOUD_CONTAINER, "labcloud", labcloud_run_args(lab), LABCLOUD_IMAGE, existing)
    poll("lab cloud %s (docker logs %s)" % (CLOUD_URL, CLOUD_CONTAINER), lambda: cloud_ready(lab), 30, 0.05)
    return state


# --- phase 7: push the stand-ins ----------------------------------------------------------------------------
MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


def registry_digest(lab: LabDir, img: LabImage) -> str | None:
    status, headers, _unused = registry_request(
        lab, "/v2/%s/manifests/%s" % (img.repository, img.tag), method="HEAD", accept=MANIFEST_ACCEPT
    )
    if status != 200:
        return None
    return {k.lower(): v for k, v in headers.items()}.get("docker-content-digest")


def push_images(lab: LabDir, images: list[LabImage], jobs: int) -> tuple[int, int, dict[str, str]]:
    info = inspect_images([i.local_ref for i in images] + [i.ref for i in images])
    with ThreadPoolExecutor(max_workers=8) as pool:
        remote = dict(zip([i.ref for i in images], pool.map(lambda i: registry_digest(lab, i), images), strict=False))
    todo: list[LabImage] = []
    digests: dict[str, str] = {}
    retag: list[LabImage] = []
    for img in images:
        local = info.get(img.local_ref)
        if local is None:
            raise LabError("stand-in image %s is missing" % img.local_ref)
        pushed = info.get(img.ref)
        if pushed is None or pushed["id"] != local["id"]:
            retag.append(img)
            todo.append(img)
            continue
        digest = remote.get(img.ref)
        if digest and ("%s/%s@%s" % (REGISTRY, img.repository, digest)) in pushed["repo_digests"]:
            digests[img.ref] = digest
        else:
            todo.append(img)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: docker("tag", i.local_ref, i.ref), retag))
    if todo:
        with tempfile.TemporaryDirectory(prefix="speechlab-docker-config-") as cfg:
            env = {"DOCKER_CONFIG": cfg}  # credentials never reach /root/.docker/config.json
            try:
                docker(
                    "login", REGISTRY, "--username", REGISTRY_USER, "--password-stdin",
                    input=lab_secrets(lab)["registry_password"], env=env,
                )  # fmt: skip
                with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                    list(pool.map(lambda i: docker("push", "-q", i.ref, env=env, timeout=900), todo))
            finally:
                docker("logout", REGISTRY, env=env, check=False)
        with ThreadPoolExecutor(max_workers=8) as pool:
            for img, digest in zip(todo, pool.map(lambda i: registry_digest(lab, i), todo), strict=False):
                if not digest:
                    raise LabError("pushed %s but the registry does not list it" % img.ref)
                digests[img.ref] = digest
    return len(todo), len(images) - len(todo), digests


# --- phase 8: edge hosts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    group: str
    extra: tuple[str, ...] = ()

    @property
    def container(self) -> str:
        return "%s-%s" % (PREFIX, self.name)

    @property
    def volume(self) -> str:
        return "%s-%s-docker" % (PREFIX, self.name)


def wanted_hosts(lab: LabDir, count: int, failure: bool, sites: bool = False) -> list[Host]:
    if not 1 <= count <= EDGE_LAST_OCTET - EDGE_FIRST_OCTET + 1:
        raise LabError("--hosts must be between 1 and %d" % (EDGE_LAST_OCTET - EDGE_FIRST_OCTET + 1))
    hosts = [Host("edge%d" % (i + 1), "172.30.57.%d" % (EDGE_FIRST_OCTET + i), "edge") for i in range(count)]
    if failure:
        cpuinfo = fake_cpuinfo(lab)
        hosts.append(Host(FAILURE_HOSTS[0][0], FAILURE_HOSTS[0][1], "edge_failure",
                          ("-v", "%s:/proc/cpuinfo:ro" % cpuinfo)))  # fmt: skip
        hosts.append(Host(FAILURE_HOSTS[1][0], FAILURE_HOSTS[1][1], "edge_failure",
                          ("--memory", LOWMEM_LIMIT, "--memory-swap", LOWMEM_LIMIT)))  # fmt: skip
    if sites:
        hosts += [Host(name, ip, "site_caches") for name, ip in SITE_CACHE_HOSTS]
    return hosts


def fake_cpuinfo(lab: LabDir) -> Path:
    """The machine's /proc/cpuinfo without avx2 (runc allows a bind mount over /proc/cpuinfo, as for lxcfs)."""
    lines = []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags") and ":" in line:
            key, _unused, flags = line.partition(":")
            line = "%s: %s" % (key, " ".join(f for f in flags.split() if f != "avx2"))
        lines.append(line)
    path = lab.failure / "cpuinfo-noavx2"
    text = "\n".join(lines) + "\n"
    if not path.exists() or path.read_text() != text:
        write_file(path, text, 0o644)
    return path


def host_run_args(lab: LabDir, host: Host) -> list[str]:
    return [
        "--hostname", host.name, "--network", NETWORK, "--ip", host.ip,
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
        "-v", "%s:/var/lib/docker" % host.volume,
        "-v", "%s:/run/speechops-lab/authorized_keys:ro" % lab.ssh_pub,
        "-v", "%s:/usr/local/share/speechops-lab/ca.crt:ro" % lab.ca_crt,
        "--add-host", "registry.%s:%s" % (PREFIX, REGISTRY_IP),
        "--add-host", "labcloud.%s:%s" % (PREFIX, CLOUD_IP),
        *host.extra,
    ]  # fmt: skip


def ssh_banner(ip: str) -> bool:
    with socket.create_connection((ip, 22), timeout=1) as s:
        s.settimeout(1)
        return s.recv(64).startswith(b"SSH-2.0")


def start_host(lab: LabDir, host: Host, existing: dict[str, dict[str, str]], volumes: set[str]) -> str:
    if host.volume not in volumes:
        docker("volume", "create", "--label", "%s=1" % LABEL, host.volume)
    state = ensure_container(host.container, "edge-host", host_run_args(lab, host), EDGE_IMAGE, existing)
    poll(
        "%s: inner docker info (docker exec %s cat /var/log/docker.log)" % (host.name, host.container),
        lambda: docker("exec", host.container, "docker", "info", "--format", "{{.ServerVersion}}",
                       check=False, timeout=10).returncode == 0,
        90, 0.2,
    )  # fmt: skip
    poll("%s: sshd on %s:22" % (host.name, host.ip), lambda: ssh_banner(host.ip), 30, 0.1)
    return state


def ensure_hosts(lab: LabDir, hosts: list[Host], existing: dict[str, dict[str, str]]) -> str:
    wanted = {h.container for h in hosts}
    stale = sorted(n for n, c in existing.items() if c["role"] == "edge-host" and n not in wanted)
    if stale:
        docker("rm", "-f", "-v", *stale)
        docker("volume", "rm", "-f", *[name + "-docker" for name in stale], check=False)
    volumes = set(docker("volume", "ls", "-q", "--filter", "label=%s=1" % LABEL).stdout.split())
    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
        states = list(pool.map(lambda h: start_host(lab, h, existing, volumes), hosts))
    counts = {s: states.count(s) for s in sorted(set(states))}
    note = ", ".join("%d %s" % (n, s) for s, n in counts.items())
    return note + ("; removed %s" % " ".join(stale) if stale else "")


# --- phase 9: outputs ---------------------------------------------------------------------------------------
def q(value: Any) -> str:
    """A YAML scalar (JSON strings are valid YAML double-quoted scalars)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


SSH_COMMON_ARGS = (
    "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ControlMaster=auto -o ControlPersist=60s"
)


def write_outputs(lab: LabDir, hosts: list[Host], images: list[LabImage], digests: dict[str, str]) -> None:
    sec = lab_secrets(lab)
    host_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(lab.ssh_key),
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_common_args": SSH_COMMON_ARGS,
        "ansible_pipelining": True,
    }
    inv = ["# Generated by lab/speechlab.py up: do not edit.", "all:", "  vars:"]
    inv += ["    %s: %s" % (k, q(v)) for k, v in host_vars.items()]
    inv.append("  children:")
    for group in ("edge", "edge_failure", "site_caches"):
        members = [h for h in hosts if h.group == group]
        if not members:
            continue
        inv += ["    %s:" % group, "      hosts:"]
        for h in members:
            inv += ["        %s:" % h.name, "          ansible_host: %s" % q(h.ip)]
            inv.append("          speechops_lab_container: %s" % q(h.container))
            # The host's speech gateway certificate and key, on the controller (lab CA; names: address, name).
            inv.append("          speechops_lab_gateway_cert_file: %s" % q(str(lab.gateway_tls / (h.name + ".crt"))))
            inv.append("          speechops_lab_gateway_key_file: %s" % q(str(lab.gateway_tls / (h.name + ".key"))))
    write_file(lab.inventory, "\n".join(inv) + "\n", 0o644)

    public = {
        "speechops_lab_registry": REGISTRY,
        "speechops_lab_billing": CLOUD_URL,
        "speechops_lab_ca_file": str(lab.ca_crt),
        # The same CA as seen inside every edge host (mounted there), e.g. for the billing reachability preflight.
        "speechops_lab_host_ca_file": "/usr/local/share/speechops-lab/ca.crt",
        "speechops_lab_registry_username": REGISTRY_USER,
    }
    private = {
        "speechops_lab_registry_password": sec["registry_password"],
        "speechops_lab_api_key": sec["api_key"],
        "speechops_lab_gateway_key": sec["gateway_key"],
    }
    header = "# Generated by lab/speechlab.py up: do not edit.\n"
    write_file(lab.group_vars / "lab.yml", header + "".join("%s: %s\n" % (k, q(v)) for k, v in public.items()))
    write_file(
        lab.group_vars / "secrets.yml", header + "".join("%s: %s\n" % (k, q(v)) for k, v in private.items()), 0o600
    )
    image_list = [dict(i.as_dict(), digest=digests.get(i.ref)) for i in images]
    write_file(lab.images_json, json.dumps(image_list, indent=2) + "\n")
    doc = {
        "lab_dir": str(lab.root),
        "inventory": str(lab.inventory),
        "network": {"name": NETWORK, "subnet": SUBNET, "gateway": GATEWAY},
        "registry": REGISTRY,
        "registry_url": REGISTRY_URL,
        "registry_username": REGISTRY_USER,
        "registry_password": sec["registry_password"],
        "registry_container": REGISTRY_CONTAINER,
        "billing": CLOUD_URL,
        "labcloud_url": CLOUD_URL,
        "labcloud_container": CLOUD_CONTAINER,
        "api_key": sec["api_key"],
        "gateway_key": sec["gateway_key"],
        "ca_file": str(lab.ca_crt),
        "host_ca_file": "/usr/local/share/speechops-lab/ca.crt",
        "ssh_private_key_file": str(lab.ssh_key),
        "ssh_common_args": SSH_COMMON_ARGS,
        "hosts": [
            {"name": h.name, "ip": h.ip, "group": h.group, "container": h.container, "volume": h.volume} for h in hosts
        ],
        "images": image_list,
        "images_file": str(lab.images_json),
        "vars": {**public, **private},
    }
    write_file(lab.lab_json, json.dumps(doc, indent=2) + "\n", 0o600)


# --- commands -----------------------------------------------------------------------------------------------
def prepare_builds(lab: LabDir, phases: Phases, rebuild: bool) -> None:
    """What every image build needs: the tools, a Docker engine and the Debian base image."""
    with phases.phase("tools") as note:
        missing = ensure_tools()
        note.append("installed %s" % " ".join(missing) if missing else "present")
    with phases.phase("dockerd") as note:
        note.append(ensure_dockerd())
    with phases.phase("base") as note:
        note.append(ensure_base(lab, rebuild))


def cmd_up(args: argparse.Namespace) -> int:
    lab = LabDir.from_env()
    phases = Phases()
    with lab.locked():
        lab.ensure()
        prepare_builds(lab, phases, args.rebuild)
        images = lab_images()
        with phases.phase("secrets") as note:
            made = ensure_secrets(lab)
            note.append("generated " + ", ".join(made) if made else "reused")
        with phases.phase("images") as note:
            built, skipped = build_all(lab, image_stages(images), args.rebuild, args.jobs)
            note.append("%d built, %d up to date" % (built, skipped))
        with phases.phase("network") as note:
            note.append(ensure_network())
        existing = lab_containers()
        hosts = wanted_hosts(lab, args.hosts, args.failure_hosts, args.sites)
        # The fleet starts while the registry comes up and the stand-ins are pushed.
        with ThreadPoolExecutor(max_workers=1) as fleet_pool:
            t_fleet = time.monotonic()
            fleet = fleet_pool.submit(ensure_hosts, lab, hosts, existing)
            with phases.phase("registry") as note:
                note.append(ensure_registry(lab, existing))
            with phases.phase("labcloud") as note:
                note.append(ensure_labcloud(lab, existing))
            with phases.phase("push") as note:
                pushed, kept, digests = push_images(lab, images, args.jobs)
                note.append("%d pushed, %d already in the registry" % (pushed, kept))
                if built or pushed:
                    prune_dangling()
            with phases.phase("hosts") as note:
                note.append(fleet.result())
                note.append("(ready %.1f s after start)" % (time.monotonic() - t_fleet))
        with phases.phase("outputs") as note:
            issued = ensure_gateway_certs(lab, hosts)
            if issued:
                note.append("gateway certs for %s;" % ", ".join(issued))
            write_outputs(lab, hosts, images, digests)
            note.append(str(lab.root))
    total = phases.total()
    (lab.logs / "last-up.json").write_text(
        json.dumps({"phases": [{"name": n, "seconds": round(s, 2)} for n, s, _unused in phases.rows],
                    "total": round(total, 2), "hosts": args.hosts, "failure_hosts": args.failure_hosts}, indent=2)
    )  # fmt: skip
    say("lab up: %d hosts, %d images; inventory %s" % (len(hosts), len(images), lab.inventory))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab = LabDir.from_env()
    phases = Phases()
    with lab.locked():
        with phases.phase("down") as note:
            if engine_up():
                containers = docker("ps", "-aq", "--filter", CONTAINER_FILTER).stdout.split()
                if containers:
                    docker("rm", "-f", "-v", *containers)
                volumes = docker("volume", "ls", "-q", "--filter", "label=%s=1" % LABEL).stdout.split()
                if volumes:
                    docker("volume", "rm", "-f", *volumes)
                if docker("network", "inspect", NETWORK, check=False).returncode == 0:
                    rm = docker("network", "rm", NETWORK, check=False)
                    if rm.returncode != 0:
                        warn("network %s not removed: %s" % (NETWORK, rm.stderr.strip()))
                note.append("%d containers, %d volumes" % (len(containers), len(volumes)))
                if args.purge:
                    refs = lab_image_refs()
                    if refs:
                        docker("image", "rm", "-f", *refs, check=False)
                    prune_dangling()
                    note.append("%d images" % len(refs))
            else:
                note.append("(no engine answers: only files cleaned)")
            shutil.rmtree(HOST_CERTS_D, ignore_errors=True)
            for path in (lab.lab_json, lab.inventory, lab.images_json):
                path.unlink(missing_ok=True)
            shutil.rmtree(lab.root / "group_vars", ignore_errors=True)
        if args.purge and lab.root.exists():
            if (lab.root / MARKER).exists():
                shutil.rmtree(lab.root)
            else:
                warn("%s has no %s marker: not removing it" % (lab.root, MARKER))
    phases.total()
    return 0


def cmd_ee_base(args: argparse.Namespace) -> int:
    """Build only the execution environment's base image (lab/images/ee-base): no network, no containers."""
    lab = LabDir.from_env()
    phases = Phases()
    with lab.locked():
        lab.ensure()
        prepare_builds(lab, phases, False)
        with phases.phase("ee-base") as note:
            spec = ImageSpec("ee-base", EE_BASE_IMAGE, IMAGES_SRC / "ee-base")
            built, _unused = build_all(lab, [[spec]], args.rebuild, 1)
            note.append("%s %s" % (EE_BASE_IMAGE, "built" if built else "up to date"))
    phases.total()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lab = LabDir.from_env()
    result: dict[str, Any] = {"lab_dir": str(lab.root), "engine": engine_up(), "containers": [], "images": []}
    if result["engine"]:
        fmt = '{{.Names}}\t{{.State}}\t{{.Status}}\t{{.Label "%s"}}\t{{.Image}}' % LABEL_ROLE
        for line in docker("ps", "-a", "--filter", CONTAINER_FILTER, "--format", fmt).stdout.splitlines():
            name, state, status, role, image = line.split("\t")
            result["containers"].append({"name": name, "state": state, "status": status, "role": role, "image": image})
        fmt = "{{.Repository}}:{{.Tag}}\t{{.Size}}"
        mine = set(lab_image_refs())
        for line in docker("image", "ls", "--format", fmt).stdout.splitlines():
            ref, size = line.split("\t")
            if ref in mine:
                result["images"].append({"ref": ref, "size": size})
    result["registry"] = None
    registry_running = any(c["name"] == REGISTRY_CONTAINER and c["state"] == "running" for c in result["containers"])
    # Only when the registry runs: without the lab network, 172.30.57.2 is not an address of this machine.
    if registry_running and lab.secrets_json.exists() and lab.ca_crt.exists():
        try:
            code, _unused, body = registry_request(lab, "/v2/_catalog?n=1000")
            result["registry"] = json.loads(body).get("repositories", []) if code == 200 else "HTTP %d" % code
        except OSError as exc:
            result["registry"] = "unreachable (%s)" % exc
    result["lab_json"] = str(lab.lab_json) if lab.lab_json.exists() else None
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print("lab dir:   %s" % lab.root)
    print("engine:    %s" % ("running" if result["engine"] else "NOT running"))
    if not result["containers"]:
        print("lab:       down (no lab containers)")
    for c in sorted(result["containers"], key=lambda c: (c["role"], c["name"])):
        print("  %-26s %-10s %-9s %s" % (c["name"], c["role"], c["state"], c["status"]))
    print("images:    %d lab images built" % len(result["images"]))
    reg = result["registry"]
    print("registry:  %s" % (("%d repositories" % len(reg)) if isinstance(reg, list) else reg or "not running"))
    print("lab.json:  %s" % (result["lab_json"] or "absent (lab not up)"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="speechlab.py", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="bring the lab up (idempotent)")
    up.add_argument("--hosts", type=int, default=3, help="number of edge hosts edge1..edgeN (default 3)")
    up.add_argument("--failure-hosts", action="store_true", help="also start edge-noavx2 and edge-lowmem")
    up.add_argument("--sites", action="store_true", help="also start the site cache hosts cache-a and cache-b")
    up.add_argument("--rebuild", action="store_true", help="rebuild every image even when its context is unchanged")
    up.add_argument("--jobs", type=int, default=4, help="parallel image builds and pushes (default 4)")
    down = sub.add_parser("down", help="remove the lab's containers, volumes, network and host CA trust")
    down.add_argument("--purge", action="store_true", help="also remove the lab images and the lab dir")
    status = sub.add_parser("status", help="print what runs")
    status.add_argument("--json", action="store_true")
    ee_base = sub.add_parser("ee-base", help="build %s (the execution environment's base image)" % EE_BASE_IMAGE)
    ee_base.add_argument("--rebuild", action="store_true", help="rebuild it even when its context is unchanged")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("speechlab.py must run as root (docker, apt-get, /etc/docker/certs.d)", file=sys.stderr)
        return 2
    try:
        return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "ee-base": cmd_ee_base}[args.command](args)
    except LabError as exc:
        print("[speechlab] ERROR: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
