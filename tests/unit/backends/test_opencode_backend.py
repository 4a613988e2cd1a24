"""The opencode backend and its shared server against `tests/support/fake_opencode.py`, a fake `opencode serve`.

The fake runs as a real process (spawned by the bridge's own server code, so start-up, auth, crashes and
stopping are exercised for real) and speaks opencode's HTTP + SSE API with the event orders real opencode
emits. What each turn does is scripted in the prompt text.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backends.base import AgentCrashed, AgentStartError, BackendError, OptionKind, PermissionRequest, TextPart
from backends.events import AgentEvent, ReasoningDelta, TextDelta, ToolCall, Usage
from backends.opencode.backend import OpencodeBackend
from backends.opencode.server import OpencodeServer
from bridge.config import AgentConfig
from bridge.core import permissions
from bridge.factory import BackendFactory
from tests.support import REPO_ROOT
from tests.support.lsp_harness import make_repo, start_editor

pytestmark = pytest.mark.timeout(60)

FAKE = (sys.executable, str(REPO_ROOT / "tests" / "support" / "fake_opencode.py"))


class Host:
    """The bridge side a backend sees: records events, applies the real policy, answers questions."""

    def __init__(self, worktree: Path, answer: OptionKind | None = "allow_once") -> None:
        self.worktree = worktree
        self.cwd = worktree
        self.answer = answer
        self.events: list[AgentEvent] = []
        self.asked: list[tuple[PermissionRequest, str]] = []

    async def on_event(self, event: AgentEvent) -> None:
        self.events.append(event)

    async def ask_permission(self, request: PermissionRequest) -> OptionKind | None:
        decision = permissions.decide(request, self.worktree, self.cwd)
        self.asked.append((request, decision.verdict))
        if decision.verdict == "allow":
            return "allow_once"
        if decision.verdict == "reject":
            return "reject_once"
        return self.answer

    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))


def make_server(tmp_path: Path, **env: str) -> OpencodeServer:
    return OpencodeServer(FAKE, env, tmp_path / "server", tmp_path / "server.log", start_timeout=20, backoff=0.05)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[OpencodeServer]:
    srv = make_server(tmp_path)
    try:
        yield srv
    finally:
        await srv.close()


def worktree(tmp_path: Path, name: str = "wt") -> Path:
    path = tmp_path / name
    path.mkdir(exist_ok=True)
    return path


async def started(server: OpencodeServer, host: Host, resume: str | None = None, **kw: Any) -> OpencodeBackend:
    backend = OpencodeBackend(server, host, **kw)
    await backend.start(resume)
    return backend


async def control(server: OpencodeServer, what: str, body: Any = None) -> Any:
    assert server.url and server.password
    async with httpx.AsyncClient(auth=("opencode", server.password), trust_env=False) as client:
        if body is None:
            response = await client.get(f"{server.url}/_fake/{what}")
        else:
            response = await client.post(f"{server.url}/_fake/{what}", json=body)
    return response.json()


async def wait_for(pred: Any, what: str, timeout: float = 10.0) -> None:
    """Poll `pred` (plain or async) until it holds; fails naming `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = pred()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def prompt(*lines: str) -> list[Any]:
    return [TextPart("\n".join(lines))]


# Turns


async def test_turn_streams_text_once_and_reports_usage(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    outcome = await backend.prompt(prompt("think pondering", "say hello there", "quiet and more"))
    assert outcome.stop_reason == "end_turn"
    # Deltas streamed, then the final part: each piece of text reaches the editor exactly once.
    assert host.text() == "hello thereand more"
    assert "".join(e.text for e in host.events if isinstance(e, ReasoningDelta)) == "pondering"
    assert outcome.usage == Usage(input_tokens=12, output_tokens=5, total_tokens=17, cost=0.01)
    # The prompt echo is not an answer; heartbeats and plugin noise map to nothing.
    assert "say hello" not in host.text()
    requests = await control(server, "requests")
    assert requests and all(r["authorized"] for r in requests)
    scoped = [r for r in requests if r["path"].startswith(("/session", "/event", "/permission"))]
    assert scoped and all(r["query"].get("directory") == str(host.cwd) for r in scoped)


async def test_two_turns_share_one_server_and_one_session(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    await backend.prompt(prompt("say one"))
    await backend.prompt(prompt("say two"))
    assert host.text() == "onetwo"
    assert server.starts == 1
    requests = await control(server, "requests")
    assert len([r for r in requests if r["path"] == "/session" and r["method"] == "POST"]) == 1
    assert len([r for r in requests if r["path"] == "/event"]) == 1  # one stream, kept open across turns


async def test_resume_and_missing_session(server: OpencodeServer, tmp_path: Path) -> None:
    wt = worktree(tmp_path)
    first = await started(server, Host(wt))
    assert first.session_id is not None
    await first.close()
    again = OpencodeBackend(server, Host(wt))
    info = await again.start(first.session_id)
    assert (info.agent_session_id, info.resumed, info.note) == (first.session_id, True, None)
    fresh = OpencodeBackend(server, Host(wt))
    info = await fresh.start("ses_gone")
    assert not info.resumed and info.agent_session_id != "ses_gone"
    assert info.note and "could not resume" in info.note and "ses_gone" in info.note


async def test_tool_calls_and_edits_on_disk(server: OpencodeServer, tmp_path: Path) -> None:
    wt = worktree(tmp_path)
    host = Host(wt)
    backend = await started(server, host)
    await backend.prompt(prompt('tool write {"filePath": "notes.txt", "content": "hi\\n"}', "say written"))
    assert (wt / "notes.txt").read_text() == "hi\n"
    calls = [e for e in host.events if isinstance(e, ToolCall)]
    assert [c.status for c in calls] == ["pending", "in_progress", "completed"]
    assert calls[-1].kind == "edit" and calls[-1].paths == (str(wt / "notes.txt"),)
    assert calls[-1].output == "ok"


async def test_session_error_fails_the_turn_and_the_next_turn_is_clean(server: OpencodeServer,
                                                                      tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    with pytest.raises(BackendError, match="UnknownError: the model exploded"):
        await backend.prompt(prompt("error the model exploded"))
    # opencode repeats the error after idle; it must not fail the next turn.
    outcome = await backend.prompt(prompt("say recovered"))
    assert outcome.stop_reason == "end_turn" and host.text() == "recovered"
    assert backend.alive


# Abort


async def test_abort_then_prompt_again(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    turn = asyncio.ensure_future(backend.prompt(prompt("say working", "hang")))
    await wait_for(lambda: host.text() == "working", "the turn to start")
    await backend.cancel()
    assert (await turn).stop_reason == "cancelled"
    # The aborted turn's trailing idle arrives later still; the next turn must end with its own answer.
    outcome = await backend.prompt(prompt("sleep 0.2", "say fresh"))
    assert outcome.stop_reason == "end_turn"
    assert host.text() == "workingfresh"


async def test_orphan_idle_after_abort_does_not_settle_the_next_turn(server: OpencodeServer,
                                                                    tmp_path: Path) -> None:
    """Regression: the aborted turn's idle/error, arriving after the next prompt was posted, is swallowed."""
    wt = worktree(tmp_path)
    host = Host(wt)
    backend = await started(server, host)
    turn = asyncio.ensure_future(backend.prompt(prompt("hang")))
    await wait_for(lambda: bool(backend._turn) and not backend.guard.armed, "the turn's activity")
    await backend.cancel()
    assert (await turn).stop_reason == "cancelled"
    assert backend.guard.armed
    # The next turn is held before opencode even records its message; meanwhile the orphans arrive.
    second = asyncio.ensure_future(backend.prompt(prompt("gate g", "say second answer")))

    async def posted() -> bool:
        return any(r["path"].endswith("/prompt_async") for r in (await control(server, "requests"))[-3:])

    await wait_for(posted, "the second prompt")
    sid = backend.session_id
    for event in ({"type": "session.error", "properties": {"sessionID": sid, "error": {"name": "MessageAbortedError"}}},
                  {"type": "session.status", "properties": {"sessionID": sid, "status": {"type": "idle"}}},
                  {"type": "session.idle", "properties": {"sessionID": sid}}):
        await control(server, "emit", {"directory": str(wt), "event": event})
    await wait_for(lambda: backend.guard.swallowed >= 3, "the orphans to be swallowed")
    assert not second.done()
    await control(server, "open", {"gate": "g"})
    outcome = await second
    assert outcome.stop_reason == "end_turn"
    assert host.text() == "second answer"


# Streams


async def test_dropped_stream_reconnects_and_reconciles(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    # The stream drops mid-turn and stays refused until the turn has ended: the rest is only in the messages.
    outcome = await backend.prompt(prompt("say before ", "drop", "say after", "quiet the end"))
    assert outcome.stop_reason == "end_turn"
    assert host.text() == "before afterthe end"
    assert server.hub.stream_connections(str(host.cwd)) >= 2
    # The stream is live again for the next turn.
    await backend.prompt(prompt("say next"))
    assert host.text().endswith("the endnext")


async def test_two_worktrees_stream_at_the_same_time(server: OpencodeServer, tmp_path: Path) -> None:
    hosts = [Host(worktree(tmp_path, "a")), Host(worktree(tmp_path, "b"))]
    backends = [await started(server, h) for h in hosts]
    # Both turns are in flight together: each waits for a gate the other test step opens.
    turns = [asyncio.ensure_future(b.prompt(prompt("say start ", f"gate {i}", f"say from {i}")))
             for i, b in enumerate(backends)]
    await wait_for(lambda: all(h.text() == "start " for h in hosts), "both turns to stream")
    await control(server, "open", {"gate": "1"})
    await control(server, "open", {"gate": "0"})
    await asyncio.gather(*turns)
    assert [h.text() for h in hosts] == ["start from 0", "start from 1"]
    assert server.starts == 1


# Permissions


async def test_permissions_go_through_the_policy(server: OpencodeServer, tmp_path: Path) -> None:
    wt = worktree(tmp_path)
    host = Host(wt, answer="allow_once")
    backend = await started(server, host)
    await backend.prompt(prompt('ask bash {"patterns": ["make test"], "metadata": {"command": "make test"}}'))
    await backend.prompt(prompt(f'ask edit {{"patterns": ["a.py"], "metadata": {{"filepath": "{wt}/a.py"}}}}'))
    await backend.prompt(prompt('ask external_directory {"patterns": ["/etc/*"], "metadata": {}}'))
    host.answer = None  # the user dismisses the question
    await backend.prompt(prompt('ask bash {"patterns": ["rm -rf x"], "metadata": {"command": "rm -rf x"}}'))
    assert host.text() == "permission oncepermission oncepermission rejectpermission reject"
    verdicts = [(r.kind, r.command, v) for r, v in host.asked]
    assert verdicts == [("execute", "make test", "ask"), ("edit", None, "allow"), ("read", None, "reject"),
                        ("execute", "rm -rf x", "ask")]
    assert host.asked[0][0].cwd == str(wt)


# The server process


async def test_server_crash_fails_the_turn_and_restarts_with_backoff(server: OpencodeServer,
                                                                    tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host)
    first_pid = server.pid
    with pytest.raises(AgentCrashed, match=r"(?s)exited \(exit code 7\).*crashing as scripted"):
        await backend.prompt(prompt("say going down", "crash"))
    assert not backend.alive
    # The next start (what the bridge does for the next prompt) starts the server again.
    again = await started(server, host)
    assert server.starts == 2 and server.pid != first_pid and server.generation == 2
    assert (await again.prompt(prompt("say back"))).stop_reason == "end_turn"


async def test_server_start_failure_says_why(tmp_path: Path) -> None:
    srv = make_server(tmp_path, FAKE_OPENCODE_MODE="exit")
    with pytest.raises(AgentStartError, match=r"(?s)exit code 3.*cannot start") as info:
        await srv.ensure()
    assert "--- starting" not in str(info.value)  # only the server's own output is quoted
    await srv.close()


async def test_ready_from_health_endpoint_without_ready_line(tmp_path: Path) -> None:
    srv = make_server(tmp_path, FAKE_OPENCODE_MODE="no-ready-line")
    try:
        await srv.ensure()
        assert srv.running
    finally:
        await srv.close()


async def test_every_request_is_authenticated(tmp_path: Path) -> None:
    srv = make_server(tmp_path, FAKE_OPENCODE_MODE="wrong-password")
    with pytest.raises(AgentStartError, match="rejected the bridge's credentials"):
        await srv.ensure()
    await srv.close()
    good = make_server(tmp_path)
    try:
        await good.ensure()
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(f"{good.url}/global/health")).status_code == 401
            assert (await client.get(f"{good.url}/session/status", auth=("opencode", "guess"))).status_code == 401
    finally:
        await good.close()


async def test_close_stops_the_server_even_if_it_ignores_term(tmp_path: Path) -> None:
    srv = make_server(tmp_path, FAKE_OPENCODE_MODE="ignore-term")
    await srv.ensure()
    pid = srv.pid
    assert pid is not None
    process = srv._process
    assert process is not None
    await srv._kill(process, grace=0.3)
    assert process.returncode == -9
    await srv.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# Watchdog


async def test_watchdog_reconciles_a_turn_whose_events_were_lost(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host, stall_timeout=0.5)
    outcome = await backend.prompt(prompt("say visible ", "silent", "say unseen"))
    assert outcome.stop_reason == "end_turn"
    assert host.text() == "visible unseen"


async def test_watchdog_fails_a_silent_turn(server: OpencodeServer, tmp_path: Path) -> None:
    host = Host(worktree(tmp_path))
    backend = await started(server, host, stall_timeout=0.5)
    with pytest.raises(AgentCrashed, match=r"no activity for 0\.5 s"):
        await backend.prompt(prompt("say hmm", "hang"))
    assert backend.alive  # the server is fine; the bridge marks this agent session crashed


# Models and the factory


async def test_models_and_factory(tmp_path: Path) -> None:
    factory = BackendFactory(tmp_path / "state")
    agent = AgentConfig("oc", "opencode", FAKE, {}, model="other-model")
    twin = AgentConfig("oc2", "opencode", FAKE, {}, model="alt/alt-model")
    other_env = AgentConfig("oc3", "opencode", FAKE, {"X": "1"})
    assert factory.server_for(agent) is factory.server_for(twin)
    assert factory.server_for(agent) is not factory.server_for(other_env)
    assert "models" not in factory.describe(agent)  # nothing started yet
    assert factory.describe(agent)["sandbox"] is False
    host = Host(worktree(tmp_path))
    try:
        backend = factory.create(agent, host, "s1")
        assert isinstance(backend, OpencodeBackend)
        await backend.start()
        assert backend.state().config_options[0]["currentValue"] == "fake/other-model"  # the configured provider
        await backend.prompt(prompt("say ok"))
        server = factory.server_for(agent)
        assert await server.load_models() == ["alt/alt-model", "fake/fake-model", "fake/other-model"]
        assert factory.describe(agent)["models"] == ["alt/alt-model", "fake/fake-model", "fake/other-model"]
        bad = factory.create(AgentConfig("oc", "opencode", FAKE, {}, model="nobody/"), Host(worktree(tmp_path)), "s2")
        with pytest.raises(AgentStartError, match="provider/model"):
            await bad.start()
    finally:
        await factory.close()
    assert not factory.servers


async def test_cancel_before_opencode_started_the_turn(server: OpencodeServer, tmp_path: Path) -> None:
    """opencode says nothing about an abort that found no running turn: the backend asks it, then settles."""
    host = Host(worktree(tmp_path))
    backend = await started(server, host, abort_grace=0.3)
    turn = asyncio.ensure_future(backend.prompt(prompt("gate never", "say unreachable")))

    async def posted() -> bool:
        return any(r["path"].endswith("/prompt_async") for r in await control(server, "requests"))

    await wait_for(posted, "the prompt to be posted")
    await backend.cancel()
    assert (await turn).stop_reason == "cancelled"
    assert (await backend.prompt(prompt("say next"))).stop_reason == "end_turn"
    assert host.text() == "next"


# Through the bridge, over LSP


async def test_bridge_fails_a_turn_when_the_server_dies_and_starts_it_again(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"a.txt": "a\n"})
    init_options = {"agents": {"oc": {"protocol": "opencode", "command": list(FAKE)}}, "defaultAgent": "oc"}
    editor = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=init_options)
    try:
        sid, _, result = await editor.run("say going\ncrash", agent="oc")
        assert result["status"] == "failed" and "exit code 7" in result["error"], result
        assert "crashing as scripted" in result["error"]
        agents = (await editor.cmd("agentBridge.sessions", {}))[0]["agents"]
        assert [(a["agent"], a["status"]) for a in agents] == [("oc", "crashed")]
        # The next prompt starts the server again and a fresh opencode session (the crashed one is not resumed).
        _, tid2, result = await editor.run('tool write {"filePath": "b.txt", "content": "b\\n"}\nsay back',
                                           agent="oc", sessionId=sid)
        assert result == {"status": "completed", "stopReason": "end_turn"}, result
        assert editor.text_of(tid2) == "back"
        pending = await editor.pending(sid)
        assert [(p["uri"], p["change"]) for p in pending] == [(editor.uri("b.txt"), "create")]
        listed = {a["name"]: a for a in await editor.cmd("agentBridge.agents", {})}["oc"]
        assert listed["available"] and "fake/fake-model" in listed["models"]
    finally:
        await editor.client.shutdown_session()
