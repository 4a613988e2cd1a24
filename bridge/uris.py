"""File URIs as the bridge compares and builds them (pure; no LSP library)."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

_WINDOWS_DRIVE = re.compile(r"^/[A-Za-z]:")


# Pure and asked again on every request (each code action compares every pending file's URI with the document's):
# remembered, since building and parsing paths costs more than the rest of a code action.
@functools.lru_cache(maxsize=4096)
def file_uri(repo_root: Path, rel: str) -> str:
    return (repo_root / rel).as_uri()


def to_path(uri: str) -> str | None:
    """The filesystem path of a `file:` URI (None for other schemes)."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    # A file name that is not UTF-8 arrives percent-encoded byte by byte (caf%E9.txt); surrogate escapes keep
    # those bytes, so the path names the same file (`errors="replace"` would name caf\ufffd.txt instead).
    path = unquote(parsed.path, errors="surrogateescape")
    if parsed.netloc and parsed.netloc != "localhost":
        path = f"//{parsed.netloc}{path}"  # a UNC share
    elif os.name == "nt" and _WINDOWS_DRIVE.match(path):
        path = path[1:]
    return path


@functools.lru_cache(maxsize=4096)
def uri_key(uri: str) -> str:
    """A comparable form of a file URI (editors differ in how they escape them)."""
    path = to_path(uri)
    return os.path.normcase(os.path.normpath(path)) if path else uri


def printable(text: str) -> str:
    """`text` as it can be shown and sent as JSON: a file name that is not UTF-8 reaches Python with surrogate
    escapes (b"caf\\xe9" is "caf\\udce9"), and a lone surrogate in JSON breaks some editors' parsers. Each one
    is shown escaped instead (`caf\\xe9.txt`); URIs keep the exact bytes, percent-encoded."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape(c) if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

