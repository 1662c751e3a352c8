#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_images
short_description: Copy a fleet's speech images to a site's registry or through an offline bundle, digests unchanged
version_added: 0.1.0
description:
  - Moves the images a fleet needs to where its hosts can pull them when links are thin or absent. V(copy) - from
    the registry each image names (for example C(mcr.microsoft.com)) to a site's registry, under the same repository
    path and tag. V(export) - into a bundle, a directory that can travel on a disk (an OCI image layout -
    C(oci-layout), C(index.json), C(blobs/sha256/)). V(import) - from such a bundle into a site's registry.
  - Manifests and layers are copied byte for byte through the registry API, never through an engine (C(docker save)
    and C(docker load) lose the repository digests, and a push from an engine compresses the layers again), so an
    image has the same digest upstream, in the bundle and at the site. Every blob is checked against its digest as it
    is written and again before it is sent; an interrupted transfer resumes (present blobs are skipped, a partial one
    continues with a Range request).
  - Images pinned by digest (C(REPOSITORY:TAG@sha256:...)) must resolve to that digest, else nothing moves.
  - "Run it where both ends are reachable, usually the controller (C(delegate_to: localhost))."
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.attributes
attributes:
  check_mode:
    details: Resolves every image and says which ones would move; transfers nothing.
    support: full
  diff_mode:
    details: Not supported; RV(images) lists what changes.
    support: none
  idempotent:
    details: An image whose digest is already at the target (registry tag or bundle, with all its blobs) is left alone.
    support: full
  platform:
    platforms: posix
    details: Any host that reaches both ends, usually the controller.
options:
  mode:
    description: V(copy) registry to registry, V(export) registry to bundle, V(import) bundle to registry.
    type: str
    choices: [copy, export, import]
    required: true
  images:
    description:
      - The image references, as the fleet's plan has them (C(REGISTRY/REPOSITORY:TAG), optionally C(@sha256:...)).
    type: list
    elements: str
    required: true
  source:
    description: The registry the images come from (V(copy), V(export)) and its login; none for anonymous pulls.
    type: dict
    suboptions:
      registry:
        description:
          - Take the images from this registry (C(HOST[:PORT])) instead of the one each reference names - a central
            mirror, or the upstream when O(images) name the images as a site's hosts pull them (from the site cache).
          - Empty - the registry each reference names.
        type: str
      username:
        description: The login name.
        type: str
      password:
        description: The password or token (kept out of every output).
        type: str
      ca_cert:
        description: PEM of the CA that signed the registry's certificate (empty - the system's CAs).
        type: str
  destination:
    description: The site's registry (V(copy), V(import)).
    type: dict
    suboptions:
      registry:
        description: The registry as C(HOST:PORT); images keep their repository path and tag there.
        type: str
      username:
        description: The login name.
        type: str
      password:
        description: The password (kept out of every output).
        type: str
      ca_cert:
        description: PEM of the CA that signed the registry's certificate (empty - the system's CAs).
        type: str
  bundle:
    description: The bundle's directory (V(export), V(import)).
    type: path
  refresh:
    description:
      - V(always) - ask the source for each image's current digest and move it when the target holds another one.
      - V(missing) - an image the target already holds (its tag in the site registry, or all of it in the bundle) is
        left alone without asking the source, so a site whose upstream link is down still converges. Use it for
        versioned tags (Microsoft's speech tags name a version); an image pinned by digest must still match its pin.
    type: str
    choices: [always, missing]
    default: always
  progress_file:
    description:
      - A file on the host the module runs on that gets one line a second while an image moves
        (C(TIME IMAGE - N MB of M MB (P%)), blobs the target holds already count as done), to follow multi-gigabyte transfers with C(tail -f). Appended to.
      - Empty - no progress lines.
    type: path
notes:
  - The HTTPS registry API only (as Docker requires for a registry that is not on loopback).
  - An V(import) finds every image in the bundle, checks its pin and hashes all its blobs before it sends anything,
    so a bundle that is incomplete, damaged or holds another digest than the pinned one changes no registry.
"""

EXAMPLES = r"""
- name: Fill the site's registry once, before the batches start
  speechops.edge.speech_images:
    mode: copy
    images: "{{ fleet_images }}"
    source:
      username: "{{ upstream_user }}"
      password: "{{ upstream_password }}"
    destination:
      registry: cache.site-a.example:5000
      username: site-a
      password: "{{ vault_site_a_registry_password }}"
      ca_cert: "{{ lookup('ansible.builtin.file', 'pki/site-ca.crt') }}"
  delegate_to: localhost
  run_once: true

- name: Export the images onto a disk that travels to a site without a link
  speechops.edge.speech_images:
    mode: export
    images: "{{ fleet_images }}"
    bundle: /media/transfer/speech-bundle
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
images:
  description: Each image - its reference, its digest, where it goes and whether it moved (or would).
  returned: always
  type: list
  elements: dict
  sample:
    - image: mcr.microsoft.com/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us
      digest: sha256:0f3c5a7e9b1d4f6a8c2e0b4d6f8a1c3e0f3c5a7e9b1d4f6a8c2e0b4d6f8a1c3e
      target: cache.site-a.example:5000/azure-cognitive-services/speechservices/speech-to-text:5.1.0-amd64-en-us
      changed: true
blobs_moved:
  description: Layers and configs transferred.
  returned: always
  type: int
blobs_present:
  description: Layers and configs the target had already (not transferred again).
  returned: always
  type: int
bytes_moved:
  description: Bytes transferred.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._images_module import run_speech_images

_LOGIN = dict(username=dict(type="str"), password=dict(type="str", no_log=True), ca_cert=dict(type="str"))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=["copy", "export", "import"], required=True),
            images=dict(type="list", elements="str", required=True),
            source=dict(type="dict", options=dict(registry=dict(type="str"), **_LOGIN)),
            destination=dict(type="dict", options=dict(registry=dict(type="str"), **_LOGIN)),
            bundle=dict(type="path"),
            refresh=dict(type="str", choices=["always", "missing"], default="always"),
            progress_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    run_speech_images(module)


if __name__ == "__main__":
    main()
