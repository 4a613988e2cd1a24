"""A session worktree's HEAD and a commit's tree, without a git process when the answer is already known.

Every turn commits the worktree and reads its HEAD before and after; each `git rev-parse` is a process start
(several ms on a loaded 2-core machine, more than the work itself). A commit's tree never changes, so it is
remembered; HEAD is read from the worktree's own two small files, and trusted only when it names a commit the
bridge already knows (it made it or asked git about it). Anything else, a packed ref, a detached HEAD, a file an
agent rewrote into something odd, goes to git, which stays the authority.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections import OrderedDict
from pathlib import Path

from bridge.git.run import Where, Worktree, head_commit, out

_KNOWN_MAX = 4096  # commits remembered (a sha pair each): a long day of turns across many sessions
_known: OrderedDict[tuple[str, str], str] = OrderedDict()  # (repository, commit) -> tree
_lock = threading.Lock()  # git work runs on worker threads, several sessions at once
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_BRANCH = re.compile(r"refs/heads/[A-Za-z0-9._/-]+")


def _repo_key(where: Where) -> str:
    # Worktrees share their repository's objects: <common dir>/worktrees/<name> names the common dir.
    return str(where.git_dir.parent.parent) if isinstance(where, Worktree) else str(where)


def remember(where: Where, commit: str, tree: str) -> None:
    """Record a commit's tree (the bridge just made the commit, or git told it)."""
    key = (_repo_key(where), commit)
    with _lock:
        _known[key] = tree
        _known.move_to_end(key)
        while len(_known) > _KNOWN_MAX:
            _known.popitem(last=False)


def commit_tree(where: Where, commit: str) -> str:
    """The tree of a commit (a full sha): asked of git once, then remembered."""
    key = (_repo_key(where), commit)
    with _lock:
        tree = _known.get(key)
    if tree is None:
        tree = out(where, "rev-parse", f"{commit}^{{tree}}")
        remember(where, commit, tree)
    return tree


def head(tree: Worktree) -> str | None:
    """The worktree's HEAD commit (None on an unborn branch)."""
    known = _read_known_head(tree)
    if known is not None:
        return known
    commit = head_commit(tree)
    if commit is not None:
        commit_tree(tree, commit)  # known from now on
    return commit


def _read_known_head(tree: Worktree) -> str | None:
    """HEAD read from the files, if it is a branch whose loose ref names a commit already known; else None."""
    symref = _read_small(tree.git_dir / "HEAD")
    if symref is None or not symref.startswith("ref: "):
        return None
    name = symref[5:].strip()
    if not _BRANCH.fullmatch(name) or any(part in ("", ".", "..") for part in name.split("/")):
        return None
    sha = _read_small(tree.git_dir.parent.parent / name)
    if sha is None:
        return None
    sha = sha.strip()
    with _lock:
        known = (_repo_key(tree), sha) in _known
    if not _SHA.fullmatch(sha) or not known:
        return None
    return sha


def _read_small(path: Path) -> str | None:
    """A small regular file's text, never following a symlink (git writes neither HEAD nor a loose ref as one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, 512)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return None
