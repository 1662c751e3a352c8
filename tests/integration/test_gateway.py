# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12: the speech gateway on the lab, through the deploy playbook.

The roles fleet (tests/integration/roles/inventory) with speech_gateway on: HAProxy from Debian on every edge host,
TLS with the lab CA, the lab's access key. Rhythm: deploy -> rerun (changed=0) -> assert what a client sees from
outside (401 without or with a wrong key, TLS only, /ready open, the container never sees a refused request) ->
upgrade speech-to-text while a client sends requests (none fails) and Microsoft's Speech SDK recognizes speech
streamed in real time (the recognition in progress when the gateway switches finishes with its transcript) -> take
the gateway away again.
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.cognitiveservices.speech as speechsdk
import pytest
from conformance.conformance_support import (
    MAX_WER,
    TRANSCRIPT_IDS,
    librivox_pcm,
    librivox_transcripts,
    silence_pcm,
    word_errors,
)
from polling import poll
from test_roles import HOSTS, Fleet

pytestmark = pytest.mark.lab

KEY_HEADER = "Ocp-Apim-Subscription-Key"  # Microsoft: what SpeechConfig(host=..., subscription=KEY) sends
# One command on a socket of HAProxy's runtime API on an edge host, answered to EOF (run there with python3).
RUNTIME_QUERY = (
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b'\\n')\n"
    "s.shutdown(socket.SHUT_WR); data = b''\n"
    "while True:\n"
    "    chunk = s.recv(65536)\n"
    "    if not chunk: break\n"
    "    data += chunk\n"
    "print(data.decode())\n"
)


def gateway_vars(lab: dict, site_ca: Path) -> dict[str, Any]:
    """The gateway with the lab's key and certificates the collection's site CA issues (the demo fleet, in the
    conformance stage, uses certificates from the lab's own PKI instead)."""
    return {
        "speech_gateway": True,
        "speech_gateway_keys": [{"label": "lab-client", "key": lab["gateway_key"]}],
        "speech_gateway_site_ca_dir": str(site_ca),
        # The recognition in progress streams real-time speech that edge1's speech-to-text stand-in decodes: at the
        # fleet's 0.25 CPU its decoder fell behind real time on a slow runner, and the SDK, which lets the service
        # process every buffered second before the session stops, gave up with ServiceTimeout ("Timeout while
        # waiting for service to stop"). One CPU keeps it real-time; what is under test is the gateway's switch.
        "roles_it_stt_cpus": 1,
    }


class Client:
    """A client on the site network: TLS verified against the lab CA, the lab's key when asked."""

    def __init__(self, lab: dict, host_ip: str, ca_file: Path) -> None:
        self.base = "https://%s:5000" % host_ip
        self.host_ip = host_ip
        self.key = lab["gateway_key"]
        self.context = context = ssl.create_default_context(cafile=str(ca_file))
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )

    def certificate_names(self) -> list[str]:
        """The subjectAltName entries of the certificate the gateway presents now (a new TLS handshake)."""
        with (
            socket.create_connection((self.host_ip, 5000), timeout=10) as raw,
            self.context.wrap_socket(raw, server_hostname=self.host_ip) as tls,
        ):
            return [value for _kind, value in tls.getpeercert().get("subjectAltName", ())]

    def get(self, path: str, key: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, headers={KEY_HEADER: key} if key else {})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def runtime_query(container: str, socket_path: str, command: str) -> str:
    """HAProxy's runtime API on an edge host, through the lab's own engine (fast enough to poll)."""
    done = subprocess.run(
        ["docker", "exec", container, "python3", "-c", RUNTIME_QUERY, socket_path, command],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def gateway_stats(container: str) -> list[dict[str, str]]:
    """`show stat` rows of an edge host's gateway."""
    lines = [line for line in runtime_query(container, "/run/haproxy/admin.sock", "show stat").splitlines() if line]
    header = lines[0][2:].split(",")
    return [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]


def served(container: str, backend: str) -> int:
    """Requests the backend's slots (the containers) have been sent."""
    return sum(
        int(row["stot"])
        for row in gateway_stats(container)
        if row["pxname"] == backend and row["svname"].startswith("slot")
    )


def master_reloads(container: str) -> int:
    """How often HAProxy's master has reloaded (`show proc` on its master CLI)."""
    table = runtime_query(container, "/run/haproxy-master.sock", "show proc")
    return int(next(line for line in table.splitlines() if " master " in line).split()[2])


class RecognitionInProgress(threading.Thread):
    """Microsoft's Speech SDK recognizing human speech streamed in real time through the gateway (wss://, the key,
    the lab CA), the way a microphone client does, from before an upgrade switches its container until after.

    It streams LibriVox utterances (Debian's pocketsphinx-testdata, with their transcripts) one after the other;
    between two it looks at the gateway: once the backend's old slot drains with a session (this one), it streams
    one more utterance, ends the stream and closes the connection, which lets the drain finish.
    """

    def __init__(self, host_ip: str, key: str, container: str, backend: str, deadline: float) -> None:
        super().__init__(name="recognition-in-progress", daemon=True)
        self.container = container
        self.backend = backend
        self.deadline = deadline
        self.streamed: list[str] = []
        self.recognized: list[str] = []
        self.canceled: list[str] = []
        self.drained_with: dict[str, str] | None = None
        self.stopped = threading.Event()
        config = speechsdk.SpeechConfig(host="wss://%s:5000" % host_ip, subscription=key)
        config.speech_recognition_language = "en-US"
        config.output_format = speechsdk.OutputFormat.Detailed
        stream_format = speechsdk.audio.AudioStreamFormat(samples_per_second=16000, bits_per_sample=16, channels=1)
        self.stream = speechsdk.audio.PushAudioInputStream(stream_format=stream_format)
        self.recognizer = speechsdk.SpeechRecognizer(
            config, audio_config=speechsdk.audio.AudioConfig(stream=self.stream)
        )
        self.recognizer.recognized.connect(self._on_recognized)
        self.recognizer.canceled.connect(self._on_canceled)
        self.recognizer.session_stopped.connect(lambda _evt: self.stopped.set())
        self.started = threading.Event()

    def _on_recognized(self, evt: Any) -> None:
        if evt.result.reason == speechsdk.ResultReason.RecognizedSpeech:
            nbest = json.loads(evt.result.json).get("NBest") or []
            self.recognized.append(nbest[0].get("Lexical", "") if nbest else evt.result.text)

    def _on_canceled(self, evt: Any) -> None:
        details = evt.cancellation_details
        if details.reason == speechsdk.CancellationReason.Error:  # end of stream is a cancellation too
            self.canceled.append("%s: %s" % (details.code, details.error_details))
            self.stopped.set()

    def draining_slot(self) -> dict[str, str] | None:
        for row in gateway_stats(self.container):
            if row["pxname"] == self.backend and row["status"] == "DRAIN" and int(row["scur"] or 0) >= 1:
                return row
        return None

    def stream_utterance(self, utterance: str) -> None:
        audio = librivox_pcm(utterance) + silence_pcm(0.5)
        chunk = 3200  # 0.1 s of 16 kHz 16-bit mono
        start = time.monotonic()
        for index, offset in enumerate(range(0, len(audio), chunk)):
            self.stream.write(audio[offset : offset + chunk])
            # Pace the source like a microphone: real-time audio is what is under test, not a synchronisation.
            time.sleep(max(0.0, start + (index + 1) * 0.1 - time.monotonic()))
        self.streamed.append(utterance)

    def run(self) -> None:
        self.recognizer.start_continuous_recognition_async().get()
        self.started.set()
        try:
            for utterance in itertools.cycle(TRANSCRIPT_IDS):
                self.stream_utterance(utterance)
                if self.drained_with is not None or self.canceled or time.monotonic() > self.deadline:
                    break  # the utterance after the switch went to the old container too: done
                self.drained_with = self.draining_slot()
            self.stream.close()
            self.stopped.wait(30)
        finally:
            self.recognizer.stop_continuous_recognition_async().get()
            # The SDK keeps its connection for reuse: close it, so the old slot's drain ends now.
            speechsdk.Connection.from_recognizer(self.recognizer).close()

    def transcript_errors(self) -> tuple[float, str]:
        references = librivox_transcripts()
        reference = " ".join(references[utterance] for utterance in self.streamed)
        hypothesis = " ".join(self.recognized)
        errors, length = word_errors(reference, hypothesis)
        return errors / length, "heard %r for %r" % (hypothesis, reference)


@pytest.fixture(scope="module")
def gateway_fleet(lab: dict, collections_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet(collections_path, tmp_path_factory.mktemp("gateway"))
    try:
        yield fleet
    finally:
        # Take the gateway away and put the default fleet back on its public ports for the tests that follow.
        fleet.adhoc("edge", "speechops.edge.speech_gateway", {"state": "absent"})
        fleet.playbook("deploy").assert_ok()


def test_gateway_deploy_rerun_refusals_and_a_gapless_upgrade(
    gateway_fleet: Fleet, lab: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = gateway_fleet
    site_ca = fleet.workdir / "site-ca"
    gateway = gateway_vars(lab, site_ca)
    fleet.playbook("deploy", gateway).assert_ok()
    rerun = fleet.playbook("deploy", gateway)
    rerun.assert_ok()
    assert all(rerun.changed(host) == 0 for host in HOSTS), rerun.recap

    edge1 = next(host for host in lab["hosts"] if host["name"] == "edge1")
    client = Client(lab, edge1["ip"], site_ca / "ca.crt")  # TLS verified against the site CA's certificate
    stt = fleet.containers("edge1")["stt-en-us"]
    assert [port["host_ip"] for port in stt["ports"]] == ["127.0.0.1"]  # the container is on loopback only

    served_before = served(edge1["container"], "stt-en-us")
    assert client.get("/status")[0] == 401
    assert client.get("/status", key=lab["gateway_key"][::-1])[0] == 401
    status, body = client.get("/swagger?" + KEY_HEADER + "=wrong")
    assert status == 401 and json.loads(body)["error"]["code"] == "401"
    assert served(edge1["container"], "stt-en-us") == served_before  # no refused request reached a container
    assert client.get("/ready")[0] == 200  # open for load balancers
    status, body = client.get("/status", key=lab["gateway_key"])
    assert status == 200 and json.loads(body)["apiStatus"] == "Valid"
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen("http://%s:5000/ready" % edge1["ip"], timeout=5)

    # Key rotation and a certificate renewed with one more name: a second key is added, then the first revoked,
    # then the first comes back and the name goes - through the runtime API, with no reload.
    reloads = master_reloads(edge1["container"])
    assert "edge1.site-a.example" not in client.certificate_names()
    second = "rotated-" + lab["gateway_key"]
    both = dict(
        gateway,
        speech_gateway_keys=[*gateway["speech_gateway_keys"], {"label": "rotated", "key": second}],
        speech_gateway_certificate_names="{{ [inventory_hostname, ansible_host, inventory_hostname ~ '.site-a.example'] }}",
    )
    fleet.playbook("deploy", both).assert_ok()
    assert client.get("/swagger", key=second)[0] == 200 and client.get("/swagger", key=lab["gateway_key"])[0] == 200
    assert "edge1.site-a.example" in client.certificate_names()
    only_second = dict(gateway, speech_gateway_keys=[{"label": "rotated", "key": second}])
    fleet.playbook("deploy", only_second).assert_ok()
    assert client.get("/swagger", key=lab["gateway_key"])[0] == 401 and client.get("/swagger", key=second)[0] == 200
    fleet.playbook("deploy", gateway).assert_ok()
    assert client.get("/swagger", key=lab["gateway_key"])[0] == 200 and client.get("/swagger", key=second)[0] == 401
    assert "edge1.site-a.example" not in client.certificate_names()
    assert master_reloads(edge1["container"]) == reloads  # three changes of keys and certificate, no reload

    # An upgrade while a client sends requests: none fails, the longest time without a good answer stays short.
    outcome: dict[str, Any] = {"ok": 0, "failed": 0, "gap": 0.0}
    stop = threading.Event()

    def hammer() -> None:
        last_good = time.monotonic()
        while not stop.is_set():
            try:
                good = client.get("/status", key=lab["gateway_key"])[0] == 200
            except OSError:
                good = False
            now = time.monotonic()
            if good:
                outcome["gap"] = max(outcome["gap"], now - last_good)
                last_good = now
                outcome["ok"] += 1
            else:
                outcome["failed"] += 1
            stop.wait(0.02)

    # The SDK trusts the lab CA through OpenSSL's SSL_CERT_FILE, as the conformance stage does.
    monkeypatch.setenv("SSL_CERT_FILE", str(site_ca / "ca.crt"))
    recognition = RecognitionInProgress(
        edge1["ip"], lab["gateway_key"], edge1["container"], "stt-en-us", deadline=time.monotonic() + 600
    )
    recognition.start()
    assert recognition.started.wait(30), "the SDK did not start recognizing"
    # Its WebSocket is up on the slot that serves now, before the upgrade begins.
    poll(
        lambda: any(
            row["pxname"] == "stt-en-us" and row["status"].startswith("UP") and int(row["scur"] or 0) >= 1
            for row in gateway_stats(edge1["container"])
        ),
        30,
        "the recognition's session on the serving slot of stt-en-us",
    )
    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        upgrade = fleet.playbook("deploy", dict(gateway, roles_it_stt_version="5.0.0"))
    finally:
        stop.set()
        thread.join(30)
        recognition.join(120)
    upgrade.assert_ok()
    assert fleet.containers("edge1")["stt-en-us"]["version"] == "5.0.0"
    assert outcome["failed"] == 0 and outcome["ok"] > 50, outcome
    assert outcome["gap"] < 1.0, outcome  # the benchmark measures it precisely (benchmarks/bench_gateway.py)
    # The recognition in progress was on the old container when the gateway switched, and finished there with its
    # transcript: no cancellation, and the speech streamed after the switch was recognized too.
    assert recognition.drained_with is not None, "the old slot never drained with the recognition's session"
    assert not recognition.canceled, recognition.canceled
    wer, heard = recognition.transcript_errors()
    assert wer <= MAX_WER, "word error rate %.2f > %.2f: %s" % (wer, MAX_WER, heard)
    print(  # shown with pytest -s: what the closing note of issue 12 quotes
        "recognition in progress: %d utterances streamed, the old slot %s drained with %s session(s), WER %.2f; "
        "hammer: %d ok, %d failed, longest gap %.3f s"
        % (
            len(recognition.streamed),
            recognition.drained_with["svname"],
            recognition.drained_with["scur"],
            wer,
            outcome["ok"],
            outcome["failed"],
            outcome["gap"],
        )
    )

    # Turned off again: the role takes the gateway away and the containers get their ports back (plain HTTP).
    off = fleet.playbook("deploy")
    off.assert_ok()
    stt = fleet.containers("edge1")["stt-en-us"]
    addresses = {port["host_ip"] for port in stt["ports"]}
    assert "0.0.0.0" in addresses and "127.0.0.1" not in addresses and stt["host_port"] == 5000
    with urllib.request.urlopen("http://%s:5000/ready" % edge1["ip"], timeout=10) as response:
        assert response.status == 200
