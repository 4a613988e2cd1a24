"""Files the user attaches to a prompt (`attachments: [{uri, range?}]`), read as the user sees them.

Each is the open buffer's text (else the file's), whole or the lines its range touches, under the URI of the
session worktree's copy: that is the file the agent works on, and it matches what the user sees once the
worktree caught up before the turn. Agents that take embedded context get the text; others a link they read.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from backends.base import PromptPart, ResourceLinkPart, ResourcePart, TextPart
from bridge import protocol as wire
from bridge.core.plans import DocLookup
from bridge.core.selection import selected_lines
from bridge.errors import BridgeError, NotAGitRepository
from bridge.git import worktrees
from bridge.uris import to_path

# Characters of one attachment the agent gets; the rest is cut, and the note sent with the prompt says so.
MAX_CHARS = 256 * 1024
# A file larger than this is not read at all (its first MAX_CHARS would be all the agent gets anyway, but the
# lines of a range may be anywhere): refused with a message instead of filling the bridge's memory.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ATTACHMENTS = 50


@dataclass(frozen=True)
class Attached:
    path: str  # repository-relative, `/`-separated
    text: str
    lines: tuple[int, int] | None = None  # zero-based first and last line, when a range was given
    cut_from: int | None = None  # the length in characters before it was cut to MAX_CHARS


async def gather(
    attachments: Sequence[wire.Attachment] | None, lookup: DocLookup, repo_root: Path | None, workspace: Path | None
) -> list[Attached]:
    """`read_attachments` off the event loop, against the session's repository (`repo_root`) or, for a session
    not created yet, the one `workspace` is in (none: creating the session fails and says why)."""
    if not attachments:
        return []
    if repo_root is None:
        if workspace is None:
            return []
        try:
            repo_root = await asyncio.to_thread(worktrees.find_repo_root, workspace)
        except NotAGitRepository:
            return []
    return await asyncio.to_thread(read_attachments, attachments, lookup, repo_root)


def read_attachments(
    attachments: Sequence[wire.Attachment], lookup: DocLookup, repo_root: Path
) -> list[Attached]:
    """Every attachment as the user sees it; blocking. Raises BridgeError naming the first one that cannot be
    attached (not a file URI, outside `repo_root`, missing, a directory, not UTF-8 text, too large)."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise BridgeError(f"{len(attachments)} attachments; at most {MAX_ATTACHMENTS} can go with one prompt")
    root = Path(os.path.realpath(repo_root))
    return [_read(attachment, lookup, root) for attachment in attachments]


def _read(attachment: wire.Attachment, lookup: DocLookup, root: Path) -> Attached:
    path = to_path(attachment.uri)
    if path is None:
        raise BridgeError(f"cannot attach {attachment.uri}: not a file")
    # Links resolved: a link inside the repository pointing elsewhere is elsewhere.
    real = Path(os.path.realpath(path))
    try:
        rel = PurePosixPath(real.relative_to(root).as_posix())
    except ValueError:
        raise BridgeError(f"cannot attach {path}: it is outside the session's repository {root}") from None
    if rel.parts[:1] == (".git",) or str(rel) == ".":
        raise BridgeError(f"cannot attach {path}: not a file of the repository")
    doc = lookup(attachment.uri)
    text = doc.text if doc is not None else _read_file(real, path)
    lines = None
    if attachment.range is not None:
        text, first, last = selected_lines(text, attachment.range)
        lines = (first, max(first, last))
    cut_from = None
    if len(text) > MAX_CHARS:
        text, cut_from = text[:MAX_CHARS], len(text)
    return Attached(str(rel), text, lines, cut_from)


def _read_file(real: Path, shown: str) -> str:
    try:
        if real.stat().st_size > MAX_FILE_BYTES:
            raise BridgeError(f"cannot attach {shown}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        return real.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BridgeError(f"cannot attach {shown}: no such file") from None
    except IsADirectoryError:
        raise BridgeError(f"cannot attach {shown}: it is a directory") from None
    except UnicodeDecodeError:
        raise BridgeError(f"cannot attach {shown}: not a UTF-8 text file") from None
    except OSError as exc:
        raise BridgeError(f"cannot attach {shown}: {exc.strerror or exc}") from None


def attachment_parts(attached: Sequence[Attached], worktree: Path) -> list[PromptPart]:
    """A note naming what is attached (lines, cuts), then one resource per attachment at the worktree's copy."""
    if not attached:
        return []
    described = []
    for item in attached:
        what = item.path
        if item.lines is not None:
            first, last = item.lines
            what += f" (line {first + 1})" if first == last else f" (lines {first + 1}-{last + 1})"
        if item.cut_from is not None:
            what += f" (cut to its first {MAX_CHARS} of {item.cut_from} characters)"
        described.append(what)
    parts: list[PromptPart] = [TextPart("The user attached: " + "; ".join(described) + ".")]
    for item in attached:
        mime = mimetypes.guess_type(item.path)[0] or "text/plain"
        parts.append(ResourcePart((worktree / item.path).as_uri(), item.text, mime))
    return parts


def for_agent(parts: Sequence[PromptPart], embedded_context: bool) -> list[PromptPart]:
    """The parts as the agent can take them: without embedded context (ACP's prompt capability), each resource
    becomes a link to the same file, which the agent reads itself."""
    if embedded_context:
        return list(parts)
    return [
        ResourceLinkPart(p.uri, unquote(PurePosixPath(urlparse(p.uri).path).name), p.mime_type)
        if isinstance(p, ResourcePart)
        else p
        for p in parts
    ]
