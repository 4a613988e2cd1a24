"""The LSP lifecycle and document handlers, each thin: the work lives in the core and in the features
(bridge.lsp.documents for pending hunks in open documents, bridge.lsp.commands for the commands)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from lsprotocol import types as T

from bridge.config import load_registry, settings_layer
from bridge.lsp.commands import register_commands
from bridge.lsp.hub import Hub
from bridge.lsp.server import AUTH_TOKEN, BridgeServer, FactoryMaker
from bridge.lsp.textdoc import use_lsp_lines
from bridge.lsp.views import code_lenses
from bridge.protocol import plain

log = logging.getLogger(__name__)


def without_token(options: Any) -> Any:
    """initializationOptions minus `authToken`: the token admitted the connection (bridge.lsp.tcp); it is not
    configuration (the registry would warn about an unknown key) and has no business in later re-reads."""
    if isinstance(options, Mapping) and AUTH_TOKEN in options:
        return {key: value for key, value in options.items() if key != AUTH_TOKEN}
    return options


def build_server(
    state_dir: Path, config_path: Path | None, make_factory: FactoryMaker, hub: Hub | None = None
) -> BridgeServer:
    """A server for one editor connection; with `hub`, one of several sharing that hub's sessions."""
    server = BridgeServer(state_dir, config_path, make_factory, hub)
    register(server)
    register_commands(server)
    return server


async def start_core(ls: BridgeServer) -> None:
    """Attach this window to the (shared) core, with its workspace's configuration."""
    assert ls.registry is not None
    await ls.hub.attach(ls)  # first: what the core says while it starts (restored sessions, reaping) is seen
    manager = await ls.hub.open(ls.registry)
    workspace = ls.workspace_key()
    if workspace is not None:
        await manager.configure(workspace, ls.registry)
    ls.manager = manager
    ls.hub.replay(ls)
    ls.ready.set()


def register(server: BridgeServer) -> None:
    @server.feature(T.INITIALIZE)
    def initialize(ls: BridgeServer, params: T.InitializeParams) -> None:
        use_lsp_lines(ls.workspace)
        root = ls.workspace_root()
        ls.init_options = without_token(params.initialization_options)
        ls.registry = load_registry(ls.config_path, root, ls.init_options)
        for warning in ls.registry.warnings:
            log.warning("configuration: %s", warning)

    @server.feature(T.INITIALIZED)
    async def initialized(ls: BridgeServer, params: T.InitializedParams) -> None:
        assert ls.registry is not None
        for warning in ls.registry.warnings:
            ls.editor.log(f"configuration: {warning}", error=True)
        await ls.start_core(partial(start_core, ls))

    @server.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: BridgeServer, params: T.DidChangeConfigurationParams) -> None:
        ls.reconfigure(settings_layer(plain(params.settings)))

    @server.feature(T.SHUTDOWN)
    def shutdown(ls: BridgeServer, params: None) -> None:
        # Answer at once (clients such as eglot give up after 1.5 s); agents stop concurrently meanwhile.
        ls.shutdown_requested = True
        ls.begin_teardown()

    # `exit` never reaches a feature: GatedProtocol ends the connection (TCP) or the process (stdio) itself.

    # Documents and views
    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BridgeServer, params: T.DidOpenTextDocumentParams) -> None:
        ls.documents.check_expectations(params.text_document.uri)
        if ls.manager is not None:
            ls.documents.refresh_views("")

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BridgeServer, params: T.DidChangeTextDocumentParams) -> None:
        ls.documents.check_undo(params.text_document.uri)
        ls.documents.check_expectations(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_SAVE, T.SaveOptions(include_text=False))
    def did_save(ls: BridgeServer, params: T.DidSaveTextDocumentParams) -> None:
        # Nothing to do: the next turn's catch-up snapshot reads the saved file from disk (and open buffers
        # from the editor). Handled, and advertised without text, so clients that always send it (eglot) get
        # no "unknown method" warning in the log.
        return None

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BridgeServer, params: T.DidCloseTextDocumentParams) -> None:
        ls.documents.closed(params.text_document.uri)

    @server.feature(
        T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix])
    )
    async def code_action(ls: BridgeServer, params: T.CodeActionParams) -> list[T.CodeAction] | None:
        only = params.context.only
        if only and not any(str(k).startswith("quickfix") for k in only):
            return None
        return await ls.documents.code_actions(params.text_document.uri, params.range)

    @server.feature(T.TEXT_DOCUMENT_CODE_LENS, T.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: BridgeServer, params: T.CodeLensParams) -> list[T.CodeLens]:
        return code_lenses(await ls.documents.hunks_in(params.text_document.uri), ls.encoding)

    @server.feature(T.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def progress_cancel(ls: BridgeServer, params: T.WorkDoneProgressCancelParams) -> None:
        turn_id = ls.editor.token_turns.get(str(params.token))
        if turn_id is None or ls.manager is None:
            return
        for live in ls.manager.sessions.values():
            if live.current is not None and live.current.id == turn_id:
                live.cancel()
