"""Mapping the backends' normalized agent events onto the wire's event classes (pure)."""

from __future__ import annotations

from backends import events as agent
from bridge import protocol as wire


def wire_usage(usage: agent.Usage) -> wire.Usage:
    return wire.Usage(
        usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.context_used, usage.context_size,
        usage.cost, usage.currency,
    )


def wire_event(event: agent.AgentEvent, session_id: str, turn_id: str | None, agent_name: str) -> wire.AgentEvent:
    """The `agentBridge/event` for one agent event of a turn."""
    head = (session_id, turn_id, agent_name)
    match event:
        case agent.TextDelta(text):
            return wire.TextEvent(*head, text)
        case agent.ReasoningDelta(text):
            return wire.ReasoningEvent(*head, text)
        case agent.ToolCall():
            return wire.ToolCallEvent(
                *head, event.tool_call_id, event.title, event.kind, event.status, list(event.paths), event.command,
                event.output,
            )
        case agent.Plan(entries):
            return wire.PlanEvent(*head, [wire.PlanEntry(e.content, e.status, e.priority) for e in entries])
        case agent.Usage():
            return wire.UsageEvent(*head, wire_usage(event))
        case agent.AvailableCommands(commands):
            return wire.AvailableCommandsEvent(*head, list(commands))
        case agent.ModeChanged(mode_id):
            return wire.ModeChangedEvent(*head, mode_id)
        case agent.ConfigChanged(options):
            return wire.ConfigChangedEvent(*head, list(options))
        case agent.SessionInfo(title):
            return wire.SessionInfoEvent(*head, title)
    raise TypeError(f"no wire event for {type(event).__name__}")
