# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import (
    LABEL_HASH,
    LABEL_SPEC,
    SpecError,
    build_desired,
)

CANARY_KEY = "canary-key-0123456789abcdef"
# A base model id speech-container-cstt.md (azure-ai-docs) lists: "Id: a3d8aab9-6f36-44cd-9904-b37389ce2bfa".
MODEL_ID = "a3d8aab9-6f36-44cd-9904-b37389ce2bfa"
CANARY_PROXY = "proxyuser:canary-proxy-secret"
DEFAULTS = {
    "eula": "accept",
    "billing": "https://westeurope.api.cognitive.microsoft.com/",
    "api_key": CANARY_KEY,
    "registry": "registry.example.com:5000",
    "bind_address": "0.0.0.0",
    "allow_below_minimum": False,
    "models_root": "/var/lib/speechops/models",
}


def entry(**fields: Any) -> dict[str, Any]:
    base = {"name": "stt", "kind": "speech-to-text", "version": "3.12.0", "locale": "en-US"}
    base.update(fields)
    return base


def problems(entries: list[dict[str, Any]], **defaults: Any) -> list[str]:
    with pytest.raises(SpecError) as error:
        build_desired(entries, dict(DEFAULTS, **defaults))
    return error.value.problems


def test_renders_the_documented_run_contract() -> None:
    [stt] = build_desired([entry(decoder_max_count=2, log_level="Warning")], DEFAULTS)
    assert (
        stt.image
        == "registry.example.com:5000/azure-cognitive-services/speechservices/speech-to-text:3.12.0-amd64-en-us"
    )
    # speech-container-configuration.md names the settings Eula, Billing, ApiKey; docker-compose-recipe.md
    # (azure-ai-docs, articles/ai-services/containers) gives them to the container as environment variables.
    assert stt.env == {
        "Eula": "accept",
        "Billing": "https://westeurope.api.cognitive.microsoft.com/",
        "ApiKey": CANARY_KEY,
        "DECODER_MAX_COUNT": "2",
    }
    assert stt.args == ["Logging:Console:LogLevel:Default=Warning"]
    assert (stt.cpus, stt.memory_bytes, stt.host_port, stt.container_port) == (4.0, 4 * 1024**3, 5000, 5000)
    assert stt.mounts == []
    assert stt.endpoints()["query"][0] == "ws://127.0.0.1:5000/speech/recognition/interactive/cognitiveservices/v1"


def test_custom_kind_gets_model_id_and_a_model_directory() -> None:
    [custom] = build_desired(
        [entry(kind="custom-speech-to-text", locale=None, model_id=MODEL_ID, name="cstt")], DEFAULTS
    )
    assert "ModelId=%s" % MODEL_ID in custom.args
    assert custom.mounts == [{"source": "/var/lib/speechops/models/cstt", "target": "/usr/local/models", "mode": "rw"}]


def test_tts_endpoints_name_the_ssml_voice_and_language_detection_uses_5003() -> None:
    tts, ld = build_desired(
        [
            entry(name="tts", kind="neural-text-to-speech", voice="AriaNeural", memory="12g", cpus=6, host_port=5001),
            entry(name="ld", kind="language-detection", locale=None, version="1.12.0", preview=True),
        ],
        DEFAULTS,
    )
    assert tts.endpoints()["ssml_voice"] == "en-US-AriaNeural"
    assert (ld.container_port, ld.host_port) == (5003, 5003)
    assert ld.image.endswith("language-detection:1.12.0-amd64-preview")


class RecordingClient:
    """Stands in for docker.APIClient.create_host_config: keeps what it was asked for."""

    def create_host_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs


def test_no_secret_is_on_the_command_line() -> None:
    [stt] = build_desired(
        [
            entry(
                http_proxy="http://proxyuser:canary-url-secret@proxy.example:3128",
                http_proxy_creds=CANARY_PROXY,
                settings={"ApplicationInsights:InstrumentationKey": "canary-instrumentation", "Fluentd:Host": "fl"},
            )
        ],
        DEFAULTS,
    )
    created = stt.create_arguments(RecordingClient(), "sha256:1")
    # The command is what /proc/PID/cmdline shows every local user: no secret may be in it.
    assert not [arg for arg in created["command"] if "canary" in arg]
    environment = created["environment"]
    assert environment["ApiKey"] == CANARY_KEY
    assert environment["HTTP_PROXY_CREDS"] == CANARY_PROXY
    assert environment["HTTP_PROXY"] == "http://proxyuser:canary-url-secret@proxy.example:3128"
    # ASP.NET Core reads ":" in a setting name as "__" in an environment variable name (docker-compose-recipe.md:
    # FormRecognizer__ComputerVisionApiKey).
    assert environment["ApplicationInsights__InstrumentationKey"] == "canary-instrumentation"
    assert "Fluentd:Host=fl" in created["command"]
    public = stt.public_spec()["env"]
    assert public["HTTP_PROXY"] == "http://proxyuser:********@proxy.example:3128"
    assert public["ApiKey"] == public["HTTP_PROXY_CREDS"] == public["ApplicationInsights__InstrumentationKey"]
    assert public["ApiKey"] == "********"
    assert "canary-url-secret" in stt.secrets  # so the module redacts it from logs and errors


def test_secrets_stay_out_of_the_public_spec_and_labels_but_change_the_hash() -> None:
    [stt] = build_desired([entry(http_proxy="http://proxy:3128", http_proxy_creds=CANARY_PROXY)], DEFAULTS)
    labels = stt.labels("sha256:1")
    text = json.dumps(stt.public_spec()) + json.dumps(labels)
    assert CANARY_KEY not in text and "canary-proxy-secret" not in text
    # Not even a plain digest of a secret: a label is readable by whoever can list containers.
    for secret in (CANARY_KEY, CANARY_PROXY):
        for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            assert digest(secret.encode()).hexdigest() not in text
    assert json.loads(labels[LABEL_SPEC])["env"]["ApiKey"] == "********"
    [rotated] = build_desired(
        [entry(http_proxy="http://proxy:3128", http_proxy_creds=CANARY_PROXY)], dict(DEFAULTS, api_key="other")
    )
    assert rotated.labels("sha256:1")[LABEL_HASH] != labels[LABEL_HASH]
    assert stt.labels("sha256:2")[LABEL_HASH] != labels[LABEL_HASH]
    assert stt.labels("sha256:1")[LABEL_HASH] == labels[LABEL_HASH]


@pytest.mark.parametrize(
    "fields,defaults,expected",
    [
        ({"kind": "speech"}, {}, "containers[0] (stt).kind: 'speech' is not one of speech-to-text, "),
        ({"version": "3.12"}, {}, "containers[0] (stt).version: version '3.12' is not of the form x.y.z"),
        ({"version": None}, {}, "containers[0] (stt).version: missing: set a pinned version"),
        ({"locale": "english"}, {}, "locale 'english' is not a locale like en-us, en-US"),
        ({}, {"eula": "yes"}, "containers[0] (stt).eula: 'yes' is not 'accept': read Microsoft's license terms"),
        ({}, {"eula": None}, "containers[0] (stt).eula: missing: read Microsoft's license terms"),
        (
            {},
            {"billing": "http://insecure.example.com"},
            "containers[0] (stt).billing: 'http://insecure.example.com' is not an https URL",
        ),
        ({}, {"api_key": ""}, "containers[0] (stt).api_key: is empty"),
        ({"memory": "4 gigs"}, {}, "containers[0] (stt).memory: memory '4 gigs' is not a size like 4g"),
        ({"memory": "2g"}, {}, "containers[0] (stt).memory: '2g' is below the speech-to-text minimum of 4.0 GiB"),
        ({"cpus": 1}, {}, "containers[0] (stt).cpus: 1 is below the speech-to-text minimum of 4"),
        ({"cpus": "many"}, {}, "containers[0] (stt).cpus: 'many' is not a number: give a positive number of CPUs"),
        ({"host_port": 70000}, {}, "containers[0] (stt).host_port: 70000 is not a TCP port (1-65535)"),
        ({"model_id": "abc"}, {}, "containers[0] (stt).model_id: speech-to-text images carry their own model"),
        (
            {"kind": "custom-speech-to-text", "locale": None},
            {},
            "containers[0] (stt).model_id: missing: custom-speech-to-text needs ModelId",
        ),
        ({"disk_logging": True}, {}, "containers[0] (stt).disk_logging: needs output_path"),
        ({"log_level": "Loud"}, {}, "containers[0] (stt).log_level: 'Loud' is not one of Trace, Debug"),
        (
            {"http_proxy_creds": "u:p"},
            {},
            "containers[0] (stt).http_proxy_creds: is set (********) but http_proxy is not: set http_proxy",
        ),
        (
            {"decoder_max_count": 2, "kind": "language-detection", "locale": None, "version": "1.12.0"},
            {},
            "containers[0] (stt).decoder_max_count: language-detection has no decoder count setting",
        ),
        (
            {"settings": {"Eula": "accept"}},
            {},
            "containers[0] (stt).settings: 'Eula' is not a documented optional setting",
        ),
        ({"name": "bad name"}, {}, "containers[0] (bad name).name: 'bad name' is not a valid container name"),
        ({"state": "running"}, {}, "containers[0] (stt).state: 'running' is not one of started, stopped, absent"),
        ({"restart_policy": "sometimes"}, {}, "containers[0] (stt).restart_policy: 'sometimes' is not one of"),
        ({"image": "x/y:1"}, {}, "containers[0] (stt).image: give either image or version/locale/voice, not both"),
        (
            {"output_path": "relative/dir"},
            {},
            "containers[0] (stt).output_path: 'relative/dir' is not an absolute host path: give a directory of its own",
        ),
        # Issue 11: these reached Docker (a name makes it publish on 0.0.0.0 or wait for name resolution).
        ({"bind_address": "not-an-ip"}, {}, "containers[0] (stt).bind_address: 'not-an-ip' is not an IP address: give"),
        ({}, {"bind_address": "0.0.0.0; rm -rf /"}, "(stt).bind_address: '0.0.0.0; rm -rf /' is not an IP address"),
        ({"bind_address": "localhost"}, {}, "(stt).bind_address: 'localhost' is not an IP address"),
        ({"bind_address": "fe80::1%eth0"}, {}, "(stt).bind_address: 'fe80::1%eth0' carries an IPv6 zone"),
    ],
)
def test_each_bad_input_names_field_value_and_fix(fields: dict, defaults: dict, expected: str) -> None:
    found = problems([entry(**fields)], **defaults)
    assert any(expected in problem for problem in found), found


def test_every_problem_of_every_entry_in_one_error() -> None:
    found = problems(
        [
            entry(memory="1g"),
            entry(name="stt", host_port=5000),
            entry(name="tts", kind="neural-text-to-speech", locale="en-us"),
        ],
        eula="no",
    )
    text = "\n".join(found)
    assert "containers[0] (stt).eula" in text and "containers[0] (stt).memory" in text
    assert "containers[2] (tts).version/locale/voice: neural-text-to-speech images need a voice" in text
    assert CANARY_KEY not in text


def test_duplicate_names_and_ports_are_refused() -> None:
    found = problems([entry(), entry(name="stt2", allow_below_minimum=True), entry()])
    text = "\n".join(found)
    assert "containers[1] (stt2).host_port: 5000 is planned for stt too" in text
    assert "containers[2] (stt).name: 'stt' is used by containers[0] too" in text


def test_allow_below_minimum_accepts_lab_sizes() -> None:
    [small] = build_desired([entry(cpus=0.5, memory="256m")], dict(DEFAULTS, allow_below_minimum=True))
    assert (small.cpus, small.memory_bytes) == (0.5, 256 * 1024**2)


SYSTEM_DIRECTORY = "would hand a system directory to the containers' user (uid 65532): give a directory of its own"


@pytest.mark.parametrize(
    "path,reason",
    [
        # Issue 11: model_path /root was accepted and root's home became 750 65532:65532.
        ("/root", SYSTEM_DIRECTORY),
        ("/", SYSTEM_DIRECTORY),
        ("/etc", SYSTEM_DIRECTORY),
        ("/etc/speech", SYSTEM_DIRECTORY),
        ("/usr/local/models", SYSTEM_DIRECTORY),
        ("/bin/x", SYSTEM_DIRECTORY),
        ("/sbin", SYSTEM_DIRECTORY),
        ("/lib", SYSTEM_DIRECTORY),
        ("/lib64/models", SYSTEM_DIRECTORY),
        ("/libx32", SYSTEM_DIRECTORY),
        ("/boot/m", SYSTEM_DIRECTORY),
        ("/dev/shm/m", SYSTEM_DIRECTORY),
        ("/proc/1", SYSTEM_DIRECTORY),
        ("/sys/fs", SYSTEM_DIRECTORY),
        ("/run/speech", SYSTEM_DIRECTORY),
        ("/var", SYSTEM_DIRECTORY),
        ("/var/", SYSTEM_DIRECTORY),
        ("//etc", SYSTEM_DIRECTORY),
        ("/var/lib", SYSTEM_DIRECTORY),
        ("/var/run/speech", SYSTEM_DIRECTORY),
        ("/var/lib/docker/volumes/x", SYSTEM_DIRECTORY),
        ("/home", SYSTEM_DIRECTORY),
        ("/home/alice", SYSTEM_DIRECTORY),
        ("/tmp", SYSTEM_DIRECTORY),
        ("/opt", SYSTEM_DIRECTORY),
        ("/data", SYSTEM_DIRECTORY),
        ("models", "is not an absolute host path"),
        ("/var/lib/speechops/../../../etc", "has a '..' component"),
        ("/srv/a:/etc", "contains ':'"),
    ],
)
def test_system_directories_are_never_handed_to_the_container(path: str, reason: str) -> None:
    custom = entry(kind="custom-speech-to-text", locale=None, model_id=MODEL_ID, name="cstt", model_path=path)
    [problem] = problems([custom])
    assert problem.startswith("containers[0] (cstt).model_path: %r %s" % (path, reason)), problem
    assert problem.endswith("for example /var/lib/speechops/models/cstt")
    [problem] = problems([entry(output_path=path)])
    assert problem.startswith("containers[0] (stt).output_path: %r %s" % (path, reason)), problem


@pytest.mark.parametrize(
    "path", ["/srv/speech/models", "/var/lib/speechops/models/x", "/tmp/speech", "/home/alice/models", "/data/speech"]
)
def test_directories_of_their_own_are_accepted(path: str) -> None:
    [stt] = build_desired([entry(output_path=path)], DEFAULTS)
    assert stt.mounts == [{"source": path, "target": "/output", "mode": "rw"}]


def test_a_models_root_at_the_top_is_refused_by_the_path_it_makes() -> None:
    custom = entry(kind="custom-speech-to-text", locale=None, model_id=MODEL_ID, name="cstt")
    assert problems([custom], models_root="/")[0].startswith("containers[0] (cstt).model_path: '/cstt' would hand")


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "127.0.0.1", "192.0.2.10", "fd00::10", "::1"])
def test_bind_address_takes_ip_addresses(address: str) -> None:
    [stt] = build_desired([entry(bind_address=address)], DEFAULTS)
    host_config = stt.create_arguments(RecordingClient(), "sha256:0")["host_config"]
    assert host_config["port_bindings"] == {"5000/tcp": (address, 5000)}


def test_one_port_on_two_addresses_is_fine_but_not_on_a_wildcard() -> None:
    pair = [entry(bind_address="192.0.2.10"), entry(name="stt2", bind_address="192.0.2.11")]
    assert [item.host_port for item in build_desired(pair, DEFAULTS)] == [5000, 5000]
    found = problems([entry(bind_address="192.0.2.10"), entry(name="stt2", bind_address="::")])
    assert found == [
        "containers[1] (stt2).host_port: 5000 is planned for stt too: give each container its own host port"
    ]


def fast_transcription(**fields: Any) -> dict[str, Any]:
    base = {
        "name": "fast",
        "kind": "fast-transcription",
        "version": "1.0.0",
        "locale": "en",
        "cpus": 8,
        "memory": "16g",
    }
    base.update(fields)
    return base


def test_fast_transcription_requests_every_gpu() -> None:
    [fast] = build_desired([fast_transcription(decoder_max_count=4)], DEFAULTS)
    # speech-container-ft.md: image .../fast-transcription:en-gpu-1.0.0-preview, docker run --gpus all -p 5000:5000
    # -e ASPNETCORE_URLS=http://+:5000, DECODER_COUNT, health GET /stt/health.
    assert fast.image.endswith("/azure-cognitive-services/speechservices/fast-transcription:en-gpu-1.0.0-preview")
    assert {key: fast.env[key] for key in ("ASPNETCORE_URLS", "DECODER_COUNT")} == {
        "ASPNETCORE_URLS": "http://+:5000",
        "DECODER_COUNT": "4",
    }
    host_config = fast.create_arguments(RecordingClient(), "sha256:0")["host_config"]
    # Docker SDK: DeviceRequest(count=-1, capabilities=[["gpu"]]) is docker run --gpus all.
    assert host_config["device_requests"] == [{"count": -1, "capabilities": [["gpu"]]}]
    assert fast.endpoints()["ready"] == "http://127.0.0.1:5000/stt/health"
    assert fast.endpoints()["status"] is None
    assert fast.endpoints()["query"] == ["http://127.0.0.1:5000/stt/transcriptions:transcribe?api-version=2024-11-15"]


def test_gpus_none_is_the_cpu_stand_in_opt_out() -> None:
    [fast] = build_desired([fast_transcription(gpus="none")], DEFAULTS)
    assert "device_requests" not in fast.create_arguments(RecordingClient(), "sha256:0")["host_config"]
    assert fast.public_spec()["gpus"] == "none"


def test_kinds_without_gpu_keep_their_spec_and_refuse_a_gpu() -> None:
    [stt] = build_desired([entry()], DEFAULTS)
    assert "gpus" not in stt.public_spec()
    assert "device_requests" not in stt.create_arguments(RecordingClient(), "sha256:0")["host_config"]
    assert problems([entry(gpus="all")]) == [
        "containers[0] (stt).gpus: speech-to-text does not use a GPU: remove gpus (it applies to fast-transcription)"
    ]


def tts(**fields: Any) -> dict[str, Any]:
    base = {"name": "tts", "kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "cpus": 8}
    base.update(fields, memory=fields.get("memory", "24g"))
    return base


def test_voice_names_keep_microsofts_casing() -> None:
    # tts.md: en-US-AndrewMultilingualNeural (title-casing would give en-US-AndrewmultilingualNeural).
    [voice] = build_desired([tts(voice="AndrewMultilingualNeural")], DEFAULTS)
    assert voice.endpoints()["ssml_voice"] == "en-US-AndrewMultilingualNeural"
    assert voice.image.endswith(":4.1.0-amd64-en-us-andrewmultilingualneural")


def test_unknown_lowercase_voice_asks_for_microsofts_casing() -> None:
    [problem] = problems([tts(voice="ollie2multilingualneural")])
    assert problem.startswith("containers[0] (tts).version/locale/voice: voice 'ollie2multilingualneural'")
    assert "give the voice in Microsoft's casing (for example voice: AndrewMultilingualNeural" in problem


def test_multilingual_voice_needs_8_cpus_and_24_gb() -> None:
    # Issue 10's sizing guidance: neural TTS multilingual voices 8 cores / 24 GB.
    assert problems([tts(voice="AndrewMultilingualNeural", cpus=6, memory="16g")]) == [
        "containers[0] (tts).cpus: 6 is below the neural-text-to-speech minimum of 8 for multilingual voices: "
        "raise it, or set allow_below_minimum: true (tests, labs)",
        "containers[0] (tts).memory: '16g' is below the neural-text-to-speech minimum of 24.0 GiB for multilingual "
        "voices: raise it, or set allow_below_minimum: true (tests, labs)",
    ]


def test_unsupported_neural_tts_fails_before_any_host_change() -> None:
    [problem] = problems([tts(version="2.19.0", voice="AriaNeural")])
    assert "Microsoft stopped supporting neural text to speech container versions 2.19 and earlier on 2024-02-29" in (
        problem
    )
