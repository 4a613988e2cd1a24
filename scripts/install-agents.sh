#!/usr/bin/env bash
# Install the real agents that the real_agent tests drive, into <repo>/.agents (local npm prefixes).
# Binaries end up in <repo>/.agents/node_modules/.bin/ (qwen, claude-agent-acp, gemini) and
# <repo>/.agents/opencode/node_modules/.bin/opencode.
#
# Idempotent: if the pinned versions are already there it exits in well under a second without touching npm.
# Usage: scripts/install-agents.sh [--force]
set -euo pipefail

# Pinned because the scripted LLM and the tests depend on each agent's tool names, request shapes and ACP quirks;
# bump deliberately and re-run the real_agent tests.
QWEN_PKG="@qwen-code/qwen-code"
QWEN_VERSION="0.15.10"
CLAUDE_ACP_PKG="@zed-industries/claude-agent-acp"
CLAUDE_ACP_VERSION="0.23.1"
GEMINI_PKG="@google/gemini-cli"
GEMINI_VERSION="0.61.0"
OPENCODE_PKG="opencode-ai"
OPENCODE_VERSION="1.18.33"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${AGENTS_PREFIX:-$repo/.agents}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# Reads "version" from an installed package.json without npm (npm itself takes ~0.3 s to start).
installed_version() {
    local pj="$prefix/node_modules/$1/package.json"
    [[ -f "$pj" ]] || return 0
    node -e 'process.stdout.write(String(require(process.argv[1]).version || ""))' "$pj" 2>/dev/null || true
}

# opencode-ai lists a binary package per platform as optional dependencies, and npm installs two of them on
# x64 Linux (plain and -baseline, 177 MB each). With --omit=optional its postinstall fetches just the one
# this machine needs, so it gets its own prefix (--omit applies to a whole tree) and half the download.
# The marker is written once the binary answered --version (which takes ~1 s, too slow for every run).
oc_prefix="$prefix/opencode"
oc_marker="$oc_prefix/.installed-$OPENCODE_VERSION"
opencode_up_to_date() {
    [[ -f "$oc_marker" && -x "$oc_prefix/node_modules/.bin/opencode" ]]
}

acp_up_to_date() {
    [[ "$(installed_version "$QWEN_PKG")" == "$QWEN_VERSION" ]] &&
        [[ "$(installed_version "$CLAUDE_ACP_PKG")" == "$CLAUDE_ACP_VERSION" ]] &&
        [[ "$(installed_version "$GEMINI_PKG")" == "$GEMINI_VERSION" ]] &&
        [[ -x "$prefix/node_modules/.bin/qwen" ]] &&
        [[ -x "$prefix/node_modules/.bin/claude-agent-acp" ]] &&
        [[ -x "$prefix/node_modules/.bin/gemini" ]]
}

up_to_date() {
    acp_up_to_date && opencode_up_to_date
}

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "install-agents: '$tool' not found; Node >= 20 with npm is required" >&2
        exit 1
    fi
done
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
    echo "install-agents: Node >= 20 required (qwen-code's engines field), found $(node --version)" >&2
    exit 1
fi

if (( force == 0 )) && up_to_date; then
    echo "install-agents: already installed ($QWEN_PKG@$QWEN_VERSION, $CLAUDE_ACP_PKG@$CLAUDE_ACP_VERSION," \
        "$GEMINI_PKG@$GEMINI_VERSION, $OPENCODE_PKG@$OPENCODE_VERSION) in $(elapsed) s"
    exit 0
fi

mkdir -p "$prefix"
# Own package.json so npm treats .agents as its own project instead of walking up to some parent's.
if [[ ! -f "$prefix/package.json" ]]; then
    printf '{\n  "name": "agent-bridge-test-agents",\n  "private": true\n}\n' >"$prefix/package.json"
fi

if (( force == 1 )) || ! acp_up_to_date; then
    echo "install-agents: installing $QWEN_PKG@$QWEN_VERSION $CLAUDE_ACP_PKG@$CLAUDE_ACP_VERSION" \
        "$GEMINI_PKG@$GEMINI_VERSION into $prefix"
    # CI must never block on a prompt or a notifier; exact pins keep package.json reproducible. npm 11 may skip
    # the install scripts of gemini-cli's keytar and node-pty (not allowed by default): gemini runs without them.
    npm install --prefix "$prefix" --no-audit --no-fund --no-update-notifier --save-exact \
        --loglevel=error --yes \
        "$QWEN_PKG@$QWEN_VERSION" "$CLAUDE_ACP_PKG@$CLAUDE_ACP_VERSION" "$GEMINI_PKG@$GEMINI_VERSION" </dev/null
fi

if (( force == 1 )) || ! opencode_up_to_date; then
    echo "install-agents: installing $OPENCODE_PKG@$OPENCODE_VERSION into $oc_prefix"
    mkdir -p "$oc_prefix"
    rm -f "$oc_prefix"/.installed-*
    if [[ ! -f "$oc_prefix/package.json" ]]; then
        printf '{\n  "name": "agent-bridge-test-opencode",\n  "private": true\n}\n' >"$oc_prefix/package.json"
    fi
    npm install --prefix "$oc_prefix" --no-audit --no-fund --no-update-notifier --save-exact \
        --loglevel=error --yes --omit=optional "$OPENCODE_PKG@$OPENCODE_VERSION" </dev/null
    got="$("$oc_prefix/node_modules/.bin/opencode" --version 2>/dev/null || true)"
    if [[ "$got" != "$OPENCODE_VERSION" ]]; then
        echo "install-agents: opencode --version printed '$got', expected $OPENCODE_VERSION" >&2
        exit 1
    fi
    touch "$oc_marker"
fi

if ! up_to_date; then
    echo "install-agents: install finished but the pinned versions/binaries are not in place" >&2
    exit 1
fi
echo "install-agents: installed in $(elapsed) s ($(du -sh "$prefix" 2>/dev/null | cut -f1) on disk)"
