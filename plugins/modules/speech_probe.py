#!/usr/bin/python
# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: speech_probe
short_description: Check that Microsoft Speech containers really serve
version_added: 0.1.0
description:
  - Asks each given speech container for C(/ready) and C(/status), then sends it a real query, using only the paths,
    headers and messages that Microsoft's Speech SDKs send to containers (SDK for Python 1.53 and for JavaScript 1.52,
    observed against a capture server).
  - Text-to-speech kinds synthesise O(text) through the REST endpoint C(POST /speech/synthesize/cognitiveservices/v1)
    (speech-container-howto.md) with the exact SSML voice name (case-sensitive) and must answer a RIFF WAV with audio.
  - Speech-to-text kinds open C(/speech/recognition/{interactive|conversation}/cognitiveservices/v1?language=xx-XX)
    (O(recognition_mode); C(&format=detailed) with O(recognition_format=detailed)) and send C(speech.config),
    C(speech.context) and C(audio) messages in the Python SDK's framing; the first audio message carries the SDK's
    44-byte RIFF header, audio goes in 100 ms messages, an empty audio message ends it.
  - The final C(speech.phrase) is judged (for detailed output its C(NBest[0])). With speech audio
    (O(audio_file)), C(RecognitionStatus) V(Success) with a non-empty text passes, and every word of
    O(expected_words) must be in it (case and punctuation ignored); V(NoMatch), V(InitialSilenceTimeout),
    V(BabbleTimeout), V(Error), an empty text, a close before C(turn.end) or a timeout fail with the status named.
  - Without speech audio the probe sends O(audio_seconds) of silence; a well-formed final result (V(NoMatch),
    V(InitialSilenceTimeout) or V(BabbleTimeout), what Microsoft's service answers on silence) proves the recognizer
    answers, and the query says C(transcript not judged (no speech audio given)). V(Error) and the other statuses the
    Speech SDK turns into a cancellation still fail.
  - Language detection opens C(/speech/universal/v2), as the Python SDK's C(SourceLanguageRecognizer) does (Microsoft's
    speech-container-lid.md tells container users to use that recognizer), asks for at-start detection among
    O(languages) and must answer a C(PrimaryLanguage) among them (and O(expected_language) when set).
  - The WebSocket handshake is verified as browsers and the JavaScript SDK verify it, C(Sec-WebSocket-Accept) must
    be base64(SHA-1(key + the RFC 6455 GUID)); a wrong or missing value fails the query and says so.
  - All containers are checked at once (in parallel); one task checks a whole host.
  - Runs where the task runs. On the edge host (the default, with O(host=127.0.0.1)) it checks the containers
    without any firewall in the way; delegated to the controller, with O(host) set to the edge host's address, it
    checks them as a client on the network would.
  - Read-only, except that O(audio_dir) keeps the synthesised audio.
author:
  - Speech Ops maintainers (@speechops)
extends_documentation_fragment:
  - speechops.edge.attributes
attributes:
  check_mode:
    details: The checks only read; in check mode no audio file is written.
    support: full
  diff_mode:
    details: Nothing to show.
    support: none
  idempotent:
    details: Asking a container changes nothing; a kept audio file is rewritten only when its content changed.
    support: full
  platform:
    platforms: posix
    details: Any host that reaches the containers, the edge host or the controller.
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
          - fast-transcription
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
            C(language) of the recognition (without it, V(en-US), the Speech SDKs' default).
        type: str
      voice:
        description: The voice of a text-to-speech image (V(arianeural) or V(AriaNeural)).
        type: str
      ssml_voice:
        description:
          - The SSML voice name to synthesise with, exactly as Microsoft spells it (V(en-US-AndrewMultilingualNeural));
            the container compares it case-sensitively. Without it, the name comes from O(containers[].locale) and
            O(containers[].voice) through the collection's catalog.
          - Without it and without locale and voice, the query of a text-to-speech container is skipped.
        type: str
      checks:
        description: The checks for this container; defaults to O(checks).
        type: list
        elements: str
        choices: [ready, status, query]
      audio_file:
        description: Speech audio for this container; defaults to O(audio_file).
        type: path
      audio_language:
        description: The language spoken in this container's audio; defaults to O(audio_language).
        type: str
      expected_words:
        description: Words this container's transcript must contain; defaults to O(expected_words).
        type: list
        elements: str
      languages:
        description: The candidate languages of this language-detection container; defaults to O(languages).
        type: list
        elements: str
      expected_language:
        description: The language this language-detection container must detect; defaults to O(expected_language).
        type: str
  host:
    description: The address to reach the containers at, from where the task runs.
    type: str
    default: 127.0.0.1
  checks:
    description:
      - V(ready) requires C(/ready) to answer 200.
      - V(status) requires the C(apiStatus) of C(/status) to be one of O(accept_api_statuses).
      - V(query) sends a real query (synthesis, recognition or language detection) to a ready container.
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
  audio_file:
    description:
      - A WAV file of speech, on the host the module runs on, sent to speech-to-text and language-detection
        containers instead of silence, so that their answer can be judged.
      - It must be 16 kHz 16-bit mono PCM, the Speech SDK's input format; anything else fails the task with the
        format found and how to convert it (for example C(sox IN.wav -r 16000 -c 1 -b 16 -e signed-integer OUT.wav)).
      - With O(recognition_mode=interactive) only the first utterance is recognised; give a short phrase.
    type: path
  audio_language:
    description:
      - The language spoken in O(audio_file) (V(en-US)).
      - Speech-to-text containers of another locale get silence instead (their transcript is not judged), and it is
        the default of O(expected_language).
      - Without it, every speech-to-text and language-detection container gets the audio.
    type: str
  expected_words:
    description:
      - Words the transcript of O(audio_file) must contain, all of them, ignoring case and punctuation.
      - Needs O(audio_file).
    type: list
    elements: str
    default: []
  languages:
    description:
      - The candidate languages of language detection, 1 to 4 (Microsoft's limit for at-start detection,
        language-identification.md).
      - The default pair is the start of Microsoft's own example list in language-identification.md
        (V(en-US), V(de-DE), V(zh-CN)). The service always answers one of the candidates, so give the languages
        the audio may be in.
    type: list
    elements: str
    default: [en-US, de-DE]
  expected_language:
    description:
      - The language that detection on O(audio_file) must return; one of O(languages).
      - Defaults to O(audio_language) when O(audio_file) is given. Without either, any candidate passes.
    type: str
  recognition_mode:
    description:
      - V(interactive) opens the recognize-once path (one utterance), V(conversation) the continuous path (all of the
        audio, one C(speech.phrase) per utterance; their texts are joined).
    type: str
    choices: [interactive, conversation]
    default: interactive
  recognition_format:
    description: V(simple) judges C(DisplayText); V(detailed) asks for C(format=detailed) and judges C(NBest[0].Display).
    type: str
    choices: [simple, detailed]
    default: simple
  audio_seconds:
    description: Length of the silence sent to speech-to-text and language detection when no O(audio_file) is given.
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
  request_timeout:
    description: Seconds one request (synthesis, or the whole recognition session) may take.
    type: float
    default: 30
  tls:
    description:
      - Talk C(https://) and C(wss://), as clients of the speech gateway (M(speechops.edge.speech_gateway)) do;
        the certificate is verified against O(ca_cert) (or the system's CAs) and its names against O(host).
    type: bool
    default: false
  ca_cert:
    description: PEM text of the CA that signed the gateway's certificate (with O(tls=true)).
    type: str
  access_key:
    description:
      - An access key of the speech gateway, sent as C(Ocp-Apim-Subscription-Key) with every request, as the
        Speech SDKs send it. Never shown in any output.
    type: str
  fail_on_error:
    description:
      - Fail the task when any container does not serve, with one message naming each and why.
      - When V(false), the task succeeds and RV(failed_containers) names them.
    type: bool
    default: true
notes:
  - The containers' endpoints have no authentication; the probe sends no key.
  - No HTTP proxy is used, whatever the environment says; the containers are reached directly.
  - Microsoft documents no wire protocol for the language-detection container, only the SDK to use with it, so the
    probe is conservative there. When the container refuses the C(/speech/universal/v2) upgrade with a 4xx status,
    closes normally or stays silent without an answer, or answers without C(PrimaryLanguage), the query is
    V(inconclusive). The probe then falls back to C(/ready) and C(/status), and a serving container passes, with the
    reason in RV(containers[].query.inconclusive) and a warning. A real failure still fails (no connection, a 5xx, a
    close with an error code, a wrong handshake, an error status, a language outside the candidates).
  - A transcript of silence (C(Success) with text) passes with a warning, since Microsoft's service answers
    V(NoMatch) or V(InitialSilenceTimeout) there.
  - Fast transcription is asked on its health path (C(/stt/health); it documents no C(/status)) and queried with
    the REST call of speech-container-ft.md, C(POST /stt/transcriptions:transcribe?api-version=2024-11-15), a
    multipart form with C(audio) (O(audio_file), or silence) and C(definition); the answer must be the documented
    JSON, and with speech audio C(combinedPhrases) must hold the expected words.
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

- name: Judge transcripts and detected languages with a recording of speech on the edge host
  speechops.edge.speech_probe:
    audio_file: /var/lib/speechops/check/hello-en-us.wav
    audio_language: en-US
    expected_words: [hello, speech]
    recognition_format: detailed
    containers:
      - {name: stt-en-us, kind: speech-to-text, port: 5000, locale: en-US}
      - {name: stt-de-de, kind: speech-to-text, port: 5002, locale: de-DE}
      - {name: langdetect, kind: language-detection, port: 5003, languages: [en-US, de-DE, fr-FR]}

- name: Check them from the controller, through the edge host's address, and keep the audio
  speechops.edge.speech_probe:
    host: "{{ ansible_host }}"
    audio_dir: "{{ playbook_dir }}/audio"
    containers:
      - name: tts-en-us-andrew
        kind: neural-text-to-speech
        port: 5001
        ssml_voice: en-US-AndrewMultilingualNeural
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
    warnings:
      description: Inconclusive queries, with the reason (also shown as task warnings).
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
        type: recognition
        ok: true
        url: ws://127.0.0.1:5000/speech/recognition/interactive/cognitiveservices/v1?language=en-US
        accepted: true
        audio_source: silence
        messages: [turn.start, speech.startdetected, speech.enddetected, speech.phrase, turn.end]
        recognition_status: InitialSilenceTimeout
        judgement: transcript not judged (no speech audio given)
      contains:
        type:
          description: V(synthesize) (text-to-speech), V(recognition) (speech-to-text) or V(language-detection).
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
        judgement:
          description:
            - What was judged, for example C(transcript 'Hello world.' contains every expected word),
              C(transcript not judged (no speech audio given)) or C(inconclusive, judged by /ready and /status).
          type: str
        inconclusive:
          description: Why the answer proves neither a fault nor service (language detection, a transcript of silence).
          type: str
        fallback:
          description: C(ready) and C(api_status) looked up again after an inconclusive query.
          type: dict
        status_code:
          description: The HTTP status of the synthesis, or of a refused WebSocket upgrade.
          type: int
        close_code:
          description: The code of the close frame when the service closed the WebSocket before C(turn.end).
          type: int
        ssml_voice:
          description: The SSML voice name synthesised with.
          type: str
        audio:
          description: Channels, sample rate, bits, data bytes and duration of the synthesised WAV.
          type: dict
        audio_bytes:
          description: Size of the synthesised WAV.
          type: int
        synthesis_health:
          description: HTTP status of C(GET /synthesize/health) (neural TTS 3.10 and later; reported, not judged).
          type: int
        audio_path:
          description: Where the audio was kept (with O(audio_dir)).
          type: str
        audio_changed:
          description: Whether the kept audio file was (or would be) rewritten.
          type: bool
        audio_sha1:
          description: SHA-1 of the synthesised audio.
          type: str
        audio_source:
          description: The audio file sent to a recognition, or V(silence).
          type: str
        messages:
          description: The C(Path) of each text message the WebSocket answered with, in order, in lowercase.
          type: list
          elements: str
          sample: [turn.start, speech.hypothesis, speech.phrase, turn.end]
        accepted:
          description: Whether the WebSocket upgrade was accepted (with a valid accept value).
          type: bool
        recognition_status:
          description: The C(RecognitionStatus) of the last final C(speech.phrase).
          type: str
        text:
          description: The recognised text (the texts of all C(Success) phrases, joined).
          type: str
        language:
          description: The detected language (C(PrimaryLanguage.Language)).
          type: str
        languages:
          description: The candidate languages sent to language detection.
          type: list
          elements: str
        expected_language:
          description: The language detection had to return.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.speechops.edge.plugins.module_utils._catalog import KINDS, SERVING_API_STATUSES
from ansible_collections.speechops.edge.plugins.module_utils._speech_probe_module import (
    CHECKS,
    DEFAULT_LANGUAGES,
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_TEXT,
    RECOGNITION_FORMATS,
    RECOGNITION_MODES,
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
                    audio_file=dict(type="path"),
                    audio_language=dict(type="str"),
                    expected_words=dict(type="list", elements="str"),
                    languages=dict(type="list", elements="str"),
                    expected_language=dict(type="str"),
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
            audio_file=dict(type="path"),
            audio_language=dict(type="str"),
            expected_words=dict(type="list", elements="str", default=[]),
            languages=dict(type="list", elements="str", default=list(DEFAULT_LANGUAGES)),
            expected_language=dict(type="str"),
            recognition_mode=dict(type="str", choices=list(RECOGNITION_MODES), default=RECOGNITION_MODES[0]),
            recognition_format=dict(type="str", choices=list(RECOGNITION_FORMATS), default=RECOGNITION_FORMATS[0]),
            audio_seconds=dict(type="float", default=1.0),
            audio_dir=dict(type="path"),
            wait_timeout=dict(type="float", default=0),
            request_timeout=dict(type="float", default=30),
            tls=dict(type="bool", default=False),
            ca_cert=dict(type="str"),
            access_key=dict(type="str", no_log=True),
            fail_on_error=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    run_speech_probe(module)


if __name__ == "__main__":
    main()
