#!/usr/bin/env bash
# Install bubblewrap (`bwrap`), which sandboxed agents run under (tests/security/test_sandbox.py, the sandboxed
# variants in tests/real/, bench/bench_sandbox.py), from apt, and check that it can make a sandbox here (it needs
# unprivileged user namespaces, or root).
#
# Idempotent: when bwrap is there it only checks it. Installs as root, or through password-less sudo; otherwise
# it says what is missing and exits 0, so the tests decide (they skip without a sandbox, or fail when
# AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set).
# Usage: scripts/install-sandbox.sh
set -euo pipefail

probe() { bwrap --die-with-parent --unshare-pid --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp true; }

if ! command -v bwrap >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "install-sandbox: bubblewrap is missing; not root and no password-less sudo, so not installing it" \
            "(the sandbox tests skip, or fail when AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set)" >&2
        exit 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-sandbox: bubblewrap is missing and there is no apt-get here; install it yourself" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "install-sandbox: apt-get install bubblewrap"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends bubblewrap </dev/null >/dev/null
fi
if probe 2>/tmp/install-sandbox.err; then
    echo "install-sandbox: $(bwrap --version) makes sandboxes here"
else
    echo "install-sandbox: bwrap is installed but cannot make a sandbox here: $(tail -1 /tmp/install-sandbox.err)" \
        "(unprivileged user namespaces off? see SECURITY.md)" >&2
fi
