"""bridge.git.merge: carrying an agent's change onto the user's live text."""

from __future__ import annotations

import pytest

from bridge.errors import MergeConflict
from bridge.git.hunks import Hunk
from bridge.git.merge import LineEdit, line_edit, merge3, reanchor, text_sha
from bridge.textlines import split_lines

BASE = "a\nb\nc\nd\ne\nf\ng\n"


# merge3


def test_merge3_live_equals_base_returns_target() -> None:
    target = "a\nB\nc\n"
    assert merge3("a\nb\nc\n", "a\nb\nc\n", target) == target


def test_merge3_fast_path_is_exact_even_for_odd_text() -> None:
    # No git round trip: text without a final newline, CRLF and NUL survive untouched.
    target = "x\r\ny\x00z"
    assert merge3("same", "same", target) is target


def test_merge3_target_equals_base_keeps_live() -> None:
    assert merge3("user edit\n", "base\n", "base\n") == "user edit\n"


def test_merge3_non_overlapping_user_edit_is_reanchored() -> None:
    live = "top\n" + "inserted\n" + BASE  # the user added two lines above everything
    target = BASE.replace("f\n", "F\n")
    assert merge3(live, BASE, target) == "top\ninserted\n" + target


def test_merge3_user_edit_below_agent_edit() -> None:
    live = BASE.replace("g\n", "G (user)\n")
    target = BASE.replace("a\n", "A (agent)\n")
    assert merge3(live, BASE, target) == "A (agent)\nb\nc\nd\ne\nf\nG (user)\n"


def test_merge3_same_change_on_both_sides_is_not_a_conflict() -> None:
    changed = BASE.replace("c\n", "C\n")
    assert merge3(changed, BASE, changed) == changed


def test_merge3_overlapping_edit_conflicts() -> None:
    live = BASE.replace("d\n", "user's d\n")
    target = BASE.replace("d\n", "agent's d\n")
    with pytest.raises(MergeConflict, match="1 conflicting region"):
        merge3(live, BASE, target)


def test_merge3_conflict_counts_regions() -> None:
    live = BASE.replace("a\n", "ua\n").replace("g\n", "ug\n")
    target = BASE.replace("a\n", "ta\n").replace("g\n", "tg\n")
    with pytest.raises(MergeConflict, match="2 conflicting region"):
        merge3(live, BASE, target)


def test_merge3_user_deleted_lines_agent_changed() -> None:
    live = BASE.replace("c\nd\ne\n", "")
    target = BASE.replace("d\n", "D\n")
    with pytest.raises(MergeConflict):
        merge3(live, BASE, target)


def test_merge3_keeps_non_ascii() -> None:
    base = "ä\nö\nü\nß\n€\n"
    live = "😀 added\n" + base
    target = base.replace("ß\n", "ẞ 𝄞\n")
    assert merge3(live, base, target) == "😀 added\nä\nö\nü\nẞ 𝄞\n€\n"


# reanchor


def test_reanchor_finds_moved_lines() -> None:
    base = "a\nb\nc\n"
    hunk = Hunk("h1", 1, ("b\n",), 1, ("B\n",))
    assert reanchor("new\na\nb\nc\n", base, [hunk]) == "new\na\nB\nc\n"


def test_reanchor_refuses_edited_lines() -> None:
    hunk = Hunk("h1", 1, ("b\n",), 1, ("B\n",))
    with pytest.raises(MergeConflict):
        reanchor("a\nuser b\nc\n", "a\nb\nc\n", [hunk])


# line_edit


def test_line_edit_equal_is_none() -> None:
    assert line_edit("a\nb\n", "a\nb\n") is None
    assert line_edit("", "") is None


def test_line_edit_replaces_only_the_changed_middle() -> None:
    assert line_edit("a\nb\nc\n", "a\nB\nc\n") == LineEdit(1, 2, "B\n")
    assert line_edit("a\nb\nc\nd\n", "a\nX\nY\nZ\nd\n") == LineEdit(1, 3, "X\nY\nZ\n")


def test_line_edit_pure_insertion_and_deletion() -> None:
    assert line_edit("a\nc\n", "a\nb\nc\n") == LineEdit(1, 1, "b\n")
    assert line_edit("a\nb\nc\n", "a\nc\n") == LineEdit(1, 2, "")
    assert line_edit("", "a\n") == LineEdit(0, 0, "a\n")
    assert line_edit("a\n", "") == LineEdit(0, 1, "")


def test_line_edit_at_the_edges() -> None:
    assert line_edit("a\nb\n", "z\na\nb\n") == LineEdit(0, 0, "z\n")
    assert line_edit("a\nb\n", "a\nb\nz\n") == LineEdit(2, 2, "z\n")


def test_line_edit_repeated_lines_do_not_overlap_prefix_and_suffix() -> None:
    assert line_edit("a\na\n", "a\na\na\n") == LineEdit(2, 2, "a\n")
    assert line_edit("a\na\na\n", "a\n") == LineEdit(1, 3, "")


def test_line_edit_final_newline_added_or_removed() -> None:
    assert line_edit("a\nb", "a\nb\n") == LineEdit(1, 2, "b\n")
    assert line_edit("a\nb\n", "a\nb") == LineEdit(1, 2, "b")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\nb\nc\n", "a\nB\nc\n"),
        ("", "x\ny"),
        ("x\ny", ""),
        ("1\n2\n3\n4\n5\n", "0\n1\n3\n4\n6\n"),
        ("same\nsame\nsame\n", "same\nother\nsame\n"),
        ("a\r\nb\r\n", "a\r\nc\r\n"),
    ],
)
def test_line_edit_applied_gives_new_text(old: str, new: str) -> None:
    edit = line_edit(old, new)
    assert edit is not None
    lines = split_lines(old)
    assert "".join(lines[: edit.start]) + edit.new_text + "".join(lines[edit.end :]) == new


def test_text_sha() -> None:
    assert text_sha("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    assert text_sha("a") != text_sha("a\n")
    assert len(text_sha("é")) == 40
