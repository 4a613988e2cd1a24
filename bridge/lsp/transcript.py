"""`agentBridge.showTranscript`: a session's conversation as a Markdown file any editor can open, for clients
that draw no chat of their own (they get it through `window/showDocument`)."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from bridge import protocol as wire
from bridge.errors import BridgeError
from bridge.uris import printable

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PLAN_MARK = {"completed": "x", "in_progress": "~"}


def transcript_path(state_dir: Path, session_id: str) -> Path:
    """`<state dir>/transcripts/<sessionId>.md`; the id becomes a file name, so only a plain one is accepted."""
    if not _SAFE_ID.fullmatch(session_id):
        raise BridgeError(f"session id {session_id!r} cannot name a transcript file")
    return state_dir / "transcripts" / f"{session_id}.md"


def write_transcript(path: Path, text: str) -> None:
    """Write it for the user only (prompts and answers may hold anything the user or the agent wrote)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(printable(text))  # a name that is not UTF-8 is shown escaped, as everywhere
    os.replace(tmp, path)  # an editor that has the file open sees whole versions only


def render(session_id: str, entries: list[wire.HistoryEntry]) -> str:
    lines = [f"# Agent session {session_id}", ""]
    if not entries:
        lines += ["No turns yet.", ""]
    for number, entry in enumerate(entries, 1):
        lines += _turn(number, entry)
    return "\n".join(lines)


def _turn(number: int, e: wire.HistoryEntry) -> list[str]:
    status = e.status + (" (rewound)" if e.rewound else "")
    out = [f"## {number}. {e.agent}: {status}", "", f"*{e.started_at or e.queued_at}*", "", "**You:**", ""]
    out += [f"> {line}" if line else ">" for line in e.prompt.splitlines() or [""]]
    out.append("")
    if e.plan:
        out += ["**Plan:**", ""]
        out += [f"- [{_PLAN_MARK.get(p.status, ' ')}] {p.content}" for p in e.plan]
        out.append("")
    if e.tool_calls:
        out += ["**Tools:**", ""]
        for call in e.tool_calls:
            what = f"`{call.command}`" if call.command else call.title
            out.append(f"- {what} ({call.tool_kind}, {call.status})")
        out.append("")
    out += [f"**{e.agent}:**", "", (e.answer or "").strip() or "*(no answer)*", ""]
    if e.error:
        out += [f"**Error:** {e.error}", ""]
    return out
