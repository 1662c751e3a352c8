# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the speech gateway lives on an edge host and which ports it takes: its paths, the slot ports of a service,
and what of it is present (read-only, standard library).

Every prediction of speech_containers reads these (which ports the gateway holds, whether it is installed, where a
container behind it is published); _gateway.py writes the gateway and switches it at run time. Kept apart so the
prediction on an unchanged host, the path every deploy takes, does not import (compile) the gateway's writer:
benchmarks/bench_module_weight.py measures what the imported code costs.
"""

from __future__ import annotations

import re

from ansible_collections.speechops.edge.plugins.module_utils._host_reads import LOCAL_HOST, LocalHost

CONFIG_PATH = "/etc/haproxy/haproxy.cfg"
KEYS_PATH = "/etc/haproxy/speechops-keys.map"
CERTIFICATE_PATH = "/etc/haproxy/speechops-gateway.pem"
DEFAULTS_PATH = "/etc/default/haproxy"
# The slots of a service on loopback: the service port plus these. Two, so the new container of an upgrade can start
# beside the one that serves.
SLOT_OFFSETS = (10000, 20000)
MANAGED_MARK = "# Managed by speechops.edge (speech_gateway)"
# What gateway_files reads: files that are the gateway's when present, and files that are when they carry the mark.
PRESENT_FILES = (KEYS_PATH, CERTIFICATE_PATH)
OWN_FILES = (CONFIG_PATH, DEFAULTS_PATH)


def slot_ports(port: int) -> tuple[int, int]:
    """The two loopback ports a service's container may be published on."""
    return (port + SLOT_OFFSETS[0], port + SLOT_OFFSETS[1])


def gateway_files(host: LocalHost = LOCAL_HOST) -> list[str]:
    """The files of this collection's gateway on the host: its keys and certificate, and the HAProxy configuration
    and defaults only when this collection wrote them (a hand-made haproxy.cfg is never the gateway's)."""
    present = [path for path in PRESENT_FILES if host.exists(path)]
    return present + [path for path in OWN_FILES if (host.read_text(path) or "").startswith(MANAGED_MARK)]


def gateway_ports(config_path: str = CONFIG_PATH, host: LocalHost = LOCAL_HOST) -> set[int]:
    """The ports this collection's gateway listens on (its configuration's bind lines; none when it is not ours)."""
    text = host.read_text(config_path)
    if not text or not text.startswith(MANAGED_MARK):
        return set()
    found = re.findall(r"^\s*bind \S*:(\d+) ", text, re.MULTILINE)
    return {int(port) for port in found}
