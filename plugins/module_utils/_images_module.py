# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_images: a fleet's images copied to a site's registry or through an offline bundle, digests unchanged."""

from __future__ import annotations

import os
import time
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._image_bundle import Bundle, Transfer, copy_image, resolve
from ansible_collections.speechops.edge.plugins.module_utils._registry_client import (
    Manifest,
    Reference,
    RegistryClient,
    RegistryError,
)


class Progress:
    """Progress of a long transfer, as lines in a file an operator follows with `tail -f` (a module cannot print
    while it runs): at most one line a second, and one at the end of each image."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.image = ""
        self.moved = 0
        self.total = 0
        self._last = 0.0

    def start(self, image: str, total: int) -> None:
        self.image, self.moved, self.total = image, 0, total
        self._write(force=True)

    def add(self, count: int) -> None:
        self.moved += count
        self._write()

    def done(self) -> None:
        self._write(force=True, final=True)

    def _write(self, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if not self.path or (not force and now - self._last < 1.0):
            return
        self._last = now
        share = " (%d%%)" % (100 * self.moved // self.total) if self.total else ""
        line = "%s %s - %s of %s%s%s\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            self.image,
            _size(self.moved),
            _size(self.total),
            share,
            ", done" if final else "",
        )
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return ("%d %s" if unit == "B" else "%.1f %s") % (count, unit)
        count /= 1000  # type: ignore[assignment]
    return str(count)


def _client(registry: str, settings: dict[str, Any] | None) -> RegistryClient:
    settings = settings or {}
    return RegistryClient(registry, settings.get("username"), settings.get("password"), ca_cert=settings.get("ca_cert"))


def _references(images: list[str]) -> tuple[list[Reference], list[str]]:
    references, problems = [], []
    for index, text in enumerate(dict.fromkeys(images)):
        try:
            references.append(Reference.parse(text))
        except RegistryError as exc:
            problems.append("images[%d]: %s" % (index, exc))
    return references, problems


def run_speech_images(module: Any) -> None:
    params = module.params
    mode = params["mode"]
    references, problems = _references(params["images"])
    if mode in ("export", "import") and not params["bundle"]:
        problems.append("bundle: needed with mode=%s: give the bundle's directory" % mode)
    if mode in ("copy", "import") and not (params["destination"] or {}).get("registry"):
        problems.append("destination.registry: needed with mode=%s: give the site registry as HOST:PORT" % mode)
    if problems:
        module.fail_json(msg="invalid image transfer (nothing was changed): " + "; ".join(problems))
    progress = Progress(params["progress_file"])
    transfer = Transfer(progress=progress.add)
    planned: list[dict[str, Any]] = []
    try:
        if mode == "import":
            planned = _import(module, references, transfer, progress)
        else:
            for reference in references:
                planned.append(_from_registry(module, mode, reference, transfer, progress))
    except RegistryError as exc:
        module.fail_json(msg=str(exc), images=planned)
    module.exit_json(
        changed=any(entry["changed"] for entry in planned),
        images=planned,
        blobs_moved=transfer.blobs_moved,
        blobs_present=transfer.blobs_present,
        bytes_moved=transfer.bytes_moved,
    )


def _target_name(destination: dict[str, Any], reference: Reference) -> str:
    return "%s/%s:%s" % (destination["registry"], reference.repository, reference.tag or "latest")


def _import(module: Any, references: list[Reference], transfer: Transfer, progress: Progress) -> list[dict[str, Any]]:
    """Bundle to registry. Every image is found, its pin checked and all its blobs hashed BEFORE anything is sent:
    a bundle that is incomplete, damaged or holds another digest than the pinned one changes nothing."""
    params = module.params
    bundle = Bundle(params["bundle"])
    destination = params["destination"]
    target = _client(destination["registry"], destination)
    # A bundle names each image as the upstream does; a site finds it by repository and tag, whatever registry
    # the site's hosts pull from (the same bundle serves every site).
    held = {_repository_tag(item["reference"]): item for item in bundle.images()}
    work: list[tuple[Reference, dict[str, Any], dict[str, Any]]] = []
    for index, reference in enumerate(references):
        image = held.get("%s:%s" % (reference.repository, reference.tag or "latest"))
        if image is None:
            raise RegistryError(
                "images[%d]: bundle %s holds no %s: export it into the bundle first (it holds: %s)"
                % (index, params["bundle"], reference, ", ".join(sorted(held)) or "nothing")
            )
        if reference.digest and image["digest"] != reference.digest:
            raise RegistryError(
                "images[%d]: bundle %s holds %s as %s, not the pinned %s: export the pinned image again, or fix the pin"
                % (index, params["bundle"], reference.name, image["digest"], reference.digest)
            )
        entry = {"image": str(reference), "target": _target_name(destination, reference), "digest": image["digest"]}
        entry["changed"] = _digest_at(target, reference.repository, reference.tag or "latest") != image["digest"]
        if entry["changed"]:
            bundle.verify(image)
        work.append((reference, image, entry))
    if not module.check_mode:
        for reference, image, entry in work:
            if entry["changed"]:
                progress.start(str(reference), image_size(bundle.manifest(image["digest"], image["media_type"])))
                bundle.push(image, target, reference.repository, reference.tag or "latest", transfer)
                progress.done()
    return [entry for _reference, _image, entry in work]


def _from_registry(
    module: Any, mode: str, reference: Reference, transfer: Transfer, progress: Progress
) -> dict[str, Any]:
    """copy or export one image: what is there already decides whether anything moves (check mode stops there).
    refresh=missing trusts a tag already at the target and does not ask the source (a site whose link is down)."""
    params = module.params
    destination = params["destination"] or {}
    source_settings = params["source"] or {}
    tag = reference.tag or "latest"  # the tag the site's hosts pull
    entry: dict[str, Any] = {"image": str(reference)}
    # The registry the bytes come from: the one the reference names, or source.registry (a central mirror, or the
    # upstream of images named as the site's hosts pull them). A bundle names images as that registry does.
    origin = Reference(
        source_settings.get("registry") or reference.registry, reference.repository, reference.tag, reference.digest
    )
    if mode == "export":
        bundle = Bundle(params["bundle"])
        entry["target"] = params["bundle"]
        held = _held(bundle, origin)
        if (
            held is not None
            and params["refresh"] == "missing"
            and (not reference.digest or held["digest"] == reference.digest)
        ):
            manifest = bundle.manifest(held["digest"], held["media_type"])
            if all(bundle.has(digest, size) for digest, size in manifest.blobs()):
                entry.update(digest=held["digest"], changed=False)
                return entry
    else:
        entry["target"] = _target_name(destination, reference)
        target = _client(destination["registry"], destination)
        present = _digest_at(target, reference.repository, tag)
        if present and params["refresh"] == "missing" and (not reference.digest or present == reference.digest):
            entry.update(digest=present, changed=False)
            return entry
    source = _client(origin.registry, source_settings)
    manifest = resolve(source, origin)
    entry["digest"] = manifest.digest
    if mode == "export":
        held = _held(bundle, origin)
        complete = held is not None and held["digest"] == manifest.digest
        complete = complete and all(bundle.has(digest, size) for digest, size in manifest.blobs())
        entry["changed"] = not complete
        if entry["changed"] and not module.check_mode:
            progress.start(str(reference), image_size(manifest))
            bundle.export(source, origin, transfer, manifest)
            progress.done()
        return entry
    entry["changed"] = present != manifest.digest
    if entry["changed"] and not module.check_mode:
        progress.start(str(reference), image_size(manifest))
        copy_image(source, origin, target, reference.repository, tag, transfer, manifest)
        progress.done()
    return entry


def image_size(manifest: Manifest) -> int:
    return sum(size for _digest, size in manifest.blobs())


def _digest_at(client: RegistryClient, repository: str, tag: str) -> str | None:
    try:
        return client.manifest(repository, tag).digest
    except RegistryError as exc:
        if "not found (404)" in str(exc):
            return None
        raise


def _repository_tag(text: str) -> str:
    reference = Reference.parse(text)
    return "%s:%s" % (reference.repository, reference.tag or "latest")


def _held(bundle: Bundle, origin: Reference) -> dict[str, Any] | None:
    return next((item for item in bundle.images() if item["reference"] == origin.name), None)
