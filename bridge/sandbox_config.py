"""The configuration's `sandbox` and `sandbox_paths` values, read without ever failing (see bridge/config.py).

A bad value never makes an agent less confined: a `sandbox` that is not a boolean counts as true, and a bad
entry of `sandbox_paths` is left out (the agent stays sandboxed), each with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backends.sandbox import SandboxPath


def parse_sandbox(value: Any, what: str, warnings: list[str]) -> bool:
    """A `sandbox` value; anything but true/false counts as true, with a warning (never less confined)."""
    if isinstance(value, bool):
        return value
    warnings.append(f"{what}: sandbox must be true or false, got {value!r}; running sandboxed")
    return True


def parse_sandbox_paths(raw: Any, what: str, warnings: list[str]) -> tuple[SandboxPath, ...]:
    """`sandbox_paths`: strings (read-only) or `{path, write}` tables; a bad entry is left out with a warning."""
    if not isinstance(raw, list | tuple):
        warnings.append(f"{what}: sandbox_paths must be a list of paths; ignored")
        return ()
    paths: list[SandboxPath] = []
    for entry in raw:
        path, write = (entry, False) if isinstance(entry, str) else (
            (entry.get("path"), entry.get("write", False)) if isinstance(entry, Mapping) else (None, False)
        )
        extra = set(entry) - {"path", "write"} if isinstance(entry, Mapping) else set()
        if (
            not isinstance(path, str) or not isinstance(write, bool) or extra
            or not (path.startswith("/") or path == "~" or path.startswith("~/"))
        ):
            warnings.append(
                f"{what}: sandbox path {entry!r} left out (give an absolute or ~/ path, or "
                "{{path = \"...\", write = true}})"
            )
            continue
        paths.append(SandboxPath(path, write))
    return tuple(paths)
