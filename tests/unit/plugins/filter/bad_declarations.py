# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11: the bad inputs, each with the message fragment that must name its field, value and fix.

Data only (no imports from the collection): the unit tests feed them to speech_plan and the module, and the lab
test tests/integration/test_bad_inputs.py feeds them through the deploy playbook.
"""

from __future__ import annotations

import datetime

# Tags and names from Microsoft's pages: speech-container-stt.md (de-DE), speech-container-ntts.md (AriaNeural),
# a base model id printed in speech-container-cstt.md ("Id: a3d8aab9-6f36-44cd-9904-b37389ce2bfa").
STT = {"kind": "speech-to-text", "version": "5.1.0", "locale": "de-DE", "name": "stt-de-de"}
TTS = {"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AriaNeural", "name": "tts"}
CUSTOM = {"kind": "custom-speech-to-text", "version": "5.1.0", "model_id": "a3d8aab9-6f36-44cd-9904-b37389ce2bfa"}
FLEET = {"eula": "accept", "billing": "https://westeurope.api.cognitive.microsoft.com/", "api_key": "CANARY-key"}
AT = "speech_containers[0] (stt-de-de)."
GUID_FIX = "give the GUID of a custom model, for example a3d8aab9-6f36-44cd-9904-b37389ce2bfa"

BAD = [
    # (declaration entry changes, fleet changes, expected fragment)
    # speech-container-howto / disconnected-containers.md: language detection is not offered disconnected.
    (
        {"kind": "language-detection", "version": "1.18.0", "preview": True, "disconnected": True},
        {},
        AT + "disconnected: true, but Microsoft does not offer language-detection as a disconnected container: remove "
        "disconnected or run it connected",
    ),
    ({"cpus": "lots"}, {}, AT + "cpus: 'lots' is not a number: give a positive number of CPUs, for example 4 or 0.5"),
    ({"cpus": True}, {}, AT + "cpus: True is not a number"),
    ({"cpus": [4]}, {}, AT + "cpus: [4] is not a number"),
    ({"cpus": 0}, {}, AT + "cpus: 0 is not a positive number of CPUs"),
    ({"cpus": -2}, {}, AT + "cpus: -2 is not a positive number of CPUs"),
    ({"cpus": None}, {}, AT + "cpus: null: the key is there without a value (YAML reads an empty value or ~ as null)"),
    ({"version": None}, {}, AT + "version: null: the key is there without a value"),
    ({"version": 5.1}, {}, AT + "version: 5.1 is not a string: YAML read 5.1 as a number; quote it (version: '5.1.0')"),
    ({"version": 5}, {}, AT + "version: 5 is not a string: YAML read 5 as a number"),
    ({"version": "5.1.0\n"}, {}, AT + "version: '5.1.0\\n' contains a control character"),
    ({"version": "5.1"}, {}, AT + "version: version '5.1' is not of the form x.y.z"),
    ({"version": "latest"}, {}, AT + "version: version 'latest' is not of the form x.y.z"),
    ({"name": "stt\n"}, {}, "speech_containers[0] ('stt\\n').name: 'stt\\n' contains a control character"),
    ({"name": "bad name"}, {}, "speech_containers[0] (bad name).name: 'bad name' is not a valid container name"),
    ({"name": 42}, {}, "speech_containers[0].name: 42 is not a string: YAML read 42 as a number"),
    ({"name": "x-speechops-previous"}, {}, "'x-speechops-previous' is not a valid container name"),
    ({"voice": True}, {}, AT + "voice: True is not a string: YAML reads unquoted on, yes and true as the boolean true"),
    ({"voice": "AriaNeural"}, {}, AT + "voice: speech-to-text images have no voice in their tag: remove voice"),
    ({"locale": False}, {}, AT + "locale: False is not a string: YAML reads unquoted off, no and false as the boolean"),
    ({"locale": "german"}, {}, AT + "locale: locale 'german' is not a locale like en-us, en-US or zh-CN-sichuan"),
    ({"locale": "de_DE"}, {}, AT + "locale: locale 'de_DE' is not a locale like en-us"),
    ({"locale": "de-DE\n"}, {}, AT + "locale: 'de-DE\\n' contains a control character"),
    ({"kind": "speech"}, {}, AT + "kind: 'speech' is not one of speech-to-text, custom-speech-to-text"),
    ({"kind": None}, {}, AT + "kind: null"),
    ({"state": "running"}, {}, AT + "state: 'running' is not one of started, stopped, absent"),
    ({"preview": "maybe"}, {}, AT + "preview: 'maybe' is not true or false: give true or false"),
    ({"memory": "4 gigs"}, {}, AT + "memory: memory '4 gigs' is not a size like 4g"),
    ({"memory": "2g"}, {"allow_below_minimum": False}, AT + "memory: '2g' is below the speech-to-text minimum"),
    ({"memory": 0.5}, {}, AT + "memory: 0.5 is not a string: YAML read 0.5 as a number"),
    ({"port": "http"}, {}, AT + "port: 'http' is not a whole number: give a TCP port from 1 to 65535"),
    ({"port": 70000}, {}, AT + "port: 70000 is not a TCP port (1-65535)"),
    ({"host_port": 5000.5}, {}, "host_port: 5000.5 is not a whole number"),
    ({"bind_address": "not-an-ip"}, {}, AT + "bind_address: 'not-an-ip' is not an IP address: give an IP address"),
    ({"bind_address": "0.0.0.0; rm -rf /"}, {}, AT + "bind_address: '0.0.0.0; rm -rf /' is not an IP address"),
    ({"bind_address": "localhost"}, {}, AT + "bind_address: 'localhost' is not an IP address"),
    ({}, {"bind_address": "edge1.example"}, AT + "bind_address: 'edge1.example' is not an IP address"),
    ({"bind_address": "fe80::1%eth0"}, {}, AT + "bind_address: 'fe80::1%eth0' carries an IPv6 zone"),
    ({}, {"eula": "decline"}, AT + "eula: 'decline' is not 'accept': read Microsoft's license terms"),
    ({}, {"eula": None}, AT + "eula: missing: read Microsoft's license terms, then set eula: accept"),
    ({}, {"eula": ""}, AT + "eula: missing: read"),
    ({"eula": "Accept"}, {}, AT + "eula: 'Accept' is not 'accept'"),
    ({}, {"billing": "https://westeurope.api.cognitive.microsoft .com/"}, AT + "billing: 'https://westeurope.api"),
    ({}, {"billing": "https://a b/"}, "contains a space or a control character: remove it; set the endpoint URI"),
    ({}, {"billing": "http://westeurope.api.cognitive.microsoft.com/"}, AT + "billing: 'http://westeurope"),
    ({}, {"billing": "https://westeurope.api.cognitive.microsoft.com/\n"}, "contains a space or a control character"),
    ({}, {"billing": None}, AT + "billing: missing: set the endpoint URI of your Speech resource"),
    ({}, {"api_key": ""}, AT + "api_key: is empty: set the key of the Speech resource"),
    ({}, {"api_key": "CANARY-key\n"}, AT + "api_key: ******** contains a control character"),
    ({"api_key": True}, {}, AT + "api_key: ******** is not a string"),
    ({"http_proxy_creds": "user:CANARY"}, {}, AT + "http_proxy_creds: is set (********) but http_proxy is not: set"),
    ({"http_proxy": "http://proxy:3128", "http_proxy_creds": "CANARY"}, {}, "http_proxy_creds: ******** is not user"),
    ({"http_proxy": "proxy.example:3128"}, {}, AT + "http_proxy: 'proxy.example:3128' is not a proxy URL"),
    ({"model_id": "a3d8aab9-6f36-44cd-9904-b37389ce2bfa"}, {}, AT + "model_id: speech-to-text images carry"),
    ({"log_level": "Loud"}, {}, AT + "log_level: 'Loud' is not one of Trace, Debug, Information"),
    ({"restart_policy": "sometimes"}, {}, AT + "restart_policy: 'sometimes' is not one of no, always"),
    ({"restart_policy": False}, {}, AT + "restart_policy: False is not a string: YAML reads unquoted off, no and"),
    ({"log_max_size": "ten"}, {}, AT + "log_max_size: 'ten' is not a size like 10m"),
    ({"ready_timeout": 0}, {}, AT + "ready_timeout: 0 is less than 1"),
    ({"pids_limit": "many"}, {}, AT + "pids_limit: 'many' is not a whole number"),
    ({"gpus": "all"}, {}, AT + "gpus: speech-to-text does not use a GPU: remove gpus"),
    ({"gpus": "some"}, {}, AT + "gpus: 'some' is not one of all, none"),
    ({"decoder_max_count": 0}, {}, AT + "decoder_max_count: 0 must be 1 or more"),
    ({"settings": "Fluentd"}, {}, AT + "settings: 'Fluentd' is a string, not a dictionary"),
    ({"settings": {"Eula": "accept"}}, {}, AT + "settings: 'Eula' is not a documented optional setting"),
    ({"settings": {"Fluentd:Host": "fl\n"}}, {}, AT + "settings: Fluentd:Host: 'fl\\n' contains a control character"),
    ({"output_path": "/root"}, {}, AT + "output_path: '/root' would hand a system directory"),
    ({"output_path": "/srv/out\n"}, {}, AT + "output_path: '/srv/out\\n' contains a control character"),
    ({"output_path": "out"}, {}, AT + "output_path: 'out' is not an absolute host path"),
    ({"license_path": "/etc"}, {}, AT + "license_path: '/etc' would hand a system directory"),
    ({"image": "x/y:1"}, {}, AT + "image: give either image or version/locale/voice, not both"),
    ({"cpu": 4}, {}, AT + "cpu: unknown key: did you mean cpus?"),
    ({"port": 5000, "host_port": 5000}, {}, AT[:-1] + ": give port or host_port, not both"),
    ({"concurrency": "many"}, {}, AT + "concurrency: 'many' is not a whole number"),
    ({"check": "sometimes"}, {}, AT + "check: 'sometimes' is not true or false"),
    ({"version": datetime.date(2024, 1, 1)}, {}, AT + "version: datetime.date(2024, 1, 1) is not a string: YAML read"),
]
