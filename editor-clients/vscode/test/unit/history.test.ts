import assert from "node:assert/strict";
import { test } from "node:test";
import { renderTranscript, renderTurn, REWIND_LABEL } from "../../src/core/chatHtml";
import { mergeHistory, turnFromHistory } from "../../src/core/history";
import type { BridgeEvent, HistoryEntry } from "../../src/core/protocol";
import { asBridgeEvent } from "../../src/core/protocol";
import { Transcripts } from "../../src/core/transcript";

const S = "s1";

/** An entry as a server from before the living-sessions fields sends it (nulls included). */
function oldEntry(turnId: string, prompt: string, answer: string | null, status: HistoryEntry["status"] = "completed"): HistoryEntry {
  return {
    turnId, agent: "scripted", prompt, status, stopReason: status === "completed" ? "end_turn" : null, error: null,
    answer, queuedAt: "2026-01-01T00:00:00Z", startedAt: null, endedAt: null,
  };
}

const FULL: HistoryEntry = {
  ...oldEntry("t2", "write <b>", "Wrote `b.py`."),
  rewound: true,
  toolCalls: [
    { toolCallId: "c1", title: "Read a.py", toolKind: "read", status: "completed", paths: ["/w/a.py"] },
    { toolCallId: "c2", title: "Run make", toolKind: "execute", status: "failed", paths: [], command: "make", output: "boom" },
  ],
  permissions: [
    { toolCallId: "other", title: "fetch", permissionKind: "fetch", paths: [], outcome: "rejected", reason: "no network" },
    { toolCallId: "c2", title: "Run make", permissionKind: "execute", paths: [], command: "make", cwd: "/w", outcome: "allowed" },
  ],
  plan: [{ content: "edit b", status: "completed", priority: "medium" }],
  usage: { inputTokens: 120, outputTokens: 45 },
};

test("an entry with only prompt, answer and status draws like a streamed turn", () => {
  const turn = turnFromHistory(oldEntry("t1", "say <hi>", "Hello `there`"));
  assert.deepEqual(turn, {
    turnId: "t1", agent: "scripted", prompt: "say <hi>", status: "completed", stopReason: "end_turn", error: undefined,
    entries: [{ type: "text", text: "Hello `there`" }], plan: [], usage: {}, rewound: false,
  });
  const html = renderTurn(turn);
  assert.match(html, /prompt-text">say &lt;hi&gt;</);
  assert.match(html, /<code>there<\/code>/);
  assert.match(html, /turn-status completed">completed</);
  assert.match(html, new RegExp(`data-rewind="t1"[^>]*>${REWIND_LABEL}<`));
  assert.equal(turnFromHistory(oldEntry("t0", "x", null, "failed")).entries.length, 0);
});

test("tool calls (each with its permission), plan, usage and the rewound mark come from the history", () => {
  const turn = turnFromHistory(FULL);
  assert.deepEqual(turn.entries.map((e) => e.type === "tool" ? `tool ${e.call.toolCallId} ${e.call.status}`
    : e.type === "permission" ? `permission ${e.toolCallId} ${e.outcome}` : e.type), [
    "tool c1 completed", "tool c2 failed", "permission c2 allowed", "permission other rejected", "text",
  ]);
  assert.equal(turn.rewound, true);
  const html = renderTurn(turn);
  assert.match(html, /class="turn rewound"/);
  assert.match(html, /rewound-marker[^>]*>rewound</);
  assert.doesNotMatch(html, /data-rewind/, "a rewound turn cannot be rewound again");
  assert.match(html, /tool status-failed[^]*tool-title">Run make</);
  assert.match(html, /plan-completed">● edit b/);
  assert.match(html, /120 in · 45 out/);
  assert.match(html, /prompt-text">write &lt;b&gt;</);
});

test("running and queued turns show no rewind button", () => {
  for (const status of ["running", "queued"] as const) {
    const html = renderTurn(turnFromHistory(oldEntry("t9", "p", null, status)));
    assert.match(html, new RegExp(`turn-status ${status}">${status}…`));
    assert.doesNotMatch(html, /data-rewind/);
  }
});

test("reloading draws every recorded turn in order", () => {
  const t = new Transcripts();
  t.loadHistory(S, [oldEntry("t1", "first", "one"), FULL]);
  const html = renderTranscript(t.get(S));
  assert.ok(html.indexOf("first") < html.indexOf("write &lt;b&gt;"));
  assert.equal(t.get(S)?.turns.length, 2);
});

test("a turn this window streamed keeps its entries; the history adds the rewound mark, plan and status", () => {
  const t = new Transcripts();
  const ev = (e: Record<string, unknown>): BridgeEvent => ({ sessionId: S, turnId: "t2", ...e }) as BridgeEvent;
  t.apply(ev({ kind: "turnStarted", agent: "scripted", prompt: "write <b>" }));
  t.apply(ev({ kind: "reasoning", text: "hmm" }));
  t.apply(ev({ kind: "text", text: "Wrote" }));
  t.startTurn(S, "t3", "scripted", "just sent");
  t.loadHistory(S, [oldEntry("t1", "first", "one"), FULL]);
  const turns = t.get(S)?.turns ?? [];
  assert.deepEqual(turns.map((x) => x.turnId), ["t1", "t2", "t3"], "history order, then what only this window knows");
  assert.deepEqual(turns[1].entries.map((e) => e.type), ["reasoning", "text"]);
  assert.equal(turns[1].status, "completed");
  assert.equal(turns[1].rewound, true);
  assert.deepEqual(turns[1].plan.map((p) => p.content), ["edit b"]);
  assert.deepEqual(turns[1].usage, { inputTokens: 120, outputTokens: 45 });
});

test("a snapshot older than the events does not move a turn back", () => {
  const live = turnFromHistory(oldEntry("t1", "p", null, "running"));
  const merged = mergeHistory([live], [oldEntry("t1", "p", null, "queued")]);
  assert.equal(merged[0].status, "running");
  const t = new Transcripts();
  t.loadHistory(S, [oldEntry("t1", "p", null, "queued")]);
  t.apply({ sessionId: S, turnId: "t1", kind: "turnStarted", agent: "scripted", prompt: "p" });
  assert.equal(t.get(S)?.turns[0].status, "running");
});

test("a rewound event marks the turns it names, from any window", () => {
  const t = new Transcripts();
  t.loadHistory(S, [oldEntry("t1", "a", "1"), oldEntry("t2", "b", "2"), oldEntry("t3", "c", "3")]);
  const event = asBridgeEvent({ sessionId: S, turnId: "t2", agent: "scripted", kind: "rewound", turnIds: ["t2", "t3"], files: ["file:///w/a.py"] });
  assert.ok(event);
  assert.equal(t.apply(event), true);
  assert.deepEqual(t.get(S)?.turns.map((x) => x.rewound), [false, true, true]);
  assert.equal(t.get(S)?.turns.length, 3, "no turn is made up for the event");
});

test("a synced event is a short line in its turn", () => {
  const t = new Transcripts();
  const synced = (files: string[], conflicts: number): BridgeEvent => {
    const event = asBridgeEvent({ sessionId: S, turnId: "t1", agent: "scripted", kind: "synced", files, conflicts });
    assert.ok(event);
    return event;
  };
  t.apply(synced(["file:///w/a.py"], 0));
  t.apply(synced(["file:///w/a.py", "file:///w/b.py"], 1));
  assert.deepEqual(t.get(S)?.turns[0].entries, [
    { type: "notice", message: "Caught up with your changes to 1 file." },
    { type: "notice", message: "Caught up with your changes to 2 files; 1 conflict to review" },
  ]);
  assert.match(renderTranscript(t.get(S)), /class="notice">Caught up with your changes to 1 file\./);
});
