# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11 in the plan: automatic ports that other entries cannot move, refused directories and addresses,
and records that show secrets only as ********."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.speechops.edge.plugins.filter.speech import speech_plan, speech_record, speech_select

STT = {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US"}
STT_DE = {"kind": "speech-to-text", "version": "5.1.0", "locale": "de-DE"}
TTS = {"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AriaNeural"}
CUSTOM = {"kind": "custom-speech-to-text", "version": "5.1.0", "model_id": "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"}
LANGDETECT = {"kind": "language-detection", "version": "1.18.0", "preview": True}
HOST = [STT, TTS, CUSTOM, LANGDETECT, STT_DE]


def ports(declaration: list[dict[str, Any]]) -> dict[str, int]:
    return {entry["name"]: entry["host_port"] for entry in speech_plan(declaration)}


def failure(declaration: list[dict[str, Any]], **options: Any) -> str:
    with pytest.raises(AnsibleFilterError) as error:
        speech_plan(declaration, **options)
    return str(error.value)


def test_a_host_with_one_container_of_each_kind_keeps_its_ports() -> None:
    # The ports such a host had before issue 11 (5000, Microsoft's documented container port, for the first of the
    # kinds that share it; language detection on its own port 5003): an upgrade must not move them.
    assert ports([STT, TTS, CUSTOM, LANGDETECT]) == {
        "stt-en-us": 5000,
        "tts-en-us-arianeural": 5001,
        "custom-stt-0a1b2c3d": 5002,
        "langdetect": 5003,
    }


@pytest.mark.parametrize(
    "changed,pinned",
    [
        pytest.param([*HOST, dict(STT, locale="fr-FR", port=6000)], set(), id="add an entry with a port"),
        pytest.param([*HOST[:4], dict(STT_DE, port=6001)], {"stt-de-de"}, id="add a port to the last entry"),
        pytest.param([dict(STT, port=6002), *HOST[1:]], {"stt-en-us"}, id="add a port to the first entry"),
        pytest.param([*HOST[:3], dict(LANGDETECT, port=5100), STT_DE], {"langdetect"}, id="pin language detection"),
        pytest.param(
            [*HOST, {"kind": "fast-transcription", "version": "1.0.0", "locale": "en", "port": 6005}],
            set(),
            id="append an entry of another kind with a port",
        ),
        pytest.param([dict(STT, state="absent"), *HOST[1:]], set(), id="remove an entry with state absent"),
        pytest.param([*HOST, dict(LANGDETECT, name="ld2")], set(), id="append an entry of a kind"),
        pytest.param([dict(STT, locale="fr-FR", port=6004), *HOST[1:]], set(), id="replace an entry by a pinned one"),
    ],
)
def test_other_entries_never_move_an_automatic_port(changed: list[dict[str, Any]], pinned: set[str]) -> None:
    before, after = ports(HOST), ports(changed)
    kept = [name for name in before if name in after and name not in pinned]
    assert len(kept) >= 3
    assert {name: after[name] for name in kept} == {name: before[name] for name in kept}


def test_changing_an_explicit_port_moves_no_other_entry() -> None:
    # Issue 11: an explicit port on one entry moved language detection from 5003 to 5004.
    for port in (5100, 5101, 6000, None):
        pinned = dict(STT_DE, port=port) if port else STT_DE
        plan = ports([STT, TTS, CUSTOM, LANGDETECT, pinned])
        assert {name: plan[name] for name in ("stt-en-us", "tts-en-us-arianeural", "custom-stt-0a1b2c3d")} == {
            "stt-en-us": 5000,
            "tts-en-us-arianeural": 5001,
            "custom-stt-0a1b2c3d": 5002,
        }
        assert plan["langdetect"] == 5003


def test_an_explicit_port_that_takes_an_automatic_one_is_one_error_naming_both() -> None:
    message = failure([STT, LANGDETECT, dict(STT_DE, port=5003)])
    assert message.count("5003") == 1, message
    assert (
        "speech_containers[2] (stt-de-de).port: 5003 is also the automatic port of speech_containers[1] (langdetect): "
        "give one of them another port"
    ) in message


def test_two_explicit_ports_clash_once_naming_both() -> None:
    message = failure([dict(STT, port=6000), TTS, dict(STT_DE, port=6000)])
    assert message.count("is also the") == 1, message
    assert (
        "speech_containers[2] (stt-de-de).port: 6000 is also the explicit port of speech_containers[0] (stt-en-us)"
        in (message)
    )


def test_one_port_on_two_addresses_of_the_host_is_no_clash() -> None:
    plan = speech_plan([dict(STT, port=6000, bind_address="192.0.2.10"), dict(STT_DE, port=6000, bind_address="::1")])
    assert [entry["host_port"] for entry in plan] == [6000, 6000]
    # Without its own address an entry takes the fleet's, which may be every address.
    assert "is also the explicit port" in failure(
        [dict(STT, port=6000, bind_address="192.0.2.10"), dict(STT_DE, port=6000)]
    )


def test_an_absent_entry_frees_its_port() -> None:
    plan = speech_plan([dict(STT, state="absent", port=6000), dict(STT_DE, port=6000)])
    assert [entry["host_port"] for entry in plan] == [6000, 6000]


@pytest.mark.parametrize(
    "port,expected",
    [
        (True, "speech_containers[0].port: True is not a whole number: give a TCP port from 1 to 65535"),
        ("http", "speech_containers[0].port: 'http' is not a whole number: give a TCP port from 1 to 65535"),
        (5000.5, "speech_containers[0].port: 5000.5 is not a whole number: give a TCP port from 1 to 65535"),
        (0, "speech_containers[0] (stt-en-us).port: 0 is not a TCP port"),
        (70000, "speech_containers[0] (stt-en-us).port: 70000 is not a TCP port"),
    ],
)
def test_a_port_that_is_not_a_tcp_port_is_refused(port: Any, expected: str) -> None:
    assert expected in failure([dict(STT, port=port)])


@pytest.mark.parametrize(
    "declared,options,expected",
    [
        (
            dict(STT, output_path="/root"),
            {},
            "speech_containers[0] (stt-en-us).output_path: '/root' would hand a system directory to the containers' "
            "user (uid 65532): give a directory of its own, for example /var/lib/speechops/output/stt-en-us",
        ),
        (
            dict(STT, license_path="/etc"),
            {},
            "speech_containers[0] (stt-en-us).license_path: '/etc' would hand a system directory",
        ),
        (
            dict(CUSTOM, model_path="/usr/share/m"),
            {},
            "speech_containers[0] (custom-stt-0a1b2c3d).model_path: '/usr/share/m' would hand a system directory",
        ),
        (
            CUSTOM,
            {"models_root": "/"},
            "speech_containers[0] (custom-stt-0a1b2c3d).model_path: '/custom-stt-0a1b2c3d' would hand a system "
            "directory to the containers' user (uid 65532): give a directory of its own, for example "
            "/var/lib/speechops/models/custom-stt-0a1b2c3d (made from models_root /)",
        ),
        (
            dict(STT, license=True),
            {"license_root": "/var"},
            "(stt-en-us).license_path: '/var/stt-en-us' would hand a system directory",
        ),
        (dict(STT, output_path="out"), {}, "(stt-en-us).output_path: 'out' is not an absolute host path"),
        (dict(STT, bind_address="not-an-ip"), {}, "(stt-en-us).bind_address: 'not-an-ip' is not an IP address: give"),
        (
            dict(STT, bind_address="0.0.0.0; rm -rf /"),
            {},
            "(stt-en-us).bind_address: '0.0.0.0; rm -rf /' is not an IP address",
        ),
    ],
)
def test_bad_directories_and_addresses_fail_the_plan(declared: dict, options: dict, expected: str) -> None:
    assert expected in failure([declared], **options)


def test_the_plan_leaves_every_directory_of_the_containers_to_the_module() -> None:
    plan = speech_plan([dict(CUSTOM, output=True), dict(STT, license=True)])
    # The module creates and owns model and output directories; edge_host only prepares license directories.
    purposes = {entry["purpose"]: entry["path"] for entry in speech_select(plan, "directories")}
    assert purposes == {
        "model": "/var/lib/speechops/models/custom-stt-0a1b2c3d",
        "output": "/var/lib/speechops/output/custom-stt-0a1b2c3d",
        "license": "/var/lib/speechops/license/stt-en-us",
    }


def test_the_record_gives_the_secrets_as_masked_environment_variables() -> None:
    [entry] = speech_plan(
        [
            dict(
                CUSTOM,
                api_key="CANARY-key",
                http_proxy="http://proxy.example:3128",
                http_proxy_creds="user:CANARY-proxy",
                settings={"ApplicationInsights:InstrumentationKey": "CANARY-insights"},
            )
        ]
    )
    record = speech_record(entry, eula="accept", billing="https://westeurope.api.cognitive.microsoft.com/")
    assert "CANARY" not in repr(record)
    run = record["docker_run"]
    # docker-compose-recipe.md passes eula, billing and apikey as environment variables.
    # shlex quotes the mask (* is a shell pattern).
    assert "--env 'ApiKey=********'" in run
    assert "--env Billing=https://westeurope.api.cognitive.microsoft.com/" in run
    assert "--env Eula=accept" in run
    assert "--env 'HTTP_PROXY_CREDS=********'" in run
    assert "--env 'ApplicationInsights__InstrumentationKey=********'" in run
    # The command after the image: non-secret settings only.
    assert run.rsplit("\\\n", 1)[-1].split() == [
        "ModelId=0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
        "HTTP_PROXY=http://proxy.example:3128",
    ]
    assert record["env"]["ApiKey"] == "********"


@pytest.mark.parametrize(
    "kind",
    [STT, TTS, CUSTOM, {"kind": "fast-transcription", "version": "1.0.0", "locale": "en", "gpus": "none"}],
    ids=lambda entry: entry["kind"],
)
def test_a_single_service_keeps_microsofts_documented_port(kind: dict[str, Any]) -> None:
    """docker run -p 5000:5000 in speech-container-howto.md and speech-container-ft.md; 5003 for language detection."""
    assert list(ports([kind]).values()) == [5000]
    assert list(ports([LANGDETECT]).values()) == [5003]
