from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.daemon.lock import connect
from bridge.daemon.process import run_daemon


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    # Longer than a Unix socket address can be, as real state dirs under deep homes or test temp dirs are.
    return tmp_path / ("deep-" * 30) / "state"


@dataclass
class EchoHub:
    """A stand-in hub: echoes every byte back until the client half-closes, as a relay must carry LSP."""

    idle: bool = True
    hellos: list[dict[str, Any]] = field(default_factory=list)
    stopped: int = 0
    attached: int = 0

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               hello: dict[str, Any]) -> None:
        self.hellos.append(hello)
        self.attached += 1
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self.attached -= 1

    def is_idle(self) -> bool:
        return self.idle

    def status(self) -> dict[str, Any]:
        return {"sessions": 7}

    async def stop(self) -> None:
        self.stopped += 1


@dataclass
class Running:
    hub: EchoHub
    task: asyncio.Task[bool]
    state_dir: Path

    async def finished(self, timeout: float = 5) -> bool:
        return await asyncio.wait_for(asyncio.shield(self.task), timeout)


StartDaemon = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_daemon(state_dir: Path) -> AsyncIterator[StartDaemon]:
    tasks: list[asyncio.Task[bool]] = []

    async def start(version: str = "1.0", linger: float = 60.0, hub: EchoHub | None = None,
                    where: Path | None = None) -> Running:
        hub = hub or EchoHub()
        where = where or state_dir
        task = asyncio.ensure_future(run_daemon(
            where, hub.serve_connection, is_idle=hub.is_idle, status=hub.status, stop=hub.stop, linger=linger,
            version=version, handle_signals=False,
        ))
        tasks.append(task)
        # Serving once it answers on its socket.
        for _ in range(200):
            if task.done() or (where / "daemon.sock").exists():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.02)
        return Running(hub, task, where)

    yield start
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


@contextlib.asynccontextmanager
async def open_client(state_dir: Path) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    sock = connect(state_dir, timeout=5)
    sock.setblocking(False)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def say(state_dir: Path, line: str) -> str:
    async with open_client(state_dir) as (reader, writer):
        writer.write(line.encode() + b"\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().rstrip("\n")
