#!/usr/bin/env bash
# Runs every check: lint, types, and the whole test suite, real agents included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install-agents.sh
export AGENT_BRIDGE_REQUIRE_REAL_AGENTS=1
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
