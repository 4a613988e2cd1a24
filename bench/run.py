"""Runs every bench of the suite and prints one table: each metric against a baseline measured in the same run,
the ratio, the goal (issue 15) and whether it is met.

`--quick` (what CI runs): small repositories and few rounds, real agents left out; it checks that every bench
runs and prints its rows, and asserts nothing about time. By default the sizes are the goals' own (1k and 20k
files, real agents when installed). `--write SECTION` puts the table, with the machine, versions and date, in
docs/performance.md under SECTION (e.g. `before`, `after`), replacing that section's previous table.

Run: .venv/bin/python bench/run.py [--quick] [--write SECTION] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import (
    bench_cold_start,
    bench_lsp_latency,
    bench_memory,
    bench_pending,
    bench_prompt_start,
    bench_sandbox,
    bench_turn,
    bench_turn_end,
)
from bench.common import REPO_ROOT, Bench, Ctx, Repos, Row, table
from tests.support.real_agents import agent_bin

BENCHES: dict[str, Bench] = {
    "pending": bench_pending.run,
    "turn_end": bench_turn_end.run,
    "lsp_latency": bench_lsp_latency.run,
    "prompt_start": bench_prompt_start.run,
    "turn": bench_turn.run,
    "cold_start": bench_cold_start.run,
    "memory": bench_memory.run,
    "sandbox": bench_sandbox.run,
}
DOC = REPO_ROOT / "docs" / "performance.md"


def machine() -> str:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores, {int(mem.split()[1]) / 1024 / 1024:.1f} GB RAM, {platform.system()} "
            f"{platform.release()}, load average {load:.1f} at the start")


def agent_version(name: str) -> str:
    exe = agent_bin(name)
    if exe is None:
        return f"{name} not installed"
    for parent in exe.resolve().parents:  # the npm package the binary belongs to
        manifest = parent / "package.json"
        if manifest.is_file():
            data = json.loads(manifest.read_text())
            return f"{data.get('name', name)} {data.get('version', '?')}"
    return f"{name} (version unknown)"


def versions() -> str:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip() or "?"
    agents = ", ".join(agent_version(name) for name in ("qwen", "claude-agent-acp", "opencode"))
    return f"agent-bridge {head}, Python {platform.python_version()}, {git}, {agents}"


def write(section: str, rows: list[Row], header: str) -> None:
    block = f"<!-- bench:{section} -->\n{header}\n\n{table(rows)}\n<!-- /bench:{section} -->"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    pattern = re.compile(rf"<!-- bench:{re.escape(section)} -->.*?<!-- /bench:{re.escape(section)} -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)


async def run_all(ctx: Ctx, names: list[str]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    failed: list[str] = []
    for name in names:
        start = time.perf_counter()
        print(f"-- {name} ...", flush=True)
        try:
            got = await BENCHES[name](ctx)
        except Exception:
            traceback.print_exc()
            got = []
        if not got:
            failed.append(name)
            rows.append(Row(f"{name}: FAILED", "—", "the bench raised or printed no row", None, "—", None))
        for row in got:
            print("   " + " | ".join(row.cells()), flush=True)
        rows += got
        print(f"-- {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return rows, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few rounds, no real agents (CI)")
    parser.add_argument("--write", metavar="SECTION", help="put the table in docs/performance.md under SECTION")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these benches")
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.UTC)
    header = (f"{'Quick run' if args.quick else 'Run'} of {started:%Y-%m-%d %H:%M} UTC. Machine: {machine()}. "
              f"Versions: {versions()}.")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = Ctx(args.quick, Repos(Path(tmp) / "repos"), Path(tmp))
        rows, failed = asyncio.run(run_all(ctx, args.only or list(BENCHES)))
    print()
    print(header)
    print(table(rows))
    for note in ctx.notes:
        print(f"note: {note}")
    if args.write:
        write(args.write, rows, header)
        print(f"written to {DOC.relative_to(REPO_ROOT)} ({args.write})")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
