"""The bridge's ACP client side answering an agent's `fs/read_text_file`, over a real ACP SDK connection pair.

The agent side is the SDK's own `AgentSideConnection`, so what is checked is what an agent gets on the wire.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import acp
import pytest
from acp.agent.connection import AgentSideConnection

from backends.acp.client import AgentClient, Connection
from backends.base import PathRefused
from bridge.core.paths import resolve_in_worktree
from bridge.errors import PathEscapesWorktree


class Host:
    """The one part of a BackendHost that file reads use: paths resolved inside the worktree."""

    def __init__(self, worktree: Path) -> None:
        self.worktree = self.cwd = worktree

    def resolve_path(self, path: str) -> Path:
        try:
            return resolve_in_worktree(path, self.worktree, self.cwd)
        except PathEscapesWorktree as exc:
            raise PathRefused(str(exc)) from None


class SilentAgent:
    """The agent side only sends requests here; it is never asked anything."""

    def on_connect(self, conn: Any) -> None:
        return None


@pytest.fixture
async def agent_side(tmp_path: Path) -> AsyncIterator[tuple[AgentSideConnection, Path]]:
    """An SDK agent connection whose client is the bridge's AgentClient on the worktree `tmp_path/wt`."""
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / "sub").mkdir()
    (worktree / "calc.py").write_text("one\ntwo\nthree\n")
    client = AgentClient(cast(Connection, SimpleNamespace(host=Host(worktree))))
    ours, theirs = socket.socketpair()
    client_reader, client_writer = await asyncio.open_unix_connection(sock=ours)
    agent_reader, agent_writer = await asyncio.open_unix_connection(sock=theirs)
    client_conn = acp.connect_to_agent(cast(Any, client), client_writer, client_reader)
    agent_conn = AgentSideConnection(cast(Any, SilentAgent()), agent_writer, agent_reader)
    try:
        yield agent_conn, worktree
    finally:
        await agent_conn.close()
        await client_conn.close()
        for writer in (agent_writer, client_writer):  # the connections leave their streams open
            writer.close()
            await writer.wait_closed()


async def test_a_missing_file_reads_as_empty(agent_side: tuple[AgentSideConnection, Path]) -> None:
    """gemini-cli (0.61) reads a file before it writes it, and fails the write on any error answer, ACP's
    "Resource not found" (-32002) included; a file that does not exist yet reads as empty instead."""
    conn, worktree = agent_side
    for path in (str(worktree / "new.md"), "new.md", str(worktree / "fresh" / "dir" / "x.py")):
        answer = await conn.read_text_file(session_id="s", path=path)
        assert answer.content == "", path
    assert not (worktree / "new.md").exists() and not (worktree / "fresh").exists()


async def test_reads_an_existing_file_whole_or_by_lines(agent_side: tuple[AgentSideConnection, Path]) -> None:
    conn, worktree = agent_side
    assert (await conn.read_text_file(session_id="s", path=str(worktree / "calc.py"))).content == "one\ntwo\nthree\n"
    part = await conn.read_text_file(session_id="s", path="calc.py", line=2, limit=1)
    assert part.content == "two\n"


async def test_a_directory_or_a_path_outside_the_worktree_is_an_error(
    agent_side: tuple[AgentSideConnection, Path], tmp_path: Path
) -> None:
    """Only a missing file reads as empty: what exists but cannot be read, or may not be, stays an error."""
    conn, worktree = agent_side
    (tmp_path / "secret.txt").write_text("secret\n")
    for path, reason in ((str(worktree / "sub"), "is a directory"), (str(tmp_path / "secret.txt"), "")):
        with pytest.raises(acp.RequestError) as caught:
            await conn.read_text_file(session_id="s", path=path)
        assert caught.value.code == -32602, caught.value
        assert reason in str(caught.value.data), caught.value.data
    # Outside the worktree, even a missing file is refused rather than read as empty.
    with pytest.raises(acp.RequestError):
        await conn.read_text_file(session_id="s", path=str(tmp_path / "nowhere.txt"))
