# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action group docker of meta/runtime.yml (issue 14): exactly the modules with the Docker engine options,
the same option name meaning the same thing everywhere, and module_defaults reaching every member for real."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from ansible.module_utils import basic

from .modules.module_runner import patch_module_args

REPO = Path(__file__).resolve().parents[3]
MODULES = sorted(path.stem for path in (REPO / "plugins" / "modules").glob("*.py") if path.stem != "__init__")
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
GROUP_FRAGMENT = "speechops.edge.attributes.actiongroup_docker"


class _ArgumentSpec(Exception):
    def __init__(self, argument_spec: dict[str, Any]) -> None:
        super().__init__("argument_spec")
        self.argument_spec = argument_spec


def _raise_argument_spec(self: basic.AnsibleModule, argument_spec: dict[str, Any], **_kwargs: Any) -> None:
    raise _ArgumentSpec(argument_spec)


def argument_spec(name: str) -> dict[str, Any]:
    """The argument_spec a module's main() builds (it stops there: nothing runs)."""
    module = importlib.import_module("ansible_collections.speechops.edge.plugins.modules." + name)
    # containers: [] satisfies speech_containers' check of the raw arguments, which runs before AnsibleModule.
    with (
        patch_module_args({"containers": []}),
        mock.patch.object(basic.AnsibleModule, "__init__", _raise_argument_spec),
    ):
        try:
            module.main()
        except _ArgumentSpec as built:
            return built.argument_spec
    raise AssertionError("%s built no AnsibleModule" % name)


def documentation(name: str) -> dict[str, Any]:
    module = importlib.import_module("ansible_collections.speechops.edge.plugins.modules." + name)
    return yaml.safe_load(module.DOCUMENTATION)


def engine_options() -> dict[str, Any]:
    """The Docker engine options as their doc fragment documents them - the definition of group membership."""
    fragment = importlib.import_module("ansible_collections.speechops.edge.plugins.doc_fragments.docker_engine")
    return yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]


def docker_group() -> list[str]:
    return yaml.safe_load((REPO / "meta" / "runtime.yml").read_text())["action_groups"]["docker"]


def test_the_group_holds_exactly_the_modules_with_the_engine_options() -> None:
    engine = engine_options()
    assert set(engine) == {"docker_host", "timeout"}  # the fragment this test reads is the one meant
    with_engine = [name for name in MODULES if set(engine) <= set(argument_spec(name))]
    assert sorted(docker_group()) == with_engine
    assert len(docker_group()) == len(set(docker_group()))


@pytest.mark.parametrize("name", MODULES)
def test_engine_options_mean_the_same_in_every_module(name: str) -> None:
    spec = argument_spec(name)
    engine = engine_options()
    names_and_aliases = {option: {option, *definition.get("aliases", [])} for option, definition in engine.items()}
    used = {alias for option in spec for alias in {option, *spec[option].get("aliases", [])}}
    if name in docker_group():
        for option, definition in engine.items():
            assert spec[option]["type"] == definition["type"]
            assert spec[option].get("default") == definition["default"]
            assert set(spec[option].get("aliases", [])) == set(definition.get("aliases", []))
    else:
        # Another meaning under an engine option's name (or alias) would break module_defaults and readers alike.
        assert not used & set().union(*names_and_aliases.values())


def test_options_of_the_same_name_have_the_same_type_everywhere() -> None:
    types: dict[str, set[tuple[str, str]]] = {}
    for name in MODULES:
        for option, definition in argument_spec(name).items():
            types.setdefault(option, set()).add((definition.get("type", "str"), name))
    clashes = {option: found for option, found in types.items() if len({kind for kind, _module in found}) > 1}
    assert clashes == {}


@pytest.mark.parametrize("name", MODULES)
def test_every_module_documents_its_attributes_and_group(name: str) -> None:
    doc = documentation(name)
    fragments = doc.get("extends_documentation_fragment", [])
    assert "speechops.edge.attributes" in fragments
    assert (GROUP_FRAGMENT in fragments) == (name in docker_group())
    assert ("speechops.edge.docker_engine" in fragments) == (name in docker_group())
    # The fragment describes each attribute; the module itself states its support (and where it runs).
    for attribute in ("check_mode", "diff_mode", "idempotent"):
        assert doc["attributes"][attribute]["support"] in {"full", "partial", "none", "N/A"}
        assert "description" not in doc["attributes"][attribute]
    assert doc["attributes"]["platform"]["platforms"] in {"linux", "posix"}


@pytest.fixture
def silent_engine() -> Iterator[int]:
    """A port that takes connections and never answers (the kernel completes them; nobody accepts)."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield listener.getsockname()[1]


def test_the_playbook_calls_every_member() -> None:
    tasks = yaml.safe_load((PLAYBOOKS / "module_defaults_docker_members.yml").read_text())
    called = sorted(key.split(".")[-1] for task in tasks for key in task if key.startswith("speechops.edge."))
    assert called == sorted(docker_group())


def test_module_defaults_of_the_group_reach_every_member(silent_engine: int, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        "-i",
        "localhost,",
        "-e",
        "ansible_python_interpreter=%s" % sys.executable,
        "-e",
        "it_silent_port=%d it_config_dir=%s" % (silent_engine, tmp_path),
        str(PLAYBOOKS / "module_defaults_docker.yml"),
    ]
    environment = dict(
        os.environ,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
    )
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    # Both plays ran their checks: two assertion loops over four members, and the timing check.
    assert done.stdout.count("ok: [localhost] => (item=") == 8, done.stdout[-6000:]
    assert "ok=12" in done.stdout and "ignored=8" in done.stdout, done.stdout[-3000:]
