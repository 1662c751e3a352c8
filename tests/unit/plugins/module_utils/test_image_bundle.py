# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images copied registry to registry and through an offline bundle, judged by Debian's docker-registry
(distribution 2.8): it verifies every uploaded blob against its digest (DIGEST_INVALID otherwise) and every manifest
against the blobs it names (MANIFEST_BLOB_UNKNOWN), and answers a manifest's digest in Docker-Content-Digest. Two
registries on loopback with TLS and htpasswd logins, like the lab's and a site's. `.ci/run` installs docker-registry.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import ssl
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.speechops.edge.plugins.module_utils._image_bundle import Bundle, Transfer, copy_image
from ansible_collections.speechops.edge.plugins.module_utils._registry_client import (
    Manifest,
    Reference,
    RegistryClient,
    RegistryError,
)
from ansible_collections.speechops.edge.plugins.modules import speech_images
from certificates import self_signed
from polling import poll

from ..modules.module_runner import run_module

REGISTRY = shutil.which("docker-registry")
HTPASSWD = shutil.which("htpasswd")
REPOSITORY = "azure-cognitive-services/speechservices/speech-to-text"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class Registry:
    name: str  # 127.0.0.1:PORT
    ca_file: str
    username: str
    password: str
    process: subprocess.Popen

    def client(self, password: str | None = None) -> RegistryClient:
        return RegistryClient(self.name, self.username, password or self.password, ca_file=self.ca_file)

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """What the registry itself says the tag's manifest digest is (HEAD, Docker-Content-Digest)."""
        request = urllib.request.Request(
            "https://%s/v2/%s/manifests/%s" % (self.name, repository, tag),
            method="HEAD",
            headers={"Accept": MANIFEST_V2, "Authorization": _basic(self.username, self.password)},
        )
        context = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as answer:
                return answer.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError:
            return None


def _basic(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode()).decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(name: str, ca_file: str) -> bool:
    context = ssl.create_default_context(cafile=ca_file)
    try:
        urllib.request.urlopen("https://%s/v2/" % name, context=context, timeout=2)
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except OSError:
        return False
    return False


def start_registry(directory: Path, username: str, password: str) -> Registry:
    directory.mkdir()
    certificate, key, ca_file = self_signed(directory)
    (directory / "registry.crt").write_text(certificate)
    (directory / "registry.key").write_text(key)
    subprocess.run(
        [HTPASSWD or "htpasswd", "-Bbc", str(directory / "htpasswd"), username, password],
        check=True,
        capture_output=True,
    )
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
        "http": {
            "addr": "127.0.0.1:%d" % port,
            "tls": {"certificate": str(directory / "registry.crt"), "key": str(directory / "registry.key")},
        },
        "auth": {"htpasswd": {"realm": "speechops-test", "path": str(directory / "htpasswd")}},
    }
    (directory / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    process = subprocess.Popen(
        [REGISTRY or "docker-registry", "serve", str(directory / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    name = "127.0.0.1:%d" % port
    poll(lambda: _answers(name, str(ca_file)), 15, "docker-registry on %s" % name, interval=0.05)
    return Registry(name, str(ca_file), username, password, process)


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Registry]]:
    if REGISTRY is None or HTPASSWD is None:
        pytest.fail("Debian's docker-registry and apache2-utils are needed (.ci/run installs them)")
    root = tmp_path_factory.mktemp("registries")
    upstream = start_registry(root / "upstream", "lab", "upstream-password-1")
    site = start_registry(root / "site", "site", "site-password-2")
    try:
        yield upstream, site
    finally:
        for registry in (upstream, site):
            registry.process.terminate()
            registry.process.wait(timeout=10)


def _layer(content: bytes, name: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_test_image(
    registry: Registry, tag: str, payload: bytes, repository: str = REPOSITORY
) -> tuple[Manifest, list[bytes]]:
    """A small image (config + two gzip layers) pushed with our client; the registry verifies every digest."""
    layers = [_layer(payload, "model.bin"), _layer(b"speech " * 1000, "etc/speech.conf")]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}, "config": {}}
    ).encode()
    blobs = [config, *layers]
    digests = ["sha256:" + hashlib.sha256(blob).hexdigest() for blob in blobs]
    manifest_body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": digests[0],
            },
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(blob), "digest": digest}
                for blob, digest in zip(layers, digests[1:], strict=True)
            ],
        }
    ).encode()
    client = registry.client()
    for blob, digest in zip(blobs, digests, strict=True):
        client.push_blob(repository, digest, len(blob), io.BytesIO(blob))
    manifest = Manifest(MANIFEST_V2, manifest_body, "sha256:" + hashlib.sha256(manifest_body).hexdigest())
    client.push_manifest(repository, tag, manifest)
    return manifest, blobs


def test_a_registry_to_registry_copy_keeps_the_digest(registries: tuple[Registry, Registry]) -> None:
    upstream, site = registries
    manifest, _blobs = push_test_image(upstream, "5.1.0-amd64-en-us", b"model-a" * 50000)
    assert upstream.manifest_digest(REPOSITORY, "5.1.0-amd64-en-us") == manifest.digest  # the registry agrees
    reference = Reference.parse("%s/%s:5.1.0-amd64-en-us" % (upstream.name, REPOSITORY))
    transfer = Transfer()
    image = copy_image(upstream.client(), reference, site.client(), REPOSITORY, "5.1.0-amd64-en-us", transfer)
    assert image["digest"] == manifest.digest
    assert site.manifest_digest(REPOSITORY, "5.1.0-amd64-en-us") == manifest.digest
    assert transfer.blobs_moved == 3 and transfer.blobs_present == 0
    again = Transfer()
    copy_image(upstream.client(), reference, site.client(), REPOSITORY, "5.1.0-amd64-en-us", again)
    assert again.blobs_moved == 0 and again.blobs_present == 3 and again.bytes_moved == 0  # one copy per site


def test_layers_shared_across_repositories_cross_the_link_once(registries: tuple[Registry, Registry]) -> None:
    """A fleet's images share layers across repositories (speech-to-text and neural-text-to-speech): the copy moves
    each distinct blob once and mounts it into the next repository (the site registry would refuse the manifest,
    MANIFEST_BLOB_UNKNOWN, if the blob were not linked there)."""
    upstream, site = registries
    one, other = "shared/speech-to-text", "shared/neural-text-to-speech"  # repositories no other test uses
    payload = b"shared-base-layer" * 40000
    first, blobs = push_test_image(upstream, "9.0.0-amd64-shared", payload, repository=one)
    second, _same = push_test_image(upstream, "9.0.0-amd64-shared", payload, repository=other)
    assert second.digest == first.digest  # the same bytes in two repositories of the upstream
    transfer = Transfer()
    for repository in (one, other):
        reference = Reference.parse("%s/%s:9.0.0-amd64-shared" % (upstream.name, repository))
        copy_image(upstream.client(), reference, site.client(), repository, "9.0.0-amd64-shared", transfer)
    assert transfer.bytes_moved == sum(len(blob) for blob in blobs)  # one copy of each distinct blob
    assert (transfer.blobs_moved, transfer.blobs_present) == (3, 3)
    assert site.manifest_digest(other, "9.0.0-amd64-shared") == first.digest


def test_a_bundle_exported_carried_and_imported_keeps_the_digest(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    upstream, site = registries
    manifest, blobs = push_test_image(upstream, "5.0.0-amd64-en-us", b"model-b" * 60000)
    reference = Reference.parse("%s/%s:5.0.0-amd64-en-us" % (upstream.name, REPOSITORY))
    exported = Transfer()
    Bundle(str(tmp_path / "disk")).export(upstream.client(), reference, exported)
    assert exported.bytes_moved == sum(len(blob) for blob in blobs)
    # OCI image layout (image-spec image-layout.md): what other tools read, not only ours.
    assert json.loads((tmp_path / "disk" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    carried = tmp_path / "carried"
    shutil.copytree(tmp_path / "disk", carried)  # the disk travels
    bundle = Bundle(str(carried))
    [image] = [entry for entry in bundle.images() if entry["reference"].endswith(":5.0.0-amd64-en-us")]
    assert image["digest"] == manifest.digest
    imported = Transfer()
    bundle.push(image, site.client(), REPOSITORY, "5.0.0-amd64-en-us", imported)
    assert site.manifest_digest(REPOSITORY, "5.0.0-amd64-en-us") == manifest.digest
    again = Transfer()
    bundle.push(image, site.client(), REPOSITORY, "5.0.0-amd64-en-us", again)
    assert again.blobs_moved == 0 and again.bytes_moved == 0


def test_an_interrupted_export_resumes_with_a_range_request(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    upstream, _site = registries
    _manifest, blobs = push_test_image(upstream, "resume", b"model-c" * 80000)
    bundle = Bundle(str(tmp_path / "disk"))
    big = max(blobs, key=len)
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    partial = Path(bundle.blob_path(digest) + ".partial")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(big[: len(big) // 2])  # the first half arrived before the link went down
    transfer = Transfer()
    bundle.export(upstream.client(), Reference.parse("%s/%s:resume" % (upstream.name, REPOSITORY)), transfer)
    assert transfer.bytes_moved == sum(len(blob) for blob in blobs) - len(big) // 2
    assert Path(bundle.blob_path(digest)).read_bytes() == big and not partial.exists()


def test_a_damaged_bundle_is_refused_before_the_registry_holds_the_image(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    upstream, site = registries
    _manifest, blobs = push_test_image(upstream, "damaged", b"model-d" * 40000)
    bundle = Bundle(str(tmp_path / "disk"))
    bundle.export(upstream.client(), Reference.parse("%s/%s:damaged" % (upstream.name, REPOSITORY)), Transfer())
    big = max(blobs, key=len)
    path = Path(bundle.blob_path("sha256:" + hashlib.sha256(big).hexdigest()))
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF  # one bit flipped on the way
    path.write_bytes(bytes(data))
    [image] = [entry for entry in bundle.images() if entry["reference"].endswith(":damaged")]
    with pytest.raises(RegistryError, match="is damaged"):
        bundle.push(image, site.client(), "other/repository", "damaged", Transfer())
    assert site.manifest_digest("other/repository", "damaged") is None


def test_a_wrong_login_names_the_registry_and_the_fix(registries: tuple[Registry, Registry]) -> None:
    upstream, _site = registries
    with pytest.raises(RegistryError, match="%s: .*login refused \\(401\\)" % upstream.name):
        upstream.client(password="wrong").manifest(REPOSITORY, "5.1.0-amd64-en-us")
    assert "wrong" not in str(upstream)


def test_references_are_read_as_docker_reads_them() -> None:
    reference = Reference.parse(
        "mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us"
    )
    assert (reference.registry, reference.repository, reference.tag) == (
        "mcr.microsoft.com",
        "azure-cognitive-services/speechservices/speech-to-text",
        "5.1.0-amd64-en-us",
    )
    assert Reference.parse("registry.lab:5000/a/b:1").registry == "registry.lab:5000"
    with pytest.raises(RegistryError, match="no registry host"):
        Reference.parse("speech-to-text:5.1.0")


# ---- the module: act, act again (not changed), change one thing (changed) -----------------------------------------
def images_module(args: dict[str, Any], check_mode: bool = False) -> tuple[bool, dict[str, Any]]:
    return run_module(speech_images.main, args, check_mode=check_mode)


def test_speech_images_export_then_import_through_a_bundle(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    upstream, site = registries
    manifest, _blobs = push_test_image(upstream, "4.9.0-amd64-en-us", b"model-e" * 30000)
    image = "%s/%s:4.9.0-amd64-en-us" % (upstream.name, REPOSITORY)
    source = {
        "username": upstream.username,
        "password": upstream.password,
        "ca_cert": Path(upstream.ca_file).read_text(),
    }
    destination = {
        "registry": site.name,
        "username": site.username,
        "password": site.password,
        "ca_cert": Path(site.ca_file).read_text(),
    }
    export = {"mode": "export", "images": [image], "source": source, "bundle": str(tmp_path / "bundle")}
    failed, predicted = images_module(export, check_mode=True)
    assert not failed and predicted["changed"] and predicted["bytes_moved"] == 0
    assert not (tmp_path / "bundle").exists()
    failed, exported = images_module(export)
    assert not failed and exported["changed"] and exported["images"][0]["digest"] == manifest.digest
    failed, again = images_module(export)
    assert not failed and not again["changed"] and again["bytes_moved"] == 0
    imported_args = {
        "mode": "import",
        "images": [image],
        "destination": destination,
        "bundle": str(tmp_path / "bundle"),
    }
    failed, imported = images_module(imported_args)
    assert not failed and imported["changed"]
    assert site.manifest_digest(REPOSITORY, "4.9.0-amd64-en-us") == manifest.digest
    failed, again = images_module(imported_args)
    assert not failed and not again["changed"]
    for secret in (upstream.password, site.password):
        assert secret not in json.dumps([predicted, exported, imported])


def test_speech_images_refuses_an_image_that_is_not_the_pinned_digest(registries: tuple[Registry, Registry]) -> None:
    upstream, site = registries
    push_test_image(upstream, "pinned", b"model-f" * 1000)
    wrong = "sha256:" + "0" * 64
    args = {
        "mode": "copy",
        "images": ["%s/%s:pinned@%s" % (upstream.name, REPOSITORY, wrong)],
        "source": {"username": upstream.username, "password": upstream.password, "ca_cert": Path(upstream.ca_file).read_text()},
        "destination": {"registry": site.name, "username": site.username, "password": site.password,
                        "ca_cert": Path(site.ca_file).read_text()},
    }  # fmt: skip
    failed, result = images_module(args)
    # Docker pulls REPOSITORY:TAG@DIGEST by the digest: content that is not the pinned digest never moves.
    assert failed and "%s: not found (404)" % wrong in result["msg"] and upstream.password not in result["msg"]
    assert site.manifest_digest(REPOSITORY, "pinned") is None


def test_speech_images_bad_input_names_the_field() -> None:
    failed, result = images_module({"mode": "import", "images": ["speech-to-text:5.1.0"]})
    assert failed and "nothing was changed" in result["msg"]
    assert "images[0]: 'speech-to-text:5.1.0' has no registry host" in result["msg"]
    assert "bundle: needed with mode=import" in result["msg"]
    assert "destination.registry: needed with mode=import" in result["msg"]


def _logins(upstream: Registry, site: Registry) -> tuple[dict[str, Any], dict[str, Any]]:
    source = {
        "username": upstream.username,
        "password": upstream.password,
        "ca_cert": Path(upstream.ca_file).read_text(),
    }
    destination = {"registry": site.name, "username": site.username, "password": site.password,
                   "ca_cert": Path(site.ca_file).read_text()}  # fmt: skip
    return source, destination


def test_speech_images_fills_a_site_cache_from_the_upstream_then_trusts_it_when_the_link_is_down(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    upstream, site = registries
    manifest, _blobs = push_test_image(upstream, "5.0.0-cache", b"model-g" * 20000)
    source, destination = _logins(upstream, site)
    # The image named as the site's hosts pull it (from the site cache); the bytes come from source.registry.
    image = "%s/%s:5.0.0-cache" % (site.name, REPOSITORY)
    args = {"mode": "copy", "images": [image], "refresh": "missing", "progress_file": str(tmp_path / "progress"),
            "source": dict(source, registry=upstream.name), "destination": destination}  # fmt: skip
    failed, copied = images_module(args)
    assert not failed and copied["changed"] and copied["images"][0]["digest"] == manifest.digest
    assert site.manifest_digest(REPOSITORY, "5.0.0-cache") == manifest.digest
    lines = (tmp_path / "progress").read_text().splitlines()
    assert lines[-1].endswith("(100%), done") and image in lines[-1]
    # The upstream is cut off (a login that no longer works stands for the link): refresh=missing does not ask it.
    cut = dict(args, source=dict(source, registry="127.0.0.1:9"))
    failed, again = images_module(cut)
    assert not failed and not again["changed"] and again["bytes_moved"] == 0
    failed, asked = images_module(dict(cut, refresh="always"))
    assert failed and "127.0.0.1:9" in asked["msg"]


def test_speech_images_import_checks_the_whole_bundle_before_it_sends_anything(
    registries: tuple[Registry, Registry], tmp_path: Path
) -> None:
    upstream, site = registries
    good, _blobs = push_test_image(upstream, "import-good", b"model-h" * 3000)
    damaged, blobs = push_test_image(upstream, "import-damaged", b"model-i" * 3000)
    source, destination = _logins(upstream, site)
    images = ["%s/%s:%s" % (upstream.name, REPOSITORY, tag) for tag in ("import-good", "import-damaged")]
    bundle = tmp_path / "bundle"
    failed, _result = images_module({"mode": "export", "images": images, "source": source, "bundle": str(bundle)})
    assert not failed
    # A wrong pin on the second image: the first one must not reach the site either.
    pinned = [images[0], images[1] + "@sha256:" + "1" * 64]
    args = {"mode": "import", "images": pinned, "destination": destination, "bundle": str(bundle)}
    failed, result = images_module(args)
    assert failed and "images[1]" in result["msg"] and "not the pinned sha256:" + "1" * 64 in result["msg"]
    assert "export the pinned image again, or fix the pin" in result["msg"]
    assert site.manifest_digest(REPOSITORY, "import-good") is None
    # A damaged layer of the second image (the hash is of the bytes, not of a name).
    layer_digest = damaged.blobs()[-1][0]
    layer = bundle / "blobs" / "sha256" / layer_digest.split(":", 1)[1]
    data = bytearray(layer.read_bytes())
    data[-1] ^= 0xFF
    layer.write_bytes(bytes(data))
    failed, result = images_module(dict(args, images=images))
    assert failed and "blob %s of" % layer_digest in result["msg"] and "damaged" in result["msg"]
    assert site.manifest_digest(REPOSITORY, "import-good") is None
    assert good.digest != damaged.digest and blobs
