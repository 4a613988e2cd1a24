"""bridge.core.prompts: what the bridge adds to a user's prompt before an agent sees it."""

from __future__ import annotations

from bridge.core.prompts import MAX_QUOTED_LINES, rejection_note, selection_note, title_for
from bridge.store import HunkRow


def rejected(path: str, old: str, new: str) -> HunkRow:
    return HunkRow("s1", path, "h", "qwen", "t1", "rejected", old, new, False)


# rejection_note


def test_no_rejections_no_note() -> None:
    assert rejection_note([]) is None


def test_rejection_note_quotes_each_change() -> None:
    note = rejection_note([
        rejected("src/a.py", "x = 1\n", "x = 2\n"),
        rejected("b.txt", "", "new line\n"),
    ])
    assert note is not None
    lines = note.split("\n")
    assert "REJECTED" in lines[0]
    assert "reverted" in lines[0]
    assert lines[1:] == [
        "- In src/a.py: the change from",
        "    x = 1",
        "  to",
        "    x = 2",
        "- In b.txt: the change from",
        "    (nothing)",
        "  to",
        "    new line",
    ]


def test_rejection_note_deletion_quotes_nothing_for_new() -> None:
    note = rejection_note([rejected("a.py", "gone\nalso\n", "")])
    assert note is not None
    assert note.endswith("- In a.py: the change from\n    gone\n    also\n  to\n    (nothing)")


def test_rejection_note_truncates_long_text() -> None:
    old = "".join(f"line {i}\n" for i in range(MAX_QUOTED_LINES + 5))
    note = rejection_note([rejected("a.py", old, "short\n")])
    assert note is not None
    assert f"    line {MAX_QUOTED_LINES - 1}" in note
    assert f"    line {MAX_QUOTED_LINES}\n" not in note
    assert "    ... (5 more lines)" in note
    assert "    short" in note


def test_rejection_note_exactly_max_lines_is_not_truncated() -> None:
    old = "".join(f"l{i}\n" for i in range(MAX_QUOTED_LINES))
    note = rejection_note([rejected("a.py", old, "x\n")])
    assert note is not None
    assert "more lines" not in note
    assert f"    l{MAX_QUOTED_LINES - 1}" in note


# selection_note


def test_selection_note_single_line_is_one_based() -> None:
    assert selection_note("src/a.py", 0, 0) == "The user's selection is line 1 of src/a.py (attached)."


def test_selection_note_line_range_is_one_based() -> None:
    assert selection_note("a.py", 4, 9) == "The user's selection is lines 5-10 of a.py (attached)."


# title_for


def test_title_is_first_non_empty_line_stripped() -> None:
    assert title_for("\n\n   Fix the parser  \nand add tests") == "Fix the parser"


def test_title_truncated_to_limit_with_ellipsis() -> None:
    prompt = "word " * 40
    title = title_for(prompt)
    assert len(title) <= 60
    assert title.endswith("…")
    assert title.startswith("word word")
    assert title_for("a" * 100, limit=10) == "a" * 9 + "…"


def test_title_at_limit_is_kept_whole() -> None:
    assert title_for("x" * 60) == "x" * 60


def test_title_truncation_does_not_end_in_space_before_ellipsis() -> None:
    assert title_for("abcd efgh", limit=6) == "abcd…"


def test_title_of_blank_prompt() -> None:
    assert title_for("") == "agent session"
    assert title_for("  \n\t\n") == "agent session"
