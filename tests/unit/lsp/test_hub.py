"""bridge.lsp.hub: the editor of a workspace is every window attached to it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from bridge import protocol as wire
from bridge.lsp.hub import Hub, WorkspaceEditor
from tests.support.core import RecordingEditor


@dataclass(eq=False)
class Window:
    workspace: str | None
    editor: RecordingEditor = field(default_factory=RecordingEditor)
    refreshed: list[str] = field(default_factory=list)

    def workspace_key(self) -> str | None:
        return self.workspace

    def refresh_views(self, session_id: str) -> None:
        self.refreshed.append(session_id)


def hub_with(*windows: Window) -> Hub:
    hub = Hub(Path("/nonexistent"), lambda state, registry: None)  # type: ignore[arg-type,return-value]
    hub.clients.extend(windows)
    return hub


def test_events_go_to_every_window_of_the_workspace_and_no_other() -> None:
    a1, a2, b = Window("/a"), Window("/a"), Window("/b")
    editor = WorkspaceEditor(hub_with(a1, a2, b), "/a")
    event = wire.NoticeEvent("s", "t", "agent", "hello")
    editor.notify_event(event)
    editor.pending_changed("s")
    assert a1.editor.events == [event] and a2.editor.events == [event] and b.editor.events == []
    assert a1.refreshed == ["s"] and b.refreshed == []


async def test_the_first_answer_wins_and_the_other_question_is_withdrawn() -> None:
    fast, slow = Window("/a"), Window("/a")
    slow_asked = asyncio.Event()

    async def never(message: str, actions: list[str]) -> str | None:
        slow_asked.set()
        await asyncio.sleep(3600)
        return "Reject"

    fast.editor.answer = "Allow"
    slow.editor.ask = never  # type: ignore[method-assign]
    answer = await asyncio.wait_for(WorkspaceEditor(hub_with(slow, fast), "/a").ask("run ls?", ["Allow"]), 5)
    assert answer == "Allow" and slow_asked.is_set()


async def test_a_question_with_no_window_waits_for_one_to_attach() -> None:
    hub = hub_with()
    asking = asyncio.ensure_future(WorkspaceEditor(hub, "/a").ask("run ls?", ["Allow", "Reject"]))
    await asyncio.sleep(0.05)
    assert not asking.done()
    other = Window("/b")
    await hub.attach(other)  # another workspace's window is not asked
    await asyncio.sleep(0.05)
    assert not asking.done()
    window = Window("/a")
    window.editor.answer = "Reject"
    await hub.attach(window)
    assert await asyncio.wait_for(asking, 5) == "Reject"
    assert other.editor.questions == []


async def test_a_window_that_dies_mid_question_leaves_the_others_to_answer() -> None:
    dying, alive = Window("/a"), Window("/a")

    async def gone(message: str, actions: list[str]) -> str | None:
        raise ConnectionResetError("the window closed")

    dying.editor.ask = gone  # type: ignore[method-assign]
    alive.editor.answer = "Allow"
    assert await WorkspaceEditor(hub_with(dying, alive), "/a").ask("run ls?", ["Allow"]) == "Allow"
