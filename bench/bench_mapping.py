"""Following the user's edits through a big file: code lenses after one typed line, as ratios against a
baseline measured in the same run.

The case: a 15k-line file of repeated lines (braces, blank lines), one pending hunk near its end, the user types
one line near its top. Mapping the hunk onto the edited text used to be quadratic and ran on the event loop:
8 s for this code lens, every other session frozen meanwhile.

- lsp: `textDocument/codeLens` on the real server over stdio, right after the typed line (a new document
  version, so nothing is cached), against `textDocument/codeLens` on a small file with no pending hunk (the
  round trip itself). Also prints whether the server answered another request while mapping.
- pure: `LineMap` + `LspLines` for the edited text, against `split_lines` of the same text (one pass over it),
  and, with --old, the previous whole-file `SequenceMatcher` mapping.

Run: .venv/bin/python bench/bench_mapping.py [--lines N] [--rounds R] [--old]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from difflib import SequenceMatcher
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from lsprotocol import types as T  # noqa: E402

from bench.bench_review import _best  # noqa: E402
from bridge.lsp.linemap import LineMap  # noqa: E402
from bridge.textlines import LspLines, split_lines  # noqa: E402
from tests.support.lsp_harness import make_repo, start_editor  # noqa: E402


def big_text(lines: int) -> str:
    block = ["if (x) {\n", "    y();\n", "}\n", "\n", "return;\n"]
    return "".join(block[i % len(block)] for i in range(lines))


def bench_pure(lines: int, rounds: int, old: bool) -> None:
    base = big_text(lines)
    live = "// typed\n" + base
    baseline = _best(lambda: split_lines(live), rounds)
    measured = _best(lambda: (LineMap(base, live)(lines - 3), LspLines.of(live)), rounds)
    print(f"pure: {lines} lines, one typed: mapping {measured * 1000:.1f} ms vs one split "
          f"{baseline * 1000:.2f} ms -> ratio {measured / baseline:.1f}")
    if old:
        start = time.perf_counter()
        SequenceMatcher(None, split_lines(base), split_lines(live), autojunk=False).get_opcodes()
        took = time.perf_counter() - start
        print(f"pure: the previous whole-file SequenceMatcher: {took * 1000:.0f} ms -> ratio {took / measured:.0f} "
              "against the mapping now")


async def bench_lsp(lines: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = big_text(lines)
        repo = make_repo(Path(tmp) / "project", {"big.c": base, "small.c": "int x;\n"})
        editor = await start_editor(repo, Path(tmp) / "state", Path(tmp) / "agent.log")
        try:
            changed = base[: -len("return;\n")] + "return 0;\n"
            editor.answers = ["Allow"]
            _, _, result = await editor.run("@write big.c\n" + changed + "@end")
            assert result["status"] == "completed", result
            uri, small = editor.open("big.c", base), editor.open("small.c")

            async def lens(target: str) -> tuple[float, int]:
                start = time.perf_counter()
                found = await editor.client.text_document_code_lens_async(
                    T.CodeLensParams(text_document=T.TextDocumentIdentifier(uri=target)))
                return time.perf_counter() - start, len(found or [])

            baselines, measured, others = [], [], []
            for n in range(rounds):
                baselines.append((await lens(small))[0])
                editor.change(uri, f"// typed {n}\n" + base)  # one typed line: a new version, nothing cached
                mapped, other = await asyncio.gather(lens(uri), lens(small))
                assert mapped[1] == 2, mapped  # Apply and Reject of the one pending hunk
                measured.append(mapped[0])
                others.append(other[0])
            b, m, o = (statistics.median(x) for x in (baselines, measured, others))
            print(f"lsp: {lines} lines, one typed, one pending hunk: codeLens {m * 1000:.1f} ms vs a codeLens "
                  f"with nothing to map {b * 1000:.1f} ms -> ratio {m / b:.1f}; a request sent meanwhile "
                  f"{o * 1000:.1f} ms")
        finally:
            await editor.client.shutdown_session()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=15_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--old", action="store_true", help="also time the previous mapping (takes seconds)")
    args = parser.parse_args()
    bench_pure(args.lines, args.rounds, args.old)
    asyncio.run(bench_lsp(args.lines, args.rounds))


if __name__ == "__main__":
    main()
