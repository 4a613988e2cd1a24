"""The host of one (session, agent): what a backend gets to stream events, ask permissions and resolve paths."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

from backends.base import AgentBackend, OptionKind, PathRefused, PermissionRequest, normalize_command
from backends.events import AgentEvent, ReasoningDelta, TextDelta, ToolCall, event_kind
from bridge import protocol as wire
from bridge.config import AgentConfig
from bridge.core import permissions
from bridge.core.coalesce import TextCoalescer
from bridge.core.events import wire_event
from bridge.core.paths import resolve_in_worktree
from bridge.core.ports import Editor
from bridge.core.transcript import TurnDetails, TurnRecord, dump
from bridge.errors import GitError, PathEscapesWorktree
from bridge.store import Store


class TurnHost:
    """The BackendHost of one (session, agent): routes events to the editor and applies the policy."""

    def __init__(
        self,
        session_id: str,
        worktree: Path,
        cwd: Path,
        agent: AgentConfig,
        editor: Editor,
        store: Store,
        answer_cap: int = 1_000_000,
        workspace: str = "",
        unreviewed: Callable[[], Awaitable[frozenset[str]]] | None = None,
    ) -> None:
        self.session_id = session_id
        # "Always allow" answers hold for this agent in this workspace only.
        self._workspace = workspace
        # The files the agent changed that the user has not reviewed, read when a command is asked about.
        self._unreviewed = unreviewed
        # For each command allowed and not yet run: the unreviewed files it named then, with their contents'
        # hashes, so a rewrite between the answer and the run is caught (confirm_run).
        self._allowed: dict[str, dict[str, str | None]] = {}
        self._worktree = worktree
        self._cwd = cwd
        self._editor = editor
        self._store = store
        self.agent = agent
        self.turn_id: str | None = None
        self.last_activity = time.monotonic()
        self.answer_cap = answer_cap
        self._answer: list[str] = []  # the current turn's text, kept for the session history up to answer_cap
        self._answer_len = 0
        self._answer_cut = 0
        # What the current (or last) turn did, for the session history; `_recorded` is that turn, so a turn
        # that ended before it began here (cancelled while waiting) is not given the one before's.
        self._record = TurnRecord()
        self._recorded: str | None = None
        self._backend: AgentBackend | None = None
        self._coalescer = TextCoalescer(self._flush_text)

    @property
    def worktree(self) -> Path:
        return self._worktree

    @property
    def cwd(self) -> Path:
        return self._cwd

    async def _flush_text(self, kind: str, text: str) -> None:
        if kind == "text" and self.turn_id is not None:
            keep = text[: max(0, self.answer_cap - self._answer_len)]
            if keep:
                self._answer.append(keep)
                self._answer_len += len(keep)
            self._answer_cut += len(text) - len(keep)
        delta = TextDelta(text) if kind == "text" else ReasoningDelta(text)
        self._emit(wire_event(delta, self.session_id, self.turn_id, self.agent.name))

    def _emit(self, event: wire.Event) -> None:
        """Every event of the turn goes through here: to the editor, and into the turn's record."""
        if self.turn_id is not None:
            self._record.add(event)
        self._editor.notify_event(event)

    async def flush(self) -> None:
        await self._coalescer.flush()

    def notice(self, message: str) -> None:
        self._editor.notify_event(wire.NoticeEvent(self.session_id, self.turn_id, self.agent.name, message))

    def resolve_path(self, path: str) -> Path:
        try:
            return resolve_in_worktree(path, self._worktree, self._cwd)
        except PathEscapesWorktree as exc:
            raise PathRefused(str(exc)) from None

    async def on_event(self, event: AgentEvent) -> None:
        self.last_activity = time.monotonic()
        if isinstance(event, TextDelta | ReasoningDelta):
            await self._coalescer.add(event_kind(event), event.text)
            return
        await self._coalescer.flush()
        self._emit(wire_event(event, self.session_id, self.turn_id, self.agent.name))
        if isinstance(event, ToolCall) and self.turn_id is not None and event.status == "in_progress":
            self._editor.progress_report(self.turn_id, event.title)

    async def ask_permission(self, request: PermissionRequest) -> OptionKind | None:
        self.last_activity = time.monotonic()
        store = self._store
        # "Always allow" answers are for commands only: an edit's question (every file an agent writes) needs no
        # store read.
        remembered = (
            await store.remembered_commands(self.agent.name, self._workspace) if request.command else frozenset()
        )
        unreviewed: frozenset[str] = frozenset()
        if request.command and self._unreviewed is not None:
            try:
                unreviewed = await self._unreviewed()
            except GitError as exc:
                # Without knowing what the agent changed, no earlier "always" may stand in for the user.
                self._editor.log(f"session {self.session_id}: cannot read its pending files: {exc}", error=True)
                remembered = frozenset()
        decision = permissions.decide(request, self.worktree, self.cwd, remembered, unreviewed)
        state: dict[str, str | None] = {}
        if request.command and decision.verdict != "reject":
            # Taken before the user is asked: what the agent writes while the question is open counts too.
            state = await self._named_state(request.command, request.cwd, unreviewed)

        def tell(outcome: str, reason: str) -> None:
            self._emit(wire.PermissionEvent(
                self.session_id, self.turn_id, self.agent.name, request.tool_call_id, request.title, request.kind,
                list(request.paths), request.command, request.cwd, outcome, reason,
            ))

        if decision.verdict == "allow":
            tell("allowed", decision.reason)
            if request.command:
                self._allowed[normalize_command(request.command)] = state
            return "allow_once"
        if decision.verdict == "reject":
            tell("rejected", decision.reason)
            return "reject_once"
        await self._coalescer.flush()
        tell("asking", decision.reason)
        message = permissions.describe(request, self.agent.name, decision.unreviewed, self.cwd)
        answer = await self._editor.ask(message, [label for label, _ in permissions.ASK_ACTIONS])
        self.last_activity = time.monotonic()
        kind = permissions.answer_for_title(answer)
        outcome = {"allow_once": "allowed", "allow_always": "allowedAlways"}.get(kind or "", "rejected")
        tell(outcome, "answered by the user")
        if request.command and kind in ("allow_once", "allow_always"):
            self._allowed[normalize_command(request.command)] = state
        if kind == "allow_always" and request.command:
            command = permissions.normalize_command(request.command)
            await store.remember_command(self.agent.name, self._workspace, command, "allow")
            # The bridge remembers; the agent is asked to keep asking so the policy stays in control.
            return "allow_once"
        return kind if kind is not None else "reject_once"

    async def confirm_run(self, command: str, cwd: Path) -> bool:
        allowed = self._allowed.pop(normalize_command(command), None)
        if allowed is None or self._unreviewed is None:
            return allowed is not None
        try:
            unreviewed = await self._unreviewed()
        except GitError:
            return False
        return await self._named_state(command, str(cwd), unreviewed) == allowed

    async def _named_state(
        self, command: str, cwd: str | None, unreviewed: Collection[str]
    ) -> dict[str, str | None]:
        """The unreviewed files `command` names, each with the hash of what the worktree holds now."""
        try:
            command_cwd = resolve_in_worktree(cwd, self._worktree, self._cwd) if cwd else self._cwd
        except PathEscapesWorktree:
            return {}
        named = permissions.named_unreviewed(command, command_cwd, self._worktree, unreviewed)
        return await asyncio.to_thread(_hashes, self._worktree, named)

    def answer(self) -> str:
        """The turn's answer as stored: at most `answer_cap` characters, with a note saying what was cut."""
        text = "".join(self._answer)
        if self._answer_cut:
            text += f"\n\n[answer cut here: {self._answer_cut} more characters were not kept (maxStoredAnswer)]"
        return text

    def recorded(self) -> tuple[str, TurnDetails] | None:
        """The last turn begun here and what it did so far (an open question is left out), while it is kept."""
        return (self._recorded, self._record.details()) if self._recorded is not None else None

    def kept(self, turn_id: str, usage: wire.Usage | None) -> tuple[str, str]:
        """What the history keeps of the turn `turn_id` as it ends: its answer and its record (JSON), with the
        turn's `usage` as the agent reported it; empty if that turn never began here."""
        if turn_id != self._recorded:
            return "", dump(TurnDetails())
        return self.answer(), dump(self._record.details(usage, ended=True))

    def begin(self, turn_id: str, backend: AgentBackend) -> None:
        self.turn_id = turn_id
        self._answer, self._answer_len, self._answer_cut = [], 0, 0
        self._record, self._recorded = TurnRecord(), turn_id
        self._backend = backend
        self.last_activity = time.monotonic()

    def end(self) -> None:
        self.turn_id = None


def _hashes(worktree: Path, paths: Collection[str]) -> dict[str, str | None]:
    def digest(path: Path) -> str | None:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:  # gone, or a directory: its absence or kind is the state
            return None

    return {rel: digest(worktree / rel) for rel in paths}
