# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's configuration, judged by the real HAProxy from Debian (not by our own reading of it).

Each test renders the configuration with speechops.edge's renderer and runs Debian's haproxy with it on loopback,
in front of a recording HTTP backend: the key check, the 401, the open ready path, TLS only, the key removed before
the request is forwarded, and the runtime API the upgrades use. The header name is Microsoft's (the Speech SDKs
send Ocp-Apim-Subscription-Key with SpeechConfig(host=..., subscription=KEY)). `.ci/run` installs haproxy.
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _gateway, _gateway_layout
from ansible_collections.speechops.edge.plugins.module_utils._gateway import (
    AccessKey,
    GatewaySwitch,
    RuntimeUpdate,
    Service,
    certificate_bundle,
    key_digest,
    keys_problems,
    process_table,
    render_config,
    render_keys,
    runtime_command,
    server_stats,
    services_problems,
)
from certificates import self_signed
from polling import poll

KEY = "0f3c5a7e9b1d4f6a8c2e0b4d6f8a1c3e"  # a client's key (32 hex digits, like an Azure key)
HEADER = "Ocp-Apim-Subscription-Key"  # Microsoft: what SpeechConfig(host=..., subscription=KEY) sends
HAPROXY = shutil.which("haproxy")


def test_haproxy_is_installed() -> None:
    assert HAPROXY, "Debian's haproxy is needed by these tests: apt install haproxy (.ci/run installs it)"


def free_port(highest: int = 45000) -> int:
    """A free loopback port whose slot ports (+10000, +20000) are free too."""
    for _attempt in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port <= highest and all(_free(port + offset) for offset in _gateway.SLOT_OFFSETS):
            return port
    raise AssertionError("no free port with free slots")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Recorder(http.server.BaseHTTPRequestHandler):
    """A container stand-in that records what reaches it."""

    seen: list[dict[str, Any]]

    def do_GET(self) -> None:
        self.seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if self.path.startswith("/slow"):  # a session in progress: a recognition that takes a while
            time.sleep(float(self.path.partition("=")[2] or 1))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Gateway:
    seen_new: list[dict[str, Any]]
    new_backend: Any

    def __init__(self, port: int, ca_file: Path, seen: list[dict[str, Any]], admin: Path, master: Path) -> None:
        self.port = port
        self.seen = seen
        self.admin = str(admin)
        self.master = str(master)
        self.context = ssl.create_default_context(cafile=str(ca_file))

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path), headers=headers or {})
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=5) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if HAPROXY is None:
        pytest.fail("Debian's haproxy is needed: apt install haproxy (.ci/run installs it)")
    directory = tmp_path_factory.mktemp("gateway")
    port = free_port()
    certificate, key, ca_file = self_signed(directory)
    (directory / "gateway.pem").write_text(certificate_bundle(certificate, key))
    (directory / "keys.map").write_text(render_keys([AccessKey("call-center", key_digest(KEY))]))
    admin, master = directory / "admin.sock", directory / "master.sock"
    config = render_config(
        [Service("stt", port, "/ready", ("/status",))],
        bind_address="127.0.0.1",
        require_key=True,
        tunnel_timeout=60,
        hard_stop_after=60,
        keys_path=str(directory / "keys.map"),
        certificate_path=str(directory / "gateway.pem"),
        admin_socket=str(admin),
    )
    # The test runs haproxy in the foreground without chroot or user switch (the rest is the rendered config).
    config = "\n".join(
        line for line in config.splitlines() if line.strip().split(" ")[0] not in ("chroot", "user", "group", "log")
    )
    (directory / "haproxy.cfg").write_text(config + "\n")
    check = subprocess.run(
        [HAPROXY, "-c", "-f", str(directory / "haproxy.cfg")], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr + check.stdout
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", port + _gateway.SLOT_OFFSETS[0]), handler)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    # The second slot's container (an upgrade's new one): listens only once a test starts it.
    seen_new: list[dict[str, Any]] = []
    handler_new = type("Handler", (Recorder,), {"seen": seen_new})
    process = subprocess.Popen(
        [HAPROXY, "-db", "-f", str(directory / "haproxy.cfg"), "-S", str(master)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        gw = Gateway(port, ca_file, seen, admin, master)
        gw.seen_new = seen_new
        gw.new_backend = lambda: http.server.ThreadingHTTPServer(
            ("127.0.0.1", port + _gateway.SLOT_OFFSETS[1]), handler_new
        )
        poll(lambda: admin.exists() and _up(gw), 10, "haproxy to listen and see slot1 up", interval=0.05)
        yield gw
    finally:
        process.terminate()
        process.wait(timeout=10)
        backend.shutdown()


def _up(gateway: Gateway) -> bool:
    try:
        rows = {row["svname"]: row["status"] for row in server_stats(gateway.admin)}
    except OSError:
        return False
    return rows.get("slot1") == "UP"


def test_a_request_without_a_key_gets_401_and_never_reaches_the_container(gateway: Gateway) -> None:
    before = len(gateway.seen)
    status, body, headers = gateway.get("/speech/recognition/conversation/cognitiveservices/v1?language=en-US")
    assert status == 401
    assert json.loads(body)["error"]["code"] == "401"
    assert HEADER in {k.title(): v for k, v in headers.items()}.get("Www-Authenticate", "")
    assert len(gateway.seen) == before


def test_a_wrong_key_gets_401(gateway: Gateway) -> None:
    before = len(gateway.seen)
    assert gateway.get("/status", {HEADER: KEY.upper()})[0] == 200  # /status is an open path here
    assert gateway.get("/swagger", {HEADER: KEY.upper()})[0] == 401  # keys are case-sensitive
    assert gateway.get("/swagger", {HEADER: KEY[:-1]})[0] == 401
    assert len(gateway.seen) == before + 1


def test_the_key_in_the_header_passes_and_is_not_forwarded(gateway: Gateway) -> None:
    status, _body, _headers = gateway.get("/swagger", {HEADER: KEY})
    assert status == 200
    assert gateway.seen[-1]["path"] == "/swagger"
    assert HEADER.lower() not in gateway.seen[-1]["headers"]


def test_the_key_in_the_query_passes_and_is_not_forwarded(gateway: Gateway) -> None:
    """Microsoft's JavaScript SDK copies every header into the query (WebsocketConnection.ts); browsers send only that."""
    path = "/speech/recognition/interactive/cognitiveservices/v1?language=en-US&%s=%s&format=simple" % (HEADER, KEY)
    assert gateway.get(path)[0] == 200
    assert (
        gateway.seen[-1]["path"] == "/speech/recognition/interactive/cognitiveservices/v1?language=en-US&format=simple"
    )


def test_the_ready_path_is_open_for_load_balancers(gateway: Gateway) -> None:
    assert gateway.get("/ready")[0] == 200
    assert gateway.get("/ready/../swagger")[0] == 401  # only the exact path


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_plain_http_and_old_tls_are_refused(gateway: Gateway) -> None:
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.RemoteDisconnected)):
        urllib.request.urlopen("http://127.0.0.1:%d/ready" % gateway.port, timeout=5)
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.minimum_version = ssl.TLSVersion.TLSv1
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        old.wrap_socket(raw)


def test_runtime_api_drains_a_slot_and_reports_sessions(gateway: Gateway) -> None:
    rows = {row["svname"]: row for row in server_stats(gateway.admin)}
    assert rows["slot1"]["status"] == "UP" and rows["slot1"]["addr"] == "127.0.0.1:%d" % (gateway.port + 10000)
    assert rows["slot2"]["status"] == "DOWN"  # nothing listens on the second slot
    runtime_command(gateway.admin, "set server stt/slot1 state drain")
    assert {row["svname"]: row["status"] for row in server_stats(gateway.admin)}["slot1"] == "DRAIN"
    runtime_command(gateway.admin, "set server stt/slot1 state ready")
    assert poll(lambda: _up(gateway), 5, "slot1 up again", interval=0.05)


def test_the_master_cli_reports_workers_and_the_version_they_run(gateway: Gateway) -> None:
    table = process_table(gateway.master)
    assert table.reloads == 0 and table.failed == 0 and len(table.workers) == 1
    # What the binary on disk says of itself: a package upgrade makes the two differ, and the module reloads then.
    on_disk = subprocess.run([HAPROXY or "haproxy", "-v"], capture_output=True, text=True, check=True).stdout
    assert table.version and on_disk.startswith("HAProxy version %s " % table.version)
    assert _gateway.HaproxyService(_gateway.run_process).installed_version() == table.version


def test_problems_name_the_field_and_the_fix() -> None:
    problems = services_problems([Service("stt", 50000, "/ready", ()), Service("bad name", 5000, "ready", ())])
    assert any("services[stt].port: 50000 is outside 1..45535" in problem for problem in problems)
    assert any("'bad name' is not a name" in problem for problem in problems)
    assert any("'ready' is not an absolute URL path" in problem for problem in problems)
    clash = services_problems([Service("a", 5000, "/ready", ()), Service("b", 15000, "/ready", ())])
    assert clash == [
        "services[b].port: 15000 is also a port of a: give each service its own port",
        "services[b].port: 25000 is also a port of a: give each service its own port",
    ]
    digest = key_digest(KEY)
    assert keys_problems([AccessKey("a", digest), AccessKey("b", digest), AccessKey("c", KEY)]) == [
        "access_keys[1]: the same key as an earlier entry (b): give each client its own key",
        "access_keys[2].sha256: not 64 lower-case hex digits: give the key's SHA-256 (the role computes it)",
    ]


def test_the_keys_file_holds_digests_and_labels_only() -> None:
    text = render_keys([AccessKey("call-center", key_digest(KEY))])
    assert KEY not in text
    # The digest as coreutils' sha256sum prints it: what HAProxy's sha2(256),hex,lower computes per request.
    assert (
        text.splitlines()[1]
        == "%s call-center"
        % subprocess.run(["sha256sum"], input=KEY, capture_output=True, text=True, check=True).stdout.split()[0]
    )


def _status(gateway: Gateway, slot: str) -> tuple[str, int]:
    row = {row["svname"]: row for row in server_stats(gateway.admin)}[slot]
    return row["status"], int(row["scur"] or 0)


def test_an_upgrade_switch_drains_the_session_in_progress_then_sends_everything_to_the_new_slot(
    gateway: Gateway,
) -> None:
    """The switch speech_containers makes: the old slot's session finishes (drained, not cut), new ones go to the new."""
    new_backend = gateway.new_backend()
    threading.Thread(target=new_backend.serve_forever, daemon=True).start()
    try:
        runtime_command(gateway.admin, "set server stt/slot2 state maint")  # before the upgrade: slot1 serves alone
        answers: list[int] = []
        session = threading.Thread(target=lambda: answers.append(gateway.get("/slow?s=1.5", {HEADER: KEY})[0]))
        session.start()
        poll(lambda: _status(gateway, "slot1")[1] == 1, 5, "the session on slot1", interval=0.02)
        result = GatewaySwitch(gateway.admin).switch("stt", 1, 0, drain_timeout=10)
        session.join(10)
        assert answers == [200]  # finished on the old container
        assert result["drained_sessions"] == 1 and result["forced"] is False and result["drain_seconds"] >= 0.5
        assert _status(gateway, "slot1")[0] == "MAINT" and _status(gateway, "slot2")[0] == "UP"
        before = len(gateway.seen_new)
        assert gateway.get("/swagger", {HEADER: KEY})[0] == 200
        assert len(gateway.seen_new) == before + 1  # the new container answered
        # A session longer than the drain timeout is cut when the timeout ends.
        cut: list[Any] = []
        session = threading.Thread(target=lambda: cut.append(_get_or_error(gateway, "/slow?s=5")))
        session.start()
        poll(lambda: _status(gateway, "slot2")[1] == 1, 5, "the session on slot2", interval=0.02)
        forced = GatewaySwitch(gateway.admin).switch("stt", 0, 1, drain_timeout=0.3)
        session.join(10)
        assert forced["forced"] is True and forced["drain_seconds"] < 3
        assert cut and cut[0] != 200
    finally:
        new_backend.shutdown()
        new_backend.server_close()  # nothing listens on the second slot any more
        runtime_command(gateway.admin, "set server stt/slot1 state ready")


def test_keys_and_certificate_change_at_run_time_without_a_reload(gateway: Gateway, tmp_path: Path) -> None:
    """Key rotation and certificate renewal go through the runtime API: no reload, a session in progress goes on."""
    directory = Path(gateway.admin).parent
    keys_map, bundle_path = str(directory / "keys.map"), str(directory / "gateway.pem")
    reloads = process_table(gateway.master).reloads
    rotated = "5e8a1c3e0f3c7e9b1d4f6a8c2e0b4d6f"
    update = RuntimeUpdate(gateway.admin)
    answers: list[int] = []
    session = threading.Thread(target=lambda: answers.append(gateway.get("/slow?s=1.5", {HEADER: KEY})[0]))
    session.start()
    try:
        poll(lambda: _status(gateway, "slot1")[1] == 1, 5, "the session on slot1", interval=0.02)
        update.keys([AccessKey("call-center", key_digest(rotated))], map_path=keys_map)
        assert gateway.get("/swagger", {HEADER: rotated})[0] == 200
        assert gateway.get("/swagger", {HEADER: KEY})[0] == 401  # the old key is gone at once
        certificate, private_key, new_ca = self_signed(tmp_path)
        update.certificate(certificate_bundle(certificate, private_key), path=bundle_path)
        # A new handshake presents the new certificate: it verifies against the new CA only.
        context = ssl.create_default_context(cafile=str(new_ca))
        request = urllib.request.Request("https://127.0.0.1:%d/ready" % gateway.port)
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            gateway.get("/ready")
        session.join(10)
        assert answers == [200]  # the request in progress finished
        assert process_table(gateway.master).reloads == reloads  # no reload
    finally:
        session.join(10)
        # The files were never touched: put what they hold back into the worker for the other tests.
        update.certificate(Path(bundle_path).read_text(), path=bundle_path)
        update.keys([AccessKey("call-center", key_digest(KEY))], map_path=keys_map)


def test_a_refused_runtime_update_names_the_command() -> None:
    answers = {"prepare map /k.map": "Unknown map identifier. Please use #<id> or <file>.\n"}
    update = RuntimeUpdate("/nowhere", lambda _socket, command, *_payload: answers.get(command, ""))
    with pytest.raises(_gateway.GatewayError, match=r"prepare map /k\.map: Unknown map identifier"):
        update.keys([AccessKey("call-center", key_digest(KEY))], map_path="/k.map")


def _get_or_error(gateway: Gateway, path: str) -> Any:
    try:
        return gateway.get(path, {HEADER: KEY})[0]
    except (OSError, http.client.HTTPException) as exc:
        return exc


def test_sync_slots_puts_the_empty_slot_in_maintenance_once(gateway: Gateway) -> None:
    """After a start or reload HAProxy takes every server as up; a slot nothing listens on must not get requests."""
    runtime_command(gateway.admin, "set server stt/slot2 state ready")
    switch = GatewaySwitch(gateway.admin)
    service = Service("stt", gateway.port, "/ready", ())
    assert switch.sync_slots([service]) == ["stt/slot2 maint"]
    assert _status(gateway, "slot2")[0] == "MAINT" and _status(gateway, "slot1")[0] == "UP"
    assert switch.sync_slots([service]) == []


def test_gateway_ports_are_read_from_our_configuration_only(tmp_path: Path) -> None:
    ours = tmp_path / "haproxy.cfg"
    config = render_config(
        [Service("stt", 5000, "/ready", ()), Service("tts", 5001, "/ready", ())],
        bind_address="0.0.0.0",
        require_key=True,
        tunnel_timeout=600,
        hard_stop_after=900,
    )
    ours.write_text(config)
    assert _gateway_layout.gateway_ports(str(ours)) == {5000, 5001}
    (tmp_path / "debian.cfg").write_text("global\n    daemon\nfrontend web\n    bind :80 \n")
    assert _gateway_layout.gateway_ports(str(tmp_path / "debian.cfg")) == set()


def test_container_info_names_the_slot_state_and_sessions_of_each_container(gateway: Gateway) -> None:
    """speech_container_info joins HAProxy's own server table (show stat) to the containers by their slot port."""
    from ansible_collections.speechops.edge.plugins.module_utils._speech_info import attach_gateway

    containers = [{"name": "stt", "ports": [{"host_ip": "127.0.0.1", "host_port": gateway.port + 10000}]}]
    attach_gateway(containers, server_stats(gateway.admin))
    assert containers[0]["gateway"] == {"slot": "slot1", "status": "UP", "sessions": 0}
