# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan the roles run from, without a lab: the filters of plugins/filter/speech.py and the contracts
between them, the speech_containers module and the roles' argument specs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLACED = REPO / "build" / "ansible_collections" / "speechops" / "edge"
if not PLACED.exists():
    PLACED.parent.mkdir(parents=True, exist_ok=True)
    try:
        PLACED.symlink_to(Path("..", "..", ".."), target_is_directory=True)
    except FileExistsError:
        pass
if str(REPO / "build") not in sys.path:
    sys.path.insert(0, str(REPO / "build"))

from ansible.errors import AnsibleFilterError
from ansible_collections.speechops.edge.plugins.filter import speech
from ansible_collections.speechops.edge.plugins.module_utils._catalog import CONTAINER_GID, CONTAINER_UID
from ansible_collections.speechops.edge.plugins.module_utils._schema import module_argument_spec

DECLARATION = [
    {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US"},
    {"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AriaNeural"},
    {"kind": "custom-speech-to-text", "version": "5.1.0", "model_id": "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"},
    {"kind": "language-detection", "version": "1.18.0", "preview": True},
]


def test_module_entry_keys_match_the_module() -> None:
    assert set(speech.MODULE_ENTRY_KEYS) == set(module_argument_spec({})["containers"]["options"])


def test_role_argument_spec_documents_every_declaration_key() -> None:
    specs = yaml.safe_load((REPO / "roles" / "speech" / "meta" / "argument_specs.yml").read_text())
    documented = set(specs["argument_specs"]["main"]["options"]["speech_containers"]["options"])
    assert documented == set(speech.DECLARATION_KEYS)


def test_edge_host_leaves_the_containers_directories_to_the_module() -> None:
    # One owner per side effect (issues 11 and 13): speech_containers creates the model, output and license
    # directories and owns them (the catalog's uid); edge_host has no uid of its own and no task that owns a
    # directory, not even the license ones (the module downloads each license into LICENSE_PATH/<image hex>).
    defaults = yaml.safe_load((REPO / "roles" / "edge_host" / "defaults" / "main.yml").read_text())
    assert not [name for name in defaults if "uid" in name or "gid" in name]
    owned = []
    for tasks_file in (REPO / "roles" / "edge_host" / "tasks").glob("*.yml"):
        for task in yaml.safe_load(tasks_file.read_text()) or []:
            module_args = task.get("ansible.builtin.file") or {}
            if module_args.get("state") == "directory" and module_args.get("owner", "root") != "root":
                owned.append((tasks_file.name, task.get("name")))
    assert owned == []
    [license_directory] = speech.speech_select(speech.speech_plan([dict(DECLARATION[0], license=True)]), "directories")
    assert (license_directory["owner"], license_directory["group"]) == (CONTAINER_UID, CONTAINER_GID)


def test_plan_fills_in_names_sizes_ports_and_model_directories() -> None:
    plan = speech.speech_plan(DECLARATION, kind_defaults={"neural-text-to-speech": {"memory": "16g"}})
    assert [(e["name"], e["host_port"], e["cpus"], e["memory"]) for e in plan] == [
        ("stt-en-us", 5000, 4.0, "4g"),
        ("tts-en-us-arianeural", 5001, 6.0, "16g"),
        ("custom-stt-0a1b2c3d", 5002, 4.0, "4g"),
        ("langdetect", 5003, 1.0, "1g"),
    ]
    assert plan[2]["model_path"] == "/var/lib/speechops/models/custom-stt-0a1b2c3d"
    assert "model_path" not in plan[0]


def test_ports_are_deterministic_and_appending_moves_nothing() -> None:
    declared = [*DECLARATION, {"kind": "speech-to-text", "version": "5.1.0", "locale": "de-DE", "port": 5100}]
    plan = speech.speech_plan(declared)
    ports = {e["name"]: e["host_port"] for e in plan}
    # The explicit port moves no automatic one (before issue 11, a port of 5001 here moved tts to 5002).
    assert ports == {
        "stt-en-us": 5000,
        "tts-en-us-arianeural": 5001,
        "custom-stt-0a1b2c3d": 5002,
        "langdetect": 5003,
        "stt-de-de": 5100,
    }
    assert speech.speech_plan(declared) == plan
    appended = speech.speech_plan([*declared, {"kind": "language-detection", "version": "1.18.0", "name": "ld2"}])
    assert {e["name"]: e["host_port"] for e in appended[:-1]} == ports
    assert appended[-1]["host_port"] not in ports.values()
    # Removing with state: absent keeps the other containers where they are.
    removed = [dict(declared[0], state="absent"), *declared[1:]]
    assert {e["name"]: e["host_port"] for e in speech.speech_plan(removed)} == ports


def test_automatic_ports_of_many_containers_never_collide() -> None:
    # An image instead of version/locale/voice: only the ports matter here.
    declared = [
        {
            "kind": kind,
            "name": "%s-%d" % (kind, number),
            "image": "registry.example/%s:%d" % (kind, number),
            **({"model_id": "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab"} if speech.KINDS[kind].needs_model else {}),
        }
        for number in range(4)
        for kind in speech.KINDS
    ]
    ports = [entry["host_port"] for entry in speech.speech_plan(declared)]
    assert len(set(ports)) == len(ports) == 4 * len(speech.KINDS)


def test_sizes_prefer_entry_then_kind_then_fleet_then_catalog() -> None:
    plan = speech.speech_plan(
        [
            {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "cpus": 2},
            {"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AriaNeural"},
            {"kind": "language-detection", "version": "1.18.0"},
        ],
        kind_defaults={"neural-text-to-speech": {"cpus": 8}},
        defaults={"cpus": 0.25, "memory": "256m"},
    )
    assert [(e["cpus"], e["memory"]) for e in plan] == [(2.0, "256m"), (8.0, "256m"), (0.25, "256m")]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(AnsibleFilterError) as failure:
        speech.speech_plan(
            [
                {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "cpu": 4},
                {"kind": "text-to-speak", "version": "1.0.0"},
                {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "memory": "lots"},
                {"kind": "language-detection", "version": "1.18.0", "port": 5000},
                {"kind": "language-detection", "version": "1.18.0", "port": 5000, "name": "ld2"},
            ]
        )
    message = str(failure.value)
    assert "speech_containers[0].cpu: unknown key: did you mean cpus?" in message
    assert "'text-to-speak' is not one of" in message
    assert "memory: memory 'lots'" in message
    assert (
        "speech_containers[4] (ld2).port: 5000 is also the explicit port of speech_containers[3] (langdetect)"
        in message
    )


def test_views() -> None:
    plan = speech.speech_plan(
        [
            *DECLARATION,
            {"kind": "speech-to-text", "version": "5.1.0", "locale": "fr-FR", "name": "stt", "state": "absent"},
        ]
    )
    assert [e["name"] for e in speech.speech_select(plan, "module")][-1] == "stt"
    assert all(set(e) <= set(speech.MODULE_ENTRY_KEYS) for e in speech.speech_select(plan, "module"))
    assert speech.speech_select(plan, "names") == [e["name"] for e in plan[:4]]
    assert speech.speech_select(plan, "preflight")[1] == {
        "name": "tts-en-us-arianeural",
        "kind": "neural-text-to-speech",
        "cpus": 6.0,
        "memory": "12g",
    }
    directories = speech.speech_select(plan, "directories")
    assert directories == [
        {
            "path": "/var/lib/speechops/models/custom-stt-0a1b2c3d",
            "parent": "/var/lib/speechops/models",
            "purpose": "model",
            "container": "custom-stt-0a1b2c3d",
            "owner": CONTAINER_UID,
            "group": CONTAINER_UID,
        }
    ]
    probe = speech.speech_select(plan, "probe")
    assert probe[1] == {
        "name": "tts-en-us-arianeural",
        "kind": "neural-text-to-speech",
        "port": 5001,
        "locale": "en-US",
        "voice": "AriaNeural",
    }


def test_record_redacts_every_secret_and_gives_a_docker_run_line() -> None:
    entry = speech.speech_plan(
        [
            {
                "kind": "custom-speech-to-text",
                "version": "5.1.0",
                "model_id": "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
                "http_proxy": "http://proxy.example:3128",
                "http_proxy_creds": "user:CANARY-proxy",
                "api_key": "CANARY-key",
            }
        ]
    )[0]
    record = speech.speech_record(entry, eula="accept", billing="https://billing.example/", registry="mirror:5000")
    assert "CANARY" not in repr(record)
    assert record["image"] == "mirror:5000/azure-cognitive-services/speechservices/custom-speech-to-text:5.1.0-amd64"
    assert "--env 'ApiKey=********'" in record["docker_run"]
    assert "--env 'HTTP_PROXY_CREDS=********'" in record["docker_run"]
    assert "--publish 0.0.0.0:5000:5000" in record["docker_run"]  # the documented port of a lone container
    assert "--volume /var/lib/speechops/models/custom-stt-0a1b2c3d:/usr/local/models:rw" in record["docker_run"]
    assert record["docker_run"].startswith("docker run --detach --name custom-stt-0a1b2c3d \\\n")
