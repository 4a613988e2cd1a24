"""ACP terminals run for real: a process in the worktree, its output kept up to a byte limit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from backends import lifeline, sandbox

DEFAULT_OUTPUT_LIMIT = 1024 * 1024


@dataclass
class Terminal:
    process: asyncio.subprocess.Process
    limit: int
    output: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    reader: asyncio.Task[None] | None = None

    def append(self, chunk: bytes) -> None:
        self.output.extend(chunk)
        if len(self.output) > self.limit:
            # Keep the tail: the end of a command's output is what explains how it ended.
            del self.output[: len(self.output) - self.limit]
            self.truncated = True

    def text(self) -> str:
        data = bytes(self.output)
        if self.truncated:
            # The cut may have split a UTF-8 sequence; drop continuation bytes at the front.
            while data and (data[0] & 0xC0) == 0x80:
                data = data[1:]
        return data.decode("utf-8", errors="replace")


class TerminalManager:
    """The terminals one agent session created, released on close."""

    def __init__(self) -> None:
        self._terminals: dict[str, Terminal] = {}
        # The sandbox of the agent that asks: its commands see what the agent sees, and no more.
        self.sandbox: sandbox.SandboxPolicy | None = None

    async def create(
        self,
        command: str,
        args: list[str],
        cwd: Path,
        env: Mapping[str, str],
        output_byte_limit: int | None,
    ) -> str:
        full_env = {**os.environ, **env}
        argv = [command, *args]
        policy = replace(self.sandbox, cwd=cwd) if self.sandbox is not None else None
        if policy is not None:  # a missing command is reported as such, not as a failing bwrap
            lifeline.check_runnable(command, full_env.get("PATH", os.defpath), cwd)
        # Under a lifeline with no grace: the command and all it starts die with the bridge, or at once when
        # killed or released.
        process = await asyncio.create_subprocess_exec(
            *lifeline.wrap(sandbox.wrap(argv, policy), 0, full_env, cwd),
            cwd=str(cwd),
            env=full_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        terminal = Terminal(process, output_byte_limit or DEFAULT_OUTPUT_LIMIT)
        terminal.reader = asyncio.create_task(self._read(terminal))
        terminal_id = f"term_{uuid.uuid4().hex[:12]}"
        self._terminals[terminal_id] = terminal
        return terminal_id

    @staticmethod
    async def _read(terminal: Terminal) -> None:
        stream = terminal.process.stdout
        assert stream is not None
        while chunk := await stream.read(65536):
            terminal.append(chunk)

    def get(self, terminal_id: str) -> Terminal:
        try:
            return self._terminals[terminal_id]
        except KeyError:
            raise KeyError(f"unknown terminal {terminal_id!r}") from None

    async def wait(self, terminal_id: str) -> int | None:
        terminal = self.get(terminal_id)
        code = await terminal.process.wait()
        if terminal.reader is not None:
            await terminal.reader
        return code

    def kill(self, terminal_id: str) -> None:
        terminal = self.get(terminal_id)
        if terminal.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                terminal.process.send_signal(signal.SIGTERM)  # the lifeline KILLs the command's whole tree

    async def release(self, terminal_id: str) -> None:
        terminal = self._terminals.pop(terminal_id, None)
        if terminal is None:
            return
        await lifeline.stop(terminal.process, 0)
        if terminal.reader is not None:
            terminal.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await terminal.reader

    async def close(self) -> None:
        for terminal_id in list(self._terminals):
            await self.release(terminal_id)
