"""File URIs as the bridge compares and builds them (pure; no LSP library)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

_WINDOWS_DRIVE = re.compile(r"^/[A-Za-z]:")


def file_uri(repo_root: Path, rel: str) -> str:
    return (repo_root / rel).as_uri()


def to_path(uri: str) -> str | None:
    """The filesystem path of a `file:` URI (None for other schemes)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"  # a UNC share
    elif os.name == "nt" and _WINDOWS_DRIVE.match(path):
        path = path[1:]
    return path


def uri_key(uri: str) -> str:
    """A comparable form of a file URI (editors differ in how they escape them)."""
    path = to_path(uri)
    return os.path.normcase(os.path.normpath(path)) if path else uri
