# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A site CA for labs and small sites: one CA in a directory on the controller, one gateway certificate per edge host.

Sites with a PKI give the gateway their own certificates; this is for the others. The CA's key and the hosts' keys
stay in the directory (mode 0600, the directory 0700); clients trust `ca.crt`. Certificates follow what browsers and
OpenSSL clients check today: the names in subjectAltName (CA/Browser Forum baseline requirements 7.1.2.7.12; the
common name is not used for matching, RFC 6125 6.4.4), serverAuth in extendedKeyUsage, at most 397 days.
Uses cryptography, which ansible-core itself requires on the controller.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._files import read_text, write_private_file
from ansible_collections.speechops.edge.plugins.module_utils._schema import NAME_RE

CA_CERTIFICATE = "ca.crt"
CA_KEY = "ca.key"
HOSTS_DIR = "hosts"
MAX_VALID_DAYS = 397  # what browsers accept for a server certificate (CA/Browser Forum, since 2020-09-01)


@dataclass(frozen=True)
class Request:
    """The certificate one host's gateway needs."""

    ca_dir: str
    host: str
    names: tuple[str, ...]
    valid_days: int
    renew_before_days: int
    ca_name: str
    ca_valid_days: int

    @property
    def certificate_path(self) -> str:
        return os.path.join(self.ca_dir, HOSTS_DIR, self.host + ".crt")

    @property
    def key_path(self) -> str:
        return os.path.join(self.ca_dir, HOSTS_DIR, self.host + ".key")


def request_problems(request: Request) -> list[str]:
    problems = []
    if not os.path.isabs(request.ca_dir):
        problems.append(
            "ca_dir: %r is not an absolute path: give the CA's directory on the controller" % request.ca_dir
        )
    if not NAME_RE.match(request.host):
        problems.append(
            "common_name: %r is not a name of letters, digits, '.', '_' or '-': give the inventory name" % request.host
        )
    if not request.names:
        problems.append(
            "subject_alt_names: empty: give the names and addresses clients use to reach the host's gateway"
        )
    for name in request.names:
        if _ip(name) is None and not _dns_name(name):
            problems.append(
                "subject_alt_names: %r is neither an IP address nor a DNS name: remove or correct it" % name
            )
    if not 1 <= request.valid_days <= MAX_VALID_DAYS:
        problems.append(
            "valid_days: %d is outside 1..%d: clients refuse longer server certificates"
            % (request.valid_days, MAX_VALID_DAYS)
        )
    if not 0 <= request.renew_before_days < request.valid_days:
        problems.append(
            "renew_before_days: %d must be at least 0 and less than valid_days=%d"
            % (request.renew_before_days, request.valid_days)
        )
    return problems


def _ip(name: str) -> Any:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _canonical(name: str) -> str:
    address = _ip(name)
    return name if address is None else str(address)


def _dns_name(name: str) -> bool:
    labels = name.rstrip(".").split(".")
    return 0 < len(name) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii() and not label.startswith("-")
        for label in labels
    )


@dataclass
class Outcome:
    action: str  # none, create, renew
    reason: str
    ca_created: bool
    before: dict[str, Any]
    after: dict[str, Any]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (datetime.UTC is new in Python 3.11)


def _describe(certificate: Any) -> dict[str, Any]:
    from cryptography import x509

    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        listed = [str(value) for value in names.get_values_for_type(x509.DNSName)]
        listed += [str(value) for value in names.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        listed = []
    return {
        "names": sorted(listed),
        "not_after": _not_after(certificate).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "issuer": certificate.issuer.rfc4514_string(),
        "serial": "%x" % certificate.serial_number,
    }


def _load_certificate(path: str) -> Any:
    from cryptography import x509

    text = read_text(path)
    if text is None:
        return None
    try:
        return x509.load_pem_x509_certificate(text.encode())
    except ValueError:
        return None


def _load_key(path: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    text = read_text(path)
    if text is None:
        return None
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        return None


def _public_bytes(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class SiteCa:
    """The CA in `ca_dir`: created on first use, then only read. Every write holds the directory's lock."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.ca_certificate_path = os.path.join(request.ca_dir, CA_CERTIFICATE)
        self.ca_key_path = os.path.join(request.ca_dir, CA_KEY)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hosts are issued in parallel (forks): one process at a time creates the CA or writes a host's files."""
        os.makedirs(self.request.ca_dir, mode=0o700, exist_ok=True)
        with open(os.path.join(self.request.ca_dir, ".lock"), "a", encoding="ascii") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ca_problem(self) -> str | None:
        """A half CA (certificate without key or the reverse) is never replaced: that would orphan every client."""
        has_certificate = os.path.exists(self.ca_certificate_path)
        has_key = os.path.exists(self.ca_key_path)
        if has_certificate != has_key:
            present, missing = (CA_CERTIFICATE, CA_KEY) if has_certificate else (CA_KEY, CA_CERTIFICATE)
            return (
                "ca_dir: %s has %s but no %s: restore %s from your backup (removing both creates a new CA, which every "
                "client must then trust anew)" % (self.request.ca_dir, present, missing, missing)
            )
        if has_certificate and (
            _load_certificate(self.ca_certificate_path) is None or _load_key(self.ca_key_path) is None
        ):
            return "ca_dir: %s holds a CA that cannot be read (PEM, no passphrase): restore it from your backup" % (
                self.request.ca_dir
            )
        return None

    def plan(self) -> Outcome:
        """What issuing would do, from the files alone."""
        ca_certificate = _load_certificate(self.ca_certificate_path)
        current = _load_certificate(self.request.certificate_path)
        key = _load_key(self.request.key_path)
        before = _describe(current) if current is not None else {}
        wanted = sorted(self.request.names)
        if ca_certificate is None:
            return Outcome("create", "the site CA is created first", True, before, {"names": wanted})
        if current is None or key is None:
            return Outcome("create", "the host has no certificate yet", False, before, {"names": wanted})
        reason = ""
        if _public_bytes(key.public_key()) != _public_bytes(current.public_key()):
            reason = "the key does not belong to the certificate"
        elif current.issuer != ca_certificate.subject or not _issued_by(current, ca_certificate):
            reason = "it was not issued by this site CA"
        elif before["names"] != sorted(_canonical(name) for name in wanted):
            reason = "its names %s differ from %s" % (", ".join(before["names"]), ", ".join(wanted))
        elif _not_after(current) - _now() < datetime.timedelta(days=self.request.renew_before_days):
            reason = "it expires %s, within renew_before_days=%d" % (
                before["not_after"],
                self.request.renew_before_days,
            )
        if reason:
            return Outcome("renew", reason, False, before, {"names": wanted})
        return Outcome("none", "valid until %s" % before["not_after"], False, before, before)

    def issue(self, outcome: Outcome) -> dict[str, Any]:
        """Create the CA when there is none, then a new key and certificate for the host (under the lock)."""
        with self.locked():
            if _load_certificate(self.ca_certificate_path) is None:  # another fork may have created it meanwhile
                self._create_ca()
            ca_certificate = _load_certificate(self.ca_certificate_path)
            ca_key = _load_key(self.ca_key_path)
            key, certificate = _host_certificate(self.request, ca_certificate, ca_key)
            write_private_file(self.request.key_path, key, 0o600)
            write_private_file(self.request.certificate_path, certificate, 0o644)
        described = _describe(_load_certificate(self.request.certificate_path))
        outcome.after = described
        return described

    def _create_ca(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.request.ca_name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=self.request.ca_valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage("key_cert_sign", "crl_sign"), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private_file(self.ca_key_path, _key_pem(key), 0o600)
        write_private_file(self.ca_certificate_path, _certificate_pem(certificate), 0o644)

    def ca_certificate(self) -> str:
        return read_text(self.ca_certificate_path) or ""


def _issued_by(certificate: Any, ca_certificate: Any) -> bool:
    """The CA's key signed the certificate (the CA's keys are ECDSA, see _create_ca)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ca_certificate.public_key().verify(
            certificate.signature,
            certificate.tbs_certificate_bytes,
            ec.ECDSA(certificate.signature_hash_algorithm),
        )
    except Exception:  # InvalidSignature, or a CA key that is not ECDSA: not issued by this CA
        return False
    return True


def _not_after(certificate: Any) -> datetime.datetime:
    """Expiry in UTC (cryptography 42 and newer name it not_valid_after_utc)."""
    if hasattr(certificate, "not_valid_after_utc"):
        return certificate.not_valid_after_utc
    return certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)  # noqa: UP017


def _key_usage(*allowed: str) -> Any:
    """keyUsage with only the named bits set (a CA signs certificates; an ECDSA server key signs handshakes)."""
    from cryptography import x509

    bits = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{bit: bit in allowed for bit in bits})


def _key_pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _certificate_pem(certificate: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _host_certificate(request: Request, ca_certificate: Any, ca_key: Any) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(_ip(name)) if _ip(name) is not None else x509.DNSName(name) for name in request.names]
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, request.host)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + datetime.timedelta(days=request.valid_days), _not_after(ca_certificate)))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _key_pem(key), _certificate_pem(certificate)


def run_site_certificate(module: Any) -> None:
    params = module.params
    request = Request(
        ca_dir=params["ca_dir"],
        host=params["common_name"],
        names=tuple(dict.fromkeys(params["subject_alt_names"])),
        valid_days=params["valid_days"],
        renew_before_days=params["renew_before_days"],
        ca_name=params["ca_name"],
        ca_valid_days=params["ca_valid_days"],
    )
    problems = request_problems(request)
    site_ca = SiteCa(request)
    ca_problem = site_ca.ca_problem() if not problems else None
    if ca_problem:
        problems.append(ca_problem)
    if problems:
        module.fail_json(msg="invalid site certificate request (nothing was changed): " + "; ".join(problems))
    try:
        import cryptography  # noqa: F401  (ansible-core requires it; a broken controller install says so here)
    except ImportError:
        module.fail_json(msg="the Python package cryptography is missing on the controller (ansible-core needs it)")
    outcome = site_ca.plan()
    result: dict[str, Any] = {
        "changed": outcome.action != "none",
        "action": outcome.action,
        "reason": outcome.reason,
        "ca_created": outcome.ca_created,
        "ca_certificate_path": site_ca.ca_certificate_path,
        "certificate_path": request.certificate_path,
        "private_key_path": request.key_path,
        "pending": module.check_mode and outcome.action != "none",
    }
    if outcome.action != "none" and not module.check_mode:
        site_ca.issue(outcome)
    result["certificate"] = "" if result["pending"] else (read_text(request.certificate_path) or "")
    result["ca_certificate"] = site_ca.ca_certificate()
    result.update({key: outcome.after.get(key) for key in ("names", "not_after")})
    if module._diff:
        result["diff"] = {"before": outcome.before, "after": outcome.after}
    module.exit_json(**result)
