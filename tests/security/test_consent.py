"""Consent covers exactly what the user was shown (issue: the trust boundary).

A hostile agent asked to run `ls`, got an "Allow", and then opened a terminal running `id > EVIL`: the
allowed `ls` had become a grant counter that the next terminal spent without a question.

"Always allow `sh build.sh`", then the agent rewrote build.sh and ran `sh build.sh` again: it ran unasked. And
an "Always allow" given in one repository held in every other one the agent was used in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo, start_editor

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


async def test_always_allow_does_not_cover_a_script_the_agent_rewrote(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"build.sh": "echo building\n"})
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log")
    try:
        editor.answers = ["Always allow"]
        sid, tid, result = await editor.run("@run sh build.sh")
        assert result["status"] == "completed" and "exit 0: building" in editor.text_of(tid)
        worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
        # The agent rewrites build.sh, then runs the command the user allowed "always".
        editor.answers = ["Reject"]
        attack = "@write build.sh\ntouch PWNED\n@end\n@run sh build.sh"
        _, tid, result = await editor.run(attack, sessionId=sid)
        assert result["status"] == "completed", result
        assert not (worktree / "PWNED").exists(), "a rewritten script ran under an earlier 'always'"
        assert not (repo / "PWNED").exists()
        assert len(editor.questions) == 2, editor.questions
        assert "build.sh was changed by the agent and not reviewed" in editor.questions[1]
        assert "permission denied for sh build.sh" in editor.text_of(tid)
        # Once the user has reviewed the change (applied it), the earlier answer stands again.
        await editor.cmd("agentBridge.apply", {"sessionId": sid, "uri": editor.uri("build.sh")})
        _, tid, result = await editor.run("@run sh build.sh", sessionId=sid)
        assert result["status"] == "completed" and len(editor.questions) == 2
        assert (worktree / "PWNED").exists()
    finally:
        await editor.client.shutdown_session()


async def test_always_allow_does_not_carry_to_another_repository(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = make_repo(tmp_path / "first", {"a.txt": "a\n"})
    editor = await start_editor(first, state, tmp_path / "agent.log")
    try:
        editor.answers = ["Always allow"]
        _, _, result = await editor.run("@run touch ran.txt")
        assert result["status"] == "completed" and len(editor.questions) == 1
        _, _, result = await editor.run("@run touch ran.txt", newSession=True)
        assert len(editor.questions) == 1  # remembered in this repository, for its other sessions too
    finally:
        await editor.client.shutdown_session()
    second = make_repo(tmp_path / "second", {"a.txt": "a\n"})
    editor = await start_editor(second, state, tmp_path / "agent.log")
    try:
        editor.answers = ["Reject"]
        sid, _, result = await editor.run("@run touch ran.txt")
        assert result["status"] == "completed"
        assert len(editor.questions) == 1, "an answer given in another repository was used here"
        sessions = await editor.cmd("agentBridge.sessions", {})
        worktree = Path(next(s["worktree"] for s in sessions if s["sessionId"] == sid))
        assert not (worktree / "ran.txt").exists() and not (second / "ran.txt").exists()
    finally:
        await editor.client.shutdown_session()


async def test_an_allowed_script_rewritten_before_it_runs_is_asked_again(tmp_path: Path) -> None:
    """The agent gets `sh build.sh` allowed while build.sh is the user's, rewrites it, then runs it."""
    repo = make_repo(tmp_path / "project", {"build.sh": "echo building\n"})
    options = {"agents": {"hostile": {"command": [*HOSTILE, "rewrite"]}}}
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        editor.answers = ["Allow", "Reject"]  # yes to build.sh as it was; no to what it became
        _, tid, result = await editor.run("build it", agent="hostile")
        assert result["status"] == "completed", result
        worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
        assert (worktree / "build.sh").read_text() == "touch PWNED\n"
        assert not (worktree / "PWNED").exists(), "a script rewritten after it was allowed ran unasked"
        assert not (repo / "PWNED").exists()
        assert len(editor.questions) == 2, editor.questions
        assert "build.sh was changed by the agent and not reviewed" in editor.questions[1]
        assert "terminal: refused" in editor.text_of(tid)
    finally:
        await editor.client.shutdown_session()
