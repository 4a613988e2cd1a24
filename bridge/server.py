"""The LSP server: every handler registered here, each thin; the work lives in the core modules."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from bridge import __version__, changes, commands, worktrees
from bridge.changes import DocLookup, EditorCaps, LiveDoc, PlanConflict
from bridge.commands import InvalidArguments
from bridge.config import Registry, load_registry
from bridge.editor import BridgeError, UnknownSession
from bridge.edits import text_sha
from bridge.hunks import FileChange, split_lines
from bridge.lsp_editor import LspEditor
from bridge.review import DocHunk, LineMap, file_uri, hunks_of, hunks_touching, uri_key
from bridge.sessions import LiveSession, SessionManager
from bridge.store import Store

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid but could not be carried out


class BridgeServer(LanguageServer):
    def __init__(self, state_dir: Path, config_path: Path | None) -> None:
        super().__init__("agent-bridge", __version__)
        self.state_dir = state_dir
        self.config_path = config_path
        self.registry: Registry | None = None
        self.manager: SessionManager | None = None
        self.store: Store | None = None
        self.editor = LspEditor(self, self.refresh_views)
        self.ready = asyncio.Event()
        self._published: dict[str, str] = {}  # uri key -> uri with diagnostics published
        self._background: set[asyncio.Task[Any]] = set()
        self._teardown: asyncio.Future[None] | None = None
        self._expected: dict[str, list[changes.Expectation]] = {}
        self._undo_watches: dict[str, changes.UndoWatch] = {}
        self._line_maps: dict[tuple[Any, ...], LineMap] = {}

    async def teardown(self) -> None:
        """Stop agents and close the store, once: on `shutdown`, or when the client goes away without it.

        Every caller waits for the same run: a client that sends `shutdown` and closes the pipe at once must
        not leave the store open (its worker thread would keep the process alive).
        """
        if self._teardown is None:
            self._teardown = asyncio.ensure_future(self._do_teardown())
        await asyncio.shield(self._teardown)

    async def _do_teardown(self) -> None:
        try:
            if self.manager is not None:
                await self.manager.shutdown()
        finally:
            if self.store is not None:
                await self.store.close()

    async def serve_stdio(self) -> None:
        """Serve one client over stdio until it exits or its pipe closes, then tear down before the loop ends.

        pygls' own `start_io` leaves that to `exit`, which some clients (Neovim on `:qa`) never send; the
        store's worker thread would then keep the process alive.
        """
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        reader = StdinAsyncReader(sys.stdin.buffer, self.thread_pool)
        try:
            await run_async(stop_event=self._stop_event, reader=reader, protocol=self.protocol, logger=log,
                            error_handler=self.report_server_error)
        finally:
            await self.teardown()

    async def serve_tcp(self, host: str, port: int) -> None:
        """Serve one client over TCP; tear down when it disconnects."""
        self._stop_event = stop = threading.Event()
        done = asyncio.Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)
            try:
                await run_async(stop_event=stop, reader=reader, protocol=self.protocol, logger=log,
                                error_handler=self.report_server_error)
            finally:
                await self.teardown()
                done.set()

        tcp = await asyncio.start_server(connection, host, port)
        log.info("serving on %s:%s", host, port)
        async with tcp:
            await done.wait()

    # Helpers used by handlers
    async def core(self) -> SessionManager:
        await asyncio.wait_for(self.ready.wait(), 60)
        assert self.manager is not None
        return self.manager

    @property
    def encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    def editor_caps(self) -> EditorCaps:
        ws = self.client_capabilities.workspace
        edit = ws.workspace_edit if ws else None
        if edit is None:
            return EditorCaps(document_changes=False, resource_operations=frozenset())
        ops = frozenset(str(op.value) for op in edit.resource_operations or ())
        return EditorCaps(document_changes=bool(edit.document_changes), resource_operations=ops)

    def lookup(self) -> DocLookup:
        docs = {uri_key(uri): doc for uri, doc in self.workspace.text_documents.items()}

        def find(uri: str) -> LiveDoc | None:
            doc = docs.get(uri_key(uri))
            return LiveDoc(doc.source, doc.version) if doc is not None else None

        return find

    def doc_hunks(self, uri: str) -> list[DocHunk]:
        if self.manager is None:
            return []
        key = uri_key(uri)
        found = []
        doc = self.lookup()(uri)
        for live in self.manager.sessions.values():
            for change in live.pending:
                if uri_key(file_uri(live.repo_root, change.path)) != key:
                    continue
                line_map = self._line_map(live, change, doc)
                for hunk in hunks_of(change):
                    row = live.attribution.get((change.path, hunk.hunk_id))
                    delta = line_map(hunk.old_start) - hunk.old_start if line_map else 0
                    found.append(DocHunk(live.row.id, uri, change, hunk, row.agent if row else "unknown",
                                         row.turn_id if row else None, delta))
        return found

    def _line_map(self, live: LiveSession, change: FileChange, doc: LiveDoc | None) -> LineMap | None:
        """How the user's edits since the base moved lines; cached per document version and base."""
        base = live.base_texts.get(change.path)
        if doc is None or base is None:
            return None
        key = (live.row.id, change.path, live.worktree.base_commit, doc.version, len(doc.text))
        cached = self._line_maps.get(key)
        if cached is None:
            cached = LineMap(base, doc.text)
            if len(self._line_maps) > 256:
                self._line_maps.clear()
            self._line_maps[key] = cached
        return cached

    def refresh_views(self, session_id: str) -> None:
        """Pending hunks changed: republish hint diagnostics and ask the client to refresh code lenses."""
        from bridge.review import diagnostics

        show = self.registry.settings.hint_diagnostics if self.registry else True
        current: dict[str, str] = {}
        for uri in list(self.workspace.text_documents):
            hunks = self.doc_hunks(uri) if show else []
            if hunks or uri_key(uri) in self._published:
                doc = self.workspace.text_documents[uri]
                self.text_document_publish_diagnostics(
                    T.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics(hunks, self.encoding),
                                               version=doc.version)
                )
            if hunks:
                current[uri_key(uri)] = uri
        self._published = current
        ws = self.client_capabilities.workspace if self.client_capabilities else None
        if ws and ws.code_lens and ws.code_lens.refresh_support:
            self._spawn(self._refresh_lenses())

    async def _refresh_lenses(self) -> None:
        try:
            await self.workspace_code_lens_refresh_async(None)
        except Exception as exc:
            log.debug("code lens refresh failed: %s", exc)

    def expect(self, uri: str, expectation: changes.Expectation) -> None:
        """Remember what a code action's edit will make of `uri`, to notice when the editor applied it."""
        pending = self._expected.setdefault(uri_key(uri), [])
        if expectation not in pending:
            pending.append(expectation)

    def check_expectations(self, uri: str) -> None:
        """Called on every document change: did the text just become what one of our code actions makes?"""
        key = uri_key(uri)
        pending = self._expected.get(key)
        if not pending or self.manager is None:
            return
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            return
        sha = text_sha(doc.source)
        for expectation in pending:
            if expectation.sha == sha:
                del self._expected[key]
                live = self.manager.sessions.get(expectation.session_id)
                if live is not None:
                    self._spawn(self._record_applied(live, uri, expectation))
                return

    async def _record_applied(self, live: LiveSession, uri: str, expectation: changes.Expectation) -> None:
        assert self.manager is not None
        self.watch_undo(await changes.record_applied(self.manager, live, uri, expectation))

    def watch_undo(self, watches: list[changes.UndoWatch]) -> None:
        for watch in watches:
            self._undo_watches[uri_key(watch.uri)] = watch

    def check_undo(self, uri: str) -> None:
        """Did the user's text go back to what it was before an apply (undo)? Then the hunks are pending again."""
        key = uri_key(uri)
        watch = self._undo_watches.get(key)
        doc = self.workspace.text_documents.get(uri)
        if watch is None or doc is None or self.manager is None or text_sha(doc.source) != watch.pre_sha:
            return
        del self._undo_watches[key]
        live = self.manager.sessions.get(watch.session_id)
        if live is not None:
            self._spawn(changes.unapply(self.manager, live, watch))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def send_edit(self, edit: T.WorkspaceEdit, label: str) -> tuple[bool, str | None]:
        result = await self.workspace_apply_edit_async(T.ApplyWorkspaceEditParams(edit=edit, label=label))
        return bool(result.applied), result.failure_reason

    def workspace_root(self) -> Path | None:
        folders = list(self.workspace.folders.values())
        if folders:
            path = to_fs_path(folders[0].uri)
            return Path(path) if path else None
        root = self.workspace.root_path
        return Path(root) if root else None


def build_server(state_dir: Path, config_path: Path | None) -> BridgeServer:
    server = BridgeServer(state_dir, config_path)
    register(server)
    return server


def _bridge_errors(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Map the core's errors to JSON-RPC errors whose message says what went wrong."""

    async def wrapper(ls: BridgeServer, *args: Any) -> Any:
        try:
            return await fn(ls, *args)
        except InvalidArguments as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        except UnknownSession as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        except BridgeError as exc:
            raise JsonRpcException(str(exc), REQUEST_FAILED) from None

    wrapper.__name__ = fn.__name__
    return wrapper


def register(server: BridgeServer) -> None:
    @server.feature(T.INITIALIZE)
    def initialize(ls: BridgeServer, params: T.InitializeParams) -> None:
        root = ls.workspace_root()
        ls.registry = load_registry(ls.config_path, root, params.initialization_options)
        for warning in ls.registry.warnings:
            log.warning("configuration: %s", warning)

    @server.feature(T.INITIALIZED)
    async def initialized(ls: BridgeServer, params: T.InitializedParams) -> None:
        assert ls.registry is not None
        for warning in ls.registry.warnings:
            ls.editor.log(f"configuration: {warning}", error=True)
        ls.store = await Store.open(ls.state_dir / "state.db")
        ls.manager = SessionManager(ls.store, ls.state_dir, ls.registry, ls.editor)
        await ls.manager.start()
        ls.ready.set()

    @server.feature(T.SHUTDOWN)
    async def shutdown(ls: BridgeServer, params: None) -> None:
        await ls.teardown()

    # Commands
    @server.command(commands.PROMPT)
    @_bridge_errors
    async def prompt(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_prompt(commands.single_argument(commands.PROMPT, list(args)))
        manager = await ls.core()
        context = None
        workspace = ls.workspace_root()
        if parsed.uri is not None:
            path = to_fs_path(parsed.uri)
            if path is None:
                raise InvalidArguments(f"{commands.PROMPT}: cannot map {parsed.uri!r} to a file")
            if parsed.session_id is None:
                workspace = Path(path) if workspace is None else workspace
            if parsed.range is not None:
                repo_root = manager.session(parsed.session_id).repo_root if parsed.session_id else None
                doc = ls.lookup()(parsed.uri)
                context = await asyncio.to_thread(_selection, doc, repo_root, Path(path), parsed.range)
        if workspace is None:
            raise BridgeError("no workspace folder is open; open a folder inside a git repository or pass 'uri'")
        session_id, turn_id = await manager.prompt(parsed.text, parsed.agent, parsed.session_id, workspace, context)
        return {"sessionId": session_id, "turnId": turn_id}

    @server.command(commands.AWAIT_TURN)
    @_bridge_errors
    async def await_turn(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_await_turn(commands.single_argument(commands.AWAIT_TURN, list(args)))
        manager = await ls.core()
        result = await manager.await_turn(parsed.session_id, parsed.turn_id, parsed.timeout)
        return result.to_json()

    @server.command(commands.CANCEL)
    @_bridge_errors
    async def cancel(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_session(commands.CANCEL, commands.single_argument(commands.CANCEL, list(args)))
        manager = await ls.core()
        return {"cancelled": await manager.cancel(parsed.session_id)}

    @server.command(commands.SESSIONS)
    @_bridge_errors
    async def sessions(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        commands.parse_empty(commands.SESSIONS, commands.single_argument(commands.SESSIONS, list(args)))
        manager = await ls.core()
        return await manager.describe_sessions()

    @server.command(commands.CLOSE_SESSION)
    @_bridge_errors
    async def close_session(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        arg = commands.single_argument(commands.CLOSE_SESSION, list(args))
        parsed = commands.parse_session(commands.CLOSE_SESSION, arg)
        manager = await ls.core()
        return {"closed": await manager.close_session(parsed.session_id)}

    @server.command(commands.AGENTS)
    @_bridge_errors
    async def agents(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        commands.parse_empty(commands.AGENTS, commands.single_argument(commands.AGENTS, list(args)))
        manager = await ls.core()
        return manager.describe_agents()

    @server.command(commands.PENDING)
    @_bridge_errors
    async def pending(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        from bridge.review import pending_json

        parsed = commands.parse_pending(commands.single_argument(commands.PENDING, list(args)))
        manager = await ls.core()
        lives = [manager.session(parsed.session_id)] if parsed.session_id else list(manager.sessions.values())
        out = []
        for live in lives:
            entries = pending_json(live.row.id, live.repo_root, live.pending, live.attribution, ls.encoding)
            if parsed.uri is not None:
                key = uri_key(parsed.uri)
                entries = [e for e in entries if key in (uri_key(e["uri"]), uri_key(e.get("oldUri", e["uri"])))]
            out.extend(entries)
        return out

    @server.command(commands.APPLY)
    @_bridge_errors
    async def apply(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_selection(commands.APPLY, commands.single_argument(commands.APPLY, list(args)))
        manager = await ls.core()
        live = manager.session(parsed.session_id)
        result, watches = await changes.apply(
            manager, live, parsed.uri, parsed.hunk_id, ls.lookup(), ls.editor_caps(), ls.encoding, ls.send_edit
        )
        ls.watch_undo(watches)
        return result

    @server.command(commands.REJECT)
    @_bridge_errors
    async def reject(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_selection(commands.REJECT, commands.single_argument(commands.REJECT, list(args)))
        manager = await ls.core()
        live = manager.session(parsed.session_id)
        return {"rejected": await changes.reject(manager, live, parsed.uri, parsed.hunk_id)}

    @server.command(commands.DIFF)
    @_bridge_errors
    async def diff(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_file(commands.DIFF, commands.single_argument(commands.DIFF, list(args)))
        manager = await ls.core()
        live = manager.session(parsed.session_id)
        return await asyncio.to_thread(changes.file_versions, live, parsed.uri)

    # Documents and views
    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BridgeServer, params: T.DidOpenTextDocumentParams) -> None:
        ls.check_expectations(params.text_document.uri)
        if ls.manager is not None:
            ls.refresh_views("")

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BridgeServer, params: T.DidChangeTextDocumentParams) -> None:
        ls.check_undo(params.text_document.uri)
        ls.check_expectations(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BridgeServer, params: T.DidCloseTextDocumentParams) -> None:
        ls._published.pop(uri_key(params.text_document.uri), None)

    @server.feature(
        T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix])
    )
    async def code_action(ls: BridgeServer, params: T.CodeActionParams) -> list[T.CodeAction] | None:
        from bridge.review import apply_action, apply_command_action, conflict_action, reject_action

        only = params.context.only
        if only and not any(str(k).startswith("quickfix") for k in only):
            return None
        if ls.manager is None:
            return None
        uri = params.text_document.uri
        touching = hunks_touching(ls.doc_hunks(uri), params.range, ls.encoding)
        actions: list[T.CodeAction] = []
        lookup, caps = ls.lookup(), ls.editor_caps()
        for h in touching:
            live = ls.manager.sessions.get(h.session_id)
            if live is None:
                continue
            whole = not h.change.hunks or h.change.change in ("create", "delete", "rename")
            try:
                plan = await asyncio.to_thread(
                    changes.plan_file, live, h.change, None if whole else [h.hunk], lookup, caps, ls.encoding
                )
                edit = changes.workspace_edit([plan], caps)
                if edit is None or plan.disk_write is not None:
                    # Nothing to put in the buffer (binary, or already there): let the command do it.
                    actions.append(apply_command_action(h))
                else:
                    actions.append(apply_action(h, edit))
                    if plan.expect_sha:
                        ls.expect(plan.uri, changes.Expectation(h.session_id, (h.hunk.hunk_id,), plan.expect_sha,
                                                                plan.pre_sha))
            except PlanConflict as exc:
                actions.append(conflict_action(h, str(exc)))
            actions.append(reject_action(h))
        return actions

    @server.feature(T.TEXT_DOCUMENT_CODE_LENS, T.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: BridgeServer, params: T.CodeLensParams) -> list[T.CodeLens]:
        from bridge.review import code_lenses

        return code_lenses(ls.doc_hunks(params.text_document.uri), ls.encoding)

    @server.feature(T.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def progress_cancel(ls: BridgeServer, params: T.WorkDoneProgressCancelParams) -> None:
        turn_id = ls.editor.token_turns.get(str(params.token))
        if turn_id is None or ls.manager is None:
            return
        for live in ls.manager.sessions.values():
            if live.current is not None and live.current.id == turn_id:
                await ls.manager.cancel(live.row.id)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background work failed: %s", task.exception())


def _selection(
    doc: LiveDoc | None, repo_root: Path | None, path: Path, rng: commands.Range
) -> tuple[str, str, int, int]:
    """(repo-relative path, selected text, first line, last line) of a prompt's selection (blocking)."""
    if doc is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BridgeError(f"cannot read {path}: {exc}") from None
    else:
        text = doc.text
    lines = split_lines(text)
    end_line = rng.end.line if rng.end.character > 0 or rng.end.line == rng.start.line else rng.end.line - 1
    selected = "".join(lines[rng.start.line : end_line + 1])
    if repo_root is None:
        try:
            repo_root = worktrees.find_repo_root(path)
        except worktrees.NotAGitRepository:
            raise BridgeError(f"{path} is not inside a git repository") from None
    try:
        rel = path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        raise BridgeError(f"{path} is outside the session's repository {repo_root}") from None
    return rel, selected, rng.start.line, max(end_line, rng.start.line)
