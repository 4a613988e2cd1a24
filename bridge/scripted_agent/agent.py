"""A real ACP agent with no LLM behind it, driven by directive lines in the prompt.

It ships with the product (``agent-bridge demo``, trying the bridge without an LLM) and is the
fake agent the test-suite drives, so it speaks the protocol through the official SDK and
reproduces the quirks of real agents that a client has to survive (see the directive list in
``HELP_TEXT``).

Run it as ``python -m bridge.scripted_agent``. Environment:

* ``SCRIPTED_AGENT_STATE_DIR``: persist sessions there as JSON so that another process can
  ``session/load`` them.
* ``SCRIPTED_AGENT_LOG``: append one JSON line per request/notification received from the client.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, get_args

import acp
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    AudioContentBlock,
    AvailableCommand,
    AvailableCommandInput,
    AvailableCommandsUpdate,
    ClientCapabilities,
    ContentToolCallContent,
    CurrentModeUpdate,
    EmbeddedResourceContentBlock,
    FileEditToolCallContent,
    ImageContentBlock,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PermissionOption,
    PermissionOptionKind,
    PromptCapabilities,
    PromptResponse,
    ResourceContentBlock,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    StopReason,
    TerminalToolCallContent,
    TextContentBlock,
    TextResourceContents,
    ToolCallLocation,
    ToolCallStatus,
    ToolCallUpdate,
    ToolKind,
    UnstructuredCommandInput,
    Usage,
    UsageUpdate,
)

__all__ = ["HELP_TEXT", "ScriptedAgent", "main"]

T = TypeVar("T")

ToolCallContent = ContentToolCallContent | FileEditToolCallContent | TerminalToolCallContent

ContentBlock = (
    TextContentBlock
    | ImageContentBlock
    | AudioContentBlock
    | ResourceContentBlock
    | EmbeddedResourceContentBlock
)

AGENT_NAME = "scripted-agent"
AGENT_VERSION = "0.1.0"
CONTEXT_WINDOW = 200_000
# After session/cancel the client must answer our pending requests (permission -> cancelled);
# this bounds how long a non-conforming client can keep the turn alive.
CANCEL_GRACE_S = 5.0
STOP_REASONS: frozenset[str] = frozenset(get_args(StopReason))
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# Directives that take a body of lines terminated by "@end".
BLOCK_DIRECTIVES = frozenset({"write", "write-disk", "ask-write"})
KNOWN_DIRECTIVES = BLOCK_DIRECTIVES | frozenset(
    {
        "say",
        "think",
        "plan",
        "delete",
        "read",
        "run",
        "usage",
        "sleep",
        "hang",
        "crash",
        "stop",
        "stderr",
        "echo-prompt",
        "commands",
        "mode",
        "duplicate-tool-call",
    }
)
MODES = (
    SessionMode(id="default", name="Default", description="Ask before every edit and command"),
    SessionMode(id="plan", name="Plan", description="Only plan, never edit"),
)

# Deliberately allow_always first (like qwen) so that clients have to choose by kind, not position;
# the ids are opaque on purpose too.
PERMISSION_OPTIONS: tuple[PermissionOption, ...] = (
    PermissionOption(option_id="always", name="Always allow", kind="allow_always"),
    PermissionOption(option_id="once", name="Allow", kind="allow_once"),
    PermissionOption(option_id="reject", name="Reject", kind="reject_once"),
)
_OPTION_KINDS: dict[str, PermissionOptionKind] = {o.option_id: o.kind for o in PERMISSION_OPTIONS}

HELP_TEXT = """\
Hello! I am the scripted agent that ships with agent-bridge. There is no LLM behind me: \
I only follow directive lines (lines starting with @) in your prompt, in order.

  @say TEXT              stream TEXT
  @think TEXT            send a thought
  @plan A | B | C        publish a plan
  @write PATH ... @end   edit a file (asks permission, writes through the editor)
  @write-disk PATH ... @end   write straight to disk without asking
  @ask-write PATH ... @end    edit announced only inside the permission request
  @delete PATH           delete a file from disk
  @read PATH             read a file through the editor
  @run CMD               run a shell command in an editor terminal (asks permission)
  @usage IN OUT          report token usage
  @sleep SECONDS / @hang wait (cancellable)
  @stop REASON           end the turn with that stop reason
  @crash                 die mid-turn
  @stderr N              write N bytes to stderr
  @echo-prompt           repeat the prompt I received
  @commands / @mode NAME publish slash commands / switch mode
  @duplicate-tool-call   send the same tool call twice
"""


class _TurnCancelled(Exception):
    """The client sent session/cancel (or answered a permission request with cancelled)."""


class _TurnStop(Exception):
    def __init__(self, reason: StopReason) -> None:
        super().__init__(reason)
        self.reason: StopReason = reason


@dataclass
class Directive:
    name: str
    arg: str
    body: str | None = None


@dataclass
class Turn:
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    said: list[str] = field(default_factory=list)
    usage: Usage | None = None


@dataclass
class Session:
    session_id: str
    cwd: str
    history: list[dict[str, str]] = field(default_factory=list)
    mode: str = "default"
    # Kinds the user answered allow_always for: like qwen switching to auto-edit, we stop asking.
    always_allowed: set[str] = field(default_factory=set)
    turn: Turn | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def parse_directives(text: str) -> list[Directive]:
    """Split prompt text into directives; non-directive lines and unknown @words are ignored.

    Unknown ``@word`` lines are ignored rather than reported because editors put ``@file``
    mentions in prompts.
    """
    directives: list[Directive] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        i += 1
        if not stripped.startswith("@"):
            continue
        name, _, arg = stripped[1:].partition(" ")
        name = name.lower()
        arg = arg.strip()
        if name not in KNOWN_DIRECTIVES:
            continue
        body: str | None = None
        if name in BLOCK_DIRECTIVES:
            body_lines: list[str] = []
            while i < len(lines) and lines[i].strip() != "@end":
                body_lines.append(lines[i])
                i += 1
            i += 1  # the "@end" line (or past the end when it is missing)
            body = "\n".join(body_lines) + "\n" if body_lines else ""
        directives.append(Directive(name, arg, body))
    return directives


def prompt_text(prompt: list[ContentBlock]) -> str:
    return "\n".join(block.text for block in prompt if isinstance(block, TextContentBlock))


def echo_text(prompt: list[ContentBlock]) -> str:
    """Everything the client sent, in a form tests can assert on."""
    parts: list[str] = []
    for block in prompt:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResourceContentBlock):
            res = block.resource
            if isinstance(res, TextResourceContents):
                parts.append(f"<resource uri={res.uri}>\n{res.text}\n</resource>")
            else:
                parts.append(f"<resource uri={res.uri} blob>")
        elif isinstance(block, ResourceContentBlock):
            parts.append(f"<resource_link uri={block.uri}>")
        else:
            parts.append(f"<{block.type} {block.mime_type}>")
    return "\n".join(parts)


def word_chunks(text: str) -> list[str]:
    # Splitting at whitespace->non-whitespace boundaries keeps every character, so the
    # concatenation of the chunks is exactly ``text``.
    return [c for c in re.split(r"(?<=\s)(?=\S)", text) if c]


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, acp.RequestError) and exc.data:
        return f"{exc} {json.dumps(exc.data)}"
    return str(exc) or type(exc).__name__


def _log(record: dict[str, Any]) -> None:
    path = os.environ.get("SCRIPTED_AGENT_LOG")
    if not path:
        return
    record = {"pid": os.getpid(), **record}
    # One O_APPEND write per line keeps lines whole when several agent processes share the log.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


class ScriptedAgent:
    """Implements the agent side of ACP; only the methods defined here are routed.

    It deliberately does not subclass ``acp.Agent``: the Protocol's stub methods would make the
    SDK answer ``null`` to methods we do not implement instead of "method not found".
    """

    def __init__(self) -> None:
        self._conn: acp.Client | None = None
        self._client_caps = ClientCapabilities()
        self._sessions: dict[str, Session] = {}
        self._state_dir = os.environ.get("SCRIPTED_AGENT_STATE_DIR") or None

    def on_connect(self, conn: acp.Client) -> None:
        self._conn = conn

    @property
    def conn(self) -> acp.Client:
        assert self._conn is not None, "on_connect was not called"
        return self._conn

    # ----- capabilities of the client --------------------------------------------------------

    @property
    def _fs_read(self) -> bool:
        return bool(self._client_caps.fs and self._client_caps.fs.read_text_file)

    @property
    def _fs_write(self) -> bool:
        return bool(self._client_caps.fs and self._client_caps.fs.write_text_file)

    @property
    def _terminal(self) -> bool:
        return bool(self._client_caps.terminal)

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
                prompt_capabilities=PromptCapabilities(embedded_context=True),
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
        _log({"method": "session/new", "sessionId": session.session_id, "cwd": cwd})
        self._sessions[session.session_id] = session
        self._persist(session)
        return NewSessionResponse(session_id=session.session_id, modes=self._modes(session))

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[Any] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse:
        _log({"method": "session/load", "sessionId": session_id, "cwd": cwd})
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
        return LoadSessionResponse(modes=self._modes(session))

    async def set_session_mode(self, session_id: str, mode_id: str, **kwargs: Any) -> SetSessionModeResponse:
        _log({"method": "session/set_mode", "sessionId": session_id, "modeId": mode_id})
        session = self._session(session_id)
        if mode_id not in {m.id for m in MODES}:
            raise acp.RequestError.invalid_params({"modeId": mode_id, "details": "unknown mode"})
        session.mode = mode_id
        return SetSessionModeResponse()

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

    def _check_cancel(self, turn: Turn) -> None:
        if turn.cancelled.is_set():
            raise _TurnCancelled

    async def _wait_cancel(self, turn: Turn, seconds: float | None) -> None:
        """Sleep for ``seconds`` (forever when None) unless the turn is cancelled first."""
        try:
            await asyncio.wait_for(turn.cancelled.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise _TurnCancelled

    async def _request(self, turn: Turn, call: Awaitable[T]) -> T:
        """Await a request to the client; cancellation leaves it CANCEL_GRACE_S to be answered.

        A conforming client answers pending requests promptly after session/cancel (permission
        -> cancelled), so we wait for that answer rather than dropping it on the floor.
        """
        task = asyncio.ensure_future(call)
        waiter = asyncio.ensure_future(turn.cancelled.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
                if not done:
                    raise _TurnCancelled
            return task.result()
        finally:
            waiter.cancel()
            if not task.done():
                task.cancel()

    async def _say(self, session: Session, turn: Turn, text: str, *, by_line: bool = False) -> None:
        chunks = text.splitlines(keepends=True) if by_line else word_chunks(text)
        for chunk in chunks:
            self._check_cancel(turn)
            await self.conn.session_update(session.session_id, acp.update_agent_message_text(chunk))
            turn.said.append(chunk)
            # Yield so a session/cancel that arrived mid-stream is seen before the next chunk.
            await asyncio.sleep(0)

    async def _ask(self, session: Session, turn: Turn, tool_call: ToolCallUpdate) -> bool:
        """Ask permission; True when allowed. Raises _TurnCancelled on a cancelled outcome."""
        kind = tool_call.kind or "other"
        if kind in session.always_allowed:
            return True
        response = await self._request(
            turn,
            self.conn.request_permission(
                session_id=session.session_id, tool_call=tool_call, options=list(PERMISSION_OPTIONS)
            ),
        )
        outcome = response.outcome
        if not isinstance(outcome, AllowedOutcome) or turn.cancelled.is_set():
            await self.conn.session_update(
                session.session_id, acp.update_tool_call(tool_call.tool_call_id, status="failed")
            )
            raise _TurnCancelled
        option_kind = _OPTION_KINDS.get(outcome.option_id)
        if option_kind is None:
            raise acp.RequestError.invalid_params(
                {"optionId": outcome.option_id, "details": "unknown option"}
            )
        if option_kind == "allow_always":
            session.always_allowed.add(kind)
        return option_kind.startswith("allow")

    # ----- files -------------------------------------------------------------------------------

    def _resolve(self, session: Session, path: str) -> str:
        # Absolute paths are passed through untouched so tests can offer hostile paths: refusing
        # them is the client's job.
        if os.path.isabs(path):
            return path
        return os.path.normpath(os.path.join(session.cwd, path))

    async def _read_old(self, session: Session, turn: Turn, abs_path: str) -> str | None:
        """Current content of a file, None when it does not exist.

        Reads through the client when possible (like gemini/qwen) so unsaved editor buffers and
        edits the client has not flushed to disk are what the diff is based on.
        """
        if self._fs_read:
            try:
                resp = await self._request(
                    turn, self.conn.read_text_file(session_id=session.session_id, path=abs_path)
                )
            except acp.RequestError:
                return None
            return resp.content
        return _disk_read(abs_path)

    async def _write(self, session: Session, turn: Turn, path: str, content: str, *, announce: bool) -> None:
        sid = session.session_id
        abs_path = self._resolve(session, path)
        old = await self._read_old(session, turn, abs_path)
        call_id = _new_call_id()
        title = f"Write {path}"
        diff: list[ToolCallContent] = [acp.tool_diff_content(abs_path, content, old)]
        locations = [ToolCallLocation(path=abs_path)]
        raw_input = {"path": abs_path, "content": content}
        if announce:
            await self.conn.session_update(
                sid,
                acp.start_tool_call(
                    call_id,
                    title,
                    kind="edit",
                    status="pending",
                    content=diff,
                    locations=locations,
                    raw_input=raw_input,
                ),
            )
        # With announce=False this is the qwen/gemini quirk: the permission request is the only
        # place the tool call (and its diff) is ever described.
        allowed = await self._ask(
            session,
            turn,
            ToolCallUpdate(
                tool_call_id=call_id,
                title=title,
                kind="edit",
                status="pending",
                content=diff,
                locations=locations,
                raw_input=raw_input,
            ),
        )
        if not allowed:
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"permission denied for {path}\n")
            return
        try:
            if self._fs_write:
                await self._request(
                    turn, self.conn.write_text_file(session_id=sid, path=abs_path, content=content)
                )
            else:
                _disk_write(abs_path, content)
        except (acp.RequestError, OSError) as exc:
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"write failed for {path}: {_error_text(exc)}\n")
            return
        await self.conn.session_update(sid, acp.update_tool_call(call_id, status="completed"))

    async def _write_disk(self, session: Session, turn: Turn, path: str, content: str) -> None:
        """Write without asking or going through the client, as opencode and claude do."""
        sid = session.session_id
        abs_path = self._resolve(session, path)
        call_id = _new_call_id()
        await self.conn.session_update(
            sid,
            acp.start_tool_call(
                call_id,
                f"Write {path}",
                kind="edit",
                status="in_progress",
                content=[acp.tool_diff_content(abs_path, content, _disk_read(abs_path))],
                locations=[ToolCallLocation(path=abs_path)],
                raw_input={"path": abs_path, "content": content},
            ),
        )
        await self._run_on_disk(
            session, turn, call_id, lambda: _disk_write(abs_path, content), f"write failed for {path}"
        )

    async def _delete(self, session: Session, turn: Turn, path: str) -> None:
        sid = session.session_id
        abs_path = self._resolve(session, path)
        call_id = _new_call_id()
        await self.conn.session_update(
            sid,
            acp.start_tool_call(
                call_id,
                f"Delete {path}",
                kind="delete",
                status="in_progress",
                locations=[ToolCallLocation(path=abs_path)],
                raw_input={"path": abs_path},
            ),
        )
        await self._run_on_disk(session, turn, call_id, lambda: os.remove(abs_path), f"delete failed for {path}")

    async def _run_on_disk(
        self, session: Session, turn: Turn, call_id: str, action: Callable[[], object], failure: str
    ) -> None:
        """Do a file operation for a tool call and complete or fail the call accordingly."""
        try:
            action()
        except OSError as exc:
            await self.conn.session_update(session.session_id, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"{failure}: {exc}\n")
            return
        await self.conn.session_update(session.session_id, acp.update_tool_call(call_id, status="completed"))

    async def _read(self, session: Session, turn: Turn, path: str) -> None:
        sid = session.session_id
        abs_path = self._resolve(session, path)
        call_id = _new_call_id()
        await self.conn.session_update(sid, acp.start_read_tool_call(call_id, f"Read {path}", abs_path))
        try:
            if self._fs_read:
                resp = await self._request(turn, self.conn.read_text_file(session_id=sid, path=abs_path))
                content = resp.content
            else:
                content = _disk_read_strict(abs_path)
        except (acp.RequestError, OSError) as exc:
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"error reading {path}: {_error_text(exc)}\n")
            return
        await self.conn.session_update(sid, acp.update_tool_call(call_id, status="completed"))
        await self._say(session, turn, f"read {len(content.splitlines())} lines of {path}\n")

    # ----- commands ----------------------------------------------------------------------------

    async def _run(self, session: Session, turn: Turn, command: str) -> None:
        sid = session.session_id
        call_id = _new_call_id()
        title = f"Run {command}"
        await self.conn.session_update(
            sid,
            acp.start_tool_call(
                call_id, title, kind="execute", status="pending", raw_input={"command": command}
            ),
        )
        if not self._terminal:
            # Asking permission for a command that cannot run would only confuse the user.
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, "no terminal\n")
            return
        kind: ToolKind = "execute"
        allowed = await self._ask(
            session,
            turn,
            ToolCallUpdate(
                tool_call_id=call_id, title=title, kind=kind, status="pending", raw_input={"command": command}
            ),
        )
        if not allowed:
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"permission denied for {command}\n")
            return
        try:
            created = await self._request(
                turn,
                self.conn.create_terminal(
                    session_id=sid, command="sh", args=["-c", command], cwd=session.cwd
                ),
            )
        except Exception as exc:  # a client without terminal methods answers null -> ValidationError
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"terminal error: {_error_text(exc)}\n")
            return
        tid = created.terminal_id
        await self.conn.session_update(
            sid, acp.update_tool_call(call_id, status="in_progress", content=[acp.tool_terminal_ref(tid)])
        )
        try:
            exit_task = asyncio.ensure_future(
                self.conn.wait_for_terminal_exit(session_id=sid, terminal_id=tid)
            )
            waiter = asyncio.ensure_future(turn.cancelled.wait())
            try:
                await asyncio.wait({exit_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if not exit_task.done():
                # Cancelled while the command runs: kill it like real agents do, then give up.
                exit_task.cancel()
                await self._request(turn, self.conn.kill_terminal(session_id=sid, terminal_id=tid))
                await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
                raise _TurnCancelled
            exited = exit_task.result()
            out = await self._request(turn, self.conn.terminal_output(session_id=sid, terminal_id=tid))
        except _TurnCancelled:
            raise
        except Exception as exc:
            await self.conn.session_update(sid, acp.update_tool_call(call_id, status="failed"))
            await self._say(session, turn, f"terminal error: {_error_text(exc)}\n")
            return
        finally:
            try:
                await self._request(turn, self.conn.release_terminal(session_id=sid, terminal_id=tid))
            except (acp.RequestError, _TurnCancelled):
                pass
        status = exited.exit_code if exited.exit_code is not None else exited.signal
        if out.exit_status is not None and status is None:
            status = (
                out.exit_status.exit_code if out.exit_status.exit_code is not None else out.exit_status.signal
            )
        await self.conn.session_update(
            sid,
            acp.update_tool_call(
                call_id,
                status="completed",
                content=[acp.tool_content(acp.text_block(out.output))],
                raw_output={
                    "exitCode": exited.exit_code,
                    "signal": exited.signal,
                    "truncated": out.truncated,
                },
            ),
        )
        first_line = out.output.splitlines()[0] if out.output.splitlines() else ""
        await self._say(session, turn, f"exit {status}: {first_line}\n")

    async def _usage(self, session: Session, turn: Turn, arg: str) -> None:
        try:
            tokens_in, tokens_out = (int(x) for x in arg.split())
        except ValueError:
            await self._say(session, turn, f"bad @usage argument: {arg!r}\n")
            return
        await self.conn.session_update(
            session.session_id,
            UsageUpdate(session_update="usage_update", used=tokens_in + tokens_out, size=CONTEXT_WINDOW),
        )
        turn.usage = Usage(
            total_tokens=tokens_in + tokens_out, input_tokens=tokens_in, output_tokens=tokens_out
        )

    async def _duplicate_tool_call(self, session: Session) -> None:
        """claude-code-acp announces some tool calls twice with the same id."""
        sid = session.session_id
        call_id = _new_call_id()
        statuses: tuple[ToolCallStatus, ...] = ("pending", "in_progress")
        for status in statuses:
            await self.conn.session_update(
                sid,
                acp.start_tool_call(
                    call_id, "Think it over", kind="think", status=status, raw_input={"n": 1}
                ),
            )
        await self.conn.session_update(sid, acp.update_tool_call(call_id, status="completed"))


def _commands_update() -> AvailableCommandsUpdate:
    return AvailableCommandsUpdate(
        session_update="available_commands_update",
        available_commands=[
            AvailableCommand(name="help", description="List the directives the scripted agent understands"),
            AvailableCommand(
                name="say",
                description="Repeat some text",
                input=AvailableCommandInput(root=UnstructuredCommandInput(hint="text to repeat")),
            ),
        ],
    )


def _new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _disk_read_strict(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _disk_read(path: str) -> str | None:
    try:
        return _disk_read_strict(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _disk_write(path: str, content: str) -> None:
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)


def _write_stderr(n: int) -> None:
    """Exactly ``n`` bytes, blocking: a client that never drains stderr deadlocks us, on purpose."""
    line = b"e" * 79 + b"\n"
    data = (line * (n // len(line) + 1))[:n]
    view = memoryview(data)
    while view:
        written = os.write(2, view)
        view = view[written:]


def main() -> None:
    asyncio.run(acp.run_agent(cast(acp.Agent, ScriptedAgent())))


if __name__ == "__main__":
    main()
