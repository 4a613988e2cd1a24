"""Pending hunks in open documents, as a feature that owns its state: where each hunk is now (following the
user's edits), the hint diagnostics published for it, and noticing when the editor applied a code action's
edit or undid an apply."""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from lsprotocol import types as T
from pygls.workspace import Workspace

from bridge.config import Registry
from bridge.core.manager import SessionManager
from bridge.core.plans import DocLookup, Expectation, LiveDoc, UndoWatch
from bridge.core.session import Session
from bridge.git.hunks import FileChange, hunks_of
from bridge.git.merge import text_sha
from bridge.lsp.views import DocHunk, LineMap, diagnostics
from bridge.uris import file_uri, uri_key

log = logging.getLogger(__name__)


class DocumentsHost(Protocol):
    """What this feature needs of the server that owns it (the BridgeServer)."""

    manager: SessionManager | None
    registry: Registry | None

    @property
    def workspace(self) -> Workspace: ...

    @property
    def client_capabilities(self) -> T.ClientCapabilities: ...

    @property
    def encoding(self) -> str: ...

    def lookup(self) -> DocLookup: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    def text_document_publish_diagnostics(self, params: T.PublishDiagnosticsParams) -> None: ...

    async def workspace_code_lens_refresh_async(self, params: None) -> None: ...


class PendingDocuments:
    def __init__(self, server: DocumentsHost) -> None:
        self._server = server
        self._published: dict[str, str] = {}  # uri key -> uri with diagnostics published
        self._expected: dict[str, list[Expectation]] = {}
        self._undo_watches: dict[str, UndoWatch] = {}
        self._line_maps: dict[tuple[Any, ...], LineMap] = {}

    def closed(self, uri: str) -> None:
        self._published.pop(uri_key(uri), None)

    def doc_hunks(self, uri: str) -> list[DocHunk]:
        if self._server.manager is None:
            return []
        key = uri_key(uri)
        found = []
        doc = self._server.lookup()(uri)
        for live in self._server.manager.sessions.values():
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
        open_docs = {uri_key(uri): uri for uri in self._server.workspace.text_documents}
        for entry in entries:
            uri = open_docs.get(uri_key(entry["uri"]))
            if uri is None:
                continue
            hunks = [h for h in self.doc_hunks(uri) if h.session_id == entry["sessionId"]]
            ranges = {h.hunk.hunk_id: h.range(self._server.encoding) for h in hunks}
            for hunk in entry["hunks"]:
                rng = ranges.get(hunk["hunkId"])
                if rng is not None:
                    hunk["liveRange"] = {
                        "start": {"line": rng.start.line, "character": rng.start.character},
                        "end": {"line": rng.end.line, "character": rng.end.character},
                    }

    def _line_map(self, live: Session, change: FileChange, doc: LiveDoc | None) -> LineMap | None:
        """How the user's edits since the base moved lines; cached per document version and base."""
        base = live.base_texts.get(change.path)
        if doc is None or base is None:
            return None
        key = (live.row.id, change.path, live.base_commit, doc.version, len(doc.text))
        cached = self._line_maps.get(key)
        if cached is None:
            cached = LineMap(base, doc.text)
            if len(self._line_maps) > 256:
                self._line_maps.clear()
            self._line_maps[key] = cached
        return cached

    def refresh_views(self, session_id: str) -> None:
        """Pending hunks changed: republish hint diagnostics and ask the client to refresh code lenses."""
        show = self._server.registry.settings.hint_diagnostics if self._server.registry else True
        current: dict[str, str] = {}
        for uri in list(self._server.workspace.text_documents):
            hunks = self.doc_hunks(uri) if show else []
            if hunks or uri_key(uri) in self._published:
                doc = self._server.workspace.text_documents[uri]
                self._server.text_document_publish_diagnostics(
                    T.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics(hunks, self._server.encoding),
                                               version=doc.version)
                )
            if hunks:
                current[uri_key(uri)] = uri
        self._published = current
        ws = self._server.client_capabilities.workspace if self._server.client_capabilities else None
        if ws and ws.code_lens and ws.code_lens.refresh_support:
            self._server.spawn(self._refresh_lenses())

    async def _refresh_lenses(self) -> None:
        try:
            await self._server.workspace_code_lens_refresh_async(None)
        except Exception as exc:
            log.debug("code lens refresh failed: %s", exc)

    def expect(self, uri: str, expectation: Expectation) -> None:
        """Remember what a code action's edit will make of `uri`, to notice when the editor applied it."""
        pending = self._expected.setdefault(uri_key(uri), [])
        if expectation not in pending:
            pending.append(expectation)

    def check_expectations(self, uri: str) -> None:
        """Called on every document change: did the text just become what one of our code actions makes?"""
        key = uri_key(uri)
        pending = self._expected.get(key)
        if not pending or self._server.manager is None:
            return
        doc = self._server.workspace.text_documents.get(uri)
        if doc is None:
            return
        sha = text_sha(doc.source)
        for expectation in pending:
            if expectation.sha == sha:
                del self._expected[key]
                live = self._server.manager.sessions.get(expectation.session_id)
                if live is not None:
                    self._server.spawn(self._record_applied(live, uri, expectation))
                return

    async def _record_applied(self, live: Session, uri: str, expectation: Expectation) -> None:
        self.watch_undo(await live.record_applied(uri, expectation))

    def watch_undo(self, watches: list[UndoWatch]) -> None:
        for watch in watches:
            self._undo_watches[uri_key(watch.uri)] = watch

    def check_undo(self, uri: str) -> None:
        """Did the user's text go back to what it was before an apply (undo)? Then the hunks are pending again."""
        key = uri_key(uri)
        watch = self._undo_watches.get(key)
        doc = self._server.workspace.text_documents.get(uri)
        if watch is None or doc is None or self._server.manager is None or text_sha(doc.source) != watch.pre_sha:
            return
        del self._undo_watches[key]
        live = self._server.manager.sessions.get(watch.session_id)
        if live is not None:
            self._server.spawn(live.unapply(watch))

