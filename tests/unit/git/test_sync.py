"""bridge.git.sync against real repositories: catching a worktree up with the user's code and rewinding it."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.git import rejections, sync
from bridge.git.pending import pending_changes
from bridge.git.worktrees import commit_all, head
from tests.unit.git.test_worktrees import git, lines, session, user_state, write


def test_the_agents_unreviewed_work_is_merged_onto_the_users_new_code(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    write(tree.path / "two.txt", lines("two", 10).replace("two 8", "AGENT 8"))  # the agent's change
    write(tree.path / "agent-new.txt", "mine\n")
    commit_all(tree, "turn")
    write(repo / "two.txt", lines("two", 10).replace("two 1", "USER 1"))  # the user's, elsewhere in the file
    write(repo / "old.txt", "user rewrote it\n")
    os.remove(repo / "gone.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "user work")
    write(repo / "untracked.txt", "new\n")
    before = user_state(repo)

    moved = sync.catch_up(repo, tree, base, {"old.txt": "unsaved buffer\n"})

    assert moved is not None and moved.conflicts == {}
    assert sorted(moved.changed) == ["gone.txt", "old.txt", "two.txt", "untracked.txt"]
    assert (tree.path / "two.txt").read_text() == lines("two", 10).replace("two 1", "USER 1").replace(
        "two 8", "AGENT 8")
    assert (tree.path / "old.txt").read_text() == "unsaved buffer\n"
    assert not (tree.path / "gone.txt").exists() and (tree.path / "untracked.txt").read_text() == "new\n"
    assert (tree.path / "agent-new.txt").read_text() == "mine\n"
    # What stays pending against the new base is the agent's work only.
    assert sorted(c.path for c in pending_changes(tree, moved.base)) == ["agent-new.txt", "two.txt"]
    assert moved.patch is not None and "+unsaved buffer" in moved.patch
    assert user_state(repo) == before  # the user's repository is only read


def test_nothing_to_do_when_the_user_changed_nothing(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    write(tree.path / "two.txt", "agent\n")
    commit_all(tree, "turn")
    assert sync.catch_up(repo, tree, base, {}) is None


def test_only_the_files_that_differ_are_rewritten(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    untouched = tree.path / "crlf.txt"
    os.utime(untouched, (1_000_000, 1_000_000))
    write(repo / "two.txt", "user\n")
    assert sync.catch_up(repo, tree, base, {}) is not None
    assert untouched.stat().st_mtime == 1_000_000
    assert (tree.path / "two.txt").read_text() == "user\n"


def test_a_same_line_collision_keeps_the_agents_version_and_names_the_users_lines(
    repo: Path, tmp_path: Path
) -> None:
    tree, base = session(repo, tmp_path)
    write(tree.path / "two.txt", lines("two", 10).replace("two 4", "AGENT 4"))
    commit_all(tree, "turn")
    write(repo / "two.txt", lines("two", 10).replace("two 4", "USER 4"))
    moved = sync.catch_up(repo, tree, base, {})
    assert moved is not None and moved.conflicts == {"two.txt": ((4, 5),)}
    assert (tree.path / "two.txt").read_text() == lines("two", 10).replace("two 4", "AGENT 4")
    [change] = pending_changes(tree, moved.base)
    [hunk] = change.hunks
    assert hunk.old_text == "USER 4\n" and hunk.new_text == "AGENT 4\n"


def test_a_file_the_user_deleted_and_the_agent_changed_is_kept_whole(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    write(tree.path / "old.txt", "agent\n")
    write(tree.path / "image.bin", b"\x89PNG agent\x00")
    commit_all(tree, "turn")
    os.remove(repo / "old.txt")
    write(repo / "image.bin", b"\x89PNG user\x00")
    moved = sync.catch_up(repo, tree, base, {})
    assert moved is not None and moved.conflicts == {"old.txt": None, "image.bin": None}
    assert (tree.path / "old.txt").read_text() == "agent\n"
    assert (tree.path / "image.bin").read_bytes() == b"\x89PNG agent\x00"


def test_rewind_undoes_later_work_and_keeps_the_new_base(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    write(tree.path / "a.txt", "turn one\n")
    commit_all(tree, "turn 1")
    start = (base, head(tree))  # turn 2 starts here
    write(tree.path / "two.txt", "turn two\n")
    write(tree.path / "b.txt", "turn two\n")
    commit_all(tree, "turn 2")
    # Since then the user wrote old.txt (the base moved with it).
    write(repo / "old.txt", "user\n")
    moved = sync.catch_up(repo, tree, base, {})
    assert moved is not None
    rewound = sync.rewind(tree, moved.base, *start)
    assert sorted(rewound.changed) == ["b.txt", "two.txt"]
    assert (tree.path / "a.txt").read_text() == "turn one\n" and not (tree.path / "b.txt").exists()
    assert (tree.path / "two.txt").read_text() == lines("two", 10)
    assert (tree.path / "old.txt").read_text() == "user\n"
    assert [c.path for c in pending_changes(tree, moved.base)] == ["a.txt"]


def test_merge_blobs() -> None:
    base = b"a\nb\nc\nd\ne\n"
    assert sync.merge_blobs(b"A\nb\nc\nd\ne\n", base, b"a\nb\nc\nd\nE\n") == (b"A\nb\nc\nd\nE\n", False)
    assert sync.merge_blobs(b"a\nX\nc\nd\ne\n", base, b"a\nY\nc\nd\ne\n") == (b"a\nX\nc\nd\ne\n", True)
    assert sync.merge_blobs(b"\x00bin", b"\x00base", b"\x00other") is None


def test_catching_up_never_writes_through_a_symlink_the_agent_planted(repo: Path, tmp_path: Path) -> None:
    """An agent replaces a directory with a link to a place outside its worktree; the user then edits a file in
    that directory. Catching up must write inside the worktree only."""
    write(repo / "pkg" / "mod.py", "v1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "pkg")
    tree, base = session(repo, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tree.path / "pkg" / "mod.py").unlink()
    (tree.path / "pkg").rmdir()
    os.symlink(outside, tree.path / "pkg")
    write(repo / "pkg" / "mod.py", "user v2\n")
    try:
        sync.catch_up(repo, tree, base, {})
    except Exception:  # refusing is fine; writing outside is not
        pass
    assert list(outside.iterdir()) == []
    assert (repo / "pkg" / "mod.py").read_text() == "user v2\n"


def test_rewind_keeps_what_the_user_rejected_since(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    write(tree.path / "two.txt", lines("two", 10).replace("two 1", "AGENT 1").replace("two 8", "AGENT 8"))
    commit_all(tree, "turn 1")
    start = (base, head(tree))  # turn 2 starts with both hunks pending
    write(tree.path / "b.txt", "turn two\n")
    commit_all(tree, "turn 2")
    # The user rejects the first hunk of turn 1 (reverted in the worktree, as Review.reject does).
    write(tree.path / "two.txt", lines("two", 10).replace("two 8", "AGENT 8"))
    commit_all(tree, f"Reject 1 hunk(s) of two.txt\n\n{sync.REJECTION_TRAILER}")
    rewound = sync.rewind(tree, base, *start)
    assert not (tree.path / "b.txt").exists()
    assert (tree.path / "two.txt").read_text() == lines("two", 10).replace("two 8", "AGENT 8")
    assert sorted(rewound.changed) == ["b.txt"]


def test_rewind_leaves_out_a_rejection_the_user_took_back(repo: Path, tmp_path: Path) -> None:
    tree, base = session(repo, tmp_path)
    agent = lines("two", 10).replace("two 1", "AGENT 1").replace("two 8", "AGENT 8")
    write(tree.path / "two.txt", agent)
    commit_all(tree, "turn 1")
    start = (base, head(tree))
    write(tree.path / "b.txt", "turn two\n")
    commit_all(tree, "turn 2")
    before = head(tree)
    write(tree.path / "two.txt", lines("two", 10).replace("two 8", "AGENT 8"))
    after = commit_all(tree, rejections.message("two.txt", ["h1"], ["h1"]))
    assert after is not None
    taken = rejections.unreject(tree, f"{before}..{after}")
    assert taken == [after] and (tree.path / "two.txt").read_text() == agent
    rewound = sync.rewind(tree, base, *start)
    # The rejection was taken back, so the rewind keeps turn 1 whole instead of rejecting its hunk again.
    assert (tree.path / "two.txt").read_text() == agent
    assert sorted(rewound.changed) == ["b.txt"]
