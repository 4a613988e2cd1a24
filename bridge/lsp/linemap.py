"""Following the user's edits: where a line of the base text (what the agent started from) is in the live text.

Pure and near-linear. A plain `SequenceMatcher` over whole files is quadratic when lines repeat (blank lines,
braces): one typed line in a 15k-line file took 8 s, on the event loop. Here the common head and tail are cut
first (one typed line leaves a middle of a line or two), the middle is anchored on lines that occur once on
each side (patience diff), and only the small gaps between anchors go to `SequenceMatcher`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher

from bridge.textlines import split_lines

Opcode = tuple[str, int, int, int, int]

# Gaps up to this many line pairs are matched exactly; larger ones count as one replaced block.
EXACT_LIMIT = 40_000


class LineMap:
    """Maps base git line numbers to the live text's, following the user's edits since the snapshot."""

    def __init__(self, base: str, live: str) -> None:
        self._opcodes: list[Opcode] = [] if base == live else diff_texts(base, live)
        self._starts = [op[1] for op in self._opcodes]

    def __call__(self, line: int) -> int:
        if not self._opcodes:
            return line
        # The last block starting at or before the line holds it: blocks cover the base without gaps, and an
        # insertion just above the line (an empty base block) sorts before the block that holds it.
        i = bisect_right(self._starts, line) - 1
        if i >= 0:
            tag, a0, a1, b0, _ = self._opcodes[i]
            if a0 <= line < a1:
                return b0 + (line - a0) if tag == "equal" else b0
        # Past the base's end: an insertion there keeps its place before what was inserted.
        for _, a0, a1, b0, _ in self._opcodes:
            if a0 == a1 == line:
                return b0
        _, _, a1, _, b1 = self._opcodes[-1]
        return b1 + (line - a1)


def diff_texts(base: str, live: str) -> list[Opcode]:
    """`diff_lines` of two texts' git lines. The common head and tail are found by comparing the texts
    themselves (in C, by halving), so only the lines between them are split and compared in Python."""
    head_chars = _common_prefix(base, live)
    head_chars = base.rfind("\n", 0, head_chars) + 1  # back to a line start
    limit = min(len(base), len(live)) - head_chars
    tail_chars = _common_suffix(base, live, limit)
    base_end, live_end = len(base) - tail_chars, len(live) - tail_chars
    if not (_line_start(base, base_end) and _line_start(live, live_end)):
        # Forward to the next line start; the tail is the same text in both, so it moves both alike.
        step = base.find("\n", base_end)
        step = len(base) if step < 0 else step + 1
        base_end, live_end = step, live_end + (step - base_end)
    head = base.count("\n", 0, head_chars)
    middle = diff_lines(split_lines(base[head_chars:base_end]), split_lines(live[head_chars:live_end]))
    tail = base.count("\n", base_end) + (base_end < len(base) and not base.endswith("\n"))
    a_mid = middle[-1][2] if middle else 0
    b_mid = middle[-1][4] if middle else 0
    ops: list[Opcode] = []
    if head:
        ops.append(("equal", 0, head, 0, head))
    ops.extend((tag, head + a0, head + a1, head + b0, head + b1) for tag, a0, a1, b0, b1 in middle)
    if tail:
        ops.append(("equal", head + a_mid, head + a_mid + tail, head + b_mid, head + b_mid + tail))
    return _merge_equal(ops)


def _line_start(text: str, at: int) -> bool:
    return at == 0 or text[at - 1] == "\n"


def _common_prefix(x: str, y: str) -> int:
    lo, hi = 0, min(len(x), len(y))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[lo:mid] == y[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(x: str, y: str, limit: int) -> int:
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if x[len(x) - mid : len(x) - lo] == y[len(y) - mid : len(y) - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _merge_equal(ops: list[Opcode]) -> list[Opcode]:
    """Join neighbouring "equal" blocks (the head or tail next to an equal block of the middle)."""
    out: list[Opcode] = []
    for op in ops:
        if out and op[0] == "equal" and out[-1][0] == "equal":
            tag, a0, _, b0, _ = out[-1]
            out[-1] = (tag, a0, op[2], b0, op[4])
        else:
            out.append(op)
    return out


def diff_lines(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """`SequenceMatcher.get_opcodes()`-style blocks turning `a` into `b`, in near-linear time."""
    head = 0
    while head < len(a) and head < len(b) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < len(a) - head and tail < len(b) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    ops: list[Opcode] = []
    if head:
        ops.append(("equal", 0, head, 0, head))
    _middle(a, b, head, len(a) - tail, head, len(b) - tail, ops)
    if tail:
        ops.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return ops


def _middle(a: Sequence[str], b: Sequence[str], a0: int, a1: int, b0: int, b1: int, ops: list[Opcode]) -> None:
    if a0 == a1 and b0 == b1:
        return
    if a0 == a1 or b0 == b1:
        ops.append(("insert" if a0 == a1 else "delete", a0, a1, b0, b1))
        return
    if (a1 - a0) * (b1 - b0) <= EXACT_LIMIT:
        matcher = SequenceMatcher(None, a[a0:a1], b[b0:b1], autojunk=False)
        ops.extend((tag, a0 + i0, a0 + i1, b0 + j0, b0 + j1) for tag, i0, i1, j0, j1 in matcher.get_opcodes())
        return
    anchors = _unique_anchors(a, b, a0, a1, b0, b1)
    if not anchors:
        ops.append(("replace", a0, a1, b0, b1))
        return
    i, j = a0, b0
    for ai, bj in anchors:
        _middle(a, b, i, ai, j, bj, ops)
        ops.append(("equal", ai, ai + 1, bj, bj + 1))
        i, j = ai + 1, bj + 1
    _middle(a, b, i, a1, j, b1, ops)


def _unique_anchors(
    a: Sequence[str], b: Sequence[str], a0: int, a1: int, b0: int, b1: int
) -> list[tuple[int, int]]:
    """Lines that occur exactly once in each range, in an order both sides agree on (longest increasing run)."""
    count_a = Counter(a[a0:a1])
    count_b = Counter(b[b0:b1])
    where_b = {line: j for j, line in enumerate(b[b0:b1], b0) if count_b[line] == 1}
    pairs = [(i, where_b[line]) for i, line in enumerate(a[a0:a1], a0) if count_a[line] == 1 and line in where_b]
    return _longest_increasing(pairs)


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of `pairs` (already increasing in their first item) increasing in the second too."""
    tails: list[int] = []  # tails[k]: index into pairs of the smallest end of a run of length k + 1
    tail_values: list[int] = []
    back: list[int] = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect_right(tail_values, j)
        if k and tail_values[k - 1] == j:
            continue
        back[n] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(n)
            tail_values.append(j)
        else:
            tails[k] = n
            tail_values[k] = j
    run: list[tuple[int, int]] = []
    n = tails[-1] if tails else -1
    while n >= 0:
        run.append(pairs[n])
        n = back[n]
    return run[::-1]
