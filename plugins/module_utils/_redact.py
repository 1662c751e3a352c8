# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep secrets out of everything a module returns: results, diffs, errors and log excerpts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "********"
# Setting names (case-insensitive, as the containers read them) whose values are secrets.
SECRET_SETTINGS = ("apikey", "http_proxy_creds", "applicationinsights:instrumentationkey")
_SETTING_RE = re.compile(
    r"(?i)\b(" + "|".join(re.escape(name) for name in SECRET_SETTINGS) + r")(\s*[=:]\s*)(\S+)",
)


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret value, and any value of a secret setting, in free text."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _SETTING_RE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def redact_value(value: Any, secrets: Iterable[str]) -> Any:
    """Deep copy of a JSON-like value with secrets replaced."""
    secrets = [s for s in secrets if s]
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {key: redact_value(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item, secrets) for item in value]
    return value


def is_secret_setting(name: str) -> bool:
    """A setting or environment name whose value is a secret, compared as the containers do (':' spelt '__')."""
    return name.replace("__", ":").lower() in SECRET_SETTINGS


def url_password(value: str) -> str | None:
    """The password of a URL with credentials (http://user:password@proxy:3128), or None."""
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def public_setting(name: str, value: str, secrets: Iterable[str]) -> str:
    """A setting's value as results, labels and diffs may show it: a secret setting's value, every known secret
    (also inside a longer value) and a URL's password masked."""
    if is_secret_setting(name):
        return REDACTED
    value = redact_text(value, secrets)
    password = url_password(value)
    return value.replace(":%s@" % password, ":%s@" % REDACTED, 1) if password else value
