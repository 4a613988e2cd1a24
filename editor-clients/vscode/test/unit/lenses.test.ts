import assert from "node:assert/strict";
import { test } from "node:test";
import { SHOW_DIFF_COMMAND, lensSelection, withDiffLenses } from "../../src/core/lenses";
import type { LensLike } from "../../src/core/lenses";

type Lens = LensLike & { line: number };
const sel = { sessionId: "s", uri: "file:///r/a.py", hunkId: "h1" };

test("a Diff lens follows each Reject lens, carrying the hunk", () => {
  const lenses: Lens[] = [
    { line: 3, command: { title: "Apply (qwen: add 1 line)", command: "agentBridge.apply", arguments: [sel] } },
    { line: 3, command: { title: "Reject", command: "agentBridge.reject", arguments: [sel] } },
    { line: 9, command: { title: "Other", command: "other.command", arguments: [sel] } },
    { line: 12 },
  ];
  const out = withDiffLenses(lenses, (after, selection) => ({
    line: after.line, command: { title: "Diff", command: SHOW_DIFF_COMMAND, arguments: [selection] },
  }));
  assert.deepEqual(out.map((l) => l.command?.title), ["Apply (qwen: add 1 line)", "Reject", "Diff", "Other", undefined]);
  assert.equal(out[2].line, 3);
  assert.deepEqual(out[2].command?.arguments, [sel]);
});

test("lenses without a full hunk selection get no Diff", () => {
  assert.equal(lensSelection({ command: { title: "Reject", command: "agentBridge.reject", arguments: [{ sessionId: "s" }] } }), undefined);
  assert.equal(lensSelection({ command: { title: "Reject", command: "agentBridge.reject" } }), undefined);
  assert.deepEqual(lensSelection({ command: { title: "Reject", command: "agentBridge.reject", arguments: [{ ...sel, extra: 1 }] } }), sel);
});
