#!/usr/bin/env bash
# The one test command of speechops.edge (`make test` runs it with no arguments).
#
#   scripts/test.sh               every stage: ruff ansible-lint sanity changelog docs build unit matrix ee lab
#                                 conformance (build installs the artifact; conformance deploys from it)
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
# Stage build installs the built artifact here (ANSIBLE_COLLECTIONS_PATH for stages that run the package as
# users get it); it is removed whenever a build fails, so what is there passed the build checks.
INSTALLED_COLLECTIONS="$ROOT/.installed-collection"
ALL_STAGES=(ruff ansible-lint sanity changelog docs build unit matrix ee lab conformance)
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

# Build the artifact, fail on any entry that is not collection content (scripts/check_package.py names each one),
# install it into a fresh $INSTALLED_COLLECTIONS and use that copy alone: every module and filter documented from
# it, every playbook syntax-checked from it, and tests/package/installed.yml run with it on localhost.
stage_build() {
    local out rc=0 artifact playbooks=() playbook run_log
    # Only the installed copy to find: neither the placed tree, nor the symlink under .ansible/collections, nor a
    # sys.path scan can supply what the artifact lacks.
    local only_installed=(env ANSIBLE_COLLECTIONS_PATH="$INSTALLED_COLLECTIONS" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false)
    out="$(mktemp -d)"
    rm -rf "$INSTALLED_COLLECTIONS"
    if ! ansible-galaxy collection build --force --output-path "$out" . >/dev/null; then
        rm -rf "$out"
        return 1
    fi
    artifact="$(echo "$out"/speechops-edge-*.tar.gz)"
    python scripts/check_package.py artifact "$artifact" || rc=1
    if ((rc == 0)); then
        "${only_installed[@]}" ansible-galaxy collection install --offline -p "$INSTALLED_COLLECTIONS" "$artifact" \
            >/dev/null || rc=1
    fi
    rm -rf "$out"
    ((rc == 0)) || { rm -rf "$INSTALLED_COLLECTIONS"; return 1; }
    for playbook in playbooks/*.yml; do
        playbook="${playbook##*/}"
        playbooks+=("speechops.edge.${playbook%.yml}")
    done
    run_log="$(mktemp)"
    # Run outside the repository: no path relative to the working tree may stand in for the artifact's content.
    (
        cd "$INSTALLED_COLLECTIONS" || exit 1
        log "installed: $("${only_installed[@]}" ansible-galaxy collection list speechops.edge --format json)"
        python "$ROOT/scripts/check_package.py" installed "$INSTALLED_COLLECTIONS" "$ROOT" || exit 1
        "${only_installed[@]}" ansible-playbook -i localhost, --syntax-check "${playbooks[@]}" | grep -v '^$' || exit 1
        "${only_installed[@]}" ansible-playbook -i localhost, "$ROOT/tests/package/installed.yml" >"$run_log" 2>&1 || {
            cat "$run_log"
            exit 1
        }
        grep -A1 '^PLAY RECAP' "$run_log"
    ) || rc=1
    rm -f "$run_log"
    ((rc == 0)) || rm -rf "$INSTALLED_COLLECTIONS"
    return "$rc"
}

stage_unit() {
    pytest tests/unit
}

# The other ansible-core versions that meta/runtime.yml's requires_ansible claims (requirements/matrix.txt, one pin
# a line; .venv's own version is stages unit and sanity). Each gets .venv-matrix/<version>/ with ansible-core and
# the unit tests' pins of .venv (pytest, docker, jinja2; not ansible-lint or molecule, which need the newest core),
# kept while pins and interpreter are unchanged, then runs tests/unit and ansible-test sanity. The venvs are built in
# parallel (pip waits on the network); the tests run one version after the other: every ansible-test writes the same
# tests/output/.tmp (the import test removes its tree there when done) and pylint alone fills the 2 cores.
stage_matrix() {
    local python="${SPEECHOPS_PYTHON:-python3}" pins=() deps=() pids=() results=() rc=0
    local pin version venv want pid start unit sanity pyver
    mapfile -t pins < <(grep -E '^ansible-core==' requirements/matrix.txt)
    ((${#pins[@]})) || { log "requirements/matrix.txt pins no ansible-core"; return 1; }
    mapfile -t deps < <(grep -hE '^(pytest|docker|jinja2)==' requirements/controller.txt requirements/test.txt)
    # requires_ansible must claim exactly what is tested: every minor from its lower bound up to .venv's.
    python - "${pins[@]#ansible-core==}" <<'PY' || return 1
import sys

import ansible
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

with open("meta/runtime.yml", encoding="utf-8") as runtime:
    spec = SpecifierSet(yaml.safe_load(runtime)["requires_ansible"])
versions = [Version(v) for v in [ansible.__version__, *sys.argv[1:]]]
tested = {v.release[:2] for v in versions}
newest = max(versions).release[1]
claimed = {(2, minor) for minor in range(newest + 1) if f"2.{minor}.9999" in spec}
problems = [f"ansible-core {v} does not satisfy requires_ansible {spec}" for v in versions if v not in spec]
problems += [f"requires_ansible {spec} claims 2.{m}, which no test runs" for _, m in sorted(claimed - tested)]
print("\n".join(problems) or f"requires_ansible {spec}: tested {', '.join(str(v) for v in sorted(versions))}")
sys.exit(1 if problems else 0)
PY
    for pin in "${pins[@]}"; do
        venv="$ROOT/.venv-matrix/${pin#ansible-core==}"
        want="$(printf '%s\n' "$pin" "${deps[@]}" | sha256sum | cut -d' ' -f1) $("$python" -V 2>&1)"
        if [[ -x "$venv/bin/python" && "$(cat "$venv/.speechops-requirements.sha256" 2>/dev/null)" == "$want" ]]; then
            log "--- $venv is up to date"
            continue
        fi
        log "--- creating $venv"
        {
            "$python" -m venv --clear "$venv" &&
                "$venv/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip &&
                "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$pin" "${deps[@]}" &&
                printf '%s\n' "$want" >"$venv/.speechops-requirements.sha256"
        } &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
    ((rc == 0)) || { log "creating a venv under .venv-matrix failed"; return 1; }
    for pin in "${pins[@]}"; do
        version="${pin#ansible-core==}"
        venv="$ROOT/.venv-matrix/$version"
        pyver="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        start="$EPOCHREALTIME"
        log ""
        log "--- ansible-core $version: pytest tests/unit"
        # The collection's unit tests; those of the repository's tooling (not collection content, not tied to
        # ansible-core, with their own dependencies) run in stage unit. No cache provider: stage unit keeps its own
        # record of the last failures.
        unit=PASS
        PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" "$venv/bin/pytest" -p no:cacheprovider tests/unit \
            --ignore=tests/unit/benchmarks --ignore=tests/unit/scripts || unit=FAIL
        log "--- ansible-core $version: ansible-test sanity"
        sanity=PASS
        PATH="$venv/bin:$PATH" seed_ansible_test_pip || sanity=FAIL
        if [[ "$sanity" == PASS ]]; then
            (cd "$PLACED" && PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" ANSIBLE_TEST_CONTENT_ROOT="$PLACED" \
                "$venv/bin/ansible-test" sanity --local --python "$pyver") || sanity=FAIL
        fi
        [[ "$unit$sanity" == PASSPASS ]] || rc=1
        results+=("ansible-core $version  unit $unit  sanity $sanity  $(awk -v a="$start" -v b="$EPOCHREALTIME" \
            'BEGIN { printf "%.0f", b - a }')s")
    done
    log ""
    printf '%s\n' "${results[@]}"
    return "$rc"
}

# The execution environment without the lab: scripts/build_ee.sh builds it from this checkout (root, Docker; warm
# in seconds), tests/ee checks the collection and pins in it and runs an ansible-runner job in it. The deploy from
# it onto the lab is tests/integration/test_execution_environment.py (lab stage).
stage_ee() {
    pytest tests/ee
}

# antsibull-changelog (pinned in requirements/test.txt) judges the fragments waiting for the next release (lint:
# sections, add plugin./add object. forms, RST) and the record of the released ones, changelogs/changelog.yaml
# (--strict: nothing its specification lacks). Both print one line per problem and exit non-zero. A release shows
# one release_summary, and two fragments bringing one each pass lint (the last silently wins): that is checked here.
stage_changelog() {
    local rc=0 summaries
    antsibull-changelog lint || rc=1
    antsibull-changelog lint-changelog-yaml --strict changelogs/changelog.yaml || rc=1
    mapfile -t summaries < <(grep -l '^release_summary:' changelogs/fragments/*.y*ml 2>/dev/null)
    if ((${#summaries[@]} > 1)); then
        printf 'more than one fragment has a release_summary, a release shows only one: %s\n' "${summaries[*]}"
        rc=1
    fi
    return "$rc"
}

# antsibull-docs (pinned in requirements/test.txt) lints what the Ansible docsite would render - every module,
# filter and role entry point, and the guides of docs/docsite with every collection reference in them resolved
# (--check-extra-docs-refs) - then renders the collection docs with the guides, failing on any parse or schema
# error. Each guide listed in docs/docsite/extra-docs.yml must come out as a page. The output goes to a temporary
# directory, removed afterwards. (A Sphinx HTML build cannot run here: its intersphinx inventories are online.)
stage_docs() {
    local out rc=0 guide guides
    antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs "$PLACED" || rc=1
    out="$(mktemp -d)"
    if antsibull-docs collection --use-current --fail-on-error --squash-hierarchy --cleanup everything \
        --dest-dir "$out" speechops.edge; then
        mapfile -t guides < <(python -c '
import yaml
index = yaml.safe_load(open("docs/docsite/extra-docs.yml", encoding="utf-8"))
for section in index["sections"]:
    for entry in section["toctree"]:
        print(entry if isinstance(entry, str) else entry["ref"])
')
        ((${#guides[@]})) || { log "docs/docsite/extra-docs.yml lists no guide"; rc=1; }
        for guide in "${guides[@]}"; do
            [[ -s "$out/docsite/$guide.rst" ]] || { log "guide $guide was not rendered (docsite/$guide.rst)"; rc=1; }
        done
        log "rendered: $(find "$out" -name '*.rst' | wc -l) pages, ${#guides[@]} guides"
    else
        rc=1
    fi
    rm -rf "$out"
    return "$rc"
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
# The demo fleet is deployed from the artifact stage build installed (the package as users get it, nothing else on
# the collections path), so the SDKs judge what ships.
stage_conformance() {
    local targets="$LAB_DIR/conformance-targets.json" out
    local installed=(env ANSIBLE_COLLECTIONS_PATH="$INSTALLED_COLLECTIONS" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false)
    if [[ ! -d "$INSTALLED_COLLECTIONS/ansible_collections/speechops/edge" ]]; then
        log "--- no installed artifact from stage build in this run: building and installing it first"
        stage_build || return 1
    fi
    out="$(mktemp)"
    log "--- deploy the demo fleet (examples/lab) with speechops.edge.deploy from the installed artifact"
    if ! ANSIBLE_HOST_KEY_CHECKING=False "${installed[@]}" ansible-playbook -i "$LAB_DIR/inventory.yml" \
        -i examples/lab speechops.edge.deploy >"$out" 2>&1; then
        tail -n 40 "$out"
        rm -f "$out"
        return 1
    fi
    grep -A8 '^PLAY RECAP' "$out"
    rm -f "$out"
    ANSIBLE_HOST_KEY_CHECKING=False "${installed[@]}" ansible-playbook -i "$LAB_DIR/inventory.yml" -i examples/lab \
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
            ruff | ansible-lint | sanity | changelog | docs | build | unit | matrix | ee | lab | conformance)
                stages+=("$arg") ;;
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
