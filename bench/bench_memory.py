"""The bridge's memory: resident set size of the daemon (the process editors attach to) with 20 and 100 sessions,
against the same daemon idle with none, same run.

Sessions are opened with the scripted agent on a 1k-file repository, a few at a time (the warm agents are capped,
so older ones are stopped as new ones start; their sessions, worktrees and hunks stay). Each session's turn writes
a file, so every session holds a pending hunk. Agent processes are not counted: only the bridge's own RSS.

Run: .venv/bin/python bench/bench_memory.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Ctx, Row, bench_main, editor_on, rss_mb
from tests.support.daemons import daemon_pid
from tests.support.lsp_harness import Editor

GOAL_MB = 150.0
AT_ONCE = 8  # the bridge's default cap on live agents


async def open_sessions(editor: Editor, first: int, last: int) -> None:
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(i: int) -> None:
        async with gate:
            text = f"@write bench/mem{i}.txt\nsession {i}\n@end\n@say ok"
            _, _, result = await editor.run(text, timeout=600, agent="scripted", newSession=True)
            if result.get("status") != "completed":
                raise RuntimeError(f"session {i}: {result}")

    await asyncio.gather(*(one(i) for i in range(first, last)))


async def run(ctx: Ctx) -> list[Row]:
    counts = (2, 4) if ctx.quick else (20, 100)
    repo = ctx.repos.get(ctx.small)
    rows = []
    async with editor_on(repo, ctx, "memory") as editor:
        pid = daemon_pid(editor.state_dir)
        await editor.cmd("agentBridge.sessions", {})
        idle = rss_mb(pid)
        opened = 0
        for count in counts:
            await open_sessions(editor, opened, count)
            opened = count
            sessions = await editor.cmd("agentBridge.sessions", {})
            assert len(sessions) == count, len(sessions)
            await asyncio.sleep(1)  # let the last turns' bookkeeping settle
            got = rss_mb(pid)
            last = count == counts[-1]
            rows.append(Row(f"bridge RSS, {count} sessions", f"idle {idle:.0f} MB", f"{got:.0f} MB", got / idle,
                            f"≤ {GOAL_MB:.0f} MB" if last else "—", got <= GOAL_MB if last else None))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
