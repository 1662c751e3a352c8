"""End-to-end checks of the local edge lab: run after `python3 lab/speechlab.py up`.

What a deployment relies on: every edge host answers over SSH and runs its own Docker engine; the registry
speaks TLS from the lab CA, refuses anonymous clients and serves the stand-ins under Microsoft's repository
paths and tags; inside an edge host the stand-ins honour the run contract (Eula, ApiKey via the lab cloud,
TTS WAV, STT WebSocket, custom model downloaded once).

Reads <lab dir>/lab.json (SPEECHOPS_LAB_DIR, default <repo>/.lab). Skips the module when the lab is not up,
fails instead when SPEECHOPS_REQUIRE_LAB=1. Every wait is a poll with a deadline. Whatever the tests create
inside an edge host (containers, volumes, pulled images, CA trust, a temporary DOCKER_CONFIG) is removed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from polling import poll

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR") or REPO / ".lab").expanduser().resolve()
LAB_JSON = LAB_DIR / "lab.json"

pytestmark = pytest.mark.lab


def _lab_or_skip() -> dict[str, Any]:
    reason = None
    if not LAB_JSON.exists():
        reason = "the lab is not up (%s missing): run python3 lab/speechlab.py up" % LAB_JSON
    elif shutil.which("docker") is None:
        reason = "no docker CLI on this machine"
    else:
        lab = json.loads(LAB_JSON.read_text())
        names = [lab["registry_container"], lab["labcloud_container"]] + [h["container"] for h in lab["hosts"]]
        proc = subprocess.run(
            ["docker", "inspect", "--format", "{{.Name}} {{.State.Running}}", *names],
            capture_output=True,
            text=True,
            check=False,
        )
        down = [line.split()[0].lstrip("/") for line in proc.stdout.splitlines() if not line.endswith("true")]
        if proc.returncode != 0 or down:
            reason = "the lab is not (fully) up: %s; run python3 lab/speechlab.py up" % (
                ", ".join(down) or proc.stderr.strip()
            )
        else:
            return lab
    if os.environ.get("SPEECHOPS_REQUIRE_LAB"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)
    raise AssertionError("unreachable")


LAB = _lab_or_skip()
HOSTS = LAB["hosts"]
IMAGES = LAB["images"]
RUN_ID = secrets.token_hex(4)
TEST_LABEL = "speechops.labtest=%s" % RUN_ID
SSML = (
    '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">'
    '<voice name="{voice}">Hello from the speech ops edge lab.</voice></speak>'
)
TTS_PATH = "/speech/synthesize/cognitiveservices/v1"
STT_PATH = "/speech/recognition/conversation/cognitiveservices/v1"


def pick(kind: str, voice: str | None = None, never_ready: bool = False) -> dict:
    """The newest lab image of a kind (and voice)."""
    found = [
        img
        for img in IMAGES
        if img["kind"] == kind and img["never_ready"] == never_ready and voice in (None, img["voice"])
    ]
    assert found, "no %s image (voice %s) in the lab's images.json" % (kind, voice)
    return max(found, key=lambda img: tuple(int(p) for p in img["version"].split(".")))


TTS_IMAGE = pick("neural-text-to-speech", voice="arianeural")
STT_IMAGE = pick("speech-to-text")
CUSTOM_STT_IMAGE = pick("custom-speech-to-text")


# --- from the controller ---------------------------------------------------------------------------------
def lab_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=LAB["ca_file"])


def https(
    url: str, auth: bool = False, context: ssl.SSLContext | None = None, accept: str = ""
) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(("%s:%s" % (LAB["registry_username"], LAB["registry_password"])).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    if accept:
        req.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(req, context=context or lab_context(), timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def ssh_args(ip: str) -> list[str]:
    return [
        "ssh", "-i", LAB["ssh_private_key_file"], "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
        *LAB["ssh_common_args"].split(), "-o", "LogLevel=ERROR", "root@%s" % ip,
    ]  # fmt: skip


def ssh(ip: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ssh_args(ip), command], capture_output=True, text=True, timeout=60, check=False)


def test_every_host_answers_over_ssh() -> None:
    if shutil.which("ansible"):
        env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(
            ["ansible", "all", "-i", LAB["inventory"], "-m", "ping"],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for host in HOSTS:
            assert any(line.startswith(host["name"] + " | SUCCESS") for line in proc.stdout.splitlines()), proc.stdout
    else:
        for host in HOSTS:
            proc = ssh(host["ip"], "/usr/bin/python3 -c 'import docker; print(\"pong\")'")
            assert proc.returncode == 0 and proc.stdout.strip() == "pong", (host["name"], proc.stderr)


def test_inventory_and_group_vars_match_lab_json() -> None:
    inventory = Path(LAB["inventory"]).read_text()
    for host in HOSTS:
        assert '        %s:\n          ansible_host: "%s"' % (host["name"], host["ip"]) in inventory
    assert 'ansible_python_interpreter: "/usr/bin/python3"' in inventory
    assert "ansible_pipelining: true" in inventory
    assert Path(LAB["ssh_private_key_file"]).stat().st_mode & 0o777 == 0o600
    for name in ("secrets.yml",):
        assert (LAB_DIR / "group_vars" / "all" / name).stat().st_mode & 0o777 == 0o600
    assert LAB_JSON.stat().st_mode & 0o777 == 0o600
    lab_yml = (LAB_DIR / "group_vars" / "all" / "lab.yml").read_text()
    assert 'speechops_lab_registry: "%s"' % LAB["registry"] in lab_yml
    assert LAB["registry_password"] not in lab_yml and LAB["api_key"] not in lab_yml


@pytest.mark.parametrize("host", HOSTS, ids=[h["name"] for h in HOSTS])
def test_every_host_runs_its_own_engine(host: dict) -> None:
    outer = subprocess.run(
        ["docker", "info", "--format", "{{.ID}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    proc = ssh(host["ip"], "docker info --format '{{.Name}} {{.ID}} {{.Driver}}'")
    assert proc.returncode == 0, proc.stderr
    name, engine_id, driver = proc.stdout.split()
    assert name == host["name"]
    assert engine_id != outer
    assert driver == "overlay2"


def test_failure_hosts_look_as_advertised() -> None:
    by_name = {h["name"]: h for h in HOSTS}
    if "edge-noavx2" not in by_name:
        pytest.skip("no failure hosts: python3 lab/speechlab.py up --failure-hosts")
    flags = ssh(by_name["edge-noavx2"]["ip"], "grep -m1 '^flags' /proc/cpuinfo")
    assert flags.returncode == 0 and "avx2" not in flags.stdout.split()
    limit = ssh(
        by_name["edge-lowmem"]["ip"],
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max",
    )
    assert int(limit.stdout.strip()) == 3 * 1024**3


def test_registry_refuses_anonymous_clients_over_verified_tls() -> None:
    status, headers, _unused = https(LAB["registry_url"] + "/v2/")
    assert status == 401
    assert headers.get("www-authenticate", "").lower().startswith("basic")
    # The certificate really is the lab CA's: without it, verification fails.
    with pytest.raises(urllib.error.URLError) as err:
        https(LAB["registry_url"] + "/v2/", context=ssl.create_default_context())
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)
    status, _unused, _unused = https(LAB["registry_url"] + "/v2/_catalog")
    assert status == 401


def test_registry_serves_every_stand_in_with_the_lab_credentials() -> None:
    status, _unused, body = https(LAB["registry_url"] + "/v2/_catalog?n=1000", auth=True)
    assert status == 200
    repositories = set(json.loads(body)["repositories"])
    expected: dict[str, set[str]] = {}
    for img in IMAGES:
        expected.setdefault(img["repository"], set()).add(img["tag"])
    assert set(expected) <= repositories
    assert all(r.startswith("azure-cognitive-services/speechservices/") for r in expected)
    for repository, tags in expected.items():
        status, _unused, body = https("%s/v2/%s/tags/list" % (LAB["registry_url"], repository), auth=True)
        assert status == 200
        assert tags <= set(json.loads(body)["tags"] or []), repository
    # At least two versions of every kind (upgrades), and a never-ready 9.9.9 for the rollback tests. Fast
    # transcription is the exception: Microsoft lists one version of it (1.0.0 preview, speech-container-ft.md).
    versions: dict[str, set[str]] = {}
    for img in IMAGES:
        if not img["never_ready"]:
            versions.setdefault(img["kind"], set()).add(img["version"])
    assert versions.pop("fast-transcription") == {"1.0.0"}
    assert all(len(v) >= 2 for v in versions.values()), versions
    never = {img["kind"] for img in IMAGES if img["never_ready"]}
    assert {"speech-to-text", "neural-text-to-speech", "custom-speech-to-text"} <= never


def test_never_ready_images_bake_warmup_never() -> None:
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    for img in (i for i in IMAGES if i["never_ready"]):
        url = "%s/v2/%s" % (LAB["registry_url"], img["repository"])
        status, _unused, manifest = https("%s/manifests/%s" % (url, img["tag"]), auth=True, accept=accept)
        assert status == 200
        config_digest = json.loads(manifest)["config"]["digest"]
        status, _unused, config = https("%s/blobs/%s" % (url, config_digest), auth=True)
        assert status == 200
        assert "STANDIN_WARMUP_SECONDS=never" in json.loads(config)["config"]["Env"], img["image"]


# --- inside an edge host -------------------------------------------------------------------------------------
HTTP_SNIPPET = r"""
import base64, json, sys, urllib.error, urllib.request
req = json.loads(sys.stdin.read())
data = base64.b64decode(req["body"]) if req.get("body") is not None else None
r = urllib.request.Request(req["url"], data=data, method=req["method"], headers=req.get("headers") or {})
try:
    with urllib.request.urlopen(r, timeout=10) as resp:
        status, body = resp.status, resp.read()
except urllib.error.HTTPError as exc:
    status, body = exc.code, exc.read()
except OSError as exc:
    status, body = 0, repr(exc).encode()
print(json.dumps({"status": status, "body": base64.b64encode(body).decode()}))
"""

# A minimal Speech SDK style WebSocket client: speech.config, one audio message (a WAV of silence), the
# end-of-audio marker; prints the paths and bodies of what the service answers until turn.end.
WS_SNIPPET = r"""
import base64, io, json, os, socket, struct, sys, uuid, wave
port, path = int(sys.argv[1]), sys.argv[2]
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
head = b""
while b"\r\n\r\n" not in head:
    chunk = sock.recv(1)
    if not chunk:
        break
    head += chunk
status_line = head.split(b"\r\n", 1)[0].decode()
headers = dict(l.split(": ", 1) for l in head.decode().split("\r\n")[1:] if ": " in l)
out = {"status_line": status_line, "accept": headers.get("Sec-WebSocket-Accept"), "key": key, "messages": []}
if " 101 " not in status_line:
    print(json.dumps(out)); sys.exit(0)

def send(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

def recv_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf

def recv():
    b1, b2 = recv_exact(2)
    n = b2 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(8))[0]
    return b1 & 0x0F, recv_exact(n)

rid = uuid.uuid4().hex.upper()
send(1, ("Path: speech.config\r\nX-RequestId: %s\r\nContent-Type: application/json\r\n\r\n{}" % rid).encode())
wav = io.BytesIO()
with wave.open(wav, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(b"\0\0" * 16000)
for audio in (wav.getvalue(), b""):
    h = ("Path: audio\r\nX-RequestId: %s\r\nContent-Type: audio/x-wav\r\n" % rid).encode()
    send(2, struct.pack("!H", len(h)) + h + audio)
try:
    while True:
        opcode, payload = recv()
        if opcode == 8:
            break
        if opcode == 1:
            text = payload.decode()
            hdrs, _, body = text.partition("\r\n\r\n")
            p = [l.split(":", 1)[1].strip() for l in hdrs.split("\r\n") if l.lower().startswith("path:")]
            out["messages"].append({"path": p[0] if p else None, "body": json.loads(body or "null")})
            if p and p[0] == "turn.end":
                send(8, struct.pack("!H", 1000))
                break
except (EOFError, OSError) as exc:
    out["error"] = repr(exc)
print(json.dumps(out))
"""


@dataclass
class EdgeHost:
    name: str
    ip: str
    container: str
    docker_config: str
    pulled: list[str] = field(default_factory=list)
    ports: Iterator[int] = field(default_factory=lambda: iter(range(15100, 15200)))

    def sh(self, script: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "exec", "-i", "-e", "DOCKER_CONFIG=" + self.docker_config, self.container, "sh", "-c", script],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def py(self, code: str, *args: str, stdin: str | None = None, timeout: float = 60) -> Any:
        proc = subprocess.run(
            ["docker", "exec", "-i", self.container, "python3", "-c", code, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def http(self, method: str, port: int, path: str, headers: dict | None = None, body: bytes | None = None):
        req = {"method": method, "url": "http://127.0.0.1:%d%s" % (port, path), "headers": headers or {}}
        req["body"] = base64.b64encode(body).decode() if body is not None else None
        res = self.py(HTTP_SNIPPET, stdin=json.dumps(req))
        return res["status"], base64.b64decode(res["body"])

    def run(self, image: str, args: list[str], docker_opts: tuple[str, ...] = (), detach: bool = True):
        name = "labtest-%s-%d" % (RUN_ID, secrets.randbelow(10**6))
        # --pull never: only the images the fixture pulled (and removes again) are used.
        cmd = ["docker", "run", "--pull", "never", "--name", name, "--label", TEST_LABEL, *docker_opts]
        if detach:
            cmd.append("-d")
        proc = self.sh(" ".join(_q(c) for c in [*cmd, image, *args]))
        return name, proc

    def logs(self, name: str) -> str:
        proc = self.sh("docker logs %s 2>&1" % _q(name))
        return proc.stdout

    def status_json(self, port: int) -> dict | None:
        status, body = self.http("GET", port, "/status")
        return json.loads(body) if status == 200 else None

    def wait_ready(self, port: int, name: str, deadline_s: float = 60) -> None:
        poll(
            lambda: self.http("GET", port, "/ready")[0] == 200,
            deadline_s,
            lambda: "%s: /ready on 127.0.0.1:%d of %s (logs: %s)" % (self.name, port, name, self.logs(name)[-800:]),
        )

    def start(self, image: dict, args: list[str], extra: tuple[str, ...] = ()) -> tuple[str, int]:
        port = next(self.ports)
        name, proc = self.run(image["image"], args, ("-p", "127.0.0.1:%d:%d" % (port, image["port"]), *extra))
        assert proc.returncode == 0, proc.stderr
        return name, port


def _q(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"


@pytest.fixture(scope="module")
def edge() -> Iterator[EdgeHost]:
    """edge1 with the lab CA trusted, logged in (temporary DOCKER_CONFIG) and the needed stand-ins pulled."""
    edge_hosts = [h for h in HOSTS if h["group"] == "edge"]
    host = edge_hosts[0]
    certs_d = "/etc/docker/certs.d/%s" % LAB["registry"]
    e = EdgeHost(host["name"], host["ip"], host["container"], "/tmp/speechops-labtest-%s" % RUN_ID)
    had_ca = e.sh("test -e %s/ca.crt" % certs_d).returncode == 0
    needed = [TTS_IMAGE["image"], STT_IMAGE["image"], CUSTOM_STT_IMAGE["image"]]
    present = {img for img in needed if e.sh("docker image inspect %s >/dev/null 2>&1" % _q(img)).returncode == 0}
    try:
        proc = e.sh("mkdir -p %s && cp %s %s/ca.crt" % (_q(certs_d), LAB["host_ca_file"], _q(certs_d)))
        assert proc.returncode == 0, proc.stderr
        proc = e.sh(
            'mkdir -p -m 0700 "$DOCKER_CONFIG" && docker login %s -u %s --password-stdin'
            % (LAB["registry"], LAB["registry_username"]),
            stdin=LAB["registry_password"],
        )
        assert proc.returncode == 0, proc.stderr
        for img in needed:
            proc = e.sh("docker pull -q %s" % _q(img))
            assert proc.returncode == 0, proc.stderr
            if img not in present:
                e.pulled.append(img)
        yield e
    finally:
        e.sh(
            "docker ps -aq --filter label=%s | xargs -r docker rm -f >/dev/null; "
            "docker volume ls -q --filter label=%s | xargs -r docker volume rm -f >/dev/null; "
            'docker logout %s >/dev/null 2>&1; rm -rf "$DOCKER_CONFIG"' % (TEST_LABEL, TEST_LABEL, LAB["registry"])
        )
        if e.pulled:
            e.sh("docker image rm -f %s >/dev/null" % " ".join(_q(i) for i in e.pulled))
        if not had_ca:
            e.sh("rm -f %s/ca.crt && rmdir %s 2>/dev/null; true" % (_q(certs_d), _q(certs_d)))


def test_pull_without_credentials_is_refused(edge: EdgeHost) -> None:
    img = pick("language-detection")["image"]
    proc = edge.sh(
        'export DOCKER_CONFIG="$(mktemp -d)"; docker pull %s; rc=$?; rm -rf "$DOCKER_CONFIG"; exit $rc' % _q(img)
    )
    assert proc.returncode != 0
    assert "no basic auth credentials" in proc.stderr or "unauthorized" in proc.stderr.lower(), proc.stderr


def test_standin_without_eula_exits_nonzero_with_the_reason(edge: EdgeHost) -> None:
    img = TTS_IMAGE
    name, proc = edge.run(img["image"], ["Billing=%s" % LAB["billing"], "ApiKey=%s" % LAB["api_key"]], detach=False)
    assert proc.returncode != 0
    assert "eula" in edge.logs(name).lower()


def test_wrong_api_key_reports_invalid(edge: EdgeHost) -> None:
    img = TTS_IMAGE
    name, port = edge.start(img, ["Eula=accept", "Billing=%s" % LAB["billing"], "ApiKey=%s" % ("0" * 32)])
    status = poll(
        lambda: (edge.status_json(port) or {}).get("apiStatus") not in (None, "Unknown") and edge.status_json(port),
        60,
        "/status of a container with a wrong ApiKey",
    )
    assert status["apiStatus"] == "Invalid", status
    assert LAB["api_key"] not in edge.logs(name)


def test_tts_answers_a_valid_wav(edge: EdgeHost) -> None:
    img = TTS_IMAGE
    name, port = edge.start(img, ["Eula=accept", "Billing=%s" % LAB["billing"], "ApiKey=%s" % LAB["api_key"]])
    edge.wait_ready(port, name)
    assert poll(lambda: (edge.status_json(port) or {}).get("apiStatus") == "Valid", 60, "apiStatus Valid")
    headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "riff-16khz-16bit-mono-pcm"}
    status, body = edge.http("POST", port, TTS_PATH, headers, SSML.format(voice=img["ssml_voice"]).encode())
    assert status == 200, body[:300]
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    with wave.open(io.BytesIO(body)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() > 1600  # more than 0.1 s of audio
    status, body = edge.http("POST", port, TTS_PATH, headers, SSML.format(voice="en-US-GuyNeural").encode())
    assert status == 400 and b"Voice doesn't match" in body


def test_stt_answers_over_websocket(edge: EdgeHost) -> None:
    img = STT_IMAGE
    name, port = edge.start(img, ["Eula=accept", "Billing=%s" % LAB["billing"], "ApiKey=%s" % LAB["api_key"]])
    edge.wait_ready(port, name)
    status, _unused = edge.http("POST", port, STT_PATH, {"Content-Type": "audio/wav"}, b"RIFF")
    assert status == 404  # speech-to-text is WebSocket only
    out = edge.py(WS_SNIPPET, str(port), STT_PATH + "?language=en-US", timeout=60)
    assert " 101 " in out["status_line"], out
    # RFC 6455 section 1.3: the accept value is SHA-1 of the key and the RFC's GUID.
    rfc_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert out["accept"] == base64.b64encode(hashlib.sha1((out["key"] + rfc_guid).encode()).digest()).decode()
    paths = [m["path"] for m in out["messages"]]
    assert paths[0] == "turn.start" and paths[-1] == "turn.end", out
    phrase = next(m["body"] for m in out["messages"] if m["path"] == "speech.phrase")
    # One second of silence: never "Success" (EnumTranslation.ts maps both of these to NoMatch).
    assert phrase["RecognitionStatus"] in ("InitialSilenceTimeout", "NoMatch"), phrase


def test_custom_model_is_downloaded_once_and_reused(edge: EdgeHost) -> None:
    img = CUSTOM_STT_IMAGE
    model_id = "labtest-%s" % RUN_ID
    volume = "labtest-models-%s" % RUN_ID
    proc = edge.sh("docker volume create --label %s %s" % (TEST_LABEL, volume))
    assert proc.returncode == 0, proc.stderr
    args = ["Eula=accept", "Billing=%s" % LAB["billing"], "ApiKey=%s" % LAB["api_key"], "ModelId=%s" % model_id]

    def downloads() -> int:
        status, _unused, body = https(LAB["labcloud_url"] + "/stats")
        assert status == 200
        return json.loads(body).get("modelDownloads", {}).get(model_id, 0)

    assert downloads() == 0
    for _unused in range(2):
        name, port = edge.start(img, args, ("-v", "%s:/usr/local/models" % volume))
        edge.wait_ready(port, name)
        assert downloads() == 1
        proc = edge.sh("docker rm -f %s" % _q(name))
        assert proc.returncode == 0, proc.stderr
