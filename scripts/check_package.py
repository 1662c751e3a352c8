# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the collection artifact, run by stage build of scripts/test.sh.

python scripts/check_package.py artifact ARTIFACT.tar.gz
    Every entry outside the allow-list of collection content is printed by name and fails the check.
    ansible-galaxy packs whatever build_ignore does not name, so a deny-list misses the next cache, demo
    output or password file; an allow-list names what may ship instead.
python scripts/check_package.py installed COLLECTIONS_DIR SOURCE_ROOT
    Every module and filter of SOURCE_ROOT has its documentation loaded by ansible-doc from the copy installed
    under COLLECTIONS_DIR (and from nowhere else).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

COLLECTION = "speechops.edge"

# Single files that may ship. tests/certificates.py, tests/fresh_interpreter.py and tests/polling.py are helpers the
# unit tests import; tests/config.yml tells ansible-test the modules' Python versions.
ALLOWED_FILES = frozenset(
    {
        "MANIFEST.json",
        "FILES.json",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "CHANGELOG.rst",
        "requirements.txt",
        "bindep.txt",
        "changelogs/changelog.yaml",
        "changelogs/config.yaml",
        "tests/certificates.py",
        "tests/fresh_interpreter.py",
        "tests/polling.py",
        "tests/config.yml",
    }
)

# Directories whose content may ship. Of tests/, only what runs from an installed collection without the lab:
# ansible-test's sanity ignores and the unit tests (they need pytest and the collection only). tests/integration,
# tests/lab and tests/conformance drive the lab (lab/ is not collection content) and stay in the repository.
ALLOWED_TREES = (
    "meta",
    "plugins",
    "roles",
    "playbooks",
    "docs",
    "examples",
    "changelogs/fragments",
    "tests/unit",
    "tests/sanity",
)

# Inside the allowed trees: unit tests of tooling that is not shipped (benchmarks/, scripts/).
DENIED_TREES = ("tests/unit/benchmarks", "tests/unit/scripts")

# Path components that are never collection content, wherever they are.
DENIED_COMPONENTS = frozenset({"__pycache__", "node_modules", "_build", "build", "htmlcov"})

# File names that are never collection content: compiled Python, editor and merge leftovers, artifacts, and
# files that may hold a real secret (the example vault password ships only as *.example).
DENIED_NAMES = ("*.pyc", "*.pyo", "*~", "*.orig", "*.rej", "*.bak", "*.tar.gz", "*.retry", "vault-password*")
EXAMPLE_SUFFIX = ".example"

# Entries every artifact of this collection has.
REQUIRED = ("MANIFEST.json", "FILES.json", "README.md", "LICENSE", "meta/runtime.yml", "plugins/modules", "roles")


def _ancestors(paths: frozenset[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(str(parent) for path in paths for parent in PurePosixPath(path).parents if str(parent) != ".")


ALLOWED_PARENTS = _ancestors(ALLOWED_FILES) | _ancestors(ALLOWED_TREES)


def _under(path: str, trees: tuple[str, ...]) -> bool:
    return any(path == tree or path.startswith(tree + "/") for tree in trees)


def stray_reason(path: str, is_dir: bool) -> str | None:
    """Why an artifact entry is not collection content, or None when it may ship."""
    parts = PurePosixPath(path).parts
    name = parts[-1]
    for part in parts:
        if part.startswith("."):
            return f"hidden file or directory {part!r}"
        if part in DENIED_COMPONENTS:
            return f"{part!r} is a cache or build output"
    if _under(path, DENIED_TREES):
        return "tests of tooling that is not shipped"
    if not is_dir and not name.endswith(EXAMPLE_SUFFIX):
        for pattern in DENIED_NAMES:
            if fnmatch.fnmatchcase(name, pattern):
                return f"file name matches {pattern!r}"
    if path in ALLOWED_FILES or _under(path, ALLOWED_TREES) or (is_dir and path in ALLOWED_PARENTS):
        return None
    return "outside the allow-list of collection content"


def stray_entries(members: list[tarfile.TarInfo]) -> list[tuple[str, str]]:
    """(path, reason) of every member that must not be in the artifact, in artifact order."""
    strays = []
    for member in members:
        path = member.name.removeprefix("./").rstrip("/")
        if not path or path == ".":
            continue
        if not (member.isfile() or member.isdir()):
            # ansible-galaxy stores symlinked files as files; anything else was not made by a plain build.
            strays.append((path, "not a regular file or directory"))
            continue
        reason = stray_reason(path, member.isdir())
        if reason:
            strays.append((path, reason))
    return strays


def missing_entries(members: list[tarfile.TarInfo]) -> list[str]:
    names = {member.name.removeprefix("./").rstrip("/") for member in members}
    return [path for path in REQUIRED if path not in names]


def check_artifact(artifact: Path) -> int:
    with tarfile.open(artifact, "r:gz") as tar:
        members = tar.getmembers()
    print(f"artifact: {artifact.name}, {len(members)} entries")
    rc = 0
    for path, reason in stray_entries(members):
        print(f"stray: {path}  ({reason})")
        rc = 1
    if rc:
        print("the entries above are not collection content: add them to build_ignore in galaxy.yml")
    for path in missing_entries(members):
        print(f"missing: {path}")
        rc = 1
    return rc


def _doc_names(source_root: Path, plugin_type: str) -> list[str]:
    """The plugins of one type that the source tree documents, as FQCNs."""
    if plugin_type == "module":
        files = (source_root / "plugins/modules").glob("*.py")
    else:
        # Filters are documented in one YAML file per filter next to the Python file that holds several.
        files = (source_root / "plugins/filter").glob("*.yml")
    return sorted(f"{COLLECTION}.{path.stem}" for path in files if not path.stem.startswith("_"))


def check_installed(collections_dir: Path, source_root: Path) -> int:
    collections_dir = collections_dir.resolve()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_dir), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    rc = 0
    for plugin_type in ("module", "filter"):
        failed = 0
        names = _doc_names(source_root, plugin_type)
        result = subprocess.run(
            ["ansible-doc", "--json", "-t", plugin_type, *names],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        docs = json.loads(result.stdout or "{}") if result.returncode == 0 else {}
        if result.returncode != 0:
            print(result.stderr.strip())
        for name in names:
            filename = (docs.get(name) or {}).get("doc", {}).get("filename")
            if not filename:
                print(f"{plugin_type} {name}: no documentation from the installed collection")
                failed += 1
            elif not Path(filename).resolve().is_relative_to(collections_dir):
                print(f"{plugin_type} {name}: loaded from {filename}, not from {collections_dir}")
                failed += 1
        print(f"ansible-doc: {len(names) - failed} of {len(names)} {plugin_type}s loaded from the installed copy")
        rc = rc or int(failed > 0 or not names)
    return rc


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "artifact":
        return check_artifact(Path(argv[1]))
    if len(argv) == 3 and argv[0] == "installed":
        return check_installed(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
