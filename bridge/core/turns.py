"""A turn: one prompt to one agent, run to its end with cancels re-sent and a watchdog for hangs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Protocol

from backends.base import AgentBackend, AgentCrashed, BackendError, PromptPart
from backends.events import Usage
from bridge.config import AgentConfig
from bridge.protocol import TurnContext, TurnStatus


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
    context: TurnContext | None = None  # the user's selection sent with the prompt
    queued_at: float = field(default_factory=time.time)  # when the user prompted it


@dataclass(frozen=True)
class TurnResult:
    status: str  # completed | failed | cancelled
    stop_reason: str | None = None
    error: str | None = None
    usage: Usage | None = None
    crashed: bool = False

    def to_wire(self) -> TurnStatus:
        return TurnStatus(self.status, self.error or None, self.stop_reason or None)


def turn_status(stop_reason: str) -> tuple[str, str | None]:
    """Map a stop reason to the turn status and, for failures, a message for the user."""
    if stop_reason in ("end_turn", "max_tokens", "max_turn_requests"):
        return "completed", None
    if stop_reason == "cancelled":
        return "cancelled", "the turn was cancelled"
    if stop_reason == "refusal":
        return "failed", "the agent refused to continue"
    return "failed", f"the agent stopped with an unknown reason {stop_reason!r}"


class TurnObserver(Protocol):
    """What a running turn reports to: the host of its (session, agent)."""

    last_activity: float

    def begin(self, turn_id: str, backend: AgentBackend) -> None: ...

    def end(self) -> None: ...

    async def flush(self) -> None: ...


CANCEL_RESEND = 1.5  # seconds before a cancel the agent did not act on is sent again
CANCEL_TRIES = 3


async def run_turn(
    backend: AgentBackend,
    host: TurnObserver,
    turn_id: str,
    parts: list[PromptPart],
    watchdog: float,
    cancel: asyncio.Event,
) -> TurnResult:
    """Prompt the backend and wait for the turn to end, failing it if the agent goes silent too long.

    `cancel` may be set at any time, even before the prompt reached the agent: an agent ignores a
    `session/cancel` that arrives before the prompt it cancels, so it is sent again while the turn runs.
    """
    host.begin(turn_id, backend)
    task = asyncio.ensure_future(backend.prompt(parts))
    cancels_sent = 0
    last_cancel = 0.0
    try:
        while True:
            waiter = asyncio.ensure_future(cancel.wait())
            try:
                timeout = CANCEL_RESEND if cancel.is_set() else min(1.0, watchdog)
                done, _ = await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if task in done:
                break
            now = time.monotonic()
            if cancel.is_set() and cancels_sent < CANCEL_TRIES and now - last_cancel >= CANCEL_RESEND:
                await backend.cancel()
                cancels_sent += 1
                last_cancel = now
                continue
            if now - host.last_activity >= watchdog:
                await backend.cancel()
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(task), 5)
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
                return TurnResult(
                    "failed", error=f"the agent showed no activity for {watchdog:g} s; the turn was stopped",
                    crashed=True,
                )
        try:
            outcome = task.result()
        except AgentCrashed as exc:
            return TurnResult("failed", error=str(exc), crashed=True)
        except BackendError as exc:
            return TurnResult("failed", error=str(exc))
        status, error = turn_status(outcome.stop_reason)
        return TurnResult(status, outcome.stop_reason, error, outcome.usage)
    finally:
        await host.flush()
        host.end()
