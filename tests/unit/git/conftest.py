"""Fixtures of the git tests: real repositories, with git's global configuration kept out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.git.test_worktrees import git, lines, write


@pytest.fixture(autouse=True)
def _isolated_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gitconfig"
    config.write_text("[init]\n\tdefaultBranch = main\n[core]\n\tautocrlf = false\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", ".")
    write(root / "two.txt", lines("two", 10))
    write(root / "old.txt", lines("old", 5))
    write(root / "gone.txt", "bye\n")
    write(root / "rename-me.txt", lines("ren", 12))
    write(root / "image.bin", b"\x89PNG\x00\x01\x02")
    write(root / "nonl.txt", "a\nb")
    write(root / "crlf.txt", "one\r\ntwo\r\nthree\r\n")
    write(root / "run.sh", "#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root
