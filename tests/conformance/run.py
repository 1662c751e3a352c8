"""Run both conformance suites (Microsoft's Speech SDK for Python and for JavaScript) and print ONE summary.

    SPEECHOPS_CONFORMANCE_TARGETS=targets.json .venv/bin/python tests/conformance/run.py

Python checks: pytest on tests/conformance (the interpreter running this script must have
requirements/conformance.txt installed). JavaScript checks: node tests/conformance/js/conformance.js; its
node_modules is installed from package-lock.json with `npm ci` when missing or not the pinned SDK version.
The summary names every check (PASS, FAIL, SKIP with its reason) and ends with "N passed, N failed";
the exit status is non-zero when a check failed or a suite could not run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
SDK_PACKAGE = "microsoft-cognitiveservices-speech-sdk"


def python_outcomes(work: Path) -> list[tuple[str, str, float, str]]:
    report = work / "pytest.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE), "-p", "no:cacheprovider", "-q", "-rfEs", "--junitxml", str(report)],
        cwd=HERE.parents[1],
        check=False,
    )
    if not report.exists():
        return [("py suite", "FAIL", 0.0, "pytest wrote no report (see its output above)")]
    outcomes = []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = "py " + case.get("name", "?")
        seconds = float(case.get("time") or 0)
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            outcomes.append((name, "FAIL", seconds, (problem.get("message") or "").splitlines()[0][:200]))
        elif skipped is not None:
            outcomes.append((name, "SKIP", seconds, (skipped.get("message") or "")[:200]))
        else:
            outcomes.append((name, "PASS", seconds, ""))
    return outcomes or [("py suite", "FAIL", 0.0, "pytest collected no checks")]


def js_sdk_installed() -> bool:
    wanted = json.loads((JS_DIR / "package.json").read_text())["dependencies"][SDK_PACKAGE]
    installed = JS_DIR / "node_modules" / SDK_PACKAGE / "package.json"
    return installed.exists() and json.loads(installed.read_text()).get("version") == wanted


def js_outcomes(work: Path) -> list[tuple[str, str, float, str]]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return [("js suite", "FAIL", 0.0, "node and npm are needed (Debian packages nodejs and npm)")]
    if not js_sdk_installed():
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=False)
        if install.returncode != 0 or not js_sdk_installed():
            return [("js suite", "FAIL", 0.0, "npm ci in %s failed (exit %d)" % (JS_DIR, install.returncode))]
    results = work / "js.json"
    subprocess.run([node, str(JS_DIR / "conformance.js"), "--results", str(results)], check=False)
    if not results.exists():
        return [("js suite", "FAIL", 0.0, "conformance.js wrote no results (see its output above)")]
    return [
        (o["name"], o["status"], float(o["seconds"]), (o["reason"].splitlines() or [""])[0][:200])
        for o in json.loads(results.read_text())
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="speechops-conformance-") as tmp:
        work = Path(tmp)
        print("--- Speech SDK for Python (pytest tests/conformance)", flush=True)
        outcomes = python_outcomes(work)
        print("--- Speech SDK for JavaScript (node tests/conformance/js/conformance.js)", flush=True)
        outcomes += js_outcomes(work)
    print("\n===== conformance summary =====")
    for name, status, seconds, reason in outcomes:
        print("%-4s  %s  %.2fs%s" % (status, name, seconds, "  " + reason if reason else ""))
    passed = sum(status == "PASS" for _name, status, _s, _r in outcomes)
    failed = sum(status == "FAIL" for _name, status, _s, _r in outcomes)
    skipped = sum(status == "SKIP" for _name, status, _s, _r in outcomes)
    if skipped:
        print("%d skipped (kinds listed in SPEECHOPS_CONFORMANCE_NOT_DEPLOYED or without reference audio)" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
