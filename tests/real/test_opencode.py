"""End to end with the REAL `opencode serve` (npm `opencode-ai`) behind the bridge, against the scripted LLM.

The editor drives the bridge over LSP; the bridge starts one opencode server and talks HTTP + SSE to it.
Covered: two turns reuse one server and one opencode session; an edit opencode writes straight to disk comes
back as a pending hunk and applies; a command asks the user through the bridge's policy; two sessions in two
worktrees prompted at the same time both complete with their own text; abort, then prompting again settles
correctly; opencode's agents and models switched through the backend and over LSP (kept across a bridge
restart) reach the model's requests, and a slash command runs as opencode's own.

A missing binary skips, unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI sets it): then it fails.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from backends.base import SteeringError, TextPart
from backends.events import ConfigChanged, ModeChanged, ToolCall
from backends.opencode.backend import OpencodeBackend
from backends.opencode.server import OpencodeServer
from tests.real.test_acp_agents import (
    agent_processes,
    bridge_pid,
    diagnostics,
    require_agent,
    require_sandbox,
    runs_sandboxed,
    script,
    wait_until,
    write_directive,
)
from tests.support.lsp_harness import Editor, make_repo, start_editor
from tests.support.real_agents import OPENCODE_MODEL, agent_env
from tests.support.scripted_llm import Conversation, ScriptedLLM
from tests.unit.backends.test_opencode_backend import Host

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(240)]

TURN_TIMEOUT = 120.0
FILE = "calc.py"
ORIGINAL = "def add(a, b):\n    return a + b\n"
CHANGED = "def add(a: int, b: int) -> int:\n    return a + b\n"


async def run(editor: Editor, text: str, **fields: Any) -> tuple[str, str, dict[str, Any]]:
    started = time.monotonic()
    sid, tid, result = await editor.run(text, timeout=TURN_TIMEOUT, agent="opencode", **fields)
    print(f"opencode: turn {tid} took {time.monotonic() - started:.1f} s -> {result}")
    return sid, tid, result


def agent_session_ids(state_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(f"file:{state_dir / 'state.db'}?mode=ro", uri=True) as db:
        return list(db.execute("SELECT session_id, backend, agent_session_id FROM agent_sessions ORDER BY 1"))


@pytest.fixture
async def setup(tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """(editor, llm, repo, home) with the real opencode as the default agent; parametrized indirectly with True,
    the agent is sandboxed (a server of the session's own, in bubblewrap)."""
    cmd = require_agent("opencode")
    sandboxed = bool(getattr(request, "param", False))
    if sandboxed:
        require_sandbox()
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL, "README.md": "# project\n"})
    home = tmp_path / "agent-home"
    with ScriptedLLM() as llm:
        init_options = {
            "agents": {"opencode": {"protocol": "opencode", "command": cmd, "model": OPENCODE_MODEL,
                                    "env": agent_env("opencode", llm.base_url, home), "sandbox": sandboxed}},
            "defaultAgent": "opencode",
        }
        editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=init_options)
        try:
            yield editor, llm, repo, home
        finally:
            servers = agent_processes(bridge_pid(editor), home)
            await editor.client.shutdown_session()
            # Shutting the bridge down stops the server it started (TERM, then KILL).
            await wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in servers), 20,
                             "the opencode server to stop with the bridge")


@pytest.mark.parametrize("setup", [False, True], ids=["plain", "sandboxed"], indirect=True)
async def test_real_opencode_edits_are_reviewed_and_the_server_stays_warm(setup: Any) -> None:
    editor, llm, repo, home = setup
    sandboxed = {a["name"]: a for a in await editor.cmd("agentBridge.agents", {})}["opencode"]["sandbox"]
    uri = editor.open(FILE)

    # Turn 1: opencode reads, then writes the file straight to disk in the session's worktree.
    sid, tid, result = await run(editor, script(f"@read {FILE}", *write_directive(FILE, CHANGED), "@say finished"))
    assert result == {"status": "completed", "stopReason": "end_turn"}, f"{result}\n{diagnostics(editor)}"
    assert "finished" in editor.text_of(tid)
    tools = [e for e in editor.events if e.get("turnId") == tid and e["kind"] == "toolCall"]
    assert {t["toolKind"] for t in tools} >= {"read", "edit"}, tools
    assert tools[-1]["status"] == "completed"
    assert any(e["kind"] == "usage" for e in editor.events if e.get("turnId") == tid)
    assert editor.questions == []  # an edit inside the worktree needs nobody's consent
    assert (repo / FILE).read_text() == ORIGINAL  # the user's checkout is untouched
    worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
    assert (worktree / FILE).read_text() == CHANGED

    # The edit is a pending hunk attributed to opencode, and applies through its code action.
    pending = await editor.pending(sid)
    hunks = pending[0]["hunks"]
    assert [(p["uri"], p["change"]) for p in pending] == [(uri, "modify")]
    assert {h["agent"] for h in hunks} == {"opencode"} and {h["turnId"] for h in hunks} == {tid}
    actions = await editor.code_actions(uri, hunks[0]["range"]["start"]["line"])
    apply = next(a for a in actions if a.title.startswith("Apply agent change (opencode"))
    assert apply.edit is not None
    ok, reason = editor.apply_workspace_edit(apply.edit)
    assert ok, reason
    assert editor.text(uri) == CHANGED

    pid = bridge_pid(editor)
    servers = agent_processes(pid, home)
    assert len(servers) == 1, servers
    assert runs_sandboxed(servers[0]) == sandboxed
    agents = {a["name"]: a for a in await editor.cmd("agentBridge.agents", {})}
    assert agents["opencode"]["available"] and agents["opencode"]["protocol"] == "opencode"
    if not sandboxed:  # a sandboxed agent's server is its session's: the agent list has no server to ask
        assert OPENCODE_MODEL in agents["opencode"].get("models", []), agents["opencode"]
    assert agents["opencode-acp"]["protocol"] == "acp"

    # Turn 2, same session: same server process, same opencode session, and the model saw turn 1.
    llm.clear()
    editor.answers = ["Allow"]
    command = 'echo second > from_bash.txt'
    second = script(f'@tool bash {json.dumps({"command": command, "description": "write a file"})}',
                    "@say again")
    _, tid2, result = await run(editor, second, sessionId=sid)
    assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
    assert "again" in editor.text_of(tid2)
    # The command went through the bridge's policy: asked in the editor, allowed, run by opencode.
    assert len(editor.questions) == 1 and command in editor.questions[0], editor.questions
    assert (worktree / "from_bash.txt").read_text() == "second\n"
    assert agent_processes(pid, home) == servers
    ids = agent_session_ids(editor.state_dir)
    assert len(ids) == 1 and ids[0][1] == "opencode" and ids[0][2].startswith("ses_"), ids
    bodies = [json.dumps(r.body) for r in llm.model_requests() if "@say again" in json.dumps(r.body)]
    assert bodies and all("@say finished" in b for b in bodies), "the second turn lost the first one's history"
    assert not [e for e in editor.events if e["kind"] == "notice"]


async def test_real_opencode_two_worktrees_at_once_then_abort(setup: Any) -> None:
    editor, llm, _, home = setup

    # Two new sessions (two worktrees) prompted together: both stream at the same time on one server.
    started = [await editor.prompt(script("@sleep 1", f"@say reply for {name}"), agent="opencode", newSession=True)
               for name in ("alpha", "beta")]
    results = await asyncio.gather(*(
        asyncio.wait_for(editor.cmd("agentBridge.awaitTurn", {"sessionId": s, "turnId": t}), TURN_TIMEOUT)
        for s, t in started))
    assert [r["status"] for r in results] == ["completed", "completed"], f"{results}\n{diagnostics(editor)}"
    assert "reply for alpha" in editor.text_of(started[0][1]) and "beta" not in editor.text_of(started[0][1])
    assert "reply for beta" in editor.text_of(started[1][1]) and "alpha" not in editor.text_of(started[1][1])
    sessions = await editor.cmd("agentBridge.sessions", {})
    assert len({s["worktree"] for s in sessions}) == 2
    assert len(agent_processes(bridge_pid(editor), home)) == 1

    # Abort a turn while the model is still thinking, then prompt the same session again.
    sid = started[0][0]
    _, slow_tid = await editor.prompt(script("@sleep 5", "@say too late"), agent="opencode", sessionId=sid)
    # Cancel once the model has the request (the turn is running inside opencode).
    deadline = time.monotonic() + 60
    while not any("@say too late" in json.dumps(r.body) for r in llm.model_requests()):
        assert time.monotonic() < deadline, diagnostics(editor)
        await asyncio.sleep(0.05)
    assert await editor.cmd("agentBridge.cancel", {"sessionId": sid}) == {"cancelled": True}
    aborted = await asyncio.wait_for(editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": slow_tid}),
                                     TURN_TIMEOUT)
    assert aborted["status"] == "cancelled", f"{aborted}\n{diagnostics(editor)}"
    _, tid, result = await run(editor, script("@say after the abort"), sessionId=sid)
    assert result == {"status": "completed", "stopReason": "end_turn"}, f"{result}\n{diagnostics(editor)}"
    assert "after the abort" in editor.text_of(tid)
    assert "too late" not in editor.text_of(tid) and "too late" not in editor.text_of(slow_tid)


async def test_real_opencode_session_resumes_after_a_bridge_restart(tmp_path: Path) -> None:
    cmd = require_agent("opencode")
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL})
    state, home = tmp_path / "state", tmp_path / "agent-home"
    with ScriptedLLM() as llm:
        init_options = {"agents": {"opencode": {"protocol": "opencode", "command": cmd, "model": OPENCODE_MODEL,
                                                "env": agent_env("opencode", llm.base_url, home)}}}
        editor = await start_editor(repo, state, tmp_path / "agent.log", init_options=init_options)
        try:
            sid, _, result = await run(editor, script("@say remember the number 42"))
            assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
        finally:
            await editor.client.shutdown_session()
        before = agent_session_ids(state)

        # A new bridge process, a new opencode server: the same opencode session goes on.
        editor = await start_editor(repo, state, tmp_path / "agent.log", init_options=init_options)
        try:
            llm.clear()
            _, tid, result = await run(editor, script("@say still here"), sessionId=sid)
            assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
            assert "still here" in editor.text_of(tid)
            assert not [e for e in editor.events if e["kind"] == "notice"], editor.events
            assert agent_session_ids(state) == before
            bodies = [json.dumps(r.body) for r in llm.model_requests() if "@say still here" in json.dumps(r.body)]
            assert bodies and all("remember the number 42" in b for b in bodies), "the history was lost"
        finally:
            await editor.client.shutdown_session()


def two_model_env(llm: ScriptedLLM, home: Path) -> dict[str, str]:
    """The offline opencode environment with a second model at the same scripted provider."""
    env = agent_env("opencode", llm.base_url, home)
    config = json.loads(env["OPENCODE_CONFIG_CONTENT"])
    provider = OPENCODE_MODEL.split("/")[0]
    config["provider"][provider]["models"][OTHER_MODEL.split("/")[1]] = {
        "name": "Other Model", "tool_call": True, "limit": {"context": 128000, "output": 8192}}
    return env | {"OPENCODE_CONFIG_CONTENT": json.dumps(config)}


OTHER_MODEL = "fake/other-model"
PLAN_REMINDER = "Plan mode ACTIVE"  # what opencode's plan agent adds to the prompt it sends the model


def driving_request(llm: ScriptedLLM, marker: str) -> Conversation:
    """The model request of the turn whose prompt holds `marker` (not the title request, which has no tools)."""
    found = [r.conversation for r in llm.model_requests()
             if r.conversation is not None and r.conversation.tools and marker in r.conversation.turns[-1].text]
    assert found, f"no model request for {marker!r}"
    return found[0]


async def test_real_opencode_agent_and_model_are_switched(tmp_path: Path) -> None:
    """opencode's agents (build, plan) and models, chosen through the backend, reach the model requests (and
    plan really cannot edit); its slash commands run as opencode's commands."""
    cmd = require_agent("opencode")
    project = make_repo(tmp_path / "project", {FILE: ORIGINAL})
    with ScriptedLLM() as llm:
        server = OpencodeServer(tuple(cmd), two_model_env(llm, tmp_path / "agent-home"), tmp_path / "server",
                                tmp_path / "server.log")
        host = Host(project)
        backend = OpencodeBackend(server, host)
        try:
            await backend.start()
            state = backend.state()
            assert {"build", "plan"} <= {m.id for m in state.modes}, state.modes
            assert not {"explore", "general", "title"} & {m.id for m in state.modes}  # sub-agents, internals
            assert state.current_mode_id == "build"
            (option,) = state.config_options
            assert option["category"] == "model" and option["currentValue"] == OPENCODE_MODEL
            assert {OPENCODE_MODEL, OTHER_MODEL} <= {o["value"] for o in option["options"]}
            assert "init" in {c["name"] for c in state.commands}
            with pytest.raises(SteeringError, match="no primary agent 'explore'"):
                await backend.set_mode("explore")

            await backend.prompt([TextPart(script(*write_directive("built.txt", "yes"), "@say as built"))])
            first = driving_request(llm, "@say as built")
            assert first.model == "fake-model" and PLAN_REMINDER not in first.turns[-1].text

            await backend.set_mode("plan")
            await backend.set_option("model", OTHER_MODEL)
            assert host.events[-2:] == [ModeChanged("plan"), ConfigChanged(backend.state().config_options)]
            await backend.prompt([TextPart(script(*write_directive("planned.txt", "no"), "@say as planned"))])
            planned = driving_request(llm, "@say as planned")
            assert planned.model == "other-model" and PLAN_REMINDER in planned.turns[-1].text, planned.turns[-1]
            # plan's own denial holds against the bridge's `edit: allow`: its write failed, nothing was written.
            assert (project / "built.txt").read_text() == "yes\n" and not (project / "planned.txt").exists()
            writes = {e.tool_call_id: e.status for e in host.events if isinstance(e, ToolCall) and e.kind == "edit"}
            assert list(writes.values()) == ["completed", "failed"], writes

            # Back to build: the plan reminder is gone, the chosen model stays.
            await backend.set_mode("build")
            await backend.prompt([TextPart(script("@say built again"))])
            again = driving_request(llm, "@say built again")
            assert again.model == "other-model" and PLAN_REMINDER not in again.turns[-1].text
            assert "as builtas plannedbuilt again" == host.text()

            # A slash command opencode lists is expanded by opencode (its template reaches the model).
            await backend.prompt([TextPart("/init @say initialized")])
            command = driving_request(llm, "@say initialized")
            assert "AGENTS.md" in command.turns[-1].text and command.model == "other-model", command.turns[-1]
            assert host.text().endswith("initialized")
        finally:
            await backend.close()
            await server.close()


async def test_real_opencode_steered_over_lsp_and_the_choice_survives_a_restart(tmp_path: Path) -> None:
    """agentState / setMode / setOption on the real opencode through the bridge; a new bridge process puts the
    choice back on its new opencode server, and the model is asked for what was chosen."""
    cmd = require_agent("opencode")
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL})
    state_dir = tmp_path / "state"
    with ScriptedLLM() as llm:
        init_options = {"agents": {"opencode": {"protocol": "opencode", "command": cmd,
                                                "env": two_model_env(llm, tmp_path / "agent-home")}}}
        editor = await start_editor(repo, state_dir, tmp_path / "agent.log", init_options=init_options)
        try:
            sid, _, result = await run(editor, script("@say first"))
            assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
            state = await editor.cmd("agentBridge.agentState", {"sessionId": sid})
            assert state["agent"] == "opencode" and state["modes"]["currentModeId"] == "build"
            assert {"build", "plan"} <= {m["id"] for m in state["modes"]["availableModes"]}
            assert state["configOptions"][0]["currentValue"] == OPENCODE_MODEL
            assert "init" in {c["name"] for c in state["commands"]}
            error = await editor.cmd_error("agentBridge.setMode", {"sessionId": sid, "modeId": "explore"})
            assert "no primary agent 'explore'" in str(error)
            await editor.cmd("agentBridge.setMode", {"sessionId": sid, "modeId": "plan"})
            state = await editor.cmd("agentBridge.setOption",
                                     {"sessionId": sid, "optionId": "model", "value": OTHER_MODEL})
            assert state["modes"]["currentModeId"] == "plan"
            assert state["configOptions"][0]["currentValue"] == OTHER_MODEL
            agent = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"][0]
            assert (agent["mode"], agent["model"]) == ("plan", OTHER_MODEL)
            assert [e["modeId"] for e in editor.events if e["kind"] == "modeChanged"] == ["plan"]
            _, _, result = await run(editor, script("@say planned"), sessionId=sid)
            assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
            planned = driving_request(llm, "@say planned")
            assert planned.model == "other-model" and PLAN_REMINDER in planned.turns[-1].text
        finally:
            await editor.client.shutdown_session()

        editor = await start_editor(repo, state_dir, tmp_path / "agent.log", init_options=init_options)
        try:
            agent = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"][0]
            assert (agent["mode"], agent["model"]) == ("plan", OTHER_MODEL)
            _, tid, result = await run(editor, script(*write_directive("late.txt", "no"), "@say still planning"),
                                       sessionId=sid)
            assert result["status"] == "completed", f"{result}\n{diagnostics(editor)}"
            resumed = driving_request(llm, "@say still planning")
            assert resumed.model == "other-model" and PLAN_REMINDER in resumed.turns[-1].text
            assert "still planning" in editor.text_of(tid)
            assert await editor.pending(sid) == []  # plan's denial holds on the resumed session: nothing written
        finally:
            await editor.client.shutdown_session()
