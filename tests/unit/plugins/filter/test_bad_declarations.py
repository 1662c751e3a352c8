# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11: every kind of bad declaration is refused on the controller (speech_plan, before any host changes)
with its field path, the value as given (secrets masked, nothing else) and the fix; the module refuses the same
arguments before Ansible converts them, with the same validator."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.speechops.edge.plugins.filter.speech import speech_plan
from ansible_collections.speechops.edge.plugins.modules import speech_containers

from ..modules.module_runner import run_module
from .bad_declarations import BAD, CUSTOM, FLEET, GUID_FIX, STT, TTS


@pytest.mark.parametrize(("changes", "fleet", "expected"), BAD, ids=[str(index) for index in range(len(BAD))])
def test_each_bad_declaration_is_refused_by_the_plan(changes: dict, fleet: dict, expected: str) -> None:
    entry = dict(STT, **changes)
    with pytest.raises(AnsibleFilterError) as error:
        speech_plan([entry], **{**FLEET, "allow_below_minimum": True, **fleet})
    message = str(error.value)
    assert expected in message, message
    assert "CANARY" not in message


def test_at_least_fifty_kinds_of_bad_input() -> None:
    assert len(BAD) >= 50


@pytest.mark.parametrize(
    "model_id", ["0a1b2c3d", "it-model-1", "a3d8aab9-6f36-44cd-9904-b37389ce2bf", "a3d8aab96f3644cd9904b37389ce2bfa"]
)
def test_a_model_id_must_be_a_guid(model_id: str) -> None:
    with pytest.raises(AnsibleFilterError) as error:
        speech_plan([dict(CUSTOM, model_id=model_id)], **FLEET)
    assert "model_id: %r is not a model id in the form Microsoft issues: %s" % (model_id, GUID_FIX) in str(error.value)


def test_every_problem_of_the_host_in_one_error() -> None:
    with pytest.raises(AnsibleFilterError) as error:
        speech_plan(
            [dict(STT, cpus="lots"), dict(TTS, voice=True), dict(CUSTOM, model_id="x"), dict(STT, name="b\n")],
            eula="decline",
            billing=FLEET["billing"],
            api_key="CANARY",
        )
    message = str(error.value)
    assert message.startswith("invalid speech container declaration: ")
    for fragment in (
        "speech_containers[0] (stt-de-de).cpus: 'lots'",
        "speech_containers[1] (tts).voice: True is not a string",
        "speech_containers[2] (custom-stt-x).model_id: 'x' is not a model id",
        "speech_containers[2] (custom-stt-x).eula: 'decline' is not 'accept'",
        "speech_containers[3] ('b\\n').name: 'b\\n' contains a control character",
    ):
        assert fragment in message, message


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        (
            None,
            "speech_containers: null: the key is there without a list (every entry below it commented out?): "
            "write speech_containers: [] to declare no containers on purpose, or uncomment the entries",
        ),
        ("notalist", "speech_containers: 'notalist' is a string, not a list: give a list of entries"),
        ({"kind": "speech-to-text"}, "is a dictionary, not a list"),
        ([None], "speech_containers[0]: null: an empty entry (a lone '-'): remove it"),
        (["stt"], "speech_containers[0]: 'stt' is a string, not a dictionary"),
    ],
)
def test_a_declaration_that_is_not_a_list_of_entries(declaration: Any, expected: str) -> None:
    with pytest.raises(AnsibleFilterError) as error:
        speech_plan(declaration, **FLEET)
    assert expected in str(error.value)


def test_an_explicit_empty_list_declares_no_containers() -> None:
    assert speech_plan([], **FLEET) == []


def module_failure(args: dict[str, Any]) -> dict[str, Any]:
    failed, result = run_module(speech_containers.main, dict(FLEET, **args), check_mode=True)
    assert failed, result
    return result


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ("notalist", "containers: 'notalist' is a string, not a list: give a list of entries"),
        ([dict(STT, cpus="lots")], "containers[0] (stt-de-de).cpus: 'lots' is not a number: give a positive number"),
        ([dict(STT, voice=True)], "containers[0] (stt-de-de).voice: True is not a string: YAML reads unquoted on"),
        ([dict(STT, port=5000)], "containers[0] (stt-de-de).port: unknown key: did you mean host_port?"),
        ([dict(STT, version=None)], "containers[0] (stt-de-de).version: null"),
        ([dict(STT, http_proxy_creds="u:CANARY")], "http_proxy_creds: is set (********) but http_proxy is not"),
        ([dict(CUSTOM, name="c", model_id="it-model-1")], "containers[0] (c).model_id: 'it-model-1' is not a model"),
    ],
)
def test_the_module_refuses_before_ansible_converts(containers: Any, expected: str) -> None:
    result = module_failure({"containers": containers})
    assert result["msg"].startswith("invalid containers (nothing was changed): "), result["msg"]
    assert expected in result["msg"], result["msg"]
    assert "CANARY" not in result["msg"]
    assert "unable to convert" not in result["msg"]


def test_the_module_says_a_missing_eula_is_missing() -> None:
    failed, result = run_module(
        speech_containers.main, {"containers": [STT], "billing": FLEET["billing"], "api_key": "k"}, check_mode=True
    )
    assert failed
    assert "containers[0] (stt-de-de).eula: missing: read Microsoft's license terms" in result["msg"]
