"""LSP requests while a turn streams, against the same requests on an idle bridge (p50 / p99), same run.

The real server over stdio, a 1k-file repository, the scripted agent. A first turn leaves a pending hunk in a file
the editor has open; then `textDocument/codeAction` on that hunk's line and `agentBridge.sessions` are sent one
after the other, with nothing running and while a turn streams text (word by word, with pauses) and writes files,
the two phases alternating three times. A request's figure is from sending it to its answer.

Run: .venv/bin/python bench/bench_lsp_latency.py [--quick]
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

from bench.common import Ctx, Row, bench_main, editor_on, ms, percentile, timed_turn
from tests.support.lsp_harness import Editor

FILE = "pkg000/mod00000.py"
RATIO_GOAL = 2.0
IDLE_P50_GOAL = 0.002


def stream_script(steps: int) -> str:
    words = " ".join(f"word{i}" for i in range(20))
    lines: list[str] = []
    for k in range(steps):
        lines += [f"@say {words}", "@sleep 0.02"]
        if k % 10 == 0:
            lines += [f"@write bench/stream{k}.txt", f"step {k}", "@end"]
    return "\n".join([*lines, "@say done"])


def text_of(turn_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("turnId") == turn_id and event["kind"] == "text"


async def sample(editor: Editor, uri: str, until: asyncio.Future[object] | None,
                 count: int) -> dict[str, list[float]]:
    got: dict[str, list[float]] = {"codeAction": [], "agentBridge.sessions": []}
    while (until is None and len(got["codeAction"]) < count) or (until is not None and not until.done()):
        start = time.perf_counter()
        await editor.code_actions(uri, 30)
        got["codeAction"].append(time.perf_counter() - start)
        start = time.perf_counter()
        await editor.cmd("agentBridge.sessions", {})
        got["agentBridge.sessions"].append(time.perf_counter() - start)
    return got


async def run(ctx: Ctx) -> list[Row]:
    repo = ctx.repos.get(ctx.small)
    original = (repo / FILE).read_text()
    changed = original.replace("line 30 of", "AGENT 30 of")
    async with editor_on(repo, ctx, "lsp-latency") as editor:
        uri = editor.open(FILE)
        body = "\n".join([f"@write {FILE}", *changed.splitlines(), "@end", "@say ok"])
        _, sid, _ = await timed_turn(editor, body, agent="scripted")
        assert await editor.code_actions(uri, 30), "the pending hunk offers no code action"
        await sample(editor, uri, None, 20)  # warm-up
        idle: dict[str, list[float]] = {}
        busy: dict[str, list[float]] = {}
        # Idle and streaming phases alternate, so that the machine's load falls on both alike.
        for _ in range(ctx.rounds(3, 1)):
            for name, times in (await sample(editor, uri, None, ctx.rounds(70, 30))).items():
                idle.setdefault(name, []).extend(times)
            _, tid = await editor.prompt(stream_script(ctx.rounds(150, 40)), agent="scripted", sessionId=sid)
            await editor.wait_event(text_of(tid))
            ended = asyncio.ensure_future(editor.cmd("agentBridge.awaitTurn", {"sessionId": sid, "turnId": tid}))
            for name, times in (await sample(editor, uri, ended, 0)).items():
                busy.setdefault(name, []).extend(times)
            result = await ended
            if result.get("status") != "completed":
                raise RuntimeError(f"streaming turn: {result}")
    rows = []
    for name in ("codeAction", "agentBridge.sessions"):
        i50, i99 = percentile(idle[name], 50), percentile(idle[name], 99)
        b50, b99 = percentile(busy[name], 50), percentile(busy[name], 99)
        rows.append(Row(f"{name} while a turn streams, p99 (p50), {len(busy[name])} requests",
                        f"idle {ms(i99)} ({ms(i50)})", f"{ms(b99)} ({ms(b50)})", b99 / i99,
                        f"≤ {RATIO_GOAL:g}x idle p99", b99 / i99 <= RATIO_GOAL))
    c50 = percentile(idle["codeAction"], 50)
    rows.append(Row("idle codeAction p50", "—", ms(c50), None, f"≤ {ms(IDLE_P50_GOAL)}", c50 <= IDLE_P50_GOAL))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
