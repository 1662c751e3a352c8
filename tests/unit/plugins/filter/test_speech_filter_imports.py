# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What loading the filter plugin costs: ansible loads it in every forked worker that templates a plan (the
deploy's per-host task arguments), and its collection loader compiles every imported file again each time. The
controller must not load the Docker SDK (a managed-host dependency) nor the registry client for that."""

from __future__ import annotations

from fresh_interpreter import loaded_after_import


def test_loading_the_filter_imports_neither_the_docker_sdk_nor_the_registry_client() -> None:
    loaded = loaded_after_import(
        "ansible_collections.speechops.edge.plugins.filter.speech",
        ["docker", "requests"],
        ["._reachability", "._registry_login", "._registry_client"],
    )
    assert loaded == []
