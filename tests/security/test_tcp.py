"""`agent-bridge serve --tcp` admits only the user's editor (issue: the trust boundary).

A second local connection that never sent `initialize` prompted an agent that wrote files as the user; each
new connection took over the server's output (the editor's replies and permission questions went to the
newcomer), and the first one to leave stopped the server. These tests run the real `agent-bridge serve --tcp`
and speak LSP to it over raw sockets (the attackers) and with pytest-lsp's client (the editor).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as T
from pytest_lsp import LanguageClient, make_test_lsp_client

from bridge.protocol import plain
from tests.support.lsp_harness import CLIENT_CAPABILITIES

# The bundled scripted agent writes this file straight to disk (no permission asked) when a prompt runs.
MARKER = "marker.txt"
ATTACK = {"text": f"@write-disk {MARKER}\nwritten by a stranger\n@end", "agent": "scripted"}
SERVER_NOT_INITIALIZED = -32002


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Bridge:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, state: Path) -> None:
        self.proc = proc
        self.port = port
        self.state = state

    @property
    def token(self) -> str:
        path = self.state / "tcp-token"
        return path.read_text().strip() if path.exists() else "no token file"

    def markers(self, *roots: Path) -> list[Path]:
        return [p for root in (self.state, *roots) for p in root.rglob(MARKER)]


async def start_bridge(tmp_path: Path, port: int | None = None) -> Bridge:
    """The real server on a fixed free port (so the same test runs against a bridge that announces nothing)."""
    port = port or _free_port()
    state = tmp_path / "state"
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(state), "SCRIPTED_AGENT_LOG": str(tmp_path / "agent.log")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "serve", "--tcp", f"127.0.0.1:{port}",
        "--log-file", str(tmp_path / "bridge.log"), env=env, stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(400):
        if _listening(port):
            return Bridge(proc, port, state)
        await asyncio.sleep(0.05)
    raise AssertionError("the bridge never listened")


def _listening(port: int) -> bool:
    """Whether a socket listens on `port`, without connecting to it (a probe connection is a client)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as fh:
            for row in fh.read().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    started = await start_bridge(tmp_path)
    try:
        yield started
    finally:
        if started.proc.returncode is None:
            started.proc.terminate()
        await asyncio.wait_for(started.proc.wait(), 60)


class Peer:
    """A raw LSP connection: Content-Length framing over a socket, nothing else."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, port: int) -> Peer:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.writer.drain()

    async def receive(self, timeout: float = 20) -> dict[str, Any] | None:
        """The next message, or None once the server closed the connection."""
        async def read() -> dict[str, Any] | None:
            length = 0
            while True:
                line = await self.reader.readline()
                if not line:
                    return None
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n") and length:
                    message: dict[str, Any] = json.loads(await self.reader.readexactly(length))
                    self.seen.append(message)
                    if "method" in message and "id" in message:  # answer as a client would, so nothing waits
                        await self.send({"id": message["id"], "result": None})
                    return message

        try:
            return await asyncio.wait_for(read(), timeout)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None

    async def answer(self, msg_id: int, timeout: float = 20) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            while True:
                message = await self.receive(timeout)
                assert message is not None, f"the connection closed before answering request {msg_id}"
                if message.get("id") == msg_id and "method" not in message:
                    return message

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no answer to request {msg_id} within {timeout} s") from None

    async def closed_by_server(self, timeout: float = 20) -> bool:
        with contextlib.suppress(TimeoutError):
            while await self.receive(timeout) is not None:
                pass
            return True
        return False

    def close(self) -> None:
        self.writer.close()


def initialize(msg_id: int, repo: Path, options: Any) -> dict[str, Any]:
    return {"id": msg_id, "method": "initialize", "params": {
        "processId": None, "rootUri": repo.as_uri(), "capabilities": {}, "initializationOptions": options}}


def execute(msg_id: int, command: str, argument: Any) -> dict[str, Any]:
    return {"id": msg_id, "method": "workspace/executeCommand", "params": {"command": command,
                                                                           "arguments": [argument]}}


async def attach_editor(bridge: Bridge, repo: Path, token: str | None = None) -> LanguageClient:
    client = make_test_lsp_client()
    await client.start_tcp("127.0.0.1", bridge.port)
    await client.initialize_session(T.InitializeParams(
        capabilities=CLIENT_CAPABILITIES, root_uri=repo.as_uri(),
        workspace_folders=[T.WorkspaceFolder(uri=repo.as_uri(), name=repo.name)],
        initialization_options={"authToken": token or bridge.token},
    ))
    return client


async def command(client: LanguageClient, name: str, argument: Any) -> Any:
    return plain(await client.workspace_execute_command_async(T.ExecuteCommandParams(command=name,
                                                                                     arguments=[argument])))


async def leave(client: LanguageClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.shutdown_async(None), 20)
        client.exit(None)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.stop(), 20)


@pytest.mark.parametrize("options", [None, {}, {"authToken": "guessed"}, {"authToken": 12345}],
                         ids=["no-options", "no-token", "wrong-token", "not-a-string"])
async def test_initialize_without_the_token_is_refused_and_closed(
    bridge: Bridge, repo: Path, options: Any
) -> None:
    peer = await Peer.connect(bridge.port)
    await peer.send(initialize(1, repo, options))
    # What an attacker sends next, without waiting: none of it may run.
    await peer.send({"method": "initialized", "params": {}})
    await peer.send(execute(2, "agentBridge.prompt", ATTACK))
    reply = await peer.answer(1)
    assert "result" not in reply, reply
    assert reply["error"]["message"].startswith("authentication failed: initializationOptions.authToken")
    assert await peer.closed_by_server(), "the connection stayed open"
    assert not [m for m in peer.seen if m.get("id") == 2 and "result" in m]
    await asyncio.sleep(1)
    assert not bridge.markers(repo), "an unauthenticated connection ran an agent"
    assert not (bridge.state / "state.db").exists(), "an unauthenticated connection reached the core"
    assert bridge.proc.returncode is None


async def test_requests_before_initialize_never_reach_a_feature(bridge: Bridge, repo: Path) -> None:
    """pygls dispatches whatever arrives, initialized or not: the bridge's gate answers ServerNotInitialized."""
    peer = await Peer.connect(bridge.port)
    await peer.send(execute(1, "agentBridge.prompt", ATTACK))
    await peer.send(execute(2, "agentBridge.sessions", {}))
    await peer.send({"id": 3, "method": "textDocument/codeLens",
                     "params": {"textDocument": {"uri": (repo / "greet.py").as_uri()}}})
    for msg_id in (1, 2, 3):
        reply = await peer.answer(msg_id, timeout=10)
        assert reply.get("error", {}).get("code") == SERVER_NOT_INITIALIZED, reply
    await asyncio.sleep(1)
    assert not bridge.markers(repo)
    assert not (bridge.state / "state.db").exists()
    peer.close()


async def test_a_stranger_cannot_make_the_bridge_buffer_a_huge_message(bridge: Bridge, repo: Path) -> None:
    peer = await Peer.connect(bridge.port)
    peer.writer.write(b"Content-Length: 4000000000\r\n\r\n" + b"x" * 65536)
    await peer.writer.drain()
    assert await peer.closed_by_server(), "the bridge kept reading an unauthenticated 4 GB message"
    editor = await attach_editor(bridge, repo)  # the listener is unharmed
    await leave(editor)


async def test_a_second_connection_can_neither_drive_nor_take_over_the_attached_editor(
    bridge: Bridge, repo: Path
) -> None:
    editor = await attach_editor(bridge, repo)
    try:
        # The reported attack: a connection that never sent initialize prompts an agent.
        stranger = await Peer.connect(bridge.port)
        await stranger.send(execute(1, "agentBridge.prompt", ATTACK))
        reply = await stranger.answer(1)
        # Had the prompt been taken, give its agent time to act (answering what the bridge asks the stranger,
        # as a client would): the failure then shows what escaped.
        pump = asyncio.ensure_future(stranger.closed_by_server(timeout=60))
        for _ in range(300 if "result" in reply else 10):
            if bridge.markers(repo):
                break
            await asyncio.sleep(0.1)
        pump.cancel()
        assert not bridge.markers(repo), "a connection that never initialized ran an agent"
        assert reply.get("error", {}).get("code") == SERVER_NOT_INITIALIZED, reply
        assert await command(editor, "agentBridge.sessions", {}) == []

        # A second editor with the right token is refused, without disturbing the first.
        second = await Peer.connect(bridge.port)
        await second.send(initialize(1, repo, {"authToken": bridge.token}))
        refused = await second.answer(1)
        assert refused["error"]["message"].startswith("another editor is attached to this bridge"), refused
        assert await second.closed_by_server()
        # The newcomer got nothing of the editor's (no replies, no events, no questions).
        assert [m.get("id") for m in second.seen] == [1]
        assert [m.get("id") for m in stranger.seen] == [1], stranger.seen

        # The editor still gets its own replies, and its agent works.
        started = await command(editor, "agentBridge.prompt", {"text": "@write-disk mine.txt\nok\n@end",
                                                                "agent": "scripted"})
        status = await command(editor, "agentBridge.awaitTurn", {"sessionId": started["sessionId"]})
        assert status["status"] == "completed", status
        assert not bridge.markers(repo)
    finally:
        await leave(editor)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if line and int(line.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


async def _wait_no_children(pid: int, timeout: float = 20) -> list[int]:
    for _ in range(int(timeout / 0.1)):
        if not (left := _children(pid)):
            return []
        await asyncio.sleep(0.1)
    return left


async def test_an_editor_leaving_stops_its_agents_and_the_next_one_finds_its_sessions(
    bridge: Bridge, repo: Path
) -> None:
    first = await attach_editor(bridge, repo)
    started = await command(first, "agentBridge.prompt", {"text": "@say hello", "agent": "scripted"})
    status = await command(first, "agentBridge.awaitTurn", {"sessionId": started["sessionId"]})
    assert status["status"] == "completed", status
    assert _children(bridge.proc.pid), "the scripted agent should be warm"
    await leave(first)  # shutdown + exit: ends this connection only

    assert await _wait_no_children(bridge.proc.pid) == [], "the editor's agents outlived it"
    await asyncio.sleep(0.5)
    assert bridge.proc.returncode is None, "the listener exited when the editor left"
    second = await attach_editor(bridge, repo)
    try:
        sessions = await command(second, "agentBridge.sessions", {})
        assert [s["sessionId"] for s in sessions] == [started["sessionId"]]
    finally:
        await leave(second)
    # An editor that disappears without shutdown/exit frees the bridge too.
    third = await Peer.connect(bridge.port)
    await third.send(initialize(1, repo, {"authToken": bridge.token}))
    assert "result" in await third.answer(1)
    third.close()
    fourth = await attach_editor(bridge, repo)
    await leave(fourth)


async def test_sigterm_stops_every_agent_and_exits(bridge: Bridge, repo: Path) -> None:
    editor = await attach_editor(bridge, repo)
    try:
        started = await command(editor, "agentBridge.prompt", {"text": "@say hello", "agent": "scripted"})
        await command(editor, "agentBridge.awaitTurn", {"sessionId": started["sessionId"]})
        agents = _children(bridge.proc.pid)
        assert agents
        bridge.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(bridge.proc.wait(), 60) == 0
        for pid in agents:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        await editor.stop()


@pytest.mark.parametrize("address", ["0.0.0.0", "[::]", "example.invalid"])
def test_a_non_loopback_address_needs_allow_remote(tmp_path: Path, address: str) -> None:
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--tcp", f"{address}:{_free_port()}"],
                          env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert "non-loopback" in proc.stderr and "--allow-remote" in proc.stderr
    assert not (tmp_path / "state" / "tcp-token").exists()


async def test_the_token_file_is_private_and_the_token_is_never_printed(tmp_path: Path, repo: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(state)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "serve", "--tcp", "127.0.0.1:0", env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        announced = ""
        while "authToken" not in announced:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, announced
            announced += line.decode()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", announced)
        assert match, announced
        token_file = state / "tcp-token"
        assert str(token_file) in announced
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        token = token_file.read_text().strip()
        assert len(token) >= 32
        peer = await Peer.connect(int(match.group(1)))  # port 0: the announced port is the one to use
        await peer.send(initialize(1, repo, {"authToken": token}))
        assert "result" in await peer.answer(1)
        peer.close()
    finally:
        proc.terminate()
        _, rest = await asyncio.wait_for(proc.communicate(), 60)
    assert token not in announced + rest.decode()


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    token_file = state / "tcp-token"
    token_file.write_text("known-to-others\n")
    token_file.chmod(0o644)
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(state)}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--tcp", f"127.0.0.1:{_free_port()}"],
                          env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    assert "accessible to other users" in proc.stderr and str(token_file) in proc.stderr
    assert "known-to-others" not in proc.stderr

    token_file.unlink()
    (tmp_path / "elsewhere").write_text("chosen-by-someone-else\n")
    (tmp_path / "elsewhere").chmod(0o600)
    token_file.symlink_to(tmp_path / "elsewhere")
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "serve", "--tcp", f"127.0.0.1:{_free_port()}"],
                          env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1, proc.stderr
    assert "symlink" in proc.stderr


async def test_allow_remote_listens_where_asked_and_says_it_is_unencrypted(tmp_path: Path) -> None:
    env = {**os.environ, "AGENT_BRIDGE_STATE_DIR": str(tmp_path / "state")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.cli", "serve", "--tcp", "0.0.0.0:0", "--allow-remote", env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        announced = ""
        while "not encrypted" not in announced:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, announced
            announced += line.decode()
        assert re.search(r"listening on 0\.0\.0\.0:\d+", announced), announced
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 60) == 0
