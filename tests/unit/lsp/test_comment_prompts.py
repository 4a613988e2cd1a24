"""bridge.lsp.comment_prompts: a comment holding `AI!` is a prompt; found by a language-agnostic scan, pure."""

from __future__ import annotations

import pytest
from lsprotocol import types as T

from bridge import protocol as wire
from bridge.lsp.comment_prompts import comment_instruction, comment_prompt_actions


@pytest.mark.parametrize(
    ("line", "instruction"),
    [
        ("# add a docstring AI!\n", "add a docstring"),  # Python, shell, Ruby, YAML, TOML
        ("    # add a docstring to greet AI!", "add a docstring to greet"),
        ("// rename this to total AI!", "rename this to total"),  # C family, Rust, Go, JS, Java
        ("  /// document the fields AI!", "document the fields"),
        ("//! crate docs AI!", "crate docs"),
        ("-- use a join here AI!", "use a join here"),  # SQL, Lua, Haskell
        ("; handle nil AI!", "handle nil"),  # Lisps, assembly, INI
        (";;; handle nil AI!", "handle nil"),
        ("% cite the paper AI!", "cite the paper"),  # TeX, Erlang, MATLAB
        ("## AI! split this function", "split this function"),  # AI! first, as aider allows
        ("# ai! lower case works too", "lower case works too"),
        ("x = compute(a, b)  # cache the result AI!", "cache the result"),
        ("let n: &'a str = s; // borrow less AI!", "borrow less"),  # an unclosed quote is no string
        ("(setq x 'sym) ; quote it AI!", "quote it"),
        ('print("hi")  # say bye too AI!', "say bye too"),
        ("for (i = 0; i < n; i--) // count up AI!", "count up"),  # `;` and `--` inside code are not markers
        ("/* make it blue AI! */", "make it blue"),  # CSS
        ("<!-- add alt text AI! -->", "add alt text"),  # HTML
        ("(* prove it AI! *)", "prove it"),  # OCaml
        ("# fix this AI!\r\n", "fix this"),
    ],
)
def test_comment_instruction_in_many_languages(line: str, instruction: str) -> None:
    assert comment_instruction(line) == instruction


@pytest.mark.parametrize(
    "line",
    [
        "",
        "x = 1\n",
        "# a plain comment\n",
        "AI! outside any comment",  # no marker
        'print("# AI!")',  # in a string
        "msg = 'do it // AI!'",
        "s = `-- AI!`",
        'x = "a \\" # AI!"',  # an escaped quote does not end the string
        "# AI!",  # nothing to do
        "# say MAI! or AIR!",  # not the word AI!
        'text = "%d" % n  # formatted',
    ],
)
def test_no_comment_prompt(line: str) -> None:
    assert comment_instruction(line) is None


def test_a_percent_operator_is_no_comment() -> None:
    assert comment_instruction('text = "%d" % n  # format it AI!') == "format it"


def rng(l0: int, c0: int, l1: int, c1: int) -> T.Range:
    return T.Range(T.Position(l0, c0), T.Position(l1, c1))


TEXT = "".join(f"line {i}\n" for i in range(30)).replace("line 25\n", "    # add a docstring AI!\n")
URI = "file:///repo/src/a.py"


def test_action_prompts_with_the_instruction_and_the_lines_around() -> None:
    [action] = comment_prompt_actions(TEXT, URI, rng(25, 3, 25, 3), "src/a.py")
    assert action.title == "Ask agent: add a docstring"
    assert action.kind == T.CodeActionKind.QuickFix and action.edit is None
    assert action.command is not None and action.command.command == wire.PROMPT
    [args] = action.command.arguments or []
    assert args["text"] == (
        "add a docstring\n\n(The instruction comes from a comment in src/a.py line 26; "
        "remove that comment as part of your change.)"
    )
    assert args["uri"] == URI
    # 20 lines above; below, the file ends first (its last line, 29, ends with a newline).
    assert args["range"] == {"start": {"line": 5, "character": 0}, "end": {"line": 30, "character": 0}}


def test_action_from_any_range_touching_the_line() -> None:
    assert len(comment_prompt_actions(TEXT, URI, rng(20, 0, 26, 0), "a.py")) == 1
    assert len(comment_prompt_actions(TEXT, URI, rng(25, 0, 25, 0), "a.py")) == 1
    assert comment_prompt_actions(TEXT, URI, rng(24, 0, 25, 0), "a.py") == []  # ends where the line starts
    assert comment_prompt_actions(TEXT, URI, rng(26, 0, 26, 4), "a.py") == []
    assert comment_prompt_actions(TEXT, URI, rng(99, 0, 99, 0), "a.py") == []  # past the end


def test_action_near_the_top_of_an_unterminated_file() -> None:
    [action] = comment_prompt_actions("// rename AI!\nint x", URI, rng(0, 0, 0, 0), "a.c")
    assert action.command is not None
    [args] = action.command.arguments or []
    assert args["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 5}}


def test_the_arguments_are_a_valid_prompt() -> None:
    [action] = comment_prompt_actions(TEXT, URI, rng(25, 0, 25, 0), "a.py")
    assert action.command is not None
    [args] = action.command.arguments or []
    parsed = wire.parse(wire.PROMPT, args, wire.PromptArgs)
    assert parsed.uri == URI and parsed.range is not None and parsed.range.start.line == 5
