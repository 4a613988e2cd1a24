"""A sandboxed agent's home: its own directory, seeded from the user's home with only what the agent needs.

The sandbox hides the user's home; the agent gets a home of its own instead (kept across runs, one per agent,
so its sessions, caches and refreshed tokens survive). What it needs from the real home to log in and find its
settings (its auth file, its settings file) is copied in: when missing, or when the user's copy is newer (a
fresh login outside). Nothing is ever copied back: what the agent writes stays in the sandbox home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

# By the agent's program name: files (relative to the home, or to the directory an environment variable
# names) the agent reads its credentials and settings from.
_SEEDS: dict[str, tuple[str, ...]] = {
    "qwen": (".qwen/settings.json", ".qwen/oauth_creds.json", ".qwen/installation_id", ".qwen/.env"),
    "gemini": (".gemini/settings.json", ".gemini/oauth_creds.json", ".gemini/google_accounts.json",
               ".gemini/installation_id", ".gemini/.env"),
    "claude": (".claude.json", "$CLAUDE_CONFIG_DIR/.credentials.json", "$CLAUDE_CONFIG_DIR/settings.json",
               "$CLAUDE_CONFIG_DIR/.claude.json"),
    "opencode": ("$XDG_DATA_HOME/opencode/auth.json", "$XDG_CONFIG_HOME/opencode/opencode.json",
                 "$XDG_CONFIG_HOME/opencode/opencode.jsonc", "$XDG_CONFIG_HOME/opencode/config.json"),
    "codex": (".codex/auth.json", ".codex/config.toml"),
    "goose": ("$XDG_CONFIG_HOME/goose/config.yaml",),
}
_PROGRAMS = {
    "qwen": "qwen", "gemini": "gemini", "opencode": "opencode", "codex": "codex", "codex-acp": "codex",
    "goose": "goose", "claude": "claude", "claude-agent-acp": "claude", "claude-code-acp": "claude",
}
# Where a variable points when unset, relative to the home.
_DEFAULT_DIRS = {"CLAUDE_CONFIG_DIR": ".claude", "XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share"}


def agent_kind(command: Sequence[str]) -> str | None:
    """Which known agent `command` starts (by its program's name), or None."""
    for word in command[:2]:
        kind = _PROGRAMS.get(Path(word).name)
        if kind is not None:
            return kind
    return None


def seed_paths(command: Sequence[str], env: Mapping[str, str], home: Path) -> list[Path]:
    """The files to copy from `home` for this agent, as paths relative to the home. A variable that points
    outside the home is left alone (the sandbox shows that place read-only, as it is)."""
    kind = agent_kind(command)
    found: list[Path] = []
    for seed in _SEEDS.get(kind or "", ()):
        if seed.startswith("$"):
            var, _, rest = seed[1:].partition("/")
            base = Path(env[var]) if env.get(var) else home / _DEFAULT_DIRS[var]
            try:
                rel = base.absolute().relative_to(home)
            except ValueError:
                continue
            found.append(rel / rest)
        else:
            found.append(Path(seed))
    return found


def seed_home(sandbox_home: Path, real_home: Path, relative: Sequence[Path]) -> list[Path]:
    """Copy each file from the real home into the sandbox home when missing there or older; returns what was
    copied. Symlinks, directories and anything unreadable are skipped (never followed out of the home)."""
    copied: list[Path] = []
    sandbox_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    for rel in relative:
        source, target = real_home / rel, sandbox_home / rel
        try:
            if source.is_symlink() or not source.is_file():
                continue
            if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = target.with_name(f".{target.name}.seeding")
            shutil.copy2(source, temporary)
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
            copied.append(rel)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                temporary.unlink()
    return copied
