"""The daemon's process layer: owns the state dir (lock + socket), greets each connection, answers control
requests, and hands LSP connections to the hub that serves them. What a connection *does* is the hub's business
(`DaemonHooks`); this module only decides who gets in and when the process ends.

Wire (one line each way, then the stream belongs to LSP):
    client: `AGENT-BRIDGE 1 {"version": ..., "config": ...}`   daemon: `OK <version>` | `REPLACE` | `ERROR <why>`
    client: `STATUS`                                           daemon: one JSON line {pid, socket, clients, ...}
    client: `STOP`                                             daemon: `OK`, then it stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge import __version__
from bridge.daemon.lock import DaemonListener, claim_or_defer

log = logging.getLogger(__name__)

PROTOCOL = "1"
GREETING = "AGENT-BRIDGE"
LINGER_ENV = "AGENT_BRIDGE_DAEMON_LINGER"
# Long enough that closing the last editor window and opening another (or a restart of the editor) finds the
# agents still warm; short enough that a forgotten daemon does not hold agents for the rest of the day.
DEFAULT_LINGER = 600.0
# A client that connects and says nothing is not allowed to hold a slot (or keep the daemon from lingering out).
HANDSHAKE_TIMEOUT = 10.0

ServeConnection = Callable[[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class DaemonHooks:
    """What the hub plugs in.

    - `serve_connection(reader, writer, hello)`: run LSP on one attached client until it goes away (the daemon
      closes the writer afterwards). `hello` is the client's handshake object (`version`, `config`, ...).
    - `is_idle()`: no turn running, nothing that must outlive the clients; asked for lingering and replacing.
    - `status()`: extra fields for `daemon status` (`sessions`, ...), merged over {pid, socket, clients, version}.
    - `stop()`: tear down (agents, store) before the process ends; called once.
    """

    serve_connection: ServeConnection
    is_idle: Callable[[], bool] = lambda: True
    status: Callable[[], Mapping[str, Any]] = field(default=lambda: {})
    stop: Callable[[], Awaitable[None]] = _nothing


def linger_from_env(environ: Mapping[str, str] | None = None) -> float:
    """Seconds the daemon stays up with no client and nothing running (`AGENT_BRIDGE_DAEMON_LINGER`; `inf` =
    until stopped)."""
    raw = (os.environ if environ is None else environ).get(LINGER_ENV, "").strip()
    if not raw:
        return DEFAULT_LINGER
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if math.isnan(value) or value < 0:
        log.warning("%s=%r is not a number of seconds; using %s", LINGER_ENV, raw, DEFAULT_LINGER)
        return DEFAULT_LINGER
    return value


def parse_hello(line: str) -> dict[str, Any] | None:
    """`AGENT-BRIDGE 1 {json object with a string "version"}` -> the object, else None."""
    parts = line.split(" ", 2)
    if len(parts) != 3 or parts[0] != GREETING or parts[1] != PROTOCOL:
        return None
    try:
        hello = json.loads(parts[2])
    except ValueError:
        return None
    if not isinstance(hello, dict) or not isinstance(hello.get("version"), str):
        return None
    return hello


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class Daemon:
    def __init__(self, listener: DaemonListener, hooks: DaemonHooks, *, version: str, linger: float) -> None:
        self.listener = listener
        self.hooks = hooks
        self.version = version
        self.linger = linger
        self.clients = 0  # connections handed to the hub
        self._connections: set[asyncio.Task[Any]] = set()  # every open connection, greeting included
        self._stopping = asyncio.Event()
        self.stop_reason = ""

    def request_stop(self, reason: str) -> None:
        if not self._stopping.is_set():
            self.stop_reason = reason
            log.info("daemon stopping: %s", reason)
            # New clients must not reach a daemon on its way out: they start (or wait for) the next one.
            self.listener.remove_socket()
            self._stopping.set()

    def status(self) -> dict[str, Any]:
        info: dict[str, Any] = {"pid": os.getpid(), "socket": str(self.listener.path), "clients": self.clients,
                                "sessions": 0, "version": self.version}
        try:
            info.update(self.hooks.status())
        except Exception:
            log.exception("status hook failed")
        return info

    async def serve(self, *, handle_signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
        server = await asyncio.start_unix_server(self._connection, sock=self.listener.sock)
        lingering = asyncio.ensure_future(self._linger())
        log.info("daemon %s serving %s (pid %s, linger %ss)", self.version, self.listener.path, os.getpid(),
                 self.linger)
        try:
            await self._stopping.wait()
        finally:
            lingering.cancel()
            server.close()
            self.listener.remove_socket()
            try:
                await self.hooks.stop()
            except Exception:
                log.exception("stopping the hub failed")
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            with contextlib.suppress(Exception):
                await server.wait_closed()
            for sig in signals:
                loop.remove_signal_handler(sig)
            self.listener.close()
            log.info("daemon stopped")

    async def _linger(self) -> None:
        if math.isinf(self.linger):
            return
        step = min(1.0, max(self.linger / 4, 0.02))
        idle_since: float | None = None
        while True:
            await asyncio.sleep(step)
            if self._connections or not self._hub_idle():
                idle_since = None
                continue
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since >= self.linger:
                self.request_stop(f"no client and nothing running for {self.linger:g} s")
                return

    def _hub_idle(self) -> bool:
        try:
            return bool(self.hooks.is_idle())
        except Exception:
            log.exception("is_idle hook failed")
            return False

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._greet_and_serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _greet_and_serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        uid = _peer_uid(writer)
        if uid is not None and uid != os.getuid():
            log.warning("refused a connection from uid %s", uid)
            return
        try:
            line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT)
        except (TimeoutError, ValueError):  # silent, or a "line" over the stream's limit
            return
        if self._stopping.is_set() or not line.endswith(b"\n"):
            return
        text = line.decode("utf-8", "replace").rstrip("\r\n")

        async def answer(reply: str) -> None:
            writer.write(reply.encode() + b"\n")
            await writer.drain()

        if text == "STATUS":
            await answer(json.dumps(self.status()))
            return
        if text == "STOP":
            self.request_stop("stop requested")
            await answer("OK")
            return
        hello = parse_hello(text)
        if hello is None:
            await answer(f"ERROR expected '{GREETING} {PROTOCOL} {{json}}', STATUS or STOP")
            return
        if hello["version"] != self.version and self.clients == 0 and self._hub_idle():
            # Nothing would be lost: make way for the client's version, which starts its own daemon.
            self.request_stop(f"replaced by version {hello['version']}")
            await answer("REPLACE")
            return
        await answer(f"OK {self.version}")
        self.clients += 1
        try:
            await self.hooks.serve_connection(reader, writer, hello)
        finally:
            self.clients -= 1


async def run_daemon(
    state_dir: Path,
    serve_connection: ServeConnection,
    *,
    is_idle: Callable[[], bool] = lambda: True,
    status: Callable[[], Mapping[str, Any]] = lambda: {},
    stop: Callable[[], Awaitable[None]] = _nothing,
    linger: float | None = None,
    version: str = __version__,
    listener: DaemonListener | None = None,
    handle_signals: bool = True,
) -> bool:
    """Be the daemon for `state_dir` until stopped (STOP, a signal, REPLACE, or lingering out).

    Returns False at once when another daemon already serves the state dir. `listener` is one already claimed
    (the CLI claims it before importing the heavy parts, so racing starters settle quickly).
    """
    if listener is None:
        listener = await asyncio.to_thread(claim_or_defer, state_dir)
        if listener is None:
            log.info("another daemon serves %s", state_dir)
            return False
    hooks = DaemonHooks(serve_connection, is_idle, status, stop)
    daemon = Daemon(listener, hooks, version=version, linger=linger_from_env() if linger is None else linger)
    await daemon.serve(handle_signals=handle_signals)
    return True
