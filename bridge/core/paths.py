"""The path guard: every path an agent names is resolved inside the session worktree or refused."""

from __future__ import annotations

import os
from pathlib import Path

from bridge.errors import PathEscapesWorktree


def resolve_in_worktree(path: str, worktree: Path, cwd: Path | None = None) -> Path:
    """The real location of `path` inside `worktree`, or PathEscapesWorktree.

    Relative paths are taken against `cwd` (the agent's working directory, default the worktree). Symlinks are
    resolved with realpath before the check, so a link pointing out of the tree is refused like `..` is, and
    the comparison is by path components so `/wt-evil` never passes as inside `/wt`.
    """
    if not path or "\x00" in path:
        raise PathEscapesWorktree(path, worktree)
    root = Path(os.path.realpath(worktree))
    base = Path(os.path.realpath(cwd)) if cwd is not None else root
    candidate = Path(path).expanduser() if path.startswith("~") else Path(path)
    if not candidate.is_absolute():
        candidate = base / candidate
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        raise PathEscapesWorktree(path, worktree)
    # Never let an agent read or write git's own metadata through the client: it would bypass review.
    relative = real.relative_to(root)
    if relative.parts and relative.parts[0] == ".git":
        raise PathEscapesWorktree(path, worktree)
    return real


def is_inside(path: str, worktree: Path, cwd: Path | None = None) -> bool:
    try:
        resolve_in_worktree(path, worktree, cwd)
    except PathEscapesWorktree:
        return False
    return True
