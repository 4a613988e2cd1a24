"""What the bubblewrap sandbox costs: a sandboxed agent's cold first turn and warm turns against the same agent
unsandboxed, in the same run.

For each agent (the bundled scripted agent, which shows the sandbox's own cost; qwen, claude-agent-acp and
opencode against tests/support/scripted_llm.py, offline, when installed): two editors on the same repository,
one whose agent has `sandbox = true` and one without. The cold first turn includes starting the agent (for the
sandboxed one: seeding its sandbox home, building the policy and starting bwrap; for opencode, a server of its
own, which the plain agent shares and starts as the editor attaches); then turns alternate (plain, sandboxed) so
the machine's noise falls on both alike. With --quick (CI) only the scripted agent runs, and only where a
sandbox can be made.
Goal: a sandboxed warm turn ≤ 1.1x a plain one (the sandbox is set up once, at start).

Run: .venv/bin/python bench/bench_sandbox.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends import sandbox
from bench.common import Ctx, Row, bench_main, editor_on, median, ms, real_agents, timed_turn
from tests.support.real_agents import OPENCODE_MODEL

REAL = {"qwen": "qwen", "claude": "claude-agent-acp", "opencode": "opencode"}
WARM_RATIO_GOAL = 1.1


def prompt(i: int) -> str:
    return f"@write bench/sandbox{i}.txt\nturn {i}\n@end\n@say done {i}"


async def measure(ctx: Ctx, name: str, config: dict[str, Any]) -> dict[bool, tuple[float, list[float]]]:
    """sandboxed? -> (cold first turn, warm turns), seconds."""
    repo = ctx.repos.get(ctx.small)
    rounds = ctx.rounds(6, 2)
    editors = {
        boxed: editor_on(repo, ctx, f"sandbox-{name}-{'boxed' if boxed else 'plain'}",
                         {"agents": {name: {**config, "sandbox": boxed}}})
        for boxed in (False, True)
    }
    async with editors[False] as plain, editors[True] as boxed:
        found: dict[bool, tuple[float, list[float]]] = {}
        sessions: dict[bool, str] = {}
        for flag, editor in ((False, plain), (True, boxed)):
            cold, sessions[flag], _ = await timed_turn(editor, prompt(0), agent=name)
            found[flag] = (cold, [])
        for i in range(1, rounds + 1):
            for flag, editor in ((False, plain), (True, boxed)):
                elapsed, _, _ = await timed_turn(editor, prompt(i), agent=name, sessionId=sessions[flag])
                found[flag][1].append(elapsed)
    return found


def rows_for(name: str, found: dict[bool, tuple[float, list[float]]]) -> list[Row]:
    (plain_cold, plain_warm), (boxed_cold, boxed_warm) = found[False], found[True]
    p, b = median(plain_warm), median(boxed_warm)
    return [
        Row(f"sandboxed cold first turn, {name}", f"plain {ms(plain_cold)}", ms(boxed_cold),
            boxed_cold / plain_cold, "—", None),
        Row(f"sandboxed warm turn, {name}", f"plain {ms(p)}", ms(b), b / p, f"≤ {WARM_RATIO_GOAL}x",
            b / p <= WARM_RATIO_GOAL),
    ]


async def run(ctx: Ctx) -> list[Row]:
    problem = await asyncio.to_thread(sandbox.problem)
    if problem is not None:
        return [ctx.skip("sandboxed turns", problem)]
    rows = rows_for("scripted", await measure(ctx, "scripted", {"command": [sys.executable, "-m",
                                                                              "bridge.scripted_agent"]}))
    for name, argv, env in real_agents(ctx, REAL, "sandboxed turns", rows):
        config: dict[str, Any] = {"protocol": "acp", "command": argv, "env": env}
        if name == "opencode":  # over HTTP: sandboxed, a server of the session's own, started with it
            config |= {"protocol": "opencode", "model": OPENCODE_MODEL}
        rows += rows_for(name, await measure(ctx, name, config))
    return rows


if __name__ == "__main__":
    bench_main(run, __doc__)
