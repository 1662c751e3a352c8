#!/usr/bin/env bash
# The README's main job in one command: bring the local lab up, deploy an example fleet of Microsoft Speech
# containers onto it (speech-to-text en-US and a custom speech model on edge1, neural text-to-speech on
# edge2, language detection on edge3), print the fleet's status table, and write a WAV synthesised by the
# deployed text-to-speech to ./demo-output/hello.wav.
#
#   sudo scripts/demo.sh            (the lab needs root: Docker, apt-get, /etc/docker/certs.d)
#
# The fleet is examples/lab (host_vars per edge host); the lab writes its inventory and secrets to .lab/
# (or $SPEECHOPS_LAB_DIR). Run it again: the lab and the fleet are reused, nothing changes, the status and the
# greeting are fresh. `python3 lab/speechlab.py down` takes the lab down.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LAB_DIR="${SPEECHOPS_LAB_DIR:-$ROOT/.lab}"
OUT="${SPEECHOPS_DEMO_OUTPUT:-$ROOT/demo-output}"

say() { printf '\n=== %s\n' "$*"; }

say "lab: python3 lab/speechlab.py up"
python3 lab/speechlab.py up

say "Ansible: .venv with the pinned tools, the collection placed under build/"
scripts/test.sh --venv-only
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/build"
export ANSIBLE_HOST_KEY_CHECKING=False

mkdir -p "$OUT"
say "deploy the example fleet, show its status, say hello"
ansible-playbook -i "$LAB_DIR/inventory.yml" -i examples/lab speechops.edge.demo \
    -e speech_demo_output="$OUT/hello.wav" \
    -e speech_status_report="$OUT/speech-status.md"

say "done"
echo "status table:  $OUT/speech-status.md"
echo "greeting:      $OUT/hello.wav"
