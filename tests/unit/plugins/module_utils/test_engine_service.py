# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_engine_service: Docker's own failure texts (copied from Docker's output, not written here) and the restart."""

from __future__ import annotations

import pytest
from ansible_collections.speechops.edge.plugins.module_utils._engine_service import (
    EngineRestartError,
    allocated_ports,
    restart_command,
    restart_engine,
    stale_ports,
)

# The lab's Debian docker.io 20.10 after an edge host was killed during a start (this project's CI log, 2026-12):
LAB = (
    "APIError: 500 Server Error for http+docker://localhost/v1.41/containers/8b506d2f8f33/start: Internal Server "
    'Error ("driver failed programming external connectivity on endpoint stt-en-us (0a0a762608f8): Bind for '
    '0.0.0.0:5000 failed: port is already allocated")'
)
# moby/moby#36591 (a host address), and the IPv6 wildcard form Docker prints for -p [::]:PORT.
MOBY_36591 = (
    "driver failed programming external connectivity on endpoint some-container (f0728f12adf3): Bind for "
    "10.76.16.126:21425 failed: port is already allocated"
)
IPV6 = "driver failed programming external connectivity on endpoint web (1a2b): Bind for :::8080 failed: port is already allocated"
# The other conflict Docker reports: a process outside the engine listens there (not the engine's own allocation).
USERLAND = (
    "driver failed programming external connectivity on endpoint web (1a2b): Error starting userland proxy: "
    "listen tcp4 0.0.0.0:5000: bind: address already in use"
)


def test_allocated_ports_are_read_from_dockers_words() -> None:
    assert allocated_ports([LAB]) == [5000]
    assert allocated_ports([MOBY_36591, IPV6, LAB]) == [21425, 8080, 5000]
    assert allocated_ports([LAB, LAB]) == [5000]
    assert allocated_ports([USERLAND, "stt: the new container did not serve"]) == []


def test_a_port_a_running_container_publishes_is_not_stale() -> None:
    # /containers/json of the engine API: Ports entries with PublicPort for published ports.
    running = [{"Names": ["/squatter"], "Ports": [{"IP": "0.0.0.0", "PrivatePort": 5000, "PublicPort": 5000}]}]
    assert stale_ports([LAB], running) == []
    assert stale_ports([LAB], [{"Names": ["/other"], "Ports": [{"PrivatePort": 5000}]}]) == [5000]
    assert stale_ports([LAB], []) == [5000]


def test_restart_command_by_init_system_and_only_for_the_local_engine() -> None:
    assert restart_command("unix:///var/run/docker.sock", booted_with_systemd=True) == [
        "systemctl",
        "restart",
        "docker.service",
    ]
    assert restart_command("unix:///var/run/docker.sock", booted_with_systemd=False) == ["service", "docker", "restart"]
    for remote in ("tcp://10.0.0.5:2376", "ssh://edge@10.0.0.5"):
        with pytest.raises(EngineRestartError, match="restart that engine yourself"):
            restart_command(remote)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_restart_waits_until_the_engine_answers_with_a_deadline() -> None:
    clock = Clock()
    answers_after = 3.0
    command = restart_engine(
        "unix:///var/run/docker.sock",
        lambda _command: (0, "", ""),
        lambda: clock.now >= answers_after,
        clock,
        clock.sleep,
    )
    assert command in ("systemctl restart docker.service", "service docker restart")
    assert answers_after <= clock.now < answers_after + 1.0  # polled with backoff capped at 1 s, not a fixed sleep

    clock = Clock()
    with pytest.raises(EngineRestartError, match="did not answer within 120 s"):
        restart_engine("unix:///var/run/docker.sock", lambda _command: (0, "", ""), lambda: False, clock, clock.sleep)
    assert clock.now == pytest.approx(120.0)


def test_a_failed_restart_command_says_why() -> None:
    clock = Clock()
    with pytest.raises(EngineRestartError, match=r"Job for docker\.service failed"):
        restart_engine(
            "unix:///var/run/docker.sock",
            lambda _command: (1, "", "Job for docker.service failed because the control process exited.\n"),
            lambda: True,
            clock,
            clock.sleep,
        )
