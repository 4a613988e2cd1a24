"""Rejections as a range of worktree commits, and taking one back (synchronous: run in a thread from asyncio).

A reject reverts hunks in the session worktree, one commit per file, each marked with REJECTION_TRAILER. The
range those commits form (`<head before>..<head after>`) is the rejection's id: undoing it carries the change
"rejected -> agent's version" onto whatever the worktree holds now, as a three-way merge of only the paths the
rejection touched. If the worktree moved on so that the agent's version no longer fits (a later turn rewrote
those lines), nothing is touched and the caller hears why. The restoring commit names the range it took back
(UNREJECTION_TRAILER), so a rewind that carries rejections forward leaves this one out.
"""

from __future__ import annotations

from bridge.errors import CannotUnreject, GitError
from bridge.git.run import Worktree, git, out
from bridge.git.sync import (
    REJECTION_ID,
    REJECTION_TRAILER,
    UNREJECTION_TRAILER,
    commit_message,
    merge_onto,
    move_worktree,
    trailer_values,
    undone,
)
from bridge.git.worktrees import commit_all, head

HUNKS_TRAILER = "Agent-Bridge-Hunks:"


def message(path: str, ids: list[str] | None, hunk_ids: list[str]) -> str:
    """The commit message of one file's rejection: what it reverted, marked, with the hunk ids it covers."""
    return (
        f"Reject {len(ids) if ids else 'all'} hunk(s) of {path}\n\n"
        f"{REJECTION_TRAILER}\n{HUNKS_TRAILER} {' '.join(hunk_ids)}"
    )


def hunk_ids(tree: Worktree, commits: list[str]) -> list[str]:
    """The hunk ids these rejection commits reverted, in order."""
    found: list[str] = []
    for commit in commits:
        for value in trailer_values(commit_message(tree, commit), HUNKS_TRAILER):
            found.extend(value.split())
    return found


def rejection_id(before: str, after: str) -> str | None:
    """The id of the rejection that moved the worktree from `before` to `after`; None if it committed nothing."""
    return None if before == after else f"{before}..{after}"


def _is_ancestor(tree: Worktree, older: str, newer: str) -> bool:
    try:
        git(tree, "merge-base", "--is-ancestor", older, newer)
    except GitError:
        return False
    return True


def _range(tree: Worktree, rejection: str) -> tuple[str, str, list[str]]:
    """(before, after, the commits in between) of a rejection id, checked against the worktree's branch."""
    match = REJECTION_ID.match(rejection)
    if match is None:
        raise CannotUnreject(f"{rejection!r} is not a rejection id (agentBridge.reject returns one)")
    before, after = match.groups()
    current = head(tree)
    if not (_is_ancestor(tree, before, after) and _is_ancestor(tree, after, current)):
        raise CannotUnreject(f"rejection {rejection} is not in this session's history")
    commits = out(tree, "rev-list", "--reverse", f"{before}..{after}").split()
    for commit in commits:
        if REJECTION_TRAILER not in commit_message(tree, commit):
            raise CannotUnreject(f"rejection {rejection} covers {commit[:12]}, which is not a rejection")
    if undone(tree, after, current) & set(commits):
        raise CannotUnreject(f"rejection {rejection} was already undone")
    return before, after, commits


def unreject(tree: Worktree, rejection: str) -> list[str]:
    """Put the agent's version of a rejection's hunks back in the worktree; the commits it undid.

    Raises CannotUnreject (nothing changed) when the id is not a live rejection of this worktree or when the
    files it touched changed since in a way the agent's version does not fit.
    """
    before, after, commits = _range(tree, rejection)
    commit_all(tree, "agent-bridge: the agent's work before restoring rejected changes")
    merged = merge_onto(tree, after, before, head(tree))
    if merged.conflicts:
        names = ", ".join(sorted(merged.conflicts))
        raise CannotUnreject(f"cannot restore the rejected changes: {names} changed since the rejection")
    move_worktree(tree, merged.tree, f"Restore rejected changes\n\n{UNREJECTION_TRAILER} {rejection}")
    return commits
