"""bridge.git.worktrees against real git repositories."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bridge.errors import GitError, NotAGitRepository
from bridge.git.hunks import FileChange
from bridge.git.linked import locate
from bridge.git.pending import advance_base, pending_changes, read_blob, revert_in_worktree
from bridge.git.run import Worktree
from bridge.git.worktrees import (
    commit_all,
    create_worktree,
    delete_ref,
    find_repo_root,
    head,
    list_worktrees,
    remove_worktree,
    set_ref,
    snapshot_base,
)

UNICODE = "d\u00eer/caf\u00e9 with spaces.txt"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=u", "-c", "user.email=u@u", "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        capture_output=True,
        check=check,
    )
    return proc.stdout.decode("utf-8", "surrogateescape")


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def lines(prefix: str, n: int) -> str:
    return "".join(f"{prefix} {i}\n" for i in range(n))


def session(repo: Path, tmp_path: Path, name: str = "s1") -> tuple[Worktree, str]:
    base = snapshot_base(repo, {})
    set_ref(repo, f"refs/agent-bridge/base/{name}", base)
    path = tmp_path / "state" / "worktrees" / name
    create_worktree(repo, path, f"agent-bridge/{name}", base)
    return locate(repo, path), base


def user_state(repo: Path) -> dict[str, object]:
    # The index is read first: `git status` below may refresh it.
    index = repo / ".git" / "index"
    index_bytes = index.read_bytes() if index.exists() else None
    files = {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts
    }
    return {
        "status": git(repo, "status", "--porcelain=v1", "-uall", "--ignored"),
        "index": index_bytes,
        "head": git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False),
        "branch": git(repo, "symbolic-ref", "HEAD"),
        "files": files,
    }


def tree_files(repo: Path, rev: str) -> set[str]:
    return set(git(repo, "-c", "core.quotePath=false", "ls-tree", "-r", "--name-only", "-z", rev).split("\0")) - {""}


def by_path(changes: list[FileChange]) -> dict[str, FileChange]:
    return {c.path: c for c in changes}


def test_find_repo_root(repo: Path, tmp_path: Path) -> None:
    write(repo / "sub" / "deep" / "f.txt", "x")
    assert find_repo_root(repo / "sub" / "deep" / "f.txt") == repo.resolve()
    assert find_repo_root(repo / "sub") == repo.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(NotAGitRepository, match=str(plain)):
        find_repo_root(plain)


def test_snapshot_includes_worktree_state_and_leaves_user_alone(repo: Path) -> None:
    write(repo / ".gitignore", "ignored.txt\nbuild/\n")
    write(repo / "two.txt", "staged\n")
    git(repo, "add", "two.txt")
    write(repo / "old.txt", "unstaged\n")
    (repo / "gone.txt").unlink()
    write(repo / "untracked dir" / "new \u00e9.txt", "untracked\n")
    write(repo / "ignored.txt", "secret\n")
    write(repo / "build" / "out.o", "obj\n")
    before = user_state(repo)
    head_before = git(repo, "rev-parse", "HEAD").strip()

    base = snapshot_base(
        repo,
        {"nonl.txt": "unsaved buffer\n", "fresh.py": b"print(1)\n", "run.sh": "#!/bin/sh\necho edited\n",
         "build/unsaved.o": "x"},
    )  # fmt: skip

    assert user_state(repo) == before
    assert git(repo, "rev-parse", f"{base}^").strip() == head_before
    assert "base snapshot" in git(repo, "log", "-1", "--format=%B", base)
    assert read_blob(repo, base, "two.txt") == b"staged\n"
    assert read_blob(repo, base, "old.txt") == b"unstaged\n"
    assert read_blob(repo, base, "gone.txt") is None
    assert read_blob(repo, base, "untracked dir/new \u00e9.txt") == b"untracked\n"
    assert read_blob(repo, base, "nonl.txt") == b"unsaved buffer\n"
    assert read_blob(repo, base, "fresh.py") == b"print(1)\n"
    assert read_blob(repo, base, ".gitignore") == b"ignored.txt\nbuild/\n"
    files = tree_files(repo, base)
    assert "ignored.txt" not in files and not any(f.startswith("build/") for f in files)
    assert git(repo, "ls-tree", base, "run.sh").split()[0] == "100755"
    assert read_blob(repo, base, "run.sh") == b"#!/bin/sh\necho edited\n"


def test_snapshot_leaves_out_buffers_that_are_not_project_files(repo: Path) -> None:
    # A buffer under .git/ (COMMIT_EDITMSG) or with a hostile path used to fail every new session.
    before = user_state(repo)
    base = snapshot_base(repo, {".git/COMMIT_EDITMSG": "wip\n", "../outside.txt": "x", "ok.txt": "fine\n"})
    assert tree_files(repo, base) >= {"ok.txt"}
    assert not [f for f in tree_files(repo, base) if f.startswith(".git") or "outside" in f]
    assert user_state(repo) == before


def test_snapshot_in_repo_without_commits(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q", ".")
    write(root / "a.txt", "hello\n")
    base = snapshot_base(root, {"b.txt": "buffer"})
    assert git(root, "rev-list", "--parents", "-n1", base).split() == [base]
    assert read_blob(root, base, "a.txt") == b"hello\n"
    assert read_blob(root, base, "b.txt") == b"buffer"
    assert git(root, "rev-parse", "-q", "--verify", "HEAD", check=False) == ""
    assert not (root / ".git" / "index").exists()
    assert git(root, "status", "--porcelain") == "?? a.txt\n"


def test_pending_changes_sees_every_kind_of_edit(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    assert wt.path.is_dir() and git(wt.path, "branch", "--show-current").strip() == "agent-bridge/s1"
    assert pending_changes(wt, base) == []
    write(wt.path / "two.txt", lines("two", 10).replace("two 1\n", "TWO 1\n").replace("two 8\n", "TWO 8\n"))
    write(wt.path / "created.txt", "brand\nnew\n")
    (wt.path / "gone.txt").unlink()
    (wt.path / "rename-me.txt").unlink()
    write(wt.path / "renamed.txt", lines("ren", 12).replace("ren 3\n", "ren three\n"))
    write(wt.path / "image.bin", b"\x89PNG\x00\x09")
    write(wt.path / "nonl.txt", "a\nB")
    write(wt.path / "crlf.txt", "one\r\nTWO\r\nthree\r\n")
    write(wt.path / UNICODE, "unicode\n")
    index_before = (Path(git(wt.path, "rev-parse", "--absolute-git-dir").strip()) / "index").read_bytes()

    changes = by_path(pending_changes(wt, base))

    assert (Path(git(wt.path, "rev-parse", "--absolute-git-dir").strip()) / "index").read_bytes() == index_before
    assert set(changes) == {
        "two.txt",
        "created.txt",
        "gone.txt",
        "renamed.txt",
        "image.bin",
        "nonl.txt",
        "crlf.txt",
        UNICODE,
    }
    two = changes["two.txt"]
    assert [(h.old_start, h.old_text, h.new_text) for h in two.hunks] == [
        (1, "two 1\n", "TWO 1\n"),
        (8, "two 8\n", "TWO 8\n"),
    ]
    created = changes["created.txt"]
    assert (created.change, [h.new_text for h in created.hunks]) == ("create", ["brand\nnew\n"])
    gone = changes["gone.txt"]
    assert (gone.change, [h.old_text for h in gone.hunks]) == ("delete", ["bye\n"])
    renamed = changes["renamed.txt"]
    assert (renamed.change, renamed.old_path) == ("rename", "rename-me.txt")
    assert [(h.old_text, h.new_text) for h in renamed.hunks] == [("ren 3\n", "ren three\n")]
    image = changes["image.bin"]
    assert image.binary and image.hunks == () and image.change == "modify"
    assert [(h.old_lines, h.new_lines) for h in changes["nonl.txt"].hunks] == [(("b",), ("B",))]
    assert [(h.old_text, h.new_text) for h in changes["crlf.txt"].hunks] == [("two\r\n", "TWO\r\n")]
    assert changes[UNICODE].change == "create" and changes[UNICODE].hunks[0].new_text == "unicode\n"

    # Committed or not, the pending set is the same.
    commit = commit_all(wt, "turn 1")
    assert commit is not None and head(wt) == commit
    assert commit_all(wt, "turn 2") is None
    assert by_path(pending_changes(wt, base)) == changes
    assert git(wt.path, "status", "--porcelain") == ""


def test_advance_base_for_one_of_two_hunks(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    new_text = lines("two", 10).replace("two 1\n", "TWO 1\n").replace("two 8\n", "TWO 8\n")
    write(wt.path / "two.txt", new_text)
    (change,) = pending_changes(wt, base)
    first, second = change.hunks

    new_base = advance_base(wt, base, change, [first.hunk_id])

    assert git(repo, "rev-parse", f"{new_base}^").strip() == base
    assert read_blob(repo, new_base, "two.txt") == lines("two", 10).replace("two 1\n", "TWO 1\n").encode()
    (left,) = pending_changes(wt, new_base)
    assert [(h.hunk_id, h.old_text, h.new_text) for h in left.hunks] == [(second.hunk_id, "two 8\n", "TWO 8\n")]
    assert tree_files(repo, new_base) == tree_files(repo, base)
    # The user's checkout is untouched by advancing the base.
    assert (repo / "two.txt").read_text() == lines("two", 10)


def test_revert_in_worktree_one_hunk(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    write(wt.path / "two.txt", lines("two", 10).replace("two 1\n", "TWO 1\n").replace("two 8\n", "TWO 8\n"))
    (change,) = pending_changes(wt, base)
    first, second = change.hunks

    commit = revert_in_worktree(wt, base, change, [second.hunk_id], message="user rejected")

    assert commit is not None and head(wt) == commit
    assert "user rejected" in git(wt.path, "log", "-1", "--format=%B")
    assert (wt.path / "two.txt").read_text() == lines("two", 10).replace("two 1\n", "TWO 1\n")
    (left,) = pending_changes(wt, base)
    assert [h.hunk_id for h in left.hunks] == [first.hunk_id]
    assert git(wt.path, "status", "--porcelain") == ""


def test_unknown_hunk_id_changes_nothing(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    write(wt.path / "two.txt", "changed\n")
    (change,) = pending_changes(wt, base)
    with pytest.raises(ValueError, match="hnope"):
        revert_in_worktree(wt, base, change, ["hnope"])
    with pytest.raises(ValueError, match="hnope"):
        advance_base(wt, base, change, ["hnope"])
    assert (wt.path / "two.txt").read_text() == "changed\n"


def test_whole_file_create_delete_rename_binary_advance(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    write(wt.path / "created.txt", "brand\nnew\n")
    (wt.path / "gone.txt").unlink()
    (wt.path / "moved").mkdir()
    (wt.path / "rename-me.txt").rename(wt.path / "moved" / "renamed.txt")
    write(wt.path / "image.bin", b"\x00new bytes")
    write(wt.path / "empty-new", "")
    changes = by_path(pending_changes(wt, base))
    assert changes["moved/renamed.txt"].change == "rename" and changes["moved/renamed.txt"].hunks == ()
    assert changes["empty-new"].change == "create" and changes["empty-new"].hunks == ()

    current = base
    current = advance_base(wt, current, changes["created.txt"], [changes["created.txt"].hunks[0].hunk_id])
    current = advance_base(wt, current, changes["gone.txt"])
    current = advance_base(wt, current, changes["moved/renamed.txt"])
    current = advance_base(wt, current, changes["image.bin"])
    current = advance_base(wt, current, changes["empty-new"])

    assert read_blob(repo, current, "created.txt") == b"brand\nnew\n"
    assert read_blob(repo, current, "gone.txt") is None
    assert read_blob(repo, current, "rename-me.txt") is None
    assert read_blob(repo, current, "moved/renamed.txt") == lines("ren", 12).encode()
    assert read_blob(repo, current, "image.bin") == b"\x00new bytes"
    assert read_blob(repo, current, "empty-new") == b""
    assert pending_changes(wt, current) == []
    assert git(repo, "rev-list", "--count", f"{base}..{current}").strip() == "5"


def test_whole_file_create_delete_rename_binary_revert(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    write(wt.path / "deep" / "er" / "created.txt", "brand\nnew\n")
    (wt.path / "gone.txt").unlink()
    (wt.path / "run.sh").unlink()
    write(wt.path / "renamed.txt", lines("ren", 12).replace("ren 0\n", "ren zero\n"))
    (wt.path / "rename-me.txt").unlink()
    write(wt.path / "image.bin", b"\x00new bytes")
    changes = by_path(pending_changes(wt, base))
    assert changes["renamed.txt"].change == "rename"

    revert_in_worktree(wt, base, changes["deep/er/created.txt"])
    revert_in_worktree(wt, base, changes["gone.txt"], [changes["gone.txt"].hunks[0].hunk_id])
    revert_in_worktree(wt, base, changes["run.sh"])
    revert_in_worktree(wt, base, changes["renamed.txt"])
    last = revert_in_worktree(wt, base, changes["image.bin"])

    assert last is not None and head(wt) == last
    assert not (wt.path / "deep").exists()
    assert (wt.path / "gone.txt").read_text() == "bye\n"
    assert (wt.path / "run.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert os.stat(wt.path / "run.sh").st_mode & stat.S_IXUSR
    assert not (wt.path / "renamed.txt").exists()
    assert (wt.path / "rename-me.txt").read_text() == lines("ren", 12)
    assert (wt.path / "image.bin").read_bytes() == b"\x89PNG\x00\x01\x02"
    assert pending_changes(wt, base) == []
    assert git(wt.path, "status", "--porcelain") == ""


def test_partial_rename_advance_moves_the_file_and_keeps_other_hunk(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    (wt.path / "rename-me.txt").unlink()
    write(wt.path / "renamed.txt", lines("ren", 12).replace("ren 0\n", "ren zero\n").replace("ren 9\n", "ren nine\n"))
    (change,) = pending_changes(wt, base)
    assert change.change == "rename" and len(change.hunks) == 2
    new_base = advance_base(wt, base, change, [change.hunks[0].hunk_id])
    assert read_blob(repo, new_base, "rename-me.txt") is None
    assert read_blob(repo, new_base, "renamed.txt") == lines("ren", 12).replace("ren 0\n", "ren zero\n").encode()
    (left,) = pending_changes(wt, new_base)
    assert (left.change, [h.hunk_id for h in left.hunks]) == ("modify", [change.hunks[1].hunk_id])


def test_revert_keeps_checkout_line_endings(repo: Path, tmp_path: Path) -> None:
    write(repo / ".gitattributes", "*.win text eol=crlf\n")
    write(repo / "a.win", "l0\nl1\nl2\nl3\nl4\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "attrs")
    wt, base = session(repo, tmp_path)
    assert (wt.path / "a.win").read_bytes() == b"l0\r\nl1\r\nl2\r\nl3\r\nl4\r\n"
    write(wt.path / "a.win", b"L0\r\nl1\r\nl2\r\nl3\r\nL4\r\n")
    (change,) = pending_changes(wt, base)
    assert [(h.old_text, h.new_text) for h in change.hunks] == [("l0\n", "L0\n"), ("l4\n", "L4\n")]
    revert_in_worktree(wt, base, change, [change.hunks[1].hunk_id])
    assert (wt.path / "a.win").read_bytes() == b"L0\r\nl1\r\nl2\r\nl3\r\nl4\r\n"


def test_paths_outside_the_worktree_are_refused(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (wt.path / "esc").symlink_to(outside, target_is_directory=True)
    for bad in ("../evil.txt", "esc/evil.txt", ".git/config", "/etc/passwd"):
        change = FileChange(path=bad, old_path=None, change="create", binary=False, hunks=())
        with pytest.raises(ValueError):
            revert_in_worktree(wt, base, change)
    assert list(outside.iterdir()) == []
    # A buffer at a path outside the project is left out of a snapshot (not an error that breaks the session).
    base = snapshot_base(repo, {"../x": "no"})
    assert not [f for f in tree_files(repo, base) if "x" == f or f.startswith("..")]
    assert not (repo.parent / "x").exists()


def test_create_worktree_refuses_existing_branch(repo: Path, tmp_path: Path) -> None:
    git(repo, "branch", "agent-bridge/taken")
    base = snapshot_base(repo, {})
    with pytest.raises(GitError, match="already exists"):
        create_worktree(repo, tmp_path / "wt", "agent-bridge/taken", base)
    assert not (tmp_path / "wt").exists()


def test_remove_worktree_archives_unreviewed_work(repo: Path, tmp_path: Path) -> None:
    wt, base = session(repo, tmp_path)
    wt2, _ = session(repo, tmp_path, "s2")
    listed = list_worktrees(repo)
    assert (repo.resolve(), "main") in [(p.resolve(), b) for p, b in listed]
    assert (wt.path.resolve(), "agent-bridge/s1") in [(p.resolve(), b) for p, b in listed]
    write(wt.path / "unreviewed.txt", "precious\n")

    remove_worktree(repo, wt, "agent-bridge/s1", "refs/agent-bridge/archive/s1")

    assert not wt.path.exists()
    assert git(repo, "branch", "--list", "agent-bridge/s1") == ""
    assert read_blob(repo, "refs/agent-bridge/archive/s1", "unreviewed.txt") == b"precious\n"
    assert wt.path.resolve() not in [p.resolve() for p, _ in list_worktrees(repo)]

    # A worktree whose directory vanished is still cleaned up.
    shutil.rmtree(wt2.path)
    remove_worktree(repo, wt2, "agent-bridge/s2", None)
    assert git(repo, "branch", "--list", "agent-bridge/s2") == ""
    assert [p.resolve() for p, _ in list_worktrees(repo)] == [repo.resolve()]

    delete_ref(repo, "refs/agent-bridge/archive/s1")
    assert git(repo, "rev-parse", "-q", "--verify", "refs/agent-bridge/archive/s1", check=False) == ""
    assert git(repo, "rev-parse", "--verify", "refs/agent-bridge/base/s1").strip() == base


def test_non_utf8_text(repo: Path, tmp_path: Path) -> None:
    write(repo / "latin1.txt", "caf\u00e9\nok\n".encode("latin-1"))
    write(repo / "latin2.txt", "na\u00efve\nok\n".encode("latin-1"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "latin1")
    wt, base = session(repo, tmp_path)
    # A hunk whose own text is not UTF-8 cannot be shown as text: the file is reviewed whole.
    write(wt.path / "latin1.txt", "caf\u00e8\nok\n".encode("latin-1"))
    # Other hunks stay text, and the foreign bytes around them survive byte for byte.
    write(wt.path / "latin2.txt", "na\u00efve\nOK\n".encode("latin-1"))
    changes = by_path(pending_changes(wt, base))
    assert (changes["latin1.txt"].binary, changes["latin1.txt"].hunks) == (True, ())
    assert [(h.old_text, h.new_text) for h in changes["latin2.txt"].hunks] == [("ok\n", "OK\n")]
    new_base = advance_base(wt, base, changes["latin1.txt"])
    new_base = advance_base(wt, new_base, changes["latin2.txt"], [changes["latin2.txt"].hunks[0].hunk_id])
    assert read_blob(repo, new_base, "latin1.txt") == "caf\u00e8\nok\n".encode("latin-1")
    assert read_blob(repo, new_base, "latin2.txt") == "na\u00efve\nOK\n".encode("latin-1")
    write(wt.path / "latin2.txt", "na\u00efve\nOK\nmore\n".encode("latin-1"))
    (change,) = pending_changes(wt, new_base)
    revert_in_worktree(wt, new_base, change, [change.hunks[0].hunk_id])
    assert (wt.path / "latin2.txt").read_bytes() == "na\u00efve\nOK\n".encode("latin-1")


def test_same_size_edit_in_the_same_second_as_checkout_is_seen(repo: Path, tmp_path: Path) -> None:
    # Git trusts an index entry whose stat data matches unless the file is not older than the index
    # ("racy git"). An edit of the same size in the same second as the checkout, looked at a second later,
    # must still be seen: the throwaway index has to keep the real index's mtime for that protection.
    write(repo / "same.txt", b"aaaa\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "same")
    for attempt in range(5):
        wt, base = session(repo, tmp_path, name=f"s{attempt}")
        write(wt.path / "same.txt", b"bbbb\n")
        if int((wt.path / "same.txt").stat().st_mtime) == int((wt.path / ".git").stat().st_mtime):
            break
    time.sleep(1.1 - (time.time() % 1.0))  # look at it from the next second on
    changes = by_path(pending_changes(wt, base))
    assert [(h.old_text, h.new_text) for h in changes["same.txt"].hunks] == [("aaaa\n", "bbbb\n")]


def test_sessions_made_at_once_do_not_trip_over_each_other(repo: Path, tmp_path: Path) -> None:
    """Git writes a worktree's record file by file, and `worktree add -b` dies reading a half-made one ("failed
    to read .git/worktrees/<id>/commondir"): a hundred sessions opened at once failed some of theirs."""
    base = snapshot_base(repo, {})

    def make(i: int) -> None:
        create_worktree(repo, tmp_path / "wt" / f"s{i}", f"agent-bridge/s{i}", base)

    with ThreadPoolExecutor(max_workers=12) as pool:
        list(pool.map(make, range(36)))  # raises the first failure
    assert len(list_worktrees(repo)) == 37
    assert all((tmp_path / "wt" / f"s{i}" / "two.txt").read_text() == lines("two", 10) for i in range(36))
