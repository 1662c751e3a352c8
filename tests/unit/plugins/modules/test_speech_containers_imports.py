# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What speech_containers compiles on every host of every deploy: its prediction on an unchanged host (the path
every deploy takes) imports the module and its module_utils from the payload, compiling each file. The gateway's
writer, the host facts reader and the Docker SDK are for changes only (benchmarks/bench_module_weight.py measures
what the imported code costs)."""

from __future__ import annotations

from fresh_interpreter import loaded_after_import


def test_the_module_does_not_import_what_only_a_change_needs() -> None:
    loaded = loaded_after_import(
        "ansible_collections.speechops.edge.plugins.modules.speech_containers",
        ["docker", "requests"],
        ["._gateway", "._host_facts"],
    )
    assert loaded == []
