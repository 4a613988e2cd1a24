"""Trusting a repository's own `.agent-bridge.toml`: its agents run programs, so they wait for the user.

The question is asked at the first prompt that needs one of the file's agents (never while the server
starts), through the editor, naming the file and every command it would run. The answer is remembered per
path and exact content: a changed file asks again; "Not now" is remembered too, so prompts that can do
without the file (the default agent falls back to the user's) do not ask each time; naming one of the file's
own agents asks again, since nothing else can run it. An editor that does not answer means "not trusted".
"""

from __future__ import annotations

import asyncio
import logging

from bridge.config import AgentConfig, Registry, RepoConfig, describe_agent
from bridge.core.ports import Editor
from bridge.errors import BridgeError
from bridge.store import Store

log = logging.getLogger(__name__)

TRUST = "Trust this file"
NOT_NOW = "Not now"
# Seconds to wait for the answer; the prompt waits meanwhile. No answer: not trusted (remembered as such).
QUESTION_TIMEOUT = 120.0


def question(repo: RepoConfig) -> str:
    lines = "\n".join(f"  {line}" for line in repo.commands())
    return (
        f"{repo.path} came with this repository and defines agents that would run:\n{lines}\n"
        "Trust this file? Until you do, its agents are ignored; if the file changes you are asked again."
    )


def held_back(loaded: Registry, current: Registry) -> dict[str, tuple[AgentConfig, str]]:
    """The repository's agents not in use, each as the file defines it and a warning saying why."""
    repo = loaded.repo
    if repo is None or current is repo.trusted:
        return {}
    return {
        name: (
            repo.trusted.agents[name],
            f"{repo.path} (not trusted) defines {describe_agent(repo.trusted.agents[name])}; ignored until you "
            "trust the file: prompt this agent to be asked",
        )
        for name in repo.agents
    }


class TrustGate:
    """Asks about, remembers and applies the user's trust in the repository's configuration file."""

    def __init__(self, store: Store, editor: Editor, timeout: float = QUESTION_TIMEOUT) -> None:
        self._store = store
        self._editor = editor
        self._timeout = timeout
        self._known: dict[tuple[str, str], bool] = {}
        self._asked: dict[tuple[str, str], int] = {}  # questions asked per file version, to ask once at a time
        self._lock = asyncio.Lock()

    def known(self, repo: RepoConfig) -> bool | None:
        """The answer already read or given in this process (no I/O, for a reconfiguration)."""
        return self._known.get(_key(repo))

    async def remembered(self, repo: RepoConfig) -> bool | None:
        key = _key(repo)
        if key not in self._known:
            answer = await self._store.config_trust(*key)
            if answer is None:
                return None
            self._known[key] = answer
        return self._known[key]

    async def ask(self, repo: RepoConfig) -> bool:
        key = _key(repo)
        asked = self._asked.get(key, 0)
        async with self._lock:
            if self._asked.get(key, 0) != asked:  # another prompt asked while this one waited: one question
                return self._known[key]
            try:
                answer = await asyncio.wait_for(self._editor.ask(question(repo), [TRUST, NOT_NOW]), self._timeout)
            except TimeoutError:
                self._editor.log(f"{repo.path}: no answer to the trust question within {self._timeout:g} s")
                answer = None
            trusted = answer == TRUST
            await self._store.set_config_trust(key[0], key[1], trusted)
            self._known[key] = trusted
            self._asked[key] = asked + 1
        self.report(repo, trusted)
        return trusted

    def report(self, repo: RepoConfig, trusted: bool) -> None:
        if trusted:
            self._editor.log(f"{repo.path}: trusted; its agents are used: {'; '.join(repo.commands())}")
            for warning in repo.trusted.warnings:
                self._editor.log(f"configuration: {warning}", error=True)
        else:
            self._editor.log(
                f"{repo.path}: not trusted (this version of the file); its agents are ignored: "
                f"{'; '.join(repo.commands())}",
                error=True,
            )

    def effective(self, loaded: Registry) -> Registry:
        """The registry to use for `loaded`, with what is known without asking."""
        repo = loaded.repo
        if repo is None:
            return loaded
        trusted = self.known(repo)
        if trusted is not None:
            self.report(repo, trusted)
        return repo.trusted if trusted else loaded

    async def registry_for(self, loaded: Registry, current: Registry, name: str | None) -> Registry:
        """The registry a prompt to `name` (None: the default agent) runs with, asking if it needs the file.

        Raises BridgeError when `name` exists only in a file the user did not trust.
        """
        repo = loaded.repo
        if repo is None or current is repo.trusted or not repo.needed_for(name):
            return current
        only_there = name is not None and name not in loaded.agents
        trusted = await self.remembered(repo)
        if trusted is None or (not trusted and only_there):
            trusted = await self.ask(repo)
        elif not trusted:
            fallback = name if name is not None else loaded.default_agent
            self._editor.log(
                f"{repo.path}: not trusted (you answered {NOT_NOW!r} for this version); its agents are ignored, "
                f"{fallback!r} runs instead"
            )
        if trusted:
            return repo.trusted
        if only_there:
            raise BridgeError(
                f"agent {name!r} is defined by {repo.path}, which you have not trusted; prompt it again to be "
                f"asked, or define it in your own configuration"
            )
        return loaded


def _key(repo: RepoConfig) -> tuple[str, str]:
    return str(repo.path.resolve()), repo.digest
