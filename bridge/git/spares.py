"""Spare worktrees: clean checkouts made ahead of time, so that a new session's worktree costs a rename and the
files that differ rather than a whole checkout (synchronous: run these in a thread from asyncio).

A spare is a detached worktree of a snapshot of the user's code, under a directory of the bridge's own (never
the session worktrees' directory, whose orphans the reaper archives as lost sessions). It holds no one's work:
no agent ever ran in it and it has no branch, so removing it loses nothing. Taking it for a session moves it
into place (`git worktree move`), checks that nothing was written into it since it was made, brings its files
to the session's snapshot with a two-tree `read-tree -m -u` (only the files that differ are written) and puts
the session's new branch, at exactly that snapshot, on its HEAD.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

from bridge.errors import GitError
from bridge.git import heads, linked
from bridge.git.run import NULL_OID, Worktree, git, git_cancellable, head_commit
from bridge.git.worktrees import snapshot_base


def make_spare(repo_root: Path, path: Path, cancel: threading.Event) -> str:
    """Check out a snapshot of what the user has on disk now into a new detached worktree at `path`; returns
    the snapshot. Setting `cancel` stops the checkout (GitError): what it left is removed by `remove_spare`."""
    repo_root = Path(repo_root)
    snapshot = snapshot_base(repo_root, {})
    path.parent.mkdir(parents=True, exist_ok=True)
    # The record first (quick: other worktrees' commands wait for it), then the checkout, stoppable.
    git(repo_root, "worktree", "add", "--no-checkout", "--detach", str(path.absolute()), snapshot)
    tree = linked.locate(repo_root, path)
    git_cancellable(tree, "reset", "--hard", "-q", "--no-recurse-submodules", cancel=cancel)
    return snapshot


def adopt_spare(repo_root: Path, spare: Path, path: Path, branch: str, base: str) -> Worktree:
    """Make the spare at `spare` the worktree at `path` on a new branch `branch` at commit `base`, its files
    exactly `base`'s tree. On GitError the caller removes what is left (`discard`)."""
    repo_root = Path(repo_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo_root, "worktree", "move", str(spare.absolute()), str(path.absolute()))
    tree = linked.locate(repo_root, path)
    problem = linked.gitfile_problem(tree)
    if problem is not None:
        raise GitError(f"the spare worktree's .git file was changed ({problem})")
    # Nothing may have been written into it since it was made: its files must be the snapshot's, no more.
    changed = git(tree, "status", "--porcelain", "-z", "--untracked-files=all", "--ignored").stdout
    if changed:
        raise GitError("the spare worktree was written to since it was made")
    current = head_commit(tree)
    if current is None:
        raise GitError("the spare worktree has no commit checked out")
    # A two-tree merge of the index and files: only the entries that differ between the two are rewritten.
    git(tree, "read-tree", "-m", "-u", current, base)
    # The branch must be new (the old value the null id): a session never takes over an existing branch.
    git(repo_root, "update-ref", "-m", "agent-bridge: session", f"refs/heads/{branch}", base, NULL_OID)
    git(tree, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
    heads.commit_tree(tree, base)  # known, so that reading HEAD needs no git process
    return tree


def discard(repo_root: Path, path: Path, branch: str | None = None, base: str | None = None) -> None:
    """Remove whatever a spare left at `path` (a worktree, or a directory a stopped checkout left), and
    `branch` if it is still at `base`, as adopt_spare made it (never raises: it runs when something already went
    wrong)."""
    _remove(Path(repo_root), path)
    if branch is not None and base is not None:
        with contextlib.suppress(GitError):  # git deletes it only if it still points at `base`
            git(repo_root, "update-ref", "-d", f"refs/heads/{branch}", base)


def remove_spare(path: Path) -> None:
    """Remove a spare an earlier run left, and its repository's record of it when that record names it."""
    common = None if path.is_symlink() else linked.suggested_common_dir(path)
    # The `.git` file only suggests a repository; one whose own records name this path is the one to prune.
    if common is not None and linked.admin_dir(common, path.absolute()) is not None:
        _remove(common, path)
    else:
        remove_tree(path)


def _remove(repo: Path, path: Path) -> None:
    # Forced twice: a checkout that was stopped leaves its worktree locked ("initializing"), which prune keeps.
    with contextlib.suppress(GitError):
        git(repo, "worktree", "remove", "--force", "--force", str(path.absolute()), ok=(0, 128))
    remove_tree(path)
    with contextlib.suppress(GitError):
        git(repo, "worktree", "prune")


def remove_tree(path: Path) -> None:
    """Delete a directory of the bridge's own; a symlink is unlinked, never followed."""
    try:
        if path.is_symlink() or not path.is_dir():
            os.unlink(path)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        pass
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
