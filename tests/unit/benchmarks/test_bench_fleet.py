# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet benchmark's arithmetic: gap window, its phases from engine events, and the target verdicts.

No lab and no timing here: these functions turn recorded samples and events into the numbers of the closing note.
"""

from __future__ import annotations

import bench_fleet  # on sys.path by conftest.py
import benchlib
import pytest

OLD, NEW = bench_fleet.OLD_STT, bench_fleet.NEW_STT
PREVIOUS, NAME = bench_fleet.STT_PREVIOUS, bench_fleet.STT_NAME


def test_gap_window_is_last_old_to_first_new() -> None:
    samples = [(10.0, OLD), (10.05, OLD), (10.1, None), (12.9, None), (13.0, NEW), (13.05, NEW)]
    assert benchlib.gap_window(samples, OLD, NEW) == (10.05, 13.0)


@pytest.mark.parametrize(
    "samples",
    [
        [(10.0, OLD), (10.1, None)],  # the new version never answered
        [(10.0, None), (11.0, NEW)],  # the old version never answered
        [(10.0, NEW), (11.0, OLD)],  # new before old: not an upgrade
    ],
)
def test_gap_window_without_old_then_new(samples: list[tuple[float, str | None]]) -> None:
    assert benchlib.gap_window(samples, OLD, NEW) is None


def test_gap_phases_split_at_stop_and_start() -> None:
    events = [
        (9.0, "stop", "tts-en-us-arianeural"),  # another container: ignored
        (10.3, "stop", PREVIOUS),
        (10.8, "start", NAME),
        (20.0, "start", NAME),  # after the first good answer (the next run's): ignored
    ]
    phases = benchlib.gap_phases((10.0, 13.0), events, PREVIOUS, NAME)
    assert phases == pytest.approx({"gap": 3.0, "stop": 0.3, "start": 0.5, "warmup": 2.2, "overhead": 0.8})


def test_gap_phases_without_events_stops_the_benchmark() -> None:
    with pytest.raises(SystemExit, match="no stop/start events"):
        benchlib.gap_phases((10.0, 13.0), [(10.3, "stop", PREVIOUS)], PREVIOUS, NAME)


def test_engine_events_parses_ansible_shell_output() -> None:
    output = (
        "edge1 | CHANGED | rc=0 >>\n"
        "1795680153939000000 stop %s\n1795680154630000000 start %s\n"
        "edge2 | CHANGED | rc=0 >>\n"
        "1795680153000000000 start %s\n" % (PREVIOUS, NAME, NAME)
    )

    class Shell:
        def shell(self, fleet: str, command: str) -> str:
            assert "docker events --since 100 --until 201" in command
            return output

    events = benchlib.engine_events(Shell(), "bench_3", 100.2, 200.5)  # type: ignore[arg-type]
    assert [action for _at, action, _name in events["edge1"]] == ["stop", "start"]
    assert events["edge1"][0][0] == pytest.approx(1795680153.939, abs=1e-6)
    assert events["edge2"] == [(1795680153.0, "start", NAME)]


def test_verdicts_name_value_and_outcome() -> None:
    data = {
        "rerun": [1.3],
        "ping": [1.0],
        "modules": {"edge1": {"speechops.edge.speech_containers": 1}},
        "overhead": [0.8, 0.9, 1.1],
    }
    lines = bench_fleet.verdicts({3: data})
    assert lines[0] == "3 hosts: idempotent rerun / ping 1.30 <= 1.5: met"
    assert lines[1].endswith("== 1: met")
    assert lines[2] == (
        "3 hosts: upgrade gap <= own warm-up + 1 s: median 0.90 s over the warm-up, 1 of 3 upgrades over 1 s: met"
    )
    data["rerun"] = [1.6]
    assert bench_fleet.verdicts({3: data})[0].endswith("MISSED")
