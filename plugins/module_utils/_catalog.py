# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The catalog of Microsoft Speech container kinds: the one source of truth.

Pure standard library on purpose: modules import it on the edge host, the lab imports it on the
controller to build stand-in images under the same repository paths and tag formats.
Facts that no public source settles are marked "unverified"; correcting one is a one-line change here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MCR_REGISTRY = "mcr.microsoft.com"
PREVIEW_REGISTRY = "containerpreview.azurecr.io"
GIB = 1024**3

# The containers' process runs as a non-root user "nonroot" (unverified numeric uid):
# writable mounts (models, output, license) must be owned by it.
CONTAINER_UID = 65532
CONTAINER_GID = 65532
MODELS_MOUNT = "/usr/local/models"
OUTPUT_MOUNT = "/output"
LICENSE_MOUNT = "/license"

READY_PATH = "/ready"
STATUS_PATH = "/status"
# apiStatus values a healthy container reports: metered (Valid) and disconnected (non-metered).
SERVING_API_STATUSES = ("Valid", "ValidNonMetered")
API_STATUSES = (
    "Valid",
    "Invalid",
    "Mismatch",
    "CouldNotConnect",
    "OutOfQuota",
    "BillingEndpointBusy",
    "ContainerUseUnauthorized",
    "Unknown",
)

STT_RECOGNITION_MODES = ("interactive", "conversation", "dictation")
STT_QUERY_PATHS = tuple("/speech/recognition/%s/cognitiveservices/v1" % mode for mode in STT_RECOGNITION_MODES)
TTS_QUERY_PATHS = ("/speech/synthesize/cognitiveservices/v1",)
LANGUAGE_DETECTION_QUERY_PATHS = ("/speech/languagedetection/cognitiveservices/v1",)  # unverified path

VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
# en-us, en-US, zh-Hans-CN style script subtags too (lowercased in tags).
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?-[A-Za-z]{2}$")
VOICE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,63}$")


class CatalogError(ValueError):
    """A value the catalog cannot accept; the message names the value and what would be valid."""


@dataclass(frozen=True)
class Sizing:
    cpus: float
    memory_gib: float

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)


@dataclass(frozen=True)
class ContainerKind:
    name: str
    repository: str
    preview_repository: str
    # Which parts follow "<version>-amd64" in the tag, in order.
    tag_parts: tuple[str, ...]
    # "never", "optional" or "required": whether the tag may end in "-preview".
    preview_suffix: str
    port: int
    minimum: Sizing
    recommended: Sizing
    # Extra host memory (page cache) for the language model, beyond the container limit.
    language_model_headroom_gib: float
    needs_model: bool
    disconnected_supported: bool
    query_paths: tuple[str, ...]
    retired: str | None = None
    # Sizing of the 2019 gated preview images (containerpreview.azurecr.io), where it differs.
    preview_minimum: Sizing | None = None
    preview_recommended: Sizing | None = None
    preview_language_model_headroom_gib: float | None = None
    # Disk an image needs when pulled (unverified estimates; used only for the disk preflight).
    image_disk_gib: float = 5.0
    example_tag: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def is_text_to_speech(self) -> bool:
        return self.name in ("neural-text-to-speech", "text-to-speech", "custom-text-to-speech")

    @property
    def is_speech_to_text(self) -> bool:
        return self.name in ("speech-to-text", "custom-speech-to-text")

    @property
    def tag_format(self) -> str:
        parts = "".join("-<%s>" % part for part in self.tag_parts)
        suffix = {"never": "", "optional": "[-preview]", "required": "-preview"}[self.preview_suffix]
        return "<version>-amd64%s%s" % (parts, suffix)

    def sizing(self, preview_registry: bool = False) -> tuple[Sizing, Sizing, float]:
        """Minimum, recommended and language-model headroom (GiB) for this image flavour."""
        if preview_registry and self.preview_minimum is not None:
            return (
                self.preview_minimum,
                self.preview_recommended or self.preview_minimum,
                self.language_model_headroom_gib
                if self.preview_language_model_headroom_gib is None
                else self.preview_language_model_headroom_gib,
            )
        return self.minimum, self.recommended, self.language_model_headroom_gib


_SPEECH_SERVICES = "azure-cognitive-services/speechservices/"


def _preview_repo(kind: str) -> str:
    return "microsoft/cognitive-services-%s" % kind


KINDS: dict[str, ContainerKind] = {
    kind.name: kind
    for kind in (
        ContainerKind(
            name="speech-to-text",
            repository=_SPEECH_SERVICES + "speech-to-text",
            preview_repository=_preview_repo("speech-to-text"),
            tag_parts=("locale",),
            preview_suffix="never",
            port=5000,
            minimum=Sizing(4, 4),
            recommended=Sizing(8, 8),
            language_model_headroom_gib=4,
            needs_model=False,
            disconnected_supported=True,
            query_paths=STT_QUERY_PATHS,
            preview_minimum=Sizing(2, 2),
            preview_recommended=Sizing(4, 4),
            preview_language_model_headroom_gib=4,
            image_disk_gib=8,
            example_tag="3.12.0-amd64-en-us",
        ),
        ContainerKind(
            name="custom-speech-to-text",
            repository=_SPEECH_SERVICES + "custom-speech-to-text",
            preview_repository=_preview_repo("custom-speech-to-text"),
            tag_parts=(),
            preview_suffix="never",
            port=5000,
            minimum=Sizing(4, 4),
            recommended=Sizing(8, 8),
            language_model_headroom_gib=4,
            needs_model=True,
            disconnected_supported=True,
            query_paths=STT_QUERY_PATHS,
            preview_minimum=Sizing(2, 2),
            preview_recommended=Sizing(4, 4),
            preview_language_model_headroom_gib=4,
            image_disk_gib=8,
            example_tag="3.12.0-amd64",
        ),
        ContainerKind(
            name="neural-text-to-speech",
            repository=_SPEECH_SERVICES + "neural-text-to-speech",
            preview_repository=_preview_repo("neural-text-to-speech"),
            tag_parts=("locale", "voice"),
            preview_suffix="never",
            port=5000,
            minimum=Sizing(6, 12),
            recommended=Sizing(8, 16),
            language_model_headroom_gib=0,
            needs_model=False,
            disconnected_supported=True,
            query_paths=TTS_QUERY_PATHS,
            image_disk_gib=6,
            example_tag="3.1.0-amd64-en-us-arianeural",
        ),
        ContainerKind(
            name="language-detection",
            repository=_SPEECH_SERVICES + "language-detection",
            preview_repository=_preview_repo("language-detection"),
            tag_parts=(),
            preview_suffix="optional",
            port=5003,
            minimum=Sizing(1, 1),
            recommended=Sizing(1, 1),
            language_model_headroom_gib=0,
            needs_model=False,
            disconnected_supported=False,
            query_paths=LANGUAGE_DETECTION_QUERY_PATHS,
            image_disk_gib=2,
            example_tag="1.12.0-amd64-preview",
        ),
        ContainerKind(
            name="text-to-speech",
            repository=_SPEECH_SERVICES + "text-to-speech",
            preview_repository=_preview_repo("text-to-speech"),
            tag_parts=("locale", "voice"),
            preview_suffix="optional",
            port=5000,
            minimum=Sizing(1, 2),
            recommended=Sizing(2, 3),
            language_model_headroom_gib=0,
            needs_model=False,
            disconnected_supported=False,
            query_paths=TTS_QUERY_PATHS,
            retired="2021-08-31",
            image_disk_gib=3,
            example_tag="1.3.0-amd64-en-us-jessarus-preview",
        ),
        ContainerKind(
            name="custom-text-to-speech",
            repository=_SPEECH_SERVICES + "custom-text-to-speech",
            preview_repository=_preview_repo("custom-text-to-speech"),
            tag_parts=(),
            preview_suffix="never",
            port=5000,
            minimum=Sizing(1, 2),
            recommended=Sizing(2, 3),
            language_model_headroom_gib=0,
            needs_model=True,
            disconnected_supported=False,
            query_paths=TTS_QUERY_PATHS,
            retired="2021-08-31",  # unverified: retired with the standard voices
            image_disk_gib=3,
            example_tag="1.3.0-amd64",
        ),
    )
}


def kind_names() -> tuple[str, ...]:
    return tuple(KINDS)


def get_kind(name: str) -> ContainerKind:
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise CatalogError("unknown speech container kind %r; valid kinds: %s" % (name, ", ".join(KINDS))) from None


def validate_version(version: str) -> str:
    version = str(version)
    if not VERSION_RE.match(version):
        raise CatalogError("version %r is not of the form x.y.z (for example 3.12.0)" % version)
    return version


def normalize_locale(locale: str) -> str:
    """Return the tag form (lowercase) of a locale given as en-us or en-US."""
    if not isinstance(locale, str) or not LOCALE_RE.match(locale):
        raise CatalogError("locale %r is not a locale like en-us or en-US" % (locale,))
    return locale.lower()


def display_locale(locale: str) -> str:
    """en-us -> en-US, zh-hans-cn -> zh-Hans-CN (the casing SSML voice names use)."""
    parts = normalize_locale(locale).split("-")
    middle = [part.capitalize() for part in parts[1:-1]]
    return "-".join([parts[0], *middle, parts[-1].upper()])


def normalize_voice(voice: str) -> str:
    if not isinstance(voice, str) or not VOICE_RE.match(voice):
        raise CatalogError(
            "voice %r is not a voice name like arianeural or AriaNeural (letters and digits, starting with a letter)"
            % (voice,)
        )
    return voice.lower()


def display_voice(voice: str) -> str:
    """arianeural -> AriaNeural, jessarus -> JessaRUS; a voice given in display case is kept as it is."""
    if voice != voice.lower():
        return voice
    voice = normalize_voice(voice)
    for suffix, shown in (("neural", "Neural"), ("rus", "RUS")):
        if voice.endswith(suffix) and len(voice) > len(suffix):
            return voice[: -len(suffix)].capitalize() + shown
    return voice.capitalize()


def ssml_voice_name(locale: str, voice: str) -> str:
    """The SSML <voice name=...> the image answers to: en-us + arianeural -> en-US-AriaNeural."""
    return "%s-%s" % (display_locale(locale), display_voice(voice))


@dataclass(frozen=True)
class TagInfo:
    kind: str
    version: str
    locale: str | None = None
    voice: str | None = None
    preview: bool = False

    @property
    def tag(self) -> str:
        return build_tag(self.kind, self.version, self.locale, self.voice, self.preview)


def build_tag(
    kind: str,
    version: str,
    locale: str | None = None,
    voice: str | None = None,
    preview: bool = False,
) -> str:
    """Build the image tag of a kind from its parts; every part is validated."""
    spec = get_kind(kind)
    parts = [validate_version(version), "amd64"]
    given = {"locale": locale, "voice": voice}
    for part in ("locale", "voice"):
        value = given[part]
        if part in spec.tag_parts:
            if not value:
                raise CatalogError(
                    "%s images need a %s: their tag format is %s (for example %s)"
                    % (kind, part, spec.tag_format, spec.example_tag)
                )
            parts.append(normalize_locale(value) if part == "locale" else normalize_voice(value))
        elif value:
            raise CatalogError(
                "%s images have no %s in their tag (format %s): remove %s=%r"
                % (kind, part, spec.tag_format, part, value)
            )
    if preview and spec.preview_suffix == "never":
        raise CatalogError("%s images have no -preview tags (format %s)" % (kind, spec.tag_format))
    if preview or spec.preview_suffix == "required":
        parts.append("preview")
    return "-".join(parts)


def parse_tag(kind: str, tag: str) -> TagInfo:
    """Parse a tag of a kind back into its parts (the inverse of build_tag)."""
    spec = get_kind(kind)
    error = CatalogError(
        "tag %r does not match the %s tag format %s (for example %s)" % (tag, kind, spec.tag_format, spec.example_tag)
    )
    if not isinstance(tag, str) or tag != tag.lower():
        raise error
    pieces = tag.split("-")
    if len(pieces) < 2 or pieces[1] != "amd64" or not VERSION_RE.match(pieces[0]):
        raise error
    rest = pieces[2:]
    preview = False
    if rest and rest[-1] == "preview" and spec.preview_suffix != "never":
        preview = True
        rest = rest[:-1]
    values: dict[str, str | None] = {"locale": None, "voice": None}
    if "locale" in spec.tag_parts:
        # A locale is two pieces (en-us) or three with a script subtag (zh-hans-cn).
        voice_pieces = 1 if "voice" in spec.tag_parts else 0
        locale_len = len(rest) - voice_pieces
        if locale_len not in (2, 3):
            raise error
        values["locale"] = "-".join(rest[:locale_len])
        rest = rest[locale_len:]
    if "voice" in spec.tag_parts:
        if len(rest) != 1:
            raise error
        values["voice"] = rest[0]
        rest = []
    if rest:
        raise error
    try:
        info = TagInfo(kind, pieces[0], values["locale"], values["voice"], preview)
        if info.tag != tag:
            raise error
    except CatalogError:
        raise error from None
    return info


def split_registry(registry: str) -> tuple[str, str]:
    """Split 'host[:port][/path]' into host and an optional path prefix."""
    registry = registry.strip().rstrip("/")
    if "://" in registry:
        raise CatalogError(
            "registry %r must be a host[:port][/path] without a scheme (for example registry.example.com:5000)"
            % registry
        )
    host, _sep, prefix = registry.partition("/")
    if not host or not re.match(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$", host):
        raise CatalogError("registry %r is not a host[:port][/path] (for example registry.example.com:5000)" % registry)
    return host, prefix


def repository_path(kind: str, registry: str | None = None, containerpreview: bool = False) -> str:
    """The full repository of a kind, optionally mapped onto a private registry (mirror, air-gapped site).

    Microsoft's path below the registry is kept, so a mirror made with a plain copy of the
    repositories works without per-kind configuration.
    """
    spec = get_kind(kind)
    path = spec.preview_repository if containerpreview else spec.repository
    if registry:
        host, prefix = split_registry(registry)
        return "/".join(part for part in (host, prefix, path) if part)
    return "%s/%s" % (PREVIEW_REGISTRY if containerpreview else MCR_REGISTRY, path)


def image_reference(
    kind: str,
    version: str,
    locale: str | None = None,
    voice: str | None = None,
    registry: str | None = None,
    preview: bool = False,
    containerpreview: bool = False,
) -> str:
    return "%s:%s" % (
        repository_path(kind, registry, containerpreview),
        build_tag(kind, version, locale, voice, preview),
    )


def registry_of(image: str) -> str:
    """The registry host of an image reference (Docker's rule: first part with '.' or ':' or 'localhost')."""
    first, sep, _rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


_MEMORY_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(value: object) -> int:
    """Docker's memory notation (binary units): 512m, 4g, 4G, 4GiB, 4gb or a byte count -> bytes."""
    if isinstance(value, bool):
        raise CatalogError("memory %r is not a size like 4g, 512m or 4GiB" % (value,))
    if isinstance(value, int):
        if value <= 0:
            raise CatalogError("memory %r must be positive (for example 4g)" % value)
        return value
    match = _MEMORY_RE.match(str(value))
    if not match:
        raise CatalogError("memory %r is not a size like 4g, 512m or 4GiB" % (value,))
    number, unit, _suffix = match.groups()
    result = int(float(number) * _MEMORY_UNITS[unit.lower()])
    if result <= 0:
        raise CatalogError("memory %r must be positive (for example 4g)" % (value,))
    return result


def format_gib(num_bytes: float) -> str:
    return "%.1f GiB" % (num_bytes / GIB)
