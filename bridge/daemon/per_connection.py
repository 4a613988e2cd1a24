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

from lsprotocol import types as T
from pygls.io_ import run_async

from bridge.config import Registry
from bridge.core.ports import BackendFactory
from bridge.factory import BackendFactory as ConcreteFactory
from bridge.lsp.commands import register_commands
from bridge.lsp.handlers import register
from bridge.lsp.server import BridgeServer
from bridge.store import Store

log = logging.getLogger(__name__)


def _factory(state_dir: Path, registry: Registry) -> BackendFactory:
    return ConcreteFactory(state_dir, registry.settings)


class PerConnectionHub:
    def __init__(self, state_dir: Path, config_path: Path | None) -> None:
        self.state_dir = state_dir
        self.config_path = config_path
        self.servers: set[BridgeServer] = set()
        self._store_ready = False
        self._store_lock = asyncio.Lock()

    async def _prepare_store(self) -> None:
        """Create and migrate `state.db` once, before any server opens it: two first opens at the same moment
        (two windows attaching at once) would race for the schema and the journal mode."""
        async with self._store_lock:
            if not self._store_ready:
                await (await Store.open(self.state_dir / "state.db")).close()
                self._store_ready = True

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]
    ) -> None:
        await self._prepare_store()
        config = hello.get("config")
        server = BridgeServer(self.state_dir, Path(config) if config else self.config_path, _factory)
        register(server)
        register_commands(server)
        server._stop_event = stop = threading.Event()

        async def end_connection(*_params: Any) -> None:
            # `exit` ends this client's connection, not the daemon: both BridgeServer's handler and pygls' own
            # end the process there.
            try:
                await server.teardown()
            finally:
                stop.set()
                writer.close()

        server.protocol.fm.builtin_features[T.EXIT] = end_connection
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
