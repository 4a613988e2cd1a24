"""How the review path scales, as ratios against a baseline measured in the same run.

- pending: computing pending hunks (`pending.pending_changes`) for a worktree with many edited files,
  against plain `git diff --stat` on the same worktree (what git itself needs to find the changes).
- coalesce: agent text deltas in, notifications out, for a fast-streaming agent.

Run: .venv/bin/python bench/bench_review.py [--files N] [--edited M] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bridge.core.coalesce import TextCoalescer
from bridge.git import linked, pending, worktrees


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
                   check=True, capture_output=True)


def _best(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_pending(files: int, edited: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        _git(repo, "init", "-q")
        for i in range(files):
            (repo / f"mod{i:04d}.py").write_text("".join(f"line {j} of file {i}\n" for j in range(200)))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "init")
        base = worktrees.snapshot_base(repo, {})
        wt = Path(tmp) / "wt"
        worktrees.create_worktree(repo, wt, "bench", base)
        tree = linked.locate(repo, wt)
        for i in range(edited):
            path = wt / f"mod{i:04d}.py"
            text = path.read_text().replace("line 100 ", "LINE 100 ").replace("line 150 ", "changed 150 ")
            path.write_text(text)
        baseline = _best(lambda: subprocess.run(["git", "-C", str(wt), "diff", "--stat", base],
                                                capture_output=True, check=True), rounds)
        measured = _best(lambda: pending.pending_changes(tree, base), rounds)
        hunks = sum(len(c.hunks) for c in pending.pending_changes(tree, base))
        print(f"pending: {files} files, {edited} edited, {hunks} hunks: {measured * 1000:.1f} ms "
              f"vs git diff --stat {baseline * 1000:.1f} ms -> ratio {measured / baseline:.2f}")


def bench_coalesce(deltas: int) -> None:
    sent: list[str] = []

    async def flush(kind: str, text: str) -> None:
        sent.append(text)

    async def stream() -> float:
        coalescer = TextCoalescer(flush)
        start = time.perf_counter()
        for i in range(deltas):
            await coalescer.add("text", f"tok{i} ")
            if i % 50 == 0:
                await asyncio.sleep(0.001)  # an agent streaming ~50 tokens a millisecond burst
        await coalescer.flush()
        return time.perf_counter() - start

    elapsed = asyncio.run(stream())
    assert "".join(sent) == "".join(f"tok{i} " for i in range(deltas))
    print(f"coalesce: {deltas} deltas in {elapsed * 1000:.0f} ms -> {len(sent)} notifications "
          f"(ratio {len(sent) / deltas:.4f} of the deltas)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--edited", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deltas", type=int, default=20000)
    args = parser.parse_args()
    bench_pending(args.files, args.edited, args.rounds)
    bench_coalesce(args.deltas)


if __name__ == "__main__":
    main()
