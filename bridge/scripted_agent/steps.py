"""The scripted agent's tool steps: what its directives do through the ACP client (or straight on disk)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import acp
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    ToolCallLocation,
    ToolCallStatus,
    ToolCallUpdate,
    ToolKind,
    Usage,
    UsageUpdate,
)

from bridge.scripted_agent.script import (
    _OPTION_KINDS,
    CANCEL_GRACE_S,
    CONTEXT_WINDOW,
    PERMISSION_OPTIONS,
    Session,
    T,
    ToolCallContent,
    Turn,
    _disk_read,
    _disk_read_strict,
    _disk_write,
    _error_text,
    _new_call_id,
    _TurnCancelled,
    word_chunks,
)


class Steps:
    """The tool steps a directive runs (say, ask, read, write, run...) over the client connection."""

    def __init__(self) -> None:
        self._conn: acp.Client | None = None
        self._client_caps = ClientCapabilities()
        self._sessions: dict[str, Session] = {}
        self._state_dir = os.environ.get("SCRIPTED_AGENT_STATE_DIR") or None
        self.exit_delay = 0.0  # seconds to linger after the client closed the connection (@slow-exit)

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
        abs_path = self._resolve(session, path)
        diff = [acp.tool_diff_content(abs_path, content, _disk_read(abs_path))]
        await self._on_disk(
            session, turn, f"Write {path}", "edit", abs_path, {"path": abs_path, "content": content}, diff,
            lambda: _disk_write(abs_path, content), f"write failed for {path}",
        )

    async def _delete(self, session: Session, turn: Turn, path: str) -> None:
        abs_path = self._resolve(session, path)
        await self._on_disk(
            session, turn, f"Delete {path}", "delete", abs_path, {"path": abs_path}, None,
            lambda: os.remove(abs_path), f"delete failed for {path}",
        )

    async def _on_disk(
        self,
        session: Session,
        turn: Turn,
        title: str,
        kind: ToolKind,
        abs_path: str,
        raw_input: dict[str, Any],
        content: list[Any] | None,
        action: Callable[[], object],
        failure: str,
    ) -> None:
        """Announce a tool call on one file, then do it straight on disk."""
        call_id = _new_call_id()
        await self.conn.session_update(
            session.session_id,
            acp.start_tool_call(
                call_id, title, kind=kind, status="in_progress", content=content,
                locations=[ToolCallLocation(path=abs_path)], raw_input=raw_input,
            ),
        )
        await self._run_on_disk(session, turn, call_id, action, failure)

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

    async def _read(self, session: Session, turn: Turn, path: str, show: bool = False) -> None:
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
        if show:
            await self._say(session, turn, f"<<<{content}>>>\n")

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
