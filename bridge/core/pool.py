"""Warm agent backends per (session, agent), and the pure decisions about which to stop."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from backends.base import AgentBackend

Key = tuple[str, str]  # (session id, agent name)


@dataclass(frozen=True)
class SlotState:
    key: Key
    busy: bool
    last_used: float


def choose_evictions(slots: Iterable[SlotState], cap: int, now: float, idle_timeout: float) -> list[Key]:
    """Which warm backends to stop: idle past the timeout, then least recently used over the cap.

    A busy backend is never chosen, even if that leaves the pool over its cap for a while.
    """
    slots = list(slots)
    chosen = [s.key for s in slots if not s.busy and now - s.last_used >= idle_timeout]
    remaining = [s for s in slots if s.key not in chosen]
    excess = len(remaining) - cap
    if excess > 0:
        idle = sorted((s for s in remaining if not s.busy), key=lambda s: s.last_used)
        chosen.extend(s.key for s in idle[:excess])
    return chosen


@dataclass
class Slot:
    backend: AgentBackend
    busy: bool = False
    last_used: float = field(default_factory=time.monotonic)


class AgentPool:
    """The live backends. Holds no policy beyond bookkeeping; see `choose_evictions`."""

    def __init__(self, max_live: int, idle_timeout: float) -> None:
        self.max_live = max_live
        self.idle_timeout = idle_timeout
        self._slots: dict[Key, Slot] = {}

    def get(self, key: Key) -> AgentBackend | None:
        slot = self._slots.get(key)
        return slot.backend if slot else None

    def add(self, key: Key, backend: AgentBackend) -> None:
        self._slots[key] = Slot(backend)

    def pop(self, key: Key) -> AgentBackend | None:
        slot = self._slots.pop(key, None)
        return slot.backend if slot else None

    def set_busy(self, key: Key, busy: bool) -> None:
        slot = self._slots.get(key)
        if slot is not None:
            slot.busy = busy
            slot.last_used = time.monotonic()

    def touch(self, key: Key) -> None:
        """Just used (steered): not the first to be stopped as idle."""
        slot = self._slots.get(key)
        if slot is not None:
            slot.last_used = time.monotonic()

    def is_busy(self, key: Key) -> bool:
        slot = self._slots.get(key)
        return bool(slot and slot.busy)

    def keys(self, session_id: str | None = None) -> list[Key]:
        return [k for k in self._slots if session_id is None or k[0] == session_id]

    def to_evict(self, now: float | None = None) -> list[Key]:
        states = [SlotState(k, s.busy, s.last_used) for k, s in self._slots.items()]
        return choose_evictions(states, self.max_live, time.monotonic() if now is None else now, self.idle_timeout)
