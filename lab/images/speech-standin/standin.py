"""Stand-in for Microsoft's Speech containers, used by the local edge lab.

Microsoft's registry is unreachable from the lab, so the lab builds images that honour the documented
run contract of the real containers (docs/ARCHITECTURE.md, /work/shared/speech-containers.md): the same
`Key=Value` arguments, the same failure messages, the same endpoints. One program serves every kind; the
image tag bakes the kind in through environment variables (see lab/images/README.md).

Python 3 standard library only: it runs on Debian bookworm's python3 without pip.

Stand-in shortcuts (deliberate, documented):
- TLS to the billing endpoint is verified against STANDIN_CA_FILE when set, otherwise NOT verified.
- Speech is synthesised with espeak-ng and sox; recognition answers a fixed phrase.
- Fluentd and Application Insights settings are accepted and logged, nothing is sent.
- DECODER_MAX_COUNT is validated and logged, not enforced.
- Usage is not reported periodically; /status asks the billing endpoint on demand (cached briefly).
- Disconnected mode: the license is a JSON document from the lab cloud (Microsoft's is an opaque file), and
  usage records are JSON lines under <output>/usage/ (Microsoft documents only the /records/usage-logs report).
"""

from __future__ import annotations

import audioop
import email.parser
import email.policy
import json
import logging
import os
import re
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

# The sibling modules (websocket.py, usp.py, sessions.py, recognizer.py, langid.py) sit next to this file; tests
# load it by path, so the directory is put on the path explicitly.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sessions
import usp
from websocket import WebSocket, accept_key, valid_key

LOG = logging.getLogger("standin")

TTS_KINDS = ("neural-text-to-speech", "text-to-speech", "custom-text-to-speech")
STT_KINDS = ("speech-to-text", "custom-speech-to-text")
CUSTOM_KINDS = ("custom-speech-to-text", "custom-text-to-speech")
LANGUAGE_DETECTION = "language-detection"
FAST_TRANSCRIPTION = "fast-transcription"
KINDS = STT_KINDS + TTS_KINDS + (LANGUAGE_DETECTION, FAST_TRANSCRIPTION)
# Mirrors ContainerKind.disconnected_supported in plugins/module_utils/_catalog.py.
DISCONNECTED_KINDS = ("speech-to-text", "custom-speech-to-text", "neural-text-to-speech", FAST_TRANSCRIPTION)

# REST synthesis (speech-container-howto.md) and the SDKs' synthesis WebSocket (Python, JavaScript).
TTS_PATH = "/speech/synthesize/cognitiveservices/v1"
TTS_WEBSOCKET_PATHS = ("/cognitiveservices/websocket/v1", "/tts/cognitiveservices/websocket/v1")
# Neural TTS 3.10 and later: GET /synthesize/health, 200 when synthesis works, 503 otherwise.
SYNTHESIS_HEALTH_PATH = "/synthesize/health"
SYNTHESIS_HEALTH_SINCE = (3, 10)
STT_MODES = ("interactive", "conversation", "dictation")
STT_PATHS = {"/speech/recognition/%s/cognitiveservices/v1" % mode: mode for mode in STT_MODES}
# Python's SourceLanguageRecognizer opens /speech/universal/v2; JavaScript's auto-detect opens the recognition
# paths with ?lidEnabled=true. No Microsoft source documents a REST path for language detection.
LANGUAGE_DETECTION_PATHS = {"/speech/universal/v2": "interactive", **STT_PATHS}
# Fast transcription (speech-container-ft.md): REST only.
FAST_TRANSCRIPTION_PATH = "/stt/transcriptions:transcribe"
FAST_TRANSCRIPTION_API_VERSIONS = ("2024-11-15",)
FAST_TRANSCRIPTION_HEALTH_PATH = "/stt/health"

# REST output formats: the 16-bit mono PCM family (sessions.output_format).
# The real containers' format when a client sends no X-Microsoft-OutputFormat is unverified.
DEFAULT_OUTPUT_FORMAT = "riff-16khz-16bit-mono-pcm"

# Every documented setting, in the spelling the startup log shows. Lookup is case-insensitive.
KNOWN_SETTINGS = (
    "Eula",
    "Billing",
    "ApiKey",
    "Mounts:Output",
    "Mounts:License",
    "DownloadLicense",
    "ModelId",
    "Logging:Disk:Format",
    "Logging:Console:LogLevel:Default",
    "HTTP_PROXY",
    "HTTP_PROXY_CREDS",
    "Fluentd:Host",
    "Fluentd:Port",
    "ApplicationInsights:InstrumentationKey",
    "DECODER_MAX_COUNT",
)
SECRET_SETTINGS = ("ApiKey", "HTTP_PROXY_CREDS", "ApplicationInsights:InstrumentationKey")
_CANONICAL = {name.lower(): name for name in KNOWN_SETTINGS}

CONSOLE_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}

MODEL_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# SSML also names voices in long form: "Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)".
LONG_VOICE_NAME_RE = re.compile(
    r"^Microsoft Server Speech Text to Speech Voice \(\s*([^,\s]+)\s*,\s*([^)\s]+)\s*\)$", re.I
)

MAX_BODY_BYTES = 16 * 1024 * 1024
BILLING_TIMEOUT_SECONDS = 2.0
MODEL_DOWNLOAD_TIMEOUT_SECONDS = 15.0
LICENSE_DOWNLOAD_TIMEOUT_SECONDS = 15.0
# A start this close to the license's expiry logs a warning, so operators download a new one in time.
LICENSE_WARNING_DAYS = 7.0

# Usage meters of disconnected containers. Microsoft documents the report's shape (apiType, serviceName,
# meters[{name, quantity}]) but not the Speech meter names or apiType values: these are the lab's choice.
USAGE_API_TYPE = "speech"
METER_AUDIO_SECONDS = "Speech.SpeechToText.AudioSeconds"
METER_CHARACTERS = "Speech.TextToSpeech.Characters"
USAGE_LOGS_PATH = "/records/usage-logs"
USAGE_MONTH_RE = re.compile(r"^(0?[1-9]|1[0-2])$")
USAGE_YEAR_RE = re.compile(r"^[0-9]{4}$")
USAGE_FILE_RE = re.compile(r"^([0-9]{4})-([0-9]{2})\.jsonl$")
SYNTHESIS_TIMEOUT_SECONDS = 30.0


class StartupError(Exception):
    """A reason not to start; main() prints it on stderr and exits non-zero, like the real container."""


# --------------------------------------------------------------------------------------------------
# Logging with redaction


class Redactor:
    """Replaces secret values in every log line: defence in depth on top of never formatting them."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def add(self, secret: str) -> None:
        # Very short values would garble unrelated text; they are still never logged by construction.
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class RedactingFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._redact = redactor

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(RedactingFormatter):
    """One JSON object a line for Logging:Disk:Format=json."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry))


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def configure_console_logging(redactor: Redactor) -> None:
    """Information to stdout, warnings and errors to stderr: both end up in `docker logs`."""
    formatter = RedactingFormatter(redactor, "%(asctime)s %(levelname)s %(message)s")
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(_BelowWarning())
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(formatter)
        LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False


# --------------------------------------------------------------------------------------------------
# Identity (baked into the image) and settings (given at `docker run`)


def display_locale(locale: str) -> str:
    """en-us -> en-US, zh-hans-cn -> zh-Hans-CN (same rule as the catalog's display_locale)."""
    parts = locale.lower().split("-")
    if len(parts) < 2:
        return parts[0]
    return "-".join([parts[0]] + [part.capitalize() for part in parts[1:-1]] + [parts[-1].upper()])


@dataclass(frozen=True)
class Identity:
    kind: str
    version: str
    locale: str
    voice: str
    # The SSML voice name in Microsoft's casing (en-US-AriaNeural), baked in from the catalog's voice table:
    # casing follows no rule (en-US-AndrewMultilingualNeural, zh-HK-HiuMaanNeural), so it is never derived here.
    ssml_voice: str = ""

    @property
    def is_tts(self) -> bool:
        return self.kind in TTS_KINDS

    @property
    def is_stt(self) -> bool:
        return self.kind in STT_KINDS

    @property
    def is_custom(self) -> bool:
        return self.kind in CUSTOM_KINDS

    @property
    def version_tuple(self) -> tuple[int, ...]:
        try:
            return tuple(int(part) for part in self.version.split("."))
        except ValueError:
            return ()

    def voice_matches(self, name: str) -> bool:
        """Voice names are case-sensitive, in Microsoft's casing: en-us-arianeural is not en-US-AriaNeural.

        The long form "Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)" names the same voice.
        Custom voices have customer-chosen names: a custom-text-to-speech image accepts any name that ends
        with SPEECH_VOICE, or any name at all when SPEECH_VOICE is empty.
        """
        name = name.strip()
        long_form = LONG_VOICE_NAME_RE.match(name)
        if long_form:
            name = "%s-%s" % long_form.groups()
        if self.kind == "custom-text-to-speech":
            return bool(name) and name.endswith(self.voice)
        return name == self.ssml_voice

    def describe(self) -> str:
        return "kind=%s version=%s locale=%s voice=%s" % (
            self.kind,
            self.version or "-",
            self.locale or "-",
            self.ssml_voice or self.voice or "-",
        )


def identity_from_env(env: Mapping[str, str]) -> Identity:
    kind = env.get("SPEECH_KIND", "").strip()
    if kind not in KINDS:
        raise StartupError("SPEECH_KIND %r is not a speech container kind (one of: %s)" % (kind, ", ".join(KINDS)))
    identity = Identity(
        kind=kind,
        version=env.get("SPEECH_VERSION", "").strip(),
        locale=env.get("SPEECH_LOCALE", "").strip().lower(),
        voice=env.get("SPEECH_VOICE", "").strip(),
        ssml_voice=env.get("SPEECH_SSML_VOICE", "").strip(),
    )
    if identity.is_tts and kind != "custom-text-to-speech" and not identity.ssml_voice:
        raise StartupError("SPEECH_SSML_VOICE is empty: a %s image bakes in its voice name (en-US-AriaNeural)" % kind)
    return identity


def canonical_setting(key: str) -> str | None:
    """Case-insensitive, ASP.NET style: `Mounts:Output`, `mounts:output` and `Mounts__Output` are one key."""
    return _CANONICAL.get(key.strip().lstrip("-/").replace("__", ":").lower())


def parse_settings(argv: Sequence[str], env: Mapping[str, str], redactor: Redactor) -> dict[str, str]:
    """Merge settings from environment variables and `Key=Value` arguments; arguments win.

    Values of secret settings are registered with the redactor before anything can log them.
    Warnings name only the key or the argument's position: a mistyped key may carry a secret value.
    """
    settings: dict[str, str] = {}

    def put(key: str, value: str) -> None:
        if key in SECRET_SETTINGS:
            redactor.add(value)
        elif key == "HTTP_PROXY":
            redactor.add(urllib.parse.urlsplit(value).password or "")
        settings[key] = value

    for name, value in env.items():
        key = canonical_setting(name)
        if key:
            put(key, value)
    for position, arg in enumerate(argv, start=1):
        name, sep, value = arg.partition("=")
        if not sep or not name.strip():
            LOG.warning("Ignoring argument #%d: not of the form Key=Value", position)
            continue
        key = canonical_setting(name)
        if key is None:
            LOG.warning("Ignoring unknown setting %r", name.strip()[:64])
            continue
        put(key, value)
    return settings


def redact_url(url: str) -> str:
    """Drop user:password from a URL before it is logged."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = "***@" + host + (":%d" % parts.port if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def describe_settings(settings: Mapping[str, str]) -> str:
    shown = []
    for key in KNOWN_SETTINGS:
        if key not in settings:
            continue
        value = settings[key]
        if key in SECRET_SETTINGS:
            value = "***"
        elif key in ("Billing", "HTTP_PROXY"):
            value = redact_url(value)
        shown.append("%s=%s" % (key, value))
    return " ".join(shown) or "(none)"


def is_true(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes")


@dataclass(frozen=True)
class Config:
    identity: Identity
    settings: dict[str, str]
    mode: str  # "connected", "disconnected" or "download-license"
    host: str
    port: int
    warmup_seconds: float | None  # None: never ready
    models_dir: Path
    output_dir: Path | None
    license_dir: Path | None
    ca_file: str | None
    status_cache_seconds: float
    console_level: int
    decoder_max_count: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def billing(self) -> str:
        return self.settings.get("Billing", "").strip()

    @property
    def api_key(self) -> str:
        return self.settings.get("ApiKey", "")

    @property
    def model_id(self) -> str:
        return self.settings.get("ModelId", "").strip()

    @property
    def disk_logging(self) -> bool:
        return bool(self.settings.get("Logging:Disk:Format", "").strip())


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise StartupError("%s=%r is not a number" % (name, raw)) from None
    if value < 0:
        raise StartupError("%s=%r must not be negative" % (name, raw))
    return value


def _warmup_from_env(env: Mapping[str, str]) -> float | None:
    if env.get("STANDIN_WARMUP_SECONDS", "").strip().lower() == "never":
        return None
    return _float_env(env, "STANDIN_WARMUP_SECONDS", 2.0)


def _port_from_env(env: Mapping[str, str], kind: str) -> int:
    raw = env.get("STANDIN_PORT", "").strip()
    if not raw:
        return 5003 if kind == LANGUAGE_DETECTION else 5000
    if not raw.isdigit() or int(raw) > 65535:
        raise StartupError("STANDIN_PORT=%r is not a TCP port" % raw)
    return int(raw)


def _mount_dir(settings: Mapping[str, str], key: str, env: Mapping[str, str], override: str) -> Path | None:
    """The directory backing a Mounts:* setting.

    Normally the setting's own value (the container path, e.g. /output). STANDIN_OUTPUT_DIR and
    STANDIN_LICENSE_DIR override it so tests can run with the real arguments outside a container.
    """
    value = settings.get(key, "").strip()
    if not value:
        return None
    return Path(env.get(override, "").strip() or value)


def _determine_mode(identity: Identity, settings: Mapping[str, str], license_dir: Path | None) -> str:
    download = is_true(settings.get("DownloadLicense", ""))
    has_billing = bool(settings.get("Billing", "").strip() or settings.get("ApiKey", ""))
    if download:
        if license_dir is None:
            raise StartupError("DownloadLicense=True needs a license mount: pass Mounts:License=/license")
        mode = "download-license"
    elif license_dir is not None and not has_billing:
        mode = "disconnected"
    else:
        return "connected"
    if identity.kind not in DISCONNECTED_KINDS:
        raise StartupError("Disconnected mode is not available for %s containers" % identity.kind)
    return mode


def _check_required(mode: str, settings: Mapping[str, str], output_dir: Path | None) -> None:
    if settings.get("Eula", "").strip().lower() != "accept":
        raise StartupError("Eula not accepted: pass Eula=accept (the operator must accept the license terms)")
    if mode == "disconnected":
        if output_dir is None:
            raise StartupError("Disconnected mode needs an output mount for usage records: pass Mounts:Output=/output")
        return
    billing = settings.get("Billing", "").strip()
    if not billing:
        raise StartupError("Billing endpoint missing: pass Billing=<Speech resource endpoint URI>")
    parts = urllib.parse.urlsplit(billing)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StartupError("Billing=%s is not an http(s) URL" % redact_url(billing))
    if not settings.get("ApiKey", "").strip():
        raise StartupError("ApiKey missing: pass ApiKey=<key of the Speech resource>")


def _check_optional(identity: Identity, settings: Mapping[str, str], output_dir: Path | None) -> list[str]:
    """Validate optional settings; fatal problems raise, harmless ones come back as warnings."""
    warnings = []
    disk_format = settings.get("Logging:Disk:Format", "").strip()
    if disk_format:
        if disk_format.lower() != "json":
            raise StartupError("Logging:Disk:Format=%s is not supported: use Logging:Disk:Format=json" % disk_format)
        if output_dir is None:
            raise StartupError("Logging:Disk:Format=json needs an output mount: pass Mounts:Output=/output")
    model_id = settings.get("ModelId", "").strip()
    if model_id and not MODEL_ID_RE.match(model_id):
        raise StartupError("ModelId=%r must be 1-64 letters, digits or dashes" % model_id[:80])
    if model_id and not identity.is_custom:
        warnings.append("ModelId is ignored by %s containers (they ship a built-in model)" % identity.kind)
    port = settings.get("Fluentd:Port", "").strip()
    if port and not port.isdigit():
        warnings.append("Fluentd:Port=%r is not a port number; ignored" % port[:16])
    if settings.get("HTTP_PROXY_CREDS") and not settings.get("HTTP_PROXY"):
        warnings.append("HTTP_PROXY_CREDS is set without HTTP_PROXY; ignored")
    return warnings


def _console_level(settings: Mapping[str, str], warnings: list[str]) -> int:
    raw = settings.get("Logging:Console:LogLevel:Default", "").strip()
    if not raw:
        return logging.INFO
    if raw.lower() not in CONSOLE_LEVELS:
        warnings.append("Logging:Console:LogLevel:Default=%s is not a log level; using Information" % raw[:32])
        return logging.INFO
    return CONSOLE_LEVELS[raw.lower()]


def _decoder_max_count(settings: Mapping[str, str], warnings: list[str]) -> int | None:
    raw = settings.get("DECODER_MAX_COUNT", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        warnings.append("DECODER_MAX_COUNT=%r is not a positive integer; ignored" % raw[:16])
        return None
    return int(raw)


def load_config(argv: Sequence[str], env: Mapping[str, str], redactor: Redactor) -> Config:
    identity = identity_from_env(env)
    settings = parse_settings(argv, env, redactor)
    output_dir = _mount_dir(settings, "Mounts:Output", env, "STANDIN_OUTPUT_DIR")
    license_dir = _mount_dir(settings, "Mounts:License", env, "STANDIN_LICENSE_DIR")
    mode = _determine_mode(identity, settings, license_dir)
    _check_required(mode, settings, output_dir)
    warnings = _check_optional(identity, settings, output_dir)
    return Config(
        identity=identity,
        settings=settings,
        mode=mode,
        host=env.get("STANDIN_HOST", "").strip() or "0.0.0.0",
        port=_port_from_env(env, identity.kind),
        warmup_seconds=_warmup_from_env(env),
        models_dir=Path(env.get("STANDIN_MODELS_DIR", "").strip() or "/usr/local/models"),
        output_dir=output_dir,
        license_dir=license_dir,
        ca_file=env.get("STANDIN_CA_FILE", "").strip() or None,
        status_cache_seconds=_float_env(env, "STANDIN_STATUS_CACHE_SECONDS", 5.0),
        console_level=_console_level(settings, warnings),
        decoder_max_count=_decoder_max_count(settings, warnings),
        warnings=warnings,
    )


# --------------------------------------------------------------------------------------------------
# Files on mounts


def permission_error(path: Path, what: str) -> StartupError:
    return StartupError(
        "permission denied: cannot write %s in %s (the container runs as uid %d, gid %d): "
        "make the mount writable by that user" % (what, path, os.getuid(), os.getgid())
    )


def ensure_writable_dir(path: Path, what: str) -> None:
    """Fail early and clearly when a mount is not writable by the non-root user."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".standin-write-check-"):
            pass
    except PermissionError:
        raise permission_error(path, what) from None
    except OSError as exc:
        raise StartupError("cannot write %s in %s: %s" % (what, path, exc.strerror or exc)) from None


def write_atomically(path: Path, data: bytes) -> None:
    """Readers never see half a file: a restart or failure during a download leaves no partial file behind.

    A unique temporary file in the same directory (same filesystem, so the rename is atomic), flushed to disk
    before the rename; any failure removes it.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".%s." % path.name, suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_utc(value: Any) -> datetime | None:
    """An ISO-8601 timestamp ("Z" or an offset; naive means UTC); None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_disk_logging(config: Config, redactor: Redactor) -> Path:
    assert config.output_dir is not None
    log_dir = config.output_dir / "logs"
    ensure_writable_dir(log_dir, "disk logs")
    path = log_dir / ("%s-%s.json" % (config.identity.kind, socket.gethostname()))
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter(redactor))
    handler.setLevel(config.console_level)
    LOG.addHandler(handler)
    return path


# --------------------------------------------------------------------------------------------------
# Lab cloud client (billing validation, model and license download)


def billing_base(billing: str) -> str:
    """scheme://host[:port] of the Billing URI: the lab cloud serves its API at the root.

    Real Billing URIs carry a path (…/sts/v1.0/issuetoken or a trailing /); it is not needed here.
    """
    parts = urllib.parse.urlsplit(billing)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = "[%s]" % netloc
    if parts.port:
        netloc += ":%d" % parts.port
    return "%s://%s" % (parts.scheme, netloc)


def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify against the lab CA when STANDIN_CA_FILE is given.

    Without it the stand-in does NOT verify the billing endpoint's certificate: a stand-in shortcut
    so the lab works before its CA is baked in. The real containers verify against public CAs.
    """
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def build_opener(settings: Mapping[str, str], ca_file: str | None) -> urllib.request.OpenerDirector:
    """HTTP_PROXY (and HTTP_PROXY_CREDS as user:password) route the cloud calls, as documented."""
    proxies: dict[str, str] = {}
    proxy = settings.get("HTTP_PROXY", "").strip()
    if proxy:
        if "://" not in proxy:
            proxy = "http://" + proxy
        creds = settings.get("HTTP_PROXY_CREDS", "")
        if creds and "@" not in proxy:
            scheme, _unused, rest = proxy.partition("://")
            user, _unused, password = creds.partition(":")
            login = urllib.parse.quote(user, safe="") + ":" + urllib.parse.quote(password, safe="")
            proxy = "%s://%s@%s" % (scheme, login, rest)
        proxies = {"http": proxy, "https": proxy}
    # An explicit (possibly empty) proxy map: ambient proxy variables are settings, not urllib defaults.
    return urllib.request.build_opener(
        urllib.request.ProxyHandler(proxies),
        urllib.request.HTTPSHandler(context=ssl_context(ca_file)),
    )


class CloudClient:
    def __init__(self, config: Config) -> None:
        self._base = billing_base(config.billing) if config.billing else ""
        self._api_key = config.api_key
        self._opener = build_opener(config.settings, config.ca_file)

    @property
    def base(self) -> str:
        return self._base

    def validate_key(self) -> tuple[str, str]:
        """Ask POST /billing/validate; returns (apiStatus, apiStatusMessage)."""
        body = json.dumps({"apiKey": self._api_key}).encode()
        request = urllib.request.Request(
            self._base + "/billing/validate",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=BILLING_TIMEOUT_SECONDS) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return _status_from_http_error(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return "CouldNotConnect", "Could not connect to the billing endpoint %s: %s" % (self._base, reason)
        except ValueError:
            return "Unknown", "The billing endpoint answered something that is not JSON"
        if not isinstance(answer, dict):
            return "Unknown", "The billing endpoint's answer is not a JSON object"
        if answer.get("valid") is True:
            return "Valid", "Api Key is valid, no action needed."
        if answer.get("valid") is False:
            return "Invalid", "The Api Key is invalid for the billing endpoint %s." % self._base
        return "Unknown", "The billing endpoint's answer has no 'valid' field"

    def fetch_license(self, kind: str, version: str) -> dict[str, Any]:
        """POST /licenses: the lab cloud validates the key (as billing does) and issues a license for kind+version."""
        body = json.dumps({"apiKey": self._api_key, "kind": kind, "version": version}).encode()
        request = urllib.request.Request(
            self._base + "/licenses",
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=LICENSE_DOWNLOAD_TIMEOUT_SECONDS) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise StartupError(
                    "Could not download a license: the billing endpoint %s refused the ApiKey (HTTP %d)"
                    % (self._base, exc.code)
                ) from None
            raise StartupError(
                "Could not download a license: the billing endpoint %s answered HTTP %d" % (self._base, exc.code)
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StartupError(
                "Could not download a license: cannot reach the billing endpoint %s: %s" % (self._base, reason)
            ) from None
        try:
            document = json.loads(data.decode("utf-8"))
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise StartupError("Could not download a license: the answer of %s is not a JSON object" % self._base)
        return document

    def fetch_model(self, model_id: str) -> bytes:
        url = "%s/models/%s" % (self._base, urllib.parse.quote(model_id, safe=""))
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=MODEL_DOWNLOAD_TIMEOUT_SECONDS) as response:
                data = response.read()
        except urllib.error.HTTPError as exc:
            raise StartupError(
                "Could not download model %s: HTTP %d from %s" % (model_id, exc.code, self._base)
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StartupError("Could not download model %s from %s: %s" % (model_id, self._base, reason)) from None
        try:
            json.loads(data.decode("utf-8"))
        except ValueError:
            raise StartupError("Model %s from %s is not a JSON document" % (model_id, self._base)) from None
        return data


def _status_from_http_error(code: int) -> tuple[str, str]:
    if code in (401, 403):
        return "Invalid", "The billing endpoint refused the Api Key (HTTP %d)." % code
    if code == 429:
        return "OutOfQuota", "The billing endpoint reports the quota is used up (HTTP 429)."
    if code >= 500:
        return "BillingEndpointBusy", "The billing endpoint is busy (HTTP %d)." % code
    return "Unknown", "The billing endpoint answered HTTP %d." % code


class StatusCache:
    """/status results live a few seconds: clients poll it, the billing endpoint should not see every poll."""

    def __init__(self, fetch: Callable[[], tuple[str, str]], ttl: float) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[str, str] | None = None
        self._at = 0.0

    def get(self) -> tuple[str, str]:
        with self._lock:  # one billing call at a time; concurrent pollers share its answer
            if self._value is None or time.monotonic() - self._at >= self._ttl:
                value = self._fetch()
                if self._value is None or value[0] != self._value[0]:
                    LOG.info("apiStatus %s: %s", *value)  # changes only: pollers would flood the log
                self._value, self._at = value, time.monotonic()
            return self._value


# --------------------------------------------------------------------------------------------------
# Models


def prepare_model(config: Config, cloud: CloudClient | None) -> str:
    """Make sure a model is in place; returns its id. Custom kinds download theirs once."""
    properties = config.models_dir / "properties.json"
    model_id = read_model_id(properties)
    if not config.identity.is_custom:
        if model_id is None:
            raise StartupError("Model configuration %s not found" % properties)
        LOG.info("Using built-in model %s from %s", model_id, config.models_dir)
        return model_id
    if model_id is not None:
        suffix = ", ModelId ignored" if config.model_id else ""
        LOG.info("Using existing model %s%s", model_id, suffix)
        return model_id
    if not config.model_id:
        raise StartupError(
            "No model in %s: pass ModelId=<custom model id> to download one (and mount a volume there)"
            % config.models_dir
        )
    if cloud is None:
        raise StartupError("No model in %s and disconnected: download the model while connected" % config.models_dir)
    download_model(config.models_dir, config.model_id, cloud)
    return config.model_id


def read_model_id(properties: Path) -> str | None:
    """The model id in properties.json; None when there is no model yet."""
    try:
        text = properties.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        raise StartupError(
            "permission denied: cannot read %s (the container runs as uid %d): make the mount readable by that user"
            % (properties, os.getuid())
        ) from None
    except OSError as exc:
        raise StartupError("Model configuration %s is unreadable: %s" % (properties, exc.strerror or exc)) from None
    try:
        return str(json.loads(text).get("modelId", "unknown"))
    except (ValueError, AttributeError):
        raise StartupError("Model configuration %s is not a JSON object" % properties) from None


def download_model(models_dir: Path, model_id: str, cloud: CloudClient) -> None:
    ensure_writable_dir(models_dir, "the model")
    LOG.info("Downloading model %s from %s", model_id, cloud.base)
    document = cloud.fetch_model(model_id)
    model_file = "%s.model" % model_id
    properties = {"modelId": model_id, "downloadedAt": utc_now(), "modelFile": model_file, "source": cloud.base}
    try:
        write_atomically(models_dir / model_file, document)
        # properties.json last: its presence means the model is complete.
        write_atomically(models_dir / "properties.json", json.dumps(properties, indent=2).encode())
    except PermissionError:
        raise permission_error(models_dir, "the model") from None
    LOG.info("Model %s downloaded into %s", model_id, models_dir)


# --------------------------------------------------------------------------------------------------
# Disconnected mode


def license_path(config: Config) -> Path:
    assert config.license_dir is not None
    return config.license_dir / ("%s.license.json" % config.identity.kind)


def download_license(config: Config, cloud: CloudClient) -> Path:
    """DownloadLicense=True: ask the cloud for a license bound to this image's kind and version, store it atomically.

    The mount is checked first (a license is not fetched only to be lost); any failure writes nothing.
    """
    identity = config.identity
    path = license_path(config)
    ensure_writable_dir(path.parent, "the license")
    document = cloud.fetch_license(identity.kind, identity.version)
    if document.get("kind") != identity.kind or document.get("version") != identity.version:
        raise StartupError(
            "Could not download a license: %s issued one for %s %s, not %s %s"
            % (cloud.base, document.get("kind"), document.get("version"), identity.kind, identity.version)
        )
    if parse_utc(document.get("expiresAt")) is None:
        raise StartupError("Could not download a license: the license from %s has no valid expiresAt" % cloud.base)
    try:
        write_atomically(path, json.dumps(document, indent=2).encode())
    except PermissionError:
        raise permission_error(path.parent, "the license") from None
    except OSError as exc:
        raise StartupError("cannot write the license %s: %s" % (path, exc.strerror or exc)) from None
    LOG.info(
        "License for %s %s written to %s (expires %s); run again with Mounts:License and Mounts:Output, "
        "without Billing/ApiKey",
        identity.kind,
        identity.version,
        path,
        document.get("expiresAt"),
    )
    return path


def check_license(config: Config, now: datetime | None = None) -> str:
    """The license must exist, match this image's kind and version (downloaded again after upgrades), not be expired.

    Returns the /status message. Microsoft does not document the real containers' messages for these failures.
    """
    path = license_path(config)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StartupError("No license at %s: run once with DownloadLicense=True Mounts:License" % path) from None
    except PermissionError:
        raise StartupError("permission denied: cannot read the license %s (uid %d)" % (path, os.getuid())) from None
    except (OSError, ValueError) as exc:
        raise StartupError("License %s is unreadable: %s" % (path, exc)) from None
    if not isinstance(document, dict):
        raise StartupError("License %s is not a JSON object" % path)
    if document.get("kind") != config.identity.kind or document.get("version") != config.identity.version:
        raise StartupError(
            "License %s was issued for %s %s, not %s %s: download the license again after an image upgrade"
            % (path, document.get("kind"), document.get("version"), config.identity.kind, config.identity.version)
        )
    expires = parse_utc(document.get("expiresAt"))
    if expires is None:
        raise StartupError(
            "License %s has no valid expiry date: download the license again (DownloadLicense=True)" % path
        )
    now = now or datetime.now(UTC)
    if expires <= now:
        raise StartupError(
            "License %s expired at %s: download a new license (run once with DownloadLicense=True, Billing, ApiKey "
            "and Mounts:License)" % (path, document.get("expiresAt"))
        )
    days_left = (expires - now).total_seconds() / 86400
    if days_left < LICENSE_WARNING_DAYS:
        LOG.warning(
            "License %s expires at %s (in %.1f days): download a new one with DownloadLicense=True",
            path,
            document.get("expiresAt"),
            days_left,
        )
    LOG.info("License for %s %s valid until %s", config.identity.kind, config.identity.version, document["expiresAt"])
    return "Disconnected container: license issued %s, usage is not metered." % document.get("issuedAt")


def meter_for_kind(kind: str) -> str | None:
    if kind in STT_KINDS or kind == FAST_TRANSCRIPTION:
        return METER_AUDIO_SECONDS
    if kind in TTS_KINDS:
        return METER_CHARACTERS
    return None


class UsageRecorder:
    """Usage records of a disconnected container: one JSON line per metered request in <output>/usage/YYYY-MM.jsonl.

    The files live on the output mount, so the report (/records/usage-logs) survives restarts. Each record is one
    O_APPEND write of one line: containers sharing the mount do not interleave within a line.
    """

    def __init__(self, output_dir: Path, identity: Identity) -> None:
        self.usage_dir = output_dir / "usage"
        self.identity = identity
        self._lock = threading.Lock()

    def prepare(self) -> None:
        ensure_writable_dir(self.usage_dir, "usage records")

    def record(self, meter: str, quantity: float, now: datetime | None = None) -> None:
        moment = now or datetime.now(UTC)
        entry = {
            "at": moment.isoformat(timespec="seconds"),
            "meter": meter,
            "quantity": quantity,
            "kind": self.identity.kind,
            "version": self.identity.version,
        }
        path = self.usage_dir / ("%04d-%02d.jsonl" % (moment.year, moment.month))
        line = (json.dumps(entry) + "\n").encode()
        try:
            with self._lock:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
        except OSError as exc:
            # The request was served; losing its record must be loud, not a failed answer.
            LOG.error("Cannot write the usage record to %s: %s", path, exc.strerror or exc)

    def report(self, year: int | None = None, month: int | None = None) -> dict[str, Any]:
        """Microsoft's report shape: {apiType, serviceName, meters[{name, quantity}]}; all months without year/month."""
        if year is not None and month is not None:
            files = [self.usage_dir / ("%04d-%02d.jsonl" % (year, month))]
        else:
            try:
                files = sorted(p for p in self.usage_dir.iterdir() if USAGE_FILE_RE.match(p.name))
            except OSError:
                files = []
        totals: dict[str, float] = {}
        for path in files:
            for entry in self._entries(path):
                totals[entry["meter"]] = totals.get(entry["meter"], 0) + entry["quantity"]
        meters = [{"name": name, "quantity": _tidy(quantity)} for name, quantity in sorted(totals.items())]
        return {"apiType": USAGE_API_TYPE, "serviceName": self.identity.kind, "meters": meters}

    @staticmethod
    def _entries(path: Path) -> list[dict[str, Any]]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            LOG.error("Cannot read usage records %s: %s", path, exc.strerror or exc)
            return []
        entries = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: the rest of the file still counts
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("meter"), str)
                and isinstance(entry.get("quantity"), int | float)
            ):
                entries.append(entry)
        return entries


def _tidy(quantity: float) -> float:
    """Whole numbers stay integers (characters); seconds keep millisecond precision."""
    rounded = round(quantity, 3)
    return int(rounded) if float(rounded).is_integer() else rounded


class MeteredRecognizer:
    """Wraps a StreamingRecognizer: counts the audio it consumes and records it once, when the turn ends."""

    def __init__(self, inner: Any, record: Callable[[float], None]) -> None:
        self._inner = inner
        self._record = record
        self._bytes = 0
        self._recorded = False

    @property
    def done(self) -> bool:
        return bool(self._inner.done)

    def feed(self, pcm: bytes) -> list[Any]:
        if not self._inner.done:
            self._bytes += len(pcm)  # 16-bit mono at RECOGNIZER_RATE (sessions resample before feeding)
        events = self._inner.feed(pcm)
        if self._inner.done:
            self._flush()
        return events

    def finish(self) -> list[Any]:
        events = self._inner.finish()
        self._flush()
        return events

    def close(self) -> None:
        self._inner.close()
        self._flush()

    def _flush(self) -> None:
        if not self._recorded and self._bytes:
            self._recorded = True
            self._record(round(self._bytes / (2 * sessions.RECOGNIZER_RATE), 3))


# --------------------------------------------------------------------------------------------------
# Speech synthesis


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_ssml(body: bytes, identity: Identity) -> str:
    """Return the text to speak; every voice named must be the image's (case-sensitive)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise sessions.SsmlRejected("Invalid SSML: %s" % exc) from None
    voices = [element for element in root.iter() if local_name(element.tag) == "voice"]
    if not voices:
        raise sessions.SsmlRejected("SSML has no <voice> element")
    for element in voices:
        name = element.get("name", "")
        if not identity.voice_matches(name):
            LOG.warning("Voice doesn't match: got %r, this image speaks %r", name[:100], identity.ssml_voice)
            raise sessions.SsmlRejected("Voice doesn't match")
    words = [word for element in voices for word in " ".join(element.itertext()).split()]
    text = " ".join(words)
    if not text:
        raise sessions.SsmlRejected("SSML has no text to speak")
    return text


class Synthesizer:
    """espeak-ng speaks, sox resamples; the result is a real RIFF WAV at the requested rate."""

    def __init__(self, locale: str) -> None:
        language = locale.split("-")[0] if locale else ""
        self._candidates = [voice for voice in (locale, language, "en") if voice]

    def synthesize(self, text: str, rate: int) -> bytes:
        with tempfile.TemporaryDirectory(prefix="standin-tts-") as tmp:
            spoken = Path(tmp) / "spoken.wav"
            resampled = Path(tmp) / "out.wav"
            self._speak(text, spoken)
            self._run(
                ["sox", str(spoken), "-r", str(rate), "-b", "16", "-c", "1", "-e", "signed-integer", str(resampled)]
            )
            return resampled.read_bytes()

    def _speak(self, text: str, target: Path) -> None:
        # espeak-ng has no voice for some locales (xx-yy): fall back to the language, then English.
        error = ""
        for voice in self._candidates:
            result = self._run(["espeak-ng", "-v", voice, "-w", str(target), "--stdin"], text.encode(), check=False)
            if result.returncode == 0 and target.is_file():
                return
            error = result.stderr.decode(errors="replace").strip()[:200]
        raise RuntimeError("espeak-ng failed: %s" % error)

    @staticmethod
    def _run(cmd: list[str], stdin: bytes = b"", check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=SYNTHESIS_TIMEOUT_SECONDS, check=False)
        if check and result.returncode != 0:
            raise RuntimeError("%s failed: %s" % (cmd[0], result.stderr.decode(errors="replace").strip()[:200]))
        return result


# --------------------------------------------------------------------------------------------------
# The service and its HTTP handler


class Service:
    def __init__(
        self,
        config: Config,
        status: StatusCache,
        model_id: str,
        started: float,
        usage: UsageRecorder | None = None,
    ) -> None:
        self.config = config
        self.identity = config.identity
        self.status = status
        self.model_id = model_id
        self._started = started
        self.synthesizer = Synthesizer(config.identity.locale)
        self.usage = usage  # disconnected mode only
        self.meter = meter_for_kind(config.identity.kind) if usage is not None else None

    def is_ready(self) -> bool:
        warmup = self.config.warmup_seconds
        return warmup is not None and time.monotonic() - self._started >= warmup

    @property
    def websocket_paths(self) -> dict[str, str]:
        """WebSocket path -> recognition mode (or "synthesis") for this kind."""
        if self.identity.is_stt:
            return STT_PATHS
        if self.identity.kind == LANGUAGE_DETECTION:
            return LANGUAGE_DETECTION_PATHS
        if self.identity.is_tts:
            return dict.fromkeys(TTS_WEBSOCKET_PATHS, "synthesis")
        return {}

    @property
    def has_synthesis_health(self) -> bool:
        return self.identity.kind == "neural-text-to-speech" and self.identity.version_tuple >= SYNTHESIS_HEALTH_SINCE

    @property
    def recognition_language(self) -> str:
        if not self.identity.locale:
            return "en-US"
        locale = display_locale(self.identity.locale)
        # Fast transcription names model groups ("en", speech-container-ft.md); the stand-in's English model is en-US.
        return "en-US" if locale == "en" else locale

    def recognizer(self, **options: Any) -> Any:
        # Imported on first use: only speech kinds load pocketsphinx (Debian's python3-pocketsphinx).
        import recognizer

        engine = recognizer.StreamingRecognizer(sample_rate=sessions.RECOGNIZER_RATE, **options)
        if self.usage is not None and self.meter == METER_AUDIO_SECONDS:
            usage, meter = self.usage, self.meter
            return MeteredRecognizer(engine, lambda seconds: usage.record(meter, seconds))
        return engine

    @staticmethod
    def identify(pcm: bytes, candidates: list[str]) -> tuple[str | None, str, dict[str, float]]:
        import langid

        return langid.identify(pcm, candidates, sessions.RECOGNIZER_RATE)

    def synthesize(self, text: str, rate: int) -> bytes:
        """REST and WebSocket synthesis both come here: a successful one is metered by its text's characters."""
        audio = self.synthesizer.synthesize(text, rate)
        if self.usage is not None and self.meter == METER_CHARACTERS:
            self.usage.record(METER_CHARACTERS, len(text))
        return audio

    def transcribe(self, pcm: bytes, sample_rate: int) -> list[Any]:
        """Every phrase of a whole recording (fast transcription)."""
        if sample_rate != sessions.RECOGNIZER_RATE:
            pcm, _state = audioop.ratecv(pcm, 2, 1, sample_rate, sessions.RECOGNIZER_RATE, None)
        engine = self.recognizer(language=self.recognition_language, single_utterance=False)
        events = engine.feed(pcm) + engine.finish()
        return [event for event in events if event.kind == "phrase" and event.status == "Success"]


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        self.service = service
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN; in the lab's DNS-less containers that stalls.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Through the (redacting) logger instead of socketserver's bare traceback on stderr.
        LOG.exception("Unhandled error serving %s", client_address[0])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # WebSocket clients insist on "HTTP/1.1 101"
    server_version = "speech-standin"
    sys_version = ""
    server: StandinServer

    @property
    def service(self) -> Service:
        return self.server.service

    # -- plumbing --------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, document: Any) -> None:
        self.send_body(status, json.dumps(document).encode(), "application/json; charset=utf-8")

    def send_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, text.encode(), "text/plain; charset=utf-8", headers)

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length", "0").strip() or "0"
        if not length.isdigit():
            raise HttpError(400, "Invalid Content-Length")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread
            raise HttpError(413, "Request body too large")
        return self.rfile.read(int(length))

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            try:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                raise HttpError(400, "Invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise HttpError(413, "Request body too large")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)

    # -- routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.handle_upgrade(path)
            return
        routes = {
            "/ready": self.get_ready,
            "/status": self.get_status,
            "/": self.get_home,
            "/swagger": self.get_swagger_ui,
            "/swagger/": self.get_swagger_ui,
            "/swagger/index.html": self.get_swagger_ui,
            "/swagger/v1/swagger.json": self.get_swagger_document,
        }
        if self.service.has_synthesis_health:
            routes[SYNTHESIS_HEALTH_PATH] = self.get_synthesis_health
        if self.service.identity.kind == FAST_TRANSCRIPTION:
            routes[FAST_TRANSCRIPTION_HEALTH_PATH] = self.get_fast_transcription_health
        if path in routes:
            routes[path]()
        elif self.service.usage is not None and (path + "/").startswith(USAGE_LOGS_PATH + "/"):
            self.get_usage_logs(path)
        elif path in self.service.websocket_paths:
            self.send_text(426, "WebSocket upgrade required", {"Upgrade": "websocket"})
        else:
            self.send_text(404, "Not Found")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        try:
            body = self.read_body()
            if self.service.identity.is_tts and parts.path == TTS_PATH:
                self.post_synthesize(body)
            elif self.service.identity.kind == FAST_TRANSCRIPTION and parts.path == FAST_TRANSCRIPTION_PATH:
                self.post_transcribe(body, urllib.parse.parse_qs(parts.query))
            else:
                # Speech-to-text and language detection are WebSocket only: a REST POST gets 404.
                self.send_text(404, "Not Found")
        except HttpError as exc:
            self.send_text(exc.status, exc.message)

    # -- endpoints -------------------------------------------------------------------------------

    def get_ready(self) -> None:
        if self.service.is_ready():
            self.send_json(200, {"ready": True, "kind": self.service.identity.kind})
        else:
            self.send_json(503, {"ready": False, "reason": "warming up: the model is loading"})

    def get_status(self) -> None:
        status, message = self.service.status.get()
        self.send_json(200, {"apiStatus": status, "apiStatusMessage": message})

    def get_usage_logs(self, path: str) -> None:
        """GET /records/usage-logs/ and /records/usage-logs/{MONTH}/{YEAR} (disconnected-containers.md)."""
        assert self.service.usage is not None
        parts = [part for part in path[len(USAGE_LOGS_PATH) :].split("/") if part]
        if not parts:
            self.send_json(200, self.service.usage.report())
            return
        if len(parts) != 2 or not USAGE_MONTH_RE.match(parts[0]) or not USAGE_YEAR_RE.match(parts[1]):
            self.send_json(400, {"error": "expected /records/usage-logs/{MONTH}/{YEAR}, MONTH 1-12, YEAR 4 digits"})
            return
        month, year = int(parts[0]), int(parts[1])
        if year < 1:
            self.send_json(400, {"error": "expected /records/usage-logs/{MONTH}/{YEAR}, MONTH 1-12, YEAR 4 digits"})
            return
        self.send_json(200, self.service.usage.report(year, month))

    def get_synthesis_health(self) -> None:
        self.send_text(200 if self.service.is_ready() else 503, "Healthy" if self.service.is_ready() else "Unhealthy")

    def get_fast_transcription_health(self) -> None:
        ready = self.service.is_ready()
        self.send_json(200 if ready else 503, {"status": "Healthy" if ready else "Unhealthy"})

    def get_home(self) -> None:
        identity = self.service.identity
        links = "".join('<li><a href="%s">%s</a></li>' % (p, p) for p in ("/ready", "/status", "/swagger"))
        page = (
            "<!DOCTYPE html><html><head><title>Speech container stand-in</title></head><body>"
            "<h1>Speech container stand-in: %s</h1><p>%s</p><ul>%s</ul></body></html>"
            % (identity.kind, "%s model=%s" % (identity.describe(), self.service.model_id), links)
        )
        self.send_body(200, page.encode(), "text/html; charset=utf-8")

    def get_swagger_ui(self) -> None:
        """The real containers serve the Swagger UI page at /swagger (speech-container-howto.md)."""
        page = (
            '<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>Swagger UI</title></head><body>'
            '<div id="swagger-ui"><h2>%s %s</h2><p>API description: '
            '<a href="/swagger/v1/swagger.json">/swagger/v1/swagger.json</a></p></div></body></html>'
            % (self.service.identity.kind, self.service.identity.version)
        )
        self.send_body(200, page.encode(), "text/html; charset=utf-8")

    def get_swagger_document(self) -> None:
        identity = self.service.identity
        paths: dict[str, Any] = {p: {"get": {}} for p in ("/", "/ready", "/status")}
        if identity.is_tts:
            paths[TTS_PATH] = {"post": {"consumes": ["application/ssml+xml"], "produces": ["audio/wav"]}}
        if self.service.has_synthesis_health:
            paths[SYNTHESIS_HEALTH_PATH] = {"get": {}}
        if identity.kind == FAST_TRANSCRIPTION:
            paths[FAST_TRANSCRIPTION_PATH] = {"post": {"consumes": ["multipart/form-data"]}}
            paths[FAST_TRANSCRIPTION_HEALTH_PATH] = {"get": {}}
        for path in self.service.websocket_paths:
            paths[path] = {"get": {"description": "WebSocket"}}
        if self.service.usage is not None:
            paths[USAGE_LOGS_PATH + "/"] = {"get": {}}
            paths[USAGE_LOGS_PATH + "/{MONTH}/{YEAR}"] = {"get": {}}
        document = {
            "openapi": "3.0.1",
            "info": {"title": "Speech container stand-in (%s)" % identity.kind, "version": identity.version},
            "paths": paths,
        }
        self.send_json(200, document)

    def post_synthesize(self, body: bytes) -> None:
        if not self.service.is_ready():
            raise HttpError(503, "Service is warming up")
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/ssml+xml":
            raise HttpError(415, "Content-Type must be application/ssml+xml")
        output_format = self.headers.get("X-Microsoft-OutputFormat", DEFAULT_OUTPUT_FORMAT).strip().lower()
        wanted = sessions.output_format(output_format)
        if wanted is None:
            raise HttpError(400, "Unsupported X-Microsoft-OutputFormat %r" % output_format[:64])
        rate, with_header = wanted
        try:
            text = parse_ssml(body, self.service.identity)
        except sessions.SsmlRejected as exc:
            raise HttpError(400, exc.message) from None
        try:
            audio = self.service.synthesize(text, rate)
            if not with_header:
                audio = usp.wav_to_pcm(audio)[1]
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
            LOG.error("Synthesis failed: %s", exc)
            raise HttpError(500, "Synthesis failed") from None
        LOG.info("Synthesized %d characters as %s (%d bytes)", len(text), output_format, len(audio))
        self.send_body(200, audio, "audio/wav" if with_header else "audio/x-pcm")

    def post_transcribe(self, body: bytes, query: Mapping[str, list[str]]) -> None:
        """Fast transcription (speech-container-ft.md): multipart form with `audio` and `definition`."""
        if not self.service.is_ready():
            raise HttpError(503, "Service is warming up")
        version = (query.get("api-version") or [""])[0]
        if version not in FAST_TRANSCRIPTION_API_VERSIONS:
            raise HttpError(
                400,
                "Unsupported api-version %r (supported: %s)"
                % (version[:32], ", ".join(FAST_TRANSCRIPTION_API_VERSIONS)),
            )
        form = parse_multipart(self.headers.get("Content-Type", ""), body)
        audio = form.get("audio")
        if not audio:
            raise HttpError(400, "The multipart form has no 'audio' part")
        try:
            sample_rate, pcm = usp.wav_to_pcm(audio)
        except ValueError:
            raise HttpError(415, "The stand-in transcribes RIFF WAV (16-bit PCM) audio only") from None
        definition = usp.json_body(form.get("definition", b"").decode("utf-8", errors="replace"))
        locales = definition.get("locales") if isinstance(definition.get("locales"), list) else []
        locale = str(locales[0]) if locales else self.service.recognition_language
        phrases = self.service.transcribe(pcm, sample_rate)
        to_ms = 1 / 10_000
        document = {
            "durationMilliseconds": len(pcm) * 1000 // (2 * sample_rate),
            "combinedPhrases": [{"text": " ".join(sessions.display_text(p.text) for p in phrases)}],
            "phrases": [
                {
                    "offsetMilliseconds": int(p.offset * to_ms),
                    "durationMilliseconds": int(p.duration * to_ms),
                    "text": sessions.display_text(p.text),
                    "words": [
                        {
                            "text": w.text,
                            "offsetMilliseconds": int(w.offset * to_ms),
                            "durationMilliseconds": int(w.duration * to_ms),
                        }
                        for w in p.words
                    ],
                    "locale": locale,
                    "confidence": round(p.confidence, 4),
                }
                for p in phrases
            ],
        }
        LOG.info("Transcribed %d ms of audio into %d phrases", document["durationMilliseconds"], len(phrases))
        self.send_json(200, document)

    # -- WebSocket -------------------------------------------------------------------------------

    def handle_upgrade(self, path: str) -> None:
        mode = self.service.websocket_paths.get(path)
        if mode is None:
            self.send_text(404, "Not Found")
            return
        if not self.service.is_ready():
            self.send_text(503, "Service is warming up")
            return
        key = self.headers.get("Sec-WebSocket-Key", "").strip()
        if self.headers.get("Sec-WebSocket-Version", "").strip() != "13":
            self.send_text(426, "Unsupported WebSocket version", {"Sec-WebSocket-Version": "13"})
            return
        if "upgrade" not in self.headers.get("Connection", "").lower() or not valid_key(key):
            self.send_text(400, "Bad WebSocket handshake")
            return
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key(key))
        # The Python SDK offers the subprotocol "USP"; choosing it is what RFC 6455 section 4.2.2 allows.
        offered = [item.strip() for item in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if "USP" in offered:
            self.send_header("Sec-WebSocket-Protocol", "USP")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        LOG.info("WebSocket session on %s", path)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        ws = WebSocket(self.rfile, self.wfile)
        try:
            self.session(ws, mode, path, query).run()
        except OSError:
            pass  # the client went away mid-answer
        finally:
            # Wakes the reader thread blocked in recv; socketserver itself only shuts the write side.
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def session(self, ws: WebSocket, mode: str, path: str, query: Mapping[str, list[str]]) -> sessions.Session:
        service = self.service
        if mode == "synthesis":
            return sessions.SynthesisSession(ws, lambda ssml: parse_ssml(ssml, service.identity), service.synthesize)
        return sessions.RecognitionSession(
            ws,
            mode,
            query,
            service.recognition_language,
            language_detection=service.identity.kind == LANGUAGE_DETECTION,
            recognizer_factory=service.recognizer,
            identify=service.identify,
        )


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Form parts by name, with the standard library's MIME parser (cgi is gone from newer Pythons)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise HttpError(415, "Content-Type must be multipart/form-data")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = part.get_payload(decode=True) or b""
    return parts


# --------------------------------------------------------------------------------------------------
# Startup and shutdown


def start(config: Config, redactor: Redactor, started: float) -> StandinServer | None:
    """Everything before serving; None when the run's job is done (DownloadLicense)."""
    LOG.setLevel(config.console_level)
    if config.disk_logging:
        path = add_disk_logging(config, redactor)
        LOG.info("Disk logging (json) to %s", path)
    for warning in config.warnings:
        LOG.warning("%s", warning)
    LOG.info(
        "Starting speech container stand-in: %s mode=%s port=%d; settings: %s",
        config.identity.describe(),
        config.mode,
        config.port,
        describe_settings(config.settings),
    )
    if config.decoder_max_count:
        LOG.info("DECODER_MAX_COUNT=%d (accepted; the stand-in does not limit decoders)", config.decoder_max_count)
    usage: UsageRecorder | None = None
    if config.mode == "disconnected":
        message = check_license(config)
        assert config.output_dir is not None
        usage = UsageRecorder(config.output_dir, config.identity)
        usage.prepare()  # an unwritable output mount fails the start, not the first metered request
        # Disconnected containers report a non-metered status and never ask the billing endpoint;
        # "Valid" is the stand-in's choice of word.
        status = StatusCache(lambda: ("Valid", message), ttl=float("inf"))
        model_id = prepare_model(config, None)
    else:
        cloud = CloudClient(config)
        if config.mode == "download-license":
            download_license(config, cloud)
            return None
        status = StatusCache(cloud.validate_key, ttl=config.status_cache_seconds)
        model_id = prepare_model(config, cloud)
    service = Service(config, status, model_id, started, usage)
    if config.identity.is_stt or config.identity.kind in (LANGUAGE_DETECTION, FAST_TRANSCRIPTION):
        import recognizer

        recognizer.preload()  # the decoder loads once, during the warm-up, not in the first session
    try:
        return StandinServer((config.host, config.port), service)
    except OSError as exc:
        raise StartupError("Cannot listen on %s:%d: %s" % (config.host, config.port, exc.strerror or exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()  # warm-up counts from process start
    redactor = Redactor()
    configure_console_logging(redactor)
    stop = threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # Further signals are ignored: interpreter shutdown restores default handlers, and a second
        # SIGTERM arriving then would turn the graceful exit 0 into death by signal.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        if not serving.is_set():
            raise SystemExit(0)  # stopped during startup (e.g. a model download): nothing to tear down

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        config = load_config(sys.argv[1:] if argv is None else argv, os.environ, redactor)
        server = start(config, redactor, started)
    except StartupError as exc:
        LOG.error("%s", exc)
        return 1
    if server is None:
        return 0
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    serving.set()
    LOG.info("Listening on http://%s:%d", config.host, server.server_address[1])
    # Short waits: the kernel may deliver the signal to a worker thread, and then the main thread only
    # runs the Python handler when it next wakes up.
    while not stop.wait(0.1):
        pass
    LOG.info("Shutting down")
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
