"""Cold against warm first turn: an editor attaches with a default agent and, after a pause such as a user takes
before typing, sends its first prompt; its turn is compared with the first turn of a second session once the agent
(for opencode, its server) is warm, in the same run.

opencode runs against tests/support/scripted_llm.py (offline) when installed (.agents/, scripts/install-agents.sh);
the scripted agent is measured too (and alone in --quick), so the bench itself is exercised everywhere.
Goal (opencode): the cold start hidden behind the pause, the cold first turn ≤ 1.5x the warm one.

Run: .venv/bin/python bench/bench_cold_start.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Ctx, Row, bench_main, editor_on, median, ms, timed_turn
from tests.support.real_agents import OPENCODE_MODEL, agent_command, agent_env
from tests.support.scripted_llm import ScriptedLLM

RATIO_GOAL = 1.5


async def measure(ctx: Ctx, name: str, config: dict[str, Any] | None) -> tuple[float, list[float]]:
    """(cold first turn, warm first turns of new sessions), seconds."""
    repo = ctx.repos.get(ctx.small)
    init: dict[str, Any] = {"defaultAgent": name}
    if config:
        init["agents"] = {name: config}
    async with editor_on(repo, ctx, f"cold-{name}", init) as editor:
        await asyncio.sleep(ctx.rounds(10, 1))  # the user reads, then types a prompt
        cold, _, _ = await timed_turn(editor, "@say first", agent=name)
        warm = [(await timed_turn(editor, f"@say again {i}", agent=name, newSession=True))[0]
                for i in range(ctx.rounds(3, 1))]
    return cold, warm


def row(name: str, cold: float, warm: list[float], pause: int, goal: bool) -> Row:
    """The goal is opencode's; the scripted agent starts a process per session, so its row is for reference."""
    w = median(warm)
    return Row(f"cold first turn, {name} (prompt {pause} s after attach)", f"warm first turn {ms(w)}", ms(cold),
               cold / w, f"≤ {RATIO_GOAL:g}x" if goal else "—", cold / w <= RATIO_GOAL if goal else None)


async def run(ctx: Ctx) -> list[Row]:
    pause = ctx.rounds(10, 1)
    cold, warm = await measure(ctx, "scripted", None)
    rows = [row("scripted agent", cold, warm, pause, goal=False)]
    if ctx.quick:
        return rows
    argv = agent_command("opencode")
    if argv is None:
        return [*rows, ctx.skip("cold first turn, opencode", "opencode is not installed (scripts/install-agents.sh)")]
    with ScriptedLLM() as llm:
        env = agent_env("opencode", llm.base_url, ctx.scratch("home-opencode"))
        config = {"protocol": "opencode", "command": argv, "model": OPENCODE_MODEL, "env": env}
        cold, warm = await measure(ctx, "opencode", config)
    return [*rows, row("opencode", cold, warm, pause, goal=True)]


if __name__ == "__main__":
    bench_main(run, __doc__)
