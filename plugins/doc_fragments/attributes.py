# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The attributes every module documents, composed the way community.docker composes its own: the fragment
    # says what an attribute means, each module says how far it supports it (support, details, platforms).
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
  platform:
    description: Target OS/families that can be operated against.
    support: full
"""

    # The modules whose argument_spec holds the Docker engine options (doc fragment speechops.edge.docker_engine);
    # meta/runtime.yml lists exactly these in the action group docker.
    ACTIONGROUP_DOCKER = r"""
options: {}
attributes:
  action_group:
    description:
      - Use C(group/speechops.edge.docker) in C(module_defaults) to set defaults for this module, for example
        O(docker_host) and O(timeout) of the Docker engine for every module of the group at once.
      - The short C(group/docker) is not this group (ansible-core keeps that name for community.docker's modules).
    support: full
    membership:
      - speechops.edge.docker
"""
