"""What the bridge holds for a live session: its worktree, turn queue, pending hunks and their attribution."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backends.base import PromptPart
from bridge.config import AgentConfig
from bridge.core.turns import TurnHost, TurnResult
from bridge.git import worktrees
from bridge.git.hunks import FileChange
from bridge.lsp.views import hunks_of
from bridge.store import HunkRow, SessionRow, WorktreeRow


@dataclass
class Turn:
    id: str
    session_id: str
    agent: AgentConfig
    prompt: str
    parts: list[PromptPart]
    done: asyncio.Future[TurnResult]
    # Set by agentBridge.cancel at any point of the turn, even before the agent has it.
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    context: dict[str, Any] | None = None


@dataclass
class LiveSession:
    row: SessionRow
    worktree: WorktreeRow
    repo_root: Path
    cwd: Path
    queue: asyncio.Queue[Turn] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    current: Turn | None = None
    turns: dict[str, Turn] = field(default_factory=dict)
    pending: list[FileChange] = field(default_factory=list)
    hosts: dict[str, TurnHost] = field(default_factory=dict)
    # Base texts of the files in `pending`, so views can follow the user's edits without running git.
    base_texts: dict[str, str] = field(default_factory=dict)
    # Who made each pending hunk: (path, hunk id) -> row, refreshed with `pending`.
    attribution: dict[tuple[str, str], HunkRow] = field(default_factory=dict)
    # Serializes everything that moves the base or rewrites the worktree (turn ends, apply, reject).
    git_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def path(self) -> Path:
        return Path(self.worktree.path)


def branch_name(session_id: str) -> str:
    return f"agent-bridge/{session_id}"


def base_ref(session_id: str) -> str:
    return f"refs/agent-bridge/base/{session_id}"


def archive_ref(session_id: str) -> str:
    return f"refs/agent-bridge/archive/{session_id}"


KEPT_TURNS = 64


def forget_old_turns(live: LiveSession) -> None:
    """Ended turns beyond the most recent few are answered from the store, not kept in memory."""
    ended = [tid for tid, t in live.turns.items() if t.done.done()]
    for turn_id in ended[: max(0, len(ended) - KEPT_TURNS)]:
        del live.turns[turn_id]


def agent_cwd(worktree: Path, repo_root: Path, workspace: Path) -> Path:
    """The workspace's place inside the worktree (agents start where the user's editor is rooted)."""
    try:
        rel = workspace.resolve().relative_to(repo_root.resolve())
    except ValueError:
        return worktree
    if workspace.is_file():
        rel = rel.parent
    return worktree / rel


def pending_with_bases(worktree: Path, base: str) -> tuple[list[FileChange], dict[str, str]]:
    changes = worktrees.pending_changes(worktree, base)
    texts = {}
    for change in changes:
        if not change.binary and change.change in ("modify", "rename"):
            blob = worktrees.read_blob(worktree, base, change.base_path) or b""
            texts[change.path] = blob.decode("utf-8", errors="replace")
    return changes, texts


def fingerprint(changes: list[FileChange]) -> list[tuple[str, tuple[str, ...]]]:
    return [(c.path, tuple(h.hunk_id for h in hunks_of(c))) for c in changes]
