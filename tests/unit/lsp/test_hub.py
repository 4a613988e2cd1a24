"""bridge.lsp.hub: the editor of a workspace is every window attached to it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from bridge import protocol as wire
from bridge.lsp.hub import Hub, TurnLog, WorkspaceEditor
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


def test_a_turn_log_says_what_the_turn_showed_in_few_events() -> None:
    started = wire.TurnStarted("s", "t", "agent", "do it")
    log = TurnLog(started)
    for part in ("Hel", "lo"):
        log.add(wire.TextEvent("s", "t", "agent", part))
    log.add(wire.ToolCallEvent("s", "t", "agent", "c1", "Read a.py", "read", "pending", ["a.py"]))
    log.add(wire.PlanEvent("s", "t", "agent", [wire.PlanEntry("read", "pending", "high")]))
    log.add(wire.ToolCallEvent("s", "t", "agent", "c1", "Read a.py", "read", "completed", ["a.py"]))
    log.add(wire.PlanEvent("s", "t", "agent", [wire.PlanEntry("read", "completed", "high")]))
    log.add(wire.TextEvent("s", "t", "agent", " again"))
    kinds = [(e.kind, getattr(e, "text", getattr(e, "status", None))) for e in log.events]
    assert kinds == [("turnStarted", None), ("text", "Hello"), ("toolCall", "completed"), ("plan", None),
                     ("text", " again")]
    plan = log.events[3]
    assert isinstance(plan, wire.PlanEvent) and plan.entries[0].status == "completed"


def test_a_turn_log_is_capped_with_a_note() -> None:
    log = TurnLog(wire.TurnStarted("s", "t", "agent", "talk"))
    for _ in range(50):
        log.add(wire.TextEvent("s", "t", "agent", "x" * 10_000))
    [_, text] = log.events
    assert isinstance(text, wire.TextEvent)
    assert len(text.text) < TurnLog.MAX_TEXT + 100 and text.text.endswith("too long]\n")


def test_a_window_attaching_mid_turn_gets_the_turn_so_far_and_only_its_workspace() -> None:
    hub = hub_with()
    editor = WorkspaceEditor(hub, "/a")
    editor.notify_event(wire.TurnStarted("s", "t", "agent", "do it"))
    editor.notify_event(wire.TextEvent("s", "t", "agent", "half"))
    WorkspaceEditor(hub, "/b").notify_event(wire.TurnStarted("s2", "t2", "agent", "elsewhere"))
    late, other = Window("/a"), Window("/c")
    hub.replay(late)
    hub.replay(other)
    assert [e.kind for e in late.editor.events] == ["turnStarted", "text"] and other.editor.events == []
    editor.notify_event(wire.TurnEnded("s", "t", "agent", "completed"))
    again = Window("/a")
    hub.replay(again)
    assert again.editor.events == []  # an ended turn is history (agentBridge.history), not replayed


async def test_a_question_to_a_window_that_closes_goes_to_the_next_window() -> None:
    """The only window closes without answering: the question waits for the next window of the workspace."""
    hub = hub_with()
    closing = Window("/a")

    async def never(message: str, actions: list[str]) -> str | None:
        await asyncio.sleep(3600)
        return None

    closing.editor.ask = never  # type: ignore[method-assign]
    await hub.attach(closing)
    asking = asyncio.ensure_future(WorkspaceEditor(hub, "/a").ask("run ls?", ["Allow"]))
    await asyncio.sleep(0.05)
    hub.detach(closing)
    await asyncio.sleep(0.05)
    assert not asking.done()
    late = Window("/a")
    late.editor.answer = "Allow"
    await hub.attach(late)
    assert await asyncio.wait_for(asking, 5) == "Allow"


async def test_progress_never_holds_up_the_turn() -> None:
    silent = Window("/a")

    async def never(turn_id: str, title: str) -> None:
        await asyncio.sleep(3600)

    silent.editor.progress_begin = never  # type: ignore[method-assign]
    await asyncio.wait_for(WorkspaceEditor(hub_with(silent), "/a").progress_begin("t", "agent: work"), 1)


async def test_a_window_leaving_mid_question_is_not_a_dismissal() -> None:
    """A window whose pending question fails as it leaves (its connection ends) has not answered: the question
    goes to the next window of the workspace instead of counting as "no"."""
    hub = hub_with()
    leaving = Window("/a")

    async def leaves(message: str, actions: list[str]) -> str | None:
        hub.detach(leaving)  # the daemon detaches a window before failing what it left unanswered
        return None

    leaving.editor.ask = leaves  # type: ignore[method-assign]
    await hub.attach(leaving)
    asking = asyncio.ensure_future(WorkspaceEditor(hub, "/a").ask("run ls?", ["Allow"]))
    await asyncio.sleep(0.05)
    assert not asking.done()
    late = Window("/a")
    late.editor.answer = "Allow"
    await hub.attach(late)
    assert await asyncio.wait_for(asking, 5) == "Allow"
