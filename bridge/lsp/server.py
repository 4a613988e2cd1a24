"""The server object: its transports, teardown, what the client can do, and the pending hunks in open
documents (views, and noticing when the editor applied or undid a change)."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from bridge import __version__
from bridge.config import Registry
from bridge.core import changes
from bridge.core.changes import DocLookup, EditorCaps, LiveDoc
from bridge.core.manager import SessionManager
from bridge.core.session import LiveSession
from bridge.git.hunks import FileChange
from bridge.git.merge import text_sha
from bridge.lsp.editor import LspEditor
from bridge.lsp.views import DocHunk, LineMap, diagnostics, file_uri, hunks_of, uri_key
from bridge.store import Store

log = logging.getLogger(__name__)


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

    def add_live_ranges(self, entries: list[dict[str, Any]]) -> None:
        """Give hunks of open documents a `liveRange`: where they are now, after the user's edits."""
        open_docs = {uri_key(uri): uri for uri in self.workspace.text_documents}
        for entry in entries:
            uri = open_docs.get(uri_key(entry["uri"]))
            if uri is None:
                continue
            hunks = [h for h in self.doc_hunks(uri) if h.session_id == entry["sessionId"]]
            ranges = {h.hunk.hunk_id: h.range(self.encoding) for h in hunks}
            for hunk in entry["hunks"]:
                rng = ranges.get(hunk["hunkId"])
                if rng is not None:
                    hunk["liveRange"] = {
                        "start": {"line": rng.start.line, "character": rng.start.character},
                        "end": {"line": rng.end.line, "character": rng.end.character},
                    }

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


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background work failed: %s", task.exception())
