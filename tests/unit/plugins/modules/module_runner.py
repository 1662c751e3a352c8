# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with given arguments and capture what it exits with."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from ansible.module_utils import basic

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19 has no testing helper; AnsibleModule reads basic._ANSIBLE_ARGS there

    @contextlib.contextmanager
    def patch_module_args(args: dict[str, Any] | None = None) -> Iterator[None]:
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield


class ModuleExit(Exception):
    def __init__(self, failed: bool, result: dict[str, Any]) -> None:
        super().__init__(result.get("msg", ""))
        self.failed = failed
        self.result = result


def _exit_json(self: basic.AnsibleModule, **kwargs: Any) -> None:
    kwargs.setdefault("changed", False)
    raise ModuleExit(False, kwargs)


def _fail_json(self: basic.AnsibleModule, msg: str, **kwargs: Any) -> None:
    kwargs["msg"] = msg
    raise ModuleExit(True, kwargs)


def run_module(main: Callable[[], None], args: dict[str, Any], check_mode: bool = False) -> tuple[bool, dict[str, Any]]:
    """(failed, result) of one module run."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), mock.patch.multiple(basic.AnsibleModule, exit_json=_exit_json, fail_json=_fail_json):
        try:
            main()
        except ModuleExit as done:
            return done.failed, done.result
    raise AssertionError("the module returned without exit_json or fail_json")


def run_speech_containers_on(engine: Any, monkeypatch: Any) -> None:
    """speech_containers' engine, SDK client and probes become the in-memory engine (its clock advances only when
    the module sleeps); the host's own ports count as free."""
    from ansible_collections.speechops.edge.plugins.module_utils import _speech_deploy
    from ansible_collections.speechops.edge.plugins.module_utils._host_reads import LOCAL_HOST

    monkeypatch.setattr(_speech_deploy, "engine_reader", lambda *_unused: engine)
    monkeypatch.setattr(_speech_deploy, "docker_client", lambda *_unused: engine)
    monkeypatch.setattr(_speech_deploy, "require_docker_sdk", lambda _module: None)
    monkeypatch.setattr(
        _speech_deploy,
        "deploy",
        functools.partial(_speech_deploy.deploy, prober=engine.probe, clock=engine.clock, sleep=engine.clock.sleep),
    )
    monkeypatch.setattr(LOCAL_HOST, "port_taken", lambda _address, _number: False)


def speech_arguments(api_key: str) -> dict[str, Any]:
    """speech_containers' fleet-wide arguments for the in-memory engine's registry (probes off: the tests ask)."""
    return {
        "eula": "accept",
        "billing": "https://westeurope.api.cognitive.microsoft.com/",
        "api_key": api_key,
        "registry": "registry.example.com:5000",
        "allow_below_minimum": True,
        "probe": False,
    }
