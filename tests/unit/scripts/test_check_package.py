# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/check_package.py: the allow-list of collection content names every stray artifact entry."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import check_package  # on sys.path by conftest.py
import pytest

# What a clean artifact of this collection holds (and what other parts of issue 14 add: docs/docsite, meta's
# execution environment, requirements.txt and bindep.txt at the root).
CONTENT = [
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "LICENSE",
    "requirements.txt",
    "bindep.txt",
    "meta/",
    "meta/runtime.yml",
    "meta/execution-environment.yml",
    "plugins/",
    "plugins/modules/",
    "plugins/modules/speech_containers.py",
    "plugins/filter/speech_plan.yml",
    "roles/",
    "roles/speech/tasks/main.yml",
    "playbooks/deploy.yml",
    "docs/docsite/rst/guide.rst",
    "changelogs/changelog.yaml",
    "changelogs/fragments/14-package.yml",
    "examples/inventory/vault-password.txt.example",
    "tests/",
    "tests/polling.py",
    "tests/unit/plugins/filter/test_speech_plan_catalog.py",
    "tests/sanity/ignore-2.19.txt",
]

# Each stray with the words its reason must contain.
STRAYS = {
    "demo-output/": "allow-list",
    "demo-output/hello.wav": "allow-list",
    "speech-status.md": "allow-list",
    "examples/inventory/vault-password.txt": "vault-password",
    "plugins/filter/__pycache__/speech.cpython-311.pyc": "__pycache__",
    "plugins/module_utils/_catalog.pyc": "*.pyc",
    "roles/speech/tasks/main.yml~": "*~",
    "roles/speech/tasks/.main.yml.swp": "hidden",
    ".pytest_cache/v/cache/lastfailed": "hidden",
    "changelogs/.plugin-cache.yaml": "hidden",
    "tests/integration/test_roles.py": "allow-list",
    "tests/conformance/run.py": "allow-list",
    "tests/unit/benchmarks/test_bench_fleet.py": "not shipped",
    "docs/docsite/_build/index.html": "_build",
    "speechops-edge-0.0.9.tar.gz": "*.tar.gz",
    "Makefile": "allow-list",
}


def _artifact(path: Path, names: list[str], symlink: str | None = None) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            info = tarfile.TarInfo(name.rstrip("/"))
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = 1
                tar.addfile(info, io.BytesIO(b"x"))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return path


def test_clean_artifact_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_package.main(["artifact", str(_artifact(tmp_path / "a.tar.gz", CONTENT))]) == 0
    out = capsys.readouterr().out
    assert f"{len(CONTENT)} entries" in out
    assert "stray" not in out


def test_every_stray_is_named_with_its_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = _artifact(tmp_path / "a.tar.gz", CONTENT + list(STRAYS), symlink="roles/speech/files/link")
    assert check_package.main(["artifact", str(artifact)]) == 1
    lines = {line.split("  (")[0].removeprefix("stray: "): line for line in capsys.readouterr().out.splitlines()}
    for path, words in STRAYS.items():
        assert words in lines[path.rstrip("/")], lines.get(path.rstrip("/"))
    assert "not a regular file" in lines["roles/speech/files/link"]
    named = {path for path, line in lines.items() if line.startswith("stray: ")}
    assert named == {path.rstrip("/") for path in STRAYS} | {"roles/speech/files/link"}


def test_missing_required_entries_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    artifact = _artifact(tmp_path / "a.tar.gz", [name for name in CONTENT if not name.startswith("meta/")])
    assert check_package.main(["artifact", str(artifact)]) == 1
    assert "missing: meta/runtime.yml" in capsys.readouterr().out


def test_wrong_arguments_print_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_package.main(["artifact"]) == 2
    assert "allow-list" in capsys.readouterr().err
