"""A real ACP agent with no LLM behind it, driven by directive lines in the prompt.

It ships with the product (``agent-bridge demo``, trying the bridge without an LLM) and is the
fake agent the test-suite drives, so it speaks the protocol through the official SDK and
reproduces the quirks of real agents that a client has to survive (see the directive list in
``HELP_TEXT``).

Run it as ``python -m bridge.scripted_agent``. Environment:

* ``SCRIPTED_AGENT_STATE_DIR``: persist sessions there as JSON so that another process can
  ``session/load`` them.
* ``SCRIPTED_AGENT_LOG``: append one JSON line per request/notification received from the client (session/new
  and session/load with the MCP servers they were given).
* ``SCRIPTED_AGENT_NO_EMBEDDED_CONTEXT=1``: do not advertise embedded context, like agents that only take
  resource links.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from typing import Any, cast

import acp
from acp.schema import (
    AgentCapabilities,
    ClientCapabilities,
    ConfigOptionUpdate,
    CurrentModeUpdate,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionModeState,
    SetSessionConfigOptionResponse,
    SetSessionModeResponse,
    StopReason,
)

from bridge.scripted_agent.script import (
    AGENT_NAME,
    AGENT_VERSION,
    HELP_TEXT,
    MODELS,
    MODES,
    SESSION_ID_RE,
    STOP_REASONS,
    ContentBlock,
    Directive,
    Session,
    Turn,
    _commands_update,
    _log,
    _TurnCancelled,
    _TurnStop,
    _write_stderr,
    config_options,
    echo_text,
    parse_directives,
    prompt_text,
    state_text,
)
from bridge.scripted_agent.steps import Steps

__all__ = ["HELP_TEXT", "ScriptedAgent", "main"]


class ScriptedAgent(Steps):
    """Implements the agent side of ACP; only the methods defined here are routed.

    It deliberately does not subclass ``acp.Agent``: the Protocol's stub methods would make the
    SDK answer ``null`` to methods we do not implement instead of "method not found".
    """

    # ----- lifecycle ---------------------------------------------------------------------------

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        _log({"method": "initialize"})
        self._client_caps = client_capabilities or ClientCapabilities()
        return InitializeResponse(
            protocol_version=acp.PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(
                    embedded_context=os.environ.get("SCRIPTED_AGENT_NO_EMBEDDED_CONTEXT") != "1"
                ),
            ),
            auth_methods=[],
            agent_info=Implementation(name=AGENT_NAME, title="Scripted agent", version=AGENT_VERSION),
        )

    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **kwargs: Any,
    ) -> NewSessionResponse:
        session = Session(session_id=f"sess-{uuid.uuid4().hex}", cwd=cwd)
        _log({"method": "session/new", "sessionId": session.session_id, "cwd": cwd, "mcpServers": _dump(mcp_servers)})
        self._sessions[session.session_id] = session
        self._persist(session)
        return NewSessionResponse(
            session_id=session.session_id, modes=self._modes(session), config_options=config_options(session)
        )

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[Any] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse:
        _log({"method": "session/load", "sessionId": session_id, "cwd": cwd, "mcpServers": _dump(mcp_servers)})
        session = self._sessions.get(session_id) or self._restore(session_id)
        if session is None:
            raise acp.RequestError.resource_not_found(session_id)
        session.cwd = cwd
        self._sessions[session_id] = session
        # The protocol requires the whole conversation to be replayed before the response.
        for entry in session.history:
            if entry["role"] == "user":
                await self.conn.session_update(session_id, acp.update_user_message_text(entry["text"]))
            elif entry["text"]:
                await self.conn.session_update(session_id, acp.update_agent_message_text(entry["text"]))
        self._persist(session)
        return LoadSessionResponse(modes=self._modes(session), config_options=config_options(session))

    async def set_session_mode(self, session_id: str, mode_id: str, **kwargs: Any) -> SetSessionModeResponse:
        _log({"method": "session/set_mode", "sessionId": session_id, "modeId": mode_id})
        session = self._session(session_id)
        if mode_id not in {m.id for m in MODES}:
            raise acp.RequestError.invalid_params({"modeId": mode_id, "details": "unknown mode"})
        session.mode = mode_id
        self._persist(session)
        # Like real agents, announce the change too (clients may show it from the update alone).
        await self.conn.session_update(
            session_id, CurrentModeUpdate(session_update="current_mode_update", current_mode_id=mode_id)
        )
        return SetSessionModeResponse()

    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **kwargs: Any
    ) -> SetSessionConfigOptionResponse:
        _log({"method": "session/set_config_option", "sessionId": session_id, "configId": config_id, "value": value})
        session = self._session(session_id)
        if config_id == "model" and isinstance(value, str) and value in {m.value for m in MODELS}:
            session.model = value
        elif config_id == "thinking" and isinstance(value, bool):
            session.thinking = value
        else:
            raise acp.RequestError.invalid_params({"configId": config_id, "value": value, "details": "not offered"})
        self._persist(session)
        options = config_options(session)
        await self.conn.session_update(
            session_id, ConfigOptionUpdate(session_update="config_option_update", config_options=options)
        )
        return SetSessionConfigOptionResponse(config_options=options)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        _log({"method": "session/cancel", "sessionId": session_id})
        session = self._sessions.get(session_id)
        if session is not None and session.turn is not None:
            session.turn.cancelled.set()

    async def prompt(self, session_id: str, prompt: list[ContentBlock], **kwargs: Any) -> PromptResponse:
        text = prompt_text(prompt)
        _log({"method": "session/prompt", "sessionId": session_id, "prompt": text})
        session = self._session(session_id)
        # Prompts of one session are queued, like agents that support prompt queueing.
        async with session.lock:
            turn = Turn()
            session.turn = turn
            session.history.append({"role": "user", "text": text})
            # Persisted before the turn runs so that even a crashed turn can be replayed later.
            self._persist(session)
            try:
                stop_reason = await self._run_turn(session, turn, prompt, text)
            finally:
                session.turn = None
                session.history.append({"role": "agent", "text": "".join(turn.said)})
                self._persist(session)
            return PromptResponse(stop_reason=stop_reason, usage=turn.usage)

    # ----- sessions ----------------------------------------------------------------------------

    def _session(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise acp.RequestError.resource_not_found(session_id)
        return session

    def _modes(self, session: Session) -> SessionModeState:
        return SessionModeState(current_mode_id=session.mode, available_modes=list(MODES))

    def _state_path(self, session_id: str) -> str | None:
        # Session ids come from the client on session/load, so they must not escape the dir.
        if not self._state_dir or not SESSION_ID_RE.match(session_id) or session_id.startswith("."):
            return None
        return os.path.join(self._state_dir, f"{session_id}.json")

    def _persist(self, session: Session) -> None:
        path = self._state_path(session.session_id)
        if path is None:
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = {
            "sessionId": session.session_id,
            "cwd": session.cwd,
            "mode": session.mode,
            "model": session.model,
            "thinking": session.thinking,
            "history": session.history,
        }
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    def _restore(self, session_id: str) -> Session | None:
        path = self._state_path(session_id)
        if path is None or not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return Session(
            session_id=data["sessionId"],
            cwd=data["cwd"],
            history=list(data.get("history", [])),
            mode=data.get("mode", "default"),
            model=data.get("model", "fast"),
            thinking=bool(data.get("thinking", False)),
        )

    # ----- the turn ----------------------------------------------------------------------------

    async def _run_turn(
        self, session: Session, turn: Turn, prompt: list[ContentBlock], text: str
    ) -> StopReason:
        directives = parse_directives(text)
        try:
            if not directives:
                await self._say(session, turn, HELP_TEXT)
            for directive in directives:
                self._check_cancel(turn)
                await self._execute(session, turn, directive, prompt)
            self._check_cancel(turn)
        except _TurnCancelled:
            return "cancelled"
        except _TurnStop as stop:
            return stop.reason
        return "end_turn"

    async def _execute(self, session: Session, turn: Turn, d: Directive, prompt: list[ContentBlock]) -> None:
        sid = session.session_id
        match d.name:
            case "say":
                await self._say(session, turn, d.arg + "\n")
            case "think":
                await self.conn.session_update(sid, acp.update_agent_thought_text(d.arg + "\n"))
            case "plan":
                items = [p.strip() for p in d.arg.split("|") if p.strip()]
                entries = [
                    acp.plan_entry(item, status="in_progress" if i == 0 else "pending")
                    for i, item in enumerate(items)
                ]
                await self.conn.session_update(sid, acp.update_plan(entries))
            case "write":
                await self._write(session, turn, d.arg, d.body or "", announce=True)
            case "ask-write":
                await self._write(session, turn, d.arg, d.body or "", announce=False)
            case "write-disk":
                await self._write_disk(session, turn, d.arg, d.body or "")
            case "delete":
                await self._delete(session, turn, d.arg)
            case "read":
                await self._read(session, turn, d.arg)
            case "cat":
                await self._read(session, turn, d.arg, show=True)
            case "run":
                await self._run(session, turn, d.arg)
            case "usage":
                await self._usage(session, turn, d.arg)
            case "sleep":
                try:
                    seconds = float(d.arg)
                except ValueError:
                    await self._say(session, turn, f"bad @sleep argument: {d.arg!r}\n")
                    return
                await self._wait_cancel(turn, seconds)
            case "hang":
                await self._wait_cancel(turn, None)
            case "crash":
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(3)
            case "stop":
                reason = d.arg or "end_turn"
                if reason not in STOP_REASONS:
                    await self._say(session, turn, f"unknown stop reason {reason!r}\n")
                    return
                raise _TurnStop(cast(StopReason, reason))
            case "stderr":
                try:
                    _write_stderr(int(d.arg or "0"))
                except ValueError:
                    await self._say(session, turn, f"bad @stderr argument: {d.arg!r}\n")
            case "echo-prompt":
                await self._say(session, turn, echo_text(prompt) + "\n", by_line=True)
            case "echo-state":
                await self._say(session, turn, state_text(session) + "\n")
            case "commands":
                await self.conn.session_update(sid, _commands_update())
            case "mode":
                mode = d.arg or "default"
                # Unknown names are still announced (clients must cope) but never become the
                # session's advertised current mode, which must be one of MODES.
                if mode in {m.id for m in MODES}:
                    session.mode = mode
                await self.conn.session_update(
                    sid, CurrentModeUpdate(session_update="current_mode_update", current_mode_id=mode)
                )
            case "duplicate-tool-call":
                await self._duplicate_tool_call(session)
            case "slow-exit":
                try:
                    self.exit_delay = float(d.arg or "0")
                except ValueError:
                    await self._say(session, turn, f"bad @slow-exit argument: {d.arg!r}\n")


def _dump(servers: list[Any] | None) -> list[Any]:
    return [s.model_dump(by_alias=True, exclude_none=True) for s in servers or ()]


def main() -> None:
    agent = ScriptedAgent()
    asyncio.run(acp.run_agent(cast(acp.Agent, agent)))
    if agent.exit_delay > 0:
        # Like agents that take seconds to stop (claude-agent-acp): outlive stdin's end and SIGTERM for a while.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(agent.exit_delay)


if __name__ == "__main__":
    main()
