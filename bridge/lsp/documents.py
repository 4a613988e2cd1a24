"""Pending hunks in open documents, as a feature that owns its state: where each hunk is now (following the
user's edits), the hint diagnostics published for it, and noticing when the editor applied a code action's
edit or undid an apply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types as T
from pygls.workspace import Workspace

from bridge import protocol as wire
from bridge.config import Registry
from bridge.core.manager import SessionManager
from bridge.core.plans import DocLookup, EditorCaps, Expectation, FilePlan, LiveDoc, UndoWatch
from bridge.core.session import Session
from bridge.errors import PlanConflict
from bridge.git.hunks import FileChange, Hunk, hunks_of
from bridge.git.merge import text_sha
from bridge.lsp.comment_prompts import comment_prompt_actions
from bridge.lsp.editor import CLIENT_ERRORS
from bridge.lsp.edits import workspace_edit
from bridge.lsp.linemap import LineMap
from bridge.lsp.views import (
    DocHunk,
    apply_action,
    apply_command_action,
    conflict_action,
    diagnostics,
    hunks_touching,
    last_text_line,
    pending_files,
    reject_action,
)
from bridge.textlines import LspLines
from bridge.uris import file_uri, printable, to_path, uri_key

log = logging.getLogger(__name__)

# Documents at least this long have their hunk mapping computed off the event loop.
LARGE_DOCUMENT = 20_000  # characters

_View = tuple[LineMap, LspLines]


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

    def workspace_key(self) -> str | None: ...

    def workspace_root(self) -> Path | None: ...

    def editor_caps(self) -> EditorCaps: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    def text_document_publish_diagnostics(self, params: T.PublishDiagnosticsParams) -> None: ...

    async def workspace_code_lens_refresh_async(self, params: None) -> None: ...


class PendingDocuments:
    def __init__(self, server: DocumentsHost) -> None:
        self._server = server
        self._published: dict[str, str] = {}  # uri key -> uri with diagnostics published
        self._expected: dict[str, list[Expectation]] = {}
        self._undo_watches: dict[str, UndoWatch] = {}
        self._views: dict[tuple[Any, ...], _View] = {}
        # In-memory plans by (session, file, hunk, document version, ...), with the change and base texts they
        # were made from: editors ask for code actions at every cursor move, on the same few versions.
        self._plans: dict[tuple[Any, ...], tuple[object, object, FilePlan]] = {}
        self._publishing: asyncio.Task[None] | None = None
        self._republish = False

    def closed(self, uri: str) -> None:
        self._published.pop(uri_key(uri), None)

    def doc_hunks(self, uri: str) -> list[DocHunk]:
        """Every session's pending hunks in one document, where they are now. Call `prepare` first for large
        documents: what it has not computed is computed here, on the event loop."""
        if self._server.manager is None:
            return []
        key = uri_key(uri)
        found = []
        doc = self._server.lookup()(uri)
        for live in self._server.manager.sessions_of(self._server.workspace_key()):
            for change in live.pending:
                if uri_key(file_uri(live.repo_root, change.path)) != key:
                    continue
                view = self._view(live, change, doc)
                for hunk in hunks_of(change):
                    row = live.attribution.get((change.path, hunk.hunk_id))
                    delta = view[0](hunk.old_start) - hunk.old_start if view else 0
                    found.append(DocHunk(live.row.id, uri, change, hunk, row.agent if row else "unknown",
                                         row.turn_id if row else None, delta, view[1] if view else None,
                                         row.conflict if row else None))
        return found

    async def hunks_in(self, uri: str) -> list[DocHunk]:
        """`doc_hunks`, with the mapping of a large document computed in a thread."""
        await self.prepare([uri])
        return self.doc_hunks(uri)

    async def prepare(self, uris: Iterable[str]) -> None:
        """Compute the hunk mapping of these open documents off the event loop when they are large: following
        the user's edits through a big file must not freeze every other session."""
        manager = self._server.manager
        if manager is None:
            return
        lookup = self._server.lookup()
        keys = {uri_key(uri): uri for uri in uris}
        for live in manager.sessions_of(self._server.workspace_key()):
            for change in live.pending:
                uri = keys.get(uri_key(file_uri(live.repo_root, change.path)))
                doc = lookup(uri) if uri is not None else None
                base = live.base_texts.get(change.path)
                if doc is None or base is None or len(doc.text) < LARGE_DOCUMENT:
                    continue
                key = self._view_key(live, change, doc)
                if key not in self._views:
                    self._remember(key, await asyncio.to_thread(_compute_view, base, doc.text))

    async def pending(self, manager: SessionManager, session_id: str | None, uri: str | None) -> list[wire.PendingFile]:
        """`agentBridge.pending`: one session's (or every session's) pending files, or those of one URI."""
        workspace = self._server.workspace_key()
        if session_id is not None and manager.preparing(session_id, workspace) is not None:
            return []  # its worktree is being made: nothing can be pending yet
        lives = [manager.session(session_id, workspace)] if session_id else manager.sessions_of(workspace)
        live_ranges = await self.live_ranges()
        out = []
        for live in lives:
            files = pending_files(live.id, live.repo_root, live.pending, live.attribution, self._server.encoding,
                                  live_ranges.get(live.id), live.base_texts)
            if uri is not None:
                key = uri_key(uri)
                files = [f for f in files if key in (uri_key(f.uri), uri_key(f.old_uri or f.uri))]
            out.extend(files)
        return out

    async def code_actions(self, uri: str, rng: T.Range) -> list[T.CodeAction]:
        """Apply (the edit itself) and Reject for every pending hunk the range touches, then `Ask agent` for
        every comment prompt (`# ... AI!`) on its lines."""
        lookup = self._server.lookup()
        doc = lookup(uri)
        actions = await self._hunk_actions(uri, rng, lookup, doc)
        if doc is not None and to_path(uri) is not None:
            # Offered before the core is ready too: the prompt command waits for it.
            actions.extend(comment_prompt_actions(doc.text, uri, rng, self._label(uri)))
        return actions

    async def _hunk_actions(self, uri: str, rng: T.Range, lookup: DocLookup, doc: LiveDoc | None) -> list[T.CodeAction]:
        manager = self._server.manager
        if manager is None:
            return []
        encoding, caps = self._server.encoding, self._server.editor_caps()
        actions: list[T.CodeAction] = []
        last_line = last_text_line(doc.text) if doc is not None else None
        for h in hunks_touching(await self.hunks_in(uri), rng, encoding, last_line):
            live = manager.sessions.get(h.session_id)
            if live is None:
                continue
            whole = not h.change.hunks or h.change.change in ("create", "delete", "rename")
            chosen = None if whole else [h.hunk]
            try:
                if _plans_in_memory(live, h, doc):
                    # Nothing to read from git or disk, and small: a thread hop would cost more than the merge.
                    plan = self._plan_in_memory(live, h, chosen, lookup, caps, encoding, doc)
                else:
                    plan = await asyncio.to_thread(live.plan, h.change, chosen, lookup, caps, encoding)
            except PlanConflict as exc:
                actions.append(conflict_action(h, str(exc)))
            except ValueError:
                # The hunk no longer fits the session's base: an apply just moved the base and the pending list
                # is being refreshed (fresh diagnostics follow). Offer nothing for it rather than fail the request.
                continue
            else:
                edit = workspace_edit(plan.operations, caps)
                if edit is None or plan.disk_write is not None:
                    # Nothing to put in the buffer (binary, or already there): let the command do it.
                    actions.append(apply_command_action(h))
                else:
                    actions.append(apply_action(h, edit))
                    if plan.expect_sha:
                        self.expect(plan.uri, Expectation(h.session_id, (h.hunk.hunk_id,), plan.expect_sha,
                                                          plan.pre_sha))
            actions.append(reject_action(h))
        return actions

    def _plan_in_memory(self, live: Session, h: DocHunk, chosen: list[Hunk] | None, lookup: DocLookup,
                        caps: EditorCaps, encoding: str, doc: LiveDoc | None) -> FilePlan:
        if doc is None or doc.version is None:
            return live.plan(h.change, chosen, lookup, caps, encoding)  # no version to know it by
        key = (live.id, h.change.path, h.hunk.hunk_id, chosen is None, doc.version, caps, encoding)
        made = self._plans.get(key)
        if made is not None and made[0] is h.change and made[1] is live.base_texts:
            return made[2]
        plan = live.plan(h.change, chosen, lookup, caps, encoding)
        if len(self._plans) >= _PLANS_KEPT:
            self._plans.clear()
        self._plans[key] = (h.change, live.base_texts, plan)
        return plan

    def _label(self, uri: str) -> str:
        """How a prompt names the document: its path in the workspace, else its path."""
        path = Path(to_path(uri) or uri)
        root = self._server.workspace_root()
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        return printable(path.as_posix())

    async def live_ranges(self) -> dict[str, dict[tuple[str, str], T.Range]]:
        """Where hunks in open documents are now, after the user's edits, computed once for every session:
        session id -> (uri key, hunk id) -> range."""
        uris = list(self._server.workspace.text_documents)
        await self.prepare(uris)
        ranges: dict[str, dict[tuple[str, str], T.Range]] = {}
        for uri in uris:
            for h in self.doc_hunks(uri):
                ranges.setdefault(h.session_id, {})[(uri_key(uri), h.hunk.hunk_id)] = h.range(self._server.encoding)
        return ranges

    @staticmethod
    def _view_key(live: Session, change: FileChange, doc: LiveDoc) -> tuple[Any, ...]:
        return (live.row.id, change.path, live.base_commit, doc.version, len(doc.text), hash(doc.text))

    def _view(self, live: Session, change: FileChange, doc: LiveDoc | None) -> _View | None:
        """How the user's edits since the base moved lines, and the live text's LSP lines; cached per document
        version and base."""
        base = live.base_texts.get(change.path)
        if doc is None or base is None:
            return None
        key = self._view_key(live, change, doc)
        view = self._views.get(key)
        if view is None:
            view = self._remember(key, _compute_view(base, doc.text))
        return view

    def _remember(self, key: tuple[Any, ...], view: _View) -> _View:
        if len(self._views) > 256:
            self._views.clear()
        self._views[key] = view
        return view

    def refresh_views(self, session_id: str) -> None:
        """Pending hunks changed: republish hint diagnostics and ask the client to refresh code lenses.

        One publication runs at a time (large documents are mapped in a thread); a change while it runs
        publishes once more after it, so the last publication is always of the latest state."""
        if self._publishing is not None and not self._publishing.done():
            self._republish = True
            return
        self._publishing = asyncio.ensure_future(self._publish())
        self._publishing.add_done_callback(_log_failure)

    async def _publish(self) -> None:
        while True:
            self._republish = False
            await self._publish_once()
            if not self._republish:
                return

    async def _publish_once(self) -> None:
        show = self._server.registry.settings.hint_diagnostics if self._server.registry else True
        uris = list(self._server.workspace.text_documents)
        if show:
            await self.prepare(uris)
        current: dict[str, str] = {}
        for uri in uris:
            doc = self._server.workspace.text_documents.get(uri)
            if doc is None:
                continue  # closed meanwhile
            hunks = self.doc_hunks(uri) if show else []
            if hunks or uri_key(uri) in self._published:
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
        except CLIENT_ERRORS as exc:
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


def _compute_view(base: str, live: str) -> _View:
    return LineMap(base, live), LspLines.of(live)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("publishing pending hunks failed: %s", task.exception())


_PLANS_KEPT = 256


def _plans_in_memory(live: Session, h: DocHunk, doc: LiveDoc | None) -> bool:
    """Whether planning this hunk reads nothing but memory: a modified text file whose base text the session
    holds, open in the editor, and small."""
    change = h.change
    return (
        doc is not None
        and change.change == "modify"
        and not change.binary
        and change.path in live.base_texts
        and len(doc.text) < LARGE_DOCUMENT
    )
