"""Planning how a pending change reaches the user's text, without clobbering what they typed.

A plan is a list of editor-neutral operations (create, delete, rename, replace lines); the LSP layer turns
them into a WorkspaceEdit. Planning reads git and disk, so it is blocking: run it in a thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bridge.errors import MergeConflict, PlanConflict
from bridge.git import pending
from bridge.git.hunks import FileChange, Hunk, apply_hunks
from bridge.git.merge import line_edit, merge3, reanchor, text_sha
from bridge.git.run import Worktree
from bridge.textlines import LspLines
from bridge.uris import file_uri


@dataclass(frozen=True)
class LiveDoc:
    """A document as the user has it: the editor's buffer if open, else the file on disk."""

    text: str
    version: int | None


DocLookup = Callable[[str], LiveDoc | None]


@dataclass(frozen=True)
class EditorCaps:
    """What the editor's workspace edits can do."""

    document_changes: bool = True
    resource_operations: frozenset[str] = frozenset({"create", "rename", "delete"})


Position = tuple[int, int]  # (line, character) in the negotiated position encoding


@dataclass(frozen=True)
class CreateFile:
    uri: str


@dataclass(frozen=True)
class DeleteFile:
    uri: str


@dataclass(frozen=True)
class RenameFile:
    old_uri: str
    new_uri: str


@dataclass(frozen=True)
class ReplaceText:
    """Replace [start, end) of a document (checked against `version` when the editor supports it)."""

    uri: str
    version: int | None
    start: Position
    end: Position
    new_text: str


EditOp = CreateFile | DeleteFile | RenameFile | ReplaceText
# Sends one workspace edit to the editor: (applied, why not).
SendEdit = Callable[[Sequence[EditOp], str], Awaitable[tuple[bool, str | None]]]


@dataclass
class FilePlan:
    change: FileChange
    hunk_ids: list[str] | None  # None: the whole file change
    uri: str
    operations: list[EditOp] = field(default_factory=list)
    expect_sha: str | None = None
    disk_write: tuple[Path, bytes] | None = None
    pre_sha: str | None = None  # the user's text before applying (a modify only), to notice an undo


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


@dataclass(frozen=True)
class Expectation:
    """A code action's edit: once the document text hashes to `sha`, these hunks are applied."""

    session_id: str
    hunk_ids: tuple[str, ...]
    sha: str
    pre_sha: str | None = None


@dataclass(frozen=True)
class Target:
    """Where a session's files are: the user's checkout and the session worktree at its base."""

    repo_root: Path
    worktree: Worktree
    base: str
    # Base texts of pending text files (path -> text) the session already read at `base`: a code action then
    # runs no git at all. Missing files are read from git.
    texts: Mapping[str, str] = field(default_factory=dict)


def _disk_doc(path: Path) -> LiveDoc | None:
    try:
        return LiveDoc(path.read_bytes().decode("utf-8"), None)
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise PlanConflict(f"{path} is not UTF-8 text in your checkout") from exc


def _replace(uri: str, version: int | None, old: str, new: str, encoding: str) -> ReplaceText | None:
    edit = line_edit(old, new)
    if edit is None:
        return None
    lines = LspLines.of(old)
    appended = _append_before_last_break(lines, edit.start, edit.end, edit.new_text, encoding)
    if appended is not None:
        return ReplaceText(uri, version, appended[0], appended[0], appended[1])
    start = lines.position(edit.start, encoding)
    end = lines.position(edit.end, encoding)
    return ReplaceText(uri, version, start, end, edit.new_text)


def _append_before_last_break(
    lines: LspLines, start: int, end: int, new_text: str, encoding: str
) -> tuple[Position, str] | None:
    """Lines appended after a text's final line break, as an insertion just before that break instead.

    The plain form inserts at the empty line after the final break, a position LSP allows but Neovim's
    apply_text_edits (0.10, 0.11) mishandles: it appends the inserted text's lines as whole lines, the empty
    piece after its final break included, so the file ends with a blank line more. Inserting `break + text`
    before the final break yields the same text in every editor."""
    count = len(lines)
    if start != end or start != count or count == 0:
        return None
    last = lines.lines[-1]
    brk = "\r\n" if last.endswith("\r\n") else "\n" if last.endswith("\n") else None
    if brk is None or not new_text.endswith(brk):
        return None
    return lines.line_end(count - 1, encoding), brk + new_text[: -len(brk)]


def _need_resource(caps: EditorCaps, kind: str, path: str) -> None:
    if not caps.document_changes or kind not in caps.resource_operations:
        raise PlanConflict(f"your editor cannot {kind} files through edits ({path}); apply it by hand")


def plan_file(
    target: Target,
    change: FileChange,
    hunks: list[Hunk] | None,
    lookup: DocLookup,
    caps: EditorCaps,
    encoding: str,
) -> FilePlan:
    """What to send the editor for one file (blocking: git and disk reads; run in a thread)."""
    wt, base = target.worktree, target.base
    uri = file_uri(target.repo_root, change.path)
    plan = FilePlan(change, [h.hunk_id for h in hunks] if hunks is not None else None, uri)
    user_path = target.repo_root / change.path
    known = target.texts.get(change.path) if not change.binary else None
    if known is not None:
        base_text = known
    else:
        base_bytes = pending.read_blob(wt, base, change.base_path) if change.change != "create" else b""
        if change.binary:
            return _plan_binary(plan, wt, user_path, base_bytes)
        base_text = (base_bytes or b"").decode("utf-8", errors="replace")
    if change.change == "create":
        return _plan_create(plan, user_path, lookup, caps)

    old_uri = file_uri(target.repo_root, change.old_path) if change.old_path else uri
    doc = lookup(old_uri) or _disk_doc(target.repo_root / change.base_path)
    if doc is None:
        raise PlanConflict(f"{change.base_path} is missing in your checkout")
    if change.change == "delete":
        if doc.text != base_text:
            raise PlanConflict(f"you changed {change.path}, which the agent deleted; not deleting your edits")
        _need_resource(caps, "delete", change.path)
        plan.operations.append(DeleteFile(uri))
        return plan
    chosen = list(hunks) if hunks is not None else list(change.hunks)
    target_text = apply_hunks(base_text, chosen)
    try:
        merged = merge3(doc.text, base_text, target_text)
    except MergeConflict as exc:
        try:
            merged = reanchor(doc.text, base_text, chosen)
        except MergeConflict as again:
            raise PlanConflict(f"{change.path}: {again} ({exc})") from None
    plan.expect_sha = text_sha(merged)
    plan.pre_sha = text_sha(doc.text) if change.change == "modify" else None
    if change.change == "rename":
        _need_resource(caps, "rename", change.path)
        plan.operations.append(RenameFile(old_uri, uri))
        edit = _replace(uri, None, doc.text, merged, encoding)
    else:
        edit = _replace(uri, doc.version if caps.document_changes else None, doc.text, merged, encoding)
    if edit is not None:
        plan.operations.append(edit)
    return plan


def _plan_binary(plan: FilePlan, worktree: Worktree, user_path: Path, base_bytes: bytes | None) -> FilePlan:
    change = plan.change
    current = user_path.read_bytes() if user_path.exists() else None
    if change.change == "create" and current is not None:
        raise PlanConflict(f"{change.path} already exists in your checkout")
    if change.change != "create" and current != base_bytes:
        raise PlanConflict(f"{change.path} changed in your checkout since the agent started")
    if change.change == "delete":
        plan.operations.append(DeleteFile(plan.uri))
    else:
        new_bytes = pending.agent_blob(worktree, change)
        if new_bytes is None:
            raise PlanConflict(f"{change.path} is no longer in the session worktree")
        plan.disk_write = (user_path, new_bytes)
    return plan


def _plan_create(plan: FilePlan, user_path: Path, lookup: DocLookup, caps: EditorCaps) -> FilePlan:
    change, uri = plan.change, plan.uri
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
        plan.operations.append(CreateFile(uri))
    if new_text:
        # Replace through the start of line 1, not insert at 0:0: editors that model an empty buffer as
        # one empty line (Neovim) would otherwise keep it as an extra blank line at the end.
        version = open_doc.version if open_doc is not None and caps.document_changes else None
        plan.operations.append(ReplaceText(uri, version, (0, 0), (1, 0), new_text))
    return plan
