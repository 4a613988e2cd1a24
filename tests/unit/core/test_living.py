"""The pure decisions of living sessions: which hunks collide, which turns a rewind undoes, what the agent is told."""

from __future__ import annotations

import json

import pytest

from bridge.core.living import to_rewind
from bridge.core.prompts import owed_note
from bridge.core.session import conflict_keys
from bridge.errors import UnknownTurn
from bridge.git.hunks import FileChange, Hunk, hunk_id
from bridge.store import AgentNote, TurnRow


def hunk(start: int, old: tuple[str, ...], new: tuple[str, ...]) -> Hunk:
    return Hunk(hunk_id("a.py", "".join(old), "".join(new), 0), start, old, start, new)


def change(path: str, *hunks: Hunk) -> FileChange:
    return FileChange(path=path, old_path=None, change="modify", binary=False, hunks=hunks)


def test_conflict_keys_are_the_hunks_touching_the_users_lines() -> None:
    far = hunk(0, ("a\n",), ("A\n",))
    same = hunk(10, ("u\n",), ("agent\n",))
    touching = hunk(12, (), ("inserted\n",))  # right after the user's lines: a collision too
    changes = [change("a.py", far, same, touching), change("b.py", hunk(3, ("x\n",), ("y\n",)))]
    keys = conflict_keys(changes, {"a.py": ((10, 12),)})
    assert keys == [("a.py", same.hunk_id), ("a.py", touching.hunk_id)]
    # A whole-file collision marks every hunk of that file; files not named are left alone.
    assert conflict_keys(changes, {"b.py": None}) == [("b.py", changes[1].hunks[0].hunk_id)]
    assert conflict_keys(changes, {}) == []


def turn(tid: str, rewound: bool = False) -> TurnRow:
    return TurnRow(tid, "s1", "qwen", "p", "completed", None, None, None, 0.0, 0.0, 0.0, rewound=rewound)


def test_a_rewind_undoes_the_turn_and_every_later_one_not_rewound_yet() -> None:
    turns = [turn("t1"), turn("t2"), turn("t3", rewound=True), turn("t4")]
    assert [t.id for t in to_rewind(turns, "t2")] == ["t2", "t4"]
    assert [t.id for t in to_rewind(turns, "t3")] == ["t4"]
    with pytest.raises(UnknownTurn):
        to_rewind(turns, "nope")


def note(seq: int, kind: str, **body: object) -> AgentNote:
    return AgentNote(seq, kind, json.dumps(body))


def test_owed_notes_merge_the_users_changes_since_the_agents_last_turn() -> None:
    text = owed_note([
        note(1, "changes", files=["a.py", "b.py"], patch="-x\n+y\n", conflicts=[]),
        note(2, "changes", files=["b.py", "c.py"], patch="-p\n+q\n", conflicts=["c.py"]),
    ])
    assert text is not None
    assert "changed 3 files: a.py, b.py, c.py" in text
    assert "+y" in text and "+q" in text
    assert "In c.py you and the user changed the same lines" in text


def test_the_users_diff_is_left_out_when_any_part_was_too_big() -> None:
    text = owed_note([note(1, "changes", files=["a.py"], patch=None, conflicts=[]),
                      note(2, "changes", files=["b.py"], patch="-p\n+q\n", conflicts=[])])
    assert text is not None and "a.py, b.py" in text and "```diff" not in text


def test_a_rewind_note_names_the_files_and_the_conversation() -> None:
    text = owed_note([note(1, "rewind", turns=2, files=["x.py"], prompt="add logging\nplease",
                           conversation="It was not rewound.")])
    assert text is not None
    assert "REWOUND 2 turn(s)" in text and "'add logging'" in text and "x.py" in text
    assert text.endswith("It was not rewound.")
    assert owed_note([]) is None
