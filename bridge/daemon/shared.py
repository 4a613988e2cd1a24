"""The daemon's one hub: every editor connection is a `BridgeServer` on the same sessions and agents.

A window sees the sessions of its workspace; their events go to every window of that workspace, a question
to all of them (the first answer wins); turns go on when the window that started them closes, and what they
changed is pending when a window of that workspace comes back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from pygls.io_ import run_async

from bridge.config import Registry
from bridge.core.ports import BackendFactory
from bridge.factory import BackendFactory as ConcreteFactory
from bridge.lsp.handlers import build_server
from bridge.lsp.hub import Hub
from bridge.lsp.server import BridgeServer

log = logging.getLogger(__name__)


def _factory(state_dir: Path, registry: Registry) -> BackendFactory:
    return ConcreteFactory(state_dir, registry.settings)


def _track_requests(server: BridgeServer) -> set[Future[Any]]:
    """The requests sent to this window still waiting for its answer (a live set)."""
    pending: set[Future[Any]] = set()
    send = server.protocol.send_request

    def send_request(*args: Any, **kwargs: Any) -> Future[Any]:
        future = send(*args, **kwargs)
        pending.add(future)
        future.add_done_callback(pending.discard)
        return future

    server.protocol.send_request = send_request  # type: ignore[method-assign]
    return pending


class SharedHub:
    def __init__(self, state_dir: Path, config_path: Path | None) -> None:
        self.state_dir = state_dir
        self.config_path = config_path
        self.hub = Hub(state_dir, _factory)
        self.servers: set[BridgeServer] = set()

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]
    ) -> None:
        """Serve one window until it leaves; its sessions, turns and agents stay with the hub."""
        config = hello.get("config")
        server = build_server(self.state_dir, Path(config) if config else self.config_path, _factory, self.hub)
        stop = threading.Event()

        def close(code: int = 0) -> None:  # `exit` ends this window's connection, never the daemon
            stop.set()
            writer.close()

        server.finish = close
        server.close_connection = close
        server.protocol.set_writer(writer)
        unanswered = _track_requests(server)
        self.servers.add(server)
        try:
            await run_async(stop_event=stop, reader=reader, protocol=server.protocol, logger=log,
                            error_handler=server.report_server_error)
        except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
            log.info("a window's connection dropped: %s", exc)
        finally:
            stop.set()
            # What waits on this window (a turn's progress, a question) must go on without it: pygls drops
            # answers that come after `shutdown`, and a window that is gone answers nothing. Detached first, so a
            # question it leaves unanswered goes to the workspace's other (or next) window instead.
            self.hub.detach(server)
            for future in list(unanswered):
                if not future.done():
                    future.set_exception(ConnectionResetError("the window left before answering"))
            try:
                await server.teardown()  # detaches the window; the hub and its sessions stay
            finally:
                self.servers.discard(server)
                server.shutdown()  # pygls' own: its thread pool, if one was started

    def is_idle(self) -> bool:
        """No window attached and no turn running or queued: the daemon may stop (linger, a new version)."""
        manager = self.hub.manager
        busy = manager is not None and any(s.current is not None or s.queued for s in manager.sessions.values())
        return not self.servers and not busy

    def status(self) -> dict[str, Any]:
        manager = self.hub.manager
        return {"sessions": len(manager.sessions) if manager is not None else 0, "turns": self.hub.running_turns}

    async def stop(self) -> None:
        """Stop every agent and close the store (the daemon is stopping); windows still attached are closed."""
        for server in list(self.servers):
            server.close_connection()
        await asyncio.gather(*(s.teardown() for s in list(self.servers)), return_exceptions=True)
        await self.hub.close()
