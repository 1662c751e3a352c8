# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules against real edge hosts: the assertions live in the playbooks, next to the tasks."""

from __future__ import annotations

import os
import secrets

import pytest

pytestmark = pytest.mark.lab
# One host for the module tests: they prune, which removes every managed container of that host.
MODULE_TEST_HOST = os.environ.get("SPEECHOPS_MODULE_TEST_HOST", "edge3")


def test_speech_containers_rhythm(run_playbook) -> None:
    run_playbook("speech_containers.yml", {"target_host": MODULE_TEST_HOST}).assert_ok()


def test_failures_leave_the_service_serving_and_secrets_unseen(run_playbook, lab: dict) -> None:
    canary_key = "CANARY-APIKEY-" + secrets.token_hex(8)
    canary_password = "CANARY-PASSWORD-" + secrets.token_hex(8)
    run = run_playbook(
        "speech_failures.yml",
        {
            "target_host": MODULE_TEST_HOST,
            "untrusting_host": "edge2",
            "canary_api_key": canary_key,
            "canary_registry_password": canary_password,
        },
        verbosity=4,
    )
    run.assert_ok()
    for secret in (canary_key, canary_password, lab["api_key"], lab["registry_password"]):
        assert secret not in run.output
    assert "CANARY-" not in run.output


def test_host_check_on_real_hosts(run_playbook, lab: dict) -> None:
    if not any(host["group"] == "edge_failure" for host in lab["hosts"]):
        pytest.fail("the lab has no failure hosts: python3 lab/speechlab.py up --failure-hosts")
    run_playbook("host_check.yml").assert_ok()
