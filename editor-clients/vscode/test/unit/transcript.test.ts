import assert from "node:assert/strict";
import { test } from "node:test";
import type { BridgeEvent } from "../../src/core/protocol";
import { MAX_TURNS, Transcripts } from "../../src/core/transcript";

const S = "s1";
const T = "t1";

function ev(e: Record<string, unknown>): BridgeEvent {
  return { sessionId: S, turnId: T, ...e } as BridgeEvent;
}

test("text and reasoning deltas are joined while the same kind streams", () => {
  const t = new Transcripts();
  t.apply(ev({ kind: "turnStarted", agent: "qwen", prompt: "fix it" }));
  t.apply(ev({ kind: "text", text: "Hel" }));
  t.apply(ev({ kind: "text", text: "lo" }));
  t.apply(ev({ kind: "reasoning", text: "hmm" }));
  t.apply(ev({ kind: "text", text: " again" }));
  const turn = t.get(S)?.turns[0];
  assert.equal(turn?.agent, "qwen");
  assert.equal(turn?.prompt, "fix it");
  assert.deepEqual(turn?.entries, [
    { type: "text", text: "Hello" },
    { type: "reasoning", text: "hmm" },
    { type: "text", text: " again" },
  ]);
});

test("a tool call is updated in place by its id, keeping its position", () => {
  const t = new Transcripts();
  const call = { kind: "toolCall", toolCallId: "c1", title: "Run ls", toolKind: "execute", status: "pending", paths: [] };
  t.apply(ev(call));
  t.apply(ev({ kind: "text", text: "meanwhile" }));
  t.apply(ev({ ...call, status: "completed", output: "a.txt\n", command: "ls" }));
  const entries = t.get(S)?.turns[0].entries ?? [];
  assert.equal(entries.length, 2);
  assert.deepEqual(entries[0], {
    type: "tool",
    call: { toolCallId: "c1", title: "Run ls", toolKind: "execute", status: "completed", paths: [], command: "ls", output: "a.txt\n" },
  });
});

test("a permission entry follows its tool call from asking to the outcome", () => {
  const t = new Transcripts();
  t.apply(ev({ kind: "permission", toolCallId: "c1", title: "run", command: "make", cwd: "/w", outcome: "asking" }));
  t.apply(ev({ kind: "permission", toolCallId: "c1", title: "run", command: "make", cwd: "/w", outcome: "allowed" }));
  const entries = t.get(S)?.turns[0].entries ?? [];
  assert.equal(entries.length, 1);
  assert.equal(entries[0].type === "permission" && entries[0].outcome, "allowed");
});

test("the plan is replaced, usage merged, the end recorded", () => {
  const t = new Transcripts();
  t.apply(ev({ kind: "plan", entries: [{ content: "a", status: "pending" }] }));
  t.apply(ev({ kind: "plan", entries: [{ content: "a", status: "completed" }, { content: "b", status: "pending" }] }));
  t.apply(ev({ kind: "usage", contextUsed: 10, contextSize: 100 }));
  t.apply(ev({ kind: "usage", inputTokens: 5 }));
  t.apply(ev({ kind: "turnEnded", status: "failed", error: "boom", stopReason: "refusal" }));
  const turn = t.get(S)?.turns[0];
  assert.deepEqual(turn?.plan.map((e) => e.status), ["completed", "pending"]);
  assert.deepEqual(turn?.usage, { contextUsed: 10, contextSize: 100, inputTokens: 5 });
  assert.equal(turn?.status, "failed");
  assert.equal(turn?.error, "boom");
});

test("events outside a turn: notices, pending counts and titles go to the session", () => {
  const t = new Transcripts();
  assert.equal(t.apply({ sessionId: S, turnId: null, kind: "notice", message: "started afresh" }), true);
  assert.equal(t.apply({ sessionId: S, turnId: null, kind: "pendingChanged", files: 2, hunks: 3 }), true);
  assert.equal(t.apply({ sessionId: S, turnId: null, kind: "availableCommands", commands: [] }), false);
  const s = t.get(S);
  assert.deepEqual(s?.notices, ["started afresh"]);
  assert.deepEqual(s?.pending, { files: 2, hunks: 3 });
  assert.equal(s?.turns.length, 0);
});

test("a prompt recorded before turnStarted keeps one turn; old turns are dropped past the cap", () => {
  const t = new Transcripts();
  t.startTurn(S, T, "scripted", "@say hi");
  t.apply(ev({ kind: "turnStarted", agent: "scripted", prompt: "@say hi" }));
  assert.equal(t.get(S)?.turns.length, 1);
  for (let i = 0; i < MAX_TURNS + 5; i++) {
    t.apply({ sessionId: S, turnId: `x${i}`, kind: "text", text: "." });
  }
  assert.equal(t.get(S)?.turns.length, MAX_TURNS);
  assert.equal(t.get(S)?.turns.at(-1)?.turnId, `x${MAX_TURNS + 4}`);
});
