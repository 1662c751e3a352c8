# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment's files agree with each other and with the pinned requirements.

meta/execution-environment.yml names the collection's requirements.txt and bindep.txt (what ansible-builder reads
from an installed collection); examples/execution-environment.yml pins ansible-core and ansible-runner as
requirements/controller.txt and requirements/test.txt do; the collection's minimums admit the pinned versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]


def _requirements(path: Path) -> dict[str, Requirement]:
    """name -> requirement for every requirement line of a pip requirements file (-r lines and comments skipped)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            requirement = Requirement(line)
            found[requirement.name.lower()] = requirement
    return found


def _pins() -> dict[str, str]:
    pins = {}
    for name in ("controller.txt", "test.txt"):
        for key, requirement in _requirements(REPO / "requirements" / name).items():
            [spec] = requirement.specifier
            assert spec.operator == "==", requirement
            pins[key] = spec.version
    return pins


def test_meta_names_the_collection_root_files() -> None:
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
    for name in meta["dependencies"].values():
        assert (REPO / name).is_file(), name


def test_python_minimums_admit_the_pinned_versions() -> None:
    pins = _pins()
    requirements = _requirements(REPO / "requirements.txt")
    assert "cryptography" in requirements  # speech_gateway_certificate on the controller imports it
    assert "docker" not in requirements  # the Docker SDK is an edge host's need, not the controller's
    for name, requirement in requirements.items():
        if name in pins:
            assert requirement.specifier.contains(pins[name]), (requirement, pins[name])


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        (["platform:dpkg", "platform:debian"], ["ca-certificates", "openssh-client"]),
        (["platform:rpm", "platform:redhat"], ["ca-certificates", "openssh-clients"]),
    ],
)
def test_bindep_names_ssh_and_the_ca_store_per_platform(platform: list[str], expected: list[str]) -> None:
    depends = Depends((REPO / "bindep.txt").read_text())
    rules = depends.active_rules(platform)
    assert sorted(rule[0] for rule in rules) == expected


def test_example_definition_pins_what_the_requirements_pin() -> None:
    pins = _pins()
    ee = yaml.safe_load((REPO / "examples" / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % pins["ansible-core"]
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==%s" % pins["ansible-runner"]
    # The collection comes from the artifact of this checkout, not from a Galaxy server.
    assert deps["galaxy"]["collections"] == [{"name": "/build/collections/speechops-edge.tar.gz", "type": "file"}]
