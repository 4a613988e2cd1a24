"""A session whose worktree is still being made: the prompt that asked for it has already returned.

Snapshotting the user's code and checking it out takes seconds on a large repository; the editor must not wait
for that (an editor such as Emacs blocks on the command). A new session is announced at once with its id, its
turns queue here in order, and the session takes them over as soon as its worktree exists. Every command that
names the session waits for that moment (`Preparing.wait`); a failed preparation ends its turns with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.core.turns import Turn, TurnResult
from bridge.errors import BridgeError
from bridge.store import TurnRow

if TYPE_CHECKING:
    from bridge.core.session import Session


@dataclass
class Preparing:
    """A session in the making: what a prompt needs to know of it before it exists, and its waiting turns."""

    id: str
    workspace: str
    repo_root: Path
    path: Path  # where its worktree will be
    title: str = ""
    queued: list[Turn] = field(default_factory=list)  # turns not handed over yet, in order
    turns: dict[str, Turn] = field(default_factory=dict)  # every turn it was given, for awaitTurn
    task: asyncio.Task[Session] | None = None
    created_at: float = field(default_factory=time.time)
    active_at: float = field(init=False)  # as Session.active_at: a prompt continues the latest

    def __post_init__(self) -> None:
        self.active_at = self.created_at  # one clock: a session is as recent as when it was asked for

    def add(self, turn: Turn) -> None:
        self.queued.append(turn)
        self.turns[turn.id] = turn
        self.active_at = max(self.active_at, turn.queued_at)

    def rows(self) -> list[TurnRow]:
        """Its turns as the store will record them: queued (or ended, if the session could not be made)."""
        rows = []
        for turn in self.turns.values():
            ended = turn.done.result() if turn.done.done() else None
            rows.append(TurnRow(
                turn.id, self.id, turn.agent.name, turn.prompt, ended.status if ended else "queued",
                ended.stop_reason if ended else None, ended.error if ended else None, None, turn.queued_at, None,
                None,
            ))
        return rows

    def cancel(self) -> bool:
        """Cancel the turn that would run first (as cancelling a running turn does); later ones stay queued."""
        first = next((t for t in self.queued if not t.cancel.is_set()), None)
        if first is None:
            return False
        first.cancel.set()
        return True

    async def wait(self) -> Session:
        """The session once its worktree exists; BridgeError if it could not be made."""
        assert self.task is not None
        try:
            return await asyncio.shield(self.task)
        except BridgeError:
            raise
        except Exception as exc:  # the preparation's own failure, for whoever waits
            raise BridgeError(f"session {self.id} could not be prepared: {exc}") from exc


async def hand_over(
    prep: Preparing,
    create: Callable[[], Awaitable[Session]],
    start: Callable[[Session, Turn], Awaitable[None]],
    failed: Callable[[Turn, str], None],
) -> Session:
    """Make the session, then give it the queued turns in order (more may queue while it does); on failure
    every queued turn ends failed with the reason, and the failure propagates to those who wait."""
    try:
        live = await create()
    except Exception as exc:
        reason = str(exc) if isinstance(exc, BridgeError) else f"could not prepare the session: {exc}"
        for turn in prep.queued:
            failed(turn, reason)
            if not turn.done.done():
                turn.done.set_result(TurnResult("failed", error=reason))
        prep.queued.clear()
        raise
    while prep.queued:
        await start(live, prep.queued.pop(0))
    return live
