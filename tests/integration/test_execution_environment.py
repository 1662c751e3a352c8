# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo fleet deployed from the collection's execution environment, the way an automation controller runs a job.

scripts/build_ee.sh builds the image from examples/execution-environment.yml (or SPEECHOPS_EE_IMAGE names one
already built). ansible-runner then runs project playbooks that import speechops.edge.deploy and
speechops.edge.status inside that image (process isolation with docker, on the lab network), from a private data
dir that holds everything the job needs: the inventory (.lab/inventory.yml and examples/lab, the lab's files
under /runner/lab instead of paths on this machine) and the SSH key as a machine credential (env/ssh_key, handed to
ssh-agent by ansible-runner). Nothing from the checkout or the host's Ansible is mounted: the image must do it.
Runs only when the lab is up (.lab/lab.json), like the other lab tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_FLEET = REPO / "examples" / "lab"
BUILD_SCRIPT = REPO / "scripts" / "build_ee.sh"
RUNNER_DIR = "/runner"  # where ansible-runner mounts the private data dir inside the container
SECRET_MODE = 0o600


@dataclass
class RunnerJob:
    rc: int
    status: str
    stats: dict[str, dict[str, int]]
    output: str

    def assert_ok(self) -> None:
        assert self.rc == 0 and self.status == "successful", self.output[-6000:]
        assert not self.stats.get("failures") and not self.stats.get("dark"), self.stats

    def total(self, counter: str) -> int:
        return sum(self.stats.get(counter, {}).values())


@pytest.fixture(scope="session")
def ee_image(lab: dict) -> str:
    """The EE image: SPEECHOPS_EE_IMAGE as given, or scripts/build_ee.sh run now (idempotent: seconds when warm)."""
    given = os.environ.get("SPEECHOPS_EE_IMAGE")
    if given:
        return given
    image = "speechops-edge-ee:test"
    build = subprocess.run(
        [str(BUILD_SCRIPT), image], capture_output=True, text=True, cwd=REPO, timeout=1800, check=False
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-6000:]
    return image


def _lab_path(value: str, lab_dir: Path, private_data_dir: Path) -> str:
    """A file of the lab dir, copied into the private data dir: its path as the container sees it."""
    source = Path(value)
    relative = source.relative_to(lab_dir)
    target = private_data_dir / "lab" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(SECRET_MODE if source.suffix == ".key" else 0o644)
    return "%s/lab/%s" % (RUNNER_DIR, relative.as_posix())


def _relocate(data: Any, lab_dir: Path, private_data_dir: Path) -> Any:
    """Every string naming a file under the lab dir (CA, gateway certificates and keys) -> its copy under /runner."""
    if isinstance(data, dict):
        return {key: _relocate(value, lab_dir, private_data_dir) for key, value in data.items()}
    if isinstance(data, list):
        return [_relocate(value, lab_dir, private_data_dir) for value in data]
    if isinstance(data, str) and data.startswith(str(lab_dir) + os.sep):
        return _lab_path(data, lab_dir, private_data_dir)
    return data


def _write_yaml(path: Path, data: Any, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    path.chmod(mode)


@pytest.fixture(scope="session")
def private_data_dir(lab: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ansible-runner private data dir for the demo fleet on the lab: project, inventory, credential."""
    pdd = tmp_path_factory.mktemp("ee-runner")
    lab_dir = Path(lab["lab_dir"])
    inventory_dir = pdd / "inventory"

    # The lab's inventory without the key path (the credential comes through env/ssh_key, as a controller does it).
    inventory = yaml.safe_load(Path(lab["inventory"]).read_text())
    inventory["all"]["vars"].pop("ansible_ssh_private_key_file")
    _write_yaml(inventory_dir / "lab.yml", _relocate(inventory, lab_dir, pdd))
    for name in ("lab.yml", "secrets.yml"):
        source = lab_dir / "group_vars" / "all" / name
        data = _relocate(yaml.safe_load(source.read_text()), lab_dir, pdd)
        _write_yaml(inventory_dir / "group_vars" / "all" / name, data, source.stat().st_mode & 0o777)
    # examples/lab (group edge, its group_vars and host_vars) beside it in the same inventory directory.
    shutil.copyfile(EXAMPLE_FLEET / "hosts.yml", inventory_dir / "example-fleet.yml")
    shutil.copytree(EXAMPLE_FLEET / "group_vars", inventory_dir / "group_vars", dirs_exist_ok=True)
    shutil.copytree(EXAMPLE_FLEET / "host_vars", inventory_dir / "host_vars")

    env = pdd / "env"
    env.mkdir()
    shutil.copyfile(lab["ssh_private_key_file"], env / "ssh_key")
    (env / "ssh_key").chmod(SECRET_MODE)
    (env / "envvars").write_text(json.dumps({"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"}))

    project = pdd / "project"
    project.mkdir()
    for name in ("deploy", "status"):
        play = [
            {"name": "The collection's %s playbook" % name, "ansible.builtin.import_playbook": "speechops.edge." + name}
        ]
        _write_yaml(project / ("%s.yml" % name), play)
    return pdd


def _stats(artifacts: Path) -> dict[str, dict[str, int]]:
    """The play recap as ansible-runner records it: the playbook_on_stats event of the job."""
    for path in sorted((artifacts / "job_events").glob("*.json")):
        event = json.loads(path.read_text())
        if event.get("event") == "playbook_on_stats":
            return event["event_data"]
    return {}


@pytest.fixture(scope="session")
def run_job(lab: dict, ee_image: str, private_data_dir: Path):
    runner = Path(sys.executable).parent / "ansible-runner"

    def run(playbook: str, ident: str) -> RunnerJob:
        command = [
            str(runner),
            "run",
            str(private_data_dir),
            "--playbook",
            playbook,
            "--ident",
            ident,
            "--process-isolation",
            "--process-isolation-executable",
            "docker",
            "--container-image",
            ee_image,
            # The lab network is --internal: the job container joins it to reach the edge hosts.
            "--container-option=--network=%s" % lab["network"]["name"],
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=1200, check=False)
        artifacts = private_data_dir / "artifacts" / ident
        status_file = artifacts / "status"
        status = status_file.read_text().strip() if status_file.exists() else "missing"
        output = done.stdout + done.stderr
        for secret in (lab["api_key"], lab["registry_password"]):
            assert secret not in output, "a lab secret appears in the job output"
        return RunnerJob(done.returncode, status, _stats(artifacts), output)

    return run


def _declared_kinds() -> dict[str, set[str]]:
    """host -> kinds the example fleet declares for it (examples/lab/host_vars)."""
    declared = {}
    for path in sorted((EXAMPLE_FLEET / "host_vars").glob("*.yml")):
        containers = yaml.safe_load(path.read_text()).get("speech_containers") or []
        declared[path.stem] = {entry["kind"] for entry in containers}
    return declared


def _report_rows(report: str) -> list[dict[str, str]]:
    """The fleet table (the report's first table) as dicts: header cell -> row cell."""

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(cells(line))
    header, rows = table[0], table[2:]  # table[1] is the --- separator
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_deploy_and_status_run_inside_the_execution_environment(run_job, private_data_dir: Path) -> None:
    first = run_job("deploy.yml", "deploy-1")
    first.assert_ok()
    assert first.stats.get("ok"), first.output[-3000:]  # the fleet's hosts were reached at all

    second = run_job("deploy.yml", "deploy-2")
    second.assert_ok()
    assert second.total("changed") == 0, (second.stats.get("changed"), second.output[-6000:])

    status = run_job("status.yml", "status")
    status.assert_ok()  # (it reports changed once: it writes its report file on the controller)
    # The report the status playbook writes on the controller (the job's cwd: the project directory).
    report = (private_data_dir / "project" / "speech-status.md").read_text()
    rows = _report_rows(report)
    for host, kinds in _declared_kinds().items():
        serving = {row["kind"] for row in rows if row["host"] == host and row["ready"] == "yes"}
        assert kinds <= serving, (host, kinds, report)
