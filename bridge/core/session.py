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
from typing import TypeAlias

from bridge import protocol as wire
from bridge.core.ports import Editor
from bridge.core.review import CONFLICT_REASON, Review
from bridge.core.turns import Turn, TurnResult
from bridge.errors import GitError
from bridge.git import linked, pending, sync, worktrees
from bridge.git.hunks import FileChange, hunks_of
from bridge.git.run import Worktree
from bridge.git.watch import DirWatch
from bridge.store import HunkRow, SessionRow, Store, WorktreeRow

log = logging.getLogger(__name__)

KEPT_TURNS = 64

Runner = Callable[["Session", Turn], Awaitable[TurnResult]]

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


Read: TypeAlias = tuple[list[FileChange], dict[str, str]]  # pending changes, and the base text of each modified file


def pending_with_bases(worktree: Worktree, base: str, committed: bool = True, to: str | None = "HEAD") -> Read:
    """The pending changes (to `to`, the worktree's HEAD or a tree it staged, if `committed`, else to its files)
    and the base text of each modified or renamed text file (blocking)."""
    changes = pending.pending_changes(worktree, base, committed, to)
    texts = [c for c in changes if not c.binary and c.change in ("modify", "rename")]
    # One git process for all the base blobs (the diff named them), not two per file.
    blobs = pending.read_blobs(worktree, [c.old_oid for c in texts if c.old_oid])
    found = {}
    for change in texts:
        blob = blobs.get(change.old_oid or "")
        if blob is None:
            blob = pending.read_blob(worktree, base, change.base_path) or b""
        found[change.path] = blob.decode("utf-8", errors="replace")
    return changes, found


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


class Session(Review):
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
        self._queue: asyncio.Queue[Turn | None] = asyncio.Queue()  # None: stop once the current turn is done
        self._worker: asyncio.Task[None] | None = None
        self._current: Turn | None = None
        self._turns: dict[str, Turn] = {}
        self._pending: list[FileChange] = []
        # Base texts of the files in `pending`, so views can follow the user's edits without running git.
        self._base_texts: dict[str, str] = {}
        self._texts_base: str | None = None
        # Who made each pending hunk: (path, hunk id) -> row, refreshed with `pending`.
        self._attribution: dict[tuple[str, str], HunkRow] = {}
        # Serializes everything that moves the base or rewrites the worktree (turn ends, apply, reject).
        self._git_lock = asyncio.Lock()
        # When the user last prompted it (else its creation): a prompt without a session continues the latest.
        self.active_at = row.created_at
        # What changed in the worktree since it was last staged: a turn's end stages those paths only.
        self._watch = DirWatch(tree.path, skip=lambda: worktrees.ignored_dirs(tree))

    # What others may read
    @property
    def id(self) -> str:
        return self.row.id

    @property
    def workspace(self) -> str:
        """The workspace folder it belongs to (as Preparing.workspace)."""
        return self.row.workspace

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
        """The running turn; one that has ended is no longer current while its commit is being made."""
        turn = self._current
        return turn if turn is not None and not turn.done.done() else None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def turn(self, turn_id: str) -> Turn | None:
        return self._turns.get(turn_id)

    def last_turn_id(self) -> str | None:
        return next(reversed(self._turns), None)

    def hunk_count(self) -> int:
        return sum(len(hunks_of(c)) for c in self._pending)

    # Turns
    def enqueue(self, turn: Turn) -> None:
        """Queue a turn; turns of a session run one at a time, in order."""
        self._turns[turn.id] = turn
        self.active_at = max(self.active_at, turn.queued_at)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        self._queue.put_nowait(turn)

    async def _work(self) -> None:
        while True:
            turn = await self._queue.get()
            if turn is None:
                return
            self._current = turn
            try:
                result = await self._runner(self, turn)
            except Exception as exc:  # the worker must survive anything a turn throws
                log.exception("turn %s failed unexpectedly", turn.id)
                result = TurnResult("failed", error=f"internal error: {exc}")
                if turn.done.done():
                    continue  # it had ended already (the failure came after): its end stands
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
            if turn is None:
                continue
            await self._store.end_turn(turn.id, "cancelled", error=reason)
            if not turn.done.done():
                turn.done.set_result(TurnResult("cancelled", error=reason))
        if self._current is not None:
            self._current.cancel.set()
        if self._worker is not None and not self._worker.done():
            # The worker ends after the current turn, commit included (a turn ends before its commit is made).
            self._queue.put_nowait(None)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._worker), 5)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await asyncio.to_thread(self._watch.close)  # waits for the lock all watches share: off the loop

    async def settled(self) -> None:
        """Once the git work under way (a turn's commit, made just after the turn ended) is done."""
        async with self._git_lock:
            pass

    async def record_turn(
        self, turn: Turn, message: str, ended: Callable[[str | None], Awaitable[None]]
    ) -> str | None:
        """Record what the turn left in the worktree: its new hunks attributed to it, then `ended` is called
        (the turn is over for the editor, with why it must fail, if it must: the agent tampered with the
        worktree's `.git` file, now put back), then the commit on the session's branch.

        The commit comes after `ended` because nothing the editor sees waits for it: the pending list is read
        from the staged index. The lock is held throughout, so nothing else touches the worktree in between.
        Returns the commit, if any.
        """
        async with self._git_lock:
            base = self.base_commit
            tampered, read, failed = await asyncio.to_thread(self._stage, base, self._texts_base == base)
            if tampered is not None:
                self._editor.log(f"session {self.id}: {tampered}", error=True)
            if failed is not None:
                self._editor.log(f"session {self.id}: could not record the turn's changes: {failed}", error=True)
            elif read is not None:
                await self._refresh(turn, read=read)
            await ended(tampered)
            if failed is not None or read is None:
                return None  # nothing staged, or nothing changed since the last commit
            try:
                return await asyncio.to_thread(worktrees.commit_index, self.tree, message)
            except GitError as exc:
                # Staged, so the next commit of the worktree takes it along: nothing is lost.
                self._editor.log(f"session {self.id}: could not commit the turn's changes: {exc}", error=True)
                return None

    def _stage(self, base: str, texts_current: bool) -> tuple[str | None, Read | None, GitError | None]:
        """The turn's end in git, up to what the editor sees (blocking, one thread hop): the worktree's `.git`
        file checked (and put back: what was wrong with it), the paths that changed since the last staging
        staged (the watch names them, git reads only them), and the pending list read from the index; None
        when nothing changed since the list was read against this `base` (`texts_current`). Writing the
        index as a tree is left to the commit, after the editor has been told."""
        tampered = linked.repair_report(self.tree)
        changed = self._watch.take()
        try:
            worktrees.stage_files(self.tree, changed)
            if changed is not None and not changed and texts_current:
                return tampered, None, None
            return tampered, pending_with_bases(self.tree, base, True, None), None
        except GitError as exc:
            self._watch.forget()  # what it named may not be staged: the next staging reads everything
            return tampered, None, exc

    # Pending hunks
    async def refresh(self) -> None:
        """The pending list from the worktree's files, committed or not (after a restart: a bridge that stopped
        mid-turn left the agent's last writes uncommitted)."""
        async with self._git_lock:
            await self._refresh(None, committed=False)

    async def _refresh(
        self,
        turn: Turn | None,
        owners: Mapping[str, HunkRow] | None = None,
        committed: bool = True,
        read: Read | None = None,
    ) -> None:
        """Recompute pending hunks from git (the truth) and attribute new ones to `turn`, or else to the owner of
        the file's hunks before (`owners`: hunks that moved onto new ground stay the agent's). Every caller but
        `refresh` has just committed the worktree, so its HEAD is what the agent left, or read the list from what
        it staged (`read`). Hold the lock."""
        base = self.base_commit
        if read is None:
            read = await asyncio.to_thread(pending_with_bases, self.tree, base, committed)
        changes, base_texts = read
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
        self._base_texts, self._texts_base = base_texts, base
        self._attribution = {(r.path, r.hunk_id): r for r in await self._store.hunks(self.id, "pending")}
        if turn is None or before != fingerprint(changes):
            self._editor.notify_event(
                wire.PendingChanged(self.id, turn.id if turn else None, len(changes), self.hunk_count())
            )
            self._editor.pending_changed(self.id)

    # Moving onto new ground
    async def catch_up(self, overlays: Mapping[str, str | bytes]) -> tuple[sync.Moved | None, str | None]:
        """Bring the worktree up to what the user sees now, keeping the agent's unreviewed changes (None when
        the user changed nothing since the base, or when it failed: said in the log, and the turn goes on, on
        the code the agent had, nothing lost), and say where the worktree's HEAD is then (where a turn starts;
        None if unreadable)."""
        async with self._git_lock:
            tampered, moved, failed, head = await asyncio.to_thread(self._catch_up, self.base_commit, overlays)
            if tampered is not None:
                self._editor.log(f"session {self.id}: {tampered}", error=True)
            if failed is None and moved is not None:
                try:
                    await self._set_base(moved.base)
                    await self._settle(moved)
                except GitError as exc:
                    failed = exc
            if failed is not None:
                self._editor.log(f"session {self.id}: could not bring the worktree up to your code: {failed}",
                                 error=True)
                moved = None
            return moved, head

    def _catch_up(
        self, base: str, overlays: Mapping[str, str | bytes]
    ) -> tuple[str | None, sync.Moved | None, GitError | None, str | None]:
        """`catch_up`'s git work in one thread hop (blocking): the `.git` file checked (and put back: what was
        wrong with it), the catch-up (or why it failed), then HEAD."""
        tampered = linked.repair_report(self.tree)
        moved, failed = None, None
        try:
            moved = sync.catch_up(self.repo_root, self.tree, base, overlays)
        except GitError as exc:
            failed = exc
        try:
            head: str | None = worktrees.head(self.tree)
        except GitError as exc:
            log.warning("session %s: cannot read the worktree's head: %s", self.id, exc)
            head = None
        return tampered, moved, failed, head

    async def rewind(self, base_before: str, head_before: str) -> sync.Moved:
        """Undo every agent change made since a turn started at (base_before, head_before); what the user
        applied or wrote since stays (it is in the base)."""
        async with self._git_lock:
            moved = await asyncio.to_thread(sync.rewind, self.tree, self.base_commit, base_before, head_before)
            await self._settle(moved)
            return moved

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

    async def _set_base(self, base: str) -> None:
        await asyncio.to_thread(worktrees.set_ref, self.repo_root, self._worktree.base_ref, base)
        await self._store.set_base(self.id, base)
        self._worktree = replace(self._worktree, base_commit=base)

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
