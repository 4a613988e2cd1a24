"""What an ACP session offers to steer it, tracked from the agent's own JSON (session/new, then session/update),
and requests checked against it before they reach the agent."""

from __future__ import annotations

from typing import Any

import pytest
from acp import schema
from pydantic import TypeAdapter

from backends.acp.steering import SteeringState
from backends.base import ModeInfo, SteeringError

# As claude-agent-acp answers session/new (trimmed): modes, and options including a grouped select.
NEW_SESSION: dict[str, Any] = {
    "sessionId": "s1",
    "modes": {
        "currentModeId": "default",
        "availableModes": [
            {"id": "default", "name": "Default", "description": "Ask first"},
            {"id": "plan", "name": "Plan Mode"},
        ],
    },
    "configOptions": [
        {"id": "model", "name": "Model", "category": "model", "type": "select", "currentValue": "sonnet",
         "options": [{"group": "claude", "name": "Claude", "options": [
             {"value": "sonnet", "name": "Sonnet"}, {"value": "opus", "name": "Opus"}]}],
         "_meta": {"x": 1}},
        {"id": "fast", "name": "Fast", "type": "boolean", "currentValue": False},
    ],
}

Update = TypeAdapter(schema.SessionNotification)


def update(payload: dict[str, Any]) -> Any:
    return Update.validate_python({"sessionId": "s1", "update": payload}).update


def started() -> SteeringState:
    state = SteeringState()
    state.on_initialize(schema.InitializeResponse.model_validate(
        {"protocolVersion": 1, "agentCapabilities": {"promptCapabilities": {"embeddedContext": True}}}
    ))
    state.on_session(schema.NewSessionResponse.model_validate(NEW_SESSION))
    return state


def test_the_session_answer_is_the_starting_state() -> None:
    state = started().state()
    assert state.modes == (ModeInfo("default", "Default", "Ask first"), ModeInfo("plan", "Plan Mode"))
    assert state.current_mode_id == "default"
    assert [o["id"] for o in state.config_options] == ["model", "fast"]
    assert state.config_options[0]["currentValue"] == "sonnet" and "_meta" not in state.config_options[0]
    assert state.config_options[0]["options"][0]["options"][1] == {"value": "opus", "name": "Opus"}
    assert state.commands == () and state.embedded_context is True


def test_updates_keep_it_current() -> None:
    steering = started()
    steering.on_update(update({"sessionUpdate": "current_mode_update", "currentModeId": "plan"}))
    options = [dict(NEW_SESSION["configOptions"][1], currentValue=True)]
    steering.on_update(update({"sessionUpdate": "config_option_update", "configOptions": options}))
    steering.on_update(update({"sessionUpdate": "available_commands_update", "availableCommands": [
        {"name": "review", "description": "Review the changes", "input": {"hint": "what to look at"}},
        {"name": "init", "description": "Write CLAUDE.md"},
    ]}))
    steering.on_update(update({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hi"}}))
    state = steering.state()
    assert state.current_mode_id == "plan"
    assert [(o["id"], o["currentValue"]) for o in state.config_options] == [("fast", True)]
    assert state.commands == (
        {"name": "review", "description": "Review the changes", "input": {"hint": "what to look at"}},
        {"name": "init", "description": "Write CLAUDE.md"},
    )


def test_requests_are_checked_against_what_is_offered() -> None:
    steering = started()
    assert steering.check_mode("plan", "claude") is None
    steering.check_option("model", "opus", "claude")  # inside a group
    steering.check_option("fast", True, "claude")
    with pytest.raises(SteeringError, match=r"claude offers no mode 'yolo' \(its modes: default, plan\)"):
        steering.check_mode("yolo", "claude")
    with pytest.raises(SteeringError, match=r"has no value 'haiku' \(its values: sonnet, opus\)"):
        steering.check_option("model", "haiku", "claude")
    with pytest.raises(SteeringError, match="takes true or false"):
        steering.check_option("fast", "yes", "claude")
    with pytest.raises(SteeringError, match="has no value True"):
        steering.check_option("model", True, "claude")
    with pytest.raises(SteeringError, match=r"offers no option 'x' \(its options: model, fast\)"):
        steering.check_option("x", "1", "claude")
    empty = SteeringState()
    with pytest.raises(SteeringError, match="agent offers no modes"):
        empty.check_mode("plan", "agent")
    with pytest.raises(SteeringError, match="agent offers no options"):
        empty.check_option("model", "a", "agent")


def test_modes_offered_only_as_a_config_option_are_shown_and_set_as_modes() -> None:
    # As opencode answers over ACP: no `modes`, a select option of category "mode".
    steering = SteeringState()
    steering.on_session(schema.NewSessionResponse.model_validate({"sessionId": "s", "configOptions": [
        {"id": "mode", "name": "Mode", "category": "mode", "type": "select", "currentValue": "build",
         "options": [{"value": "build", "name": "Build"}, {"value": "plan", "name": "Plan"}]},
    ]}))
    state = steering.state()
    assert state.modes == (ModeInfo("build", "Build"), ModeInfo("plan", "Plan")) and state.current_mode_id == "build"
    option = steering.check_mode("plan", "opencode")
    assert option is not None and option["id"] == "mode"  # set through session/set_config_option
    with pytest.raises(SteeringError, match="no mode 'ask'"):
        steering.check_mode("ask", "opencode")
