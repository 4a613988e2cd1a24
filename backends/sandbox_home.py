"""A sandboxed agent's home: its own directory, seeded from the user's home with only what the agent needs.

The sandbox hides the user's home; the agent gets a home of its own instead (kept across runs, one per agent,
so its sessions, caches and refreshed tokens survive). What it needs from the real home to log in and find its
settings (its auth file, its settings file) is copied in: when missing, or when the user's copy is newer (a
fresh login outside). Nothing is ever copied back: what the agent writes stays in the sandbox home. The copy is
made by the bridge, outside the sandbox, into a directory the agent can write: it goes through descriptors
opened without following links, so nothing the agent plants there redirects it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

# By the agent's program name: files (relative to the home, or to the directory an environment variable
# names) the agent reads its credentials and settings from.
_SEEDS: dict[str, tuple[str, ...]] = {
    "qwen": (".qwen/settings.json", ".qwen/oauth_creds.json", ".qwen/installation_id", ".qwen/.env"),
    # gemini keeps a Google login in oauth_creds.json, and an API key entered in /auth (or a Google login, with
    # encrypted storage on) in the OS keychain or else gemini-credentials.json (encrypted for this host and user).
    # The sandbox has no session bus, so only that file carries such a key in.
    "gemini": (".gemini/settings.json", ".gemini/gemini-credentials.json", ".gemini/oauth_creds.json",
               ".gemini/google_accounts.json", ".gemini/installation_id", ".gemini/.env"),
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


def _open_dir(root: Path, relative: Path) -> int | None:
    """A descriptor of `root / relative`, each directory made where missing and opened without following a
    link (None if a part is a link or not a directory). The sandbox home is the agent's to write, even while
    the bridge seeds it (another session of the same agent may run): a link it planted must not carry the
    bridge's copy, made outside the sandbox, to a place of the agent's choosing."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for part in relative.parts:
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o700, dir_fd=fd)
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = inner
    return fd


def _seed_one(source: Path, directory: int, name: str) -> bool:
    """Copy `source` to `name` in `directory` if missing there or older; True when copied."""
    info = source.stat()  # the user's own home: a link there (dotfiles) is theirs, followed
    if not stat.S_ISREG(info.st_mode):
        return False
    with contextlib.suppress(FileNotFoundError):
        there = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if stat.S_ISREG(there.st_mode) and there.st_mtime_ns >= info.st_mtime_ns:
            return False
    temporary = f".{name}.seeding-{secrets.token_hex(4)}"
    out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=directory)
    try:
        with os.fdopen(out, "wb") as sink, source.open("rb") as data:
            shutil.copyfileobj(data, sink)
            sink.flush()
            os.utime(sink.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
        # Renaming replaces a link the agent put at `name`; it never writes through one.
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise
    return True


def seed_home(sandbox_home: Path, real_home: Path, relative: Sequence[Path]) -> list[Path]:
    """Copy each file from the real home into the sandbox home when missing there or older; returns what was
    copied. What is not a regular file is skipped; so is a target whose directory the agent replaced by a link."""
    copied: list[Path] = []
    sandbox_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    for rel in relative:
        source = real_home / rel
        if not source.is_file():
            continue
        directory = _open_dir(sandbox_home, rel.parent)
        if directory is None:
            continue
        try:
            if _seed_one(source, directory, rel.name):
                copied.append(rel)
        except OSError:
            pass
        finally:
            os.close(directory)
    return copied
