"""Reaping worktrees no open session owns, without ever losing unreviewed work.

A worktree is orphaned when the bridge died while closing a session, or a session row was lost. Before an
orphan is removed, anything it holds beyond its base is committed and kept at
`refs/agent-bridge/archive/<session>` in the user's repository.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import GitError
from bridge.git import pending, worktrees

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reaped:
    session_id: str
    path: Path
    archived_at: str | None  # the ref holding its unreviewed work, if it had any
    skipped: str | None = None  # why it was left alone


def _repo_of(worktree: Path) -> Path | None:
    """The main repository a linked worktree belongs to, or None if it is not one."""
    proc = subprocess.run(
        ["git", "-C", str(worktree), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        return None
    common = Path(proc.stdout.strip())
    return common.parent if common.name == ".git" else None


def reap_orphans(worktrees_dir: Path, keep: Collection[str]) -> list[Reaped]:
    """Remove every worktree under `worktrees_dir` whose session id is not in `keep` (blocking)."""
    results: list[Reaped] = []
    if not worktrees_dir.is_dir():
        return results
    for path in sorted(worktrees_dir.iterdir()):
        session_id = path.name
        if session_id in keep or not path.is_dir():
            continue
        repo = _repo_of(path)
        if repo is None:
            results.append(Reaped(session_id, path, None, "not a git worktree; left in place for inspection"))
            continue
        branch = f"agent-bridge/{session_id}"
        base_ref = f"refs/agent-bridge/base/{session_id}"
        archive = f"refs/agent-bridge/archive/{session_id}"
        try:
            base = _resolve(repo, base_ref)
            unreviewed = base is None or bool(pending.pending_changes(path, base))
            worktrees.remove_worktree(repo, path, branch, archive if unreviewed else None)
            if base is not None:
                worktrees.delete_ref(repo, base_ref)
        except GitError as exc:
            results.append(Reaped(session_id, path, None, f"could not remove it safely: {exc}"))
            continue
        results.append(Reaped(session_id, path, archive if unreviewed else None))
    return results


def _resolve(repo: Path, ref: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", ref + "^{commit}"],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None
