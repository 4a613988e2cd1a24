"""The core's editor-neutral edit operations as an LSP WorkspaceEdit, shaped by what the client supports."""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types as T

from bridge.core.plans import CreateFile, DeleteFile, EditOp, EditorCaps, ReplaceText


def _text_edit(op: ReplaceText) -> T.TextEdit:
    return T.TextEdit(range=T.Range(T.Position(*op.start), T.Position(*op.end)), new_text=op.new_text)


def _operation(op: EditOp) -> T.TextDocumentEdit | T.CreateFile | T.RenameFile | T.DeleteFile:
    if isinstance(op, ReplaceText):
        return T.TextDocumentEdit(
            text_document=T.OptionalVersionedTextDocumentIdentifier(uri=op.uri, version=op.version),
            edits=[_text_edit(op)],
        )
    if isinstance(op, CreateFile):
        return T.CreateFile(uri=op.uri, options=T.CreateFileOptions(ignore_if_exists=True))
    if isinstance(op, DeleteFile):
        return T.DeleteFile(uri=op.uri, options=T.DeleteFileOptions(ignore_if_not_exists=True))
    return T.RenameFile(old_uri=op.old_uri, new_uri=op.new_uri)


def workspace_edit(operations: Sequence[EditOp], caps: EditorCaps) -> T.WorkspaceEdit | None:
    """`documentChanges` when the client has them (versioned, with file operations), else plain `changes`."""
    if not operations:
        return None
    if caps.document_changes:
        return T.WorkspaceEdit(document_changes=[_operation(op) for op in operations])
    changes: dict[str, list[T.TextEdit]] = {}
    for op in operations:
        if isinstance(op, ReplaceText):
            changes.setdefault(op.uri, []).append(_text_edit(op))
    return T.WorkspaceEdit(changes=changes)


def client_caps(capabilities: T.ClientCapabilities | None) -> EditorCaps:
    ws = capabilities.workspace if capabilities else None
    edit = ws.workspace_edit if ws else None
    if edit is None:
        return EditorCaps(document_changes=False, resource_operations=frozenset())
    ops = frozenset(str(op.value) for op in edit.resource_operations or ())
    return EditorCaps(document_changes=bool(edit.document_changes), resource_operations=ops)
