"""bridge.git.hunks: parsing git's -U0 diffs, stable ids, applying and reverting hunks."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge.git.diffparse import parse_diff
from bridge.git.hunks import FileChange, Hunk, apply_hunks, revert_hunks
from bridge.textlines import split_lines

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


class DiffRepo:
    """A scratch repo that turns {path: bytes} dicts into commits and diffs them with real git."""

    def __init__(self, root: Path, quote_path: bool = True) -> None:
        self.root = root
        root.mkdir()
        self.git("init", "-q", ".")
        self.git("config", "core.quotePath", "true" if quote_path else "false")
        self.git("config", "core.autocrlf", "false")

    def git(self, *args: str) -> str:
        proc = subprocess.run([*GIT, *args], cwd=self.root, capture_output=True, check=True)
        return proc.stdout.decode("utf-8", "surrogateescape")

    def commit(self, files: dict[str, bytes]) -> str:
        for child in self.root.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        for rel, data in files.items():
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "--no-verify", "-m", "c")
        return self.git("rev-parse", "HEAD").strip()

    def diff(self, a: str, b: str) -> list[FileChange]:
        name_status = self.git("diff", "--name-status", "-z", "-M", a, b)
        patch = self.git("diff", "-U0", "-M", "--no-color", "--no-ext-diff", "--full-index", a, b)
        return parse_diff(name_status, patch)


def by_path(changes: list[FileChange]) -> dict[str, FileChange]:
    return {c.path: c for c in changes}


def test_split_lines_keeps_endings_and_only_splits_on_lf() -> None:
    assert split_lines("") == []
    assert split_lines("a") == ["a"]
    assert split_lines("a\r\nb\nc") == ["a\r\n", "b\n", "c"]
    assert split_lines("a\rb\n\n") == ["a\rb\n", "\n"]
    assert split_lines("x\u2028y\n") == ["x\u2028y\n"]


def test_zero_count_headers_convert_to_insertion_points() -> None:
    patch = (
        "diff --git a/f b/f\n"
        "index 1111111111111111111111111111111111111111..2222222222222222222222222222222222222222 100644\n"
        "--- a/f\n"
        "+++ b/f\n"
        "@@ -0,0 +1 @@\n"
        "+top\n"
        "@@ -2 +2,0 @@\n"
        "-gone\n"
        "@@ -3,0 +4,2 @@\n"
        "+x\n"
        "+y\n"
    )
    (change,) = parse_diff("M\0f\0", patch)
    top, gone, xy = change.hunks
    assert (top.old_start, top.old_lines, top.new_start, top.new_lines) == (0, (), 0, ("top\n",))
    assert (gone.old_start, gone.old_lines, gone.new_start, gone.new_lines) == (1, ("gone\n",), 2, ())
    assert (xy.old_start, xy.new_start, xy.new_lines) == (3, 3, ("x\n", "y\n"))
    base = "a\ngone\nc\n"
    assert apply_hunks(base, change.hunks) == "top\na\nc\nx\ny\n"
    assert revert_hunks("top\na\nc\nx\ny\n", change.hunks) == base
    assert change.old_oid == "1" * 40 and change.new_mode == "100644"


def test_parse_real_git_output_with_quoted_paths(tmp_path: Path) -> None:
    repo = DiffRepo(tmp_path / "r", quote_path=True)
    a = repo.commit(
        {
            "crlf.txt": b"one\r\ntwo\r\nthree\r\n",
            "nonl.txt": b"x",
            "gone.txt": b"bye\nnow\n",
            "moved.txt": b"".join(b"line %d\n" % i for i in range(20)),
            "pure.txt": b"".join(b"pure %d\n" % i for i in range(10)),
            "bin.dat": b"\x00\x01\x02",
        }
    )
    b = repo.commit(
        {
            "crlf.txt": b"one\r\nTWO\r\nthree\r\n",
            "nonl.txt": b"x\ny",
            'dir/caf\u00e9 "q"\tx.txt': "\u00e9t\u00e9\n".encode(),
            "new empty": b"",
            "sub dir/moved \u00e9.txt": b"".join(b"line %d\n" % i for i in range(20)).replace(
                b"line 5\n", b"line five\n"
            ),
            "pure2.txt": b"".join(b"pure %d\n" % i for i in range(10)),
            "bin.dat": b"\x00\x01\x03",
        }
    )
    changes = by_path(repo.diff(a, b))
    assert set(changes) == {
        "crlf.txt",
        "nonl.txt",
        "gone.txt",
        'dir/caf\u00e9 "q"\tx.txt',
        "new empty",
        "sub dir/moved \u00e9.txt",
        "pure2.txt",
        "bin.dat",
    }

    crlf = changes["crlf.txt"]
    assert crlf.change == "modify" and not crlf.binary
    assert [(h.old_start, h.old_text, h.new_text) for h in crlf.hunks] == [(1, "two\r\n", "TWO\r\n")]

    nonl = changes["nonl.txt"]
    assert [(h.old_lines, h.new_lines) for h in nonl.hunks] == [(("x",), ("x\n", "y"))]

    gone = changes["gone.txt"]
    assert gone.change == "delete" and gone.new_mode is None and gone.old_mode == "100644"
    assert [(h.old_start, h.old_text, h.new_text) for h in gone.hunks] == [(0, "bye\nnow\n", "")]

    created_empty = changes["new empty"]
    assert created_empty.change == "create" and created_empty.hunks == ()
    assert created_empty.new_oid == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"

    uni = changes['dir/caf\u00e9 "q"\tx.txt']
    assert uni.change == "create" and uni.old_path is None
    assert [(h.old_start, h.new_start, h.old_text, h.new_text) for h in uni.hunks] == [(0, 0, "", "\u00e9t\u00e9\n")]

    moved = changes["sub dir/moved \u00e9.txt"]
    assert moved.change == "rename" and moved.old_path == "moved.txt"
    assert [(h.old_start, h.old_text, h.new_text) for h in moved.hunks] == [(5, "line 5\n", "line five\n")]

    pure = changes["pure2.txt"]
    assert (pure.change, pure.old_path, pure.hunks) == ("rename", "pure.txt", ())

    binary = changes["bin.dat"]
    assert binary.binary and binary.hunks == () and binary.change == "modify"
    assert binary.new_oid is not None and len(binary.new_oid) == 40

    # An empty file deleted alongside an empty file created would pair up as a rename, so alone:
    c = repo.commit({"keep": b"k\n", "empty-gone": b""})
    d = repo.commit({"keep": b"k\n"})
    (empty_gone,) = repo.diff(c, d)
    assert (empty_gone.path, empty_gone.change, empty_gone.hunks) == ("empty-gone", "delete", ())


def test_quoted_and_unquoted_output_parse_the_same(tmp_path: Path) -> None:
    files_a = {"\u00e9 a.txt": b"1\n2\n", "tab\tname": b"x\n"}
    files_b = {"\u00e9 a.txt": b"1\nzwei\n", "tab\tname": b"y\n", "new \u00e9": b"n\n"}
    quoted = DiffRepo(tmp_path / "q", quote_path=True)
    plain = DiffRepo(tmp_path / "p", quote_path=False)
    results = []
    for repo in (quoted, plain):
        a = repo.commit(files_a)
        b = repo.commit(files_b)
        results.append(sorted((c.path, c.change, c.hunks) for c in repo.diff(a, b)))
    assert results[0] == results[1]
    assert [p for p, _, _ in results[0]] == sorted(["\u00e9 a.txt", "tab\tname", "new \u00e9"])


def test_type_change_becomes_one_modify(tmp_path: Path) -> None:
    repo = DiffRepo(tmp_path / "r")
    a = repo.commit({"link": b"a\nb\n", "other": b"o\n"})
    (repo.root / "link").unlink()
    (repo.root / "link").symlink_to("other")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--no-verify", "-m", "t")
    (change,) = repo.diff(a, "HEAD")
    assert (change.change, change.old_mode, change.new_mode) == ("modify", "100644", "120000")
    assert [(h.old_text, h.new_text) for h in change.hunks] == [("a\nb\n", "other")]


def test_mismatched_inputs_are_refused() -> None:
    patch = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    with pytest.raises(ValueError, match="does not match"):
        parse_diff("M\0y\0", patch)
    with pytest.raises(ValueError, match="no section"):
        parse_diff("M\0x\0M\0z\0", patch)


def test_patch_without_final_newline_is_accepted() -> None:
    # GitPython's repo.git.diff() strips the trailing newline.
    patch = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b"
    (change,) = parse_diff("M\0x\0", patch)
    assert change.hunks[0].new_lines == ("b\n",)


def test_ids_are_content_based_and_distinguish_duplicates() -> None:
    patch = "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n@@ -3 +3 @@\n-a\n+b\n@@ -5 +5 @@\n-c\n+d\n"
    shifted = (
        "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -11 +11 @@\n-a\n+b\n@@ -13 +14 @@\n-a\n+b\n@@ -15 +16 @@\n-c\n+d\n"
    )
    (one,) = parse_diff("M\0f\0", patch)
    (two,) = parse_diff("M\0f\0", shifted)
    ids = [h.hunk_id for h in one.hunks]
    assert len(set(ids)) == 3
    assert ids == [h.hunk_id for h in two.hunks]
    (other_file,) = parse_diff("M\0g\0", patch.replace("a/f b/f", "a/g b/g").replace("/f\n", "/g\n"))
    assert not set(ids) & {h.hunk_id for h in other_file.hunks}


def test_apply_refuses_hunks_that_do_not_fit() -> None:
    hunk = Hunk("h1", 1, ("b\n",), 1, ("B\n",))
    assert apply_hunks("a\nb\n", [hunk]) == "a\nB\n"
    with pytest.raises(ValueError, match="h1"):
        apply_hunks("a\nc\n", [hunk])
    with pytest.raises(ValueError, match="overlaps"):
        apply_hunks("a\nb\n", [hunk, Hunk("h2", 1, ("b\n",), 1, ("C\n",))])
    with pytest.raises(ValueError):
        revert_hunks("a\nb\n", [hunk])


def _random_text(rng: random.Random, unique: list[int] | None = None) -> str:
    lines = []
    for _ in range(rng.randint(0, 12)):
        if unique is not None:
            unique[0] += 1
            body = f"u{unique[0]}"
        else:
            body = rng.choice(["a", "b", "c", "", "  d"])
        lines.append(body + rng.choice(["\n", "\n", "\r\n"]))
    text = "".join(lines)
    if text and rng.random() < 0.3:
        text = text[:-1] if text.endswith("\n") and not text.endswith("\r\n") else text + "z"
    return text


def _mutate(rng: random.Random, text: str, unique: list[int]) -> str:
    out = []
    for line in split_lines(text):
        roll = rng.random()
        if roll < 0.2:
            continue
        if roll < 0.35:
            unique[0] += 1
            out.append(f"m{unique[0]}\n")
            continue
        out.append(line)
        if rng.random() < 0.15:
            unique[0] += 1
            out.append(f"i{unique[0]}" + rng.choice(["\n", "\r\n"]))
    result = "".join(out)
    if rng.random() < 0.2:
        unique[0] += 1
        result += f"tail{unique[0]}"
    return result


def test_applying_or_reverting_all_hunks_round_trips(tmp_path: Path) -> None:
    rng = random.Random(1234)
    repo = DiffRepo(tmp_path / "r")
    base = {f"f{i:03}.txt": _random_text(rng) for i in range(150)}
    new = {path: _random_text(rng) for path in base}
    a = repo.commit({p: t.encode() for p, t in base.items()})
    b = repo.commit({p: t.encode() for p, t in new.items()})
    changes = by_path(repo.diff(a, b))
    assert len(changes) > 100
    for path, change in changes.items():
        assert change.change == "modify"
        assert apply_hunks(base[path], change.hunks) == new[path], path
        assert revert_hunks(new[path], change.hunks) == base[path], path


def test_partial_apply_or_revert_leaves_exactly_the_other_hunks(tmp_path: Path) -> None:
    # Unique lines make the diff unambiguous, so re-diffing cannot realign the remaining hunks.
    rng = random.Random(99)
    counter = [0]
    repo = DiffRepo(tmp_path / "r")
    base = {f"f{i:03}.txt": _random_text(rng, counter) for i in range(120)}
    new = {path: _mutate(rng, text, counter) for path, text in base.items()}
    a = repo.commit({p: t.encode() for p, t in base.items()})
    b = repo.commit({p: t.encode() for p, t in new.items()})
    changes = by_path(repo.diff(a, b))
    chosen: dict[str, list[Hunk]] = {}
    for path, change in changes.items():
        chosen[path] = [h for h in change.hunks if rng.random() < 0.5]
    multi = [p for p, c in changes.items() if len(c.hunks) >= 2 and 0 < len(chosen[p]) < len(c.hunks)]
    assert len(multi) > 20

    applied = {p: apply_hunks(base[p], chosen[p]) if p in changes else t for p, t in base.items()}
    c = repo.commit({p: t.encode() for p, t in applied.items()})
    after_apply = by_path(repo.diff(c, b))
    reverted = {p: revert_hunks(new[p], chosen[p]) if p in changes else t for p, t in new.items()}
    d = repo.commit({p: t.encode() for p, t in reverted.items()})
    after_revert = by_path(repo.diff(a, d))

    for path, change in changes.items():
        picked = {h.hunk_id for h in chosen[path]}
        others = [h for h in change.hunks if h.hunk_id not in picked]
        remaining_after_apply = after_apply[path].hunks if path in after_apply else ()
        assert [(h.hunk_id, h.old_text, h.new_text) for h in remaining_after_apply] == [
            (h.hunk_id, h.old_text, h.new_text) for h in others
        ], path
        remaining_after_revert = after_revert[path].hunks if path in after_revert else ()
        assert [h.hunk_id for h in remaining_after_revert] == [h.hunk_id for h in others], path
        # Applying the rest on top of the partially applied base gives the new text.
        assert apply_hunks(applied[path], remaining_after_apply) == new[path]
