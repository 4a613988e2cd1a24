"""The LSP handlers: every one registered here, each thin; the work lives in the core modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types as T
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path

from bridge import commands
from bridge.commands import InvalidArguments
from bridge.config import load_registry
from bridge.core import changes
from bridge.core.changes import LiveDoc, PlanConflict
from bridge.core.editor import BridgeError, UnknownSession
from bridge.core.manager import SessionManager
from bridge.git import worktrees
from bridge.git.hunks import split_lines
from bridge.lsp.server import BridgeServer
from bridge.lsp.views import hunks_touching, uri_key
from bridge.store import Store

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803  # LSP's RequestFailed: the request was valid but could not be carried out


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
        from bridge.lsp.views import pending_json

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
        ls.add_live_ranges(out)
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

    @server.command(commands.HISTORY)
    @_bridge_errors
    async def history(ls: BridgeServer, *args: Any) -> list[dict[str, Any]]:
        arg = commands.single_argument(commands.HISTORY, list(args))
        parsed = commands.parse_session(commands.HISTORY, arg)
        manager = await ls.core()
        return await manager.history(parsed.session_id)

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
        from bridge.lsp.views import apply_action, apply_command_action, conflict_action, reject_action

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
        from bridge.lsp.views import code_lenses

        return code_lenses(ls.doc_hunks(params.text_document.uri), ls.encoding)

    @server.feature(T.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def progress_cancel(ls: BridgeServer, params: T.WorkDoneProgressCancelParams) -> None:
        turn_id = ls.editor.token_turns.get(str(params.token))
        if turn_id is None or ls.manager is None:
            return
        for live in ls.manager.sessions.values():
            if live.current is not None and live.current.id == turn_id:
                await ls.manager.cancel(live.row.id)


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
