"""The lab's stand-in for the Azure side of the speech containers: billing validation, model and license download.

Python 3 standard library only. Serves HTTPS with the lab CA's certificate when LABCLOUD_CERT and
LABCLOUD_KEY are set, plain HTTP otherwise (local tests).

Environment:
  LABCLOUD_CERT, LABCLOUD_KEY   PEM certificate (chain) and key; both or neither
  LABCLOUD_PORT                 listen port (default 443; 0 picks a free one, logged at start)
  LABCLOUD_HOST                 listen address (default 0.0.0.0)
  LABCLOUD_API_KEYS             accepted API keys, comma-separated
  LABCLOUD_API_KEYS_FILE        file with accepted API keys (commas or newlines; # comments)
  LABCLOUD_LICENSE_DAYS         validity of issued disconnected-container licenses in days (default 90;
                                fractions and negative values allowed, so tests can issue expired licenses)

Endpoints:
  POST /billing/validate  {"apiKey": "..."} -> {"valid": true|false}
  POST /licenses          {"apiKey": "...", "kind": "...", "version": "..."} -> 200 {"kind", "version", "issuedAt",
                          "expiresAt"} (ISO-8601 UTC) for a valid key, 401 for an invalid one, 400 for other bodies
  GET  /models/<modelId>  model document; any id of 1-64 letters, digits and dashes exists, others 404
  GET  /healthz           {"status": "ok"}
  GET  /stats             {"validations": n, "validationsValid": n, "validationsInvalid": n,
                           "modelDownloads": {"<modelId>": n}, "licensesIssued": n, "licensesRefused": n}
API keys are never logged: a short sha256 prefix identifies them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

LOG = logging.getLogger("labcloud")
MODEL_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_BODY_BYTES = 64 * 1024
HANDSHAKE_TIMEOUT_SECONDS = 10.0
DEFAULT_LICENSE_DAYS = 90.0


class ConfigError(Exception):
    pass


def key_fingerprint(key: str) -> str:
    """What the logs show instead of a key."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def parse_keys(text: str) -> set[str]:
    keys = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        keys.update(part.strip() for part in line.split(",") if part.strip())
    return keys


def load_api_keys(env: Mapping[str, str]) -> set[str]:
    keys = parse_keys(env.get("LABCLOUD_API_KEYS", ""))
    path = env.get("LABCLOUD_API_KEYS_FILE", "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                keys |= parse_keys(handle.read())
        except OSError as exc:
            raise ConfigError("cannot read LABCLOUD_API_KEYS_FILE %s: %s" % (path, exc.strerror or exc)) from None
    return keys


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext | None:
    cert = env.get("LABCLOUD_CERT", "").strip()
    key = env.get("LABCLOUD_KEY", "").strip()
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigError("set both LABCLOUD_CERT and LABCLOUD_KEY (or neither for plain HTTP)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("cannot load the TLS certificate %s / key %s: %s" % (cert, key, exc)) from None
    return context


def listen_port(env: Mapping[str, str]) -> int:
    raw = env.get("LABCLOUD_PORT", "").strip() or "443"
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError("LABCLOUD_PORT=%r is not a TCP port" % raw)
    return int(raw)


def license_days(env: Mapping[str, str]) -> float:
    """Negative or fractional values are allowed on purpose: tests issue expired or soon-expiring licenses."""
    raw = env.get("LABCLOUD_LICENSE_DAYS", "").strip()
    if not raw:
        return DEFAULT_LICENSE_DAYS
    try:
        days = float(raw)
    except ValueError:
        raise ConfigError("LABCLOUD_LICENSE_DAYS=%r is not a number of days" % raw) from None
    if math.isnan(days) or abs(days) > 36500:  # beyond timedelta's comfortable range
        raise ConfigError("LABCLOUD_LICENSE_DAYS=%r is out of range" % raw)
    return days


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def license_document(kind: str, version: str, days: float, now: datetime | None = None) -> dict[str, str]:
    """What a disconnected container stores under its license mount (the lab's format; Microsoft's is opaque)."""
    issued = now or datetime.now(UTC)
    return {
        "kind": kind,
        "version": version,
        "issuedAt": iso_utc(issued),
        "expiresAt": iso_utc(issued + timedelta(days=days)),
    }


class Ledger:
    """Counters tests read through /stats (e.g. to prove a model was downloaded exactly once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._valid = 0
        self._invalid = 0
        self._downloads: Counter[str] = Counter()
        self._licenses_issued = 0
        self._licenses_refused = 0

    def validation(self, valid: bool) -> None:
        with self._lock:
            if valid:
                self._valid += 1
            else:
                self._invalid += 1

    def download(self, model_id: str) -> None:
        with self._lock:
            self._downloads[model_id] += 1

    def license(self, issued: bool) -> None:
        with self._lock:
            if issued:
                self._licenses_issued += 1
            else:
                self._licenses_refused += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "validations": self._valid + self._invalid,
                "validationsValid": self._valid,
                "validationsInvalid": self._invalid,
                "modelDownloads": dict(self._downloads),
                "licensesIssued": self._licenses_issued,
                "licensesRefused": self._licenses_refused,
            }


def model_document(model_id: str) -> dict[str, Any]:
    """A deterministic document: the same id always yields the same model."""
    digest = hashlib.sha256(model_id.encode()).hexdigest()
    return {
        "modelId": model_id,
        "name": "lab model %s" % model_id,
        "locale": "en-US",
        "createdAt": "2024-01-01T00:00:00Z",
        "sha256": digest,
        "payload": digest * 4,
    }


class LabCloudServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        api_keys: set[str],
        context: ssl.SSLContext | None,
        license_days: float = DEFAULT_LICENSE_DAYS,
    ) -> None:
        self.api_keys = api_keys
        self.license_days = license_days
        self.ledger = Ledger()
        self.context = context
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN; on the lab's DNS-less network that stalls.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.context is None:
            return sock, address
        # The handshake runs in the worker thread (finish_request): a stalled client cannot block accept().
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            try:
                request.do_handshake()
            except (OSError, ssl.SSLError) as exc:
                LOG.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
            request.settimeout(None)
        super().finish_request(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "labcloud"
    sys_version = ""
    server: LabCloudServer

    def log_message(self, format: str, *args: Any) -> None:
        LOG.info("%s %s", self.address_string(), format % args)

    def send_json(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self.send_json(200, {"status": "ok"})
        elif path == "/stats":
            self.send_json(200, self.server.ledger.snapshot())
        elif path.startswith("/models/"):
            self.get_model(path[len("/models/") :])
        else:
            self.send_json(404, {"error": "not found"})

    def get_model(self, model_id: str) -> None:
        if not MODEL_ID_RE.match(model_id):
            self.send_json(404, {"error": "no such model"})
            return
        self.server.ledger.download(model_id)
        LOG.info("Model %s downloaded", model_id)
        self.send_json(200, model_document(model_id))

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "0").strip() or "0"
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            self.send_json(413 if length.isdigit() else 400, {"error": "bad request body"})
            return
        body = self.rfile.read(int(length))
        path = self.path.split("?", 1)[0]
        if path == "/billing/validate":
            self.validate(body)
        elif path == "/licenses":
            self.issue_license(body)
        else:
            self.send_json(404, {"error": "not found"})

    def key_is_valid(self, key: str) -> bool:
        """One rule for billing validation and license issue."""
        return bool(key) and key in self.server.api_keys

    def validate(self, body: bytes) -> None:
        try:
            key = json.loads(body.decode("utf-8"))["apiKey"]
        except (ValueError, KeyError, TypeError):
            self.send_json(400, {"error": 'expected JSON {"apiKey": "..."}'})
            return
        if not isinstance(key, str):
            self.send_json(400, {"error": "apiKey must be a string"})
            return
        valid = self.key_is_valid(key)
        self.server.ledger.validation(valid)
        LOG.info("Key %s validated: %s", key_fingerprint(key), "valid" if valid else "invalid")
        self.send_json(200, {"valid": valid})

    def issue_license(self, body: bytes) -> None:
        """DownloadLicense=True runs ask here; the license is bound to the container kind and image version."""
        try:
            request = json.loads(body.decode("utf-8"))
            fields = [request[name] for name in ("apiKey", "kind", "version")]
        except (ValueError, KeyError, TypeError):
            self.send_json(400, {"error": 'expected JSON {"apiKey": "...", "kind": "...", "version": "..."}'})
            return
        if not all(isinstance(value, str) for value in fields) or not fields[1] or not fields[2]:
            self.send_json(400, {"error": "apiKey, kind and version must be strings (kind and version non-empty)"})
            return
        key, kind, version = fields
        if not self.key_is_valid(key):
            self.server.ledger.license(False)
            LOG.info("License for %s %s refused: key %s is invalid", kind, version, key_fingerprint(key))
            self.send_json(401, {"error": "invalid api key"})
            return
        document = license_document(kind, version, self.server.license_days)
        self.server.ledger.license(True)
        LOG.info(
            "License for %s %s issued to key %s, expires %s", kind, version, key_fingerprint(key), document["expiresAt"]
        )
        self.send_json(200, document)


class UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(UtcFormatter("%(asctime)s %(levelname)s %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)


def main() -> int:
    configure_logging()
    try:
        keys = load_api_keys(os.environ)
        context = tls_context(os.environ)
        days = license_days(os.environ)
        host = os.environ.get("LABCLOUD_HOST", "").strip() or "0.0.0.0"
        server = LabCloudServer((host, listen_port(os.environ)), keys, context, days)
    except (ConfigError, OSError) as exc:
        print("labcloud: %s" % exc, file=sys.stderr)
        return 1
    if not keys:
        LOG.warning("No API keys configured: every validation answers valid=false")
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        # A second signal during interpreter shutdown would kill the process instead of a clean exit 0.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    scheme = "https" if context else "http"
    LOG.info("Listening on %s://%s:%d (%d API keys)", scheme, host, server.server_address[1], len(keys))
    # Short waits: the kernel may deliver the signal to a worker thread, and then the main thread only
    # runs the Python handler when it next wakes up.
    while not stop.wait(0.1):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
