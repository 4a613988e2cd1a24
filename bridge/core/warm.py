"""Warm agents: one backend per (session, agent), started on demand (resuming the agent's session where it
can, with the user's steering choices put back), stopped when idle or over the live cap (never while busy),
and stopped for good with their session or the bridge."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from backends.base import AgentBackend
from bridge.config import AgentConfig
from bridge.core import steering
from bridge.core.host import TurnHost
from bridge.core.pool import AgentPool, Key
from bridge.core.ports import BackendFactory, Editor
from bridge.core.session import Session
from bridge.git import pending
from bridge.store import Store

log = logging.getLogger(__name__)


class WarmAgents:
    """The SessionManager's agents. `editors(workspace)` is where a session's agent talks to the user; `editor`
    gets what concerns the bridge as a whole (evictions)."""

    def __init__(
        self,
        store: Store,
        factory: BackendFactory,
        pool: AgentPool,
        editor: Editor,
        editors: Callable[[str], Editor],
        answer_cap: int,
    ) -> None:
        self.store = store
        self.factory = factory
        self.pool = pool
        self.answer_cap = answer_cap
        self._editor = editor
        self._editors = editors
        self._hosts: dict[Key, TurnHost] = {}
        self._starting: dict[Key, asyncio.Lock] = {}  # one start at a time per agent (a turn, agentState)

    def set_answer_cap(self, cap: int) -> None:
        self.answer_cap = cap
        for host in self._hosts.values():
            host.answer_cap = cap

    def hosts(self) -> list[TurnHost]:
        return list(self._hosts.values())

    async def backend(self, live: Session, agent: AgentConfig) -> tuple[AgentBackend, TurnHost]:
        """The warm backend of (session, agent), started (or restarted, if its configuration changed) if need be."""
        async with self._starting.setdefault((live.id, agent.name), asyncio.Lock()):
            return await self._warm(live, agent)

    async def _warm(self, live: Session, agent: AgentConfig) -> tuple[AgentBackend, TurnHost]:
        key: Key = (live.id, agent.name)
        backend = self.pool.get(key)
        host = self._hosts.get(key)
        if backend is not None and backend.alive and host is not None and host.agent == agent:
            return backend, host
        if backend is not None:
            await self.stop([key])

        async def unreviewed() -> frozenset[str]:  # what the agent changed that the user has not reviewed
            changes = await asyncio.to_thread(pending.pending_changes, live.tree, live.base_commit)
            return frozenset(p for change in changes for p in (change.path, change.old_path) if p)

        host = TurnHost(
            live.id, live.path, live.cwd, agent, self._editors(live.row.workspace), self.store, self.answer_cap,
            live.row.workspace, unreviewed,
        )
        self._hosts[key] = host
        backend = self.factory.create(agent, host, live.row.id, live.tree.git_dir, live.repo_root)
        previous = await self.store.agent_session(live.row.id, agent.name)
        resume_id = None
        if (
            previous is not None
            and previous.agent_session_id
            and previous.status not in ("crashed",)
            and previous.config_hash == agent.config_hash()
        ):
            resume_id = previous.agent_session_id
        info = await backend.start(resume_id)
        if info.note:
            host.notice(info.note)
        await self.store.upsert_agent_session(
            live.row.id, agent.name, self.factory.kind(agent), info.agent_session_id, "idle", agent.config_hash()
        )
        self.pool.add(key, backend)
        saved = previous.steering if previous is not None else "{}"
        await steering.reapply(backend, host, self.store, live.row.id, agent.name, saved)
        await self.evict()
        return backend, host

    async def stop(self, keys: Iterable[Key]) -> None:
        """Stop these warm agents, concurrently; one that fails to close is logged, never raised."""
        stopping = [(key, backend) for key in list(keys) if (backend := self.pool.pop(key)) is not None]
        results = await asyncio.gather(*(backend.close() for _, backend in stopping), return_exceptions=True)
        for (key, _), result in zip(stopping, results, strict=True):
            if isinstance(result, Exception):
                log.warning("agent %s of session %s did not stop cleanly: %s", key[1], key[0], result)

    async def forget(self, session_id: str) -> None:
        """The session is closing: stop its agents and drop what was kept for them."""
        keys = self.pool.keys(session_id)
        for key in keys:
            self._hosts.pop(key, None)
            self._starting.pop(key, None)
        await self.stop(keys)

    async def evict(self) -> None:
        keys = self.pool.to_evict()
        for key in keys:
            self._editor.log(f"stopping idle agent {key[1]} of session {key[0]}")
        await self.stop(keys)
        for key in keys:
            await self.store.set_agent_status(key[0], key[1], "idle")

    async def evict_forever(self) -> None:
        """The janitor: evict idle agents now and then, outliving any one failure (it is logged)."""
        while True:
            await asyncio.sleep(min(30.0, max(self.pool.idle_timeout / 4, 0.5)))
            try:
                await self.evict()
            except Exception:
                log.exception("evicting idle agents failed")
