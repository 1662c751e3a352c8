# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_images: a fleet's images copied to a site's registry or through an offline bundle, digests unchanged."""

from __future__ import annotations

from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._image_bundle import Bundle, Transfer, copy_image, resolve
from ansible_collections.speechops.edge.plugins.module_utils._registry_client import (
    Reference,
    RegistryClient,
    RegistryError,
)


def _client(registry: str, settings: dict[str, Any] | None) -> RegistryClient:
    settings = settings or {}
    return RegistryClient(registry, settings.get("username"), settings.get("password"), ca_cert=settings.get("ca_cert"))


def _references(images: list[str]) -> tuple[list[Reference], list[str]]:
    references, problems = [], []
    for text in dict.fromkeys(images):
        try:
            references.append(Reference.parse(text))
        except RegistryError as exc:
            problems.append("images: %s" % exc)
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
    destination = params["destination"] or {}
    transfer = Transfer()
    planned: list[dict[str, Any]] = []
    try:
        for reference in references:
            planned.append(_one(module, mode, reference, destination, transfer))
    except RegistryError as exc:
        module.fail_json(msg=str(exc), images=planned)
    changed = any(entry["changed"] for entry in planned)
    module.exit_json(
        changed=changed,
        images=planned,
        blobs_moved=transfer.blobs_moved,
        blobs_present=transfer.blobs_present,
        bytes_moved=transfer.bytes_moved,
    )


def _one(
    module: Any, mode: str, reference: Reference, destination: dict[str, Any], transfer: Transfer
) -> dict[str, Any]:
    """One image: what is there already decides whether anything moves (check mode stops at that answer)."""
    params = module.params
    tag = reference.tag or "latest"  # the tag the site's hosts pull
    target_name = None
    if mode in ("copy", "import"):
        target_name = "%s/%s:%s" % (destination["registry"], reference.repository, tag)
    entry: dict[str, Any] = {"image": str(reference), "target": target_name or params["bundle"]}
    if mode == "import":
        bundle = Bundle(params["bundle"])
        image = next((item for item in bundle.images() if item["reference"] == reference.name), None)
        if image is None:
            raise RegistryError(
                "bundle %s holds no %s: export it into the bundle first" % (params["bundle"], reference)
            )
        if reference.digest and image["digest"] != reference.digest:
            raise RegistryError(
                "bundle %s: %s is %s, not the pinned %s"
                % (params["bundle"], reference, image["digest"], reference.digest)
            )
        target = _client(destination["registry"], destination)
        entry["digest"] = image["digest"]
        entry["changed"] = _digest_at(target, reference.repository, tag) != image["digest"]
        if entry["changed"] and not module.check_mode:
            bundle.push(image, target, reference.repository, tag, transfer)
        return entry
    source = _client(reference.registry, params["source"])
    manifest = resolve(source, reference)
    entry["digest"] = manifest.digest
    if mode == "export":
        bundle = Bundle(params["bundle"])
        held = next((item for item in bundle.images() if item["reference"] == reference.name), None)
        complete = held is not None and held["digest"] == manifest.digest
        complete = complete and all(bundle.has(digest, size) for digest, size in manifest.blobs())
        entry["changed"] = not complete
        if entry["changed"] and not module.check_mode:
            bundle.export(source, reference, transfer, manifest)
        return entry
    target = _client(destination["registry"], destination)
    entry["changed"] = _digest_at(target, reference.repository, tag) != manifest.digest
    if entry["changed"] and not module.check_mode:
        copy_image(source, reference, target, reference.repository, tag, transfer, manifest)
    return entry


def _digest_at(client: RegistryClient, repository: str, tag: str) -> str | None:
    try:
        return client.manifest(repository, tag).digest
    except RegistryError as exc:
        if "not found (404)" in str(exc):
            return None
        raise
