"""What `agentBridge.sessions`, `agentBridge.agents` and `agentBridge.history` answer, built from the core's
state (pure, or reading the store); the SessionManager picks what a window may see and calls these."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, TypeVar

from bridge import protocol as wire
from bridge.config import Registry
from bridge.core import steering
from bridge.core.pool import AgentPool
from bridge.core.ports import BackendFactory
from bridge.core.preparing import Preparing
from bridge.core.session import Session
from bridge.core.transcript import TurnDetails, load
from bridge.core.trust import held_back
from bridge.store import Store, TurnRow


class Recent(Protocol):
    """What `latest` compares: a live session, or one still being prepared."""

    @property
    def repo_root(self) -> Path: ...

    @property
    def active_at(self) -> float: ...


R = TypeVar("R", bound=Recent)


def latest(seen: Iterable[R], folderless: bool, document: str | None) -> R | None:
    """Of the sessions a window sees, the one prompted (else created) last. A window without a folder sees
    every workspace's: there only a session of the repository holding the prompt's document counts, and none
    without one, so a prompt never lands in another project's session."""
    if folderless:
        seen = [s for s in seen if document is not None and Path(document).is_relative_to(s.repo_root)]
    return max(seen, key=lambda s: s.active_at, default=None)


def iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


async def summary(live: Session, store: Store, pool: AgentPool) -> wire.SessionSummary:
    """One session with its agents: busy (running a turn), idle (warm), stopped, or as recorded."""
    agents = []
    for row in await store.agent_sessions(live.row.id):
        status = row.status
        if live.current is not None and live.current.agent.name == row.agent:
            status = "busy"
        elif status == "idle" and pool.get((live.row.id, row.agent)) is None:
            status = "stopped"
        # A running agent's mode and model as it reports them; a stopped one's as the user chose them.
        backend = pool.get((live.row.id, row.agent))
        choice = steering.load(row.steering)
        mode, model = (choice.mode, choice.model)
        if backend is not None and backend.alive:
            mode, model = steering.shown(backend.state())
        usage = wire.AgentUsage(row.input_tokens, row.output_tokens, row.cost)
        agents.append(wire.AgentStatus(row.agent, status, usage, mode, model))
    return wire.SessionSummary(
        live.id, live.row.title, agents, live.hunk_count(), iso(live.row.created_at), live.row.workspace,
        live.worktree.path, live.current is not None, live.queued,
    )


def preparing_summary(prep: Preparing) -> wire.SessionSummary:
    """A session in the making, listed at once: the id a prompt returned is a session the client can find."""
    return wire.SessionSummary(
        prep.id, prep.title, [], 0, iso(prep.created_at), prep.workspace, str(prep.path), False,
        len(prep.queued), preparing=True,
    )


def agents(loaded: Registry, registry: Registry, factory: BackendFactory) -> list[wire.AgentInfo]:
    """Every configured agent, and those only an untrusted repository file defines (listed, never started)."""
    result = []
    held = held_back(loaded, registry)
    for name in sorted(set(registry.agents) | set(held)):
        warning = held[name][1] if name in held else None
        agent = registry.agents.get(name)
        if agent is None:
            shown, text = held[name]
            result.append(wire.AgentInfo(name, shown.protocol, False, text, list(shown.command), False, warning=text))
            continue
        exe = shutil.which(agent.command[0])
        result.append(wire.AgentInfo(
            name, agent.protocol, exe is not None, exe if exe else f"{agent.command[0]} not found on PATH",
            list(agent.command), name == registry.default_agent, **factory.describe(agent), warning=warning,
        ))
    return result


def history(turns: Iterable[TurnRow], live: Mapping[str, TurnDetails] | None = None) -> list[wire.HistoryEntry]:
    """A session's turns, oldest first, with what the agent answered and did. A turn not ended yet has no stored
    record: `live` has what it did so far (by turn id), if it runs here."""
    entries = []
    for t in turns:
        running = t.status in ("queued", "running")
        d = (live or {}).get(t.id, TurnDetails()) if running else load(t.details)
        entries.append(wire.HistoryEntry(
            t.id, t.agent, t.prompt, t.status, t.stop_reason, t.error, t.answer, iso(t.queued_at),
            iso(t.started_at) if t.started_at else None, iso(t.ended_at) if t.ended_at else None,
            t.rewound, d.tool_calls, d.plan, d.usage, d.permissions,
        ))
    return entries
