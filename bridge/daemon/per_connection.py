"""A stand-in hub until the shared one lands: each attached client gets its own `BridgeServer` on the
connection, torn down when the client leaves (what `serve` does over stdio, one client at a time).

Good enough to exercise the process layer, not for real use with several windows: each server opens the store
and its own session manager, so two at once do not share sessions and may step on each other's turns."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from pygls.io_ import run_async

from bridge.config import Registry
from bridge.core.ports import BackendFactory
from bridge.factory import BackendFactory as ConcreteFactory
from bridge.lsp.commands import register_commands
from bridge.lsp.handlers import register
from bridge.lsp.server import BridgeServer

log = logging.getLogger(__name__)


def _factory(state_dir: Path, registry: Registry) -> BackendFactory:
    return ConcreteFactory(state_dir, registry.settings)


class _ConnectionServer(BridgeServer):
    """`exit` ends this client's connection, not the daemon (BridgeServer ends its process there)."""

    writer: asyncio.StreamWriter | None = None

    async def exit_after_teardown(self, code: int | None = None) -> None:
        try:
            await self.teardown()
        finally:
            if self._stop_event is not None:
                self._stop_event.set()
            if self.writer is not None:
                self.writer.close()


class PerConnectionHub:
    def __init__(self, state_dir: Path, config_path: Path | None) -> None:
        self.state_dir = state_dir
        self.config_path = config_path
        self.servers: set[BridgeServer] = set()

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]
    ) -> None:
        config = hello.get("config")
        server = _ConnectionServer(self.state_dir, Path(config) if config else self.config_path, _factory)
        register(server)
        register_commands(server)
        server.writer = writer
        server._stop_event = stop = threading.Event()
        server.protocol.set_writer(writer)
        self.servers.add(server)
        try:
            await run_async(stop_event=stop, reader=reader, protocol=server.protocol, logger=log,
                            error_handler=server.report_server_error)
        finally:
            try:
                await server.teardown()
            finally:
                self.servers.discard(server)
                if server._thread_pool is not None:
                    server._thread_pool.shutdown(wait=False, cancel_futures=True)

    def is_idle(self) -> bool:
        return not self.servers

    def status(self) -> dict[str, Any]:
        return {"sessions": sum(len(s.manager.sessions) for s in self.servers if s.manager is not None)}

    async def stop(self) -> None:
        await asyncio.gather(*(s.teardown() for s in list(self.servers)), return_exceptions=True)
