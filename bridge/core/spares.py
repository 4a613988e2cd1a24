"""Spare worktrees per repository, made in the background so that a new session's first turn does not wait for
a whole checkout (bridge.git.spares does the git work).

A repository gets a spare when an editor attaches to a workspace in it, and a new one each time one is taken. A
new session takes its repository's spare if one is ready, or waits for the one being made (already part of the
way through its checkout); without one, or if taking it fails for any reason, the session gets a full checkout
as before: a spare only ever makes a session faster. Spares live under `<state>/spares`, hold no one's work,
and those an earlier run left are removed when the bridge starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridge.git import spares as git_spares
from bridge.git.run import Worktree

log = logging.getLogger(__name__)

# Spares kept per repository: each is a whole checkout on disk, and sessions are asked for one at a time.
PER_REPOSITORY = 1


@dataclass
class _Repository:
    ready: list[Path] = field(default_factory=list)
    making: asyncio.Task[Path | None] | None = None
    failed: bool = False  # a spare could not be used: what failed (submodules, say) would fail again


class Spares:
    """The spares of every repository the bridge was attached to. `say` reports to the user (the log)."""

    def __init__(self, root: Path, say: Callable[[str], None], per_repository: int = PER_REPOSITORY) -> None:
        self.root = root
        self.per_repository = per_repository
        self._say = say
        self._repos: dict[Path, _Repository] = {}
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    def _spawn(self, work: asyncio.Task[Any]) -> None:
        self._tasks.add(work)
        work.add_done_callback(self._tasks.discard)

    def clean(self) -> None:
        """Remove the spares an earlier run left, in the background (they hold no one's work)."""
        if self.root.is_dir():
            leftovers = sorted(self.root.iterdir())
            if leftovers:
                self._spawn(asyncio.create_task(self._remove(leftovers)))

    async def _remove(self, leftovers: list[Path]) -> None:
        for path in leftovers:
            if self._stop.is_set():
                return  # the next start removes the rest
            await asyncio.to_thread(git_spares.remove_spare, path)
        log.info("removed %d spare worktree(s) left by an earlier run", len(leftovers))

    def fill(self, repo_root: Path) -> None:
        """Start making a spare for the repository, unless it has enough or one is being made."""
        if self.per_repository <= 0 or self._stop.is_set():
            return
        repo = self._repos.setdefault(repo_root, _Repository())
        if repo.failed or repo.making is not None or len(repo.ready) >= self.per_repository:
            return
        repo.making = asyncio.create_task(self._make(repo_root, repo))
        self._spawn(repo.making)

    async def _make(self, repo_root: Path, repo: _Repository) -> Path | None:
        path = self.root / uuid.uuid4().hex[:12]
        try:
            await asyncio.to_thread(git_spares.make_spare, repo_root, path, self._stop)
        except Exception as exc:
            if self._stop.is_set():
                return None  # stopped by shutdown: the next start removes what it left
            await asyncio.to_thread(git_spares.discard, repo_root, path)
            self._say(f"could not prepare a spare worktree for {repo_root}: {exc}")
            return None
        finally:
            repo.making = None
        repo.ready.append(path)
        self._say(f"spare worktree for {repo_root} ready")
        return path

    async def take(self, repo_root: Path, path: Path, branch: str, base: str) -> Worktree | None:
        """A ready (or almost ready) spare made the worktree at `path` on new branch `branch` at `base`; None
        when there is none or it failed, and nothing is left at `path` or of `branch` then. Another spare is
        made in the background, unless this one failed: the repository gets no more."""
        repo = self._repos.get(repo_root)
        if repo is None or self.per_repository <= 0:
            return None
        if not repo.ready and repo.making is not None:
            # Most of its checkout is likely done already: cheaper to wait for than a checkout of its own.
            with contextlib.suppress(Exception):
                await asyncio.shield(repo.making)
        spare = repo.ready.pop(0) if repo.ready else None
        if spare is None:
            self.fill(repo_root)
            return None
        try:
            tree = await asyncio.to_thread(git_spares.adopt_spare, repo_root, spare, path, branch, base)
        except Exception as exc:  # whatever went wrong, the session is made as it would be without spares
            repo.failed = True
            self._say(f"a spare worktree of {repo_root} could not be used ({exc}); sessions there check out in full")
            await asyncio.to_thread(git_spares.discard, repo_root, path, branch, base)
            await asyncio.to_thread(git_spares.discard, repo_root, spare)
            return None
        self.fill(repo_root)  # the next session's, while this one's agent starts
        return tree

    async def settled(self) -> None:
        """Wait for the spares being made or removed (tests, benches)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        """Stop the checkouts under way (what they left is removed at the next start)."""
        self._stop.set()
        with contextlib.suppress(Exception):
            await self.settled()
