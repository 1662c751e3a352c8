# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A disconnected text-to-speech container on a lab host: its license is downloaded while the lab cloud (billing)
is reachable, it serves and counts its usage while the lab cloud is cut off the lab network, an upgrade then fails
and leaves it serving, and once billing is back an upgrade gets the new image's license before the replacement.

The assertions on the host live in tests/integration/playbooks/speech_disconnected.yml (one step per run); the lab
cloud is cut off here, on the controller, and always connected again.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab
TEST_HOST = os.environ.get("SPEECHOPS_MODULE_TEST_HOST", "edge3")
LAB_NETWORK = "speechops-lab"
LABCLOUD = "speechops-lab-labcloud"
LABCLOUD_IP = "172.30.57.3"
METER = "Speech.TextToSpeech.Characters"


def _docker_network(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "network", *args], capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def labcloud_cut_off() -> Iterator[None]:
    """The lab cloud (billing, license downloads) off the lab network; connected again at its address, always."""
    cut = _docker_network("disconnect", LAB_NETWORK, LABCLOUD)
    assert cut.returncode == 0, cut.stderr
    try:
        yield
    finally:
        back = _docker_network("connect", "--ip", LABCLOUD_IP, LAB_NETWORK, LABCLOUD)
        assert back.returncode == 0 or "already exists" in back.stderr, back.stderr


def _meters(report: dict) -> dict[str, float]:
    """Every meter of the test's container in the usage report: name -> quantity."""
    [row] = [row for row in report["containers"] if row["container"] == "it-dtts"]
    usage = row["usage"]
    assert "error" not in usage, usage
    return {meter["name"]: float(meter["quantity"]) for meter in usage.get("meters", [])}


def test_disconnected_text_to_speech(run_playbook, lab: dict, tmp_path: Path) -> None:
    def step(name: str, **extra: str) -> None:
        run = run_playbook("speech_disconnected.yml", {"target_host": TEST_HOST, "step": name, **extra})
        run.assert_ok()
        assert lab["api_key"] not in run.output

    try:
        step("deploy")
        with labcloud_cut_off():
            step("offline")
            step("status", report_dir=str(tmp_path))
        usage_file = tmp_path / "speech-usage.json"
        assert usage_file.exists(), "the status entry point wrote no usage records beside %s" % (
            tmp_path / "speech-status.md"
        )
        report = json.loads(usage_file.read_text())
        meters = _meters(report)
        assert meters.get(METER, 0) > 0, meters
        status = (tmp_path / "speech-status.md").read_text()
        assert "disconnected" in status and "license present" in status
        step("upgrade")
    finally:
        run_playbook("speech_disconnected.yml", {"target_host": TEST_HOST, "step": "cleanup"})
