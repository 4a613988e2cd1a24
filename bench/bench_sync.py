"""How catching a session worktree up with the user's code scales, as ratios against a baseline measured in the
same run (these machines are noisy; absolute times mean little).

A repository of N files; the agent has unreviewed edits in a few of them; the user changed M files since the
session's base (one of them also edited by the agent). Measured: `sync.catch_up` (snapshot of the user's code,
three-way merge of the agent's files, moving the worktree). Baseline: `git status` in the user's checkout, the
least any tool must do to notice what the user changed. A ratio that stays flat while N grows means the cost
follows the change, not the repository.

Run: .venv/bin/python bench/bench_sync.py [--files N ...] [--changed M] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bridge.git import linked, sync, worktrees


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
                   check=True, capture_output=True)


def _median(fn: Callable[[], object], rounds: int, setup: Callable[[], object] = lambda: None) -> float:
    times = []
    for _ in range(rounds):
        setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_catch_up(files: int, changed: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        _git(repo, "init", "-q")
        for i in range(files):
            sub = repo / f"pkg{i // 500:03d}"
            sub.mkdir(exist_ok=True)
            (sub / f"mod{i:05d}.py").write_text("".join(f"line {j} of file {i}\n" for j in range(40)))
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "init")
        _git(repo, "status", "--porcelain")  # a warm index, as in a repository the user works in
        base = worktrees.snapshot_base(repo, {})
        wt = Path(tmp) / "wt"
        worktrees.create_worktree(repo, wt, "bench", base)
        tree = linked.locate(repo, wt)
        for i in range(5):  # the agent's unreviewed work, one file shared with the user
            path = wt / f"pkg000/mod{i:05d}.py"
            path.write_text(path.read_text().replace("line 30 ", "AGENT 30 "))
        worktrees.commit_all(tree, "agent turn")
        agent_head = worktrees.head(tree)
        state = {"round": 0}

        def user_edits() -> None:
            # A new edit each round, so every catch-up has real work; the worktree starts from the agent's turn.
            state["round"] += 1
            for i in range(changed):
                path = repo / f"pkg{i // 500:03d}" / f"mod{i:05d}.py"
                text = "".join(f"line {j} of file {i}\n" for j in range(40))
                path.write_text(text.replace("line 2 ", f"USER {state['round']} "))
            subprocess.run(["git", "-C", str(wt), "reset", "-q", "--hard", agent_head], check=True)

        baseline = _median(lambda: subprocess.run(["git", "-C", str(repo), "status", "--porcelain"],
                                                  capture_output=True, check=True), rounds, user_edits)
        measured = _median(lambda: sync.catch_up(repo, tree, base, {}), rounds, user_edits)
        print(f"catch-up: {files} files, user changed {changed}, agent 5: {measured * 1000:.1f} ms "
              f"(git status {baseline * 1000:.1f} ms): ratio {measured / baseline:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--changed", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for files in args.files:
        bench_catch_up(files, args.changed, args.rounds)


if __name__ == "__main__":
    main()
