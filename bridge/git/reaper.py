"""Reaping worktrees no open session owns, without ever losing unreviewed work.

A worktree is orphaned when the bridge died while closing a session, or a session row was lost. Before an
orphan is removed, anything it holds beyond its base is committed and kept at
`refs/agent-bridge/archive/<session>` in the user's repository. An orphan's `.git` file may have been rewritten
by its agent: it is put back first, and only a repository whose own records name the worktree is written.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import GitError
from bridge.git import linked, pending, worktrees
from bridge.git.run import Worktree, decode, git

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reaped:
    session_id: str
    path: Path
    archived_at: str | None  # the ref holding its unreviewed work, if it had any
    skipped: str | None = None  # why it was left alone
    tampered: str | None = None  # what was wrong with its `.git` file (put back before anything ran)


def _owner(path: Path, known: Path | None) -> tuple[Path, Worktree] | None:
    """The repository that registered `path` as one of its worktrees, with the worktree; None if none did.

    The `.git` file is the agent's to write, so it only suggests a repository, believed when that repository's
    own records (outside the worktree) name `path`. A repository the bridge recorded for the session is the only
    one asked.
    """
    if known is not None:
        try:
            return known, linked.locate(known, path)
        except GitError:
            return None
    common = linked.suggested_common_dir(path)
    if common is None or common.name != ".git":
        return None
    admin = linked.admin_dir(common, path.absolute())
    return (common.parent, Worktree(path.absolute(), admin)) if admin is not None else None


def reap_orphans(
    worktrees_dir: Path, keep: Collection[str], repos: Mapping[str, Path] | None = None
) -> list[Reaped]:
    """Remove every worktree under `worktrees_dir` whose session id is not in `keep` (blocking).

    `repos` maps session ids to the repository the bridge recorded for them.
    """
    results: list[Reaped] = []
    if not worktrees_dir.is_dir():
        return results
    for path in sorted(worktrees_dir.iterdir()):
        session_id = path.name
        if session_id in keep or not path.is_dir():
            continue
        # The bridge never puts a symlink there: whatever it leads to is not one of its worktrees.
        owner = None if path.is_symlink() else _owner(path, (repos or {}).get(session_id))
        if owner is None:
            results.append(Reaped(session_id, path, None, "not a git worktree; left in place for inspection"))
            continue
        repo, tree = owner
        branch = f"agent-bridge/{session_id}"
        base_ref = f"refs/agent-bridge/base/{session_id}"
        archive = f"refs/agent-bridge/archive/{session_id}"
        try:
            tampered = linked.check_gitfile(tree)
            base = _resolve(repo, base_ref)
            unreviewed = base is None or bool(pending.pending_changes(tree, base))
            worktrees.remove_worktree(repo, tree, branch, archive if unreviewed else None)
            if base is not None:
                worktrees.delete_ref(repo, base_ref)
        except GitError as exc:
            results.append(Reaped(session_id, path, None, f"could not remove it safely: {exc}"))
            continue
        results.append(Reaped(session_id, path, archive if unreviewed else None, tampered=tampered))
    return results


def _resolve(repo: Path, ref: str) -> str | None:
    proc = git(repo, "rev-parse", "--verify", "--quiet", ref + "^{commit}", ok=(0, 1))
    return decode(proc.stdout).strip() if proc.returncode == 0 else None
