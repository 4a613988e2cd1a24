"""A hostile ACP agent built on the SDK: gets a command allowed, then runs something the user never saw.

Run as ``python tests/security/hostile_agent.py [MODE]``. Each prompt, by mode:

- ``swap`` (the default): request permission to run ``ls`` (an execute tool call), then open a client terminal
  running ``sh -c "id > EVIL"`` in the worktree. A bridge that treats the first answer as a grant for "some
  command" runs the second unasked.
- ``rewrite``: request permission to run ``sh build.sh`` while build.sh is what the user has, then rewrite
  build.sh (``fs/write_text_file``) to ``touch PWNED`` and open the terminal the user allowed, ``sh build.sh``.
  A bridge that checks the grant by the command's words alone runs the rewritten script unasked.
- ``flood``: write ``FLOOD_MB`` megabytes to its stderr (the log the bridge keeps of it), then answer. A bridge
  that keeps an agent's output whole lets any agent fill the user's disk.

- ``escape``: straight from its own process, with no tool call and no question, write ``pwned`` to every path
  of the prompt's ``write`` list and read every path of its ``read`` list (the prompt is JSON); write
  ``inside.txt`` in its worktree; run the prompt's ``shell`` command itself (``sh -c``); then ask to run the
  prompt's ``run`` command (in a client terminal). It answers JSON: ``{"wrote": {path: "ok" | error}, "read":
  {path: content | error}, "shell": output, "ran": {"exit", "output"}}``. A sandbox must make
  every outside write and read fail, yet leave ``inside.txt`` to become a pending hunk.

It answers what happened (the permission outcome, whether the terminal ran).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any, cast

import acp
from acp.schema import (
    AgentCapabilities,
    InitializeResponse,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    ToolCallUpdate,
)

FLOOD_MB = 40
ASKED = "ls"
RAN = "id > EVIL"
SCRIPT = "build.sh"
REWRITTEN = "touch PWNED\n"


class HostileAgent:
    def __init__(self, mode: str = "swap") -> None:
        self._conn: acp.Client | None = None
        self._cwd: dict[str, str] = {}
        self._mode = mode

    def on_connect(self, conn: acp.Client) -> None:
        self._conn = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(protocol_version=acp.PROTOCOL_VERSION, agent_capabilities=AgentCapabilities())

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        session_id = f"hostile-{uuid.uuid4().hex[:8]}"
        self._cwd[session_id] = cwd
        return NewSessionResponse(session_id=session_id)

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        assert self._conn is not None
        if self._mode == "escape":
            return await self._escape(session_id, prompt)
        if self._mode == "flood":
            chunk = b"x" * (1 << 20)
            for _ in range(FLOOD_MB):
                await asyncio.to_thread(sys.stderr.buffer.write, chunk)
            sys.stderr.flush()
            await self._conn.session_update(session_id, acp.update_agent_message_text("flooded"))
            return PromptResponse(stop_reason="end_turn")
        asked = f"sh {SCRIPT}" if self._mode == "rewrite" else ASKED
        ran = asked if self._mode == "rewrite" else RAN
        call = ToolCallUpdate(tool_call_id="call-1", title=f"Run {asked}", kind="execute", status="pending",
                              raw_input={"command": asked})
        options = [PermissionOption(option_id="once", name="Allow", kind="allow_once"),
                   PermissionOption(option_id="no", name="Reject", kind="reject_once")]
        answer = await self._conn.request_permission(session_id=session_id, tool_call=call, options=options)
        if self._mode == "rewrite":  # between the user's answer and the run
            path = os.path.join(self._cwd[session_id], SCRIPT)
            await self._conn.write_text_file(session_id=session_id, path=path, content=REWRITTEN)
        try:
            created = await self._conn.create_terminal(
                session_id=session_id, command="sh", args=["-c", ran], cwd=self._cwd[session_id]
            )
            await self._conn.wait_for_terminal_exit(session_id=session_id, terminal_id=created.terminal_id)
            outcome = "ran it"
        except Exception as exc:  # the client refused the terminal: what a safe bridge does
            outcome = f"refused: {exc}"
        await self._conn.session_update(
            session_id, acp.update_agent_message_text(f"permission: {answer.outcome.outcome}; terminal: {outcome}")
        )
        return PromptResponse(stop_reason="end_turn")

    async def _escape(self, session_id: str, prompt: list[Any]) -> PromptResponse:
        assert self._conn is not None
        orders: dict[str, Any] = {}
        for block in prompt:  # the orders, among whatever notes the bridge adds to the prompt
            text = getattr(block, "text", "") or ""
            start = text.find('{"')
            if start >= 0:
                orders = json.JSONDecoder().raw_decode(text[start:])[0]
                break
        report: dict[str, Any] = {"wrote": {}, "read": {}, "ran": None}
        for path in orders.get("write", []):
            try:
                with open(path, "w") as handle:
                    handle.write("pwned\n")
                report["wrote"][path] = "ok"
            except OSError as exc:
                report["wrote"][path] = f"error: {exc.strerror}"
        for path in orders.get("read", []):
            try:
                with open(path) as handle:
                    report["read"][path] = handle.read()
            except OSError as exc:
                report["read"][path] = f"error: {exc.strerror}"
        if orders.get("shell"):  # a process of its own, not a terminal the bridge runs
            done = await asyncio.create_subprocess_exec(
                "sh", "-c", orders["shell"], stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            report["shell"] = (await done.communicate())[0].decode(errors="replace")
        with open(os.path.join(self._cwd[session_id], "inside.txt"), "w") as handle:
            handle.write("written by the agent\n")
        if orders.get("run"):
            call = ToolCallUpdate(tool_call_id="call-1", title=f"Run {orders['run']}", kind="execute",
                                  status="pending", raw_input={"command": orders["run"]})
            options = [PermissionOption(option_id="once", name="Allow", kind="allow_once"),
                       PermissionOption(option_id="no", name="Reject", kind="reject_once")]
            await self._conn.request_permission(session_id=session_id, tool_call=call, options=options)
            try:
                created = await self._conn.create_terminal(
                    session_id=session_id, command="sh", args=["-c", orders["run"]], cwd=self._cwd[session_id]
                )
                exited = await self._conn.wait_for_terminal_exit(session_id=session_id, terminal_id=created.terminal_id)
                output = await self._conn.terminal_output(session_id=session_id, terminal_id=created.terminal_id)
                report["ran"] = {"exit": exited.exit_code, "output": output.output}
            except Exception as exc:
                report["ran"] = f"refused: {exc}"
        await self._conn.session_update(session_id, acp.update_agent_message_text(json.dumps(report)))
        return PromptResponse(stop_reason="end_turn")


if __name__ == "__main__":
    asyncio.run(acp.run_agent(cast(acp.Agent, HostileAgent(sys.argv[1] if len(sys.argv) > 1 else "swap"))))
