"""The bubblewrap command line, built without running bwrap; the sandbox home's seeding; the probe's answers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backends import sandbox
from backends.opencode.backend import OpencodeBackend
from backends.sandbox import SandboxPath, SandboxPolicy, build_policy, install_root, sandbox_argv
from backends.sandbox_home import agent_kind, seed_home, seed_paths


def mounts(argv: list[str]) -> list[tuple[str, ...]]:
    """The mount operations in order, as (option, destination) (binds by their destination)."""
    found: list[tuple[str, ...]] = []
    i = 0
    while i < len(argv):
        option = argv[i]
        if option in ("--tmpfs", "--remount-ro", "--dev", "--proc"):
            found.append((option, argv[i + 1]))
            i += 2
        elif option in ("--bind", "--ro-bind", "--ro-bind-try", "--bind-try"):
            found.append((option, argv[i + 2]))
            i += 3
        else:
            i += 1
    return found


def policy(**fields: object) -> SandboxPolicy:
    base: dict[str, object] = {"cwd": Path("/state/wt/s1/sub")}
    return SandboxPolicy(**(base | fields))  # type: ignore[arg-type]


def test_root_is_read_only_and_the_worktree_is_bound_writable_after_the_tmpfs_that_hides_it() -> None:
    argv = sandbox_argv(policy(
        writable=(Path("/state/wt/s1"), Path("/repo/.git/worktrees/s1")), readable=(Path("/repo/.git"),),
        hidden=(Path("/state"), Path("/repo"), Path("/tmp")),
    ))
    assert argv[0] == "bwrap" and argv[-1] == "--"
    assert {"--die-with-parent", "--unshare-pid", "--new-session"} <= set(argv)
    assert argv[argv.index("--cap-drop") + 1] == "ALL"  # root in the sandbox could unmount what hides
    ops = mounts(argv)
    assert ops[:3] == [("--ro-bind", "/"), ("--dev", "/dev"), ("--proc", "/proc")]
    order = [dest for _, dest in ops]
    # Hidden first, then what is shown again inside them: the deeper mount wins.
    assert order.index("/state") < order.index("/state/wt/s1")
    assert order.index("/repo") < order.index("/repo/.git") < order.index("/repo/.git/worktrees/s1")
    assert ("--bind", "/state/wt/s1") in ops and ("--ro-bind-try", "/repo/.git") in ops
    assert ("--bind", "/repo/.git/worktrees/s1") in ops
    # The hidden places are read-only once their mount points exist; /tmp stays scratch space.
    assert ("--remount-ro", "/state") in ops and ("--remount-ro", "/repo") in ops
    assert ("--remount-ro", "/tmp") not in ops
    assert order.index("/state/wt/s1") < len(order) - 1 - order[::-1].index("/state")
    assert argv[argv.index("--chdir") + 1] == "/state/wt/s1/sub"


def test_a_worktree_under_tmp_is_bound_even_though_tmp_is_a_tmpfs() -> None:
    ops = mounts(sandbox_argv(policy(cwd=Path("/tmp/x/wt"), writable=(Path("/tmp/x/wt"),), hidden=(Path("/tmp"),))))
    assert ops.index(("--tmpfs", "/tmp")) < ops.index(("--bind", "/tmp/x/wt"))


def test_the_home_is_replaced_by_the_sandbox_home_and_what_is_in_it_needs_no_tmpfs() -> None:
    argv = sandbox_argv(policy(
        home=Path("/home/u"), home_source=Path("/state/sandbox/qwen/home"),
        hidden=(Path("/home"), Path("/home/u"), Path("/home/u/.local/state/agent-bridge")),
        readable=(Path("/home/u/.nvm/versions/node/v20/bin"),),
    ))
    ops = mounts(argv)
    assert ("--tmpfs", "/home/u") not in ops and ("--tmpfs", "/home/u/.local/state/agent-bridge") not in ops
    i = argv.index("--bind")
    assert argv[i:i + 3] == ["--bind", "/state/sandbox/qwen/home", "/home/u"]
    order = [dest for _, dest in ops]
    assert order.index("/home") < order.index("/home/u") < order.index("/home/u/.nvm/versions/node/v20/bin")


def test_a_shown_path_holding_the_home_leaves_the_sandbox_home_writable() -> None:
    """An agent installed next to its home (/tmp/x/bin/qwen, HOME=/tmp/x/home): its install root is shown
    read-only, and the home inside it used to get a tmpfs and `--remount-ro` over the sandbox home."""
    argv = sandbox_argv(policy(
        home=Path("/tmp/x/home"), home_source=Path("/state/sandbox/qwen/home"),
        hidden=(Path("/tmp"), Path("/tmp/x/home")), readable=(Path("/tmp/x"),),
    ))
    ops = mounts(argv)
    assert ("--tmpfs", "/tmp/x/home") not in ops and ("--remount-ro", "/tmp/x/home") not in ops
    order = [dest for _, dest in ops]
    assert order.index("/tmp/x") < order.index("/tmp/x/home")


def test_a_path_shown_again_does_not_show_the_hidden_places_inside_it() -> None:
    """`~/.local` in sandbox_paths must not bring back the bridge's state dir in it (other sessions' worktrees,
    the TCP token); the session's own worktree in there still shows."""
    state, worktree = Path("/home/u/.local/state/agent-bridge"), Path("/home/u/.local/state/agent-bridge/wt/s1")
    ops = mounts(sandbox_argv(policy(
        home=Path("/home/u"), home_source=Path("/x/sandbox/home"), hidden=(Path("/home/u"), state),
        readable=(Path("/home/u/.local"),), writable=(worktree,),
    )))
    order = [dest for _, dest in ops]
    assert order.index("/home/u") < order.index("/home/u/.local") < order.index(str(state)) < order.index(str(worktree))
    assert ("--tmpfs", str(state)) in ops and ("--remount-ro", str(state)) in ops


def test_a_read_only_path_inside_a_writable_one_stays_read_only() -> None:
    ops = mounts(sandbox_argv(policy(writable=(Path("/w"),), readable=(Path("/w/locked"),))))
    assert ops.index(("--bind", "/w")) < ops.index(("--ro-bind-try", "/w/locked"))


def test_socket_variables_are_unset() -> None:
    argv = sandbox_argv(policy())
    assert ["--unsetenv", "SSH_AUTH_SOCK"] == argv[argv.index("SSH_AUTH_SOCK") - 1: argv.index("SSH_AUTH_SOCK") + 1]


def test_install_root() -> None:
    assert install_root(Path("/h/.npm/lib/node_modules/@qwen-code/qwen-code/node_modules/x/cli.js")) == Path(
        "/h/.npm/lib/node_modules"
    )
    assert install_root(Path("/h/.pyenv/versions/3.11.7/bin/python3.11")) == Path("/h/.pyenv/versions/3.11.7")
    assert install_root(Path("/opt/tool/run")) == Path("/opt/tool")


def test_build_policy_hides_homes_state_and_checkout_and_shows_the_agents_install(tmp_path: Path) -> None:
    home, state, repo = tmp_path / "home", tmp_path / "state", tmp_path / "repo"
    tool = home / ".local" / "lib" / "node_modules" / "agent" / "cli.js"
    tool.parent.mkdir(parents=True)
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir()
    (bin_dir / "agent").symlink_to(tool)
    worktree = state / "worktrees" / "s1"
    for path in (worktree, repo / ".git" / "worktrees" / "s1"):
        path.mkdir(parents=True)
    env = {"HOME": str(home), "PATH": f"{bin_dir}:/usr/bin"}
    made = build_policy(
        worktree=worktree, cwd=worktree, env=env, command=["agent"], sandbox_home=state / "sandbox" / "agent",
        git_dir=repo / ".git" / "worktrees" / "s1", common_dir=repo / ".git", hide=(state, repo),
        extra=(SandboxPath("~/.gitconfig"), SandboxPath("/data", write=True), SandboxPath("relative")),
    )
    assert {home, state, repo} <= set(made.hidden)
    assert made.home == home and made.home_source == state / "sandbox" / "agent"
    assert (state / "sandbox" / "agent").is_dir()
    assert bin_dir in made.readable and home / ".local" / "lib" / "node_modules" in made.readable
    assert Path("/usr/bin") not in made.readable  # not hidden: nothing to show again
    assert repo / ".git" in made.readable and home / ".gitconfig" in made.readable
    # The admin dir steers the bridge's own git (its `commondir`, `index`): read-only.
    assert made.writable == (worktree,) and repo / ".git" / "worktrees" / "s1" in made.readable
    assert made.optional_writable == (Path("/data"),)


def test_seed_paths_by_agent(tmp_path: Path) -> None:
    home = tmp_path
    assert agent_kind(["/x/node_modules/.bin/claude-agent-acp"]) == "claude"
    assert agent_kind(["node", "/x/gemini"]) == "gemini"
    assert agent_kind(["mystery"]) is None
    assert Path(".qwen/oauth_creds.json") in seed_paths(["qwen", "--acp"], {}, home)
    gemini = seed_paths(["/x/.bin/gemini", "--acp"], {}, home)
    assert {Path(".gemini/settings.json"), Path(".gemini/gemini-credentials.json")} <= set(gemini)
    claude = seed_paths(["claude-agent-acp"], {"CLAUDE_CONFIG_DIR": str(home / "cc")}, home)
    assert Path("cc/.credentials.json") in claude and Path(".claude.json") in claude
    # A config dir outside the home is not copied (the sandbox shows it read-only, as it is).
    assert seed_paths(["opencode"], {"XDG_DATA_HOME": "/elsewhere", "XDG_CONFIG_HOME": "/else"}, home) == []
    assert Path(".local/share/opencode/auth.json") in seed_paths(["opencode"], {}, home)


def test_seed_home_copies_what_is_missing_or_newer(tmp_path: Path) -> None:
    real, box = tmp_path / "real", tmp_path / "box"
    (real / ".qwen").mkdir(parents=True)
    (real / ".qwen" / "oauth_creds.json").write_text("token-1")
    (real / ".qwen" / "settings.json").mkdir()  # not a file: skipped
    copied = seed_home(box, real, [Path(".qwen/oauth_creds.json"), Path(".qwen/settings.json"), Path("none")])
    assert copied == [Path(".qwen/oauth_creds.json")]
    assert (box / ".qwen" / "oauth_creds.json").read_text() == "token-1"
    assert not (box / ".qwen" / "settings.json").exists()
    # The agent refreshed its token in the sandbox: kept until the user logs in again outside.
    (box / ".qwen" / "oauth_creds.json").write_text("token-refreshed")
    assert seed_home(box, real, [Path(".qwen/oauth_creds.json")]) == []
    later = (box / ".qwen" / "oauth_creds.json").stat().st_mtime + 10
    (real / ".qwen" / "oauth_creds.json").write_text("token-2")
    os.utime(real / ".qwen" / "oauth_creds.json", (later, later))
    assert seed_home(box, real, [Path(".qwen/oauth_creds.json")]) == [Path(".qwen/oauth_creds.json")]
    assert (box / ".qwen" / "oauth_creds.json").read_text() == "token-2"


def test_links_the_agent_planted_in_its_home_do_not_redirect_the_seeding(tmp_path: Path) -> None:
    """The sandbox home is the agent's to write; the bridge seeds it from outside the sandbox. A directory or a
    file there replaced by a link must not make the bridge write the user's token somewhere else."""
    real, box, elsewhere = tmp_path / "real", tmp_path / "box", tmp_path / "elsewhere"
    (real / ".qwen").mkdir(parents=True)
    (real / ".qwen" / "oauth_creds.json").write_text("token")
    (real / ".claude.json").write_text("{}")
    elsewhere.mkdir()
    box.mkdir()
    (box / ".qwen").symlink_to(elsewhere)  # a directory replaced by a link
    (box / ".claude.json").symlink_to(elsewhere / "victim")  # the file itself a link
    (elsewhere / "victim").write_text("the user's file")
    copied = seed_home(box, real, [Path(".qwen/oauth_creds.json"), Path(".claude.json")])
    assert copied == [Path(".claude.json")]
    assert list(elsewhere.iterdir()) == [elsewhere / "victim"]
    assert (elsewhere / "victim").read_text() == "the user's file"
    assert not (box / ".claude.json").is_symlink() and (box / ".claude.json").read_text() == "{}"


def test_the_probe_says_how_to_enable_bubblewrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sandbox.problem.cache_clear()
    try:
        monkeypatch.setenv(sandbox.BWRAP_ENV, str(tmp_path / "missing"))
        said = sandbox.problem()
        assert said is not None and "not installed" in said and "apt install bubblewrap" in said
        sandbox.problem.cache_clear()
        failing = tmp_path / "bwrap"
        failing.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
        failing.chmod(0o755)
        monkeypatch.setenv(sandbox.BWRAP_ENV, str(failing))
        said = sandbox.problem()
        assert said is not None and "No permissions to create new namespace" in said and "userns" in said
    finally:
        sandbox.problem.cache_clear()


def test_prepare_refuses_without_a_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sandbox, "problem", lambda: "bubblewrap (`bwrap`) is not installed: install it")
    spec = sandbox.SandboxSpec(home=tmp_path / "home")
    with pytest.raises(sandbox.AgentStartError, match="set to run sandboxed, and bubblewrap"):
        spec.prepare(["qwen"], {}, tmp_path, tmp_path)


@pytest.mark.skipif(sandbox.problem() is not None and not os.environ.get("AGENT_BRIDGE_REQUIRE_REAL_AGENTS"),
                    reason=f"no sandbox here: {sandbox.problem()}")
async def test_a_sandboxed_opencode_agent_gets_a_server_of_its_sessions_own(tmp_path: Path) -> None:
    """opencode's tools write into whichever `?directory=` a request names: a sandboxed agent's server is its
    session's alone (seeing that worktree only), not the shared one, is not started ahead, and stops with it."""
    from bridge.config import AgentConfig
    from bridge.factory import BackendFactory
    from tests.unit.backends.test_opencode_backend import FAKE, Host, prompt, worktree

    factory = BackendFactory(tmp_path / "state")
    agent = AgentConfig("oc", "opencode", FAKE, {}, sandbox=True)
    factory.prewarm(agent)
    assert not factory.servers
    backend = factory.create(agent, Host(worktree(tmp_path)), "s1")
    other = factory.create(agent, Host(worktree(tmp_path, "wt2")), "s2")
    try:
        assert isinstance(backend, OpencodeBackend) and isinstance(other, OpencodeBackend)
        assert backend.owns_server and backend.server is not other.server and not factory.servers
        assert backend.server.workdir == tmp_path / "wt"
        await backend.start()
        assert (await backend.prompt(prompt("say boxed"))).stop_reason == "end_turn"
        pid = backend.server.pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
    finally:
        await backend.close()
        await other.close()
        await factory.close()
    assert not backend.server.running and not Path(f"/proc/{pid}").exists()


@pytest.mark.skipif(sandbox.problem() is not None and not os.environ.get("AGENT_BRIDGE_REQUIRE_REAL_AGENTS"),
                    reason=f"no sandbox here: {sandbox.problem()}")
async def test_an_agent_the_sandbox_hides_fails_saying_to_add_its_directory(tmp_path: Path) -> None:
    """A program under a hidden place (here a home) that neither PATH nor its command line names: bwrap cannot
    find it inside; the failure says so, and what to do."""
    from backends.acp.backend import AcpBackend
    from backends.base import BackendError
    from tests.unit.backends.test_opencode_backend import Host, worktree

    home = tmp_path / "home"
    (home / "tools").mkdir(parents=True)
    wrapper = tmp_path / "agent"
    wrapper.write_text(f"#!/bin/sh\nexec {home / 'tools' / 'real-agent'}\n")
    wrapper.chmod(0o755)
    (home / "tools" / "real-agent").write_text("#!/bin/sh\nexit 0\n")
    (home / "tools" / "real-agent").chmod(0o755)
    spec = sandbox.SandboxSpec(home=tmp_path / "state" / "sandbox" / "x" / "home")
    backend = AcpBackend((str(wrapper),), {"HOME": str(home)}, Host(worktree(tmp_path)),  # type: ignore[arg-type]
                         tmp_path / "agent.log", sandbox=spec)
    try:
        said = r"real-agent: not found.*add its directory to the agent's sandbox_paths"
        with pytest.raises(BackendError, match=said):
            await backend.start()
    finally:
        await backend.close()
