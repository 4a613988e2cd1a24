"""Comment prompts: a comment holding `AI!` (`# add a docstring AI!`) is a prompt any editor can send.

An editor that cannot pass arguments to a command (Helix) or has no UI of ours can still show a code action;
the action's command prompts the agent with the comment's instruction and the lines around it. Detection is
language-agnostic: a small table of comment markers, and a scan of the code before them that skips strings.
"""

from __future__ import annotations

import re

from lsprotocol import types as T

from bridge import protocol as wire
from bridge.textlines import lsp_lines

# Line comments of most languages (C family, shells and Python, SQL and Lua and Haskell, Lisps and assembly,
# TeX and Erlang); and one-line block comments, for languages that have none (CSS, HTML, OCaml, Haskell).
LINE_MARKERS = ("//", "--", "#", ";", "%")
BLOCK_MARKERS = (("/*", "*/"), ("<!--", "-->"), ("(*", "*)"), ("{-", "-}"))
# Markers that are also common operators, counted only when they start the line (`"%d" % n` in Python).
LINE_START_ONLY = ("%",)
QUOTES = "\"'`"

# `AI!` as a word of its own, like aider's watch mode; any case (`ai!`).
_AI_BANG = re.compile(r"(?<![\w!])ai!(?![\w])", re.IGNORECASE)
CONTEXT_LINES = 20  # lines above and below the comment the agent gets with the instruction


def _closing_quote(line: str, start: int) -> int | None:
    """Where the string opened at `start` ends on this line, or None: an unclosed quote is no string (a Rust
    lifetime `'a`, a Lisp quote `'sym`, an apostrophe)."""
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == quote:
            return i
        i += 1
    return None


def _comment_start(line: str) -> tuple[int, str, str] | None:
    """The first comment on the line outside strings: (where its text starts, its marker, its closer).

    A marker counts at the start of the line or after whitespace only: code is full of `x = 1;`, `i--`, `a%b`;
    a comment after code is almost always set off by a space."""
    i = 0
    while i < len(line):
        if line[i] in QUOTES:
            end = _closing_quote(line, i)
            if end is not None:
                i = end + 1
                continue
        if i > 0 and not line[i - 1].isspace():
            i += 1
            continue
        for opener, closer in BLOCK_MARKERS:
            if line.startswith(opener, i):
                return i + len(opener), opener, closer
        for marker in LINE_MARKERS:
            if line.startswith(marker, i) and (marker not in LINE_START_ONLY or not line[:i].strip()):
                return i + len(marker), marker, ""
        i += 1
    return None


def comment_instruction(line: str) -> str | None:
    """The instruction of a comment prompt on this line (the comment's text without its marker and `AI!`), or
    None when the line holds no comment with `AI!` in it."""
    found = _comment_start(line)
    if found is None:
        return None
    start, marker, closer = found
    body = line[start:].rstrip("\r\n")
    if closer and closer in body:
        body = body[: body.index(closer)]
    if not _AI_BANG.search(body):
        return None
    # Doc-comment and banner forms (`///`, `//!`, `##`, `;;;`, `/**`) repeat the marker.
    body = body.lstrip(marker[-1] + "!*")
    instruction = " ".join(_AI_BANG.sub(" ", body).split())
    return instruction or None


def comment_prompt_actions(text: str, uri: str, rng: T.Range, label: str) -> list[T.CodeAction]:
    """One `Ask agent: ...` action per comment prompt on the lines `rng` touches; `label` names the file in
    the prompt (its path in the workspace)."""
    if not _AI_BANG.search(text):
        return []  # asked on every cursor move: most documents hold no prompt, skip splitting them
    lines = lsp_lines(text)
    end_line = rng.end.line - 1 if rng.end.character == 0 and rng.end.line > rng.start.line else rng.end.line
    last = min(max(end_line, rng.start.line), len(lines) - 1)
    actions = []
    for number in range(rng.start.line, last + 1):
        instruction = comment_instruction(lines[number])
        if instruction is None:
            continue
        prompt = (
            f"{instruction}\n\n(The instruction comes from a comment in {label} line {number + 1}; "
            "remove that comment as part of your change.)"
        )
        first = max(number - CONTEXT_LINES, 0)
        final = min(number + CONTEXT_LINES, len(lines) - 1)
        # Whole lines: the range ends at the start of the line after them, or at the end of an unterminated
        # last line (the selection takes every line it touches; the character only has to be past 0 there).
        if final + 1 < len(lines) or lines[final].endswith(("\n", "\r")):
            end = {"line": final + 1, "character": 0}
        else:
            end = {"line": final, "character": len(lines[final])}
        selection = {"start": {"line": first, "character": 0}, "end": end}
        arguments = {"text": prompt, "uri": uri, "range": selection}
        actions.append(T.CodeAction(
            title=f"Ask agent: {instruction}",
            kind=T.CodeActionKind.QuickFix,
            command=T.Command(title="Ask agent", command=wire.PROMPT, arguments=[arguments]),
        ))
    return actions
