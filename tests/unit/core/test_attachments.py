"""bridge.core.attachments: what the user sees, at the worktree's copy, refused outside the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from backends.base import ResourceLinkPart, ResourcePart, TextPart
from bridge import protocol as wire
from bridge.core import attachments
from bridge.core.attachments import Attached, attachment_parts, for_agent, read_attachments
from bridge.core.plans import LiveDoc
from bridge.errors import BridgeError


def rng(start: int, end: int, end_char: int = 0) -> wire.Range:
    return wire.Range(wire.Position(start, 0), wire.Position(end, end_char))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.py").write_text("one\ntwo\nthree\nfour\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return root


def no_docs(uri: str) -> LiveDoc | None:
    return None


def test_the_file_on_disk_whole_or_the_lines_a_range_touches(repo: Path) -> None:
    uri = (repo / "src" / "a.py").as_uri()
    whole, part = read_attachments(
        [wire.Attachment(uri), wire.Attachment(uri, rng(1, 3))], no_docs, repo
    )
    assert whole == Attached("src/a.py", "one\ntwo\nthree\nfour\n")
    # Ending at the start of line 3 leaves line 3 out, as a selection does.
    assert part == Attached("src/a.py", "two\nthree\n", (1, 2))


def test_the_open_buffer_wins_over_the_file(repo: Path) -> None:
    uri = (repo / "src" / "a.py").as_uri()
    docs = {uri: LiveDoc("unsaved\nbuffer\n", 3)}
    [item] = read_attachments([wire.Attachment(uri, rng(1, 1, 3))], docs.get, repo)
    assert item == Attached("src/a.py", "buffer\n", (1, 1))
    # A buffer not saved yet (no file on disk) can be attached too.
    new = (repo / "new.txt").as_uri()
    [item] = read_attachments([wire.Attachment(new)], {new: LiveDoc("fresh", 1)}.get, repo)
    assert item.text == "fresh"


def test_refused_with_a_clear_message(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    (repo / "link.txt").symlink_to(outside)
    (repo / "bin.dat").write_bytes(b"\xff\xfe\x00")
    cases = {
        outside.as_uri(): "outside the session's repository",
        (repo / "link.txt").as_uri(): "outside the session's repository",  # a link is where it points
        (repo / "src" / ".." / ".." / "secret.txt").as_uri(): "outside the session's repository",
        (repo / "missing.py").as_uri(): "no such file",
        (repo / "src").as_uri(): "it is a directory",
        (repo / "bin.dat").as_uri(): "not a UTF-8 text file",
        (repo / ".git" / "config").as_uri(): "not a file of the repository",
    }
    for uri, needle in cases.items():
        with pytest.raises(BridgeError) as info:
            read_attachments([wire.Attachment(uri)], no_docs, repo)
        assert needle in str(info.value) and "cannot attach" in str(info.value), (uri, info.value)
    # An open buffer does not make a file outside the repository attachable.
    with pytest.raises(BridgeError, match="outside"):
        read_attachments([wire.Attachment(outside.as_uri())], {outside.as_uri(): LiveDoc("x", 1)}.get, repo)


def test_huge_files_are_cut_and_said_so(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "MAX_CHARS", 10)
    (repo / "big.txt").write_text("x" * 25)
    [item] = read_attachments([wire.Attachment((repo / "big.txt").as_uri())], no_docs, repo)
    assert item == Attached("big.txt", "x" * 10, None, 25)
    note = attachment_parts([item], Path("/wt"))[0]
    assert isinstance(note, TextPart) and "big.txt (cut to its first 10 of 25 characters)" in note.text
    monkeypatch.setattr(attachments, "MAX_FILE_BYTES", 20)
    with pytest.raises(BridgeError, match="larger than"):
        read_attachments([wire.Attachment((repo / "big.txt").as_uri())], no_docs, repo)


def test_too_many_attachments(repo: Path) -> None:
    uri = (repo / "src" / "a.py").as_uri()
    with pytest.raises(BridgeError, match="at most"):
        read_attachments([wire.Attachment(uri)] * (attachments.MAX_ATTACHMENTS + 1), no_docs, repo)


def test_parts_point_at_the_worktree_copy_and_name_the_lines() -> None:
    parts = attachment_parts(
        [Attached("src/a.py", "two\n", (1, 1)), Attached("b c.md", "# b\n", (0, 4)), Attached("x.txt", "x")],
        Path("/state/wt"),
    )
    assert parts == [
        TextPart("The user attached: src/a.py (line 2); b c.md (lines 1-5); x.txt."),
        ResourcePart("file:///state/wt/src/a.py", "two\n", "text/x-python"),
        ResourcePart("file:///state/wt/b%20c.md", "# b\n", "text/markdown"),
        ResourcePart("file:///state/wt/x.txt", "x", "text/plain"),
    ]
    assert attachment_parts([], Path("/wt")) == []


def test_for_an_agent_without_embedded_context_resources_become_links() -> None:
    parts = [TextPart("hi"), ResourcePart("file:///wt/b%20c.md", "# b\n", "text/markdown")]
    assert for_agent(parts, embedded_context=True) == parts
    assert for_agent(parts, embedded_context=False) == [
        TextPart("hi"), ResourceLinkPart("file:///wt/b%20c.md", "b c.md", "text/markdown")
    ]


@pytest.fixture
def git_repo(repo: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


async def test_gather_reads_against_the_workspace_repository_off_the_loop(git_repo: Path) -> None:
    repo = git_repo
    uri = (repo / "src" / "a.py").as_uri()
    [item] = await attachments.gather([wire.Attachment(uri)], no_docs, None, repo / "src")
    assert item.path == "src/a.py"
    assert await attachments.gather(None, no_docs, None, repo) == []
