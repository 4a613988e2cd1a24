"""Turn-end bookkeeping: from the agent's last word on a turn (its `session/prompt` answer) to the editor's
`turnEnded`, on a 1k and a 20k-file repository.

The scripted agent runs behind bench/stamp_agent.py, which notes the wall-clock time its answer leaves the agent;
the editor notes when `turnEnded` arrives (same machine, same clock). Each turn writes one file, so what the
bridge must record is one file's change whatever the repository's size. The baseline, for scale: `git status` in
the session's worktree, the least a scan of the repository costs (the goal is work that follows the change).

Run: .venv/bin/python bench/bench_turn_end.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Ctx, Row, bench_main, editor_on, git, median, ms, timed_turn

GOALS = {"small": 0.025, "big": 0.060}


def prompt(i: int) -> str:
    return f"@write bench/end{i}.txt\nturn {i}\n@end\n@say done {i}"


async def measure(ctx: Ctx, files: int) -> tuple[list[float], float]:
    repo = ctx.repos.get(files)
    scratch = ctx.scratch(f"turn-end-{files}")
    stamps = scratch / "stamps"
    argv = [sys.executable, str(Path(__file__).with_name("stamp_agent.py")), str(stamps), "--",
            sys.executable, "-m", "bridge.scripted_agent"]
    init = {"agents": {"stamped": {"protocol": "acp", "command": argv}}}
    gaps: list[float] = []
    async with editor_on(repo, ctx, f"turn-end-{files}-bridge", init) as editor:
        arrivals: dict[str, float] = {}
        record = editor.on_event

        def on_event(event: dict[str, Any]) -> None:
            if event["kind"] == "turnEnded":
                arrivals[event["turnId"]] = time.time()
            record(event)

        editor.on_event = on_event  # type: ignore[method-assign]  # the harness calls it for every event
        _, sid, _ = await timed_turn(editor, prompt(0), agent="stamped")
        for i in range(1, ctx.rounds(8, 2) + 1):
            await timed_turn(editor, prompt(i), agent="stamped", sessionId=sid)
            answered = float(stamps.read_text().split()[-1])
            turn_id = next(e["turnId"] for e in reversed(editor.events) if e["kind"] == "turnEnded")
            gaps.append(arrivals[turn_id] - answered)
        sessions = await editor.cmd("agentBridge.sessions", {})
        wt = Path(sessions[0]["worktree"])
        times = []
        for _ in range(5):
            start = time.perf_counter()
            git(wt, "status", "--porcelain")
            times.append(time.perf_counter() - start)
    return gaps, median(times)


async def run(ctx: Ctx) -> list[Row]:
    rows = []
    for size, files in (("small", ctx.small), ("big", ctx.big)):
        gaps, status = await measure(ctx, files)
        got, goal = median(gaps), GOALS[size]
        rows.append(Row(f"turn-end bookkeeping, {files} files (agent's answer → turnEnded)",
                        f"git status {ms(status)}", ms(got), got / status, f"≤ {ms(goal)}", got <= goal))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
