"""agent-bridge: a language server that puts warm coding agents inside any editor."""

__version__ = "0.1.0"
