"""A new session's first prompt: how long `agentBridge.prompt` takes to return and when `turnStarted` arrives, on a
1k and a 20k-file repository, against a plain `git worktree add` of the same repository in the same run.

As a user works: the editor attaches (the bridge starts making a spare worktree of the repository in the
background), and sessions are asked for later. Each round waits until the spare is ready (the bridge logs it), then
asks for a new session (`newSession`) of the scripted agent, so what is left is the session's preparation
(snapshot of the user's code, its worktree from the spare). The first prompt, sent as soon as the editor attached,
is timed apart: its spare is still being made. The baseline is the least a checkout of its own costs with git
alone, measured while no spare is being made.

Run: .venv/bin/python bench/bench_prompt_start.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Ctx, Row, bench_main, editor_on, git, median, ms, worktree
from tests.support.lsp_harness import Editor

RETURN_GOAL = 0.050
STARTED_GOAL = 2.0  # on the 20k-file repository


def started_pred(turn_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("turnId") == turn_id and event["kind"] == "turnStarted"


def spares_ready(editor: Editor) -> int:
    """How many spare worktrees the bridge said were ready (window/logMessage)."""
    return sum("spare worktree" in m.message and m.message.endswith("ready") for m in editor.client.log_messages)


async def spare_ready(editor: Editor, count: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while spares_ready(editor) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no spare worktree ready after {timeout:g} s")
        await asyncio.sleep(0.05)


async def measure(ctx: Ctx, files: int) -> tuple[list[float], list[float], list[float], float]:
    """(prompt returned, turnStarted arrived, plain git worktree add) in seconds per round, and the first
    prompt's turnStarted (sent as the editor attached, while its spare is being made)."""
    repo = ctx.repos.get(files)
    scratch = ctx.scratch(f"prompt-start-{files}")
    returned: list[float] = []
    started: list[float] = []
    baseline: list[float] = []
    async with editor_on(repo, ctx, f"prompt-start-{files}-bridge") as editor:
        # A first session, asked for at once, warms the agent up: the rounds measure the session's preparation.
        start = time.perf_counter()
        sid, tid = await editor.prompt("@say warm", agent="scripted")
        await editor.wait_event(started_pred(tid), 300)
        cold = time.perf_counter() - start
        await editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid})
        for i in range(ctx.rounds(3, 1)):
            await spare_ready(editor, i + 2)  # the one made at attach was taken by the first session
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
    return returned, started, baseline, cold


async def run(ctx: Ctx) -> list[Row]:
    rows = []
    for files in (ctx.small, ctx.big):
        returned, started, baseline, cold = await measure(ctx, files)
        r, s, b = median(returned), median(started), median(baseline)
        big = files == ctx.big
        rows.append(Row(f"agentBridge.prompt returns, new session, {files} files", f"git worktree add {ms(b)}",
                        ms(r), r / b, f"≤ {ms(RETURN_GOAL)}", r <= RETURN_GOAL))
        rows.append(Row(f"first turnStarted, new session, {files} files", f"git worktree add {ms(b)}", ms(s),
                        s / b, f"≤ {STARTED_GOAL:g} s" if big else "—", s <= STARTED_GOAL if big else None))
        rows.append(Row(f"first turnStarted, prompt as the editor attached (spare being made), {files} files",
                        f"git worktree add {ms(b)}", ms(cold), cold / b, "—", None))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
