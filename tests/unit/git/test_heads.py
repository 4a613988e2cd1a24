"""bridge.git.heads: a worktree's HEAD read without git only when it names a commit already known."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import GitError
from bridge.git import heads
from bridge.git.worktrees import commit_all, head
from tests.unit.git.test_worktrees import git, session, write


@pytest.fixture
def git_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every git command the bridge runs, by its arguments after the global options."""
    calls: list[list[str]] = []
    real = subprocess.run

    def counting(cmd: list[str], *args: object, **kwargs: object) -> object:
        if cmd and cmd[0] == "git":
            calls.append([a for a in cmd[1:] if not a.startswith(("-c", "--git-dir", "--work-tree"))])
        return real(cmd, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "run", counting)
    yield calls


def rev_parses(calls: list[list[str]]) -> list[list[str]]:
    return [c for c in calls if "rev-parse" in c]


def test_a_turn_after_the_first_commits_without_asking_git_for_head_or_trees(
    repo: Path, tmp_path: Path, git_calls: list[list[str]]
) -> None:
    tree, _ = session(repo, tmp_path)
    write(tree.path / "a.txt", "one\n")
    first = commit_all(tree, "turn 1")
    write(tree.path / "a.txt", "two\n")
    git_calls.clear()
    second = commit_all(tree, "turn 2")
    assert first and second
    assert rev_parses(git_calls) == []
    assert head(tree) == second
    assert git(tree.path, "rev-parse", "HEAD").strip() == second
    assert git(tree.path, "rev-parse", f"{second}^").strip() == first
    git_calls.clear()
    assert commit_all(tree, "nothing changed") is None
    assert rev_parses(git_calls) == []


def test_a_head_moved_behind_the_bridges_back_is_read_from_git(repo: Path, tmp_path: Path) -> None:
    tree, _ = session(repo, tmp_path)
    write(tree.path / "a.txt", "one\n")
    mine = commit_all(tree, "turn 1")
    # The agent commits on its own: HEAD now names a commit the bridge never saw.
    write(tree.path / "b.txt", "agent\n")
    git(tree.path, "add", "-A")
    git(tree.path, "commit", "-q", "-m", "the agent's own commit")
    theirs = git(tree.path, "rev-parse", "HEAD").strip()
    assert theirs != mine
    assert head(tree) == theirs
    write(tree.path / "c.txt", "more\n")
    sha = commit_all(tree, "turn 2")
    assert git(tree.path, "rev-parse", f"{sha}^").strip() == theirs


@pytest.mark.parametrize("attack", ["unknown sha", "symlinked ref", "ref outside heads"])
def test_an_odd_head_file_is_never_trusted(repo: Path, tmp_path: Path, attack: str) -> None:
    tree, _ = session(repo, tmp_path)
    write(tree.path / "a.txt", "one\n")
    known = commit_all(tree, "turn 1")
    assert known is not None
    branch = git(tree.path, "symbolic-ref", "HEAD").strip()
    ref_file = tree.git_dir.parent.parent / branch
    if attack == "unknown sha":
        ref_file.write_text("1" * 40 + "\n")  # not a commit the bridge knows: git is asked, and says it is bad
        with pytest.raises(GitError):
            head(tree)
        return
    if attack == "symlinked ref":
        target = tmp_path / "elsewhere"
        target.write_text(known + "\n")
        ref_file.unlink()
        ref_file.symlink_to(target)
        assert heads._read_known_head(tree) is None
    else:
        (tree.git_dir / "HEAD").write_text("ref: refs/../../../etc\n")
        assert heads._read_known_head(tree) is None
