"""bridge.textlines: git lines and LSP positions (LSP ends a line at "\\r\\n", "\\n" or a lone "\\r")."""

from __future__ import annotations

import pytest

from bridge.textlines import LspLines, column_length, lsp_lines, split_lines, utf16_len


def line_position(lines: list[str], index: int, encoding: str = "utf-16") -> tuple[int, int]:
    return LspLines(lines).position(index, encoding)

# line_position


def test_line_position_inside_text_is_line_start() -> None:
    lines = split_lines("a\nb\nc\n")
    assert line_position(lines, 0) == (0, 0)
    assert line_position(lines, 2) == (2, 0)


def test_line_position_past_end_with_trailing_newline() -> None:
    lines = split_lines("a\nb\n")
    assert line_position(lines, 2) == (2, 0)


def test_line_position_past_end_without_trailing_newline() -> None:
    lines = split_lines("a\nlast")
    assert line_position(lines, 2) == (1, 4)


def test_line_position_past_end_without_newline_counts_in_encoding() -> None:
    lines = split_lines("a\nx😀é")
    assert line_position(lines, 2) == (1, 4)  # utf-16 default: 1 + 2 + 1
    assert line_position(lines, 2, "utf-16") == (1, 4)
    assert line_position(lines, 2, "utf-8") == (1, 7)  # 1 + 4 + 2
    assert line_position(lines, 2, "utf-32") == (1, 3)


def test_line_position_of_empty_text() -> None:
    assert line_position([], 0) == (0, 0)


def test_line_position_last_line_ending_in_cr_counts_as_ended() -> None:
    assert line_position(["a\r"], 1) == (1, 0)


# column_length


@pytest.mark.parametrize(
    ("text", "utf16", "utf8", "utf32"),
    [
        ("", 0, 0, 0),
        ("abc", 3, 3, 3),
        ("é", 1, 2, 1),
        ("€", 1, 3, 1),
        ("😀", 2, 4, 1),
        ("a😀b𝄞", 6, 10, 4),
        ("日本", 2, 6, 2),
    ],
)
def test_column_length(text: str, utf16: int, utf8: int, utf32: int) -> None:
    assert column_length(text, "utf-16") == utf16
    assert utf16_len(text) == utf16
    assert column_length(text, "utf-8") == utf8
    assert column_length(text, "utf-32") == utf32


def test_column_length_unknown_encoding_falls_back_to_utf16() -> None:
    assert column_length("😀", "latin-1") == 2


# Lone "\r": one git line, two LSP lines (the trust boundary issue: an applied edit landed a line too low)


def test_lsp_lines_split_at_each_of_the_three_line_endings() -> None:
    assert lsp_lines("a\r\nb\nc\rd") == ["a\r\n", "b\n", "c\r", "d"]
    assert lsp_lines("a\r\rb\n") == ["a\r", "\r", "b\n"]
    assert lsp_lines("") == []


def test_a_lone_cr_moves_every_later_line_down_by_one() -> None:
    lines = LspLines.of("a\rb\nc\nd\n")
    assert [lines.line(i) for i in range(4)] == [0, 2, 3, 4]
    assert lines.position(2) == (3, 0)
    assert lines.position(3) == (4, 0)


def test_crlf_is_one_line_ending() -> None:
    lines = LspLines.of("x\r\ny\r\n")
    assert [lines.line(i) for i in range(3)] == [0, 1, 2]
    assert lines.line_end(1) == (1, 1)


def test_line_end_is_after_the_last_lone_cr() -> None:
    lines = LspLines.of("ab\rcd😀\nz")
    assert lines.line_end(0) == (1, 4)
    assert lines.line_end(0, "utf-8") == (1, 6)
    assert lines.position(2) == (2, 1)  # the text ends inside "z"


@pytest.mark.parametrize("text", ["a\rb\nc", "a\r", "a\rb", "\r\r\n\r", "x\r\ny\rz\n", "plain\ntext", ""])
def test_positions_agree_with_an_lsp_line_split(text: str) -> None:
    """Every git line start, and the end of the text, is where an LSP client counts it."""
    lsp = lsp_lines(text)
    starts, offset = [], 0
    for line in lsp:
        starts.append(offset)
        offset += len(line)
    git = split_lines(text)
    mapped = LspLines(git)
    offset = 0
    for index, line in enumerate(git):
        assert mapped.position(index) == (starts.index(offset), 0)
        offset += len(line)
    end_line = len(lsp) if not lsp or lsp[-1].endswith(("\n", "\r")) else len(lsp) - 1
    end_col = 0 if end_line == len(lsp) else len(lsp[-1])
    assert mapped.position(len(git)) == (end_line, end_col)
