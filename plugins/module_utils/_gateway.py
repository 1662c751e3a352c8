# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The speech gateway of an edge host: HAProxy from the distribution in front of every speech container.

Clients keep the ports they know (5000, ...): HAProxy listens there with TLS and lets a request through only with an
access key (header or query parameter Ocp-Apim-Subscription-Key, what Microsoft's Speech SDKs send); the containers
are published on loopback only, each service on one of two slot ports, so an upgrade can start the new container
beside the old one and switch at run time (the runtime API's `set server ... state drain`).

The files (configuration, key hashes, certificate) are written first and validated with `haproxy -c` as a set before
they replace the working ones; a reload in master-worker mode keeps established connections on the old worker.
Sources: HAProxy 2.6 configuration.txt (sections 3.1, 4.2, 5.1, 7.3.1) and management.txt (sections 3, 4, 9.3, 9.4);
Debian's haproxy package (init script, systemd unit, /etc/default/haproxy).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._files import read_text, write_private_file
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import (
    CERTIFICATE_PATH,
    CONFIG_PATH,
    KEYS_PATH,
    MANAGED_MARK,
    SLOT_OFFSETS,
    slot_ports,
)
from ansible_collections.speechops.edge.plugins.module_utils._polling import Poller
from ansible_collections.speechops.edge.plugins.module_utils._schema import NAME_RE

ADMIN_SOCKET = "/run/haproxy/admin.sock"
MASTER_SOCKET = "/run/haproxy-master.sock"
PID_FILE = "/run/haproxy.pid"
SLOT_NAMES = ("slot1", "slot2")
KEY_HEADER = "Ocp-Apim-Subscription-Key"


# What Azure answers a request without a valid key (its JSON error shape), and how the client should authenticate.
UNAUTHORIZED_BODY = (
    '{"error":{"code":"401","message":"Access denied due to missing or invalid subscription key: send the header '
    + KEY_HEADER
    + '."}}'
)
# Mozilla's intermediate profile, as Debian's default haproxy.cfg has it (TLS 1.2 and 1.3 only).
TLS_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
TLS_CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")


class GatewayError(Exception):
    """A problem with the gateway that the module reports as its failure message."""


@dataclass(frozen=True)
class Service:
    """One speech service behind the gateway: clients use `port`, its container runs on one of `slots`."""

    name: str
    port: int
    ready_path: str
    open_paths: tuple[str, ...]

    @property
    def slots(self) -> tuple[int, int]:
        return slot_ports(self.port)


@dataclass(frozen=True)
class AccessKey:
    label: str
    sha256: str


def key_digest(key: str) -> str:
    """What the gateway stores of an access key (and what HAProxy's sha2(256),hex,lower computes per request)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# ---- validation -------------------------------------------------------------------------------------------------
def services_problems(services: Iterable[Service]) -> list[str]:
    problems: list[str] = []
    seen_names: set[str] = set()
    used: dict[int, str] = {}
    for service in services:
        where = "services[%s]" % service.name
        if not NAME_RE.match(service.name):
            problems.append("%s.name: %r is not a name of letters, digits, '_', '.', '-'" % (where, service.name))
        if service.name in seen_names:
            problems.append("%s.name: %r is given twice: one entry per service" % (where, service.name))
        seen_names.add(service.name)
        highest = 65535 - SLOT_OFFSETS[-1]
        if not 1 <= service.port <= highest:
            problems.append(
                "%s.port: %r is outside 1..%d (its slots are the port + %s): pick a lower port"
                % (where, service.port, highest, " and ".join(map(str, SLOT_OFFSETS)))
            )
            continue
        for port in (service.port, *service.slots):
            if port in used:
                problems.append(
                    "%s.port: %d is also a port of %s: give each service its own port" % (where, port, used[port])
                )
            used.setdefault(port, service.name)
        for path in (service.ready_path, *service.open_paths):
            if not _PATH_RE.match(path):
                problems.append("%s: open path %r is not an absolute URL path like /ready" % (where, path))
    return problems


def keys_problems(keys: Iterable[AccessKey]) -> list[str]:
    problems: list[str] = []
    labels: set[str] = set()
    digests: set[str] = set()
    for index, key in enumerate(keys):
        where = "access_keys[%d]" % index
        if not NAME_RE.match(key.label):
            problems.append("%s.label: %r is not a label of letters, digits, '_', '.', '-'" % (where, key.label))
        if not _SHA256_RE.match(key.sha256):
            problems.append(
                "%s.sha256: not 64 lower-case hex digits: give the key's SHA-256 (the role computes it)" % where
            )
        if key.label in labels:
            problems.append("%s.label: %r is given twice: one label per key" % (where, key.label))
        if key.sha256 in digests:
            problems.append(
                "%s: the same key as an earlier entry (%s): give each client its own key" % (where, key.label)
            )
        labels.add(key.label)
        digests.add(key.sha256)
    return problems


# ---- rendering: the one renderer of the gateway's files ----------------------------------------------------------
def render_config(
    services: list[Service],
    *,
    bind_address: str,
    require_key: bool,
    tunnel_timeout: int,
    hard_stop_after: int,
    keys_path: str = KEYS_PATH,
    certificate_path: str = CERTIFICATE_PATH,
    admin_socket: str = ADMIN_SOCKET,
) -> str:
    """haproxy.cfg: one TLS frontend per service port, one backend with the service's two loopback slots."""
    bind = ":::%d v4v6" if bind_address == "::" else ("%s:%%d" % (bind_address if bind_address != "0.0.0.0" else ""))
    lines = [
        MANAGED_MARK + ": changes here are overwritten.",
        "# Clients use the ports below with TLS and an access key; the containers listen on loopback slots.",
        "global",
        "    log /dev/log local0",
        "    chroot /var/lib/haproxy",
        "    user haproxy",
        "    group haproxy",
        # Reloads keep established connections (WebSocket recognitions) on the old worker (management.txt 3, 4).
        "    master-worker",
        "    stats socket %s mode 600 level admin" % admin_socket,
        "    stats timeout 30s",
        "    hard-stop-after %ds" % hard_stop_after,
        "    ssl-default-bind-ciphers %s" % TLS_CIPHERS,
        "    ssl-default-bind-ciphersuites %s" % TLS_CIPHERSUITES,
        "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        "",
        "defaults",
        "    mode http",
        "    log global",
        # httplog without the query string (a JavaScript client sends the key there too), with the key's label.
        '    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq '
        'key=%[var(txn.key_label)] \\"%HM %HP %HV\\""',
        "    option dontlognull",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 10s",
        # An upgraded WebSocket is governed by this idle timeout instead of client/server (configuration.txt 4.2).
        "    timeout tunnel %ds" % tunnel_timeout,
        "    timeout client-fin 30s",
        "    timeout server-fin 30s",
        # A new worker (start, reload) takes every server as up until its checks say otherwise: a connection refused
        # by the empty slot is retried on the other one, and marks the empty slot down at once.
        "    option redispatch 1",
        "    retries 3",
        "    default-server check inter 2s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down",
    ]
    for service in services:
        open_paths = " ".join(dict.fromkeys((service.ready_path, *service.open_paths)))
        lines += [
            "",
            "frontend %s" % service.name,
            "    bind %s ssl crt %s alpn http/1.1" % (bind % service.port, certificate_path),
        ]
        if require_key:
            lookup = "sha2(256),hex,lower,map(%s)" % keys_path
            lines += [
                "    http-request set-var(txn.key_label) req.hdr(%s),%s" % (KEY_HEADER, lookup),
                "    http-request set-var(txn.key_label) url_param(%s),%s if !{ var(txn.key_label) -m found }"
                % (KEY_HEADER, lookup),
                "    http-request return status 401 content-type application/json string %s hdr WWW-Authenticate %s"
                " if !{ path %s } !{ var(txn.key_label) -m found }"
                % (_quoted(UNAUTHORIZED_BODY), _quoted('%s realm="speech"' % KEY_HEADER), open_paths),
            ]
        # The container never sees a key: it has no use for one ("no security on the container API").
        lines += [
            "    http-request del-header %s" % KEY_HEADER,
            # Quotes inside the sample expression are escaped: the config parser would take plain ones away.
            '    http-request set-query %%[query,regsub(\\"(^|&)%s=[^&]*\\",\\"\\",g),regsub(\\"^&\\",\\"\\")]'
            " if { url_param(%s) -m found }" % (KEY_HEADER, KEY_HEADER),
            "    default_backend %s" % service.name,
            "",
            "backend %s" % service.name,
            "    balance roundrobin",
            "    option httpchk GET %s" % service.ready_path,
            "    http-check expect status 200",
        ]
        lines += [
            "    server %s 127.0.0.1:%d" % (name, port) for name, port in zip(SLOT_NAMES, service.slots, strict=True)
        ]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def render_keys(keys: list[AccessKey]) -> str:
    lines = [MANAGED_MARK + ": SHA-256 of each access key and its label; the keys themselves are not stored."]
    lines += ["%s %s" % (key.sha256, key.label) for key in sorted(keys, key=lambda key: key.label)]
    return "\n".join(lines) + "\n"


def render_defaults() -> str:
    """/etc/default/haproxy (read by Debian's init script and systemd unit): the master CLI for reload checks."""
    return (
        MANAGED_MARK + ".\n"
        "# Read by Debian's init script and systemd unit: not a shell script.\n"
        'EXTRAOPTS="-S %s,mode,600"\n' % MASTER_SOCKET
    )


def certificate_bundle(certificate: str, private_key: str) -> str:
    """The one PEM HAProxy reads: the certificate (and its chain), then the key (configuration.txt 5.1 crt).

    No empty lines: the runtime API's `set ssl cert` payload ends at the first one (management.txt 9.3).
    """
    text = "\n".join(line for line in (certificate.strip() + "\n" + private_key.strip()).splitlines() if line.strip())
    return text + "\n"


def certificate_problems(certificate: str, private_key: str) -> list[str]:
    problems = []
    if "-----BEGIN CERTIFICATE-----" not in certificate:
        problems.append("tls_certificate: not a PEM certificate (-----BEGIN CERTIFICATE-----): give the certificate")
    if "PRIVATE KEY-----" not in private_key or "-----BEGIN" not in private_key:
        problems.append("tls_private_key: not a PEM private key: give the key of tls_certificate (kept in a vault)")
    return problems


# ---- the runtime API ---------------------------------------------------------------------------------------------
def runtime_command(path: str, command: str, payload: str | None = None, timeout: float = 5.0) -> str:
    """One command on HAProxy's stats or master socket, answered to EOF (what socat does: close our write side)."""
    text = command + (" <<\n" + payload.rstrip("\n") + "\n" if payload else "") + "\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(text.encode("utf-8"))
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def server_stats(
    admin_socket: str = ADMIN_SOCKET, command: Callable[[str, str], str] = runtime_command
) -> list[dict[str, str]]:
    """`show stat` rows of the servers (not FRONTEND/BACKEND): pxname, svname, scur, status, addr, ..."""
    text = command(admin_socket, "show stat")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise GatewayError("unexpected answer to show stat: %r" % text[:200])
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]  # trailing fields vary
    return [row for row in rows if row.get("svname") not in ("FRONTEND", "BACKEND")]


def expect_nothing(answer: str, what: str) -> None:
    """The runtime API answers nothing when a command succeeds; anything else is its complaint."""
    if answer.strip():
        raise GatewayError("%s: %s" % (what, answer.strip()[:200]))


@dataclass(frozen=True)
class ProcessTable:
    """`show proc` on the master socket: the master's reload and failed-reload counts, the workers' PIDs."""

    reloads: int
    failed: int
    workers: tuple[int, ...]
    old_workers: tuple[int, ...]
    version: str = ""  # the HAProxy version the current workers run


def process_table(master_socket: str = MASTER_SOCKET) -> ProcessTable:
    text = runtime_command(master_socket, "show proc")
    reloads = failed = -1
    version = ""
    workers: list[int] = []
    old: list[int] = []
    section = "master"
    for line in text.splitlines():
        if line.startswith("# workers"):
            section = "workers"
        elif line.startswith("# old workers"):
            section = "old"
        elif line.startswith("#") or not line.strip():
            continue
        else:
            fields = line.split()
            if fields[1] == "master":
                reloads = int(fields[2])
                found = re.search(r"failed: (\d+)", line)
                failed = int(found.group(1)) if found else 0
            elif fields[1] == "worker":
                (workers if section == "workers" else old).append(int(fields[0]))
                if section == "workers":
                    version = fields[-1]
    if reloads < 0:
        raise GatewayError("unexpected answer to show proc: %r" % text[:200])
    return ProcessTable(reloads, failed, tuple(workers), tuple(old), version)


# ---- the service -------------------------------------------------------------------------------------------------
class HaproxyService:
    """Start, reload and check Debian's haproxy with or without systemd, always in master-worker mode."""

    def __init__(
        self,
        run: Callable[[list[str]], tuple[int, str, str]],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run = run
        self._sleep = sleep
        self._clock = clock
        self.systemd = os.path.isdir("/run/systemd/system")

    def validate(self, config_path: str) -> str | None:
        """None when `haproxy -c` accepts the configuration (and the files it names), else its complaint."""
        code, out, err = self._run(["haproxy", "-c", "-q", "-f", config_path])
        return None if code == 0 else ((err or out).strip() or "haproxy -c exited with %d" % code)

    def installed_version(self) -> str:
        """The version of the haproxy binary on disk (`haproxy -v`: "HAProxy version 2.6.12-1+deb12u4 ...")."""
        code, out, _err = self._run(["haproxy", "-v"])
        words = out.split()
        return words[2] if code == 0 and len(words) > 2 and words[:2] == ["HAProxy", "version"] else ""

    def table(self) -> ProcessTable | None:
        try:
            return process_table()
        except (OSError, GatewayError):
            return None

    def start(self) -> None:
        """Start (or restart into master-worker mode) and wait until the master CLI answers."""
        if self.systemd:
            self._checked(["systemctl", "enable", "haproxy"])
            self._checked(["systemctl", "restart", "haproxy"])
        else:
            self.stop()
            self._checked(["service", "haproxy", "start"])
        self._wait(self._has_workers, "haproxy to start")

    def _has_workers(self) -> bool:
        table = self.table()
        return table is not None and bool(table.workers)

    def stop(self) -> None:
        """Stop haproxy. Without systemd by the PIDs of its pidfile: Debian's init script finds a process by its
        executable, which a container without CAP_SYS_PTRACE cannot read for haproxy's own user."""
        if self.systemd:
            self._run(["systemctl", "disable", "--now", "haproxy"])
            return
        try:
            with open(PID_FILE, encoding="ascii") as handle:
                pids = [int(word) for word in handle.read().split() if word.isdigit()]
        except FileNotFoundError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self._wait(lambda: not any(_alive(pid) for pid in pids), "haproxy to stop")
        if os.path.exists(PID_FILE):
            os.unlink(PID_FILE)

    def reload(self) -> None:
        """Seamless reload (master-worker: the old worker keeps its connections); fails when the new config fails."""
        before = self.table()
        if before is None:
            self.start()
            return
        if self.systemd:
            self._checked(["systemctl", "reload", "haproxy"])
        else:
            with open(PID_FILE, encoding="ascii") as handle:
                os.kill(int(handle.read().split()[0]), signal.SIGUSR2)

        def reloaded() -> bool:
            after = self.table()
            return after is not None and (after.reloads > before.reloads or after.failed > before.failed)

        self._wait(reloaded, "haproxy to reload")
        after = self.table()
        if after is None or after.failed > before.failed:
            raise GatewayError("haproxy refused the new configuration at reload; the previous one still serves")

    def _checked(self, command: list[str]) -> None:
        code, out, err = self._run(command)
        if code != 0:
            raise GatewayError("%s failed (%d): %s" % (" ".join(command), code, (err or out).strip()))

    def _wait(self, done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = self._clock() + timeout
        poller = Poller(self._sleep)
        while not done():
            if self._clock() > deadline:
                raise GatewayError("waited %d s for %s" % (timeout, what))
            poller.pause(deadline - self._clock())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- the files as a set ------------------------------------------------------------------------------------------
@dataclass
class GatewayFiles:
    """The gateway's files as they should be: path -> (content, mode)."""

    files: dict[str, tuple[str, int]]

    def changed(self) -> list[str]:
        return [path for path, (content, mode) in self.files.items() if not _same_file(path, content, mode)]

    def install(self, service: HaproxyService) -> None:
        """Validate the new set with `haproxy -c` in a scratch copy, then replace the files (config last)."""
        with tempfile.TemporaryDirectory(prefix="speechops-gateway-") as scratch:
            config = self.files[CONFIG_PATH][0]
            for path, (content, mode) in self.files.items():
                copy = os.path.join(scratch, os.path.basename(path))
                write_private_file(copy, content, mode)
                if path != CONFIG_PATH:
                    config = config.replace(path, copy)
            write_private_file(os.path.join(scratch, "haproxy.cfg"), config, 0o600)
            complaint = service.validate(os.path.join(scratch, "haproxy.cfg"))
            if complaint:
                raise GatewayError("the new gateway configuration is invalid, nothing was replaced: %s" % complaint)
        for path in sorted(self.files, key=lambda path: path == CONFIG_PATH):
            content, mode = self.files[path]
            write_private_file(path, content, mode)

    def backup(self) -> dict[str, str | None]:
        return {path: read_text(path) for path in self.files}


def restore(backup: dict[str, str | None], modes: dict[str, int]) -> None:
    for path, content in backup.items():
        if content is None:
            if os.path.exists(path):
                os.unlink(path)
        else:
            write_private_file(path, content, modes[path])


def _same_file(path: str, content: str, mode: int) -> bool:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return False
    return (stat.st_mode & 0o7777) == mode and stat.st_uid == 0 and read_text(path) == content


def haproxy_installed() -> bool:
    return shutil.which("haproxy") is not None


def run_process(command: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def certificate_facts(path: str) -> dict[str, Any] | None:
    """Subject, names and expiry of the gateway's certificate (None when there is none)."""
    if not os.path.exists(path):
        return None
    try:
        import ssl

        decoded = ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access
    except Exception:  # an unreadable certificate is reported as unknown, not as a failure
        return {"not_after": None}
    return {
        "not_after": decoded.get("notAfter"),
        "subject": ", ".join("%s=%s" % pair for part in decoded.get("subject", ()) for pair in part),
        "names": [value for _kind, value in decoded.get("subjectAltName", ())],
    }


# ---- keys and certificate at run time -----------------------------------------------------------------------------
class RuntimeUpdate:
    """New access keys and a new certificate put into the running worker, without a reload (management.txt 9.3:
    `prepare map`/`add map`/`commit map`, `set ssl cert`/`commit ssl cert`).

    A reload would leave the connections in progress on an old worker, cut at hard-stop-after; an update touches no
    connection. The files are installed first, so a later start or reload reads the same keys and certificate.
    """

    def __init__(self, admin_socket: str = ADMIN_SOCKET, command: Callable[..., str] = runtime_command) -> None:
        self.admin_socket = admin_socket
        self._command = command

    def keys(self, keys: list[AccessKey], map_path: str = KEYS_PATH) -> None:
        """Replace the whole key map atomically: a new version is filled, then committed in one step."""
        answer = self._command(self.admin_socket, "prepare map %s" % map_path)
        found = re.search(r"New version created: (\d+)", answer)
        if not found:
            raise GatewayError("prepare map %s: %s" % (map_path, answer.strip()[:200]))
        version = found.group(1)
        for key in keys:
            # A label is a NAME and a digest is hex (keys_problems): nothing here needs quoting.
            self._expect_nothing("add map @%s %s %s %s" % (version, map_path, key.sha256, key.label))
        self._expect_nothing("commit map @%s %s" % (version, map_path))
        shown = self._command(self.admin_socket, "show map %s" % map_path)
        running = sorted(tuple(line.split()[1:3]) for line in shown.splitlines() if len(line.split()) == 3)
        if running != sorted((key.sha256, key.label) for key in keys):
            raise GatewayError("the running gateway's keys differ from the new ones after commit map")

    def certificate(self, bundle: str, path: str = CERTIFICATE_PATH) -> None:
        """Replace the certificate of the TLS listeners: new handshakes use it, established connections go on."""
        answer = self._command(self.admin_socket, "set ssl cert %s" % path, bundle)
        if "Transaction" not in answer:
            raise GatewayError("set ssl cert %s: %s" % (path, answer.strip()[:200]))
        answer = self._command(self.admin_socket, "commit ssl cert %s" % path)
        if "Success" not in answer:
            self._command(self.admin_socket, "abort ssl cert %s" % path)
            raise GatewayError("commit ssl cert %s: %s" % (path, answer.strip()[:200]))

    def _expect_nothing(self, command: str) -> None:
        expect_nothing(self._command(self.admin_socket, command), command.split(" @")[0])


# ---- the switch of an upgrade ------------------------------------------------------------------------------------
class GatewaySwitch:
    """Moves a service's traffic from one slot to the other at run time, draining the old slot (bounded).

    New connections go to the new slot at once; sessions in progress (WebSocket recognitions, synthesis requests)
    finish on the old one (`state drain` keeps established tunnels, management.txt 9.3), at most drain_timeout
    seconds, after which they are shut down. An emptied slot goes to maintenance, so no request is ever sent to a
    port nothing listens on.
    """

    def __init__(
        self,
        admin_socket: str = ADMIN_SOCKET,
        command: Callable[[str, str], str] = runtime_command,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.admin_socket = admin_socket
        self._command = command
        self._clock = clock
        self._sleep = sleep

    def _stats(self, backend: str) -> dict[str, dict[str, str]] | None:
        """The backend's servers by name, None when the gateway does not answer or has no such backend."""
        try:
            rows = server_stats(self.admin_socket, self._command)
        except (OSError, GatewayError):
            return None
        servers = {row["svname"]: row for row in rows if row.get("pxname") == backend and row["svname"] in SLOT_NAMES}
        return servers or None

    def serves(self, backend: str) -> bool:
        return self._stats(backend) is not None

    def _set(self, backend: str, server: str, what: str) -> None:
        command = "set server %s/%s %s" % (backend, server, what)
        expect_nothing(self._command(self.admin_socket, command), command)

    def switch(self, backend: str, new_slot: int, old_slot: int | None, drain_timeout: float) -> dict[str, Any]:
        """Send new connections to new_slot; drain old_slot (when given) until it has no sessions or the timeout."""
        new = SLOT_NAMES[new_slot]
        self._set(backend, new, "state ready")
        self._set(backend, new, "health up")  # the caller saw its ready path answer 200
        if old_slot is None:
            self._set(backend, SLOT_NAMES[1 - new_slot], "state maint")
            return {"drained_sessions": 0, "drain_seconds": 0.0, "forced": False}
        old = SLOT_NAMES[old_slot]
        self._set(backend, old, "state drain")
        begin = self._clock()
        stats = self._stats(backend) or {}
        initial = int((stats.get(old) or {}).get("scur") or 0)
        poller = Poller(self._sleep, first=0.02)  # most drains end within a request's time
        forced = False
        while True:
            stats = self._stats(backend) or {}
            if int((stats.get(old) or {}).get("scur") or 0) == 0:
                break
            if self._clock() - begin >= drain_timeout:
                self._command(self.admin_socket, "shutdown sessions server %s/%s" % (backend, old))
                forced = True
                break
            poller.pause(begin + drain_timeout - self._clock())
        self._set(backend, old, "state maint")
        return {"drained_sessions": initial, "drain_seconds": round(self._clock() - begin, 2), "forced": forced}

    def sync_slots(self, services: list[Service]) -> list[str]:
        """After a start or reload (every server taken as up): a slot nothing listens on goes to maintenance, a slot
        in maintenance that a container listens on serves again. Returns what changed, as BACKEND/SLOT STATE."""
        changes = []
        for service in services:
            stats = self._stats(service.name) or {}
            for name, port in zip(SLOT_NAMES, service.slots, strict=True):
                status = (stats.get(name) or {}).get("status", "")
                listening = _listening(port)
                if not listening and status != "MAINT":
                    self._set(service.name, name, "state maint")
                    changes.append("%s/%s maint" % (service.name, name))
                elif listening and status == "MAINT":
                    self._set(service.name, name, "state ready")
                    changes.append("%s/%s ready" % (service.name, name))
        return changes


def _listening(port: int) -> bool:
    """Something accepts connections on 127.0.0.1:port (a container published on that slot)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
