# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_access_keys: the digests the gateway's hosts store, judged by coreutils' sha256sum."""

from __future__ import annotations

import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.speechops.edge.plugins.filter.speech import speech_access_keys

KEY = "0f3c5a7e9b1d4f6a8c2e0b4d6f8a1c3e"


def test_each_key_becomes_its_sha256_as_sha256sum_prints_it() -> None:
    digest = subprocess.run(["sha256sum"], input=KEY, capture_output=True, text=True, check=True).stdout.split()[0]
    assert speech_access_keys([{"label": "call-center", "key": KEY}]) == [{"label": "call-center", "sha256": digest}]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"label": "a", "key": "short-CANARY"}, "speech_gateway_keys[0] (a).key: ******** is too weak"),
        ({"label": "a", "key": "has a space CANARY 0123456789abcdef"}, "(a).key: ******** is too weak"),
        ({"label": "a b", "key": KEY}, "speech_gateway_keys[0].label: 'a b' is not a label"),
        ({"label": "a"}, "speech_gateway_keys[0] (a).key: missing"),
        ("CANARY", "speech_gateway_keys[0]: must be a dictionary"),
    ],
)
def test_bad_keys_are_named_by_label_never_by_key(entry: object, message: str) -> None:
    with pytest.raises(AnsibleFilterError) as raised:
        speech_access_keys([entry])
    assert message in str(raised.value)
    assert "CANARY" not in str(raised.value)
