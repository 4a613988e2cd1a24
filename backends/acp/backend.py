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

from backends import lifeline, sandbox
from backends.acp.client import AgentClient
from backends.acp.mapping import ToolCallMerger, map_usage
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
    PromptPart,
    StartInfo,
    SteeringError,
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
        sandbox: sandbox.SandboxSpec | None = None,
    ) -> None:
        self.command = command
        self.sandbox = sandbox
        self.log_cap = log_cap
        self.client_version = client_version
        self.env = dict(env)
        self.host = host
        self.stderr_path = stderr_path
        self.mcp_servers = tuple(mcp_servers)
        self.embedded_context = False  # the agent takes embedded resources in prompts (its prompt capabilities)
        self.tools = ToolCallMerger(str(host.cwd))
        self.steering = SteeringState()
        self.terminals = TerminalManager()  # given the agent's sandbox when it starts in one
        self._client = AgentClient(self)
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
        advice = sandbox.hint(tail) if self.sandbox is not None and tail else ""
        return message + (f"; its last output: {tail}" if tail else "") + advice

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
        policy = None
        if self.sandbox is not None:  # refuses to start (AgentStartError) where no sandbox can be made
            policy = await asyncio.to_thread(
                self.sandbox.prepare, self.command, env, self.host.worktree, self.host.cwd
            )
            self.terminals.sandbox = policy  # what the agent runs through the bridge runs in its sandbox too
        try:
            if policy is not None:  # a missing agent is reported as such, not as a failing bwrap
                lifeline.check_runnable(self.command[0], env.get("PATH", os.defpath), self.host.cwd)
            # Under a lifeline: the agent and everything it starts die with the bridge, however it dies.
            argv = lifeline.wrap(sandbox.wrap(self.command, policy), STOP_GRACE, env, self.host.cwd)
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
