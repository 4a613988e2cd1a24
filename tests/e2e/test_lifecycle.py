"""End to end over stdio: warm agents, cancel, permissions, crashes, bad input and hostile paths."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types as T

from tests.support.daemons import wait_daemon_gone
from tests.support.lsp_harness import Editor, start_editor


async def test_two_turns_reuse_one_agent_process(editor: Editor) -> None:
    sid, _, first = await editor.run("@say first")
    _, _, second = await editor.run("@say second", sessionId=sid)
    assert first["status"] == second["status"] == "completed"
    log = editor.agent_log_lines()
    assert [e["method"] for e in log].count("initialize") == 1
    assert [e["method"] for e in log].count("session/new") == 1
    prompts = [e for e in log if e["method"] == "session/prompt"]
    assert len(prompts) == 2 and prompts[0]["pid"] == prompts[1]["pid"]
    sessions = await editor.cmd("agentBridge.sessions", {})
    assert sessions[0]["agents"][0]["status"] == "idle"


async def test_turns_in_one_session_run_one_at_a_time(editor: Editor) -> None:
    sid, t1 = await editor.prompt("@sleep 0.5\n@say one")
    _, t2 = await editor.prompt("@say two", sessionId=sid)
    r2 = await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": t2})
    assert r2["status"] == "completed"
    ended = [e["turnId"] for e in editor.events if e["kind"] == "turnEnded"]
    assert ended == [t1, t2]


async def test_cancel_mid_turn_keeps_the_agent_warm(editor: Editor) -> None:
    sid, tid = await editor.prompt("@say starting\n@hang")
    await editor.wait_event(lambda e: e["kind"] == "text" and e["turnId"] == tid)
    assert await editor.cmd("agentBridge.cancel", {"sessionId": sid}) == {"cancelled": True}
    result = await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    assert result["status"] == "cancelled" and result["stopReason"] == "cancelled"
    assert await editor.cmd("agentBridge.cancel", {"sessionId": sid}) == {"cancelled": False}
    _, _, again = await editor.run("@say back", sessionId=sid)
    assert again["status"] == "completed"
    pids = {e["pid"] for e in editor.agent_log_lines() if e["method"] == "session/prompt"}
    assert len(pids) == 1


async def test_progress_is_reported_and_cancellable(editor: Editor) -> None:
    sid, tid = await editor.prompt("@say working\n@hang")
    await editor.wait_event(lambda e: e["kind"] == "text" and e["turnId"] == tid)
    tokens = list(editor.client.progress_reports)
    assert tokens, "no $/progress for the turn"
    begin = editor.client.progress_reports[tokens[-1]][0]
    assert isinstance(begin, T.WorkDoneProgressBegin) and begin.cancellable
    editor.client.protocol.notify(T.WINDOW_WORK_DONE_PROGRESS_CANCEL, T.WorkDoneProgressCancelParams(tokens[-1]))
    result = await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    assert result["status"] == "cancelled"
    await asyncio.sleep(0.1)
    assert isinstance(editor.client.progress_reports[tokens[-1]][-1], T.WorkDoneProgressEnd)


async def test_command_permission_is_asked_and_always_is_remembered(editor: Editor) -> None:
    editor.answers = ["Always allow"]
    sid, tid, result = await editor.run("@run echo hello-from-terminal")
    assert result["status"] == "completed"
    assert len(editor.questions) == 1
    assert "echo hello-from-terminal" in editor.questions[0] and "worktrees" in editor.questions[0]
    assert "exit 0: hello-from-terminal" in editor.text_of(tid)
    # Remembered for this agent and command: not asked again.
    _, tid2, _ = await editor.run("@run echo  hello-from-terminal", sessionId=sid)
    assert len(editor.questions) == 1
    assert "exit 0: hello-from-terminal" in editor.text_of(tid2)


async def test_rejected_command_does_not_run(editor: Editor, repo: Path) -> None:
    editor.answers = ["Reject"]
    _, tid, result = await editor.run("@run touch ran.txt")
    assert result["status"] == "completed"
    assert "permission denied" in editor.text_of(tid) or "no terminal" not in editor.text_of(tid)
    sessions = await editor.cmd("agentBridge.sessions", {})
    assert not (Path(sessions[0]["worktree"]) / "ran.txt").exists()
    permission = [e for e in editor.events if e["kind"] == "permission" and e["turnId"] == tid]
    assert permission[-1]["outcome"] == "rejected"


async def test_agent_killed_mid_turn_fails_fast_and_respawns(editor: Editor) -> None:
    prompt = "@write-disk saved.txt\nkept\n@end\n@say about to die\n@crash"
    sid, tid = await editor.prompt(prompt)
    started = time.monotonic()
    result = await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    assert result["status"] == "failed"
    assert "exited during the turn" in result["error"] and "exit code 3" in result["error"]
    assert time.monotonic() - started < 5
    # What it wrote before dying is kept and reviewable.
    pending = await editor.pending(sid)
    assert [p["change"] for p in pending] == ["create"] and pending[0]["hunks"][0]["newText"] == "kept\n"
    sessions = await editor.cmd("agentBridge.sessions", {})
    assert sessions[0]["agents"][0]["status"] == "crashed"
    _, _, again = await editor.run("@say alive", sessionId=sid)
    assert again["status"] == "completed"
    pids = [e["pid"] for e in editor.agent_log_lines() if e["method"] == "session/prompt"]
    assert len(set(pids)) == 2
    # The crashed agent session is not resumed: a fresh one was created.
    assert [e["method"] for e in editor.agent_log_lines()].count("session/load") == 0


async def test_stop_reasons_refusal_fails_the_turn(editor: Editor) -> None:
    _, _, result = await editor.run("@say no\n@stop refusal")
    assert result["status"] == "failed" and result["stopReason"] == "refusal"
    assert "refused" in result["error"]


async def test_noisy_agent_stderr_does_not_deadlock(editor: Editor) -> None:
    _, _, result = await editor.run("@stderr 400000\n@say still here")
    assert result["status"] == "completed"


async def test_hostile_paths_are_refused(editor: Editor, repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    sid, _, _ = await editor.run("@say setup")
    worktree = Path((await editor.cmd("agentBridge.sessions", {}))[0]["worktree"])
    (worktree / "link").symlink_to(tmp_path)
    prompt = "\n".join([
        "@write ../../outside.txt", "evil", "@end",
        f"@write {outside}", "evil", "@end",
        "@write link/outside.txt", "evil", "@end",
        f"@write {worktree}-evil/x.txt", "evil", "@end",
        "@write .git/hooks/pre-commit", "evil", "@end",
        "@read ../../../../etc/hostname",
    ])
    _, tid, result = await editor.run(prompt, sessionId=sid)
    assert result["status"] == "completed"
    assert not outside.exists()
    assert not Path(f"{worktree}-evil").exists()
    text = editor.text_of(tid)
    assert text.count("permission denied") == 5, text
    assert "outside the session worktree" in text  # the read, refused by the client's path guard
    rejected = [e for e in editor.events if e["kind"] == "permission" and e["turnId"] == tid]
    assert len(rejected) == 5 and all(e["outcome"] == "rejected" for e in rejected)
    assert all("outside the session worktree" in e["reason"] for e in rejected)


BAD_ARGUMENTS: list[tuple[str, list[object], str]] = [
    ("agentBridge.prompt", [{}], "'text' is required"),
    ("agentBridge.prompt", [{"text": ""}], "'text' must be a non-empty string"),
    ("agentBridge.prompt", [{"text": 3}], "'text' must be a non-empty string"),
    ("agentBridge.prompt", [{"text": "x", "bogus": 1}], "unknown field(s) bogus"),
    ("agentBridge.prompt", [{"text": "x", "range": {"start": {"line": 0, "character": 0},
                                                    "end": {"line": 0, "character": 0}}}], "'range' needs 'uri'"),
    ("agentBridge.prompt", [{"text": "x", "uri": "https://example.com/a"}], "must be a file: URI"),
    ("agentBridge.prompt", [{"text": "x"}, {"text": "y"}], "takes one object argument, got 2"),
    ("agentBridge.prompt", ["just a string"], "takes one object argument, got str"),
    ("agentBridge.prompt", [{"text": "x", "agent": "nope"}], "unknown agent 'nope'"),
    ("agentBridge.prompt", [{"text": "x", "sessionId": "missing"}], "unknown session 'missing'"),
    ("agentBridge.awaitTurn", [{}], "'sessionId' is required"),
    ("agentBridge.awaitTurn", [{"sessionId": "missing"}], "unknown session 'missing'"),
    ("agentBridge.awaitTurn", [{"sessionId": "s", "timeout": -1}], "'timeout' must be a positive number"),
    ("agentBridge.cancel", [{}], "'sessionId' is required"),
    ("agentBridge.cancel", [{"sessionId": "missing"}], "unknown session 'missing'"),
    ("agentBridge.sessions", [{"x": 1}], "unknown field(s) x"),
    ("agentBridge.closeSession", [{"sessionId": 5}], "'sessionId' must be a non-empty string"),
    ("agentBridge.closeSession", [{"sessionId": "missing"}], "unknown session 'missing'"),
    ("agentBridge.agents", [[1, 2]], "takes one object argument, got list"),
    ("agentBridge.pending", [{"sessionId": "missing"}], "unknown session 'missing'"),
    ("agentBridge.pending", [{"uri": 7}], "'uri' must be a non-empty string"),
    ("agentBridge.apply", [{}], "'sessionId' is required"),
    ("agentBridge.apply", [{"sessionId": "s", "hunkId": "h1"}], "'hunkId' needs 'uri'"),
    ("agentBridge.apply", [{"sessionId": "missing"}], "unknown session 'missing'"),
    ("agentBridge.reject", [{"sessionId": "s", "uri": "file:///x", "hunkId": ""}], "'hunkId' must be a non-empty"),
    ("agentBridge.reject", [{"sessionId": "missing"}], "unknown session 'missing'"),
]


async def test_malformed_arguments_get_clear_errors_and_server_keeps_serving(editor: Editor) -> None:
    for command, args, message in BAD_ARGUMENTS:
        error = await editor.cmd_error(command, raw_args=args)
        assert message in str(error), (command, args, str(error))
    # Unknown hunk in a real session, and the server still works afterwards.
    sid, _, _ = await editor.run("@write a.txt\nx\n@end")
    error = await editor.cmd_error("agentBridge.apply", {"sessionId": sid, "uri": editor.uri("a.txt"),
                                                         "hunkId": "hdeadbeef"})
    assert "no pending hunk 'hdeadbeef'" in str(error)
    error = await editor.cmd_error("agentBridge.reject", {"sessionId": sid, "uri": editor.uri("nope.txt")})
    assert "no pending change for" in str(error)
    assert len(await editor.pending(sid)) == 1
    agents = await editor.cmd("agentBridge.agents", {})
    scripted = next(a for a in agents if a["name"] == "scripted")
    assert scripted["available"] and scripted["protocol"] == "acp"


async def test_agent_that_cannot_start_fails_the_turn_clearly(repo: Path, tmp_path: Path) -> None:
    options = {"agents": {"ghost": {"command": ["definitely-not-installed-agent"]},
                          "broken": {"protocol": "telepathy", "command": ["x"]}}}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        _, _, result = await ed.run("hello", agent="ghost")
        assert result["status"] == "failed" and "command not found" in result["error"]
        agents = {a["name"]: a for a in await ed.cmd("agentBridge.agents", {})}
        assert agents["ghost"]["available"] is False and "broken" not in agents
        error = await ed.cmd_error("agentBridge.prompt", {"text": "x", "agent": "broken"})
        assert "unknown agent 'broken'" in str(error)
    finally:
        await ed.client.shutdown_session()


async def test_prompt_outside_a_git_repository_is_refused(tmp_path: Path) -> None:
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    ed = await start_editor(plain_dir, tmp_path / "state", tmp_path / "agent.log")
    try:
        error = await ed.cmd_error("agentBridge.prompt", {"text": "hi", "agent": "scripted"})
        assert "is not inside a git repository" in str(error)
    finally:
        await ed.client.shutdown_session()


async def test_selection_is_sent_as_context(editor: Editor) -> None:
    uri = editor.open("greet.py")
    rng = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
    _, tid, result = await editor.run("@echo-prompt", uri=uri, range=rng)
    assert result["status"] == "completed", result
    echoed = editor.text_of(tid)
    assert "lines 5-6 of greet.py" in echoed
    assert "def farewell(name):" in echoed and "def greet" not in echoed


@pytest.mark.parametrize("count", [3])
async def test_sessions_run_concurrently(editor: Editor, count: int) -> None:
    started = [await editor.prompt(f"@sleep 0.5\n@say session {i}", newSession=True) for i in range(count)]
    results = await asyncio.gather(*(
        editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}) for sid, tid in started
    ))
    assert all(r["status"] == "completed" for r in results)
    assert len({sid for sid, _ in started}) == count
    for i, (_, tid) in enumerate(started):
        assert editor.text_of(tid) == f"session {i}\n"


async def test_bridge_restart_restores_sessions_and_resumes_the_agent(repo: Path, tmp_path: Path) -> None:
    env = {"SCRIPTED_AGENT_STATE_DIR": str(tmp_path / "agent-state")}
    state, log = tmp_path / "state", tmp_path / "agent.log"
    first = await start_editor(repo, state, log, extra_env=env)
    try:
        sid, _, _ = await first.run("@say remember me\n@write a.txt\nfrom before\n@end")
    finally:
        await first.client.shutdown_session()
    second = await start_editor(repo, state, log, extra_env=env)
    try:
        sessions = await second.cmd("agentBridge.sessions", {})
        assert [s["sessionId"] for s in sessions] == [sid]
        assert sessions[0]["pendingHunks"] == 1
        _, _, result = await second.run("@say again", sessionId=sid)
        assert result["status"] == "completed"
        lines = second.agent_log_lines()
        loads = [e for e in lines if e["method"] == "session/load"]
        news = [e for e in lines if e["method"] == "session/new"]
        assert len(news) == 1 and len(loads) == 1 and loads[0]["sessionId"] == news[0]["sessionId"]
        pending = await second.pending(sid)
        assert pending[0]["hunks"][0]["agent"] == "scripted"
    finally:
        await second.client.shutdown_session()


async def test_two_agents_share_a_session_worktree_with_attribution(repo: Path, tmp_path: Path) -> None:
    options = {"agents": {"helper": {"command": [sys.executable, "-m", "bridge.scripted_agent"]}}}
    ed = await start_editor(repo, tmp_path / "state", tmp_path / "agent.log", init_options=options)
    try:
        sid, t1, _ = await ed.run("@write a.txt\nfrom scripted\n@end")
        _, t2, _ = await ed.run("@read a.txt\n@write b.txt\nfrom helper\n@end", sessionId=sid, agent="helper")
        assert "read 1 lines of a.txt" in ed.text_of(t2)  # the second agent sees the first one's work
        pending = {p["uri"].rsplit("/", 1)[-1]: p["hunks"][0] for p in await ed.pending(sid)}
        assert (pending["a.txt"]["agent"], pending["a.txt"]["turnId"]) == ("scripted", t1)
        assert (pending["b.txt"]["agent"], pending["b.txt"]["turnId"]) == ("helper", t2)
        agents = (await ed.cmd("agentBridge.sessions", {}))[0]["agents"]
        assert sorted((a["agent"], a["status"]) for a in agents) == [("helper", "idle"), ("scripted", "idle")]
    finally:
        await ed.client.shutdown_session()


async def test_cancel_right_after_prompting_is_not_lost(editor: Editor) -> None:
    # First turn: the agent is still starting when the cancel arrives.
    sid, tid = await editor.prompt("@sleep 20\n@say too late")
    assert await editor.cmd("agentBridge.cancel", {"sessionId": sid}) == {"cancelled": True}
    result = await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    assert result["status"] == "cancelled"
    # Warm agent: the cancel may reach it before the prompt does.
    for _ in range(3):
        _, tid = await editor.prompt("@sleep 20\n@say too late", sessionId=sid)
        await editor.wait_event(lambda e, t=tid: e["kind"] == "turnStarted" and e["turnId"] == t)
        assert await editor.cmd("agentBridge.cancel", {"sessionId": sid}) == {"cancelled": True}
        result = await asyncio.wait_for(
            editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}), 10
        )
        assert result["status"] == "cancelled"
        assert "too late" not in editor.text_of(tid)


async def test_turn_end_carries_the_turns_usage_and_start_its_context(editor: Editor) -> None:
    uri = editor.open("greet.py")
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 4}}
    _, tid, _ = await editor.run("@usage 1200 340\n@say counted", uri=uri, range=rng)
    ended = next(e for e in editor.events if e["kind"] == "turnEnded" and e["turnId"] == tid)
    assert ended["usage"]["inputTokens"] == 1200 and ended["usage"]["outputTokens"] == 340
    started = next(e for e in editor.events if e["kind"] == "turnStarted" and e["turnId"] == tid)
    assert started["context"] == {"uri": uri, "startLine": 0, "endLine": 1}


async def test_history_lists_turns_with_answers_even_after_close(editor: Editor) -> None:
    sid, t1, _ = await editor.run("@say first answer")
    _, t2, _ = await editor.run("@say second answer\n@stop refusal", sessionId=sid)
    history = await editor.cmd("agentBridge.history", {"sessionId": sid})
    assert [(h["turnId"], h["status"], h["answer"]) for h in history] == [
        (t1, "completed", "first answer\n"), (t2, "failed", "second answer\n"),
    ]
    assert history[0]["prompt"] == "@say first answer" and history[0]["agent"] == "scripted"
    assert history[1]["stopReason"] == "refusal" and history[1]["endedAt"]
    await editor.cmd("agentBridge.closeSession", {"sessionId": sid})
    assert len(await editor.cmd("agentBridge.history", {"sessionId": sid})) == 2
    error = await editor.cmd_error("agentBridge.history", {"sessionId": "missing"})
    assert "unknown session 'missing'" in str(error)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; only its parent's wait is missing.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "no-daemon"])
async def test_shutdown_answers_before_slow_agents_stop_and_exit_leaves_none_behind(
    repo: Path, tmp_path: Path, daemon: bool
) -> None:
    """Agents that take seconds to stop (claude-agent-acp) must not hold up the answer to `shutdown`
    (eglot gives up after 1.5 s), and `exit` must still leave none of them running: the in-process server
    (`--no-daemon`) stops them before it exits; the daemon, once its last window has left (linger 0 here)."""
    state = tmp_path / "state"
    ed = await start_editor(repo, state, tmp_path / "agent.log", daemon=daemon)
    pids = []
    for _ in range(2):
        _, _, result = await ed.run("@slow-exit 4\n@say warm", newSession=True)
        assert result["status"] == "completed", result
    pids = sorted({e["pid"] for e in ed.agent_log_lines() if e["method"] == "session/prompt"})
    assert len(pids) == 2
    await ed.client.shutdown_async(None)
    # Stopping them takes at least 4 s each; the answer came first, so both still run.
    assert all(_alive(pid) for pid in pids)
    ed.client.exit(None)
    server = ed.client._server
    assert server is not None
    await asyncio.wait_for(server.wait(), 60)
    assert server.returncode == 0
    if daemon:
        await wait_daemon_gone(state, timeout=60)
    assert not any(_alive(pid) for pid in pids)


async def test_configuration_changes_apply_while_running(editor: Editor) -> None:
    """workspace/didChangeConfiguration is handled (eglot logged it as unknown): new agents and settings
    take effect without a restart; a warm agent whose configuration did not change stays warm."""
    uri = editor.open("greet.py")
    sid, _, _ = await editor.run("@write-disk greet.py\nprint('hi')\n@end")
    await editor.wait_event(lambda e: e["kind"] == "pendingChanged" and e["hunks"] > 0)
    for _ in range(50):
        if editor.client.diagnostics.get(uri):
            break
        await asyncio.sleep(0.1)
    assert editor.client.diagnostics.get(uri), "a hint diagnostic marks the pending hunk"

    helper = {"command": [sys.executable, "-m", "bridge.scripted_agent"]}
    editor.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings={
        "agentBridge": {"agents": {"helper": helper}, "defaultAgent": "helper", "settings": {"hintDiagnostics": False}},
        "python": {"analysis": {}},
    }))
    for _ in range(50):
        if not editor.client.diagnostics.get(uri):
            break
        await asyncio.sleep(0.1)
    assert not editor.client.diagnostics.get(uri), "hint diagnostics were turned off"
    agents = {a["name"]: a for a in await editor.cmd("agentBridge.agents", {})}
    assert "helper" in agents and agents["helper"]["default"] is True

    started = await editor.cmd("agentBridge.prompt", {"text": "@say from the new default", "sessionId": sid})
    tid = started["turnId"]
    result = await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    assert result["status"] == "completed" and editor.text_of(tid).strip() == "from the new default"
    began = next(e for e in editor.events if e["kind"] == "turnStarted" and e["turnId"] == tid)
    assert began["agent"] == "helper"
    _, _, again = await editor.run("@say scripted is still warm", sessionId=sid, agent="scripted")
    assert again["status"] == "completed"
    log = editor.agent_log_lines()
    assert [e["method"] for e in log].count("initialize") == 2  # scripted once (kept warm), helper once
