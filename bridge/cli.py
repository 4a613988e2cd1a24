"""`agent-bridge`: serve (the language server), agents (what is configured and installed), demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformdirs import user_state_dir

from backends import sandbox
from bridge import __version__
from bridge.config import env_config_path, load_registry

if TYPE_CHECKING:
    from bridge.daemon.lock import StateLock
    from bridge.lsp.server import BridgeServer


def default_state_dir() -> Path:
    value = os.environ.get("AGENT_BRIDGE_STATE_DIR")
    return Path(value) if value else Path(user_state_dir("agent-bridge"))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where sessions, worktrees and logs live (env AGENT_BRIDGE_STATE_DIR)")
    parser.add_argument("--config", type=Path, default=None,
                        help="agents configuration TOML (env AGENT_BRIDGE_CONFIG)")
    parser.add_argument("--log-file", type=Path, default=None, help="write the server log to this file")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="agent-bridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"agent-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", default=None,
                       help="listen on TCP instead of stdio (loopback only; port 0 picks a free port); clients "
                            "authenticate with initializationOptions.authToken, the token in <state dir>/tcp-token")
    serve.add_argument("--allow-remote", action="store_true",
                       help="let --tcp listen on a non-loopback address (unencrypted; anyone with the token can "
                            "run agents as you)")
    mode = serve.add_mutually_exclusive_group()
    # stdio attaches to the daemon by default; `--daemon` stays accepted so existing editor configs keep working.
    mode.add_argument("--daemon", action="store_true",
                      help="attach to the state dir's daemon, starting it if needed (the default for stdio)")
    mode.add_argument("--no-daemon", action="store_true",
                      help="serve this one editor in-process instead (a single throwaway editor, or debugging)")
    _common(serve)
    daemon = sub.add_parser("daemon", help="the per-user bridge daemon that `serve` attaches editors to")
    # `run` is what `serve` starts; it is left out of the listed choices.
    actions = daemon.add_subparsers(dest="action", required=True, metavar="{status,stop}")
    run = actions.add_parser("run")
    _common(run)
    status = actions.add_parser("status", help="is a daemon running, and what it serves")
    status.add_argument("--json", action="store_true", help="print {pid, socket, clients, sessions} as JSON")
    stop = actions.add_parser("stop", help="stop the daemon (its agents and turns end)")
    for parser_ in (status, stop):
        parser_.add_argument("--state-dir", type=Path, default=None,
                             help="the daemon's state dir (env AGENT_BRIDGE_STATE_DIR)")
    agents = sub.add_parser("agents", help="list configured agents, whether they are installed, and versions")
    agents.add_argument("--json", action="store_true", help="print JSON")
    agents.add_argument("--workspace", type=Path, default=Path.cwd(), help="workspace whose config to read")
    _common(agents)
    demo = sub.add_parser("demo", help="drive a whole session in a temporary repository with the scripted agent")
    demo.add_argument("--agent", default="scripted", help="agent to prompt (default: the bundled scripted agent)")
    _common(demo)
    return parser.parse_args(argv)


def setup_logging(log_file: Path | None) -> None:
    handlers: list[logging.Handler] = []
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    else:
        # stdout carries the protocol: the log goes to stderr.
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        handlers=handlers)
    logging.getLogger("pygls").setLevel(logging.WARNING)


def agent_version(command: str) -> str | None:
    """What `<command> --version` prints first, if it answers quickly."""
    try:
        proc = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def cmd_agents(args: argparse.Namespace) -> int:
    registry = load_registry(args.config or env_config_path(), args.workspace)
    rows: list[dict[str, Any]] = []
    for name, agent in sorted(registry.agents.items()):
        exe = shutil.which(agent.command[0])
        version = None
        if exe and agent.builtin and name != "scripted":
            version = agent_version(exe)
        rows.append({"name": name, "protocol": agent.protocol, "command": list(agent.command),
                     "installed": exe is not None, "path": exe, "version": version,
                     "default": name == registry.default_agent, "sandbox": agent.sandboxed})
    problem = sandbox.problem()
    if args.json:
        print(json.dumps({"agents": rows, "warnings": registry.warnings,
                          "sandbox": {"available": problem is None, "problem": problem}}, indent=2))
        return 0
    for warning in registry.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        mark = "*" if r["default"] else " "
        state = f"installed {r['version'] or ''}".strip() if r["installed"] else "not installed"
        boxed = "sandboxed" if r["sandbox"] else ""
        print(f"{mark} {r['name']:<{width}}  {r['protocol']:<8}  {state:<28}  {boxed:<9}  {' '.join(r['command'])}")
    print("\n* default agent")
    if problem is None:
        print("sandbox: available (bubblewrap works here; set sandbox = true to use it)")
    else:
        refuse = " (sandboxed agents will refuse to start)" if any(r["sandbox"] for r in rows) else ""
        print(f"sandbox: not available{refuse}: {problem}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if args.daemon and args.tcp:
        print("agent-bridge: --daemon attaches stdio; it does not combine with --tcp", file=sys.stderr)
        return 2
    if not args.tcp and not args.no_daemon:
        from bridge.daemon.attach import attach

        return attach(args.state_dir or default_state_dir(), config=args.config or env_config_path(),
                      log_file=args.log_file)
    from bridge.factory import BackendFactory
    from bridge.lsp.handlers import build_server

    state_dir = args.state_dir or default_state_dir()
    held = hold_state_dir(state_dir)
    if isinstance(held, str):
        print(f"agent-bridge: {held}", file=sys.stderr)
        return 1
    setup_logging(args.log_file)
    config = args.config or env_config_path()

    def make_server() -> BridgeServer:
        return build_server(state_dir, config, lambda state, registry: BackendFactory(state, registry.settings))

    freeze_startup_objects()
    try:
        if args.tcp:
            return serve_tcp(args.tcp, args.allow_remote, state_dir, make_server)
        server = make_server()
        try:
            asyncio.run(server.serve_stdio())
        except (KeyboardInterrupt, SystemExit, BrokenPipeError):
            pass
        finally:
            server.thread_pool.shutdown(wait=False, cancel_futures=True)
        return 0
    finally:
        held.release()


def hold_state_dir(state_dir: Path) -> StateLock | str:
    """The state dir's lock for an in-process server, held until it exits, or why it cannot have it: the daemon
    (or another in-process server) serving it is the only process that may use its database and worktrees."""
    from bridge.daemon.lock import IN_PROCESS, StateLock, prepare_state_dir, recorded_pid, recorded_role

    try:
        prepare_state_dir(state_dir)
        held = StateLock.try_acquire(state_dir, IN_PROCESS)
    except OSError as exc:
        return f"cannot use the state dir {state_dir}: {exc}"
    if held is not None:
        return held
    pid = recorded_pid(state_dir)
    who = f"{'a daemon' if recorded_role(state_dir) != IN_PROCESS else 'another in-process bridge'}"
    return (f"{who}{f' (pid {pid})' if pid else ''} serves {state_dir}: attach to it with plain `serve`, stop "
            "it (`agent-bridge daemon stop` for a daemon), or give this server another --state-dir")


def serve_tcp(address: str, allow_remote: bool, state_dir: Path, make_server: Callable[[], BridgeServer]) -> int:
    """Exit 2 for an address that is not allowed, 1 for a token file that is not safe or a port in use."""
    from bridge.lsp.tcp import (
        AddressNotAllowed,
        TcpListener,
        TcpSetupError,
        check_bind_host,
        ensure_token,
        format_address,
        parse_address,
    )

    try:
        host, port = parse_address(address)
        check_bind_host(host, allow_remote)
        token, token_file = ensure_token(state_dir)
    except TcpSetupError as exc:
        print(f"agent-bridge: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, AddressNotAllowed) else 1
    except OSError as exc:
        print(f"agent-bridge: cannot prepare the state dir {state_dir}: {exc}", file=sys.stderr)
        return 1

    def announce(addresses: list[tuple[str, int]]) -> None:
        # On stderr whatever --log-file says: whoever started the bridge needs the port (0 picks one).
        # The token itself is never printed: only where to read it.
        for bound in addresses:
            print(f"agent-bridge: listening on {format_address(bound)}", file=sys.stderr)
        print(f"agent-bridge: clients authenticate with initializationOptions.authToken, the token in {token_file}",
              file=sys.stderr, flush=True)
        if allow_remote:
            print("agent-bridge: warning: --allow-remote: the connection is not encrypted", file=sys.stderr, flush=True)

    async def run() -> None:
        await TcpListener(make_server, token).serve(host, port, allow_remote, announce)

    try:
        asyncio.run(run())
    except AddressNotAllowed as exc:
        print(f"agent-bridge: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"agent-bridge: cannot listen on {address}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def freeze_startup_objects() -> None:
    """What is loaded by now (the modules: ~90k objects) lives as long as the process: out of the cyclic garbage
    collector's way. Its full passes walked them all, stopping the event loop for tens of milliseconds now and
    then: every request and event waiting behind one."""
    gc.collect()
    gc.freeze()


def cmd_daemon(args: argparse.Namespace) -> int:
    from bridge.daemon import control

    state_dir = (args.state_dir or default_state_dir()).absolute()
    if args.action == "status":
        return control.status(state_dir, as_json=args.json)
    if args.action == "stop":
        return control.stop(state_dir)
    return cmd_daemon_run(args, state_dir)


def cmd_daemon_run(args: argparse.Namespace, state_dir: Path) -> int:
    """The daemon itself (started detached by `serve`). It claims the state dir before importing the
    server, so starters racing for it settle at once; the loser exits 0."""
    from bridge.daemon.lock import claim_or_defer

    setup_logging(args.log_file)
    listener = claim_or_defer(state_dir)
    if listener is None:
        logging.getLogger("bridge.daemon").info("another daemon serves %s; leaving it to that one", state_dir)
        return 0
    os.chdir(state_dir)  # hold no user directory (an unmount, a deleted checkout) for as long as it lives
    from bridge.daemon.process import run_daemon
    from bridge.daemon.shared import SharedHub

    config = args.config or env_config_path()
    hub = SharedHub(state_dir, config.absolute() if config else None)
    freeze_startup_objects()
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_daemon(state_dir, hub.serve_connection, is_idle=hub.is_idle,
                                           status=hub.status, stop=hub.stop, listener=listener))
    finally:
        listener.close()
        # The hub has stopped everything it owns; a worker thread left behind (a store that failed to open, a
        # hung git call) must not keep the process alive, so end here rather than wait for threads on the way out.
        logging.shutdown()
        os._exit(0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "serve":
        return cmd_serve(args)
    if args.command == "daemon":
        return cmd_daemon(args)
    if args.command == "agents":
        return cmd_agents(args)
    if args.command == "demo":
        from bridge.demo import run_demo

        return run_demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
