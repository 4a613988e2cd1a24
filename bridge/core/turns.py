"""Running one turn: streaming its events to the editor, answering permissions, watching for hangs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from acp.exceptions import RequestError

from backends.acp.mapping import turn_status
from backends.base import AgentBackend, AgentCrashed, BackendError, OptionKind, PermissionRequest, PromptPart
from backends.events import (
    AgentEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
    event_kind,
)
from bridge.config import AgentConfig
from bridge.core import permissions
from bridge.core.coalesce import TextCoalescer

if TYPE_CHECKING:
    from bridge.core.manager import SessionManager
    from bridge.core.session import LiveSession


@dataclass(frozen=True)
class TurnResult:
    status: str  # completed | failed | cancelled
    stop_reason: str | None = None
    error: str | None = None
    usage: Usage | None = None
    crashed: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.error:
            out["error"] = self.error
        if self.stop_reason:
            out["stopReason"] = self.stop_reason
        return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def event_payload(event: AgentEvent) -> dict[str, Any]:
    """The JSON fields of an `agentBridge/event` for one agent event (besides sessionId/turnId/kind)."""
    data = asdict(event)
    if isinstance(event, ToolCall):
        data["paths"] = list(event.paths)
        data["tool_kind"] = data.pop("kind")  # `kind` names the event itself
        data.pop("raw_input", None)
    return {_camel(k): v for k, v in data.items() if v is not None}


class TurnHost:
    """The BackendHost of one (session, agent): routes events to the editor and applies the policy."""

    def __init__(self, manager: SessionManager, live: LiveSession, agent: AgentConfig) -> None:
        self._manager = manager
        self._live = live
        self.agent = agent
        self.turn_id: str | None = None
        self.last_activity = time.monotonic()
        self.answer: list[str] = []  # the current turn's text, kept for the session history
        self._backend: AgentBackend | None = None
        self._coalescer = TextCoalescer(self._flush_text)

    @property
    def worktree(self) -> Path:
        return self._live.path

    @property
    def cwd(self) -> Path:
        return self._live.cwd

    def _notify(self, kind: str, fields: dict[str, Any]) -> None:
        self._manager.editor.notify_event(
            {"sessionId": self._live.row.id, "turnId": self.turn_id, "kind": kind, "agent": self.agent.name,
             **fields}
        )

    async def _flush_text(self, kind: str, text: str) -> None:
        if kind == "text" and self.turn_id is not None:
            self.answer.append(text)
        self._notify(kind, {"text": text})

    async def flush(self) -> None:
        await self._coalescer.flush()

    def notice(self, message: str) -> None:
        self._notify("notice", {"message": message})

    async def on_event(self, event: AgentEvent) -> None:
        self.last_activity = time.monotonic()
        if isinstance(event, TextDelta | ReasoningDelta):
            await self._coalescer.add(event_kind(event), event.text)
            return
        await self._coalescer.flush()
        self._notify(event_kind(event), event_payload(event))
        if isinstance(event, ToolCall) and self.turn_id is not None and event.status == "in_progress":
            self._manager.editor.progress_report(self.turn_id, event.title)

    async def ask_permission(self, request: PermissionRequest) -> OptionKind | None:
        self.last_activity = time.monotonic()
        store = self._manager.store
        remembered = await store.remembered_commands(self.agent.name)
        decision = permissions.decide(request, self.worktree, self.cwd, remembered)
        base = {"toolCallId": request.tool_call_id, "title": request.title, "permissionKind": request.kind,
                "paths": list(request.paths), "command": request.command, "cwd": request.cwd}
        if decision.verdict == "allow":
            self._notify("permission", {**base, "outcome": "allowed", "reason": decision.reason})
            return "allow_once"
        if decision.verdict == "reject":
            self._notify("permission", {**base, "outcome": "rejected", "reason": decision.reason})
            return "reject_once"
        await self._coalescer.flush()
        self._notify("permission", {**base, "outcome": "asking", "reason": decision.reason})
        message = permissions.describe(request, self.agent.name)
        if request.command and not request.cwd:
            message += f" in {self.cwd}"
        answer = await self._manager.editor.ask(message, [label for label, _ in permissions.ASK_ACTIONS])
        self.last_activity = time.monotonic()
        kind = permissions.answer_for_title(answer)
        outcome = {"allow_once": "allowed", "allow_always": "allowedAlways"}.get(kind or "", "rejected")
        self._notify("permission", {**base, "outcome": outcome, "reason": "answered by the user"})
        if kind == "allow_always" and request.command:
            await store.remember_command(self.agent.name, permissions.normalize_command(request.command), "allow")
            # The bridge remembers; the agent is asked to keep asking so the policy stays in control.
            return "allow_once"
        return kind if kind is not None else "reject_once"

    def begin(self, turn_id: str, backend: AgentBackend) -> None:
        self.turn_id = turn_id
        self.answer = []
        self._backend = backend
        self.last_activity = time.monotonic()

    def end(self) -> None:
        self.turn_id = None



CANCEL_RESEND = 1.5  # seconds before a cancel the agent did not act on is sent again
CANCEL_TRIES = 3


async def run_turn(
    backend: AgentBackend,
    host: TurnHost,
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
        except (BackendError, RequestError) as exc:
            return TurnResult("failed", error=str(exc))
        status, error = turn_status(outcome.stop_reason)
        return TurnResult(status, outcome.stop_reason, error, outcome.usage)
    finally:
        await host.flush()
        host.end()
