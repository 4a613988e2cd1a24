"""Living sessions: before each turn the worktree catches up with the user's code, and the agents are told what
changed under them (the user's edits, rejections, rewinds); turns can be rewound.

The git work is Session's (under its lock); this module decides what to tell whom and records it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from backends.base import PromptPart, TextPart
from bridge import protocol as wire
from bridge.core.ports import Editor
from bridge.core.prompts import owed_note, rejection_note
from bridge.core.session import Session
from bridge.core.turns import Turn
from bridge.errors import BridgeError, GitError, UnknownTurn
from bridge.store import Store, TurnRow
from bridge.uris import file_uri

log = logging.getLogger(__name__)

# Said in every rewind note: ACP has no way to drop turns from an agent's conversation (its rewind proposal is
# still open), and forking a session to an earlier point is not offered by the agents either.
CONVERSATION_KEPT = (
    "Your conversation itself was not rewound (the agent protocol offers no way to drop turns), so treat what "
    "those turns did as undone and do not redo it unless the user asks."
)


@dataclass
class Prelude:
    """What goes before the user's prompt, and what to mark as told once the agent has seen it."""

    parts: list[PromptPart]
    rejected: list[tuple[str, str]]
    notes: list[int]


async def before_turn(live: Session, turn: Turn, store: Store, editor: Editor) -> None:
    """Catch the worktree up with the user's code and record where the turn starts (so it can be rewound).

    A failure to catch up is reported and the turn goes on, on the code the agent had: nothing is lost.
    """
    moved, head = await live.catch_up(editor.unsaved_texts(live.repo_root))
    if moved is not None:
        agents = [row.agent for row in await store.agent_sessions(live.id)]
        conflicting = _conflicting(live)
        conflicts = sorted({path for path, _ in conflicting})
        body = {"files": list(moved.changed), "patch": moved.patch, "conflicts": conflicts}
        await store.add_notes(live.id, agents, "changes", json.dumps(body))
        editor.notify_event(wire.SyncedEvent(
            live.id, turn.id, turn.agent.name, [file_uri(live.repo_root, p) for p in moved.changed],
            len(conflicting),
        ))
    if head is not None:
        await store.set_turn_start(turn.id, live.base_commit, head)


def _conflicting(live: Session) -> list[tuple[str, str]]:
    return [key for key, row in live.attribution.items() if row.conflict]


async def prelude(live: Session, turn: Turn, store: Store) -> Prelude:
    """The notes the agent is owed, as prompt parts before the user's own."""
    rejected = await store.unreported_rejections(live.id, turn.agent.name)
    notes = await store.unreported_notes(live.id, turn.agent.name)
    parts: list[PromptPart] = []
    for text in (owed_note(notes), rejection_note(rejected)):
        if text:
            parts.append(TextPart(text))
    return Prelude(parts, [(r.path, r.hunk_id) for r in rejected], [n.seq for n in notes])


async def told(live: Session, store: Store, said: Prelude) -> None:
    """The agent has seen the notes: they are not repeated."""
    if said.rejected:
        await store.mark_reported(live.id, said.rejected)
    if said.notes:
        await store.mark_notes_reported(said.notes)


def to_rewind(turns: Sequence[TurnRow], turn_id: str) -> list[TurnRow]:
    """The turns a rewind to before `turn_id` undoes: that one and every later one not rewound yet (pure)."""
    ids = [t.id for t in turns]
    if turn_id not in ids:
        raise UnknownTurn(turns[0].session_id if turns else "", turn_id)
    later = turns[ids.index(turn_id):]
    return [t for t in later if not t.rewound]


async def rewind(live: Session, turn_id: str, store: Store, editor: Editor) -> wire.RewindResult:
    """`agentBridge.rewind`: undo the agents' changes from that turn on; the agents hear about it."""
    if live.current is not None or live.queued:
        raise BridgeError(f"session {live.id!r} has a turn running or queued; cancel it before rewinding")
    turns = await store.turns(live.id)
    undone = to_rewind(turns, turn_id)
    starts = await store.turn_starts(live.id)
    first = next((t for t in undone if t.id in starts), None)
    if first is None:
        if any(t.status not in ("cancelled",) and t.started_at is not None for t in undone):
            raise BridgeError(f"turn {turn_id!r} ran before this bridge could rewind turns; it cannot be rewound")
        await store.mark_rewound(live.id, [t.id for t in undone])
        return wire.RewindResult(len(undone), [])
    try:
        moved = await live.rewind(*starts[first.id])
    except GitError as exc:
        raise BridgeError(f"could not rewind session {live.id!r}: {exc}") from exc
    await store.mark_rewound(live.id, [t.id for t in undone])
    files = [file_uri(live.repo_root, p) for p in moved.changed]
    named = next(t for t in turns if t.id == turn_id)
    body = {
        "turns": len(undone), "files": list(moved.changed), "prompt": named.prompt, "conversation": CONVERSATION_KEPT
    }
    agents = [row.agent for row in await store.agent_sessions(live.id)]
    await store.add_notes(live.id, agents, "rewind", json.dumps(body))
    editor.notify_event(wire.RewoundEvent(live.id, turn_id, named.agent, [t.id for t in undone], files))
    return wire.RewindResult(len(undone), files)
