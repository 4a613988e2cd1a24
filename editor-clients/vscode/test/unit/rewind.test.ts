import assert from "node:assert/strict";
import { test } from "node:test";
import { chatPage } from "../../src/core/chatPage";
import { rewindableTurns, rewindQuestion, rewindSummary, turnsUndoneBy } from "../../src/core/rewind";
import type { TurnView } from "../../src/core/transcript";

function turn(turnId: string, partial: Partial<TurnView> = {}): TurnView {
  return { turnId, agent: "scripted", prompt: `prompt ${turnId}`, status: "completed", entries: [], plan: [], usage: {}, rewound: false, ...partial };
}

const TURNS = [turn("t1"), turn("t2"), turn("t3", { rewound: true }), turn("t4", { status: "failed" }), turn("t5", { status: "running" })];

test("only finished turns not yet undone can be picked", () => {
  assert.deepEqual(rewindableTurns(TURNS).map((t) => t.turnId), ["t1", "t2", "t4"]);
});

test("a rewind undoes the turn and every later one not already undone", () => {
  assert.equal(turnsUndoneBy(TURNS, "t1"), 4);
  assert.equal(turnsUndoneBy(TURNS, "t2"), 3);
  assert.equal(turnsUndoneBy(TURNS, "t4"), 2);
  assert.equal(turnsUndoneBy(TURNS, "unknown"), 0);
});

test("the confirmation names the turn and how many turns are undone", () => {
  assert.equal(
    rewindQuestion(turn("t2", { prompt: "add docstrings\nto everything" }), 3),
    `Rewind to before "add docstrings"? This undoes the agent's changes of 3 turns (this turn and the 2 turns after it). What you applied or wrote yourself stays.`,
  );
  assert.match(rewindQuestion(turn("t2"), 1), /changes of 1 turn \(this turn\)\./);
});

test("the outcome lists the files put back", () => {
  const name = (uri: string): string => uri.replace("file:///w/", "");
  assert.equal(rewindSummary({ turnsUndone: 2, files: ["file:///w/a.py"] }, name), "Rewound 2 turns; 1 file put back: a.py.");
  assert.equal(rewindSummary({ turnsUndone: 1, files: [] }, name), "Rewound 1 turn; no files changed.");
  assert.equal(rewindSummary({ turnsUndone: 0, files: [] }, name), "Nothing to rewind: those turns were already undone.");
  const many = Array.from({ length: 7 }, (_, i) => `file:///w/f${i}`);
  assert.match(rewindSummary({ turnsUndone: 1, files: many }, name), /7 files put back: f0, f1, f2, f3, f4, 2 more\./);
});

test("the chat page sends the rewind button's turn to the extension", () => {
  const page = chatPage("n", "csp");
  assert.match(page, /closest\("button\[data-rewind\]"\)/);
  assert.match(page, /postMessage\(\{ type: "rewind", turnId: button\.getAttribute\("data-rewind"\) \}\)/);
});
