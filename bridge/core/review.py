"""Reviewing a session's pending hunks: selecting, applying (one workspace edit, then re-baselining), noticing
an undo, rejecting, and the two sides of a file for a diff view.

A mixin of Session: these methods move the base or rewrite the worktree, so they run under the session's git
lock like everything else that does (see session.py); the state they read and write is the session's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from bridge import protocol as wire
from bridge.core.plans import DocLookup, EditorCaps, Expectation, FilePlan, SendEdit, Target, UndoWatch, plan_file
from bridge.errors import BridgeError, PlanConflict
from bridge.git import pending, rejections
from bridge.git.hunks import FileChange, Hunk, hunks_of
from bridge.git.run import Worktree
from bridge.git.worktrees import head
from bridge.store import HunkRow, Store
from bridge.uris import file_uri, uri_key

APPLY_EDIT_TIMEOUT = 120.0

# What a selection names: each pending change with its chosen hunks (None: the whole change).
Chosen = list[tuple[FileChange, list[Hunk] | None]]


CONFLICT_REASON = (
    "you and the agent both changed these lines; this is the agent's version, kept for review (apply this hunk "
    "by itself to replace your lines with it, or reject it)"
)


def _conflict(repo_root: Path, change: FileChange, hunks: list[Hunk] | None, reason: str) -> wire.Conflict:
    ids = [h.hunk_id for h in hunks] if hunks is not None else [h.hunk_id for h in hunks_of(change)]
    return wire.Conflict(file_uri(repo_root, change.path), ids, reason)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)



class Review:
    """Session's review commands. The attributes below are the session's own (set by Session.__init__)."""

    repo_root: Path
    tree: Worktree
    _store: Store
    _pending: list[FileChange]
    _attribution: dict[tuple[str, str], HunkRow]
    _base_texts: dict[str, str]
    _texts_base: str | None  # the base `_base_texts` were read at
    _git_lock: asyncio.Lock

    @property
    def id(self) -> str:
        raise NotImplementedError

    @property
    def base_commit(self) -> str:
        raise NotImplementedError

    def _target(self) -> Target:
        # The texts read with `pending` serve only while the base is the one they were read at.
        texts = self._base_texts if self._texts_base == self.base_commit else {}
        return Target(self.repo_root, self.tree, self.base_commit, texts)

    async def _refresh(self, turn: None, owners: Mapping[str, HunkRow] | None = None) -> None:
        raise NotImplementedError

    async def _set_base(self, base: str) -> None:
        raise NotImplementedError

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

    async def reject(self, uri: str | None, hunk_id: str | None) -> wire.RejectResult:
        """`agentBridge.reject`: revert in the worktree; the agent hears about it with its next prompt.

        The reverting commits form the rejection's id, which `unreject` takes to put the hunks back.
        """
        async with self._git_lock:
            keys: list[tuple[str, str]] = []
            before = await asyncio.to_thread(head, self.tree)
            for change, hunks in self.select(uri, hunk_id):
                ids = [h.hunk_id for h in hunks] if hunks is not None else None
                chosen = hunks if hunks is not None else hunks_of(change)
                await asyncio.to_thread(
                    pending.revert_in_worktree, self.tree, self.base_commit, change, ids,
                    rejections.message(change.path, ids, [h.hunk_id for h in chosen]),
                )
                keys.extend((change.path, h.hunk_id) for h in chosen)
            after = await asyncio.to_thread(head, self.tree)
            await self._store.set_hunk_status(self.id, keys, "rejected")
            await self._refresh(None)
            return wire.RejectResult(len(keys), rejections.rejection_id(before, after))

    async def unreject(self, rejection: str) -> int:
        """`agentBridge.unreject`: the agent's version of a rejection's hunks is back in the worktree and they are
        pending again (same ids, same attribution); the agent is not told about a rejection it never heard of."""
        async with self._git_lock:
            commits = await asyncio.to_thread(rejections.unreject, self.tree, rejection)
            rejected = {row.hunk_id: row for row in await self._store.hunks(self.id, "rejected")}
            keys = await asyncio.to_thread(rejections.hunk_ids, self.tree, commits)
            restored = [(rejected[h].path, h) for h in keys if h in rejected]
            # Pending before the refresh: the refresh then keeps each hunk's agent and turn.
            await self._store.set_hunk_status(self.id, restored, "pending")
            await self._refresh(None)
            return len(restored)

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
            agent = pending.agent_blob(self.tree, change)
            agent_text = agent.decode("utf-8", errors="replace") if agent is not None else None
        old_uri = file_uri(self.repo_root, change.old_path) if change.old_path else None
        return wire.FileVersions(
            self.id, file_uri(self.repo_root, change.path), change.change, change.binary, base_text, agent_text,
            old_uri,
        )
