"""The `agentBridge/event` notifications: one attrs class per kind."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from bridge.protocol.commands import PlanEntry, Usage


@attrs.frozen
class Event:
    kind: ClassVar[str] = ""
    session_id: str
    turn_id: str | None


@attrs.frozen
class TurnContext:
    uri: str
    start_line: int
    end_line: int


@attrs.frozen
class TurnStarted(Event):
    kind: ClassVar[str] = "turnStarted"
    agent: str
    prompt: str
    context: TurnContext | None = None


@attrs.frozen
class TurnEnded(Event):
    kind: ClassVar[str] = "turnEnded"
    agent: str
    status: str
    stop_reason: str | None = None
    error: str | None = None
    usage: Usage | None = None


@attrs.frozen
class PendingChanged(Event):
    kind: ClassVar[str] = "pendingChanged"
    files: int
    hunks: int


@attrs.frozen
class AgentEvent(Event):
    """An event from one agent's turn."""

    agent: str


@attrs.frozen
class TextEvent(AgentEvent):
    kind: ClassVar[str] = "text"
    text: str


@attrs.frozen
class ReasoningEvent(AgentEvent):
    kind: ClassVar[str] = "reasoning"
    text: str


@attrs.frozen
class ToolCallEvent(AgentEvent):
    kind: ClassVar[str] = "toolCall"
    tool_call_id: str
    title: str
    tool_kind: str
    status: str
    paths: list[str]
    command: str | None = None
    output: str | None = None


@attrs.frozen
class PlanEvent(AgentEvent):
    kind: ClassVar[str] = "plan"
    entries: list[PlanEntry]


@attrs.frozen
class UsageEvent(AgentEvent):
    """Sent flat: the usage's fields sit beside sessionId and turnId (see convert.py)."""

    kind: ClassVar[str] = "usage"
    usage: Usage


@attrs.frozen
class PermissionEvent(AgentEvent):
    kind: ClassVar[str] = "permission"
    tool_call_id: str
    title: str
    permission_kind: str
    paths: list[str]
    command: str | None
    cwd: str | None
    outcome: str  # allowed | rejected | asking | allowedAlways
    reason: str


@attrs.frozen
class AvailableCommandsEvent(AgentEvent):
    kind: ClassVar[str] = "availableCommands"
    commands: list[dict[str, Any]]


@attrs.frozen
class ModeChangedEvent(AgentEvent):
    kind: ClassVar[str] = "modeChanged"
    mode_id: str


@attrs.frozen
class ConfigChangedEvent(AgentEvent):
    kind: ClassVar[str] = "configChanged"
    options: list[dict[str, Any]]


@attrs.frozen
class SessionInfoEvent(AgentEvent):
    kind: ClassVar[str] = "sessionInfo"
    title: str | None = None


@attrs.frozen
class SyncedEvent(AgentEvent):
    """The worktree caught up with the user's code at the start of a turn."""

    kind: ClassVar[str] = "synced"
    files: list[str]  # URIs of the files the user changed since the session's base
    conflicts: int  # pending hunks now colliding with the user's edits


@attrs.frozen
class RewoundEvent(AgentEvent):
    """Turns were rewound: their changes are undone in the worktree. `turn_id` is the turn named."""

    kind: ClassVar[str] = "rewound"
    turn_ids: list[str]
    files: list[str]


@attrs.frozen
class NoticeEvent(AgentEvent):
    kind: ClassVar[str] = "notice"
    message: str


