# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible_collections.speechops.edge.plugins.module_utils import _catalog as catalog
from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError

# One tag per kind and flavour, straight from Microsoft's documented examples.
DOCUMENTED_TAGS = [
    ("speech-to-text", "3.12.0-amd64-en-us", dict(version="3.12.0", locale="en-us")),
    ("speech-to-text", "3.12.0-amd64-zh-hans-cn", dict(version="3.12.0", locale="zh-hans-cn")),
    ("custom-speech-to-text", "3.12.0-amd64", dict(version="3.12.0")),
    (
        "neural-text-to-speech",
        "3.1.0-amd64-en-us-arianeural",
        dict(version="3.1.0", locale="en-us", voice="arianeural"),
    ),
    ("language-detection", "1.12.0-amd64-preview", dict(version="1.12.0", preview=True)),
    ("language-detection", "1.12.0-amd64", dict(version="1.12.0")),
    (
        "text-to-speech",
        "1.3.0-amd64-en-us-jessarus-preview",
        dict(version="1.3.0", locale="en-us", voice="jessarus", preview=True),
    ),
    ("text-to-speech", "1.3.0-amd64-en-us-jessarus", dict(version="1.3.0", locale="en-us", voice="jessarus")),
    ("custom-text-to-speech", "1.3.0-amd64", dict(version="1.3.0")),
]


@pytest.mark.parametrize("kind,tag,parts", DOCUMENTED_TAGS)
def test_tag_round_trip(kind: str, tag: str, parts: dict) -> None:
    assert catalog.build_tag(kind, **parts) == tag
    info = catalog.parse_tag(kind, tag)
    assert info.tag == tag
    assert catalog.build_tag(kind, info.version, info.locale, info.voice, info.preview) == tag


def test_every_kind_has_a_round_tripping_example() -> None:
    assert set(catalog.KINDS) == {
        "speech-to-text",
        "custom-speech-to-text",
        "neural-text-to-speech",
        "language-detection",
        "fast-transcription",
        "text-to-speech",
        "custom-text-to-speech",
    }
    for kind in catalog.KINDS.values():
        assert catalog.parse_tag(kind.name, kind.example_tag).tag == kind.example_tag


def test_display_case_locale_and_voice_make_lowercase_tags() -> None:
    assert catalog.build_tag("neural-text-to-speech", "3.1.0", "en-US", "AriaNeural") == "3.1.0-amd64-en-us-arianeural"


# Expected names copied from Microsoft's voice list, MicrosoftDocs/azure-ai-docs
# articles/ai-services/speech-service/includes/language-support/tts.md (10/2025), and for the retired standard
# voices from MicrosoftDocs/azure-docs articles/cognitive-services/containers/container-image-tags.md (2020).
@pytest.mark.parametrize(
    "locale,voice,expected",
    [
        ("en-us", "arianeural", "en-US-AriaNeural"),
        ("en-US", "AriaNeural", "en-US-AriaNeural"),
        ("de-de", "katjaneural", "de-DE-KatjaNeural"),
        ("en-us", "andrewmultilingualneural", "en-US-AndrewMultilingualNeural"),
        ("en-US", "AndrewMultilingualNeural", "en-US-AndrewMultilingualNeural"),
        ("zh-cn", "xiaochenneural", "zh-CN-XiaochenNeural"),
        ("zh-cn-sichuan", "yunxineural", "zh-CN-sichuan-YunxiNeural"),
        ("zh-hk", "hiumaanneural", "zh-HK-HiuMaanNeural"),
        ("vi-vn", "hoaimyneural", "vi-VN-HoaiMyNeural"),
        ("ko-kr", "sunhineural", "ko-KR-SunHiNeural"),
        ("sr-latn-rs", "nicholasneural", "sr-Latn-RS-NicholasNeural"),
        ("en-us", "jessarus", "en-US-JessaRUS"),
        ("en-us", "guy24krus", "en-US-Guy24kRUS"),
        ("en-in", "ravi-apollo", "en-IN-Ravi-Apollo"),
        # Not in the collection's table: display case is used as given (tts.md lists en-GB-OllieMultilingualNeural).
        ("en-GB", "OllieMultilingualNeural", "en-GB-OllieMultilingualNeural"),
    ],
)
def test_ssml_voice_name(locale: str, voice: str, expected: str) -> None:
    assert catalog.ssml_voice_name(locale, voice) == expected


def test_lowercase_voice_outside_the_table_asks_for_microsofts_casing() -> None:
    # No voice of this name is in tts.md, so its SSML casing cannot be known.
    with pytest.raises(CatalogError) as error:
        catalog.ssml_voice_name("en-us", "ollie2neural")
    assert "give the voice in Microsoft's casing (for example voice: AndrewMultilingualNeural" in str(error.value)


def test_display_case_that_differs_from_microsofts_is_refused() -> None:
    # Title-casing gives en-US-AndrewmultilingualNeural; Microsoft's name is en-US-AndrewMultilingualNeural (tts.md).
    with pytest.raises(CatalogError) as error:
        catalog.ssml_voice_name("en-US", "AndrewmultilingualNeural")
    assert str(error.value).endswith("give voice: AndrewMultilingualNeural")


@pytest.mark.parametrize(
    "call,fragment",
    [
        (lambda: catalog.get_kind("speech-to-txt"), "unknown speech container kind 'speech-to-txt'; valid kinds: "),
        (lambda: catalog.build_tag("speech-to-text", "3.12"), "version '3.12' is not of the form x.y.z"),
        (lambda: catalog.build_tag("speech-to-text", "3.12.0"), "speech-to-text images need a locale"),
        (lambda: catalog.build_tag("speech-to-text", "3.12.0", "english"), "locale 'english' is not a locale like"),
        (lambda: catalog.build_tag("neural-text-to-speech", "3.1.0", "en-us"), "need a voice"),
        (lambda: catalog.build_tag("neural-text-to-speech", "3.1.0", "en-us", "aria neural"), "voice 'aria neural'"),
        (lambda: catalog.build_tag("custom-speech-to-text", "3.12.0", "en-us"), "have no locale in their tag"),
        (lambda: catalog.build_tag("custom-text-to-speech", "1.3.0", preview=True), "have no -preview tags"),
        (lambda: catalog.build_tag("fast-transcription", "1.0.0", "en-us", preview=True, form="gpu"), "no -preview"),
        (lambda: catalog.build_tag("language-detection", "1.18.0", form="gpu"), "have no gpu form"),
        (lambda: catalog.parse_tag("speech-to-text", "3.12.0-amd64"), "does not match the speech-to-text tag format"),
        (lambda: catalog.parse_tag("speech-to-text", "3.12.0-amd64-EN-US"), "does not match"),
        (lambda: catalog.parse_tag("speech-to-text", "latest"), "<version>-amd64-<locale>"),
        (lambda: catalog.parse_tag("custom-speech-to-text", "3.12.0-arm64"), "does not match"),
        (lambda: catalog.parse_memory("lots"), "memory 'lots' is not a size like 4g"),
        (lambda: catalog.parse_memory(0), "must be positive"),
        (lambda: catalog.repository_path("speech-to-text", "https://reg"), "without a scheme"),
        (lambda: catalog.repository_path("speech-to-text", "bad host"), "is not a host[:port][/path]"),
    ],
)
def test_errors_name_the_value_and_the_fix(call, fragment: str) -> None:
    with pytest.raises(CatalogError) as error:
        call()
    assert fragment in str(error.value)


def test_repositories_and_registry_override() -> None:
    assert (
        catalog.image_reference("neural-text-to-speech", "3.1.0", "en-us", "arianeural")
        == "mcr.microsoft.com/azure-cognitive-services/speechservices/neural-text-to-speech:3.1.0-amd64-en-us-arianeural"
    )
    assert (
        catalog.repository_path("speech-to-text", "mirror.example.com:5000/mcr")
        == "mirror.example.com:5000/mcr/azure-cognitive-services/speechservices/speech-to-text"
    )
    assert (
        catalog.repository_path("speech-to-text", containerpreview=True)
        == "containerpreview.azurecr.io/microsoft/cognitive-services-speech-to-text"
    )
    assert catalog.registry_of("172.30.57.2:5000/azure/x:1") == "172.30.57.2:5000"
    assert catalog.registry_of("mcr.microsoft.com/azure/x:1") == "mcr.microsoft.com"
    assert catalog.registry_of("library/busybox") == "docker.io"


def test_ports_sizing_and_models() -> None:
    assert catalog.get_kind("language-detection").port == 5003
    assert all(kind.port == 5000 for kind in catalog.KINDS.values() if kind.name != "language-detection")
    neural = catalog.get_kind("neural-text-to-speech")
    assert (neural.minimum.cpus, neural.minimum.memory_gib, neural.recommended.memory_gib) == (6, 12, 16)
    stt = catalog.get_kind("speech-to-text")
    assert stt.sizing() == (catalog.Sizing(4, 4), catalog.Sizing(8, 8), 4)
    assert stt.sizing(preview_registry=True)[0] == catalog.Sizing(2, 2)
    assert [kind.name for kind in catalog.KINDS.values() if kind.needs_model] == [
        "custom-speech-to-text",
        "custom-text-to-speech",
    ]
    assert not catalog.get_kind("language-detection").disconnected_supported
    assert catalog.get_kind("speech-to-text").query_paths[0] == "/speech/recognition/interactive/cognitiveservices/v1"


@pytest.mark.parametrize(
    "value,expected",
    [("4g", 4 * 1024**3), ("512m", 512 * 1024**2), ("4GiB", 4 * 1024**3), ("1.5G", int(1.5 * 1024**3)), (1024, 1024)],
)
def test_parse_memory(value: object, expected: int) -> None:
    assert catalog.parse_memory(value) == expected
