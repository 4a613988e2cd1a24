"""End to end with real ACP agents: the editor drives qwen-code, claude-agent-acp and gemini-cli through the bridge.

The agents run for real (installed by ``scripts/install-agents.sh``) but talk to ``tests/support/scripted_llm.py``, so
what they do is fixed by directives in the prompt. Each test checks the whole path: prompt over LSP, events,
the user's checkout left alone, the edit pending as hunks attributed to the agent, applying one through a code
action, and a second turn served by the same warm agent process and ACP session. Another checks that the user's
saved and unsaved edits made between turns are what the agent's own read tool returns next turn, with the
editor's note about them in its prompt.

A missing agent skips, unless ``AGENT_BRIDGE_REQUIRE_REAL_AGENTS`` is set (CI sets it): then it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.daemons import daemon_pid
from tests.support.lsp_harness import Editor, git, make_repo, start_editor
from tests.support.real_agents import agent_command, agent_env
from tests.support.scripted_llm import ScriptedLLM

pytestmark = [pytest.mark.real_agent, pytest.mark.timeout(240)]

REQUIRE_ENV = "AGENT_BRIDGE_REQUIRE_REAL_AGENTS"
TURN_TIMEOUT = 120.0  # a cold agent start plus a turn takes a few seconds; leave plenty of room on slow CI

FILE = "calc.py"
ORIGINAL = "".join(
    ["def add(a, b):\n", "    return a + b\n", "\n"]
    + [f"# filler line {i}\n" for i in range(1, 13)]
    + ["\n", "def sub(a, b):\n", "    return a - b\n"]
)
# Two edits far enough apart (more than 2 x 3 context lines) to come back as two hunks.
CHANGED = ORIGINAL.replace("def add(a, b):", "def add(a: int, b: int) -> int:").replace(
    "    return a - b\n", "    return a - b  # difference\n"
)
AFTER_FIRST_HUNK = ORIGINAL.replace("def add(a, b):", "def add(a: int, b: int) -> int:")
NOTES = "notes.md"
NOTES_TEXT = "# notes\nsecond turn\n"

# bridge agent name -> binary name in tests/support/real_agents.py
AGENTS = {"qwen": "qwen", "claude": "claude-agent-acp", "gemini": "gemini"}
# The settings file tests/support/real_agents.py writes in the agent's home, which a sandbox home gets a copy of.
SETTINGS = {"qwen": ".qwen/settings.json", "gemini": ".gemini/settings.json"}


def require_agent(binary: str) -> list[str]:
    """The agent's argv; skip when it is not installed, or fail when real agents are required."""
    cmd = agent_command(binary)
    if cmd is None:
        message = f"{binary} is not installed (run scripts/install-agents.sh)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{message}; {REQUIRE_ENV} is set, so real agents are required")
        pytest.skip(message)
    return cmd


def require_sandbox() -> None:
    """Skip where no sandbox can be made, unless real agents are required (then CI must have bubblewrap)."""
    from backends import sandbox

    problem = sandbox.problem()
    if problem is not None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{problem}; {REQUIRE_ENV} is set, so the sandboxed variants must run")
        pytest.skip(problem)


def runs_sandboxed(launcher: int) -> bool:
    """Whether what the bridge's launcher (`lifeline`) runs is bubblewrap: its child's program is `bwrap`."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _ppid(int(entry.name)) == launcher:
            with contextlib.suppress(OSError):
                if Path((entry / "cmdline").read_bytes().split(b"\0")[0].decode()).name == "bwrap":
                    return True
    return False


def script(*lines: str) -> str:
    return "\n".join(lines)


def write_directive(path: str, text: str) -> list[str]:
    return [f"@write {path}", *text.splitlines(), "@end"]


# Processes


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the fields after its last ")" are fixed.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def agent_processes(bridge_pid: int, home: Path) -> list[int]:
    """Live children of the bridge running with the test's agent HOME: the agent processes it started.

    The HOME is unique to the test, so agents of concurrent test runs never count.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _ppid(pid) == bridge_pid and _environ(pid).get("HOME") == str(home):
            found.append(pid)
    return sorted(found)


def bridge_pid(editor: Editor) -> int:
    """The daemon that runs the editor's agents (`agent-bridge serve` is only a relay to it)."""
    return daemon_pid(editor.state_dir)


async def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.1)


def diagnostics(editor: Editor) -> str:
    """Bridge log and agent stderr, to explain a failure."""
    parts = []
    log = editor.state_dir / "bridge.log"
    if log.exists():
        parts.append(f"--- bridge.log (tail)\n{log.read_text()[-4000:]}")
    for path in sorted((editor.state_dir / "logs").glob("*.stderr.log")):
        parts.append(f"--- {path.name} (tail)\n{path.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)


async def run_turn(editor: Editor, text: str, agent: str, session_id: str | None = None) -> tuple[str, str, dict]:
    fields: dict[str, Any] = {"agent": agent}
    if session_id:
        fields["sessionId"] = session_id
    started = time.monotonic()
    sid, tid, result = await editor.run(text, timeout=TURN_TIMEOUT, **fields)
    print(f"{agent}: turn {tid} took {time.monotonic() - started:.1f} s -> {result}")
    assert result.get("status") == "completed", f"{result}\n{diagnostics(editor)}"
    return sid, tid, result


@contextlib.asynccontextmanager
async def real_editor(
    name: str, tmp_path: Path, extra: dict[str, Any] | None = None
) -> AsyncIterator[tuple[Editor, ScriptedLLM, Path, Path]]:
    """The editor driving the real agent `name` (its model the scripted LLM) in a fresh project: (editor, llm,
    repo, the agent's home). `extra` is merged into the agent's configuration (e.g. its `mcpServers`)."""
    cmd = require_agent(AGENTS[name])
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL, "README.md": "# project\n"})
    home = tmp_path / "agent-home"
    with ScriptedLLM() as llm:
        init_options = {
            "agents": {
                name: {"protocol": "acp", "command": cmd, "env": agent_env(AGENTS[name], llm.base_url, home)}
                | (extra or {})
            },
            "defaultAgent": name,
        }
        editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=init_options)
        try:
            yield editor, llm, repo, home
        finally:
            started = time.monotonic()
            await editor.client.shutdown_session()
            print(f"{name}: shutdown took {time.monotonic() - started:.1f} s")


@pytest.mark.parametrize("sandboxed", [False, True], ids=["plain", "sandboxed"])
@pytest.mark.parametrize("name", sorted(AGENTS))
async def test_real_agent_edit_is_reviewed_and_agent_stays_warm(name: str, sandboxed: bool, tmp_path: Path) -> None:
    """Sandboxed (`sandbox = true`, see tests/security/test_sandbox.py), the agent still starts, reads its
    settings, reaches the model and writes its edits, which arrive as pending hunks."""
    if sandboxed:
        require_sandbox()
    async with real_editor(name, tmp_path, {"sandbox": sandboxed}) as (editor, llm, repo, home):
        await _exercise(editor, llm, name, repo, home, sandboxed)


async def _exercise(
    editor: Editor, llm: ScriptedLLM, name: str, repo: Path, home: Path, sandboxed: bool = False
) -> None:
    uri = editor.open(FILE)

    # Turn 1: read (both agents refuse to overwrite a file they have not read this session), write, answer.
    first_prompt = script(f"@read {FILE}", *write_directive(FILE, CHANGED), "@say finished")
    sid, tid, result = await run_turn(editor, first_prompt, name)
    assert result["stopReason"] == "end_turn"

    kinds = editor.kinds(tid)
    assert kinds[0] == "turnStarted" and kinds[-1] == "turnEnded", kinds
    assert "finished" in editor.text_of(tid), (editor.text_of(tid), diagnostics(editor))
    tool_calls = [e for e in editor.events if e.get("turnId") == tid and e["kind"] == "toolCall"]
    assert tool_calls, kinds
    assert all(e["agent"] == name for e in editor.events if e.get("turnId") == tid and "agent" in e)
    # An edit inside the worktree is allowed without asking the user (it is reviewed as hunks instead).
    assert editor.questions == []
    refused = [e for e in editor.events if e["kind"] == "permission" and e.get("outcome") != "allowed"]
    assert refused == [], refused

    # The user's checkout is untouched; the worktree has the agent's edit.
    assert (repo / FILE).read_text() == ORIGINAL
    sessions = await editor.cmd("agentBridge.sessions", {})
    assert [s["sessionId"] for s in sessions] == [sid]
    worktree = Path(sessions[0]["worktree"])
    assert worktree != repo and (worktree / FILE).read_text() == CHANGED

    # Pending: the edit as two hunks, attributed to this agent and turn.
    pending = await editor.pending(sid)
    assert [(p["uri"], p["change"]) for p in pending] == [(uri, "modify")], pending
    hunks = pending[0]["hunks"]
    assert len(hunks) == 2, hunks
    assert {h["agent"] for h in hunks} == {name} and {h["turnId"] for h in hunks} == {tid}
    assert hunks[0]["oldText"] == "def add(a, b):\n"
    assert hunks[0]["newText"] == "def add(a: int, b: int) -> int:\n"
    assert sessions[0]["pendingHunks"] == 2

    # Apply the first hunk through its code action, as an editor would.
    actions = await editor.code_actions(uri, hunks[0]["range"]["start"]["line"])
    titles = [a.title for a in actions]
    apply = next((a for a in actions if a.title.startswith(f"Apply agent change ({name}")), None)
    assert apply is not None and apply.edit is not None, titles
    assert any(t.startswith(f"Reject agent change ({name}") for t in titles), titles
    rebaselined = asyncio.ensure_future(editor.wait_event(
        lambda e: e["kind"] == "pendingChanged" and e["sessionId"] == sid and e.get("turnId") is None
    ))
    ok, reason = editor.apply_workspace_edit(apply.edit)
    assert ok, reason
    assert editor.text(uri) == AFTER_FIRST_HUNK
    event = await asyncio.wait_for(rebaselined, 15)
    assert event["hunks"] == 1, event
    left = (await editor.pending(sid))[0]["hunks"]
    assert [h["hunkId"] for h in left] == [hunks[1]["hunkId"]]
    assert (repo / FILE).read_text() == ORIGINAL  # saved only when the user saves

    # The agent stays warm between turns: one live process, idle, recorded in the session.
    pid = bridge_pid(editor)
    procs = agent_processes(pid, home)
    assert len(procs) == 1, procs
    assert runs_sandboxed(procs[0]) == sandboxed
    if sandboxed and name in SETTINGS:
        assert (editor.state_dir / "sandbox" / name / "home" / SETTINGS[name]).is_file()
    agents = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"]
    assert [(a["agent"], a["status"]) for a in agents] == [(name, "idle")], agents
    stderr_log = editor.state_dir / "logs" / f"{sid}-{name}.stderr.log"
    assert stderr_log.exists()

    # Turn 2 in the same session: same process, same ACP session (the LLM sees the first turn's history).
    llm.clear()
    second_prompt = script(*write_directive(NOTES, NOTES_TEXT), "@say again")
    sid2, tid2, _ = await run_turn(editor, second_prompt, name, session_id=sid)
    assert sid2 == sid and tid2 != tid
    assert "again" in editor.text_of(tid2)
    assert agent_processes(pid, home) == procs
    agents = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"]
    assert [(a["agent"], a["status"]) for a in agents] == [(name, "idle")], agents
    assert not [e for e in editor.events if e["kind"] == "notice"]  # no restart or resume notice
    model_calls = [json.dumps(r.body) for r in llm.model_requests() if "@say again" in json.dumps(r.body)]
    assert model_calls, [r.path for r in llm.requests]
    assert all("@say finished" in body for body in model_calls), "the second turn lost the first one's history"

    assert (repo / NOTES).exists() is False
    pending = {p["uri"]: p for p in await editor.pending(sid)}
    notes = pending[editor.uri(NOTES)]
    assert notes["change"] == "create"
    assert {h["agent"] for h in notes["hunks"]} == {name} and {h["turnId"] for h in notes["hunks"]} == {tid2}
    assert [h["hunkId"] for h in pending[uri]["hunks"]] == [hunks[1]["hunkId"]]
    assert {h["turnId"] for h in pending[uri]["hunks"]} == {tid}  # still the first turn's

    # Everything left, through the command: the buffer ends as the agent wrote it.
    result = await editor.cmd("agentBridge.apply", {"sessionId": sid})
    assert result == {"applied": 2, "conflicts": []}, result
    assert editor.text(uri) == CHANGED
    assert editor.text(editor.uri(NOTES)) == NOTES_TEXT
    assert await editor.pending(sid) == []

    # Closing the session stops the agent process.
    started = time.monotonic()
    assert await editor.cmd("agentBridge.closeSession", {"sessionId": sid}) == {"closed": True}
    await wait_until(lambda: not agent_processes(pid, home), 20, f"{name} to exit after closeSession")
    print(f"{name}: closeSession and agent exit took {time.monotonic() - started:.1f} s")


# Living sessions: the user's saved and unsaved edits reach the agent's next turn.
USER_SAVED = ORIGINAL.replace("# filler line 5\n", "# filler line 5 USER-SAVED-EDIT\n")
USER_BUFFER = USER_SAVED.replace("    return a - b\n", "    return a - b  # USER-BUFFER-EDIT\n")


def _flatten(content: Any) -> str:
    """A tool result's text, whether a string or a list of content blocks (OpenAI and Anthropic shapes)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return json.dumps(content)


def tool_results(body: Any) -> list[str]:
    """Every tool result the agent sent the model: OpenAI `tool` messages, Anthropic `tool_result` blocks and
    Gemini `functionResponse` parts."""
    found = []
    for msg in (body or {}).get("messages") or []:
        if msg.get("role") in ("tool", "function"):
            found.append(_flatten(msg.get("content")))
        elif isinstance(msg.get("content"), list):
            found += [_flatten(p.get("content")) for p in msg["content"] if p.get("type") == "tool_result"]
    for content in (body or {}).get("contents") or []:
        for part in content.get("parts") or []:
            if isinstance(part, dict) and "functionResponse" in part:
                found.append(_flatten(part["functionResponse"].get("response")))
    return found


@pytest.mark.parametrize("name", sorted(AGENTS))
async def test_real_agent_reads_the_users_edits_after_catch_up(name: str, tmp_path: Path) -> None:
    async with real_editor(name, tmp_path) as (editor, llm, repo, _):
        await _catch_up(editor, llm, name, repo)


async def _catch_up(editor: Editor, llm: ScriptedLLM, name: str, repo: Path) -> None:
    uri = editor.open(FILE)
    # Turn 1: the agent creates a file, left pending for review.
    sid, tid1, _ = await run_turn(editor, script(*write_directive(NOTES, NOTES_TEXT), "@say written"), name)

    # Between turns the user edits calc.py, saves, and edits it again without saving.
    editor.change(uri, USER_SAVED)
    editor.save(uri)
    editor.change(uri, USER_BUFFER)

    # Turn 2: the agent reads calc.py with its own read tool.
    llm.clear()
    _, tid2, _ = await run_turn(editor, script(f"@read {FILE}", "@say done"), name, session_id=sid)
    assert "done" in editor.text_of(tid2), (editor.text_of(tid2), diagnostics(editor))

    calls = [r for r in llm.model_requests() if r.conversation is not None and r.conversation.tools]
    assert calls, [r.path for r in llm.requests]
    # (a) What the agent's read tool returned is the user's current text, unsaved edit included.
    results = tool_results(calls[-1].body)
    read = [t for t in results if "USER-SAVED-EDIT" in t]
    assert read and "USER-BUFFER-EDIT" in read[-1], (results, diagnostics(editor))
    # (b) The prompt the model got carries the editor's note naming calc.py, before the user's own words.
    driving = [c.turns[i] for c in (r.conversation for r in calls) if c and (i := c.driving_index()) is not None]
    assert driving and all("@read calc.py" in t.text for t in driving), [t.text for t in driving]
    note = "Note from the editor: since your last turn the user changed 1 file: calc.py."
    assert all(note in t.text for t in driving), driving[-1].text
    assert all(t.text.index(note) < t.text.index("@read calc.py") for t in driving), driving[-1].text

    # The editor was told the worktree caught up, for this turn and this file.
    synced = [e for e in editor.events if e["kind"] == "synced" and e.get("turnId") == tid2]
    assert len(synced) == 1, [e["kind"] for e in editor.events]
    assert synced[0]["files"] == [uri] and synced[0]["conflicts"] == 0 and synced[0]["agent"] == name

    # The agent's turn-1 file is still pending and still its own; the user's edits are not agent changes.
    pending = await editor.pending(sid)
    assert [(p["uri"], p["change"]) for p in pending] == [(editor.uri(NOTES), "create")], pending
    assert {(h["agent"], h["turnId"]) for h in pending[0]["hunks"]} == {(name, tid1)}
    worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
    assert (worktree / FILE).read_text() == USER_BUFFER and (worktree / NOTES).read_text() == NOTES_TEXT
    # The bridge left the user's checkout alone: only the user's own save shows there.
    assert (repo / FILE).read_text() == USER_SAVED and not (repo / NOTES).exists()
    assert git(repo, "status", "--porcelain").rstrip("\n") == f" M {FILE}"
    assert editor.questions == []


def test_missing_agent_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip/fail rule itself, without any agent."""
    monkeypatch.setattr("tests.real.test_acp_agents.agent_command", lambda name: None)
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_agent("qwen")
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_ENV):
        require_agent("qwen")


# Steering: modes and models switched through the bridge, observed in what the LLM receives.
PLAN_REMINDER = "Plan mode is active"
HAIKU = "fake-haiku"  # what claude's "haiku" model option resolves to here (ANTHROPIC_DEFAULT_HAIKU_MODEL)


def main_requests(llm: ScriptedLLM) -> list[Any]:
    """The agent's model calls with tools: its turns' steps (title or summary calls carry none)."""
    return [r for r in llm.model_requests() if r.body.get("tools")]


async def steered_turn(editor: Editor, llm: ScriptedLLM, sid: str | None, text: str) -> tuple[str, list[Any]]:
    """Run a turn; the session id and the requests it made to the LLM."""
    llm.clear()
    sid, _, _ = await run_turn(editor, text, "claude", sid)
    sent = main_requests(llm)
    assert sent, diagnostics(editor)
    return sid, sent


async def test_claude_mode_and_model_are_switched_and_survive_a_bridge_restart(tmp_path: Path) -> None:
    cmd = require_agent("claude-agent-acp")
    repo = make_repo(tmp_path / "project", {FILE: ORIGINAL})
    home = tmp_path / "agent-home"
    with ScriptedLLM() as llm:
        env = agent_env("claude-agent-acp", llm.base_url, home) | {"ANTHROPIC_DEFAULT_HAIKU_MODEL": HAIKU}
        # ANTHROPIC_MODEL would pin the model whatever the session chooses; the default resolves to fake-model.
        del env["ANTHROPIC_MODEL"]
        options = {"agents": {"claude": {"protocol": "acp", "command": cmd, "env": env}}, "defaultAgent": "claude"}
        state_dir, log = tmp_path / "state", tmp_path / "agent.log"
        editor = await start_editor(repo, state_dir, log, init_options=options)
        try:
            sid, sent = await steered_turn(editor, llm, None, "@say first")
            assert all(PLAN_REMINDER not in json.dumps(r.body["messages"]) for r in sent)
            assert {r.body["model"] for r in sent} == {"fake-model"}

            state = await editor.cmd("agentBridge.agentState", {"sessionId": sid})
            assert state["agent"] == "claude" and state["modes"]["currentModeId"] == "default"
            assert {"default", "acceptEdits", "plan"} <= {m["id"] for m in state["modes"]["availableModes"]}
            model = next(o for o in state["configOptions"] if o.get("category") == "model")
            assert "haiku" in [v["value"] for v in model["options"]]
            assert state["commands"], "claude-agent-acp publishes its slash commands"

            state = await editor.cmd("agentBridge.setOption", {"sessionId": sid, "optionId": model["id"],
                                                               "value": "haiku"})
            assert next(o for o in state["configOptions"] if o["id"] == model["id"])["currentValue"] == "haiku"
            _, sent = await steered_turn(editor, llm, sid, "@say second")
            assert {r.body["model"] for r in sent} == {HAIKU}

            # (In plan mode claude answers with its sonnet model when haiku is chosen: the model is not checked.)
            state = await editor.cmd("agentBridge.setMode", {"sessionId": sid, "modeId": "plan"})
            assert state["modes"]["currentModeId"] == "plan"
            await editor.wait_event(lambda e: e["kind"] == "modeChanged" and e["modeId"] == "plan")
            _, sent = await steered_turn(editor, llm, sid, "@say third")
            assert all(PLAN_REMINDER in json.dumps(r.body["messages"]) for r in sent), diagnostics(editor)
            agent = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"][0]
            assert (agent["mode"], agent["model"]) == ("plan", "haiku")
        finally:
            await editor.client.shutdown_session()

        # A new bridge resumes claude's session (session/load) and puts the choice back on the new process.
        editor = await start_editor(repo, state_dir, log, init_options=options)
        try:
            _, sent = await steered_turn(editor, llm, sid, "@say fourth")
            assert PLAN_REMINDER in json.dumps(sent[-1].body["messages"]), diagnostics(editor)
            state = await editor.cmd("agentBridge.agentState", {"sessionId": sid})
            assert state["modes"]["currentModeId"] == "plan"
            assert next(o for o in state["configOptions"] if o["id"] == model["id"])["currentValue"] == "haiku"
            await editor.cmd("agentBridge.setMode", {"sessionId": sid, "modeId": "default"})
            _, sent = await steered_turn(editor, llm, sid, "@say fifth")
            assert {r.body["model"] for r in sent} == {HAIKU}  # the model chosen before the restart
        finally:
            await editor.client.shutdown_session()
