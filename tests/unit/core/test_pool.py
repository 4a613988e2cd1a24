"""bridge.core.pool: which warm backends to stop, and the pool's bookkeeping."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from backends.base import AgentBackend
from bridge.core.pool import AgentPool, SlotState, choose_evictions


def slot(name: str, last_used: float, busy: bool = False) -> SlotState:
    return SlotState((f"s-{name}", "agent"), busy, last_used)


def key(name: str) -> tuple[str, str]:
    return (f"s-{name}", "agent")


NOW = 10_000.0
IDLE = 900.0


def test_nothing_evicted_when_fresh_and_under_cap() -> None:
    slots = [slot("a", NOW - 1), slot("b", NOW - 2)]
    assert choose_evictions(slots, cap=4, now=NOW, idle_timeout=IDLE) == []


def test_empty_pool() -> None:
    assert choose_evictions([], cap=0, now=NOW, idle_timeout=IDLE) == []


def test_idle_timeout_evicts_only_the_stale() -> None:
    slots = [slot("stale", NOW - IDLE - 1), slot("fresh", NOW - IDLE + 1), slot("exact", NOW - IDLE)]
    assert choose_evictions(slots, cap=10, now=NOW, idle_timeout=IDLE) == [key("stale"), key("exact")]


def test_busy_is_never_evicted_for_idleness() -> None:
    slots = [slot("busy", NOW - 10 * IDLE, busy=True)]
    assert choose_evictions(slots, cap=10, now=NOW, idle_timeout=IDLE) == []


def test_lru_over_cap() -> None:
    slots = [slot("mid", NOW - 20), slot("oldest", NOW - 30), slot("newest", NOW - 10), slot("old", NOW - 25)]
    assert choose_evictions(slots, cap=2, now=NOW, idle_timeout=IDLE) == [key("oldest"), key("old")]
    assert choose_evictions(slots, cap=3, now=NOW, idle_timeout=IDLE) == [key("oldest")]
    assert choose_evictions(slots, cap=4, now=NOW, idle_timeout=IDLE) == []


def test_busy_never_evicted_even_if_over_cap() -> None:
    slots = [slot("a", NOW - 30, busy=True), slot("b", NOW - 20, busy=True), slot("c", NOW - 10, busy=True)]
    assert choose_evictions(slots, cap=1, now=NOW, idle_timeout=IDLE) == []


def test_over_cap_skips_busy_and_takes_next_lru() -> None:
    slots = [slot("oldest-busy", NOW - 50, busy=True), slot("old", NOW - 40), slot("new", NOW - 5)]
    # One too many: the oldest is busy, so the next least recently used idle one goes.
    assert choose_evictions(slots, cap=2, now=NOW, idle_timeout=IDLE) == [key("old")]


def test_over_cap_with_too_few_idle_evicts_what_it_can() -> None:
    slots = [slot("b1", NOW - 50, busy=True), slot("b2", NOW - 40, busy=True), slot("i", NOW - 30)]
    assert choose_evictions(slots, cap=0, now=NOW, idle_timeout=IDLE) == [key("i")]


def test_idle_evictions_count_toward_the_cap() -> None:
    slots = [slot("stale", NOW - IDLE - 5), slot("a", NOW - 30), slot("b", NOW - 20), slot("c", NOW - 10)]
    # After the stale one goes, three remain for a cap of 2: one more (the LRU) goes, not two.
    assert choose_evictions(slots, cap=2, now=NOW, idle_timeout=IDLE) == [key("stale"), key("a")]


def test_mixed_idle_busy_and_cap() -> None:
    slots = [
        slot("stale-busy", NOW - IDLE * 3, busy=True),
        slot("stale", NOW - IDLE * 2),
        slot("busy", NOW - 1, busy=True),
        slot("x", NOW - 100),
        slot("y", NOW - 50),
    ]
    result = choose_evictions(slots, cap=2, now=NOW, idle_timeout=IDLE)
    assert result == [key("stale"), key("x"), key("y")]
    assert key("stale-busy") not in result and key("busy") not in result
    assert len(result) == len(set(result))


# AgentPool bookkeeping


def backend(name: str) -> AgentBackend:
    return cast(AgentBackend, cast(Any, f"backend-{name}"))


def test_pool_add_get_pop() -> None:
    pool = AgentPool(max_live=2, idle_timeout=IDLE)
    a, b = backend("a"), backend("b")
    pool.add(("s1", "qwen"), a)
    pool.add(("s1", "codex"), b)
    assert pool.get(("s1", "qwen")) is a
    assert pool.get(("s1", "codex")) is b
    assert pool.get(("s2", "qwen")) is None
    assert pool.pop(("s1", "qwen")) is a
    assert pool.get(("s1", "qwen")) is None
    assert pool.pop(("s1", "qwen")) is None
    assert pool.keys() == [("s1", "codex")]


def test_pool_add_replaces_and_resets_busy() -> None:
    pool = AgentPool(max_live=2, idle_timeout=IDLE)
    pool.add(("s", "a"), backend("old"))
    pool.set_busy(("s", "a"), True)
    new = backend("new")
    pool.add(("s", "a"), new)
    assert pool.get(("s", "a")) is new
    assert pool.is_busy(("s", "a")) is False


def test_pool_busy_flags() -> None:
    pool = AgentPool(max_live=2, idle_timeout=IDLE)
    pool.add(("s", "a"), backend("a"))
    assert pool.is_busy(("s", "a")) is False
    pool.set_busy(("s", "a"), True)
    assert pool.is_busy(("s", "a")) is True
    pool.set_busy(("s", "a"), False)
    assert pool.is_busy(("s", "a")) is False
    pool.set_busy(("nope", "x"), True)  # unknown keys are ignored
    assert pool.is_busy(("nope", "x")) is False
    assert pool.keys() == [("s", "a")]


def test_pool_keys_by_session() -> None:
    pool = AgentPool(max_live=5, idle_timeout=IDLE)
    for k in [("s1", "a"), ("s2", "a"), ("s1", "b")]:
        pool.add(k, backend("x"))
    assert pool.keys("s1") == [("s1", "a"), ("s1", "b")]
    assert pool.keys("s2") == [("s2", "a")]
    assert pool.keys("s3") == []
    assert len(pool.keys()) == 3


def test_pool_to_evict_uses_idle_timeout_and_never_busy() -> None:
    pool = AgentPool(max_live=10, idle_timeout=IDLE)
    pool.add(("s", "idle"), backend("i"))
    pool.add(("s", "busy"), backend("b"))
    pool.set_busy(("s", "busy"), True)
    later = time.monotonic() + IDLE + 1
    assert pool.to_evict(now=later) == [("s", "idle")]
    assert pool.to_evict(now=time.monotonic()) == []


def test_pool_to_evict_over_cap_picks_least_recently_used() -> None:
    pool = AgentPool(max_live=1, idle_timeout=IDLE)
    pool.add(("s", "first"), backend("1"))
    pool.add(("s", "second"), backend("2"))
    # Touch "first" so "second" becomes the least recently used.
    pool.set_busy(("s", "first"), True)
    pool.set_busy(("s", "first"), False)
    assert pool.to_evict() == [("s", "second")]


@pytest.mark.parametrize("busy", [True, False])
def test_pool_set_busy_refreshes_last_used(busy: bool) -> None:
    pool = AgentPool(max_live=10, idle_timeout=IDLE)
    pool.add(("s", "a"), backend("a"))
    before = time.monotonic()
    pool.set_busy(("s", "a"), busy)
    pool.set_busy(("s", "a"), False)
    # Idle is measured from the last change: an hour-old start does not make it stale now.
    assert pool.to_evict(now=before + IDLE - 1) == []
    assert pool.to_evict(now=time.monotonic() + IDLE) == [("s", "a")]
