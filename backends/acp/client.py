"""The client side of an ACP connection, the part the agent talks to: its events, permission questions, file
reads and writes and terminals, all scoped to the host (the session worktree and the bridge's policy)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

import acp
from acp import schema

from backends.acp.mapping import ToolCallMerger, map_update, permission_request
from backends.acp.steering import SteeringState
from backends.acp.terminals import TerminalManager
from backends.base import (
    BackendHost,
    OptionKind,
    PathRefused,
    PermissionOption,
    PermissionRequest,
    choose_option,
    command_line,
    normalize_command,
)


class Connection(Protocol):
    """What the client side shares with the backend that drives the same connection."""

    host: BackendHost
    env: dict[str, str]  # the agent's extra environment, for the terminals it opens
    tools: ToolCallMerger
    steering: SteeringState
    terminals: TerminalManager


class AgentClient:
    """The client side the agent talks to: events, permissions, files and terminals, all scoped to the host."""

    def __init__(self, backend: Connection) -> None:
        self._backend = backend
        self._host = backend.host
        # Each incoming message runs in its own task; a lock keeps updates in the order they were sent.
        self.lock = asyncio.Lock()
        self._permission_tasks: set[asyncio.Task[Any]] = set()
        # Commands the user allowed in a permission question, each good for one terminal running exactly it.
        self._granted: list[str] = []

    def on_connect(self, conn: Any) -> None:  # the SDK hands over the connection; we keep ours
        return None

    async def session_update(self, session_id: str, update: Any, **_: Any) -> None:
        async with self.lock:
            self._backend.steering.on_update(update)
            for event in map_update(update, self._backend.tools):
                await self._host.on_event(event)

    async def request_permission(
        self, session_id: str, tool_call: schema.ToolCallUpdate, options: list[schema.PermissionOption], **_: Any
    ) -> schema.RequestPermissionResponse:
        async with self.lock:
            known = self._backend.tools.get(tool_call.tool_call_id)
            request = permission_request(tool_call, options, known, self._backend.tools.cwd)
            # Some agents announce an edit only here (no tool_call before): make it visible all the same.
            merged = self._backend.tools.merge(tool_call)
            await self._host.on_event(merged)
        task = asyncio.ensure_future(self._host.ask_permission(request))
        self._permission_tasks.add(task)
        try:
            kind = await task
        except asyncio.CancelledError:
            kind = None
        finally:
            self._permission_tasks.discard(task)
        option_id = _option_for(request.options, kind)
        if option_id is None:
            return schema.RequestPermissionResponse(outcome=schema.DeniedOutcome(outcome="cancelled"))
        if request.kind == "execute" and request.command and kind in ("allow_once", "allow_always"):
            self._granted.append(normalize_command(request.command))
        return schema.RequestPermissionResponse(
            outcome=schema.AllowedOutcome(option_id=option_id, outcome="selected")
        )

    def cancel_permissions(self) -> None:
        """After session/cancel, every pending permission question is answered `cancelled`."""
        for task in list(self._permission_tasks):
            task.cancel()

    def _resolve(self, path: str) -> Path:
        try:
            return self._host.resolve_path(path)
        except PathRefused as exc:
            raise acp.RequestError.invalid_params({"path": path, "reason": str(exc)}) from None

    async def read_text_file(
        self, session_id: str, path: str, line: int | None = None, limit: int | None = None, **_: Any
    ) -> schema.ReadTextFileResponse:
        real = self._resolve(path)
        try:
            text = await asyncio.to_thread(real.read_text, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            # gemini-cli reads a file before it writes it and fails the write on any error answer, ACP's own
            # "Resource not found" (-32002) included; a file that does not exist yet reads as empty for every agent
            # (only gemini needs it, none is hurt by it: they check existence on disk, the worktree they see).
            text = ""
        except IsADirectoryError:
            raise acp.RequestError.invalid_params({"path": path, "reason": "is a directory"}) from None
        if line is not None or limit is not None:
            lines = text.splitlines(keepends=True)
            start = max((line or 1) - 1, 0)
            end = start + limit if limit is not None else len(lines)
            text = "".join(lines[start:end])
        return schema.ReadTextFileResponse(content=text)

    async def write_text_file(
        self, session_id: str, path: str, content: str, **_: Any
    ) -> schema.WriteTextFileResponse:
        real = self._resolve(path)

        def write() -> None:
            real.parent.mkdir(parents=True, exist_ok=True)
            real.write_text(content, encoding="utf-8", newline="")

        await asyncio.to_thread(write)
        return schema.WriteTextFileResponse()

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: list[schema.EnvVariable] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **_: Any,
    ) -> schema.CreateTerminalResponse:
        workdir = self._resolve(cwd) if cwd else self._host.cwd
        line = command_line(command, args or [])
        granted = (shown := normalize_command(line)) in self._granted
        if granted:
            self._granted.remove(shown)  # the user allowed exactly this command, once
            granted = await self._host.confirm_run(line, workdir)
        if not granted:
            # A terminal the user did not allow (not asked for, another command than the one shown, or a file it
            # names rewritten since): the policy decides, and asks the user with what will really run.
            request = PermissionRequest(
                tool_call_id="terminal",
                title=line,
                kind="execute",
                paths=(),
                command=line,
                cwd=str(workdir),
                options=(
                    PermissionOption("allow", "Allow", "allow_once"),
                    PermissionOption("reject", "Reject", "reject_once"),
                ),
            )
            kind = await self._host.ask_permission(request)
            if kind not in ("allow_once", "allow_always"):
                raise acp.RequestError(-32000, f"the user did not allow running {line!r}")
        env_map = {e.name: e.value for e in env or ()}
        terminal_id = await self._backend.terminals.create(
            command, list(args or []), workdir, {**self._backend.env, **env_map}, output_byte_limit
        )
        return schema.CreateTerminalResponse(terminal_id=terminal_id)

    def _terminal(self, terminal_id: str) -> Any:
        try:
            return self._backend.terminals.get(terminal_id)
        except KeyError as exc:
            raise acp.RequestError.invalid_params({"terminalId": terminal_id, "reason": str(exc)}) from None

    async def terminal_output(self, session_id: str, terminal_id: str, **_: Any) -> schema.TerminalOutputResponse:
        terminal = self._terminal(terminal_id)
        code = terminal.process.returncode
        status = schema.TerminalExitStatus(exit_code=code) if code is not None else None
        return schema.TerminalOutputResponse(output=terminal.text(), truncated=terminal.truncated, exit_status=status)

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **_: Any
    ) -> schema.WaitForTerminalExitResponse:
        self._terminal(terminal_id)
        code = await self._backend.terminals.wait(terminal_id)
        if code is not None and code < 0:
            return schema.WaitForTerminalExitResponse(exit_code=None, signal=f"signal {-code}")
        return schema.WaitForTerminalExitResponse(exit_code=code)

    async def kill_terminal(self, session_id: str, terminal_id: str, **_: Any) -> schema.KillTerminalResponse:
        self._terminal(terminal_id)
        self._backend.terminals.kill(terminal_id)
        return schema.KillTerminalResponse()

    async def release_terminal(
        self, session_id: str, terminal_id: str, **_: Any
    ) -> schema.ReleaseTerminalResponse:
        await self._backend.terminals.release(terminal_id)
        return schema.ReleaseTerminalResponse()

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise acp.RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None


def _option_for(options: tuple[PermissionOption, ...], kind: OptionKind | None) -> str | None:
    return None if kind is None else choose_option(options, kind)


