"""Sessions: one worktree each, turns queued one at a time, warm agents kept per (session, agent)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import attrs

from backends.base import BackendError, PromptPart, ResourcePart, TextPart
from bridge import protocol as wire
from bridge.config import AgentConfig, Registry
from bridge.core import attachments, living, queries, steering
from bridge.core.events import wire_usage
from bridge.core.host import TurnHost
from bridge.core.plans import DocLookup
from bridge.core.pool import AgentPool, Key
from bridge.core.ports import BackendFactory, Editor
from bridge.core.preparing import Preparing, hand_over
from bridge.core.prompts import selection_note, title_for
from bridge.core.selection import read_selection
from bridge.core.session import Session, agent_cwd, base_ref, branch_name
from bridge.core.spares import Spares
from bridge.core.trust import TrustGate
from bridge.core.turns import Turn, TurnResult, run_turn
from bridge.core.warm import WarmAgents
from bridge.errors import BridgeError, GitError, InvalidArguments, NotAGitRepository, UnknownSession, UnknownTurn
from bridge.git import linked, worktrees
from bridge.git.reaper import reap_orphans
from bridge.git.run import Worktree
from bridge.store import SessionRow, Store, WorktreeRow
from bridge.uris import to_path

log = logging.getLogger(__name__)


def sees(window: str | None, session: str | None) -> bool:
    """Whether a window of workspace `window` sees a session of workspace `session`: its own workspace's only; a
    window without a folder (None) sees them all, and what concerns no workspace (None) reaches every window."""
    return window is None or session is None or window == session


@dataclass
class WorkspaceConfig:
    """One workspace's configuration: as read (the repository's agents held back), and in use (with them once
    the user trusted the file), and who is asked about that file."""

    loaded: Registry
    registry: Registry
    trust: TrustGate


class SessionManager:
    """Owns sessions, their turns and the warm agents. All public methods are safe to call from handlers.

    Sessions belong to a workspace (the editor folder they were started from). `editors(workspace)` is the
    editor of that workspace (every window attached to it): a session's events, progress and questions go
    there; `editor` gets what concerns the bridge as a whole. Each workspace has its configuration
    (`configure`); one not configured uses the one this manager was built with.
    """

    def __init__(
        self,
        store: Store,
        state_dir: Path,
        registry: Registry,
        editor: Editor,
        factory: BackendFactory,
        editors: Callable[[str], Editor] | None = None,
    ) -> None:
        self.store = store
        self.state_dir = state_dir
        self.editor = editor
        self._editors = editors or (lambda workspace: editor)
        self._default = WorkspaceConfig(registry, registry, TrustGate(store, editor))
        self._configs: dict[str, WorkspaceConfig] = {}
        self.factory = factory
        self.pool = AgentPool(registry.settings.max_live_agents, registry.settings.idle_timeout)
        self.agents = WarmAgents(store, factory, self.pool, editor, self._editors, registry.settings.max_stored_answer)
        self._watchdog = registry.settings.turn_watchdog
        self.sessions: dict[str, Session] = {}
        self._creating = asyncio.Lock()
        self._preparing: dict[str, Preparing] = {}
        self._steering = steering.Steering(store, self.pool, self.agents.backend, self._agent)
        self._janitor: asyncio.Task[None] | None = None
        # Clean checkouts made ahead of time: a new session's worktree costs the files that differ (spares.py).
        self.spares = Spares(state_dir / "spares", lambda message: self.editor.log(message))

    # Configuration
    @property
    def loaded(self) -> Registry:
        return self._default.loaded

    @property
    def registry(self) -> Registry:
        return self._default.registry

    @property
    def trust(self) -> TrustGate:
        return self._default.trust

    def config(self, workspace: str | None) -> WorkspaceConfig:
        return self._configs.get(workspace or "", self._default)

    def editor_of(self, workspace: str) -> Editor:
        return self._editors(workspace)

    async def configure(self, workspace: str, registry: Registry) -> None:
        """A workspace's configuration, as its editor read it (an answer about its repository's file from an
        earlier run applies at once)."""
        config = self._configs.get(workspace)
        if config is None:
            config = self._configs[workspace] = WorkspaceConfig(
                registry, registry, TrustGate(self.store, self._editors(workspace))
            )
        if registry.repo is not None:
            await config.trust.remembered(registry.repo)
        self.reconfigure(registry, workspace)
        # The default agent's first turn should cost a warm one: what can start before a session exists does.
        try:
            self.factory.prewarm(config.registry.get(None))
        except KeyError:
            pass
        # So should its worktree: a spare checkout of this repository, made in the background (never a reason
        # for attaching to fail).
        if Path(workspace).is_absolute():
            with contextlib.suppress(BridgeError, OSError):  # not a git repository: nothing to prepare
                self.spares.fill(await self._repo_root(Path(workspace)))

    # Lifecycle
    async def start(self) -> None:
        if self.loaded.repo is not None:
            await self.trust.remembered(self.loaded.repo)  # an answer from an earlier run applies at once
            self.reconfigure(self.loaded)
        failed = await self.store.fail_unfinished_turns("the bridge stopped while this turn was running")
        if failed:
            self.editor.log(f"marked {failed} turn(s) interrupted by an earlier bridge exit as failed")
        active = await self.store.latest_turns()
        for row in await self.store.sessions("open"):
            wt = await self.store.worktree(row.id)
            if wt is None or not await asyncio.to_thread(Path(wt.path).is_dir):
                self.editor.log(f"session {row.id}: worktree is missing; closing it", error=True)
                await self.store.close_session(row.id)
                continue
            try:
                tree = await asyncio.to_thread(linked.locate, Path(row.repo_root), Path(wt.path))
            except GitError as exc:
                self.editor.log(f"session {row.id}: {exc}; closing it", error=True)
                await self.store.close_session(row.id)
                continue
            live = self._session(row, wt, tree)
            live.active_at = max(row.created_at, active.get(row.id, 0.0))
            self.sessions[row.id] = live
            try:
                await live.refresh()
            except GitError as exc:
                self.editor.log(f"session {row.id}: could not read its pending changes: {exc}", error=True)
        repos = {row.id: Path(row.repo_root) for row in await self.store.sessions(None)}
        reaping = await asyncio.to_thread(reap_orphans, self.state_dir / "worktrees", set(self.sessions), repos)
        for reaped in reaping:
            if reaped.tampered:
                note = f"its .git file was tampered with ({reaped.tampered}) and was put back"
                self.editor.log(f"orphaned worktree {reaped.path}: {note}", error=True)
            if reaped.skipped:
                self.editor.log(f"orphaned worktree {reaped.path}: {reaped.skipped}", error=True)
            else:
                kept = f"; its unreviewed work is kept at {reaped.archived_at}" if reaped.archived_at else ""
                self.editor.log(f"removed orphaned worktree {reaped.path}{kept}")
        self.spares.clean()
        self._janitor = asyncio.create_task(self.agents.evict_forever())

    async def shutdown(self) -> None:
        if self._janitor is not None:
            self._janitor.cancel()
        # Sessions being prepared finish first (a worktree half made would be left to the reaper), then stop.
        await asyncio.gather(*(p.task for p in list(self._preparing.values()) if p.task), return_exceptions=True)
        await self.spares.shutdown()
        await asyncio.gather(*(live.stop("the bridge is shutting down") for live in self.sessions.values()))
        await self.agents.stop(self.pool.keys())
        await self.factory.close()

    def reconfigure(self, registry: Registry, workspace: str | None = None) -> None:
        """New configuration: later turns use it; a warm agent whose configuration changed is restarted at its
        next turn, the others stay warm. The repository's agents come in only if this exact file is trusted.
        The bridge-wide settings (pool limits, watchdogs, caps) are the latest configuration's."""
        config = self.config(workspace)
        config.loaded = registry
        self._use(config, config.trust.effective(registry))

    def _use(self, config: WorkspaceConfig, registry: Registry) -> None:
        config.registry = registry
        self.pool.max_live = registry.settings.max_live_agents
        self.pool.idle_timeout = registry.settings.idle_timeout
        self.agents.set_answer_cap(registry.settings.max_stored_answer)
        self._watchdog = registry.settings.turn_watchdog

    def _session(self, row: SessionRow, wt: WorktreeRow, tree: Worktree) -> Session:
        cwd = agent_cwd(Path(wt.path), Path(row.repo_root), Path(row.workspace))
        return Session(row, wt, tree, cwd, self.store, self._editors(row.workspace), self._run)

    def session(self, session_id: str, workspace: str | None = None) -> Session:
        """A live session; with `workspace`, only one of that workspace's (another window's is unknown here)."""
        self.visible(session_id, workspace)
        live = self.sessions.get(session_id)
        if live is None:
            raise UnknownSession(session_id)
        return live

    def visible(self, session_id: str, workspace: str | None) -> None:
        """Raise UnknownSession for a live session the window of `workspace` does not see (see `sees`)."""
        live = self.sessions.get(session_id)
        if live is not None and not sees(workspace, live.row.workspace):
            raise UnknownSession(session_id)

    def sessions_of(self, workspace: str | None) -> list[Session]:
        """The live sessions a window of `workspace` sees."""
        return [s for s in self.sessions.values() if sees(workspace, s.row.workspace)]

    # Creating sessions
    async def _repo_root(self, workspace: Path) -> Path:
        try:
            return await asyncio.to_thread(worktrees.find_repo_root, workspace)
        except NotAGitRepository:
            raise BridgeError(
                f"{workspace} is not inside a git repository; agent-bridge needs one to keep agents' edits "
                "apart from yours (run `git init` there first)"
            ) from None

    async def create_session(self, workspace: Path, title: str) -> Session:
        """A new session, once its worktree exists (a prompt does not wait: see `prompt`)."""
        return await (await self._begin_session(workspace, title)).wait()

    async def _make_session(
        self, session_id: str, workspace: Path, repo_root: Path, title: str, overlays: dict[str, str], asked: float
    ) -> Session:
        """Snapshot what the user sees (`overlays`: unsaved buffers, as they were when asked) and check it out.
        The session dates from when it was `asked` for: which session is the latest must not depend on which
        worktree was ready first."""
        path = self.state_dir / "worktrees" / session_id
        try:
            base = await asyncio.to_thread(worktrees.snapshot_base, repo_root, overlays)
            await asyncio.to_thread(worktrees.set_ref, repo_root, base_ref(session_id), base)
            tree = await self.spares.take(repo_root, path, branch_name(session_id), base)
            if tree is None:  # no spare ready, or it failed: a checkout of its own
                await asyncio.to_thread(worktrees.create_worktree, repo_root, path, branch_name(session_id), base)
                # Found now, from the repository's record, before any agent could touch the worktree's `.git`.
                tree = await asyncio.to_thread(linked.locate, repo_root, path)
        except GitError as exc:
            raise BridgeError(f"could not create the session worktree: {exc}") from exc
        row = SessionRow(session_id, str(workspace), str(repo_root), title, "open", asked)
        wt = WorktreeRow(session_id, str(path), branch_name(session_id), base, base_ref(session_id))
        await self.store.add_session(row, wt)
        live = self._session(row, wt, tree)
        self.sessions[session_id] = live
        return live

    async def _begin_session(self, workspace: Path, title: str) -> Preparing:
        """A new session announced at once; its worktree is made in the background (see preparing.py)."""
        repo_root = await self._repo_root(workspace)
        session_id = uuid.uuid4().hex[:12]
        editor = self._editors(str(workspace))
        overlays = editor.unsaved_texts(repo_root)
        prep = Preparing(session_id, str(workspace), repo_root, self.state_dir / "worktrees" / session_id, title)
        asked = prep.created_at

        def failed(turn: Turn, reason: str) -> None:
            editor.notify_event(wire.TurnEnded(session_id, turn.id, turn.agent.name, "failed", error=reason))

        async def run() -> Session:
            try:
                return await hand_over(
                    prep, lambda: self._make_session(session_id, workspace, repo_root, title, overlays, asked),
                    self._start, failed,
                )
            finally:
                self._preparing.pop(session_id, None)

        prep.task = asyncio.create_task(run())
        # Its failure reaches the turns (and whoever waits); retrieved here so asyncio does not report it again.
        prep.task.add_done_callback(lambda task: task.cancelled() or task.exception())
        self._preparing[session_id] = prep
        return prep

    def preparing(self, session_id: str, workspace: str | None = None) -> Preparing | None:
        """The session in the making with that id, if this window sees it."""
        prep = self._preparing.get(session_id)
        return prep if prep is not None and sees(workspace, prep.workspace) else None

    async def prepared(self, session_id: str | None, workspace: str | None = None) -> None:
        """Wait until a session still being prepared exists (nothing to wait for otherwise)."""
        prep = self.preparing(session_id, workspace) if session_id is not None else None
        if prep is not None:
            await prep.wait()

    # Turns
    def latest(self, workspace: Path | None, uri: str | None) -> Session | Preparing | None:
        """The open session a prompt without `sessionId` continues (see queries.latest), one still being
        prepared included."""
        window = str(workspace) if workspace is not None else None
        seen: list[Session | Preparing] = [*self.sessions_of(window)]
        seen += [p for p in self._preparing.values() if sees(window, p.workspace)]
        return queries.latest(seen, workspace is None, to_path(uri) if uri is not None else None)

    async def prompt(self, args: wire.PromptArgs, workspace: Path | None, lookup: DocLookup) -> wire.PromptResult:
        """Queue a turn in `args.session_id`, else in a new session if `args.new_session`, else in the
        workspace's latest session (see `latest`) or a new one when it has none; returns its ids at once, before
        a new session's worktree exists (see preparing.py).

        `workspace` is the editor's root folder; without one, the prompt's document decides.
        """
        window = workspace
        if args.session_id is None and not args.new_session:
            sticky = self.latest(window, args.uri)
            if sticky is not None:
                args = attrs.evolve(args, session_id=wire.NonEmptyStr(sticky.id))
        target: Session | Preparing | None = None
        if args.session_id is not None:
            target = self._preparing.get(args.session_id) or self.session(args.session_id)
        key = target.workspace if target is not None else str(workspace) if workspace is not None else None
        config = self.config(key)
        loaded = config.loaded
        registry = await config.trust.registry_for(loaded, config.registry, args.agent)
        if loaded is config.loaded:  # not reconfigured while the user was being asked
            self._use(config, registry)
        try:
            agent = registry.get(args.agent)
        except KeyError as exc:
            raise BridgeError(str(exc.args[0])) from None
        selection = None
        if args.uri is not None:
            path = to_path(args.uri)
            if path is None:
                raise InvalidArguments(f"{wire.PROMPT}: cannot map {args.uri!r} to a file")
            if target is None and workspace is None:
                workspace = Path(path)
            if args.range is not None:
                repo_root = target.repo_root if target is not None else None
                selection = await asyncio.to_thread(read_selection, lookup(args.uri), repo_root, Path(path), args.range)
        attached = await attachments.gather(
            args.attachments, lookup, target.repo_root if target is not None else None, workspace
        )
        if target is None:
            if workspace is None:
                raise BridgeError("no workspace folder is open; open a folder inside a git repository or pass 'uri'")
            async with self._creating:  # two prompts at once into a workspace with no session share a new one
                fresh = None if args.new_session else self.latest(window, args.uri)
                target = fresh or await self._begin_session(workspace, title_for(args.text))
        turn_id = uuid.uuid4().hex[:12]
        parts: list[PromptPart] = [TextPart(args.text)]
        if selection is not None:
            parts.append(TextPart(selection_note(selection.path, selection.first_line, selection.last_line)))
            parts.append(ResourcePart((target.path / selection.path).as_uri(), selection.text))
        parts += attachments.attachment_parts(attached, target.path)
        turn = Turn(turn_id, target.id, agent, args.text, parts, asyncio.get_running_loop().create_future())
        if selection is not None:
            uri = (target.repo_root / selection.path).as_uri()
            turn.context = wire.TurnContext(uri, selection.first_line, selection.last_line)
        if isinstance(target, Preparing):
            target.add(turn)
        else:
            await self._start(target, turn)
        return wire.PromptResult(target.id, turn_id)

    async def _start(self, live: Session, turn: Turn) -> None:
        await self.store.add_turn(turn.id, live.id, turn.agent.name, turn.prompt, turn.queued_at)
        live.enqueue(turn)

    async def _run(self, live: Session, turn: Turn) -> TurnResult:
        key: Key = (live.row.id, turn.agent.name)
        await self.store.start_turn(turn.id)
        editor = self._editors(live.row.workspace)
        editor.notify_event(wire.TurnStarted(live.id, turn.id, turn.agent.name, turn.prompt, turn.context))
        await editor.progress_begin(turn.id, f"{turn.agent.name}: {title_for(turn.prompt, 40)}")
        await living.before_turn(live, turn, self.store, editor)
        try:
            backend, host = await self.agents.backend(live, turn.agent)
        except (BackendError, BridgeError) as exc:
            return await self._finish(live, turn, TurnResult("failed", error=str(exc)), None)
        if turn.cancel.is_set():
            result = TurnResult("cancelled", "cancelled", "the turn was cancelled before the agent started it")
            return await self._finish(live, turn, result, host)
        said = await living.prelude(live, turn, self.store)
        parts = [*said.parts, *attachments.for_agent(turn.parts, backend.state().embedded_context)]
        self.pool.set_busy(key, True)
        await self.store.set_agent_status(live.row.id, turn.agent.name, "active")
        try:
            result = await run_turn(backend, host, turn.id, parts, self._watchdog, turn.cancel)
        finally:
            self.pool.set_busy(key, False)
        if result.status != "failed":
            await living.told(live, self.store, said)
        if result.crashed:
            # The worktree keeps what the agent wrote; the next turn starts a fresh process.
            await self.store.set_agent_status(live.row.id, turn.agent.name, "crashed")
            await self.agents.stop([key])
        else:
            await self.store.set_agent_status(live.row.id, turn.agent.name, "idle")
        if result.usage is not None:
            u = result.usage
            await self.store.add_usage(
                live.row.id, turn.agent.name, u.input_tokens or 0, u.output_tokens or 0, u.cost or 0.0
            )
        return await self._finish(live, turn, result, host)

    async def _finish(self, live: Session, turn: Turn, result: TurnResult, host: TurnHost | None) -> TurnResult:
        """Record the turn's work and end it; the turn's final result (failed if the agent tampered with git).

        The turn ends (store, editor, whoever awaits it) once its hunks are recorded; the session's worker takes
        the next turn only after the commit that follows, so turns still see each other's work in order.
        """
        if host is not None:
            await host.flush()
        final = result

        async def ended(tampered: str | None) -> None:
            nonlocal final
            if tampered is not None:
                error = f"{tampered} ({result.error})" if result.error else tampered
                final = replace(result, status="failed", error=error)
            usage = wire_usage(final.usage) if final.usage is not None else None
            answer, details = host.kept(turn.id, usage) if host is not None else ("", "{}")
            await self.store.end_turn(turn.id, final.status, final.stop_reason, final.error, answer, details)
            editor = self._editors(live.row.workspace)
            editor.notify_event(wire.TurnEnded(
                live.id, turn.id, turn.agent.name, final.status, final.stop_reason or None, final.error or None,
                usage,
            ))
            editor.progress_end(turn.id, final.error or final.status)
            if not turn.done.done():
                turn.done.set_result(final)

        commit = await live.record_turn(
            turn, f"{turn.agent.name}: {title_for(turn.prompt, 60)}\n\nAgent-Bridge-Turn: {turn.id}", ended
        )
        if commit is not None:
            await self.store.set_turn_commit(turn.id, commit)
        return final

    async def await_turn(self, session_id: str, turn_id: str | None, timeout: float | None) -> TurnResult:
        prep = self._preparing.get(session_id)
        if prep is not None:
            waiting = prep.turns.get(turn_id) if turn_id is not None else next(reversed(prep.turns.values()), None)
            if waiting is not None:  # its session may never come to be: the turn itself says how it ended
                return await self._wait_turn(waiting, timeout)
            await prep.wait()
        live = self.session(session_id) if session_id in self.sessions else None
        if turn_id is None:
            if live is None:
                raise UnknownSession(session_id)
            turn_id = live.last_turn_id()
            if turn_id is None:
                raise BridgeError(f"session {session_id!r} has no turns yet")
        turn = live.turn(turn_id) if live else None
        if turn is None:
            row = await self.store.turn(turn_id)
            if row is None or row.session_id != session_id:
                if live is None and await self.store.session(session_id) is None:
                    raise UnknownSession(session_id)
                raise UnknownTurn(session_id, turn_id)
            if row.status in ("queued", "running"):
                raise BridgeError(f"turn {turn_id!r} was interrupted and cannot be awaited")
            return TurnResult(row.status, row.stop_reason, row.error)
        return await self._wait_turn(turn, timeout)

    @staticmethod
    async def _wait_turn(turn: Turn, timeout: float | None) -> TurnResult:
        try:
            return await asyncio.wait_for(asyncio.shield(turn.done), timeout)
        except TimeoutError:
            raise BridgeError(f"turn {turn.id!r} is still running after {timeout:g} s") from None

    async def history(self, session_id: str) -> list[wire.HistoryEntry]:
        """The session's turns, oldest first, with what the agent did (a running turn's: what its host saw so far).
        A session still being prepared answers at once: its turns, queued (a client draws them as they start)."""
        prep = self._preparing.get(session_id)
        if prep is not None:
            return queries.history(prep.rows())
        if session_id not in self.sessions and await self.store.session(session_id) is None:
            raise UnknownSession(session_id)
        live = dict(kept for h in self.agents.hosts() if h.session_id == session_id and (kept := h.recorded()))
        return queries.history(await self.store.turns(session_id), live)

    async def rewind(self, session_id: str, turn_id: str, workspace: str | None = None) -> wire.RewindResult:
        """Undo the agents' changes from that turn on (see living.rewind)."""
        live = self.session(session_id, workspace)
        return await living.rewind(live, turn_id, self.store, self._editors(live.row.workspace))

    async def cancel(self, session_id: str, workspace: str | None = None) -> bool:
        """Cancel the running turn, wherever it is (preparing its session, starting the agent, prompting, asking
        permission)."""
        prep = self.preparing(session_id, workspace)
        if prep is not None:
            return prep.cancel()
        return self.session(session_id, workspace).cancel()

    # Steering (bridge.core.steering)
    async def agent_state(self, session_id: str, agent: str | None, workspace: str | None) -> wire.AgentStateResult:
        return await self._steering.state(self.session(session_id, workspace), agent)

    async def set_mode(self, session_id: str, agent: str | None, mode_id: str, workspace: str | None
                       ) -> wire.AgentStateResult:
        return await self._steering.set_mode(self.session(session_id, workspace), agent, mode_id)

    async def set_option(self, session_id: str, agent: str | None, option_id: str, value: str | bool,
                         workspace: str | None) -> wire.AgentStateResult:
        return await self._steering.set_option(self.session(session_id, workspace), agent, option_id, value)

    async def _agent(self, live: Session, name: str | None) -> AgentConfig:
        """The configured agent `name` (None: the default) for a session, asking about the repository's file
        as a prompt to it would."""
        config = self.config(live.row.workspace)
        loaded = config.loaded
        registry = await config.trust.registry_for(loaded, config.registry, name)
        if loaded is config.loaded:
            self._use(config, registry)
        try:
            return registry.get(name)
        except KeyError as exc:
            raise BridgeError(str(exc.args[0])) from None

    # Queries
    async def describe_sessions(self, workspace: str | None = None) -> list[wire.SessionSummary]:
        listed = [await queries.summary(live, self.store, self.pool) for live in self.sessions_of(workspace)]
        making = [p for p in self._preparing.values() if sees(workspace, p.workspace) and p.id not in self.sessions]
        return listed + [queries.preparing_summary(p) for p in making]

    def describe_agents(self, workspace: str | None = None) -> list[wire.AgentInfo]:
        config = self.config(workspace)
        return queries.agents(config.loaded, config.registry, self.factory)

    # Closing
    async def close_session(self, session_id: str) -> bool:
        live = self.sessions.get(session_id)
        if live is None:
            if await self.store.session(session_id) is None:
                raise UnknownSession(session_id)
            return False
        await live.stop("the session was closed")
        await self.agents.forget(session_id)
        keep = await live.remove_worktree()
        editor = self._editors(live.row.workspace)
        if keep:
            editor.log(f"session {session_id}: unapplied changes kept at {keep}")
        await self.store.close_session(session_id)
        del self.sessions[session_id]
        editor.pending_changed(session_id)
        return True
