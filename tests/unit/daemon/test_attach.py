"""The relay `serve --daemon` runs: finding or starting the daemon, replacing an idle old one, and carrying
the editor's bytes unchanged both ways."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.daemon.attach import attach
from bridge.daemon.lock import is_locked
from bridge.daemon.process import run_daemon
from tests.unit.daemon.conftest import EchoHub, StartDaemon


class Pipes:
    """The editor's side of the relay's stdin and stdout."""

    def __init__(self) -> None:
        self.stdin_r, self.stdin_w = os.pipe()
        self.stdout_r, self.stdout_w = os.pipe()

    def close(self) -> None:
        for fd in (self.stdin_r, self.stdin_w, self.stdout_r, self.stdout_w):
            try:
                os.close(fd)
            except OSError:
                pass


def run_attach(state_dir: Path, pipes: Pipes, err: io.StringIO, **kwargs: Any) -> asyncio.Future[int]:
    async def go() -> int:
        try:
            return await asyncio.to_thread(attach, state_dir, stdin_fd=pipes.stdin_r, stdout_fd=pipes.stdout_w,
                                           err=err, **kwargs)
        finally:
            os.close(pipes.stdout_w)  # as the relay process exiting would
            pipes.stdout_w = -1

    return asyncio.ensure_future(go())


async def read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await asyncio.to_thread(os.read, fd, size - len(data))
        assert chunk, f"EOF after {data!r}"
        data += chunk
    return data


def no_spawn() -> subprocess.Popen[bytes]:
    raise AssertionError("a daemon was running: nothing should be started")


async def test_bytes_pass_through_unchanged_until_the_editor_closes(
    start_daemon: StartDaemon, state_dir: Path
) -> None:
    daemon = await start_daemon()
    pipes, err = Pipes(), io.StringIO()
    relay = run_attach(state_dir, pipes, err, version="1.0", config=Path("rel/config.toml"), spawn=no_spawn)
    try:
        # Each message arrives on its own, without waiting for more input (no buffering in the relay).
        for body in (b'{"jsonrpc":"2.0","id":1,"method":"initialize"}', "é\r\n\x00".encode() * 5000):
            message = b"Content-Length: %d\r\n\r\n" % len(body) + body
            os.write(pipes.stdin_w, message)
            assert await asyncio.wait_for(read_exactly(pipes.stdout_r, len(message)), 10) == message
        os.close(pipes.stdin_w)  # the editor goes away: the daemon finishes, closes, and the relay ends with 0
        pipes.stdin_w = -1
        assert await asyncio.wait_for(relay, 10) == 0
        assert await asyncio.to_thread(os.read, pipes.stdout_r, 10) == b""
    finally:
        pipes.close()
    hello = daemon.hub.hellos[0]
    assert hello["version"] == "1.0" and hello["config"] == str(Path.cwd() / "rel/config.toml")
    assert err.getvalue() == ""


async def test_the_relay_ends_when_the_daemon_goes(start_daemon: StartDaemon, state_dir: Path) -> None:
    daemon = await start_daemon()
    pipes, err = Pipes(), io.StringIO()
    relay = run_attach(state_dir, pipes, err, version="1.0", spawn=no_spawn)
    try:
        for _ in range(500):
            if daemon.hub.attached:
                break
            await asyncio.sleep(0.01)
        daemon.task.cancel()
        assert await asyncio.wait_for(relay, 10) == 0
    finally:
        pipes.close()


async def test_a_busy_daemon_of_another_version_is_used_with_a_warning(
    start_daemon: StartDaemon, state_dir: Path
) -> None:
    await start_daemon(version="0.9", hub=EchoHub(idle=False))
    pipes, err = Pipes(), io.StringIO()
    relay = run_attach(state_dir, pipes, err, version="1.0", spawn=no_spawn)
    try:
        os.close(pipes.stdin_w)
        pipes.stdin_w = -1
        assert await asyncio.wait_for(relay, 10) == 0
    finally:
        pipes.close()
    assert "version 0.9 (this is 1.0) and busy" in err.getvalue()


class InProcessStart:
    """A `spawn` that starts the new version's daemon in this event loop, as `daemon run` would in a process."""

    def __init__(self, loop: asyncio.AbstractEventLoop, state_dir: Path, version: str) -> None:
        self.loop, self.state_dir, self.version = loop, state_dir, version
        self.hub = EchoHub()
        self.started: list[asyncio.Task[bool]] = []

    def __call__(self) -> Any:
        def start() -> None:
            self.started.append(asyncio.ensure_future(run_daemon(
                self.state_dir, self.hub.serve_connection, stop=self.hub.stop, version=self.version,
                handle_signals=False,
            )))

        self.loop.call_soon_threadsafe(start)
        return _Running()


class _Running:
    returncode = None

    def poll(self) -> None:
        return None


async def test_an_idle_old_daemon_is_replaced_by_the_clients_version(
    start_daemon: StartDaemon, state_dir: Path
) -> None:
    old = await start_daemon(version="0.9")
    starter = InProcessStart(asyncio.get_running_loop(), state_dir, "1.0")
    pipes, err = Pipes(), io.StringIO()
    relay = run_attach(state_dir, pipes, err, version="1.0", spawn=starter)
    try:
        assert await old.finished() is True
        assert old.hub.hellos == [] and old.hub.stopped == 1
        message = b"Content-Length: 2\r\n\r\n{}"
        os.write(pipes.stdin_w, message)
        assert await asyncio.wait_for(read_exactly(pipes.stdout_r, len(message)), 10) == message
        assert len(starter.started) == 1 and starter.hub.hellos[0]["version"] == "1.0"
        os.close(pipes.stdin_w)
        pipes.stdin_w = -1
        assert await asyncio.wait_for(relay, 10) == 0
    finally:
        pipes.close()
        for task in starter.started:
            task.cancel()
        await asyncio.gather(*starter.started, return_exceptions=True)
    assert err.getvalue() == ""


def spawn_of(argv: list[str]) -> Callable[[], subprocess.Popen[bytes]]:
    return lambda: subprocess.Popen(argv)


async def test_no_daemon_coming_up_is_a_clear_error(state_dir: Path) -> None:
    # The starter exits 0 ("another daemon serves it") but none ever answers.
    err = io.StringIO()
    code = await asyncio.to_thread(attach, state_dir, timeout=1, spawn=spawn_of([sys.executable, "-c", "pass"]),
                                   stdin_fd=-1, stdout_fd=-1, err=err)
    assert code == 1
    assert "no daemon answered on" in err.getvalue() and "within 1 s" in err.getvalue()
    # The starter fails: said at once, not after the timeout.
    err = io.StringIO()
    code = await asyncio.to_thread(attach, state_dir, timeout=15,
                                   spawn=spawn_of([sys.executable, "-c", "raise SystemExit(3)"]),
                                   stdin_fd=-1, stdout_fd=-1, err=err)
    assert code == 1 and "the daemon exited with code 3" in err.getvalue()
    assert not is_locked(state_dir)
