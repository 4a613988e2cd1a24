"""A session outlives Neovim: real headless Neovim 0.11 (the README's minimal configuration), stopped and started
again on the same state dir, against the real bridge and its scripted agent.

The first Neovim prompts two turns that each rewrite greet.py and quits. The second one (a new process; the
bridge daemon it starts finds the session in the state dir) shows the chat with ``:AgentChat``: both turns are
drawn from ``agentBridge.history`` (prompts, answers, tool calls, how they ended). Then ``:AgentRewind`` on the
second turn: the session's worktree and its pending change are the first turn's again, and the chat marks the
turn. Last, the user types a docstring of their own where the agent's goes and prompts again: the worktree
catches up (the chat says so) and the agent's hunk is drawn as a conflict.
``editor-clients/neovim/tests/reload_test.lua`` plays the user in both runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.real.test_neovim_plugin import readme_minimal_config
from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo
from tests.support.neovim import nvim_env, require_nvim, run_nvim
from tests.support.neovim import report as nvim_report

pytestmark = pytest.mark.timeout(240)

RUN_TIMEOUT = 100.0
DRIVER = REPO_ROOT / "editor-clients" / "neovim" / "tests" / "reload_test.lua"

ORIGINAL = "def greet(name):\n    print('hello ' + name)\n"
FIRST = 'def greet(name):\n    """Say hello."""\n    print(\'hello \' + name)\n'
SECOND = 'def greet(name):\n    """Say hello."""\n    print(\'hello, \' + name + \'!\')\n'

# Every check the second run must have made (and passed); a renamed or dropped check fails here.
SECOND_CHECKS = {
    "the chat shows both prompts",
    "the chat shows both answers",
    "the chat shows each turn's tool call",
    "the chat shows how both turns ended",
    "rewind asked to confirm one turn",
    "rewound event names the second turn",
    "the chat marks the second turn rewound",
    "the pending change is the first turn's again",
    "synced event after the user's edit",
    "the chat says it caught up",
    "the conflict hunk is labelled",
}


def run_phase(nvim: str, version: str, repo: Path, tmp_path: Path, phase: str) -> dict:
    """One Neovim run of the driver; its verdict (asserted to have passed every check)."""
    verdict_path = tmp_path / f"verdict-{phase}.json"
    env = nvim_env(
        tmp_path,
        AB_TEST_VERDICT=str(verdict_path),
        AB_TEST_FILE=str(repo / "greet.py"),
        AB_TEST_PHASE=phase,
        AB_TEST_FIRST=FIRST,
        AB_TEST_SECOND=SECOND,
    )
    cmd = [nvim, "--headless", "-n", "-i", "NONE", "-u", str(tmp_path / "init.lua"), "-c", f"luafile {DRIVER}"]
    output = run_nvim(cmd, repo, env, RUN_TIMEOUT)
    report = nvim_report(version, output, tmp_path, verdict_path)
    assert verdict_path.exists(), report
    verdict = json.loads(verdict_path.read_text())
    failed = [c for c in verdict["checks"] if not c["ok"]]
    assert not failed, f"{phase}: failed checks: {json.dumps(failed, indent=1)}\n{report}"
    assert verdict["ok"], f"{phase}: the driver stopped: {verdict.get('error')}\nsteps: {verdict['steps']}\n{report}"
    errors = [n for n in verdict["notifications"] if (n.get("level") or 0) >= 4]
    assert not errors, f"{phase}: error notifications: {errors}\n{report}"
    return verdict


def test_chat_redrawn_after_restart_and_rewind_of_the_last_turn(tmp_path: Path) -> None:
    nvim, version = require_nvim()
    repo = make_repo(tmp_path / "project", {"greet.py": ORIGINAL})
    (tmp_path / "init.lua").write_text(readme_minimal_config())

    first = run_phase(nvim, version, repo, tmp_path, "first")
    worktree = tmp_path / "state" / "worktrees" / first["session"] / "greet.py"
    assert worktree.read_text() == SECOND

    second = run_phase(nvim, version, repo, tmp_path, "second")
    missing = SECOND_CHECKS - {c["name"] for c in second["checks"]}
    assert not missing, f"checks never made: {missing}"
    # The same session, drawn again; its second turn's change undone in the worktree.
    assert second["session"] == first["session"] and second["turns"] == first["turns"], (first, second)
    assert worktree.read_text() == FIRST
    # The user's checkout never changed: pending changes live in the session's worktree until applied.
    assert (repo / "greet.py").read_text() == ORIGINAL
