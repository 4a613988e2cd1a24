"""bridge.core.permissions: the one policy for every agent, as pure decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.base import OptionKind, PermissionOption, PermissionRequest, choose_option
from bridge.core.permissions import (
    ASK_ACTIONS,
    answer_for_title,
    decide,
    describe,
    normalize_command,
)


@pytest.fixture
def wt(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "src").mkdir(parents=True)
    return root


def request(
    kind: str = "edit",
    paths: tuple[str, ...] = (),
    command: str | None = None,
    cwd: str | None = None,
    title: str = "do something",
    options: tuple[PermissionOption, ...] = (),
) -> PermissionRequest:
    return PermissionRequest(
        tool_call_id="tc1", title=title, kind=kind, paths=paths, command=command, cwd=cwd, options=options
    )


# decide()


@pytest.mark.parametrize("kind", ["edit", "read", "delete", "move", "search"])
def test_file_kinds_inside_are_allowed(wt: Path, kind: str) -> None:
    decision = decide(request(kind, ("src/a.py", str(wt / "b.py"))), wt, wt)
    assert decision.verdict == "allow"
    assert "inside the session worktree" in decision.reason


def test_edit_outside_is_rejected_naming_the_path(wt: Path, tmp_path: Path) -> None:
    outside = str(tmp_path / "elsewhere.py")
    decision = decide(request("edit", ("src/a.py", outside)), wt, wt)
    assert decision.verdict == "reject"
    assert outside in decision.reason


def test_read_escaping_with_dotdot_is_rejected(wt: Path) -> None:
    assert decide(request("read", ("../../etc/passwd",)), wt, wt).verdict == "reject"


def test_relative_paths_resolve_against_agent_cwd(wt: Path) -> None:
    # From src/, "../x" is still inside; "../../x" is not.
    assert decide(request("edit", ("../x.py",)), wt, wt / "src").verdict == "allow"
    assert decide(request("edit", ("../../x.py",)), wt, wt / "src").verdict == "reject"


def test_execute_asks(wt: Path) -> None:
    decision = decide(request("execute", command="make test"), wt, wt)
    assert decision.verdict == "ask"
    assert "consent" in decision.reason


def test_command_without_execute_kind_still_asks(wt: Path) -> None:
    assert decide(request("other", command="rm -rf build"), wt, wt).verdict == "ask"
    assert decide(request("edit", ("a.py",), command="sed -i s/a/b/ a.py"), wt, wt).verdict == "ask"


def test_execute_without_command_asks(wt: Path) -> None:
    assert decide(request("execute"), wt, wt).verdict == "ask"


def test_remembered_command_is_allowed(wt: Path) -> None:
    remembered = frozenset({normalize_command("ls -la")})
    decision = decide(request("execute", command="ls -la"), wt, wt, remembered)
    assert decision.verdict == "allow"
    assert "always" in decision.reason


def test_remembered_command_matches_after_normalization(wt: Path) -> None:
    remembered = frozenset({normalize_command("ls -la")})
    assert decide(request("execute", command="ls  -la"), wt, wt, remembered).verdict == "allow"
    assert decide(request("execute", command="  ls -la  "), wt, wt, remembered).verdict == "allow"
    assert decide(request("execute", command="ls -l"), wt, wt, remembered).verdict == "ask"
    assert decide(request("execute", command="ls -la; rm -rf ~"), wt, wt, remembered).verdict == "ask"


def test_remembered_command_does_not_override_outside_cwd(wt: Path, tmp_path: Path) -> None:
    remembered = frozenset({normalize_command("ls")})
    decision = decide(request("execute", command="ls", cwd=str(tmp_path)), wt, wt, remembered)
    assert decision.verdict == "reject"
    assert "working directory" in decision.reason and str(tmp_path) in decision.reason


def test_cwd_outside_rejected(wt: Path) -> None:
    decision = decide(request("execute", command="make", cwd="/"), wt, wt)
    assert decision.verdict == "reject"
    assert "/" in decision.reason


def test_cwd_inside_is_fine(wt: Path) -> None:
    assert decide(request("execute", command="make", cwd="src"), wt, wt).verdict == "ask"
    assert decide(request("execute", command="make", cwd=str(wt)), wt, wt).verdict == "ask"


def test_execute_naming_outside_path_rejected(wt: Path) -> None:
    assert decide(request("execute", ("/etc/hosts",), command="cat /etc/hosts"), wt, wt).verdict == "reject"


def test_unknown_kind_asks(wt: Path) -> None:
    decision = decide(request("fetch"), wt, wt)
    assert decision.verdict == "ask"
    assert "'fetch'" in decision.reason


def test_file_kind_without_paths_asks(wt: Path) -> None:
    # Nothing to check against the worktree, so the policy cannot allow it blindly.
    assert decide(request("edit"), wt, wt).verdict == "ask"


@pytest.mark.parametrize("kind", ["think", "switch_mode"])
def test_harmless_kinds_allowed(wt: Path, kind: str) -> None:
    decision = decide(request(kind), wt, wt)
    assert decision.verdict == "allow"
    assert decision.reason == "no side effects"


def test_think_naming_outside_path_rejected(wt: Path) -> None:
    assert decide(request("think", ("/etc/passwd",)), wt, wt).verdict == "reject"


def test_normalize_command() -> None:
    assert normalize_command("ls  -la") == "ls -la"
    assert normalize_command("echo 'a  b'") == normalize_command('echo "a  b"')
    assert normalize_command("echo 'a  b'") != normalize_command("echo a b")
    # Unbalanced quotes cannot be split: fall back to collapsing whitespace.
    assert normalize_command("echo  'oops") == "echo 'oops"


# choose_option()


def opt(option_id: str, kind: OptionKind) -> PermissionOption:
    return PermissionOption(option_id=option_id, name=option_id.title(), kind=kind)


ALL = (
    opt("always", "allow_always"),
    opt("never", "reject_always"),
    opt("once", "allow_once"),
    opt("no", "reject_once"),
)


@pytest.mark.parametrize(
    ("want", "expected"),
    [("allow_once", "once"), ("allow_always", "always"), ("reject_once", "no"), ("reject_always", "never")],
)
def test_choose_option_by_kind_not_position(want: OptionKind, expected: str) -> None:
    assert choose_option(ALL, want) == expected
    assert choose_option(tuple(reversed(ALL)), want) == expected


def test_allow_once_never_picks_always_when_once_exists() -> None:
    options = (opt("a-always", "allow_always"), opt("a-once", "allow_once"))
    assert choose_option(options, "allow_once") == "a-once"


def test_fallbacks_within_same_direction() -> None:
    assert choose_option((opt("x", "allow_always"), opt("r", "reject_once")), "allow_once") == "x"
    assert choose_option((opt("y", "allow_once"), opt("r", "reject_once")), "allow_always") == "y"
    assert choose_option((opt("z", "reject_always"), opt("a", "allow_once")), "reject_once") == "z"
    assert choose_option((opt("w", "reject_once"), opt("a", "allow_once")), "reject_always") == "w"


def test_none_when_nothing_fits() -> None:
    assert choose_option((opt("r", "reject_once"), opt("rr", "reject_always")), "allow_once") is None
    assert choose_option((opt("a", "allow_once"),), "reject_once") is None
    assert choose_option((), "allow_always") is None


def test_first_of_equal_kind_wins() -> None:
    assert choose_option((opt("first", "allow_once"), opt("second", "allow_once")), "allow_once") == "first"


# describe() and the ask buttons


def test_describe_command_mentions_command_and_cwd() -> None:
    text = describe(request("execute", command="pytest -x", cwd="/wt/src"), "qwen")
    assert text == "qwen wants to run: pytest -x in /wt/src"


def test_describe_command_without_cwd() -> None:
    assert describe(request("execute", command="ls"), "codex") == "codex wants to run: ls"


def test_describe_non_command_mentions_title_and_paths() -> None:
    text = describe(request("fetch", ("a.py", "b.py"), title="Fetch docs"), "gemini")
    assert text == "gemini asks permission: Fetch docs (a.py, b.py)"
    assert describe(request("other", title="Think hard"), "g") == "g asks permission: Think hard"


def test_describe_names_the_tool_when_the_title_is_only_arguments() -> None:
    """qwen-code titles an MCP tool's request with its arguments ("{}"); its options name the tool."""
    options = (
        PermissionOption("once", "Allow once", "allow_once"),
        PermissionOption("always", "Always Allow in project: probe_ping", "allow_always"),
    )
    text = describe(request("other", title="{}", options=options), "qwen")
    assert text == "qwen asks permission: {} (the agent offers: Allow once; Always Allow in project: probe_ping)"
    assert describe(request("other", title=""), "q") == "q asks permission: an unnamed tool call"


def test_answer_for_title_round_trips_ask_actions() -> None:
    for label, kind in ASK_ACTIONS:
        assert answer_for_title(label) == kind
    assert answer_for_title("Always allow") == "allow_always"
    assert answer_for_title("allow") is None
    assert answer_for_title(None) is None
    assert {kind for _, kind in ASK_ACTIONS} == {"allow_once", "allow_always", "reject_once"}


# Remembered answers never cover a command naming a file the agent changed and the user has not reviewed


def test_remembered_command_naming_an_unreviewed_file_asks_again(wt: Path) -> None:
    remembered = frozenset({normalize_command("sh build.sh")})
    decision = decide(request("execute", command="sh build.sh"), wt, wt, remembered, {"build.sh"})
    assert decision.verdict == "ask"
    assert decision.unreviewed == ("build.sh",)
    assert "build.sh was changed by the agent and not reviewed" in decision.reason
    # Reviewed (nothing pending) or another file pending: the earlier "always" stands.
    assert decide(request("execute", command="sh build.sh"), wt, wt, remembered, set()).verdict == "allow"
    assert decide(request("execute", command="sh build.sh"), wt, wt, remembered, {"src/a.py"}).verdict == "allow"


@pytest.mark.parametrize(
    "command",
    [
        "sh build.sh",
        "sh ./build.sh",
        "./build.sh --fast",
        f"bash {'{wt}'}/build.sh",
        "sh build.sh&&echo done",
        "sh 'build.sh'",
        "run --script=build.sh",
        "sh src/../build.sh",
    ],
)
def test_the_file_is_found_however_the_command_names_it(wt: Path, command: str) -> None:
    command = command.replace("{wt}", str(wt))
    remembered = frozenset({normalize_command(command)})
    decision = decide(request("execute", command=command), wt, wt, remembered, {"build.sh"})
    assert (decision.verdict, decision.unreviewed) == ("ask", ("build.sh",)), command


def test_relative_names_resolve_against_the_commands_cwd(wt: Path) -> None:
    remembered = frozenset({normalize_command("sh build.sh")})
    # From src/, build.sh is src/build.sh: the pending top-level build.sh is not what runs.
    in_src = request("execute", command="sh build.sh", cwd="src")
    assert decide(in_src, wt, wt, remembered, {"build.sh"}).verdict == "allow"
    assert decide(in_src, wt, wt, remembered, {"src/build.sh"}).unreviewed == ("src/build.sh",)
    # The agent's own cwd applies when the request names none.
    from_src = decide(request("execute", command="sh build.sh"), wt, wt / "src", remembered, {"src/build.sh"})
    assert from_src.verdict == "ask"


def test_a_directory_holding_unreviewed_files_counts(wt: Path) -> None:
    remembered = frozenset({normalize_command("pytest tests")})
    decision = decide(request("execute", command="pytest tests"), wt, wt, remembered, {"tests/test_a.py", "x.py"})
    assert decision.unreviewed == ("tests/test_a.py",)
    assert decide(request("execute", command="ls -la"), wt, wt, frozenset({"ls -la"}), {"x.py"}).verdict == "allow"


def test_a_symlink_to_an_unreviewed_file_counts(wt: Path) -> None:
    (wt / "build.sh").write_text("echo hi\n")
    (wt / "run.sh").symlink_to(wt / "build.sh")
    remembered = frozenset({normalize_command("sh run.sh")})
    assert decide(request("execute", command="sh run.sh"), wt, wt, remembered, {"build.sh"}).unreviewed == ("build.sh",)


def test_unreviewed_files_are_named_in_a_first_question_too(wt: Path) -> None:
    decision = decide(request("execute", command="sh build.sh"), wt, wt, frozenset(), {"build.sh"})
    assert decision.verdict == "ask" and decision.unreviewed == ("build.sh",)


def test_unbalanced_quotes_still_find_the_file(wt: Path) -> None:
    decision = decide(request("execute", command="sh build.sh 'oops"), wt, wt, frozenset(), {"build.sh"})
    assert decision.unreviewed == ("build.sh",)


def test_describe_says_which_file_was_not_reviewed(wt: Path) -> None:
    text = describe(request("execute", command="sh build.sh"), "qwen", ("build.sh",), wt)
    assert text == f"qwen wants to run: sh build.sh in {wt} (build.sh was changed by the agent and not reviewed)"
    many = describe(request("execute", command="x", cwd="/w"), "q", ("a", "b", "c", "d"))
    assert many.endswith("(a, b, c and 1 more were changed by the agent and not reviewed)")
