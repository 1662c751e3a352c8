# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight's network checks against local stand-ins (tests/unit/fake_registry.py) on 127.0.0.1."""

from __future__ import annotations

import base64
import errno
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _reachability
from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError
from ansible_collections.speechops.edge.plugins.module_utils._reachability import (
    ReachabilityOptions,
    Target,
    check_billing,
    host_addresses,
    nearest_tags,
    parse_fib_trie,
    parse_if_inet6,
    parse_ip_json,
    parse_reference,
    resolve_targets,
    run_checks,
)
from ansible_collections.speechops.edge.tests.unit.fake_registry import (
    Pki,
    Proxy,
    Registry,
    closed_port,
    make_pki,
    serve_proxy,
    serve_registry,
    serve_tls,
    silent_port,
)

# Repository path and tags as Microsoft publishes them (speech-container-howto.md, speech-container-lid.md in
# MicrosoftDocs/azure-ai-docs; the container overview lists language detection 1.18.0 as current).
LID_REPOSITORY = "azure-cognitive-services/speechservices/language-detection"
STT_REPOSITORY = "azure-cognitive-services/speechservices/speech-to-text"
LID_TAGS = ["1.12.0-amd64-preview", "1.17.0-amd64-preview", "1.18.0-amd64-preview"]
STT_TAGS = ["5.0.0-amd64-en-us", "5.1.0-amd64-en-us", "5.1.0-amd64-de-de"]
USER, PASSWORD = "puller", "s3cret-pull"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make the test CA")
    return make_pki(tmp_path_factory.mktemp("pki"))


def registry_with(auth: str | None = None, head_allowed: bool = True) -> Registry:
    return Registry(
        repositories={LID_REPOSITORY: list(LID_TAGS), STT_REPOSITORY: list(STT_TAGS)},
        auth=auth,
        users={USER: PASSWORD} if auth else {},
        head_allowed=head_allowed,
    )


def options(pki: Pki, registry: Registry, **extra: object) -> ReachabilityOptions:
    base: dict[str, object] = {
        "registry": registry.host,
        "registry_ca_cert": pki.ca_crt.read_text(),
        "registry_config_path": "/nonexistent/config.json",
        "registry_certs_dir": "/nonexistent/certs.d",
        "check_billing": False,
        "check_bind_address": False,
        # An engine without a proxy: direct, whatever proxy the environment of the tests names.
        "registry_proxies": {},
    }
    base.update(extra)
    return ReachabilityOptions(**base)  # type: ignore[arg-type]


def lid_target(registry: Registry, version: str, name: str = "langdetect") -> Target:
    return resolve_targets(
        [{"name": name, "kind": "language-detection", "version": version, "preview": True}], registry=registry.host
    )[0]


# --- references ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reference, registry, repository, tag",
    [
        # Docker's reference grammar (distribution/reference): a first part with '.' or ':' is the registry.
        (
            "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us",
            "mcr.microsoft.com",
            STT_REPOSITORY,
            "5.1.0-amd64-en-us",
        ),
        ("registry.example.com:5000/speech/stt", "registry.example.com:5000", "speech/stt", "latest"),
        ("ubuntu:22.04", "docker.io", "library/ubuntu", "22.04"),
        ("localhost/app@sha256:" + "a" * 64, "localhost", "app", "sha256:" + "a" * 64),
    ],
)
def test_references_split_as_docker_does(reference: str, registry: str, repository: str, tag: str) -> None:
    ref = parse_reference(reference)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)


def test_targets_get_microsoft_image_names_and_fleet_defaults() -> None:
    targets = resolve_targets(
        [
            {"name": "stt", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-US"},
            {"name": "lid", "kind": "language-detection", "version": "1.18.0", "preview": True, "bind_address": "::"},
        ],
        billing="https://westeurope.api.cognitive.microsoft.com/",
    )
    # Microsoft's documented references (speech-container-howto.md, speech-container-lid.md).
    assert [target.image for target in targets] == [
        "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us",
        "mcr.microsoft.com/azure-cognitive-services/speechservices/language-detection:1.18.0-amd64-preview",
    ]
    assert [target.bind_address for target in targets] == ["0.0.0.0", "::"]
    assert {target.billing for target in targets} == {"https://westeurope.api.cognitive.microsoft.com/"}


def test_an_entry_without_version_is_named() -> None:
    with pytest.raises(CatalogError, match=r"reachability\[0\] \(stt\): version is missing"):
        resolve_targets([{"name": "stt", "kind": "speech-to-text", "locale": "en-US"}])


# --- images ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [None, "basic", "bearer"])
def test_an_existing_image_is_found_with_each_kind_of_auth(pki: Pki, auth: str | None) -> None:
    with serve_registry(pki, registry_with(auth)) as registry:
        report = run_checks(
            [lid_target(registry, "1.18.0")], options(pki, registry, registry_credentials=(USER, PASSWORD))
        )
    assert report.unmet == []
    [result] = report.images
    assert result.status == "found"
    assert result.digest == registry.digest(LID_REPOSITORY, "1.18.0-amd64-preview")
    manifest_requests = [request for request in registry.requests if "/manifests/" in request[1]]
    assert manifest_requests[0] == ("HEAD", "/v2/%s/manifests/1.18.0-amd64-preview" % LID_REPOSITORY)
    if auth == "bearer":
        assert any(path.startswith("/token?") and "scope=repository%3A" in path for _m, path in registry.requests)


def test_a_missing_tag_names_the_image_and_the_nearest_versions(pki: Pki) -> None:
    with serve_registry(pki, registry_with("bearer")) as registry:
        report = run_checks(
            [lid_target(registry, "1.13.0")], options(pki, registry, registry_credentials=(USER, PASSWORD))
        )
    [unmet] = report.unmet
    assert unmet.requirement == "image"
    assert unmet.message == (
        "container langdetect: tag 1.13.0-amd64-preview not found in %s/%s: check the version (the registry lists "
        "1.12.0-amd64-preview, 1.17.0-amd64-preview, 1.18.0-amd64-preview)" % (registry.host, LID_REPOSITORY)
    )


def test_an_unknown_locale_suggests_similar_tags_not_versions(pki: Pki) -> None:
    target = resolve_targets([{"name": "stt", "kind": "speech-to-text", "version": "5.1.0", "locale": "en-GB"}], "X")[0]
    with serve_registry(pki, registry_with()) as registry:
        target.image = target.image.replace("X/", registry.host + "/")
        report = run_checks([target], options(pki, registry))
    [unmet] = report.unmet
    assert "tag 5.1.0-amd64-en-gb not found" in unmet.message
    assert "check the locale and voice" in unmet.message
    assert "5.1.0-amd64-en-us" in unmet.message


def test_a_registry_without_head_is_asked_with_get(pki: Pki) -> None:
    with serve_registry(pki, registry_with("basic", head_allowed=False)) as registry:
        report = run_checks(
            [lid_target(registry, "1.17.0")], options(pki, registry, registry_credentials=(USER, PASSWORD))
        )
    assert report.unmet == [] and report.images[0].status == "found"
    assert ("GET", "/v2/%s/manifests/1.17.0-amd64-preview" % LID_REPOSITORY) in registry.requests


def test_an_unknown_repository_is_told_apart(pki: Pki) -> None:
    with serve_registry(pki, registry_with()) as registry:
        target = Target("odd", "%s/speechservices/unknown:1.0.0" % registry.host, None, None, None, "0.0.0.0")
        report = run_checks([target], options(pki, registry))
    [unmet] = report.unmet
    assert "repository speechservices/unknown not found in %s" % registry.host in unmet.message


def test_wrong_or_missing_credentials_are_reported_per_registry(pki: Pki) -> None:
    with serve_registry(pki, registry_with("basic")) as registry:
        wrong = run_checks(
            [lid_target(registry, "1.18.0", "a"), lid_target(registry, "1.17.0", "b")],
            options(pki, registry, registry_credentials=(USER, "wrong")),
        )
        none = run_checks([lid_target(registry, "1.18.0")], options(pki, registry))
    [unmet] = wrong.unmet  # one line for the registry, naming both images
    assert unmet.requirement == "registry_auth"
    assert "refused the credentials of user 'puller'" in unmet.message
    assert "1.18.0-amd64-preview" in unmet.message and "1.17.0-amd64-preview" in unmet.message
    assert "wrong" not in unmet.message
    assert "needs a login" in none.unmet[0].message


def test_the_engines_stored_credentials_and_certs_d_are_used(pki: Pki, tmp_path: Path) -> None:
    with serve_registry(pki, registry_with("bearer")) as registry:
        # What `docker login` writes (config.json "auths") and where the engine finds the CA (certs.d/HOST:PORT).
        config = tmp_path / "config.json"
        auth = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        config.write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
        certs = tmp_path / "certs.d" / registry.host
        certs.mkdir(parents=True)
        (certs / "ca.crt").write_bytes(pki.ca_crt.read_bytes())
        report = run_checks(
            [lid_target(registry, "1.18.0")],
            options(
                pki,
                registry,
                registry_ca_cert=None,
                registry_config_path=str(config),
                registry_certs_dir=str(tmp_path / "certs.d"),
            ),
        )
    assert report.unmet == [] and report.images[0].status == "found"


def test_an_untrusted_registry_certificate_says_where_the_ca_goes(pki: Pki) -> None:
    with serve_registry(pki, registry_with()) as registry:
        report = run_checks([lid_target(registry, "1.18.0")], options(pki, registry, registry_ca_cert=None))
    [unmet] = report.unmet
    assert unmet.requirement == "registry_trust"
    assert "certificate verify failed" in unmet.message or "self-signed" in unmet.message or "issuer" in unmet.message
    assert "/nonexistent/certs.d/%s/ca.crt" % registry.host in unmet.message


def test_an_unreachable_registry_is_reported_at_once() -> None:
    port = closed_port()
    target = Target("lid", "127.0.0.1:%d/%s:1.18.0-amd64-preview" % (port, LID_REPOSITORY), None, None, None, "0.0.0.0")
    started = time.monotonic()
    report = run_checks([target], ReachabilityOptions(check_billing=False, check_bind_address=False))
    assert time.monotonic() - started < 5
    [unmet] = report.unmet
    assert unmet.requirement == "registry_unreachable"
    assert "registry 127.0.0.1:%d is unreachable from this host (Connection refused)" % port in unmet.message


def test_an_image_the_engine_has_needs_no_request(pki: Pki) -> None:
    with serve_registry(pki, registry_with()) as registry:
        target = lid_target(registry, "1.13.0")  # not in the registry: only the engine has it (air-gapped host)
        report = run_checks([target], options(pki, registry), local_images={target.image or ""})
    assert report.unmet == [] and report.images[0].status == "present"
    assert registry.requests == []


def test_several_images_are_asked_concurrently(pki: Pki) -> None:
    with serve_registry(pki, registry_with("bearer")) as registry:
        targets = [lid_target(registry, version, "lid-%s" % version) for version in ("1.12.0", "1.17.0", "1.18.0")]
        report = run_checks(targets, options(pki, registry, registry_credentials=(USER, PASSWORD)))
    assert [result.status for result in report.images] == ["found"] * 3
    assert [result.containers for result in report.images] == [["lid-1.12.0"], ["lid-1.17.0"], ["lid-1.18.0"]]


def test_registry_requests_go_through_the_engines_proxy(pki: Pki) -> None:
    with serve_registry(pki, registry_with()) as registry, serve_proxy(Proxy(None)) as proxy:
        engine = {"http": "", "https": "http://127.0.0.1:%d" % proxy.port, "no": "localhost"}
        proxied = run_checks([lid_target(registry, "1.18.0")], options(pki, registry, registry_proxies=engine))
        bypassed = run_checks(
            [lid_target(registry, "1.17.0")], options(pki, registry, registry_proxies=dict(engine, no="127.0.0.1"))
        )
    assert proxied.unmet == [] and bypassed.unmet == []
    assert proxy.connects == [registry.host]  # only the first: NO_PROXY names the registry in the second


def test_an_engine_proxy_with_a_masked_password_is_not_used() -> None:
    # The engine masks proxy credentials in its info as xxxxx:xxxxx (moby daemon/info.go, maskCredentials).
    masked = {"https": "http://xxxxx:xxxxx@proxy.example.com:3128", "no": ""}
    assert _reachability.engine_proxy("registry.example.com", masked) is None
    assert _reachability.engine_proxy("registry.example.com", {"https": "", "http": "", "no": ""}) == ""


def test_nearest_tags_prefer_versions_around_the_missing_one() -> None:
    tags = ["%d.0.0-amd64-en-us" % major for major in range(1, 10)] + ["4.0.0-amd64-de-de"]
    assert nearest_tags("4.5.0-amd64-en-us", tags) == (
        ["3.0.0-amd64-en-us", "4.0.0-amd64-en-us", "5.0.0-amd64-en-us", "6.0.0-amd64-en-us", "7.0.0-amd64-en-us"],
        True,
    )


# --- billing ---------------------------------------------------------------------------------------------------
def test_a_billing_endpoint_with_the_given_ca_is_reachable(pki: Pki) -> None:
    with serve_tls(pki) as port:
        result = check_billing("https://127.0.0.1:%d/" % port, ca_file=str(pki.ca_crt))
    assert result.reachable and result.problem == "" and (result.host, result.port) == ("127.0.0.1", port)


def test_a_billing_certificate_from_another_ca_is_untrusted(pki: Pki) -> None:
    with serve_tls(pki) as port:
        untrusted = check_billing("https://127.0.0.1:%d/" % port, ca_file=str(pki.other_ca_crt))
        system_only = check_billing("https://localhost:%d/" % port)
    assert not untrusted.reachable and untrusted.problem == "untrusted"
    assert not system_only.reachable and system_only.problem == "untrusted"


def test_a_closed_billing_port_is_reported_in_seconds_naming_the_endpoint() -> None:
    port = closed_port()
    target = Target("lid", None, "https://127.0.0.1:%d/sts/v1.0/issuetoken" % port, None, None, "0.0.0.0")
    started = time.monotonic()
    report = run_checks([target], ReachabilityOptions(check_bind_address=False))
    assert time.monotonic() - started < 5
    [unmet] = report.unmet
    assert unmet.requirement == "billing"
    assert unmet.message.startswith(
        "container lid: billing endpoint https://127.0.0.1:%d/sts/v1.0/issuetoken (127.0.0.1:%d) is unreachable from "
        "this host (Connection refused)" % (port, port)
    )


def test_a_silent_billing_endpoint_gives_up_at_the_timeout() -> None:
    with silent_port() as port:
        started = time.monotonic()
        result = check_billing("https://127.0.0.1:%d/" % port, timeout=0.5)
        elapsed = time.monotonic() - started
    assert not result.reachable and result.problem == "unreachable"
    assert "timed out after 0.5 s" in result.detail
    assert 0.4 < elapsed < 3


def test_billing_goes_through_the_containers_proxy_with_its_credentials(pki: Pki) -> None:
    with serve_tls(pki) as port, serve_proxy(Proxy("user:pa ss")) as proxy:
        endpoint = "https://127.0.0.1:%d/" % port
        proxy_url = "http://127.0.0.1:%d" % proxy.port
        good = check_billing(endpoint, str(pki.ca_crt), proxy_url, "user:pa ss")
        in_url = check_billing(endpoint, str(pki.ca_crt), "http://user:pa%%20ss@127.0.0.1:%d" % proxy.port)
        refused = check_billing(endpoint, str(pki.ca_crt), proxy_url, "user:wrong")
    assert good.reachable and in_url.reachable and good.proxy == "127.0.0.1:%d" % proxy.port
    assert proxy.connects == ["127.0.0.1:%d" % port] * 3
    assert not refused.reachable and refused.problem == "proxy" and "407" in refused.detail
    assert "wrong" not in refused.detail


def test_entries_without_billing_are_skipped_with_a_note() -> None:
    report = run_checks([Target("offline", None, None, None, None, "0.0.0.0")], ReachabilityOptions())
    assert report.unmet == [] and report.billing == []
    assert report.notes == [
        "container offline has no billing endpoint (disconnected), so billing reachability is not checked"
    ]


# --- bind addresses --------------------------------------------------------------------------------------------
def _bindable(address: str) -> bool:
    """The kernel's answer: an address of this host can be bound (what docker-proxy does to publish a port)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            return False
    return True


def test_host_addresses_are_the_addresses_the_kernel_binds() -> None:
    addresses = host_addresses()
    assert "127.0.0.1" in addresses
    assert all(_bindable(address) for address in addresses)
    from_proc = host_addresses(ip_command=None)
    assert {a for a in from_proc if ":" not in a} == {a for a in addresses if ":" not in a}


def test_fib_trie_and_if_inet6_agree_with_ip_json() -> None:
    if not shutil.which("ip"):
        pytest.skip("iproute2 is not installed")
    ip_json = parse_ip_json(
        subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True).stdout
    )
    fib = parse_fib_trie(Path("/proc/net/fib_trie").read_text())
    inet6 = parse_if_inet6(Path("/proc/net/if_inet6").read_text())
    assert {a for a in ip_json if ":" not in a} == set(fib)
    assert {a for a in ip_json if ":" in a} == set(inet6)
    assert all(ip_json[a] == name for a, name in inet6.items())


def test_a_foreign_bind_address_is_unmet_and_lists_the_hosts_addresses() -> None:
    foreign = next(a for a in ("10.9.9.9", "203.0.113.77", "198.51.100.77") if not _bindable(a))
    targets = [
        Target("lid", None, None, None, None, foreign),
        Target("any", None, None, None, None, "0.0.0.0"),
        Target("any6", None, None, None, None, "::"),
        Target("loop", None, None, None, None, "127.0.0.1"),
    ]
    report = run_checks(targets, ReachabilityOptions(check_billing=False, check_images=False))
    [unmet] = report.unmet
    assert unmet.requirement == "bind_address"
    assert unmet.message.startswith(
        "container lid: bind_address %s is not an address of this host (its addresses: " % foreign
    )
    assert "127.0.0.1 (lo)" in unmet.message or "127.0.0.1," in unmet.message


def test_each_check_can_be_turned_off() -> None:
    port = closed_port()
    target = Target("lid", "127.0.0.1:%d/x:1" % port, "https://127.0.0.1:%d/" % port, None, None, "10.9.9.9")
    report = run_checks(
        [target], ReachabilityOptions(check_images=False, check_billing=False, check_bind_address=False)
    )
    assert report.unmet == [] and report.images == [] and report.billing == []


def test_bind_check_reads_proc_when_ip_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_reachability.shutil, "which", lambda _name: None)
    (tmp_path / "fib_trie").write_text(Path("/proc/net/fib_trie").read_text())
    (tmp_path / "if_inet6").write_text("00000000000000000000000000000001 01 80 10 80       lo\n")
    assert "::1" in host_addresses(proc_net=str(tmp_path))
