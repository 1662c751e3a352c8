"""Start the lab's speech stand-ins and lab cloud as local processes and write a conformance targets file.

For quick iterations on the stand-in without the lab (no Docker):

    python3 tests/conformance/local_targets.py -- .venv/bin/python tests/conformance/run.py
        starts the lab cloud and one stand-in per kind on 127.0.0.1, runs the command with
        SPEECHOPS_CONFORMANCE_TARGETS set, stops everything and exits with the command's status.
    python3 tests/conformance/local_targets.py --targets /tmp/targets.json
        the same, but waits (Ctrl-C or SIGTERM stops it) so you can run the suites by hand.

Each service picks a free port (port 0) and logs it ("Listening on http://HOST:PORT"); every wait is a
poll with a deadline on that log line or on /ready. Logs stay in the work directory (--workdir, default a
temporary one, kept on failure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "lab" / "images" / "speech-standin" / "standin.py"
LABCLOUD = ROOT / "lab" / "images" / "labcloud" / "labcloud.py"
LISTENING_RE = re.compile(r"Listening on https?://[^\s:]+:(\d+)")
HOST = "127.0.0.1"

# kind -> (SPEECH_* environment of the stand-in, extra fields of the target). Versions are the current ones
# in Microsoft's container overview (speech-container-overview.md, 12/2025); en-US Aria is the `latest` voice.
STANDINS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "speech-to-text": ({"SPEECH_VERSION": "5.1.0", "SPEECH_LOCALE": "en-us"}, {"locale": "en-US"}),
    "custom-speech-to-text": ({"SPEECH_VERSION": "5.1.0", "SPEECH_LOCALE": ""}, {"locale": "en-US"}),
    "neural-text-to-speech": (
        # The SSML name is Microsoft's casing of the tag's voice (speech-container-ntts.md "SSML voice element").
        {
            "SPEECH_VERSION": "4.1.0",
            "SPEECH_LOCALE": "en-us",
            "SPEECH_VOICE": "arianeural",
            "SPEECH_SSML_VOICE": "en-US-AriaNeural",
        },
        {"voice": "en-US-AriaNeural"},
    ),
    "language-detection": ({"SPEECH_VERSION": "1.18.0", "SPEECH_LOCALE": ""}, {}),
}


def log(message: str) -> None:
    print("local_targets: " + message, file=sys.stderr, flush=True)


class Service:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / (name + ".log")
        with open(self.log_path, "wb") as out:
            self.popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_port(self, deadline: float) -> int:
        while time.monotonic() < deadline:
            match = LISTENING_RE.search(self.text())
            if match:
                return int(match.group(1))
            if self.popen.poll() is not None:
                raise RuntimeError("%s exited with %s:\n%s" % (self.name, self.popen.returncode, self.text()))
            time.sleep(0.05)  # polling interval
        raise RuntimeError("%s did not log its port in time:\n%s" % (self.name, self.text()))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def wait_ready(port: int, deadline: float, name: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        try:
            with opener.open("http://%s:%d/ready" % (HOST, port), timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)  # polling interval
    raise RuntimeError("%s on port %d never answered /ready with 200" % (name, port))


def start_all(workdir: Path, python: str, timeout: float) -> tuple[list[Service], dict[str, dict[str, object]]]:
    api_key = "conformance-" + secrets.token_hex(8)
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    if os.environ.get("STANDIN_LANGID_MODEL"):
        # The image trains these at build time (train_langid.py); locally they come from a file.
        base_env["STANDIN_LANGID_MODEL"] = os.environ["STANDIN_LANGID_MODEL"]
    services: list[Service] = []
    deadline = time.monotonic() + timeout
    try:
        cloud = Service(
            "labcloud",
            [python, str(LABCLOUD)],
            {**base_env, "LABCLOUD_PORT": "0", "LABCLOUD_HOST": HOST, "LABCLOUD_API_KEYS": api_key},
            workdir,
        )
        services.append(cloud)
        billing = "http://%s:%d" % (HOST, cloud.wait_port(deadline))
        models = workdir / "models"
        models.mkdir(parents=True, exist_ok=True)
        (models / "properties.json").write_text(json.dumps({"modelId": "builtin"}))
        started = []
        for kind, (speech_env, _extra) in STANDINS.items():
            env = {
                **base_env,
                "SPEECH_KIND": kind,
                "SPEECH_VOICE": "",
                **speech_env,
                "STANDIN_HOST": HOST,
                "STANDIN_PORT": "0",
                "STANDIN_WARMUP_SECONDS": "0",
                "STANDIN_MODELS_DIR": str(models),
            }
            args = ["Eula=accept", "Billing=" + billing, "ApiKey=" + api_key]
            service = Service(kind, [python, str(STANDIN), *args], env, workdir)
            services.append(service)
            started.append((kind, service))
        targets: dict[str, dict[str, object]] = {}
        for kind, service in started:
            port = service.wait_port(deadline)
            wait_ready(port, deadline, kind)
            targets[kind] = {"host": HOST, "port": port, **STANDINS[kind][1]}
        return services, targets
    except BaseException:
        for service in reversed(services):
            service.stop()
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", type=Path, help="where to write the targets JSON (default: in the workdir)")
    parser.add_argument("--workdir", type=Path, help="logs and model directory (default: a new temporary one)")
    parser.add_argument(
        "--python", default="/usr/bin/python3", help="interpreter of the stand-ins (default %(default)s)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds for all services to be ready")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND...: run it, then stop everything")
    options = parser.parse_args()
    command = options.command[1:] if options.command[:1] == ["--"] else options.command

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="speechops-conformance-"))
    targets_path = options.targets or workdir / "targets.json"
    services, targets = start_all(workdir, options.python, options.timeout)
    rc = 1
    try:
        targets_path.write_text(json.dumps(targets, indent=2) + "\n")
        log("logs in %s" % workdir)
        log("export SPEECHOPS_CONFORMANCE_TARGETS=%s" % targets_path)
        if command:
            env = {**os.environ, "SPEECHOPS_CONFORMANCE_TARGETS": str(targets_path)}
            rc = subprocess.run(command, env=env, check=False).returncode
        else:
            stop = {"flag": False}

            def on_signal(_signum: int, _frame: object) -> None:
                stop["flag"] = True

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            log("running; Ctrl-C stops the services")
            while not stop["flag"]:
                signal.pause()
            rc = 0
    finally:
        for service in reversed(services):
            service.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
