"""The server object: its transports, teardown, what the client can do, and the composition of the core
(store, session manager, backend factory) once the client has said who it is.

One BridgeServer serves one client: its protocol, output, documents and core belong to that connection
(bridge.lsp.tcp builds one per TCP connection)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException, JsonRpcServerNotInitialized
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from bridge import __version__
from bridge.config import Registry, load_registry
from bridge.core.manager import SessionManager
from bridge.core.plans import DocLookup, EditOp, EditorCaps, LiveDoc
from bridge.core.session import Session
from bridge.lsp.documents import PendingDocuments
from bridge.lsp.editor import LspEditor
from bridge.lsp.edits import client_caps, workspace_edit
from bridge.lsp.hub import FactoryMaker, Hub
from bridge.uris import uri_key

log = logging.getLogger(__name__)


# Decides whether an `initialize` may proceed: None to admit it, else the message of the error it gets.
Admission = Callable[[T.InitializeParams], Awaitable[str | None]]
AUTH_TOKEN = "authToken"  # the initializationOptions key a TCP client authenticates with
REQUEST_FAILED = -32803  # LSP's RequestFailed: what a refused `initialize` gets


class GatedProtocol(LanguageServerProtocol):
    """Nothing reaches a feature before an admitted `initialize`.

    pygls dispatches whatever arrives, in any order: a `workspace/executeCommand` sent without `initialize`
    would run. Until `initialize` is admitted (BridgeServer.admission: the TCP token, one editor at a time),
    requests get ServerNotInitialized, notifications are dropped, and a refused `initialize` gets its error
    and closes the connection. `exit` is handled here, not by pygls, whose own handler ends the process with
    SystemExit from a callback: over TCP that would stop the listener and every other client.
    """

    _server: BridgeServer

    def __init__(self, server: BridgeServer, converter: Any) -> None:
        super().__init__(server, converter)
        self.admitted = False
        self._admitting = False

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method == T.EXIT:
            self._server.spawn(self._server.exit_after_teardown())
            return
        if self.admitted:
            super().handle_message(message)
            return
        msg_id = getattr(message, "id", None)
        if method is None or msg_id is None:
            log.info("dropped %s received before initialize", method or "a response")
            return
        admission = self._server.admission
        if method == T.INITIALIZE and admission is None:
            self.admitted = True
            super().handle_message(message)
            return
        if method == T.INITIALIZE and admission is not None and not self._admitting:
            self._admitting = True
            self._server.spawn(self._admit(message, admission))
            return
        error = JsonRpcServerNotInitialized(f"{method}: the server is not initialized; send initialize first")
        self._send_response(msg_id, error=error.to_response_error())

    async def _admit(self, message: Any, admission: Admission) -> None:
        refusal = await admission(message.params)
        if refusal is not None:
            log.warning("initialize refused: %s", refusal)
            error = JsonRpcException(refusal, REQUEST_FAILED, data={"retry": False})
            self._send_response(message.id, error=error.to_response_error())
            self._server.close_connection()
            return
        self.admitted = True
        super().handle_message(message)


def _end_process(code: int) -> None:
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


class BridgeServer(LanguageServer):
    protocol: GatedProtocol

    def __init__(
        self, state_dir: Path, config_path: Path | None, make_factory: FactoryMaker, hub: Hub | None = None
    ) -> None:
        super().__init__("agent-bridge", __version__, protocol_cls=GatedProtocol)
        self.state_dir = state_dir
        self.config_path = config_path
        self.make_factory = make_factory
        # The core this window uses: its own (closed when it leaves), or one it shares with other windows.
        self.hub = hub if hub is not None else Hub(state_dir, make_factory)
        self._owns_hub = hub is None
        self.registry: Registry | None = None
        self.init_options: Any = None
        self.shutdown_requested = False
        self.manager: SessionManager | None = None
        self.documents = PendingDocuments(self)
        self.editor = LspEditor(self, self.documents.refresh_views, self.pending_hunks)
        self.ready = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._teardown: asyncio.Future[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        # Set by the transport. admission: None admits every `initialize` (stdio: the editor started us).
        # finish: what follows `exit` once torn down (stdio: end the process; TCP: close the connection).
        # close_connection: drop this client (a refused `initialize`); stdio has nothing else to serve.
        self.admission: Admission | None = None
        self.finish: Callable[[int], None] = _end_process
        self.close_connection: Callable[[], None] = lambda: self.finish(1)

    def begin_teardown(self) -> asyncio.Future[None]:
        """Start stopping agents and closing the store, once; `shutdown` answers without waiting for it."""
        if self._teardown is None:
            self._teardown = asyncio.ensure_future(self._do_teardown())
        return self._teardown

    async def exit_after_teardown(self, code: int | None = None) -> None:
        """`exit`: wait until every agent has stopped and the store is closed, then `finish` (stdio: end the
        process; TCP: end this connection only).

        Ending it here, not through pygls' own exit, is deliberate: that raises SystemExit from a callback,
        which can close the event loop under a teardown still running (leaving agents, or the store's
        non-daemon thread, behind).
        """
        try:
            await self.teardown()
        finally:
            self.finish(code if code is not None else 0 if self.shutdown_requested else 1)

    def exit_on_signals(self) -> None:
        """SIGTERM or SIGHUP (a supervisor, a closed terminal, a client that kills instead of sending `exit`):
        tear down as `exit` does, then end with 0. Python's default ends the process at once, and an opencode
        server (a session of its own, so its tools go with it) would outlive the bridge."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        log.info("%s: stopping the agents, then exiting", signal.Signals(sig).name)
        self.spawn(self.exit_after_teardown(0))

    async def teardown(self) -> None:
        """Wait for the one teardown: on `exit`, or when the client goes away without it.

        Every caller waits for the same run: a client that sends `shutdown` and closes the pipe at once must
        not leave the store open (its worker thread would keep the process alive), and no agent may outlive it.
        """
        await asyncio.shield(self.begin_teardown())

    async def start_core(self, start: Callable[[], Awaitable[None]]) -> None:
        """Open the store and start the core (on `initialized`), unless the client is already leaving.

        Teardown waits for this: a client that sends `initialized` and leaves at once (over TCP the next one
        may be waiting) must not have its store and agents come up after the teardown found nothing to stop.
        """
        if self._teardown is not None:
            return
        self._starting = asyncio.ensure_future(start())
        await asyncio.shield(self._starting)

    async def _do_teardown(self) -> None:
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await self._starting
        self.hub.detach(self)
        if self._owns_hub:
            await self.hub.close()

    async def serve_stdio(self) -> None:
        """Serve one client over stdio until it exits or its pipe closes, then tear down before the loop ends.

        pygls' own `start_io` leaves that to `exit`, which some clients (Neovim on `:qa`) never send; the
        store's worker thread would then keep the process alive.
        """
        self._stop_event = threading.Event()
        self.exit_on_signals()
        self.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        reader = StdinAsyncReader(sys.stdin.buffer, self.thread_pool)
        try:
            await run_async(stop_event=self._stop_event, reader=reader, protocol=self.protocol, logger=log,
                            error_handler=self.report_server_error)
        finally:
            await self.teardown()

    def reconfigure(self, changed: Any) -> None:
        """Re-read the configuration (files, initializationOptions, then `changed`) and apply what can change
        while running: agents and the default agent, pool limits, watchdogs, hint diagnostics."""
        registry = load_registry(self.config_path, self.workspace_root(), self.init_options, changed)
        for warning in registry.warnings:
            self.editor.log(f"configuration: {warning}", error=True)
        self.registry = registry
        if self.manager is not None:
            self.manager.reconfigure(registry, self.workspace_key())
        self.documents.refresh_views("")

    def refresh_views(self, session_id: str) -> None:
        self.documents.refresh_views(session_id)

    def pending_hunks(self, session_id: str) -> int:
        """How many hunks of a live session wait for review (0 when it is not live here)."""
        manager = self.hub.manager  # this window's own is set only once it has attached
        live = manager.sessions.get(session_id) if manager is not None else None
        return live.hunk_count() if live is not None else 0

    # Helpers used by handlers
    async def core(self, session_id: str | None = None, wait: bool = True) -> SessionManager:
        """The core, once ready; with `session_id`, only if this window sees that session (else UnknownSession),
        and once that session exists if it is still being prepared (unless not `wait`: awaitTurn and cancel act
        on a session in the making)."""
        await asyncio.wait_for(self.ready.wait(), 60)
        assert self.manager is not None
        if session_id is not None:
            if wait:
                await self.manager.prepared(session_id, self.workspace_key())
            self.manager.visible(session_id, self.workspace_key())
        return self.manager

    async def session(self, session_id: str) -> Session:
        """A live session this window sees (UnknownSession otherwise)."""
        return (await self.core(session_id)).session(session_id, self.workspace_key())

    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    def editor_caps(self) -> EditorCaps:
        return client_caps(self.client_capabilities)

    def lookup(self) -> DocLookup:
        docs = {uri_key(uri): doc for uri, doc in self.workspace.text_documents.items()}

        def find(uri: str) -> LiveDoc | None:
            doc = docs.get(uri_key(uri))
            return LiveDoc(doc.source, doc.version) if doc is not None else None

        return find

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def send_edit(self, operations: Sequence[EditOp], label: str) -> tuple[bool, str | None]:
        edit = workspace_edit(operations, self.editor_caps())
        if edit is None:
            return True, None
        result = await self.workspace_apply_edit_async(T.ApplyWorkspaceEditParams(edit=edit, label=label))
        return bool(result.applied), result.failure_reason

    def show_document(self, uri: str) -> None:
        """Ask the client to open `uri`, if it can; not awaited: the command answers at once, and a client that
        never answers the request holds nothing up."""
        window = self.client_capabilities.window
        support = window.show_document if window is not None else None
        if support is None or not support.support:
            return

        async def ask() -> None:
            try:
                result = await self.window_show_document_async(T.ShowDocumentParams(uri=uri, take_focus=True))
            except (JsonRpcException, OSError) as exc:
                log.info("the client did not open %s: %s", uri, exc)
                return
            if not result.success:
                log.info("the client did not open %s", uri)

        self.spawn(ask())

    def workspace_key(self) -> str | None:
        """The workspace this window's sessions belong to (see SessionManager), or None without a folder."""
        root = self.workspace_root()
        return str(root) if root is not None else None

    def workspace_root(self) -> Path | None:
        folder = next(iter(self.workspace.folders.values()), None)
        return _workspace_root(folder.uri if folder is not None else None, self.workspace.root_path)


# Asked on every request (which sessions does this window see?): parsing the folder's URI each time cost a fifth
# of an idle code action.
@functools.lru_cache(maxsize=64)
def _workspace_root(folder_uri: str | None, root_path: str | None) -> Path | None:
    if folder_uri is not None:
        path = to_fs_path(folder_uri)
        return Path(path) if path else None
    return Path(root_path) if root_path else None


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background work failed: %s", task.exception())
