"""lsp/edits.py: the core's edit operations as an LSP WorkspaceEdit, shaped by the client's capabilities."""

from __future__ import annotations

from lsprotocol import types as T

from bridge.core.plans import CreateFile, DeleteFile, EditorCaps, RenameFile, ReplaceText
from bridge.lsp.edits import client_caps, workspace_edit

A, B = "file:///r/a.py", "file:///r/b.py"


def test_document_changes_keep_order_versions_and_file_operations() -> None:
    ops = [RenameFile(A, B), ReplaceText(B, 3, (1, 0), (2, 0), "x\n"), CreateFile(A), DeleteFile(B)]
    edit = workspace_edit(ops, EditorCaps())
    assert edit is not None and edit.document_changes is not None
    rename, text, create, delete = edit.document_changes
    assert isinstance(rename, T.RenameFile) and (rename.old_uri, rename.new_uri) == (A, B)
    assert isinstance(text, T.TextDocumentEdit) and text.text_document.version == 3
    assert text.edits[0].range == T.Range(T.Position(1, 0), T.Position(2, 0))  # type: ignore[union-attr]
    assert isinstance(create, T.CreateFile) and isinstance(delete, T.DeleteFile)


def test_plain_changes_for_clients_without_document_changes() -> None:
    caps = EditorCaps(document_changes=False, resource_operations=frozenset())
    edit = workspace_edit([ReplaceText(A, None, (0, 0), (1, 0), "y\n")], caps)
    assert edit is not None and edit.document_changes is None
    assert edit.changes == {A: [T.TextEdit(T.Range(T.Position(0, 0), T.Position(1, 0)), "y\n")]}


def test_nothing_to_do_is_no_edit() -> None:
    assert workspace_edit([], EditorCaps()) is None


def test_client_caps() -> None:
    assert client_caps(T.ClientCapabilities()) == EditorCaps(False, frozenset())
    create = [T.ResourceOperationKind.Create]
    edit = T.WorkspaceEditClientCapabilities(document_changes=True, resource_operations=create)
    caps = T.ClientCapabilities(workspace=T.WorkspaceClientCapabilities(workspace_edit=edit))
    assert client_caps(caps) == EditorCaps(True, frozenset({"create"}))
