"""Git on a session worktree names the worktree's git dir itself: its `.git` file is the agent's to rewrite.

An agent once pointed its worktree's `.git` at the user's repository; the bridge's own commit then went there
(a commit on `main`, the user's index rewritten). These run the bridge's git functions after every kind of
tampering and check that only the session's branch and the bridge's refs moved.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.errors import GitError
from bridge.git import linked
from bridge.git.pending import pending_changes, read_blob
from bridge.git.reaper import reap_orphans
from bridge.git.worktrees import commit_all, head, remove_worktree
from tests.unit.git.test_worktrees import git, session, write


def user_state(repo: Path) -> dict[str, object]:
    """What of the user's repository the bridge must never write (its own refs aside); read-only git only."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
    return {
        "index": (repo / ".git" / "index").read_bytes(),
        "HEAD": (repo / ".git" / "HEAD").read_text(),
        "refs": [r for r in refs.splitlines() if not r.startswith("refs/heads/agent-bridge/")],
        "config": (repo / ".git" / "config").read_bytes(),
    }


def stage(repo: Path) -> None:
    write(repo / "staged.txt", "the user's work in progress\n")
    git(repo, "add", "staged.txt")


def point_at_user_repo(wt: Path, repo: Path) -> None:
    (wt / ".git").write_text(f"gitdir: {repo / '.git'}\n")


def symlink_to_user_repo(wt: Path, repo: Path) -> None:
    (wt / ".git").unlink()
    (wt / ".git").symlink_to(repo / ".git", target_is_directory=True)


def repository_of_its_own(wt: Path, repo: Path) -> None:
    (wt / ".git").unlink()
    git(wt, "init", "-q", ".")


def deleted(wt: Path, repo: Path) -> None:
    (wt / ".git").unlink()


def a_fifo(wt: Path, repo: Path) -> None:
    (wt / ".git").unlink()
    os.mkfifo(wt / ".git")


TAMPERING: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "gitdir to the user's repo": (point_at_user_repo, "points git at"),
    "symlink to the user's .git": (symlink_to_user_repo, "symlink"),
    "a repository of its own": (repository_of_its_own, "directory"),
    "deleted": (deleted, "deleted"),
    "a fifo": (a_fifo, "not a regular file"),
}


def test_locate_reads_the_repository_record_not_the_gitfile(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    assert tree.git_dir == Path(git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir").strip()) / (
        "worktrees/s1"
    )
    point_at_user_repo(tree.path, repo)
    assert linked.locate(repo, tree.path) == tree
    other = tmp_path / "state" / "worktrees" / "unknown"
    other.mkdir()
    with pytest.raises(GitError, match="no record"):
        linked.locate(repo, other)


@pytest.mark.parametrize("kind", TAMPERING)
def test_git_on_a_tampered_worktree_stays_in_the_worktree(repo: Path, tmp_path: Path, kind: str) -> None:
    tamper, _ = TAMPERING[kind]
    tree, base = session(repo, tmp_path)
    stage(repo)
    before = user_state(repo)
    tamper(tree.path, repo)
    write(tree.path / "evil.py", "print('unreviewed')\n")

    assert [c.path for c in pending_changes(tree, base)] == ["evil.py"]
    commit = commit_all(tree, "turn")

    assert user_state(repo) == before
    assert git(repo, "diff", "--cached", "--name-only") == "staged.txt\n"
    assert commit is not None and head(tree) == commit
    assert git(repo, "rev-parse", "agent-bridge/s1").strip() == commit
    assert read_blob(tree, "HEAD", "evil.py") == b"print('unreviewed')\n"
    assert read_blob(tree, "HEAD", "staged.txt") is None


@pytest.mark.parametrize("kind", TAMPERING)
def test_a_tampered_gitfile_is_reported_and_put_back(repo: Path, tmp_path: Path, kind: str) -> None:
    tamper, said = TAMPERING[kind]
    tree, _ = session(repo, tmp_path)
    assert linked.gitfile_problem(tree) is None
    written_by_git = (tree.path / ".git").read_text()
    tamper(tree.path, repo)

    problem = linked.check_gitfile(tree)

    assert problem is not None and said in problem
    assert linked.gitfile_problem(tree) is None
    assert (tree.path / ".git").read_text() == f"gitdir: {tree.git_dir}\n" == written_by_git
    assert (repo / ".git" / "HEAD").is_file()  # a symlink was replaced, never followed
    # The agent's own git finds the worktree's repository again.
    assert git(tree.path, "rev-parse", "--absolute-git-dir").strip() == str(tree.git_dir)
    assert [p.name for p in tree.path.iterdir() if p.name.startswith(".agent-bridge-")] == []


def test_gitfile_with_other_content_is_a_problem(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    for content in (f"gitdir: {tree.git_dir}\ngitdir: {repo / '.git'}\n", "", "x" * 10_000, "gitdir: \n"):
        (tree.path / ".git").write_text(content)
        assert linked.gitfile_problem(tree) is not None, content
    # What git itself may write: a relative path (worktree.useRelativePaths) is the same git dir.
    (tree.path / ".git").write_text(f"gitdir: {os.path.relpath(tree.git_dir, tree.path)}\n")
    assert linked.gitfile_problem(tree) is None


def test_a_nested_repository_is_only_read(repo: Path, tmp_path: Path) -> None:
    """`git add -A` sees a subfolder holding a `.git` as an embedded repository."""
    tree, base = session(repo, tmp_path)
    stage(repo)
    before = user_state(repo)
    write(tree.path / "vendor" / ".git", f"gitdir: {repo / '.git'}\n")
    write(tree.path / "vendor" / "lib.py", "x = 1\n")
    write(tree.path / "nested" / "code.py", "y = 2\n")
    git(tree.path / "nested", "init", "-q", ".")
    git(tree.path / "nested", "add", "-A")
    git(tree.path / "nested", "commit", "-q", "-m", "nested")

    commit_all(tree, "turn")
    changes = pending_changes(tree, base)

    assert {c.path for c in changes} == {"vendor", "nested"}  # recorded as gitlinks, nothing read through
    assert user_state(repo) == before
    remove_worktree(repo, tree, "agent-bridge/s1", "refs/agent-bridge/archive/s1")
    assert not tree.path.exists()
    assert git(repo, "branch", "--list", "agent-bridge/s1") == ""
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert user_state(repo) == before


def test_remove_worktree_puts_a_tampered_gitfile_back_first(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    stage(repo)
    before = user_state(repo)
    point_at_user_repo(tree.path, repo)
    write(tree.path / "unreviewed.txt", "keep\n")

    problem = remove_worktree(repo, tree, "agent-bridge/s1", "refs/agent-bridge/archive/s1")

    assert problem is not None and "points git at" in problem
    assert user_state(repo) == before
    assert git(repo, "show", "refs/agent-bridge/archive/s1:unreviewed.txt") == "keep\n"
    assert not tree.path.exists()


def test_reaper_finds_an_untouched_orphans_repository(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    write(tree.path / "unreviewed.txt", "keep\n")

    [reaped] = reap_orphans(tmp_path / "state" / "worktrees", set())

    assert (reaped.archived_at, reaped.skipped, reaped.tampered) == ("refs/agent-bridge/archive/s1", None, None)
    assert git(repo, "show", "refs/agent-bridge/archive/s1:unreviewed.txt") == "keep\n"
    assert not tree.path.exists()


def test_reaper_archives_a_tampered_orphan_in_the_repository_that_owns_it(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    stage(repo)
    before = user_state(repo)
    write(tree.path / "unreviewed.txt", "keep\n")
    point_at_user_repo(tree.path, repo)

    [reaped] = reap_orphans(tmp_path / "state" / "worktrees", set())

    assert reaped.skipped is None and reaped.archived_at == "refs/agent-bridge/archive/s1", reaped
    assert reaped.tampered is not None and "points git at" in reaped.tampered
    assert git(repo, "show", "refs/agent-bridge/archive/s1:unreviewed.txt") == "keep\n"
    assert "staged.txt" not in git(repo, "ls-tree", "-r", "--name-only", "refs/agent-bridge/archive/s1")
    assert user_state(repo) == before
    assert not tree.path.exists()


def decoy(tmp_path: Path, registering: Path | None) -> Path:
    """Another repository; if `registering` is given, one that claims that worktree as its own."""
    other = tmp_path / "decoy"
    other.mkdir()
    git(other, "init", "-q", ".")
    write(other / "f.txt", "decoy\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "decoy")
    if registering is not None:
        admin = other / ".git" / "worktrees" / registering.name
        admin.mkdir(parents=True)
        (admin / "gitdir").write_text(f"{registering / '.git'}\n")
        (admin / "commondir").write_text("../..\n")
        (admin / "HEAD").write_text(git(other, "rev-parse", "HEAD"))
    return other


def test_reaper_never_writes_a_repository_that_does_not_own_the_orphan(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    write(tree.path / "unreviewed.txt", "keep\n")
    other = decoy(tmp_path, None)
    (tree.path / ".git").write_text(f"gitdir: {other / '.git'}\n")
    refs = git(other, "for-each-ref")

    [reaped] = reap_orphans(tmp_path / "state" / "worktrees", set())

    assert reaped.skipped is not None and reaped.archived_at is None
    assert git(other, "for-each-ref") == refs
    assert (tree.path / "unreviewed.txt").exists()  # left in place for inspection


def test_reaper_asks_only_the_recorded_repository(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    write(tree.path / "unreviewed.txt", "keep\n")
    other = decoy(tmp_path, tree.path)
    (tree.path / ".git").write_text(f"gitdir: {other / '.git' / 'worktrees' / 's1'}\n")
    refs = git(other, "for-each-ref")

    [reaped] = reap_orphans(tmp_path / "state" / "worktrees", set(), {"s1": repo})

    assert reaped.archived_at == "refs/agent-bridge/archive/s1", reaped
    assert git(repo, "show", "refs/agent-bridge/archive/s1:unreviewed.txt") == "keep\n"
    assert git(other, "for-each-ref") == refs
