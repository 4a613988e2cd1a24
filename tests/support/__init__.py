"""What the tests share: the LSP test editor, fake agents and servers, real-agent and Neovim helpers."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
