# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the plan carries from the catalog: concurrency guidance, multilingual sizing, GPU requests."""

from __future__ import annotations

from ansible_collections.speechops.edge.plugins.filter.speech import speech_plan, speech_record, speech_select


def test_plan_carries_concurrency_guidance_and_the_declared_concurrency() -> None:
    plan = speech_plan(
        [
            {"kind": "speech-to-text", "version": "5.1.0", "locale": "en-US", "cpus": 8, "concurrency": 12},
            {"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AriaNeural", "cpus": 16},
            {"kind": "fast-transcription", "version": "1.0.0", "locale": "en", "gpus": "none"},
        ]
    )
    # Issue 10's guidance: speech-to-text 2 sessions per core, neural TTS 5 requests per 8 cores.
    assert plan[0]["concurrency_guidance"] == {"capacity": 16, "unit": "sessions", "guidance": "2 sessions per core"}
    assert plan[1]["concurrency_guidance"] == {"capacity": 10, "unit": "requests", "guidance": "5 requests per 8 cores"}
    assert plan[2]["concurrency_guidance"] is None
    preflight = speech_select(plan, "preflight")
    assert preflight[0]["concurrency"] == 12 and "concurrency" not in preflight[1]
    assert preflight[2]["gpus"] == "none"
    assert "concurrency" not in speech_select(plan, "module")[0]


def test_multilingual_voice_defaults_to_8_cpus_and_24_gb() -> None:
    # Issue 10's sizing guidance; voice name from tts.md.
    [entry] = speech_plan(
        [{"kind": "neural-text-to-speech", "version": "4.1.0", "locale": "en-US", "voice": "AndrewMultilingualNeural"}]
    )
    assert (entry["cpus"], entry["memory"]) == (8.0, "24g")


def test_record_of_a_gpu_container_runs_with_gpus_all() -> None:
    [entry] = speech_plan([{"kind": "fast-transcription", "version": "1.0.0", "locale": "en"}])
    record = speech_record(entry, eula="accept", billing="https://westeurope.api.cognitive.microsoft.com/")
    # speech-container-ft.md: docker run --gpus all -p 5000:5000 -e ASPNETCORE_URLS=http://+:5000 ...
    assert "--gpus all" in record["docker_run"]
    assert "--env ASPNETCORE_URLS=http://+:5000" in record["docker_run"]
    assert record["image"].endswith("fast-transcription:en-gpu-1.0.0-preview")
    assert record["name"] == "fast-stt-en"
