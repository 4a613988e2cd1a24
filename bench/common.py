"""What the bench scripts share: the result row, generated repositories (cached by size for one run), the real
server as an editor drives it, and a plain ACP client for driving an agent directly (the baselines).

Every figure is compared with a baseline measured in the same run: this 2-core machine is shared and noisy, so
absolute times mean little and ratios are what the goals are stated in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python bench/bench_x.py` from anywhere: the tests' support code
    sys.path.insert(0, str(REPO_ROOT))
# The bridge and agents the benches start are this checkout's, whatever the venv's install points at.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))

import acp  # noqa: E402
from acp import schema  # noqa: E402

from tests.support.lsp_harness import Editor, start_editor  # noqa: E402
from tests.support.real_agents import agent_command, agent_env  # noqa: E402
from tests.support.scripted_llm import ScriptedLLM  # noqa: E402


@dataclass
class Row:
    """One line of the table: a metric, its baseline in the same run, the product's figure, and the goal."""

    metric: str
    baseline: str
    product: str
    ratio: float | None
    goal: str
    met: bool | None  # None: no goal applies, or it could not be measured (the product column says why)

    def cells(self) -> list[str]:
        ratio = "—" if self.ratio is None else f"{self.ratio:.2f}x"
        met = "—" if self.met is None else ("yes" if self.met else "NO")
        return [self.metric, self.baseline, self.product, ratio, self.goal, met]


HEADER = ["metric", "baseline (same run)", "agent-bridge", "ratio", "goal", "met?"]


def table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def percentile(xs: list[float], p: float) -> float:
    """Nearest-rank percentile: with few samples p99 is the worst one, which is the honest reading."""
    ordered = sorted(xs)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@b", *args],
                          check=True, capture_output=True, text=True).stdout


class Repos:
    """Repositories of N files, generated once per run under `root` (plain file I/O, one `git add`, one commit).

    Benches share them; each bench's sessions live in a state dir of its own, so what the bridge adds to a
    repository (worktree metadata, refs) does not change what another bench measures.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: dict[int, Path] = {}

    def get(self, files: int) -> Path:
        if files in self._made:
            return self._made[files]
        repo = self.root / f"repo-{files}"
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        for i in range(files):
            sub = repo / f"pkg{i // 500:03d}"
            if i % 500 == 0:
                sub.mkdir()
            (sub / f"mod{i:05d}.py").write_text("".join(f"line {j} of file {i}\n" for j in range(40)))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "initial")
        git(repo, "status", "--porcelain")  # a warm index, as in a repository the user works in
        self._made[files] = repo
        return repo


@dataclass
class Ctx:
    """One run: quick (CI: small sizes, few rounds) or full (the issue's sizes), its repositories and scratch."""

    quick: bool
    repos: Repos
    tmp: Path
    notes: list[str] = field(default_factory=list)  # what was skipped and why, for the report

    @property
    def small(self) -> int:
        return 200 if self.quick else 1000

    @property
    def big(self) -> int:
        return 1000 if self.quick else 20000

    def rounds(self, full: int, quick: int = 2) -> int:
        return quick if self.quick else full

    def scratch(self, name: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.tmp))
        return path

    def skip(self, what: str, why: str) -> Row:
        self.notes.append(f"{what}: {why}")
        return Row(what, "—", f"skipped: {why}", None, "—", None)


def real_agents(
    ctx: Ctx, agents: Mapping[str, str], what: str, rows: list[Row]
) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """(name, argv, env) of each installed real agent of `agents` (name -> binary), its scripted LLM running while
    the caller measures it; a skipped row in `rows` for the others, and for every one in --quick (a real agent's
    cold start alone takes seconds here: CI keeps --quick short)."""
    for name, binary in agents.items():
        if ctx.quick:
            rows.append(ctx.skip(f"{what}, {name}", "not run in --quick"))
            continue
        argv = agent_command(binary)
        if argv is None:
            rows.append(ctx.skip(f"{what}, {name}", f"{binary} is not installed (scripts/install-agents.sh)"))
            continue
        with ScriptedLLM() as llm:
            yield name, argv, agent_env(binary, llm.base_url, ctx.scratch(f"home-{name}"))


Bench = Callable[[Ctx], Coroutine[Any, Any, list[Row]]]


def bench_main(run: Bench, doc: str | None) -> None:
    """`python bench/bench_x.py [--quick]`: one bench alone, its rows printed as a table."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (what CI runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        ctx = Ctx(args.quick, Repos(Path(tmp) / "repos"), Path(tmp))
        rows = asyncio.run(run(ctx))
    print(table(rows))


# The real server, as an editor drives it


@contextlib.asynccontextmanager
async def editor_on(repo: Path, ctx: Ctx, name: str, init_options: Any = None,
                    daemon: bool = True) -> AsyncIterator[Editor]:
    """An editor attached to `agent-bridge serve` (the relay to a daemon, as editors run it) in `repo`."""
    state = ctx.scratch(name)
    editor = await start_editor(repo, state / "state", state / "agent.log", init_options=init_options,
                                daemon=daemon)
    try:
        yield editor
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(editor.client.shutdown_session(), 60)


async def timed_turn(editor: Editor, text: str, **fields: Any) -> tuple[float, str, dict[str, Any]]:
    """(seconds from sending `agentBridge.prompt` to `awaitTurn` answering, session id, result)."""
    start = time.perf_counter()
    sid, _, result = await editor.run(text, timeout=180, **fields)
    elapsed = time.perf_counter() - start
    if result.get("status") != "completed":
        raise RuntimeError(f"turn did not complete: {result}")
    return elapsed, sid, result


# Driving an agent directly with the ACP SDK (the baselines)


class DirectClient:
    """The least an ACP client does: allows what is asked, reads and writes files, drops the updates."""

    def __init__(self) -> None:
        self.updates = 0

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates += 1

    async def request_permission(self, session_id: str, tool_call: Any, options: list[schema.PermissionOption],
                                 **kwargs: Any) -> schema.RequestPermissionResponse:
        chosen = next((o for o in options if o.kind.startswith("allow")), options[0])
        return schema.RequestPermissionResponse(
            outcome=schema.AllowedOutcome(option_id=chosen.option_id, outcome="selected"))

    async def read_text_file(self, session_id: str, path: str, line: int | None = None, limit: int | None = None,
                             **kwargs: Any) -> schema.ReadTextFileResponse:
        try:
            content = await asyncio.to_thread(Path(path).read_text)
        except FileNotFoundError:
            raise acp.RequestError.resource_not_found(path) from None
        return schema.ReadTextFileResponse(content=content)

    async def write_text_file(self, session_id: str, path: str, content: str,
                              **kwargs: Any) -> schema.WriteTextFileResponse:
        file = Path(path)
        await asyncio.to_thread(file.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(file.write_text, content)
        return schema.WriteTextFileResponse()


@contextlib.asynccontextmanager
async def direct_agent(argv: list[str], cwd: Path, env: dict[str, str],
                       log: Path) -> AsyncIterator[Callable[[str], Awaitable[float]]]:
    """The agent started in `cwd` with one session; yields `turn(text) -> seconds` (prompt -> its answer)."""
    client = DirectClient()
    with log.open("wb") as stderr:
        async with acp.spawn_agent_process(client, argv[0], *argv[1:], cwd=str(cwd),  # type: ignore[arg-type]
                                           env={**os.environ, **env},
                                           transport_kwargs={"stderr": stderr}) as (conn, _):
            await conn.initialize(
                protocol_version=acp.PROTOCOL_VERSION,
                client_capabilities=schema.ClientCapabilities(
                    fs=schema.FileSystemCapabilities(read_text_file=True, write_text_file=True), terminal=False),
                client_info=schema.Implementation(name="bench", version="0"))
            session = (await conn.new_session(cwd=str(cwd), mcp_servers=[])).session_id

            async def turn(text: str) -> float:
                start = time.perf_counter()
                answer = await asyncio.wait_for(conn.prompt(session_id=session, prompt=[acp.text_block(text)]),
                                                180)
                elapsed = time.perf_counter() - start
                if answer.stop_reason != "end_turn":
                    raise RuntimeError(f"direct turn ended with {answer.stop_reason}")
                return elapsed

            yield turn


def worktree(repo: Path, where: Path) -> Path:
    """A plain `git worktree add` of HEAD (the direct agent's checkout, so it never touches the user's)."""
    git(repo, "worktree", "add", "-q", "--detach", str(where), "HEAD")
    return where


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
