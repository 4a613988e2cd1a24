"""A live session: the one owner of its worktree, base, pending hunks, turn queue and git lock.

Everything that moves the base or rewrites the worktree (a turn's end, apply, reject, undo) is a method here
and runs under the session's lock; nothing else writes these fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from bridge import protocol as wire
from bridge.core.plans import DocLookup, EditorCaps, Expectation, FilePlan, SendEdit, Target, UndoWatch, plan_file
from bridge.core.ports import Editor
from bridge.core.turns import Turn, TurnResult
from bridge.errors import BridgeError, GitError, PlanConflict
from bridge.git import linked, pending, sync, worktrees
from bridge.git.hunks import FileChange, Hunk, hunks_of
from bridge.git.run import Worktree
from bridge.store import HunkRow, SessionRow, Store, WorktreeRow
from bridge.uris import file_uri, uri_key

log = logging.getLogger(__name__)

APPLY_EDIT_TIMEOUT = 120.0
KEPT_TURNS = 64

Runner = Callable[["Session", Turn], Awaitable[TurnResult]]
# What a selection names: each pending change with its chosen hunks (None: the whole change).
Chosen = list[tuple[FileChange, list[Hunk] | None]]


def branch_name(session_id: str) -> str:
    return f"agent-bridge/{session_id}"


def base_ref(session_id: str) -> str:
    return f"refs/agent-bridge/base/{session_id}"


def archive_ref(session_id: str) -> str:
    return f"refs/agent-bridge/archive/{session_id}"


def agent_cwd(worktree: Path, repo_root: Path, workspace: Path) -> Path:
    """The workspace's place inside the worktree (agents start where the user's editor is rooted)."""
    try:
        rel = workspace.resolve().relative_to(repo_root.resolve())
    except ValueError:
        return worktree
    if workspace.is_file():
        rel = rel.parent
    return worktree / rel


def pending_with_bases(worktree: Worktree, base: str) -> tuple[list[FileChange], dict[str, str]]:
    """The pending changes and the base text of each modified or renamed text file (blocking)."""
    changes = pending.pending_changes(worktree, base)
    texts = {}
    for change in changes:
        if not change.binary and change.change in ("modify", "rename"):
            blob = pending.read_blob(worktree, base, change.base_path) or b""
            texts[change.path] = blob.decode("utf-8", errors="replace")
    return changes, texts


CONFLICT_REASON = (
    "you and the agent both changed these lines; this is the agent's version, kept for review (apply this hunk "
    "by itself to replace your lines with it, or reject it)"
)


def conflict_keys(
    changes: Sequence[FileChange], conflicts: Mapping[str, tuple[sync.Lines, ...] | None]
) -> list[tuple[str, str]]:
    """The pending hunks that collide with the other side's edits: every hunk of a file that collided as a
    whole, else each hunk whose base lines touch a range the other side changed."""
    keys = []
    for change in changes:
        if change.path not in conflicts:
            continue
        ranges = conflicts[change.path]
        for hunk in hunks_of(change):
            start, end = hunk.old_start, hunk.old_start + len(hunk.old_lines)
            if ranges is None or any(start <= r_end and r_start <= end for r_start, r_end in ranges):
                keys.append((change.path, hunk.hunk_id))
    return keys


def fingerprint(changes: Sequence[FileChange]) -> list[tuple[str, tuple[str, ...]]]:
    return [(c.path, tuple(h.hunk_id for h in hunks_of(c))) for c in changes]


def _conflict(repo_root: Path, change: FileChange, hunks: list[Hunk] | None, reason: str) -> wire.Conflict:
    ids = [h.hunk_id for h in hunks] if hunks is not None else [h.hunk_id for h in hunks_of(change)]
    return wire.Conflict(file_uri(repo_root, change.path), ids, reason)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class Session:
    def __init__(
        self,
        row: SessionRow,
        worktree: WorktreeRow,
        tree: Worktree,
        cwd: Path,
        store: Store,
        editor: Editor,
        runner: Runner,
    ) -> None:
        self.row = row
        self.repo_root = Path(row.repo_root)
        self.cwd = cwd
        self._worktree = worktree
        # Every git command on the worktree names this git dir: never the one its `.git` file claims.
        self.tree = tree
        self._store = store
        self._editor = editor
        self._runner = runner
        self._queue: asyncio.Queue[Turn] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._current: Turn | None = None
        self._turns: dict[str, Turn] = {}
        self._pending: list[FileChange] = []
        # Base texts of the files in `pending`, so views can follow the user's edits without running git.
        self._base_texts: dict[str, str] = {}
        # Who made each pending hunk: (path, hunk id) -> row, refreshed with `pending`.
        self._attribution: dict[tuple[str, str], HunkRow] = {}
        # Serializes everything that moves the base or rewrites the worktree (turn ends, apply, reject).
        self._git_lock = asyncio.Lock()

    # What others may read
    @property
    def id(self) -> str:
        return self.row.id

    @property
    def path(self) -> Path:
        return self.tree.path

    @property
    def worktree(self) -> WorktreeRow:
        return self._worktree

    @property
    def base_commit(self) -> str:
        return self._worktree.base_commit

    @property
    def pending(self) -> Sequence[FileChange]:
        return tuple(self._pending)

    @property
    def base_texts(self) -> Mapping[str, str]:
        return self._base_texts

    @property
    def attribution(self) -> Mapping[tuple[str, str], HunkRow]:
        return self._attribution

    @property
    def current(self) -> Turn | None:
        return self._current

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def turn(self, turn_id: str) -> Turn | None:
        return self._turns.get(turn_id)

    def last_turn_id(self) -> str | None:
        return next(reversed(self._turns), None)

    def hunk_count(self) -> int:
        return sum(len(hunks_of(c)) for c in self._pending)

    def _target(self) -> Target:
        return Target(self.repo_root, self.tree, self.base_commit)

    # Turns
    def enqueue(self, turn: Turn) -> None:
        """Queue a turn; turns of a session run one at a time, in order."""
        self._turns[turn.id] = turn
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        self._queue.put_nowait(turn)

    async def _work(self) -> None:
        while True:
            turn = await self._queue.get()
            self._current = turn
            try:
                result = await self._runner(self, turn)
            except Exception as exc:  # the worker must survive anything a turn throws
                log.exception("turn %s failed unexpectedly", turn.id)
                result = TurnResult("failed", error=f"internal error: {exc}")
                with contextlib.suppress(Exception):
                    await self._store.end_turn(turn.id, "failed", error=result.error)
                self._editor.notify_event(
                    wire.TurnEnded(self.id, turn.id, turn.agent.name, "failed", error=result.error)
                )
                self._editor.progress_end(turn.id, result.error or "failed")
            finally:
                self._current = None
            if not turn.done.done():
                turn.done.set_result(result)
            self._forget_old_turns()

    def _forget_old_turns(self) -> None:
        """Ended turns beyond the most recent few are answered from the store, not kept in memory."""
        ended = [tid for tid, t in self._turns.items() if t.done.done()]
        for turn_id in ended[: max(0, len(ended) - KEPT_TURNS)]:
            del self._turns[turn_id]

    def cancel(self) -> bool:
        """Cancel the running turn, wherever it is (starting the agent, prompting, asking permission)."""
        turn = self._current
        if turn is None or turn.done.done():
            return False
        turn.cancel.set()
        return True

    async def stop(self, reason: str) -> None:
        """Cancel queued turns and the running one, then stop the worker."""
        while not self._queue.empty():
            turn = self._queue.get_nowait()
            await self._store.end_turn(turn.id, "cancelled", error=reason)
            if not turn.done.done():
                turn.done.set_result(TurnResult("cancelled", error=reason))
        if self._current is not None:
            current = self._current
            current.cancel.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(current.done), 5)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def record_turn(self, turn: Turn, message: str) -> tuple[str | None, str | None]:
        """Commit what the turn left in the worktree and attribute its new hunks.

        Returns the commit, if any, and why the turn must fail, if it must: the agent tampered with the
        worktree's `.git` file (now put back; the commit never went through it).
        """
        async with self._git_lock:
            tampered = await asyncio.to_thread(linked.repair_report, self.tree)
            if tampered is not None:
                self._editor.log(f"session {self.id}: {tampered}", error=True)
            try:
                commit = await asyncio.to_thread(worktrees.commit_all, self.tree, message)
                await self._refresh(turn)
                return commit, tampered
            except GitError as exc:
                self._editor.log(f"session {self.id}: could not record the turn's changes: {exc}", error=True)
                return None, tampered

    # Pending hunks
    async def refresh(self) -> None:
        async with self._git_lock:
            await self._refresh(None)

    async def _refresh(self, turn: Turn | None, owners: Mapping[str, HunkRow] | None = None) -> None:
        """Recompute pending hunks from git (the truth) and attribute new ones to `turn`, or else to the owner of
        the file's hunks before (`owners`: hunks that moved onto new ground stay the agent's). Hold the lock."""
        changes, base_texts = await asyncio.to_thread(pending_with_bases, self.tree, self.base_commit)
        rows: list[HunkRow] = []
        for c in changes:
            owner = (owners or {}).get(c.path)
            agent = turn.agent.name if turn else owner.agent if owner else "unknown"
            turn_id = turn.id if turn else owner.turn_id if owner else None
            rows.extend(
                HunkRow(self.id, c.path, h.hunk_id, agent, turn_id, "pending",
                        h.old_text if not c.binary else "", h.new_text if not c.binary else "", False)
                for h in hunks_of(c)
            )
        await self._store.record_pending(rows)
        await self._store.drop_vanished(self.id, {(r.path, r.hunk_id) for r in rows})
        before = fingerprint(self._pending)
        self._pending = changes
        self._base_texts = base_texts
        self._attribution = {(r.path, r.hunk_id): r for r in await self._store.hunks(self.id, "pending")}
        if turn is None or before != fingerprint(changes):
            self._editor.notify_event(
                wire.PendingChanged(self.id, turn.id if turn else None, len(changes), self.hunk_count())
            )
            self._editor.pending_changed(self.id)

    # Moving onto new ground
    async def catch_up(self, overlays: Mapping[str, str | bytes]) -> sync.Moved | None:
        """Bring the worktree up to what the user sees now, keeping the agent's unreviewed changes (None when
        the user changed nothing since the base)."""
        async with self._git_lock:
            tampered = await asyncio.to_thread(linked.repair_report, self.tree)
            if tampered is not None:
                self._editor.log(f"session {self.id}: {tampered}", error=True)
            moved = await asyncio.to_thread(sync.catch_up, self.repo_root, self.tree, self.base_commit, overlays)
            if moved is not None:
                await self._set_base(moved.base)
                await self._settle(moved)
            return moved

    async def rewind(self, base_before: str, head_before: str) -> sync.Moved:
        """Undo every agent change made since a turn started at (base_before, head_before); what the user
        applied or wrote since stays (it is in the base)."""
        async with self._git_lock:
            moved = await asyncio.to_thread(sync.rewind, self.tree, self.base_commit, base_before, head_before)
            await self._settle(moved)
            return moved

    async def head(self) -> str:
        return await asyncio.to_thread(worktrees.head, self.tree)

    async def _settle(self, moved: sync.Moved) -> None:
        """After a move: pending again from git, hunks kept with their agents, collisions marked. Hold the lock."""
        owners = {}
        for row in self._attribution.values():
            owners[row.path] = row  # the latest hunk of each file speaks for the file
        await self._refresh(None, owners)
        keys = conflict_keys(self._pending, moved.conflicts)
        if keys:
            await self._store.set_conflicts(self.id, keys, CONFLICT_REASON)
            self._attribution = {(r.path, r.hunk_id): r for r in await self._store.hunks(self.id, "pending")}
            self._editor.pending_changed(self.id)

    def conflict(self, path: str, hunk_id: str) -> str | None:
        row = self._attribution.get((path, hunk_id))
        return row.conflict if row is not None else None

    def _held_back(self, chosen: Chosen) -> tuple[Chosen, list[wire.Conflict]]:
        """A file's or the session's apply leaves out hunks that collide with the user's edits (each can be
        applied by itself, on purpose)."""
        kept: Chosen = []
        held: list[wire.Conflict] = []
        for change, hunks in chosen:
            every = hunks if hunks is not None else hunks_of(change)
            clashing = [h for h in every if self.conflict(change.path, h.hunk_id)]
            if not clashing:
                kept.append((change, hunks))
                continue
            reason = self.conflict(change.path, clashing[0].hunk_id) or CONFLICT_REASON
            held.append(_conflict(self.repo_root, change, clashing, reason))
            rest = [h for h in every if h not in clashing]
            whole = not change.hunks or change.change in ("create", "delete", "rename")
            if rest and not whole:
                kept.append((change, rest))
        return kept, held

    def select(self, uri: str | None, hunk_id: str | None) -> Chosen:
        """The pending changes a selection names: one hunk, one file (None = all its hunks) or everything."""
        if uri is None:
            return [(c, None) for c in self._pending]
        key = uri_key(uri)
        for change in self._pending:
            if key == uri_key(file_uri(self.repo_root, change.path)) or (
                change.old_path and key == uri_key(file_uri(self.repo_root, change.old_path))
            ):
                if hunk_id is None:
                    return [(change, None)]
                for hunk in hunks_of(change):
                    if hunk.hunk_id == hunk_id:
                        whole = not change.hunks or change.change in ("create", "delete", "rename")
                        return [(change, None if whole else [hunk])]
                raise BridgeError(f"no pending hunk {hunk_id!r} in {uri} (it may have been applied or rejected)")
        raise BridgeError(f"session {self.id!r} has no pending change for {uri}")

    def plan(
        self, change: FileChange, hunks: list[Hunk] | None, lookup: DocLookup, caps: EditorCaps, encoding: str
    ) -> FilePlan:
        """The editor edit for one pending change (blocking: git and disk reads; run in a thread)."""
        return plan_file(self._target(), change, hunks, lookup, caps, encoding)

    async def apply(
        self,
        uri: str | None,
        hunk_id: str | None,
        lookup: DocLookup,
        caps: EditorCaps,
        encoding: str,
        send_edit: SendEdit,
    ) -> tuple[wire.ApplyResult, list[UndoWatch]]:
        """`agentBridge.apply`: one workspace edit for everything selected that merges cleanly.

        Returns the command's result and, per applied file, what to watch for to notice the user undoing it.
        """
        async with self._git_lock:
            plans: list[FilePlan] = []
            chosen = self.select(uri, hunk_id)
            conflicts: list[wire.Conflict] = []
            if hunk_id is None:
                chosen, conflicts = self._held_back(chosen)
            for change, hunks in chosen:
                try:
                    plans.append(await asyncio.to_thread(self.plan, change, hunks, lookup, caps, encoding))
                except PlanConflict as exc:
                    conflicts.append(_conflict(self.repo_root, change, hunks, str(exc)))
            operations = [op for plan in plans for op in plan.operations]
            if operations:
                label = "Apply agent changes" if len(plans) > 1 else f"Apply agent change to {plans[0].change.path}"
                try:
                    ok, reason = await asyncio.wait_for(send_edit(operations, label), APPLY_EDIT_TIMEOUT)
                except TimeoutError:
                    ok, reason = False, "the editor did not answer the edit request"
                if not ok:
                    why = f"the editor did not apply the edit: {reason or 'no reason given'}"
                    conflicts.extend(_conflict(self.repo_root, p.change, None, why) for p in plans)
                    return wire.ApplyResult(0, conflicts), []
            for plan in plans:
                if plan.disk_write is not None:
                    await asyncio.to_thread(_write_bytes, *plan.disk_write)
            applied, watches = await self._rebaseline(plans)
            return wire.ApplyResult(applied, conflicts), watches

    async def record_applied(self, uri: str, expectation: Expectation) -> list[UndoWatch]:
        """The editor applied a code action's edit: re-baseline the hunks that are still pending."""
        async with self._git_lock:
            plans = []
            for hunk_id in expectation.hunk_ids:
                try:
                    selected = self.select(uri, hunk_id)
                except BridgeError:
                    continue  # already applied (e.g. through agentBridge.apply) or rejected meanwhile
                for change, hunks in selected:
                    plan = FilePlan(change, [h.hunk_id for h in hunks] if hunks is not None else None, uri)
                    plan.pre_sha = expectation.pre_sha if change.change == "modify" else None
                    plans.append(plan)
            _, watches = await self._rebaseline(plans)
            return watches

    async def _rebaseline(self, plans: list[FilePlan]) -> tuple[int, list[UndoWatch]]:
        """Move the base past what the user accepted, so those hunks stop being pending. Hold the lock."""
        if not plans:
            return 0, []
        source = base = self.base_commit
        keys: list[tuple[str, str]] = []
        undoable: list[tuple[FilePlan, tuple[tuple[str, str], ...]]] = []
        for plan in plans:
            base = await asyncio.to_thread(pending.advance_base, self.tree, base, plan.change, plan.hunk_ids)
            ids = plan.hunk_ids if plan.hunk_ids is not None else [h.hunk_id for h in hunks_of(plan.change)]
            plan_keys = tuple((plan.change.path, i) for i in ids)
            keys.extend(plan_keys)
            if plan.pre_sha is not None:
                undoable.append((plan, plan_keys))
        await self._set_base(base)
        await self._store.set_hunk_status(self.id, keys, "applied")
        await self._refresh(None)
        watches = [
            UndoWatch(self.id, plan.uri, plan.change.path, plan.pre_sha or "", source, base, plan_keys)
            for plan, plan_keys in undoable
        ]
        return len(keys), watches

    async def _set_base(self, base: str) -> None:
        await asyncio.to_thread(worktrees.set_ref, self.repo_root, self._worktree.base_ref, base)
        await self._store.set_base(self.id, base)
        self._worktree = replace(self._worktree, base_commit=base)

    async def unapply(self, watch: UndoWatch) -> bool:
        """The user undid an applied change: put that file's base back, so its hunks are pending again.

        Only when the base still holds exactly what that apply put there; otherwise it has moved on and is kept.
        """
        async with self._git_lock:
            now = await asyncio.to_thread(pending.read_blob, self.tree, self.base_commit, watch.path)
            then = await asyncio.to_thread(pending.read_blob, self.tree, watch.applied, watch.path)
            if now != then:
                return False
            new_base = await asyncio.to_thread(
                pending.reset_base_path, self.tree, self.base_commit, watch.source, watch.path
            )
            await self._set_base(new_base)
            await self._store.set_hunk_status(self.id, watch.hunk_keys, "pending")
            await self._refresh(None)
            return True

    async def reject(self, uri: str | None, hunk_id: str | None) -> int:
        """`agentBridge.reject`: revert in the worktree; the agent hears about it with its next prompt."""
        async with self._git_lock:
            keys: list[tuple[str, str]] = []
            for change, hunks in self.select(uri, hunk_id):
                ids = [h.hunk_id for h in hunks] if hunks is not None else None
                await asyncio.to_thread(
                    pending.revert_in_worktree, self.tree, self.base_commit, change, ids,
                    f"Reject {len(ids) if ids else 'all'} hunk(s) of {change.path}",
                )
                keys.extend((change.path, h.hunk_id) for h in (hunks if hunks is not None else hunks_of(change)))
            await self._store.set_hunk_status(self.id, keys, "rejected")
            await self._refresh(None)
            return len(keys)

    def file_versions(self, uri: str) -> wire.FileVersions:
        """`agentBridge.diff`: the base and the agent's version of one pending file (blocking: git and disk)."""
        (change, _), = self.select(uri, None)
        base_text = agent_text = None
        if not change.binary and change.change != "create":
            base = pending.read_blob(self.tree, self.base_commit, change.base_path) or b""
            base_text = base.decode("utf-8", errors="replace")
        if not change.binary and change.change != "delete":
            # From git, as the hunks were computed and as apply writes it: a symlink the agent planted shows as
            # a link (its target path), never as the file it points to outside the worktree.
            agent = pending.read_blob(self.tree, "HEAD", change.path)
            agent_text = agent.decode("utf-8", errors="replace") if agent is not None else None
        old_uri = file_uri(self.repo_root, change.old_path) if change.old_path else None
        return wire.FileVersions(
            self.id, file_uri(self.repo_root, change.path), change.change, change.binary, base_text, agent_text,
            old_uri,
        )

    # Closing
    async def remove_worktree(self) -> str | None:
        """Remove the worktree and its refs; unreviewed work is kept at an archive ref, which is returned."""
        async with self._git_lock:
            changes = await asyncio.to_thread(pending.pending_changes, self.tree, self.base_commit)
            keep = archive_ref(self.id) if changes else None
            try:
                problem = await asyncio.to_thread(
                    worktrees.remove_worktree, self.repo_root, self.tree, self._worktree.branch, keep
                )
                if problem is not None:
                    self._editor.log(f"session {self.id}: its worktree's .git file was tampered with ({problem})")
                await asyncio.to_thread(worktrees.delete_ref, self.repo_root, self._worktree.base_ref)
            except GitError as exc:
                self._editor.log(f"session {self.id}: could not remove its worktree: {exc}", error=True)
            return keep
