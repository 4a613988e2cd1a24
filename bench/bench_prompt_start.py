"""A new session's first prompt: how long `agentBridge.prompt` takes to return and when `turnStarted` arrives, on a
1k and a 20k-file repository, against a plain `git worktree add` of the same repository in the same run.

Each round asks for a new session (`newSession`) of the scripted agent, which is warm after the first round, so
what is left is the session's preparation (snapshot of the user's code, its worktree). The baseline is the least
a checkout of its own costs with git alone.

Run: .venv/bin/python bench/bench_prompt_start.py [--quick]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Ctx, Row, bench_main, editor_on, git, median, ms, worktree

RETURN_GOAL = 0.050
STARTED_GOAL = 2.0  # on the 20k-file repository


def started_pred(turn_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("turnId") == turn_id and event["kind"] == "turnStarted"


async def measure(ctx: Ctx, files: int) -> tuple[list[float], list[float], list[float]]:
    """(prompt returned, turnStarted arrived, plain git worktree add), seconds per round."""
    repo = ctx.repos.get(files)
    scratch = ctx.scratch(f"prompt-start-{files}")
    returned: list[float] = []
    started: list[float] = []
    baseline: list[float] = []
    async with editor_on(repo, ctx, f"prompt-start-{files}-bridge") as editor:
        # A first session warms the agent up, so the rounds measure the session's preparation alone.
        await editor.run("@say warm", agent="scripted", timeout=300)
        for i in range(ctx.rounds(3, 1)):
            start = time.perf_counter()
            worktree(repo, scratch / f"wt{i}")
            baseline.append(time.perf_counter() - start)
            git(repo, "worktree", "remove", "--force", str(scratch / f"wt{i}"))
            start = time.perf_counter()
            sid, tid = await editor.prompt(f"@say round {i}", agent="scripted", newSession=True)
            returned.append(time.perf_counter() - start)
            await editor.wait_event(started_pred(tid), 300)
            started.append(time.perf_counter() - start)
            await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
    return returned, started, baseline


async def run(ctx: Ctx) -> list[Row]:
    rows = []
    for files in (ctx.small, ctx.big):
        returned, started, baseline = await measure(ctx, files)
        r, s, b = median(returned), median(started), median(baseline)
        big = files == ctx.big
        rows.append(Row(f"agentBridge.prompt returns, new session, {files} files", f"git worktree add {ms(b)}",
                        ms(r), r / b, f"≤ {ms(RETURN_GOAL)}", r <= RETURN_GOAL))
        rows.append(Row(f"first turnStarted, new session, {files} files", f"git worktree add {ms(b)}", ms(s),
                        s / b, f"≤ {STARTED_GOAL:g} s" if big else "—", s <= STARTED_GOAL if big else None))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
