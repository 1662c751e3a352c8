# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Images that travel: registry to registry, registry to an offline bundle on a disk, bundle to a registry.

A bundle is an OCI image layout directory (OCI image-spec, image-layout.md): `oci-layout`, `index.json` naming each
image (annotation `org.opencontainers.image.ref.name`, the reference the fleet uses) with its manifest's digest, and
every manifest, config and layer under `blobs/sha256/`. Manifests and blobs are copied byte for byte, so an image has
the same digest in the upstream registry, the bundle and the site's registry. Every blob is verified against its
digest when it is written and again when it is read for an import; an interrupted export or import resumes where it
stopped (blobs already there are skipped, a partial blob continues with a Range request).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._registry_client import (
    CHUNK,
    HashingReader,
    Manifest,
    Reference,
    RegistryClient,
    RegistryError,
    fetch_blob,
    sha256_digest,
)

LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
REF_ANNOTATION = "org.opencontainers.image.ref.name"


@dataclass
class Transfer:
    """What one export, import or copy moved: images, blobs, bytes; `progress` sees every chunk."""

    images: list[dict[str, Any]] = field(default_factory=list)
    blobs_moved: int = 0
    blobs_present: int = 0
    bytes_moved: int = 0
    progress: Callable[[int], None] | None = None
    # digest -> a repository of the target that holds it: images of one fleet share layers across repositories,
    # and a cross-repository mount links them without moving the bytes again.
    placed: dict[str, str] = field(default_factory=dict)

    def moved(self, count: int) -> None:
        self.bytes_moved += count
        if self.progress:
            self.progress(count)

    def present(self, size: int) -> None:
        """A blob the target holds already: not moved, but done as far as progress goes."""
        self.blobs_present += 1
        if self.progress:
            self.progress(size)

    def at_target(self, target: RegistryClient, repository: str, digest: str, size: int) -> bool:
        """True when `repository` of the target holds the blob already or it was mounted there from another
        repository of the target that holds it; then nothing needs to move."""
        source = self.placed.get(digest)
        if target.has_blob(repository, digest) or (source and target.mount_blob(repository, digest, source)):
            self.placed.setdefault(digest, repository)
            self.present(size)
            return True
        return False

    def pushed(self, repository: str, digest: str) -> None:
        self.placed[digest] = repository
        self.blobs_moved += 1


class Bundle:
    """An OCI image layout directory on a disk."""

    def __init__(self, path: str) -> None:
        self.path = path

    def blob_path(self, digest: str) -> str:
        algorithm, _colon, hexdigest = digest.partition(":")
        return os.path.join(self.path, "blobs", algorithm, hexdigest)

    def has(self, digest: str, size: int) -> bool:
        try:
            return os.path.getsize(self.blob_path(digest)) == size
        except OSError:
            return False

    def index(self) -> dict[str, Any]:
        try:
            with open(os.path.join(self.path, "index.json"), encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except ValueError as exc:
            raise RegistryError("bundle %s: index.json is not JSON (%s)" % (self.path, exc)) from exc

    def images(self) -> list[dict[str, Any]]:
        """{reference, digest, media_type, size} of every image in the bundle."""
        return [
            {
                "reference": entry.get("annotations", {}).get(REF_ANNOTATION, ""),
                "digest": entry["digest"],
                "media_type": entry["mediaType"],
                "size": entry["size"],
            }
            for entry in self.index().get("manifests", [])
        ]

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        os.makedirs(self.path, exist_ok=True)
        _write_json(os.path.join(self.path, "oci-layout"), LAYOUT_VERSION)
        _write_json(os.path.join(self.path, "index.json"), {"schemaVersion": 2, "manifests": entries})

    def export(
        self,
        client: RegistryClient,
        reference: Reference,
        transfer: Transfer,
        manifest: Manifest | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Put one image into the bundle (blobs first, the index last: a half export names no image).

        `name`: the reference the bundle's index gives it, when the bytes come from another registry than the one
        the fleet names (a central mirror)."""
        manifest = manifest or resolve(client, reference)
        os.makedirs(os.path.dirname(self.blob_path(manifest.digest)), exist_ok=True)
        for digest, size in manifest.blobs():
            if self.has(digest, size):
                transfer.present(size)
                continue
            fetch_blob(client, reference.repository, digest, self.blob_path(digest), transfer.moved)
            transfer.blobs_moved += 1
        with open(self.blob_path(manifest.digest), "wb") as handle:
            handle.write(manifest.body)
        name = name or reference.name
        entries = [
            entry for entry in self.index()["manifests"] if entry.get("annotations", {}).get(REF_ANNOTATION) != name
        ]
        entries.append(
            {
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": len(manifest.body),
                "annotations": {REF_ANNOTATION: name},
            }
        )
        self._write_index(entries)
        image = {"reference": name, "digest": manifest.digest}
        transfer.images.append(image)
        return image

    def manifest(self, digest: str, media_type: str) -> Manifest:
        with open(self.blob_path(digest), "rb") as handle:
            body = handle.read()
        if sha256_digest(body) != digest:
            raise RegistryError("bundle %s: manifest %s is damaged (its bytes hash otherwise)" % (self.path, digest))
        return Manifest(media_type, body, digest)

    def verify(self, image: dict[str, Any]) -> None:
        """Every blob of one image present and hashing to its digest: checked for all images before an import
        sends anything, so a damaged or incomplete bundle leaves the registry untouched."""
        manifest = self.manifest(image["digest"], image["media_type"])
        for digest, size in manifest.blobs():
            if not self.has(digest, size):
                raise RegistryError(
                    "bundle %s lacks blob %s of %s: export it again" % (self.path, digest, image["reference"])
                )
            if file_digest(self.blob_path(digest)) != digest:
                raise RegistryError(
                    "bundle %s: blob %s of %s is damaged (its bytes hash otherwise): export it again"
                    % (self.path, digest, image["reference"])
                )

    def push(
        self, image: dict[str, Any], client: RegistryClient, repository: str, tag: str, transfer: Transfer
    ) -> None:
        """Put one image of the bundle into a registry: blobs it lacks (verified while read), then the manifest."""
        manifest = self.manifest(image["digest"], image["media_type"])
        for digest, size in manifest.blobs():
            if transfer.at_target(client, repository, digest, size):
                continue
            if not self.has(digest, size):
                raise RegistryError(
                    "bundle %s lacks blob %s of %s: export it again" % (self.path, digest, image["reference"])
                )
            # Hashed before it is sent: a damaged bundle fails before the registry holds half an image.
            if file_digest(self.blob_path(digest)) != digest:
                raise RegistryError("bundle %s: blob %s is damaged (its bytes hash otherwise)" % (self.path, digest))
            with open(self.blob_path(digest), "rb") as handle:
                reader = HashingReader(iter(lambda: handle.read(CHUNK), b""), transfer.moved)
                client.push_blob(repository, digest, size, reader)  # type: ignore[arg-type]
            transfer.pushed(repository, digest)
        client.push_manifest(repository, tag, manifest)
        transfer.images.append({"reference": image["reference"], "digest": manifest.digest})


def file_digest(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def resolve(client: RegistryClient, reference: Reference) -> Manifest:
    """The image manifest a reference names; one pinned by digest must be exactly that manifest."""
    manifest = client.manifest(reference.repository, reference.reference)
    if reference.digest and manifest.digest != reference.digest:
        raise RegistryError("%s resolves to %s, not the pinned digest" % (reference, manifest.digest))
    return manifest


def copy_image(
    source: RegistryClient,
    reference: Reference,
    target: RegistryClient,
    repository: str,
    tag: str,
    transfer: Transfer,
    manifest: Manifest | None = None,
) -> dict[str, Any]:
    """Registry to registry, blobs streamed through this process (the registry checks each digest on upload)."""
    manifest = manifest or resolve(source, reference)
    for digest, size in manifest.blobs():
        if transfer.at_target(target, repository, digest, size):
            continue
        reader = HashingReader(source.read_blob(reference.repository, digest), transfer.moved)
        target.push_blob(repository, digest, size, reader)  # type: ignore[arg-type]
        if reader.digest() != digest:
            raise RegistryError("blob %s from %s hashed to %s on the way" % (digest, source.registry, reader.digest()))
        transfer.pushed(repository, digest)
    target.push_manifest(repository, tag, manifest)
    image = {"reference": str(reference), "digest": manifest.digest}
    transfer.images.append(image)
    return image


def _write_json(path: str, document: dict[str, Any]) -> None:
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    os.replace(partial, path)
