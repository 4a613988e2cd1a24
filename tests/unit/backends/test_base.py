"""backends/base.py: the pure helpers every transport shares."""

from __future__ import annotations

from backends.base import command_line, normalize_command


def test_a_shell_wrapper_shows_the_line_it_runs() -> None:
    assert command_line("sh", ["-c", "id > EVIL"]) == "id > EVIL"
    assert command_line("/bin/bash", ["-lc", "ls  -la"]) == "ls  -la"
    assert normalize_command(command_line("bash", ["-c", "ls  -la"])) == normalize_command("ls -la")


def test_other_commands_are_quoted_for_a_shell() -> None:
    assert command_line("rm", ["-rf", "a b"]) == "rm -rf 'a b'"
    assert command_line("sh", ["script.sh"]) == "sh script.sh"  # not a -c wrapper: what runs is the argv
    assert normalize_command(command_line("ls", [])) != normalize_command("id > EVIL")
