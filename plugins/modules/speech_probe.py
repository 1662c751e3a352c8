#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_probe
short_description: Check that Microsoft Speech containers really serve
version_added: 0.1.0
description:
  - Asks each given speech container for C(/ready) and C(/status), then sends it a real query.
  - Text-to-speech kinds synthesise O(text) with the image's SSML voice and must answer a RIFF WAV with audio in it.
  - Speech-to-text kinds and language detection must accept their WebSocket, take a short audio clip sent in the
    Speech SDK's message framing (C(speech.config), C(audio) messages, end of audio) and answer with text messages
    up to C(turn.end).
  - All containers are checked at once (in parallel); one task checks a whole host.
  - Runs where the task runs. On the edge host (the default, with O(host=127.0.0.1)) it checks the containers
    without any firewall in the way; delegated to the controller, with O(host) set to the edge host's address, it
    checks them as a client on the network would.
  - Read-only, except that O(audio_dir) keeps the synthesised audio.
author:
  - Speech Ops maintainers (@speechops)
attributes:
  check_mode:
    description: The checks only read; in check mode no audio file is written.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
  idempotent:
    description: Asking a container changes nothing; a kept audio file is rewritten only when its content changed.
    support: full
options:
  containers:
    description: The containers to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The container's name, used in results and messages (and for the audio file name).
        type: str
        required: true
      kind:
        description: The speech container kind.
        type: str
        required: true
        choices:
          - speech-to-text
          - custom-speech-to-text
          - neural-text-to-speech
          - language-detection
          - text-to-speech
          - custom-text-to-speech
      port:
        description: The host port the container is published on.
        type: int
        required: true
      host:
        description: The address to reach this container at; defaults to O(host).
        type: str
      locale:
        description:
          - The image's locale (V(en-us) or V(en-US)).
          - Text-to-speech needs it with O(containers[].voice) to name the SSML voice; speech-to-text sends it as the
            C(language) of the recognition.
        type: str
      voice:
        description: The voice of a text-to-speech image (V(arianeural) or V(AriaNeural)).
        type: str
      ssml_voice:
        description:
          - The SSML voice name to synthesise with (V(en-US-AriaNeural)), when it cannot be derived from
            O(containers[].locale) and O(containers[].voice) (custom text-to-speech).
          - Without it and without locale and voice, the query of a text-to-speech container is skipped.
        type: str
      checks:
        description: The checks for this container; defaults to O(checks).
        type: list
        elements: str
        choices: [ready, status, query]
  host:
    description: The address to reach the containers at, from where the task runs.
    type: str
    default: 127.0.0.1
  checks:
    description:
      - V(ready) requires C(/ready) to answer 200.
      - V(status) requires the C(apiStatus) of C(/status) to be one of O(accept_api_statuses).
      - V(query) sends a real query (synthesis or recognition) to a ready container.
    type: list
    elements: str
    choices: [ready, status, query]
    default: [ready, status, query]
  accept_api_statuses:
    description: The C(apiStatus) values that count as serving (metered and disconnected).
    type: list
    elements: str
    default: [Valid, ValidNonMetered]
  text:
    description: The phrase text-to-speech containers synthesise.
    type: str
    default: Hello from the speech edge.
  output_format:
    description: The C(X-Microsoft-OutputFormat) of the synthesis; a RIFF format, so the answer can be checked.
    type: str
    default: riff-16khz-16bit-mono-pcm
    choices: [riff-8khz-16bit-mono-pcm, riff-16khz-16bit-mono-pcm, riff-24khz-16bit-mono-pcm]
  audio_seconds:
    description: Length of the audio clip (a soft tone, 16 kHz 16-bit mono) sent to recognition WebSockets.
    type: float
    default: 1.0
  audio_dir:
    description:
      - Keep the audio each text-to-speech container synthesised as O(audio_dir)/NAME.wav on the host the task runs on.
      - The file is written only when its content changed (then the task reports a change).
    type: path
  wait_timeout:
    description: Seconds to wait for C(/ready) before judging a container (for checks right after a start).
    type: float
    default: 0
  timeout:
    description: Seconds one request (synthesis, or the whole recognition session) may take.
    type: float
    default: 30
  fail_on_error:
    description:
      - Fail the task when any container does not serve, with one message naming each and why.
      - When V(false), the task succeeds and RV(failed_containers) names them.
    type: bool
    default: true
notes:
  - The containers' endpoints have no authentication; the probe sends no key.
  - No HTTP proxy is used, whatever the environment says; the containers are reached directly.
  - The WebSocket path of language detection comes from the collection's catalog, where it is marked unverified.
seealso:
  - module: speechops.edge.speech_containers
  - module: speechops.edge.speech_container_info
"""

EXAMPLES = r"""
- name: Check the speech services of the edge host, on the edge host
  speechops.edge.speech_probe:
    containers:
      - name: stt-en-us
        kind: speech-to-text
        port: 5000
        locale: en-US
      - name: tts-en-us-arianeural
        kind: neural-text-to-speech
        port: 5001
        locale: en-US
        voice: AriaNeural

- name: Check them from the controller, through the edge host's address, and keep the audio
  speechops.edge.speech_probe:
    host: "{{ ansible_host }}"
    audio_dir: "{{ playbook_dir }}/audio"
    containers:
      - name: tts-en-us-arianeural
        kind: neural-text-to-speech
        port: 5001
        locale: en-US
        voice: AriaNeural
  delegate_to: localhost

- name: Only ready and billing status, without failing
  speechops.edge.speech_probe:
    checks: [ready, status]
    fail_on_error: false
    containers:
      - {name: langdetect, kind: language-detection, port: 5003}
  register: probe
"""

RETURN = r"""
ok:
  description: Whether every container serves.
  returned: always
  type: bool
  sample: true
failed_containers:
  description: Names of the containers that do not serve.
  returned: always
  type: list
  elements: str
  sample: []
containers:
  description: One entry per container, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container's name.
      type: str
      sample: tts-en-us-arianeural
    kind:
      description: The speech container kind.
      type: str
      sample: neural-text-to-speech
    url:
      description: The base URL the container was reached at.
      type: str
      sample: http://127.0.0.1:5001
    ok:
      description: Whether every requested check passed.
      type: bool
      sample: true
    problems:
      description: Why the container does not serve, one line per failed check.
      type: list
      elements: str
      sample: []
    ready:
      description: Whether C(/ready) answered 200.
      type: bool
      sample: true
    ready_code:
      description: The HTTP status of C(/ready).
      type: int
      sample: 200
    api_status:
      description: The apiStatus of C(/status).
      type: str
      sample: Valid
    api_status_message:
      description: The apiStatusMessage of C(/status).
      type: str
      sample: Api Key is valid, no action needed.
    error:
      description: Why C(/ready) or C(/status) gave no answer.
      type: str
      sample: null
    query:
      description: The real query and its answer.
      type: dict
      returned: when the query check ran
      sample:
        type: synthesize
        ok: true
        url: http://127.0.0.1:5001/speech/synthesize/cognitiveservices/v1
        ssml_voice: en-US-AriaNeural
        status_code: 200
        audio_bytes: 52044
        audio: {channels: 1, sample_rate: 16000, bits_per_sample: 16, data_bytes: 52000, duration_seconds: 1.625}
      contains:
        type:
          description: V(synthesize) (text-to-speech) or V(websocket) (speech-to-text, language detection).
          type: str
        ok:
          description: Whether the answer was right; null when the query was skipped.
          type: bool
        url:
          description: The URL queried.
          type: str
        error:
          description: What was wrong with the answer.
          type: str
        skipped:
          description: Why no query was sent.
          type: str
        audio:
          description: Channels, sample rate, bits, data bytes and duration of the synthesised WAV.
          type: dict
        audio_path:
          description: Where the audio was kept (with O(audio_dir)).
          type: str
        audio_changed:
          description: Whether the kept audio file was (or would be) rewritten.
          type: bool
        messages:
          description: The C(Path) of each text message the WebSocket answered with, in order.
          type: list
          elements: str
          sample: [turn.start, speech.phrase, turn.end]
        accepted:
          description: Whether the WebSocket upgrade was accepted.
          type: bool
        text:
          description: The recognised text, when the service sent a C(speech.phrase).
          type: str
        language:
          description: The detected language, when the service said.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._catalog import KINDS, SERVING_API_STATUSES
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe_module import (
    CHECKS,
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_TEXT,
    run_speech_probe,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            containers=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    name=dict(type="str", required=True),
                    kind=dict(type="str", required=True, choices=list(KINDS)),
                    port=dict(type="int", required=True),
                    host=dict(type="str"),
                    locale=dict(type="str"),
                    voice=dict(type="str"),
                    ssml_voice=dict(type="str"),
                    checks=dict(type="list", elements="str", choices=list(CHECKS)),
                ),
            ),
            host=dict(type="str", default="127.0.0.1"),
            checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
            accept_api_statuses=dict(type="list", elements="str", default=list(SERVING_API_STATUSES)),
            text=dict(type="str", default=DEFAULT_TEXT),
            output_format=dict(
                type="str",
                default=DEFAULT_OUTPUT_FORMAT,
                choices=["riff-8khz-16bit-mono-pcm", "riff-16khz-16bit-mono-pcm", "riff-24khz-16bit-mono-pcm"],
            ),
            audio_seconds=dict(type="float", default=1.0),
            audio_dir=dict(type="path"),
            wait_timeout=dict(type="float", default=0),
            timeout=dict(type="float", default=30),
            fail_on_error=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    run_speech_probe(module)


if __name__ == "__main__":
    main()
