"""What every editor connection of one bridge shares: the store, the session manager and the backends; and
the editor of a workspace, which is every window attached to it.

A standalone server has one connection and closes the hub when it leaves. The daemon keeps one hub for all
its connections: sessions and running turns outlive the windows that started them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import attrs

from bridge.config import Registry
from bridge.core.manager import SessionManager, sees
from bridge.core.ports import BackendFactory, Editor
from bridge.protocol import (
    Event,
    PlanEvent,
    ReasoningEvent,
    TextEvent,
    ToolCallEvent,
    TurnEnded,
    TurnStarted,
)
from bridge.store import Store

log = logging.getLogger(__name__)

FactoryMaker = Callable[[Path, Registry], BackendFactory]


class Client(Protocol):
    """One editor connection, as the hub sees it (a BridgeServer)."""

    @property
    def editor(self) -> Editor: ...

    def workspace_key(self) -> str | None:
        """The workspace this window is attached to (its root folder), or None if it opened none."""
        ...

    def refresh_views(self, session_id: str) -> None: ...


class Hub:
    def __init__(self, state_dir: Path, make_factory: FactoryMaker) -> None:
        self.state_dir = state_dir
        self.make_factory = make_factory
        self.clients: list[Client] = []
        self.store: Store | None = None
        self.manager: SessionManager | None = None
        self._opening = asyncio.Lock()
        self._turns: dict[str, tuple[str | None, TurnLog]] = {}  # running turns: turn id -> (workspace, log)
        self._gone: dict[int, asyncio.Event] = {}  # per attached window: set when it detaches
        self._attached = asyncio.Condition()
        self._closed = False
        self.background: set[asyncio.Task[None]] = set()

    async def open(self, registry: Registry) -> SessionManager:
        """The session manager, started by the first connection that is ready (with its configuration)."""
        async with self._opening:
            if self.manager is None:
                self.store = await Store.open(self.state_dir / "state.db")
                manager = SessionManager(
                    self.store, self.state_dir, registry, WorkspaceEditor(self, None),
                    self.make_factory(self.state_dir, registry), self.editor_for,
                )
                await manager.start()
                self.manager = manager
            return self.manager

    def editor_for(self, workspace: str) -> Editor:
        return WorkspaceEditor(self, workspace)

    async def attach(self, client: Client) -> None:
        async with self._attached:
            if client not in self.clients:
                self.clients.append(client)
                self._gone[id(client)] = asyncio.Event()
            self._attached.notify_all()

    def record(self, workspace: str | None, event: Event) -> None:
        """Keep what running turns have shown, for windows that attach while they run."""
        if isinstance(event, TurnStarted) and event.turn_id is not None:
            self._turns[event.turn_id] = (workspace, TurnLog(event))
        elif isinstance(event, TurnEnded) and event.turn_id is not None:
            self._turns.pop(event.turn_id, None)
        elif event.turn_id in self._turns:
            self._turns[event.turn_id][1].add(event)

    def replay(self, client: Client) -> None:
        """A window that just attached gets the running turns of its workspace as they stand."""
        key = client.workspace_key()
        for workspace, turn in list(self._turns.values()):
            if sees(key, workspace):
                for event in turn.events:
                    client.editor.notify_event(event)

    def detach(self, client: Client) -> None:
        if client in self.clients:
            self.clients.remove(client)
        gone = self._gone.pop(id(client), None)
        if gone is not None:
            gone.set()  # its unanswered questions are dropped; the others are asked on

    async def until_detached(self, client: Client) -> None:
        if client not in self.clients:
            return
        await self._gone.setdefault(id(client), asyncio.Event()).wait()

    def clients_of(self, workspace: str | None) -> list[Client]:
        """The windows a workspace's sessions report to (see `sees`); None: every window."""
        return [c for c in self.clients if sees(c.workspace_key(), workspace)]

    async def wait_for_client(self, workspace: str | None) -> None:
        """Until a window of this workspace is attached (a question asked while none is waits for one)."""
        async with self._attached:
            await self._attached.wait_for(lambda: bool(self.clients_of(workspace)) or self._closed)

    @property
    def running_turns(self) -> int:
        manager = self.manager
        return 0 if manager is None else sum(1 for s in manager.sessions.values() if s.current is not None)

    async def close(self) -> None:
        """Stop every agent and close the store, once."""
        self._closed = True
        async with self._attached:
            self._attached.notify_all()
        try:
            if self.manager is not None:
                await self.manager.shutdown()
        finally:
            if self.store is not None:
                await self.store.close()
                self.store = None


class WorkspaceEditor:
    """The `Editor` of one workspace (None: of the whole bridge): every window attached to it at the moment."""

    def __init__(self, hub: Hub, workspace: str | None) -> None:
        self._hub = hub
        self._workspace = workspace

    def _editors(self) -> list[Editor]:
        return [c.editor for c in self._hub.clients_of(self._workspace)]

    def notify_event(self, event: Event) -> None:
        self._hub.record(self._workspace, event)
        for editor in self._editors():
            editor.notify_event(event)

    async def progress_begin(self, turn_id: str, title: str) -> None:
        """Each window creates its progress item on its own: the turn never waits for a window (one that just
        closed would never answer)."""
        for editor in self._editors():
            task = asyncio.ensure_future(editor.progress_begin(turn_id, title))
            self._hub.background.add(task)
            task.add_done_callback(self._hub.background.discard)

    def progress_report(self, turn_id: str, message: str) -> None:
        for editor in self._editors():
            editor.progress_report(turn_id, message)

    def progress_end(self, turn_id: str, message: str) -> None:
        for editor in self._editors():
            editor.progress_end(turn_id, message)

    async def ask(self, message: str, actions: list[str]) -> str | None:
        """Ask every window of the workspace; the first answer wins. With none attached, wait for one: an agent
        that works while the user is away waits for the user's consent, it does not get it."""
        while True:
            clients = self._hub.clients_of(self._workspace)
            if not clients:
                await self._hub.wait_for_client(self._workspace)
                if self._hub._closed:
                    return None
                continue
            answer, dropped = await _first_answer([self._ask_one(c, message, actions) for c in clients])
            if answer is not None or not dropped or self._hub._closed:
                return answer
            # Every window that could answer closed meanwhile: ask the next one that attaches.

    async def _ask_one(self, client: Client, message: str, actions: list[str]) -> str | _Dropped | None:
        """One window's answer, or _DROPPED when it closes before answering."""
        asking = asyncio.ensure_future(client.editor.ask(message, actions))
        gone = asyncio.ensure_future(self._hub.until_detached(client))
        try:
            await asyncio.wait({asking, gone}, return_when=asyncio.FIRST_COMPLETED)
            if client not in self._hub.clients:
                return _DROPPED  # it left: whatever its question ended with is not the user's answer
            return asking.result()
        finally:
            for task in (asking, gone):
                if not task.done():
                    task.cancel()

    def pending_changed(self, session_id: str) -> None:
        for client in self._hub.clients_of(self._workspace):
            client.refresh_views(session_id)

    def unsaved_texts(self, repo_root: Path) -> dict[str, str]:
        """Unsaved buffers of every window of the workspace (a window that has the document open)."""
        texts: dict[str, str] = {}
        for editor in reversed(self._editors()):  # earlier windows win where two have the same file open
            texts.update(editor.unsaved_texts(repo_root))
        return texts

    def log(self, message: str, error: bool = False) -> None:
        editors = self._editors()
        if not editors:
            (log.error if error else log.info)(message)
        for editor in editors:
            editor.log(message, error)


class TurnLog:
    """What a running turn has shown so far, as few events as say it: text and reasoning runs merged into one
    event each, each tool call and the plan at their latest state. Capped: an agent streaming without end
    does not grow it without end (a window attaching then sees where it was cut)."""

    MAX_TEXT = 200_000  # characters of text and reasoning kept
    MAX_EVENTS = 2_000

    def __init__(self, started: TurnStarted) -> None:
        self.events: list[Event] = [started]
        self._text = 0
        self._cut = False

    def add(self, event: Event) -> None:
        last = self.events[-1]
        if isinstance(event, TextEvent | ReasoningEvent):
            room = max(self.MAX_TEXT - self._text, 0)
            self._text += len(event.text)
            if room < len(event.text) and not self._cut:
                self._cut = True
                note = "\n[... cut: the turn's output so far was too long]\n"
                event = attrs.evolve(event, text=event.text[:room] + note)
            elif room == 0:
                return
            if type(last) is type(event):
                self.events[-1] = attrs.evolve(last, text=last.text + event.text)
                return
        elif isinstance(event, ToolCallEvent | PlanEvent):
            for i, seen in enumerate(self.events):
                same = isinstance(seen, PlanEvent) if isinstance(event, PlanEvent) else (
                    isinstance(seen, ToolCallEvent) and seen.tool_call_id == event.tool_call_id
                )
                if same:
                    self.events[i] = event
                    return
        if len(self.events) < self.MAX_EVENTS:
            self.events.append(event)


class _Dropped:
    """A window closed before it answered."""


_DROPPED = _Dropped()


async def _first_answer(questions: list[Coroutine[Any, Any, str | _Dropped | None]]) -> tuple[str | None, bool]:
    """The first non-empty answer of several windows (the other questions are withdrawn, their answers ignored),
    and whether every window that gave none had closed before answering."""
    pending = {asyncio.ensure_future(q) for q in questions}
    dropped = True
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                result = None if task.cancelled() or task.exception() is not None else task.result()
                if isinstance(result, str):
                    return result, False
                dropped = dropped and result is _DROPPED
        return None, dropped
    finally:
        for task in pending:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
