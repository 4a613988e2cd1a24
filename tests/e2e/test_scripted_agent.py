"""Drive ``python -m bridge.scripted_agent`` as a real subprocess through the ACP SDK's client side."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

import acp
import pytest
from acp.core import ClientSideConnection
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    AllowedOutcome,
    AvailableCommandsUpdate,
    ClientCapabilities,
    ContentToolCallContent,
    CreateTerminalResponse,
    CurrentModeUpdate,
    DeniedOutcome,
    FileEditToolCallContent,
    FileSystemCapabilities,
    Implementation,
    PermissionOption,
    PermissionOptionKind,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalExitStatus,
    TerminalOutputResponse,
    TextContentBlock,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    UsageUpdate,
    UserMessageChunk,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from tests.support import REPO_ROOT


class FakeClient:
    """A minimal editor: records everything, confines fs access to ``root``, runs terminals."""

    def __init__(self, root: Path, *, choose: PermissionOptionKind | None = "allow_once") -> None:
        self.root = root.resolve()
        # None: hold permission requests until session/cancel, then answer cancelled (as required).
        self.choose = choose
        self.updates: list[Any] = []
        self.permissions: list[tuple[ToolCallUpdate, list[PermissionOption]]] = []
        self.writes: list[tuple[str, str]] = []
        self.reads: list[str] = []
        self.terminal_calls: list[dict[str, Any]] = []
        self.cancelled = asyncio.Event()
        self.first_update = asyncio.Event()
        self._terminals: dict[str, asyncio.subprocess.Process] = {}
        self._outputs: dict[str, str] = {}

    def _inside(self, path: str) -> Path:
        p = Path(path).resolve()
        if not p.is_relative_to(self.root):
            raise acp.RequestError.invalid_params({"path": path, "details": "outside the workspace"})
        return p

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)
        self.first_update.set()

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption], **kwargs: Any
    ) -> RequestPermissionResponse:
        self.permissions.append((tool_call, options))
        if self.choose is None:
            await self.cancelled.wait()
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        chosen = next(o for o in options if o.kind == self.choose)
        return RequestPermissionResponse(
            outcome=AllowedOutcome(option_id=chosen.option_id, outcome="selected")
        )

    async def read_text_file(
        self, session_id: str, path: str, line: int | None = None, limit: int | None = None, **kwargs: Any
    ) -> ReadTextFileResponse:
        self.reads.append(path)
        p = self._inside(path)
        if not p.exists():
            raise acp.RequestError.resource_not_found(path)
        return ReadTextFileResponse(content=p.read_text())

    async def write_text_file(
        self, session_id: str, path: str, content: str, **kwargs: Any
    ) -> WriteTextFileResponse | None:
        p = self._inside(path)
        self.writes.append((path, content))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
        return WriteTextFileResponse()

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: Any = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:
        self.terminal_calls.append({"command": command, "args": args, "cwd": cwd})
        proc = await asyncio.create_subprocess_exec(
            command,
            *(args or []),
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        tid = f"term-{len(self._terminals)}"
        self._terminals[tid] = proc
        return CreateTerminalResponse(terminal_id=tid)

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        proc = self._terminals[terminal_id]
        assert proc.stdout is not None
        self._outputs[terminal_id] = (await proc.stdout.read()).decode()
        code = await proc.wait()
        return WaitForTerminalExitResponse(exit_code=code)

    async def terminal_output(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> TerminalOutputResponse:
        proc = self._terminals[terminal_id]
        status = TerminalExitStatus(exit_code=proc.returncode) if proc.returncode is not None else None
        return TerminalOutputResponse(
            output=self._outputs.get(terminal_id, ""), truncated=False, exit_status=status
        )

    async def release_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> ReleaseTerminalResponse | None:
        self.terminal_calls.append({"release": terminal_id})
        self._terminals.pop(terminal_id, None)
        return None

    async def kill_terminal(self, session_id: str, terminal_id: str, **kwargs: Any) -> None:
        proc = self._terminals.get(terminal_id)
        if proc is not None and proc.returncode is None:
            proc.kill()

    # ----- helpers for assertions -------------------------------------------------------------

    def text(self) -> str:
        return "".join(
            u.content.text
            for u in self.updates
            if isinstance(u, AgentMessageChunk) and isinstance(u.content, TextContentBlock)
        )

    def of(self, cls: type[Any]) -> list[Any]:
        return [u for u in self.updates if isinstance(u, cls)]


def _stderr_file(tmp_path: Path) -> BinaryIO:
    # A file, never the default unread PIPE: an agent that logs a lot would deadlock on it.
    return (tmp_path / f"stderr-{time.monotonic_ns()}.log").open("wb")


def _largest_stderr(tmp_path: Path) -> int:
    return max(p.stat().st_size for p in tmp_path.glob("stderr-*.log"))


@asynccontextmanager
async def running_agent(
    client: FakeClient,
    tmp_path: Path,
    *,
    fs: bool = True,
    terminal: bool = True,
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[ClientSideConnection, asyncio.subprocess.Process]]:
    child_env = {"PYTHONPATH": str(REPO_ROOT), **(env or {})}
    with _stderr_file(tmp_path) as stderr:
        async with acp.spawn_agent_process(
            # Not a subclass of acp.Client on purpose: Protocol stubs would answer null instead of
            # "method not found" for anything left out.
            cast(acp.Client, client),
            sys.executable,
            "-m",
            "bridge.scripted_agent",
            cwd=str(tmp_path),
            env=child_env,
            transport_kwargs={"stderr": stderr},
        ) as (conn, proc):
            await conn.initialize(
                protocol_version=acp.PROTOCOL_VERSION,
                client_info=Implementation(name="test", version="0"),
                client_capabilities=ClientCapabilities(
                    fs=FileSystemCapabilities(read_text_file=fs, write_text_file=fs), terminal=terminal
                ),
            )
            yield conn, proc


async def prompt(conn: ClientSideConnection, session_id: str, text: str, *extra: Any) -> str:
    resp = await asyncio.wait_for(
        conn.prompt(session_id=session_id, prompt=[acp.text_block(text), *extra]), timeout=10
    )
    return resp.stop_reason


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    root.mkdir()
    return root


async def test_say_streams_word_chunks_and_default_answer(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        init_sid = (await conn.new_session(cwd=str(work))).session_id
        assert (
            await prompt(conn, init_sid, "intro line\n@say hello brave new world\n@think hmm") == "end_turn"
        )
        chunks = client.of(AgentMessageChunk)
        assert len(chunks) == 4
        assert client.text() == "hello brave new world\n"
        assert [t.content.text for t in client.of(AgentThoughtChunk)] == ["hmm\n"]

        client.updates.clear()
        assert await prompt(conn, init_sid, "what are you?") == "end_turn"
        assert "scripted agent" in client.text()
        assert "@write PATH" in client.text()


async def test_write_through_fs_with_permission(work: Path, tmp_path: Path) -> None:
    (work / "a.txt").write_text("old\n")
    client = FakeClient(work, choose="allow_once")
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        text = "@write a.txt\nnew 1\nnew 2\n@end\n@write sub/b.txt\nb\n@end"
        assert await prompt(conn, sid, text) == "end_turn"

    assert (work / "a.txt").read_text() == "new 1\nnew 2\n"
    assert (work / "sub" / "b.txt").read_text() == "b\n"
    assert client.writes == [(str(work / "a.txt"), "new 1\nnew 2\n"), (str(work / "sub/b.txt"), "b\n")]
    starts = client.of(ToolCallStart)
    assert [s.kind for s in starts] == ["edit", "edit"]
    assert starts[0].status == "pending"
    assert starts[0].locations[0].path == str(work / "a.txt")
    diff = starts[0].content[0]
    assert isinstance(diff, FileEditToolCallContent)
    assert (diff.old_text, diff.new_text) == ("old\n", "new 1\nnew 2\n")
    assert starts[1].content[0].old_text is None  # new file
    # allow_always deliberately comes first, so choosing by position would be wrong.
    assert len(client.permissions) == 2
    assert [o.kind for o in client.permissions[0][1]] == ["allow_always", "allow_once", "reject_once"]
    assert client.permissions[0][0].tool_call_id == starts[0].tool_call_id
    done = client.of(ToolCallProgress)
    assert [(p.tool_call_id, p.status) for p in done] == [(s.tool_call_id, "completed") for s in starts]


async def test_allow_always_stops_asking(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work, choose="allow_always")
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@write a.txt\n1\n@end\n@write b.txt\n2\n@end") == "end_turn"
    assert len(client.permissions) == 1
    assert (work / "b.txt").read_text() == "2\n"


async def test_write_rejected_and_hostile_path(work: Path, tmp_path: Path) -> None:
    (work / "a.txt").write_text("keep\n")
    outside = tmp_path / "outside.txt"
    client = FakeClient(work, choose="reject_once")
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@write a.txt\nnope\n@end") == "end_turn"
        assert (work / "a.txt").read_text() == "keep\n"
        assert client.of(ToolCallProgress)[-1].status == "failed"
        assert client.text() == "permission denied for a.txt\n"

        client.choose = "allow_once"
        client.updates.clear()
        assert await prompt(conn, sid, f"@write {outside}\nevil\n@end") == "end_turn"
        assert not outside.exists()
        assert client.text().startswith(f"write failed for {outside}: Invalid params")
        assert client.of(ToolCallProgress)[-1].status == "failed"


async def test_write_disk_ask_write_and_delete(work: Path, tmp_path: Path) -> None:
    (work / "gone.txt").write_text("x\n")
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@write-disk d.txt\ndisk\n@end") == "end_turn"
        assert (work / "d.txt").read_text() == "disk\n"
        assert client.permissions == [] and client.writes == []
        assert [u.session_update for u in client.updates] == ["tool_call", "tool_call_update"]

        client.updates.clear()
        assert await prompt(conn, sid, "@ask-write q.txt\nqwen\n@end") == "end_turn"
        assert client.of(ToolCallStart) == []  # the qwen/gemini quirk
        (call, _options) = client.permissions[0]
        assert call.kind == "edit" and call.content is not None
        assert isinstance(call.content[0], FileEditToolCallContent)
        assert call.content[0].new_text == "qwen\n"
        assert client.writes == [(str(work / "q.txt"), "qwen\n")]
        assert [(p.tool_call_id, p.status) for p in client.of(ToolCallProgress)] == [
            (call.tool_call_id, "completed")
        ]

        client.updates.clear()
        assert await prompt(conn, sid, "@delete gone.txt") == "end_turn"
        assert not (work / "gone.txt").exists()
        assert client.of(ToolCallStart)[0].kind == "delete"


async def test_read_through_fs(work: Path, tmp_path: Path) -> None:
    (work / "r.txt").write_text("1\n2\n3\n")
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@read r.txt\n@read missing.txt") == "end_turn"
    assert client.reads == [str(work / "r.txt"), str(work / "missing.txt")]
    lines = client.text().splitlines()
    assert lines[0] == "read 3 lines of r.txt"
    assert lines[1].startswith("error reading missing.txt: Resource not found")


async def test_run_in_client_terminal(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@run echo hi; pwd; exit 3") == "end_turn"
    assert client.terminal_calls[0] == {
        "command": "sh",
        "args": ["-c", "echo hi; pwd; exit 3"],
        "cwd": str(work),
    }
    assert client.terminal_calls[-1] == {"release": "term-0"}
    assert client.text() == "exit 3: hi\n"
    assert client.of(ToolCallStart)[0].kind == "execute"
    assert [o.kind for o in client.permissions[0][1]] == ["allow_always", "allow_once", "reject_once"]
    final = client.of(ToolCallProgress)[-1]
    assert final.status == "completed"
    assert isinstance(final.content[0], ContentToolCallContent)
    assert final.content[0].content.text == f"hi\n{work}\n"


async def test_run_without_terminal_capability(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path, terminal=False) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@run touch x") == "end_turn"
    assert client.text() == "no terminal\n"
    assert client.terminal_calls == [] and client.permissions == []
    assert not (work / "x").exists()


async def test_hang_and_pending_permission_end_cancelled(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work, choose=None)
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        for script in ("@say working\n@hang\n@say never", "@write a.txt\nx\n@end\n@say never"):
            client.updates.clear()
            client.first_update.clear()
            client.cancelled.clear()
            task = asyncio.create_task(prompt(conn, sid, script))
            await asyncio.wait_for(client.first_update.wait(), 5)
            await asyncio.sleep(0.1)
            start = time.monotonic()
            await conn.cancel(session_id=sid)
            client.cancelled.set()  # the client answers its pending permission request "cancelled"
            assert await task == "cancelled"
            assert time.monotonic() - start < 1.0
            assert "never" not in client.text()
        assert not (work / "a.txt").exists()
        # The session stays usable after a cancelled turn.
        client.updates.clear()
        assert await prompt(conn, sid, "@sleep 0.05\n@say ok") == "end_turn"
        assert client.text() == "ok\n"


async def test_crash_fails_the_prompt_fast(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, proc):
        sid = (await conn.new_session(cwd=str(work))).session_id
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            await prompt(conn, sid, "@say bye\n@crash\n@say never")
        assert time.monotonic() - start < 2.0
        assert await asyncio.wait_for(proc.wait(), 5) == 3
        assert client.text() == "bye\n"  # flushed before dying
        with pytest.raises(ConnectionError):
            await conn.new_session(cwd=str(work))


async def test_stop_reason_and_misc_updates(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        script = (
            "@plan read | edit | test\n@plan only\n@commands\n@mode plan\n@duplicate-tool-call\n"
            "@usage 1200 34\n@stderr 300000\n@stop refusal\n@say never"
        )
        resp = await asyncio.wait_for(conn.prompt(session_id=sid, prompt=[acp.text_block(script)]), 10)
    assert resp.stop_reason == "refusal"
    assert resp.usage is not None and (resp.usage.input_tokens, resp.usage.output_tokens) == (1200, 34)
    assert client.text() == ""
    plans = client.of(AgentPlanUpdate)
    assert [(e.content, e.status) for e in plans[0].entries] == [
        ("read", "in_progress"),
        ("edit", "pending"),
        ("test", "pending"),
    ]
    assert [e.content for e in plans[1].entries] == ["only"]
    assert len(client.of(AvailableCommandsUpdate)[0].available_commands) >= 2
    assert client.of(CurrentModeUpdate)[0].current_mode_id == "plan"
    starts = client.of(ToolCallStart)
    assert len(starts) == 2 and starts[0].tool_call_id == starts[1].tool_call_id
    usage = client.of(UsageUpdate)[0]
    assert (usage.used, usage.size) == (1234, 200000)
    # 300 KB of stderr went to a file: far past a pipe's capacity, so nothing deadlocked.
    assert _largest_stderr(tmp_path) >= 300000


async def test_echo_prompt_includes_resources(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        sid = (await conn.new_session(cwd=str(work))).session_id
        resource = acp.resource_block(acp.embedded_text_resource("file:///w/x.py", "print(1)"))
        text = "Note: the user rejected hunk 2 of a.txt\n@echo-prompt"
        assert await prompt(conn, sid, text, resource) == "end_turn"
    assert client.text() == f"{text}\n<resource uri=file:///w/x.py>\nprint(1)\n</resource>\n"
    assert len(client.of(AgentMessageChunk)) > 1


async def test_load_session_across_processes_and_log(work: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    log = tmp_path / "agent.log"
    env = {"SCRIPTED_AGENT_STATE_DIR": str(state), "SCRIPTED_AGENT_LOG": str(log)}
    first = FakeClient(work)
    async with running_agent(first, tmp_path, env=env) as (conn, proc1):
        sid = (await conn.new_session(cwd=str(work))).session_id
        assert await prompt(conn, sid, "@say one") == "end_turn"
        assert await prompt(conn, sid, "@say two") == "end_turn"
        pid1 = proc1.pid

    second = FakeClient(work)
    async with running_agent(second, tmp_path, env=env) as (conn, proc2):
        await conn.load_session(cwd=str(work), session_id=sid)
        replay = [
            (type(u).__name__, u.content.text)
            for u in second.updates
            if isinstance(u, UserMessageChunk | AgentMessageChunk)
        ]
        assert replay == [
            ("UserMessageChunk", "@say one"),
            ("AgentMessageChunk", "one\n"),
            ("UserMessageChunk", "@say two"),
            ("AgentMessageChunk", "two\n"),
        ]
        second.updates.clear()
        assert await prompt(conn, sid, "@say three") == "end_turn"
        assert second.text() == "three\n"
        with pytest.raises(acp.RequestError) as err:
            await conn.load_session(cwd=str(work), session_id="sess-unknown")
        assert err.value.code == -32002
        pid2 = proc2.pid

    records = [json.loads(line) for line in log.read_text().splitlines()]
    by_pid = {pid: [r["method"] for r in records if r["pid"] == pid] for pid in (pid1, pid2)}
    assert by_pid[pid1] == ["initialize", "session/new", "session/prompt", "session/prompt"]
    assert by_pid[pid2] == ["initialize", "session/load", "session/prompt", "session/load"]
    assert [r["prompt"] for r in records if r["method"] == "session/prompt"] == [
        "@say one",
        "@say two",
        "@say three",
    ]
    assert all(r["sessionId"] == sid for r in records if r["method"] == "session/prompt")


async def test_load_unknown_session_without_state_dir(work: Path, tmp_path: Path) -> None:
    client = FakeClient(work)
    async with running_agent(client, tmp_path) as (conn, _):
        with pytest.raises(acp.RequestError) as err:
            await conn.load_session(cwd=str(work), session_id="sess-nope")
        assert err.value.code == -32002
        with pytest.raises(acp.RequestError):
            await conn.prompt(session_id="sess-nope", prompt=[acp.text_block("@say hi")])
    assert os.listdir(tmp_path) != []
