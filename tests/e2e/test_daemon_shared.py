"""Several windows on one daemon share sessions (`agent-bridge serve`): real relays, the real daemon, real LSP.

What went wrong with one bridge per window: window B applied A's session into B's editor while A still listed
it as pending, B's close deleted A's worktree under a running turn, and closing an editor killed its turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.support.lsp_harness import Editor, make_repo, start_editor


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    yield state
    subprocess.run([sys.executable, "-m", "bridge.cli", "daemon", "stop", "--state-dir", str(state)],
                   capture_output=True, timeout=90, check=False)


ENV = {"AGENT_BRIDGE_DAEMON_LINGER": "60"}


async def window(repo: Path, state: Path, tmp_path: Path) -> Editor:
    return await start_editor(repo, state, tmp_path / "agent.log", extra_env=ENV)


async def close(editor: Editor) -> None:
    await editor.client.shutdown_session()


async def test_two_windows_share_a_session_prompt_in_one_apply_in_the_other(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    a = await window(repo, state, tmp_path)
    b = await window(repo, state, tmp_path)
    try:
        sid, tid, result = await a.run("@write notes.txt\nfrom the agent\n@end\n@say wrote it")
        assert result["status"] == "completed", result
        # B saw the turn as A did, and lists the session.
        await b.wait_event(lambda e: e.get("turnId") == tid and e["kind"] == "turnEnded")
        assert "wrote it" in b.text_of(tid)
        assert [s["sessionId"] for s in await b.cmd("agentBridge.sessions", {})] == [sid]
        # B applies: the edit lands in B's editor, and the hunk is no longer pending for A either.
        applied = await b.cmd("agentBridge.apply", {"sessionId": sid})
        assert applied["applied"] == 1, applied
        assert b.text(b.uri("notes.txt")) == "from the agent\n"
        assert a.edits_applied == 0
        assert await a.pending(sid) == []
    finally:
        await close(a)
        await close(b)


async def test_a_turn_goes_on_after_its_window_closes_and_is_pending_for_the_next(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    a = await window(repo, state, tmp_path)
    sid, tid = await a.prompt("@sleep 2\n@write later.txt\nwritten while no editor was open\n@end")
    await close(a)
    b = await window(repo, state, tmp_path)
    try:
        result = await asyncio.wait_for(b.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}), 60)
        assert result["status"] == "completed", result
        [pending] = await b.pending(sid)
        assert pending["uri"] == b.uri("later.txt")
        assert not (repo / "later.txt").exists()  # reviewed before it lands, as ever
    finally:
        await close(b)


async def test_a_window_of_another_workspace_neither_sees_nor_touches_the_session(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    other_repo = make_repo(tmp_path / "other", {"x.txt": "x\n"})
    a = await window(repo, state, tmp_path)
    other = await window(other_repo, state, tmp_path)
    try:
        sid, _, result = await a.run("@write notes.txt\nmine\n@end")
        assert result["status"] == "completed", result
        assert await other.cmd("agentBridge.sessions", {}) == []
        for command in ("agentBridge.apply", "agentBridge.closeSession", "agentBridge.history"):
            error = await other.cmd_error(command, {"sessionId": sid})
            assert isinstance(error, JsonRpcException) and "unknown session" in str(error).lower(), (command, error)
        assert other.edits_applied == 0
        assert len(await a.pending(sid)) == 1  # A's work is untouched
        assert not any(e.get("sessionId") == sid for e in other.events)
    finally:
        await close(a)
        await close(other)


async def test_a_question_goes_to_every_window_and_the_first_answer_wins(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    a = await window(repo, state, tmp_path)
    b = await window(repo, state, tmp_path)
    try:
        a.answers = [None]  # A dismisses the question; B allows
        b.answers = ["Allow"]
        _, _, result = await a.run("@run touch ran.txt")
        assert result["status"] == "completed", result
        sessions = await a.cmd("agentBridge.sessions", {})
        assert (Path(sessions[0]["worktree"]) / "ran.txt").exists()
        assert len(a.questions) == 1 and len(b.questions) == 1
    finally:
        await close(a)
        await close(b)


async def test_one_daemon_for_windows_started_together(repo: Path, state: Path, tmp_path: Path) -> None:
    windows = await asyncio.gather(*(window(repo, state, tmp_path) for _ in range(3)))
    try:
        results = await asyncio.gather(*(w.run(f"@say hello {n}", newSession=True) for n, w in enumerate(windows)))
        assert all(r["status"] == "completed" for _, _, r in results), results
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            daemons = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _is_daemon(p, state)]
            if len(daemons) == 1:
                break
            await asyncio.sleep(0.1)
        assert len(daemons) == 1, daemons
        listed = await windows[0].cmd("agentBridge.sessions", {})
        assert len(listed) == 3  # every window's session, in the one store
    finally:
        await asyncio.gather(*(close(w) for w in windows))


def _is_daemon(proc: Path, state: Path) -> bool:
    try:
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"daemon" in argv and b"run" in argv and os.fsencode(state) in argv


async def test_a_window_attaching_mid_turn_sees_the_turn_so_far(repo: Path, state: Path, tmp_path: Path) -> None:
    a = await window(repo, state, tmp_path)
    try:
        _, tid = await a.prompt("@plan Look | Write\n@say halfway there\n@sleep 3\n@say done")
        await a.wait_event(lambda e: e.get("turnId") == tid and e["kind"] == "text" and "halfway" in e["text"])
        b = await window(repo, state, tmp_path)
        try:
            await b.wait_event(lambda e: e.get("turnId") == tid and e["kind"] == "text")
            kinds = [e["kind"] for e in b.events if e.get("turnId") == tid]
            assert kinds[:1] == ["turnStarted"] and "plan" in kinds, kinds
            assert "halfway there" in b.text_of(tid)
            await b.wait_event(lambda e: e.get("turnId") == tid and e["kind"] == "turnEnded", 60)
            assert b.text_of(tid) == "halfway there\ndone\n"  # what it missed, then the rest as it came
        finally:
            await close(b)
    finally:
        await close(a)


async def test_after_a_daemon_is_killed_the_next_window_has_the_sessions_and_the_turn_failed(
    repo: Path, state: Path, tmp_path: Path
) -> None:
    a = await window(repo, state, tmp_path)
    sid, _, result = await a.run("@write kept.txt\nkept\n@end")
    assert result["status"] == "completed", result
    _, running = await a.prompt("@sleep 60", sessionId=sid)
    await a.wait_event(lambda e: e.get("turnId") == running and e["kind"] == "turnStarted")
    daemons = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _is_daemon(p, state)]
    assert len(daemons) == 1, daemons
    os.kill(daemons[0], 9)
    with contextlib.suppress(Exception):  # its relay ended with the daemon
        await close(a)
    b = await window(repo, state, tmp_path)  # starts a new daemon
    try:
        assert [s["sessionId"] for s in await b.cmd("agentBridge.sessions", {})] == [sid]
        assert [f["uri"] for f in await b.pending(sid)] == [b.uri("kept.txt")]
        [first, second] = await b.cmd("agentBridge.history", {"sessionId": sid})
        assert first["status"] == "completed" and second["status"] == "failed", second
        assert second["turnId"] == running
    finally:
        await close(b)


class SilentWindow:
    """A window that never answers the bridge's requests (raw LSP over a real relay): what a frozen or killed
    editor looks like to the daemon."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.buffer = b""
        self.turn = ("", "")  # (sessionId, turnId) of the prompt it sent

    @classmethod
    async def start(cls, repo: Path, state: Path) -> SilentWindow:
        env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(state), **ENV}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge.cli", "serve", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        window = cls(proc)
        window.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "processId": None, "rootUri": repo.as_uri(), "capabilities": {"window": {"workDoneProgress": True}}}})
        await window.receive(lambda m: m.get("id") == 1)
        window.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return window

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def receive(self, wanted: Any, timeout: float = 30) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                while b"\r\n\r\n" in self.buffer:
                    head, rest = self.buffer.split(b"\r\n\r\n", 1)
                    fields = dict(line.split(b":", 1) for line in head.split(b"\r\n"))
                    length = int(fields[b"Content-Length"])
                    if len(rest) < length:
                        break
                    message, self.buffer = json.loads(rest[:length]), rest[length:]
                    if wanted(message):
                        return dict(message)
                chunk = await self.proc.stdout.read(65536)
                assert chunk, "the relay closed its output"
                self.buffer += chunk


@pytest.mark.parametrize("leaving", ["shutdown", "killed"])
async def test_a_window_that_leaves_without_answering_does_not_hold_up_its_turn(
    repo: Path, state: Path, tmp_path: Path, leaving: str
) -> None:
    """The turn asked window A for a progress token and A left without answering: by `shutdown` (pygls
    cancelled the request under the turn, which died of it) or killed (the request waited forever). Either
    way the turn must go on and finish for the next window."""
    a = await SilentWindow.start(repo, state)
    try:
        await leave_mid_request(a, leaving)
        sid, tid = a.turn
    finally:
        if a.proc.returncode is None:
            a.proc.kill()
            await a.proc.wait()
    b = await window(repo, state, tmp_path)
    try:
        result = await asyncio.wait_for(b.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}), 30)
        assert result["status"] == "completed", result
        assert "done without A" in json.dumps(await b.cmd("agentBridge.history", {"sessionId": sid}))
    finally:
        await close(b)


async def leave_mid_request(a: SilentWindow, leaving: str) -> None:
    """Prompt, then leave while the bridge waits for A's answer to its progress request."""
    a.send({"jsonrpc": "2.0", "id": 2, "method": "workspace/executeCommand", "params": {
        "command": "agentBridge.prompt", "arguments": [{"text": "@say done without A", "agent": "scripted"}]}})
    started = await a.receive(lambda m: m.get("id") == 2)
    a.turn = (started["result"]["sessionId"], started["result"]["turnId"])
    await a.receive(lambda m: m.get("method") == "window/workDoneProgress/create")  # never answered
    if leaving == "shutdown":
        a.send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        await a.receive(lambda m: m.get("id") == 3)
        a.send({"jsonrpc": "2.0", "method": "exit"})
    else:
        a.proc.kill()
    assert await asyncio.wait_for(a.proc.wait(), 30) in (0, -9)
