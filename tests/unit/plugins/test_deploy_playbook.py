# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy playbook's plays that rely on lockstep pin the linear strategy.

ansible-core's free strategy runs each host on its own: it warns that it does not support max_fail_percentage and
run_once (plugins/strategy/free.py) and a host can reach a task that reads ansible_play_hosts before the others have
finished theirs. A fleet-wide `strategy = free` (which the read-only plan play may use) must not reach the plays
that stop a rollout, hand locks back or summarise it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "playbooks" / "deploy.yml"
LOCKSTEP_MARKERS = ("run_once", "max_fail_percentage", "serial", "ansible_play_hosts", "ansible_play_batch")
PLAYS = yaml.safe_load(DEPLOY.read_text())


@pytest.mark.parametrize("play", PLAYS, ids=[play["name"] for play in PLAYS])
def test_a_play_that_needs_lockstep_pins_the_linear_strategy(play: dict) -> None:
    text = json.dumps(play)
    if any(marker in text for marker in LOCKSTEP_MARKERS):
        assert play.get("strategy") == "linear", play["name"]


def test_the_rollout_play_is_among_those_checked() -> None:
    rollout = [play for play in PLAYS if "max_fail_percentage" in play]
    assert len(rollout) == 1 and rollout[0]["strategy"] == "linear"
