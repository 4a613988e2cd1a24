import assert from "node:assert/strict";
import { test } from "node:test";
import { buildPendingTree, clampSpan, hunkClick, spanOf } from "../../src/core/pendingModel";
import type { PendingFile, Range } from "../../src/core/protocol";
import { hunkStops, previewBlocks, stepHunk } from "../../src/core/reviewModel";

const range = (a: number, b: number, endChar = 0): Range => ({ start: { line: a, character: 0 }, end: { line: b, character: endChar } });

const files: PendingFile[] = [
  {
    sessionId: "s1", uri: "file:///repo/b.py", change: "modify",
    hunks: [
      { hunkId: "h1", agent: "qwen", turnId: "t1", range: range(2, 4), oldText: "x\ny\n", newText: "z\n" },
      { hunkId: "h2", agent: "qwen", turnId: "t1", range: range(0, 0), oldText: "", newText: "import os\nimport re\n" },
      { hunkId: "h3", agent: "qwen", turnId: "t1", range: range(9, 9), oldText: "", newText: "tail\n", liveRange: range(11, 11) },
      { hunkId: "h4", agent: "qwen", turnId: "t1", range: range(6, 7), oldText: "gone\n", newText: "" },
    ],
  },
  { sessionId: "s1", uri: "file:///repo/a.txt", change: "create", hunks: [{ hunkId: "h5", agent: "qwen", turnId: "t1", range: range(0, 0), oldText: "", newText: "new\n" }] },
  { sessionId: "s1", uri: "file:///repo/c.bin", change: "modify", binary: true, hunks: [{ hunkId: "h6", agent: "qwen", turnId: "t1", range: range(0, 0), oldText: "", newText: "" }] },
];

test("the inline preview strikes the removed lines and shows the agent's lines below them", () => {
  const blocks = previewBlocks(files, "file:///repo/b.py");
  assert.deepEqual(blocks.map((b) => [b.hunkId, b.removed, b.anchorLine, b.above, b.added, b.summary]), [
    // An insertion at the top shows below line 0, marked as going above it.
    ["h2", undefined, 0, true, "import os\nimport re", "add 2 lines"],
    // A replacement: lines 2-3 struck, the agent's line right below the last of them.
    ["h1", { startLine: 2, endLine: 3 }, 3, false, "z", "replace 2 lines with 1"],
    ["h4", { startLine: 6, endLine: 6 }, 6, false, "", "remove 1 line"],
    // The live range (the document moved since) wins over the base range: inserted before line 11.
    ["h3", undefined, 10, false, "tail", "add 1 line"],
  ]);
});

test("the preview follows the diagnostics' ranges (your edits) and skips binary files", () => {
  const live = new Map([["h1", range(5, 7)]]);
  const h1 = previewBlocks(files, "file:///repo/b.py", live).find((b) => b.hunkId === "h1");
  assert.deepEqual([h1?.removed, h1?.anchorLine], [{ startLine: 5, endLine: 6 }, 6]);
  assert.deepEqual(previewBlocks(files, "file:///repo/c.bin"), []);
});

test("next / previous walk hunks by file path then line, across files, wrapping around", () => {
  const stops = hunkStops(files, ["/repo"]);
  assert.deepEqual(stops.map((s) => `${s.uri.slice(13)}:${s.line}`), ["a.txt:0", "b.py:0", "b.py:2", "b.py:6", "b.py:11", "c.bin:0"]);
  const at = (uri: string, line: number) => ({ uri: `file:///repo/${uri}`, line });
  assert.equal(stepHunk(stops, 1, at("b.py", 2))?.hunkId, "h4", "next leaves the hunk the cursor is on");
  assert.equal(stepHunk(stops, 1, at("b.py", 3))?.hunkId, "h4");
  assert.equal(stepHunk(stops, -1, at("b.py", 2))?.hunkId, "h2");
  assert.equal(stepHunk(stops, 1, at("b.py", 11))?.hunkId, "h6", "into the next file");
  assert.equal(stepHunk(stops, 1, at("c.bin", 0))?.hunkId, "h5", "wraps to the first");
  assert.equal(stepHunk(stops, -1, at("a.txt", 0))?.hunkId, "h6", "wraps to the last");
  assert.equal(stepHunk(stops, 1, at("other.py", 4))?.hunkId, "h5");
  assert.equal(stepHunk(stops, -1)?.hunkId, "h6");
  assert.equal(stepHunk([], 1), undefined);
  assert.equal(stops[0].created, true, "a new file is shown as a diff");
  // In a diff editor the file counts as a whole: next goes past its hunks, previous before them.
  assert.equal(stepHunk(stops, 1, at("b.py", Number.MAX_SAFE_INTEGER))?.hunkId, "h6");
  assert.equal(stepHunk(stops, -1, at("b.py", -1))?.hunkId, "h5");
});

test("a new file's hunk row opens the diff, not the file (it is not on disk yet)", () => {
  const [session] = buildPendingTree([], files, ["/repo"], "s1");
  const created = session.files.find((f) => f.label === "a.txt")?.hunks[0];
  const modified = session.files.find((f) => f.label === "b.py")?.hunks[0];
  assert.ok(created && modified);
  assert.deepEqual(hunkClick(created), { kind: "diff", selection: { sessionId: "s1", uri: "file:///repo/a.txt", hunkId: "h5" } });
  assert.deepEqual(hunkClick(modified), { kind: "open", line: modified.range.start.line });
});

test("a hunk appended at the end stays on the open document's last line", () => {
  const appended: PendingFile[] = [{
    sessionId: "s1", uri: "file:///repo/e.py", change: "modify",
    hunks: [{ hunkId: "h9", agent: "qwen", turnId: "t1", range: range(11, 11), oldText: "", newText: "x\n", liveRange: range(12, 12) }],
  }];
  assert.equal(hunkStops(appended, ["/repo"], undefined, () => 11)[0].line, 11);
  assert.equal(hunkStops(appended, ["/repo"])[0].line, 12, "a file that is not open keeps the reported line");
  assert.deepEqual(clampSpan(spanOf("s1", "u", "h9", range(12, 12)), 11), { sessionId: "s1", uri: "u", hunkId: "h9", startLine: 11, endLine: 11 });
});
