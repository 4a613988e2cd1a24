"""Warm turns through the bridge against the same agent driven directly with the ACP SDK, in the same run.

For each agent (the bundled scripted agent, which needs no model and so shows the bridge's own cost; qwen and
claude-agent-acp against tests/support/scripted_llm.py, offline): a 1k-file repository; the direct agent works in
a plain `git worktree add` of it, the bridge's in its session worktree. After one turn each to warm up, turns
alternate (direct, bridge) so that the machine's noise falls on both alike. Each turn writes a new file and
answers; the bridge's figure runs from sending `agentBridge.prompt` to `agentBridge.awaitTurn` answering, the
direct one from `session/prompt` to its answer. Also printed: the bridge's cold first turn against its warm turn.
With --quick (CI) only the scripted agent runs.

Run: .venv/bin/python bench/bench_turn.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Ctx,
    Row,
    bench_main,
    direct_agent,
    editor_on,
    median,
    ms,
    real_agents,
    timed_turn,
    worktree,
)

# bridge agent name -> binary (tests/support/real_agents.py); "scripted" is the bundled agent
REAL = {"qwen": "qwen", "claude": "claude-agent-acp"}
SCRIPTED_ADDED_GOAL = 0.010
REAL_RATIO_GOAL = 1.1


def prompt(i: int) -> str:
    return f"@write bench/turn{i}.txt\nturn {i}\n@end\n@say done {i}"


async def measure(ctx: Ctx, name: str, argv: list[str], env: dict[str, str],
                  config: dict[str, Any] | None) -> tuple[list[float], list[float], float]:
    """(direct warm turns, bridge warm turns, bridge cold first turn)."""
    repo = ctx.repos.get(ctx.small)
    scratch = ctx.scratch(f"turn-{name}")
    wt = worktree(repo, scratch / "direct")
    rounds = ctx.rounds(6, 2)
    direct: list[float] = []
    bridged: list[float] = []
    init = {"agents": {name: config}} if config else None
    async with direct_agent(argv, wt, env, scratch / "direct.stderr") as turn, \
            editor_on(repo, ctx, f"turn-{name}-bridge", init) as editor:
        await turn(prompt(0))
        cold, sid, _ = await timed_turn(editor, prompt(0), agent=name)
        for i in range(1, rounds + 1):
            direct.append(await turn(prompt(i)))
            elapsed, _, _ = await timed_turn(editor, prompt(i), agent=name, sessionId=sid)
            bridged.append(elapsed)
    return direct, bridged, cold


def rows_for(name: str, direct: list[float], bridged: list[float], cold: float, repo_files: int) -> list[Row]:
    d, b = median(direct), median(bridged)
    if name == "scripted":
        goal, met = f"≤ {SCRIPTED_ADDED_GOAL * 1000:.0f} ms added", b - d <= SCRIPTED_ADDED_GOAL
        label = f"warm turn, scripted agent ({repo_files} files; added {ms(b - d)})"
    else:
        goal, met = f"≤ {REAL_RATIO_GOAL}x", b / d <= REAL_RATIO_GOAL
        label = f"warm turn, {name}"
    return [
        Row(label, f"direct ACP SDK {ms(d)}", ms(b), b / d, goal, met),
        Row(f"cold first turn vs warm, {name}", f"warm {ms(b)}", f"cold {ms(cold)}", cold / b, "—", None),
    ]


async def run(ctx: Ctx) -> list[Row]:
    rows: list[Row] = []
    scripted = [sys.executable, "-m", "bridge.scripted_agent"]
    direct, bridged, cold = await measure(ctx, "scripted", scripted, {}, None)
    rows += rows_for("scripted", direct, bridged, cold, ctx.small)
    for name, argv, env in real_agents(ctx, REAL, "warm turn", rows):
        config = {"protocol": "acp", "command": argv, "env": env}
        direct, bridged, cold = await measure(ctx, name, argv, env, config)
        rows += rows_for(name, direct, bridged, cold, ctx.small)
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
