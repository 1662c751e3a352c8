# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this repository importable as ``ansible_collections.speechops.edge`` for the unit tests.

The repository root is the collection. scripts/test.sh places it at
``build/ansible_collections/speechops/edge`` (a symlink to the root); this file does the same when pytest
is run directly (``pytest tests/unit``) and puts ``build/`` first on sys.path, so that
``ansible_collections``, ``speechops``, ``edge`` and ``plugins`` resolve as namespace packages.
It also points ANSIBLE_COLLECTIONS_PATH there, for tests that start ansible itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS_ROOT = REPO_ROOT / "build"
PLACED = COLLECTIONS_ROOT / "ansible_collections" / "speechops" / "edge"


def _place_collection() -> None:
    if not PLACED.exists():
        PLACED.parent.mkdir(parents=True, exist_ok=True)
        try:
            PLACED.symlink_to(Path("..", "..", ".."), target_is_directory=True)
        except FileExistsError:  # a parallel run placed it first
            pass
    if PLACED.resolve() != REPO_ROOT:
        raise RuntimeError(f"{PLACED} points to {PLACED.resolve()}, not to {REPO_ROOT}: remove build/ and rerun")


_place_collection()
if str(COLLECTIONS_ROOT) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_ROOT))
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS_ROOT))
# tests/ holds the helpers every test stage shares (polling.py).
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "tests"))
