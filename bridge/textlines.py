"""Lines and positions of a text, as git counts them and as LSP counts them.

Git, and so every hunk, ends a line at "\\n" only. LSP ends a line at "\\r\\n", "\\n" or a lone "\\r". A line
holding a lone "\\r" is one git line but two LSP lines: a range computed from git line numbers alone lands
below its place, and an edit applied there changes the wrong line. Every position handed to an editor is
therefore computed here, from git line numbers and the text they index.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import accumulate

_LSP_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$")


def split_lines(text: str) -> list[str]:
    """Split into git lines keeping their endings: only "\\n" ends a line ("\\r\\n" stays together)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def lsp_lines(text: str) -> list[str]:
    """Split into LSP lines keeping their endings ("\\r\\n", "\\n" or a lone "\\r")."""
    return _LSP_LINE.findall(text)


def lone_crs(line: str) -> int:
    """How many lone "\\r" (line ends to LSP, not to git) a git line holds."""
    return line.count("\r") - line.count("\r\n")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def column_length(text: str, encoding: str) -> int:
    """Length of `text` in the position encoding negotiated with the client."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return utf16_len(text)


def _body(line: str) -> str:
    """A git line without its line ending; what is left can hold lone "\\r" only."""
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(("\n", "\r")) else line


class LspLines:
    """Git line numbers of one text mapped to LSP positions; linear to build, constant time to ask."""

    def __init__(self, git_lines: Sequence[str]) -> None:
        self._lines: Sequence[str] | None = git_lines
        self._text = ""
        # Lone "\r" before each git line, when the text has any (most texts have none: nothing to count).
        self._before: list[int] | None = None
        if any("\r" in line for line in git_lines):
            self._before = [0, *accumulate(lone_crs(line) for line in git_lines)]

    @classmethod
    def of(cls, text: str) -> LspLines:
        if "\r" in text:
            return cls(split_lines(text))
        plain = cls(())
        plain._lines, plain._text = None, text  # split only if asked for an end position
        return plain

    @property
    def lines(self) -> Sequence[str]:
        if self._lines is None:
            self._lines = split_lines(self._text)
        return self._lines

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> int:
        """The LSP line where git line `index` starts (past the end: as if more plain lines followed)."""
        if self._before is None:
            return index
        return index + self._before[min(max(index, 0), len(self.lines))]

    def line_end(self, index: int, encoding: str = "utf-16") -> tuple[int, int]:
        """The LSP position of the end of git line `index`'s text, before its line ending."""
        body = _body(self.lines[index])
        return self.line(index) + body.count("\r"), column_length(body.rsplit("\r", 1)[-1], encoding)

    def position(self, index: int, encoding: str = "utf-16") -> tuple[int, int]:
        """LSP (line, character) of the start of git line `index`, or of the end of the text past its last line.

        A text whose last line has no line ending has no "next line" to point at: its end is that line's end.
        """
        lines = self.lines
        if index < len(lines):
            return self.line(index), 0
        last = len(lines) - 1
        if last < 0 or lines[last].endswith("\n"):
            return self.line(last + 1), 0
        if lines[last].endswith("\r"):  # a lone "\r" ends it: the text ends on the empty line after
            return self.line(last) + lines[last].count("\r"), 0
        return self.line_end(last, encoding)
