"""The LSP handlers: every one registered here, each thin; the work lives in the core modules."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.uris import to_fs_path

from bridge import commands
from bridge.config import load_registry
from bridge.core.manager import SessionManager
from bridge.core.plans import Expectation, LiveDoc
from bridge.errors import BridgeError, InvalidArguments, NotAGitRepository, PlanConflict
from bridge.git import worktrees
from bridge.git.hunks import split_lines
from bridge.lsp.edits import workspace_edit
from bridge.lsp.errors import bridge_errors
from bridge.lsp.server import BridgeServer, FactoryMaker
from bridge.lsp.views import (
    apply_action,
    apply_command_action,
    code_lenses,
    conflict_action,
    hunks_touching,
    pending_json,
    reject_action,
)
from bridge.store import Store
from bridge.uris import uri_key

log = logging.getLogger(__name__)

def build_server(state_dir: Path, config_path: Path | None, make_factory: FactoryMaker) -> BridgeServer:
    server = BridgeServer(state_dir, config_path, make_factory)
    register(server)
    return server


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
        ls.manager = SessionManager(
            ls.store, ls.state_dir, ls.registry, ls.editor, ls.make_factory(ls.state_dir, ls.registry)
        )
        await ls.manager.start()
        ls.ready.set()

    @server.feature(T.SHUTDOWN)
    async def shutdown(ls: BridgeServer, params: None) -> None:
        await ls.teardown()

    # Commands
    @server.command(commands.PROMPT)
    @bridge_errors
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
    @bridge_errors
    async def await_turn(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_await_turn(commands.single_argument(commands.AWAIT_TURN, list(args)))
        manager = await ls.core()
        result = await manager.await_turn(parsed.session_id, parsed.turn_id, parsed.timeout)
        return result.to_json()

    @server.command(commands.CANCEL)
    @bridge_errors
    async def cancel(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_session(commands.CANCEL, commands.single_argument(commands.CANCEL, list(args)))
        manager = await ls.core()
        return {"cancelled": await manager.cancel(parsed.session_id)}

    @server.command(commands.SESSIONS)
    @bridge_errors
    async def sessions(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        commands.parse_empty(commands.SESSIONS, commands.single_argument(commands.SESSIONS, list(args)))
        manager = await ls.core()
        return await manager.describe_sessions()

    @server.command(commands.CLOSE_SESSION)
    @bridge_errors
    async def close_session(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        arg = commands.single_argument(commands.CLOSE_SESSION, list(args))
        parsed = commands.parse_session(commands.CLOSE_SESSION, arg)
        manager = await ls.core()
        return {"closed": await manager.close_session(parsed.session_id)}

    @server.command(commands.AGENTS)
    @bridge_errors
    async def agents(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        commands.parse_empty(commands.AGENTS, commands.single_argument(commands.AGENTS, list(args)))
        manager = await ls.core()
        return manager.describe_agents()

    @server.command(commands.PENDING)
    @bridge_errors
    async def pending(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        parsed = commands.parse_pending(commands.single_argument(commands.PENDING, list(args)))
        manager = await ls.core()
        lives = [manager.session(parsed.session_id)] if parsed.session_id else list(manager.sessions.values())
        out = []
        for live in lives:
            entries = pending_json(live.id, live.repo_root, live.pending, live.attribution, ls.encoding)
            if parsed.uri is not None:
                key = uri_key(parsed.uri)
                entries = [e for e in entries if key in (uri_key(e["uri"]), uri_key(e.get("oldUri", e["uri"])))]
            out.extend(entries)
        ls.documents.add_live_ranges(out)
        return out

    @server.command(commands.APPLY)
    @bridge_errors
    async def apply(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_selection(commands.APPLY, commands.single_argument(commands.APPLY, list(args)))
        manager = await ls.core()
        live = manager.session(parsed.session_id)
        result, watches = await live.apply(
            parsed.uri, parsed.hunk_id, ls.lookup(), ls.editor_caps(), ls.encoding, ls.send_edit
        )
        ls.documents.watch_undo(watches)
        return result

    @server.command(commands.REJECT)
    @bridge_errors
    async def reject(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_selection(commands.REJECT, commands.single_argument(commands.REJECT, list(args)))
        manager = await ls.core()
        live = manager.session(parsed.session_id)
        return {"rejected": await live.reject(parsed.uri, parsed.hunk_id)}

    @server.command(commands.HISTORY)
    @bridge_errors
    async def history(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        arg = commands.single_argument(commands.HISTORY, list(args))
        parsed = commands.parse_session(commands.HISTORY, arg)
        manager = await ls.core()
        return await manager.history(parsed.session_id)

    @server.command(commands.DIFF)
    @bridge_errors
    async def diff(ls: BridgeServer, *args: Any) -> dict[str, Any]:
        parsed = commands.parse_file(commands.DIFF, commands.single_argument(commands.DIFF, list(args)))
        manager = await ls.core()
        live = manager.session(parsed.session_id)
        return await asyncio.to_thread(live.file_versions, parsed.uri)

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
        if ls.manager is None:
            return None
        uri = params.text_document.uri
        touching = hunks_touching(ls.documents.doc_hunks(uri), params.range, ls.encoding)
        actions: list[T.CodeAction] = []
        lookup, caps = ls.lookup(), ls.editor_caps()
        for h in touching:
            live = ls.manager.sessions.get(h.session_id)
            if live is None:
                continue
            whole = not h.change.hunks or h.change.change in ("create", "delete", "rename")
            try:
                plan = await asyncio.to_thread(
                    live.plan, h.change, None if whole else [h.hunk], lookup, caps, ls.encoding
                )
                edit = workspace_edit(plan.operations, caps)
                if edit is None or plan.disk_write is not None:
                    # Nothing to put in the buffer (binary, or already there): let the command do it.
                    actions.append(apply_command_action(h))
                else:
                    actions.append(apply_action(h, edit))
                    if plan.expect_sha:
                        ls.documents.expect(
                            plan.uri, Expectation(h.session_id, (h.hunk.hunk_id,), plan.expect_sha, plan.pre_sha)
                        )
            except PlanConflict as exc:
                actions.append(conflict_action(h, str(exc)))
            actions.append(reject_action(h))
        return actions

    @server.feature(T.TEXT_DOCUMENT_CODE_LENS, T.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: BridgeServer, params: T.CodeLensParams) -> list[T.CodeLens]:
        return code_lenses(ls.documents.doc_hunks(params.text_document.uri), ls.encoding)

    @server.feature(T.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def progress_cancel(ls: BridgeServer, params: T.WorkDoneProgressCancelParams) -> None:
        turn_id = ls.editor.token_turns.get(str(params.token))
        if turn_id is None or ls.manager is None:
            return
        for live in ls.manager.sessions.values():
            if live.current is not None and live.current.id == turn_id:
                live.cancel()


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
        except NotAGitRepository:
            raise BridgeError(f"{path} is not inside a git repository") from None
    try:
        rel = path.resolve().relative_to(repo_root.resolve()).as_posix()
    except ValueError:
        raise BridgeError(f"{path} is outside the session's repository {repo_root}") from None
    return rel, selected, rng.start.line, max(end_line, rng.start.line)
