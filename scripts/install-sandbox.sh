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
    # shellcheck source=scripts/lib/apt.sh
    source "$(dirname "$0")/lib/apt.sh"
    apt_ready install-sandbox "bubblewrap is" || exit 0
    apt_install install-sandbox bubblewrap
fi
if probe 2>/tmp/install-sandbox.err; then
    echo "install-sandbox: $(bwrap --version) makes sandboxes here"
else
    echo "install-sandbox: bwrap is installed but cannot make a sandbox here: $(tail -1 /tmp/install-sandbox.err)" \
        "(unprivileged user namespaces off? see SECURITY.md)" >&2
fi
