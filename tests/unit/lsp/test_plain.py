"""What a window without our extension is sent for each event (bridge.lsp.plain), message by message."""

from __future__ import annotations

from lsprotocol import types as T

from bridge import protocol as wire
from bridge.lsp.plain import ANSWER_CAP, PlainReporter, declares_events

INFO, WARNING, ERROR = T.MessageType.Info, T.MessageType.Warning, T.MessageType.Error


def reporter(hunks: int = 0) -> tuple[PlainReporter, list[tuple[T.MessageType, str]], list[str]]:
    shown: list[tuple[T.MessageType, str]] = []
    logged: list[str] = []
    plain = PlainReporter(lambda k, m: shown.append((k, m)), lambda _, m: logged.append(m), lambda _: hunks)
    return plain, shown, logged


def text(t: str, turn: str = "t1") -> wire.TextEvent:
    return wire.TextEvent("s1", turn, "qwen", t)


def ended(status: str = "completed", error: str | None = None, turn: str = "t1") -> wire.TurnEnded:
    return wire.TurnEnded("s1", turn, "qwen", status, "end_turn" if status == "completed" else None, error)


def test_the_capability_is_read_strictly() -> None:
    assert declares_events(T.ClientCapabilities(experimental={"agentBridge": {"events": True}}))
    for experimental in (None, {}, {"agentBridge": True}, {"agentBridge": {"events": "yes"}}, ["agentBridge"]):
        assert not declares_events(T.ClientCapabilities(experimental=experimental))
    assert not declares_events(None)


def test_text_is_logged_a_line_at_a_time_and_the_rest_before_a_tool_call() -> None:
    plain, shown, logged = reporter()
    for piece in ("Let me ", "look.\nStill ", "thinking"):
        plain.event(text(piece))
    assert logged == ["qwen: Let me look."]
    plain.event(wire.ToolCallEvent("s1", "t1", "qwen", "c1", "Read a.py", "read", "in_progress", []))
    assert logged == ["qwen: Let me look.", "qwen: Still thinking"]
    assert shown == []


def test_a_long_line_is_logged_in_chunks() -> None:
    plain, _, logged = reporter()
    plain.event(text("x" * 5000))
    assert logged == ["qwen: " + "x" * 5000]


def test_turns_are_kept_apart() -> None:
    plain, shown, _ = reporter()
    plain.event(text("first", "t1"))
    plain.event(text("second", "t2"))
    plain.event(ended(turn="t2"))
    plain.event(ended(turn="t1"))
    assert shown == [(INFO, "qwen: second"), (INFO, "qwen: first")]


def test_the_answer_at_the_end_with_the_pending_count() -> None:
    plain, shown, _ = reporter(hunks=1)
    plain.event(text("Done.\n"))
    plain.event(ended())
    assert shown == [(INFO, "qwen: Done. — 1 pending change: use code actions to apply or reject")]


def test_a_long_answer_keeps_its_end() -> None:
    plain, shown, _ = reporter()
    plain.event(text("a" * 3000 + "THE END"))
    plain.event(ended())
    [(_, message)] = shown
    assert message.startswith("qwen: …") and message.endswith("THE END")
    assert len(message) == len("qwen: …") + ANSWER_CAP


def test_failed_cancelled_and_silent_turns() -> None:
    plain, shown, _ = reporter(hunks=2)
    plain.event(ended("failed", "the agent crashed", turn="t1"))
    plain.event(text("half", "t2"))
    plain.event(ended("cancelled", turn="t2"))
    plain.event(ended(turn="t3"))
    suffix = " — 2 pending changes: use code actions to apply or reject"
    assert shown == [
        (ERROR, "qwen: the turn failed: the agent crashed" + suffix),
        (WARNING, "qwen: the turn was cancelled: half" + suffix),
        (INFO, "qwen: the turn ended (end_turn)" + suffix),
    ]


def test_notices_are_logged() -> None:
    plain, shown, logged = reporter()
    plain.event(wire.NoticeEvent("s1", None, "qwen", "could not resume the earlier session"))
    assert logged == ["qwen: could not resume the earlier session"] and shown == []
