import assert from "node:assert/strict";
import { test } from "node:test";
import { buildPendingTree, conflictSpans, hunkAtLine, hunkSummary, relativePath, selectionOf, spanOf } from "../../src/core/pendingModel";
import type { PendingFile, SessionInfo } from "../../src/core/protocol";

const range = (a: number, b: number, endChar = 0) => ({ start: { line: a, character: 0 }, end: { line: b, character: endChar } });

const files: PendingFile[] = [
  {
    sessionId: "s1", uri: "file:///repo/src/b.py", change: "modify",
    hunks: [
      { hunkId: "h1", agent: "qwen", turnId: "t1", range: range(0, 1), oldText: "a\n", newText: "b\nc\n" },
      { hunkId: "h2", agent: "claude", turnId: "t2", range: range(5, 5), oldText: "", newText: "new\n" },
    ],
  },
  { sessionId: "s1", uri: "file:///repo/a.txt", change: "create", hunks: [{ hunkId: "h3", agent: "qwen", turnId: "t1", range: range(0, 0), oldText: "", newText: "x\n" }] },
  { sessionId: "s2", uri: "file:///repo/new%20name.py", oldUri: "file:///repo/old.py", change: "rename", hunks: [{ hunkId: "h4", agent: "qwen", turnId: null, range: range(0, 0), oldText: "", newText: "" }] },
];
const sessions: SessionInfo[] = [
  { sessionId: "s1", title: "Refactor", createdAt: "", agents: [], pendingHunks: 3 },
  { sessionId: "s3", title: "Idle", createdAt: "", agents: [], pendingHunks: 0 },
];

test("hunk summaries match the server's lens wording", () => {
  assert.equal(hunkSummary({ change: "modify" }, { oldText: "a\n", newText: "b\nc\n" }), "replace 1 line with 2");
  assert.equal(hunkSummary({ change: "modify" }, { oldText: "", newText: "x\n" }), "add 1 line");
  assert.equal(hunkSummary({ change: "modify" }, { oldText: "a\nb", newText: "" }), "remove 2 lines");
  assert.equal(hunkSummary({ change: "rename" }, { oldText: "", newText: "" }), "rename file");
  assert.equal(hunkSummary({ change: "modify", binary: true }, { oldText: "", newText: "" }), "binary file");
});

test("the tree is session → files → hunks, attributed to agents", () => {
  const tree = buildPendingTree(sessions, files, ["/repo"], "s3");
  assert.deepEqual(tree.map((s) => [s.label, s.description]), [
    ["Refactor", "3 changes · qwen, claude"],
    ["Idle", "current · no pending changes"],
    ["s2", "1 change · qwen"],
  ]);
  const [refactor] = tree;
  assert.deepEqual(refactor.files.map((f) => [f.label, f.description]), [
    ["a.txt", "new file · 1 change · qwen"],
    ["src/b.py", "modified · 2 changes · qwen, claude"],
  ]);
  assert.deepEqual(refactor.files[1].hunks.map((h) => [h.label, h.description]), [
    ["qwen: replace 1 line with 2", "line 1"],
    ["claude: add 1 line", "line 6"],
  ]);
  assert.equal(tree[2].files[0].label, "new name.py");
  assert.equal(tree[2].files[0].description, "renamed from old.py · 1 change · qwen");
  assert.equal(tree[2].files[0].hunks[0].description, "");
});

test("selections widen from hunk to file to session", () => {
  const [s] = buildPendingTree(sessions, files, ["/repo"]);
  assert.deepEqual(selectionOf(s), { sessionId: "s1" });
  assert.deepEqual(selectionOf(s.files[0]), { sessionId: "s1", uri: "file:///repo/a.txt" });
  assert.deepEqual(selectionOf(s.files[0].hunks[0]), { sessionId: "s1", uri: "file:///repo/a.txt", hunkId: "h3" });
});

test("relative paths fall back to the full path outside the roots", () => {
  assert.equal(relativePath("file:///repo/x/y.ts", ["/other", "/repo"]), "x/y.ts");
  assert.equal(relativePath("file:///elsewhere/y.ts", ["/repo"]), "/elsewhere/y.ts");
});

test("the hunk under the cursor: ranges ending at column 0 exclude that line; insertions take one line", () => {
  const spans = [
    spanOf("s1", "u", "h1", range(2, 4)),
    spanOf("s1", "u", "h2", range(7, 7)),
    spanOf("s2", "u", "h3", range(7, 7)),
    spanOf("s1", "u", "h4", range(9, 10, 3)),
  ];
  assert.equal(hunkAtLine(spans, 1), undefined);
  assert.equal(hunkAtLine(spans, 3)?.hunkId, "h1");
  assert.equal(hunkAtLine(spans, 4), undefined);
  assert.equal(hunkAtLine(spans, 7)?.hunkId, "h2");
  assert.equal(hunkAtLine(spans, 7, "s2")?.hunkId, "h3");
  assert.equal(hunkAtLine(spans, 10)?.hunkId, "h4");
});

test("a conflict hunk says so in the tree and gets a warning span at its live position", () => {
  const conflicted: PendingFile[] = [{
    sessionId: "s1", uri: "file:///repo/c.py", change: "modify",
    hunks: [
      { hunkId: "h1", agent: "qwen", turnId: "t1", range: range(2, 4), oldText: "mine\nmine\n", newText: "agent\n", conflict: true, conflictReason: "you changed these lines too" },
      { hunkId: "h2", agent: "qwen", turnId: "t1", range: range(9, 9), oldText: "", newText: "x\n" },
    ],
  }];
  const [file] = buildPendingTree([], conflicted, ["/repo"])[0].files;
  assert.equal(file.description, "modified · 2 changes · 1 conflict · qwen");
  assert.deepEqual(file.hunks.map((h) => [h.description, h.conflict, h.conflictReason]), [
    ["conflict · line 3", true, "you changed these lines too"],
    ["line 10", false, undefined],
  ]);
  assert.deepEqual(conflictSpans(conflicted, "file:///repo/c.py"), [
    { sessionId: "s1", uri: "file:///repo/c.py", hunkId: "h1", startLine: 2, endLine: 3, agent: "qwen", reason: "you changed these lines too" },
  ]);
  const moved = conflictSpans(conflicted, "file:///repo/c.py", new Map([["h1", range(5, 7)]]));
  assert.deepEqual([moved[0].startLine, moved[0].endLine], [5, 6]);
  assert.deepEqual(conflictSpans(conflicted, "file:///repo/other.py"), []);
});
