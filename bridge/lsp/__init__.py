"""The LSP face: the pygls server, thin handlers, and the views of pending hunks (actions, lenses, diagnostics)."""
