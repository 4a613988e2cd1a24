"""Pending hunks as the editor sees them: JSON for `agentBridge.pending`, code actions, lenses, diagnostics.

Pure functions over `FileChange`s and their attribution; no git, no LSP I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as T

from bridge import protocol as wire
from bridge.git.hunks import FileChange, Hunk, hunks_of
from bridge.store import HunkRow
from bridge.textlines import LspLines
from bridge.uris import file_uri, uri_key

SOURCE = "agent-bridge"


def hunk_range(hunk: Hunk, encoding: str = "utf-16", delta: int = 0, lines: LspLines | None = None) -> T.Range:
    """Where a hunk sits in a text: the base (what the user had when the agent started), or the live text when
    the user has edited above it since (`delta` git lines). `lines` counts that text's lines as LSP does: a
    lone "\\r" before the hunk moves it down a line, and one inside it makes it span one more."""
    first = hunk.old_start + delta
    at = lines.line(first) if lines is not None else first
    start = T.Position(at, 0)
    count = len(hunk.old_lines)
    if count == 0:
        return T.Range(start, start)
    own = LspLines(hunk.old_lines)
    if hunk.old_lines[-1].endswith("\n"):
        return T.Range(start, T.Position(at + own.line(count), 0))
    line, character = own.line_end(count - 1, encoding)
    return T.Range(start, T.Position(at + line, character))


def wire_range(rng: T.Range) -> wire.Range:
    def position(pos: T.Position) -> wire.Position:
        return wire.Position(wire.NonNegativeInt(pos.line), wire.NonNegativeInt(pos.character))

    return wire.Range(position(rng.start), position(rng.end))


Attribution = Mapping[tuple[str, str], HunkRow]


def pending_files(
    session_id: str,
    repo_root: Path,
    changes: Iterable[FileChange],
    attribution: Attribution,
    encoding: str = "utf-16",
    live_ranges: Mapping[tuple[str, str], T.Range] | None = None,
    base_texts: Mapping[str, str] | None = None,
) -> list[wire.PendingFile]:
    """The `agentBridge.pending` result entries of one session; `live_ranges` as PendingDocuments has them."""
    out = []
    for change in changes:
        uri = file_uri(repo_root, change.path)
        base = (base_texts or {}).get(change.path)
        lines = LspLines.of(base) if base is not None else None
        hunks = []
        for hunk in hunks_of(change):
            row = attribution.get((change.path, hunk.hunk_id))
            live = (live_ranges or {}).get((uri_key(uri), hunk.hunk_id))
            hunks.append(wire.PendingHunk(
                hunk.hunk_id, row.agent if row else "unknown", row.turn_id if row else None,
                wire_range(hunk_range(hunk, encoding, 0, lines)), hunk.old_text, hunk.new_text,
                wire_range(live) if live is not None else None,
                bool(row and row.conflict), row.conflict if row else None,
            ))
        old_uri = file_uri(repo_root, change.old_path) if change.old_path else None
        out.append(wire.PendingFile(session_id, uri, change.change, change.binary, hunks, old_uri))
    return out


@dataclass(frozen=True)
class DocHunk:
    """A pending hunk in one open document, with what the views need to show it."""

    session_id: str
    uri: str
    change: FileChange
    hunk: Hunk
    agent: str
    turn_id: str | None
    delta: int = 0  # git lines the user's edits moved this hunk by
    lines: LspLines | None = None  # the open document's lines, as LSP counts them
    conflict: str | None = None  # why it collides with the user's own edit of these lines, if it does

    def range(self, encoding: str = "utf-16") -> T.Range:
        return hunk_range(self.hunk, encoding, self.delta, self.lines)

    def summary(self) -> str:
        described = self._describe()
        return f"conflict with your edit: {described}" if self.conflict else described

    def _describe(self) -> str:
        old, new = len(self.hunk.old_lines), len(self.hunk.new_lines)
        if self.change.change in ("create", "delete", "rename") and not self.change.hunks:
            return f"{self.change.change} file"
        if self.change.binary:
            return "binary file"
        if old and new:
            return f"replace {old} line{'s' * (old != 1)} with {new}"
        if new:
            return f"add {new} line{'s' * (new != 1)}"
        return f"remove {old} line{'s' * (old != 1)}"


def _touches(rng: T.Range, hunk_rng: T.Range, last_line: int | None = None) -> bool:
    start = (rng.start.line, rng.start.character)
    end = (rng.end.line, rng.end.character)
    h_start = (hunk_rng.start.line, hunk_rng.start.character)
    h_end = (hunk_rng.end.line, hunk_rng.end.character)
    if h_start == h_end:  # an insertion point touches the line it sits on
        lines = {h_start[0]}
        if last_line is not None and h_start[0] > last_line:
            # It appends past the last line of text, where the cursor of most editors cannot go: that last
            # line reaches it too.
            lines.add(last_line)
        return any(start[0] <= line <= max(end[0], start[0]) for line in lines)
    return start <= h_end and h_start <= end and not (end == h_start and end != start)


def last_text_line(text: str) -> int:
    """The last line holding text as LSP counts lines ("\r\n", "\n" or a lone "\r" end one): the empty
    line after a final line ending is not one. Counted without splitting (code actions ask on every move)."""
    breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
    return max(breaks - (1 if text.endswith(("\n", "\r")) else 0), 0)


def hunks_touching(
    hunks: Iterable[DocHunk], rng: T.Range, encoding: str = "utf-16", last_line: int | None = None
) -> list[DocHunk]:
    """The hunks a code action request for `rng` offers; `last_line` (the document's `last_text_line`) lets
    the last line offer a hunk that appends after it."""
    return [h for h in hunks if _touches(rng, h.range(encoding), last_line)]


def apply_action(doc_hunk: DocHunk, edit: T.WorkspaceEdit) -> T.CodeAction:
    """The edit alone: the server notices when the document reaches the planned text and re-baselines then,
    so no follow-up command is needed and any client that applies edits works.

    Preferred, and deliberately not tagged LLMGenerated: VS Code sorts AI-tagged actions after the others, which
    put Reject first in its quick-fix menu (Ctrl+. Enter rejected the hunk). Preferred also makes it the action
    of VS Code's "Auto Fix"."""
    return T.CodeAction(
        title=f"Apply agent change ({doc_hunk.agent}: {doc_hunk.summary()})",
        kind=T.CodeActionKind.QuickFix,
        edit=edit,
        is_preferred=True,
        data={"sessionId": doc_hunk.session_id, "hunkId": doc_hunk.hunk.hunk_id},
    )


def _command_action(doc_hunk: DocHunk, verb: str, command: str, preferred: bool = False) -> T.CodeAction:
    return T.CodeAction(
        title=f"{verb} agent change ({doc_hunk.agent}: {doc_hunk.summary()})",
        kind=T.CodeActionKind.QuickFix,
        command=T.Command(
            title=f"{verb} agent change",
            command=command,
            arguments=[{"sessionId": doc_hunk.session_id, "uri": doc_hunk.uri, "hunkId": doc_hunk.hunk.hunk_id}],
        ),
        data={"sessionId": doc_hunk.session_id, "hunkId": doc_hunk.hunk.hunk_id},
        is_preferred=preferred or None,
    )


def apply_command_action(doc_hunk: DocHunk) -> T.CodeAction:
    """Apply through `agentBridge.apply` when there is nothing to put in the buffer (binary files, or the
    user already has the change): the command writes or re-baselines."""
    return _command_action(doc_hunk, "Apply", wire.APPLY, preferred=True)


def reject_action(doc_hunk: DocHunk) -> T.CodeAction:
    return _command_action(doc_hunk, "Reject", wire.REJECT)


def conflict_action(doc_hunk: DocHunk, reason: str) -> T.CodeAction:
    return T.CodeAction(
        title=f"Apply agent change ({doc_hunk.agent}: {doc_hunk.summary()})",
        kind=T.CodeActionKind.QuickFix,
        disabled=T.CodeActionDisabled(reason=reason),
    )


def code_lenses(hunks: Iterable[DocHunk], encoding: str = "utf-16") -> list[T.CodeLens]:
    lenses = []
    for h in hunks:
        start = h.range(encoding).start
        rng = T.Range(T.Position(start.line, 0), T.Position(start.line, 0))
        selection = {"sessionId": h.session_id, "uri": h.uri, "hunkId": h.hunk.hunk_id}
        title = f"Apply ({h.agent}: {h.summary()})"
        lenses.append(T.CodeLens(rng, T.Command(title=title, command=wire.APPLY, arguments=[selection])))
        lenses.append(T.CodeLens(rng, T.Command(title="Reject", command=wire.REJECT, arguments=[selection])))
    return lenses


def diagnostics(hunks: Iterable[DocHunk], encoding: str = "utf-16") -> list[T.Diagnostic]:
    out = []
    for h in hunks:
        rng = h.range(encoding)
        if rng.start == rng.end:
            # An empty range is invisible in most editors; mark the line the insertion sits on.
            rng = T.Range(rng.start, T.Position(rng.start.line + 1, 0))
        message = f"Pending agent change from {h.agent}: {h.summary()}. Use a code action to apply or reject it."
        if h.conflict:
            message = f"Pending agent change from {h.agent} collides with your edit: {h.conflict}."
        out.append(T.Diagnostic(
            range=rng,
            message=message,
            # A collision needs the user's eye: it is shown as a warning, other pending hunks as hints.
            severity=T.DiagnosticSeverity.Warning if h.conflict else T.DiagnosticSeverity.Hint,
            source=SOURCE,
            code=h.hunk.hunk_id,
            data={"sessionId": h.session_id, "hunkId": h.hunk.hunk_id},
        ))
    return out
