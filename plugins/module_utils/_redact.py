# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep secrets out of everything a module returns: results, diffs, errors and log excerpts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

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
