#!/usr/bin/env bash
# The main job: sets itself up, then drives a whole agent session in a temporary repository
# (prompt, streamed turn, pending hunks, apply, reject) with the bundled scripted agent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/agent-bridge demo "$@"
