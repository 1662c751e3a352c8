# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host ports the Docker engine holds for no container, and the engine restart that frees them.

An engine stopped in the middle of a container start (power loss, host reboot, dockerd killed) can come back with
that container's host port allocated by no container: libnetwork restores the port mapping of an endpoint whose
sandbox it never recorded (moby/libnetwork#1790; the "port is already allocated" of moby/moby#36591 and #20486).
Every start that publishes the port then fails with "Bind for 0.0.0.0:5000 failed: port is already allocated",
whichever container it is, and removing containers does not free it: only a restart of the engine does. Reproduced
with Debian's docker.io 20.10 in the lab (tests/integration/test_roles.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

from ansible_collections.speechops.edge.plugins.module_utils._polling import Poller

# Docker's own words (libnetwork portallocator's ErrPortAlreadyAllocated, through the bridge driver):
#   Bind for 0.0.0.0:5000 failed: port is already allocated
# The address may be IPv6 (Bind for :::5000 ...), so the port is what follows the last colon.
ALLOCATED_RE = re.compile(r"Bind for \S*:(\d+) failed: port is already allocated")
SYSTEMD_RUN_DIR = "/run/systemd/system"  # sd_booted(3): systemd is the init system
RESTART_TIMEOUT = 120.0  # seconds the engine may take to answer again after its restart
FIX = (
    "restart the Docker engine (systemctl restart docker), or let the run do it with "
    "engine_restart_on_stale_port=true (the role's speech_engine_restart_on_stale_port), then run again"
)


class EngineRestartError(Exception):
    pass


def allocated_ports(texts: Iterable[str]) -> list[int]:
    """The host ports that failure texts say the engine has allocated already, in order, once each."""
    ports: list[int] = []
    for text in texts:
        for match in ALLOCATED_RE.finditer(text):
            if int(match.group(1)) not in ports:
                ports.append(int(match.group(1)))
    return ports


def stale_ports(texts: Iterable[str], running: list[dict[str, Any]]) -> list[int]:
    """Ports the engine calls allocated although no running container publishes them (running: the engine's list
    of running containers, /containers/json)."""
    published = {port.get("PublicPort") for item in running for port in item.get("Ports") or []}
    return [port for port in allocated_ports(texts) if port not in published]


def stale_port_advice(ports: list[int]) -> str:
    """What a failure says when the engine holds ports for no container."""
    return (
        "host port %s is held by the Docker engine itself, not by any container: an engine stopped in the middle "
        "of a container start keeps that port until it restarts (moby/libnetwork#1790); %s"
        % (", ".join(str(port) for port in ports), FIX)
    )


def restart_command(docker_host: str, booted_with_systemd: bool | None = None) -> list[str]:
    """The init system's command that restarts the engine of this host (EngineRestartError: not this host's)."""
    parsed = urlparse(docker_host)
    if parsed.scheme != "unix":
        raise EngineRestartError(
            "engine_restart_on_stale_port restarts only the engine of the managed host itself (a unix:// "
            "docker_host), not %s: restart that engine yourself" % docker_host
        )
    if booted_with_systemd is None:
        booted_with_systemd = os.path.isdir(SYSTEMD_RUN_DIR)
    if booted_with_systemd:
        return ["systemctl", "restart", "docker.service"]
    return ["service", "docker", "restart"]


def restart_engine(
    docker_host: str,
    run_command: Callable[[list[str]], tuple[int, str, str]],
    answers: Callable[[], bool],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    timeout: float = RESTART_TIMEOUT,
) -> str:
    """Restart the engine, then wait until it answers (answers(): one call to it); returns the command run."""
    command = restart_command(docker_host)
    rc, out, err = run_command(command)
    if rc != 0:
        reason = (err or out).strip().splitlines()[-1:] or ["exit code %d" % rc]
        raise EngineRestartError("%s failed: %s" % (" ".join(command), reason[0]))
    deadline = clock() + timeout
    poller = Poller(sleep)
    while not answers():
        remaining = deadline - clock()
        if remaining <= 0:
            raise EngineRestartError(
                "the Docker engine did not answer within %d s of %s" % (timeout, " ".join(command))
            )
        poller.pause(remaining)
    return " ".join(command)
