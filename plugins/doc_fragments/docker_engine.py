# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options shared by every module that talks to the edge host's Docker engine.
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker engine API of the edge host, as the Docker SDK for Python understands it.
      - The module runs on the edge host, so the local socket is the usual value.
    type: str
    default: unix:///var/run/docker.sock
    aliases: [docker_url]
  timeout:
    description:
      - Seconds to wait for one Docker engine API call before giving up.
    type: int
    default: 60
requirements:
  - Docker SDK for Python >= 5.0.0 on the edge host (C(python3-docker) on Debian 12, or C(pip install docker)).
"""
