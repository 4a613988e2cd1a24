"""bridge.core.coalesce: streamed deltas reach the editor in few notifications, in order, with nothing lost."""

from __future__ import annotations

import asyncio
import itertools

from bridge.core.coalesce import TextCoalescer

LONG = 3600.0  # an interval that never elapses during a test


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.flushed = asyncio.Event()

    async def __call__(self, kind: str, text: str) -> None:
        self.calls.append((kind, text))
        self.flushed.set()


async def test_many_small_deltas_produce_one_timed_flush() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=0.01)
    pieces = [f"tok{i} " for i in range(50)]
    for piece in pieces:
        await coalescer.add("text", piece)
    assert sink.calls == []  # nothing sent yet: it waits for the interval
    await sink.flushed.wait()
    assert sink.calls == [("text", "".join(pieces))]
    await coalescer.flush()
    assert len(sink.calls) == 1


async def test_timer_restarts_after_a_timed_flush() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=0.01)
    await coalescer.add("text", "a")
    await sink.flushed.wait()
    sink.flushed.clear()
    await coalescer.add("text", "b")
    await coalescer.add("text", "c")
    await sink.flushed.wait()
    assert sink.calls == [("text", "a"), ("text", "bc")]


async def test_kind_switch_flushes_in_order() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=LONG)
    await coalescer.add("reasoning", "think ")
    await coalescer.add("reasoning", "more")
    await coalescer.add("text", "answer")
    assert sink.calls == [("reasoning", "think more")]
    await coalescer.add("text", "!")
    await coalescer.add("reasoning", "again")
    assert sink.calls == [("reasoning", "think more"), ("text", "answer!")]
    await coalescer.flush()
    assert sink.calls == [("reasoning", "think more"), ("text", "answer!"), ("reasoning", "again")]


async def test_max_chars_triggers_flush() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=LONG, max_chars=10)
    await coalescer.add("text", "12345")
    assert sink.calls == []
    await coalescer.add("text", "6789")
    assert sink.calls == []
    await coalescer.add("text", "0ab")
    assert sink.calls == [("text", "1234567890ab")]
    await coalescer.add("text", "c")
    assert sink.calls == [("text", "1234567890ab")]  # the size counter was reset
    await coalescer.flush()
    assert sink.calls == [("text", "1234567890ab"), ("text", "c")]


async def test_single_oversized_delta_flushes_at_once() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=LONG, max_chars=4)
    await coalescer.add("text", "abcdefgh")
    assert sink.calls == [("text", "abcdefgh")]


async def test_explicit_flush_empties_and_is_idempotent() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=LONG)
    await coalescer.flush()
    assert sink.calls == []
    await coalescer.add("text", "x")
    await coalescer.add("text", "y")
    await coalescer.flush()
    await coalescer.flush()
    assert sink.calls == [("text", "xy")]


async def test_explicit_flush_cancels_pending_timer() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=0.01)
    await coalescer.add("text", "x")
    await coalescer.flush()
    assert sink.calls == [("text", "x")]
    # A later delta still gets its own timed flush; the cancelled timer sends nothing extra.
    sink.flushed.clear()
    await coalescer.add("text", "y")
    await sink.flushed.wait()
    assert sink.calls == [("text", "x"), ("text", "y")]


async def test_empty_delta_is_ignored() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=LONG)
    await coalescer.add("text", "")
    await coalescer.flush()
    assert sink.calls == []
    await coalescer.add("reasoning", "r")
    await coalescer.add("text", "")  # an empty delta of another kind must not split the buffer
    await coalescer.add("reasoning", "s")
    await coalescer.flush()
    assert sink.calls == [("reasoning", "rs")]


async def test_nothing_lost_and_order_kept() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=LONG, max_chars=7)
    sent: list[tuple[str, str]] = []
    for i in range(200):
        kind = "reasoning" if (i // 13) % 2 else "text"
        piece = f"{i},"
        sent.append((kind, piece))
        await coalescer.add(kind, piece)
    await coalescer.flush()

    # Every flush is a run of consecutive deltas of one kind, in the order they were sent, and together the
    # flushes are exactly the deltas: nothing lost, duplicated or reordered.
    position = 0
    for kind, text in sink.calls:
        run = ""
        while len(run) < len(text):
            assert sent[position][0] == kind
            run += sent[position][1]
            position += 1
        assert run == text
    assert position == len(sent)
    kinds = [k for k, _ in sink.calls]
    switches = sum(1 for a, b in itertools.pairwise(sent) if a[0] != b[0])
    assert sum(1 for a, b in itertools.pairwise(kinds) if a != b) == switches
    assert len(sink.calls) < len(sent)


async def test_callback_order_when_timer_and_explicit_flush_race() -> None:
    sink = Sink()
    coalescer = TextCoalescer(sink, interval=0.0)
    await coalescer.add("text", "a")
    await asyncio.sleep(0)  # let the timer fire and its flush task get scheduled
    await coalescer.add("reasoning", "b")
    await coalescer.flush()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sink.calls == [("text", "a"), ("reasoning", "b")]
