"""The bridge's git never leaves the session worktree (issue: the trust boundary).

A hostile agent wrote `gitdir: <user repo>/.git` over its worktree's `.git` file, straight to disk. At the
turn's end the bridge committed "the worktree" with git finding its repository through that file: `main` in
the user's repository gained a commit with the agent's unreviewed code and the user's staged file, and the
user's index was rewritten. The bridge now names the worktree's git dir itself, and a tampered `.git` fails
the turn and is put back.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.lsp_harness import Editor, git


def user_repo_state(repo: Path) -> dict[str, object]:
    """Everything of the user's repository the bridge must never write (its own refs aside)."""
    # Read the index first and with optional locks off: nothing here may refresh it.
    index = (repo / ".git" / "index").read_bytes()
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}

    def run(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                              env=env).stdout

    # The session branches (refs/heads/agent-bridge/*) are the bridge's own.
    refs = run("for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags").splitlines()
    return {
        "index": index,
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "main": run("rev-parse", "main"),
        "refs": [ref for ref in refs if not ref.startswith("refs/heads/agent-bridge/")],
        "staged": run("diff", "--cached", "--name-status"),
        "config": (repo / ".git" / "config").read_bytes(),
    }


def stage_a_file(repo: Path) -> None:
    (repo / "staged.txt").write_text("the user's work in progress\n")
    git(repo, "add", "staged.txt")


async def worktree_of(editor: Editor, sid: str) -> Path:
    sessions = await editor.cmd("agentBridge.sessions", {})
    return Path(next(s["worktree"] for s in sessions if s["sessionId"] == sid))


def admin_dir(repo: Path, worktree: Path) -> Path:
    """The worktree's git dir as the user's repository registers it (never read from the worktree)."""
    for entry in (repo / ".git" / "worktrees").iterdir():
        if Path((entry / "gitdir").read_text().strip()).parent.resolve() == worktree.resolve():
            return entry
    raise AssertionError(f"{worktree} is not registered in {repo}")


async def test_a_gitdir_pointed_at_the_user_repo_fails_the_turn_and_touches_nothing(
    editor: Editor, repo: Path
) -> None:
    stage_a_file(repo)
    before = user_repo_state(repo)

    sid, tid, result = await editor.run(
        f"@write-disk .git\ngitdir: {repo / '.git'}\n@end\n@write-disk evil.py\nprint('unreviewed')\n@end"
    )

    assert user_repo_state(repo) == before, "the bridge wrote the user's repository"
    assert git(repo, "diff", "--cached", "--name-only") == "staged.txt\n"  # still staged, not committed
    assert "evil.py" not in git(repo, "ls-tree", "-r", "--name-only", "main")
    assert result["status"] == "failed", result
    assert ".git" in result["error"] and str(repo / ".git") in result["error"], result
    ended = await editor.wait_event(lambda e: e["kind"] == "turnEnded" and e.get("turnId") == tid)
    assert ended["status"] == "failed" and ended["error"] == result["error"]
    worktree = await worktree_of(editor, sid)
    dot_git = worktree / ".git"
    assert dot_git.is_file() and not dot_git.is_symlink()
    assert dot_git.read_text() == f"gitdir: {admin_dir(repo, worktree)}\n"  # put back
    # The agent's work is kept for review, on the session's own branch.
    assert [c["uri"] for c in await editor.pending(sid)] == [editor.uri("evil.py")]
    assert "evil.py" in git(repo, "ls-tree", "-r", "--name-only", f"agent-bridge/{sid}")

    _, _, again = await editor.run("@write-disk more.txt\nfine\n@end", sessionId=sid)
    assert again["status"] == "completed", again
    assert {c["uri"] for c in await editor.pending(sid)} == {editor.uri("evil.py"), editor.uri("more.txt")}
    assert user_repo_state(repo) == before


async def test_a_planted_symlink_or_directory_dot_git_is_replaced(editor: Editor, repo: Path) -> None:
    stage_a_file(repo)
    before = user_repo_state(repo)
    editor.answers = ["Allow", "Allow"]
    sid, _, result = await editor.run(f"@run rm .git && ln -s {repo / '.git'} .git\n@write-disk a.txt\na\n@end")
    assert result["status"] == "failed" and "symlink" in result["error"], result
    assert user_repo_state(repo) == before
    worktree = await worktree_of(editor, sid)
    assert (worktree / ".git").is_file() and not (worktree / ".git").is_symlink()

    _, _, result = await editor.run(
        "@run rm .git && git init -q .\n"
        "@write-disk b.txt\nb\n@end",
        sessionId=sid,
    )
    assert result["status"] == "failed" and "directory" in result["error"], result
    assert user_repo_state(repo) == before
    assert (worktree / ".git").read_text() == f"gitdir: {admin_dir(repo, worktree)}\n"
    assert {c["uri"] for c in await editor.pending(sid)} == {editor.uri("a.txt"), editor.uri("b.txt")}


async def test_a_nested_dot_git_pointing_at_the_user_repo_is_left_alone(editor: Editor, repo: Path) -> None:
    """`git add -A` sees a subfolder with a `.git` as an embedded repository (a gitlink): the bridge only reads
    it, and closing the session still archives and removes the worktree."""
    stage_a_file(repo)
    before = user_repo_state(repo)
    sid, _, result = await editor.run(
        f"@write-disk vendor/.git\ngitdir: {repo / '.git'}\n@end\n@write-disk vendor/lib.py\nx = 1\n@end\n"
        "@write-disk nested/.git/HEAD\nref: refs/heads/main\n@end\n@write-disk nested/code.py\ny = 2\n@end"
    )
    assert result["status"] == "completed", result
    assert user_repo_state(repo) == before
    worktree = await worktree_of(editor, sid)
    assert {c["uri"] for c in await editor.pending(sid)} >= {editor.uri("vendor"), editor.uri("nested/code.py")}

    # Closing archives the work and removes the worktree.
    await editor.cmd("agentBridge.closeSession", {"sessionId": sid})
    assert user_repo_state(repo) == before
    assert not worktree.exists()
    assert git(repo, "branch", "--list", f"agent-bridge/{sid}") == ""
    assert git(repo, "show", f"refs/agent-bridge/archive/{sid}:nested/code.py") == "y = 2\n"
