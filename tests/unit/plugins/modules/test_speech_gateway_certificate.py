# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_gateway_certificate: the site CA, judged by OpenSSL (`openssl verify`, `openssl x509`) and by a real TLS
handshake that Python's ssl (OpenSSL's verifier) accepts with the CA and the host's address - not by our own reading.
Rhythm: check mode (nothing written) -> issue -> again (unchanged) -> change the names (renewed) -> assert."""

from __future__ import annotations

import socket
import ssl
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.speechops.edge.plugins.modules import speech_gateway_certificate

from .module_runner import run_module


def issue(ca_dir: Path, names: list[str], check_mode: bool = False, **options: Any) -> tuple[bool, dict[str, Any]]:
    args = {"ca_dir": str(ca_dir), "common_name": "edge1", "subject_alt_names": names, **options}
    return run_module(speech_gateway_certificate.main, dict(args, _ansible_diff=True), check_mode=check_mode)


def openssl(*args: str) -> str:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def handshake(ca_file: Path, certificate: Path, key: Path, server_name: str) -> str:
    """A TLS server with the issued certificate on loopback; the client verifies it against the CA for server_name."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(certificate), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        connection, _address = listener.accept()
        try:
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"ok")
        except OSError:
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(ca_file))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return tls.recv(2).decode()
    finally:
        thread.join(5)
        listener.close()


def test_check_mode_predicts_the_ca_and_the_certificate_and_writes_nothing(tmp_path: Path) -> None:
    failed, result = issue(tmp_path / "ca", ["edge1", "127.0.0.1"], check_mode=True)
    assert not failed and result["changed"] and result["pending"] and result["ca_created"]
    assert result["action"] == "create" and result["certificate"] == ""
    assert not (tmp_path / "ca" / "ca.key").exists() and not (tmp_path / "ca" / "hosts").exists()


def test_issue_again_then_new_names_renew(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    failed, first = issue(ca_dir, ["edge1", "127.0.0.1"])
    assert not failed and first["changed"] and first["action"] == "create" and first["ca_created"]
    certificate, key, ca_file = Path(first["certificate_path"]), Path(first["private_key_path"]), ca_dir / "ca.crt"
    # OpenSSL, not this module, says the chain and the names are right.
    assert openssl("verify", "-CAfile", str(ca_file), str(certificate)).strip().endswith(": OK")
    names = openssl("x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName")
    assert "DNS:edge1" in names and "IP Address:127.0.0.1" in names
    assert "TLS Web Server Authentication" in openssl(
        "x509", "-in", str(certificate), "-noout", "-ext", "extendedKeyUsage"
    )
    assert handshake(ca_file, certificate, key, "127.0.0.1") == "ok"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE((ca_dir / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    assert "PRIVATE KEY" not in repr(first)  # paths, never keys
    assert first["certificate"] == certificate.read_text() and first["ca_certificate"] == ca_file.read_text()

    failed, again = issue(ca_dir, ["127.0.0.1", "edge1"])
    assert not failed and not again["changed"] and again["action"] == "none"
    assert again["diff"]["before"] == again["diff"]["after"]

    failed, predicted = issue(ca_dir, ["edge1", "127.0.0.1", "edge1.site-a.example"], check_mode=True)
    assert not failed and predicted["changed"] and predicted["action"] == "renew" and "names" in predicted["reason"]
    assert certificate.read_text() == first["certificate"]  # check mode wrote nothing
    failed, renewed = issue(ca_dir, ["edge1", "127.0.0.1", "edge1.site-a.example"])
    assert not failed and renewed["changed"] and renewed["action"] == "renew" and not renewed["ca_created"]
    assert renewed["diff"]["before"]["serial"] != renewed["diff"]["after"]["serial"]
    assert "DNS:edge1.site-a.example" in openssl("x509", "-in", str(certificate), "-noout", "-ext", "subjectAltName")
    assert handshake(ca_file, certificate, key, "edge1.site-a.example") == "ok"
    assert ca_file.read_text() == first["ca_certificate"]  # the same CA: clients keep trusting it


def test_a_certificate_close_to_its_expiry_is_renewed(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    assert not issue(ca_dir, ["edge1"], valid_days=10, renew_before_days=7)[0]
    failed, result = issue(ca_dir, ["edge1"], valid_days=30, renew_before_days=20)  # 10 days left < 20
    assert not failed and result["action"] == "renew" and "renew_before_days=20" in result["reason"]


def test_a_certificate_from_another_ca_is_replaced(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    assert not issue(ca_dir, ["edge1"])[0]
    other = tmp_path / "other"
    assert not issue(other, ["edge1"])[0]
    for name in ("edge1.crt", "edge1.key"):
        (ca_dir / "hosts" / name).write_text((other / "hosts" / name).read_text())
    failed, result = issue(ca_dir, ["edge1"])
    assert not failed and result["action"] == "renew" and "not issued by this site CA" in result["reason"]
    assert openssl("verify", "-CAfile", str(ca_dir / "ca.crt"), result["certificate_path"]).strip().endswith(": OK")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"subject_alt_names": ["edge 1"]}, "subject_alt_names: 'edge 1' is neither an IP address nor a DNS name"),
        ({"subject_alt_names": []}, "subject_alt_names: empty"),
        ({"valid_days": 800}, "valid_days: 800 is outside 1..397"),
        ({"common_name": "../etc"}, "common_name: '../etc'"),
        ({"ca_dir": "relative/ca"}, "ca_dir: 'relative/ca' is not an absolute path"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(tmp_path: Path, options: dict[str, Any], named: str) -> None:
    args = {"ca_dir": str(tmp_path / "ca"), "common_name": "edge1", "subject_alt_names": ["edge1"], **options}
    failed, result = run_module(speech_gateway_certificate.main, args)
    assert failed and named in result["msg"] and "nothing was changed" in result["msg"]
    assert not (tmp_path / "ca").exists()


def test_half_a_ca_is_never_replaced(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    assert not issue(ca_dir, ["edge1"])[0]
    (ca_dir / "ca.key").unlink()
    kept = (ca_dir / "ca.crt").read_text()
    failed, result = issue(ca_dir, ["edge1", "edge1.example"])
    assert failed and "has ca.crt but no ca.key: restore ca.key" in result["msg"]
    assert (ca_dir / "ca.crt").read_text() == kept
