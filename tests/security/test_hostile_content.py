"""Hostile repository content must not break the bridge (issue: the trust boundary).

A buffer the user has open under `.git/` (git's COMMIT_EDITMSG while writing a commit message, say) used to
make every new session fail: the snapshot of unsaved buffers refused its path as unsafe and the prompt failed
with an internal error. Such buffers are git's, not the project's: snapshots leave them out.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.lsp_harness import Editor


async def test_a_buffer_open_under_dot_git_does_not_break_new_sessions(editor: Editor, repo: Path) -> None:
    (repo / ".git" / "COMMIT_EDITMSG").write_text("wip\n")
    editor.open(".git/COMMIT_EDITMSG", "wip: half-written message\n")
    sid, _, result = await editor.run("@say still works")
    assert result["status"] == "completed", result
    sessions = await editor.cmd("agentBridge.sessions", {})
    worktree = Path(next(s["worktree"] for s in sessions if s["sessionId"] == sid))
    # Nothing of git's own files reached the session's snapshot.
    assert not (worktree / ".git").is_dir()
    assert (repo / ".git" / "COMMIT_EDITMSG").read_text() == "wip\n"
