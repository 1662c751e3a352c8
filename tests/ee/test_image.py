# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment image on its own (no lab): built from this checkout by scripts/build_ee.sh (or
SPEECHOPS_EE_IMAGE as given), it holds the collection, the pinned ansible-core and ansible-runner, and
ansible-runner runs a job in it the way ansible-navigator and automation controllers do (process isolation with
docker), with an SSH key injected as a machine credential. Needs root and Docker, like the lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _pin(file: str, name: str) -> str:
    for line in (REPO / "requirements" / file).read_text().splitlines():
        if line.startswith(name + "=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("%s is not pinned in requirements/%s" % (name, file))


@pytest.fixture(scope="module")
def image() -> str:
    given = os.environ.get("SPEECHOPS_EE_IMAGE")
    if given:
        return given
    tag = "speechops-edge-ee:test"
    build = subprocess.run(
        [str(REPO / "scripts" / "build_ee.sh"), tag], capture_output=True, text=True, timeout=1800, check=False
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-6000:]
    return tag


def _in_image(image: str, *command: str) -> str:
    """Run a command in the image as it is (its entrypoint, its default user) without any network."""
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_collection_is_installed(image: str) -> None:
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    listing = _in_image(image, "ansible-galaxy", "collection", "list", "speechops.edge", "--format", "json")
    found = {name: info["version"] for path in json.loads(listing).values() for name, info in path.items()}
    assert found == {"speechops.edge": version}
    doc = _in_image(image, "ansible-doc", "--json", "speechops.edge.speech_containers")
    assert "speechops.edge.speech_containers" in json.loads(doc)


def test_ansible_core_and_runner_are_the_pinned_versions(image: str) -> None:
    assert _in_image(image, "ansible-runner", "--version").strip() == _pin("test.txt", "ansible-runner")
    core = _in_image(image, "python3", "-c", "import ansible.release; print(ansible.release.__version__)")
    assert core.strip() == _pin("controller.txt", "ansible-core")


def test_nothing_of_the_offline_build_is_left_in_the_image(image: str) -> None:
    # /etc/pip.conf (no-index, find-links) and /output (the wheelhouse) only serve the build.
    assert _in_image(image, "sh", "-c", "ls -d /etc/pip.conf /output 2>/dev/null; true").strip() == ""


def test_ansible_runner_runs_a_job_in_the_image(image: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "inventory").mkdir()
    (tmp_path / "env").mkdir()
    (tmp_path / "inventory" / "hosts").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
    )
    play = [
        {
            "name": "A job on the controller inside the execution environment",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Plan a declaration with the collection's filter",
                    "ansible.builtin.debug": {
                        "msg": "{{ [{'kind': 'speech-to-text', 'version': '5.1.0', 'locale': 'en-US'}]"
                        " | speechops.edge.speech_plan({}) | map(attribute='name') | list }}"
                    },
                },
                {
                    "name": "Count the keys of the ssh-agent",
                    "ansible.builtin.command": "ssh-add -l",
                    "changed_when": False,
                },
            ],
        }
    ]
    (project / "job.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    # A machine credential: ansible-runner hands env/ssh_key to an ssh-agent inside the container.
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ee-test", "-f", str(key)], check=True)
    key.rename(tmp_path / "env" / "ssh_key")
    runner = Path(sys.executable).parent / "ansible-runner"
    done = subprocess.run(
        [
            str(runner),
            "run",
            str(tmp_path),
            "--playbook",
            "job.yml",
            "--ident",
            "job",
            "--json",
            "--process-isolation",
            "--process-isolation-executable",
            "docker",
            "--container-image",
            image,
            "--container-option=--network=none",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert (tmp_path / "artifacts" / "job" / "status").read_text().strip() == "successful"
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    results = {e["event_data"]["task"]: e["event_data"]["res"] for e in events if e.get("event") == "runner_on_ok"}
    assert results["Plan a declaration with the collection's filter"]["msg"] == ["stt-en-us"]
    agent = results["Count the keys of the ssh-agent"]["stdout"]
    assert "ee-test (ED25519)" in agent, agent
