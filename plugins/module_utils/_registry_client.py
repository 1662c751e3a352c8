# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client of the registry HTTP API V2 (the OCI distribution spec) in the standard library: manifests and blobs in
and out, byte for byte, every digest verified.

Why not `docker pull`/`docker push` or `docker save`/`docker load`: an engine stores layers uncompressed and compresses
them again on push, so the manifest digest changes (moby#23684, distribution#1771), and `docker load` loses the
repository digests (moby#22011). Copying manifests and blobs unchanged keeps the digests a fleet pins.
Sources: OCI distribution-spec v1.1 (spec.md: pull, push with POST then PUT ?digest=, HEAD for existence,
Docker-Content-Digest), the Docker registry token authentication spec (WWW-Authenticate Bearer realm/service/scope),
RFC 7617 (Basic).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

MANIFEST_LIST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
IMAGE_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
ACCEPT = ", ".join(IMAGE_MANIFEST_TYPES + MANIFEST_LIST_TYPES)
CHUNK = 1 << 20
PLATFORM = {"os": "linux", "architecture": "amd64"}  # the only platform of Microsoft's Speech images
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """What went wrong, naming the registry, the repository and the reference."""


@dataclass(frozen=True)
class Reference:
    """registry/repository[:tag][@digest], as Docker reads an image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        name, _at, digest = text.partition("@")
        first, slash, rest = name.partition("/")
        if not slash or not ("." in first or ":" in first or first == "localhost"):
            raise RegistryError("%r has no registry host: write it as REGISTRY/REPOSITORY:TAG" % text)
        tag = None
        if ":" in rest.rsplit("/", 1)[-1]:
            rest, _colon, tag = rest.rpartition(":")
        if digest and not _DIGEST_RE.match(digest):
            raise RegistryError("%r: the digest must be sha256: and 64 hex digits" % text)
        if not rest or (tag is None and not digest):
            raise RegistryError("%r names no tag or digest: write REGISTRY/REPOSITORY:TAG" % text)
        return cls(first, rest, tag, digest or None)

    @property
    def reference(self) -> str:
        return self.digest or self.tag or ""

    @property
    def name(self) -> str:
        """registry/repository:tag, without a digest: how a bundle's index names the image."""
        return str(Reference(self.registry, self.repository, self.tag))

    def __str__(self) -> str:
        return "%s/%s%s%s" % (
            self.registry,
            self.repository,
            ":%s" % self.tag if self.tag else "",
            "@%s" % self.digest if self.digest else "",
        )


@dataclass(frozen=True)
class Manifest:
    media_type: str
    body: bytes
    digest: str

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)

    def blobs(self) -> list[tuple[str, int]]:
        """(digest, size) of the config and every layer of an image manifest."""
        document = self.document
        return [(item["digest"], int(item["size"])) for item in [document["config"], *document.get("layers", [])]]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RegistryClient:
    """One registry: https (the system's CAs, ca_file or the PEM text ca_cert), Basic or Bearer-token authentication
    as it asks."""

    def __init__(
        self,
        registry: str,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        ca_cert: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.registry = registry
        self.base = "https://%s" % registry
        self._credentials = (username, password) if username else None
        self._context = ssl.create_default_context(cafile=ca_file, cadata=ca_cert or None)
        self._timeout = timeout
        self._authorization: dict[str, str] = {}  # scope -> Authorization header value
        handlers: list[Any] = [urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=self._context)]
        self._opener = urllib.request.build_opener(*handlers)

    # ---- HTTP with authentication ---------------------------------------------------------------------------
    def _open(
        self,
        method: str,
        url: str,
        scope: str,
        headers: dict[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
    ) -> Any:
        """The response (open: the caller reads and closes it); 401 answered once with the challenge's credentials."""
        for attempt in (1, 2):
            request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
            if scope in self._authorization:
                request.add_header("Authorization", self._authorization[scope])
            try:
                return self._opener.open(request, timeout=self._timeout)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 1 and scope not in self._authorization:
                    self._authorization[scope] = self._authorize(exc.headers.get("WWW-Authenticate", ""), scope)
                    exc.close()
                    if hasattr(body, "seek"):
                        body.seek(0)  # type: ignore[union-attr]
                    continue
                raise
            except (urllib.error.URLError, OSError) as exc:
                raise RegistryError("%s: %s" % (self.registry, getattr(exc, "reason", exc))) from exc
        raise AssertionError("unreachable")

    def _authorize(self, challenge: str, scope: str) -> str:
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if not self._credentials:
                raise RegistryError("%s asks for a login: give username and password" % self.registry)
            token = base64.b64encode(("%s:%s" % self._credentials).encode()).decode()
            return "Basic " + token
        if scheme == "bearer":
            params = dict(_CHALLENGE_RE.findall(challenge))
            query = {"service": params.get("service", ""), "scope": scope}
            url = params.get("realm", "") + "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
            request = urllib.request.Request(url)
            if self._credentials:
                token = base64.b64encode(("%s:%s" % self._credentials).encode()).decode()
                request.add_header("Authorization", "Basic " + token)
            try:
                with self._opener.open(request, timeout=self._timeout) as response:
                    answer = json.loads(response.read())
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise RegistryError("%s: the token service refused: %s" % (self.registry, exc)) from exc
            return "Bearer " + (answer.get("token") or answer.get("access_token") or "")
        raise RegistryError("%s: unsupported authentication %r" % (self.registry, scheme or challenge))

    def _url(self, repository: str, kind: str, reference: str) -> str:
        return "%s/v2/%s/%s/%s" % (self.base, repository, kind, reference)

    def _fail(self, exc: urllib.error.HTTPError, what: str) -> RegistryError:
        detail = exc.read()[:300].decode("utf-8", "replace").strip()
        exc.close()
        if exc.code == 401:
            return RegistryError("%s: %s: login refused (401): check username and password" % (self.registry, what))
        if exc.code == 404:
            return RegistryError(
                "%s: %s: not found (404): check the repository, tag and digest" % (self.registry, what)
            )
        return RegistryError("%s: %s: HTTP %d %s" % (self.registry, what, exc.code, detail))

    # ---- pull -------------------------------------------------------------------------------------------------
    def manifest(self, repository: str, reference: str, platform: dict[str, str] | None = None) -> Manifest:
        """The image manifest (an index is resolved to the platform's manifest); digests verified."""
        scope = "repository:%s:pull" % repository
        what = "manifest %s:%s" % (repository, reference)
        try:
            with self._open("GET", self._url(repository, "manifests", reference), scope, {"Accept": ACCEPT}) as answer:
                body = answer.read()
                media_type = (answer.headers.get("Content-Type") or "").split(";")[0].strip()
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, what) from exc
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError("%s: %s: the body's digest is %s" % (self.registry, what, digest))
        media_type = media_type or json.loads(body).get("mediaType", "")
        if media_type in MANIFEST_LIST_TYPES:
            wanted = platform or PLATFORM
            for entry in json.loads(body).get("manifests", []):
                entry_platform = entry.get("platform") or {}
                if all(entry_platform.get(key) == value for key, value in wanted.items()):
                    return self.manifest(repository, entry["digest"])
            raise RegistryError(
                "%s: %s lists no %s/%s image" % (self.registry, what, wanted["os"], wanted["architecture"])
            )
        if media_type not in IMAGE_MANIFEST_TYPES:
            raise RegistryError("%s: %s: unsupported manifest type %r" % (self.registry, what, media_type))
        return Manifest(media_type, body, digest)

    def has_blob(self, repository: str, digest: str) -> bool:
        try:
            with self._open("HEAD", self._url(repository, "blobs", digest), "repository:%s:pull" % repository):
                return True
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 404:
                return False
            raise self._fail(exc, "blob %s" % digest) from exc

    def read_blob(self, repository: str, digest: str, offset: int = 0) -> Iterator[bytes]:
        """The blob's bytes from `offset` on, in chunks (a Range request resumes a transfer); the caller verifies the
        digest over the whole blob (see fetch_blob)."""
        headers = {"Range": "bytes=%d-" % offset} if offset else {}
        try:
            answer = self._open(
                "GET", self._url(repository, "blobs", digest), "repository:%s:pull" % repository, headers
            )
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, "blob %s" % digest) from exc
        with answer:
            skip = offset if answer.status != 206 else 0  # a registry that ignores Range sends it all again
            while True:
                chunk = answer.read(CHUNK)
                if not chunk:
                    return
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                yield chunk

    # ---- push -------------------------------------------------------------------------------------------------
    def push_blob(self, repository: str, digest: str, size: int, source: BinaryIO) -> None:
        """Monolithic upload: POST opens an upload, PUT ?digest= sends the bytes (the registry verifies the digest)."""
        scope = "repository:%s:pull,push" % repository
        what = "upload of %s to %s" % (digest, repository)
        try:
            with self._open("POST", "%s/v2/%s/blobs/uploads/" % (self.base, repository), scope, body=b"") as answer:
                location = answer.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, what) from exc
        url = urllib.parse.urljoin(self.base + "/", location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        try:
            with self._open("PUT", url, scope, headers, body=source):
                pass
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, what) from exc

    def mount_blob(self, repository: str, digest: str, source_repository: str) -> bool:
        """Link a blob this registry holds in another repository into `repository` (cross-repository mount: no bytes
        move). True when mounted (201); a registry that cannot mount answers 202 with an upload, cancelled here."""
        scope = "repository:%s:pull,push" % repository
        query = urllib.parse.urlencode({"mount": digest, "from": source_repository})
        try:
            with self._open(
                "POST", "%s/v2/%s/blobs/uploads/?%s" % (self.base, repository, query), scope, body=b""
            ) as answer:
                if answer.status == 201:
                    return True
                location = answer.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, "mount of %s into %s" % (digest, repository)) from exc
        if location:
            try:
                with self._open("DELETE", urllib.parse.urljoin(self.base + "/", location), scope):
                    pass
            except urllib.error.HTTPError as exc:
                exc.close()  # an upload left open expires on its own (distribution purges stale uploads)
        return False

    def push_manifest(self, repository: str, tag: str, manifest: Manifest) -> None:
        scope = "repository:%s:pull,push" % repository
        what = "manifest %s:%s" % (repository, tag)
        try:
            with self._open(
                "PUT",
                self._url(repository, "manifests", tag),
                scope,
                {"Content-Type": manifest.media_type},
                body=manifest.body,
            ) as answer:
                stored = answer.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as exc:
            raise self._fail(exc, what) from exc
        if stored and stored != manifest.digest:
            raise RegistryError("%s: %s was stored as %s, not %s" % (self.registry, what, stored, manifest.digest))


def fetch_blob(
    client: RegistryClient,
    repository: str,
    digest: str,
    target: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """The blob into `target`, through `target.partial`: an interrupted transfer resumes where it stopped, and a blob
    whose bytes do not hash to its digest never lands. Returns the bytes transferred."""
    partial = target + ".partial"
    hasher = hashlib.sha256()
    offset = 0
    if os.path.exists(partial):
        with open(partial, "rb") as existing:
            for chunk in iter(lambda: existing.read(CHUNK), b""):
                hasher.update(chunk)
                offset += len(chunk)
    transferred = 0
    with open(partial, "ab") as output:
        for chunk in client.read_blob(repository, digest, offset):
            hasher.update(chunk)
            output.write(chunk)
            transferred += len(chunk)
            if progress:
                progress(len(chunk))
    if "sha256:" + hasher.hexdigest() != digest:
        os.unlink(partial)
        raise RegistryError("blob %s: the bytes received hash to sha256:%s" % (digest, hasher.hexdigest()))
    os.replace(partial, target)
    return transferred


class HashingReader:
    """A file for urllib's upload that hashes what it hands out; `verify()` after the upload."""

    def __init__(self, chunks: Iterator[bytes], progress: Callable[[int], None] | None = None) -> None:
        self._chunks = chunks
        self._buffer = b""
        self._hasher = hashlib.sha256()
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._hasher.update(chunk)
            if self._progress:
                self._progress(len(chunk))
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def digest(self) -> str:
        return "sha256:" + self._hasher.hexdigest()
