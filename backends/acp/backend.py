"""Any ACP agent as a warm backend: one process and one ACP session per (bridge session, agent)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import acp
from acp import schema
from acp.core import ClientSideConnection

from backends import lifeline
from backends.acp.mapping import ToolCallMerger, map_update, map_usage, permission_request
from backends.acp.outbound import to_acp_blocks, to_acp_mcp_servers
from backends.acp.steering import SteeringState
from backends.acp.terminals import TerminalManager
from backends.base import (
    AgentCrashed,
    AgentStartError,
    AgentState,
    BackendError,
    BackendHost,
    McpServer,
    OptionKind,
    PathRefused,
    PermissionOption,
    PermissionRequest,
    PromptPart,
    StartInfo,
    SteeringError,
    choose_option,
    command_line,
    normalize_command,
)
from backends.events import ConfigChanged, ModeChanged, TurnOutcome
from backends.logs import DEFAULT_CAP, CappedLog
from backends.logs import tail as log_tail

log = logging.getLogger(__name__)

# What the ACP SDK and its stdio transport fail with: an error answer, or a connection or process gone.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (acp.RequestError, ConnectionError, RuntimeError, OSError)
STDIO_LINE_LIMIT = 32 * 1024 * 1024
START_TIMEOUT = 60.0
# After TERM, how long an agent's processes get before KILL: below the 2 s the ACP SDK waits before it KILLs
# the launcher, so the launcher always gets to sweep the agent's whole tree itself.
STOP_GRACE = 1.5


class _Client:
    """The client side the agent talks to: events, permissions, files and terminals, all scoped to the host."""

    def __init__(self, backend: AcpBackend) -> None:
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
            # Some agents (gemini) treat any error here as fatal before creating a file; empty is what they
            # expect for a file that does not exist yet.
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


class AcpBackend:
    """A warm ACP agent: spawned and initialized once, prompted for every turn of its bridge session."""

    kind = "acp"

    def __init__(
        self,
        command: tuple[str, ...],
        env: Mapping[str, str],
        host: BackendHost,
        stderr_path: Path,
        client_version: str = "0",
        log_cap: int = DEFAULT_CAP,
        mcp_servers: Sequence[McpServer] = (),
    ) -> None:
        self.command = command
        self.log_cap = log_cap
        self.client_version = client_version
        self.env = dict(env)
        self.host = host
        self.stderr_path = stderr_path
        self.mcp_servers = tuple(mcp_servers)
        self.embedded_context = False  # the agent takes embedded resources in prompts (its prompt capabilities)
        self.tools = ToolCallMerger(str(host.cwd))
        self.steering = SteeringState()
        self.terminals = TerminalManager()
        self._client = _Client(self)
        self._stack: AsyncExitStack | None = None
        self._conn: ClientSideConnection | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._session_id: str | None = None
        self._stderr: CappedLog | None = None
        self.load_session_supported = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def session_id(self) -> str | None:
        return self._session_id

    def _crash_message(self, what: str) -> str:
        code = self._process.returncode if self._process else None
        if self._stderr is not None:
            self._stderr.settle()
        tail = log_tail(self.stderr_path)
        message = f"{self.command[0]} {what}" + (f" (exit code {code})" if code is not None else "")
        return message + (f"; its last output: {tail}" if tail else "")

    async def start(self, resume_id: str | None = None) -> StartInfo:
        try:
            return await asyncio.wait_for(self._start(resume_id), START_TIMEOUT)
        except TimeoutError:
            await self.close()
            raise AgentStartError(self._crash_message(f"did not answer within {START_TIMEOUT:.0f} s")) from None
        except AgentStartError:
            await self.close()
            raise
        except (OSError, acp.RequestError, ConnectionError, RuntimeError) as exc:
            await self.close()
            reason = exc.args[0] if isinstance(exc, acp.RequestError) else exc
            raise AgentStartError(self._crash_message(f"could not start: {reason}")) from exc

    async def _start(self, resume_id: str | None) -> StartInfo:
        # Through a pipe, so what the agent writes is capped: it is untrusted, and its log is on the user's disk.
        self._stderr = CappedLog(self.stderr_path, self.log_cap)
        stack = AsyncExitStack()
        self._stack = stack
        env = {**os.environ, **self.env}
        try:
            # Under a lifeline: the agent and everything it starts die with the bridge, however it dies.
            argv = lifeline.wrap(self.command, STOP_GRACE, env, self.host.cwd)
            conn, process = await stack.enter_async_context(
                acp.spawn_agent_process(
                    self._client,  # type: ignore[arg-type]  # elicitation is not advertised, so never called
                    argv[0],
                    *argv[1:],
                    env=env,
                    cwd=self.host.cwd,
                    transport_kwargs={"stderr": self._stderr.fd, "limit": STDIO_LINE_LIMIT},
                )
            )
        except FileNotFoundError:
            raise AgentStartError(
                f"{self.command[0]}: command not found (is the agent installed and on PATH?)"
            ) from None
        self._stderr.child_started()
        self._conn, self._process = conn, process
        self._exited = asyncio.create_task(process.wait())
        init = await self._guard(
            conn.initialize(
                protocol_version=acp.PROTOCOL_VERSION,
                client_capabilities=schema.ClientCapabilities(
                    fs=schema.FileSystemCapabilities(read_text_file=True, write_text_file=True),
                    terminal=True,
                ),
                client_info=schema.Implementation(name="agent-bridge", version=self.client_version),
            ),
            "exited during initialize",
        )
        self.steering.on_initialize(init)
        caps = init.agent_capabilities
        self.load_session_supported = bool(caps and caps.load_session)
        self.embedded_context = bool(caps and caps.prompt_capabilities and caps.prompt_capabilities.embedded_context)
        mcp_servers, left_out = to_acp_mcp_servers(
            self.mcp_servers, caps.mcp_capabilities if caps else None, env.get("PATH")
        )
        mcp_note = (
            f"this agent does not support these MCP servers' transport, so they were left out: {', '.join(left_out)}"
            if left_out else None
        )
        note = None
        if resume_id:
            if self.load_session_supported:
                try:
                    loaded = await self._guard(
                        conn.load_session(cwd=str(self.host.cwd), session_id=resume_id, mcp_servers=mcp_servers),
                        "exited while loading its session",
                    )
                    self.steering.on_session(loaded)
                    self._session_id = resume_id
                    return StartInfo(resume_id, resumed=True, note=mcp_note, pid=process.pid)
                except acp.RequestError as exc:
                    note = f"could not resume the agent's earlier session ({exc}); started a new one"
            else:
                note = "this agent cannot resume sessions; started a new one without the earlier conversation"
        session = await self._guard(
            conn.new_session(cwd=str(self.host.cwd), mcp_servers=mcp_servers), "exited while creating its session"
        )
        self.steering.on_session(session)
        self._session_id = session.session_id
        note = "; ".join(n for n in (note, mcp_note) if n) or None
        return StartInfo(session.session_id, resumed=False, note=note, pid=process.pid)

    async def _guard(self, call: Any, what: str) -> Any:
        """Await an ACP call, failing fast (AgentCrashed) if the process exits meanwhile."""
        assert self._exited is not None
        task = asyncio.ensure_future(call)
        done, _ = await asyncio.wait({task, self._exited}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            try:
                return task.result()
            except (ConnectionError, RuntimeError):
                # The connection noticed first; the process exit follows within moments.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._exited), 1.0)
                if self._exited.done():
                    raise AgentCrashed(self._crash_message(what)) from None
                raise
        # Give the connection a moment to deliver a reply that raced the exit.
        with contextlib.suppress(TimeoutError, Exception):
            return await asyncio.wait_for(asyncio.shield(task), 0.2)
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise AgentCrashed(self._crash_message(what))

    async def prompt(self, parts: list[PromptPart]) -> TurnOutcome:
        if self._conn is None or self._session_id is None or not self.alive:
            raise AgentCrashed(self._crash_message("is not running"))
        try:
            response = await self._guard(
                self._conn.prompt(session_id=self._session_id, prompt=to_acp_blocks(parts)),
                "exited during the turn",
            )
        except acp.RequestError as exc:
            raise BackendError(f"{self.command[0]} failed the prompt: {exc} {exc.data or ''}".strip()) from exc
        except (ConnectionError, RuntimeError) as exc:
            raise AgentCrashed(self._crash_message(f"lost its connection ({exc})")) from exc
        return TurnOutcome(stop_reason=response.stop_reason, usage=map_usage(response.usage))

    # Steering
    def state(self) -> AgentState:
        return self.steering.state()

    async def set_mode(self, mode_id: str) -> None:
        option = self.steering.check_mode(mode_id, self.command[0])
        if option is not None:  # the agent offers its modes only as a config option
            await self.set_option(str(option["id"]), mode_id)
            return
        conn, session_id = self._steerable()
        await self._steer(conn.set_session_mode(session_id=session_id, mode_id=mode_id), f"mode {mode_id!r}")
        async with self._client.lock:  # after any update the agent sent meanwhile, in order
            if self.steering.current_mode_id != mode_id:  # agents need not announce a change the client made
                self.steering.current_mode_id = mode_id
                await self.host.on_event(ModeChanged(mode_id))

    async def set_option(self, option_id: str, value: str | bool) -> None:
        self.steering.check_option(option_id, value, self.command[0])
        conn, session_id = self._steerable()
        response = await self._steer(
            conn.set_config_option(config_id=option_id, session_id=session_id, value=value),
            f"{option_id!r} = {value!r}",
        )
        async with self._client.lock:
            # The answer carries every option with its value now (one may depend on another).
            self.steering.set_options(response.config_options)
            await self.host.on_event(ConfigChanged(self.steering.options))

    def _steerable(self) -> tuple[ClientSideConnection, str]:
        if self._conn is None or self._session_id is None or not self.alive:
            raise AgentCrashed(self._crash_message("is not running"))
        return self._conn, self._session_id

    async def _steer(self, call: Any, what: str) -> Any:
        try:
            return await self._guard(call, f"exited while setting {what}")
        except acp.RequestError as exc:
            raise SteeringError(f"{self.command[0]} refused {what}: {exc} {exc.data or ''}".strip()) from exc
        except (ConnectionError, RuntimeError) as exc:
            raise AgentCrashed(self._crash_message(f"lost its connection ({exc})")) from exc

    async def cancel(self) -> None:
        self._client.cancel_permissions()
        if self._conn is not None and self._session_id is not None and self.alive:
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await self._conn.cancel(session_id=self._session_id)

    async def close(self) -> None:
        self._client.cancel_permissions()
        await self.terminals.close()
        stack, self._stack = self._stack, None
        running = self.alive
        if stack is not None:
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await stack.aclose()  # closes the agent's stdin, then TERM, then KILL (the ACP SDK's shutdown)
        if running and self._process is not None:
            lifeline.sweep(self._process)
        if self._exited is not None and not self._exited.done():
            self._exited.cancel()
        if self._stderr is not None:
            await asyncio.to_thread(self._stderr.close)
            self._stderr = None
        self._conn = None
