"""Coalescing of streamed text so an editor receives a few notifications a second, not one per token."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Flush = Callable[[str, str], Awaitable[None]]


class TextCoalescer:
    """Buffers text and reasoning deltas and flushes them at most every `interval` seconds.

    A flush also happens when the buffered kind changes (text after reasoning), before any other event is
    sent (`flush()`), and when the buffer grows past `max_chars`, so order is preserved and nothing lags
    behind the turn's end.
    """

    def __init__(self, flush: Flush, interval: float = 0.05, max_chars: int = 4096) -> None:
        self._flush_cb = flush
        self._interval = interval
        self._max_chars = max_chars
        self._kind: str | None = None
        self._parts: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._flushing: set[asyncio.Task[None]] = set()  # held so a pending flush is not garbage-collected

    async def add(self, kind: str, text: str) -> None:
        if not text:
            return
        if self._kind is not None and kind != self._kind:
            await self.flush()
        self._kind = kind
        self._parts.append(text)
        self._size += len(text)
        if self._size >= self._max_chars:
            await self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._interval, self._timed_flush)

    def _timed_flush(self) -> None:
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self) -> None:
        async with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._parts or self._kind is None:
                return
            kind, text = self._kind, "".join(self._parts)
            self._parts.clear()
            self._size = 0
            self._kind = None
            await self._flush_cb(kind, text)
