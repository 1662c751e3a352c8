# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the integration tests run ansible: this checkout as speechops.edge, secrets in files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def ansible_environment(collections_path: Path) -> dict[str, str]:
    """The environment every ansible command of these tests runs with: this checkout as speechops.edge."""
    bin_dir = Path(sys.executable).parent
    return dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(collections_path),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        PATH="%s:%s" % (bin_dir, os.environ.get("PATH", "")),
    )


def write_vars_file(path: Path, extra_vars: dict) -> str:
    """Extra vars go in a 0600 file, not on the command line: secrets must not show in the process list."""
    path.write_text(json.dumps(extra_vars))
    path.chmod(0o600)
    return "@%s" % path
