"""Sessions: one worktree each, turns queued one at a time, warm agents kept per (session, agent)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from backends.base import AgentBackend, BackendError, PromptPart, ResourcePart, TextPart
from bridge.config import AgentConfig, Registry
from bridge.core.editor import BridgeError, Editor, UnknownSession, UnknownTurn
from bridge.core.pool import AgentPool, Key
from bridge.core.prompts import rejection_note, selection_note, title_for
from bridge.core.session import (
    LiveSession,
    Turn,
    agent_cwd,
    archive_ref,
    base_ref,
    branch_name,
    fingerprint,
    forget_old_turns,
    pending_with_bases,
)
from bridge.core.turns import TurnHost, TurnResult, event_payload, run_turn
from bridge.factory import BackendFactory
from bridge.git import worktrees
from bridge.git.reaper import reap_orphans
from bridge.lsp.views import hunks_of
from bridge.store import HunkRow, SessionRow, Store, WorktreeRow

log = logging.getLogger(__name__)


class SessionManager:
    """Owns sessions, their turns and the warm agents. All public methods are safe to call from handlers."""

    def __init__(self, store: Store, state_dir: Path, registry: Registry, editor: Editor) -> None:
        self.store = store
        self.state_dir = state_dir
        self.registry = registry
        self.editor = editor
        self.pool = AgentPool(registry.settings.max_live_agents, registry.settings.idle_timeout)
        self.factory = BackendFactory(state_dir, registry.settings)
        self.sessions: dict[str, LiveSession] = {}
        self._janitor: asyncio.Task[None] | None = None

    # Lifecycle
    async def start(self) -> None:
        failed = await self.store.fail_unfinished_turns("the bridge stopped while this turn was running")
        if failed:
            self.editor.log(f"marked {failed} turn(s) interrupted by an earlier bridge exit as failed")
        for row in await self.store.sessions("open"):
            wt = await self.store.worktree(row.id)
            if wt is None or not await asyncio.to_thread(Path(wt.path).is_dir):
                self.editor.log(f"session {row.id}: worktree is missing; closing it", error=True)
                await self.store.close_session(row.id)
                continue
            live = LiveSession(row, wt, Path(row.repo_root), agent_cwd(Path(wt.path), Path(row.repo_root),
                                                                          Path(row.workspace)))
            self.sessions[row.id] = live
            with contextlib.suppress(Exception):
                await self.refresh_pending(live, None)
        for reaped in await asyncio.to_thread(reap_orphans, self.state_dir / "worktrees", set(self.sessions)):
            if reaped.skipped:
                self.editor.log(f"orphaned worktree {reaped.path}: {reaped.skipped}", error=True)
            else:
                kept = f"; its unreviewed work is kept at {reaped.archived_at}" if reaped.archived_at else ""
                self.editor.log(f"removed orphaned worktree {reaped.path}{kept}")
        self._janitor = asyncio.create_task(self._evict_loop())

    async def shutdown(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
        for live in list(self.sessions.values()):
            await self._stop_session_tasks(live, "the bridge is shutting down")
        for key in self.pool.keys():
            backend = self.pool.pop(key)
            if backend is not None:
                with contextlib.suppress(Exception):
                    await backend.close()
        await self.factory.close()

    def session(self, session_id: str) -> LiveSession:
        live = self.sessions.get(session_id)
        if live is None:
            raise UnknownSession(session_id)
        return live

    # Creating sessions
    async def create_session(self, workspace: Path, title: str) -> LiveSession:
        try:
            repo_root = await asyncio.to_thread(worktrees.find_repo_root, workspace)
        except worktrees.NotAGitRepository:
            raise BridgeError(
                f"{workspace} is not inside a git repository; agent-bridge needs one to keep agents' edits "
                "apart from yours (run `git init` there first)"
            ) from None
        session_id = uuid.uuid4().hex[:12]
        overlays = self.editor.unsaved_texts(repo_root)
        path = self.state_dir / "worktrees" / session_id
        try:
            base = await asyncio.to_thread(worktrees.snapshot_base, repo_root, overlays)
            await asyncio.to_thread(worktrees.set_ref, repo_root, base_ref(session_id), base)
            await asyncio.to_thread(worktrees.create_worktree, repo_root, path, branch_name(session_id), base)
        except worktrees.GitError as exc:
            raise BridgeError(f"could not create the session worktree: {exc}") from exc
        row = SessionRow(session_id, str(workspace), str(repo_root), title, "open", time.time())
        wt = WorktreeRow(session_id, str(path), branch_name(session_id), base, base_ref(session_id))
        await self.store.add_session(row, wt)
        live = LiveSession(row, wt, repo_root, agent_cwd(path, repo_root, workspace))
        self.sessions[session_id] = live
        return live

    # Turns
    async def prompt(
        self,
        text: str,
        agent_name: str | None,
        session_id: str | None,
        workspace: Path,
        context: tuple[str, str, int, int] | None = None,
    ) -> tuple[str, str]:
        """Queue a turn; returns (session id, turn id) at once.

        `context` is (repo-relative path, selected text, first line, last line) of the user's selection.
        """
        try:
            agent = self.registry.get(agent_name)
        except KeyError as exc:
            raise BridgeError(str(exc.args[0])) from None
        live = self.session(session_id) if session_id else await self.create_session(workspace, title_for(text))
        turn_id = uuid.uuid4().hex[:12]
        parts: list[PromptPart] = [TextPart(text)]
        if context is not None:
            rel, selected, first, last = context
            parts.append(TextPart(selection_note(rel, first, last)))
            parts.append(ResourcePart((live.path / rel).as_uri(), selected))
        turn = Turn(turn_id, live.row.id, agent, text, parts, asyncio.get_running_loop().create_future())
        if context is not None:
            turn.context = {"uri": (live.repo_root / context[0]).as_uri(), "startLine": context[2],
                            "endLine": context[3]}
        await self.store.add_turn(turn_id, live.row.id, agent.name, text)
        live.turns[turn_id] = turn
        if live.worker is None or live.worker.done():
            live.worker = asyncio.create_task(self._work(live))
        live.queue.put_nowait(turn)
        return live.row.id, turn_id

    async def _work(self, live: LiveSession) -> None:
        while True:
            turn = await live.queue.get()
            live.current = turn
            try:
                result = await self._run(live, turn)
            except Exception as exc:  # the worker must survive anything a turn throws
                log.exception("turn %s failed unexpectedly", turn.id)
                result = TurnResult("failed", error=f"internal error: {exc}")
                with contextlib.suppress(Exception):
                    await self.store.end_turn(turn.id, "failed", error=result.error)
                self.editor.notify_event({"sessionId": live.row.id, "turnId": turn.id, "kind": "turnEnded",
                                          "agent": turn.agent.name, "status": "failed", "error": result.error})
                self.editor.progress_end(turn.id, result.error or "failed")
            finally:
                live.current = None
            if not turn.done.done():
                turn.done.set_result(result)
            forget_old_turns(live)

    async def _backend(self, live: LiveSession, agent: AgentConfig) -> tuple[AgentBackend, TurnHost]:
        key: Key = (live.row.id, agent.name)
        backend = self.pool.get(key)
        host = live.hosts.get(agent.name)
        if backend is not None and backend.alive and host is not None:
            return backend, host
        if backend is not None:
            self.pool.pop(key)
            with contextlib.suppress(Exception):
                await backend.close()
        host = TurnHost(self, live, agent)
        live.hosts[agent.name] = host
        backend = self.factory.create(agent, host, live.row.id)
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
        await self._evict()
        return backend, host

    async def _run(self, live: LiveSession, turn: Turn) -> TurnResult:
        key: Key = (live.row.id, turn.agent.name)
        await self.store.start_turn(turn.id)
        started: dict[str, Any] = {"sessionId": live.row.id, "turnId": turn.id, "kind": "turnStarted",
                                   "agent": turn.agent.name, "prompt": turn.prompt}
        if turn.context is not None:
            started["context"] = turn.context
        self.editor.notify_event(started)
        await self.editor.progress_begin(turn.id, f"{turn.agent.name}: {title_for(turn.prompt, 40)}")
        try:
            backend, host = await self._backend(live, turn.agent)
        except (BackendError, BridgeError) as exc:
            result = TurnResult("failed", error=str(exc))
            await self._finish(live, turn, result, None)
            return result
        if turn.cancel.is_set():
            result = TurnResult("cancelled", "cancelled", "the turn was cancelled before the agent started it")
            await self._finish(live, turn, result, host)
            return result
        rejected = await self.store.unreported_rejections(live.row.id, turn.agent.name)
        note = rejection_note(rejected)
        parts = [TextPart(note), *turn.parts] if note else turn.parts
        self.pool.set_busy(key, True)
        await self.store.set_agent_status(live.row.id, turn.agent.name, "active")
        try:
            result = await run_turn(backend, host, turn.id, parts, self.registry.settings.turn_watchdog, turn.cancel)
        finally:
            self.pool.set_busy(key, False)
        if rejected and result.status != "failed":
            await self.store.mark_reported(live.row.id, [(r.path, r.hunk_id) for r in rejected])
        if result.crashed:
            # The worktree keeps what the agent wrote; the next turn starts a fresh process.
            await self.store.set_agent_status(live.row.id, turn.agent.name, "crashed")
            self.pool.pop(key)
            with contextlib.suppress(Exception):
                await backend.close()
        else:
            await self.store.set_agent_status(live.row.id, turn.agent.name, "idle")
        if result.usage is not None:
            u = result.usage
            await self.store.add_usage(
                live.row.id, turn.agent.name, u.input_tokens or 0, u.output_tokens or 0, u.cost or 0.0
            )
        await self._finish(live, turn, result, host)
        return result

    async def _finish(self, live: LiveSession, turn: Turn, result: TurnResult, host: TurnHost | None) -> None:
        if host is not None:
            await host.flush()
        commit = None
        async with live.git_lock:
            try:
                commit = await asyncio.to_thread(
                    worktrees.commit_all, live.path, f"{turn.agent.name}: {title_for(turn.prompt, 60)}\n\n"
                    f"Agent-Bridge-Turn: {turn.id}"
                )
                await self.refresh_pending(live, turn)
            except worktrees.GitError as exc:
                self.editor.log(f"session {live.row.id}: could not record the turn's changes: {exc}", error=True)
        answer = "".join(host.answer) if host is not None else ""
        await self.store.end_turn(turn.id, result.status, result.stop_reason, result.error, commit, answer)
        payload: dict[str, Any] = {
            "sessionId": live.row.id, "turnId": turn.id, "kind": "turnEnded", "status": result.status,
            "agent": turn.agent.name,
        }
        if result.usage is not None:
            payload["usage"] = event_payload(result.usage)
        if result.stop_reason:
            payload["stopReason"] = result.stop_reason
        if result.error:
            payload["error"] = result.error
        self.editor.notify_event(payload)
        self.editor.progress_end(turn.id, result.error or result.status)

    async def refresh_pending(self, live: LiveSession, turn: Turn | None) -> None:
        """Recompute pending hunks from git (the truth) and attribute new ones to `turn`."""
        changes, base_texts = await asyncio.to_thread(pending_with_bases, live.path, live.worktree.base_commit)
        agent = turn.agent.name if turn else "unknown"
        rows = [
            HunkRow(live.row.id, c.path, h.hunk_id, agent, turn.id if turn else None, "pending",
                    h.old_text if not c.binary else "", h.new_text if not c.binary else "", False)
            for c in changes
            for h in hunks_of(c)
        ]
        await self.store.record_pending(rows)
        await self.store.drop_vanished(live.row.id, {(r.path, r.hunk_id) for r in rows})
        before = fingerprint(live.pending)
        live.pending = changes
        live.base_texts = base_texts
        live.attribution = await self.attribution(live.row.id)
        if turn is None or before != fingerprint(changes):
            self.editor.notify_event(
                {"sessionId": live.row.id, "turnId": turn.id if turn else None, "kind": "pendingChanged",
                 "files": len(changes), "hunks": sum(len(hunks_of(c)) for c in changes)}
            )
            self.editor.pending_changed(live.row.id)

    async def await_turn(self, session_id: str, turn_id: str | None, timeout: float | None) -> TurnResult:
        live = self.session(session_id) if session_id in self.sessions else None
        if turn_id is None:
            if live is None:
                raise UnknownSession(session_id)
            if not live.turns:
                raise BridgeError(f"session {session_id!r} has no turns yet")
            turn_id = list(live.turns)[-1]
        turn = live.turns.get(turn_id) if live else None
        if turn is None:
            row = await self.store.turn(turn_id)
            if row is None or row.session_id != session_id:
                if live is None and await self.store.session(session_id) is None:
                    raise UnknownSession(session_id)
                raise UnknownTurn(session_id, turn_id)
            if row.status in ("queued", "running"):
                raise BridgeError(f"turn {turn_id!r} was interrupted and cannot be awaited")
            return TurnResult(row.status, row.stop_reason, row.error)
        try:
            return await asyncio.wait_for(asyncio.shield(turn.done), timeout)
        except TimeoutError:
            raise BridgeError(f"turn {turn_id!r} is still running after {timeout:g} s") from None

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        """The session's turns, oldest first, with what the agent answered (open or closed sessions)."""
        if session_id not in self.sessions and await self.store.session(session_id) is None:
            raise UnknownSession(session_id)
        return [
            {
                "turnId": t.id, "agent": t.agent, "prompt": t.prompt, "status": t.status,
                "stopReason": t.stop_reason, "error": t.error, "answer": t.answer,
                "queuedAt": _iso(t.queued_at),
                "startedAt": _iso(t.started_at) if t.started_at else None,
                "endedAt": _iso(t.ended_at) if t.ended_at else None,
            }
            for t in await self.store.turns(session_id)
        ]

    async def cancel(self, session_id: str) -> bool:
        """Cancel the running turn, wherever it is (starting the agent, prompting, asking permission)."""
        live = self.session(session_id)
        turn = live.current
        if turn is None or turn.done.done():
            return False
        turn.cancel.set()
        return True

    # Queries
    async def describe_sessions(self) -> list[dict[str, Any]]:
        result = []
        for live in self.sessions.values():
            agents = []
            for row in await self.store.agent_sessions(live.row.id):
                status = row.status
                if live.current is not None and live.current.agent.name == row.agent:
                    status = "busy"
                elif status == "idle" and self.pool.get((live.row.id, row.agent)) is None:
                    status = "stopped"
                agents.append({"agent": row.agent, "status": status,
                               "usage": {"inputTokens": row.input_tokens, "outputTokens": row.output_tokens,
                                         "cost": row.cost}})
            result.append({
                "sessionId": live.row.id,
                "title": live.row.title,
                "agents": agents,
                "pendingHunks": sum(len(hunks_of(c)) for c in live.pending),
                "createdAt": _iso(live.row.created_at),
                "workspace": live.row.workspace,
                "worktree": live.worktree.path,
                "busy": live.current is not None,
                "queuedTurns": live.queue.qsize(),
            })
        return result

    def describe_agents(self) -> list[dict[str, Any]]:
        result = []
        for name, agent in sorted(self.registry.agents.items()):
            exe = shutil.which(agent.command[0])
            result.append({
                "name": name,
                "protocol": agent.protocol,
                "available": exe is not None,
                "detail": exe if exe else f"{agent.command[0]} not found on PATH",
                "command": list(agent.command),
                "default": name == self.registry.default_agent,
                **self.factory.describe(agent),
            })
        return result

    async def attribution(self, session_id: str) -> dict[tuple[str, str], HunkRow]:
        return {(r.path, r.hunk_id): r for r in await self.store.hunks(session_id, "pending")}

    # Closing
    async def close_session(self, session_id: str) -> bool:
        live = self.sessions.get(session_id)
        if live is None:
            if await self.store.session(session_id) is None:
                raise UnknownSession(session_id)
            return False
        await self._stop_session_tasks(live, "the session was closed")
        for key in self.pool.keys(session_id):
            backend = self.pool.pop(key)
            if backend is not None:
                with contextlib.suppress(Exception):
                    await backend.close()
        async with live.git_lock:
            changes = await asyncio.to_thread(worktrees.pending_changes, live.path, live.worktree.base_commit)
            keep = archive_ref(session_id) if changes else None
            try:
                await asyncio.to_thread(
                    worktrees.remove_worktree, live.repo_root, live.path, live.worktree.branch, keep
                )
                await asyncio.to_thread(worktrees.delete_ref, live.repo_root, live.worktree.base_ref)
            except worktrees.GitError as exc:
                self.editor.log(f"session {session_id}: could not remove its worktree: {exc}", error=True)
        if keep:
            self.editor.log(f"session {session_id}: unapplied changes kept at {keep}")
        await self.store.close_session(session_id)
        del self.sessions[session_id]
        self.editor.pending_changed(session_id)
        return True

    async def _stop_session_tasks(self, live: LiveSession, reason: str) -> None:
        while not live.queue.empty():
            turn = live.queue.get_nowait()
            await self.store.end_turn(turn.id, "cancelled", error=reason)
            if not turn.done.done():
                turn.done.set_result(TurnResult("cancelled", error=reason))
        if live.current is not None:
            current = live.current
            current.cancel.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(current.done), 5)
        if live.worker is not None:
            live.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await live.worker

    # Eviction
    async def _evict(self) -> None:
        for key in self.pool.to_evict():
            backend = self.pool.pop(key)
            if backend is None:
                continue
            self.editor.log(f"stopping idle agent {key[1]} of session {key[0]}")
            with contextlib.suppress(Exception):
                await backend.close()
            with contextlib.suppress(Exception):
                await self.store.set_agent_status(key[0], key[1], "idle")

    async def _evict_loop(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, max(self.pool.idle_timeout / 4, 0.5)))
            with contextlib.suppress(Exception):
                await self._evict()


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
