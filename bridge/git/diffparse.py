"""Parsing git's zero-context diffs (`--raw -z` plus the patch) into FileChanges (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from bridge.git.hunks import ChangeKind, FileChange, Hunk, hunk_id

_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NULL_OID = re.compile(r"^0+$")
_KINDS: dict[str, ChangeKind] = {"A": "create", "D": "delete", "R": "rename"}
_C_ESCAPES = {
    "a": 0x07,
    "b": 0x08,
    "t": 0x09,
    "n": 0x0A,
    "v": 0x0B,
    "f": 0x0C,
    "r": 0x0D,
    '"': 0x22,
    "\\": 0x5C,
}


@dataclass
class _Entry:
    status: str
    path: str
    old_path: str | None
    old_mode: str | None = None
    new_mode: str | None = None
    old_oid: str | None = None
    new_oid: str | None = None


@dataclass
class _Section:
    """One "diff --git" block of the patch."""

    old_path: str | None = None
    new_path: str | None = None
    new_file: bool = False
    deleted_file: bool = False
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    old_oid: str | None = None
    new_oid: str | None = None
    # (old_start, old_lines, new_start, new_lines)
    blocks: list[tuple[int, list[str], int, list[str]]] = field(default_factory=list)


def parse_diff(name_status_z: str, patch: str) -> list[FileChange]:
    """Parse `git diff --name-status -z -M` (or `--raw -z`) plus the matching `-U0` patch."""
    entries = _parse_name_status(name_status_z)
    sections = list(_parse_patch(patch))
    changes: list[FileChange] = []
    index = 0
    for entry in entries:
        if index >= len(sections):
            raise ValueError(f"patch has no section for {entry.path!r}")
        section = sections[index]
        index += 1
        # Git prints a type change (file <-> symlink) as a deletion followed by a creation.
        if (
            entry.status == "T"
            and section.deleted_file
            and index < len(sections)
            and sections[index].new_file
        ):
            section = _merge_type_change(section, sections[index])
            index += 1
        _check_paths(entry, section)
        changes.append(_file_change(entry, section))
    if index != len(sections):
        raise ValueError("patch has more sections than the name-status listing")
    return changes


def _parse_name_status(text: str) -> list[_Entry]:
    tokens = text.split("\0")
    if tokens and tokens[-1] == "":
        tokens.pop()
    entries: list[_Entry] = []
    i = 0
    while i < len(tokens):
        head = tokens[i].strip("\n")
        i += 1
        if not head:
            continue
        modes: list[str | None] = [None, None]
        oids: list[str | None] = [None, None]
        if head.startswith(":"):
            fields = head[1:].split()
            if len(fields) < 5:
                raise ValueError(f"bad raw diff line {head!r}")
            modes = [_mode(fields[0]), _mode(fields[1])]
            oids = [_oid(fields[2]), _oid(fields[3])]
            status = fields[4]
        else:
            status = head
        kind = status[0]
        if kind in "RC":
            if i + 1 >= len(tokens):
                raise ValueError(f"truncated name-status entry {status!r}")
            old, new = tokens[i], tokens[i + 1]
            i += 2
            if kind == "C":
                raise ValueError(f"copy entry {old!r} -> {new!r} is not supported; diff with -M, not -C")
            entries.append(_Entry("R", new, old, modes[0], modes[1], oids[0], oids[1]))
            continue
        if i >= len(tokens):
            raise ValueError(f"truncated name-status entry {status!r}")
        path = tokens[i]
        i += 1
        if kind not in "AMDT":
            raise ValueError(f"unsupported diff status {status!r} for {path!r}")
        entries.append(_Entry(kind, path, None, modes[0], modes[1], oids[0], oids[1]))
    return entries


def _mode(text: str) -> str | None:
    return None if _NULL_OID.match(text) else text


def _oid(text: str) -> str | None:
    # Abbreviated ids could become ambiguous; only full ones are worth keeping.
    if _NULL_OID.match(text) or len(text) < 40:
        return None
    return text


def _parse_patch(patch: str) -> Iterator[_Section]:
    # Some wrappers (GitPython) strip the final newline; git always ends lines with one.
    if patch and not patch.endswith("\n"):
        patch += "\n"
    lines = patch.split("\n")[:-1]
    lines = [line + "\n" for line in lines]
    i = 0
    section: _Section | None = None
    while i < len(lines):
        raw = lines[i]
        line = raw[:-1]
        i += 1
        if line.startswith("diff --git "):
            if section is not None:
                yield section
            section = _Section()
            continue
        if section is None:
            continue
        if line.startswith("@@"):
            i = _parse_hunk(line, lines, i, section)
        elif line.startswith("new file mode "):
            section.new_file = True
            section.new_mode = line[len("new file mode ") :]
        elif line.startswith("deleted file mode "):
            section.deleted_file = True
            section.old_mode = line[len("deleted file mode ") :]
        elif line.startswith("old mode "):
            section.old_mode = line[len("old mode ") :]
        elif line.startswith("new mode "):
            section.new_mode = line[len("new mode ") :]
        elif line.startswith("index "):
            _parse_index_line(line, section)
        elif line.startswith("rename from "):
            section.old_path = _unquote(line[len("rename from ") :])
        elif line.startswith("rename to "):
            section.new_path = _unquote(line[len("rename to ") :])
        elif line.startswith("--- "):
            path = _header_path(line[4:])
            if path is not None:
                section.old_path = path
        elif line.startswith("+++ "):
            path = _header_path(line[4:])
            if path is not None:
                section.new_path = path
        elif line.startswith("Binary files ") or line == "GIT binary patch":
            section.binary = True
            if line == "GIT binary patch":
                # The base85 payload can contain anything; skip to the next section.
                while i < len(lines) and not lines[i].startswith("diff --git "):
                    i += 1
    if section is not None:
        yield section


def _parse_index_line(line: str, section: _Section) -> None:
    fields = line[len("index ") :].split()
    if not fields or ".." not in fields[0]:
        return
    old, new = fields[0].split("..", 1)
    section.old_oid = _oid(old)
    section.new_oid = _oid(new)
    if len(fields) > 1:
        section.old_mode = section.old_mode or fields[1]
        section.new_mode = section.new_mode or fields[1]


def _parse_hunk(header: str, lines: list[str], i: int, section: _Section) -> int:
    match = _HUNK_HEADER.match(header)
    if match is None:
        raise ValueError(f"bad hunk header {header!r}")
    a, b, c, d = (int(g) if g is not None else 1 for g in match.groups())
    # With a zero count git names the line AFTER which the change sits (1-based), i.e. the 0-based
    # index of the line before which it sits; otherwise it names the first line (1-based).
    old_pos = a if b == 0 else a - 1
    new_pos = c if d == 0 else c - 1
    old_left, new_left = b, d
    block_old: list[str] = []
    block_new: list[str] = []
    block_start = (old_pos, new_pos)
    last: list[str] | None = None

    def flush() -> None:
        if block_old or block_new:
            section.blocks.append((block_start[0], list(block_old), block_start[1], list(block_new)))
        block_old.clear()
        block_new.clear()

    while i < len(lines):
        raw = lines[i]
        if raw.startswith("\\"):
            # "\ No newline at end of file": the previous line has no line ending.
            if last and last[-1].endswith("\n"):
                last[-1] = last[-1][:-1]
            i += 1
            continue
        if old_left == 0 and new_left == 0:
            break
        tag, content = raw[:1], raw[1:]
        if raw == "\n":
            # diff.suppressBlankEmpty prints an empty context line without its leading space.
            tag, content = " ", "\n"
        if tag == "-" and old_left > 0:
            if not block_old and not block_new:
                block_start = (old_pos, new_pos)
            block_old.append(content)
            last = block_old
            old_pos += 1
            old_left -= 1
        elif tag == "+" and new_left > 0:
            if not block_old and not block_new:
                block_start = (old_pos, new_pos)
            block_new.append(content)
            last = block_new
            new_pos += 1
            new_left -= 1
        elif tag == " " and old_left > 0 and new_left > 0:
            # Context lines only appear with -U>0 or inter-hunk context; they split zero-context hunks.
            flush()
            last = None
            old_pos += 1
            new_pos += 1
            old_left -= 1
            new_left -= 1
        else:
            raise ValueError(f"unexpected line in hunk {header!r}: {raw!r}")
        i += 1
    if old_left or new_left:
        raise ValueError(f"truncated hunk {header!r}")
    flush()
    return i


def _header_path(text: str) -> str | None:
    if text.startswith('"'):
        return _unquote(text)
    # Git appends a tab after unquoted names containing spaces.
    text = text.rstrip("\t")
    return None if text == "/dev/null" else text


def _unquote(text: str) -> str:
    """Undo git's C-style quoting ("\\303\\251" octal bytes and backslash escapes)."""
    if not text.startswith('"'):
        return text
    out = bytearray()
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            break
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "01234567":
                out.append(int(text[i + 1 : i + 4], 8) & 0xFF)
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out.extend(ch.encode("utf-8", "surrogateescape"))
        i += 1
    return out.decode("utf-8", "surrogateescape")


def _strip_prefix(section_path: str, path: str) -> bool:
    """Whether a patch path names `path`, with or without a one-letter prefix like "a/" or "b/"."""
    if section_path == path:
        return True
    return len(section_path) == len(path) + 2 and section_path[1] == "/" and section_path[2:] == path


def _check_paths(entry: _Entry, section: _Section) -> None:
    # Only paths from unambiguous header lines are checked; a mismatch means the two inputs disagree.
    side = section.old_path if entry.status == "D" else section.new_path
    if side is not None and not _strip_prefix(side, entry.path):
        raise ValueError(f"name-status entry {entry.path!r} does not match patch section {side!r}")


def _merge_type_change(deleted: _Section, created: _Section) -> _Section:
    old_lines = [line for block in deleted.blocks for line in block[1]]
    new_lines = [line for block in created.blocks for line in block[3]]
    blocks = [(0, old_lines, 0, new_lines)] if old_lines or new_lines else []
    return _Section(
        old_path=deleted.old_path,
        new_path=created.new_path,
        binary=deleted.binary or created.binary,
        old_mode=deleted.old_mode,
        new_mode=created.new_mode,
        old_oid=deleted.old_oid,
        new_oid=created.new_oid,
        blocks=blocks,
    )


def _file_change(entry: _Entry, section: _Section) -> FileChange:
    kind = _KINDS.get(entry.status, "modify")
    hunks: list[Hunk] = []
    if not section.binary:
        seen: dict[tuple[str, str], int] = {}
        for old_start, old_lines, new_start, new_lines in section.blocks:
            old_text, new_text = "".join(old_lines), "".join(new_lines)
            occurrence = seen.get((old_text, new_text), 0)
            seen[(old_text, new_text)] = occurrence + 1
            hunks.append(
                Hunk(
                    hunk_id=hunk_id(entry.path, old_text, new_text, occurrence),
                    old_start=old_start,
                    old_lines=tuple(old_lines),
                    new_start=new_start,
                    new_lines=tuple(new_lines),
                )
            )
    old_mode = entry.old_mode or section.old_mode
    new_mode = entry.new_mode or section.new_mode
    if kind == "create":
        old_mode = None
    if kind == "delete":
        new_mode = None
    return FileChange(
        path=entry.path,
        old_path=entry.old_path,
        change=kind,
        binary=section.binary,
        hunks=tuple(hunks),
        old_mode=old_mode,
        new_mode=new_mode,
        old_oid=entry.old_oid or section.old_oid,
        new_oid=entry.new_oid or section.new_oid,
    )
