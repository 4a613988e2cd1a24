"""Open documents whose lines end where LSP says: at "\r\n", "\n" or a lone "\r", and nowhere else.

pygls splits a document with `str.splitlines`, which also ends lines at form feeds (^L, common in C and Lisp
sources), U+2028, U+0085 and others. An editor counts lines as LSP does, so every incremental change after such a
character was applied by pygls at the wrong place, and the bridge then reviewed, merged and applied against a
text the user never had.
"""

from __future__ import annotations

from collections.abc import Sequence

from pygls.workspace import TextDocument, Workspace

from bridge.textlines import lsp_lines


class LspTextDocument(TextDocument):
    @property
    def lines(self) -> Sequence[str]:
        return tuple(lsp_lines(self.source))


class LspWorkspace(Workspace):
    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )


def use_lsp_lines(workspace: Workspace) -> None:
    """Make the workspace pygls just created for `initialize` open documents as `LspTextDocument`s.

    pygls builds the workspace itself before the server's initialize handler runs and offers no hook for its
    class; no document is open yet, so switching the class of this one instance is safe.
    """
    workspace.__class__ = LspWorkspace
