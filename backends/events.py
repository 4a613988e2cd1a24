"""The bridge's normalized agent events.

Every transport (ACP, opencode HTTP) maps its own wire events onto these types with one pure mapper, so the
rest of the bridge (turns, LSP notifications, the store) never sees a transport's shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ToolStatus = Literal["pending", "in_progress", "completed", "failed"]
PlanStatus = Literal["pending", "in_progress", "completed"]
StopReason = Literal["end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled"]


@dataclass(frozen=True)
class TextDelta:
    """A piece of the agent's answer, to be appended to what came before."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the agent's visible reasoning ("thoughts")."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The merged state of one tool call, sent whenever it changes.

    The mapper merges partial updates by id, so each event carries the whole known state.
    """

    tool_call_id: str
    title: str
    kind: str
    status: ToolStatus
    paths: tuple[str, ...] = ()
    command: str | None = None
    output: str | None = None
    raw_input: Any = None


@dataclass(frozen=True)
class PlanEntry:
    content: str
    status: PlanStatus = "pending"
    priority: str = "medium"


@dataclass(frozen=True)
class Plan:
    """The agent's whole current plan (each event replaces the previous one)."""

    entries: tuple[PlanEntry, ...]


@dataclass(frozen=True)
class Usage:
    """Token and cost figures; fields the transport does not report stay None."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    context_used: int | None = None
    context_size: int | None = None
    cost: float | None = None
    currency: str | None = None


@dataclass(frozen=True)
class AvailableCommands:
    """Slash commands the agent offers."""

    commands: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ModeChanged:
    mode_id: str


@dataclass(frozen=True)
class ConfigChanged:
    options: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class SessionInfo:
    title: str | None = None


AgentEvent = (
    TextDelta
    | ReasoningDelta
    | ToolCall
    | Plan
    | Usage
    | AvailableCommands
    | ModeChanged
    | ConfigChanged
    | SessionInfo
)


@dataclass(frozen=True)
class TurnOutcome:
    """How a prompt ended, as the transport reported it."""

    stop_reason: StopReason
    usage: Usage | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def event_kind(event: AgentEvent) -> str:
    """The `kind` an event carries in `agentBridge/event` notifications."""
    return _KINDS[type(event)]


_KINDS: dict[type, str] = {
    TextDelta: "text",
    ReasoningDelta: "reasoning",
    ToolCall: "toolCall",
    Plan: "plan",
    Usage: "usage",
    AvailableCommands: "availableCommands",
    ModeChanged: "modeChanged",
    ConfigChanged: "configChanged",
    SessionInfo: "sessionInfo",
}
