"""bridge.git.watch against a real directory and the real kernel queue, and staging by what a watch saw."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.git import watch, worktrees
from bridge.git.run import Worktree
from bridge.git.watch import DirWatch, Everything
from bridge.git.worktrees import ignored_dirs, stage_all
from tests.unit.git.test_worktrees import git, session, write

pytestmark = pytest.mark.skipif(watch.inotify_simple is None, reason="inotify is Linux's")


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, DirWatch]]:
    root = tmp_path / "root"
    write(root / "a.txt", "a\n")
    write(root / "sub" / "b.txt", "b\n")
    write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(root / "build" / "out.o", "x")
    w = DirWatch(root, skip=lambda: {"build"})
    assert w.take() is Everything  # nothing known before the first look
    yield root, w
    w.close()


def test_a_write_made_before_the_look_is_seen_by_it(watched: tuple[Path, DirWatch]) -> None:
    root, w = watched
    assert w.take() == frozenset()
    write(root / "sub" / "b.txt", "changed\n")
    (root / "a.txt").unlink()
    assert w.take() == {"sub/b.txt", "a.txt"}
    assert w.take() == frozenset()  # each change is told once


def test_a_new_directory_is_reported_and_then_watched(watched: tuple[Path, DirWatch]) -> None:
    root, w = watched
    write(root / "new" / "deep" / "c.txt", "c\n")
    assert "new" in (w.take() or ())
    write(root / "new" / "deep" / "c.txt", "again\n")  # made before the watch saw `new`: now it is watched
    assert w.take() == {"new/deep/c.txt"}
    shutil.rmtree(root / "new")
    assert "new" in (w.take() or ())


def test_git_s_own_directory_and_ignored_ones_are_not_watched(watched: tuple[Path, DirWatch]) -> None:
    root, w = watched
    write(root / ".git" / "index", "x")
    write(root / "build" / "out.o", "rebuilt")
    assert w.take() == frozenset()


def test_a_changed_gitignore_or_a_moved_directory_means_everything(watched: tuple[Path, DirWatch]) -> None:
    root, w = watched
    write(root / ".gitignore", "build/\n")
    assert w.take() is Everything
    assert w.take() == frozenset()  # watching again from there
    (root / "sub").rename(root / "moved")
    os.rename(root / "moved", root / "sub2")
    write(root / "sub2" / "b.txt", "where am I\n")
    seen = w.take()
    assert seen is Everything or {"sub", "sub2"} <= seen
    write(root / "sub2" / "b.txt", "again\n")
    assert w.take() in (Everything, {"sub2/b.txt"})


def test_a_repository_inside_the_tree_makes_the_watch_give_up(watched: tuple[Path, DirWatch]) -> None:
    root, w = watched
    write(root / "sub" / "inner" / ".git" / "HEAD", "ref: refs/heads/main\n")  # `git init` in a subdirectory
    assert w.take() is Everything
    assert w.gave_up  # commits in there move what git records for it, unseen: never vouched for again
    write(root / "a.txt", "after\n")
    assert w.take() is Everything


def test_past_its_directory_cap_a_watch_gives_up_for_good(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    w = DirWatch(root, max_dirs=5)
    try:
        assert w.take() is Everything
        for i in range(10):  # a flood of directories (an agent's, say) must not take the user's inotify watches
            (root / f"d{i}").mkdir()
        assert w.take() is Everything
        assert w.gave_up and w.take() is Everything
        assert not w._wds
    finally:
        w.close()


def test_two_watches_of_one_directory_each_see_its_changes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "in" / "x.txt", "x\n")
    outer, inner = DirWatch(root), DirWatch(root / "in")
    try:
        assert outer.take() is Everything and inner.take() is Everything
        write(root / "in" / "x.txt", "y\n")
        assert outer.take() == {"in/x.txt"}
        assert inner.take() == {"x.txt"}
        inner.close()  # the directory stays watched for the other
        write(root / "in" / "x.txt", "z\n")
        assert outer.take() == {"in/x.txt"}
    finally:
        outer.close()


def test_hostile_file_names_come_back_as_written(watched: tuple[Path, DirWatch]) -> None:
    root, w = watched
    names = ["new\nline.txt", "star*[x]?.txt", os.fsdecode(b"bad-\xff-utf8.txt")]
    for name in names:
        write(root / "sub" / name, "h\n")
    assert w.take() == {f"sub/{n}" for n in names}


# Staging what a watch saw gives the tree that staging everything gives


def staged_both_ways(w: DirWatch, tree: Worktree, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, bool]:
    """(tree staged from the watched paths, tree staged from everything, whether the first fell back)."""
    calls: list[tuple[str, ...]] = []
    real = worktrees.git

    def recording(where: Worktree, *args: str, **kwargs: Any) -> Any:
        calls.append(args)
        return real(where, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(worktrees, "git", recording)
        partial = stage_all(tree, w.take())
    full = stage_all(tree)
    return partial.tree, full.tree, ("add", "-A") in calls


def test_staging_the_watched_paths_matches_staging_everything(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo / ".gitignore", "*.log\nbuild/\n")
    write(repo / "glob[1]" / "*x?.txt", "odd dir\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    tree, _ = session(repo, tmp_path)
    w = DirWatch(tree.path, skip=lambda: ignored_dirs(tree))
    try:
        stage_all(tree, w.take())  # the first look stages everything
        write(tree.path / "two.txt", "edited\n")
        (tree.path / "gone.txt").unlink()
        write(tree.path / "new" / "deep" / "n.txt", "new\n")
        write(tree.path / "debug.log", "ignored\n")
        write(tree.path / "build" / "x.o", "ignored dir\n")
        write(tree.path / "glob[1]" / "*x?.txt", "odd dir, edited\n")
        write(tree.path / "glob[1]" / "plain.txt", "next to it\n")
        (tree.path / "run.sh").chmod(0o644)
        partial, full, fell_back = staged_both_ways(w, tree, monkeypatch)
        assert partial == full and not fell_back
        listed = git(tree.path, "ls-files")
        assert "new/deep/n.txt" in listed and "debug.log" not in listed and "gone.txt" not in listed
        # A directory made and emptied again matches nothing: git refuses the paths, everything is staged.
        (tree.path / "empty").mkdir()
        stage_all(tree, w.take())
        write(tree.path / "empty" / "t.txt", "t\n")
        (tree.path / "empty" / "t.txt").unlink()
        write(tree.path / "old.txt", "after\n")
        partial, full, fell_back = staged_both_ways(w, tree, monkeypatch)
        assert partial == full and fell_back and "after" in git(tree.path, "show", f"{partial}:old.txt")
    finally:
        w.close()


# The user's checkout: its snapshot is remembered while nothing that shapes it changed


def snapshot_counting(repo: Path, overlays: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    """(the snapshot's tree, how many git processes it took)."""
    calls: list[tuple[str, ...]] = []
    real_git, real_out = worktrees.git, worktrees.out

    def git_(where: Any, *args: str, **kwargs: Any) -> Any:
        calls.append(args)
        return real_git(where, *args, **kwargs)

    def out_(where: Any, *args: str, **kwargs: Any) -> Any:
        calls.append(args)
        return real_out(where, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(worktrees, "git", git_)
        patch.setattr(worktrees, "out", out_)
        tree = worktrees.snapshot_tree(repo, overlays)
    return tree, len(calls)


def test_an_unchanged_checkout_is_not_snapshotted_again(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = snapshot_counting(repo, {}, monkeypatch)
    assert snapshot_counting(repo, {}, monkeypatch) == (first, 0)
    write(repo / "untracked.txt", "new\n")  # a file the user made
    second, spawned = snapshot_counting(repo, {}, monkeypatch)
    assert second != first and spawned > 0
    assert snapshot_counting(repo, {}, monkeypatch) == (second, 0)
    # An unsaved buffer, then the same buffer saved: each is what the user sees.
    third, _ = snapshot_counting(repo, {"two.txt": "unsaved\n"}, monkeypatch)
    assert third != second
    assert snapshot_counting(repo, {"two.txt": "unsaved\n"}, monkeypatch) == (third, 0)
    write(repo / "two.txt", "unsaved\n")
    assert snapshot_counting(repo, {}, monkeypatch)[0] == third


def test_git_s_own_files_outside_the_watch_still_count(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / "secret.env", "x\n")
    with_it, _ = snapshot_counting(repo, {}, monkeypatch)
    write(repo / ".git" / "info" / "exclude", "secret.env\n")  # git's directory is not watched
    without, spawned = snapshot_counting(repo, {}, monkeypatch)
    assert without != with_it and spawned > 0
    git(repo, "add", "-f", "secret.env")  # the user's index: an ignored file tracked after all
    tracked, _ = snapshot_counting(repo, {}, monkeypatch)
    assert tracked == with_it
