"""Pending refresh after an agent edited 5 files, on a 1k and a 20k-file repository, against `git diff --stat BASE`
in the same worktree (what git itself needs to find the changes), same run.

The refresh is what a session runs after each turn and each review action (`pending_with_bases`: the pending
changes computed from git and the base text of each changed file); `pending_changes` alone is shown in brackets.
The agent's edits are committed in the worktree, as the bridge records a turn.

Run: .venv/bin/python bench/bench_pending.py [--quick]
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Ctx, Row, bench_main, median, ms
from bridge.core.session import pending_with_bases
from bridge.git import linked, pending, worktrees

RATIO_GOAL = 1.2
EDITED = 5


def timed(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return median(times)


def measure(ctx: Ctx, files: int) -> tuple[float, float, float]:
    """(git diff --stat BASE, pending_with_bases, pending_changes), seconds."""
    repo = ctx.repos.get(files)
    wt = ctx.scratch(f"pending-{files}") / "wt"
    base = worktrees.snapshot_base(repo, {})
    worktrees.create_worktree(repo, wt, f"bench-pending-{files}", base)
    tree = linked.locate(repo, wt)
    for i in range(EDITED):
        path = wt / f"pkg{i // 500:03d}" / f"mod{i:05d}.py"
        path.write_text(path.read_text().replace("line 10 ", "AGENT 10 ").replace("line 30 ", "AGENT 30 "))
    worktrees.commit_all(tree, "agent turn")
    rounds = ctx.rounds(15, 3)
    diff = ["git", "-C", str(wt), "diff", "--stat", base]
    timed(lambda: subprocess.run(diff, capture_output=True, check=True), 2)  # warm caches for both sides
    baseline = timed(lambda: subprocess.run(diff, capture_output=True, check=True), rounds)
    refresh = timed(lambda: pending_with_bases(tree, base), rounds)
    changes = timed(lambda: pending.pending_changes(tree, base), rounds)
    assert len(pending.pending_changes(tree, base)) == EDITED
    return baseline, refresh, changes


async def run(ctx: Ctx) -> list[Row]:
    rows = []
    for files in (ctx.small, ctx.big):
        baseline, refresh, changes = measure(ctx, files)
        rows.append(Row(f"pending refresh, {EDITED} edited files, {files} files",
                        f"git diff --stat BASE {ms(baseline)}", f"{ms(refresh)} ({ms(changes)})",
                        refresh / baseline, f"≤ {RATIO_GOAL:g}x", refresh / baseline <= RATIO_GOAL))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
