"""Local checks of the speech stand-in and the lab cloud: both run as plain processes on 127.0.0.1.

No Docker needed. Every wait is a deadline poll on an observable (a log line, an HTTP answer, an exit),
never a sleep used as synchronisation. Ports come from the services themselves (port 0, then the
"Listening on" log line), so nothing races for a free port.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from polling import poll

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "lab" / "images" / "speech-standin" / "standin.py"
LABCLOUD = ROOT / "lab" / "images" / "labcloud" / "labcloud.py"
LISTENING_RE = re.compile(r"Listening on https?://[^\s:]+:(\d+)")

# Canaries: none of these may ever show up in a log.
API_KEY = "canary-apikey-" + secrets.token_hex(8)
PROXY_PASSWORD = "canary-proxy-" + secrets.token_hex(8)
INSIGHTS_KEY = "canary-insights-" + secrets.token_hex(8)
CANARIES = (API_KEY, PROXY_PASSWORD, INSIGHTS_KEY)

TTS_PATH = "/speech/synthesize/cognitiveservices/v1"
STT_PATH = "/speech/recognition/conversation/cognitiveservices/v1"
SSML = (
    '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">'
    '<voice name="{voice}">Hello from the speech ops edge lab. This is a test.</voice></speak>'
)
HAVE_AUDIO_TOOLS = bool(shutil.which("espeak-ng") and shutil.which("sox"))
# The stand-in image runs Debian's python3 with python3-pocketsphinx; locally the same interpreter is used.
DEBIAN_PYTHON = "/usr/bin/python3"
HAVE_RECOGNIZER = (
    os.path.exists(DEBIAN_PYTHON)
    and subprocess.run([DEBIAN_PYTHON, "-c", "import pocketsphinx"], capture_output=True, check=False).returncode == 0
)
needs_recognizer = pytest.mark.skipif(not HAVE_RECOGNIZER, reason="Debian's python3-pocketsphinx is not installed")
# Human speech with its transcript, from Debian's pocketsphinx-testdata (CMU's recording, not ours).
GOFORWARD_RAW = Path("/usr/share/pocketsphinx/test/data/goforward.raw")
GOFORWARD_WORDS = "go forward ten meters"
STARTUP_TIMEOUT = 10.0
# RFC 6455 section 1.3: the GUID and the worked example (key "dGhlIHNhbXBsZSBub25jZQ==").
RFC6455_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC6455_EXAMPLE = ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


def free_closed_port() -> int:
    """A port nothing listens on (for CouldNotConnect)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proc:
    """A service process with its stdout/stderr in files, so tests can poll its log lines."""

    def __init__(self, cmd: list[str], env: dict[str, str], workdir: Path, user: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._out_path = workdir / "stdout.log"
        self._err_path = workdir / "stderr.log"
        self._terminated = False
        with open(self._out_path, "wb") as out, open(self._err_path, "wb") as err:
            self.popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=workdir, user=user)

    @property
    def stdout(self) -> str:
        return self._out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self._err_path.read_text(errors="replace")

    def describe(self) -> str:
        return "stdout:\n%s\nstderr:\n%s" % (self.stdout, self.stderr)

    def wait_listening(self) -> int:
        def port() -> int | None:
            match = LISTENING_RE.search(self.stdout)
            if match:
                return int(match.group(1))
            if self.popen.poll() is not None:
                pytest.fail("exited with %s before listening\n%s" % (self.popen.returncode, self.describe()))
            return None

        return poll(port, STARTUP_TIMEOUT, "the Listening line", interval=0.02)

    def wait_exit(self, timeout: float = STARTUP_TIMEOUT) -> int:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail("still running after %.1f s\n%s" % (timeout, self.describe()))

    def terminate(self) -> None:
        """One SIGTERM, like `docker stop`."""
        if not self._terminated and self.popen.poll() is None:
            self._terminated = True
            self.popen.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        """SIGTERM must end the service within 1 s with exit code 0."""
        if self.popen.returncode is None:
            self.terminate()
            try:
                self.popen.wait(1.0)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
                pytest.fail("no exit within 1 s of SIGTERM\n%s" % self.describe())
        return self.popen.returncode

    def assert_no_secrets(self) -> None:
        text = self.stdout + self.stderr
        for canary in CANARIES:
            assert canary not in text, "a secret leaked into the log\n%s" % self.describe()


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str) -> Any:
    status, _unused, body = http("GET", url)
    assert status == 200, (status, body)
    return json.loads(body)


def load_module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class body runs
    spec.loader.exec_module(module)
    return module


def clean_env(**extra: str) -> dict[str, str]:
    """No ambient proxy or ASP.NET-style settings leak into the services under test."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------------
# Fixtures


class Services:
    """Starts stand-ins and lab clouds; stops every one at teardown and checks their logs for secrets."""

    def __init__(self, tmp: Path, builtin_models: Path) -> None:
        self._tmp = tmp
        self._builtin_models = builtin_models
        self._procs: list[Proc] = []

    def _workdir(self, name: str) -> Path:
        return self._tmp / ("%s-%d" % (name, len(self._procs)))

    def labcloud(self, **env: str) -> tuple[Proc, str]:
        proc = Proc(
            [sys.executable, str(LABCLOUD)],
            clean_env(LABCLOUD_PORT="0", LABCLOUD_HOST="127.0.0.1", LABCLOUD_API_KEYS=API_KEY, **env),
            self._workdir("labcloud"),
        )
        self._procs.append(proc)
        scheme = "https" if "LABCLOUD_CERT" in env else "http"
        return proc, "%s://127.0.0.1:%d" % (scheme, proc.wait_listening())

    def standin(
        self,
        args: list[str],
        kind: str = "neural-text-to-speech",
        python: str = DEBIAN_PYTHON if HAVE_RECOGNIZER else sys.executable,
        user: int | None = None,
        **env: str,
    ) -> Proc:
        """Start a stand-in without waiting for it (use wait_listening or wait_exit)."""
        base = {
            "SPEECH_KIND": kind,
            "SPEECH_VERSION": "4.1.0",
            "SPEECH_LOCALE": "en-us",
            "SPEECH_VOICE": "arianeural" if "text-to-speech" in kind and not kind.startswith("custom") else "",
            "SPEECH_SSML_VOICE": "en-US-AriaNeural"
            if "text-to-speech" in kind and not kind.startswith("custom")
            else "",
            "STANDIN_HOST": "127.0.0.1",
            "STANDIN_PORT": "0",
            "STANDIN_WARMUP_SECONDS": "0",
            "STANDIN_MODELS_DIR": str(self._builtin_models),
        }
        base.update(env)
        proc = Proc([python, str(STANDIN), *args], clean_env(**base), self._workdir("standin"), user=user)
        self._procs.append(proc)
        return proc

    def running_standin(self, args: list[str], **kwargs: Any) -> tuple[Proc, str]:
        proc = self.standin(args, **kwargs)
        return proc, "http://127.0.0.1:%d" % proc.wait_listening()

    def stop_all(self) -> None:
        running = [proc for proc in self._procs if proc.popen.poll() is None]
        for proc in running:  # signal all first: they shut down in parallel
            proc.terminate()
        for proc in running:
            assert proc.stop() == 0, proc.describe()
        for proc in self._procs:
            proc.assert_no_secrets()


def required(cloud: str) -> list[str]:
    return ["Eula=accept", "Billing=" + cloud, "ApiKey=" + API_KEY]


def make_builtin_models(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "properties.json").write_text(json.dumps({"modelId": "builtin"}))
    return path


@pytest.fixture(scope="module")
def module_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    tmp = tmp_path_factory.mktemp("module-services")
    services = Services(tmp, make_builtin_models(tmp / "builtin-models"))
    yield services
    services.stop_all()


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = Services(tmp_path, make_builtin_models(tmp_path / "builtin-models"))
    yield services
    services.stop_all()


@pytest.fixture(scope="module")
def cloud(module_services: Services) -> str:
    return module_services.labcloud()[1]


@pytest.fixture(scope="module")
def tts(module_services: Services, cloud: str) -> str:
    return module_services.running_standin(required(cloud))[1]


@pytest.fixture(scope="module")
def stt(module_services: Services, cloud: str) -> str:
    return module_services.running_standin(required(cloud), kind="speech-to-text")[1]


# --------------------------------------------------------------------------------------------------
# A minimal WebSocket client (RFC 6455, client side)


class WsClient:
    def __init__(self, sock: socket.socket, leftover: bytes) -> None:
        self._sock = sock
        self._buffer = leftover

    @classmethod
    def handshake(cls, base_url: str, path: str) -> tuple[int, WsClient | None]:
        port = int(base_url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (
            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)
        )
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        head, _unused, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            sock.close()
            return status, None
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        expected = hashlib.sha1((key + RFC6455_GUID).encode()).digest()
        assert headers["Sec-WebSocket-Accept"] == base64.b64encode(expected).decode()
        return status, cls(sock, rest)

    def send(self, opcode: int, payload: bytes) -> None:
        mask = secrets.token_bytes(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self._sock.sendall(header + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def recv(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def recv_sdk_message(self) -> tuple[dict[str, str], str]:
        opcode, payload = self.recv()
        assert opcode == 0x1, (opcode, payload)
        head, _unused, body = payload.decode().partition("\r\n\r\n")
        # "Name:value" or "Name: value": the SDKs parse both (the Python SDK itself writes no space).
        headers = {
            name.strip(): value.strip() for name, _sep, value in (line.partition(":") for line in head.split("\r\n"))
        }
        return headers, body

    def close(self) -> None:
        self.send(0x8, struct.pack("!H", 1000))
        self._sock.close()


def sdk_binary(headers: str, audio: bytes) -> bytes:
    encoded = headers.encode()
    return struct.pack("!H", len(encoded)) + encoded + audio


# --------------------------------------------------------------------------------------------------
# Arguments and settings


def test_missing_required_setting_exits_with_reason(services: Services) -> None:
    args = required("http://127.0.0.1:9")
    cases = {
        "Eula not accepted: pass Eula=accept": args[1:],
        "Eula not accepted": [*args[1:], "Eula=decline"],
        "Billing": [args[0], args[2]],
        "ApiKey": args[:2],
    }
    procs = {reason: services.standin(case_args) for reason, case_args in cases.items()}  # started in parallel
    for reason, proc in procs.items():
        assert proc.wait_exit() != 0, reason
        assert reason in proc.stderr, proc.describe()


def test_keys_are_case_insensitive(services: Services, cloud: str) -> None:
    _unused, url = services.running_standin(["eula=accept", "billing=" + cloud, "apikey=" + API_KEY])
    assert get_json(url + "/status")["apiStatus"] == "Valid"


def test_env_settings_accepted_and_args_win(services: Services, cloud: str) -> None:
    # ASP.NET style: settings from the environment; the argument's ApiKey overrides the env's wrong one.
    env = {"Eula": "accept", "BILLING": cloud, "ApiKey": "canary-apikey-wrong-" + API_KEY}
    _unused, url = services.running_standin(["ApiKey=" + API_KEY], **env)
    assert get_json(url + "/status")["apiStatus"] == "Valid"


def test_unknown_setting_warns_and_continues(services: Services, cloud: str) -> None:
    proc, _unused = services.running_standin([*required(cloud), "Frobnicate=" + API_KEY])
    assert "Frobnicate" in proc.stderr


def test_disk_logging_without_output_mount_fails(services: Services, cloud: str) -> None:
    proc = services.standin([*required(cloud), "Logging:Disk:Format=json"])
    assert proc.wait_exit() != 0
    assert "Mounts:Output" in proc.stderr


def test_disk_logging_writes_json_lines(services: Services, cloud: str, tmp_path: Path) -> None:
    output = tmp_path / "output"
    services.running_standin([*required(cloud), "Logging:Disk:Format=json", "Mounts:Output=" + str(output)])
    logs = list((output / "logs").glob("*.json"))
    assert len(logs) == 1
    entries = [json.loads(line) for line in logs[0].read_text().splitlines()]
    assert any("Starting speech container stand-in" in entry["message"] for entry in entries)


def test_secrets_never_logged(services: Services, cloud: str) -> None:
    # Request logs on (Trace), a proxy with credentials, the key in an unknown setting and in a failure.
    args = [
        "Eula=accept",
        "Billing=" + cloud,
        "ApiKey=" + API_KEY,
        "HTTP_PROXY=http://127.0.0.1:%d" % free_closed_port(),
        "HTTP_PROXY_CREDS=proxyuser:" + PROXY_PASSWORD,
        "ApplicationInsights:InstrumentationKey=" + INSIGHTS_KEY,
        "Logging:Console:LogLevel:Default=Trace",
        "NotASetting=" + API_KEY,
        API_KEY,
    ]
    proc, url = services.running_standin(args)
    status = get_json(url + "/status")
    assert status["apiStatus"] == "CouldNotConnect"  # the billing endpoint is up: the (dead) proxy was used
    assert "ApiKey=***" in proc.stdout
    assert proc.stop() == 0
    proc.assert_no_secrets()
    failed = services.standin(["ApiKey=" + API_KEY, "Billing=http://127.0.0.1:9"])
    assert failed.wait_exit() != 0
    failed.assert_no_secrets()


# --------------------------------------------------------------------------------------------------
# Models


def test_standard_image_without_builtin_model_fails(services: Services, cloud: str, tmp_path: Path) -> None:
    empty = tmp_path / "shadowing-volume"
    empty.mkdir()
    proc = services.standin(required(cloud), STANDIN_MODELS_DIR=str(empty))
    assert proc.wait_exit() != 0
    assert "Model configuration %s not found" % (empty / "properties.json") in proc.stderr


def test_custom_model_downloaded_once_then_reused(services: Services, tmp_path: Path) -> None:
    _unused, cloud_url = services.labcloud()
    model_id = "model-" + secrets.token_hex(4)
    models = tmp_path / "models"
    models.mkdir()
    args = [*required(cloud_url), "ModelId=" + model_id]
    first, _unused = services.running_standin(args, kind="custom-speech-to-text", STANDIN_MODELS_DIR=str(models))
    assert "Downloading model %s" % model_id in first.stdout
    properties = json.loads((models / "properties.json").read_text())
    assert properties["modelId"] == model_id and properties["downloadedAt"]
    assert first.stop() == 0

    second, _unused = services.running_standin(args, kind="custom-speech-to-text", STANDIN_MODELS_DIR=str(models))
    assert "Using existing model %s, ModelId ignored" % model_id in second.stdout
    assert "Downloading model" not in second.stdout
    assert get_json(cloud_url + "/stats")["modelDownloads"] == {model_id: 1}


def test_custom_model_needs_model_id(services: Services, cloud: str, tmp_path: Path) -> None:
    proc = services.standin(required(cloud), kind="custom-speech-to-text", STANDIN_MODELS_DIR=str(tmp_path))
    assert proc.wait_exit() != 0
    assert "ModelId" in proc.stderr


def test_custom_models_dir_not_writable(services: Services, cloud: str) -> None:
    # The real process is non-root. As root here, run the stand-in as nobody against a root-owned
    # directory it can read but not write (pytest's tmp_path sits below a 0700 directory, so not there).
    user = None
    python = sys.executable
    if os.geteuid() == 0:
        python = "/usr/bin/python3"  # the pyenv interpreter below /root is out of nobody's reach
        if not os.access(python, os.X_OK):
            pytest.skip("no system python3 the unprivileged user can run")
        user = 65534
    base = Path(tempfile.mkdtemp(prefix="standin-perm-"))
    try:
        base.chmod(0o755)
        models = base / "models"
        models.mkdir(mode=0o755)
        if user is None:
            models.chmod(0o555)
        proc = services.standin(
            [*required(cloud), "ModelId=m1"],
            kind="custom-speech-to-text",
            python=python,
            user=user,
            STANDIN_MODELS_DIR=str(models),
        )
        assert proc.wait_exit() != 0, proc.describe()
        assert "permission denied" in proc.stderr and str(models) in proc.stderr, proc.describe()
        assert "Traceback" not in proc.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Readiness and status


def test_ready_503_during_warmup_then_200(services: Services, cloud: str) -> None:
    _unused, url = services.running_standin(
        required(cloud), STANDIN_WARMUP_SECONDS="2"
    )  # margin for a loaded CI machine
    assert http("GET", url + "/ready")[0] == 503
    ssml = SSML.format(voice="en-US-AriaNeural").encode()
    assert http("POST", url + TTS_PATH, ssml, {"Content-Type": "application/ssml+xml"})[0] == 503
    poll(lambda: http("GET", url + "/ready")[0] == 200, 10, "/ready to turn 200", interval=0.02)


def test_ready_never(services: Services, cloud: str) -> None:
    _unused, url = services.running_standin(required(cloud), kind="speech-to-text", STANDIN_WARMUP_SECONDS="never")
    assert http("GET", url + "/ready")[0] == 503
    assert WsClient.handshake(url, STT_PATH)[0] == 503


def test_status_valid_invalid_could_not_connect(services: Services, cloud: str) -> None:
    unreachable = "http://127.0.0.1:%d" % free_closed_port()
    cases = {
        "Valid": (cloud, API_KEY),
        "Invalid": (cloud, "canary-apikey-wrong-" + API_KEY),
        "CouldNotConnect": (unreachable, API_KEY),
    }
    procs = {
        expected: services.standin(["Eula=accept", "Billing=" + billing, "ApiKey=" + key])
        for expected, (billing, key) in cases.items()
    }
    for expected, proc in procs.items():
        status, _unused, body = http("GET", "http://127.0.0.1:%d/status" % proc.wait_listening())
        assert status == 200
        document = json.loads(body)
        assert document["apiStatus"] == expected and document["apiStatusMessage"], document


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    tmp = tmp_path_factory.mktemp("tls")
    for name in ("lab", "other"):
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(tmp / ("%s.key" % name)), "-out", str(tmp / ("%s.crt" % name)), "-days", "2",
                "-subj", "/CN=labcloud", "-addext", "subjectAltName=IP:127.0.0.1",
                "-addext", "basicConstraints=critical,CA:TRUE",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return {"cert": tmp / "lab.crt", "key": tmp / "lab.key", "other_ca": tmp / "other.crt"}


def test_status_over_tls_with_lab_ca(services: Services, tls_material: dict[str, Path]) -> None:
    _unused, cloud_url = services.labcloud(
        LABCLOUD_CERT=str(tls_material["cert"]), LABCLOUD_KEY=str(tls_material["key"])
    )
    assert cloud_url.startswith("https://")
    cases = {
        str(tls_material["cert"]): "Valid",
        str(tls_material["other_ca"]): "CouldNotConnect",
        "": "Valid",  # no CA file: the stand-in's documented no-verify shortcut
    }
    procs = {ca_file: services.standin(required(cloud_url), STANDIN_CA_FILE=ca_file) for ca_file in cases}
    for ca_file, proc in procs.items():
        status = get_json("http://127.0.0.1:%d/status" % proc.wait_listening())
        assert status["apiStatus"] == cases[ca_file], (ca_file, status)


# --------------------------------------------------------------------------------------------------
# Text to speech


@pytest.mark.skipif(not HAVE_AUDIO_TOOLS, reason="espeak-ng and sox not installed")
@pytest.mark.parametrize(
    "output_format,rate", [("riff-8khz-16bit-mono-pcm", 8000), ("riff-24khz-16bit-mono-pcm", 24000)]
)
def test_tts_returns_wav_at_requested_rate(tts: str, output_format: str, rate: int) -> None:
    headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": output_format}
    status, response_headers, body = http(
        "POST", tts + TTS_PATH, SSML.format(voice="en-US-AriaNeural").encode(), headers
    )
    assert status == 200, body[:200]
    assert response_headers["Content-Type"] == "audio/wav"
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    with wave.open(io.BytesIO(body)) as audio:
        assert audio.getframerate() == rate
        assert audio.getsampwidth() == 2 and audio.getnchannels() == 1
        assert audio.getnframes() / rate > 1.0  # a spoken sentence, not a blip


def test_tts_wrong_voice_is_rejected(tts: str) -> None:
    body = SSML.format(voice="en-US-GuyNeural").encode()
    status, _unused, answer = http("POST", tts + TTS_PATH, body, {"Content-Type": "application/ssml+xml"})
    assert (status, answer) == (400, b"Voice doesn't match")


@pytest.mark.skipif(not HAVE_AUDIO_TOOLS, reason="espeak-ng and sox not installed")
def test_tts_accepts_long_voice_name(tts: str) -> None:
    body = SSML.format(voice="Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)").encode()
    status, headers, _unused = http("POST", tts + TTS_PATH, body, {"Content-Type": "application/ssml+xml"})
    assert (status, headers["Content-Type"]) == (200, "audio/wav")


def test_tts_voice_names_are_case_sensitive(tts: str) -> None:
    """Voice names are Microsoft's, case and all: the real container answers 400 for en-us-arianeural."""
    body = SSML.format(voice="en-us-arianeural").encode()
    status, _unused, answer = http("POST", tts + TTS_PATH, body, {"Content-Type": "application/ssml+xml"})
    assert (status, answer) == (400, b"Voice doesn't match")


def test_tts_health_from_version_3_10(services: Services, cloud: str) -> None:
    """GET /synthesize/health exists on neural text-to-speech 3.10 and later only."""
    _unused, new = services.running_standin(required(cloud), SPEECH_VERSION="3.10.0")
    _unused, old = services.running_standin(required(cloud), SPEECH_VERSION="3.9.0")
    assert http("GET", new + "/synthesize/health")[0] == 200
    assert http("GET", old + "/synthesize/health")[0] == 404


def test_tts_unknown_output_format_is_rejected(tts: str) -> None:
    headers = {"Content-Type": "application/ssml+xml", "X-Microsoft-OutputFormat": "audio-48khz-192kbitrate-mono-mp3"}
    assert http("POST", tts + TTS_PATH, SSML.format(voice="en-US-AriaNeural").encode(), headers)[0] == 400


def test_home_and_swagger(tts: str) -> None:
    status, headers, body = http("GET", tts + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"neural-text-to-speech" in body
    # /swagger is the Swagger UI page (speech-container-howto.md), its API description a JSON document.
    status, headers, body = http("GET", tts + "/swagger")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"<title>Swagger UI</title>" in body
    assert TTS_PATH in get_json(tts + "/swagger/v1/swagger.json")["paths"]


# --------------------------------------------------------------------------------------------------
# Speech to text


def test_stt_rest_post_is_404(stt: str) -> None:
    assert http("POST", stt + STT_PATH, b"audio", {"Content-Type": "audio/wav"})[0] == 404


def test_stt_websocket_unknown_path_is_404(stt: str) -> None:
    assert WsClient.handshake(stt, "/speech/recognition/nonsense/cognitiveservices/v1")[0] == 404


def test_websocket_accept_is_rfc6455(stt: str) -> None:
    """RFC 6455 section 1.3's worked example, on the wire."""
    port = int(stt.rsplit(":", 1)[1])
    key, accept = RFC6455_EXAMPLE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            (
                "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (STT_PATH, key)
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
    assert head.startswith(b"HTTP/1.1 101 ")
    assert ("Sec-WebSocket-Accept: %s" % accept).encode() in head


def sdk_turn(client: WsClient, request_id: str, pcm: bytes, chunk: int = 3200) -> None:
    """What the Speech SDK sends for one recognition: RIFF header first, 100 ms audio messages, an empty one."""
    header = "Path: audio\r\nX-RequestId: %s\r\n" % request_id
    riff = (
        b"RIFF\x00\x00\x00\x00WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        + b"data\x00\x00\x00\x00"
    )
    client.send(0x2, sdk_binary(header + "Content-Type: audio/x-wav\r\n", riff))
    for start in range(0, len(pcm), chunk):
        client.send(0x2, sdk_binary(header, pcm[start : start + chunk]))
    client.send(0x2, sdk_binary(header, b""))


def read_turn(client: WsClient, request_id: str) -> list[tuple[str, dict[str, Any]]]:
    messages = []
    while True:
        headers, body = client.recv_sdk_message()
        assert headers["X-RequestId"] == request_id
        messages.append((headers["Path"], json.loads(body)))
        if headers["Path"] == "turn.end":
            return messages


@needs_recognizer
def test_stt_silence_is_initial_silence_timeout(stt: str) -> None:
    status, client = WsClient.handshake(stt, STT_PATH + "?language=en-US&format=simple")
    assert status == 101 and client is not None
    request_id = secrets.token_hex(16).upper()
    sdk_turn(client, request_id, bytes(32000 * 2))
    messages = read_turn(client, request_id)
    paths = [path for path, _unused in messages]
    assert paths[0] == "turn.start" and paths[-1] == "turn.end"
    phrases = [body for path, body in messages if path == "speech.phrase"]
    # Silence is never "Success": the service answers InitialSilenceTimeout (or NoMatch).
    assert phrases and phrases[0]["RecognitionStatus"] in ("InitialSilenceTimeout", "NoMatch")
    client.close()


@needs_recognizer
@pytest.mark.skipif(not GOFORWARD_RAW.exists(), reason="Debian's pocketsphinx-testdata is not installed")
def test_stt_transcribes_speech_with_interim_results(stt: str) -> None:
    status, client = WsClient.handshake(stt, STT_PATH + "?language=en-US&format=detailed")
    assert status == 101 and client is not None
    request_id = secrets.token_hex(16).upper()
    sdk_turn(client, request_id, GOFORWARD_RAW.read_bytes())
    messages = read_turn(client, request_id)
    paths = [path for path, _unused in messages]
    assert paths[:2] == ["turn.start", "speech.startDetected"]
    assert "speech.hypothesis" in paths and paths.index("speech.hypothesis") < paths.index("speech.phrase")
    phrase = next(body for path, body in messages if path == "speech.phrase")
    assert phrase["RecognitionStatus"] == "Success"
    assert phrase["NBest"][0]["Lexical"] == GOFORWARD_WORDS
    assert phrase["DisplayText"].lower().rstrip(".") == GOFORWARD_WORDS
    client.close()


def test_stt_websocket_ping(stt: str) -> None:
    _unused, client = WsClient.handshake(stt, "/speech/recognition/interactive/cognitiveservices/v1")
    assert client is not None
    client.send(0x9, b"hi")
    assert client.recv() == (0xA, b"hi")
    client.close()


# --------------------------------------------------------------------------------------------------
# Language detection and disconnected mode


@needs_recognizer
@pytest.mark.skipif(not HAVE_AUDIO_TOOLS, reason="espeak-ng and sox not installed")
@pytest.mark.parametrize(
    ("voice", "text", "expected"),
    [
        (
            "de",
            "Guten Morgen. Das Wetter in Berlin ist heute sehr schön und warm. Ich möchte gerne einen Kaffee trinken.",
            "de-DE",
        ),
        ("en-us", "Good morning. The weather in London is very nice and warm today.", "en-US"),
    ],
)
def test_language_detection_decides_from_audio(
    services: Services, cloud: str, tmp_path: Path, voice: str, text: str, expected: str, langid_model: str
) -> None:
    """/speech/universal/v2 with the speech.context of the Python SDK's SourceLanguageRecognizer."""
    _unused, url = services.running_standin(
        required(cloud), kind="language-detection", STANDIN_LANGID_MODEL=langid_model
    )
    spoken, pcm = tmp_path / "spoken.wav", tmp_path / "speech.raw"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(spoken), text], check=True)
    subprocess.run(
        ["sox", str(spoken), "-r", "16000", "-b", "16", "-c", "1", "-e", "signed-integer", str(pcm)], check=True
    )
    status, client = WsClient.handshake(url, "/speech/universal/v2")
    assert status == 101 and client is not None
    request_id = secrets.token_hex(16).upper()
    context = {
        "phraseDetection": {"mode": "None"},
        "languageId": {"languages": ["en-US", "de-DE"], "mode": "DetectAtAudioStart", "Priority": "PrioritizeLatency"},
    }
    client.send(0x1, ("Path: speech.context\r\nX-RequestId: %s\r\n\r\n%s" % (request_id, json.dumps(context))).encode())
    sdk_turn(client, request_id, pcm.read_bytes())
    phrase = next(body for path, body in read_turn(client, request_id) if path == "speech.phrase")
    assert phrase["RecognitionStatus"] == "Success"
    assert phrase["PrimaryLanguage"]["Language"] == expected
    client.close()


# Disconnected containers: Microsoft's contract (disconnected-containers.md) as the stand-in and lab cloud honour it.
# The expected values come from the requests (the SSML text, the audio length), never from the stand-in's code.
METER_CHARACTERS = "Speech.TextToSpeech.Characters"
METER_AUDIO_SECONDS = "Speech.SpeechToText.AudioSeconds"
TTS_TEXT = "Hello from the speech ops edge lab. This is a test."


def offline_args(license_dir: Path, output: Path) -> list[str]:
    return ["Eula=accept", "Mounts:License=" + str(license_dir), "Mounts:Output=" + str(output)]


def download_license(
    services: Services, billing: str, license_dir: Path, api_key: str = API_KEY, **kwargs: Any
) -> Proc:
    args = ["Eula=accept", "Billing=" + billing, "ApiKey=" + api_key, "DownloadLicense=True"]
    proc = services.standin([*args, "Mounts:License=" + str(license_dir)], **kwargs)
    proc.wait_exit()
    return proc


def files_in(directory: Path) -> list[str]:
    """Every entry, hidden temporary files included (an atomic write must leave none)."""
    return sorted(path.name for path in directory.iterdir()) if directory.exists() else []


def parse_utc(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_disconnected_license_download_then_offline_start(services: Services, tmp_path: Path) -> None:
    _unused, cloud_url = services.labcloud()
    license_dir, output = tmp_path / "license", tmp_path / "output"
    before = datetime.now(UTC)
    download = download_license(services, cloud_url, license_dir)
    assert download.popen.returncode == 0, download.describe()
    assert files_in(license_dir) == ["neural-text-to-speech.license.json"]
    document = json.loads((license_dir / "neural-text-to-speech.license.json").read_text())
    assert (document["kind"], document["version"]) == ("neural-text-to-speech", "4.1.0")
    expires = parse_utc(document["expiresAt"])
    # LABCLOUD_LICENSE_DAYS defaults to 90.
    assert before + timedelta(days=90) - timedelta(minutes=1) <= expires <= datetime.now(UTC) + timedelta(days=90)
    assert "License for neural-text-to-speech 4.1.0 written" in download.stdout
    stats = get_json(cloud_url + "/stats")
    assert (stats["licensesIssued"], stats["licensesRefused"]) == (1, 0)

    _unused, url = services.running_standin(offline_args(license_dir, output))
    # Disconnected: a non-metered status, and no call to any billing endpoint.
    assert get_json(url + "/status")["apiStatus"] == "Valid"
    assert get_json(cloud_url + "/stats")["validations"] == 0


def test_disconnected_license_from_another_version_is_refused(services: Services, cloud: str, tmp_path: Path) -> None:
    license_dir, output = tmp_path / "license", tmp_path / "output"
    assert download_license(services, cloud, license_dir).popen.returncode == 0
    upgraded = services.standin(offline_args(license_dir, output), SPEECH_VERSION="4.2.0")
    assert upgraded.wait_exit() == 1
    assert "download the license again after an image upgrade" in upgraded.stderr


def test_license_download_with_invalid_key_writes_nothing(services: Services, tmp_path: Path) -> None:
    _unused, cloud_url = services.labcloud()
    license_dir = tmp_path / "license"
    refused = download_license(services, cloud_url, license_dir, api_key="not-a-valid-key")
    assert refused.popen.returncode == 1, refused.describe()
    assert "refused the ApiKey (HTTP 401)" in refused.stderr
    assert files_in(license_dir) == []
    stats = get_json(cloud_url + "/stats")
    assert (stats["licensesIssued"], stats["licensesRefused"]) == (0, 1)


def test_license_download_with_cloud_unreachable_writes_nothing(services: Services, tmp_path: Path) -> None:
    license_dir = tmp_path / "license"
    proc = download_license(services, "http://127.0.0.1:%d" % free_closed_port(), license_dir)
    assert proc.popen.returncode == 1, proc.describe()
    assert "cannot reach the billing endpoint" in proc.stderr
    assert files_in(license_dir) == []


def test_expired_license_refuses_to_start(services: Services, tmp_path: Path) -> None:
    _unused, cloud_url = services.labcloud(LABCLOUD_LICENSE_DAYS="-1")
    license_dir, output = tmp_path / "license", tmp_path / "output"
    assert download_license(services, cloud_url, license_dir).popen.returncode == 0
    document = json.loads((license_dir / "neural-text-to-speech.license.json").read_text())
    assert parse_utc(document["expiresAt"]) < datetime.now(UTC)
    offline = services.standin(offline_args(license_dir, output))
    assert offline.wait_exit() == 1
    assert "expired" in offline.stderr and "DownloadLicense=True" in offline.stderr


def test_soon_expiring_license_starts_with_a_warning(services: Services, tmp_path: Path) -> None:
    _unused, cloud_url = services.labcloud(LABCLOUD_LICENSE_DAYS="0.5")
    license_dir, output = tmp_path / "license", tmp_path / "output"
    assert download_license(services, cloud_url, license_dir).popen.returncode == 0
    proc, url = services.running_standin(offline_args(license_dir, output))
    assert get_json(url + "/status")["apiStatus"] == "Valid"
    assert "DownloadLicense=True" in proc.stderr  # the warning (stderr: WARNING and above)


def test_language_detection_refuses_download_license(services: Services, cloud: str, tmp_path: Path) -> None:
    license_dir = tmp_path / "license"
    proc = download_license(services, cloud, license_dir, kind="language-detection")
    assert proc.popen.returncode == 1
    assert "not available for language-detection" in proc.stderr
    assert files_in(license_dir) == []


def test_usage_logs_are_404_when_connected(tts: str) -> None:
    assert http("GET", tts + "/records/usage-logs/")[0] == 404
    now = datetime.now(UTC)
    assert http("GET", tts + "/records/usage-logs/%d/%d" % (now.month, now.year))[0] == 404


@pytest.mark.skipif(not HAVE_AUDIO_TOOLS, reason="espeak-ng and sox not installed")
def test_disconnected_tts_usage_records(services: Services, cloud: str, tmp_path: Path) -> None:
    license_dir, output = tmp_path / "license", tmp_path / "output"
    assert download_license(services, cloud, license_dir).popen.returncode == 0
    proc, url = services.running_standin(offline_args(license_dir, output))
    empty = get_json(url + "/records/usage-logs/")
    assert empty == {"apiType": "speech", "serviceName": "neural-text-to-speech", "meters": []}

    ssml = SSML.format(voice="en-US-AriaNeural").encode()
    assert TTS_TEXT.encode() in ssml  # the expected quantity is the text this request carries
    headers = {"Content-Type": "application/ssml+xml"}
    for _unused in range(2):
        assert http("POST", url + TTS_PATH, ssml, headers)[0] == 200
    assert http("POST", url + TTS_PATH, SSML.format(voice="en-US-GuyNeural").encode(), headers)[0] == 400
    expected = [{"name": METER_CHARACTERS, "quantity": 2 * len(TTS_TEXT)}]
    assert get_json(url + "/records/usage-logs/")["meters"] == expected

    now = datetime.now(UTC)
    assert get_json(url + "/records/usage-logs/%d/%d" % (now.month, now.year))["meters"] == expected
    assert get_json(url + "/records/usage-logs/%02d/%d" % (now.month, now.year))["meters"] == expected
    assert get_json(url + "/records/usage-logs/%d/%d" % (now.month, now.year - 1))["meters"] == []
    for bad in ("13/2025", "0/2025", "x/2025", "1/25", "1", "1/2025/3"):
        assert http("GET", url + "/records/usage-logs/" + bad)[0] == 400, bad

    # The records live on the output mount: a restart keeps them.
    assert proc.stop() == 0
    _unused, again = services.running_standin(offline_args(license_dir, output))
    assert get_json(again + "/records/usage-logs/")["meters"] == expected
    assert list((output / "usage").glob("%04d-%02d.jsonl" % (now.year, now.month)))


@needs_recognizer
@pytest.mark.skipif(not GOFORWARD_RAW.exists(), reason="Debian's pocketsphinx-testdata is not installed")
def test_disconnected_stt_usage_records(services: Services, cloud: str, tmp_path: Path) -> None:
    license_dir, output = tmp_path / "license", tmp_path / "output"
    assert download_license(services, cloud, license_dir, kind="speech-to-text").popen.returncode == 0
    _unused, url = services.running_standin(offline_args(license_dir, output), kind="speech-to-text")
    pcm = GOFORWARD_RAW.read_bytes()  # 16 kHz, 16-bit mono
    status, client = WsClient.handshake(url, STT_PATH + "?language=en-US&format=simple")
    assert status == 101 and client is not None
    request_id = secrets.token_hex(16).upper()
    sdk_turn(client, request_id, pcm)
    read_turn(client, request_id)
    client.close()
    report = get_json(url + "/records/usage-logs/")
    assert report["serviceName"] == "speech-to-text"
    [meter] = report["meters"]
    assert meter["name"] == METER_AUDIO_SECONDS
    assert meter["quantity"] == pytest.approx(len(pcm) / (16000 * 2), abs=0.01)


# --------------------------------------------------------------------------------------------------
# Lab cloud and shutdown


def test_labcloud_endpoints(services: Services, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# lab keys\nfile-key-1, file-key-2\n")
    proc, url = services.labcloud(LABCLOUD_API_KEYS_FILE=str(keys_file))
    assert get_json(url + "/healthz") == {"status": "ok"}
    assert http("GET", url + "/models/bad_id!")[0] == 404
    assert http("POST", url + "/billing/validate", b"not json", {"Content-Type": "application/json"})[0] == 400
    for key, valid in ((API_KEY, True), ("file-key-2", True), ("nope", False)):
        body = json.dumps({"apiKey": key}).encode()
        status, _unused, answer = http("POST", url + "/billing/validate", body, {"Content-Type": "application/json"})
        assert (status, json.loads(answer)) == (200, {"valid": valid})
    license_request = {"apiKey": "file-key-1", "kind": "speech-to-text", "version": "5.1.0"}
    status, _unused, answer = http("POST", url + "/licenses", json.dumps(license_request).encode())
    assert status == 200, answer
    document = json.loads(answer)
    assert set(document) == {"kind", "version", "issuedAt", "expiresAt"}
    assert (document["kind"], document["version"]) == ("speech-to-text", "5.1.0")
    assert parse_utc(document["expiresAt"]) - parse_utc(document["issuedAt"]) == timedelta(days=90)
    refused = dict(license_request, apiKey="nope")
    assert http("POST", url + "/licenses", json.dumps(refused).encode())[0] == 401
    assert http("POST", url + "/licenses", json.dumps({"apiKey": API_KEY}).encode())[0] == 400
    stats = get_json(url + "/stats")
    assert (stats["validations"], stats["validationsValid"]) == (3, 2)
    assert (stats["licensesIssued"], stats["licensesRefused"]) == (1, 1)
    fingerprint = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()[:12]
    assert fingerprint in proc.stdout and API_KEY not in proc.stdout + proc.stderr


def test_sigterm_exits_zero_quickly(services: Services) -> None:
    proc, url = services.running_standin(required("http://127.0.0.1:9"), kind="speech-to-text")
    _unused, client = WsClient.handshake(url, STT_PATH)  # an open WebSocket must not hold up shutdown
    started = time.monotonic()
    assert proc.stop() == 0
    assert time.monotonic() - started < 1.0
    assert client is not None
