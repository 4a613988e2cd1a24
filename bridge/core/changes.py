"""Applying and rejecting pending hunks: plan the editor edit, send it, then move the base or the worktree."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lsprotocol import types as T

from bridge.core.editor import BridgeError
from bridge.core.manager import SessionManager
from bridge.core.session import LiveSession
from bridge.git import worktrees
from bridge.git.hunks import FileChange, Hunk, apply_hunks, split_lines
from bridge.git.merge import MergeConflict, line_edit, line_position, merge3, reanchor, text_sha
from bridge.lsp.views import file_uri, hunks_of, uri_key

APPLY_EDIT_TIMEOUT = 120.0


@dataclass(frozen=True)
class LiveDoc:
    """A document as the user has it: the editor's buffer if open, else the file on disk."""

    text: str
    version: int | None


DocLookup = Callable[[str], LiveDoc | None]
SendEdit = Callable[[T.WorkspaceEdit, str], Awaitable[tuple[bool, str | None]]]


@dataclass(frozen=True)
class EditorCaps:
    document_changes: bool = True
    resource_operations: frozenset[str] = frozenset({"create", "rename", "delete"})


class PlanConflict(Exception):
    pass


@dataclass
class FilePlan:
    change: FileChange
    hunk_ids: list[str] | None  # None: the whole file change
    uri: str
    operations: list[Any] = field(default_factory=list)
    expect_sha: str | None = None
    disk_write: tuple[Path, bytes] | None = None
    pre_sha: str | None = None  # the user's text before applying (a modify only), to notice an undo

    def count(self) -> int:
        return len(self.hunk_ids) if self.hunk_ids is not None else len(hunks_of(self.change))


def select(live: LiveSession, uri: str | None, hunk_id: str | None) -> list[tuple[FileChange, list[Hunk] | None]]:
    """The pending changes a selection names: one hunk, one file (None = all its hunks) or everything."""
    if uri is None:
        return [(c, None) for c in live.pending]
    key = uri_key(uri)
    for change in live.pending:
        if key == uri_key(file_uri(live.repo_root, change.path)) or (
            change.old_path and key == uri_key(file_uri(live.repo_root, change.old_path))
        ):
            if hunk_id is None:
                return [(change, None)]
            for hunk in hunks_of(change):
                if hunk.hunk_id == hunk_id:
                    whole = not change.hunks or change.change in ("create", "delete", "rename")
                    return [(change, None if whole else [hunk])]
            raise BridgeError(f"no pending hunk {hunk_id!r} in {uri} (it may have been applied or rejected)")
    raise BridgeError(f"session {live.row.id!r} has no pending change for {uri}")


def _old_uri(live: LiveSession, change: FileChange) -> str | None:
    return file_uri(live.repo_root, change.old_path) if change.old_path else None


def _disk_doc(path: Path) -> LiveDoc | None:
    try:
        return LiveDoc(path.read_bytes().decode("utf-8"), None)
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise PlanConflict(f"{path} is not UTF-8 text in your checkout") from exc


def _full_range(text: str, encoding: str) -> T.Range:
    lines = split_lines(text)
    end = line_position(lines, len(lines), encoding)
    return T.Range(T.Position(0, 0), T.Position(*end))


def _text_edit(uri: str, version: int | None, old: str, new: str, encoding: str) -> T.TextDocumentEdit | None:
    edit = line_edit(old, new)
    if edit is None:
        return None
    lines = split_lines(old)
    start = line_position(lines, edit.start, encoding)
    end = line_position(lines, edit.end, encoding)
    new_text = edit.new_text
    return T.TextDocumentEdit(
        text_document=T.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
        edits=[T.TextEdit(range=T.Range(T.Position(*start), T.Position(*end)), new_text=new_text)],
    )


def plan_file(
    live: LiveSession,
    change: FileChange,
    hunks: list[Hunk] | None,
    lookup: DocLookup,
    caps: EditorCaps,
    encoding: str,
) -> FilePlan:
    """What to send the editor for one file (blocking: git and disk reads; run in a thread)."""
    wt, base = live.path, live.worktree.base_commit
    uri = file_uri(live.repo_root, change.path)
    plan = FilePlan(change, [h.hunk_id for h in hunks] if hunks is not None else None, uri)
    user_path = live.repo_root / change.path
    base_bytes = worktrees.read_blob(wt, base, change.base_path) if change.change != "create" else b""
    if change.binary:
        current = user_path.read_bytes() if user_path.exists() else None
        if change.change == "create" and current is not None:
            raise PlanConflict(f"{change.path} already exists in your checkout")
        if change.change != "create" and current != base_bytes:
            raise PlanConflict(f"{change.path} changed in your checkout since the agent started")
        if change.change == "delete":
            plan.operations.append(T.DeleteFile(uri=uri, options=T.DeleteFileOptions(ignore_if_not_exists=True)))
        else:
            new_bytes = worktrees.read_blob(wt, "HEAD", change.path)
            if new_bytes is None:
                raise PlanConflict(f"{change.path} is no longer in the session worktree")
            plan.disk_write = (user_path, new_bytes)
        return plan

    base_text = (base_bytes or b"").decode("utf-8", errors="replace")
    if change.change == "create":
        open_doc = lookup(uri)
        on_disk = _disk_doc(user_path)
        doc = open_doc or on_disk
        new_text = apply_hunks("", list(change.hunks))
        plan.expect_sha = text_sha(new_text)
        if doc is not None and doc.text == new_text:
            return plan  # the user already has it: only the base moves
        if on_disk is not None and on_disk.text.strip():
            raise PlanConflict(f"{change.path} already exists in your checkout with other content")
        if open_doc is not None and open_doc.text.strip():
            raise PlanConflict(f"{change.path} is open in your editor with other content")
        if open_doc is None:
            _need_resource(caps, "create", change.path)
            plan.operations.append(T.CreateFile(uri=uri, options=T.CreateFileOptions(ignore_if_exists=True)))
        if new_text:
            # Replace through the start of line 1, not insert at 0:0: editors that model an empty buffer as
            # one empty line (Neovim) would otherwise keep it as an extra blank line at the end.
            version = open_doc.version if open_doc is not None and caps.document_changes else None
            plan.operations.append(T.TextDocumentEdit(
                text_document=T.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=[T.TextEdit(range=T.Range(T.Position(0, 0), T.Position(1, 0)), new_text=new_text)],
            ))
        return plan

    old_uri = _old_uri(live, change) or uri
    old_user_path = live.repo_root / change.base_path
    doc = lookup(old_uri) or _disk_doc(old_user_path)
    if doc is None:
        raise PlanConflict(f"{change.base_path} is missing in your checkout")
    if change.change == "delete":
        if doc.text != base_text:
            raise PlanConflict(f"you changed {change.path}, which the agent deleted; not deleting your edits")
        _need_resource(caps, "delete", change.path)
        plan.operations.append(T.DeleteFile(uri=uri, options=T.DeleteFileOptions(ignore_if_not_exists=True)))
        return plan
    chosen = list(hunks) if hunks is not None else list(change.hunks)
    target = apply_hunks(base_text, chosen)
    try:
        merged = merge3(doc.text, base_text, target)
    except MergeConflict as exc:
        try:
            merged = reanchor(doc.text, base_text, chosen)
        except MergeConflict as again:
            raise PlanConflict(f"{change.path}: {again} ({exc})") from None
    plan.expect_sha = text_sha(merged)
    plan.pre_sha = text_sha(doc.text) if change.change == "modify" else None
    if change.change == "rename":
        _need_resource(caps, "rename", change.path)
        plan.operations.append(T.RenameFile(old_uri=old_uri, new_uri=uri))
        edit = _text_edit(uri, None, doc.text, merged, encoding)
    else:
        edit = _text_edit(uri, doc.version if caps.document_changes else None, doc.text, merged, encoding)
    if edit is not None:
        plan.operations.append(edit)
    return plan


def _need_resource(caps: EditorCaps, kind: str, path: str) -> None:
    if not caps.document_changes or kind not in caps.resource_operations:
        raise PlanConflict(f"your editor cannot {kind} files through edits ({path}); apply it by hand")


def workspace_edit(plans: list[FilePlan], caps: EditorCaps) -> T.WorkspaceEdit | None:
    operations = [op for plan in plans for op in plan.operations]
    if not operations:
        return None
    if caps.document_changes:
        return T.WorkspaceEdit(document_changes=operations)
    changes: dict[str, list[T.TextEdit]] = {}
    for op in operations:
        if isinstance(op, T.TextDocumentEdit):
            changes.setdefault(op.text_document.uri, []).extend(op.edits)  # type: ignore[arg-type]
    return T.WorkspaceEdit(changes=changes)


def _conflict(live: LiveSession, change: FileChange, hunks: list[Hunk] | None, reason: str) -> dict[str, Any]:
    ids = [h.hunk_id for h in hunks] if hunks is not None else [h.hunk_id for h in hunks_of(change)]
    return {"uri": file_uri(live.repo_root, change.path), "hunkIds": ids, "reason": reason}


async def apply(
    manager: SessionManager,
    live: LiveSession,
    uri: str | None,
    hunk_id: str | None,
    lookup: DocLookup,
    caps: EditorCaps,
    encoding: str,
    send_edit: SendEdit,
) -> tuple[dict[str, Any], list[UndoWatch]]:
    """`agentBridge.apply`: one workspace/applyEdit for everything selected that merges cleanly.

    Returns the command's result and, per applied file, what to watch for to notice the user undoing it.
    """
    async with live.git_lock:
        selection = select(live, uri, hunk_id)
        plans: list[FilePlan] = []
        conflicts: list[dict[str, Any]] = []
        for change, hunks in selection:
            try:
                plans.append(await asyncio.to_thread(plan_file, live, change, hunks, lookup, caps, encoding))
            except PlanConflict as exc:
                conflicts.append(_conflict(live, change, hunks, str(exc)))
        edit = workspace_edit(plans, caps)
        if edit is not None:
            label = "Apply agent changes" if len(plans) > 1 else f"Apply agent change to {plans[0].change.path}"
            try:
                ok, reason = await asyncio.wait_for(send_edit(edit, label), APPLY_EDIT_TIMEOUT)
            except TimeoutError:
                ok, reason = False, "the editor did not answer the edit request"
            if not ok:
                why = f"the editor did not apply the edit: {reason or 'no reason given'}"
                conflicts.extend(_conflict(live, p.change, None, why) for p in plans)
                return {"applied": 0, "conflicts": conflicts}, []
        for plan in plans:
            if plan.disk_write is not None:
                path, data = plan.disk_write
                await asyncio.to_thread(_write_bytes, path, data)
        applied, watches = await rebaseline(manager, live, plans)
        return {"applied": applied, "conflicts": conflicts}, watches


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def rebaseline(
    manager: SessionManager, live: LiveSession, plans: list[FilePlan]
) -> tuple[int, list[UndoWatch]]:
    """Move the base past what the user accepted, so those hunks stop being pending. Hold live.git_lock."""
    if not plans:
        return 0, []
    source = base = live.worktree.base_commit
    keys: list[tuple[str, str]] = []
    undoable: list[tuple[FilePlan, tuple[tuple[str, str], ...]]] = []
    for plan in plans:
        base = await asyncio.to_thread(worktrees.advance_base, live.path, base, plan.change, plan.hunk_ids)
        ids = plan.hunk_ids if plan.hunk_ids is not None else [h.hunk_id for h in hunks_of(plan.change)]
        plan_keys = tuple((plan.change.path, i) for i in ids)
        keys.extend(plan_keys)
        if plan.pre_sha is not None:
            undoable.append((plan, plan_keys))
    await _set_base(manager, live, base)
    await manager.store.set_hunk_status(live.row.id, keys, "applied")
    await manager.refresh_pending(live, None)
    watches = [
        UndoWatch(live.row.id, plan.uri, plan.change.path, plan.pre_sha or "", source, base, plan_keys)
        for plan, plan_keys in undoable
    ]
    return len(keys), watches


async def _set_base(manager: SessionManager, live: LiveSession, base: str) -> None:
    await asyncio.to_thread(worktrees.set_ref, live.repo_root, live.worktree.base_ref, base)
    await manager.store.set_base(live.row.id, base)
    live.worktree = replace(live.worktree, base_commit=base)


@dataclass(frozen=True)
class UndoWatch:
    """An applied file: if the user's text goes back to `pre_sha` (undo), the hunks become pending again."""

    session_id: str
    uri: str
    path: str
    pre_sha: str
    source: str  # the base before the apply
    applied: str  # the base right after it
    hunk_keys: tuple[tuple[str, str], ...]


async def unapply(manager: SessionManager, live: LiveSession, watch: UndoWatch) -> bool:
    """The user undid an applied change: put that file's base back, so its hunks are pending again.

    Only when the base still holds exactly what that apply put there; otherwise it has moved on and is kept.
    """
    async with live.git_lock:
        base = live.worktree.base_commit
        now = await asyncio.to_thread(worktrees.read_blob, live.path, base, watch.path)
        then = await asyncio.to_thread(worktrees.read_blob, live.path, watch.applied, watch.path)
        if now != then:
            return False
        new_base = await asyncio.to_thread(worktrees.reset_base_path, live.path, base, watch.source, watch.path)
        await _set_base(manager, live, new_base)
        await manager.store.set_hunk_status(live.row.id, watch.hunk_keys, "pending")
        await manager.refresh_pending(live, None)
        return True


async def reject(manager: SessionManager, live: LiveSession, uri: str | None, hunk_id: str | None) -> int:
    """`agentBridge.reject`: revert in the worktree; the agent hears about it with its next prompt."""
    async with live.git_lock:
        selection = select(live, uri, hunk_id)
        keys: list[tuple[str, str]] = []
        for change, hunks in selection:
            ids = [h.hunk_id for h in hunks] if hunks is not None else None
            await asyncio.to_thread(
                worktrees.revert_in_worktree, live.path, live.worktree.base_commit, change, ids,
                f"Reject {len(ids) if ids else 'all'} hunk(s) of {change.path}",
            )
            keys.extend((change.path, h.hunk_id) for h in (hunks if hunks is not None else hunks_of(change)))
        await manager.store.set_hunk_status(live.row.id, keys, "rejected")
        await manager.refresh_pending(live, None)
        return len(keys)


@dataclass(frozen=True)
class Expectation:
    """A code action's edit: once the document text hashes to `sha`, these hunks are applied."""

    session_id: str
    hunk_ids: tuple[str, ...]
    sha: str
    pre_sha: str | None = None


async def record_applied(
    manager: SessionManager, live: LiveSession, uri: str, expectation: Expectation
) -> list[UndoWatch]:
    """The editor applied a code action's edit: re-baseline the hunks that are still pending."""
    async with live.git_lock:
        plans = []
        for hunk_id in expectation.hunk_ids:
            try:
                selected = select(live, uri, hunk_id)
            except BridgeError:
                continue  # already applied (e.g. through agentBridge.apply) or rejected meanwhile
            for change, hunks in selected:
                plan = FilePlan(change, [h.hunk_id for h in hunks] if hunks is not None else None, uri)
                plan.pre_sha = expectation.pre_sha if change.change == "modify" else None
                plans.append(plan)
        _, watches = await rebaseline(manager, live, plans)
        return watches


def file_versions(live: LiveSession, uri: str) -> dict[str, Any]:
    """`agentBridge.diff`: the base and the agent's version of one pending file (blocking: git and disk)."""
    (change, _), = select(live, uri, None)
    result: dict[str, Any] = {
        "sessionId": live.row.id, "uri": file_uri(live.repo_root, change.path), "change": change.change,
        "binary": change.binary, "baseText": None, "agentText": None,
    }
    if change.old_path:
        result["oldUri"] = file_uri(live.repo_root, change.old_path)
    if change.binary:
        return result
    if change.change != "create":
        base = worktrees.read_blob(live.path, live.worktree.base_commit, change.base_path) or b""
        result["baseText"] = base.decode("utf-8", errors="replace")
    if change.change != "delete":
        try:
            result["agentText"] = (live.path / change.path).read_bytes().decode("utf-8", errors="replace")
        except FileNotFoundError:
            result["agentText"] = None
    return result
