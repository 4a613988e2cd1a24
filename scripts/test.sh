#!/usr/bin/env bash
# Runs every check: lint, types, the whole Python suite (real agents and real Neovim included), the bench suite's
# quick mode, then the VS Code extension's build and tests (unit, protocol, real VS Code in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-agents.sh
bash scripts/install-editors.sh
bash scripts/install-sandbox.sh
export AGENT_BRIDGE_REQUIRE_REAL_AGENTS=1
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache   # the layers' dependency direction (pyproject.toml)
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
if [[ $# -eq 0 ]]; then  # a plain run is the full run; with pytest arguments only those tests run
    # Keeps the bench suite working: every bench runs and prints its rows; nothing about time is asserted.
    .venv/bin/python bench/run.py --quick
    bash scripts/test-vscode.sh
fi
