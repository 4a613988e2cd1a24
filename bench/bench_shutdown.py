"""How long `shutdown` takes to answer with warm agents, as a ratio against a bridge with none (same run).

Agents that take seconds to stop (claude-agent-acp: ~2 s each) must not hold up the answer: eglot gives up
after 1.5 s. Each round starts the real server over stdio, warms N scripted agents that linger for
`--linger` seconds after their input ends (`@slow-exit`), and times the `shutdown` request alone; `exit`
then waits for them. The baseline is the same bridge with no agent.

What is measured is the in-process server (`serve --no-daemon`), whose `exit` itself waits for the agents.
With `--daemon` it is `serve` as editors run it (a relay to the state dir's daemon, AGENT_BRIDGE_DAEMON_LINGER=0):
the answer crosses the relay, and "exit done" is when the daemon, its last window gone, has stopped them and ended.

Run: .venv/bin/python bench/bench_shutdown.py [--agents N] [--linger S] [--rounds R] [--daemon]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.daemons import wait_daemon_gone  # noqa: E402
from tests.support.lsp_harness import make_repo, start_editor  # noqa: E402


async def one_round(agents: int, linger: float, daemon: bool) -> tuple[float, float]:
    """(seconds to answer `shutdown`, seconds until the bridge ended after `exit`)."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = make_repo(Path(tmp) / "project", {"a.py": "x = 1\n"})
        editor = await start_editor(repo, Path(tmp) / "state", Path(tmp) / "agent.log", daemon=daemon)
        for _ in range(agents):
            _, _, result = await editor.run(f"@slow-exit {linger}\n@say warm")
            assert result["status"] == "completed", result
        start = time.perf_counter()
        await editor.client.shutdown_async(None)
        answered = time.perf_counter() - start
        editor.client.exit(None)
        server = editor.client._server
        assert server is not None
        await server.wait()
        if daemon:
            await wait_daemon_gone(Path(tmp) / "state", timeout=120)
        return answered, time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--linger", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--daemon", action="store_true", help="measure `serve` through the daemon")
    args = parser.parse_args()
    print("bridge:", "the daemon, through a relay (serve)" if args.daemon else "in-process (serve --no-daemon)")
    base = [await one_round(0, args.linger, args.daemon) for _ in range(args.rounds)]
    warm = [await one_round(args.agents, args.linger, args.daemon) for _ in range(args.rounds)]
    base_answer = statistics.median(a for a, _ in base)
    warm_answer = statistics.median(a for a, _ in warm)
    warm_exit = statistics.median(e for _, e in warm)
    print(f"shutdown answer, no agents:        {base_answer * 1000:8.1f} ms (baseline)")
    print(f"shutdown answer, {args.agents} warm agents:   {warm_answer * 1000:8.1f} ms "
          f"(x{warm_answer / base_answer:.2f} the baseline)")
    print(f"exit done, {args.agents} agents lingering {args.linger:g} s: {warm_exit:8.2f} s "
          f"(stopped concurrently: about one linger, not {args.agents})")


if __name__ == "__main__":
    asyncio.run(main())
