"""bridge.lsp.linemap: following the user's edits from the base to the live text, in near-linear time."""

from __future__ import annotations

import random
from difflib import SequenceMatcher

import pytest

from bridge.lsp.linemap import LineMap, diff_lines, diff_texts
from bridge.textlines import split_lines

# LineMap


def test_line_map_identity_and_shift() -> None:
    same = LineMap("a\nb\n", "a\nb\n")
    assert [same(i) for i in range(3)] == [0, 1, 2]
    shifted = LineMap("a\nb\nc\n", "new1\nnew2\na\nb\nc\n")
    assert [shifted(i) for i in range(4)] == [2, 3, 4, 5]


def test_line_map_line_just_below_user_insertion_follows_its_content() -> None:
    # The user typed a line between "a" and "b": base line 1 ("b") is now live line 2, not the new line.
    line_map = LineMap("a\nb\nc\n", "a\nNEW\nb\nc\n")
    assert [line_map(i) for i in range(4)] == [0, 2, 3, 4]


def test_line_map_deletion_and_replacement() -> None:
    deleted = LineMap("a\nb\nc\nd\n", "a\nd\n")
    assert [deleted(i) for i in range(5)] == [0, 1, 1, 1, 2]  # deleted lines collapse onto where they were
    replaced = LineMap("a\nb\nc\n", "a\nB1\nB2\nc\n")
    assert [replaced(i) for i in range(4)] == [0, 1, 3, 4]


def test_line_map_end_of_text_with_appended_lines() -> None:
    appended = LineMap("a\nb\n", "a\nb\nc\nd\n")
    assert [appended(i) for i in range(2)] == [0, 1]
    assert appended(2) == 2  # an insertion point at the old end stays before what the user appended


def _check_opcodes(a: list[str], b: list[str], ops: list[tuple[str, int, int, int, int]]) -> None:
    """Blocks cover both sides in order without gaps, and "equal" blocks really are equal."""
    i = j = 0
    for tag, a0, a1, b0, b1 in ops:
        assert (a0, b0) == (i, j)
        if tag == "equal":
            assert a[a0:a1] == b[b0:b1]
        i, j = a1, b1
    assert (i, j) == (len(a), len(b))


@pytest.mark.parametrize("seed", range(40))
def test_diff_lines_is_a_correct_diff(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["}\n", "\n", "x = 1\n", "return\n"] + [f"line {n}\n" for n in range(30)]
    a = [rng.choice(alphabet) for _ in range(rng.randint(0, 400))]
    b = list(a)
    for _ in range(rng.randint(0, 12)):
        at = rng.randint(0, len(b))
        if rng.random() < 0.5 or not b:
            b[at:at] = [rng.choice(alphabet) for _ in range(rng.randint(1, 300))]
        else:
            del b[at : at + rng.randint(1, 50)]
    _check_opcodes(a, b, diff_lines(a, b))


def test_small_changes_map_as_an_exact_diff_does() -> None:
    base = "".join(f"def f{n}():\n    return {n}\n\n" for n in range(50))
    live = base.replace("    return 7\n", "    # note\n    return 7\n").replace("def f30", "def g30")
    a, b = split_lines(base), split_lines(live)
    assert diff_lines(a, b) == SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def test_one_typed_line_in_a_big_file_of_repeated_lines() -> None:
    """The case that froze the server for 8 s: repeated lines everywhere, one line typed near the top."""
    base = "{\n}\n\n" * 5000
    live = "# typed\n" + base
    line_map = LineMap(base, live)
    assert line_map(0) == 1 and line_map(14_999) == 15_000


def test_a_big_rewrite_still_maps_unique_lines() -> None:
    """Past the exact limit the middle is anchored on lines unique to both sides."""
    a = [f"unique {n}\n" if n % 3 == 0 else "same\n" for n in range(3000)]
    b = ["new\n"] * 500 + a[:1500] + ["other\n"] * 400 + a[1500:]
    line_map = LineMap("".join(a), "".join(b))
    assert line_map(0) == 500
    assert line_map(1500) == 2400  # "unique 1500", after the 400 inserted lines
    _check_opcodes(a, b, diff_lines(a, b))


@pytest.mark.parametrize("seed", range(200))
def test_diff_texts_is_a_correct_diff_of_the_lines(seed: int) -> None:
    """Cutting the common head and tail on the texts lands on line starts of both, whatever the edit."""
    rng = random.Random(seed)
    pieces = ["a", "b", "\n", "\n", "ab\n", "\r\n", "x"]
    base = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
    live = base
    for _ in range(rng.randint(0, 3)):
        at = rng.randint(0, len(live))
        cut = rng.randint(0, 5)
        live = live[:at] + "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4))) + live[at + cut :]
    a, b = split_lines(base), split_lines(live)
    _check_opcodes(a, b, diff_texts(base, live))
    line_map = LineMap(base, live)
    for line in range(len(a)):
        mapped = line_map(line)
        assert 0 <= mapped <= len(b)
    if base == live:
        assert [line_map(i) for i in range(len(a))] == list(range(len(a)))
