"""bridge.git.spares against real git repositories: a spare made before the user changed anything becomes a
session worktree holding exactly the new snapshot, a spare written to is refused, leftovers are removed."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from bridge.errors import GitError
from bridge.git.linked import locate
from bridge.git.pending import pending_changes
from bridge.git.run import git_cancellable
from bridge.git.spares import adopt_spare, discard, make_spare, remove_spare
from bridge.git.worktrees import commit_all, snapshot_base
from tests.unit.git.test_worktrees import git, lines, write


def files_on_disk(root: Path) -> dict[str, bytes]:
    """Every file under `root` (symlinks as their target's name), `.git` left out."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (dirpath == str(root) and d == ".git")]
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel == ".git":
                continue
            found[rel] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


def files_of(repo: Path, commit: str) -> dict[str, bytes]:
    names = git(repo, "ls-tree", "-r", "-z", "--name-only", commit).split("\0")
    return {name: git_bytes(repo, "cat-file", "blob", f"{commit}:{name}") for name in names if name}


def git_bytes(cwd: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True).stdout


def ready_spare(repo: Path, tmp_path: Path) -> Path:
    spare = tmp_path / "state" / "spares" / "abc"
    make_spare(repo, spare, threading.Event())
    return spare


def test_a_spare_becomes_a_worktree_of_exactly_the_new_snapshot(repo: Path, tmp_path: Path) -> None:
    spare = ready_spare(repo, tmp_path)
    # After the spare was made, the user: edits (uncommitted), adds an untracked file, deletes a file, turns a
    # file into a directory, commits something, and has an unsaved buffer.
    write(repo / "two.txt", lines("TWO", 10))
    write(repo / "brand-new.txt", "untracked\n")
    (repo / "old.txt").unlink()
    (repo / "gone.txt").unlink()
    write(repo / "gone.txt" / "inside.txt", "now a directory\n")
    write(repo / "committed.txt", "committed\n")
    git(repo, "add", "committed.txt")
    git(repo, "commit", "-q", "-m", "more")
    base = snapshot_base(repo, {"nonl.txt": "unsaved buffer\n"})

    path = tmp_path / "state" / "worktrees" / "s1"
    tree = adopt_spare(repo, spare, path, "agent-bridge/s1", base)

    assert not spare.exists() and tree == locate(repo, path)
    assert files_on_disk(path) == files_of(repo, base)
    assert files_on_disk(path)["nonl.txt"] == b"unsaved buffer\n"
    assert "old.txt" not in files_on_disk(path) and "gone.txt/inside.txt" in files_on_disk(path)
    assert os.access(path / "run.sh", os.X_OK)
    assert git(path, "rev-parse", "HEAD").strip() == base
    assert git(path, "symbolic-ref", "HEAD").strip() == "refs/heads/agent-bridge/s1"
    assert git(path, "status", "--porcelain", "--untracked-files=all", "--ignored") == ""
    # It is a session worktree as any other: an agent's edit is a pending change against the base.
    write(path / "two.txt", lines("agent", 3))
    commit_all(tree, "turn")
    [change] = pending_changes(tree, base)
    assert change.path == "two.txt" and change.change == "modify"


def test_a_spare_written_to_is_refused_and_discard_leaves_nothing(repo: Path, tmp_path: Path) -> None:
    spare = ready_spare(repo, tmp_path)
    write(spare / "stray.txt", "not the user's\n")
    base = snapshot_base(repo, {})
    path = tmp_path / "state" / "worktrees" / "s1"
    with pytest.raises(GitError, match="written to"):
        adopt_spare(repo, spare, path, "agent-bridge/s1", base)
    discard(repo, path, "agent-bridge/s1", base)
    discard(repo, spare)
    assert not path.exists() and not spare.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "branch", "--list", "agent-bridge/*") == ""


def test_a_spare_never_takes_over_an_existing_branch(repo: Path, tmp_path: Path) -> None:
    spare = ready_spare(repo, tmp_path)
    base = snapshot_base(repo, {})
    git(repo, "branch", "agent-bridge/s1")
    mine = git(repo, "rev-parse", "agent-bridge/s1")
    path = tmp_path / "state" / "worktrees" / "s1"
    with pytest.raises(GitError):
        adopt_spare(repo, spare, path, "agent-bridge/s1", base)
    discard(repo, path, "agent-bridge/s1", base)
    assert git(repo, "rev-parse", "agent-bridge/s1") == mine  # what was there before is left alone


def test_a_leftover_spare_is_removed_with_its_record(repo: Path, tmp_path: Path) -> None:
    spare = ready_spare(repo, tmp_path)
    remove_spare(spare)
    assert not spare.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    # A checkout stopped half way leaves its worktree locked, which `git worktree prune` would keep.
    stopped = ready_spare(repo, tmp_path)
    git(repo, "worktree", "lock", "--reason", "initializing", str(stopped))
    remove_spare(stopped)
    assert not stopped.exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    # A directory a stopped checkout left, with no record at all, goes too.
    stray = tmp_path / "state" / "spares" / "half"
    write(stray / "file.txt", "x")
    remove_spare(stray)
    assert not stray.exists()


def test_a_stopped_checkout_raises(repo: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(GitError, match="stopped"):
        make_spare(repo, tmp_path / "state" / "spares" / "abc", stop)


def test_stopping_a_background_git_stops_what_it_started(repo: Path) -> None:
    stop = threading.Event()
    marker = repo / "ran-on"
    # An alias stands for a long checkout and the filter processes it would start (a shell, then `sleep`).
    slow = ("-c", f"alias.slow=!sleep 0.5; sleep 31.7; touch {marker}", "slow")
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(GitError, match="stopped"):
        git_cancellable(repo, *slow, cancel=stop)
    assert time.monotonic() - started < 10
    time.sleep(0.5)
    assert not marker.exists()
    leftover = subprocess.run(["pgrep", "-f", "sleep 31.7"], capture_output=True).stdout
    assert leftover == b"", leftover
