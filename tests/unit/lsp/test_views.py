"""bridge.lsp.views: pending hunks as the editor sees them (JSON, ranges, lenses, diagnostics), pure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as T

from bridge import protocol as commands
from bridge.git.hunks import FileChange, Hunk, hunk_id, hunks_of, whole_file_hunk
from bridge.lsp.views import (
    SOURCE,
    DocHunk,
    apply_action,
    apply_command_action,
    code_lenses,
    diagnostics,
    hunk_range,
    hunks_touching,
    last_text_line,
    pending_files,
    reject_action,
)
from bridge.store import HunkRow
from bridge.textlines import LspLines
from bridge.uris import file_uri

ROOT = Path("/repo")


def pending_json(*args: Any, **kwargs: Any) -> Any:
    """`agentBridge.pending` entries as the editor gets them."""
    return commands.to_json(pending_files(*args, **kwargs))


def make_hunk(path: str, old_start: int, old: tuple[str, ...], new: tuple[str, ...], new_start: int = 0) -> Hunk:
    return Hunk(hunk_id(path, "".join(old), "".join(new), 0), old_start, old, new_start or old_start, new)


def modify(path: str, *hunks: Hunk) -> FileChange:
    return FileChange(path=path, old_path=None, change="modify", binary=False, hunks=hunks)


def row(path: str, hunk: Hunk, agent: str = "qwen", turn: str | None = "t1") -> HunkRow:
    return HunkRow("s1", path, hunk.hunk_id, agent, turn, "pending", hunk.old_text, hunk.new_text, False)


def rng(l0: int, c0: int, l1: int, c1: int) -> T.Range:
    return T.Range(T.Position(l0, c0), T.Position(l1, c1))


def doc(hunk: Hunk, change: FileChange | None = None, agent: str = "qwen", delta: int = 0) -> DocHunk:
    change = change or modify("a.py", hunk)
    return DocHunk("s1", file_uri(ROOT, change.path), change, hunk, agent, "t1", delta)


# hunk_range


def test_hunk_range_modify() -> None:
    hunk = make_hunk("a.py", 2, ("x\n", "y\n"), ("X\n",))
    assert hunk_range(hunk) == rng(2, 0, 4, 0)


def test_hunk_range_insert_is_empty_at_insertion_point() -> None:
    hunk = make_hunk("a.py", 3, (), ("new\n",))
    assert hunk_range(hunk) == rng(3, 0, 3, 0)


def test_hunk_range_delete_covers_deleted_lines() -> None:
    hunk = make_hunk("a.py", 0, ("gone\n",), ())
    assert hunk_range(hunk) == rng(0, 0, 1, 0)


def test_hunk_range_last_line_without_newline_ends_in_the_line() -> None:
    hunk = make_hunk("a.py", 4, ("x\n", "tail"), ("tail!\n",))
    assert hunk_range(hunk) == rng(4, 0, 5, 4)


def test_hunk_range_without_newline_counts_in_encoding() -> None:
    hunk = make_hunk("a.py", 1, ("a😀é",), ("b",))
    assert hunk_range(hunk) == rng(1, 0, 1, 4)
    assert hunk_range(hunk, "utf-16") == rng(1, 0, 1, 4)
    assert hunk_range(hunk, "utf-8") == rng(1, 0, 1, 7)
    assert hunk_range(hunk, "utf-32") == rng(1, 0, 1, 3)


def test_hunk_range_counts_lone_carriage_returns_as_lsp_does() -> None:
    """A lone "\\r" ends a line for LSP, not for git: the hunk at git line 2 is at LSP line 3 of this text, and
    a hunk holding one spans an LSP line more (an applied edit used to land a line too high)."""
    text = "a\rb\nc\nd\n"
    hunk = make_hunk("a.py", 2, ("d\n",), ("D\n",))
    assert hunk_range(hunk, lines=LspLines.of(text)) == rng(3, 0, 4, 0)
    inside = make_hunk("a.py", 0, ("a\rb\n",), ("ab\n",))
    assert hunk_range(inside, lines=LspLines.of(text)) == rng(0, 0, 2, 0)
    no_newline = make_hunk("a.py", 1, ("x\ry😀",), ("z",))
    assert hunk_range(no_newline, lines=LspLines.of("q\nx\ry😀")) == rng(1, 0, 2, 3)


def test_hunk_range_moved_by_delta() -> None:
    hunk = make_hunk("a.py", 2, ("x\n",), ("X\n",))
    assert hunk_range(hunk, delta=3) == rng(5, 0, 6, 0)
    assert doc(hunk, delta=-1).range() == rng(1, 0, 2, 0)


# hunks_touching


def test_hunks_touching_line_ranges() -> None:
    h = doc(make_hunk("a.py", 2, ("x\n", "y\n"), ("X\n",)))  # lines 2-3, end (4, 0)
    assert hunks_touching([h], rng(2, 0, 2, 0)) == [h]  # cursor at its start
    assert hunks_touching([h], rng(3, 5, 3, 5)) == [h]  # cursor inside
    assert hunks_touching([h], rng(0, 0, 5, 0)) == [h]  # selection around it
    assert hunks_touching([h], rng(0, 0, 1, 9)) == []  # above
    assert hunks_touching([h], rng(1, 0, 2, 0)) == []  # selection ending where it starts
    assert hunks_touching([h], rng(5, 0, 6, 0)) == []  # below


def test_hunks_touching_insertion_point() -> None:
    h = doc(make_hunk("a.py", 3, (), ("new\n",)))
    assert hunks_touching([h], rng(3, 0, 3, 0)) == [h]
    assert hunks_touching([h], rng(3, 7, 3, 7)) == [h]  # anywhere on its line
    assert hunks_touching([h], rng(1, 0, 5, 0)) == [h]
    assert hunks_touching([h], rng(2, 0, 2, 4)) == []
    assert hunks_touching([h], rng(4, 0, 4, 0)) == []


def test_hunks_touching_picks_only_the_right_ones_and_keeps_order() -> None:
    first = make_hunk("a.py", 0, ("a\n",), ("A\n",))
    second = make_hunk("a.py", 5, ("f\n",), ("F\n",))
    change = modify("a.py", first, second)
    d1, d2 = doc(first, change), doc(second, change)
    assert hunks_touching([d1, d2], rng(5, 0, 5, 0)) == [d2]
    assert hunks_touching([d1, d2], rng(0, 0, 9, 0)) == [d1, d2]


def test_two_hunks_on_one_line_are_both_offered() -> None:
    """An insertion that goes before line 3 and a change of line 3 (e.g. once the user removed the lines that kept
    them apart): the cursor on that line reaches both, in order."""
    insert = make_hunk("a.py", 3, (), ("new\n",))
    change_ = make_hunk("a.py", 5, ("f\n",), ("F\n",))
    both = modify("a.py", insert, change_)
    d1, d2 = doc(insert, both), doc(change_, both, delta=-2)
    assert hunks_touching([d1, d2], rng(3, 0, 3, 0)) == [d1, d2]
    assert hunks_touching([d1, d2], rng(3, 4, 3, 4)) == [d1, d2]


def test_hunks_touching_follows_delta() -> None:
    h = doc(make_hunk("a.py", 2, ("x\n",), ("X\n",)), delta=2)
    assert hunks_touching([h], rng(2, 0, 2, 0)) == []
    assert hunks_touching([h], rng(4, 0, 4, 0)) == [h]


# pending_json


def test_pending_json_shape_with_attribution() -> None:
    h1 = make_hunk("src/a.py", 1, ("old\n",), ("new\n",))
    h2 = make_hunk("src/a.py", 6, (), ("added\n",))
    change = modify("src/a.py", h1, h2)
    attribution = {("src/a.py", h1.hunk_id): row("src/a.py", h1, "qwen", "turn-1")}
    result = pending_json("s1", ROOT, [change], attribution)
    assert result == [{
        "sessionId": "s1",
        "uri": "file:///repo/src/a.py",
        "change": "modify",
        "binary": False,
        "hunks": [
            {
                "hunkId": h1.hunk_id,
                "agent": "qwen",
                "turnId": "turn-1",
                "range": {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}},
                "oldText": "old\n",
                "newText": "new\n",
                    "conflict": False,
            },
            {
                "hunkId": h2.hunk_id,
                "agent": "unknown",
                "turnId": None,
                "range": {"start": {"line": 6, "character": 0}, "end": {"line": 6, "character": 0}},
                "oldText": "",
                "newText": "added\n",
                    "conflict": False,
            },
        ],
    }]
    assert "oldUri" not in result[0]


def test_pending_json_rename_has_old_uri() -> None:
    h = make_hunk("new.py", 0, ("x\n",), ("y\n",))
    change = FileChange(path="new.py", old_path="old.py", change="rename", binary=False, hunks=(h,))
    [entry] = pending_json("s1", ROOT, [change], {})
    assert entry["change"] == "rename"
    assert entry["uri"] == "file:///repo/new.py"
    assert entry["oldUri"] == "file:///repo/old.py"
    assert [x["hunkId"] for x in entry["hunks"]] == [h.hunk_id]


def test_pending_json_pure_rename_and_binary_get_a_whole_file_hunk() -> None:
    rename = FileChange(path="b.py", old_path="a.py", change="rename", binary=False, hunks=())
    binary = FileChange(path="img.png", old_path=None, change="modify", binary=True, hunks=(),
                        old_oid="1" * 40, new_oid="2" * 40)
    attribution = {("img.png", whole_file_hunk(binary).hunk_id): HunkRow(
        "s1", "img.png", whole_file_hunk(binary).hunk_id, "codex", "t9", "pending", "", "", False)}
    renamed, image = pending_json("s1", ROOT, [rename, binary], attribution)
    assert len(renamed["hunks"]) == 1 and renamed["hunks"][0]["hunkId"] == whole_file_hunk(rename).hunk_id
    assert renamed["hunks"][0]["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    assert image["binary"] is True
    assert image["hunks"][0]["agent"] == "codex" and image["hunks"][0]["turnId"] == "t9"
    assert image["hunks"][0]["oldText"] == "" and image["hunks"][0]["newText"] == ""


def test_pending_json_range_uses_encoding() -> None:
    h = make_hunk("a.py", 0, ("😀",), ("x",))
    [entry] = pending_json("s", ROOT, [modify("a.py", h)], {}, encoding="utf-8")
    assert entry["hunks"][0]["range"]["end"] == {"line": 0, "character": 4}


def test_pending_json_empty() -> None:
    assert pending_json("s", ROOT, [], {}) == []


# whole_file_hunk


def test_whole_file_hunk_ids_stable_and_distinct() -> None:
    create = FileChange("f.bin", None, "create", True, (), new_oid="a" * 40)
    delete = FileChange("f.bin", None, "delete", True, (), old_oid="a" * 40)
    other_content = FileChange("f.bin", None, "create", True, (), new_oid="b" * 40)
    other_path = FileChange("g.bin", None, "create", True, (), new_oid="a" * 40)
    rename = FileChange("f.bin", "e.bin", "rename", False, ())
    ids = [whole_file_hunk(c).hunk_id for c in (create, delete, other_content, other_path, rename)]
    assert len(set(ids)) == len(ids)
    assert whole_file_hunk(create).hunk_id == whole_file_hunk(
        FileChange("f.bin", None, "create", True, (), new_oid="a" * 40)
    ).hunk_id
    assert all(i.startswith("h") and len(i) == 13 for i in ids)


def test_whole_file_hunk_is_empty() -> None:
    hunk = whole_file_hunk(FileChange("x", None, "delete", False, ()))
    assert (hunk.old_start, hunk.old_lines, hunk.new_lines) == (0, (), ())


def test_hunks_of_prefers_real_hunks() -> None:
    h = make_hunk("a.py", 0, ("x\n",), ())
    assert hunks_of(modify("a.py", h)) == [h]
    empty = FileChange("e.txt", None, "create", False, ())
    assert hunks_of(empty) == [whole_file_hunk(empty)]


# summaries, lenses, diagnostics, actions


@pytest.mark.parametrize(
    ("old", "new", "summary"),
    [
        (("a\n",), ("b\n",), "replace 1 line with 1"),
        (("a\n", "b\n"), ("c\n",), "replace 2 lines with 1"),
        ((), ("a\n", "b\n"), "add 2 lines"),
        ((), ("a\n",), "add 1 line"),
        (("a\n",), (), "remove 1 line"),
        (("a\n", "b\n", "c\n"), (), "remove 3 lines"),
    ],
)
def test_summary(old: tuple[str, ...], new: tuple[str, ...], summary: str) -> None:
    assert doc(make_hunk("a.py", 0, old, new)).summary() == summary


def test_summary_whole_file_changes() -> None:
    created = FileChange("new.bin", None, "create", True, ())
    assert doc(whole_file_hunk(created), created).summary() == "create file"
    binary = FileChange("img.png", None, "modify", True, ())
    assert doc(whole_file_hunk(binary), binary).summary() == "binary file"


def test_code_lenses_two_per_hunk_at_start_line() -> None:
    h1 = make_hunk("a.py", 2, ("x\n", "y\n"), ("X\n",))
    h2 = make_hunk("a.py", 7, (), ("z\n",))
    change = modify("a.py", h1, h2)
    lenses = code_lenses([doc(h1, change), doc(h2, change, agent="codex")])
    assert len(lenses) == 4
    apply1, reject1, apply2, reject2 = lenses
    assert reject2.range == rng(7, 0, 7, 0)
    assert apply1.range == rng(2, 0, 2, 0) and reject1.range == rng(2, 0, 2, 0)
    assert apply2.range == rng(7, 0, 7, 0)
    selection = {"sessionId": "s1", "uri": "file:///repo/a.py", "hunkId": h1.hunk_id}
    assert apply1.command is not None and reject1.command is not None
    assert apply1.command.command == commands.APPLY
    assert apply1.command.arguments == [selection]
    assert apply1.command.title == "Apply (qwen: replace 2 lines with 1)"
    assert reject1.command.command == commands.REJECT
    assert reject1.command.arguments == [selection]
    assert apply2.command is not None and apply2.command.title == "Apply (codex: add 1 line)"


def test_diagnostics_are_hints_coded_by_hunk() -> None:
    h1 = make_hunk("a.py", 2, ("x\n", "y\n"), ("X\n",))
    h2 = make_hunk("a.py", 7, (), ("z\n",))
    change = modify("a.py", h1, h2)
    d1, d2 = diagnostics([doc(h1, change), doc(h2, change)])
    assert d1.range == rng(2, 0, 4, 0)
    assert d2.range == rng(7, 0, 8, 0)  # an insertion marks its line rather than an invisible point
    for diag, hunk in ((d1, h1), (d2, h2)):
        assert diag.severity == T.DiagnosticSeverity.Hint
        assert diag.source == SOURCE == "agent-bridge"
        assert diag.code == hunk.hunk_id
        assert diag.data == {"sessionId": "s1", "hunkId": hunk.hunk_id}
        assert "qwen" in diag.message
    assert "replace 2 lines with 1" in d1.message


def test_apply_is_the_preferred_action_and_not_ai_tagged() -> None:
    # VS Code sorts actions tagged LLMGenerated after untagged ones: a tagged Apply put Reject first in its
    # quick-fix menu, so Ctrl+. Enter rejected the hunk.
    h = make_hunk("a.py", 0, ("a\n",), ("b\n",))
    edit = T.WorkspaceEdit(changes={"file:///repo/a.py": []})
    for action in (apply_action(doc(h), edit), apply_command_action(doc(h))):
        assert action.is_preferred is True
        assert not action.tags
    reject = reject_action(doc(h))
    assert not reject.is_preferred and not reject.tags


def test_reject_action_carries_selection() -> None:
    h = make_hunk("a.py", 0, ("a\n",), ("b\n",))
    action = reject_action(doc(h))
    assert action.kind == T.CodeActionKind.QuickFix
    assert action.title == "Reject agent change (qwen: replace 1 line with 1)"
    assert action.command is not None and action.command.command == commands.REJECT
    assert action.command.arguments == [{"sessionId": "s1", "uri": "file:///repo/a.py", "hunkId": h.hunk_id}]


def test_file_uri_quotes() -> None:
    assert file_uri(ROOT, "dir with space/é.py") == "file:///repo/dir%20with%20space/%C3%A9.py"


# Every pending hunk is reachable from a line the cursor can reach


def test_hunks_touching_end_of_file_insertion_from_the_last_line() -> None:
    # "a\nb\n" with a line appended: the insertion point (2, 0) is past the last line of text, where the
    # cursor of most editors cannot go. The last line offers it.
    h = doc(make_hunk("a.py", 2, (), ("c\n",)))
    assert hunks_touching([h], rng(1, 1, 1, 1), last_line=1) == [h]
    assert hunks_touching([h], rng(1, 0, 1, 0), last_line=1) == [h]
    assert hunks_touching([h], rng(2, 0, 2, 0), last_line=1) == [h]  # the empty line after, where Emacs goes
    assert hunks_touching([h], rng(0, 0, 0, 1), last_line=1) == []


def test_hunks_touching_two_hunks_on_one_line_both_offered() -> None:
    # "a\n" became "x\na\ny\n": one hunk inserts before line 0, the other appends after it; line 0 is the only
    # line of text and offers both.
    before = make_hunk("a.py", 0, (), ("x\n",))
    after = make_hunk("a.py", 1, (), ("y\n",))
    change = modify("a.py", before, after)
    d1, d2 = doc(before, change), doc(after, change)
    assert hunks_touching([d1, d2], rng(0, 0, 0, 0), last_line=0) == [d1, d2]
    assert hunks_touching([d1, d2], rng(0, 1, 0, 1), last_line=0) == [d1, d2]


def test_hunks_touching_two_sessions_on_one_line_both_offered() -> None:
    hunk = make_hunk("a.py", 3, ("x\n",), ("X\n",))
    other = make_hunk("a.py", 3, ("x\n",), ("Y\n",))
    d1 = doc(hunk)
    d2 = DocHunk("s2", d1.uri, modify("a.py", other), other, "claude", "t9")
    assert hunks_touching([d1, d2], rng(3, 2, 3, 2), last_line=9) == [d1, d2]


def test_hunks_touching_insertion_inside_the_file_stays_on_its_line() -> None:
    h = doc(make_hunk("a.py", 3, (), ("new\n",)))
    assert hunks_touching([h], rng(2, 0, 2, 4), last_line=9) == []
    assert hunks_touching([h], rng(3, 0, 3, 0), last_line=9) == [h]


@pytest.mark.parametrize(
    ("text", "last"),
    [("", 0), ("a", 0), ("a\n", 0), ("a\nb\n", 1), ("a\nb", 1), ("a\r\nb\r\n", 1), ("a\rb\r", 1), ("a\n\n", 1)],
)
def test_last_text_line(text: str, last: int) -> None:
    assert last_text_line(text) == last
