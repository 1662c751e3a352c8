# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local stand-ins on 127.0.0.1 for the preflight's network checks: a test CA, a registry, a TLS endpoint, a proxy.

The registry answers the way distribution (the Docker registry) documents it:
- docs/spec/api.md: HEAD/GET /v2/<name>/manifests/<reference> (200 with Docker-Content-Digest, 404 with
  {"errors": [{"code": "MANIFEST_UNKNOWN"}]}), GET /v2/<name>/tags/list ({"name", "tags"}; 404 NAME_UNKNOWN for an
  unknown repository), 401 with a WWW-Authenticate challenge when a request lacks authorization;
- docs/spec/auth/token.md: a Bearer challenge `realm="...",service="...",scope="repository:<name>:pull"`, the
  token endpoint taking Basic credentials and answering {"token": ..., "access_token": ...};
- htpasswd auth (docs/about/configuration.md, auth.htpasswd): a Basic challenge, `realm="..."`.
Every server is bound before its thread starts, so it accepts at once: no waiting in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import select
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Pki:
    ca_crt: Path
    server_crt: Path
    server_key: Path
    other_ca_crt: Path  # a CA that signed nothing here

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_crt, self.server_key)
        return context


def make_pki(directory: Path) -> Pki:
    """A CA and a certificate for 127.0.0.1 and localhost signed by it (openssl), plus an unrelated CA."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    for name in ("ca", "other-ca"):
        openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=speechops test %s" % name,
            "-keyout", "%s.key" % name, "-out", "%s.crt" % name,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "server.ext", "-out", "server.crt",
    )  # fmt: skip
    return Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key", directory / "other-ca.crt")


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.context = context

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # The handshake in the request's thread, so a client that gives up does not stop the accept loop.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that reject the certificate end the handshake: expected here


@dataclass
class Registry:
    """What the fake registry holds and how it authenticates (auth: None, "basic" or "bearer")."""

    repositories: dict[str, list[str]]
    auth: str | None = None
    users: dict[str, str] = field(default_factory=dict)
    head_allowed: bool = True
    requests: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    tokens: set[str] = field(default_factory=set)

    @property
    def host(self) -> str:
        return "127.0.0.1:%d" % self.port

    def digest(self, repository: str, tag: str) -> str:
        return "sha256:" + hashlib.sha256(("%s:%s" % (repository, tag)).encode()).hexdigest()


def _registry_handler(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, document: Any = None, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(document).encode() if document is not None else b""
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def basic_user(self) -> str | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            user, _sep, password = base64.b64decode(header[6:]).decode().partition(":")
            return user if registry.users.get(user) == password else None

        def authorized(self, repository: str) -> bool:
            if registry.auth is None:
                return True
            if registry.auth == "basic":
                if self.basic_user():
                    return True
                challenge = 'Basic realm="fake registry"'
            else:
                header = self.headers.get("Authorization", "")
                if header.startswith("Bearer ") and header[7:] in registry.tokens:
                    return True
                challenge = 'Bearer realm="https://%s/token",service="fake-registry",scope="repository:%s:pull"' % (
                    registry.host,
                    repository,
                )
            self.send(401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
            return False

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            registry.requests.append((self.command, self.path))
            path = self.path.split("?", 1)[0]
            if path == "/token":
                user = self.basic_user()
                if registry.users and not user:
                    self.send(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                    return
                token = "token-%d" % len(registry.tokens)
                registry.tokens.add(token)
                self.send(200, {"token": token, "access_token": token, "expires_in": 300})
                return
            if not path.startswith("/v2/"):
                self.send(404)
                return
            for marker in ("/manifests/", "/tags/list"):
                repository, found, rest = path[4:].partition(marker)
                if found:
                    break
            else:
                self.send(404)
                return
            if not self.authorized(repository):
                return
            tags = registry.repositories.get(repository)
            if marker == "/tags/list":
                if tags is None:
                    self.send(404, {"errors": [{"code": "NAME_UNKNOWN"}]})
                else:
                    self.send(200, {"name": repository, "tags": tags})
                return
            if self.command == "HEAD" and not registry.head_allowed:
                self.send(405)
                return
            if tags is None or rest not in tags:
                self.send(404, {"errors": [{"code": "MANIFEST_UNKNOWN" if tags is not None else "NAME_UNKNOWN"}]})
                return
            self.send(200, {"schemaVersion": 2}, {"Docker-Content-Digest": registry.digest(repository, rest)})

    return Handler


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[int]:
    """Serve in a thread while the block runs; yields the port (bound already, so it accepts at once)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve_registry(pki: Pki, registry: Registry) -> Iterator[Registry]:
    with _serving(_TlsServer(_registry_handler(registry), pki.server_context())) as port:
        registry.port = port
        yield registry


class _Plain(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serve_tls(pki: Pki) -> Iterator[int]:
    """A TLS endpoint on 127.0.0.1 (the billing endpoint's stand-in); yields its port."""
    with _serving(_TlsServer(_Plain, pki.server_context())) as port:
        yield port


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never answers: TLS waits for nothing."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@dataclass
class Proxy:
    credentials: str | None  # user:password the proxy demands, or None
    port: int = 0
    connects: list[str] = field(default_factory=list)


def _proxy_handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """HTTP CONNECT (RFC 9110 9.3.6) with Basic proxy authentication (RFC 9110 11.7.1), then bytes both ways."""

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_CONNECT(self) -> None:
            proxy.connects.append(self.path)
            expected = "Basic " + base64.b64encode(proxy.credentials.encode()).decode() if proxy.credentials else None
            if expected and self.headers.get("Proxy-Authorization") != expected:
                self.send_response(407)
                self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            host, _sep, port = self.path.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            peers = {self.connection: upstream, upstream: self.connection}
            with upstream:
                while True:
                    readable, _w, _x = select.select(list(peers), [], [], 5)
                    if not readable:
                        return
                    for sock in readable:
                        try:
                            data = sock.recv(65536)
                            if not data:
                                return
                            peers[sock].sendall(data)
                        except OSError:
                            return  # a client that ends the connection after the handshake

    return Handler


@contextmanager
def serve_proxy(proxy: Proxy) -> Iterator[Proxy]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(proxy))
    server.daemon_threads = True
    with _serving(server) as port:
        proxy.port = port
        yield proxy
