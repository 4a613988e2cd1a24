"""The environment a real editor (Neovim, Emacs) runs in under test: isolated from the developer's own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent  # not resolved: a venv's python is a symlink to the base one


def isolated_env(tmp_path: Path, drop: tuple[str, ...], path_first: list[str], **extra: str) -> dict[str, str]:
    """This process's environment without the bridge's, XDG's and the prefixes in `drop`, with XDG dirs and the
    bridge's state dir under `tmp_path`, `path_first` ahead of PATH, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENT_BRIDGE_", "XDG_", *drop))}
    xdg = tmp_path / "xdg"
    env.update(
        PATH=os.pathsep.join([*path_first, env.get("PATH", "")]),
        AGENT_BRIDGE_STATE_DIR=str(tmp_path / "state"),
        # `agent-bridge serve` attaches to a daemon: it ends once the editor has gone and nothing runs.
        AGENT_BRIDGE_DAEMON_LINGER="0",
        XDG_CONFIG_HOME=str(xdg / "config"),
        XDG_DATA_HOME=str(xdg / "data"),
        XDG_STATE_HOME=str(xdg / "state"),
        XDG_CACHE_HOME=str(xdg / "cache"),
        **extra,
    )
    return env
