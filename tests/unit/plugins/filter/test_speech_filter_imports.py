# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What loading the filter plugin costs: ansible loads it in every forked worker that templates a plan (the
deploy's per-host task arguments), and its collection loader compiles every imported file again each time. The
controller must not load the Docker SDK (a managed-host dependency) nor the registry client for that."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = (
    "import json, sys\n"
    "import ansible_collections.speechops.edge.plugins.filter.speech\n"
    "print(json.dumps(sorted(name for name in sys.modules if name.split('.')[0] in ('docker', 'requests')"
    " or name.endswith(('._reachability', '._registry_login', '._registry_client')))))\n"
)


def test_loading_the_filter_imports_neither_the_docker_sdk_nor_the_registry_client() -> None:
    # A fresh interpreter: this test process may have imported the SDK for other tests.
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=environment
    )
    assert json.loads(completed.stdout) == []
