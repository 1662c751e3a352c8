#!/usr/bin/env bash
# Build the speechops.edge execution environment (examples/execution-environment.yml) on this machine, where
# `docker build` reaches no registry, Galaxy or package mirror:
#
#   sudo scripts/build_ee.sh [TAG]        (default TAG: $SPEECHOPS_EE_IMAGE or speechops-edge-ee:test)
#
# 1. the base image speechops-lab/ee-base:bookworm (`python3 lab/speechlab.py ee-base`; root: Docker, apt-get)
# 2. build/ee/inputs/speechops-edge.tar.gz: `ansible-galaxy collection build` of this checkout, replaced only
#    when the collection's files changed (an unchanged artifact keeps Docker's layer cache)
# 3. build/ee/inputs/wheelhouse: `pip download` (on the host, which reaches PyPI) of everything the build
#    pip-installs: ansible-core, ansible-runner and dumb-init as the EE file pins them, bindep/pyyaml/packaging
#    (ansible-builder's builder stage) and the collection's requirements.txt; refreshed when that list changes
# 4. ansible-builder build (the legacy builder, DOCKER_BUILDKIT=0: ansible-builder only runs `docker build`, and
#    its multi-stage Dockerfile needs no BuildKit), context build/ee/context
# Idempotent: a second run changes nothing and takes seconds. Needs .venv (scripts/test.sh --venv-only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TAG="${1:-${SPEECHOPS_EE_IMAGE:-speechops-edge-ee:test}}"
EE_FILE="examples/execution-environment.yml"
OUT="$ROOT/build/ee"
INPUTS="$OUT/inputs"
VENV_BIN="$ROOT/.venv/bin"
export PATH="$VENV_BIN:$PATH" DOCKER_BUILDKIT=0

say() { printf '[build_ee] %s\n' "$*"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'; }

for tool in ansible-builder ansible-galaxy pip; do
    [[ -x "$VENV_BIN/$tool" ]] || { say "$VENV_BIN/$tool missing: run scripts/test.sh --venv-only"; exit 2; }
done
mkdir -p "$INPUTS"
T0="$EPOCHREALTIME"

t="$EPOCHREALTIME"
python3 lab/speechlab.py ee-base | sed 's/^/  /'
say "base image: $(elapsed "$t")"

# --- the collection artifact -------------------------------------------------------------------------------
t="$EPOCHREALTIME"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ansible-galaxy collection build --force --output-path "$tmp" . >/dev/null
new="$(echo "$tmp"/speechops-edge-*.tar.gz)"
# FILES.json holds every file's sha256 and MANIFEST.json the metadata: equal members, equal content. The tarball
# itself differs on every build (timestamps), which would defeat the layer cache.
fingerprint() { tar -xOzf "$1" MANIFEST.json FILES.json | sha256sum | cut -d' ' -f1; }
artifact="$INPUTS/speechops-edge.tar.gz"
if [[ -f "$artifact" && "$(fingerprint "$artifact")" == "$(fingerprint "$new")" ]]; then
    say "collection artifact: unchanged ($(basename "$new")), $(elapsed "$t")"
else
    mv "$new" "$artifact"
    say "collection artifact: $(basename "$new") -> $artifact, $(elapsed "$t")"
fi

# --- the wheelhouse ----------------------------------------------------------------------------------------
t="$EPOCHREALTIME"
reqs="$tmp/wheelhouse-requirements.txt"
python - "$EE_FILE" >"$reqs" <<'EOF'
import sys
import yaml
ee = yaml.safe_load(open(sys.argv[1]))
deps = ee["dependencies"]
print(deps["ansible_core"]["package_pip"])
print(deps["ansible_runner"]["package_pip"])
# ansible-builder's defaults: the container init (options.container_init) and the builder stage's own tools.
print(ee.get("options", {}).get("container_init", {}).get("package_pip", "dumb-init==1.2.5"))
print("bindep\npyyaml\npackaging")
EOF
grep -v '^\s*#' requirements.txt | sed -e 's/\s*#.*//' -e '/^\s*$/d' >>"$reqs"
want="$(sha256sum <"$reqs" | cut -d' ' -f1)"
wheelhouse="$INPUTS/wheelhouse"
if [[ -f "$wheelhouse/.requirements.sha256" && "$(cat "$wheelhouse/.requirements.sha256")" == "$want" ]]; then
    say "wheelhouse: unchanged ($(find "$wheelhouse" -name '*.whl' | wc -l) wheels), $(elapsed "$t")"
else
    # Wheels only: nothing can be compiled inside the build. The host runs the image's Python (3.11, glibc 2.36).
    rm -rf "$wheelhouse.new"
    # (grep: this machine's pip configuration names local index directories that warn for every package)
    pip download --quiet --disable-pip-version-check --only-binary=:all: -d "$wheelhouse.new" -r "$reqs" \
        2> >(grep -v "^WARNING: Location 'file://" >&2)
    cp "$reqs" "$wheelhouse.new/requirements.txt"
    echo "$want" >"$wheelhouse.new/.requirements.sha256"
    rm -rf "$wheelhouse"
    mv "$wheelhouse.new" "$wheelhouse"
    say "wheelhouse: $(find "$wheelhouse" -name '*.whl' | wc -l) wheels, $(du -sh "$wheelhouse" | cut -f1), $(elapsed "$t")"
fi

# --- the image ---------------------------------------------------------------------------------------------
t="$EPOCHREALTIME"
log="$OUT/ansible-builder.log"
# --force-rm: a failed step leaves no stopped container behind.
if ! ansible-builder build -f "$EE_FILE" -t "$TAG" --context "$OUT/context" --container-runtime docker -v 3 \
    --extra-build-cli-args=--force-rm >"$log" 2>&1; then
    tail -n 40 "$log"
    say "ansible-builder build failed (log $log)"
    exit 1
fi
say "image $TAG: $(docker image inspect -f '{{.Id}}' "$TAG" | cut -c8-19), \
$(docker image inspect -f '{{.Size}}' "$TAG" | awk '{ printf "%d MB", $1 / 1000000 }'), $(elapsed "$t") (log $log)"
# The legacy builder leaves the galaxy and builder stages, and the image a rebuild replaced, untagged. Remove those
# (dangling images built on this ee-base only; the lab's own images and anyone else's stay).
base_hash="$(docker image inspect -f '{{index .Config.Labels "speechops.lab.context"}}' speechops-lab/ee-base:bookworm)"
docker image prune --force --filter "label=speechops.lab.context=$base_hash" >/dev/null
say "total $(elapsed "$T0")"
