#!/usr/bin/env bash
# Install the real editors that the editor tests drive and that no Python or npm package ships: Emacs with eglot
# and with lsp-mode (tests/real/test_emacs_eglot.py, test_emacs_lsp_mode.py; Debian's elpa-lsp-mode), from apt; and an SSH server (tests/real/test_ssh.py: an editor reaching the
# bridge daemon over `ssh host agent-bridge serve`). Debian 12 ships Emacs 28.2 (emacs-nox) and eglot 1.9 as the separate
# elpa-eglot; from Emacs 29 on eglot is built in, so elpa-eglot is installed only when Emacs has no eglot.
#
# Idempotent: when Emacs with eglot is there it exits at once without touching apt. Installs as root, or through
# password-less sudo; otherwise it says what is missing and exits 0, so the tests decide (they skip without Emacs,
# or fail when AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set).
# Usage: scripts/install-editors.sh
set -euo pipefail

start=$(date +%s.%N)
elapsed() { awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

have_emacs() { command -v emacs >/dev/null 2>&1; }
# -q, not -Q: Debian puts elpa packages on the load path from its site-start.
has_eglot() { emacs -q --batch --eval '(kill-emacs (if (require (quote eglot) nil t) 0 1))' >/dev/null 2>&1; }
has_lsp_mode() { emacs -q --batch --eval '(kill-emacs (if (require (quote lsp-mode) nil t) 0 1))' >/dev/null 2>&1; }

have_sshd() { [[ -x /usr/sbin/sshd ]] || command -v sshd >/dev/null 2>&1; }

if have_emacs && has_eglot && has_lsp_mode && have_sshd; then
    echo "install-editors: $(emacs --version | head -1) with eglot and lsp-mode, and sshd, already installed in $(elapsed) s"
    exit 0
fi

# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
apt_ready install-editors "Emacs with eglot or sshd is" || exit 0

have_emacs || apt_install install-editors emacs-nox
has_eglot || apt_install install-editors elpa-eglot
has_lsp_mode || apt_install install-editors elpa-lsp-mode
have_sshd || apt_install install-editors openssh-server openssh-client

if ! have_emacs || ! has_eglot || ! has_lsp_mode; then
    echo "install-editors: installed, but emacs with eglot and lsp-mode is still not usable" >&2
    exit 1
fi
echo "install-editors: installed $(emacs --version | head -1) with eglot and lsp-mode in $(elapsed) s"
