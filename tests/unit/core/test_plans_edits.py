"""core/plans.py: the text edit sent for a file's change lands where every editor applies it the same way."""

from __future__ import annotations

import pytest

from bridge.core.plans import ReplaceText, _replace
from bridge.textlines import lsp_lines


def apply_lsp(text: str, op: ReplaceText) -> str:
    """`op` applied to `text` as LSP defines it (positions in utf-16; ASCII texts here)."""
    lines = lsp_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(pos: tuple[int, int]) -> int:
        return starts[pos[0]] + pos[1] if pos[0] < len(starts) else len(text)

    return text[: offset(op.start)] + op.new_text + text[offset(op.end) :]


@pytest.mark.parametrize("brk", ["\n", "\r\n"])
def test_lines_appended_at_the_end_insert_before_the_final_line_break(brk: str) -> None:
    # Neovim appends an insertion at the empty line after the final break as whole lines, the empty piece
    # after the inserted text's own final break included: the file ended with a blank line more.
    old = f"a{brk}b{brk}"
    new = f"a{brk}b{brk}{brk}c{brk}d{brk}"
    op = _replace("file:///r/a.py", 1, old, new, "utf-16")
    assert op is not None
    assert op.start == op.end == (1, 1)  # the end of the last line of text, not the empty line after it
    assert op.new_text == f"{brk}{brk}c{brk}d"
    assert apply_lsp(old, op) == new


def test_an_appended_last_line_without_a_break_keeps_the_plain_insertion() -> None:
    old, new = "a\nb\n", "a\nb\nc"
    op = _replace("file:///r/a.py", 1, old, new, "utf-16")
    assert op is not None and (op.start, op.end, op.new_text) == ((2, 0), (2, 0), "c")
    assert apply_lsp(old, op) == new


@pytest.mark.parametrize(
    ("old", "new"),
    [("a\nb\n", "a\nx\nb\n"), ("a\nb\n", "a\n"), ("a\nb", "a\nb\nc\n"), ("", "x\n"), ("a\nb\n", "a\nB\n")],
)
def test_other_edits_are_unchanged_and_exact(old: str, new: str) -> None:
    op = _replace("file:///r/a.py", 1, old, new, "utf-16")
    assert op is not None and apply_lsp(old, op) == new
