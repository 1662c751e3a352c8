# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_containers' prediction (check mode, probes) planned on the controller from a snapshot of the host.

Every deploy predicts every planned host, and most hosts of a fleet are unchanged. The module costs such a host
its payload (AnsiballZ: the controller compiles our module_utils to find what to ship, the host compiles them
again): 1.34x `ansible -m ping` against 0.73x for a standard-library script that makes the same reads
(benchmarks/bench_module_weight.py). So the action plugin asks the host for a snapshot (_host_reads.take_snapshot,
sent as a script) and runs the module's own planner here on it (_speech_deploy.deploy in check mode, with the
snapshot standing in for the engine, the files, the ports and the probes).

The answer is used when it is exactly the module's: every question the planner asked was in the snapshot, and no
value the snapshot could not restore shows in it (a setting changed by hand to a value the controller does not
know: its drift would show the placeholder where the module shows the value). Anything else (such a value, a
problem the module reports with its message, a question not in the snapshot) returns None, and the module plans
on the host as before.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import KINDS, READY_PATH, STATUS_PATH
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    LABEL_MANAGED,
    LABEL_PREFIX,
    LABEL_SPEC,
    PREVIOUS_SUFFIX,
    DesiredContainer,
    SpecError,
    owned_directories,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import (
    OWN_FILES,
    PRESENT_FILES,
    gateway_files,
)
from ansible_collections.speechops.edge.plugins.module_utils._host_reads import (
    UNKNOWN_VALUE,
    SnapshotEngine,
    SnapshotHost,
    SnapshotMiss,
    digest,
    engine_reader,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_deploy import (
    PROBE_TIMEOUT,
    DeployError,
    HostState,
    converge_output,
    declared_arguments,
    deploy,
    desired_from_params,
)
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe import probe

# Bytes of the HMAC key drawn for each snapshot.
KEY_BYTES = 32


def plannable(params: dict[str, Any]) -> list[DesiredContainer] | None:
    """The desired containers when a snapshot can plan these arguments (a prediction with probes, on an engine
    the standard library reads); None: the module plans (and reports any problem in them)."""
    if params["images_only"] or not params["probe"] or engine_reader(params["docker_host"], params["timeout"]) is None:
        return None
    if params.get("keep_records"):
        return None  # the records' files are not in the snapshot: the module reads them
    try:
        return desired_from_params(params)
    except SpecError:
        return None


def snapshot_request(desired: list[DesiredContainer], params: dict[str, Any], key: bytes) -> dict[str, Any]:
    """What the planner reads on the host for these containers (see _host_reads.take_snapshot)."""
    ports = [
        [address, port]
        for item in desired
        if item.state != "absent"
        for address, port in [item.published(slot) for slot in item.slots] or [item.published()]
    ]
    return {
        "key": key.hex(),
        "docker_host": params["docker_host"],
        "timeout": params["timeout"],
        "labels": {
            "managed": LABEL_MANAGED,
            "spec": LABEL_SPEC,
            "kind": LABEL_PREFIX + "kind",
            "previous_suffix": PREVIOUS_SUFFIX,
        },
        # How each kind says it serves (_speech_probe.kind_probe_options); "": a kind this catalog does not know.
        "probes": dict(
            {"": [READY_PATH, True]}, **{name: [kind.ready_path, kind.has_status] for name, kind in KINDS.items()}
        ),
        "status_path": STATUS_PATH,
        "probe_timeout": PROBE_TIMEOUT,
        "ports": ports,
        "directories": [path for path, _uid, _gid in owned_directories(desired)],
        "license_roots": sorted({item.license_path for item in desired if item.disconnected and item.license_path}),
        "exists": list(PRESENT_FILES),
        "texts": list(OWN_FILES),
    }


def declared_values(desired: list[DesiredContainer], image_ids: dict[str, str], key: bytes) -> dict[str, str]:
    """digest -> value of every environment and command value the containers are declared with."""
    known = {}
    for item in desired:
        if item.state == "absent":
            continue
        for slot in (None, *item.slots):
            arguments = declared_arguments(item, image_ids.get(item.image, ""), slot)
            values = [*(arguments.get("environment") or {}).values(), *(arguments.get("command") or [])]
            known.update({digest(key, str(value)): str(value) for value in values})
    return known


def predict(
    params: dict[str, Any], desired: list[DesiredContainer], snapshot: dict[str, Any], key: bytes, diff: bool
) -> dict[str, Any] | None:
    """The module's result, planned from the host's snapshot; None: ask the module."""
    host = SnapshotHost(snapshot)
    image_ids = {tag: image["Id"] for image in snapshot["images"] for tag in image.get("RepoTags") or []}
    engine = SnapshotEngine(snapshot, declared_values(desired, image_ids, key))
    try:
        result = deploy(
            engine,
            desired,
            state=HostState(engine, host),
            prune=params["prune"],
            pull_always=params["pull"] == "always",
            check_mode=True,
            probe_running=True,
            prober=functools.partial(probe, request=host.request),
        )
        gateway_present = bool(gateway_files(host))
    except (SnapshotMiss, DeployError):
        return None
    if result["failures"]:
        return None
    output = converge_output(result, gateway_present, diff)
    return None if UNKNOWN_VALUE in json.dumps(output) else output


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)
