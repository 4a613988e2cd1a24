"""An editor reaches the bridge daemon over SSH: the server command is `ssh host agent-bridge serve`.

A real sshd (OpenSSH, on a loopback port, with keys made for this test) stands for the bigger box; the editor
(pytest-lsp) runs `ssh -T ... agent-bridge serve` as its server. The daemon, its worktrees and the
agent live on the "remote" side; the turn streams back, the hunk is applied into the editor's buffer, and a
second SSH connection finds the same session. The repository is at the same path on both sides (here it is the
same machine), which is what a real setup needs too (see README, "A bridge on another machine").

A missing sshd skips, unless AGENT_BRIDGE_REQUIRE_REAL_AGENTS is set (CI sets it, and installs openssh-server).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lsp_harness import Editor, start_editor

pytestmark = pytest.mark.timeout(120)

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def _require_sshd() -> str:
    reason = None
    if SSHD is None or shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        reason = "OpenSSH (sshd, ssh, ssh-keygen) is not installed"
    elif os.geteuid() != 0:
        reason = "sshd needs root here (privilege separation)"
    if reason is not None:
        if os.environ.get("AGENT_BRIDGE_REQUIRE_REAL_AGENTS"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert SSHD is not None
    return SSHD


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A throwaway sshd on a loopback port: (port, the client's private key)."""
    binary = _require_sshd()
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    os.chmod(keys / "authorized_keys", 0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation needs it
    port = _free_port()
    config = keys / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {keys / 'host'}",
        f"AuthorizedKeysFile {keys / 'authorized_keys'}", f"PidFile {keys / 'sshd.pid'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
        "PermitRootLogin prohibit-password", "",
    ]))
    proc = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "sshd exited"
            subprocess.run(["sleep", "0.05"], check=True)
        yield port, keys / "client"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ssh_serve(port: int, key: Path, repo: Path, state: Path) -> list[str]:
    remote = " ".join([
        "cd", shlex.quote(str(repo)), "&&", "env", f"AGENT_BRIDGE_STATE_DIR={shlex.quote(str(state))}",
        "AGENT_BRIDGE_DAEMON_LINGER=60", shlex.quote(sys.executable), "-m", "bridge.cli", "serve",
    ])
    return ["ssh", "-T", "-p", str(port), "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "127.0.0.1", remote]


async def test_an_editor_uses_the_bridge_daemon_over_ssh(
    repo: Path, tmp_path: Path, sshd: tuple[int, Path]
) -> None:
    port, key = sshd
    state = tmp_path / "remote-state"
    command = ssh_serve(port, key, repo, state)
    first: Editor = await start_editor(repo, state, tmp_path / "agent.log", command=command)
    try:
        sid, tid, result = await first.run("@write notes.txt\nfrom the big box\n@end\n@say written remotely")
        assert result["status"] == "completed", result
        assert first.text_of(tid) == "written remotely\n"
        second = await start_editor(repo, state, tmp_path / "agent.log", command=command)
        try:
            assert [s["sessionId"] for s in await second.cmd("agentBridge.sessions", {})] == [sid]
            applied = await second.cmd("agentBridge.apply", {"sessionId": sid})
            assert applied["applied"] == 1, applied
            assert second.text(second.uri("notes.txt")) == "from the big box\n"
        finally:
            await second.client.shutdown_session()
        assert not (repo / "notes.txt").exists()  # applied into the editor's buffer, not written behind it
    finally:
        await first.client.shutdown_session()
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "bridge.cli", "daemon", "stop", "--state-dir", str(state)],
            capture_output=True, timeout=60, check=False,
        )
