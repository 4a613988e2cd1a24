"""core/events.py: the backends' normalized events as wire events (pure)."""

from __future__ import annotations

import pytest

from backends import events as agent
from bridge import protocol as wire
from bridge.core.events import wire_event, wire_usage


def test_every_agent_event_has_a_wire_event() -> None:
    samples: list[agent.AgentEvent] = [
        agent.TextDelta("hi"),
        agent.ReasoningDelta("hmm"),
        agent.ToolCall("c1", "Edit a.py", "edit", "in_progress", ("a.py",), None, None, {"raw": 1}),
        agent.Plan((agent.PlanEntry("step", "pending", "high"),)),
        agent.Usage(input_tokens=1),
        agent.AvailableCommands(({"name": "init", "description": "d"},)),
        agent.ModeChanged("plan"),
        agent.ConfigChanged(({"id": "model"},)),
        agent.SessionInfo("title"),
    ]
    kinds = [wire_event(e, "s", "t", "qwen").kind for e in samples]
    assert kinds == [agent.event_kind(e) for e in samples]


def test_tool_call_is_renamed_and_loses_its_raw_input() -> None:
    event = wire_event(agent.ToolCall("c1", "Run ls", "execute", "completed", ("a",), "ls", "out"), "s", "t", "q")
    assert wire.to_json(event) == {
        "sessionId": "s", "turnId": "t", "agent": "q", "kind": "toolCall", "toolCallId": "c1", "title": "Run ls",
        "toolKind": "execute", "status": "completed", "paths": ["a"], "command": "ls", "output": "out",
    }


def test_usage_keeps_only_what_the_agent_reported() -> None:
    assert wire.to_json(wire_usage(agent.Usage(output_tokens=5, cost=0.5))) == {"outputTokens": 5, "cost": 0.5}


def test_unknown_events_are_an_error() -> None:
    with pytest.raises(TypeError):
        wire_event(object(), "s", "t", "q")  # type: ignore[arg-type]
