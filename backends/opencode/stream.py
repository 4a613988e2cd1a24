"""opencode's event streams: one SSE connection per active directory, demultiplexed to backends by session.

opencode scopes `GET /event` to one directory (without `?directory=` a client only hears the server's own
cwd), so each worktree with a live opencode session gets its own stream, shared by every backend working
there. Each backend subscribes with its session id and receives, in order, the events of that session (and
of its sub-agent sessions) plus markers: `connected` (with `reconnect` after a drop, so the backend can
reconcile from the session's messages) and `exit` when the server process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
from httpx_sse import aconnect_sse

from backends.opencode.wire import route_session_id

log = logging.getLogger(__name__)

# opencode sends a heartbeat every 10 s: a stream silent for this long is dead even if the socket is open.
READ_TIMEOUT = 35.0


@dataclass(frozen=True)
class StreamItem:
    kind: Literal["event", "connected", "exit"]
    data: dict[str, Any] = field(default_factory=dict)
    reconnect: bool = False
    message: str = ""


class Subscription:
    """One backend's view of its directory's stream."""

    def __init__(self, directory: str, session_id: str) -> None:
        self.directory = directory
        self.sessions = {session_id}
        self.queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        self.connected = asyncio.Event()

    def add_session(self, session_id: str) -> None:
        self.sessions.add(session_id)

    def wants(self, event: dict[str, Any]) -> bool:
        if route_session_id(event) in self.sessions:
            return True
        # A sub-agent session announces itself under its own id; its parent's backend must hear of it.
        info = (event.get("properties") or {}).get("info")
        return isinstance(info, dict) and info.get("parentID") in self.sessions

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout)
        return self.connected.is_set()


def reconnect_delay(attempt: int) -> float:
    """Seconds before reconnect attempt `attempt` (1, 2, ...): quick at first, then at most 5 s."""
    return float(min(5.0, 0.1 * 2 ** max(0, attempt - 1)))


class _DirectoryStream:
    def __init__(self, directory: str, client: Callable[[], httpx.AsyncClient | None]) -> None:
        self.directory = directory
        self._client = client
        self.subscribers: list[Subscription] = []
        self.live = False
        self.connections = 0
        self.attempt = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"opencode-events {self.directory}")

    async def _run(self) -> None:
        while self.subscribers:
            client = self._client()
            if client is None:
                return  # the server is gone; its exit reaches every subscriber separately
            try:
                await self._follow(client)
                log.info("opencode event stream for %s ended; reconnecting", self.directory)
            except (httpx.HTTPError, OSError, RuntimeError) as exc:
                log.info("opencode event stream for %s dropped: %s", self.directory, exc)
            finally:
                self.live = False
                for sub in self.subscribers:
                    sub.connected.clear()
            self.attempt += 1
            await asyncio.sleep(reconnect_delay(self.attempt))

    async def _follow(self, client: httpx.AsyncClient) -> None:
        timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
        async with aconnect_sse(client, "GET", "/event", params={"directory": self.directory},
                                timeout=timeout) as source:
            if source.response.status_code != 200:
                raise RuntimeError(f"GET /event answered {source.response.status_code}")
            async for sse in source.aiter_sse():
                try:
                    event = json.loads(sse.data)
                except ValueError:
                    continue
                if not isinstance(event, dict):
                    continue
                if event.get("type") == "server.connected":
                    self._connected()
                    continue
                for sub in self.subscribers:
                    if sub.wants(event):
                        sub.queue.put_nowait(StreamItem("event", event))

    def _connected(self) -> None:
        self.live = True
        self.attempt = 0
        self.connections += 1
        for sub in self.subscribers:
            sub.connected.set()
            sub.queue.put_nowait(StreamItem("connected", reconnect=self.connections > 1))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class EventHub:
    """The streams of one opencode server, opened while some backend in their directory listens."""

    def __init__(self, client: Callable[[], httpx.AsyncClient | None]) -> None:
        self._client = client
        self._streams: dict[str, _DirectoryStream] = {}

    def subscribe(self, directory: str, session_id: str) -> Subscription:
        sub = Subscription(directory, session_id)
        stream = self._streams.get(directory)
        if stream is None or stream.task is None or stream.task.done():
            stream = _DirectoryStream(directory, self._client)
            self._streams[directory] = stream
            stream.subscribers.append(sub)
            stream.start()
        else:
            stream.subscribers.append(sub)
            if stream.live:
                sub.connected.set()
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        stream = self._streams.get(sub.directory)
        if stream is None or sub not in stream.subscribers:
            return
        stream.subscribers.remove(sub)
        if not stream.subscribers:
            del self._streams[sub.directory]
            await stream.stop()

    def stream_connections(self, directory: str) -> int:
        """How many times the directory's stream connected (tests use it to see reconnects)."""
        stream = self._streams.get(directory)
        return stream.connections if stream else 0

    async def server_exited(self, message: str) -> None:
        """Every subscriber hears that the server died; the streams stop (a restarted server gets new ones)."""
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            for sub in stream.subscribers:
                sub.connected.clear()
                sub.queue.put_nowait(StreamItem("exit", message=message))
            stream.subscribers = []
            await stream.stop()

    async def close(self) -> None:
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.subscribers = []
            await stream.stop()
