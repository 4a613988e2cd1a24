"""End to end over LSP with the scripted agent: what an agent offers to steer it (agentState), switching its mode
and options (setMode, setOption) as its next reply shows, and the choice surviving an eviction and a restart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.support.lsp_harness import Editor, start_editor

HELPER = {"agents": {"helper": {"command": [sys.executable, "-m", "bridge.scripted_agent"]}}}


def agent_calls(ed: Editor, method: str) -> list[dict[str, Any]]:
    return [e for e in ed.agent_log_lines() if e["method"] == method]


async def test_agent_state_before_the_first_prompt_of_an_agent(repo: Path, tmp_path: Path) -> None:
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=HELPER)
    try:
        sid, _, _ = await ed.run("@say hi")
        news = len(agent_calls(ed, "session/new"))
        state = await ed.cmd("agentBridge.agentState", {"sessionId": sid, "agent": "helper"})
        # The helper had never run in this session: it was started (warm) to answer.
        assert len(agent_calls(ed, "session/new")) == news + 1
        assert state["agent"] == "helper"
        assert state["modes"] == {
            "currentModeId": "default",
            "availableModes": [
                {"id": "default", "name": "Default", "description": "Ask before every edit and command"},
                {"id": "plan", "name": "Plan", "description": "Only plan, never edit"},
            ],
        }
        model, thinking = state["configOptions"]
        assert (model["id"], model["type"], model["category"], model["currentValue"]) == (
            "model", "select", "model", "fast"
        )
        assert [o["value"] for o in model["options"]] == ["fast", "deep"]
        assert (thinking["id"], thinking["type"], thinking["currentValue"]) == ("thinking", "boolean", False)
        assert state["commands"] == []
        agents = {a["agent"]: a for a in (await ed.cmd("agentBridge.sessions", {}))[0]["agents"]}
        assert agents["helper"]["status"] == "idle"
        assert (agents["helper"]["mode"], agents["helper"]["model"]) == ("default", "fast")

        # Without `agent`: the agent of the session's last turn.
        assert (await ed.cmd("agentBridge.agentState", {"sessionId": sid}))["agent"] == "scripted"
        # Commands the agent published are part of its state.
        await ed.run("@commands", sessionId=sid)
        state = await ed.cmd("agentBridge.agentState", {"sessionId": sid})
        assert [c["name"] for c in state["commands"]] == ["help", "say"]
        assert state["commands"][1]["input"] == {"hint": "text to repeat"}
    finally:
        await ed.client.shutdown_session()


async def test_mode_and_options_set_are_what_the_agent_uses_next(editor: Editor) -> None:
    sid, _, _ = await editor.run("@echo-state")
    state = await editor.cmd("agentBridge.setMode", {"sessionId": sid, "modeId": "plan"})
    assert state["modes"]["currentModeId"] == "plan"
    state = await editor.cmd("agentBridge.setOption", {"sessionId": sid, "optionId": "model", "value": "deep"})
    assert state["configOptions"][0]["currentValue"] == "deep"
    state = await editor.cmd("agentBridge.setOption", {"sessionId": sid, "optionId": "thinking", "value": True})
    assert state["configOptions"][1]["currentValue"] is True
    # Every window hears of the changes, as when the agent changes them itself.
    assert await editor.wait_event(lambda e: e["kind"] == "modeChanged" and e["modeId"] == "plan")
    await editor.wait_event(lambda e: e["kind"] == "configChanged" and e["options"][0]["currentValue"] == "deep")

    _, tid, _ = await editor.run("@echo-state", sessionId=sid)
    assert editor.text_of(tid) == "mode=plan model=deep thinking=true\n"
    agent = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"][0]
    assert (agent["mode"], agent["model"]) == ("plan", "deep")


async def test_what_is_not_offered_is_a_clear_error(editor: Editor) -> None:
    sid, _, _ = await editor.run("@say hi")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("agentBridge.setMode", {"modeId": "yolo"}, "offers no mode 'yolo' (its modes: default, plan)"),
        ("agentBridge.setOption", {"optionId": "model", "value": "huge"}, "no value 'huge' (its values: fast, deep)"),
        ("agentBridge.setOption", {"optionId": "thinking", "value": "yes"}, "takes true or false"),
        ("agentBridge.setOption", {"optionId": "color", "value": "red"}, "offers no option 'color'"),
        ("agentBridge.setOption", {"optionId": "model", "value": 3}, "'value' must be a non-empty string or a boolean"),
        ("agentBridge.agentState", {"agent": "nobody"}, "nobody"),
    ]
    for command, args, message in cases:
        error = await editor.cmd_error(command, {"sessionId": sid, **args})
        assert message in str(error), (command, args, error)
    error = await editor.cmd_error("agentBridge.agentState", {"sessionId": "nope"})
    assert "unknown session 'nope'" in str(error)
    # Nothing was sent to the agent for any of them, and the bridge still works.
    assert agent_calls(editor, "session/set_mode") == [] and agent_calls(editor, "session/set_config_option") == []
    _, tid, _ = await editor.run("@echo-state", sessionId=sid)
    assert editor.text_of(tid) == "mode=default model=fast thinking=false\n"


async def test_the_choice_survives_an_eviction_and_a_restart_of_the_bridge(repo: Path, tmp_path: Path) -> None:
    # The agent keeps no state between processes here: only the bridge can put the choice back.
    options = {"settings": {"maxLiveAgents": 1}}
    state_dir, log = tmp_path / "state", tmp_path / "agent.log"
    first = await start_editor(repo, state_dir, log, init_options=options)
    try:
        sid, _, _ = await first.run("@say one")
        await first.cmd("agentBridge.setMode", {"sessionId": sid, "modeId": "plan"})
        await first.cmd("agentBridge.setOption", {"sessionId": sid, "optionId": "model", "value": "deep"})
        await first.run("@say another session evicts the first one's agent", newSession=True)
        agent = next(s for s in await first.cmd("agentBridge.sessions", {}) if s["sessionId"] == sid)["agents"][0]
        assert (agent["status"], agent["mode"], agent["model"]) == ("stopped", "plan", "deep")
        _, tid, _ = await first.run("@echo-state", sessionId=sid)
        assert first.text_of(tid) == "mode=plan model=deep thinking=false\n"
        assert len(agent_calls(first, "session/set_mode")) == 2  # set, then put back on the new process
    finally:
        await first.client.shutdown_session()
    second = await start_editor(repo, state_dir, log, init_options=options)
    try:
        agent = next(s for s in await second.cmd("agentBridge.sessions", {}) if s["sessionId"] == sid)["agents"][0]
        assert (agent["mode"], agent["model"]) == ("plan", "deep")
        state = await second.cmd("agentBridge.agentState", {"sessionId": sid})
        assert state["modes"]["currentModeId"] == "plan" and state["configOptions"][0]["currentValue"] == "deep"
        _, tid, _ = await second.run("@echo-state", sessionId=sid)
        assert second.text_of(tid) == "mode=plan model=deep thinking=false\n"
    finally:
        await second.client.shutdown_session()
