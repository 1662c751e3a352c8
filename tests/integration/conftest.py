# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run playbooks against the lab: the collection comes from this checkout, the hosts from .lab/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible_env import ansible_environment, write_vars_file

# tests/ holds the helpers the lab and integration tests share (polling.py).
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("SPEECHOPS_LAB_DIR", REPO / ".lab"))
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def assert_ok(self) -> None:
        assert self.returncode == 0, self.output[-6000:]


@pytest.fixture(scope="session")
def lab() -> dict:
    lab_file = LAB_DIR / "lab.json"
    if not lab_file.exists():
        if os.environ.get("SPEECHOPS_REQUIRE_LAB"):
            pytest.fail("the lab is not up (%s missing): run python3 lab/speechlab.py up" % lab_file)
        pytest.skip("the lab is not up: run python3 lab/speechlab.py up")
    return json.loads(lab_file.read_text())


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("collections")
    namespace = root / "ansible_collections" / "speechops"
    namespace.mkdir(parents=True)
    (namespace / "edge").symlink_to(REPO)
    return root


@pytest.fixture(scope="session")
def run_playbook(lab: dict, collections_path: Path, tmp_path_factory: pytest.TempPathFactory):
    bin_dir = Path(sys.executable).parent

    def run(playbook: str, extra_vars: dict | None = None, verbosity: int = 0, limit: str | None = None) -> PlaybookRun:
        command = [str(bin_dir / "ansible-playbook"), "-i", str(LAB_DIR / "inventory.yml"), str(PLAYBOOKS / playbook)]
        if extra_vars:
            command += ["-e", write_vars_file(tmp_path_factory.mktemp("vars") / "extra.json", extra_vars)]
        if verbosity:
            command.append("-" + "v" * verbosity)
        if limit:
            command += ["--limit", limit]
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=ansible_environment(collections_path),
            cwd=REPO,
            timeout=900,
            check=False,
        )
        return PlaybookRun(completed.returncode, completed.stdout + completed.stderr)

    return run


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs the local edge lab up (python3 lab/speechlab.py up)")
