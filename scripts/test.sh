#!/usr/bin/env bash
# The one test command of speechops.edge (`make test` runs it with no arguments).
#
#   scripts/test.sh               every stage: ruff ansible-lint sanity build unit lab conformance
#   scripts/test.sh STAGE...      only the named stages (make lint / sanity / unit use this)
#   scripts/test.sh --venv-only   create/refresh .venv and place the collection, run nothing
#
# Every stage is timed and prints PASS or FAIL; a failure does not stop later stages. The last line is
# "N passed, N failed" (stages) and the exit status is non-zero when any stage failed.
#
# Environment:
#   SPEECHOPS_SKIP_LAB=1   skip the lab stage (quick local runs; never set in CI)
#   SPEECHOPS_PYTHON       interpreter that creates .venv (default: python3)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

VENV="$ROOT/.venv"
STAMP="$VENV/.speechops-requirements.sha256"
COLLECTIONS_ROOT="$ROOT/build"
PLACED="$COLLECTIONS_ROOT/ansible_collections/speechops/edge"
ALL_STAGES=(ruff ansible-lint sanity build unit lab conformance)
# Stages that need the lab: it comes up once before the first of them and goes down after the last stage.
LAB_STAGES=(lab conformance)
LAB_DIR="${SPEECHOPS_LAB_DIR:-$ROOT/.lab}"
PY_PATHS=(plugins tests lab benchmarks scripts)

log() { printf '%s\n' "$*"; }

# --- setup ------------------------------------------------------------------------------------------

ensure_venv() {
    local python="${SPEECHOPS_PYTHON:-python3}" want
    want="$(cat requirements/controller.txt requirements/test.txt requirements/conformance.txt | sha256sum | cut -d' ' -f1) $("$python" -V 2>&1)"
    if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
        log "--- .venv is up to date with requirements/*.txt"
        return 0
    fi
    log "--- creating .venv from requirements/test.txt"
    "$python" -m venv --clear "$VENV" || return 1
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip || return 1
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
        -r requirements/test.txt -r requirements/conformance.txt || return 1
    printf '%s\n' "$want" >"$STAMP"
}

# The repository root is the collection; ansible-test and the unit tests need it under
# .../ansible_collections/speechops/edge. A relative symlink keeps one tree (no copy to go stale).
# The second symlink is for ansible-lint and molecule (ansible-compat): with ANSIBLE_HOME=.ansible they
# look for the collection under .ansible/collections and, finding a symlink to the project, skip
# building and installing a copy of it there (a copy would go stale and shadow the placed tree).
place_collection() {
    local link
    for link in "$PLACED:../../.." "$ROOT/.ansible/collections/ansible_collections/speechops/edge:../../../.."; do
        mkdir -p "$(dirname "${link%%:*}")" || return 1
        ln -sfn "${link#*:}" "${link%%:*}" || return 1
        [[ "$(cd "${link%%:*}" && pwd -P)" == "$(pwd -P)" ]] || { log "${link%%:*} does not resolve to $ROOT"; return 1; }
    done
}

# ansible-test builds every sanity virtualenv without pip and bootstraps pip with a script it downloads
# from ci-files.testing.ansible.com, which these machines cannot reach. Seed its cache with the offline
# stand-in (scripts/ansible_test_get_pip.py) under the name this ansible-test version asks for.
seed_ansible_test_pip() {
    local version cache
    version="$(python - <<'EOF'
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
import sys
print(get_venv_packages(SimpleNamespace(version="%d.%d" % sys.version_info[:2]))["pip"])
EOF
)" || { log "cannot read ansible-test's pip bootstrap version"; return 1; }
    cache="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
    mkdir -p "$(dirname "$cache")" || return 1
    # Keep a real get-pip script a developer put there; refresh our own stand-in.
    if [[ ! -f "$cache" ]] || grep -q 'speechops-edge-get-pip-stand-in' "$cache"; then
        cp scripts/ansible_test_get_pip.py "$cache" || return 1
    fi
}

existing() {
    local p
    for p in "$@"; do [[ -e "$p" ]] && printf '%s\n' "$p"; done
}

# --- stages -------------------------------------------------------------------------------------------

stage_ruff() {
    local paths rc=0
    mapfile -t paths < <(existing "${PY_PATHS[@]}")
    ruff check "${paths[@]}" || rc=1
    ruff format --check "${paths[@]}" || rc=1
    return "$rc"
}

stage_ansible_lint() {
    ansible-lint
}

stage_sanity() {
    local pyver
    pyver="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    seed_ansible_test_pip || return 1
    # --local: run in .venv itself (no extra controller venv); each sanity test still gets its own cached
    # venv in ~/.ansible/test/venv with ansible-test's pinned tools. ANSIBLE_TEST_CONTENT_ROOT keeps the
    # symlinked path (os.getcwd() would resolve it to the repo root, outside any ansible_collections/).
    (cd "$PLACED" && ANSIBLE_TEST_CONTENT_ROOT="$PLACED" ansible-test sanity --local --python "$pyver")
}

stage_build() {
    local out rc=0 listing
    out="$(mktemp -d)"
    if ansible-galaxy collection build --force --output-path "$out" . >/dev/null; then
        listing="$(tar -tzf "$out"/speechops-edge-*.tar.gz)"
        log "artifact: $(basename "$out"/speechops-edge-*.tar.gz), $(wc -l <<<"$listing") entries"
        for must in MANIFEST.json FILES.json meta/runtime.yml LICENSE plugins/; do
            grep -q "^$must" <<<"$listing" || { log "artifact lacks $must"; rc=1; }
        done
        if grep -E '^(\.venv|\.lab|\.ansible|\.benchmarks|build|lab|benchmarks|scripts|\.ci|requirements|tests/output)(/|$)' <<<"$listing"; then
            log "artifact contains the paths above, which build_ignore must keep out"
            rc=1
        fi
    else
        rc=1
    fi
    rm -rf "$out"
    return "$rc"
}

stage_unit() {
    pytest tests/unit
}

stage_lab() {
    local rc=0
    mapfile -t dirs < <(existing tests/lab tests/integration)
    if ((${#dirs[@]})); then
        # exit code 5 (no tests collected) counts as a failure like any other non-zero code
        SPEECHOPS_REQUIRE_LAB=1 pytest "${dirs[@]}" || rc=1
    fi
    if [[ -d extensions/molecule ]]; then
        molecule test --all || rc=1
    fi
    return "$rc"
}

# Microsoft's Speech SDKs (Python and JavaScript) judge the containers the collection's deploy puts on the lab:
# the demo fleet of examples/lab, deployed with speechops.edge.deploy, its targets read back from the hosts.
stage_conformance() {
    local targets="$LAB_DIR/conformance-targets.json" out
    out="$(mktemp)"
    log "--- deploy the demo fleet (examples/lab) with speechops.edge.deploy"
    if ! ANSIBLE_HOST_KEY_CHECKING=False ansible-playbook -i "$LAB_DIR/inventory.yml" -i examples/lab \
        speechops.edge.deploy >"$out" 2>&1; then
        tail -n 40 "$out"
        rm -f "$out"
        return 1
    fi
    grep -A8 '^PLAY RECAP' "$out"
    rm -f "$out"
    ANSIBLE_HOST_KEY_CHECKING=False ansible-playbook -i "$LAB_DIR/inventory.yml" -i examples/lab \
        tests/conformance/lab_targets.yml -e speech_conformance_targets="$targets" >/dev/null || return 1
    log "--- targets: $(sed -E 's/"key": *"[^"]*"/"key": "********"/g' "$targets" | tr -d ' \n')"
    # The demo fleet is behind the speech gateway: the SDKs trust the lab CA (OpenSSL's SSL_CERT_FILE for Python,
    # NODE_EXTRA_CA_CERTS for node).
    SPEECHOPS_CONFORMANCE_TARGETS="$targets" SSL_CERT_FILE="$LAB_DIR/ca.crt" NODE_EXTRA_CA_CERTS="$LAB_DIR/ca.crt" \
        python tests/conformance/run.py
}

lab_up() {
    log ""
    log "--- python3 lab/speechlab.py up --failure-hosts --sites"
    python3 lab/speechlab.py up --failure-hosts --sites
}

lab_down() {
    log ""
    log "--- python3 lab/speechlab.py down"
    python3 lab/speechlab.py down
}

# --- driver -------------------------------------------------------------------------------------------

PASSED=0
FAILED=0
SUMMARY=()

run_stage() {
    local name="$1" fn="stage_${1//-/_}" start end secs
    log ""
    log "===== stage $name ====="
    start="$EPOCHREALTIME"
    "$fn"
    local rc=$?
    end="$EPOCHREALTIME"
    secs="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
    if ((rc == 0)); then
        PASSED=$((PASSED + 1))
        SUMMARY+=("PASS  $name  ${secs}s")
    else
        FAILED=$((FAILED + 1))
        SUMMARY+=("FAIL  $name  ${secs}s  (exit $rc)")
    fi
    log "${SUMMARY[-1]}"
}

skip_stage() {
    SUMMARY+=("SKIP  $1  ($2)")
    log ""
    log "===== stage $1 ====="
    log "${SUMMARY[-1]}"
}

main() {
    local stages=() only_setup=0 arg
    for arg in "$@"; do
        case "$arg" in
            --venv-only) only_setup=1 ;;
            ruff | ansible-lint | sanity | build | unit | lab | conformance) stages+=("$arg") ;;
            lint) stages+=(ruff ansible-lint) ;;
            *) log "unknown stage: $arg (stages: ${ALL_STAGES[*]}, lint)"; exit 2 ;;
        esac
    done
    ((${#stages[@]})) || stages=("${ALL_STAGES[@]}")

    local t0="$EPOCHREALTIME" setup_secs
    if ! ensure_venv || ! place_collection; then
        log "setup failed (.venv or placement of the collection)"
        log "0 passed, 1 failed"
        exit 1
    fi
    setup_secs="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')"
    export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
    export ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS_ROOT" ANSIBLE_HOME="$ROOT/.ansible"
    log "setup ${setup_secs}s: $(python -V), $(ansible --version | head -n1), collection at $PLACED"
    ((only_setup)) && exit 0

    local lab_state=down
    for arg in "${stages[@]}"; do
        if [[ " ${LAB_STAGES[*]} " == *" $arg "* ]]; then
            if [[ "${SPEECHOPS_SKIP_LAB:-}" == 1 ]]; then
                skip_stage "$arg" "SPEECHOPS_SKIP_LAB=1"
                continue
            fi
            if [[ "$lab_state" == down ]]; then
                # Always take the lab down, whatever happens next; a failed teardown fails the run.
                trap 'lab_down || FAILED=$((FAILED + 1))' EXIT
                lab_state=up
                lab_up || lab_state=broken
            fi
            if [[ "$lab_state" == broken ]]; then
                FAILED=$((FAILED + 1))
                SUMMARY+=("FAIL  $arg  (the lab did not come up)")
                continue
            fi
        fi
        run_stage "$arg"
    done
    if [[ "$lab_state" != down ]]; then
        trap - EXIT
        lab_down || { FAILED=$((FAILED + 1)); SUMMARY+=("FAIL  lab down"); }
    fi

    log ""
    log "===== summary (setup ${setup_secs}s) ====="
    printf '%s\n' "${SUMMARY[@]}"
    log "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
}

main "$@"
