# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tags, versions and numbers copied from Microsoft's container articles (MicrosoftDocs/azure-ai-docs,
articles/ai-services/speech-service/), never built by the code under test."""

from __future__ import annotations

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _catalog as catalog
from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError

MICROSOFT_TAGS = [
    # speech-container-stt.md (12/19/2025): version table and tags/list snippet.
    ("speech-to-text", "4.12.0-amd64-mr-in"),
    ("speech-to-text", "4.12.0-amd64-sw-tz"),
    ("speech-to-text", "4.12.0-amd64-ta-in"),
    ("speech-to-text", "4.12.0-amd64-th-th"),
    ("speech-to-text", "4.12.0-amd64-tr-tr"),
    ("speech-to-text", "4.12.0-amd64-vi-vn"),
    ("speech-to-text", "4.12.0-amd64-wuu-cn"),
    ("speech-to-text", "4.12.0-amd64-yue-cn"),
    ("speech-to-text", "4.12.0-amd64-zh-cn"),
    ("speech-to-text", "4.12.0-amd64-zh-cn-sichuan"),
    ("speech-to-text", "4.12.0-amd64-zh-hk"),
    ("speech-to-text", "4.12.0-amd64-zh-tw"),
    ("speech-to-text", "4.12.0-amd64-zu-za"),
    # speech-container-cstt.md (01/30/2026): version table and tags/list snippet.
    ("custom-speech-to-text", "4.12.0-amd64"),
    ("custom-speech-to-text", "4.0.0-amd64"),
    ("custom-speech-to-text", "4.10.0-amd64"),
    ("custom-speech-to-text", "5.0.0-preview-amd64"),
    ("custom-speech-to-text", "5.0.1-preview-amd64"),
    # speech-container-ntts.md (12/29/2025): version table and tags/list snippet.
    ("neural-text-to-speech", "3.11.0-amd64-en-us-arianeural"),
    ("neural-text-to-speech", "3.11.0-amd64-tr-tr-emelneural"),
    ("neural-text-to-speech", "3.11.0-amd64-uk-ua-ostapneural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaochenneural-preview"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaohanneural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaomoneural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaoqiuneural-preview"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaoruineural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaoshuangneural-preview"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaoxiaoneural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaoyanneural-preview"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-xiaoyouneural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-yunxineural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-yunyangneural"),
    ("neural-text-to-speech", "3.11.0-amd64-zh-cn-yunyeneural"),
    # Issue 10 quotes this one from an earlier revision of speech-container-ntts.md.
    ("neural-text-to-speech", "3.4.0-amd64-zh-cn-xiaochenneural-preview"),
    # speech-container-lid.md (12/29/2025): version table and tags/list snippet.
    ("language-detection", "1.18.0-amd64-preview"),
    ("language-detection", "1.1.0-amd64-preview"),
    ("language-detection", "1.6.1-amd64-preview"),
    ("language-detection", "1.17.0-amd64-preview"),
    # speech-container-ft.md (07/09/2026): the version table's tag, then the tags/list snippet's.
    ("fast-transcription", "en-gpu-1.0.0-preview"),
    ("fast-transcription", "gpu-1.0.0-en-us"),
    ("fast-transcription", "gpu-1.0.0-en-gb"),
    ("fast-transcription", "gpu-1.0.0-en-au"),
    ("fast-transcription", "gpu-1.0.0-en-in"),
    ("fast-transcription", "gpu-1.0.0-de-de"),
    # MicrosoftDocs/azure-docs articles/cognitive-services/containers/container-image-tags.md (2020), retired kind.
    ("text-to-speech", "1.3.0-amd64-en-in-ravi-apollo-preview"),
    ("text-to-speech", "1.3.0-amd64-en-us-guy24krus-preview"),
    ("text-to-speech", "1.2.0-amd64-zh-cn-huihuirus-preview"),
]


@pytest.mark.parametrize("kind,tag", MICROSOFT_TAGS)
def test_every_tag_microsoft_lists_parses_and_round_trips(kind: str, tag: str) -> None:
    info = catalog.parse_tag(kind, tag)
    assert info.tag == tag
    assert catalog.build_tag(kind, info.version, info.locale, info.voice, info.preview, info.form or None) == tag


@pytest.mark.parametrize(
    "kind,tag,version,locale,voice,preview",
    [
        # speech-container-stt.md: a locale with a dialect subtag.
        ("speech-to-text", "4.12.0-amd64-zh-cn-sichuan", "4.12.0", "zh-cn-sichuan", None, False),
        # speech-container-ntts.md: a preview voice.
        (
            "neural-text-to-speech",
            "3.11.0-amd64-zh-cn-xiaochenneural-preview",
            "3.11.0",
            "zh-cn",
            "xiaochenneural",
            True,
        ),
        # speech-container-ft.md: "<language>-gpu-<major>.<minor>.<patch>-preview" and the tags/list form.
        ("fast-transcription", "en-gpu-1.0.0-preview", "1.0.0", "en", None, True),
        ("fast-transcription", "gpu-1.0.0-de-de", "1.0.0", "de-de", None, False),
        # speech-container-cstt.md: the prerelease before the platform.
        ("custom-speech-to-text", "5.0.1-preview-amd64", "5.0.1", None, None, True),
    ],
)
def test_tag_parts(kind: str, tag: str, version: str, locale: str, voice: str, preview: bool) -> None:
    info = catalog.parse_tag(kind, tag)
    assert (info.version, info.locale, info.voice, info.preview) == (version, locale, voice, preview)


def test_builds_use_the_documented_formats() -> None:
    # speech-container-ft.md version table: fast-transcription:en-gpu-1.0.0-preview.
    assert catalog.build_tag("fast-transcription", "1.0.0", "en") == "en-gpu-1.0.0-preview"
    # speech-container-lid.md version table: language-detection:1.18.0-amd64-preview.
    assert catalog.build_tag("language-detection", "1.18.0", preview=True) == "1.18.0-amd64-preview"
    # speech-container-cstt.md tags/list: 5.0.1-preview-amd64.
    assert catalog.build_tag("custom-speech-to-text", "5.0.1", preview=True) == "5.0.1-preview-amd64"
    # speech-container-ntts.md tags/list, from the display-case voice of tts.md (zh-CN-XiaochenNeural).
    assert (
        catalog.build_tag("neural-text-to-speech", "3.11.0", "zh-CN", "XiaochenNeural", preview=True)
        == "3.11.0-amd64-zh-cn-xiaochenneural-preview"
    )


def test_current_versions_from_the_overview() -> None:
    # speech-container-overview.md (12/19/2025): "Latest: 5.1.0" (speech to text, custom speech to text),
    # "Latest preview: 1.18.0" (language identification), "Latest: 4.1.0" (neural text to speech);
    # speech-container-ft.md: version 1.0.0.
    latest = {name: kind.latest_version for name, kind in catalog.KINDS.items()}
    assert latest["speech-to-text"] == "5.1.0"
    assert latest["custom-speech-to-text"] == "5.1.0"
    assert latest["neural-text-to-speech"] == "4.1.0"
    assert latest["language-detection"] == "1.18.0"
    assert latest["fast-transcription"] == "1.0.0"
    for kind in catalog.KINDS.values():
        assert catalog.parse_tag(kind.name, kind.example_tag).version == kind.latest_version


@pytest.mark.parametrize("version", ["2.19.0", "2.0.0", "1.3.0", "2.19.7"])
def test_neural_tts_up_to_2_19_is_refused_with_the_reason(version: str) -> None:
    # speech-container-ntts.md: "Starting from February 29, 2024, the text to speech and neural text to speech
    # container versions 2.19 and earlier aren't supported."
    for call in (
        lambda: catalog.build_tag("neural-text-to-speech", version, "en-us", "arianeural"),
        lambda: catalog.parse_tag("neural-text-to-speech", "%s-amd64-en-us-arianeural" % version),
    ):
        with pytest.raises(CatalogError) as error:
            call()
        assert "2.19 and earlier" in str(error.value) and "2024-02-29" in str(error.value)
        assert version in str(error.value)


@pytest.mark.parametrize("version", ["2.20.0", "3.0.0", "3.11.0", "4.1.0"])
def test_neural_tts_after_2_19_is_accepted(version: str) -> None:
    assert catalog.build_tag("neural-text-to-speech", version, "en-us", "arianeural").startswith(version + "-amd64")


def test_fast_transcription_facts() -> None:
    # speech-container-ft.md: port 5000, POST /stt/transcriptions:transcribe?api-version=2024-11-15,
    # GET /stt/health, DECODER_COUNT, a disconnected tab, 8 cores / 16 GB minimum, 16 / 110 recommended, GPU only.
    kind = catalog.get_kind("fast-transcription")
    assert kind.port == 5000
    assert kind.query_paths == ("/stt/transcriptions:transcribe?api-version=2024-11-15",)
    assert kind.ready_path == "/stt/health"
    assert kind.has_status is False
    assert kind.decoder_env == "DECODER_COUNT"
    assert kind.disconnected_supported and kind.needs_gpu and kind.kind_preview
    assert (kind.minimum.cpus, kind.minimum.memory_gib) == (8, 16)
    assert (kind.recommended.cpus, kind.recommended.memory_gib) == (16, 110)
    assert ("ASPNETCORE_URLS", "http://+:5000") in kind.default_env
    assert not kind.is_speech_to_text
    # speech-container-howto.md: every other Speech container answers GET /ready and GET /status.
    assert {other.ready_path for other in catalog.KINDS.values() if not other.needs_gpu} == {"/ready"}


@pytest.mark.parametrize(
    "kind,cpus,expected",
    [
        # Issue 10's sizing guidance: speech-to-text 2 sessions per core, neural TTS 5 requests per 8 cores,
        # language detection 2 per core.
        ("speech-to-text", 4, 8),
        ("custom-speech-to-text", 8, 16),
        ("neural-text-to-speech", 8, 5),
        ("neural-text-to-speech", 16, 10),
        ("neural-text-to-speech", 6, 3),
        ("language-detection", 1, 2),
        ("language-detection", 0.5, 1),
    ],
)
def test_concurrency_guidance(kind: str, cpus: float, expected: int) -> None:
    assert catalog.get_kind(kind).concurrency.capacity(cpus) == expected


def test_multilingual_voices_raise_the_minimum() -> None:
    # Issue 10's sizing guidance: neural TTS multilingual voices need 8 cores / 24 GB.
    kind = catalog.get_kind("neural-text-to-speech")
    minimum, _recommended, _headroom = kind.sizing(voice="AndrewMultilingualNeural")
    assert (minimum.cpus, minimum.memory_gib) == (8, 24)
    # speech-container-howto.md: neural text to speech minimum 6 core, 12-GB memory.
    minimum, _recommended, _headroom = kind.sizing(voice="AriaNeural")
    assert (minimum.cpus, minimum.memory_gib) == (6, 12)
