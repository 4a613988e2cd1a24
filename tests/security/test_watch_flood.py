"""An agent cannot use the bridge's file watch to exhaust the user's inotify watches or to look outside its tree.

The bridge watches a session's worktree so that a turn's end stages only what changed (bridge/git/watch.py).
Inotify watches are a per-user resource the user's editor needs too: an agent that creates directories by the
thousand must not make the bridge take them all, and one that plants a symlink to a directory outside its
worktree must not make the bridge watch (or stage) what lies there. Either way the agent's real work is still
staged in full.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.git import watch
from bridge.git.watch import DirWatch, Everything
from bridge.git.worktrees import ignored_dirs, stage_all
from tests.unit.git.test_worktrees import git, session, write

pytestmark = pytest.mark.skipif(watch.inotify_simple is None, reason="inotify is Linux's")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "repo"
    write(root / "a.txt", "a\n")
    git(root, "init", "-q", ".")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


def test_a_flood_of_directories_makes_the_watch_let_go_not_grow(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "MAX_DIRS", 50)  # the cap, lowered so the test need not make 8192 directories
    tree, _ = session(repo, tmp_path)
    w = DirWatch(tree.path, skip=lambda: ignored_dirs(tree), max_dirs=watch.MAX_DIRS)
    try:
        stage_all(tree, w.take())
        for i in range(200):
            (tree.path / "flood" / f"d{i}").mkdir(parents=True)
        write(tree.path / "flood" / "d7" / "work.txt", "the agent's real work\n")
        assert w.take() is Everything and w.gave_up
        assert not w._wds and all(w not in owners for owners in watch._owners.values())
        staged = stage_all(tree, w.take())  # everything, as without a watch
        assert "work.txt" in git(tree.path, "ls-tree", "-r", "--name-only", staged.tree)
    finally:
        w.close()


def test_a_symlink_to_a_directory_outside_is_not_followed(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret.txt", "the user's\n")
    tree, _ = session(repo, tmp_path)
    w = DirWatch(tree.path, skip=lambda: ignored_dirs(tree))
    try:
        stage_all(tree, w.take())
        watched = len(w._wds)
        (tree.path / "link").symlink_to(outside, target_is_directory=True)
        assert w.take() == {"link"}
        assert len(w._wds) == watched  # the link's target is not watched
        write(outside / "secret.txt", "changed outside\n")
        assert w.take() == frozenset()
        staged = stage_all(tree, frozenset({"link"}))
        listed = git(tree.path, "ls-tree", "-r", staged.tree)
        assert "120000" in listed and "secret.txt" not in listed  # the link itself, as git stages it
    finally:
        w.close()
