"""The `workspace/executeCommand` handlers. Each one only converts its argument (bridge.protocol), calls the
core and returns the typed result; `command` does the conversion and the error mapping for all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bridge import protocol as wire
from bridge.errors import BridgeError
from bridge.lsp.errors import to_jsonrpc
from bridge.lsp.server import BridgeServer
from bridge.lsp.transcript import render, transcript_path, write_transcript

A = TypeVar("A")
Handler = Callable[[BridgeServer, A], Awaitable[Any]]


def command(server: BridgeServer, name: str, args: type[A]) -> Callable[[Handler[A]], Handler[A]]:
    """Register `fn(ls, typed_argument) -> typed_result` as the handler of command `name`."""

    def register(fn: Handler[A]) -> Handler[A]:
        @server.command(name)
        async def handler(ls: BridgeServer, *raw: Any) -> Any:
            try:
                parsed = wire.parse(name, wire.single_argument(name, list(raw)), args)
                return wire.to_json(await fn(ls, parsed))
            except BridgeError as exc:
                raise to_jsonrpc(exc) from None

        return fn

    return register


def register_commands(server: BridgeServer) -> None:
    @command(server, wire.PROMPT, wire.PromptArgs)
    async def prompt(ls: BridgeServer, args: wire.PromptArgs) -> wire.PromptResult:
        return await (await ls.core(args.session_id, wait=False)).prompt(args, ls.workspace_root(), ls.lookup())

    @command(server, wire.AWAIT_TURN, wire.AwaitTurnArgs)
    async def await_turn(ls: BridgeServer, args: wire.AwaitTurnArgs) -> wire.TurnStatus:
        core = await ls.core(args.session_id, wait=False)
        result = await core.await_turn(args.session_id, args.turn_id, args.timeout)
        return result.to_wire()

    @command(server, wire.CANCEL, wire.SessionArgs)
    async def cancel(ls: BridgeServer, args: wire.SessionArgs) -> wire.CancelResult:
        return wire.CancelResult(await (await ls.core()).cancel(args.session_id, ls.workspace_key()))

    @command(server, wire.SESSIONS, wire.NoArgs)
    async def sessions(ls: BridgeServer, args: wire.NoArgs) -> list[wire.SessionSummary]:
        return await (await ls.core()).describe_sessions(ls.workspace_key())

    @command(server, wire.CLOSE_SESSION, wire.SessionArgs)
    async def close_session(ls: BridgeServer, args: wire.SessionArgs) -> wire.CloseResult:
        return wire.CloseResult(await (await ls.core(args.session_id)).close_session(args.session_id))

    @command(server, wire.AGENTS, wire.NoArgs)
    async def agents(ls: BridgeServer, args: wire.NoArgs) -> list[wire.AgentInfo]:
        return (await ls.core()).describe_agents(ls.workspace_key())

    @command(server, wire.PENDING, wire.PendingArgs)
    async def pending(ls: BridgeServer, args: wire.PendingArgs) -> list[wire.PendingFile]:
        return await ls.documents.pending(await ls.core(args.session_id, wait=False), args.session_id, args.uri)

    @command(server, wire.APPLY, wire.HunkSelection)
    async def apply(ls: BridgeServer, args: wire.HunkSelection) -> wire.ApplyResult:
        live = await ls.session(args.session_id)
        result, watches = await live.apply(
            args.uri, args.hunk_id, ls.lookup(), ls.editor_caps(), ls.encoding, ls.send_edit
        )
        ls.documents.watch_undo(watches)
        return result

    @command(server, wire.REJECT, wire.HunkSelection)
    async def reject(ls: BridgeServer, args: wire.HunkSelection) -> wire.RejectResult:
        live = await ls.session(args.session_id)
        return await live.reject(args.uri, args.hunk_id)

    @command(server, wire.UNREJECT, wire.UnrejectArgs)
    async def unreject(ls: BridgeServer, args: wire.UnrejectArgs) -> wire.UnrejectResult:
        live = await ls.session(args.session_id)
        return wire.UnrejectResult(await live.unreject(args.rejection_id))

    @command(server, wire.REWIND, wire.TurnArgs)
    async def rewind(ls: BridgeServer, args: wire.TurnArgs) -> wire.RewindResult:
        return await (await ls.core(args.session_id)).rewind(args.session_id, args.turn_id, ls.workspace_key())

    @command(server, wire.HISTORY, wire.SessionArgs)
    async def history(ls: BridgeServer, args: wire.SessionArgs) -> list[wire.HistoryEntry]:
        # At once for a session in the making: a client draws its queued turns right after prompting.
        return await (await ls.core(args.session_id, wait=False)).history(args.session_id)

    @command(server, wire.SHOW_TRANSCRIPT, wire.SessionArgs)
    async def show_transcript(ls: BridgeServer, args: wire.SessionArgs) -> wire.TranscriptResult:
        entries = await (await ls.core(args.session_id)).history(args.session_id)
        path = transcript_path(ls.state_dir, args.session_id)
        await asyncio.to_thread(write_transcript, path, render(args.session_id, entries))
        uri = path.as_uri()
        ls.show_document(uri)
        return wire.TranscriptResult(uri)

    @command(server, wire.DIFF, wire.FileArgs)
    async def diff(ls: BridgeServer, args: wire.FileArgs) -> wire.FileVersions:
        live = await ls.session(args.session_id)
        return await asyncio.to_thread(live.file_versions, args.uri)

    @command(server, wire.AGENT_STATE, wire.AgentStateArgs)
    async def agent_state(ls: BridgeServer, args: wire.AgentStateArgs) -> wire.AgentStateResult:
        return await (await ls.core(args.session_id)).agent_state(args.session_id, args.agent, ls.workspace_key())

    @command(server, wire.SET_MODE, wire.SetModeArgs)
    async def set_mode(ls: BridgeServer, args: wire.SetModeArgs) -> wire.AgentStateResult:
        core = await ls.core(args.session_id)
        return await core.set_mode(args.session_id, args.agent, args.mode_id, ls.workspace_key())

    @command(server, wire.SET_OPTION, wire.SetOptionArgs)
    async def set_option(ls: BridgeServer, args: wire.SetOptionArgs) -> wire.AgentStateResult:
        core = await ls.core(args.session_id)
        return await core.set_option(args.session_id, args.agent, args.option_id, args.value, ls.workspace_key())
