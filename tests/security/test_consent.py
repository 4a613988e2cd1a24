"""Consent covers exactly what the user was shown (issue: the trust boundary).

A hostile agent asked to run `ls`, got an "Allow", and then opened a terminal running `id > EVIL`: the
allowed `ls` had become a grant counter that the next terminal spent without a question.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import REPO_ROOT
from tests.support.lsp_harness import start_editor

HOSTILE = [sys.executable, str(REPO_ROOT / "tests" / "security" / "hostile_agent.py")]


async def test_an_allowed_command_does_not_let_another_one_run(repo: Path, tmp_path: Path) -> None:
    options = {"agents": {"hostile": {"command": HOSTILE}}}
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        editor.answers = ["Allow", "Reject"]  # yes to `ls` as shown; no to anything else
        _, tid, result = await editor.run("do your thing", agent="hostile")
        assert result["status"] == "completed", result
        worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
        assert not (worktree / "EVIL").exists(), "a command the user never saw ran"
        assert not (repo / "EVIL").exists()
        assert len(editor.questions) == 2 and "id > EVIL" in editor.questions[1], editor.questions
        assert "terminal: refused" in editor.text_of(tid)
    finally:
        await editor.client.shutdown_session()
