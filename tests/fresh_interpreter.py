# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What importing one of the collection's files loads, seen from a fresh interpreter (a test process has usually
imported everything for other tests already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = (
    "import importlib, json, sys\n"
    "importlib.import_module(sys.argv[1])\n"
    "packages, suffixes = json.loads(sys.argv[2]), tuple(json.loads(sys.argv[3]))\n"
    "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] in packages"
    " or name.endswith(suffixes))))\n"
)


def loaded_after_import(module: str, packages: list[str], suffixes: list[str]) -> list[str]:
    """The modules of `packages` (top-level names) or ending in one of `suffixes` that importing `module` loads."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, module, json.dumps(packages), json.dumps(suffixes)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    return json.loads(completed.stdout)
