"""The host of one (session, agent): what a backend gets to stream events, ask permissions and resolve paths."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from backends.base import AgentBackend, OptionKind, PathRefused, PermissionRequest
from backends.events import AgentEvent, ReasoningDelta, TextDelta, ToolCall, event_kind
from bridge.config import AgentConfig
from bridge.core import permissions
from bridge.core.coalesce import TextCoalescer
from bridge.core.paths import resolve_in_worktree
from bridge.core.ports import Editor
from bridge.errors import PathEscapesWorktree
from bridge.store import Store


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

    def __init__(
        self, session_id: str, worktree: Path, cwd: Path, agent: AgentConfig, editor: Editor, store: Store
    ) -> None:
        self.session_id = session_id
        self._worktree = worktree
        self._cwd = cwd
        self._editor = editor
        self._store = store
        self.agent = agent
        self.turn_id: str | None = None
        self.last_activity = time.monotonic()
        self.answer: list[str] = []  # the current turn's text, kept for the session history
        self._backend: AgentBackend | None = None
        self._coalescer = TextCoalescer(self._flush_text)

    @property
    def worktree(self) -> Path:
        return self._worktree

    @property
    def cwd(self) -> Path:
        return self._cwd

    def _notify(self, kind: str, fields: dict[str, Any]) -> None:
        self._editor.notify_event(
            {"sessionId": self.session_id, "turnId": self.turn_id, "kind": kind, "agent": self.agent.name,
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

    def resolve_path(self, path: str) -> Path:
        try:
            return resolve_in_worktree(path, self._worktree, self._cwd)
        except PathEscapesWorktree as exc:
            raise PathRefused(str(exc)) from None

    async def on_event(self, event: AgentEvent) -> None:
        self.last_activity = time.monotonic()
        if isinstance(event, TextDelta | ReasoningDelta):
            await self._coalescer.add(event_kind(event), event.text)
            return
        await self._coalescer.flush()
        self._notify(event_kind(event), event_payload(event))
        if isinstance(event, ToolCall) and self.turn_id is not None and event.status == "in_progress":
            self._editor.progress_report(self.turn_id, event.title)

    async def ask_permission(self, request: PermissionRequest) -> OptionKind | None:
        self.last_activity = time.monotonic()
        store = self._store
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
        answer = await self._editor.ask(message, [label for label, _ in permissions.ASK_ACTIONS])
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
