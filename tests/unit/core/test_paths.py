"""bridge.core.paths: every path an agent names resolves inside the worktree or is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.core.paths import is_inside, resolve_in_worktree
from bridge.errors import PathEscapesWorktree


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print()\n")
    (root / ".git").write_text("gitdir: /elsewhere\n")  # a worktree's .git is a file
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    other = tmp_path / "outside"
    other.mkdir()
    (other / "secret.txt").write_text("s\n")
    return other


def refused(path: str, wt: Path, cwd: Path | None = None) -> PathEscapesWorktree:
    with pytest.raises(PathEscapesWorktree) as info:
        resolve_in_worktree(path, wt, cwd)
    assert is_inside(path, wt, cwd) is False
    return info.value


def test_relative_path_inside(wt: Path) -> None:
    assert resolve_in_worktree("src/main.py", wt) == wt.resolve() / "src" / "main.py"
    assert is_inside("src/main.py", wt) is True


def test_nonexistent_file_inside_is_allowed(wt: Path) -> None:
    # Agents create new files: the target does not have to exist yet.
    assert resolve_in_worktree("src/new/file.py", wt) == wt.resolve() / "src" / "new" / "file.py"


def test_worktree_root_itself_is_inside(wt: Path) -> None:
    assert resolve_in_worktree(".", wt) == wt.resolve()
    assert resolve_in_worktree(str(wt), wt) == wt.resolve()


def test_absolute_path_inside(wt: Path) -> None:
    assert resolve_in_worktree(str(wt / "src" / "main.py"), wt) == wt.resolve() / "src" / "main.py"


def test_dotdot_that_stays_inside_is_normalized(wt: Path) -> None:
    assert resolve_in_worktree("src/pkg/../main.py", wt) == wt.resolve() / "src" / "main.py"


def test_dotdot_escape_refused(wt: Path) -> None:
    err = refused("../outside/secret.txt", wt)
    assert err.path == "../outside/secret.txt"
    assert err.worktree == wt
    assert "outside the session worktree" in str(err)
    refused("src/../../wt-evil/x", wt)
    refused("..", wt)


def test_absolute_path_outside_refused(wt: Path, outside: Path) -> None:
    refused(str(outside / "secret.txt"), wt)
    refused("/etc/passwd", wt)


def test_home_relative_path_refused(wt: Path) -> None:
    refused("~/.ssh/id_rsa", wt)


def test_sibling_prefix_is_not_inside(tmp_path: Path, wt: Path) -> None:
    evil = tmp_path / "wt-evil"
    evil.mkdir()
    (evil / "x").write_text("x")
    assert str(evil / "x").startswith(str(wt))  # the trap a string-prefix check falls into
    refused(str(evil / "x"), wt)
    refused(str(evil), wt)
    refused("../wt-evil/x", wt)


def test_file_symlink_pointing_outside_refused(wt: Path, outside: Path) -> None:
    (wt / "src" / "link.txt").symlink_to(outside / "secret.txt")
    refused("src/link.txt", wt)
    refused(str(wt / "src" / "link.txt"), wt)


def test_directory_symlink_pointing_outside_refused(wt: Path, outside: Path) -> None:
    (wt / "escape").symlink_to(outside, target_is_directory=True)
    refused("escape/secret.txt", wt)
    refused("escape/new-file.txt", wt)
    refused("escape", wt)


def test_dangling_symlink_pointing_outside_refused(wt: Path, tmp_path: Path) -> None:
    (wt / "dangling").symlink_to(tmp_path / "not-yet")
    refused("dangling", wt)


def test_symlink_inside_is_allowed_and_resolved(wt: Path) -> None:
    (wt / "alias.py").symlink_to(wt / "src" / "main.py")
    (wt / "pkgdir").symlink_to(Path("src") / "pkg", target_is_directory=True)
    assert resolve_in_worktree("alias.py", wt) == wt.resolve() / "src" / "main.py"
    assert resolve_in_worktree("pkgdir/mod.py", wt) == wt.resolve() / "src" / "pkg" / "mod.py"


def test_worktree_reached_through_a_symlink(tmp_path: Path, wt: Path) -> None:
    link = tmp_path / "wt-link"
    link.symlink_to(wt, target_is_directory=True)
    assert resolve_in_worktree("src/main.py", link) == wt.resolve() / "src" / "main.py"
    assert resolve_in_worktree(str(wt / "src" / "main.py"), link) == wt.resolve() / "src" / "main.py"


@pytest.mark.parametrize("path", [".git", ".git/config", "./.git/hooks/pre-commit", "src/../.git/HEAD"])
def test_git_metadata_refused(wt: Path, path: str) -> None:
    refused(path, wt)


def test_git_metadata_refused_when_absolute(wt: Path) -> None:
    refused(str(wt / ".git"), wt)


def test_names_that_merely_start_with_dot_git_are_fine(wt: Path) -> None:
    assert is_inside(".gitignore", wt)
    assert is_inside(".github/workflows/ci.yml", wt)
    assert is_inside("src/.git-notes", wt)


def test_symlink_into_git_dir_refused(wt: Path) -> None:
    (wt / "innocent").symlink_to(wt / ".git")
    refused("innocent", wt)


@pytest.mark.parametrize("path", ["", "src/\x00main.py", "\x00"])
def test_empty_and_nul_paths_refused(wt: Path, path: str) -> None:
    refused(path, wt)


def test_relative_to_cwd_subdir(wt: Path) -> None:
    cwd = wt / "src"
    assert resolve_in_worktree("main.py", wt, cwd) == wt.resolve() / "src" / "main.py"
    assert resolve_in_worktree("pkg/mod.py", wt, cwd) == wt.resolve() / "src" / "pkg" / "mod.py"
    assert resolve_in_worktree("../README.md", wt, cwd) == wt.resolve() / "README.md"
    refused("../../outside/secret.txt", wt, cwd)
    # Absolute paths ignore cwd.
    assert resolve_in_worktree(str(wt / "top.txt"), wt, cwd) == wt.resolve() / "top.txt"


def test_relative_path_with_cwd_outside_is_refused(wt: Path, outside: Path) -> None:
    refused("secret.txt", wt, outside)


def test_returned_path_is_real(wt: Path) -> None:
    real = resolve_in_worktree("src/./pkg//x.py", wt)
    assert real == Path(os.path.realpath(wt / "src" / "pkg" / "x.py"))
    assert ".." not in real.parts and "." not in real.parts
