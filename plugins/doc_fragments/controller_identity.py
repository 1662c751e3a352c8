# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Who runs the playbook: filled in on the controller by the modules' action plugins.
    DOCUMENTATION = r"""
options:
  run_id:
    description:
      - The run, derived on the controller from the C(ansible-playbook) process (the same for every task of one run,
        another for every run). Set by the action plugin; give it only to act for a run by hand.
    type: str
  controller_user:
    description: The user running the playbook on the controller (set by the action plugin).
    type: str
  controller:
    description: The controller's host name (set by the action plugin).
    type: str
"""
