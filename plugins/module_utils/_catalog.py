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

# Paths are what Microsoft's Speech SDKs open on a container (SpeechConfig(host=...)), observed with the
# Python SDK 1.53 and the JavaScript SDK 1.52 against a capture server (see lab/images/README.md).
STT_RECOGNITION_MODES = ("interactive", "conversation", "dictation")
STT_QUERY_PATHS = tuple("/speech/recognition/%s/cognitiveservices/v1" % mode for mode in STT_RECOGNITION_MODES)
# REST synthesis (speech-container-howto.md), then the SDKs' WebSocket: Python, JavaScript.
TTS_REST_PATH = "/speech/synthesize/cognitiveservices/v1"
TTS_WEBSOCKET_PATHS = ("/cognitiveservices/websocket/v1", "/tts/cognitiveservices/websocket/v1")
TTS_QUERY_PATHS = (TTS_REST_PATH,)
# Python SourceLanguageRecognizer opens /speech/universal/v2; JavaScript auto-detect opens the interactive
# recognition path with ?lidEnabled=true. No Microsoft source documents a language-detection REST path.
LANGUAGE_DETECTION_UNIVERSAL_PATH = "/speech/universal/v2"
LANGUAGE_DETECTION_QUERY_PATHS = (LANGUAGE_DETECTION_UNIVERSAL_PATH,)
# Neural TTS 3.10 and later (speech-container-ntts.md): 200 when synthesis works, 503 otherwise.
TTS_SYNTHESIS_HEALTH_PATH = "/synthesize/health"

# Fast transcription (preview, GPU), speech-container-ft.md: synchronous REST transcription ("POST
# http://localhost:5000/stt/transcriptions:transcribe", the curl examples add ?api-version=2024-11-15) and
# "Health check endpoint: GET http://localhost:5000/stt/health".
FAST_TRANSCRIPTION_API_VERSION = "2024-11-15"
FAST_TRANSCRIPTION_PATH = "/stt/transcriptions:transcribe?api-version=%s" % FAST_TRANSCRIPTION_API_VERSION
FAST_TRANSCRIPTION_HEALTH_PATH = "/stt/health"

VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
# en-us, zh-hans-cn (script subtag) and zh-cn-sichuan (a dialect variant: speech-container-stt.md lists the tag
# 4.12.0-amd64-zh-cn-sichuan; tts.md the voice zh-CN-sichuan-YunxiNeural). Lowercased in tags.
LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?-[A-Za-z]{2}(-[A-Za-z]{5,8})?$")
# Neural voices are one word (arianeural); some retired standard voices had an "-Apollo" part (en-IN-Ravi-Apollo,
# tag 1.3.0-amd64-en-in-ravi-apollo-preview in MicrosoftDocs/azure-docs containers/container-image-tags.md).
VOICE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,63}(-[Aa]pollo)?$")
# The "<language>" of fast-transcription tags is a locale or one of the model groups of speech-container-ft.md's
# locale table (en, ar, multilingual-15-locales, t4-35-locales, india-13-locales, ...).
MODEL_GROUP_RE = re.compile(r"^[a-z]{2,3}$|^[a-z0-9]+(-[a-z0-9]+)*-locales$")

# Tag forms. speech-container-*.md give "<major>.<minor>.<patch>-<platform>-<locale|voice>-<prerelease>", but the
# tag lists they print also hold other shapes; every shape Microsoft prints parses, and builds back unchanged:
# 4.12.0-amd64-zh-cn-sichuan, 3.11.0-amd64-zh-cn-xiaochenneural-preview, 1.18.0-amd64-preview:
FORM_PLATFORM = "platform"
FORM_PRERELEASE = "prerelease"  # 5.0.1-preview-amd64 (speech-container-cstt.md tag list)
# Fast transcription: the article's format line and version table say <language>-gpu-<version>-preview
# (en-gpu-1.0.0-preview), while its tags/list snippet shows gpu-<version>-<locale> (gpu-1.0.0-en-us). The two
# contradict each other and neither is marked wrong, so both are accepted; builds use the documented format line.
FORM_MODEL_GPU = "model-gpu"
FORM_GPU = "gpu"
TAG_FORM_FORMATS = {
    FORM_PRERELEASE: "<version>-preview-amd64",
    FORM_MODEL_GPU: "<language>-gpu-<version>-preview",
    FORM_GPU: "gpu-<version>-<locale>",
}

# SSML voice names exactly as Microsoft writes them, looked up by the lowercase form image tags use. Casing follows
# no rule (zh-HK-HiuMaanNeural, vi-VN-HoaiMyNeural, ko-KR-SunHiNeural, zh-CN-sichuan-YunxiNeural), so title-casing
# a tag's voice gives names the containers refuse. Neural voices: MicrosoftDocs/azure-ai-docs
# articles/ai-services/speech-service/includes/language-support/tts.md (10/2025), starting with the voices of the
# image tags in speech-container-ntts.md. Retired standard voices: MicrosoftDocs/azure-docs
# articles/cognitive-services/containers/container-image-tags.md (2020). A voice not listed here must be given in
# Microsoft's casing (see ssml_voice_name).
_VOICE_TABLE = """
    en-US-AriaNeural tr-TR-EmelNeural uk-UA-OstapNeural zh-CN-XiaochenNeural zh-CN-XiaohanNeural zh-CN-XiaomoNeural
    zh-CN-XiaoqiuNeural zh-CN-XiaoruiNeural zh-CN-XiaoshuangNeural zh-CN-XiaoxiaoNeural zh-CN-XiaoyanNeural
    zh-CN-XiaoyouNeural zh-CN-YunxiNeural zh-CN-YunyangNeural zh-CN-YunyeNeural
    en-US-AvaNeural en-US-AndrewNeural en-US-EmmaNeural en-US-BrianNeural en-US-JennyNeural en-US-GuyNeural
    en-US-DavisNeural en-US-JaneNeural en-US-JasonNeural en-US-KaiNeural en-US-LunaNeural en-US-SaraNeural
    en-US-TonyNeural en-US-NancyNeural en-US-AmberNeural en-US-AnaNeural en-US-AshleyNeural en-US-BrandonNeural
    en-US-ChristopherNeural en-US-CoraNeural en-US-ElizabethNeural en-US-EricNeural en-US-JacobNeural
    en-US-MichelleNeural en-US-MonicaNeural en-US-RogerNeural en-US-SteffanNeural
    en-US-AvaMultilingualNeural en-US-AndrewMultilingualNeural en-US-AmandaMultilingualNeural
    en-US-AdamMultilingualNeural en-US-EmmaMultilingualNeural en-US-PhoebeMultilingualNeural
    en-US-BrianMultilingualNeural en-US-CoraMultilingualNeural en-US-ChristopherMultilingualNeural
    en-US-BrandonMultilingualNeural en-US-DavisMultilingualNeural en-US-DerekMultilingualNeural
    en-US-DustinMultilingualNeural en-US-EvelynMultilingualNeural en-US-JennyMultilingualNeural
    en-US-LewisMultilingualNeural en-US-LolaMultilingualNeural en-US-NancyMultilingualNeural
    en-US-RyanMultilingualNeural en-US-SamuelMultilingualNeural en-US-SerenaMultilingualNeural
    en-US-SteffanMultilingualNeural
    en-GB-SoniaNeural en-GB-RyanNeural en-GB-LibbyNeural en-GB-AdaMultilingualNeural en-GB-OllieMultilingualNeural
    en-AU-NatashaNeural en-AU-WilliamNeural en-AU-WilliamMultilingualNeural en-CA-ClaraNeural en-CA-LiamNeural
    en-IN-NeerjaNeural en-IN-PrabhatNeural en-IE-EmilyNeural en-IE-ConnorNeural
    de-DE-KatjaNeural de-DE-ConradNeural de-DE-SeraphinaMultilingualNeural de-DE-FlorianMultilingualNeural
    de-DE-AmalaNeural de-DE-BerndNeural de-DE-ChristophNeural de-DE-ElkeNeural de-DE-GiselaNeural de-DE-KasperNeural
    de-DE-KillianNeural de-DE-KlarissaNeural de-DE-KlausNeural de-DE-LouisaNeural de-DE-MajaNeural de-DE-RalfNeural
    de-DE-TanjaNeural de-AT-IngridNeural de-AT-JonasNeural de-CH-LeniNeural de-CH-JanNeural
    fr-FR-DeniseNeural fr-FR-HenriNeural fr-FR-VivienneMultilingualNeural fr-FR-RemyMultilingualNeural
    fr-CA-SylvieNeural fr-CA-JeanNeural fr-CA-AntoineNeural fr-CA-ThierryNeural
    es-ES-ElviraNeural es-ES-AlvaroNeural es-MX-DaliaNeural es-MX-JorgeNeural
    it-IT-ElsaNeural it-IT-IsabellaNeural it-IT-DiegoNeural ja-JP-NanamiNeural ja-JP-KeitaNeural
    ko-KR-SunHiNeural ko-KR-InJoonNeural ko-KR-BongJinNeural ko-KR-GookMinNeural ko-KR-JiMinNeural
    ko-KR-SeoHyeonNeural ko-KR-SoonBokNeural ko-KR-YuJinNeural ko-KR-HyunsuNeural
    pt-BR-FranciscaNeural pt-BR-AntonioNeural pt-PT-RaquelNeural pt-PT-DuarteNeural
    nl-NL-FennaNeural nl-NL-MaartenNeural nl-NL-ColetteNeural ru-RU-SvetlanaNeural ru-RU-DmitryNeural
    ru-RU-DariyaNeural pl-PL-AgnieszkaNeural pl-PL-MarekNeural pl-PL-ZofiaNeural sv-SE-SofieNeural
    sv-SE-MattiasNeural sv-SE-HilleviNeural tr-TR-AhmetNeural uk-UA-PolinaNeural
    vi-VN-HoaiMyNeural vi-VN-NamMinhNeural zh-HK-HiuMaanNeural zh-HK-WanLungNeural zh-HK-HiuGaaiNeural
    zh-TW-HsiaoChenNeural zh-TW-YunJheNeural zh-TW-HsiaoYuNeural yue-CN-XiaoMinNeural yue-CN-YunSongNeural
    wuu-CN-XiaotongNeural wuu-CN-YunzheNeural
    zh-CN-YunjianNeural zh-CN-XiaoyiNeural zh-CN-XiaomengNeural zh-CN-XiaorouNeural zh-CN-XiaozhenNeural
    zh-CN-YunfengNeural zh-CN-YunhaoNeural zh-CN-YunjieNeural zh-CN-YunxiaNeural zh-CN-YunzeNeural
    zh-CN-XiaochenMultilingualNeural zh-CN-XiaoxiaoMultilingualNeural
    zh-CN-sichuan-YunxiNeural zh-CN-henan-YundengNeural zh-CN-shandong-YunxiangNeural
    zh-CN-liaoning-XiaobeiNeural sr-Latn-RS-NicholasNeural sr-Latn-RS-SophieNeural ps-AF-GulNawazNeural
    hi-IN-SwaraNeural hi-IN-MadhurNeural ar-SA-ZariyahNeural ar-SA-HamedNeural ar-EG-SalmaNeural
    ar-EG-ShakirNeural he-IL-HilaNeural he-IL-AvriNeural th-TH-PremwadeeNeural th-TH-NiwatNeural
    id-ID-GadisNeural id-ID-ArdiNeural cs-CZ-VlastaNeural cs-CZ-AntoninNeural da-DK-ChristelNeural
    da-DK-JeppeNeural fi-FI-SelmaNeural fi-FI-HarriNeural nb-NO-PernilleNeural nb-NO-FinnNeural
    el-GR-AthinaNeural el-GR-NestorasNeural hu-HU-NoemiNeural hu-HU-TamasNeural ro-RO-AlinaNeural
    ro-RO-EmilNeural ca-ES-JoanaNeural ca-ES-EnricNeural
    en-US-JessaRUS en-US-Jessa24kRUS en-US-Guy24kRUS en-US-BenjaminRUS en-US-ZiraRUS en-US-AriaRUS
    en-IN-Ravi-Apollo en-IN-Heera-Apollo en-IN-PriyaRUS en-GB-Susan-Apollo en-GB-HazelRUS en-GB-George-Apollo
    de-DE-HeddaRUS de-DE-Hedda de-DE-Stefan-Apollo
"""
SSML_VOICE_NAMES = tuple(_VOICE_TABLE.split())
_VOICES_BY_TAG_FORM = {name.lower(): name for name in SSML_VOICE_NAMES}
VOICE_LIST_URL = "https://learn.microsoft.com/azure/ai-services/speech-service/language-support?tabs=tts"


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
class Concurrency:
    """Microsoft's guidance on concurrent work per CPU: `sessions` for every `per_cpus` cores."""

    sessions: int
    per_cpus: float
    unit: str

    def capacity(self, cpus: float) -> int:
        """Concurrent sessions (or requests) the given CPUs serve by the guidance."""
        return int(cpus * self.sessions / self.per_cpus + 1e-9)

    def cpus_for(self, sessions: int) -> float:
        return sessions * self.per_cpus / self.sessions

    @property
    def guidance(self) -> str:
        cores = "core" if self.per_cpus == 1 else "%g cores" % self.per_cpus
        return "%d %s per %s" % (self.sessions, self.unit, cores)


@dataclass(frozen=True)
class ContainerKind:
    name: str
    repository: str
    preview_repository: str
    # Which parts the tag holds besides the version, in order.
    tag_parts: tuple[str, ...]
    # "never", "optional" or "required": whether a platform-form tag may end in "-preview".
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
    # The newest version Microsoft's container overview lists (speech-container-overview.md, 12/2025).
    latest_version: str = ""
    # Microsoft ships the container itself as a preview.
    kind_preview: bool = False
    # Tag forms this kind's images use; the first is what build_tag makes, preview_form what it makes for preview.
    tag_forms: tuple[str, ...] = (FORM_PLATFORM,)
    preview_form: str = FORM_PLATFORM
    # GET path that answers 200 once the model is loaded, and whether GET /status reports the billing state.
    ready_path: str = READY_PATH
    has_status: bool = True
    needs_gpu: bool = False
    gpu_requirement: str = ""
    # Environment every container of the kind runs with, and the variable that sets its decoder count.
    default_env: tuple[tuple[str, str], ...] = ()
    decoder_env: str | None = None
    concurrency: Concurrency | None = None
    # Minimum for voices that speak several languages (voice names containing "Multilingual").
    multilingual_voice_minimum: Sizing | None = None
    # Versions up to (major, minor) that Microsoft no longer supports, and why.
    unsupported_through: tuple[int, int] | None = None
    unsupported_reason: str = ""

    @property
    def is_text_to_speech(self) -> bool:
        return self.name in ("neural-text-to-speech", "text-to-speech", "custom-text-to-speech")

    @property
    def is_speech_to_text(self) -> bool:
        """Real-time recognition over WebSocket (fast transcription is REST only)."""
        return self.name in ("speech-to-text", "custom-speech-to-text")

    @property
    def tag_format(self) -> str:
        formats = []
        for form in self.tag_forms:
            if form == FORM_PLATFORM:
                parts = "".join("-<%s>" % part for part in self.tag_parts)
                suffix = {"never": "", "optional": "[-preview]", "required": "-preview"}[self.preview_suffix]
                formats.append("<version>-amd64%s%s" % (parts, suffix))
            elif form == FORM_PRERELEASE:
                formats.append(TAG_FORM_FORMATS[form] + "".join("-<%s>" % part for part in self.tag_parts))
            else:
                formats.append(TAG_FORM_FORMATS[form])
        return " or ".join(formats)

    def sizing(self, preview_registry: bool = False, voice: str | None = None) -> tuple[Sizing, Sizing, float]:
        """Minimum, recommended and language-model headroom (GiB) for this image flavour (and voice)."""
        if preview_registry and self.preview_minimum is not None:
            return (
                self.preview_minimum,
                self.preview_recommended or self.preview_minimum,
                self.language_model_headroom_gib
                if self.preview_language_model_headroom_gib is None
                else self.preview_language_model_headroom_gib,
            )
        minimum, recommended = self.minimum, self.recommended
        floor = self.multilingual_voice_minimum
        if floor is not None and voice and is_multilingual_voice(voice):
            minimum = Sizing(max(minimum.cpus, floor.cpus), max(minimum.memory_gib, floor.memory_gib))
            recommended = Sizing(max(recommended.cpus, floor.cpus), max(recommended.memory_gib, floor.memory_gib))
        return minimum, recommended, self.language_model_headroom_gib

    def check_supported(self, version: str) -> None:
        """Refuse versions Microsoft no longer supports, with the reason."""
        if self.unsupported_through is None:
            return
        major, minor, _patch = (int(part) for part in validate_version(version).split("."))
        if (major, minor) <= self.unsupported_through:
            raise CatalogError(self.unsupported_reason % {"version": version, "latest": self.latest_version})


_SPEECH_SERVICES = "azure-cognitive-services/speechservices/"


def _preview_repo(kind: str) -> str:
    return "microsoft/cognitive-services-%s" % kind


# Concurrency and multilingual sizing: Microsoft's 2026 sizing guidance for Speech containers (speech-container-howto.md,
# as quoted in issue 10). That revision is not in the snapshot this was checked against (01/30/2026 has only the
# minimum/recommended table), so these numbers are unverified here; correcting one is a one-line change.
# speech-container-lid.md (12/2025) says instead: "a maximum of four concurrent calls using 1 CPU with 1 GB of memory
# ... 2 CPUs and 2 GB of memory ... a maximum of six concurrent calls".
STT_CONCURRENCY = Concurrency(2, 1, "sessions")
NEURAL_TTS_CONCURRENCY = Concurrency(5, 8, "requests")
LANGUAGE_DETECTION_CONCURRENCY = Concurrency(2, 1, "sessions")
MULTILINGUAL_VOICE_MINIMUM = Sizing(8, 24)

KINDS: dict[str, ContainerKind] = {
    kind.name: kind
    for kind in (
        ContainerKind(
            name="speech-to-text",
            repository=_SPEECH_SERVICES + "speech-to-text",
            preview_repository=_preview_repo("speech-to-text"),
            tag_parts=("locale",),
            # Format "<major>.<minor>.<patch>-<platform>-<locale>-<prerelease>" (speech-container-stt.md); preview
            # builds use the prerelease form custom-speech-to-text's tag list shows (unverified for this kind).
            preview_suffix="optional",
            tag_forms=(FORM_PLATFORM, FORM_PRERELEASE),
            preview_form=FORM_PRERELEASE,
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
            latest_version="5.1.0",
            example_tag="5.1.0-amd64-en-us",
            decoder_env="DECODER_MAX_COUNT",
            concurrency=STT_CONCURRENCY,
        ),
        ContainerKind(
            name="custom-speech-to-text",
            repository=_SPEECH_SERVICES + "custom-speech-to-text",
            preview_repository=_preview_repo("custom-speech-to-text"),
            tag_parts=(),
            # speech-container-cstt.md: format "<major>.<minor>.<patch>-<platform>-<prerelease>", tag list
            # "5.0.1-preview-amd64".
            preview_suffix="optional",
            tag_forms=(FORM_PLATFORM, FORM_PRERELEASE),
            preview_form=FORM_PRERELEASE,
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
            latest_version="5.1.0",
            example_tag="5.1.0-amd64",
            decoder_env="DECODER_MAX_COUNT",
            concurrency=STT_CONCURRENCY,
        ),
        ContainerKind(
            name="neural-text-to-speech",
            repository=_SPEECH_SERVICES + "neural-text-to-speech",
            preview_repository=_preview_repo("neural-text-to-speech"),
            tag_parts=("locale", "voice"),
            # speech-container-ntts.md tag list: "3.11.0-amd64-zh-cn-xiaochenneural-preview".
            preview_suffix="optional",
            port=5000,
            minimum=Sizing(6, 12),
            recommended=Sizing(8, 16),
            language_model_headroom_gib=0,
            needs_model=False,
            disconnected_supported=True,
            query_paths=TTS_QUERY_PATHS,
            image_disk_gib=6,
            latest_version="4.1.0",
            example_tag="4.1.0-amd64-en-us-arianeural",
            concurrency=NEURAL_TTS_CONCURRENCY,
            multilingual_voice_minimum=MULTILINGUAL_VOICE_MINIMUM,
            # speech-container-ntts.md: "Starting from February 29, 2024, the text to speech and neural text to
            # speech container versions 2.19 and earlier aren't supported."
            unsupported_through=(2, 19),
            unsupported_reason=(
                "neural-text-to-speech %(version)s is not supported: Microsoft stopped supporting neural text to "
                "speech container versions 2.19 and earlier on 2024-02-29 (speech-container-ntts.md); "
                "use 3.0.0 or later (latest %(latest)s)"
            ),
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
            latest_version="1.18.0",
            kind_preview=True,
            example_tag="1.18.0-amd64-preview",
            concurrency=LANGUAGE_DETECTION_CONCURRENCY,
        ),
        ContainerKind(
            name="fast-transcription",
            repository=_SPEECH_SERVICES + "fast-transcription",
            # No 2019 gated preview existed for this kind; the name only keeps the naming scheme complete.
            preview_repository=_preview_repo("fast-transcription"),
            tag_parts=("locale",),
            preview_suffix="never",
            tag_forms=(FORM_MODEL_GPU, FORM_GPU),
            preview_form=FORM_MODEL_GPU,
            # docker run -p 5000:5000 -e ASPNETCORE_URLS=http://+:5000 (speech-container-ft.md).
            port=5000,
            # "Minimum | NVIDIA T4 or higher | 8 cores | 16 GB", "Recommended | NVIDIA T4 | 16 cores | 110 GB".
            minimum=Sizing(8, 16),
            recommended=Sizing(16, 110),
            language_model_headroom_gib=0,
            needs_model=False,
            # The article has a "Disconnected fast transcription" tab (DownloadLicense=True, Mounts:License).
            disconnected_supported=True,
            query_paths=(FAST_TRANSCRIPTION_PATH,),
            image_disk_gib=20,
            latest_version="1.0.0",
            kind_preview=True,
            example_tag="en-gpu-1.0.0-preview",
            # The article documents only GET /stt/health; whether /ready and /status (speech-container-howto.md's
            # checks for every Speech container) also answer is unverified, so they are not relied on.
            ready_path=FAST_TRANSCRIPTION_HEALTH_PATH,
            has_status=False,
            # "GPU required. The fast transcription container doesn't support CPU." (docker run --gpus all)
            needs_gpu=True,
            gpu_requirement="an NVIDIA GPU (T4 or better)",
            default_env=(("ASPNETCORE_URLS", "http://+:5000"),),
            # "DECODER_COUNT | 2 | Number of parallel decoder instances; at least 2 required for dual-channel audio".
            decoder_env="DECODER_COUNT",
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
            latest_version="1.3.0",
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
            latest_version="1.3.0",
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
        raise CatalogError("version %r is not of the form x.y.z (for example 5.1.0)" % version)
    return version


def normalize_locale(locale: str) -> str:
    """Return the tag form (lowercase) of a locale given as en-us or en-US."""
    if not isinstance(locale, str) or not LOCALE_RE.match(locale):
        raise CatalogError("locale %r is not a locale like en-us, en-US or zh-CN-sichuan" % (locale,))
    return locale.lower()


def _normalize_tag_locale(spec: ContainerKind, locale: str) -> str:
    """A locale, or for fast transcription also a model group (en, multilingual-15-locales)."""
    if spec.name == "fast-transcription" and isinstance(locale, str) and MODEL_GROUP_RE.match(locale.lower()):
        return locale.lower()
    return normalize_locale(locale)


def display_locale(locale: str) -> str:
    """en-us -> en-US, zh-hans-cn -> zh-Hans-CN, zh-cn-sichuan -> zh-CN-sichuan (the casing of SSML voice names)."""
    parts = normalize_locale(locale).split("-")
    shown = [parts[0]]
    for part in parts[1:]:
        shown.append(part.upper() if len(part) == 2 else part.capitalize() if len(part) == 4 else part)
    return "-".join(shown)


def normalize_voice(voice: str) -> str:
    if not isinstance(voice, str) or not VOICE_RE.match(voice):
        raise CatalogError(
            "voice %r is not a voice name like AriaNeural (letters and digits, starting with a letter)" % (voice,)
        )
    return voice.lower()


def is_multilingual_voice(voice: str) -> bool:
    return "multilingual" in str(voice).lower()


def ssml_voice_name(locale: str, voice: str) -> str:
    """The SSML <voice name=...> the image answers to, in Microsoft's casing (voice names are case-sensitive).

    A voice in lowercase (the tag form) is looked up in SSML_VOICE_NAMES; one that is not listed is an error, since
    its casing cannot be derived. A voice in display case is used as given, unless the table knows another casing.
    """
    key = "%s-%s" % (normalize_locale(locale), normalize_voice(voice))
    known = _VOICES_BY_TAG_FORM.get(key)
    if voice != voice.lower():
        name = "%s-%s" % (display_locale(locale), voice)
        if known is not None and known != name:
            raise CatalogError(
                "voice %r is not Microsoft's casing and the container refuses a case mismatch: give voice: %s"
                % (voice, known[len(locale) + 1 :])
            )
        return name
    if known is None:
        raise CatalogError(
            "voice %r of locale %s is in lowercase and not in the collection's table of Microsoft's voice names, so "
            "its SSML name cannot be derived: give the voice in Microsoft's casing (for example "
            "voice: AndrewMultilingualNeural, as listed at %s)" % (voice, locale, VOICE_LIST_URL)
        )
    return known


@dataclass(frozen=True)
class TagInfo:
    kind: str
    version: str
    locale: str | None = None
    voice: str | None = None
    preview: bool = False
    # The tag form ("" = the kind's default for the preview flag).
    form: str = ""

    @property
    def tag(self) -> str:
        return build_tag(self.kind, self.version, self.locale, self.voice, self.preview, self.form or None)


def build_tag(
    kind: str,
    version: str,
    locale: str | None = None,
    voice: str | None = None,
    preview: bool = False,
    form: str | None = None,
) -> str:
    """Build the image tag of a kind from its parts; every part is validated (and unsupported versions refused)."""
    spec = get_kind(kind)
    version = validate_version(version)
    spec.check_supported(version)
    form = form or (spec.preview_form if preview else spec.tag_forms[0])
    if form not in spec.tag_forms:
        raise CatalogError("%s tags have no %s form (format %s)" % (kind, form, spec.tag_format))
    parts: list[str] = []
    given = {"locale": locale, "voice": voice}
    for part in ("locale", "voice"):
        value = given[part]
        if part in spec.tag_parts:
            if not value:
                raise CatalogError(
                    "%s images need a %s: their tag format is %s (for example %s)"
                    % (kind, part, spec.tag_format, spec.example_tag)
                )
            parts.append(_normalize_tag_locale(spec, value) if part == "locale" else normalize_voice(value))
        elif value:
            raise CatalogError(
                "%s images have no %s in their tag (format %s): remove %s=%r"
                % (kind, part, spec.tag_format, part, value)
            )
    if form == FORM_PRERELEASE:
        return "-".join([version, "preview", "amd64", *parts])
    if form == FORM_MODEL_GPU:
        return "-".join([*parts, "gpu", version, "preview"])
    if form == FORM_GPU:
        if preview:
            raise CatalogError("%s tags of the form %s have no -preview" % (kind, TAG_FORM_FORMATS[FORM_GPU]))
        return "-".join(["gpu", version, *parts])
    if preview and spec.preview_suffix == "never":
        raise CatalogError("%s images have no -preview tags (format %s)" % (kind, spec.tag_format))
    if preview or spec.preview_suffix == "required":
        parts.append("preview")
    return "-".join([version, "amd64", *parts])


def _split_parts(spec: ContainerKind, rest: list[str]) -> tuple[str | None, str | None] | None:
    """Locale and voice of the pieces after the platform, or None when they do not fit the kind."""
    locale = voice = None
    if "voice" in spec.tag_parts:
        # Retired standard voices may be two pieces (ravi-apollo).
        width = 2 if len(rest) > 2 and rest[-1] == "apollo" else 1
        voice, rest = "-".join(rest[-width:]), rest[:-width]
    if "locale" in spec.tag_parts:
        locale, rest = "-".join(rest), []
        if not locale:
            return None
    return None if rest else (locale, voice)


def _parse_form(spec: ContainerKind, form: str, pieces: list[str]) -> tuple[str, str | None, str | None, bool] | None:
    """(version, locale, voice, preview) when the pieces have the given form, else None."""
    if form == FORM_GPU:
        if len(pieces) < 3 or pieces[0] != "gpu" or not VERSION_RE.match(pieces[1]):
            return None
        return pieces[1], "-".join(pieces[2:]), None, False
    if form == FORM_MODEL_GPU:
        if len(pieces) < 4 or pieces[-1] != "preview" or pieces[-3] != "gpu" or not VERSION_RE.match(pieces[-2]):
            return None
        return pieces[-2], "-".join(pieces[:-3]), None, True
    if not pieces or not VERSION_RE.match(pieces[0]):
        return None
    preview = False
    if form == FORM_PRERELEASE:
        if pieces[1:3] != ["preview", "amd64"]:
            return None
        rest, preview = pieces[3:], True
    else:
        if pieces[1:2] != ["amd64"]:
            return None
        rest = pieces[2:]
        if rest and rest[-1] == "preview" and spec.preview_suffix != "never":
            rest, preview = rest[:-1], True
    parts = _split_parts(spec, rest)
    return None if parts is None else (pieces[0], parts[0], parts[1], preview)


def parse_tag(kind: str, tag: str) -> TagInfo:
    """Parse a tag of a kind back into its parts (the inverse of build_tag)."""
    spec = get_kind(kind)
    error = CatalogError(
        "tag %r does not match the %s tag format %s (for example %s)" % (tag, kind, spec.tag_format, spec.example_tag)
    )
    if not isinstance(tag, str) or tag != tag.lower():
        raise error
    for form in spec.tag_forms:
        parsed = _parse_form(spec, form, tag.split("-"))
        if parsed is None:
            continue
        version, locale, voice, preview = parsed
        spec.check_supported(version)
        try:
            info = TagInfo(kind, version, locale, voice, preview, form if form != spec.tag_forms[0] else "")
            if info.tag == tag:
                return info
        except CatalogError:
            continue
    raise error


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
